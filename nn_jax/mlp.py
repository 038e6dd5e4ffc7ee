"""Multilayer networks of any depth: ``init`` and ``forward``.

Parameters are a pytree: a list with one dict per layer, ``{"w": (n_out,
n_in), "b": (n_out,)}``, plus ``"alpha": (n_out,)`` for hidden layers with a
parametric ReLU. With batch normalization a hidden layer has a scale
``"gamma"`` and shift ``"beta"`` instead of ``"b"`` (which the batch mean
would cancel), and running statistics live outside the parameters (see
:func:`init_stats`). ``w[j, k]`` is the weight from unit k to unit j, as the
lecture's ``w_jk``. ``sizes = [n_in, n_out]`` (no hidden layer) is a single
layer of neurons, a single neuron when ``n_out == 1``.

With ``residual=True`` a hidden layer with as many units as its input adds
that input to its output, ``a_l = a_{l-1} + g(z_l)`` (a skip connection, as
in the MLP baseline of MNIST-1D); other layers are unchanged.
"""

import functools
import numbers
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import activations as activations_lib
from nn_jax import data as data_lib
from nn_jax import losses as losses_lib
from nn_jax import regularization as reg

Params = list  # [{"w": ..., "b": ..., ["alpha": ...]}, ...]

INIT_SCHEMES = ("small_uniform", "normal", "scaled_normal", "glorot", "he",
                "uniform_fan_in")


class Model(NamedTuple):
  """What a network computes besides its parameters, and the cost it
  minimises (static under jit).

  Attributes:
    activation: the hidden units' activation.
    loss: the output layer and its cost.
    dropout: drop probability of hidden units in training (0: none).
    batchnorm: batch-normalize every hidden layer's pre-activation.
    l2: L2 penalty ``(l2 / 2) sum ||w||^2`` added to the cost.
    l2_alpha: also penalize PReLU slopes.
    residual: a hidden layer as wide as its input adds the input to its
      output (see :func:`skips`).
  """
  activation: activations_lib.Activation
  loss: losses_lib.Loss
  dropout: float = 0.0
  batchnorm: bool = False
  l2: float = 0.0
  l2_alpha: bool = False
  residual: bool = False


def make_model(activation: str = "sigmoid", loss: str = "softmax_cross_entropy",
               alpha: float | None = None, *, dropout: float = 0.0,
               batchnorm: bool = False, l2: float = 0.0,
               l2_alpha: bool = False, residual: bool = False) -> Model:
  """Builds a :class:`Model` from names (see ``activations.NAMES``, ``losses.NAMES``)."""
  if not 0 <= dropout < 1:
    raise ValueError(f"dropout must be in [0, 1); got {dropout}")
  if not 0 <= l2 < np.inf:   # NaN too
    raise ValueError(f"l2 must be finite and >= 0; got {l2}")
  return Model(activations_lib.get(activation, alpha), losses_lib.get(loss),
               float(dropout), bool(batchnorm), float(l2), bool(l2_alpha),
               bool(residual))


def skips(sizes: Sequence[int], model: Model) -> list:
  """For each layer, whether it adds its input to its output.

  With ``model.residual``: the hidden layers with as many units as their
  input (``sizes[l] == sizes[l + 1]``); never the output layer.
  """
  hidden = len(sizes) - 2
  return [bool(model.residual) and l < hidden and sizes[l] == sizes[l + 1]
          for l in range(len(sizes) - 1)]


def sizes_of(params: Params) -> list:
  """The layer sizes ``[n_in, ..., n_out]`` of a network's parameters."""
  return [params[0]["w"].shape[1]] + [layer["w"].shape[0] for layer in params]


def init(key: jax.Array, sizes: Sequence[int], model: Model,
         scheme: str = "glorot", dtype: Any = jnp.float32) -> Params:
  """Initialises the parameters of a network with layer sizes ``sizes``.

  Args:
    key: PRNG key.
    sizes: ``[n_in, n_hidden_1, ..., n_out]``; at least two entries, all >= 1.
    model: gives the hidden activation (a parametric ReLU adds ``alpha``).
    scheme: ``"small_uniform"`` (U(-0.05, 0.05), the lecture's small random
      weights), ``"normal"`` (weights and biases N(0, 1), as in Nielsen's
      ch. 1), ``"scaled_normal"`` (weights N(0, 1/n_in), biases N(0, 1), his
      ch. 3), ``"glorot"`` (uniform, sqrt(6 / (n_in + n_out))), ``"he"``
      (N(0, 2 / n_in)) or ``"uniform_fan_in"`` (weights and biases
      U(-1/sqrt(n_in), 1/sqrt(n_in)), PyTorch's default for ``nn.Linear``).
      Biases are zero unless said otherwise.
    dtype: parameter dtype, in which the numbers are drawn (as
      ``jax.random``'s: float64 weights from ``key`` are another draw than
      float32 ones, not the same numbers in more bits).

  Returns:
    The list of per-layer parameter dicts.
  """
  if any(isinstance(s, bool) or not isinstance(s, numbers.Integral)
         for s in sizes):
    raise ValueError(f"layer sizes must be integers; got {list(sizes)}")
  sizes = [int(s) for s in sizes]
  if len(sizes) < 2 or min(sizes) < 1:
    raise ValueError(
        f"layer sizes must have at least an input and an output size, each "
        f">= 1; got {sizes}")
  if scheme not in INIT_SCHEMES:
    raise ValueError(
        f"unknown init scheme {scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")
  if model.residual and not any(skips(sizes, model)):
    raise ValueError(f"residual connections need a hidden layer with as many "
                     f"units as its input (e.g. hidden sizes 100,100); the "
                     f"layer sizes are {sizes}")
  params = []
  for l, (w, b) in enumerate(_draw(key, tuple(sizes), scheme, dtype)):
    layer = {"w": w, "b": b}
    if l < len(sizes) - 2 and model.batchnorm:
      layer = {"w": w, "gamma": jnp.ones_like(b), "beta": jnp.zeros_like(b)}
    if l < len(sizes) - 2 and model.activation.learnable:
      layer["alpha"] = jnp.full_like(b, model.activation.alpha)
    params.append(layer)
  return params


# Schemes that draw the biases too.
_RANDOM_BIASES = ("normal", "scaled_normal", "uniform_fan_in")
# The most random numbers whose bits the host draws (NumPy's Threefry
# takes some 80 ns a number: 0.17 s, about what compiling JAX's takes).
HOST_BITS_MAX = 2**21


def _draw(key, sizes: tuple, scheme: str, dtype) -> list:
  """Each layer's ``(w, b)`` drawn by ``scheme``: ``jax.random``'s numbers
  for ``key``, bit for bit. Where NumPy can draw JAX's random bits (see
  :func:`nn_jax.data.host_bits`; up to :data:`HOST_BITS_MAX` of them) it
  does, and XLA only turns them into numbers: a program that compiles in a
  tenth of the time of one that draws the bits too (0.03 s instead of
  0.38 s for the quickstart's network). Else one program draws them all."""
  dtype = jax.dtypes.canonicalize_dtype(dtype)   # float32 for 64 bits off
  width = 8 * dtype.itemsize
  count = sum(o * i + (o if scheme in _RANDOM_BIASES else 0)
              for i, o in zip(sizes[:-1], sizes[1:]))
  if (count <= HOST_BITS_MAX and dtype in (jnp.float32, jnp.float64)
      and data_lib.draws_on_host(key)):
    bits = []
    for layer_key, (n_in, n_out) in zip(
        data_lib.host_split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
      kw, kb = data_lib.host_split(layer_key, 2)
      bits.append((data_lib.host_bits(kw, (n_out, n_in), width),
                   data_lib.host_bits(kb, (n_out,), width)
                   if scheme in _RANDOM_BIASES else None))
    return _from_bits(bits, sizes, scheme, dtype)
  return _from_key(key, sizes, scheme, dtype)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _from_key(key, sizes, scheme, dtype):
  """:func:`_draw` in one program, from the key."""
  keys = jax.random.split(key, len(sizes) - 1)
  draws = [tuple(jax.random.split(k)) for k in keys]
  return _layers(draws, sizes, scheme, dtype,
                 lambda k, shape, lo, hi: jax.random.uniform(
                     k, shape, dtype, lo, hi),
                 lambda k, shape: jax.random.normal(k, shape, dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _from_bits(bits, sizes, scheme, dtype):
  """:func:`_draw` from the random bits of each layer's ``(w, b)``: the
  arithmetic of ``jax.random.uniform`` and ``jax.random.normal`` after
  their bits."""
  nmant = jnp.finfo(dtype).nmant
  one = np.array(1.0, dtype)

  def uniform(b, shape, lo, hi):
    lo, hi = jnp.asarray(lo, dtype), jnp.asarray(hi, dtype)
    floats = jax.lax.bitcast_convert_type(
        (b >> (8 * dtype.itemsize - nmant)) | one.view(b.dtype), dtype) - one
    return jax.lax.max(lo, (floats * (hi - lo) + lo).reshape(shape))

  def normal(b, shape):
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(
        uniform(b, shape, lo, one))

  return _layers(bits, sizes, scheme, dtype, uniform, normal)


def _layers(draws, sizes, scheme, dtype, uniform, normal) -> list:
  """Each layer's ``(w, b)`` by ``scheme``, from ``draws[l] = (for w, for
  b)`` and ``uniform(d, shape, lo, hi)``, ``normal(d, shape)`` of them."""
  layers = []
  for (dw, db), n_in, n_out in zip(draws, sizes[:-1], sizes[1:]):
    shape = (n_out, n_in)
    b = jnp.zeros((n_out,), dtype)
    if scheme == "small_uniform":
      w = uniform(dw, shape, -0.05, 0.05)
    elif scheme == "normal":
      w = normal(dw, shape)
      b = normal(db, (n_out,))
    elif scheme == "scaled_normal":
      w = normal(dw, shape) / jnp.sqrt(n_in).astype(dtype)
      b = normal(db, (n_out,))
    elif scheme == "glorot":
      limit = (6.0 / (n_in + n_out)) ** 0.5
      w = uniform(dw, shape, -limit, limit)
    elif scheme == "he":
      w = normal(dw, shape) * (2.0 / n_in) ** 0.5
    else:  # uniform_fan_in
      limit = n_in ** -0.5
      w = uniform(dw, shape, -limit, limit)
      b = uniform(db, (n_out,), -limit, limit)
    layers.append((w, b))
  return layers


def init_stats(params: Params, model: Model) -> list:
  """Running batch-norm statistics, one ``{"mean", "var"}`` per hidden layer
  (an empty list without batch norm)."""
  if not model.batchnorm:
    return []
  return [{"mean": jnp.zeros_like(layer["gamma"]),
           "var": jnp.ones_like(layer["gamma"])} for layer in params[:-1]]


def _alpha(layer, activation):
  return layer["alpha"] if activation.learnable else activation.alpha


def forward(params: Params, x: jax.Array, model: Model, *,
            train: bool = False, key: jax.Array | None = None,
            stats: list | None = None):
  """Runs the network on a batch.

  Args:
    params: from :func:`init`.
    x: inputs, shape ``(batch, n_in)``.
    model: activation, output layer and regularizers.
    train: training mode: dropout masks are drawn from ``key`` and batch norm
      uses the batch's statistics. At evaluation there is no dropout and
      batch norm uses the running ``stats``.
    key: PRNG key for dropout (needed when training with dropout).
    stats: running batch-norm statistics (needed at evaluation with batch
      norm), from :func:`init_stats` and the training loop.

  Returns:
    ``(o, cache)``: the output ``o = g_L(z_L)``, shape ``(batch, n_out)``, and
    the cache for backprop: ``zs`` (each hidden layer's activation input and
    the output layer's logits), ``activations`` (``a_0 = x``, then every
    hidden layer's output after dropout and the skip connection), ``masks``
    (scaled dropout masks), ``bn`` (``(z_hat, inv_std)`` per hidden layer)
    and ``batch_stats``.
  """
  if not hasattr(x, "dtype"):   # nested lists: as an array, the weights' type
    x = jnp.asarray(x, params[0]["w"].dtype)
  if jnp.ndim(x) != 2:
    raise ValueError(f"inputs must be a 2-D array (examples, features); got "
                     f"shape {jnp.shape(x)}")
  if x.shape[1] != params[0]["w"].shape[1]:
    raise ValueError(f"inputs have {x.shape[1]} features but the network "
                     f"expects {params[0]['w'].shape[1]}")
  dropping = train and model.dropout > 0
  if dropping and key is None:
    raise ValueError("training with dropout needs a PRNG key")
  if model.batchnorm and not train and stats is None:
    raise ValueError("batch norm at evaluation needs the running statistics")
  keys = (jax.random.split(key, max(len(params) - 1, 1)) if dropping
          else [None] * len(params))
  act = model.activation
  skip = skips(sizes_of(params), model)
  a = x
  cache = {"zs": [], "activations": [x], "masks": [], "bn": [],
           "batch_stats": []}
  for l, layer in enumerate(params[:-1]):
    # z_j = sum_k w_jk a_k, written so that XLA reads w as stored: with
    # `a @ w.T` it copies w transposed on every step of a small batch. The
    # first layer computes z^T = w x^T and transposes it: when a vmapped
    # population shares its input batch (fit_population's shared_key), the
    # members' weights are then one stacked (members * out, in) matrix,
    # multiplied as stored, rather than copied transposed on every step.
    if l == 0:
      z = jnp.einsum("jk,bk->jb", layer["w"], a).T
    else:
      z = jnp.einsum("jk,bk->bj", layer["w"], a)
    if model.batchnorm:
      if train:
        z_hat, inv_std, mean, var = reg.batchnorm_train(z)
        cache["bn"].append((z_hat, inv_std))
        cache["batch_stats"].append({"mean": mean, "var": var})
      else:
        z_hat = reg.batchnorm_eval(z, stats[l])
      z = layer["gamma"] * z_hat + layer["beta"]
    else:
      z = z + layer["b"]
    cache["zs"].append(z)
    h = act.fn(z, _alpha(layer, act))
    if dropping:
      mask = reg.dropout_mask(keys[l], h.shape, model.dropout, h.dtype)
      cache["masks"].append(mask)
      h = h * mask
    a = a + h if skip[l] else h
    cache["activations"].append(a)
  z = jnp.einsum("jk,bk->bj", params[-1]["w"], a) + params[-1]["b"]
  cache["zs"].append(z)
  return model.loss.output(z), cache


def predict(params: Params, x: jax.Array, model: Model,
            stats: list | None = None) -> jax.Array:
  """The network's output for ``x`` in evaluation mode."""
  return forward(params, x, model, stats=stats)[0]


def accuracy(o: jax.Array, y: jax.Array, task: str) -> jax.Array:
  """Fraction of correct predictions for outputs ``o`` and targets ``y``.

  Multi-class (softmax), and sigmoid outputs with one unit per class (one-hot
  targets, as in Nielsen's networks): the largest output vs. the target's
  class. A single sigmoid unit: output > 0.5 vs. the 0/1 target. Regression:
  NaN.
  """
  if task == losses_lib.MULTICLASS or (task == losses_lib.BINARY
                                       and y.shape[-1] > 1):
    return jnp.mean(jnp.argmax(o, -1) == jnp.argmax(y, -1))
  if task == losses_lib.BINARY:
    return jnp.mean((o > 0.5) == (y > 0.5))
  return jnp.asarray(jnp.nan)
