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
``epochs``, at the first epoch whose training cost is below
``cost_threshold``, when the validation cost has not improved for
``early_stopping_patience`` epochs (the best epoch's parameters are
returned), or when the cost or the parameters stop being finite (the last
finite parameters are kept and ``diverged`` is set).

Inside the step: dropout masks and augmentation draw from per-step keys; a
max-norm projection follows each update; batch-norm running statistics are
updated from each batch.
"""

import functools
import math
import numbers
from typing import Any, Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nn_jax import backprop
from nn_jax import data as data_lib
from nn_jax import losses as losses_lib
from nn_jax import mlp
from nn_jax import regularization as reg

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "step", "exponential", "cosine")
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
TRAIN_METRICS = ("full", "batches")


def make_optimizer(name: str, learning_rate: float | optax.Schedule,
                   momentum: float = 0.9) -> optax.GradientTransformation:
  """Returns the optax transformation called ``name`` (one of ``OPTIMIZERS``).

  ``sgd`` is plain gradient descent ``w <- w - eta dE/dw``; ``momentum`` adds
  a velocity ``v <- mu v + dE/dw, w <- w - eta v``; ``nesterov`` evaluates the
  step at the look-ahead point; ``adam`` is Adam. With numbers for
  ``learning_rate`` and ``momentum`` the same arguments give the same
  (immutable) object, so that :func:`fit` reuses its compiled loop.
  """
  if isinstance(learning_rate, (int, float)) and isinstance(
      momentum, (int, float)):
    return _cached_optimizer(name, float(learning_rate), float(momentum))
  return _make_optimizer(name, learning_rate, momentum)


@functools.lru_cache(maxsize=64)
def _cached_optimizer(name, learning_rate, momentum):
  optimizer = _make_optimizer(name, learning_rate, momentum)
  if name == "sgd":
    _PLAIN_SGD[optimizer] = learning_rate
  return optimizer


# Plain SGD transformations made by make_optimizer, with their constant
# learning rates: online epochs with them may delay weight updates (see
# _online_sgd_delayed).
_PLAIN_SGD = {}


def _plain_sgd_rate(optimizer) -> Optional[float]:
  try:
    return _PLAIN_SGD.get(optimizer)
  except TypeError:   # an unhashable transformation
    return None


def _make_optimizer(name, learning_rate, momentum):
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


def make_schedule(name: str, learning_rate: float, *, steps_per_epoch: int,
                  epochs: int, decay_rate: float = 0.5,
                  decay_epochs: int = 10) -> float | optax.Schedule:
  """A learning-rate schedule over optimizer steps (one per mini-batch).

  ``constant``: eta throughout, returned as the number itself, so that
  :func:`make_optimizer` returns its cached object and :func:`fit` its
  compiled loop for equal settings; ``step``: eta times ``decay_rate`` every
  ``decay_epochs`` epochs; ``exponential``: the same decay, continuous;
  ``cosine``: from eta down to 0 over all ``epochs``.
  """
  if name == "constant":
    return float(learning_rate)
  if name in ("step", "exponential"):
    if not 0 < decay_rate <= 1 or decay_epochs < 1:
      raise ValueError(f"decay_rate must be in (0, 1] and decay_epochs >= 1; "
                       f"got {decay_rate}, {decay_epochs}")
    return optax.exponential_decay(
        learning_rate, transition_steps=decay_epochs * steps_per_epoch,
        decay_rate=decay_rate, staircase=name == "step")
  if name == "cosine":
    return optax.cosine_decay_schedule(learning_rate,
                                       decay_steps=epochs * steps_per_epoch)
  raise ValueError(
      f"unknown schedule {name!r}; allowed: {', '.join(SCHEDULES)}")


class Options(NamedTuple):
  """How :func:`fit` trains (see its arguments)."""
  epochs: int
  batch_size: int = 0
  grad: str = "manual"
  cost_threshold: float = 0.0
  shuffle: bool = True
  max_norm: float = 0.0
  early_stopping_patience: int = 0
  noise_std: float = 0.0
  max_shift: int = 0
  image_shape: Optional[tuple] = None
  mesh: Optional[jax.sharding.Mesh] = None   # data-parallel over its "data" axis
  train_metrics: str = "full"                # one of TRAIN_METRICS


class TrainState(NamedTuple):
  """Everything that changes during training."""
  params: mlp.Params
  opt_state: optax.OptState
  stats: list             # running batch-norm statistics ([] without)
  key: chex.PRNGKey       # for the next epoch's shuffle, masks, noise
  epoch: jax.Array        # () int32, epochs completed
  done: jax.Array         # () bool, stop before the next epoch
  diverged: jax.Array     # () bool, the cost or a parameter went non-finite
  best_params: mlp.Params  # parameters of the best validation epoch
  best_stats: list
  best_val_loss: jax.Array  # () in the parameters' float dtype
  best_epoch: jax.Array     # () int32, 0 before any validation
  bad_epochs: jax.Array     # () int32, epochs since the best


class Data(NamedTuple):
  """Training and validation arrays (targets already encoded for the loss)."""
  x: jax.Array      # (n, n_in)
  y: jax.Array      # (n, n_out)
  x_val: jax.Array  # (n_val, n_in), n_val may be 0
  y_val: jax.Array  # (n_val, n_out)


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


@functools.partial(jax.jit, static_argnames="model")
def evaluate(params: mlp.Params, x: jax.Array, y: jax.Array,
             model: mlp.Model, stats: Optional[list] = None):
  """Returns ``(cost, accuracy)`` in evaluation mode; NaN if ``x`` is empty.

  The cost is the loss alone, without the L2 penalty.
  """
  if x.shape[0] == 0:
    return jnp.asarray(jnp.nan), jnp.asarray(jnp.nan)
  o, cache = mlp.forward(params, x, model, stats=stats)
  return (model.loss.value(cache["zs"][-1], y),
          mlp.accuracy(o, y, model.loss.task))


def resolve_batch_size(batch_size: int, n: int) -> int:
  """0 means the whole training set; anything else must be in [1, n]."""
  if isinstance(batch_size, bool) or not isinstance(batch_size,
                                                     numbers.Integral):
    raise ValueError(f"batch_size must be an integer; got {batch_size!r}")
  if batch_size == 0:
    return n
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must be 0 (whole set) or between 1 and the "
                     f"number of training examples {n}; got {batch_size}")
  return batch_size


def check_data(params: mlp.Params, model: mlp.Model, data: Data) -> None:
  """Raises ValueError naming what is wrong with ``data`` for this network:
  shapes, feature and output counts, NaN or Inf, targets outside [0, 1] for
  sigmoid and softmax outputs, softmax cross-entropy targets whose rows do
  not sum to 1 (its output delta ``softmax(z) - y`` assumes they do)."""
  n_in, n_out = params[0]["w"].shape[1], params[-1]["w"].shape[0]
  for name in Data._fields:
    shape = np.shape(getattr(data, name))
    if len(shape) != 2:
      raise ValueError(f"{name} must be a 2-D array (examples, "
                       f"{'features' if 'x' in name else 'outputs'}); got "
                       f"shape {shape}")
    width = n_in if name.startswith("x") else n_out
    if shape[1] != width:
      what = "features" if name.startswith("x") else "target columns"
      raise ValueError(f"{name} has {shape[1]} {what} but the network has "
                       f"{width}")
  # Reduce where the arrays live (the device ones in one compiled call): only
  # scalars cross to the host.
  on_device = {k: getattr(data, k) for k in Data._fields
               if isinstance(getattr(data, k), jax.Array)}
  summaries = {**(_summaries(on_device) if on_device else {}),
               **{k: _summary(np, np.asarray(getattr(data, k)), k)
                  for k in Data._fields if k not in on_device}}
  for name in Data._fields:
    finite, lo, hi, off_one = (float(s) for s in summaries[name])
    if not finite:
      bad = np.argwhere(~np.isfinite(np.asarray(getattr(data, name))))[0]
      raise ValueError(f"{name} contains NaN or Inf (first at row {bad[0]}, "
                       f"column {bad[1]})")
    if name.startswith("y") and model.loss.task != "regression":
      if lo < 0 or hi > 1:
        raise ValueError(f"{name} must hold targets in [0, 1] for "
                         f"{model.loss.name} (one-hot rows or 0/1 labels); "
                         f"found values in [{lo}, {hi}]")
    if (name.startswith("y") and off_one > 1e-3
        and model.loss.name == losses_lib.softmax_cross_entropy.name):
      sums = np.sum(np.asarray(getattr(data, name), np.float64), axis=1)
      row = int(np.argmax(np.abs(sums - 1)))
      raise ValueError(f"{name} rows must sum to 1 for {model.loss.name} "
                       f"(one-hot or class probabilities); row {row} sums "
                       f"to {sums[row]:g}")
  if data.x.shape[0] == 0:
    raise ValueError("the training set is empty")
  # Without 64-bit JAX a float64 array is float32 once on the device.
  w_dtype = jax.dtypes.canonicalize_dtype(params[0]["w"].dtype)
  for name in Data._fields:
    dtype = jax.dtypes.canonicalize_dtype(getattr(data, name).dtype)
    if jnp.issubdtype(dtype, jnp.floating) and dtype != w_dtype:
      raise ValueError(f"{name} is {dtype} but the network's weights are "
                       f"{w_dtype}; cast one to the other")
  for x, y in (("x", "y"), ("x_val", "y_val")):
    if getattr(data, x).shape[0] != getattr(data, y).shape[0]:
      raise ValueError(f"{x} has {getattr(data, x).shape[0]} rows but {y} "
                       f"has {getattr(data, y).shape[0]}")


def _summary(xp, a, name):
  """``(all finite, min, max, largest |row sum - 1|)`` of the 2-D ``a`` with
  ``xp`` (numpy or jax.numpy); the row sums only for targets (``y...``)."""
  if not xp.issubdtype(a.dtype, xp.floating):
    a = a.astype(xp.float32)
  off_one = (xp.max(xp.abs(xp.sum(a, axis=1) - 1), initial=0)
             if name.startswith("y") else 0.0)
  return (xp.all(xp.isfinite(a)), xp.min(a, initial=np.inf),
          xp.max(a, initial=-np.inf), off_one)


@jax.jit
def _summaries(arrays: dict) -> dict:
  return {k: _summary(jnp, a, k) for k, a in arrays.items()}


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a))
                            for a in jax.tree.leaves(tree)]))


def make_epoch(model: mlp.Model, optimizer: optax.GradientTransformation,
               n: int, options: Options, *, lockstep: bool = False
               ) -> Callable:
  """Builds ``epoch(state, data) -> (state, metrics)``, pure and jittable.

  An epoch after the end (``epochs`` reached or ``done``) leaves the state
  unchanged and reports NaN metrics, so a scan may run past the end: with
  ``lockstep`` (for ``vmap`` over a population) by computing the epoch and
  selecting the old state, else by skipping it in a ``lax.cond``.

  Online epochs (batch size 1) with the plain SGD of :func:`make_optimizer`
  and hand-written backprop, without dropout, batch norm, L2, max-norm,
  augmentation, PReLU or devices, update the weights of the first layer
  (and of large hidden layers right above it) once per block of examples
  (:func:`_online_sgd_delayed`): the same steps, rounded differently, and
  faster.
  """
  o = options
  if o.train_metrics not in TRAIN_METRICS:
    raise ValueError(f"unknown train_metrics {o.train_metrics!r}; allowed: "
                     f"{', '.join(TRAIN_METRICS)}")
  if o.grad not in backprop.METHODS:
    raise ValueError(f"unknown gradient method {o.grad!r}; allowed: "
                     f"{', '.join(backprop.METHODS)}")
  if o.max_shift and not o.image_shape:
    raise ValueError("random shifts need image data (an image_shape)")
  batch = resolve_batch_size(o.batch_size, n)
  num_batches = n // batch
  if model.batchnorm and batch == 1:
    raise ValueError("batch norm needs batches of at least 2 examples: the "
                     "statistics of one example normalize it to 0")
  if o.mesh is not None and batch % o.mesh.size:
    raise ValueError(f"the batch size {batch} must be a multiple of the "
                     f"{o.mesh.size} devices")

  def shard(a):
    # Each device computes its slice of the batch; XLA sums the gradients.
    if o.mesh is None:
      return a
    return jax.lax.with_sharding_constraint(a, sharding(o.mesh, "data"))

  # Online plain SGD may delay weight updates (same steps, other rounding);
  # not with what changes a step beyond the gradient update.
  delayed_rate = None
  if (batch == 1 and o.grad == "manual" and o.mesh is None
      and model.activation.grad is not None   # else the usual error
      and not (model.dropout or model.batchnorm or model.l2 or o.noise_std
               or o.max_shift or o.max_norm or model.activation.learnable)):
    delayed_rate = _plain_sgd_rate(optimizer)

  def run_epoch(state: TrainState, data: Data):
    def step(carry, inputs):
      params, opt_state, stats = carry
      idx, key = inputs
      k_drop, k_noise, k_shift = jax.random.split(key, 3)
      x, y = shard(data.x[idx]), shard(data.y[idx])
      if o.noise_std > 0:
        x = reg.gaussian_noise(k_noise, x, o.noise_std)
      if o.max_shift > 0:
        x = reg.random_shift(k_shift, x, o.image_shape, o.max_shift)
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

    key, shuffle_key, steps_key = jax.random.split(state.key, 3)
    order = (data_lib.permutation(shuffle_key, n) if o.shuffle
             else jnp.arange(n))
    if delayed_rate is not None and len(state.params) >= 2:
      params, batch_metrics = _online_sgd_delayed(
          state.params, data.x, data.y, order, model, delayed_rate,
          o.train_metrics == "batches")
      opt_state, stats = state.opt_state, state.stats
    else:
      idx = order[:num_batches * batch].reshape(num_batches, batch)
      step_keys = jax.random.split(steps_key, num_batches)
      # Small steps are dominated by the loop's own overhead: unroll a few.
      (params, opt_state, stats), batch_metrics = jax.lax.scan(
          step, (state.params, state.opt_state, state.stats),
          (idx, step_keys),
          unroll=4 if batch <= 32 and num_batches >= 4 else 1)
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
    keep = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(diverged, b, a), new, old)
    best = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(improved, a, b), new, old)
    done = diverged | (train_loss < o.cost_threshold)
    if o.early_stopping_patience > 0:
      done = done | (bad_epochs >= o.early_stopping_patience)
    new = TrainState(
        params=keep(params, state.params),
        opt_state=keep(opt_state, state.opt_state),
        stats=keep(stats, state.stats), key=key, epoch=epoch, done=done,
        diverged=diverged,
        best_params=best(params, state.best_params),
        best_stats=best(stats, state.best_stats),
        best_val_loss=jnp.where(improved, val_loss,
                                state.best_val_loss).astype(metric_dtype),
        best_epoch=jnp.where(improved, epoch, state.best_epoch),
        bad_epochs=bad_epochs)
    metrics = jnp.stack([train_loss, train_acc, val_loss, val_acc])
    return new, metrics.astype(metric_dtype)

  def skip(state: TrainState, data: Data):
    del data
    return state, jnp.full((len(METRICS),), jnp.nan,
                           state.best_val_loss.dtype)

  def epoch(state: TrainState, data: Data):
    finished = state.done | (state.epoch >= o.epochs)
    if not lockstep:
      return jax.lax.cond(finished, skip, run_epoch, state, data)
    # Under vmap, a cond on a per-member predicate runs both branches and
    # first broadcasts every operand, the shared data too, to all members;
    # selecting between the two results computes the same without the copy.
    # The key advances either way (a finished member never uses it again),
    # so that a key shared by all members stays one key, not a copy each.
    ran = run_epoch(state, data)
    new, metrics = jax.tree.map(lambda a, b: jnp.where(finished, a, b),
                                skip(state, data), ran)
    return new._replace(key=ran[0].key), metrics

  return epoch


# Examples per block of delayed weight updates in online SGD.
DELAY_BLOCK = 64


def _delayed_layers(params) -> int:
  """How many layers online SGD delays (see :func:`_online_sgd_delayed`):
  the first, and the hidden layers right above it whose weights outweigh
  the buffers' work. On the 2-core CPU, 256 x 256 and 512 x 512 hidden
  layers ran 1.6 times as fast delayed, 192 x 192 and 256 x 128 alike, and
  128 x 128 and smaller ones slower."""
  delayed = 1
  while delayed < len(params) - 1 and (params[delayed]["w"].size >= 2 *
                                       DELAY_BLOCK * sum(
                                           params[delayed]["w"].shape)):
    delayed += 1
  return delayed


def _online_sgd_delayed(params, x, y, order, model: mlp.Model, rate: float,
                        batch_metrics: bool):
  """Online SGD over ``x[order]``, the weights of the first
  :func:`_delayed_layers` layers updated once per block of ``DELAY_BLOCK``
  examples instead of after every example.

  The steps are those of one example at a time: in a block that starts from
  a delayed layer's weights ``w``, step ``t`` needs ``z_t = w_t a_t + b_t``
  (``a_t`` the layer's input) with ``w_t = w - eta sum_{s<t} delta_s
  a_s^T``, which is

  ``z_t = w a_t + b_t - eta sum_{s<t} (a_s . a_t) delta_s``,

  and passes down ``w_t^T delta_t = w^T delta_t - eta sum_{s<t} (delta_s .
  delta_t) a_s``: sums over the block's earlier inputs and deltas, kept in
  two buffers; at the block's end ``w -= eta Delta^T A`` is one matmul. For
  the first layer the inputs are known beforehand, so its products ``w
  x_t`` for the whole block are one matmul and the ``x_s . x_t`` one Gram
  matrix. The layers above step as usual. Only the additions are ordered
  differently, so the result equals the step-by-step one up to rounding,
  and a step no longer writes the delayed weight matrices (nor reads the
  first): in the online benchmark (784-256-256-10, both hidden layers
  delayed) a step takes about 23 us, against 37 with the first layer alone
  delayed and 50 without.

  Returns:
    ``(params, metrics)``: ``metrics`` as the step loop's (the cost and
    accuracy of each example before its update) or None.
  """
  act = model.activation
  skip = mlp.skips(mlp.sizes_of(params), model)
  delayed = _delayed_layers(params)
  act_fn = lambda z: act.fn(z, act.alpha)
  act_grad = lambda z: act.grad(z, act.alpha)

  def block(params, idx):
    k = idx.shape[0]
    ws = [layer["w"] for layer in params[:delayed]]  # as at the block's start
    # Integer inputs (pixels 0-255) in the weights' dtype: the Gram matrix
    # of uint8 rows would overflow.
    xb, yb = x[idx].astype(ws[0].dtype), y[idx]
    zw = jnp.einsum("jk,tk->tj", ws[0], xb)          # w x_t for every t
    gram = jnp.einsum("sk,tk->ts", xb, xb)           # x_s . x_t

    def step(carry, t):
      bs, out, inputs, deltas = carry
      earlier = jnp.arange(k) < t
      a, zs = xb[t], []
      for l in range(delayed):                       # forward
        if l == 0:
          z, dots = zw[t], gram[t]
        else:
          inputs[l] = inputs[l].at[t].set(a)
          z, dots = ws[l] @ a, inputs[l] @ a
        z = z + bs[l] - rate * (jnp.where(earlier, dots, 0) @ deltas[l])
        zs.append(z)
        a = a + act_fn(z) if skip[l] else act_fn(z)
      _, cache = mlp.forward(out, a[None], model, train=True)
      grads, dE_da = backprop.backward(out, cache, yb[t][None], model,
                                       input_grad=True)
      dE_da = dE_da[0]
      for l in reversed(range(delayed)):             # backward
        delta = dE_da * act_grad(zs[l])
        if l > 0:
          dots = jnp.where(earlier, deltas[l] @ delta, 0)
          down = delta @ ws[l] - rate * (dots @ inputs[l])
          dE_da = down + dE_da if skip[l] else down
        deltas[l] = deltas[l].at[t].set(delta)
        bs[l] = bs[l] - rate * delta
      metrics = None
      if batch_metrics:
        z_out = cache["zs"][-1]
        metrics = (model.loss.value(z_out, yb[t][None]),
                   mlp.accuracy(model.loss.output(z_out), yb[t][None],
                                model.loss.task))
      out = jax.tree.map(lambda p, g: p - rate * g, out, grads)
      return (bs, out, inputs, deltas), metrics

    # Buffers of the block's inputs (the first layer's are xb) and deltas.
    start = ([layer["b"] for layer in params[:delayed]], params[delayed:],
             [None] + [jnp.zeros((k, w.shape[1]), w.dtype) for w in ws[1:]],
             [jnp.zeros((k, w.shape[0]), w.dtype) for w in ws])
    (bs, out, inputs, deltas), metrics = jax.lax.scan(
        step, start, jnp.arange(k), unroll=4)
    inputs[0] = xb
    return [{"w": w - rate * jnp.einsum("tj,tk->jk", d, a), "b": b}
            for w, b, a, d in zip(ws, bs, inputs, deltas)] + out, metrics

  n = order.shape[0]
  full = n // DELAY_BLOCK
  parts = []
  if full:
    params, m = jax.lax.scan(
        block, params, order[:full * DELAY_BLOCK].reshape(full, DELAY_BLOCK))
    parts.append(m)
  if n % DELAY_BLOCK:
    params, m = block(params, order[full * DELAY_BLOCK:])
    parts.append(m)
  if not batch_metrics:
    return params, None
  return params, tuple(jnp.concatenate([jnp.ravel(p[i]) for p in parts])
                       for i in range(2))


def _check_epochs(epochs) -> None:
  if (isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral)
      or epochs < 1):
    raise ValueError(f"epochs must be an integer >= 1; got {epochs!r}")


def init_state(params: mlp.Params, model: mlp.Model,
               optimizer: optax.GradientTransformation,
               key: chex.PRNGKey) -> TrainState:
  """The state before the first epoch; the best validation cost (and the
  metrics) are kept in float32, or float64 when the weights are."""
  stats = mlp.init_stats(params, model)
  zero = jnp.zeros((), jnp.int32)
  dtype = jax.dtypes.canonicalize_dtype(
      jnp.promote_types(params[0]["w"].dtype, jnp.float32))
  return TrainState(params, optimizer.init(params), stats, key, zero,
                    jnp.zeros((), bool), jnp.zeros((), bool), params, stats,
                    jnp.asarray(jnp.inf, dtype), zero, zero)


def make_mesh(devices: int, axis: str = "data"
              ) -> Optional[jax.sharding.Mesh]:
  """A one-axis mesh (named ``axis``) over the first ``devices`` devices
  (None for 1). For several hosts, call ``jax.distributed.initialize()``
  first; ``jax.devices()`` then lists every host's devices."""
  available = jax.device_count()
  if not 1 <= devices <= available:
    platform = jax.devices()[0].platform
    hint = ("; XLA_FLAGS=--xla_force_host_platform_device_count=N makes the "
            "CPU N devices" if platform == "cpu" else "")
    raise ValueError(f"devices must be between 1 and the {available} "
                     f"available ({platform}); got {devices}{hint}")
  if devices == 1:
    return None
  return jax.sharding.Mesh(np.array(jax.devices()[:devices]), (axis,))


def sharding(mesh: jax.sharding.Mesh, axis: Optional[str] = None
             ) -> jax.sharding.NamedSharding:
  """Arrays split along their first dimension over ``mesh``'s ``axis``
  (replicated on every device without one)."""
  return jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(*([axis] if axis else [])))


@functools.lru_cache(maxsize=16)
def _fit_runner(model, optimizer, n, options, chunk):
  """``chunk`` epochs in one jitted scan, cached: fits with the same model,
  optimizer object, data size and options trace and compile once. The
  state is donated: XLA writes the new state into its buffers."""
  epoch_fn = make_epoch(model, optimizer, n, options)
  return jax.jit(lambda s, d: jax.lax.scan(lambda c, _: epoch_fn(c, d), s,
                                          None, length=chunk),
                 donate_argnums=0)


def fit(params: mlp.Params, model: mlp.Model,
        optimizer: optax.GradientTransformation, data: Data, *,
        key: chex.PRNGKey, epochs: int, batch_size: int = 0,
        grad: str = "manual", cost_threshold: float = 0.0,
        shuffle: bool = True, max_norm: float = 0.0,
        early_stopping_patience: int = 0, noise_std: float = 0.0,
        max_shift: int = 0, image_shape: Optional[tuple] = None,
        devices: int = 1, train_metrics: str = "full",
        epochs_per_call: Optional[int] = None,
        on_progress: Optional[Callable[[int, dict], Any]] = None,
        checkpointer: Any = None, checkpoint_every: int = 0,
        resume: bool = False) -> FitResult:
  """Trains ``params`` on ``data`` and returns the result with its history.

  Args:
    params: initial parameters from :func:`mlp.init`.
    model: activation, output layer and regularizers.
    optimizer: an optax transformation, e.g. from :func:`make_optimizer`.
    data: training and validation arrays.
    key: PRNG key for shuffles, dropout masks and augmentation (raw, from
      ``jax.random.PRNGKey``, or typed, from ``jax.random.key``).
    epochs: the most epochs to run (>= 1).
    batch_size: 1 online SGD, 0 the whole set, else mini-batches. An epoch
      is ``n // batch_size`` full batches: the ``n % batch_size`` examples
      left over are not trained on in that epoch (with ``shuffle``, other
      ones each epoch; without, always the last ones).
    grad: ``"manual"`` (hand-written backprop) or ``"autodiff"``.
    cost_threshold: stop after the first epoch whose training cost is below
      this (0 never stops early).
    shuffle: reshuffle the training set every epoch (else the examples are
      taken in their order every epoch).
    max_norm: project each unit's incoming weights to norm <= this after
      every step (0: off).
    early_stopping_patience: stop when the validation cost has not improved
      for this many epochs and return the best epoch's parameters (0: off).
    noise_std: Gaussian noise added to every training batch (0: off).
    max_shift: shift training images by up to this many pixels (0: off).
    image_shape: ``(height, width)`` of the images, for ``max_shift``.
    devices: data-parallel training over this many devices (a ``Mesh`` with
      one ``"data"`` axis: every batch is split across them, the parameters
      are replicated); the batch size must be a multiple of it.
    train_metrics: ``"full"``: the training cost and accuracy of each epoch
      are measured on the whole training set after it (a second pass, a
      third of an epoch's work for a big training set); ``"batches"``: the
      mean over the epoch's batches, each measured in its forward pass
      before its update (as PyTorch and Keras loops report them; with
      dropout, on the thinned network).
    epochs_per_call: epochs per jitted ``lax.scan`` call (default: about 20
      calls in all); progress is reported between calls.
    on_progress: called as ``on_progress(epoch, metrics)`` after each call.
    checkpointer: a :class:`nn_jax.checkpoint.Checkpointer`; with
      ``checkpoint_every = K > 0`` the full state is saved every K epochs
      (and at the end); each jitted call then runs the greatest common
      divisor of K and ``epochs_per_call`` (or its default) epochs.
    checkpoint_every: epochs between checkpoints (0: none).
    resume: continue from the checkpointer's latest checkpoint, if any. With
      the same arguments the result is bitwise the same as a run that was
      never interrupted.

  Returns:
    A :class:`FitResult`; ``history[m]`` holds metric ``m`` per epoch run.
  """
  _check_epochs(epochs)
  check_data(params, model, data)
  n = data.x.shape[0]
  if early_stopping_patience < 0:
    raise ValueError(f"early_stopping_patience must be >= 0 (0: off); got "
                     f"{early_stopping_patience}")
  if early_stopping_patience and data.x_val.shape[0] == 0:
    raise ValueError("early stopping needs validation data")
  if max_norm < 0 or noise_std < 0 or max_shift < 0:
    raise ValueError("max_norm, noise_std and max_shift must be >= 0")
  if noise_std > 0 and not jnp.issubdtype(data.x.dtype, jnp.floating):
    raise ValueError(f"Gaussian input noise needs floating-point inputs; x "
                     f"is {data.x.dtype}")
  if max_shift > 0 and image_shape and (
      math.prod(image_shape) != data.x.shape[1]):
    raise ValueError(f"image_shape {tuple(image_shape)} has "
                     f"{math.prod(image_shape)} pixels but x has "
                     f"{data.x.shape[1]} features")
  mesh = make_mesh(devices)
  options = Options(epochs, batch_size, grad, cost_threshold, shuffle,
                    max_norm, early_stopping_patience, noise_std, max_shift,
                    tuple(image_shape) if image_shape else None, mesh,
                    train_metrics)
  if mesh is not None:
    params, data, key = jax.device_put((params, data, key), sharding(mesh))
  if checkpoint_every < 0 or (checkpoint_every and checkpointer is None):
    raise ValueError("checkpoint_every needs a checkpointer and must be >= 0")
  if epochs_per_call is not None and epochs_per_call < 1:
    raise ValueError(f"epochs_per_call must be >= 1; got {epochs_per_call}")
  chunk = epochs_per_call or max(1, -(-epochs // 20))
  if checkpoint_every:   # calls that end on every checkpoint's epoch
    chunk = math.gcd(chunk, checkpoint_every)
  run = _fit_runner(model, optimizer, n, options, chunk)
  state = init_state(params, model, optimizer, key)
  rows = []
  if resume and checkpointer is not None and (
      checkpointer.latest_epoch() is not None):
    state, done_rows, _ = checkpointer.restore(state)
    rows.append(done_rows)
  # The runner donates the state: it gets buffers of its own, neither the
  # caller's parameters nor one buffer in two places.
  state = jax.tree.map(jnp.copy, state)
  epoch = int(state.epoch)
  while not (bool(state.done) or epoch >= epochs):
    state, metrics = run(state, data)
    metrics = np.asarray(metrics)
    rows.append(metrics[:int(state.epoch) - epoch])
    epoch = int(state.epoch)
    finished = bool(state.done) or epoch >= epochs
    if checkpoint_every and (epoch % checkpoint_every == 0 or finished):
      checkpointer.save(epoch, state, np.concatenate(rows))
    if on_progress is not None and len(rows[-1]):
      on_progress(epoch, dict(zip(METRICS, rows[-1][-1].tolist())))
  table = (np.concatenate(rows) if rows
           else np.zeros((0, len(METRICS)), np.float32))
  history = {m: table[:, i] for i, m in enumerate(METRICS)}
  early = bool(early_stopping_patience and
               int(state.bad_epochs) >= early_stopping_patience)
  if early_stopping_patience:
    params, stats = state.best_params, state.best_stats
  else:
    params, stats = state.params, state.stats
  return FitResult(
      params=params, stats=stats, state=state, history=history,
      epochs_run=epoch,
      reached_threshold=bool(history["train_loss"][-1] < cost_threshold),
      early_stopped=early, diverged=bool(state.diverged),
      best_epoch=int(state.best_epoch))


@functools.lru_cache(maxsize=16)
def _population_runner(sizes, model, optimizer, momentum, init, options, n):
  """The jitted, vmapped training of a population (cached per setting); a
  ``shared_key`` of None traces the members' own training keys."""

  def member(key, rate, shared_key, data):
    k_init, k_train = jax.random.split(key)
    if shared_key is not None:
      k_train = shared_key
    params = mlp.init(k_init, sizes, model, init)
    opt = make_optimizer(optimizer, rate, momentum)
    epoch_fn = make_epoch(model, opt, n, options, lockstep=True)
    state = init_state(params, model, opt, k_train)
    state, metrics = jax.lax.scan(lambda c, _: epoch_fn(c, data), state,
                                  None, length=options.epochs)
    return state.params, state.stats, metrics

  return jax.jit(jax.vmap(member, in_axes=(0, 0, None, None)))


class PopulationResult(NamedTuple):
  """What :func:`fit_population` returns; every leaf has the members first."""
  params: mlp.Params     # each array (members, ...)
  stats: list
  history: dict          # metric name -> np.ndarray (members, epochs)


def fit_population(keys: jax.Array, sizes, model: mlp.Model, data: Data, *,
                   learning_rates, optimizer: str = "sgd",
                   momentum: float = 0.9, init: str = "glorot", epochs: int,
                   batch_size: int = 0, grad: str = "manual",
                   shuffle: bool = True, train_metrics: str = "full",
                   devices: int = 1,
                   shared_key: Optional[chex.PRNGKey] = None
                   ) -> PopulationResult:
  """Trains a population of networks in one jitted, vmapped call.

  Member ``i`` starts from ``mlp.init(split(keys[i])[0], sizes, ...)`` and
  trains with ``learning_rates[i]``, its own shuffles and dropout masks
  (from ``split(keys[i])[1]``, as ``fit(..., key=split(keys[i])[1])``); all
  share the data, architecture and number of epochs (no early stop: every
  member runs ``epochs`` epochs, so that the population stays in lock-step).
  With ``shared_key`` every member trains as ``fit(..., key=shared_key)``
  instead: the same batches in the same order, the same dropout masks and
  noise, so that the members differ only in their initial weights and
  learning rates (common random numbers, for comparing settings). Then
  every member's first layer sees the same batch, and its products for all
  members are one matmul: faster than members with batches of their own.

  Args:
    keys: ``(members,)`` PRNG keys, one per member (different seeds).
    sizes: layer sizes.
    model: activation, output layer and regularizers.
    data: training and validation arrays, shared.
    learning_rates: ``(members,)`` learning rates (or a scalar for all).
    optimizer: one of ``OPTIMIZERS``.
    momentum: for ``momentum`` and ``nesterov``.
    init: init scheme.
    epochs: epochs per member.
    batch_size: as in :func:`fit`.
    grad: ``"manual"`` or ``"autodiff"``.
    shuffle: reshuffle every epoch.
    train_metrics: as in :func:`fit`.
    devices: split the members over this many devices (a ``Mesh`` with one
      ``"members"`` axis; the data are replicated), e.g. the cores of a CPU
      run with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, or
      several GPUs. ``members`` must be a multiple of it.
    shared_key: if given, the training key of every member (see above).
  """
  keys = jnp.asarray(keys)
  members = keys.shape[0]
  mesh = make_mesh(devices, "members")
  if members % devices:
    raise ValueError(f"the {members} members must be a multiple of the "
                     f"{devices} devices")
  rates = jnp.broadcast_to(jnp.asarray(learning_rates, jnp.float32),
                           (members,))
  _check_epochs(epochs)
  shapes = jax.eval_shape(
      lambda: mlp.init(jax.random.PRNGKey(0), sizes, model, init))
  check_data(shapes, model, data)
  run = _population_runner(tuple(sizes), model, optimizer, float(momentum),
                           init, Options(epochs, batch_size, grad,
                                         shuffle=shuffle,
                                         train_metrics=train_metrics),
                           data.x.shape[0])
  if mesh is not None:
    keys, rates = jax.device_put((keys, rates), sharding(mesh, "members"))
    data, shared_key = jax.device_put((data, shared_key), sharding(mesh))
  params, stats, metrics = run(keys, rates, shared_key, data)
  metrics = np.asarray(metrics)          # (members, epochs, metrics)
  history = {m: metrics[:, :, i] for i, m in enumerate(METRICS)}
  return PopulationResult(params, stats, history)
