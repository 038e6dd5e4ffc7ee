r"""The error surface of a two-weight neuron, with paths of batch GD and SGD.

  python -m experiments.error_surface                    # linear neuron
  python -m experiments.error_surface --neuron=sigmoid --learning_rate=0.5
  python -m experiments.error_surface --learning_rate=0.7   # SGD bounces

A single neuron with two weights and no bias, ``o = g(w1 x1 + w2 x2)``, on a
small data set generated from --seed: correlated inputs, so the surface
E(w1, w2) is a long, narrow valley. ``linear`` (g = identity, E = 1/2 mean
squared error: a quadratic bowl) or ``sigmoid`` (0/1 targets, cross-entropy).
From the same start, batch gradient descent (one step per epoch on the whole
set) and online SGD (one step per example, reshuffled every epoch) follow
``w <- w - eta dE/dw`` (optax.sgd) with the gradients of the hand-written
backprop (:func:`nn_jax.surface.descend`); the bias stays at 0. --learning_rate
is eta of both methods, --epochs their epochs, --seed draws the data and
the SGD shuffles. Writes
error_surface.png (contours with both paths, cost per epoch) and
results.json (final weights and costs) to --workdir.
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import plots
from nn_jax import surface

LOSSES = {"linear": "linear_squared", "sigmoid": "sigmoid_cross_entropy"}

cli.define_flags(config_lib.DataConfig, config_lib.OptimConfig,
                 config_lib.FitOptions, config_lib.Config,
                 only=("n_samples", "learning_rate", "epochs", "seed"),
                 defaults=dict(n_samples=20, learning_rate=0.1, epochs=40),
                 helps=dict(n_samples="Examples of the neuron's data set."))
flags.DEFINE_enum("neuron", "linear", tuple(LOSSES), "Output unit and cost.")
flags.DEFINE_float("correlation", 0.8, "Correlation of x1 and x2 (|c| < 1); "
                   "the larger, the narrower the valley.")
flags.DEFINE_list("start", ["-1.5", "2.5"], "Initial weights w1,w2.")
flags.DEFINE_string("workdir", "runs/error_surface", "Where results go.")

FLAGS = flags.FLAGS


def descents(model, x, y, w0, epochs: int, learning_rate: float,
             seed: int) -> tuple:
  """The paths of batch GD and online SGD from ``w0``: ``(batch_path,
  online_path)``, the weights before and after every step."""
  n = x.shape[0]
  batch_idx = jnp.tile(jnp.arange(n), (epochs, 1))                   # (E, n)
  shuffles = np.random.default_rng([seed, 1])  # apart from the data's
  online_idx = np.concatenate([shuffles.permutation(n) for _ in range(epochs)])
  online_idx = jnp.asarray(online_idx.reshape(epochs * n, 1))         # (E n, 1)
  sgd = optimizers.make("sgd", learning_rate)
  return (np.asarray(surface.descend(model, x, y, w0, batch_idx, sgd)),
          np.asarray(surface.descend(model, x, y, w0, online_idx, sgd)))


def draw(path: str, grid: tuple, paths: tuple, costs: tuple, w0, w_min,
         e_min: float, min_label: str, title: str) -> str:
  """The contours of E with both paths, and the cost per epoch."""
  batch_path, online_path = paths
  n = (len(online_path) - 1) // (len(batch_path) - 1)   # steps per epoch
  fig, (ax, ax_cost) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})
  plots.cost_contours(ax, grid)
  ax.plot(online_path[:, 0], online_path[:, 1], "-", color="tab:blue", lw=0.9,
          alpha=0.8, label=f"online SGD: batch size 1 ({n} steps / epoch)")
  ax.plot(online_path[::n, 0], online_path[::n, 1], "o", color="tab:blue",
          ms=3)
  ax.plot(batch_path[:, 0], batch_path[:, 1], "o-", color="tab:red", ms=4,
          lw=1.5, label=f"batch GD: batch size {n} (1 step / epoch)")
  ax.plot(*w0, "k*", ms=14, label="start")
  ax.plot(*w_min, "X", color="gold", mec="k", ms=11, label=min_label)
  ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal", title=title)
  ax.legend(loc="best", fontsize=8, framealpha=0.9)
  for path_cost, color, label in zip(costs, ("tab:red", "tab:blue"),
                                     ("batch GD", "online SGD")):
    ax_cost.plot(np.arange(len(path_cost)), path_cost, "o-", ms=3,
                 color=color, label=label)
  ax_cost.axhline(e_min, color="0.5", ls=":", label=min_label)
  spread = max(c.max() for c in costs) / e_min
  ax_cost.set(xlabel="epoch", ylabel="cost E",
              title="cost at the end of each epoch")
  if spread > 10:
    plots.log_ticks(ax_cost, "y")
  ax_cost.grid(alpha=0.3)
  ax_cost.legend()
  fig.suptitle("Batch gradient descent vs. online SGD on the error surface "
               "(one dot per epoch)")
  return plots.save(fig, path)


def main(argv):
  del argv
  cli.check(abs(FLAGS.correlation) < 1, "correlation", "must be in (-1, 1)")
  start = cli.numbers("start")
  cli.check(len(start) == 2, "start",
            "two finite numbers w1,w2, e.g. -1.5,2.5")
  config = cli.config_from_flags()
  eta, epochs, n = (config.optim.learning_rate, config.fit.epochs,
                    config.data.n_samples)
  cli.check(n >= 2, "n_samples", "must be >= 2")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  model = mlp.make_model("identity", LOSSES[FLAGS.neuron])
  x, y = surface.make_data(FLAGS.neuron, n, FLAGS.correlation, config.seed)
  loss = surface.cost_fn(model, x, y)
  cost = jax.jit(jax.vmap(loss))
  w0 = jnp.asarray(start, jnp.float32)
  w_min = surface.minimum(loss, w0)
  paths = descents(model, x, y, w0, epochs, eta, config.seed)
  # E at the end of each epoch (and at the start).
  costs = (np.asarray(cost(jnp.asarray(paths[0]))),
           np.asarray(cost(jnp.asarray(paths[1][::n]))))
  cli.check(all(np.isfinite(c).all() for c in costs), "learning_rate",
            "too large: the weights diverged")
  grid = surface.surface(cost, paths, w_min)
  found = w_min is not None
  if not found:   # the lowest point of the window instead
    w_min = np.stack([g.ravel() for g in grid[:2]], 1)[np.argmin(grid[2])]
  min_label = "minimum of E" if found else "lowest E in the window"
  e_min = float(cost(jnp.asarray(w_min[None], jnp.float32))[0])
  png = draw(outputs.figure_path(workdir, "error_surface"), grid, paths, costs,
             w0, w_min, e_min, min_label,
             f"E(w1, w2) of a {FLAGS.neuron} neuron, eta = {eta:g}, "
             f"{epochs} epochs")
  method = lambda path, c: {"final_w": path[-1], "final_cost": float(c[-1]),
                            "cost_per_epoch": c, "steps": len(path) - 1}
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "error_surface",
      "batch": method(paths[0], costs[0]),
      "online": method(paths[1], costs[1]), "start": start,
      "minimum": {"w": w_min, "cost": e_min, "found": found,
                  "gradient_norm": float(jnp.linalg.norm(
                      jax.grad(loss)(jnp.asarray(w_min))))},
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds})
  print(f"batch GD: w = {np.round(paths[0][-1], 3)}, E = {costs[0][-1]:.4f};"
        f" online SGD: w = {np.round(paths[1][-1], 3)}, E = "
        f"{costs[1][-1]:.4f}; {min_label} {e_min:.4f} ({png})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
