"""How runs on XOR end (nn_jax.descent_modes) and
experiments.local_minima."""

import json
import math
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import descent_modes
from nn_jax import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("outputs,name", [
    ((0.0, 0.5, 1.0, 0.5), "two patterns at 1/2"),
    ((0.0, 2 / 3, 2 / 3, 2 / 3), "three patterns share one output"),
    ((0.5, 0.5, 0.5, 0.5), "all four at 1/2"),
])
def test_plateaus_are_the_costs_of_patterns_sharing_an_output(outputs, name):
  # XOR targets 0, 1, 1, 0; an output of 0 or 1 is a fitted pattern.
  p = np.clip(np.array(outputs), 1e-7, 1 - 1e-7)
  logits = jnp.asarray(np.log(p / (1 - p))[:, None], jnp.float32)
  y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
  cost = float(losses.sigmoid_cross_entropy.value(logits, y))
  assert cost == pytest.approx(descent_modes.XOR_PLATEAUS[name], abs=1e-4)
  assert descent_modes.nearest_plateau(np.array([cost]))[0] == name


def test_nearest_plateau_of_a_cost_far_from_all_is_other():
  assert list(descent_modes.nearest_plateau(np.array([0.001, 0.2]))) == [
      "other", "other"]
  assert descent_modes.XOR_PLATEAUS["two patterns at 1/2"] == pytest.approx(
      math.log(2) / 2)


def test_outcomes_solved_stuck_moving():
  # Spans of one epoch: the last against the one ending halfway.
  cost = np.array([[0.6, 0.3, 0.01, 0.001],      # solved
                   [0.6, 0.3468, 0.35, 0.3466],  # stuck: flat second half
                   [0.6, 0.5, 0.45, 0.40]])      # moving
  accuracy = np.array([[0.5, 0.75, 1.0, 1.0], [0.5, 0.75, 0.75, 0.75],
                       [0.5, 0.5, 0.5, 0.75]])
  ends, late = descent_modes.outcomes(cost, accuracy, window=0.25,
                                      tolerance=1e-3)
  np.testing.assert_allclose(late, cost[:, -1])
  np.testing.assert_array_equal(ends["solved"], [True, False, False])
  np.testing.assert_array_equal(ends["stuck"], [False, True, False])
  np.testing.assert_array_equal(ends["moving"], [False, False, True])


@pytest.mark.slow
def test_some_2_2_1_runs_get_stuck_on_a_plateau(tmp_path, redraw):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.local_minima", "--hidden_sizes=2",
       "--learning_rates=4", "--seeds=64", "--epochs=2000",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  rows = {r["mode"]: r for r in results["settings"]}
  assert set(rows) == {"batch", "online"}
  assert rows["online"]["rate"] == rows["batch"]["rate"] / 4 == 1.0
  for row in rows.values():
    assert row["solved"] + row["stuck"] + row["moving"] == pytest.approx(1)
    assert len(row["final_costs"]) == 64
    assert 0 < row["solved"] < 1
  # With 64 starts, some batch runs stop at cost ln 2 / 2.
  assert rows["batch"]["stuck_at"].get("two patterns at 1/2", 0) > 0
  (paired,) = results["paired"]
  assert sum(paired[k] for k in ("both", "batch_only", "online_only",
                                 "neither")) == 64
  assert (tmp_path / "local_minima.png").stat().st_size > 10_000
  before, after = redraw(tmp_path, ["local_minima.png"])   # experiments.plot
  assert after == before


def test_end_summary_counts_per_rate():
  cost = np.array([[[0.6, 0.3, 0.01, 0.001], [0.6, 0.3468, 0.35, 0.3466]]])
  accuracy = np.array([[[0.5, 0.75, 1.0, 1.0], [0.5, 0.75, 0.75, 0.75]]])
  (row,), solved = descent_modes.end_summary(cost, accuracy)
  np.testing.assert_array_equal(solved, [[True, False]])
  assert (row["solved"], row["stuck"], row["moving"]) == (0.5, 0.5, 0.0)
  assert row["stuck_at"] == {"two patterns at 1/2": 1}
  assert row["median_epochs_to_solve"] == 3
  np.testing.assert_allclose(row["final_costs"], [0.001, 0.3466])
