"""Regularization and training techniques: penalties, max-norm, dropout,
batch norm, augmentation, early stopping, schedules, pretraining."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nn_jax import gradcheck
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import pretrain
from nn_jax import regularization as reg
from nn_jax import train

TOL = 1e-10


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "prelu", "tanh"])
@pytest.mark.parametrize("kwargs", [
    {"l2": 0.3}, {"dropout": 0.4}, {"batchnorm": True},
    {"l2": 0.1, "l2_alpha": True},
    {"dropout": 0.3, "batchnorm": True, "l2": 0.05}],
    ids=["l2", "dropout", "batchnorm", "l2_alpha", "all"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sigmoid_squared"])
def test_manual_matches_autodiff(activation, kwargs, loss):
  model = mlp.make_model(activation, loss, **kwargs)
  with jax.enable_x64(True):
    params, x, y = gradcheck.random_problem(jax.random.PRNGKey(2), model,
                                            [4, 5, 6, 3], 7)
    error = gradcheck.manual_vs_autodiff(params, x, y, model,
                                         jax.random.PRNGKey(9))
  assert error <= TOL


def test_l2_penalizes_weights_only():
  model = mlp.make_model("prelu", "linear_squared", l2=0.5)
  params = mlp.init(jax.random.PRNGKey(0), [2, 3, 1], model)
  expected = 0.25 * sum(float(jnp.sum(l["w"] ** 2)) for l in params)
  assert float(reg.l2_penalty(params, 0.5)) == pytest.approx(expected,
                                                             rel=1e-6)
  grads = reg.l2_penalty_grad(params, 0.5)
  for g, layer in zip(grads, params):
    np.testing.assert_allclose(g["w"], 0.5 * layer["w"], rtol=1e-6)
    assert not np.any(g["b"]) and not np.any(g.get("alpha", 0))
  with_alpha = reg.l2_penalty_grad(params, 0.5, include_alpha=True)
  np.testing.assert_allclose(with_alpha[0]["alpha"], 0.5 * params[0]["alpha"])


def test_max_norm_bounds_every_unit():
  model = mlp.make_model("relu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [4, 8, 3], model, "normal")
  projected = reg.max_norm(params, 1.5)
  for before, after in zip(params, projected):
    norms = np.linalg.norm(after["w"], axis=1)
    assert np.all(norms <= 1.5 + 1e-5)
    norms_before = np.linalg.norm(before["w"], axis=1)
    small = norms_before <= 1.5
    np.testing.assert_allclose(after["w"][small], before["w"][small])
    # A longer row is scaled back onto the bound, keeping its direction.
    assert not np.all(small)
    np.testing.assert_allclose(
        after["w"][~small],
        before["w"][~small] * (1.5 / norms_before[~small])[:, None],
        rtol=1e-5)


def test_max_norm_holds_through_training():
  data = _data(32)
  model = mlp.make_model("relu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [3, 16, 2], model, "normal")
  result = train.fit(
      params, model, optax.sgd(0.5), data,
      train.FitOptions(epochs=5, batch_size=4, max_norm=0.8, epochs_per_call=5),
      key=jax.random.PRNGKey(1))
  for layer in result.params:
    assert np.all(np.linalg.norm(layer["w"], axis=1) <= 0.8 + 1e-5)


def test_dropout_is_identity_at_evaluation():
  plain = mlp.make_model("tanh", "softmax_cross_entropy")
  dropped = plain._replace(dropout=0.5)
  params = mlp.init(jax.random.PRNGKey(0), [3, 6, 6, 2], plain)
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
  np.testing.assert_array_equal(mlp.predict(params, x, plain),
                                mlp.predict(params, x, dropped))
  out_train, _ = mlp.forward(params, x, dropped, train=True,
                             key=jax.random.PRNGKey(2))
  assert not np.allclose(out_train, mlp.predict(params, x, plain))


def test_dropout_keeps_the_expectation():
  a = jnp.linspace(-2, 2, 7)
  masks = jax.vmap(lambda k: reg.dropout_mask(k, a.shape, 0.3, a.dtype))(
      jax.random.split(jax.random.PRNGKey(0), 20000))
  np.testing.assert_allclose(np.unique(np.asarray(masks)), [0.0, 1 / 0.7],
                             rtol=1e-6)
  np.testing.assert_allclose(jnp.mean(masks * a, axis=0), a, atol=0.03)
  assert float(jnp.mean(masks == 0)) == pytest.approx(0.3, abs=0.01)


def test_batchnorm_refuses_batches_of_one():
  model = mlp.make_model("relu", "softmax_cross_entropy", batchnorm=True)
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 2], model)
  for n, batch_size in ((8, 1), (1, 0)):
    with pytest.raises(ValueError, match="at least 2 examples"):
      train.fit(
          params, model, optax.sgd(0.1), _data(n),
          train.FitOptions(epochs=1, batch_size=batch_size),
          key=jax.random.PRNGKey(1))


def test_batchnorm_normalizes_each_unit_in_training():
  model = mlp.make_model("relu", "softmax_cross_entropy", batchnorm=True)
  params = mlp.init(jax.random.PRNGKey(0), [3, 5, 4, 2], model)
  params[0]["gamma"] = jnp.arange(1.0, 6.0)
  params[0]["beta"] = jnp.arange(5.0)
  x = 3 + 2 * jax.random.normal(jax.random.PRNGKey(1), (64, 3))
  _, cache = mlp.forward(params, x, model, train=True)
  for z_hat, _ in cache["bn"]:
    np.testing.assert_allclose(jnp.mean(z_hat, 0), 0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(z_hat, 0), 1, atol=1e-3)
  # Scale and shift follow the normalization.
  np.testing.assert_allclose(jnp.mean(cache["zs"][0], 0), params[0]["beta"],
                             atol=1e-4)
  np.testing.assert_allclose(jnp.std(cache["zs"][0], 0), params[0]["gamma"],
                             rtol=1e-3)


def test_batchnorm_uses_running_statistics_at_evaluation():
  data = _data(64)
  model = mlp.make_model("relu", "softmax_cross_entropy", batchnorm=True)
  params = mlp.init(jax.random.PRNGKey(0), [3, 8, 2], model)
  result = train.fit(
      params, model, optax.sgd(0.1), data,
      train.FitOptions(epochs=30, batch_size=16, epochs_per_call=30),
      key=jax.random.PRNGKey(1))
  z = data.x @ result.params[0]["w"].T
  # Running averages approach the whole-set statistics of z.
  np.testing.assert_allclose(result.stats[0]["mean"], jnp.mean(z, 0),
                             atol=0.1)
  single = mlp.predict(result.params, data.x[:1], model, result.stats)
  batch = mlp.predict(result.params, data.x, model, result.stats)[:1]
  np.testing.assert_allclose(single, batch, rtol=1e-5)
  with pytest.raises(ValueError, match="running statistics"):
    mlp.forward(result.params, data.x, model)


def _data(n, n_val=0, seed=0):
  kx, kn = jax.random.split(jax.random.PRNGKey(seed))
  x = jax.random.normal(kx, (n + n_val, 3))
  labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(jnp.int32)
  flip = jax.random.bernoulli(kn, 0.2, labels.shape)
  y = jax.nn.one_hot(jnp.where(flip, 1 - labels, labels), 2)
  return train.Data(x[:n], y[:n], x[n:], y[n:])


def test_early_stopping_returns_best_validation_epoch():
  data = _data(24, n_val=40)
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [3, 64, 2], model)
  result = train.fit(
      params, model, optax.adam(0.05), data,
      train.FitOptions(epochs=300, batch_size=0, early_stopping_patience=10, epochs_per_call=25),
      key=jax.random.PRNGKey(1))
  val = result.history["val_loss"]
  assert result.early_stopped and result.epochs_run < 300
  assert result.best_epoch == int(np.argmin(val)) + 1
  assert result.epochs_run == result.best_epoch + 10
  best_loss, _ = train.evaluate(result.params, data.x_val, data.y_val, model)
  assert float(best_loss) == pytest.approx(float(val.min()), rel=1e-5)
  assert val[-1] > val.min()


def test_divergence_keeps_last_finite_parameters():
  data = _data(16)
  model = mlp.make_model("relu", "linear_squared")
  params = mlp.init(jax.random.PRNGKey(0), [3, 8, 2], model)
  fit = lambda epochs: train.fit(
      params, model, optax.sgd(1.2), data,
      train.FitOptions(epochs=epochs, batch_size=4, epochs_per_call=epochs),
      key=jax.random.PRNGKey(1))
  result = fit(50)
  # The cost explodes over a few epochs (1e1, 1e29, then NaN).
  k = result.epochs_run
  assert result.diverged and 2 <= k < 50
  assert np.isfinite(result.history["train_loss"][k - 2])
  assert not np.isfinite(result.history["train_loss"][-1])
  # The parameters are those after the last finite epoch, not the initial.
  before = fit(k - 1)
  assert not before.diverged
  chex.assert_trees_all_close(result.params, before.params, rtol=1e-6)
  assert not np.allclose(result.params[0]["w"], params[0]["w"])


def test_random_shift_moves_pixels():
  image = jnp.zeros((4, 4)).at[1, 2].set(1.0)
  x = jnp.tile(image.reshape(1, 16), (200, 1))
  shifted = reg.random_shift(jax.random.PRNGKey(0), x, (4, 4), 1)
  assert np.all(np.asarray(shifted.sum(1)) == 1.0)   # nothing falls off
  positions = {tuple(np.argwhere(np.asarray(s).reshape(4, 4))[0])
               for s in shifted}
  assert positions == {(r, c) for r in (0, 1, 2) for c in (1, 2, 3)}


def test_gaussian_noise():
  x = jnp.zeros((1000, 10))
  noisy = reg.gaussian_noise(jax.random.PRNGKey(0), x, 0.5)
  assert float(jnp.std(noisy)) == pytest.approx(0.5, rel=0.05)


def test_augmentation_runs_inside_the_loop():
  data = _data(16)
  x = jnp.tile(data.x, (1, 3))[:, :9]
  model = mlp.make_model("relu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [9, 4, 2], model)
  options = train.FitOptions(epochs=2, batch_size=4)
  d = data._replace(x=x, x_val=x[:0])
  fit = lambda options, **kw: train.fit(params, model, optax.sgd(0.1), d,
                                        options, key=jax.random.PRNGKey(1),
                                        **kw).params
  plain = fit(options)
  shifted = fit(options.replace(max_shift=1, noise_std=0.1,
                                augment=("shift", "noise")),
                image_shape=(3, 3))
  with pytest.raises(AssertionError):
    chex.assert_trees_all_close(plain, shifted)
  with pytest.raises(ValueError, match="image"):
    fit(options.replace(max_shift=1, augment=("shift",)))


def test_schedules():
  make = lambda name: optimizers.make_schedule(name, 1.0, steps_per_epoch=10,
                                          epochs=40, decay_rate=0.5,
                                          decay_epochs=2)
  assert make("constant") == 1.0   # a number: no schedule to call
  step = make("step")
  assert [float(step(s)) for s in (0, 19, 20, 40)] == [1.0, 1.0, 0.5, 0.25]
  assert float(make("exponential")(10)) == pytest.approx(2 ** -0.5)
  cosine = make("cosine")
  assert float(cosine(0)) == 1.0 and float(cosine(400)) == pytest.approx(0)
  assert float(cosine(200)) == pytest.approx(0.5)
  with pytest.raises(ValueError, match="schedule"):
    make("linear")


def test_prelu_slopes_are_learned():
  data = _data(32)
  model = mlp.make_model("prelu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [3, 8, 2], model)
  result = train.fit(
      params, model, optax.sgd(0.5), data,
      train.FitOptions(epochs=20, batch_size=4), key=jax.random.PRNGKey(1))
  assert not np.allclose(result.params[0]["alpha"], 0.25)
  # Weight decay on the slopes pulls them towards 0.
  decayed = train.fit(
      params, model._replace(l2=0.5, l2_alpha=True), optax.sgd(0.5), data,
      train.FitOptions(epochs=20, batch_size=4),
      key=jax.random.PRNGKey(1)).params[0]["alpha"]
  assert float(jnp.mean(jnp.abs(decayed))) < float(
      jnp.mean(jnp.abs(result.params[0]["alpha"])))


def _best_linear_decoder_cost(encoder, model, a):
  """Half the mean squared error of the least-squares linear decoder (with
  bias) of ``a`` from the encoder's hidden units: the least any decoder of
  that encoder can reach under the autoencoders' cost."""
  h = model.activation.fn(a @ encoder["w"].T + encoder["b"], None)
  h1 = np.concatenate([np.asarray(h, np.float64), np.ones((len(a), 1))], 1)
  a = np.asarray(a, np.float64)
  decoder = np.linalg.lstsq(h1, a, rcond=None)[0]
  return 0.5 * np.sum((h1 @ decoder - a) ** 2) / len(a)


@pytest.mark.slow
def test_pretraining_learns_to_reconstruct():
  x = jax.random.normal(jax.random.PRNGKey(0), (64, 6))
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(1), [6, 4, 3, 2], model)
  new, costs = pretrain.pretrain(
      jax.random.PRNGKey(2), params, model, x, epochs=30, batch_size=8,
      make_optimizer=lambda: optax.adam(0.01))
  chex.assert_trees_all_equal_shapes(new, params)
  chex.assert_trees_all_equal(new[-1], params[-1])   # output layer untouched
  assert len(costs) == 2
  a = x                      # each hidden layer's input, from the new layers
  for l in range(2):
    # The returned encoder is the trained one: it reconstructs its input
    # better than the initial one can with any decoder, and its reported
    # cost is reached by its own trained decoder (so not below the best).
    trained = _best_linear_decoder_cost(new[l], model, a)
    initial = _best_linear_decoder_cost(params[l], model, a)
    assert trained < 0.9 * initial
    assert costs[l] >= trained - 1e-4
    a = model.activation.fn(a @ new[l]["w"].T + new[l]["b"], None)


_SGD = optax.sgd(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{"batchnorm": True}, {"dropout": 0.5}])
def test_each_autoencoder_gets_the_networks_own_hidden_output(kwargs,
                                                              monkeypatch):
  # With batch norm the layer computes g(gamma BN(w a) + beta), not the
  # autoencoder's g(w a + b); the next autoencoder must see the former.
  fed = []
  fit = train.fit
  monkeypatch.setattr(train, "fit", lambda *a, **k: fed.append(a[3].x) or
                      fit(*a, **k))
  x = jax.random.normal(jax.random.PRNGKey(0), (32, 5))
  model = mlp.make_model("sigmoid", "softmax_cross_entropy", **kwargs)
  params = mlp.init(jax.random.PRNGKey(1), [5, 4, 3, 2], model)
  new, _ = pretrain.pretrain(jax.random.PRNGKey(2), params, model, x,
                             epochs=3, batch_size=8,
                             make_optimizer=lambda: _SGD)  # compiled once
  _, cache = mlp.forward(new, x, model._replace(dropout=0.0), train=True)
  assert len(fed) == 2
  for l in range(2):
    np.testing.assert_allclose(fed[l], cache["activations"][l], atol=1e-6)


def test_pretraining_refuses_skip_connections():
  model = mlp.make_model("relu", "softmax_cross_entropy", residual=True)
  params = mlp.init(jax.random.PRNGKey(1), [3, 4, 4, 2], model)
  with pytest.raises(ValueError, match="cannot be combined with residual"):
    pretrain.pretrain(jax.random.PRNGKey(2), params, model, jnp.ones((4, 3)),
                      epochs=1, batch_size=2,
                      make_optimizer=lambda: optax.sgd(0.1))
