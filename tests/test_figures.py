"""The lecture-figure scripts end to end: decision regions and error surface.

The scripts run as a user runs them (``python -m ...``), all at once in a
module fixture so that their start-up times overlap (the tests that use it
are marked slow).
"""

import csv
import json
import os
import subprocess
import sys

from matplotlib import image
import numpy as np
import pytest

from nn_jax import data
from nn_jax import plots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_vowels(path):
  """A CSV of three vowels in the formant plane, plus a speaker column."""
  rng = np.random.default_rng(0)
  centres = {"a": (700, 1200), "i": (300, 2300), "u": (300, 900)}
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["speaker", "F1", "F2", "vowel"])
    for v, (f1, f2) in centres.items():
      for s in range(20):
        w.writerow([s, round(f1 * rng.normal(1, 0.08)),
                    round(f2 * rng.normal(1, 0.08)), v])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """name -> (CompletedProcess-like (returncode, stderr), workdir)."""
  tmp = tmp_path_factory.mktemp("figures")
  csv_path = tmp / "vowels.csv"
  write_vowels(csv_path)
  vowels = ["--dataset=csv", f"--csv_path={csv_path}", "--target=vowel"]
  commands = {
      "builtin": ("experiments.decision_regions", "--epochs=300",
                  "--n_samples=150", "--hidden=16"),
      "csv": ("experiments.decision_regions", *vowels, "--features=F1,F2",
              "--epochs=200", "--hidden=8"),
      "csv_bad": ("experiments.decision_regions", *vowels),
      "csv_real_label": ("experiments.decision_regions", "--dataset=csv",
                         f"--csv_path={csv_path}", "--target=F1",
                         "--features=speaker,F2"),
      "surface": ("experiments.error_surface", "--epochs=15"),
      # A sigmoid neuron whose E has no finite minimum from this sample.
      "surface_no_minimum": ("experiments.error_surface", "--epochs=5",
                             "--neuron=sigmoid", "--learning_rate=0.5",
                             "--seed=17"),
  }
  # Cheaper XLA compilation: the programs are tiny, compiling dominates.
  env = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0")
  procs = {}
  for name, (module, *args) in commands.items():
    workdir = tmp / name
    procs[name] = (subprocess.Popen(
        [sys.executable, "-m", module, *args, f"--workdir={workdir}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True),
                   workdir)
  out = {}
  for name, (proc, workdir) in procs.items():
    _, stderr = proc.communicate(timeout=120)
    out[name] = (proc.returncode, stderr, workdir)
  return out


def ok(runs, name):
  returncode, stderr, workdir = runs[name]
  assert returncode == 0, stderr
  return workdir


def check_png(path):
  """A real figure: not tiny, and many distinct colours."""
  assert os.path.getsize(path) > 10_000
  pixels = (image.imread(str(path)) * 255).astype(np.uint8)
  colours = np.unique(pixels[..., :3].astype(np.uint32) @ [1, 256, 65536])
  assert len(colours) > 50, len(colours)


@pytest.mark.slow
def test_decision_regions_builtin(runs):
  workdir = ok(runs, "builtin")
  check_png(workdir / "decision_regions.png")
  results = json.loads((workdir / "results.json").read_text())
  assert results["classes"] == ["class 0", "class 1", "class 2"]
  assert results["num_train"] + results["num_test"] == 150
  assert results["sizes"] == [2, 16, 3]
  assert results["train_accuracy"] > 0.6  # chance is 1/3


@pytest.mark.slow
def test_decision_regions_from_csv(runs):
  workdir = ok(runs, "csv")
  check_png(workdir / "decision_regions.png")
  results = json.loads((workdir / "results.json").read_text())
  assert results["classes"] == ["a", "i", "u"]
  assert results["num_train"] == 48 and results["num_test"] == 12
  assert results["train_accuracy"] >= 0.9


@pytest.mark.slow
def test_decision_regions_csv_needs_two_columns(runs):
  # Three numeric columns and no --features: one line naming the flag.
  returncode, stderr, _ = runs["csv_bad"]
  assert returncode == 2
  assert stderr.strip().startswith("error: --features=")
  assert "speaker" in stderr and "Traceback" not in stderr


@pytest.mark.slow
def test_decision_regions_csv_needs_class_labels(runs):
  returncode, stderr, _ = runs["csv_real_label"]
  assert returncode == 2
  assert stderr.strip() == (
      "error: --target=F1: its column holds real numbers; decision "
      "regions need class labels (text, or at most 10 distinct integers)")


@pytest.mark.slow
def test_error_surface(runs):
  workdir = ok(runs, "surface")
  check_png(workdir / "error_surface.png")
  results = json.loads((workdir / "results.json").read_text())
  batch, online = results["batch"], results["online"]
  assert batch["steps"] == 15 and online["steps"] == 15 * 20
  assert len(batch["final_w"]) == 2 and len(online["cost_per_epoch"]) == 16
  # Both descend from the same start; neither goes below the minimum.
  assert batch["cost_per_epoch"][0] == online["cost_per_epoch"][0]
  for method in (batch, online):
    assert method["final_cost"] < method["cost_per_epoch"][0]
    assert method["final_cost"] >= results["minimum"]["cost"] - 1e-4
  # The minimum of E, not the lowest point of the plotted window (after 15
  # epochs the paths have not reached it).
  assert results["minimum"]["found"]
  assert results["minimum"]["gradient_norm"] < 1e-4
  assert batch["final_cost"] > results["minimum"]["cost"] + 1e-3


@pytest.mark.parametrize("k", [2, 10, 12, 20, 25])
def test_every_class_gets_its_own_colour(k):
  colors = [tuple(np.round(c, 6)) for c in plots.class_colors(k)]
  assert len(colors) == len(set(colors)) == k


@pytest.mark.slow
def test_error_surface_without_a_finite_minimum(runs):
  workdir = ok(runs, "surface_no_minimum")
  check_png(workdir / "error_surface.png")
  results = json.loads((workdir / "results.json").read_text())
  assert not results["minimum"]["found"]


def test_one_class_region_has_its_points_colour(tmp_path):
  # With one class the contour levels gave the region class 1's colour.
  path = str(tmp_path / "one.png")
  plots.decision_regions(lambda p: np.zeros(len(p), int),
                         np.array([[0., 0.], [1., 1.]]), np.array([0, 0]),
                         path, margin=2.0)
  pixels = image.imread(path)
  h, w = pixels.shape[:2]
  r, g, b = pixels[h // 2 + h // 8, w // 2 - w // 8, :3]   # inside the axes
  blue = plots.class_colors(2)[0]
  np.testing.assert_allclose((r, g, b), 0.7 + 0.3 * np.asarray(blue[:3]),
                             atol=0.02)


def test_a_series_measured_once_is_drawn_with_a_marker(tmp_path, monkeypatch):
  # The perceptron's validation accuracy exists for its last epoch only.
  closed = []
  monkeypatch.setattr(plots.plt, "close", closed.append)
  nan = float("nan")
  history = {"train_loss": [0.4, 0.3, 0.35], "val_loss": [nan, nan, 0.3],
             "train_accuracy": [0.6, 0.7, 0.65],
             "val_accuracy": [nan, nan, 0.7]}
  plots.learning_curves(history, str(tmp_path / "c.png"))
  ax_loss, ax_acc = closed[0].axes
  for ax in (ax_loss, ax_acc):
    train_line, val_line = ax.lines
    assert train_line.get_marker() in ("None", None, "")
    assert val_line.get_marker() == "o"


@pytest.mark.parametrize("name", ["spiral", "blobs"])
def test_generated_problems_of_k_classes(name):
  # The data sets that experiments.decision_regions draws by default.
  ds = data.load(name, seed=1, n_samples=100, num_classes=4)
  assert ds.x.shape == (100, 2) and ds.num_classes == 4
  assert np.bincount(ds.y).tolist() == [25] * 4
  again = data.load(name, seed=1, n_samples=100, num_classes=4)
  np.testing.assert_array_equal(ds.x, again.x)
  calm = data.load(name, seed=1, n_samples=100, num_classes=4, noise=0.0)
  assert not np.array_equal(ds.x, calm.x)
  with pytest.raises(ValueError, match="num_classes >= 2"):
    data.load(name, num_classes=1)
