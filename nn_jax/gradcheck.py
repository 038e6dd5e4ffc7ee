"""Checks hand-written gradients against ``jax.grad`` and finite differences.

Errors are relative per parameter array, ``||g - h|| / max(||g||, ||h||)``
(0 when both are 0), and the worst array counts. Run these in float64
(``with jax.enable_x64(True):``), where agreement to 1e-10 is expected.
"""

from typing import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import backprop
from nn_jax import losses as losses_lib
from nn_jax import mlp


def relative_error(g, h) -> float:
  """The worst per-array relative error between two gradient pytrees."""
  chex.assert_trees_all_equal_shapes(g, h)

  def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)

  return max(jax.tree.leaves(jax.tree.map(rel, g, h)), default=0.0)


def random_problem(key: chex.PRNGKey, model: mlp.Model, sizes: Sequence[int],
                   batch: int, dtype=jnp.float64):
  """Random parameters, inputs and fitting targets for a gradient check.

  Biases and PReLU slopes are random too, so that no unit sits at the ReLU
  kink and every parameter gets a non-trivial gradient.
  """
  k_init, k_bias, k_alpha, k_x, k_y = jax.random.split(key, 5)
  params = mlp.init(k_init, sizes, model, "glorot", dtype)
  bias_keys = jax.random.split(k_bias, len(params))
  for layer, k in zip(params, bias_keys):
    layer["b"] = 0.5 * jax.random.normal(k, layer["b"].shape, dtype)
    if "alpha" in layer:
      layer["alpha"] = jax.random.uniform(k_alpha, layer["alpha"].shape,
                                          dtype, 0.05, 0.5)
  x = jax.random.normal(k_x, (batch, sizes[0]), dtype)
  n_out = sizes[-1]
  task = model.loss.task
  if task == losses_lib.MULTICLASS:
    y = jax.nn.one_hot(jax.random.randint(k_y, (batch,), 0, n_out), n_out,
                       dtype=dtype)
  elif task == losses_lib.BINARY:
    y = jax.random.bernoulli(k_y, 0.5, (batch, n_out)).astype(dtype)
  else:
    y = jax.random.normal(k_y, (batch, n_out), dtype)
  return params, x, y


def manual_vs_autodiff(params, x, y, model: mlp.Model) -> float:
  """Relative error of hand-written backprop against ``jax.grad``."""
  _, manual = backprop.gradients(params, x, y, model, "manual")
  _, auto = backprop.gradients(params, x, y, model, "autodiff")
  return relative_error(manual, auto)


def finite_differences(loss_fn, params, eps: float = 1e-6):
  """Central differences ``(E(p + eps) - E(p - eps)) / 2 eps`` for every entry."""
  leaves, treedef = jax.tree.flatten(params)
  grads = []
  for i, leaf in enumerate(leaves):
    flat = np.asarray(leaf, np.float64).ravel()
    g = np.zeros_like(flat)
    for j in range(flat.size):
      values = []
      for sign in (1, -1):
        moved = flat.copy()
        moved[j] += sign * eps
        new = list(leaves)
        new[i] = jnp.asarray(moved.reshape(leaf.shape), leaf.dtype)
        values.append(float(loss_fn(jax.tree.unflatten(treedef, new))))
      g[j] = (values[0] - values[1]) / (2 * eps)
    grads.append(g.reshape(leaf.shape))
  return jax.tree.unflatten(treedef, grads)
