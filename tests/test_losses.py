"""Output/loss pairs: each output delta against jax.grad, both squared-error
forms, and cross-entropies that stay finite for large logits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import losses

# Gradient tests fail on any NaN produced inside JAX.
pytestmark = pytest.mark.usefixtures("debug_nans")


def _targets(loss, key, batch, n):
  if loss.task == losses.MULTICLASS:
    return jax.nn.one_hot(jax.random.randint(key, (batch,), 0, n), n,
                          dtype=jnp.float64)
  if loss.task == losses.BINARY:
    return jax.random.bernoulli(key, 0.5, (batch, n)).astype(jnp.float64)
  return jax.random.normal(key, (batch, n), jnp.float64)


@pytest.mark.parametrize("name", losses.NAMES)
@pytest.mark.parametrize("batch,n", [(1, 1), (1, 3), (7, 3)])
def test_delta_is_gradient_of_value(name, batch, n):
  loss = losses.get(name)
  if loss.task == losses.MULTICLASS and n == 1:
    pytest.skip("softmax over one unit is constant")
  with jax.enable_x64(True):
    kz, ky = jax.random.split(jax.random.PRNGKey(batch * 10 + n))
    z = 2 * jax.random.normal(kz, (batch, n), jnp.float64)
    y = _targets(loss, ky, batch, n)
    auto = jax.grad(loss.value)(z, y)
    np.testing.assert_allclose(loss.delta(z, y), auto, rtol=1e-12,
                               atol=1e-15)


def test_two_squared_error_forms():
  o = jnp.array([[0.5, -1.0], [2.0, 0.0]])
  y = jnp.array([[1.0, 1.0], [0.0, 0.0]])
  half = losses.linear_squared.value(o, y)
  full = losses.linear_sum_squared.value(o, y)
  # Per example: 1/2 sum (y - o)^2 and sum (a - y)^2, averaged over the batch.
  assert float(half) == pytest.approx(0.5 * (0.25 + 4 + 4 + 0) / 2)
  assert float(full) == pytest.approx(2 * float(half))


def test_cross_entropy_reference_values():
  z = jnp.zeros((2, 4))
  y = jax.nn.one_hot(jnp.array([0, 3]), 4)
  assert float(losses.softmax_cross_entropy.value(z, y)) == pytest.approx(
      np.log(4))
  zb = jnp.array([[0.0], [2.0]])
  yb = jnp.array([[1.0], [0.0]])
  expected = (np.log(2) + np.log1p(np.exp(2.0))) / 2
  assert float(losses.sigmoid_cross_entropy.value(zb, yb)) == pytest.approx(
      expected, rel=1e-6)


@pytest.mark.parametrize("name", ["softmax_cross_entropy",
                                  "sigmoid_cross_entropy"])
def test_cross_entropy_finite_for_large_logits(name):
  loss = losses.get(name)
  z = jnp.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], jnp.float32)
  y = jnp.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], jnp.float32)
  value = loss.value(z, y)
  grad = jax.grad(loss.value)(z, y)
  assert np.isfinite(float(value)) and float(value) > 1e3
  assert np.all(np.isfinite(loss.delta(z, y)))
  assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", losses.NAMES)
def test_output_layers(name):
  loss = losses.get(name)
  z = jnp.array([[-1.0, 0.0, 2.0]])
  o = loss.output(z)
  if name.startswith("linear"):
    np.testing.assert_allclose(o, z)
  elif name.startswith("sigmoid"):
    np.testing.assert_allclose(o, jax.nn.sigmoid(z))
  else:
    np.testing.assert_allclose(o.sum(), 1.0, rtol=1e-6)


def test_unknown_loss():
  with pytest.raises(ValueError, match="allowed: .*softmax_cross_entropy"):
    losses.get("hinge")
