"""Output layers paired with their losses; each pair owns its output delta.

A :class:`Loss` maps the output layer's pre-activation ``z`` (shape
``(batch, n_out)``) and targets ``y`` of the same shape to

* ``output(z)``: the network's output ``o = g_L(z)``;
* ``value(z, y)``: the cost ``E``, averaged over the batch;
* ``delta(z, y)``: ``delta_L = dE/dz_L = dE/da * g_L'(z)``, the start of
  backprop, already including the ``1/batch`` of the average.

Squared error comes in the lecture's two forms:

.. math::

  E_{half} = \\frac{1}{2} \\sum_j (y_j - o_j)^2, \\qquad
  E_{sum} = \\sum_j (a_j - y_j)^2

Cross-entropies are computed from the logits ``z`` (``log_sigmoid`` and
``log_softmax``), so they stay finite for large ``|z|``.

Targets: one-hot rows for softmax, 0/1 columns for sigmoid, real values for
the linear output.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

# What kind of targets a loss fits.
REGRESSION = "regression"
BINARY = "binary"          # one sigmoid unit per binary target
MULTICLASS = "multiclass"  # one-hot targets, one unit per class


class Loss(NamedTuple):
  """An output layer g_L with a cost E.

  Attributes:
    name: the name used by flags and ``get``.
    task: ``"regression"``, ``"binary"`` or ``"multiclass"``.
    output: ``z -> o``.
    value: ``(z, y) -> E`` (mean over the batch).
    delta: ``(z, y) -> dE/dz``, shape of ``z``.
  """
  name: str
  task: str
  output: Callable[[jax.Array], jax.Array]
  value: Callable[[jax.Array, jax.Array], jax.Array]
  delta: Callable[[jax.Array, jax.Array], jax.Array]


def _batch(z):
  return z.shape[0]


# Squared error in its two forms, for an output o = g(z) with a Jacobian that
# is applied by `back` (elementwise for linear and sigmoid, full for softmax).
def _half_se(o, y):
  return 0.5 * jnp.sum((y - o) ** 2) / _batch(o)


def _sum_se(o, y):
  return jnp.sum((o - y) ** 2) / _batch(o)


def _half_se_grad(o, y):   # dE/do
  return (o - y) / _batch(o)


def _sum_se_grad(o, y):
  return 2 * (o - y) / _batch(o)


def _sigmoid_back(z, dE_do):
  s = jax.nn.sigmoid(z)
  return dE_do * s * (1 - s)


def _softmax_back(z, dE_do):
  # Softmax Jacobian J_jk = s_j (delta_jk - s_k), symmetric, so
  # (J^T g)_k = s_k (g_k - sum_j s_j g_j).
  s = jax.nn.softmax(z, axis=-1)
  return s * (dE_do - jnp.sum(s * dE_do, axis=-1, keepdims=True))


def _squared_pair(name, task, out, back, value, grad):
  return Loss(
      name, task, out,
      value=lambda z, y: value(out(z), y),
      delta=lambda z, y: back(z, grad(out(z), y)))


def _linear(z):
  return z


def _linear_back(z, dE_do):
  del z
  return dE_do


def _sigmoid(z):
  return jax.nn.sigmoid(z)


def _softmax(z):
  return jax.nn.softmax(z, axis=-1)


# Binary cross-entropy from logits:
#   -[y log s(z) + (1 - y) log(1 - s(z))] = -y log_sigmoid(z) - (1-y) log_sigmoid(-z)
def _bce(z, y):
  per_unit = -y * jax.nn.log_sigmoid(z) - (1 - y) * jax.nn.log_sigmoid(-z)
  return jnp.sum(per_unit) / _batch(z)


def _bce_delta(z, y):
  return (jax.nn.sigmoid(z) - y) / _batch(z)


# Categorical cross-entropy from logits: -sum_j y_j log softmax(z)_j.
def _cce(z, y):
  return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1)) / _batch(z)


def _cce_delta(z, y):
  return (jax.nn.softmax(z, axis=-1) - y) / _batch(z)


linear_squared = _squared_pair("linear_squared", REGRESSION, _linear,
                               _linear_back, _half_se, _half_se_grad)
linear_sum_squared = _squared_pair("linear_sum_squared", REGRESSION, _linear,
                                   _linear_back, _sum_se, _sum_se_grad)
sigmoid_squared = _squared_pair("sigmoid_squared", BINARY, _sigmoid,
                                _sigmoid_back, _half_se, _half_se_grad)
sigmoid_sum_squared = _squared_pair("sigmoid_sum_squared", BINARY, _sigmoid,
                                    _sigmoid_back, _sum_se, _sum_se_grad)
sigmoid_cross_entropy = Loss("sigmoid_cross_entropy", BINARY, _sigmoid,
                             _bce, _bce_delta)
softmax_squared = _squared_pair("softmax_squared", MULTICLASS, _softmax,
                                _softmax_back, _half_se, _half_se_grad)
softmax_sum_squared = _squared_pair("softmax_sum_squared", MULTICLASS,
                                    _softmax, _softmax_back, _sum_se,
                                    _sum_se_grad)
softmax_cross_entropy = Loss("softmax_cross_entropy", MULTICLASS, _softmax,
                             _cce, _cce_delta)

_ALL = (linear_squared, linear_sum_squared, sigmoid_squared,
        sigmoid_sum_squared, sigmoid_cross_entropy, softmax_squared,
        softmax_sum_squared, softmax_cross_entropy)
_BY_NAME = {l.name: l for l in _ALL}
NAMES = tuple(_BY_NAME)


def get(name: str) -> Loss:
  """Returns the output/loss pair called ``name`` (one of ``NAMES``)."""
  try:
    return _BY_NAME[name]
  except KeyError:
    raise ValueError(
        f"unknown loss {name!r}; allowed: {', '.join(NAMES)}") from None
