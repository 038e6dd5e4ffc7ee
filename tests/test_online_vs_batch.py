"""Batch, online and mini-batch gradient descent on redundant data:
nn_jax.descent_modes and experiments.online_vs_batch."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import backprop
from nn_jax import descent_modes
from nn_jax import mlp
from nn_jax.train_data import Data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_member_keys_give_each_seed_the_same_key_at_every_rate():
  keys, rates = descent_modes.member_keys([0.1, 1.0], 3)
  assert keys.shape[0] == 6
  np.testing.assert_allclose(rates, [0.1] * 3 + [1.0] * 3)
  np.testing.assert_array_equal(keys[:3], keys[3:])
  assert not np.array_equal(keys[0], keys[1])


def test_repeating_the_data_leaves_the_batch_gradient_as_it_is():
  model = mlp.make_model("tanh", "softmax_cross_entropy")
  kx, kp = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (5, 3))
  y = jax.nn.one_hot(jnp.arange(5) % 2, 2)
  data = Data(x, y, x[:0], y[:0])
  repeated = descent_modes.repeat(data, 4)
  assert repeated.x.shape == (20, 3) and repeated.x_val.shape == (0, 3)
  params = mlp.init(kp, [3, 4, 2], model)
  gradients = jax.jit(lambda x, y: backprop.gradients(params, x, y, model))
  cost, grads = gradients(x, y)
  cost4, grads4 = gradients(repeated.x, repeated.y)
  np.testing.assert_allclose(cost4, cost, rtol=1e-6)
  for g, g4 in zip(jax.tree.leaves(grads), jax.tree.leaves(grads4)):
    np.testing.assert_allclose(g4, g, rtol=1e-5, atol=1e-7)


def test_examples_per_epoch_counts_the_full_batches():
  assert descent_modes.examples_per_epoch(10, 0) == 10
  assert descent_modes.examples_per_epoch(10, 1) == 10
  assert descent_modes.examples_per_epoch(10, 3) == 9


def test_best_rate_skips_rates_with_a_diverged_seed():
  final = np.array([[0.5, 0.6], [0.1, np.nan], [0.3, 0.2]])
  assert descent_modes.best_rate(final) == 2
  assert descent_modes.best_rate(np.full((2, 2), np.nan)) is None


def test_first_epoch_is_one_based_and_inf_if_never():
  reached = np.array([[False, True, True], [False, False, False]])
  np.testing.assert_array_equal(descent_modes.first_epoch(reached),
                                [2, np.inf])


def run(*args):
  return subprocess.run([sys.executable, "-m", "experiments.online_vs_batch",
                         *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


@pytest.mark.slow
def test_repeating_the_data_helps_online_per_epoch_not_batch(tmp_path):
  proc = run("--modes=batch,online", "--repeats=1,2", "--passes=2",
             "--seeds=2", "--learning_rates=0.03,1", "--hidden=4",
             "--train_size=100", "--target_cost=1.5", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  runs = {(r["mode"], r["r"]): r for r in results["runs"]}
  assert set(runs) == {("batch", 1), ("batch", 2), ("online", 1),
                       ("online", 2)}
  # Batch GD: the same steps whatever r, so the same cost per epoch.
  assert runs["batch", 2]["per_epoch_max_difference_to_r1"] < 1e-4
  assert runs["online", 2]["per_epoch_max_difference_to_r1"] > 1e-3
  # Online: an epoch of the doubled set makes twice the steps.
  assert (runs["online", 2]["first_epoch_cost_by_rate"][0]
          < runs["online", 1]["first_epoch_cost_by_rate"][0])
  for rec in runs.values():
    assert rec["examples_per_epoch"] == 100 * rec["r"]
    assert rec["epochs"] == 2 // rec["r"]
    assert rec["seconds_per_epoch"] > 0
    assert np.shape(rec["cost"]) == (2, rec["epochs"])
  for name in ("online_vs_batch.png", "online_vs_batch_seconds.png"):
    assert (tmp_path / name).stat().st_size > 10_000
  # Each setting's line says when the target cost was reached, in words
  # where the median seed never reached it (results.json: null).
  for rec in runs.values():
    line, = [l for l in proc.stdout.splitlines()
             if l.startswith(f"{rec['mode']:9s} r={rec['r']}:")]
    reached = np.isfinite(np.median([np.inf if e is None else e
                                     for e in rec["examples_to_target"]]))
    assert ("not reached (medians)" in line) == (not reached), line
    assert ("cost 1.5 after" in line) == reached, line
    assert "inf" not in line
    # The CPU seconds to the target where reached, then the whole budget's.
    seconds = np.median([np.inf if t is None else t
                         for t in rec["seconds_to_target"]])
    assert (f"examples and {seconds:.2g} CPU s (medians)" in line) == reached
    assert line.endswith(f"; the whole budget "
                         f"{rec['seconds_per_epoch'] * rec['epochs']:.2g} "
                         f"CPU s"), line
  # Online SGD reaches the target cost in two passes, batch GD does not.
  assert "cost 1.5 after" in proc.stdout and "not reached" in proc.stdout


@pytest.mark.slow
def test_repeats_must_divide_the_passes(tmp_path):
  proc = run("--repeats=1,3", "--passes=4", f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: --repeats=1,3: comma-separated finite numbers that are "
      "positive integers dividing --passes=4"]
