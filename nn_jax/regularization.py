"""Regularization: norm penalty and constraint, dropout, batch normalization,
data augmentation. Each forward piece sits beside its backward piece.

* **L2 penalty** ``(lambda / 2) sum_l ||w_l||^2`` added to the batch-mean
  cost; its gradient ``lambda w_l``. Biases, batch-norm scale and shift are
  not penalized; PReLU slopes only when asked. (Nielsen's ``lambda / 2n`` with
  ``n`` training examples is ``l2 = lambda / n`` here.)
* **Max-norm**: after each step every unit's incoming weight vector (a row of
  ``w``) is projected back onto the ball ``||w_j|| <= c``.
* **Dropout** (inverted): in training each hidden unit is kept with
  probability ``1 - p`` and scaled by ``1 / (1 - p)``, so its expectation is
  unchanged; at evaluation it is the identity. Backprop multiplies by the
  same scaled mask.
* **Batch normalization** of a hidden layer's pre-activation ``z``: in
  training ``z_hat = (z - mean_B) / sqrt(var_B + eps)`` over the batch, then
  ``gamma z_hat + beta``; at evaluation running averages replace the batch
  statistics.
* **Augmentation**: Gaussian input noise, random image shifts.
"""

import jax
import jax.numpy as jnp

BN_EPS = 1e-5
BN_MOMENTUM = 0.9


# ---------------------------------------------------------------- L2 penalty
def _penalized(layer, name, include_alpha):
  return name == "w" or (include_alpha and name == "alpha")


def l2_penalty(params, l2: float, include_alpha: bool = False) -> jax.Array:
  """``(l2 / 2) * sum ||w||^2`` over weight matrices (and PReLU slopes)."""
  total = 0.0
  for layer in params:
    for name, value in layer.items():
      if _penalized(layer, name, include_alpha):
        total = total + jnp.sum(value ** 2)
  return 0.5 * l2 * total


def l2_penalty_grad(params, l2: float, include_alpha: bool = False):
  """Gradient of :func:`l2_penalty`: ``l2 * w`` (zero for the rest)."""
  return [{name: (l2 * value if _penalized(layer, name, include_alpha)
                  else jnp.zeros_like(value))
           for name, value in layer.items()} for layer in params]


# ------------------------------------------------------------------ max-norm
def max_norm(params, c: float):
  """Scales each row of every ``w`` down to Euclidean norm at most ``c``."""
  out = []
  for layer in params:
    w = layer["w"]
    norms = jnp.linalg.norm(w, axis=1, keepdims=True)
    scale = jnp.minimum(1.0, c / jnp.maximum(norms, 1e-12))
    out.append({**layer, "w": w * scale})
  return out


# ------------------------------------------------------------------- dropout
def dropout_mask(key: jax.Array, shape, rate: float, dtype) -> jax.Array:
  """Scaled keep-mask: 1/(1-rate) with probability 1-rate, else 0."""
  keep = jax.random.bernoulli(key, 1.0 - rate, shape)
  return keep.astype(dtype) / (1.0 - rate)


# -------------------------------------------------------- batch normalization
def batchnorm_train(z: jax.Array):
  """Normalizes ``z`` (batch, n) with its own batch statistics.

  Returns ``(z_hat, inv_std, mean, var)``; ``var`` is the biased batch
  variance (divided by the batch size).
  """
  mean = jnp.mean(z, axis=0)
  var = jnp.mean((z - mean) ** 2, axis=0)
  inv_std = jax.lax.rsqrt(var + BN_EPS)
  return (z - mean) * inv_std, inv_std, mean, var


def batchnorm_eval(z: jax.Array, stats: dict) -> jax.Array:
  """Normalizes ``z`` with running statistics ``{"mean", "var"}``."""
  return (z - stats["mean"]) * jax.lax.rsqrt(stats["var"] + BN_EPS)


def batchnorm_backward(d_zhat: jax.Array, z_hat: jax.Array,
                       inv_std: jax.Array) -> jax.Array:
  """``dE/dz`` from ``dE/dz_hat`` through the batch statistics.

  Every ``z_hat_i`` depends on every ``z_k`` of its unit through the batch
  mean and variance, which gives

  .. math::

    \\frac{\\partial E}{\\partial z_i} = \\frac{1}{\\sigma}\\Big(
      g_i - \\overline{g} - \\hat z_i\\, \\overline{g \\hat z}\\Big),
    \\quad g = \\frac{\\partial E}{\\partial \\hat z}

  with bars the means over the batch.
  """
  return inv_std * (d_zhat - jnp.mean(d_zhat, axis=0)
                    - z_hat * jnp.mean(d_zhat * z_hat, axis=0))


def update_stats(stats: list, batch: list, momentum: float = BN_MOMENTUM):
  """Running averages ``m <- momentum m + (1 - momentum) batch``."""
  return jax.tree.map(lambda s, b: momentum * s + (1 - momentum) * b,
                      stats, batch)


# -------------------------------------------------------------- augmentation
def gaussian_noise(key: jax.Array, x: jax.Array, std: float) -> jax.Array:
  """``x + N(0, std^2)`` elementwise."""
  return x + std * jax.random.normal(key, x.shape, x.dtype)


def random_shift(key: jax.Array, x: jax.Array, image_shape: tuple,
                 max_shift: int) -> jax.Array:
  """Shifts each flattened image by up to ``max_shift`` pixels along each
  axis (independently per image), filling with zeros."""
  h, w = image_shape
  images = x.reshape(x.shape[0], h, w)
  shifts = jax.random.randint(key, (x.shape[0], 2), -max_shift, max_shift + 1)
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift),
                            (max_shift, max_shift)))

  def crop(img, s):
    return jax.lax.dynamic_slice(img, (max_shift - s[0], max_shift - s[1]),
                                 (h, w))

  return jax.vmap(crop)(padded, shifts).reshape(x.shape)


# -------------------------------------------------------------- weight norms
def row_norms(params) -> list:
  """Each layer's row norms ``||w_j||``: unit ``j``'s incoming weight
  vector, the quantity that :func:`max_norm` bounds; ``(n_out,)`` a layer."""
  return [jnp.linalg.norm(layer["w"], axis=1) for layer in params]


def weight_norms(params, bound: float = 0.0) -> dict:
  """What the norm limits act on: ``largest_row``, each layer's largest row
  norm ``max_j ||w_j||`` (``(layers,)``), and ``total``, the norm of all
  weights together ``sqrt(sum_l ||w_l||^2)`` (so that the L2 penalty is
  ``(l2 / 2) total^2``). Biases and PReLU slopes are not counted. With a
  max-norm ``bound`` > 0 also ``at_bound``: each layer's fraction of units
  whose row norm is within 0.1% of it (where the constraint binds)."""
  rows = row_norms(params)
  out = {"largest_row": jnp.stack([jnp.max(r) for r in rows]),
         "total": jnp.sqrt(sum(jnp.sum(layer["w"] ** 2)
                               for layer in params))}
  if bound > 0:
    out["at_bound"] = jnp.stack([jnp.mean(r >= (1 - 1e-3) * bound)
                                 for r in rows])
  return out
