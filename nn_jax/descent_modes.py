"""Batch, online and mini-batch gradient descent side by side.

Each mode trains a grid of learning rates x seeds as one population
(:func:`nn_jax.population.fit_population`, one vmapped call); seed ``s``
starts from the same weights at every rate and in every mode, so that the
modes are compared on the same starts. Read off the histories: the best
rate of a grid, the first epoch that reaches a cost, how runs on a small
problem end (solved, stuck on a plateau of the cost, still moving), and the
plateaus of the 2-H-1 sigmoid network's cross-entropy on XOR.
"""

import collections
import math
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import mlp
from nn_jax import population
from nn_jax.config import FitOptions
from nn_jax.train_data import Data, resolve_batch_size


class Grid(NamedTuple):
  """A grid of learning rates x seeds, trained as one population."""
  rates: np.ndarray   # (R,)
  history: dict       # metric name -> (R, S, epochs)
  params: mlp.Params  # each leaf (R * S, ...), rate-major


def member_keys(rates: Sequence[float], seeds: int) -> tuple:
  """``(keys, member_rates)`` of a grid, rate-major: member ``i`` has
  rate ``rates[i // seeds]`` and the key of seed ``i % seeds``."""
  keys = population.seed_keys(seeds, len(rates))
  return keys, np.repeat(np.asarray(rates, np.float32), seeds)


def fit_grid(sizes, model: mlp.Model, data: Data, options: FitOptions,
             rates: Sequence[float], seeds: int, *, init: str = "glorot"
             ) -> Grid:
  """Trains every (rate, seed) with plain SGD (no momentum) in one call;
  ``options.batch_size`` is the mode (1 online, 0 batch, else mini-batch)."""
  keys, member_rates = member_keys(rates, seeds)
  result = population.fit_population(keys, sizes, model, data, options,
                                     learning_rates=member_rates,
                                     optimizer="sgd", init=init)
  history = {k: v.reshape(len(rates), seeds, -1)
             for k, v in result.history.items()}
  return Grid(np.asarray(rates), history, result.params)


def repeat(data: Data, r: int) -> Data:
  """The training set written ``r`` times over (redundant data); the
  validation arrays as they are."""
  return data._replace(x=jnp.tile(data.x, (r, 1)), y=jnp.tile(data.y, (r, 1)))


def examples_per_epoch(n: int, batch_size: int) -> int:
  """Examples one epoch processes: the full batches of ``n`` examples."""
  batch = resolve_batch_size(batch_size, n)
  return n // batch * batch


def best_rate(final_cost: np.ndarray):
  """The index of the rate whose seeds end at the lowest median cost,
  among those where no seed diverged (``final_cost``: (R, S)); None if
  every rate has a diverged seed."""
  final_cost = np.asarray(final_cost, float)
  ok = np.all(np.isfinite(final_cost), axis=1)
  if not ok.any():
    return None
  medians = np.where(ok, np.median(np.where(ok[:, None], final_cost, 0.0),
                                   axis=1), np.inf)
  return int(np.argmin(medians))


def first_epoch(reached: np.ndarray) -> np.ndarray:
  """Per run, the first epoch (1-based) at which ``reached`` (..., epochs)
  holds; inf where it never does."""
  reached = np.asarray(reached, bool)
  first = np.argmax(reached, axis=-1) + 1.0
  return np.where(reached.any(axis=-1), first, np.inf)


def max_difference(cost: np.ndarray, other: np.ndarray) -> float:
  """The largest ``|cost - other|`` over the epochs both have (..., epochs),
  where both are finite (0 if nowhere)."""
  e = min(cost.shape[-1], other.shape[-1])
  a, b = cost[..., :e], other[..., :e]
  ok = np.isfinite(a) & np.isfinite(b)
  return float(np.abs(a[ok] - b[ok]).max(initial=0.0))


def seconds_per_epoch(sizes, model: mlp.Model, data: Data,
                      options: FitOptions, rate: float, *,
                      init: str = "glorot", repeats: int = 3) -> dict:
  """Seconds per epoch of one network alone (a one-member population,
  compiled by a first call that is not timed; the fastest of ``repeats``
  timed calls): ``{"wall": ..., "cpu": ...}``, the wall-clock and this
  process's CPU time (which other processes on a shared machine do not
  inflate). Its training metrics are the batches' costs
  (``train_metrics="batches"``): no second pass over the data is timed."""
  options = options.replace(train_metrics="batches")
  keys, rates = member_keys([rate], 1)
  run = lambda: jax.block_until_ready(population.fit_population(
      keys, sizes, model, data, options, learning_rates=rates,
      optimizer="sgd", init=init).params)
  run()
  wall, cpu = [], []
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return {"wall": min(wall) / options.epochs, "cpu": min(cpu) / options.epochs}


def at_best_rate(sizes, model: mlp.Model, data: Data, options: FitOptions,
                 rates: Sequence[float], seeds: int, *, init: str = "glorot",
                 target_cost: float = 0.0) -> tuple:
  """Trains a grid (:func:`fit_grid`) and reads it at its best rate.

  Returns ``(record, cost)``: ``cost`` the training cost of every member
  after every epoch (rates, seeds, epochs); ``record`` a dict with the
  ``batch_size``, ``epochs``, ``examples_per_epoch``, ``diverged_rates``,
  ``best_rate`` (None if every rate diverged; the rest only if not): the
  best rate's ``cost`` (seeds, epochs), its final cost's mean and std, the
  seconds per epoch of one network alone (:func:`seconds_per_epoch`: CPU
  time as ``seconds_per_epoch``, and ``wall_seconds_per_epoch``), and per
  seed the examples and CPU seconds to the end of the first epoch with a
  cost <= ``target_cost`` (inf if none).
  """
  n = data.x.shape[0]
  grid = fit_grid(sizes, model, data, options, rates, seeds, init=init)
  cost = grid.history["train_loss"]
  best = best_rate(cost[:, :, -1])
  record = {"batch_size": options.batch_size, "epochs": options.epochs,
            "examples_per_epoch": examples_per_epoch(n, options.batch_size),
            "diverged_rates": [float(r) for r, c in zip(rates, cost)
                               if not np.isfinite(c[:, -1]).all()],
            "best_rate": None}
  if best is None:
    return record, cost
  curve = cost[best]                                          # (S, E)
  seconds = seconds_per_epoch(sizes, model, data, options, rates[best],
                              init=init)
  first = first_epoch(curve <= target_cost)
  record.update(
      best_rate=float(rates[best]), cost=curve,
      seconds_per_epoch=seconds["cpu"], wall_seconds_per_epoch=seconds["wall"],
      final_cost_mean=float(curve[:, -1].mean()),
      final_cost_std=float(curve[:, -1].std()),
      examples_to_target=first * record["examples_per_epoch"],
      seconds_to_target=first * seconds["cpu"])
  return record, cost


# ----------------------------------------------- how a run on XOR ends
# Cross-entropy (mean over XOR's four patterns) where a 2-H-1 sigmoid
# network stops short of solving XOR: patterns it cannot tell apart share
# one output, the mean of their targets, and the others are fitted.
XOR_PLATEAUS = {
    "two patterns at 1/2": math.log(2) / 2,                # 0.347
    "three patterns share one output":
        3 / 4 * -(math.log(1 / 3) / 3 + 2 / 3 * math.log(2 / 3)),  # 0.477
    "all four at 1/2": math.log(2),                        # 0.693
}


def outcomes(cost: np.ndarray, accuracy: np.ndarray, *,
             window: float = 0.1, tolerance: float = 1e-3) -> tuple:
  """How runs end, from their per-epoch training ``cost`` and ``accuracy``
  (..., epochs). The cost is smoothed over spans of ``window`` x the epochs
  (online SGD's cost jitters from step to step): ``late`` is its mean over
  the last span, ``change`` that minus its mean over the span ending
  halfway. Returns ``(ends, late)``: ``ends`` holds boolean arrays (...):
  ``solved`` (every pattern right at the end), ``stuck`` (not solved, and
  ``|change| < tolerance``) and ``moving`` (neither: still descending, or
  drifting)."""
  cost = np.asarray(cost, float)
  epochs = cost.shape[-1]
  span = max(1, round(epochs * window))
  half = max(span, epochs // 2)
  late = cost[..., -span:].mean(-1)
  change = late - cost[..., half - span:half].mean(-1)
  solved = np.asarray(accuracy)[..., -1] == 1.0
  stuck = ~solved & (np.abs(change) < tolerance)
  return {"solved": solved, "stuck": stuck,
          "moving": ~solved & ~stuck}, late


def nearest_plateau(cost: np.ndarray, plateaus: dict = XOR_PLATEAUS,
                    tolerance: float = 0.02) -> np.ndarray:
  """Per cost, the name of the plateau within ``tolerance`` of it, else
  ``"other"``."""
  names = list(plateaus)
  values = np.array([plateaus[n] for n in names])
  cost = np.asarray(cost, float)
  distance = np.abs(cost[..., None] - values)
  near = np.min(distance, axis=-1) < tolerance
  return np.where(near, np.array(names, object)[np.argmin(distance, -1)],
                  "other")


def end_summary(cost: np.ndarray, accuracy: np.ndarray, *,
                tolerance: float = 1e-3) -> tuple:
  """How the runs of a grid on XOR end, per rate (``cost`` and ``accuracy``:
  (rates, seeds, epochs)). Returns ``(rows, solved)``: a dict per rate with
  the fractions ``solved``, ``stuck`` and ``moving`` (:func:`outcomes`),
  ``stuck_at`` (stuck runs per plateau nearest their smoothed late cost),
  the median epochs to solve of the solved runs (None if none), every
  ``final_costs`` (the last epoch's) and ``late_costs`` (smoothed); and
  the solved flags (rates, seeds)."""
  ends, late = outcomes(cost, accuracy, tolerance=tolerance)
  plateau = nearest_plateau(late)
  to_solve = first_epoch(np.asarray(accuracy) == 1.0)
  rows = []
  for i in range(cost.shape[0]):
    solved = ends["solved"][i]
    rows.append({
        **{k: float(v[i].mean()) for k, v in ends.items()},
        "stuck_at": dict(collections.Counter(plateau[i][ends["stuck"][i]])),
        "median_epochs_to_solve": (float(np.median(to_solve[i][solved]))
                                   if solved.any() else None),
        "final_costs": cost[i, :, -1], "late_costs": late[i]})
  return rows, ends["solved"]
