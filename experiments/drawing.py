"""A training run's record figures (learning curves, confusion matrix),
drawn from its files, and a process of their own that draws them while the
run goes on.

Importing matplotlib and drawing these two figures take about a second of
a small run (BENCHMARKS.md, "Small jobs, whole process"). A
:class:`Drawer` started when the run starts imports matplotlib in a
process of its own, beside the run's JAX work; once the run has written
results.json and metrics.jsonl it draws from them, the same figures
``experiments.plot`` would draw later, while the run writes the rest (on
Linux with more than one core, the first figure in the process itself and
each other one in a fork of it, at the same time). The figures it did not
draw (it failed to start, or a figure failed) the run draws itself, as
before.

This module imports neither JAX nor absl flags: the drawing process loads
only NumPy and matplotlib.
"""

import gc
import importlib
import json
import os
import signal
import subprocess
import sys
from typing import Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A drawing process: its own interpreter, this checkout's modules first.
COMMAND = [sys.executable, "-c",
           f"import sys; sys.path.insert(0, {ROOT!r}); "
           "from experiments import drawing; drawing.serve()"]
# ... with one BLAS thread: it multiplies no matrices worth more, and a
# process of one thread is safe to fork.
ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
# The run waits this many seconds for its drawing process, then stops it
# and draws what it did not.
TIMEOUT_S = 300
# Where a process that imported matplotlib may fork to draw figures at the
# same time (elsewhere a fork can break system libraries, or there is none).
FORKS = sys.platform.startswith("linux")


# The figure formats a script writes (--figure_format).
FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_file(workdir: str, name: str, fmt: str) -> str:
  """The path of figure ``name`` in ``workdir``, in format ``fmt``."""
  return os.path.join(workdir, f"{name}.{fmt}")


def read_history(path: str) -> dict:
  """Reads metrics.jsonl back into ``{name: np.ndarray}`` (null -> NaN)."""
  with open(path) as f:
    return read_history_lines(f)


def read_history_lines(lines) -> dict:
  """:func:`read_history` of metrics.jsonl's ``lines``."""
  rows = [json.loads(line) for line in lines if line.strip()]
  names = [k for k in (rows[0] if rows else {}) if k != "epoch"]
  return {n: np.array([np.nan if r[n] is None else r[n] for r in rows],
                      float) for n in names}


# A run's record figures, in the order they are drawn.
RECORDS = ("learning_curves", "confusion_matrix")


def run_title(results: dict) -> str:
  """The title of a training run's figures, from its results.json: its
  settings and, where it stopped early, the epochs it ran."""
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  if not results.get("config"):   # settings unknown: none shown
    return ""
  return plots.run_title(results["config"], results.get("sizes"),
                         num_train=results.get("num_train"),
                         epochs_run=results.get("epochs_run"))


def record_figures(workdir: str, history: dict, results: dict, fmt: str,
                   names: tuple = RECORDS, note: str = "") -> list[str]:
  """Draws a run's learning curves and (for a classifier) its confusion
  matrix, those of them in ``names``, into ``workdir`` in format ``fmt``,
  ``note`` a last line of their title; returns their paths."""
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  if results.get("diverged") and not note:
    # nn_jax.experiment.DIVERGED's words (this process imports no JAX).
    note = (f"diverged at epoch {results.get('epochs_run')}: the cost or "
            f"the weights became NaN/Inf (not drawn)")
  title = "\n".join(t for t in (run_title(results), note) if t)
  written = []
  if "learning_curves" in names:
    # A perceptron's training "cost" is the share of the epoch's examples
    # it misclassified (and updated on).
    config = results["config"]
    cost = ("mistakes (fraction of the epoch)"
            if config.get("model") == "perceptron" else "cost")
    # With early stopping the run keeps its best validation epoch's
    # parameters, whether or not it stopped before the last epoch.
    kept = (results.get("best_epoch") or 0
            if config.get("early_stopping_patience") else 0)
    written.append(plots.learning_curves(
        history, figure_file(workdir, "learning_curves", fmt), title, cost,
        threshold=config.get("cost_threshold") or 0.0, kept_epoch=kept))
  if "confusion_matrix" in names and results.get("confusion_matrix"):
    written.append(plots.confusion_matrix(
        results["confusion_matrix"],
        figure_file(workdir, "confusion_matrix", fmt), title,
        class_names=results.get("class_names") or None))
  return written


def may_draw(args, environ=os.environ) -> bool:
  """Whether a command's arguments ``args`` leave the figures on: no
  ``--nofigures`` or ``--figures=false`` among them (flags from a file are
  read later), and it is not a process other than the first of a run on
  several (``experiments.launch``'s ``NN_JAX_PROCESS_ID``, or JAX's
  ``JAX_PROCESS_ID``, in ``environ``), which writes no results."""
  off = {"--nofigures", "-nofigures"} | {
      f"{dashes}figures={value}" for dashes in ("-", "--")
      for value in ("false", "False", "FALSE", "f", "F", "0")}
  process = environ.get("NN_JAX_PROCESS_ID") or environ.get(
      "JAX_PROCESS_ID") or "0"
  return not off & set(args) and process.strip() == "0"


def cores() -> int:
  """The CPU cores this process may run on (a container's CPU quota
  aside)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def _one_line(text: str, limit: int = 300) -> str:
  """``text``'s words on one line, cut to ``limit`` characters."""
  line = " ".join(str(text).split())
  return line if len(line) <= limit else line[:limit - 3] + "..."


def _last_line(text: str) -> str:
  lines = text.strip().splitlines()
  return _one_line(lines[-1]) if lines else ""


class Drawer:
  """Draws a run's record figures in a Python process of its own.

  Started when the run starts, the process imports matplotlib at once and
  then waits; :meth:`start` tells it the workdir (whose results.json and
  metrics.jsonl are written), :meth:`finish` waits for it. With
  ``parallel`` (default: where :data:`FORKS` and the machine has more than
  one core) it draws the first of ``names`` itself and each other one in a
  fork of its own, at the same time: the import is paid once (on two
  cores, a second process importing matplotlib took as much time from the
  training as it saved), and the run, which by then only writes its last
  files, leaves the cores to them. Used as a context manager, a process
  still running is stopped with its forks (a run that failed draws
  nothing). :attr:`names` may change until :meth:`start`. The process
  runs in a session of its own, out of the reach of a Ctrl-C at the
  terminal, which is the run's to handle; it ends when the run closes its
  input.
  """

  def __init__(self, names: tuple = RECORDS,
               parallel: Optional[bool] = None):
    self.names, self.error = tuple(names), ""
    self.parallel = (FORKS and cores() > 1) if parallel is None else parallel
    self._ended = False   # it and its forks (which share its output) ended
    try:
      self._proc = subprocess.Popen(
          COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
          start_new_session=True, env={**os.environ, **ENVIRONMENT})
    except OSError as e:
      self._proc, self.error = None, f"could not start: {e}"

  def start(self, workdir: str, fmt: str) -> None:
    """Has the process draw the figures of the run in ``workdir``."""
    proc = self._proc
    stdin = proc.stdin if proc is not None else None
    if stdin is None:   # not started, or started already
      return
    proc.stdin = None   # communicate() skips it
    try:
      stdin.write(json.dumps({"workdir": os.path.abspath(workdir),
                              "format": fmt, "names": list(self.names),
                              "parallel": self.parallel}) + "\n")
      stdin.close()
    except (OSError, ValueError):   # it ended already: finish() says why
      pass

  def _report(self, out: str) -> Optional[dict]:
    """The process's answer (see :func:`draw_job`), the last line of
    ``out`` (a library may have printed before it), if it is whole: every
    figure asked for either drawn (its files there) or failed, saying
    why."""
    try:
      report = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
      return None
    if not (isinstance(report, dict) and set(report) == {"drawn", "failed"}
            and isinstance(report["drawn"], dict)
            and isinstance(report["failed"], dict)):
      return None
    drawn, failed = report["drawn"], report["failed"]
    if (set(drawn) | set(failed) != set(self.names) or set(drawn) & set(
        failed) or not all(isinstance(paths, list) and all(
            isinstance(p, str) and os.path.exists(p) for p in paths)
                           for paths in drawn.values())):
      return None
    return report

  def finish(self) -> tuple:
    """Waits for the process (at most :data:`TIMEOUT_S` seconds, then stops
    it and its forks); returns the names of the figures it did not draw,
    :attr:`error` saying why, in one line."""
    proc = self._proc
    if proc is None:
      return self.names
    try:
      out, err = proc.communicate(timeout=TIMEOUT_S)
      self._ended = True   # its output closed and it exited: its forks too
    except subprocess.TimeoutExpired:
      self.close()
      out, err = "", f"drew nothing in {TIMEOUT_S} s"
    report = self._report(out) if proc.returncode == 0 else None
    if report is None:
      if proc.returncode == 0 and out.strip():
        why = f"answered what is not a report: {_last_line(out)}"
      else:
        why = f"exited with code {proc.returncode}" + (
            f": {_last_line(err)}" if _last_line(err) else "")
      self.error = f"{'+'.join(self.names)}: {why}"
      return self.names
    failed = report["failed"]
    self.error = "; ".join(f"{name}: {_one_line(why)}"
                           for name, why in failed.items())
    return tuple(n for n in self.names if n in failed)

  def close(self) -> None:
    """Stops the process and its forks unless :meth:`finish` saw them end:
    also forks of a process that has exited, which would hold its output
    open."""
    proc = self._proc
    if proc is None or self._ended:
      return
    try:   # its session's group: the forks too
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:   # none of them left
      pass
    except (AttributeError, OSError):   # no process groups here
      if proc.poll() is None:
        proc.kill()
    proc.communicate()
    self._ended = True

  def __enter__(self) -> "Drawer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _exception_line() -> str:
  """The exception being handled, in one line, its traceback to stderr."""
  import traceback  # pylint: disable=g-import-not-at-top
  traceback.print_exc()
  kind, value, _ = sys.exc_info()
  return _one_line(f"{kind.__name__}: {value}" if str(value)
                   else kind.__name__)


def _draw(workdir, history, results, fmt, name) -> dict:
  """``{"drawn": paths}`` of figure ``name``, or ``{"error": why}``."""
  try:
    return {"drawn": record_figures(workdir, history, results, fmt, (name,))}
  except Exception:  # pylint: disable=broad-except
    return {"error": _exception_line()}


def _forked(function) -> tuple:
  """Calls ``function()`` (returning a JSON value) in a fork of this
  process; returns ``(pid, read end)`` of the pipe its value comes by."""
  read, write = os.pipe()
  try:
    pid = os.fork()
  except OSError:
    os.close(read)
    os.close(write)
    raise
  if pid == 0:   # the fork: its value down the pipe, then gone at once
    code = 0
    try:
      os.close(read)
      with os.fdopen(write, "w") as pipe:
        json.dump(function(), pipe)
    except BaseException:  # pylint: disable=broad-except
      code = 1
    sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access
  os.close(write)
  return pid, read


def _collect(pid: int, read: int) -> dict:
  """The value of a fork from :func:`_forked`, once it has ended."""
  with os.fdopen(read) as pipe:
    text = pipe.read()
  _, status = os.waitpid(pid, 0)
  try:
    return json.loads(text)
  except json.JSONDecodeError:
    return {"error": f"its fork exited with code "
                     f"{os.waitstatus_to_exitcode(status)}"}


def draw_job(job: dict) -> dict:
  """Draws the figures a :class:`Drawer` asks for (``job``: ``workdir``,
  ``format``, ``names``, ``parallel``); returns ``{"drawn": {name:
  paths}, "failed": {name: why}}`` (a figure with nothing to draw, as a
  regression's confusion matrix, drawn with no paths). With ``parallel``
  (and :data:`FORKS`) every figure but the first is drawn in a fork, all
  at the same time; one whose fork cannot start is drawn here."""
  workdir, fmt, names = job["workdir"], job["format"], job["names"]
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  history = read_history(os.path.join(workdir, "metrics.jsonl"))
  draw = lambda name: _draw(workdir, history, results, fmt, name)
  forks = {}
  for name in (names[1:] if job.get("parallel") and FORKS else ()):
    try:
      forks[name] = _forked(lambda n=name: draw(n))
    except OSError:   # no memory or processes to spare: drawn here
      break
  outcome = {name: draw(name) for name in names if name not in forks}
  outcome.update({name: _collect(*fork) for name, fork in forks.items()})
  return {"drawn": {name: outcome[name]["drawn"] for name in names
                    if "drawn" in outcome[name]},
          "failed": {name: outcome[name].get("error", "no answer")
                     for name in names if "drawn" not in outcome[name]}}


def serve() -> None:
  """The drawing process: imports matplotlib, reads one request line (see
  :func:`draw_job`), draws, prints what it drew and failed as one JSON
  object and ends at once (the interpreter's teardown would add a fifth of
  a second to the run's wait). Ends quietly when the run closes its input
  without a request. The cyclic garbage collector stays off: it would go
  over matplotlib's objects while they are imported (a tenth of the
  import), and the process ends after one job."""
  gc.disable()
  code = 0
  try:
    importlib.import_module("nn_jax.plots")   # matplotlib, while it waits
    line = sys.stdin.readline()
    if line.strip():
      print(json.dumps(draw_job(json.loads(line))))
  except BaseException:  # pylint: disable=broad-except
    _exception_line()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access
