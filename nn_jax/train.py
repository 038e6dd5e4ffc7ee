"""The training loop: one jitted step, epochs in ``lax.scan``.

Every mode of gradient descent goes through the same step:

* ``batch_size=1``: online (stochastic) gradient descent, example by example;
* ``batch_size=0`` or ``N``: batch gradient descent on the whole training set;
* anything else: mini-batches, reshuffled every epoch from a PRNG key (the
  incomplete last batch is dropped, so the step never recompiles).

The update is an optax ``GradientTransformation`` fed with the gradients of
:func:`nn_jax.backprop.gradients` (hand-written or ``jax.grad``). Epochs run
inside ``lax.scan`` in chunks of ``epochs_per_call``; between chunks the
caller's ``on_progress`` sees the latest metrics. Training stops at
``epochs`` or at the first epoch whose training cost is below
``cost_threshold``.
"""

from typing import Any, Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nn_jax import backprop
from nn_jax import mlp

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def make_optimizer(name: str, learning_rate: float | optax.Schedule,
                   momentum: float = 0.9) -> optax.GradientTransformation:
  """Returns the optax transformation called ``name`` (one of ``OPTIMIZERS``).

  ``sgd`` is plain gradient descent ``w <- w - eta dE/dw``; ``momentum`` adds
  a velocity ``v <- mu v + dE/dw, w <- w - eta v``; ``nesterov`` evaluates the
  step at the look-ahead point; ``adam`` is Adam.
  """
  if name == "sgd":
    return optax.sgd(learning_rate)
  if name == "momentum":
    return optax.sgd(learning_rate, momentum=momentum)
  if name == "nesterov":
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)
  if name == "adam":
    return optax.adam(learning_rate)
  raise ValueError(
      f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


class TrainState(NamedTuple):
  """Everything that changes during training."""
  params: mlp.Params
  opt_state: optax.OptState
  key: chex.PRNGKey       # for the next epoch's shuffle
  epoch: jax.Array        # () int32, epochs completed
  done: jax.Array         # () bool, the cost fell below the threshold


class Data(NamedTuple):
  """Training and validation arrays (targets already encoded for the loss)."""
  x: jax.Array      # (n, n_in)
  y: jax.Array      # (n, n_out)
  x_val: jax.Array  # (n_val, n_in), n_val may be 0
  y_val: jax.Array  # (n_val, n_out)


class FitResult(NamedTuple):
  """What :func:`fit` returns."""
  params: mlp.Params
  state: TrainState
  history: dict          # metric name -> np.ndarray (epochs_run,)
  epochs_run: int
  reached_threshold: bool


def evaluate(params: mlp.Params, x: jax.Array, y: jax.Array,
             model: mlp.Model):
  """Returns ``(cost, accuracy)`` of the network on ``(x, y)``; NaN if empty."""
  if x.shape[0] == 0:
    return jnp.asarray(jnp.nan), jnp.asarray(jnp.nan)
  o, cache = mlp.forward(params, x, model)
  return (model.loss.value(cache["zs"][-1], y),
          mlp.accuracy(o, y, model.loss.task))


def resolve_batch_size(batch_size: int, n: int) -> int:
  """0 means the whole training set; anything else must be in [1, n]."""
  if batch_size == 0:
    return n
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must be 0 (whole set) or between 1 and the "
                     f"number of training examples {n}; got {batch_size}")
  return batch_size


def make_epoch(model: mlp.Model, optimizer: optax.GradientTransformation, *,
               n: int, batch_size: int, grad: str = "manual",
               epochs: int, cost_threshold: float = 0.0,
               shuffle: bool = True) -> Callable:
  """Builds ``epoch(state, data) -> (state, metrics)``, pure and jittable.

  An epoch after ``epochs`` or after the threshold was reached leaves the
  state unchanged and reports NaN metrics, so a scan may run past the end.
  """
  if grad not in backprop.METHODS:
    raise ValueError(f"unknown gradient method {grad!r}; allowed: "
                     f"{', '.join(backprop.METHODS)}")
  batch = resolve_batch_size(batch_size, n)
  num_batches = n // batch

  def run_epoch(state: TrainState, data: Data):
    def step(carry, idx):
      params, opt_state = carry
      _, grads = backprop.gradients(params, data.x[idx], data.y[idx], model,
                                    grad)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    key, shuffle_key = jax.random.split(state.key)
    order = (jax.random.permutation(shuffle_key, n) if shuffle
             else jnp.arange(n))
    idx = order[:num_batches * batch].reshape(num_batches, batch)
    (params, opt_state), _ = jax.lax.scan(
        step, (state.params, state.opt_state), idx)
    train_loss, train_acc = evaluate(params, data.x, data.y, model)
    val_loss, val_acc = evaluate(params, data.x_val, data.y_val, model)
    done = train_loss < cost_threshold
    new = TrainState(params, opt_state, key, state.epoch + 1, done)
    metrics = jnp.stack([train_loss, train_acc, val_loss, val_acc])
    return new, metrics.astype(jnp.float32)

  def skip(state: TrainState, data: Data):
    del data
    return state, jnp.full((len(METRICS),), jnp.nan, jnp.float32)

  def epoch(state: TrainState, data: Data):
    finished = state.done | (state.epoch >= epochs)
    return jax.lax.cond(finished, skip, run_epoch, state, data)

  return epoch


def init_state(params: mlp.Params, optimizer: optax.GradientTransformation,
               key: chex.PRNGKey) -> TrainState:
  """The state before the first epoch."""
  return TrainState(params, optimizer.init(params), key,
                    jnp.zeros((), jnp.int32), jnp.zeros((), bool))


def fit(params: mlp.Params, model: mlp.Model,
        optimizer: optax.GradientTransformation, data: Data, *,
        key: chex.PRNGKey, epochs: int, batch_size: int = 0,
        grad: str = "manual", cost_threshold: float = 0.0,
        shuffle: bool = True, epochs_per_call: Optional[int] = None,
        on_progress: Optional[Callable[[int, dict], Any]] = None
        ) -> FitResult:
  """Trains ``params`` on ``data`` and returns the result with its history.

  Args:
    params: initial parameters from :func:`mlp.init`.
    model: activation and output layer.
    optimizer: an optax transformation, e.g. from :func:`make_optimizer`.
    data: training and validation arrays.
    key: PRNG key for the per-epoch shuffles.
    epochs: the most epochs to run (>= 1).
    batch_size: 1 online SGD, 0 the whole set, else mini-batches.
    grad: ``"manual"`` (hand-written backprop) or ``"autodiff"``.
    cost_threshold: stop after the first epoch whose training cost is below
      this (0 never stops early).
    shuffle: reshuffle the training set every epoch.
    epochs_per_call: epochs per jitted ``lax.scan`` call (default: about 20
      calls in all); progress is reported between calls.
    on_progress: called as ``on_progress(epoch, metrics)`` after each call.

  Returns:
    A :class:`FitResult`; ``history[m]`` holds metric ``m`` per epoch run.
  """
  if epochs < 1:
    raise ValueError(f"epochs must be >= 1; got {epochs}")
  n = data.x.shape[0]
  if n == 0:
    raise ValueError("the training set is empty")
  chex.assert_equal_shape_prefix([data.x, data.y], 1)
  epoch_fn = make_epoch(model, optimizer, n=n, batch_size=batch_size,
                        grad=grad, epochs=epochs,
                        cost_threshold=cost_threshold, shuffle=shuffle)
  chunk = epochs_per_call or max(1, -(-epochs // 20))
  run = jax.jit(lambda s, d: jax.lax.scan(lambda c, _: epoch_fn(c, d), s,
                                          None, length=chunk))
  state = init_state(params, optimizer, key)
  rows = []
  while True:
    state, metrics = run(state, data)
    metrics = np.asarray(metrics)
    rows.append(metrics)
    epoch = int(state.epoch)
    if on_progress is not None:
      last = metrics[~np.isnan(metrics[:, 0])]
      if len(last):
        on_progress(epoch, dict(zip(METRICS, last[-1].tolist())))
    if bool(state.done) or epoch >= epochs:
      break
  table = np.concatenate(rows)[:epoch]
  history = {m: table[:, i] for i, m in enumerate(METRICS)}
  return FitResult(state.params, state, history, epoch, bool(state.done))
