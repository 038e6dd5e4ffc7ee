"""The training loop's host side: :func:`fit`.

:func:`fit` runs the epochs of :mod:`nn_jax.epoch` in jitted ``lax.scan``
calls of ``epochs_per_call`` epochs; between calls it reports progress
(``on_progress``) and saves checkpoints. Training stops at ``epochs``, at
the first epoch whose training cost is below ``cost_threshold``, when the
validation cost has not improved for ``early_stopping_patience`` epochs
(the best epoch's parameters are returned), or when the cost or the
parameters stop being finite (the last finite parameters are kept and
``diverged`` is set). How it trains is a :class:`nn_jax.config.FitOptions`.

The pieces: optimizers and schedules in :mod:`nn_jax.optimizers`, the arrays
and their checks in :mod:`nn_jax.train_data`, one epoch in
:mod:`nn_jax.epoch`, populations in :mod:`nn_jax.population`, device meshes
in :mod:`nn_jax.devices`.
"""

import functools
import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nn_jax import devices as devices_lib
from nn_jax import mlp
from nn_jax import train_data
from nn_jax.config import FitOptions
from nn_jax.epoch import (METRICS, TrainState, evaluate, host_draws,
                          host_draws_pay, init_state, make_epoch)
from nn_jax.train_data import Data

__all__ = ["fit", "FitResult", "FitOptions", "Data", "TrainState", "METRICS",
           "evaluate", "init_state"]


class FitResult(NamedTuple):
  """What :func:`fit` returns."""
  params: mlp.Params     # the best validation epoch's with early stopping
  stats: list            # the matching running batch-norm statistics
  state: TrainState
  history: dict          # metric name -> np.ndarray (epochs_run,)
  epochs_run: int
  reached_threshold: bool
  early_stopped: bool
  diverged: bool
  best_epoch: int        # 0 without validation data



def _copy(tree):
  return jax.tree.map(jnp.copy, tree)


# The runner donates the state: it gets buffers of its own, neither the
# caller's parameters nor one buffer in two places (one compiled program).
_fresh = jax.jit(_copy)


@functools.lru_cache(maxsize=16)
def _starter(model, optimizer):
  """:func:`init_state` with fresh buffers, as one compiled program."""
  def start_state(params, key):
    return _copy(init_state(params, model, optimizer, key))
  return jax.jit(start_state)


def _start_state(model, optimizer, params, key) -> TrainState:
  """:func:`init_state` with fresh buffers. Its program is most often
  constants and copies (zeros for SGD's momentum or Adam's moments, the
  parameters twice, the key): then the host evaluates it, bit for bit, and
  hands the arrays to the device, with no program to compile (0.04 s of a
  cold quickstart's). Otherwise, and for arrays committed to a device, on
  an accelerator (whose copies would go through the host) or typed keys,
  it is one compiled program (:func:`_starter`)."""
  leaves = jax.tree.leaves((params, key))
  if any(getattr(a, "committed", False)
         or jax.dtypes.issubdtype(a.dtype, jax.dtypes.extended)
         or any(d.platform != "cpu" for d in getattr(a, "devices", set)())
         for a in leaves):
    return _starter(model, optimizer)(params, key)
  closed, shapes = jax.make_jaxpr(
      lambda p, k: init_state(p, model, optimizer, k), return_shape=True)(
          params, key)
  values = _constants_and_copies(closed, [np.asarray(a) for a in leaves])
  if values is None:
    return _starter(model, optimizer)(params, key)
  return jax.tree.unflatten(jax.tree.structure(shapes),
                            jax.device_put(values))


def _constants_and_copies(closed, args: list) -> Optional[list]:
  """The outputs of the closed jaxpr ``closed`` for the NumPy arrays
  ``args``, evaluated on the host, each a new array; None where it holds
  more than constants broadcast to a shape and copies (which the host
  computes exactly), or where an output is weakly typed (a Python
  scalar's type, which a NumPy array does not keep)."""
  jaxpr = closed.jaxpr
  if any(v.aval.weak_type for v in jaxpr.outvars):
    return None
  env = dict(zip(jaxpr.invars, args))
  env.update(zip(jaxpr.constvars, map(np.asarray, closed.consts)))
  # A literal holds its value (jax.extend.core.Literal; importing
  # jax.extend takes 10 ms); a variable is looked up.
  read = lambda v: v.val if hasattr(v, "val") else env[v]
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name not in ("copy", "broadcast_in_dim") or (
        len(eqn.outvars), len(eqn.invars)) != (1, 1):
      return None   # (a jitted call, a loop, ...: many outputs)
    (out,), value = eqn.outvars, read(eqn.invars[0])
    if name == "copy":
      env[out] = np.array(value, out.aval.dtype)
    elif np.ndim(value) == 0 and eqn.params.get("sharding") is None:
      env[out] = np.full(eqn.params["shape"], value, out.aval.dtype)
    else:
      return None
  # An output that is an input or a constant as such gets a copy too.
  return [np.array(read(v), v.aval.dtype) for v in jaxpr.outvars]


@functools.lru_cache(maxsize=16)
def _fit_runner(model, optimizer, n, options, image_shape, mesh, chunk):
  """``chunk`` epochs in one jitted scan, cached: fits with the same model,
  optimizer object, data size and options trace and compile once. The
  state is donated: XLA writes the new state into its buffers. ``drawn``
  is the epochs' :func:`nn_jax.epoch.host_draws`, or None (the program
  draws them itself)."""
  epoch_fn = make_epoch(model, optimizer, n, options,
                        image_shape=image_shape, mesh=mesh)
  def run_epochs(state, data, drawn):
    return jax.lax.scan(lambda c, row: epoch_fn(c, data, row), state,
                        drawn, length=chunk)
  return jax.jit(run_epochs, donate_argnums=0)


def _report(on_progress, first: int, rows: np.ndarray) -> None:
  """``on_progress(epoch, metrics)`` for each row, epochs after ``first``."""
  for i, row in enumerate(rows if on_progress is not None else ()):
    on_progress(first + i + 1, dict(zip(METRICS, row.tolist())))


def fit(params: mlp.Params, model: mlp.Model,
        optimizer: optax.GradientTransformation, data: Data,
        options: FitOptions = FitOptions(), *, key: jax.Array,
        state: Optional[TrainState] = None,
        image_shape: Optional[tuple] = None,
        on_progress: Optional[Callable[[int, dict], Any]] = None,
        checkpointer: Any = None, resume: bool = False) -> FitResult:
  """Trains ``params`` on ``data`` and returns the result with its history.

  Args:
    params: initial parameters from :func:`mlp.init`.
    model: activation, output layer and regularizers.
    optimizer: an optax transformation, e.g. from
      :func:`nn_jax.optimizers.make`; :func:`nn_jax.online.delayed_sgd` lets
      online epochs delay weight updates.
    data: training and validation arrays.
    options: how to train (:class:`nn_jax.config.FitOptions`): ``epochs``;
      ``batch_size`` 1 online SGD, 0 the whole set, else mini-batches (an
      epoch is ``n // batch_size`` full batches: the ``n % batch_size``
      examples left over are not trained on in that epoch, with ``shuffle``
      other ones each epoch, without always the last ones); ``grad``;
      ``cost_threshold``, ``early_stopping_patience``; ``max_norm``;
      ``augment`` with ``noise_std`` and ``max_shift``; ``train_metrics``
      (``batches``, the default: the training cost and accuracy of each
      epoch are the mean over its batches, each measured before its update,
      as PyTorch and Keras loops report them, and ``cost_threshold`` is
      compared with that mean; ``full``: measured on the whole training
      set after the epoch, a second pass); ``devices`` (data-parallel: every batch
      split across a ``"data"`` mesh axis, the parameters replicated; the
      batch size must be a multiple); ``epochs_per_call`` (0: about 20
      calls in all); ``checkpoint_every`` (needs ``checkpointer``) and,
      with ``on_progress``, ``log_every``: each call then runs the greatest
      common divisor of those set.
    key: PRNG key for shuffles, dropout masks and augmentation (raw, from
      ``jax.random.PRNGKey``, or typed, from ``jax.random.key``).
    state: a :class:`TrainState` to go on from (e.g. an earlier result's
      ``state``, its ``epoch`` set to 0 to run ``epochs`` more, and
      ``done`` cleared where that run stopped before its epochs) instead of
      a fresh one from ``params`` and ``key``; its parameters must have
      ``params``' shapes. A state with nothing left to run is refused.
    image_shape: ``(height, width)`` of the images, for ``augment=shift``.
    on_progress: called as ``on_progress(epoch, metrics)`` for every epoch,
      in order, after the call that ran it (with ``resume``, first for the
      checkpoint's epochs), at least every ``log_every`` epochs.
    checkpointer: a :class:`nn_jax.checkpoint.Checkpointer`.
    resume: continue from the checkpointer's newest intact checkpoint, if
      any (a damaged newer one is skipped, with a warning). With the same
      arguments the result is bitwise the same as a run that was never
      interrupted.

  Returns:
    A :class:`FitResult`; ``history[m]`` holds metric ``m`` per epoch run.
  """
  if not isinstance(options, FitOptions):
    raise ValueError(f"options must be a FitOptions; got {options!r}")
  o = options
  train_data.check(params, model, data)
  n = data.x.shape[0]
  if o.early_stopping_patience and data.x_val.shape[0] == 0:
    raise ValueError("early stopping needs validation data")
  if o.noise > 0 and not jnp.issubdtype(data.x.dtype, jnp.floating):
    raise ValueError(f"Gaussian input noise needs floating-point inputs; x "
                     f"is {data.x.dtype}")
  if o.shift > 0 and image_shape and (
      math.prod(image_shape) != data.x.shape[1]):
    raise ValueError(f"image_shape {tuple(image_shape)} has "
                     f"{math.prod(image_shape)} pixels but x has "
                     f"{data.x.shape[1]} features")
  if o.checkpoint_every and checkpointer is None:
    raise ValueError("checkpoint_every needs a checkpointer")
  mesh = devices_lib.make_mesh(o.devices)
  if mesh is not None:
    params, data, key = jax.device_put((params, data, key),
                                       devices_lib.sharding(mesh))
  chunk = o.epochs_per_call or max(1, -(-o.epochs // 20))
  reporting = o.log_every if on_progress is not None else 0
  for every in (o.checkpoint_every, reporting):   # calls that end there
    chunk = math.gcd(chunk, every) if every else chunk
  image_shape = tuple(image_shape) if image_shape else None
  run = _fit_runner(model, optimizer, n, o, image_shape, mesh, chunk)
  fresh = state is None
  if fresh:
    state = _start_state(model, optimizer, params, key)
  if mesh is not None:   # every array of it, also for a restored checkpoint
    state = jax.device_put(state, devices_lib.sharding(mesh))
  rows = []
  if resume and checkpointer is not None and (
      checkpointer.latest_epoch() is not None):
    state, done_rows, _ = checkpointer.restore_newest_intact(state)
    rows.append(done_rows)
    _report(on_progress, 0, done_rows)
    fresh = False
  if not (fresh or rows):   # a state of the caller's: is there work left?
    if bool(state.done):
      raise ValueError(
          "state is that of a run that stopped (at its cost threshold, by "
          "early stopping or on divergence: state.done is set); to train "
          "it further pass state._replace(epoch=jnp.int32(0), "
          "done=jnp.bool_(False))")
    if int(state.epoch) >= o.epochs:
      raise ValueError(
          f"state has run {int(state.epoch)} epochs and options.epochs is "
          f"{o.epochs}: nothing is left to run; pass "
          f"state._replace(epoch=jnp.int32(0)) to run {o.epochs} more, or "
          f"more epochs")
  if not fresh:
    state = _fresh(state)
  epoch = int(state.epoch)
  # Each call's keys and orders of the examples, drawn on the host where
  # it can and that takes less time than the program's compiling would.
  drawn = (host_draws(state.key, n, chunk, o.shuffle)
           if host_draws_pay(n, o.epochs - epoch, o.shuffle) else None)
  while not (bool(state.done) or epoch >= o.epochs):
    args = drawn
    if drawn is not None and mesh is not None:
      args = jax.device_put(drawn, devices_lib.sharding(mesh))
    state, metrics = run(state, data, args)
    if drawn is not None:   # the next call's, while this one runs
      drawn = (host_draws(drawn.keys[-1, 0], n, chunk, o.shuffle)
               if epoch + chunk < o.epochs else None)
    metrics = np.asarray(metrics)
    rows.append(metrics[:int(state.epoch) - epoch])
    epoch = int(state.epoch)
    finished = bool(state.done) or epoch >= o.epochs
    if o.checkpoint_every and (epoch % o.checkpoint_every == 0 or finished):
      checkpointer.save(epoch, state, np.concatenate(rows))
    _report(on_progress, epoch - len(rows[-1]), rows[-1])
  table = (np.concatenate(rows) if rows
           else np.zeros((0, len(METRICS)), np.float32))
  history = {m: table[:, i] for i, m in enumerate(METRICS)}
  early = bool(o.early_stopping_patience and
               int(state.bad_epochs) >= o.early_stopping_patience)
  if o.early_stopping_patience:
    params, stats = state.best_params, state.best_stats
  else:
    params, stats = state.params, state.stats
  return FitResult(
      params=params, stats=stats, state=state, history=history,
      epochs_run=epoch,
      reached_threshold=bool(history["train_loss"][-1] < o.cost_threshold),
      early_stopped=early, diverged=bool(state.diverged),
      best_epoch=int(state.best_epoch))
