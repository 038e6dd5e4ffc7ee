"""experiments.drawing: a run's record figures, drawn in a process of their
own (and its forks) while the run goes on."""

import json
import os
import re
import signal
import subprocess
import sys
import time

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


@pytest.mark.parametrize("parallel", [False, True])
def test_the_process_draws_what_the_run_would_draw(tmp_path, parallel):
  # Byte for byte the figures drawn in this process from the same files,
  # one after the other or each in a fork at the same time.
  here, there = _run_files(tmp_path / "here"), _run_files(tmp_path / "there")
  with drawing.Drawer(parallel=parallel) as drawer:
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
  with drawing.Drawer() as drawer:
    drawer.start(str(tmp_path), "png")
    assert drawer.finish() == RECORDS
  assert drawer.error.startswith(
      "learning_curves+confusion_matrix: exited with code 1: ")
  assert "FileNotFoundError" in drawer.error and "results.json" in (
      drawer.error)
  assert _pngs(tmp_path) == []


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("names", [RECORDS, RECORDS[::-1]])
def test_a_figure_that_fails_leaves_the_others(tmp_path, parallel, names):
  # The confusion matrix cannot be drawn (a class name that is bad
  # mathtext, whose error spans lines); the learning curves are. Drawn one
  # after the other, or the matrix in a fork (RECORDS) or in the process
  # itself (reversed). The caller learns which is missing, and why, in
  # one line.
  folder = _run_files(tmp_path)
  (folder / "results.json").write_text(json.dumps(
      {**RESULTS, "class_names": ["$\\frac{$", "b", "c"]}))
  with drawing.Drawer(names, parallel=parallel) as drawer:
    drawer.start(str(folder), "png")
    assert drawer.finish() == ("confusion_matrix",)
  assert drawer.error.startswith("confusion_matrix: ValueError: "), (
      drawer.error)
  assert "\n" not in drawer.error and "frac" in drawer.error
  assert _pngs(folder) == ["learning_curves.png"]


@pytest.mark.skipif(not drawing.FORKS, reason="draws in forks on Linux only")
def test_a_fork_that_dies_says_so(python):
  # A fork that ends without its answer (killed, out of memory): its
  # figure is reported failed with its exit code. In a process of its
  # own, without JAX's threads.
  code = ("import os; from experiments import drawing; "
          "print(drawing._collect(*drawing._forked(lambda: os._exit(7))), "
          "drawing._collect(*drawing._forked(lambda: {'drawn': []})))")
  proc = python(code, timeout=60)
  assert proc.stdout.strip() == (
      "{'error': 'its fork exited with code 7'} {'drawn': []}"), proc.stderr


def _patched(monkeypatch, before_serve: str) -> None:
  """Drawing processes that run ``before_serve`` (Python, with ``os``,
  ``time`` and ``drawing`` imported) before they serve."""
  monkeypatch.setattr(drawing, "COMMAND", drawing.COMMAND[:-1] + [
      drawing.COMMAND[-1].replace(
          "drawing.serve()",
          f"import os, time; {before_serve}; drawing.serve()")])


@pytest.mark.parametrize("before_serve, drawn, error", [
    # A library prints first: the last line is the answer.
    ("print('a word from a library')", True, ""),
    # An answer that is not one.
    ("drawing.draw_job = lambda job: 'garbage'", False,
     "answered what is not a report: \"garbage\""),
    # One that leaves out a figure.
    ("drawing.draw_job = lambda job: {'drawn': {}, 'failed': {}}", False,
     "answered what is not a report: "),
    ("drawing.draw_job = lambda job: {'drawn': {'learning_curves': "
     "['/no/such/file.png']}, 'failed': {'confusion_matrix': 'x'}}", False,
     "answered what is not a report: ")])
def test_only_a_whole_answer_counts(tmp_path, monkeypatch, before_serve,
                                    drawn, error):
  _patched(monkeypatch, before_serve)
  folder = _run_files(tmp_path)
  with drawing.Drawer() as drawer:
    drawer.start(str(folder), "png")
    assert drawer.finish() == (() if drawn else RECORDS)
  assert drawer.error.startswith(
      f"learning_curves+confusion_matrix: {error}" if error else ""), (
          drawer.error)


def test_a_process_that_does_not_start_leaves_its_figures_to_the_run(
    tmp_path, monkeypatch):
  # The process cannot start (no memory, too many processes): every
  # figure is the run's to draw, and telling it to start fails nothing.
  def fails(*args, **kwargs):
    raise OSError(11, "Resource temporarily unavailable")
  monkeypatch.setattr(subprocess, "Popen", fails)
  with drawing.Drawer() as drawer:
    drawer.start(str(_run_files(tmp_path)), "png")
    assert drawer.finish() == RECORDS
  assert drawer.error == ("could not start: [Errno 11] Resource "
                          "temporarily unavailable")
  assert _pngs(tmp_path) == []


def _gone(pid: int) -> bool:
  """Whether process ``pid`` has ended (a zombie not yet reaped counts)."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
  except FileNotFoundError:
    return True


def _all_gone(pids, within: float = 10) -> bool:
  """Whether every process of ``pids`` ends within ``within`` seconds."""
  deadline = time.monotonic() + within
  while not all(map(_gone, pids)) and time.monotonic() < deadline:
    time.sleep(0.05)
  return all(map(_gone, pids))


# Figures that take long: the process and its fork each write their
# process id in the workdir, then wait two minutes.
SLOW_FIGURES = ("drawing.record_figures = lambda workdir, *args: ("
                "open(os.path.join(workdir, str(os.getpid())), 'w').close(), "
                "time.sleep(120))")


def _wait_for_pids(folder, count):
  deadline = time.monotonic() + 60
  while len([f for f in os.listdir(folder) if f.isdigit()]) < count:
    assert time.monotonic() < deadline, os.listdir(folder)
    time.sleep(0.05)
  return [int(f) for f in os.listdir(folder) if f.isdigit()]


@pytest.mark.skipif(not drawing.FORKS, reason="draws in forks on Linux only")
def test_a_run_that_fails_stops_the_process_and_its_forks(
    tmp_path, monkeypatch):
  # The run fails: both are stopped at once (the fork holds the process's
  # output open: a run that stopped the process alone would wait for it).
  _patched(monkeypatch, SLOW_FIGURES)
  folder = _run_files(tmp_path)
  with pytest.raises(RuntimeError):
    with drawing.Drawer(parallel=True) as drawer:
      drawer.start(str(folder), "png")
      pids = _wait_for_pids(folder, 2)
      failed = time.monotonic()
      raise RuntimeError("the run failed before its figures")
  assert time.monotonic() - failed < 30   # not once the fork's sleep ends
  proc = drawer._proc   # pylint: disable=protected-access
  assert proc.pid in pids and proc.returncode == -signal.SIGKILL
  assert _all_gone(pids)


@pytest.mark.skipif(not drawing.FORKS, reason="draws in forks on Linux only")
@pytest.mark.parametrize("process_dies", [False, True])
def test_a_process_that_does_not_answer_in_time_is_stopped(
    tmp_path, monkeypatch, process_dies):
  # The figures take longer than TIMEOUT_S: the run stops the process and
  # its fork, and draws them itself. Also where the process itself has
  # died and left its fork running (which holds its output open).
  _patched(monkeypatch, SLOW_FIGURES + (
      "; slow = drawing.record_figures; pid = os.getpid(); "
      "drawing.record_figures = lambda *args: (os._exit(5) if "
      "os.getpid() == pid else slow(*args))" if process_dies else ""))
  monkeypatch.setattr(drawing, "TIMEOUT_S", 2)
  folder = _run_files(tmp_path)
  with drawing.Drawer(parallel=True) as drawer:
    drawer.start(str(folder), "png")
    started = time.monotonic()
    assert drawer.finish() == RECORDS
    assert time.monotonic() - started < 30
  code = 5 if process_dies else -signal.SIGKILL
  assert drawer.error == (f"learning_curves+confusion_matrix: exited with "
                          f"code {code}: drew nothing in 2 s")
  pids = [int(f) for f in os.listdir(folder) if f.isdigit()]
  assert pids and _all_gone(pids)


def test_ctrl_c_is_the_runs_to_handle():
  # A Ctrl-C in a terminal reaches the terminal's foreground process group:
  # the drawing process is in a group of its own, so that the run decides
  # whether it ends (and then stops it).
  with drawing.Drawer() as drawer:
    group = os.getpgid(drawer._proc.pid)  # pylint: disable=protected-access
  assert group != os.getpgid(0)


@pytest.mark.parametrize("cores, forks, parallel", [
    (1, True, False), (2, True, True), (16, True, True), (16, False, False)])
def test_figures_at_the_same_time_where_there_are_cores_and_forks(
    monkeypatch, cores, forks, parallel):
  monkeypatch.setattr(drawing, "cores", lambda: cores)
  monkeypatch.setattr(drawing, "FORKS", forks)
  with drawing.Drawer() as drawer:
    assert drawer.parallel is parallel


def test_a_closed_input_ends_the_process_quietly():
  # The run ended without figures (it failed, or drew them itself): the
  # process sees its input close and ends at once, without a word.
  proc = subprocess.run(drawing.COMMAND, input="", capture_output=True,
                        text=True, timeout=120)
  assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.slow
def test_a_run_draws_the_figures_its_processes_could_not(tmp_path, python):
  # experiments.train whose drawing processes fail (sent to a workdir
  # without the run's files): the run warns, draws them itself, the same
  # bytes as a run whose processes drew them.
  def train(workdir, patch=""):
    code = ("import runpy, sys; from experiments import drawing; " + patch
            + f"sys.argv = ['train', '--dataset=iris', '--hidden=4', "
            f"'--epochs=3', '--workdir={workdir}']; "
            "runpy.run_module('experiments.train', run_name='__main__')")
    return python(code, timeout=300)
  drawn = train(tmp_path / "drawn")
  assert drawn.returncode == 0, drawn.stderr
  failed = train(tmp_path / "failed", patch=(
      "start = drawing.Drawer.start; drawing.Drawer.start = lambda self, "
      "workdir, fmt: start(self, workdir + '-missing', fmt); "))
  assert failed.returncode == 0, failed.stderr
  assert re.search(r"drawing process learning_curves\+confusion_matrix: "
                   r"exited with code 1: FileNotFoundError", failed.stderr)
  assert "; drawing learning_curves and confusion_matrix here." in (
      failed.stderr)
  assert "drawing process" not in drawn.stderr
  for name in ("learning_curves.png", "confusion_matrix.png"):
    assert ((tmp_path / "drawn" / name).read_bytes()
            == (tmp_path / "failed" / name).read_bytes())


@pytest.mark.parametrize("args,draws", [
    ([], True), (["--dataset=iris", "--figures"], True),
    (["--figures=true"], True), (["--nofigures"], False),
    (["-nofigures"], False), (["--figures=false"], False),
    (["--figures=0"], False), (["--epochs=3", "--figures=f"], False)])
def test_a_command_line_that_turns_the_figures_off(args, draws):
  assert drawing.may_draw(args, {}) is draws


@pytest.mark.parametrize("environ,draws", [
    ({"NN_JAX_PROCESS_ID": "0"}, True), ({"NN_JAX_PROCESS_ID": "1"}, False),
    ({"JAX_PROCESS_ID": "3"}, False), ({"NN_JAX_PROCESS_ID": ""}, True)])
def test_only_the_first_process_of_several_draws(environ, draws):
  assert drawing.may_draw([], environ) is draws


def _processes_with(marker: str) -> list:
  """The processes whose environment holds ``marker`` (Linux's /proc)."""
  found = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/environ", "rb") as f:
        if marker.encode() in f.read():
          found.append(int(pid))
    except OSError:   # gone, or not ours
      pass
  return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads Linux's /proc")
@pytest.mark.parametrize("args", [["--no_such_flag"], ["--helpshort"],
                                  ["--dataset=no_such_data"]])
def test_a_train_command_that_ends_before_it_runs_leaves_no_process(
    tmp_path, args):
  # experiments.train starts its drawing process before JAX's import; a
  # command that ends before the run (a bad flag, --help, a bad value)
  # stops it on its way out. Here the process's import of matplotlib takes
  # a minute (a stand-in on the path), so that it is still there when the
  # command ends, unless stopped.
  (tmp_path / "matplotlib").mkdir()
  (tmp_path / "matplotlib" / "__init__.py").write_text(
      "import time\ntime.sleep(60)\n")
  marker = f"NN_JAX_TEST_MARKER={os.getpid()}-{time.monotonic_ns()}"
  env = {**os.environ, marker.split("=")[0]: marker.split("=")[1],
         "PYTHONPATH": str(tmp_path)}
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.train", *args,
       f"--workdir={tmp_path / 'run'}"], cwd=ROOT, env=env,
      capture_output=True,
      text=True, timeout=120)
  assert proc.returncode in (0, 1, 2), proc.stderr
  assert _processes_with(marker) == []
