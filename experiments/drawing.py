"""A training run's record figures (learning curves, confusion matrix),
drawn from its files, and processes of their own that draw them while the
run goes on.

Importing matplotlib and drawing these two figures take about a second of
a small run (BENCHMARKS.md, "Small jobs, whole process"). A
:class:`Drawer` started when the run starts imports matplotlib in one
process or two, beside the run's JAX work; once the run has written
results.json and metrics.jsonl they draw from them, the same figures
``experiments.plot`` would draw later, while the run writes the rest. The
figures a process did not draw (it failed to start, or ended with an
error) the run draws itself, as before.

This module imports neither JAX nor absl flags: the drawing processes
load only NumPy and matplotlib.
"""

import importlib
import json
import os
import subprocess
import sys
import time
from typing import Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A drawing process: its own interpreter, this checkout's modules first.
COMMAND = [sys.executable, "-c",
           f"import sys; sys.path.insert(0, {ROOT!r}); "
           "from experiments import drawing; drawing.serve()"]
# The run waits this many seconds for its drawing processes, then stops
# them and draws what they did not.
TIMEOUT_S = 300


def figure_file(workdir: str, name: str, fmt: str) -> str:
  """The path of figure ``name`` in ``workdir``, in format ``fmt``."""
  return os.path.join(workdir, f"{name}.{fmt}")


def read_history(path: str) -> dict:
  """Reads metrics.jsonl back into ``{name: np.ndarray}`` (null -> NaN)."""
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  names = [k for k in (rows[0] if rows else {}) if k != "epoch"]
  return {n: np.array([np.nan if r[n] is None else r[n] for r in rows],
                      float) for n in names}


# A run's record figures, in the order they are drawn.
RECORDS = ("learning_curves", "confusion_matrix")


def record_figures(workdir: str, history: dict, results: dict, fmt: str,
                   names: tuple = RECORDS) -> list[str]:
  """Draws a run's learning curves and (for a classifier) its confusion
  matrix, those of them in ``names``, into ``workdir`` in format ``fmt``;
  returns their paths."""
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  title = plots.run_title(results["config"], results.get("sizes"),
                          num_train=results.get("num_train"))
  written = []
  if "learning_curves" in names:
    written.append(plots.learning_curves(
        history, figure_file(workdir, "learning_curves", fmt), title))
  if "confusion_matrix" in names and results.get("confusion_matrix"):
    written.append(plots.confusion_matrix(
        results["confusion_matrix"],
        figure_file(workdir, "confusion_matrix", fmt), title,
        class_names=results.get("class_names") or None))
  return written


def cores() -> int:
  """The CPU cores this process may run on (a container's CPU quota
  aside)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


class Drawer:
  """Draws a run's record figures in Python processes of their own.

  Started when the run starts, each process imports matplotlib at once and
  then waits; :meth:`start` tells them the workdir (whose results.json and
  metrics.jsonl are written), :meth:`finish` waits for them. Each process
  draws its share of ``names``; ``processes`` of them (default: one per
  figure where the run leaves a core to each, else one: on two cores a
  second process's import of matplotlib takes as much time from the run as
  drawing in parallel saves, for 0.5 s more CPU). Used as a context
  manager, processes still running at the end are stopped (a run that
  failed draws nothing). Each runs in a session of its own, out of the
  reach of a Ctrl-C at the terminal, which is the run's to handle; they end
  when the run closes their input.
  """

  def __init__(self, names: tuple = RECORDS,
               processes: Optional[int] = None):
    self.names, self.error = tuple(names), ""
    self._procs = []
    count = max(1, min(len(names), processes or cores() - 1))
    try:
      for i in range(count):
        self._procs.append((self.names[i::count], subprocess.Popen(
            COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
            start_new_session=True)))
    except OSError as e:
      self.close()
      self._procs, self.error = [], f"could not start: {e}"

  def start(self, workdir: str, fmt: str) -> None:
    """Has the processes draw the figures of the run in ``workdir``."""
    for names, proc in self._procs:
      stdin, proc.stdin = proc.stdin, None   # communicate() skips it
      if stdin is None:   # started already
        continue
      try:
        stdin.write(json.dumps({"workdir": os.path.abspath(workdir),
                                "format": fmt, "names": list(names)}) + "\n")
        stdin.close()
      except (OSError, ValueError):   # it ended already: finish() says why
        pass

  def finish(self) -> tuple:
    """Waits for every process (at most :data:`TIMEOUT_S` seconds in all,
    then stops them); returns the names of the figures they did not draw,
    :attr:`error` saying why (all of them where none started)."""
    if not self._procs:
      return self.names
    deadline, missing, errors = time.monotonic() + TIMEOUT_S, [], []
    for names, proc in self._procs:
      try:
        out, err = proc.communicate(
            timeout=max(0.0, deadline - time.monotonic()))
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        out, err = "", f"drew nothing in {TIMEOUT_S} s"
      try:
        paths = json.loads(out) if proc.returncode == 0 else None
      except json.JSONDecodeError:
        paths = None
      if not (isinstance(paths, list) and all(map(os.path.exists, paths))):
        lines = err.strip().splitlines()
        missing += names
        errors.append(f"{'+'.join(names)}: exited with code "
                      f"{proc.returncode}" + (f": {lines[-1]}" if lines
                                              else ""))
    self.error = "; ".join(errors)
    return tuple(missing)

  def close(self) -> None:
    """Stops the processes that still run."""
    for _, proc in self._procs:
      if proc.poll() is None:
        proc.kill()
      proc.communicate()

  def __enter__(self) -> "Drawer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def serve() -> None:
  """The drawing process: imports matplotlib, reads one request line
  ``{"workdir", "format", "names"}``, draws those of that run's record
  figures, prints their paths as a JSON list and ends at once (the
  interpreter's teardown would add a fifth of a second to the run's wait).
  Ends quietly when the run closes its input without a request."""
  code = 0
  try:
    importlib.import_module("nn_jax.plots")   # matplotlib, while it waits
    line = sys.stdin.readline()
    if line.strip():
      job = json.loads(line)
      workdir = job["workdir"]
      with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
      history = read_history(os.path.join(workdir, "metrics.jsonl"))
      print(json.dumps(record_figures(workdir, history, results,
                                      job["format"], tuple(job["names"]))))
  except BaseException:  # pylint: disable=broad-except
    import traceback  # pylint: disable=g-import-not-at-top
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access
