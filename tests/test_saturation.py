"""experiments.saturation end to end at a tiny size: its robust direction."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
  return subprocess.run([sys.executable, "-m", "experiments.saturation",
                         *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


@pytest.mark.slow
def test_deep_sigmoid_from_normal_weights_has_the_smaller_first_gradient(
    tmp_path, redraw):
  proc = run("--setups=sigmoid:normal,relu:he", "--depths=1,5", "--seeds=2",
             "--epochs=1", "--learning_rates=0.1", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  runs = json.loads((tmp_path / "results.json").read_text())["runs"]
  assert {(r["activation"], r["init"], r["depth"]) for r in runs} == {
      (a, i, d) for a, i in (("sigmoid", "normal"), ("relu", "he"))
      for d in (1, 5)}
  deep = {r["activation"]: np.array(r["grad_norms_start"]) for r in runs
          if r["depth"] == 5}
  assert deep["sigmoid"].shape == (2, 6)          # seeds x layers
  # Before training, per seed: the deep sigmoid's first layer gets a
  # smaller gradient than the ReLU's, and smaller than its own output layer.
  assert np.all(deep["sigmoid"][:, 0] < deep["relu"][:, 0])
  assert np.all(deep["sigmoid"][:, 0] < deep["sigmoid"][:, -1])
  for r in runs:
    assert len(r["test_accuracy"]) == 2 and r["learning_rate"] == 0.1
    assert np.shape(r["grad_norms_median"]) == (2, r["depth"] + 1)
    assert np.shape(r["saturated_start"]) == (2, r["depth"])
    assert 0 <= np.min(r["dead_end"]) <= np.max(r["dead_end"]) <= 1
  for name in ("saturation.png", "saturation_training.png"):
    assert (tmp_path / name).stat().st_size > 10_000
  # Each setting's line: the median (range) of the seeds' own ratios,
  # before training, as CLAIMS.md states them.
  ratio = deep["sigmoid"][:, 0] / deep["sigmoid"][:, -1]
  assert (f"sigmoid:normal depth 5: before training ||dE/dW_1|| / "
          f"||dE/dW_out|| {np.median(ratio):.2g} ({ratio.min():.2g}-"
          f"{ratio.max():.2g}), test accuracy after training") in proc.stdout
  # experiments.plot draws the same figures from results.json alone.
  before, after = redraw(tmp_path, ["saturation.png",
                                    "saturation_training.png"])
  assert after == before


@pytest.mark.slow
def test_bad_setup_fails_in_one_line(tmp_path):
  proc = run("--setups=sigmoid:nosuch", f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error: --setups=sigmoid:nosuch")
  assert "Traceback" not in proc.stderr


def test_a_setting_whose_deepest_runs_diverged_says_so_in_the_legend(
    tmp_path, closed_figures):
  # Its curves per epoch go on flat from the last finite weights.
  from experiments import figures  # pylint: disable=g-import-not-at-top
  closed = closed_figures
  rows = [{"activation": "relu", "init": init, "depth": depth,
           "diverged": [init == "normal" and depth == 8] * 2,
           "grad_norms_median": np.ones((3, depth + 1)),
           "saturated_median": np.full((3, depth), 0.5),
           "test_accuracy": [0.9, 0.8]}
          for init in ("normal", "he") for depth in (1, 8)]
  figures._saturation_training(str(tmp_path / "t.png"), rows, [1, 8], "",
                               0.01, 2)
  legend = closed[0].axes[2].get_legend()
  assert [t.get_text() for t in legend.get_texts()] == [
      "relu, normal init\n(diverged at 8 layers)", "relu, he init"]


def test_a_settings_line_says_how_its_seeds_diverged(python):
  # In a process of its own: the script defines flags that other scripts
  # imported by the tests define too.
  cases = [
      ([True, False, True], [3, 2], "2 of 3 diverged at eta 0.1"),
      ([False] * 3, [0, 1], "0 of 3 diverged at eta 0.1"),
      # Every seed at every rate: the first rate is no better than the rest.
      ([True] * 3, [3, 3], "all 3 seeds diverged at every rate: the "
       "accuracy of their last finite weights")]
  proc = python(
      "import json, sys\n"
      "from experiments import saturation\n"
      "for diverged, by_rate, _ in json.loads(sys.argv[1]):\n"
      "  print(saturation.diverged_text({'diverged': diverged,\n"
      "      'diverged_by_rate': by_rate, 'learning_rate': 0.1}))\n"
      .replace("sys.argv[1]", repr(json.dumps(cases))))
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.splitlines() == [text for _, _, text in cases]
