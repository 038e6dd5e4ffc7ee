"""experiments.regions_by_depth end to end at a tiny size (slow)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_regions_by_depth(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.regions_by_depth",
       "--n_samples=200", "--epochs=800", "--learning_rate=0.03",
       "--seeds=2",
       f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=180)
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  acc = {(r["problem"], r["units"], len(r["hidden"])): r["test_mean"]
         for r in results["networks"]}
  assert len(acc) == 12
  assert all(len(r["test_accuracy"]) == 2 for r in results["networks"])
  for units in ("smooth", "threshold-like"):
    # No hidden layer: one half-plane, which separates neither problem.
    assert acc["two blobs", units, 0] < 0.75
    assert acc["checkerboard", units, 0] < 0.65
    # One hidden layer already forms the two blobs' disjoint regions.
    assert acc["two blobs", units, 1] > acc["two blobs", units, 0] + 0.2
    # Two hidden layers: well above no hidden layer on the checkerboard.
    assert acc["checkerboard", units, 2] > acc["checkerboard", units, 0] + 0.15
  assert (tmp_path / "regions_by_depth.png").stat().st_size > 50_000
