"""Backpropagation written by hand in the lecture's delta form.

For a network with layers ``l = 1..L``, ``z_l = w_l a_{l-1} + b_l`` and
``a_l = g(z_l)``:

.. math::

  \\delta_L = \\frac{\\partial E}{\\partial a_L} \\odot g_L'(z_L), \\quad
  \\delta_l = (w_{l+1}^T \\delta_{l+1}) \\odot g'(z_l), \\quad
  \\frac{\\partial E}{\\partial w_l} = \\delta_l a_{l-1}^T, \\quad
  \\frac{\\partial E}{\\partial b_l} = \\delta_l

Batched, ``delta`` has shape ``(batch, n_l)`` and holds ``dE/dz`` of the
batch-mean cost, so ``dE/dw_l = delta_l^T @ a_{l-1}`` and ``dE/db_l`` is
``delta_l`` summed over the batch. A parametric ReLU's slope gets
``dE/dalpha_l = sum over the batch of (w_{l+1}^T delta_{l+1}) * min(z_l, 0)``.

``jax.grad`` of the same cost is the other gradient method; :func:`gradients`
selects between them with ``method="manual" | "autodiff"``.
"""

import jax
import jax.numpy as jnp

from nn_jax import mlp

METHODS = ("manual", "autodiff")


def backward(params: mlp.Params, cache: dict, y: jax.Array,
             model: mlp.Model) -> mlp.Params:
  """Gradients of the batch-mean cost, same pytree structure as ``params``.

  Args:
    params: the network's parameters.
    cache: from :func:`mlp.forward` on the same batch.
    y: targets, shape ``(batch, n_out)``.
    model: activation and output layer.
  """
  act = model.activation
  if act.grad is None:
    raise ValueError(f"activation {act.name!r} has no derivative; backprop "
                     "needs a differentiable one")
  zs, activations = cache["zs"], cache["activations"]
  delta = model.loss.delta(zs[-1], y)                    # delta_L
  grads = [{} for _ in params]
  for l in range(len(params) - 1, -1, -1):
    grads[l]["w"] = delta.T @ activations[l]             # delta_l a_{l-1}^T
    grads[l]["b"] = jnp.sum(delta, axis=0)               # delta_l
    if l == 0:
      break
    back = delta @ params[l]["w"]                        # w_{l+1}^T delta_{l+1}
    z = zs[l - 1]
    alpha = params[l - 1]["alpha"] if act.learnable else act.alpha
    if act.learnable:
      grads[l - 1]["alpha"] = jnp.sum(back * act.alpha_grad(z, alpha), 0)
    delta = back * act.grad(z, alpha)                    # delta_l
  # Every parameter gets its gradient (a KeyError here would be a bug).
  grads = [{k: g[k] for k in layer} for g, layer in zip(grads, params)]
  return grads


def loss(params: mlp.Params, x: jax.Array, y: jax.Array,
         model: mlp.Model) -> jax.Array:
  """The batch-mean cost E of the network on ``(x, y)``."""
  _, cache = mlp.forward(params, x, model)
  return model.loss.value(cache["zs"][-1], y)


def gradients(params: mlp.Params, x: jax.Array, y: jax.Array,
              model: mlp.Model, method: str = "manual"):
  """Returns ``(E, dE/dparams)`` by hand-written backprop or by ``jax.grad``."""
  if method == "manual":
    o, cache = mlp.forward(params, x, model)
    del o
    value = model.loss.value(cache["zs"][-1], y)
    return value, backward(params, cache, y, model)
  if method == "autodiff":
    return jax.value_and_grad(loss)(params, x, y, model)
  raise ValueError(f"unknown gradient method {method!r}; allowed: "
                   f"{', '.join(METHODS)}")
