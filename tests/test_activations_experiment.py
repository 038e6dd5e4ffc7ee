"""experiments.activations end to end at a tiny size: its robust direction."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_activations_accuracy_dead_units_and_prelu_slopes(tmp_path, redraw):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.activations", "--datasets=digits",
       "--activations=sigmoid,relu,prelu", "--hidden=32,32,32", "--seeds=2",
       "--epochs=2", "--learning_rates=0.1", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  runs = {r["activation"]: r for r in json.loads(
      (tmp_path / "results.json").read_text())["runs"]}
  assert set(runs) == {"sigmoid", "relu", "prelu"}
  for r in runs.values():
    assert len(r["test_accuracy"]) == 2
    assert np.shape(r["dead"]) == np.shape(r["saturated"]) == (2, 3)
  # Three sigmoid layers from Glorot weights learn slowly: after two epochs
  # they are behind the ReLU network on every seed.
  assert max(runs["sigmoid"]["test_accuracy"]) < min(
      runs["relu"]["test_accuracy"])
  # A PReLU unit is never dead (its slope stays > 0 here), and its slopes
  # (layers x seeds x units) have moved from their initial 0.25.
  slopes = np.array(runs["prelu"]["prelu_slopes"])
  assert slopes.shape == (3, 2, 32)
  assert np.all(np.array(runs["prelu"]["dead"]) == 0)
  assert np.std(slopes) > 0 and not np.allclose(slopes, 0.25)
  assert runs["relu"]["prelu_slopes"] is None
  assert (tmp_path / "activations.png").stat().st_size > 10_000
  before, after = redraw(tmp_path, ["activations.png"])   # experiments.plot
  assert after == before
