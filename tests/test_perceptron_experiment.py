"""experiments.perceptron end to end at a tiny size (slow): Novikoff's
bound, cycles on data that are not separable, the learning rate."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_perceptron_experiment(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.perceptron", "--n_samples=24",
       "--margins=0.2,0.02", "--seeds=2", "--orderings=3", "--epochs=300",
       "--learning_rates=0.01,1", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=180)
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  bound = results["bound"]
  assert len(bound["sets"]) == 4
  assert bound["all_within_bound"] and bound["all_converged"]
  for row in bound["sets"]:
    assert len(row["num_mistakes"]) == 3
    assert max(row["num_mistakes"]) <= row["bound"]
    assert row["gamma"] >= row["gamma_generator"] - 1e-9
  cycles = results["cycles"]
  assert cycles["XOR"]["cycle"] == {"start": 2, "epochs": 1, "updates": 4}
  for name, run in cycles.items():
    if name.endswith(", rounded") or name == "XOR":   # integer inputs
      assert not run["separable"] and run["cycle"]["updates"] > 0, name
      assert run["max_norm"] < run["no_cycling_bound"], name
    if name.startswith("separable"):
      assert run["separable"] and run["cycle"]["updates"] == 0
  zero = results["zero_start"]
  assert np.all(zero["same_mistakes"])
  assert np.max(zero["max_dev"]) < 1e-3
  random = results["random_start"]
  assert np.all(np.array(random["num_mistakes"]) <= np.array(random["bound"]))
  assert (tmp_path / "perceptron.png").stat().st_size > 50_000


@pytest.mark.slow
def test_bad_margin_fails_in_one_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.perceptron", "--margins=0.7",
       f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: --margins=0.7: comma-separated finite numbers in (0, 0.5]")


def test_the_legend_tells_a_cycle_from_convergence(python):
  # A run whose weights stopped changing did not cycle: the legend said
  # "cycle: 1 ep., 0 upd." of a converged separable set.
  proc = python(
      "from experiments import perceptron as p\n"
      "print(p.cycle_text({'start': 25, 'epochs': 1, 'updates': 0}))\n"
      "print(p.cycle_text({'start': 2, 'epochs': 1, 'updates': 4}))\n"
      "print(repr(p.cycle_text(None)))", check=True)
  assert proc.stdout.splitlines() == [
      " (converged: no update from epoch 26)", " (cycle: 1 ep., 4 upd.)",
      "''"]
