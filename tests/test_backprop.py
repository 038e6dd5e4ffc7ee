"""Hand-written backprop against jax.grad (float64) and finite differences."""

import chex
import jax
import jax.numpy as jnp
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from nn_jax import activations
from nn_jax import backprop
from nn_jax import gradcheck
from nn_jax import losses
from nn_jax import mlp

TOL = 1e-10
HIDDEN = (5, 4, 6)

# Gradient tests fail on any NaN produced inside JAX.
pytestmark = pytest.mark.usefixtures("debug_nans")


# Without a hidden layer the activation is never used: one case suffices.
DEPTHS_AND_ACTIVATIONS = [
    (depth, activation) for depth in range(4)
    for activation in (activations.DIFFERENTIABLE if depth
                       else activations.DIFFERENTIABLE[:1])]


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("depth,activation", DEPTHS_AND_ACTIVATIONS)
@pytest.mark.parametrize("loss", losses.NAMES)
def test_manual_matches_autodiff(activation, loss, depth, batch):
  model = mlp.make_model(activation, loss)
  sizes = [4, *HIDDEN[:depth], 3]
  with jax.enable_x64(True):
    key = jax.random.PRNGKey(depth * 10 + batch)
    params, x, y = gradcheck.random_problem(key, model, sizes, batch)
    value_m, manual = backprop.gradients(params, x, y, model, "manual")
    value_a, auto = backprop.gradients(params, x, y, model, "autodiff")
    chex.assert_trees_all_equal_structs(manual, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(manual, params)
    assert float(value_m) == pytest.approx(float(value_a), rel=1e-14)
    assert gradcheck.relative_error(manual, auto) <= TOL


# Every new shape compiles its primitives anew, so few, small examples.
@settings(max_examples=10)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5),
       batch=st.integers(1, 6),
       activation=st.sampled_from(activations.DIFFERENTIABLE),
       loss=st.sampled_from(losses.NAMES),
       seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_random_architectures(sizes, batch, activation, loss, seed):
  model = mlp.make_model(activation, loss)
  if model.loss.task == losses.MULTICLASS and sizes[-1] == 1:
    sizes = [*sizes[:-1], 2]
  with jax.enable_x64(True):
    params, x, y = gradcheck.random_problem(jax.random.PRNGKey(seed), model,
                                            sizes, batch)
    assert gradcheck.manual_vs_autodiff(params, x, y, model) <= TOL


@pytest.mark.parametrize("activation,loss", [
    ("sigmoid", "sigmoid_squared"), ("tanh", "softmax_cross_entropy"),
    ("prelu", "linear_sum_squared"), ("leaky_relu", "softmax_squared")])
def test_finite_differences(activation, loss):
  model = mlp.make_model(activation, loss)
  with jax.enable_x64(True):
    params, x, y = gradcheck.random_problem(jax.random.PRNGKey(3), model,
                                            [3, 4, 2], 5)
    _, manual = backprop.gradients(params, x, y, model, "manual")
    numeric = gradcheck.finite_differences(
        lambda p: backprop.loss(p, x, y, model), params)
    assert gradcheck.relative_error(manual, numeric) <= 1e-7


def test_relative_error():
  a = {"w": jnp.array([1.0, 0.0]), "b": jnp.zeros(2)}
  b = {"w": jnp.array([1.0, 1e-3]), "b": jnp.zeros(2)}
  assert gradcheck.relative_error(a, a) == 0.0
  assert gradcheck.relative_error(a, b) == pytest.approx(1e-3, rel=1e-3)


def test_unknown_method():
  model = mlp.make_model()
  params = mlp.init(jax.random.PRNGKey(0), [2, 2], model)
  with pytest.raises(ValueError, match="manual, autodiff"):
    backprop.gradients(params, jnp.ones((1, 2)), jnp.ones((1, 2)), model,
                       "numeric")


@pytest.mark.parametrize("method", backprop.METHODS)
def test_threshold_cannot_be_backpropagated(method):
  # jax.grad would give zeros below the output layer, not an error.
  model = mlp.Model(activations.threshold, losses.softmax_cross_entropy)
  params = mlp.init(jax.random.PRNGKey(0), [2, 3, 2], model)
  with pytest.raises(ValueError, match="no derivative"):
    backprop.gradients(params, jnp.ones((1, 2)), jnp.ones((1, 2)), model,
                       method)
  # Without hidden layers the activation is not used (one-hot targets:
  # rows of ones are refused for softmax cross-entropy).
  backprop.gradients(params[-1:], jnp.ones((1, 3)), jnp.array([[1.0, 0.0]]),
                     model, method)


@pytest.mark.parametrize("method", backprop.METHODS)
def test_targets_must_be_batch_by_outputs(method):
  # A 1-D y would broadcast with the (batch, 1) outputs to (batch, batch).
  model = mlp.make_model("sigmoid", "sigmoid_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [2, 3, 1], model)
  x, y = jnp.ones((4, 2)), jnp.ones((4,))
  with pytest.raises(ValueError, match=r"y must have shape \(batch, n_out\) "
                     r"= \(4, 1\).*got \(4,\)"):
    backprop.gradients(params, x, y, model, method)
  with pytest.raises(ValueError, match=r"= \(4, 1\)"):
    backprop.loss(params, x, y, model)
  # From a forward cache too (cost broadcast to a wrong value, backward
  # failed in a matmul).
  _, cache = mlp.forward(params, x, model, train=True)
  for from_cache in (backprop.cost, backprop.backward):
    with pytest.raises(ValueError, match=r"y must have shape \(batch, "
                       r"n_out\) = \(4, 1\), the outputs' in the cache; "
                       r"got \(4,\)"):
      from_cache(params, cache, y, model)


@pytest.mark.parametrize("kwargs", [{}, {"dropout": 0.3}, {"batchnorm": True},
                                    {"l2": 0.1}],
                         ids=["plain", "dropout", "batchnorm", "l2"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "prelu"])
@pytest.mark.parametrize("sizes", [[4, 5, 5, 3], [5, 5, 6, 6, 6, 2]])
def test_skip_connections(sizes, activation, kwargs):
  model = mlp.make_model(activation, "softmax_cross_entropy", residual=True,
                         **kwargs)
  with jax.enable_x64(True):
    params, x, y = gradcheck.random_problem(jax.random.PRNGKey(3), model,
                                            sizes, 6)
    error = gradcheck.manual_vs_autodiff(params, x, y, model,
                                         jax.random.PRNGKey(4))
  assert error <= TOL


def test_skip_connection_adds_the_layer_input():
  plain = mlp.make_model("tanh", "linear_squared")
  skip = plain._replace(residual=True)
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 4, 2], plain)
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
  assert mlp.skips([3, 4, 4, 2], skip) == [False, True, False]
  h1 = jnp.tanh(x @ params[0]["w"].T + params[0]["b"])
  h2 = h1 + jnp.tanh(h1 @ params[1]["w"].T + params[1]["b"])
  expected = h2 @ params[2]["w"].T + params[2]["b"]
  chex.assert_trees_all_close(mlp.predict(params, x, skip), expected,
                              rtol=1e-5)
  with pytest.raises(ValueError, match="as many units as its input"):
    mlp.init(jax.random.PRNGKey(0), [3, 4, 5, 2], skip)


@pytest.mark.parametrize("kwargs,sizes", [
    ({}, [4, 5, 3]), ({"residual": True}, [5, 5, 5, 3]),
    ({"dropout": 0.3, "batchnorm": True}, [4, 6, 5, 2]), ({}, [4, 3])],
    ids=["plain", "skips", "dropout_batchnorm", "one_layer"])
def test_input_gradient(kwargs, sizes):
  model = mlp.make_model("tanh", "softmax_cross_entropy", **kwargs)
  with jax.enable_x64(True):
    params, x, y = gradcheck.random_problem(jax.random.PRNGKey(5), model,
                                            sizes, 4)
    key = jax.random.PRNGKey(6)
    _, cache = mlp.forward(params, x, model, train=True, key=key)
    grads, dE_dx = backprop.backward(params, cache, y, model,
                                     input_grad=True)
    expected = jax.grad(lambda x: backprop.loss(params, x, y, model, key))(x)
    assert gradcheck.relative_error(dE_dx, expected) <= TOL
    chex.assert_trees_all_equal(grads, backprop.backward(params, cache, y,
                                                         model))


@pytest.mark.parametrize("y,row", [([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], 0),
                                   ([[0.2, 0.3, 0.5], [0.0, 0.0, 0.0]], 1)])
def test_softmax_cross_entropy_refuses_rows_not_summing_to_1(y, row):
  # Multi-label or unnormalized targets: the hand-written delta
  # softmax(z) - y would be wrong for them, so they are refused by name.
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [4, 5, 3], model)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 4))
  with pytest.raises(ValueError, match=f"y rows must sum to 1 for "
                     f"softmax_cross_entropy .* row {row} sums to"):
    backprop.gradients(params, x, jnp.asarray(y), model, "manual")
  _, cache = mlp.forward(params, x, model, train=True)
  with pytest.raises(ValueError, match="y rows must sum to 1"):
    backprop.backward(params, cache, jnp.asarray(y), model)
  # Class probabilities pass, and match autodiff.
  soft = jnp.asarray([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
  _, manual = backprop.gradients(params, x, soft, model, "manual")
  _, auto = backprop.gradients(params, x, soft, model, "autodiff")
  chex.assert_trees_all_close(manual, auto, rtol=1e-5, atol=1e-6)
