"""One epoch of training, pure and jittable: the step and its ``lax.scan``.

Every mode of gradient descent goes through the same step:

* ``batch_size=1``: online (stochastic) gradient descent, example by example;
* ``batch_size=0`` or ``N``: batch gradient descent on the whole training set;
* anything else: mini-batches, reshuffled every epoch from a PRNG key (the
  incomplete last batch is dropped, so the step never recompiles).

The update is an optax ``GradientTransformation`` fed with the gradients of
:func:`nn_jax.backprop.gradients_and_outputs` (hand-written or ``jax.grad``).
Inside the step: dropout masks and augmentation draw from per-step keys; a
max-norm projection follows each update; batch-norm running statistics are
updated from each batch. After the epoch: the metrics, the stopping rules
(cost threshold, early stopping, divergence) and the best validation epoch.
"""

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nn_jax import backprop
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import devices as devices_lib
from nn_jax import mlp
from nn_jax import online
from nn_jax import regularization as reg
from nn_jax.train_data import Data, resolve_batch_size

METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class TrainState(NamedTuple):
  """Everything that changes during training."""
  params: mlp.Params
  opt_state: optax.OptState
  stats: list             # running batch-norm statistics ([] without)
  key: jax.Array       # for the next epoch's shuffle, masks, noise
  epoch: jax.Array        # () int32, epochs completed
  done: jax.Array         # () bool, stop before the next epoch
  diverged: jax.Array     # () bool, the cost or a parameter went non-finite
  best_params: mlp.Params  # parameters of the best validation epoch
  best_stats: list
  best_val_loss: jax.Array  # () in the parameters' float dtype
  best_epoch: jax.Array     # () int32, 0 before any validation
  bad_epochs: jax.Array     # () int32, epochs since the best



def init_state(params: mlp.Params, model: mlp.Model,
               optimizer: optax.GradientTransformation,
               key: jax.Array) -> TrainState:
  """The state before the first epoch; the best validation cost (and the
  metrics) are kept in float32, or float64 when the weights are."""
  stats = mlp.init_stats(params, model)
  zero = jnp.zeros((), jnp.int32)
  dtype = jax.dtypes.canonicalize_dtype(
      jnp.promote_types(params[0]["w"].dtype, jnp.float32))
  return TrainState(params, optimizer.init(params), stats, key, zero,
                    jnp.zeros((), bool), jnp.zeros((), bool), params, stats,
                    jnp.asarray(jnp.inf, dtype), zero, zero)


def scores(params: mlp.Params, x: jax.Array, y: jax.Array, model: mlp.Model,
           stats: Optional[list] = None):
  """``(cost, accuracy, outputs)`` in evaluation mode, traceable (the body
  of :func:`evaluate`); NaN and no outputs (None) if ``x`` is empty."""
  if x.shape[0] == 0:
    return jnp.asarray(jnp.nan), jnp.asarray(jnp.nan), None
  o, cache = mlp.forward(params, x, model, stats=stats)
  return (model.loss.value(cache["zs"][-1], y),
          mlp.accuracy(o, y, model.loss.task), o)


@functools.partial(jax.jit, static_argnames="model")
def evaluate(params: mlp.Params, x: jax.Array, y: jax.Array,
             model: mlp.Model, stats: Optional[list] = None):
  """Returns ``(cost, accuracy)`` in evaluation mode; NaN if ``x`` is empty.

  The cost is the loss alone, without the L2 penalty.
  """
  return scores(params, x, y, model, stats)[:2]


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a))
                            for a in jax.tree.leaves(tree)]))


# At most this many positions of the epochs' orders drawn on the host for
# one call of the epochs' program (64 MiB of int32); more are drawn in it.
HOST_ORDERS_MAX = 2**24
# NumPy draws an epoch's keys in about 50 us and its order in 130 us more
# plus 45 ns an example (on the 2-core machine of BENCHMARKS.md), where
# the program takes microseconds but compiles 0.1-0.2 s longer: a run
# whose draws would keep the host busier than this draws in its program.
HOST_DRAWS_BUDGET_S = 0.05


def host_draws_pay(n: int, epochs: int, shuffle: bool) -> bool:
  """Whether drawing ``epochs`` epochs of ``n`` examples on the host
  (:func:`host_draws`) takes less than :data:`HOST_DRAWS_BUDGET_S` by the
  estimate above: the quickstart's 80 epochs of 1,258 examples (0.02 s),
  MNIST's 10 of 50,000 (0.025 s), not XOR's 2,000 of 4 (0.4 s)."""
  per_epoch = 5e-5 + ((1.3e-4 + 4.5e-8 * n) if shuffle else 0.0)
  return epochs * per_epoch <= HOST_DRAWS_BUDGET_S


class Draws(NamedTuple):
  """What epochs draw from their state's key, drawn on the host."""
  keys: np.ndarray       # uint32 (epochs, 2, 2): each epoch's key after it
                         # and the key of its steps' masks, noise, shifts
  orders: Optional[np.ndarray]   # int32 (epochs, n): the examples' orders
                                 # (None without shuffle)


def host_draws(key, n: int, epochs: int, shuffle: bool) -> Optional[Draws]:
  """The :class:`Draws` of the next ``epochs`` epochs of a state whose key
  is ``key``, bit for bit what the epochs would draw themselves (``key,
  shuffle_key, steps_key = split(key, 3)``, ``permutation(shuffle_key,
  n)``), drawn by NumPy on the host: the epochs' program then compiles
  without the draws (0.2 s of a 0.8 s compile for the quickstart's). None
  where the host does not draw the key's bits
  (:func:`nn_jax.data.draws_on_host`) or the orders would hold more than
  :data:`HOST_ORDERS_MAX` positions."""
  if not data_lib.draws_on_host(key) or (
      shuffle and epochs * n > HOST_ORDERS_MAX):
    return None
  key, keys, orders = np.asarray(key, np.uint32), [], []
  for _ in range(epochs):
    key, shuffle_key, steps_key = data_lib.host_split(key, 3)
    keys.append((key, steps_key))
    if shuffle:
      orders.append(data_lib.host_permutation(shuffle_key, n))
  return Draws(np.asarray(keys, np.uint32),
               np.stack(orders) if shuffle else None)


def step_unroll(batch: int, num_batches: int) -> int:
  """Steps per iteration of an epoch's loop: 4 for small batches on an
  accelerator, against the loop's own overhead per iteration (as before;
  not measured on one yet); 1 on the CPU, where unrolling made no difference
  beyond timing noise (the quickstart's 64-256-10 and Nielsen's 784-30-10
  steps; BENCHMARKS.md) and took 0.4-0.65 s more to compile. The steps
  are the same either way; XLA may fuse unrolled ones otherwise, which can
  change the last bits of some results (tested)."""
  if batch <= 32 and num_batches >= 4 and jax.default_backend() != "cpu":
    return 4
  return 1


def make_epoch(model: mlp.Model, optimizer: optax.GradientTransformation,
               n: int, options: config_lib.FitOptions, *,
               image_shape: Optional[tuple] = None,
               mesh: Optional[jax.sharding.Mesh] = None,
               lockstep: bool = False) -> Callable:
  """Builds ``epoch(state, data, drawn=None) -> (state, metrics)``, pure and
  jittable; ``drawn`` the epoch's row of :func:`host_draws` (else it draws
  the same itself).

  An epoch after the end (``epochs`` reached or ``done``) leaves the state
  unchanged and reports NaN metrics, so a scan may run past the end: with
  ``lockstep`` (for ``vmap`` over a population) by computing the epoch and
  selecting the old state, else by skipping it in a ``lax.cond``.

  With the optimizer :func:`nn_jax.online.delayed_sgd`, online epochs run
  :func:`nn_jax.online.epoch` where :func:`nn_jax.online.applies`.
  ``image_shape`` is the images' ``(height, width)`` for random shifts;
  ``mesh`` splits every batch over its ``"data"`` axis.
  """
  o = options
  if o.shift and not image_shape:
    raise ValueError("random shifts need image data (an image_shape)")
  batch = resolve_batch_size(o.batch_size, n)
  num_batches = n // batch
  if model.batchnorm and batch == 1:
    raise ValueError("batch norm needs batches of at least 2 examples: the "
                     "statistics of one example normalize it to 0")
  if mesh is not None and batch % mesh.size:
    raise ValueError(f"the batch size {batch} must be a multiple of the "
                     f"{mesh.size} devices")

  def shard(a):
    # Each device computes its slice of the batch; XLA sums the gradients.
    if mesh is None:
      return a
    return jax.lax.with_sharding_constraint(
        a, devices_lib.sharding(mesh, "data"))

  delayed = online.applies(optimizer, model, batch, o.grad, bool(
      o.noise or o.shift or o.max_norm or mesh is not None))

  def run_epoch(state: TrainState, data: Data, drawn=None):
    def step(carry, inputs):
      params, opt_state, stats = carry
      idx, key = inputs
      k_drop, k_noise, k_shift = jax.random.split(key, 3)
      x, y = shard(data.x[idx]), shard(data.y[idx])
      if o.noise > 0:
        x = reg.gaussian_noise(k_noise, x, o.noise)
      if o.shift > 0:
        x = reg.random_shift(k_shift, x, image_shape, o.shift)
      _, grads, batch_stats, z = backprop.gradients_and_outputs(
          params, x, y, model, o.grad, k_drop if model.dropout > 0 else None)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      if o.max_norm > 0:
        params = reg.max_norm(params, o.max_norm)
      if model.batchnorm:
        stats = reg.update_stats(stats, batch_stats)
      batch_metrics = None
      if o.train_metrics == "batches":   # this batch, before its update
        batch_metrics = (model.loss.value(z, y), mlp.accuracy(
            model.loss.output(z), y, model.loss.task))
      return (params, opt_state, stats), batch_metrics

    if drawn is None:
      key, shuffle_key, steps_key = jax.random.split(state.key, 3)
      order = (data_lib.permutation(shuffle_key, n) if o.shuffle
               else jnp.arange(n))
    else:
      key, steps_key = drawn.keys
      order = drawn.orders if o.shuffle else jnp.arange(n)
    if delayed and len(state.params) >= 2:
      params, batch_metrics = online.epoch(
          state.params, data.x, data.y, order, model,
          optimizer.learning_rate,
          o.train_metrics == "batches")
      opt_state, stats = state.opt_state, state.stats
    else:
      idx = order[:num_batches * batch].reshape(num_batches, batch)
      step_keys = jax.random.split(steps_key, num_batches)
      (params, opt_state, stats), batch_metrics = jax.lax.scan(
          step, (state.params, state.opt_state, state.stats),
          (idx, step_keys), unroll=step_unroll(batch, num_batches))
    if o.train_metrics == "batches":
      train_loss, train_acc = (jnp.mean(m) for m in batch_metrics)
    else:   # a second pass over the whole training set
      train_loss, train_acc = evaluate(params, data.x, data.y, model, stats)
    val_loss, val_acc = evaluate(params, data.x_val, data.y_val, model, stats)
    epoch = state.epoch + 1
    # Metrics in the parameters' precision: a float64 run's small
    # improvements of the validation cost count as improvements.
    metric_dtype = state.best_val_loss.dtype
    diverged = ~(jnp.isfinite(train_loss) & _all_finite(params))
    improved = val_loss < state.best_val_loss   # False without validation
    bad_epochs = jnp.where(improved, 0, state.bad_epochs + 1)
    # Diverged: the arrays from before the epoch, in one branch taken (a
    # select per array compiled a kernel each).
    kept_params, kept_opt_state, kept_stats = jax.lax.cond(
        diverged, lambda: (state.params, state.opt_state, state.stats),
        lambda: (params, opt_state, stats))
    # The best epoch's parameters only where early stopping returns them.
    best = lambda new, old: (jax.tree.map(
        lambda a, b: jnp.where(improved, a, b), new, old)
                             if o.early_stopping_patience > 0 else old)
    done = diverged | (train_loss < o.cost_threshold)
    if o.early_stopping_patience > 0:
      done = done | (bad_epochs >= o.early_stopping_patience)
    new = TrainState(
        params=kept_params, opt_state=kept_opt_state, stats=kept_stats,
        key=key, epoch=epoch, done=done,
        diverged=diverged,
        best_params=best(params, state.best_params),
        best_stats=best(stats, state.best_stats),
        best_val_loss=jnp.where(improved, val_loss,
                                state.best_val_loss).astype(metric_dtype),
        best_epoch=jnp.where(improved, epoch, state.best_epoch),
        bad_epochs=bad_epochs)
    metrics = jnp.stack([train_loss, train_acc, val_loss, val_acc])
    return new, metrics.astype(metric_dtype)

  def skip(state: TrainState, data: Data, drawn=None):
    del data, drawn
    return state, jnp.full((len(METRICS),), jnp.nan,
                           state.best_val_loss.dtype)

  def epoch(state: TrainState, data: Data, drawn=None):
    finished = state.done | (state.epoch >= o.epochs)
    if not lockstep:
      return jax.lax.cond(finished, skip, run_epoch, state, data, drawn)
    # Under vmap, a cond on a per-member predicate runs both branches and
    # first broadcasts every operand, the shared data too, to all members;
    # selecting between the two results computes the same without the copy.
    # The key advances either way (a finished member never uses it again),
    # so that a key shared by all members stays one key, not a copy each.
    ran = run_epoch(state, data, drawn)
    new, metrics = jax.tree.map(lambda a, b: jnp.where(finished, a, b),
                                skip(state, data), ran)
    return new._replace(key=ran[0].key), metrics

  return epoch

