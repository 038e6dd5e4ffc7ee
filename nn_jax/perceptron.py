"""Rosenblatt's perceptron: a threshold unit trained online with the perceptron rule.

The unit computes

.. math::

  o = \\begin{cases} 1 & \\text{if } w_0 + \\sum_i w_i x_i > 0 \\\\
                     0 & \\text{otherwise,} \\end{cases}

with the bias ``w[0]`` as the weight of a constant input ``x_0 = 1``. The
perceptron training rule, applied example by example,

.. math::

  w_i \\leftarrow w_i + \\eta (y - o) x_i,

changes the weights only on a mistake (``o != y``). Training stops after the
first epoch without a mistake (the weights then classify every example
correctly and, the rule being idle, never change again) or after
``max_epochs`` epochs.

Examples run in :func:`jax.lax.scan`, epochs in chunks of 8 (a scan) inside a
:func:`jax.lax.while_loop` that exits after the chunk in which training
converged (the epochs of that chunk after convergence are computed and
discarded). So :func:`train` works under :func:`jax.jit` and :func:`jax.vmap`:
thousands of labelings, data sets, learning rates or keys train in one
compiled call::

  x = jnp.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
  ys = jnp.array([[0, 0, 0, 1], [0, 1, 1, 1], [0, 1, 1, 0]])  # AND, OR, XOR
  fit = jax.jit(jax.vmap(lambda y: train(x, y, max_epochs=20)))
  fit(ys).converged  # [True, True, False]
"""

import functools
from typing import NamedTuple, Optional

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from nn_jax import activations
from nn_jax import data as data_lib

INITS = ("zeros", "random")
# Epochs per iteration of the early-stopping loop (see _train).
_CHUNK = 8


class PerceptronResult(NamedTuple):
  """What :func:`train` returns (with a leading batch axis under ``vmap``).

  Attributes:
    w: ``(n_features + 1,)`` final weights; ``w[0]`` is the bias.
    mistakes: ``(max_epochs,)`` int32, the number of mistakes (weight
      updates) in each epoch. Entries of epochs that did not run, those after
      convergence, are ``-1``; the epoch that converged has ``0``.
    epochs: int32 number of epochs run, including the mistake-free one.
    converged: bool, whether an epoch ran without a mistake (the weights then
      separate the data and classify every example correctly).
    num_mistakes: int32 total mistakes over all epochs (the quantity bounded
      by the perceptron convergence theorem).
  """
  w: jax.Array  # (n_features + 1,)
  mistakes: jax.Array  # (max_epochs,)
  epochs: jax.Array  # ()
  converged: jax.Array  # ()
  num_mistakes: jax.Array  # ()


def _is_concrete(value) -> bool:
  return not isinstance(value, jax.core.Tracer)


def _float_dtype(dtype):
  return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def predict(w: jax.Array, x: jax.Array) -> jax.Array:
  """Outputs of the threshold unit, ``1`` where ``w[0] + x @ w[1:] > 0``.

  Args:
    w: ``(n_features + 1,)`` weights, bias first.
    x: ``(n_examples, n_features)`` inputs (or one ``(n_features,)`` input).

  Returns:
    int32 outputs in {0, 1}, of shape ``x.shape[:-1]``.

  Raises:
    ValueError: if the shapes of ``w`` and ``x`` do not fit.
  """
  w = jnp.asarray(w)
  x = jnp.asarray(x)
  if w.ndim != 1 or x.ndim not in (1, 2) or w.shape[0] != x.shape[-1] + 1:
    raise ValueError(
        f"w must have shape (n_features + 1,) and x (n_examples, n_features); "
        f"got w {w.shape} and x {x.shape}")
  dtype = jnp.result_type(w, x, jnp.float32)  # integer weights: float math
  z = w[0].astype(dtype) + x.astype(dtype) @ w[1:].astype(dtype)
  return activations.threshold.fn(z, 0.0).astype(jnp.int32)


def check_shapes(x, y) -> None:
  """Raises ValueError unless ``x`` is ``(n, d)`` and ``y`` is ``(n,)``, with
  ``n, d >= 1``."""
  if x.ndim != 2:
    raise ValueError(
        f"x must have shape (n_examples, n_features); got shape {x.shape}")
  if y.ndim != 1 or y.shape[0] != x.shape[0]:
    raise ValueError(
        f"y must have shape (n_examples,) = ({x.shape[0]},) to match x; got "
        f"shape {y.shape}")
  if x.shape[0] == 0:
    raise ValueError("empty data: x has no examples; pass at least one")
  if x.shape[1] == 0:
    raise ValueError("x has no features; pass at least one input column")


def _validate(x, y, key, learning_rate, max_epochs, shuffle, init,
              epochs_name="max_epochs"):
  """Raises ValueError for inputs a user can get wrong (values if concrete)."""
  check_shapes(x, y)
  if _is_concrete(y):
    values = np.unique(np.asarray(y))
    if not np.all(np.isin(values, (0, 1))):
      raise ValueError(
          f"labels y must be 0 or 1; got values {values[:10].tolist()}")
  if _is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
    raise ValueError("x contains NaN or infinite values")
  if _is_concrete(learning_rate):
    lr = np.asarray(learning_rate)
    if lr.ndim != 0 or not np.isfinite(lr) or not lr > 0:
      raise ValueError(
          f"learning_rate must be a positive number; got {learning_rate}")
  if not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
    raise ValueError(
        f"{epochs_name} must be an integer >= 1; got {max_epochs!r}")
  if init not in INITS:
    raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
  if key is None and (shuffle or init == "random"):
    raise ValueError(
        "a PRNG key is needed for shuffle=True or init='random'; pass key=")


def _check_w0(w0, x):
  if w0 is None:
    return None
  w0 = jnp.asarray(w0)
  if w0.shape != (x.shape[1] + 1,):
    raise ValueError(f"w0 must have shape (n_features + 1,) = "
                     f"({x.shape[1] + 1},); got {w0.shape}")
  return w0


def train(x: jax.Array, y: jax.Array, *, key: Optional[jax.Array] = None,
          learning_rate: float = 1.0, max_epochs: int = 100,
          shuffle: bool = False, init: str = "zeros",
          w0: Optional[jax.Array] = None) -> PerceptronResult:
  """Trains a perceptron online with the perceptron rule.

  Each epoch visits every example once, in order (or in a fresh random order
  when ``shuffle``), and applies ``w <- w + eta (y - o) x`` with ``x_0 = 1``.
  Training stops at the first epoch without a mistake or after
  ``max_epochs``; the weights never change after convergence.

  ``max_epochs``, ``shuffle`` and ``init`` are static (Python values);
  ``x``, ``y``, ``key`` and ``learning_rate`` may be traced, so the function
  can be wrapped in ``jax.jit`` and ``jax.vmap``. Under a transformation
  only shapes are checked, not values.

  Args:
    x: ``(n_examples, n_features)`` inputs (cast to float32 unless floating).
    y: ``(n_examples,)`` target labels, 0 or 1.
    key: PRNG key, needed for ``shuffle=True`` or ``init="random"``.
    learning_rate: eta > 0.
    max_epochs: most epochs to run, >= 1.
    shuffle: visit the examples in a new random order each epoch (the
      permutation of epoch ``e`` comes from ``fold_in(key, e)``).
    init: ``"zeros"`` or ``"random"`` (standard normal weights and bias).
    w0: ``(n_features + 1,)`` weights to start from instead (bias first), to
      continue an earlier training.

  Returns:
    A :class:`PerceptronResult`.

  Raises:
    ValueError: for mismatched or empty shapes, labels outside {0, 1},
      non-finite inputs, a non-positive learning rate, ``max_epochs < 1``, an
      unknown ``init``, or a missing key.
  """
  x = jnp.asarray(x)
  y = jnp.asarray(y)
  _validate(x, y, key, learning_rate, max_epochs, shuffle, init)
  w0 = _check_w0(w0, x)
  if key is None:
    key = jax.random.PRNGKey(0)  # Unused: neither shuffling nor random init.
  return _train(x, y, key, learning_rate, w0, max_epochs=int(max_epochs),
                shuffle=bool(shuffle), init=init)


def _start(x, y, key, learning_rate, w0, init):
  """The augmented inputs ``a = [1, x]``, targets, eta, the initial weights
  and the key of the epochs' orders, in the float type of training."""
  dtype = _float_dtype(x.dtype)
  n, d = x.shape
  a = jnp.concatenate([jnp.ones((n, 1), dtype), x.astype(dtype)], axis=1)
  init_key, order_key = jax.random.split(key)
  if w0 is not None:
    w = w0.astype(dtype)
  elif init == "zeros":
    w = jnp.zeros((d + 1,), dtype)
  else:
    w = jax.random.normal(init_key, (d + 1,), dtype)
  return a, y.astype(dtype), jnp.asarray(learning_rate, dtype), w, order_key


def _epoch(w, a, y, eta, order_key, epoch, shuffle: bool):
  """One epoch of the rule, example by example in ``lax.scan``.

  Returns the weights after it, the mistakes of each step (int32, in the
  order visited) and the norm ``||w||`` after each step.
  """
  def example_step(w, example):
    a_i, y_i = example
    o = activations.threshold.fn(a_i @ w, 0.0)
    w = w + eta * (y_i - o) * a_i
    return w, ((o != y_i).astype(jnp.int32), jnp.linalg.norm(w))

  if shuffle:
    perm = data_lib.permutation(jax.random.fold_in(order_key, epoch),
                                a.shape[0])
    a, y = a[perm], y[perm]
  w, (wrong, norms) = lax.scan(example_step, w, (a, y))
  return w, wrong, norms


@functools.partial(jax.jit, static_argnames=("max_epochs", "shuffle", "init"))
def _train(x, y, key, learning_rate, w0, *, max_epochs, shuffle, init):
  """The jitted training loop behind :func:`train` (inputs already checked)."""
  a, y, eta, w, order_key = _start(x, y, key, learning_rate, w0, init)

  def epoch_step(carry, _):
    # One epoch; a no-op (weights frozen, -1 recorded) once converged.
    w, epoch, converged, total = carry
    active = ~converged & (epoch < max_epochs)
    w_new, wrong, _ = _epoch(w, a, y, eta, order_key, epoch, shuffle)
    m = jnp.where(active, wrong.sum(), -1)
    carry = (jnp.where(active, w_new, w), epoch + active.astype(jnp.int32),
             converged | (m == 0), total + jnp.maximum(m, 0))
    return carry, m

  # Epochs run in chunks: a scan of `chunk` epochs inside a while_loop that
  # stops after the chunk where training converged. Under vmap the loop runs
  # while any element is unconverged and JAX selects the whole carry, the
  # mistake history included, once per iteration; chunks make that rare.
  chunk = min(max_epochs, _CHUNK)
  num_chunks = -(-max_epochs // chunk)

  def chunk_step(state):
    carry, c, history = state
    carry, ms = lax.scan(epoch_step, carry, None, length=chunk)
    return carry, c + 1, lax.dynamic_update_slice(history, ms, (c * chunk,))

  def keep_going(state):
    (_, _, converged, _), c, _ = state
    return ~converged & (c < num_chunks)

  carry = (w, jnp.int32(0), jnp.bool_(False), jnp.int32(0))
  history = jnp.full((num_chunks * chunk,), -1, jnp.int32)
  (w, epochs, converged, total), _, history = lax.while_loop(
      keep_going, chunk_step, (carry, jnp.int32(0), history))
  return PerceptronResult(w, history[:max_epochs], epochs, converged, total)


class Trajectory(NamedTuple):
  """What :func:`trajectory` returns (with a leading batch axis under
  ``vmap``).

  Attributes:
    w: ``(epochs + 1, n_features + 1)`` the weights at every epoch boundary:
      ``w[0]`` the start, ``w[e]`` after epoch ``e``.
    mistakes: ``(epochs,)`` int32 mistakes (weight updates) in each epoch.
    max_norm: ``(epochs,)`` the largest ``||w||`` in each epoch, over its
      start and the weights after each of its steps.
  """
  w: jax.Array  # (epochs + 1, n_features + 1)
  mistakes: jax.Array  # (epochs,)
  max_norm: jax.Array  # (epochs,)


def trajectory(x: jax.Array, y: jax.Array, *,
               key: Optional[jax.Array] = None,
               learning_rate: float = 1.0, epochs: int = 100,
               shuffle: bool = False, init: str = "zeros",
               w0: Optional[jax.Array] = None) -> Trajectory:
  """The perceptron rule for exactly ``epochs`` epochs, recorded.

  The same rule, order and start as :func:`train` (same arguments, and
  the same weights epoch for epoch), without stopping at convergence: after
  a mistake-free epoch the rule is idle, so the weights repeat. Records the
  weights at every epoch boundary, the mistakes of each epoch and the
  largest weight norm within each epoch: what the convergence theorem
  bounds on separable data (the mistakes) and the cycling theorem on any
  data (the norm). Jittable and vmappable like :func:`train`.

  Args:
    x: ``(n_examples, n_features)`` inputs (cast to float32 unless floating).
    y: ``(n_examples,)`` target labels, 0 or 1.
    key: PRNG key, needed for ``shuffle=True`` or ``init="random"``.
    learning_rate: eta > 0.
    epochs: epochs to run, >= 1 (static).
    shuffle: a new random order each epoch, as in :func:`train` (static).
    init: ``"zeros"`` or ``"random"`` (static).
    w0: ``(n_features + 1,)`` weights to start from instead.

  Returns:
    A :class:`Trajectory`.

  Raises:
    ValueError: as :func:`train`.
  """
  x = jnp.asarray(x)
  y = jnp.asarray(y)
  _validate(x, y, key, learning_rate, epochs, shuffle, init, "epochs")
  w0 = _check_w0(w0, x)
  if key is None:
    key = jax.random.PRNGKey(0)  # Unused: neither shuffling nor random init.
  return _trajectory(x, y, key, learning_rate, w0, epochs=int(epochs),
                     shuffle=bool(shuffle), init=init)


@functools.partial(jax.jit, static_argnames=("epochs", "shuffle", "init"))
def _trajectory(x, y, key, learning_rate, w0, *, epochs, shuffle, init):
  a, y, eta, w, order_key = _start(x, y, key, learning_rate, w0, init)

  def epoch_step(w, epoch):
    w_new, wrong, norms = _epoch(w, a, y, eta, order_key, epoch, shuffle)
    top = jnp.maximum(jnp.linalg.norm(w), norms.max())
    return w_new, (w_new, wrong.sum(), top)

  _, (ws, mistakes, max_norm) = lax.scan(
      epoch_step, w, jnp.arange(epochs, dtype=jnp.int32))
  return Trajectory(jnp.concatenate([w[None], ws]), mistakes, max_norm)


class Cycle(NamedTuple):
  """A repetition of the weights at epoch boundaries (:func:`find_cycle`).

  Attributes:
    start: the first epoch boundary whose weights come back.
    epochs: the cycle's length in epochs: ``w[start + epochs] == w[start]``.
    updates: the weight updates (mistakes) in one cycle; 0 when the cycle is
      the fixed point of a converged run.
  """
  start: int
  epochs: int
  updates: int


def find_cycle(run: Trajectory) -> Optional[Cycle]:
  """The first exact repetition of the weights at an epoch boundary.

  With a fixed order (``shuffle=False``) the weights at an epoch boundary
  decide every later epoch, so once ``w[j] == w[i]`` (``i < j``) the run
  repeats epochs ``i .. j - 1`` for ever: a cycle of ``j - i`` epochs. On
  separable data it is the converged run's fixed point (one epoch, no
  update). On data that are not separable the perceptron cycling theorem
  (Block & Levin 1970) keeps the weights bounded; with eta = 1 and
  integer inputs they are integer vectors, computed exactly in float32 (up
  to 2^24), so they take finitely many values and must repeat. With
  inputs that are not integers float rounding may keep them from
  repeating exactly; then no cycle is found.

  Args:
    run: one :class:`Trajectory` (no batch axis) of a fixed-order run.

  Returns:
    The :class:`Cycle` that ends first, or None if no weights repeat.
  """
  w = np.asarray(run.w)
  if w.ndim != 2:
    raise ValueError(f"find_cycle takes one trajectory; got weights of "
                     f"shape {w.shape} (index a batch first)")
  _, first, inverse = np.unique(w, axis=0, return_index=True,
                                return_inverse=True)
  seen = first[inverse.reshape(-1)]   # first boundary with the same weights
  again = np.nonzero(seen < np.arange(len(w)))[0]
  if not len(again):
    return None
  end = int(again[0])
  start = int(seen[end])
  updates = int(np.asarray(run.mistakes)[start:end].sum())
  return Cycle(start, end - start, updates)


def mistake_bound(radius: float, margin: float, w0_norm: float = 0.0,
                  learning_rate: float = 1.0) -> float:
  """Novikoff's bound on the perceptron's mistakes, from any start.

  If a unit vector ``u`` has ``s_i u . a_i >= margin > 0`` for every
  augmented input ``a_i = (1, x_i)`` (``s_i = 2 y_i - 1``) and ``||a_i|| <=
  radius``, the rule makes at most

  .. math::

    k \\le (R / \\gamma)^2 + 2 \\|w_0\\| / (\\eta \\gamma)

  mistakes, in any order. Proof: each mistake has ``s z <= 0``, so after
  ``k`` of them ``w . u >= w_0 . u + k eta gamma`` and ``||w||^2 <=
  ||w_0||^2 + k eta^2 R^2``; Cauchy-Schwarz, ``w_0 . u >= -||w_0||``,
  gives ``k gamma - rho <= sqrt(rho^2 + k R^2)`` with ``rho = ||w_0|| /
  eta``, hence the bound. From ``w_0 = 0`` it is ``(R / gamma)^2`` whatever
  eta; from elsewhere it grows as eta shrinks.

  Args:
    radius: R, the largest norm of an augmented input.
    margin: gamma > 0, the margin of some unit vector in the augmented
      space (the larger, the tighter; see
      :func:`nn_jax.separability.max_margin`).
    w0_norm: ``||w_0||`` of the start.
    learning_rate: eta > 0.

  Returns:
    The bound, a float.
  """
  if not margin > 0 or not radius > 0 or not learning_rate > 0:
    raise ValueError(f"mistake_bound needs radius, margin and learning_rate "
                     f"> 0; got {radius}, {margin}, {learning_rate}")
  if not 0 <= w0_norm < np.inf:   # a norm: a negative one lowers the bound
    raise ValueError(f"mistake_bound needs w0_norm, a norm, finite and "
                     f">= 0; got {w0_norm}")
  return (radius / margin) ** 2 + 2 * w0_norm / (learning_rate * margin)
