r"""What a network's units and gradients are doing: per-layer gradient norms,
saturated units, dead units.

The lecture's "Problem: saturation ... too small gradient": backprop's

.. math::

  \delta_l = (w_{l+1}^T \delta_{l+1}) \odot g'(z_l), \quad
  \frac{\partial E}{\partial w_l} = \delta_l a_{l-1}^T

multiplies by ``g'(z_l)`` once per layer. A sigmoid unit has ``g'(z) <=
1/4`` everywhere and ``g'(z) < 0.01`` once ``|z| > 4.6`` (tanh once ``|z| >
3.0``): a saturated unit passes almost nothing down, and the layers far from
the output learn slowly. A ReLU unit whose ``z <= 0`` for every example is
dead: ``g'(z) = 0`` always, its incoming weights never change again.

* :func:`weight_gradient_norms`: ``||dE/dw_l||`` (Frobenius) per layer;
* :func:`derivatives`, :func:`saturated_fractions`, :func:`dead_fractions`:
  ``g'(z_l)`` of each hidden layer, and what share of it is (nearly) zero;
* :func:`diagnose`: all of them for a network on a batch, by the
  hand-written backward pass (:func:`nn_jax.backprop.backward`);
* :func:`fit_tracked`: a population of networks trained in one jitted,
  vmapped call, diagnosed before the first epoch and after each.
"""

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import backprop
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax.config import FitOptions
from nn_jax.epoch import METRICS, init_state, make_epoch
from nn_jax import train_data
from nn_jax.train_data import Data

# g'(z) below this counts as saturated (the lecture's "too small gradient").
THRESHOLD = 0.01


class Diagnostics(NamedTuple):
  """A network's diagnosis on a batch (leaves may have leading axes:
  members, epochs)."""
  grad_norms: jax.Array   # (layers,) ||dE/dw_l||, first layer first
  saturated: jax.Array    # (hidden,) share of (example, unit) pairs with
                          # |g'(z)| < threshold
  dead: jax.Array         # (hidden,) share of units with g'(z) = 0 for
                          # every example


def weight_gradient_norms(grads: mlp.Params) -> jax.Array:
  """``(layers,)``: the Frobenius norm of each layer's ``dE/dw``."""
  return jnp.stack([jnp.sqrt(jnp.sum(jnp.square(g["w"]))) for g in grads])


def derivatives(params: mlp.Params, cache: dict,
                model: mlp.Model) -> list:
  """``g'(z_l)``, ``(batch, n_l)``, for each hidden layer of a forward
  pass's ``cache`` (a PReLU with each unit's own slope)."""
  act = model.activation
  return [act.grad(z, layer["alpha"] if act.learnable else act.alpha)
          for z, layer in zip(cache["zs"][:-1], params[:-1])]


def _per_layer(values: list) -> jax.Array:
  return jnp.stack(values) if values else jnp.zeros((0,))


def saturated_fractions(gprimes: list,
                        threshold: float = THRESHOLD) -> jax.Array:
  """``(hidden,)``: per layer, the share of ``g'(z)`` values (examples x
  units) with ``|g'(z)| < threshold``. For a ReLU this is the share with
  ``z <= 0``: inactive, which is not saturation in the sigmoid's sense (a
  PReLU's learned slope may be negative: hence ``|g'|``)."""
  return _per_layer([jnp.mean(jnp.abs(g) < threshold) for g in gprimes])


def dead_fractions(gprimes: list) -> jax.Array:
  """``(hidden,)``: per layer, the share of units whose ``g'(z)`` is 0 for
  every example of the batch (a dead ReLU; a sigmoid only where ``g'``
  underflows to 0)."""
  return _per_layer([jnp.mean(jnp.all(g == 0, axis=0)) for g in gprimes])


def diagnose(params: mlp.Params, x: jax.Array, y: jax.Array,
             model: mlp.Model, threshold: float = THRESHOLD, *,
             key: Optional[jax.Array] = None) -> Diagnostics:
  """The network's per-layer ``||dE/dw_l||`` on the batch ``(x, y)`` (the
  gradient of the batch-mean cost, by the hand-written backward pass, in
  training mode: ``key`` draws dropout masks), the share of saturated
  ``g'(z)`` values and of dead units per hidden layer."""
  _, cache = mlp.forward(params, x, model, train=True, key=key)
  grads = backprop.backward(params, cache, y, model)
  gprimes = derivatives(params, cache, model)
  return Diagnostics(weight_gradient_norms(grads),
                     saturated_fractions(gprimes, threshold),
                     dead_fractions(gprimes))


class Tracked(NamedTuple):
  """What :func:`fit_tracked` returns; every leaf has the members first."""
  params: mlp.Params
  stats: list
  history: dict             # metric name -> np.ndarray (members, epochs)
  diagnostics: Diagnostics  # leaves (members, epochs + 1, ...); 0: start


@functools.lru_cache(maxsize=16)
def _tracked_runner(model, optimizer, momentum, options, n, threshold):
  """The jitted, vmapped training with a diagnosis after every epoch (cached
  per setting)."""

  def member(params, key, rate, data, probe_x, probe_y):
    opt = optimizers.make(optimizer, rate, momentum)
    epoch_fn = make_epoch(model, opt, n, options, lockstep=True)
    measure = lambda p: diagnose(p, probe_x, probe_y, model, threshold)

    def body(state, _):
      state, metrics = epoch_fn(state, data)
      return state, (metrics, measure(state.params))

    state, (metrics, later) = jax.lax.scan(
        body, init_state(params, model, opt, key), None,
        length=options.epochs)
    start = measure(params)
    diag = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), start,
                        later)
    return state.params, state.stats, metrics, diag

  return jax.jit(jax.vmap(member, in_axes=(0, 0, 0, None, None, None)))


def fit_tracked(keys: jax.Array, sizes, model: mlp.Model, data: Data,
                options: FitOptions, *, learning_rates, init="glorot",
                optimizer: str = "sgd", momentum: float = 0.9,
                probe: Optional[tuple] = None,
                threshold: float = THRESHOLD) -> Tracked:
  """Trains a population in one jitted, vmapped call, as
  :func:`nn_jax.population.fit_population` does (member ``i`` starts from
  ``mlp.init(split(keys[i])[0], sizes, model, init[i])`` and trains with
  ``split(keys[i])[1]``), and diagnoses every member (:func:`diagnose`) on
  ``probe = (x, y)`` (default: the training set) before the first epoch
  and after each.

  Args:
    keys: ``(members,)`` PRNG keys, one per member.
    sizes: layer sizes.
    model: activation, output layer and regularizers (no dropout: the
      diagnosis runs without masks).
    data: training and validation arrays, shared.
    options: as in :func:`nn_jax.train.fit`; every member runs ``epochs``
      epochs in lock-step (one that stops early keeps its parameters, and
      its diagnosis repeats); no image shifts.
    learning_rates: ``(members,)`` learning rates (or a scalar for all).
    init: an init scheme, or one per member.
    optimizer: one of ``nn_jax.config.OPTIMIZERS`` but ``delayed_sgd``.
    momentum: for ``momentum`` and ``nesterov``.
    probe: the batch the diagnosis runs on.
    threshold: ``|g'(z)|`` below this counts as saturated.
  """
  if model.dropout > 0:
    raise ValueError("fit_tracked diagnoses networks without dropout; set "
                     "dropout to 0")
  if optimizer == "delayed_sgd":
    raise ValueError("optimizer=delayed_sgd is for fit; fit_tracked trains "
                     "with sgd")
  members = jnp.shape(keys)[0]
  schemes = np.broadcast_to(np.asarray(init), (members,))
  k_init, k_train = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
  order, parts = [], []
  for scheme in dict.fromkeys(schemes):   # each member's key used once
    idx = np.flatnonzero(schemes == scheme)
    parts.append(jax.vmap(lambda k, s=str(scheme): mlp.init(
        k, sizes, model, s))(k_init[idx]))
    order.extend(idx)
  params = jax.tree.map(lambda *a: jnp.concatenate(a)[np.argsort(order)],
                        *parts)
  train_data.check(jax.tree.map(lambda a: a[0], params), model, data)
  probe_x, probe_y = probe if probe is not None else (data.x, data.y)
  run = _tracked_runner(model, optimizer, float(momentum), options,
                        data.x.shape[0], float(threshold))
  rates = jnp.broadcast_to(jnp.asarray(learning_rates, jnp.float32),
                           (members,))
  params, stats, metrics, diag = run(params, k_train, rates, data, probe_x,
                                     probe_y)
  metrics = np.asarray(metrics)          # (members, epochs, metrics)
  history = {m: metrics[:, :, i] for i, m in enumerate(METRICS)}
  return Tracked(params, stats, history, jax.tree.map(np.asarray, diag))
