"""Checks hand-written gradients against ``jax.grad`` and finite differences.

Errors are relative per parameter array, ``||g - h|| / max(||g||, ||h||,
1e-3 G)`` with ``G`` the norm of the largest gradient array, and the worst
array counts. The floor keeps arrays whose true gradient is zero (a batch-norm
shift followed by another batch norm through a linear unit) from turning
rounding noise into a large ratio; a wrong gradient of any array larger than
``1e-7 G`` still shows far above 1e-10. Run these in float64
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

  g = jax.tree.map(lambda a: np.asarray(a, np.float64), g)
  h = jax.tree.map(lambda a: np.asarray(a, np.float64), h)
  norms = [np.linalg.norm(a) for a in jax.tree.leaves((g, h))]
  floor = 1e-3 * max(norms, default=0.0)

  def rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b), floor)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)

  return max(jax.tree.leaves(jax.tree.map(rel, g, h)), default=0.0)


def random_problem(key: jax.Array, model: mlp.Model, sizes: Sequence[int],
                   batch: int, dtype=jnp.float64):
  """Random parameters, inputs and fitting targets for a gradient check.

  Biases, batch-norm scales and shifts and PReLU slopes are random too, so
  that no unit sits at the ReLU kink and every parameter gets a non-trivial
  gradient.
  """
  k_init, k_rest, k_x, k_y = jax.random.split(key, 4)
  params = mlp.init(k_init, sizes, model, "glorot", dtype)
  ranges = {"b": (-1.0, 1.0), "beta": (-1.0, 1.0), "gamma": (0.5, 1.5),
            "alpha": (0.05, 0.5)}
  for l, layer in enumerate(params):
    for i, name in enumerate(sorted(layer)):
      if name in ranges:
        k = jax.random.fold_in(jax.random.fold_in(k_rest, l), i)
        layer[name] = jax.random.uniform(k, layer[name].shape, dtype,
                                         *ranges[name])
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


def manual_vs_autodiff(params, x, y, model: mlp.Model, key=None) -> float:
  """Relative error of hand-written backprop against ``jax.grad`` (training
  mode; ``key`` draws the same dropout masks for both)."""
  if model.dropout > 0 and key is None:
    key = jax.random.PRNGKey(0)
  _, manual = backprop.gradients(params, x, y, model, "manual", key)
  _, auto = backprop.gradients(params, x, y, model, "autodiff", key)
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
