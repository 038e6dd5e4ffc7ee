"""experiments.drawing: a run's record figures, drawn in processes of their
own while the run goes on."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from experiments import drawing
from experiments.drawing import RECORDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RESULTS = {
    "config": {"dataset": "iris", "activation": "relu", "optimizer": "sgd",
               "learning_rate": 0.3, "batch_size": 16, "epochs": 3,
               "seed": 0},
    "sizes": [4, 8, 3], "num_train": 100,
    "confusion_matrix": [[10, 0, 0], [0, 9, 1], [0, 2, 8]],
    "class_names": ["setosa", "versicolor", "virginica"]}
# A validation split of no examples: null metrics (NaN once read).
ROWS = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e,
         "val_loss": None, "val_accuracy": None} for e in (1, 2, 3)]


def _run_files(folder):
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "results.json").write_text(json.dumps(RESULTS))
  (folder / "metrics.jsonl").write_text(
      "".join(json.dumps(r) + "\n" for r in ROWS))
  return folder


def _pngs(folder):
  return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


@pytest.mark.parametrize("processes", [1, 2])
def test_the_processes_draw_what_the_run_would_draw(tmp_path, processes):
  # Byte for byte the figures drawn in this process from the same files,
  # by one process or by one per figure.
  here, there = _run_files(tmp_path / "here"), _run_files(tmp_path / "there")
  with drawing.Drawer(processes=processes) as drawer:
    drawer.start(str(there), "png")
    assert drawer.finish() == (), drawer.error
  assert _pngs(there) == ["confusion_matrix.png", "learning_curves.png"]
  history = drawing.read_history(str(here / "metrics.jsonl"))
  assert drawing.record_figures(str(here), history, RESULTS, "png") == [
      str(here / "learning_curves.png"), str(here / "confusion_matrix.png")]
  for name in ("learning_curves.png", "confusion_matrix.png"):
    assert (here / name).read_bytes() == (there / name).read_bytes()


def test_a_regression_run_has_no_confusion_matrix(tmp_path):
  folder = _run_files(tmp_path)
  results = {**RESULTS, "confusion_matrix": None}
  (folder / "results.json").write_text(json.dumps(results))
  with drawing.Drawer() as drawer:
    drawer.start(str(folder), "svg")
    assert drawer.finish() == ()
  assert [f for f in os.listdir(folder) if f.endswith(".svg")] == [
      "learning_curves.svg"]


def test_a_process_that_cannot_draw_says_why(tmp_path):
  # No results.json: the process fails, the caller learns which figures
  # are not drawn (and draws them itself) and why, the process's last line.
  (tmp_path / "metrics.jsonl").write_text("")
  with drawing.Drawer(("learning_curves",)) as drawer:
    drawer.start(str(tmp_path), "png")
    assert drawer.finish() == ("learning_curves",)
  assert drawer.error.startswith("learning_curves: exited with code 1: ")
  assert "FileNotFoundError" in drawer.error and "results.json" in (
      drawer.error)
  assert _pngs(tmp_path) == []


def test_one_process_failing_leaves_the_others_figures(tmp_path):
  # The confusion matrix cannot be drawn; its process fails, the learning
  # curves' process draws them. The caller waits for both and learns
  # which is missing.
  folder = _run_files(tmp_path)
  (folder / "results.json").write_text(
      json.dumps({**RESULTS, "confusion_matrix": [[1, 2], [3]]}))
  with drawing.Drawer(processes=2) as drawer:
    drawer.start(str(folder), "png")
    assert drawer.finish() == ("confusion_matrix",)
  assert drawer.error.startswith("confusion_matrix: exited with code 1: ")
  assert _pngs(folder) == ["learning_curves.png"]


def test_a_process_that_does_not_start_leaves_its_figures_to_the_run(
    tmp_path, monkeypatch):
  # The second process cannot start (no memory, too many processes): the
  # first is stopped, every figure is the run's to draw, and telling the
  # processes to start fails nothing.
  started, popen = [], subprocess.Popen
  def second_fails(*args, **kwargs):
    if started:
      raise OSError(11, "Resource temporarily unavailable")
    started.append(popen(*args, **kwargs))
    return started[-1]
  monkeypatch.setattr(subprocess, "Popen", second_fails)
  with drawing.Drawer(processes=2) as drawer:
    drawer.start(str(_run_files(tmp_path)), "png")
    assert drawer.finish() == RECORDS
  assert drawer.error == ("could not start: [Errno 11] Resource "
                          "temporarily unavailable")
  assert started[0].returncode is not None
  assert _pngs(tmp_path) == []


def test_a_run_that_fails_stops_its_processes():
  with pytest.raises(RuntimeError):
    with drawing.Drawer(processes=2) as drawer:
      raise RuntimeError("the run failed before its figures")
  # pylint: disable=protected-access
  assert [p.returncode for _, p in drawer._procs] == [-signal.SIGKILL] * 2


def test_ctrl_c_is_the_runs_to_handle():
  # A Ctrl-C in a terminal reaches the terminal's foreground process group:
  # the drawing processes are in groups of their own, so that the run
  # decides whether it ends (and then stops them).
  with drawing.Drawer(processes=2) as drawer:
    # pylint: disable=protected-access
    groups = {os.getpgid(p.pid) for _, p in drawer._procs}
  assert len(groups) == 2 and os.getpgid(0) not in groups


@pytest.mark.parametrize("cores, shares", [
    (1, [RECORDS]), (2, [RECORDS]), (3, [RECORDS[:1], RECORDS[1:]]),
    (16, [RECORDS[:1], RECORDS[1:]])])
def test_a_process_per_figure_where_the_run_leaves_a_core_to_each(
    monkeypatch, cores, shares):
  monkeypatch.setattr(drawing, "cores", lambda: cores)
  with drawing.Drawer() as drawer:
    # pylint: disable=protected-access
    assert [tuple(names) for names, _ in drawer._procs] == shares


def test_a_closed_input_ends_the_process_quietly():
  # The run ended without figures (it failed, or drew them itself): the
  # process sees its input close and ends at once, without a word.
  proc = subprocess.run(drawing.COMMAND, input="", capture_output=True,
                        text=True, timeout=120)
  assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.slow
def test_a_run_draws_the_figures_its_processes_could_not(tmp_path):
  # experiments.train whose drawing processes fail (sent to a workdir
  # without the run's files): the run warns, draws them itself, the same
  # bytes as a run whose processes drew them.
  def train(workdir, patch=""):
    code = ("import runpy, sys; from experiments import drawing; " + patch
            + f"sys.argv = ['train', '--dataset=iris', '--hidden=4', "
            f"'--epochs=3', '--workdir={workdir}']; "
            "runpy.run_module('experiments.train', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  drawn = train(tmp_path / "drawn")
  assert drawn.returncode == 0, drawn.stderr
  failed = train(tmp_path / "failed", patch=(
      "start = drawing.Drawer.start; drawing.Drawer.start = lambda self, "
      "workdir, fmt: start(self, workdir + '-missing', fmt); "))
  assert failed.returncode == 0, failed.stderr
  assert re.search(r"drawing process learning_curves(\+confusion_matrix)?"
                   r": exited with code 1: FileNotFoundError", failed.stderr)
  assert "; drawing learning_curves and confusion_matrix here." in (
      failed.stderr)
  assert "drawing process" not in drawn.stderr
  for name in ("learning_curves.png", "confusion_matrix.png"):
    assert ((tmp_path / "drawn" / name).read_bytes()
            == (tmp_path / "failed" / name).read_bytes())
