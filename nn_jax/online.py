"""Online SGD with delayed weight updates: the same steps, faster.

:func:`delayed_sgd` is plain SGD (``optax.sgd``) that also carries its
constant learning rate. With it, an online epoch (batch size 1) with
hand-written gradients, and nothing that changes a step beyond the gradient
update (no dropout, batch norm, L2, max-norm, augmentation, PReLU, devices),
runs :func:`epoch`: the weights of the first layer, and of large hidden
layers right above it, are updated once per block of ``DELAY_BLOCK``
examples instead of after every example. The steps are those of one example
at a time, only rounded differently. Any other use of the transformation is
plain SGD. Measurements are in BENCHMARKS.md (the online benchmark).
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from nn_jax import backprop
from nn_jax import mlp


class DelayedSGD(NamedTuple):
  """``optax.sgd(learning_rate)``'s ``init`` and ``update``, and the rate."""
  init: Callable
  update: Callable
  learning_rate: float


def delayed_sgd(learning_rate: float) -> DelayedSGD:
  """Plain SGD ``w <- w - eta dE/dw`` that online epochs may run as
  :func:`epoch` (see the module's docstring)."""
  if not isinstance(learning_rate, (int, float)):
    raise ValueError("delayed_sgd takes a constant learning rate (a number); "
                     f"got {learning_rate!r}")
  sgd = optax.sgd(float(learning_rate))
  return DelayedSGD(sgd.init, sgd.update, float(learning_rate))


def applies(optimizer, model: mlp.Model, batch: int, grad: str,
            changes_step: bool) -> bool:
  """Whether an epoch with these settings runs :func:`epoch`:
  ``delayed_sgd``, batch size 1, hand-written gradients, a differentiable
  activation without learnable slopes, no dropout, batch norm or L2, and
  nothing else that ``changes_step`` (max-norm, augmentation, devices)."""
  return (isinstance(optimizer, DelayedSGD) and batch == 1
          and grad == "manual" and not changes_step
          and model.activation.grad is not None   # else the usual error
          and not (model.dropout or model.batchnorm or model.l2
                   or model.activation.learnable))


# Examples per block of delayed weight updates in online SGD.
DELAY_BLOCK = 64


def _delayed_layers(params) -> int:
  """How many layers online SGD delays (see :func:`_online_sgd_delayed`):
  the first, and the hidden layers right above it whose weights outweigh
  the buffers' work (the threshold was set by the online benchmark)."""
  delayed = 1
  while delayed < len(params) - 1 and (params[delayed]["w"].size >= 2 *
                                       DELAY_BLOCK * sum(
                                           params[delayed]["w"].shape)):
    delayed += 1
  return delayed


def epoch(params, x, y, order, model: mlp.Model, rate: float,
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
  first).

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
