"""Regression: the test scores, experiments.train on a regression data set and
experiments.regression (the width sweep) end to end at tiny sizes (slow)."""

import json
import os
import subprocess
import sys

import chex
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics

from nn_jax import backprop
from nn_jax import data
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_regression_scores_match_scikit_learn(n, k, seed):
  rng = np.random.default_rng(seed)
  y, o = rng.normal(size=(n, k)), rng.normal(size=(n, k))
  scores = experiment.regression_scores(y, o)
  assert scores["mse"] == pytest.approx(metrics.mean_squared_error(y, o))
  assert scores["r2"] == pytest.approx(metrics.r2_score(y, o))
  np.testing.assert_allclose(
      scores["r2_per_output"],
      metrics.r2_score(y, o, multioutput="raw_values"))


def test_regression_scores_of_a_perfect_and_a_constant_fit():
  y = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
  scores = experiment.regression_scores(y, y)
  assert scores["mse"] == 0 and scores["r2_per_output"][0] == 1
  assert np.isnan(scores["r2_per_output"][1])   # constant targets
  mean = experiment.regression_scores(y[:, :1], np.full((3, 1), 3.0))
  assert mean["r2"] == 0 and mean["mse"] == pytest.approx(8 / 3)
  with pytest.raises(ValueError, match="same shape"):
    experiment.regression_scores(y, y[:, :1])


def test_sum_form_at_half_the_rate_takes_the_same_steps():
  # E = sum (o - y)^2 has twice the gradient of E = 1/2 sum (y - o)^2, so
  # SGD with momentum at eta / 2 on the first takes the steps of eta on the
  # second.
  ds = data.load("lissajous", n_samples=40)
  x, y = jnp.asarray(ds.x), jnp.asarray(ds.y)
  half = mlp.make_model("tanh", "linear_squared")
  whole = mlp.make_model("tanh", "linear_sum_squared")
  params = mlp.init(jax.random.PRNGKey(0), [1, 6, 2], half)
  cost_half, grads_half = backprop.gradients(params, x, y, half, "manual")
  cost_whole, grads_whole = backprop.gradients(params, x, y, whole, "manual")
  assert float(cost_whole) == pytest.approx(2 * float(cost_half), rel=1e-6)
  chex.assert_trees_all_close(jax.tree.map(lambda g: 2 * g, grads_half),
                              grads_whole, rtol=1e-6)
  fits = [train.fit(params, model, optax.sgd(rate, momentum=0.9),
                    train.Data(x, y, x[:0], y[:0]),
                    train.FitOptions(epochs=20, batch_size=8),
                    key=jax.random.PRNGKey(1)).params
          for model, rate in ((half, 0.2), (whole, 0.1))]
  chex.assert_trees_all_close(*fits, rtol=1e-6, atol=1e-7)
  moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
      jax.tree.leaves(fits[0]), jax.tree.leaves(params)))
  assert moved > 0.05


@pytest.mark.slow
def test_train_fits_a_sine_and_draws_it(tmp_path):
  proc = run("experiments.train", "--dataset=sine", "--loss=linear_squared",
             "--hidden=8", "--activation=tanh", "--n_samples=200",
             "--optimizer=adam", "--learning_rate=0.02", "--epochs=150",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert "test MSE" in proc.stdout and "accuracy" not in proc.stdout
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["test_accuracy"] is None
  assert results["confusion_matrix"] is None
  assert results["sizes"] == [1, 8, 1]
  # linear_squared: the test cost is half the mean squared error.
  assert results["test_mse"] == pytest.approx(2 * results["test_loss"],
                                              rel=1e-4)
  assert results["test_r2"] > 0.8 and results["test_r2_per_output"] == [
      results["test_r2"]]
  written = set(os.listdir(tmp_path))
  assert "regression_fit.png" in written and "confusion_matrix.png" not in (
      written)
  os.remove(tmp_path / "regression_fit.png")
  proc = run("experiments.plot", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert (tmp_path / "regression_fit.png").stat().st_size > 20_000


@pytest.mark.slow
def test_width_sweep(tmp_path):
  # --shown_widths left out: the default's that --widths has (it failed
  # as 2, 4, 16 and 64 are not among them).
  proc = run("experiments.regression", "--datasets=lissajous",
             "--widths=1,8", "--seeds=2",
             "--n_samples=200", "--epochs=400", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  lissajous = results["datasets"]["lissajous"]
  assert lissajous["outputs"] == 2 and lissajous["num_test"] == 80
  rows = {(r["loss"], r["width"]): r for r in lissajous["networks"]}
  assert set(rows) == {(f, w) for f in ("linear_squared", "linear_sum_squared")
                       for w in (1, 8)}
  assert all(len(r["test_mse"]) == 2 for r in rows.values())
  assert not any(any(r["diverged"]) for r in rows.values())
  assert rows["linear_sum_squared", 8]["learning_rate"] == pytest.approx(
      rows["linear_squared", 8]["learning_rate"] / 2)
  # The sum form at half the learning rate takes the same steps.
  for check in lissajous["same_path"]:
    assert check["max_abs_weight_difference"] <= 1e-6, check
  for form in ("linear_squared", "linear_sum_squared"):
    one, eight = rows[form, 1], rows[form, 8]
    assert max(eight["approximation_mse"]) < min(one["approximation_mse"])
  for name in ("regression_fits.png", "regression_width.png"):
    assert (tmp_path / name).stat().st_size > 30_000


@pytest.mark.slow
def test_shown_widths_must_be_swept(tmp_path):
  proc = run("experiments.regression", "--widths=1,3", "--shown_widths=1,2",
             f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: --shown_widths=1,2: comma-separated finite numbers each one "
      "of --widths=1,3"]


@pytest.mark.slow
def test_width_sweep_refuses_a_classification_set(tmp_path):
  proc = run("experiments.regression", "--datasets=moons",
             f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: --datasets=moons: regression data sets of known truth: sine, "
      "lissajous"]
