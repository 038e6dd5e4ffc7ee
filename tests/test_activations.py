"""Each activation's hand-written derivative against jax.grad, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import activations

# Off the kink at 0, where the ReLU family has no derivative.
Z = np.array([-30.0, -3.0, -1.0, -0.4, -1e-3, 1e-3, 0.2, 1.0, 2.5, 30.0])

# Gradient tests fail on any NaN produced inside JAX.
pytestmark = pytest.mark.usefixtures("debug_nans")


def _alpha(act):
  return jnp.asarray(act.alpha, jnp.float64)


@pytest.mark.parametrize("name", activations.DIFFERENTIABLE)
def test_grad_matches_autodiff(name):
  act = activations.get(name)
  with jax.enable_x64(True):
    z = jnp.asarray(Z, jnp.float64)
    alpha = _alpha(act)
    auto = jax.vmap(jax.grad(lambda t: act.fn(t, alpha)))(z)
    np.testing.assert_allclose(act.grad(z, alpha), auto, rtol=1e-12,
                               atol=1e-15)
    if act.learnable:
      auto_alpha = jax.vmap(jax.grad(act.fn, argnums=1), (0, None))(z, alpha)
      np.testing.assert_allclose(act.alpha_grad(z, alpha), auto_alpha,
                                 rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", activations.DIFFERENTIABLE)
def test_grad_matches_autodiff_at_zero(name):
  # The forward code is written so that jax.grad takes the same one-sided
  # derivative at the kink as the hand-written one.
  act = activations.get(name)
  alpha = act.alpha
  auto = jax.grad(lambda t: act.fn(t, alpha))(0.0)
  assert float(act.grad(jnp.zeros(()), alpha)) == pytest.approx(float(auto))


def test_values():
  z = jnp.array([-2.0, 0.0, 3.0])
  np.testing.assert_allclose(activations.threshold.fn(z, 0.0), [0, 0, 1])
  np.testing.assert_allclose(activations.relu.fn(z, 0.0), [0, 0, 3])
  np.testing.assert_allclose(activations.identity.fn(z, 0.0), z)
  np.testing.assert_allclose(activations.sigmoid.fn(z, 0.0),
                             1 / (1 + np.exp(-np.asarray(z))), rtol=1e-6)
  np.testing.assert_allclose(activations.tanh.fn(z, 0.0), np.tanh(z),
                             rtol=1e-6)
  leaky = activations.get("leaky_relu")
  np.testing.assert_allclose(leaky.fn(z, leaky.alpha), [-0.02, 0, 3],
                             rtol=1e-6)
  general = activations.get("generalized_relu", 0.5)
  np.testing.assert_allclose(general.fn(z, general.alpha), [-1, 0, 3])


def test_prelu_slope_is_learnable_per_unit():
  act = activations.get("prelu", 0.3)
  assert act.learnable and act.alpha == 0.3
  z = jnp.array([[-1.0, -2.0], [1.0, -4.0]])
  alpha = jnp.array([0.1, 0.5])
  np.testing.assert_allclose(act.fn(z, alpha), [[-0.1, -1.0], [1.0, -2.0]])
  np.testing.assert_allclose(act.alpha_grad(z, alpha), [[-1, -2], [0, -4]])


def test_threshold_is_forward_only():
  assert activations.threshold.grad is None
  assert "threshold" not in activations.DIFFERENTIABLE


def test_unknown_name_lists_allowed():
  with pytest.raises(ValueError, match="allowed: .*sigmoid"):
    activations.get("swishy")
