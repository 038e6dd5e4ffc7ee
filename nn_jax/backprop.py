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

Dropout, batch normalization, the L2 penalty and skip connections extend
the same pass (see :func:`backward`). ``jax.grad`` of the same cost is the
other gradient method; :func:`gradients` selects between them with
``method="manual" | "autodiff"``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import mlp
from nn_jax import regularization as reg

METHODS = ("manual", "autodiff")


def backward(params: mlp.Params, cache: dict, y: jax.Array,
             model: mlp.Model, *, input_grad: bool = False):
  """Gradients of the batch-mean cost, same pytree structure as ``params``.

  Args:
    params: the network's parameters.
    cache: from :func:`mlp.forward` (training mode) on the same batch.
    y: targets, shape ``(batch, n_out)``.
    model: activation, output layer and regularizers.
    input_grad: also return ``dE/dx = w_1^T delta_1`` for the inputs ``x``
      (one step further down), as ``(grads, dE/dx)``.

  Below the output layer, ``back = w_{l+1}^T delta_{l+1}`` is ``dE/da_l``;
  dropout multiplies it by the layer's scaled mask, the activation by
  ``g'(z_l)``; with batch norm ``delta`` then passes through the scale
  ``gamma`` and the batch statistics (:func:`reg.batchnorm_backward`). A
  layer with a skip connection, ``a_l = a_{l-1} + g(z_l)``, passes
  ``dE/da_l`` on unchanged as well: ``dE/da_{l-1} = w_l^T delta_l +
  dE/da_l``.
  """
  act = model.activation
  _check_differentiable(params, model)
  _check_cached_targets(cache, y)
  _check_one_hot_rows(y, model)
  zs, activations = cache["zs"], cache["activations"]
  skip = mlp.skips(mlp.sizes_of(params), model)
  delta = model.loss.delta(zs[-1], y)                    # delta_L
  dE_da = None                                           # dE/da_l
  grads = [{} for _ in params]
  for l in range(len(params) - 1, -1, -1):
    grads[l]["w"] = delta.T @ activations[l]             # delta_l a_{l-1}^T
    if "b" in params[l]:
      grads[l]["b"] = jnp.sum(delta, axis=0)             # delta_l
    if l == 0 and not input_grad:
      break
    back = delta @ params[l]["w"]                        # w_{l+1}^T delta_{l+1}
    if skip[l]:
      back = back + dE_da                                # through the skip
    dE_da = back
    if l == 0:
      break
    if cache["masks"]:
      back = back * cache["masks"][l - 1]
    z = zs[l - 1]
    below = params[l - 1]
    alpha = below["alpha"] if act.learnable else act.alpha
    if act.learnable:
      grads[l - 1]["alpha"] = jnp.sum(back * act.alpha_grad(z, alpha), 0)
    delta = back * act.grad(z, alpha)                    # delta_l
    if model.batchnorm:
      z_hat, inv_std = cache["bn"][l - 1]
      grads[l - 1]["gamma"] = jnp.sum(delta * z_hat, axis=0)
      grads[l - 1]["beta"] = jnp.sum(delta, axis=0)
      delta = reg.batchnorm_backward(delta * below["gamma"], z_hat, inv_std)
  if model.l2 > 0:
    penalty = reg.l2_penalty_grad(params, model.l2, model.l2_alpha)
    grads = [{k: g[k] + penalty[l][k] for k in g}
             for l, g in enumerate(grads)]
  # Every parameter gets its gradient (a KeyError here would be a bug).
  grads = [{k: g[k] for k in layer} for g, layer in zip(grads, params)]
  return (grads, dE_da) if input_grad else grads


def cost(params: mlp.Params, cache: dict, y: jax.Array,
         model: mlp.Model) -> jax.Array:
  """The batch-mean cost from a forward cache, plus the L2 penalty."""
  _check_cached_targets(cache, y)
  value = model.loss.value(cache["zs"][-1], y)
  if model.l2 > 0:
    value = value + reg.l2_penalty(params, model.l2, model.l2_alpha)
  return value


def _check_differentiable(params: mlp.Params, model: mlp.Model) -> None:
  """Hidden layers need an activation with a derivative: for the threshold
  unit ``jax.grad`` would give zero gradients below the output layer, and
  training would leave those weights as they are."""
  if model.activation.grad is None and len(params) > 1:
    raise ValueError(f"activation {model.activation.name!r} has no "
                     f"derivative; gradient training of hidden layers needs "
                     f"a differentiable one (train threshold units with "
                     f"nn_jax.perceptron)")


def _check_one_hot_rows(y: jax.Array, model: mlp.Model) -> None:
  """Softmax cross-entropy's output delta ``softmax(z) - y`` holds for
  target rows that sum to 1 (one-hot, or class probabilities); other rows
  (multi-label, unnormalized) are refused. Checked where ``y`` holds values
  (not inside ``jax.jit``: :func:`nn_jax.train.fit` checks its data before
  compiling)."""
  if (model.loss.name != "softmax_cross_entropy"
      or isinstance(y, jax.core.Tracer)):
    return
  sums = np.sum(np.asarray(y, np.float64), axis=-1)
  off = np.abs(sums - 1)
  if off.size and np.max(off) > 1e-3:
    row = int(np.argmax(off))
    raise ValueError(f"y rows must sum to 1 for softmax_cross_entropy "
                     f"(one-hot or class probabilities: its output delta is "
                     f"softmax(z) - y); row {row} sums to {sums[row]:g}")


def _check_targets(params: mlp.Params, x: jax.Array, y: jax.Array) -> None:
  """``y`` must be ``(batch, n_out)``: a 1-D ``y`` would broadcast against
  the ``(batch, n_out)`` outputs into a silently wrong cost."""
  want = (jnp.shape(x)[0] if jnp.ndim(x) else None, params[-1]["w"].shape[0])
  if jnp.shape(y) != want:
    raise ValueError(f"y must have shape (batch, n_out) = {want} for x of "
                     f"shape {jnp.shape(x)}; got {jnp.shape(y)}")


def _check_cached_targets(cache: dict, y: jax.Array) -> None:
  """``y`` must have the shape of the cached outputs ``(batch, n_out)``."""
  want = jnp.shape(cache["zs"][-1])
  if jnp.shape(y) != want:
    raise ValueError(f"y must have shape (batch, n_out) = {want}, the "
                     f"outputs' in the cache; got {jnp.shape(y)}")


def loss(params: mlp.Params, x: jax.Array, y: jax.Array, model: mlp.Model,
         key: jax.Array | None = None) -> jax.Array:
  """The training cost E of the network on ``(x, y)`` (training mode)."""
  _check_targets(params, x, y)
  _, cache = mlp.forward(params, x, model, train=True, key=key)
  return cost(params, cache, y, model)


def gradients_and_outputs(params: mlp.Params, x: jax.Array, y: jax.Array,
                          model: mlp.Model, method: str = "manual",
                          key: jax.Array | None = None):
  """Returns ``(E, dE/dparams, batch_stats, z_L)`` in training mode.

  ``batch_stats`` are the batch-norm statistics of this batch (for the
  running averages), an empty list without batch norm; ``z_L`` is the
  output layer's pre-activation from the same forward pass (for metrics of
  the batch at no extra cost); ``key`` draws the dropout masks, the same
  ones for both methods.

  Raises:
    ValueError: ``y`` is not ``(batch, n_out)``, or the hidden layers'
      activation has no derivative (:func:`_check_differentiable`).
  """
  _check_targets(params, x, y)
  _check_differentiable(params, model)
  if method == "manual":
    _, cache = mlp.forward(params, x, model, train=True, key=key)
    return (cost(params, cache, y, model), backward(params, cache, y, model),
            cache["batch_stats"], cache["zs"][-1])
  if method == "autodiff":
    def f(p):
      _, cache = mlp.forward(p, x, model, train=True, key=key)
      return cost(p, cache, y, model), (cache["batch_stats"],
                                        cache["zs"][-1])
    (value, (stats, z)), grads = jax.value_and_grad(f, has_aux=True)(params)
    return value, grads, stats, z
  raise ValueError(f"unknown gradient method {method!r}; allowed: "
                   f"{', '.join(METHODS)}")


def gradients_and_stats(params: mlp.Params, x: jax.Array, y: jax.Array,
                        model: mlp.Model, method: str = "manual",
                        key: jax.Array | None = None):
  """Returns ``(E, dE/dparams, batch_stats)``: :func:`gradients_and_outputs`
  without the outputs."""
  value, grads, stats, _ = gradients_and_outputs(params, x, y, model, method,
                                                 key)
  return value, grads, stats


def gradients(params: mlp.Params, x: jax.Array, y: jax.Array,
              model: mlp.Model, method: str = "manual",
              key: jax.Array | None = None):
  """Returns ``(E, dE/dparams)`` by hand-written backprop or by ``jax.grad``."""
  value, grads, _ = gradients_and_stats(params, x, y, model, method, key)
  return value, grads
