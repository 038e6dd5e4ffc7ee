"""experiments.encodings end to end at a tiny size (slow tier): codes of
each column type train side by side, and results.json holds what it says
(each code's inputs are checked in test_tabular and test_chile)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_script_compares_the_codes_of_each_column_type(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.encodings", "--seeds=2",
       "--widths=0", "--epochs=3", "--learning_rates=0.03,0.3",
       "--codes=default,thermometer_k,ordinal_integer,numeric_raw",
       "--cost_threshold=0.95", f"--workdir={tmp_path}"], cwd=ROOT,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert (tmp_path / "encodings.png").stat().st_size > 10_000
  results = json.loads((tmp_path / "results.json").read_text())
  rows = {r["name"]: r for r in results["rows"]}
  assert results["widths"] == [0]
  # chile: 5 + 2 nominal units, 2 + 6 thermometer units, 3 numeric inputs.
  assert {name: r["inputs"] for name, r in rows.items()} == {
      "default": 18, "thermometer_k": 20, "ordinal_integer": 12,
      "numeric_raw": 18}
  lecture = rows["thermometer_k"]["feature_names"]
  assert "education>=P" in lecture and "income>=2500" in lecture
  for r in results["rows"]:
    val = np.array(r["val_accuracy"], float)             # (rates, seeds)
    assert val.shape == (2, 2)
    best = int(np.argmax(np.nanmean(val, 1)))
    assert r["rate_for_accuracy"] == [0.03, 0.3][best]
    np.testing.assert_allclose(r["test_accuracy"],
                               np.array(r["test_accuracies"])[best])
    epochs = np.array(r["epochs"], float)
    assert np.all(np.isnan(epochs) | ((epochs >= 1) & (epochs <= 3)))
    costs = np.array(r["median_train_cost"], float)      # (rates, epochs)
    assert costs.shape == (2, 3)
    np.testing.assert_allclose(costs[:, -1], np.nanmedian(
        np.array(r["final_train_cost"], float), 1), rtol=1e-6)
  default = rows["default"]
  assert default["reached"] == 2 and default["test_mean"] > 0.5
  assert rows["numeric_raw"]["reached"] == 0   # 250,000 raw: no learning
  assert "wrote" in proc.stdout
  # A code that never reached the threshold has no rate or epochs to show.
  assert "reached 0/2" in proc.stdout and "None" not in proc.stdout


@pytest.mark.slow
def test_script_refuses_data_without_typed_columns(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.encodings", "--dataset=digits",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: --dataset=digits: one of csv, chile (data with typed columns)")
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.encodings", "--codes=default,gray",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      timeout=120)
  assert proc.returncode == 2 and "--codes=default,gray: of default, " in (
      proc.stderr)
