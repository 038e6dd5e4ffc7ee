"""experiments.momentum and its library pieces (nn_jax.surface): momentum
on a ravine, and SGD with and without momentum at the same effective step.

The script runs in a subprocess, as a user runs it (slow tier)."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import backprop
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import surface

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEURON = mlp.make_model("identity", "linear_squared")


def test_epochs_to_reach_counts_until_the_cost_stays_below():
  costs = np.array([[5.0, 3.0, 1.0, 2.0, 0.5, 0.4],    # dips, comes back
                    [5.0, 0.9, 0.8, 0.7, 0.6, 0.5],    # at once
                    [5.0, 4.0, 3.0, 2.0, 1.5, 1.2],    # never
                    [5.0, 0.5, np.nan, 0.5, 0.5, 0.5]])  # NaN is not below
  np.testing.assert_array_equal(surface.epochs_to_reach(costs, 1.0),
                                [4, 1, np.nan, 3])
  np.testing.assert_array_equal(   # a target per row
      surface.epochs_to_reach(costs[:2], np.array([2.5, 0.55])), [2, 5])


def test_descend_with_optax_sgd_steps_against_the_gradient():
  x, y = surface.make_data("linear", 10, 0.9, seed=0)
  w0 = jnp.asarray([-1.0, 2.0])
  batches = jnp.tile(jnp.arange(10), (3, 1))
  path = surface.descend(NEURON, x, y, w0, batches,
                         optimizers.make("sgd", 0.1))
  w = w0
  for _ in range(3):
    _, grads = backprop.gradients(surface.as_params(w), x, y, NEURON)
    w = w - 0.1 * grads[0]["w"][0]
  np.testing.assert_allclose(path[-1], w, rtol=1e-6)
  assert path.shape == (4, 2)


@pytest.mark.slow   # compiles Newton's method and the grid: seconds
def test_momentum_reaches_the_ravine_minimum_in_fewer_epochs():
  x, y = surface.make_data("linear", 30, 0.98, seed=1)
  out = surface.momentum_descents(NEURON, x, y, jnp.asarray([-1.5, 2.5]),
                                  [0.3, 0.6], [0.0, 0.5, 0.9], 400)
  epochs = out["epochs"]                                 # (mu, eta)
  assert out["paths"].shape == (3, 2, 401, 2)
  assert out["costs"].shape == (3, 2, 401)
  lo, hi = out["hessian_eigenvalues"]
  assert hi / lo > 20                                    # a ravine
  for j in range(2):    # at the same eta, more momentum is faster
    assert epochs[2, j] < epochs[1, j] < np.nan_to_num(epochs[0, j], nan=1e9)
  # mu = 0 is plain gradient descent: the path never rises in cost.
  assert np.all(np.diff(out["costs"][0, 0]) <= 1e-7)
  np.testing.assert_allclose(out["costs"][:, :, -1].min(), out["e_min"],
                             rtol=1e-4)


def run_script(tmp_path, *args):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.momentum", *args,
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr
  return json.loads((tmp_path / "results.json").read_text())


@pytest.mark.slow
def test_script_momentum_is_faster_on_the_ravine_and_alike_at_one_step(
    tmp_path):
  results = run_script(tmp_path, "--seeds=2", "--hidden=8", "--epochs=3",
                       "--effective_steps=0.05", "--ravine_epochs=600",
                       "--ravine_learning_rate=0.3")
  for name in ("momentum_ravine.png", "momentum_digits.png"):
    assert (tmp_path / name).stat().st_size > 20_000
  ravine = results["ravine"]
  assert ravine["momenta"] == [0.0, 0.5, 0.9]
  for data_set in ravine["data_sets"]:
    epochs = np.array(data_set["epochs_to_1pct"], float)
    assert np.nan_to_num(epochs[0], nan=1e9) > epochs[2]
    assert len(data_set["grid_epochs"][0]) == len(ravine["grid"])
  rows = {r["momentum"]: r for r in results["digits"]["rows"]}
  assert rows[0.9]["learning_rate"] == pytest.approx(0.005)
  # The same effective step: about the same training cost per epoch.
  final = {mu: np.median(np.array(r["train_cost"], float)[:, -1])
           for mu, r in rows.items()}
  assert 0.5 < final[0.9] / final[0.0] < 2
  assert all(r["diverged"] == 0 for r in rows.values())
  assert len(rows[0.0]["test_accuracy"]) == 2


@pytest.mark.slow
def test_script_refuses_a_momentum_of_one(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.momentum", "--momenta=0,1",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip() == (
      "error: --momenta=0,1: comma-separated finite numbers in [0, 1)")


def test_a_diverged_setting_is_a_hollow_point_of_the_accuracy_panel(
    tmp_path, python):
  # Runs that diverged are scored on their last finite weights: their
  # accuracy must not pass for that of runs that trained. (The script,
  # which defines flags, is imported in a fresh interpreter.)
  code = f"""
import json
import numpy as np
from experiments import momentum
from nn_jax import plots
closed = []
plots.plt.close = closed.append
cost = np.array([[1.0, 0.5], [1.0, 0.4]])
rows = [{{"momentum": mu, "effective_step": step, "learning_rate": step,
          "train_cost": cost, "diverged": int(step == 2),
          "test_accuracy": np.array([0.9, 0.8])}}
        for mu in (0.0, 0.9) for step in (1, 2)]
momentum.draw_digits({str(tmp_path / "d.png")!r}, {{"rows": rows}},
                     [0.0, 0.9], [1, 2], "test")
ax = closed[0].axes[-1]
print(json.dumps({{
    "hollow": [float(x) for line in ax.lines if line.get_marker() == "o"
               and line.get_markerfacecolor() == "white"
               for x in line.get_xdata()],
    "legend": [t.get_text() for t in ax.get_legend().get_texts()]}}))
"""
  proc = python(code, check=True)
  seen = json.loads(proc.stdout)
  assert len(seen["hollow"]) == 2
  np.testing.assert_allclose(seen["hollow"], 2, rtol=0.05)
  assert any(t.startswith("hollow: runs diverged") for t in seen["legend"])


@pytest.mark.slow
def test_script_says_what_diverged_means_in_its_summary(tmp_path):
  # A step far too large: every run diverges; the summary line says what
  # that means and prints the cost in few digits, not 18 and 4 decimals.
  # The figures are drawn: a log axis with no finite value (every cost
  # NaN; no ravine run within 1% in 10 epochs) failed the run.
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.momentum", "--seeds=2",
       "--hidden=8", "--epochs=2", "--effective_steps=100",
       "--ravine_epochs=10", f"--workdir={tmp_path}"], cwd=ROOT,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  for name in ("momentum_ravine.png", "momentum_digits.png"):
    assert (tmp_path / name).stat().st_size > 20_000
  lines = [l for l in proc.stdout.splitlines() if l.startswith("digits mu")]
  assert len(lines) == 3, proc.stdout
  for line in lines:
    assert ("diverged (final cost NaN or above the first epoch's; scored "
            "on their last finite weights)") in line, line
    cost = line.split("final cost median ")[1].split(",")[0]
    assert len(cost) <= 10, line
