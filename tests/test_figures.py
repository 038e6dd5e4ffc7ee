"""The lecture-figure scripts end to end: decision regions and error surface.

The scripts run as a user runs them (``python -m ...``), all at once in a
module fixture so that their start-up times overlap (the tests that use it
are marked slow).
"""

import csv
import json
import os
import re
import subprocess
import sys

from matplotlib import image
import numpy as np
import pytest

from experiments import drawing
from nn_jax import data
from nn_jax import experiment
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
  assert returncode == 2, stderr
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


def test_a_series_measured_once_is_drawn_with_a_marker(tmp_path,
                                                     closed_figures):
  # The perceptron's validation accuracy exists for its last epoch only.
  closed = closed_figures
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


def dpi_of(path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as im:
    return im.info["dpi"], im.size


def draw_each(tmp_path):
  """Every figure of nn_jax.plots, written as PNG; their paths."""
  nan = float("nan")
  history = {"train_loss": [0.6, 0.4, 0.3], "val_loss": [0.65, 0.45, 0.4],
             "train_accuracy": [0.5, 0.7, 0.8],
             "val_accuracy": [nan, nan, 0.7]}
  rows = [{"learning_rate": lr, "seed": s, "diverged": False,
           "test_accuracy": 0.9 - s / 100 - lr}
          for lr in (0.003, 0.01, 0.03, 0.1) for s in range(3)]
  return [
      plots.learning_curves(history, str(tmp_path / "curves.png"), "t"),
      plots.confusion_matrix([[3, 1], [0, 4]], str(tmp_path / "cm.png")),
      plots.decision_regions(lambda p: (p[:, 0] > 0).astype(int),
                             np.array([[-1., 0.], [1., 1.]]),
                             np.array([0, 1]), str(tmp_path / "dr.png")),
      plots.sweep(str(tmp_path / "sweep.png"), rows,
                  [0.003, 0.01, 0.03, 0.1], "test_accuracy", "accuracy"),
      plots.technique_curves(str(tmp_path / "tc.png"),
                             {"baseline": [0.5, 0.8, 0.9],
                              "l2": [0.5, 0.85, 0.9]})]


def test_every_figure_is_written_at_150_dpi_or_more(tmp_path):
  for path in draw_each(tmp_path):
    (dx, dy), _ = dpi_of(path)
    assert dx >= 149.9 and dy >= 149.9, (path, dx, dy)


def _small_figure(text_at=None):
  fig, ax = plots.plt.subplots(figsize=(4, 3))
  ax.plot([1, 2, 3], [3, 1, 2], label="a")
  ax.set(title="title", xlabel="x")
  ax.legend()
  if text_at is not None:
    fig.text(*text_at, "text", ha="left", va="top")
  return fig


def _ink_margins(path):
  """The blank rows and columns around a PNG's drawing: top, bottom, left,
  right."""
  ink = (image.imread(path)[..., :3] < 0.99).any(-1)
  rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
  return np.array([rows[0], ink.shape[0] - 1 - rows[-1], cols[0],
                   ink.shape[1] - 1 - cols[-1]])


@pytest.mark.parametrize("text_at", [None, (0.0, 0.5), (0.5, 0.99)])
def test_a_png_is_drawn_once_and_cut_as_savefig_cuts_it(tmp_path,
                                                        monkeypatch, text_at):
  # plots.save draws a PNG once and cuts it to its artists' box and 0.1 in
  # around it, as savefig(bbox_inches="tight") does with a second drawing:
  # the same size and margins within a pixel, also where the box touches
  # the figure's edge (text at the left edge, at the top) and the margin
  # beyond it is the background.
  fig = _small_figure(text_at)
  fig.tight_layout()
  fig.savefig(tmp_path / "savefig.png", dpi=plots.DPI, bbox_inches="tight",
              pad_inches=0.1)
  plots.plt.close(fig)
  draws = []
  draw = plots.plt.Figure.draw
  monkeypatch.setattr(plots.plt.Figure, "draw",
                      lambda self, r: (draws.append(1), draw(self, r))[1])
  path = plots.save(_small_figure(text_at), str(tmp_path / "save.png"))
  assert len(draws) == 1
  assert image.imread(path).shape == image.imread(
      tmp_path / "savefig.png").shape
  margins = _ink_margins(path)
  assert np.abs(margins - _ink_margins(tmp_path / "savefig.png")).max() <= 1
  assert margins.min() >= 13, margins   # 0.1 in at 150 dpi, less the ink's AA


def test_the_figures_pngs_have_savefigs_sizes(tmp_path, monkeypatch):
  # Each figure of nn_jax.plots (and one laid out by matplotlib's
  # constrained layout) as plots.save writes it and as savefig does: the
  # same size, nearly the same pixels (the drawing sits within half a
  # pixel of savefig's).
  def constrained(path):
    fig, ax = plots.plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([1, 2])
    ax.set_title("title")
    return plots.save(fig, path)
  drawn_once = lambda folder: draw_each(folder) + [
      constrained(str(folder / "constrained.png"))]
  (tmp_path / "once").mkdir()
  (tmp_path / "savefig").mkdir()
  ours = drawn_once(tmp_path / "once")
  monkeypatch.setattr(plots, "_save_png_drawn_once", lambda *args: False)
  theirs = drawn_once(tmp_path / "savefig")
  for a, b in zip(ours, theirs):
    a, b = image.imread(a), image.imread(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert (np.abs(a - b).max(-1) > 0.1).mean() < 0.05


@pytest.mark.parametrize("change", ["edge", "hidden", "alpha", "figure"])
def test_what_the_canvas_does_not_hold_is_left_to_savefig(tmp_path, change):
  # A frame or a background that is not opaque is drawn anew around
  # savefig's cut; a Figure made without pyplot has no Agg canvas.
  fig = (plots.plt.Figure(figsize=(4, 3)) if change == "figure"
         else _small_figure())
  if change == "figure":
    fig.add_subplot().plot([1, 2])
  elif change == "edge":
    fig.patch.set(edgecolor="red", linewidth=4)
  elif change == "hidden":
    fig.patch.set_visible(False)
  else:
    fig.patch.set_alpha(0.5)
  path = plots.save(fig, str(tmp_path / "x.png"))
  pixels = image.imread(path)
  if change == "edge":
    assert (pixels[0, :, 0] > 0.9).all() and (pixels[0, :, 1] < 0.1).all()
  elif change in ("hidden", "alpha"):
    assert pixels[0, 0, 3] < 0.6
  else:   # cut to its artists, as savefig cuts
    assert pixels.shape[1] < 4 * plots.DPI and (
        _ink_margins(path).min() >= 13)


def test_a_png_keeps_an_artist_beyond_the_figures_edge(tmp_path):
  # Text beyond the right edge: savefig's tight box takes it in, wider
  # than the canvas (4 in at 150 dpi).
  path = plots.save(_small_figure((1.05, 0.5)), str(tmp_path / "out.png"))
  ink = (image.imread(path)[..., :3] < 0.99).any(-1)
  assert ink.shape[1] > 4 * plots.DPI + 50
  assert ink[:, 4 * plots.DPI + 30:].any()


@pytest.mark.parametrize("suffix,start", [("svg", "<svg"), ("pdf", "%PDF")])
def test_the_path_names_the_format(tmp_path, suffix, start):
  path = plots.confusion_matrix(np.eye(3, dtype=int),
                                str(tmp_path / f"cm.{suffix}"))
  with open(path, "rb") as f:
    head = f.read(2000).decode("latin-1")
  assert start in head


def test_figure_path_follows_the_figure_format_flag(monkeypatch):
  from experiments import cli  # pylint: disable=g-import-not-at-top
  from experiments import outputs  # pylint: disable=g-import-not-at-top
  assert outputs.figure_path("w", "sweep") == os.path.join("w", "sweep.png")
  monkeypatch.setattr(cli.FLAGS["figure_format"], "value", "svg")
  assert outputs.figure_path("w", "sweep") == os.path.join("w", "sweep.svg")


def test_confusion_matrices_grow_with_the_classes(tmp_path):
  sizes = []
  for k in (2, 3, 5, 10):
    matrix = np.diag(np.arange(1, k + 1))
    path = plots.confusion_matrix(
        matrix, str(tmp_path / f"cm{k}.png"),
        "digits, 64-256-10 relu\nmomentum 0.9, lr 0.005, batch 32, seed 0")
    sizes.append(dpi_of(path)[1])
  widths, heights = zip(*sizes)
  assert list(widths) == sorted(widths) and widths[0] < widths[-1]
  assert list(heights) == sorted(heights) and heights[0] < heights[-1]
  # Two classes: large enough to read (the two-line title fits).
  assert widths[0] >= 500 and heights[0] >= 450, sizes[0]


def test_confusion_matrix_labels_its_classes_by_name(tmp_path, closed_figures):
  closed = closed_figures
  plots.confusion_matrix([[5, 1], [2, 7]], str(tmp_path / "cm.png"),
                         class_names=["bad", "good"])
  ax = closed[0].axes[0]
  assert [t.get_text() for t in ax.get_xticklabels()] == ["bad", "good"]
  assert [t.get_text() for t in ax.get_yticklabels()] == ["bad", "good"]
  cells = sorted(t.get_text() for t in ax.texts)
  assert cells == ["1", "2", "5", "7"]
  with pytest.raises(ValueError, match="class_names: 3 names for a 2x2"):
    plots.confusion_matrix([[5, 1], [2, 7]], str(tmp_path / "x.png"),
                           class_names=["a", "b", "c"])


@pytest.mark.parametrize("names,shown", [
    (None, ["class 0", "class 1", "class 2"]),
    (["setosa", "versicolor", "virginica"],
     ["setosa", "versicolor", "virginica"])])
def test_decision_regions_have_a_legend_of_the_classes(tmp_path, closed_figures,
                                                        names, shown):
  closed = closed_figures
  x = np.array([[0., 0.], [1., 0.], [0., 1.]])
  plots.decision_regions(lambda p: np.argmax(
      np.stack([-p[:, 0] - p[:, 1], p[:, 0], p[:, 1]], 1), 1), x,
                         np.array([0, 1, 2]), str(tmp_path / "dr.png"),
                         class_names=names)
  legend = closed[0].axes[0].get_legend()
  assert [t.get_text() for t in legend.get_texts()] == shown
  # Each entry has its class's colour, as the regions and points do.
  colors = [tuple(h.get_markerfacecolor()[:3])
            for h in legend.legend_handles]
  assert colors == [tuple(c[:3]) for c in plots.class_colors(3)]


def visible_ticks(axis):
  lo, hi = sorted(axis.get_view_interval())
  return [t for t, label in zip(axis.get_majorticklocs(),
                                axis.get_majorticklabels())
          if lo <= t <= hi and label.get_text()]


def test_sweep_ticks_are_the_rates(tmp_path, closed_figures):
  closed = closed_figures
  rates = [0.003, 0.01, 0.03, 0.1]
  rows = [{"learning_rate": lr, "seed": s, "diverged": False,
           "test_accuracy": 0.9 + s / 100} for lr in rates for s in range(2)]
  plots.sweep(str(tmp_path / "s.png"), rows, rates, "test_accuracy", "acc")
  ax = closed[0].axes[0]
  assert ax.get_xscale() == "log"
  labels = [t.get_text() for t in ax.get_xticklabels()
            if t.get_text()]
  assert labels == ["0.003", "0.01", "0.03", "0.1"]


def test_a_sweeps_mean_of_the_seeds_left_is_hollow(tmp_path, closed_figures):
  # At rate 1, 3 of 4 seeds diverged: its mean is the one seed left, drawn
  # hollow (it was drawn as the means over all seeds are).
  rates = [0.1, 1.0]
  rows = [{"learning_rate": lr, "seed": s, "diverged": lr == 1 and s > 0,
           "test_loss": 0.1 + s / 100} for lr in rates for s in range(4)]
  plots.sweep(str(tmp_path / "s.png"), rows, rates, "test_loss", "cost",
              higher_is_better=False)
  ax = closed_figures[0].axes[0]
  hollow, = [line for line in ax.lines
             if line.get_label().startswith("mean of the seeds left")]
  assert list(hollow.get_xdata()) == [1.0]
  assert list(hollow.get_ydata()) == [pytest.approx(0.1)]


def test_sweep_zooms_in_on_the_rates_near_the_best(tmp_path, closed_figures):
  # One rate far below the others: a second panel fitted to the others.
  closed = closed_figures
  rates = [0.001, 0.01, 0.1]
  score = {0.001: 0.3, 0.01: 0.95, 0.1: 0.96}
  rows = [{"learning_rate": lr, "seed": s, "diverged": False,
           "test_accuracy": score[lr] + s / 1000}
          for lr in rates for s in range(3)]
  plots.sweep(str(tmp_path / "s.png"), rows, rates, "test_accuracy", "acc")
  _, zoom = closed[0].axes
  lo, hi = zoom.get_ylim()
  assert 0.9 < lo < 0.95 and 0.962 < hi < 1.0


@pytest.mark.parametrize("low,high", [(0.27, 0.6), (0.56, 2.4),
                                      (1.2, 2.0), (0.02, 0.9), (1e-6, 1.0)])
def test_log_cost_axis_has_readable_ticks(tmp_path, closed_figures, low, high):
  closed = closed_figures
  history = {"train_loss": list(np.geomspace(high, low, 20))}
  plots.learning_curves(history, str(tmp_path / "c.png"))
  axis = closed[0].axes[0].yaxis
  shown = visible_ticks(axis)
  assert 3 <= len(shown) <= 9, shown
  assert not [t.get_text() for t in axis.get_minorticklabels()
              if t.get_text()]
  # A tick near each end of the view, so that the last cost can be read.
  lo, hi = np.log(sorted(axis.get_view_interval()))
  assert (np.log(min(shown)) - lo) / (hi - lo) < 0.3, shown
  assert (hi - np.log(max(shown))) / (hi - lo) < 0.3, shown


def test_technique_panels_fit_their_axis_to_the_curves(tmp_path,
                                                       closed_figures):
  # One technique far below the rest no longer squeezes the others.
  closed = closed_figures
  epochs = 40
  base = np.linspace(0.6, 0.93, epochs)
  plots.technique_curves(str(tmp_path / "t.png"), {
      "baseline": base, "l2": base + 0.005, "shift": base - 0.3})
  ax_l2, ax_shift = closed[0].axes[:2]
  assert ax_l2.get_ylim()[0] > 0.6 and ax_shift.get_ylim()[0] < 0.4
  assert [line.get_label() for line in ax_l2.lines] == ["baseline", "l2"]


def test_run_title_tells_runs_apart():
  quick = dict(dataset="digits", hidden=[30], activation="sigmoid",
               optimizer="sgd", learning_rate=3.0, batch_size=10, seed=0,
               epochs=30, l2=0.0, dropout=0.0, max_norm=0.0, augment=[],
               schedule="constant", momentum=0.9, model="mlp")
  nesterov = dict(quick, optimizer="nesterov", learning_rate=0.1,
                  batch_size=100000, seed=3, l2=1e-4)
  a = plots.run_title(quick, [64, 30, 10])
  b = plots.run_title(nesterov, [64, 30, 10], num_train=1258)
  assert a == ("digits, 64-30-10 sigmoid\nsgd, lr 3, batch 10, 30 epochs, "
               "seed 0")
  assert b == ("digits, 64-30-10 sigmoid\nnesterov, lr 0.1, full batch, "
               "L2 0.0001, 30 epochs, seed 3")
  assert "lr" not in plots.run_title(quick, omit=("learning_rate",))
  # A run that stopped early says after how many of its epochs (the title
  # gave the budget alone); one that ran them all, the budget.
  assert plots.run_title(quick, epochs_run=12).endswith(
      "batch 10, 12 of 30 epochs, seed 0")
  assert plots.run_title(quick, epochs_run=30).endswith("30 epochs, seed 0")


def test_a_runs_figures_say_when_it_stopped_early(tmp_path, closed_figures):
  # The record figures take the epochs run from results.json.
  history = {"train_loss": [0.5, 0.2], "train_accuracy": [0.8, 1.0]}
  results = {"config": {"model": "mlp", "dataset": "moons", "epochs": 2000},
             "epochs_run": 2}
  drawing.record_figures(str(tmp_path), history, results, "png",
                         names=("learning_curves",))
  assert "2 of 2000 epochs" in closed_figures[0].texts[0].get_text()


def test_a_perceptrons_title_shows_only_what_it_uses():
  # The perceptron rule takes no optimizer, momentum, batches or penalty.
  config = dict(dataset="iris", model="perceptron", optimizer="momentum",
                momentum=0.9, learning_rate=0.5, batch_size=32, l2=0.1,
                dropout=0.5, epochs=80, seed=2, hidden=[64],
                activation="relu")
  assert plots.run_title(config, [4, 1]) == (
      "iris, perceptron\nperceptron rule, eta 0.5, 80 epochs, seed 2")


def test_the_learning_curves_name_what_their_cost_measures(tmp_path,
                                                          closed_figures):
  closed = closed_figures
  history = {"train_loss": [0.2, 0.0], "train_accuracy": [0.8, 1.0]}
  for model in ("perceptron", "mlp"):   # as a run's record figures
    drawing.record_figures(str(tmp_path), history,
                           {"config": {"model": model, "dataset": "iris"}},
                           "png", names=("learning_curves",))
  assert [fig.axes[0].get_ylabel() for fig in closed] == [
      "mistakes (fraction of the epoch)", "cost"]


def test_a_regression_fit_has_one_legend_below_its_panels(tmp_path,
                                                          closed_figures):
  # A legend inside each panel covered points and curves (lissajous).
  closed = closed_figures
  x = np.linspace(0, 1, 20)[:, None]
  curve = lambda t: np.concatenate([np.sin(6 * t), np.cos(6 * t)], 1)
  plots.regression_fit(curve, x, curve(x), str(tmp_path / "fit.png"),
                       truth=curve)
  fig, = closed
  assert len(fig.axes) == 3 and all(ax.get_legend() is None
                                    for ax in fig.axes)
  legend, = fig.legends
  assert [t.get_text() for t in legend.get_texts()] == [
      "data", "network", "truth (no noise)"]
  lowest_axes = min(ax.get_tightbbox().y0 for ax in fig.axes)
  assert legend.get_window_extent().y1 <= lowest_axes


def test_a_log_axis_with_nothing_positive_is_drawn(
    tmp_path, closed_figures):
  # Every value NaN (runs that all diverged): matplotlib's log locators
  # raised "Data cannot be log-scaled" and failed the run; the figure is
  # drawn.
  fig, ax = plots.plt.subplots()
  nan = [np.nan] * 3
  ax.plot([1, 2, 3], nan)   # a median and its range, as momentum draws
  ax.fill_between([1, 2, 3], nan, nan)
  plots.log_ticks(ax, "y")
  plots.save(fig, str(tmp_path / "nan.png"))
  assert closed_figures and (tmp_path / "nan.png").exists()


def test_the_learning_curves_of_a_run_that_diverged_at_once(tmp_path,
                                                           closed_figures):
  # Its one epoch's cost is NaN: the cost panel says so (it was blank),
  # and the epoch axis has the one epoch as its tick (0.945 ... 1.050).
  history = {"train_loss": [np.nan], "train_accuracy": [0.1],
             "val_loss": [np.nan], "val_accuracy": [0.08]}
  plots.learning_curves(history, str(tmp_path / "lc.png"))
  cost, accuracy = closed_figures[0].axes
  assert [t.get_text() for t in cost.texts] == [
      "no finite cost to draw\n(the run diverged)"]
  for ax in (cost, accuracy):
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t
             <= ax.get_xlim()[1]]
    assert ticks == [1], ticks


def test_the_learning_curves_mark_the_threshold_and_the_kept_epoch(
    tmp_path, closed_figures):
  # A run's cost_threshold is a line on its cost; with early stopping the
  # epoch whose parameters the run kept is a line across both panels.
  history = {"train_loss": [0.9, 0.5, 0.3, 0.2], "val_loss": [1, .6, .5, .7],
             "train_accuracy": [.5, .7, .8, .9], "val_accuracy": [.5, .6,
                                                                 .7, .6]}
  results = {"config": {"model": "mlp", "cost_threshold": 0.1,
                        "early_stopping_patience": 2}, "best_epoch": 3}
  drawing.record_figures(str(tmp_path), history, results, "png",
                         names=("learning_curves",))
  cost, accuracy = closed_figures[0].axes
  labels = lambda ax: [line.get_label() for line in ax.lines]
  assert labels(cost) == ["training", "validation", "cost_threshold 0.1",
                          "parameters kept: epoch 3"]
  assert labels(accuracy)[-1] == "parameters kept: epoch 3"
  # Without them: the curves alone.
  results = {"config": {"model": "mlp"}, "best_epoch": 3}
  drawing.record_figures(str(tmp_path), history, results, "png",
                         names=("learning_curves",))
  assert labels(closed_figures[1].axes[0]) == ["training", "validation"]


def test_a_diverged_runs_learning_curves_say_so_in_readable_numbers(
    tmp_path, closed_figures):
  # Its title says at which epoch it diverged (the NaN epoch is not drawn,
  # and nothing said why the curve stopped); a cost axis of 1e30-1e33 is
  # labelled in powers of ten (it was written out in 33 digits).
  history = {"train_loss": [2.3e30, np.nan], "val_loss": [4.8e32, np.nan],
             "train_accuracy": [0.17, 0.11], "val_accuracy": [0.08, 0.08]}
  results = {"config": {"model": "mlp", "dataset": "digits", "epochs": 20},
             "epochs_run": 2, "diverged": True}
  drawing.record_figures(str(tmp_path), history, results, "png",
                         names=("learning_curves",))
  fig = closed_figures[0]
  assert fig.texts[0].get_text().endswith(
      "\ndiverged at epoch 2: the cost or the weights became NaN/Inf (not "
      "drawn)")
  assert experiment.DIVERGED in fig.texts[0].get_text()   # the same words
  cost = fig.axes[0]
  labels = [t.get_text() for t in cost.get_yticklabels() if t.get_text()]
  assert labels and all("10^" in t and not re.search(r"\d{4}", t)
                        for t in labels), labels


@pytest.mark.parametrize("low,high,sci", [
    (0.01, 10, False), (1e3, 5e5, False), (1e6, 5e7, True),
    (1e-6, 1e-4, True), (0.1, 100, False), (0.1, 2e5, True)])
def test_log_ticks_are_powers_of_ten_far_from_one(tmp_path, closed_figures,
                                                  low, high, sci):
  fig, ax = plots.plt.subplots()
  ax.plot([1, 2], [low, high])
  plots.log_ticks(ax, "y")
  plots.save(fig, str(tmp_path / "ticks.png"))
  labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
  assert labels and all(("10^" in t) == sci for t in labels), labels
