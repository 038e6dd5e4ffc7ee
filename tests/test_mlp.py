"""Network initialisation and forward pass."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import mlp


@pytest.mark.parametrize("scheme", mlp.INIT_SCHEMES)
@pytest.mark.parametrize("sizes", [[3, 1], [4, 5, 2], [2, 8, 8, 8, 3]])
def test_init_shapes(scheme, sizes):
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), sizes, model, scheme)
  assert len(params) == len(sizes) - 1
  for layer, n_in, n_out in zip(params, sizes[:-1], sizes[1:]):
    chex.assert_shape(layer["w"], (n_out, n_in))
    chex.assert_shape(layer["b"], (n_out,))
    assert set(layer) == {"w", "b"}


@pytest.mark.parametrize("x64", [False, True])
def test_init_from_the_hosts_bits_is_jaxs(x64, monkeypatch):
  # NumPy draws the random bits and XLA only turns them into numbers: the
  # same parameters, bit for bit, as one program drawing them from the key
  # (what init does for networks of more than HOST_BITS_MAX numbers), for
  # every scheme and both precisions.
  model = mlp.make_model("relu", "softmax_cross_entropy")
  key = jax.random.PRNGKey(7)
  with jax.enable_x64(x64):
    for dtype in (jnp.float32, jnp.float64):   # 64 bits off: float32
      for scheme in mlp.INIT_SCHEMES:
        with monkeypatch.context() as m:   # the host's bits, not the key's
          m.setattr(mlp, "_from_key", None)
          host = mlp.init(key, [5, 9, 3], model, scheme, dtype)
        with monkeypatch.context() as m:
          m.setattr(mlp, "HOST_BITS_MAX", 0)
          in_xla = mlp.init(key, [5, 9, 3], model, scheme, dtype)
        chex.assert_trees_all_equal(host, in_xla)
        chex.assert_trees_all_equal_dtypes(host, in_xla)
        assert host[0]["w"].dtype == (dtype if x64 else jnp.float32)


def test_init_schemes_scale():
  model = mlp.make_model("relu", "softmax_cross_entropy")
  key = jax.random.PRNGKey(1)
  small = mlp.init(key, [200, 300, 2], model, "small_uniform")[0]["w"]
  assert float(jnp.max(jnp.abs(small))) <= 0.05
  glorot = mlp.init(key, [200, 300, 2], model, "glorot")[0]["w"]
  assert float(jnp.max(jnp.abs(glorot))) <= (6 / 500) ** 0.5
  he = mlp.init(key, [200, 300, 2], model, "he")[0]["w"]
  assert float(jnp.std(he)) == pytest.approx((2 / 200) ** 0.5, rel=0.05)
  normal = mlp.init(key, [200, 300, 2], model, "normal")
  assert float(jnp.std(normal[0]["w"])) == pytest.approx(1.0, rel=0.05)
  assert float(jnp.std(normal[0]["b"])) == pytest.approx(1.0, rel=0.3)
  scaled = mlp.init(key, [200, 300, 2], model, "scaled_normal")[0]["w"]
  assert float(jnp.std(scaled)) == pytest.approx(200 ** -0.5, rel=0.05)
  fan_in = mlp.init(key, [200, 300, 2], model, "uniform_fan_in")[0]
  for a in fan_in.values():   # U(-1/sqrt(200), 1/sqrt(200)): std bound/sqrt(3)
    assert float(jnp.max(jnp.abs(a))) <= 200 ** -0.5
    assert float(jnp.std(a)) == pytest.approx((600 ** -0.5), rel=0.15)


def test_prelu_adds_slopes_to_hidden_layers_only():
  model = mlp.make_model("prelu", "softmax_cross_entropy", alpha=0.1)
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 5, 2], model)
  assert [sorted(l) for l in params] == [["alpha", "b", "w"]] * 2 + [["b", "w"]]
  np.testing.assert_allclose(params[1]["alpha"], 0.1)


def test_single_neuron_is_logistic_regression():
  model = mlp.make_model("sigmoid", "sigmoid_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [3, 1], model)
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
  o, cache = mlp.forward(params, x, model)
  expected = jax.nn.sigmoid(x @ params[0]["w"].T + params[0]["b"])
  np.testing.assert_allclose(o, expected, rtol=1e-6)
  assert len(cache["zs"]) == 1 and len(cache["activations"]) == 1


def test_forward_matches_layer_by_layer():
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 2], model)
  x = jax.random.normal(jax.random.PRNGKey(1), (6, 3))
  o, cache = mlp.forward(params, x, model)
  h = jnp.tanh(x @ params[0]["w"].T + params[0]["b"])
  z = h @ params[1]["w"].T + params[1]["b"]
  np.testing.assert_allclose(cache["activations"][1], h, rtol=1e-6)
  np.testing.assert_allclose(o, jax.nn.softmax(z), rtol=1e-6)
  chex.assert_shape(o, (6, 2))


def test_bad_sizes_and_inputs():
  model = mlp.make_model()
  with pytest.raises(ValueError, match="at least an input and an output"):
    mlp.init(jax.random.PRNGKey(0), [3], model)
  with pytest.raises(ValueError, match=">= 1"):
    mlp.init(jax.random.PRNGKey(0), [3, 0, 2], model)
  with pytest.raises(ValueError, match="init scheme"):
    mlp.init(jax.random.PRNGKey(0), [3, 2], model, "zeros!")
  params = mlp.init(jax.random.PRNGKey(0), [3, 2], model)
  with pytest.raises(ValueError, match="2 features but the network expects 3"):
    mlp.forward(params, jnp.ones((4, 2)), model)
  with pytest.raises(ValueError, match=r"2-D array .*got shape \(3,\)"):
    mlp.predict(params, jnp.ones(3), model)
  with pytest.raises(ValueError, match=r"sizes must be integers; got \[3.7, "
                     r"2\]"):
    mlp.init(jax.random.PRNGKey(0), [3.7, 2], model)


def test_accuracy():
  o = jnp.array([[0.9, 0.1], [0.2, 0.8]])
  y = jnp.array([[1.0, 0.0], [1.0, 0.0]])
  assert float(mlp.accuracy(o, y, "multiclass")) == 0.5
  assert float(mlp.accuracy(jnp.array([[0.7], [0.2]]), jnp.array([[1.0], [1.0]]),
                            "binary")) == 0.5
  assert np.isnan(float(mlp.accuracy(o, y, "regression")))


@pytest.mark.parametrize("l2", [-0.1, float("nan"), float("inf")])
def test_a_model_refuses_an_l2_that_is_no_strength(l2):
  # NaN passed "l2 < 0" and made every cost NaN.
  with pytest.raises(ValueError, match="l2 must be finite and >= 0"):
    mlp.make_model("relu", "linear_squared", l2=l2)


def test_forward_takes_nested_lists_as_arrays():
  # A list of rows failed with "'list' object has no attribute 'shape'".
  model = mlp.make_model("relu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [2, 3, 2], model)
  rows = [[0.0, 1.0], [1.0, 1.0]]
  o, _ = mlp.forward(params, rows, model)
  want, _ = mlp.forward(params, jnp.asarray(rows), model)
  np.testing.assert_array_equal(o, want)
