"""nn_jax.diagnostics against a hand computation (NumPy, float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import diagnostics
from nn_jax import epoch
from nn_jax import mlp
from nn_jax.config import FitOptions
from nn_jax.train_data import Data


def test_weight_gradient_norms_are_frobenius_norms():
  grads = [{"w": jnp.array([[3.0, 4.0]]), "b": jnp.array([100.0])},
           {"w": jnp.array([[1.0], [2.0], [2.0]]), "b": jnp.zeros(3)}]
  np.testing.assert_allclose(diagnostics.weight_gradient_norms(grads),
                             [5.0, 3.0])


def test_saturated_and_dead_fractions():
  # Layer 1: g' of 2 examples x 3 units; unit 2 is 0 on both (dead), unit 0
  # below the threshold once. Layer 2: nothing small.
  layer1 = jnp.array([[0.005, 0.2, 0.0], [0.3, 0.25, 0.0]])
  layer2 = jnp.array([[0.25, 0.1]])
  np.testing.assert_allclose(
      diagnostics.saturated_fractions([layer1, layer2]), [3 / 6, 0.0])
  np.testing.assert_allclose(diagnostics.dead_fractions([layer1, layer2]),
                             [1 / 3, 0.0])
  assert diagnostics.saturated_fractions([]).shape == (0,)


def _softmax(z):
  e = np.exp(z - z.max(1, keepdims=True))
  return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_diagnose_matches_hand_computation(activation):
  # 2 inputs -> 3 hidden units -> 2 softmax outputs, batch of 2.
  w1 = np.array([[1.0, 0.25], [0.5, 0.5], [-3.0, -3.0]])
  b1 = np.array([0.0, 9.0, -1.0])
  w2 = np.array([[1.0, -1.0, 2.0], [0.5, 0.0, -1.0]])
  b2 = np.array([0.1, -0.1])
  x = np.array([[1.0, 2.0], [0.5, 1.0]])
  y = np.array([[1.0, 0.0], [0.0, 1.0]])
  z1 = x @ w1.T + b1
  if activation == "sigmoid":
    a1 = 1 / (1 + np.exp(-z1))
    g1 = a1 * (1 - a1)
  else:
    a1, g1 = np.maximum(z1, 0), (z1 > 0).astype(float)
  delta2 = (_softmax(a1 @ w2.T + b2) - y) / len(x)
  delta1 = (delta2 @ w2) * g1
  want_norms = [np.linalg.norm(delta1.T @ x), np.linalg.norm(delta2.T @ a1)]
  params = [{"w": w1, "b": b1}, {"w": w2, "b": b2}]
  model = mlp.make_model(activation)
  with jax.enable_x64(True):
    got = diagnostics.diagnose(jax.tree.map(jnp.asarray, params),
                               jnp.asarray(x), jnp.asarray(y), model)
    np.testing.assert_allclose(got.grad_norms, want_norms, rtol=1e-12)
  np.testing.assert_allclose(got.saturated, [np.mean(g1 < 0.01)])
  np.testing.assert_allclose(got.dead, [np.mean(np.all(g1 == 0, 0))])
  # The third unit (z = -10, -5.5) is off for both examples: a dead ReLU,
  # a saturated sigmoid; so is the second (z = 10.5, 9.75) as a sigmoid.
  assert got.dead[0] == (1 / 3 if activation == "relu" else 0)
  assert got.saturated[0] == pytest.approx(2 / 6 if activation == "relu"
                                           else 4 / 6)


def test_derivatives_use_each_prelu_units_slope():
  model = mlp.make_model("prelu")
  params = [{"w": jnp.eye(2), "b": jnp.zeros(2),
             "alpha": jnp.array([0.005, 0.5, -0.5])},
            {"w": jnp.ones((2, 3)), "b": jnp.zeros(2)}]
  params[0]["w"], params[0]["b"] = jnp.ones((3, 2)), jnp.zeros(3)
  _, cache = mlp.forward(params, jnp.array([[-1.0, -1.0]]), model)
  gprimes = diagnostics.derivatives(params, cache, model)
  np.testing.assert_allclose(gprimes[0], [[0.005, 0.5, -0.5]])
  # A negative slope passes a gradient on: only the first unit is saturated.
  np.testing.assert_allclose(diagnostics.saturated_fractions(gprimes),
                             [1 / 3])


# Compiles a whole vmapped training (some 4 s): in the slow tier.
@pytest.mark.slow
def test_fit_tracked_diagnoses_before_and_after_every_epoch():
  model = mlp.make_model("tanh")
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 3))
  y = jax.nn.one_hot(jnp.arange(8) % 2, 2)
  data = Data(x, y, x[:2], y[:2])
  sizes, inits = [3, 4, 2], ["normal", "glorot"]
  members = lambda: jax.random.split(jax.random.PRNGKey(1), 2)
  result = diagnostics.fit_tracked(
      members(), sizes, model, data, FitOptions(epochs=2, batch_size=0),
      learning_rates=[0.1, 0.0], init=inits)
  d = result.diagnostics
  assert d.grad_norms.shape == (2, 3, 2)       # members, epochs + 1, layers
  assert d.saturated.shape == d.dead.shape == (2, 3, 1)
  assert result.history["train_loss"].shape == (2, 2)
  assert set(result.history) == set(epoch.METRICS)
  # Member i starts from mlp.init(split(keys[i])[0], ..., inits[i]).
  for member, key in enumerate(members()):
    start = mlp.init(jax.random.split(key)[0], sizes, model, inits[member])
    want = diagnostics.diagnose(start, x, y, model)
    np.testing.assert_allclose(d.grad_norms[member, 0], want.grad_norms,
                               rtol=1e-5)
  # The member with learning rate 0 stays where it started.
  np.testing.assert_allclose(d.grad_norms[1, -1], d.grad_norms[1, 0],
                             rtol=1e-5)
  assert not np.allclose(d.grad_norms[0, -1], d.grad_norms[0, 0])


def test_fit_tracked_refuses_dropout():
  model = mlp.make_model("relu", dropout=0.5)
  with pytest.raises(ValueError, match="dropout"):
    diagnostics.fit_tracked(jnp.zeros((1, 2), jnp.uint32), [1, 1], model,
                            Data(*[jnp.zeros((1, 1))] * 4), FitOptions(),
                            learning_rates=0.1)
