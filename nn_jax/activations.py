"""Hidden-unit activations, each defined beside its derivative.

Every activation is an :class:`Activation`: ``fn(z, alpha)`` computes
``a = g(z)`` and ``grad(z, alpha)`` computes ``g'(z)`` elementwise. Both take
``alpha``, the negative-side slope of the ReLU family; the other activations
ignore it. For the parametric ReLU ``alpha`` is a learnable array with one
slope per unit, and ``alpha_grad(z, alpha)`` gives ``da/dalpha`` so that
backprop can return its gradient.

Derivatives are written as functions of ``z`` (not of the output ``a``), which
is what a learnable slope needs.
"""

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp


class Activation(NamedTuple):
  """An activation g with its derivative.

  Attributes:
    name: the name used by flags and ``get``.
    fn: ``(z, alpha) -> g(z)``.
    grad: ``(z, alpha) -> g'(z)``; ``None`` for the threshold unit, which has
      no useful derivative (it is forward only, for perceptrons).
    alpha: the fixed slope (leaky and generalized ReLU) or the initial slope
      (parametric ReLU); unused by the others.
    learnable: whether ``alpha`` is a parameter learned per unit.
    alpha_grad: ``(z, alpha) -> dg/dalpha``, for learnable activations.
  """
  name: str
  fn: Callable[[jax.Array, jax.Array], jax.Array]
  grad: Optional[Callable[[jax.Array, jax.Array], jax.Array]]
  alpha: float = 0.0
  learnable: bool = False
  alpha_grad: Optional[Callable[[jax.Array, jax.Array], jax.Array]] = None


# Threshold unit: o = 1 if z > 0 else 0. Forward only.
def _threshold(z, alpha):
  del alpha
  return (z > 0).astype(z.dtype)


# Identity (linear unit).
def _identity(z, alpha):
  del alpha
  return z


def _identity_grad(z, alpha):
  del alpha
  return jnp.ones_like(z)


# Logistic sigmoid 1 / (1 + e^-z); jax.nn.sigmoid is stable for large |z|.
def _sigmoid(z, alpha):
  del alpha
  return jax.nn.sigmoid(z)


def _sigmoid_grad(z, alpha):
  del alpha
  s = jax.nn.sigmoid(z)
  return s * (1 - s)


# Hyperbolic tangent.
def _tanh(z, alpha):
  del alpha
  return jnp.tanh(z)


def _tanh_grad(z, alpha):
  del alpha
  return 1 - jnp.tanh(z) ** 2


# ReLU max(z, 0). Written with `where` so that jax.grad takes g'(0) = 0, the
# same convention as the hand-written derivative (jnp.maximum would give 1/2).
def _relu(z, alpha):
  del alpha
  return jnp.where(z > 0, z, jnp.zeros_like(z))


def _relu_grad(z, alpha):
  del alpha
  return (z > 0).astype(z.dtype)


# Generalized ReLU max(z, 0) + alpha min(z, 0). Leaky ReLU (fixed small
# alpha) and parametric ReLU (learnable alpha per unit) are the same formula.
def _general_relu(z, alpha):
  return jnp.where(z > 0, z, alpha * z)


def _general_relu_grad(z, alpha):
  return jnp.where(z > 0, jnp.ones_like(z), alpha * jnp.ones_like(z))


def _general_relu_alpha_grad(z, alpha):
  del alpha
  return jnp.where(z > 0, jnp.zeros_like(z), z)


threshold = Activation("threshold", _threshold, None)
identity = Activation("identity", _identity, _identity_grad)
sigmoid = Activation("sigmoid", _sigmoid, _sigmoid_grad)
tanh = Activation("tanh", _tanh, _tanh_grad)
relu = Activation("relu", _relu, _relu_grad)


def leaky_relu(alpha: float = 0.01) -> Activation:
  """Leaky ReLU with a fixed small slope ``alpha`` for z < 0."""
  return Activation("leaky_relu", _general_relu, _general_relu_grad,
                    alpha=float(alpha))


def generalized_relu(alpha: float = 0.2) -> Activation:
  """Generalized ReLU max(z, 0) + alpha min(z, 0) with a fixed ``alpha``."""
  return Activation("generalized_relu", _general_relu, _general_relu_grad,
                    alpha=float(alpha))


def prelu(alpha: float = 0.25) -> Activation:
  """Parametric ReLU: like the generalized ReLU, but ``alpha`` is learned.

  Each hidden unit has its own slope, initialised to ``alpha``.
  """
  return Activation("prelu", _general_relu, _general_relu_grad,
                    alpha=float(alpha), learnable=True,
                    alpha_grad=_general_relu_alpha_grad)


_FIXED = {a.name: a for a in (threshold, identity, sigmoid, tanh, relu)}
_FAMILY = {"leaky_relu": (leaky_relu, 0.01),
           "generalized_relu": (generalized_relu, 0.2),
           "prelu": (prelu, 0.25)}

NAMES = tuple(_FIXED) + tuple(_FAMILY)
# Activations that backprop can differentiate (all but the threshold unit).
DIFFERENTIABLE = tuple(n for n in NAMES if n != "threshold")


def get(name: str, alpha: Optional[float] = None) -> Activation:
  """Returns the activation called ``name``.

  Args:
    name: one of ``NAMES``.
    alpha: the slope for the ReLU family (default 0.01 for leaky, 0.2 for
      generalized and 0.25 as the initial value for parametric ReLU).

  Raises:
    ValueError: for an unknown name, naming the allowed ones.
  """
  if name in _FIXED:
    return _FIXED[name]
  if name in _FAMILY:
    make, default = _FAMILY[name]
    return make(default if alpha is None else alpha)
  raise ValueError(
      f"unknown activation {name!r}; allowed: {', '.join(NAMES)}")
