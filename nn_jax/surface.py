"""The error surface of a neuron with two weights, and paths of descent on it.

A single neuron ``o = g(w1 x1 + w2 x2)`` without bias on correlated inputs:
its cost E(w1, w2) is a long, narrow valley (a ravine), the lecture's
picture of an error surface. :func:`make_data` draws such a data set,
:func:`descend` follows the gradients of the hand-written backprop with an
optax transformation (plain gradient descent, or with momentum),
:func:`minimum` finds E's minimum by Newton's method and :func:`surface`
evaluates E on a grid for contour plots. Used by experiments.error_surface
(batch vs. online descent) and experiments.momentum.
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nn_jax import backprop
from nn_jax import mlp


def make_data(neuron: str, n: int, correlation: float, seed: int):
  """Correlated inputs ``(n, 2)`` and targets ``(n, 1)`` of a teacher neuron
  ``z = x1 + 0.5 x2``: ``linear`` (``z`` plus noise of std 0.3) or
  ``sigmoid`` (0/1 labels drawn with probability sigmoid(2z))."""
  rng = np.random.default_rng(seed)
  cov = np.array([[1.0, correlation], [correlation, 1.0]])
  x = rng.multivariate_normal(np.zeros(2), cov, n)
  z = x @ np.array([1.0, 0.5])
  if neuron == "linear":
    y = z + 0.3 * rng.normal(size=n)
  else:  # labels drawn with probability sigmoid(2z): a finite minimum
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * z))).astype(float)
  return jnp.asarray(x, jnp.float32), jnp.asarray(y[:, None], jnp.float32)


def as_params(w):
  """The neuron's parameters in ``nn_jax.mlp`` form, bias fixed at 0."""
  return [{"w": w[None, :], "b": jnp.zeros((1,), w.dtype)}]


def cost_fn(model: mlp.Model, x, y):
  """E(w) of the weights ``(2,)``, from :func:`nn_jax.backprop.loss`."""
  return lambda w: backprop.loss(as_params(w), x, y, model)


def descend(model: mlp.Model, x, y, w0, batches,
            optimizer: optax.GradientTransformation):
  """Steps of ``optimizer`` over ``batches`` (steps, batch size) of example
  indices, on the gradients of the hand-written backprop (the bias's is
  dropped: it stays at 0).

  Returns the path: the weights before and after every step, ``(steps+1, 2)``.
  """
  def step(carry, idx):
    w, state = carry
    _, grads = backprop.gradients(as_params(w), x[idx], y[idx], model,
                                  "manual")
    updates, state = optimizer.update(grads[0]["w"][0], state, w)
    w = optax.apply_updates(w, updates)
    return (w, state), w
  _, path = jax.lax.scan(step, (w0, optimizer.init(w0)), batches)
  return jnp.concatenate([w0[None], path])


def momentum_descents(model: mlp.Model, x, y, w0, learning_rates, momenta,
                      epochs: int, fraction: float = 0.01) -> dict:
  """Full-batch descent (one step per epoch) with optax's SGD with momentum,
  ``optax.sgd(eta, momentum=mu)`` (``mu = 0``: plain gradient descent), from
  ``w0`` for every ``(mu, eta)`` pair, on a convex E with a finite minimum.

  Returns ``paths``, the weights before and after every epoch,
  ``(len(momenta), len(learning_rates), epochs+1, 2)``; ``costs``, E there;
  ``epochs``, ``(len(momenta), len(learning_rates))``: the epochs until E
  is within ``fraction`` of the minimum (E - E_min at most ``fraction`` of
  E(w0) - E_min, and stays there; NaN: not within ``epochs``); and the
  minimum's ``w_min``, ``e_min`` and ``hessian_eigenvalues``.
  """
  loss = cost_fn(model, x, y)
  w_min = minimum(loss, w0)
  if w_min is None:
    raise ValueError("E has no finite minimum on these data")
  e_min = float(loss(jnp.asarray(w_min)))
  paths, costs = _momentum_grid(model, epochs, x, y, w0,
                                jnp.asarray(momenta, jnp.float32),
                                jnp.asarray(learning_rates, jnp.float32))
  costs = np.asarray(costs)
  return {"paths": np.asarray(paths), "costs": costs, "w_min": w_min,
          "e_min": e_min, "epochs": epochs_to_reach(
              costs, e_min + fraction * (costs[..., 0] - e_min)),
          "hessian_eigenvalues": np.linalg.eigvalsh(
              jax.hessian(loss)(jnp.asarray(w_min)))}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _momentum_grid(model, epochs, x, y, w0, momenta, learning_rates):
  """The paths and costs of :func:`momentum_descents`, compiled once for
  every data set of the same shapes."""
  batches = jnp.tile(jnp.arange(x.shape[0]), (epochs, 1))
  loss = cost_fn(model, x, y)

  def run(mu, eta):
    path = descend(model, x, y, w0, batches, optax.sgd(eta, momentum=mu))
    return path, jax.vmap(loss)(path)
  return jax.vmap(jax.vmap(run, (None, 0)), (0, None))(momenta,
                                                       learning_rates)


def epochs_to_reach(costs, target):
  """The epochs until E falls to ``target`` and stays at or below it (over
  the epochs given), for each row of ``costs`` (``(..., epochs+1)``: E
  before and after every epoch; ``target`` a number or ``costs.shape[:-1]``);
  NaN where that never happens (or the descent diverged)."""
  costs = np.asarray(costs, np.float64)
  above = ~(costs <= np.asarray(target, np.float64)[..., None])   # NaN: above
  last = costs.shape[-1] - 1
  last_above = np.where(above.any(-1),
                        last - np.argmax(above[..., ::-1], -1), -1)
  return np.where(last_above < last, last_above + 1.0, np.nan)


def minimum(loss, w0, steps: int = 50) -> Optional[np.ndarray]:
  """Newton's method on the convex E(w) (a quadratic bowl, or the logistic
  cross-entropy). Returns ``None`` where it does not settle (separable 0/1
  targets: E falls towards 0 without a finite minimum)."""
  grad, hessian = jax.jit(jax.grad(loss)), jax.jit(jax.hessian(loss))
  w = w0
  for _ in range(steps):
    step = jnp.linalg.solve(hessian(w), grad(w))
    w = w - step
    if not bool(jnp.all(jnp.isfinite(w))):
      return None
    if float(jnp.max(jnp.abs(step))) < 1e-6 * (1 + float(jnp.max(
        jnp.abs(w)))):
      return np.asarray(w)
  return None


def surface(cost, paths: list, w_min) -> tuple:
  """E on a 201 x 201 grid over a window that holds the paths and the
  minimum (if E has a finite one): ``(g1, g2, E)``; ``cost`` maps
  ``(m, 2)`` weights to ``(m,)`` costs."""
  pts = np.concatenate([*paths,
                        np.empty((0, 2)) if w_min is None else w_min[None]])
  lo, hi = pts.min(0), pts.max(0)
  pad = 0.15 * (hi - lo).max() + 0.1
  g1, g2 = np.meshgrid(np.linspace(lo[0] - pad, hi[0] + pad, 201),
                       np.linspace(lo[1] - pad, hi[1] + pad, 201))
  grid = np.stack([g1.ravel(), g2.ravel()], 1)
  e = np.asarray(cost(jnp.asarray(grid, jnp.float32))).reshape(g1.shape)
  return g1, g2, e
