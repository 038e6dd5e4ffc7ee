"""The scikit-learn estimators: sklearn's own checks, pipelines, search, and
the library behind them."""

import jax
from jax.experimental.compilation_cache import compilation_cache
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nn_jax import data
from nn_jax import mlp
from nn_jax import perceptron
from nn_jax import sklearn as nn_sklearn


@pytest.fixture(scope="module", autouse=True)
def _fast_compiles(tmp_path_factory):
  """Compiles less, and faster, for this module's many small fits.

  ``train.fit`` compiles its loop once per setting (about a second on a
  CPU), and sklearn's checks fit many settings and shapes of small data
  sets, some of them more than once. Two settings, for this module only: a
  persistent compilation cache in a temporary folder, so that a fit of
  shapes and hyperparameters seen before loads its program; and
  ``jax_disable_most_optimizations``, which cuts XLA's compile time by about
  40% (the programs run a little slower, which these sizes do not notice).
  """
  settings = {"jax_compilation_cache_dir":
                  str(tmp_path_factory.mktemp("jax_cache")),
              "jax_persistent_cache_min_compile_time_secs": 0.0,
              "jax_persistent_cache_min_entry_size_bytes": 0,
              "jax_disable_most_optimizations": True}
  if jax.config.jax_compilation_cache_dir:  # the user's own cache: keep it
    del settings["jax_compilation_cache_dir"]
  saved = {name: jax.config.values[name] for name in settings}
  for name, value in settings.items():
    jax.config.update(name, value)
  compilation_cache.reset_cache()
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
  compilation_cache.reset_cache()


@parametrize_with_checks([nn_sklearn.PerceptronClassifier()])
def test_sklearn_compatible(estimator, check):
  check(estimator)


@pytest.mark.slow   # many fits, each of its own shapes and settings
@parametrize_with_checks([nn_sklearn.MLPClassifier(),
                          nn_sklearn.MLPRegressor()])
def test_sklearn_compatible_mlp(estimator, check):
  check(estimator)


def _blobs(n=40, d=4, k=3, seed=0):
  rng = np.random.RandomState(seed)
  centers = rng.normal(scale=4.0, size=(k, d))
  labels = np.arange(n) % k
  x = centers[labels] + rng.normal(size=(n, d))
  return x.astype(np.float32), labels


@pytest.mark.slow
# ------------------------------------------------------------- with sklearn
def test_grid_search_over_a_pipeline_on_iris():
  x, y = load_iris(return_X_y=True)
  pipe = make_pipeline(
      StandardScaler(),
      nn_sklearn.MLPClassifier(hidden_layer_sizes=(16,), epochs=30,
                               random_state=0))
  search = GridSearchCV(pipe, {"mlpclassifier__learning_rate": [1e-4, 0.03]},
                        cv=2)
  search.fit(x, y)
  assert search.best_params_ == {"mlpclassifier__learning_rate": 0.03}
  assert search.best_score_ > 0.85
  assert search.score(x, y) > 0.95
  proba = search.predict_proba(x)
  np.testing.assert_allclose(proba.sum(axis=1), 1.0)
  np.testing.assert_array_equal(search.classes_, [0, 1, 2])
  assert search.best_estimator_[-1].n_iter_ == 30


def test_perceptron_in_a_pipeline_on_digits():
  x, y = load_digits(return_X_y=True)
  pipe = make_pipeline(StandardScaler(),
                       nn_sklearn.PerceptronClassifier(epochs=5))
  assert pipe.fit(x[:1000], y[:1000]).score(x[1000:], y[1000:]) > 0.8
  assert pipe[-1].params_.shape == (10, 65)


@pytest.mark.slow
# ---------------------------------------------------------------- training
def test_partial_fit_continues_like_fit():
  # Weights, Adam's moments, the PRNG stream and the batch-norm running
  # statistics all go on from call to call.
  x, y = _blobs()
  kwargs = dict(hidden_layer_sizes=(8,), batchnorm=True, batch_size=8,
                epochs=3, random_state=3)
  fitted = nn_sklearn.MLPClassifier(**kwargs).fit(x, y)
  stepped = nn_sklearn.MLPClassifier(**kwargs)
  for _ in range(3):
    stepped.partial_fit(x, y, classes=[0, 1, 2])
  assert stepped.n_iter_ == fitted.n_iter_ == 3
  np.testing.assert_allclose(stepped.loss_curve_, fitted.loss_curve_,
                             rtol=1e-5)
  for got, want in zip(jax.tree.leaves((stepped.params_, stepped.stats_)),
                       jax.tree.leaves((fitted.params_, fitted.stats_))):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_partial_fit_regressor_with_momentum_and_schedule():
  x, _ = _blobs(n=30, d=3)
  y = np.stack([x[:, 0] - x[:, 1], 0.5 * x[:, 2]], axis=1)
  kwargs = dict(hidden_layer_sizes=(8,), optimizer="nesterov",
                learning_rate=0.01, schedule="step", decay_epochs=1,
                batch_size=10, epochs=2, random_state=0)
  fitted = nn_sklearn.MLPRegressor(**kwargs).fit(x, y)
  stepped = nn_sklearn.MLPRegressor(**kwargs).partial_fit(x, y)
  stepped.partial_fit(x, y)
  for got, want in zip(jax.tree.leaves(stepped.params_),
                       jax.tree.leaves(fitted.params_)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  assert fitted.predict(x).shape == (30, 2)
  assert fitted.predict(x).dtype == np.float64


def test_partial_fit_checks_classes_and_shape():
  x, y = _blobs()
  clf = nn_sklearn.MLPClassifier(hidden_layer_sizes=(8,), batchnorm=True,
                                 batch_size=8, epochs=3, random_state=3)
  with pytest.raises(ValueError, match="classes must be passed"):
    clf.partial_fit(x, y)
  clf.partial_fit(x, y, classes=[0, 1, 2])
  with pytest.raises(ValueError, match="not in classes"):
    clf.partial_fit(x, y + 1)
  with pytest.raises(ValueError, match="differs from the classes"):
    clf.partial_fit(x, y, classes=[0, 1, 2, 3])
  clf.set_params(hidden_layer_sizes=(5,))
  with pytest.raises(ValueError, match="call fit to start again"):
    clf.partial_fit(x, y)


def test_validation_curves_and_early_stopping():
  x, _ = _blobs(n=60, d=3)
  y = x[:, 0] - 2 * x[:, 1] + 0.1 * np.random.RandomState(1).normal(size=60)
  reg = nn_sklearn.MLPRegressor(
      hidden_layer_sizes=(16,), learning_rate=0.01, epochs=300,
      validation_fraction=0.25, early_stopping_patience=5, random_state=0)
  reg.fit(x, y)
  assert 5 < reg.n_iter_ < 300
  assert (len(reg.loss_curve_) == len(reg.validation_loss_curve_)
          == len(reg.validation_scores_) == reg.n_iter_)
  best = reg.best_epoch_
  assert best == reg.n_iter_ - 5
  assert np.argmin(reg.validation_loss_curve_) == best - 1
  # The validation score is R^2 on the held-out quarter (the first 15 of a
  # permutation drawn from the seed's second key, as the estimator draws
  # it), of the best epoch's weights.
  split_key = jax.random.split(jax.random.key(0, impl="rbg"), 3)[1]
  held_out = np.asarray(data.permutation(split_key, 60))[:15]
  r2 = reg.score(x[held_out], y[held_out])
  np.testing.assert_allclose(reg.validation_scores_[best - 1], r2, rtol=1e-4)
  assert r2 > 0.9


@pytest.mark.slow
def test_every_regularizer_with_both_gradient_methods():
  # Hand-written backprop and jax.grad train the same network, with the same
  # dropout masks and input noise, through every option at once.
  x, _ = _blobs(n=24, d=3)
  y = np.tanh(x[:, :2])
  kwargs = dict(hidden_layer_sizes=(6, 5), activation="prelu", alpha=0.1,
                init="he", optimizer="momentum", learning_rate=0.05,
                schedule="cosine", batch_size=8, epochs=4, l2=1e-3,
                l2_alpha=True, max_norm=2.0, dropout=0.2, batchnorm=True,
                noise_std=0.05, random_state=0)
  manual = nn_sklearn.MLPRegressor(grad="manual", **kwargs).fit(x, y)
  autodiff = nn_sklearn.MLPRegressor(grad="autodiff", **kwargs).fit(x, y)
  for got, want in zip(jax.tree.leaves((manual.params_, manual.stats_)),
                       jax.tree.leaves((autodiff.params_, autodiff.stats_))):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  assert [set(layer) for layer in manual.params_] == [
      {"w", "gamma", "beta", "alpha"}] * 2 + [{"w", "b"}]
  assert np.all(np.linalg.norm(manual.params_[0]["w"], axis=1) <= 2.0 + 1e-5)
  assert np.all(np.isfinite(manual.loss_curve_))


def test_sigmoid_outputs():
  x, y = _blobs(k=2)
  clf = nn_sklearn.MLPClassifier(hidden_layer_sizes=(8,),
                                 loss="sigmoid_cross_entropy",
                                 learning_rate=0.01, random_state=0)
  labels = np.array(["no", "yes"])[y]
  clf.fit(x, labels)
  assert clf.params_[-1]["w"].shape == (1, 8)
  assert clf.score(x, labels) == 1.0
  proba = clf.predict_proba(x)
  np.testing.assert_array_equal(clf.classes_[np.argmax(proba, 1)],
                                clf.predict(x))
  x, y = _blobs(k=3)
  clf.fit(x, y)  # one sigmoid unit per class, normalized
  assert clf.params_[-1]["w"].shape == (3, 8)
  model = mlp.make_model(clf.activation, clf.loss)
  o = np.asarray(mlp.predict(clf.params_, np.asarray(x, np.float32), model),
                 np.float64)
  np.testing.assert_allclose(clf.predict_proba(x),
                             o / o.sum(1, keepdims=True), rtol=1e-5)
  # Output biases of -200: every unit's output rounds to 0 in float32, the
  # ratios remain.
  clf.params_[-1]["b"] = clf.params_[-1]["b"] - 200
  assert np.all(np.asarray(mlp.predict(clf.params_, x, model)) == 0)
  proba = clf.predict_proba(x)
  assert np.all(np.isfinite(proba))
  np.testing.assert_allclose(proba.sum(1), 1)
  _, cache = mlp.forward(clf.params_, x, model)
  z = np.asarray(cache["zs"][-1], np.float64)
  np.testing.assert_allclose(np.log(proba[:, 1:] / proba[:, :1]),
                             z[:, 1:] - z[:, :1], rtol=1e-4)
  np.testing.assert_array_equal(clf.predict(x), np.argmax(z, 1))
  # Class 0 2,000 logits further down: its probability underflows even in
  # float64, its log does not.
  clf.params_[-1]["b"] = clf.params_[-1]["b"] - np.array([2000, 0, 0],
                                                         np.float32)
  log_proba = clf.predict_log_proba(x)
  assert np.all(np.isfinite(log_proba)) and np.all(clf.predict_proba(x)[:, 0]
                                                   == 0)
  np.testing.assert_allclose(log_proba[:, 0] - np.max(log_proba[:, 1:], 1),
                             -2000 + z[:, 0] - np.max(z[:, 1:], 1), rtol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="threshold"), "activation='threshold'"),
    (dict(optimizer="rmsprop"), "optimizer='rmsprop'"),
    (dict(loss="linear_squared"), "does not fit the classification targets "
     "y; use one of"),
    (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes"),
    (dict(early_stopping_patience=3), "validation_fraction"),
    (dict(batch_size=-1), "batch_size"),
    (dict(dropout=1.0), "dropout"),
    (dict(random_state="seed"), "random_state"),
    (dict(validation_fraction=0.99), "no training examples"),
])
def test_bad_hyperparameters_name_the_argument(kwargs, match):
  clf = nn_sklearn.MLPClassifier(**kwargs)  # no checks in __init__
  with pytest.raises(ValueError, match=match):
    clf.fit(*_blobs())


# -------------------------------------------------------------- perceptron
def test_perceptron_is_the_library_perceptron():
  x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
  y = np.array([0, 0, 0, 1])  # AND
  clf = nn_sklearn.PerceptronClassifier(epochs=20).fit(x, y)
  want = perceptron.train(x, y, max_epochs=20)
  np.testing.assert_array_equal(clf.params_[0], want.w)
  assert clf.converged_ and clf.n_iter_ == int(want.epochs)
  assert clf.loss_curve_[-1] == 0
  np.testing.assert_array_equal(clf.predict(x), y)
  np.testing.assert_array_equal(clf.decision_function(x) > 0, y == 1)


def test_perceptron_one_vs_rest_and_partial_fit():
  x, y = _blobs(n=60, d=2, k=3, seed=2)
  clf = nn_sklearn.PerceptronClassifier().fit(x, y)
  assert clf.params_.shape == (3, 3)
  assert clf.score(x, y) > 0.9
  online = nn_sklearn.PerceptronClassifier(shuffle=True, random_state=0)
  for _ in range(5):
    online.partial_fit(x, y, classes=[0, 1, 2])
  assert online.n_iter_ == 5 and len(online.loss_curve_) == 5
  assert online.loss_curve_[-1] < online.loss_curve_[0]
  assert online.score(x, y) > 0.8


def test_regression_targets_beyond_float32_are_named():
  # 1e39 became inf in float32 and was reported as NaN or Inf.
  with pytest.raises(ValueError, match="y holds 1e[+]39, beyond the range of "
                     "the 32-bit floats"):
    nn_sklearn.MLPRegressor(epochs=1).fit(np.ones((4, 2)),
                                          [1.0, 2.0, 3.0, 1e39])
