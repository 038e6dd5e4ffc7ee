"""What experiment scripts write: the workdir, JSON records, metrics,
TensorBoard events and a run's figures."""

import contextlib
import errno
import importlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import threading
import time
from typing import Optional

from absl import logging
import numpy as np

from experiments import drawing
from experiments.cli import fail


def writes_outputs() -> bool:
  """Whether this process writes results: with several processes
  (``experiments.launch``, several hosts) only the first one does."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.process_index() == 0


def _discarded() -> str:
  """A private folder for what a process that does not write results
  would write, removed when it exits."""
  import atexit  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  folder = tempfile.mkdtemp(prefix="nn_jax-discarded-")
  atexit.register(shutil.rmtree, folder, ignore_errors=True)
  return folder


def make_workdir(path: str) -> str:
  """Creates the workdir (and its parents) and returns its path; in a
  process that does not write results (:func:`writes_outputs`), a private
  folder whose contents are discarded."""
  if not writes_outputs():
    return _discarded()
  if os.path.exists(path) and not os.path.isdir(path):
    fail(f"--workdir={path} is a file; give a folder for the results")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    fail(f"--workdir={path}: {e.strerror or e}")
  return path


class Workdir:
  """A run's workdir, as a context manager: locked for the run, its outputs
  written to a staging folder inside it and moved into place only when the
  run calls :meth:`commit`.

  On entry the folder is made, checked writable and locked (a second run on
  it is refused in one line naming the first one's process); ``staging``
  is the folder to write into. :meth:`commit` moves every file written
  there into the workdir, replacing files of the same name, and removes the
  files that the previous run wrote (listed in its manifest) and this one
  did not, so that no figure of an earlier run stays beside this run's
  results; nothing else in the workdir is touched. A run that ends without
  committing, by an error or a full disk, leaves the previous outputs as
  they were.

  In a process other than the first of several (:func:`writes_outputs`),
  ``path`` is still the run's folder (for checkpoints, which every process
  writes its share of), but the staging folder is private and
  :meth:`commit` writes nothing.

  :meth:`live_log` gives the run's metrics as they come, in ``live/``
  beside the outputs (see :class:`LiveLog`): visible while the run trains
  and kept when it is stopped, whatever stops it; :meth:`commit` removes
  them, since the outputs then hold the same epochs. The staging folders of
  runs that were killed are removed when the next run takes the lock.
  """

  MANIFEST = ".nn_jax_outputs.json"   # the files the last run wrote
  LOCK = ".nn_jax.lock"
  STAGING = ".nn_jax-staging-"

  def __init__(self, path: str):
    self.path = path
    self.staging = None
    self._lock = None
    self._live = None

  def __enter__(self) -> "Workdir":
    import fcntl  # pylint: disable=g-import-not-at-top
    import tempfile  # pylint: disable=g-import-not-at-top
    if not writes_outputs():
      self.staging = _discarded()
      return self
    make_workdir(self.path)
    lock_path = os.path.join(self.path, self.LOCK)
    try:
      self._lock = open(lock_path, "a+")   # pylint: disable=consider-using-with
      for wait in (0.01, 0.05, 0.2, None):   # past a look by in_use()
        try:
          fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
          break
        except BlockingIOError:
          if wait is None:
            raise
          time.sleep(wait)
    except BlockingIOError:
      self._lock.seek(0)
      owner = self._lock.read().strip() or "another process"
      self._lock.close()
      fail(f"--workdir={self.path} is in use by another run (process "
           f"{owner}); wait for it or choose another folder")
    except OSError as e:
      fail(f"--workdir={self.path} is not writable ({e.strerror or e}); "
           f"choose another folder")
    self._lock.seek(0)
    self._lock.truncate()
    self._lock.write(str(os.getpid()))
    self._lock.flush()
    for name in os.listdir(self.path):   # of killed runs: the lock is ours
      if name.startswith(self.STAGING):
        shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)
    try:   # also the check that the run can write its results
      self.staging = tempfile.mkdtemp(prefix=self.STAGING, dir=self.path)
    except OSError:
      self._lock.close()
      raise
    return self

  def live_log(self, run: Optional[dict] = None) -> "LiveLog":
    """The run's :class:`LiveLog` in ``<workdir>/live``, started afresh
    (in the private staging folder of a process that writes no results);
    ``run`` (the run's settings) goes beside it."""
    where = self.path if self._lock is not None else self.staging
    self._live = LiveLog(os.path.join(where, LiveLog.FOLDER), run)
    return self._live

  @classmethod
  def in_use(cls, path: str) -> bool:
    """Whether a run holds the workdir ``path`` now (its lock is taken)."""
    import fcntl  # pylint: disable=g-import-not-at-top
    try:
      with open(os.path.join(path, cls.LOCK)) as f:
        try:   # shared and let go at once (a run starting now waits)
          fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
          return True
        fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:   # no lock file: no run has held it
      pass
    return False

  def commit(self) -> list[str]:
    """Moves the staged outputs into place, then removes the live log;
    returns the outputs' names."""
    if self._lock is None:   # not the process that writes results
      return []
    written = sorted(
        os.path.relpath(os.path.join(root, f), self.staging)
        for root, _, files in os.walk(self.staging) for f in files)
    for name in written:
      target = os.path.join(self.path, name)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      os.replace(os.path.join(self.staging, name), target)
    for name in set(self._previous()) - set(written):
      target = os.path.join(self.path, name)
      if os.path.isfile(target):
        os.remove(target)
        _remove_empty_parents(os.path.dirname(target), self.path)
    write_json(os.path.join(self.path, self.MANIFEST), {"files": written})
    if self._live is not None:
      self._live.remove()
    return written

  @classmethod
  def add_outputs(cls, path: str, files: list) -> None:
    """Adds ``files`` (paths inside the workdir ``path``) to the outputs
    its last run recorded, where it recorded any, so that the next run
    removes them with its own: figures experiments.plot drew later, which
    would otherwise stay beside a newer run's results."""
    if not os.path.isfile(os.path.join(path, cls.MANIFEST)):
      return
    names = set(cls(path)._previous())
    names.update(os.path.relpath(f, path) for f in files)
    write_json(os.path.join(path, cls.MANIFEST), {"files": sorted(names)})

  def _previous(self) -> list:
    try:
      with open(os.path.join(self.path, self.MANIFEST)) as f:
        files = json.load(f).get("files", [])
    except (OSError, ValueError, AttributeError):
      return []
    # Only plain relative names inside the workdir.
    return [n for n in files if isinstance(n, str) and not os.path.isabs(n)
            and ".." not in n.split(os.sep)]

  def __exit__(self, *exc) -> None:
    if self._live is not None:
      self._live.close()
    if self.staging is not None:
      shutil.rmtree(self.staging, ignore_errors=True)
    if self._lock is not None:
      self._lock.close()   # releases the lock


class EventFile:
  """A TensorBoard event file, ``events.out.tfevents.<time>.<host>`` in
  ``folder``, written in this thread: each event a TFRecord (its length,
  the length's CRC, the serialized Event, its CRC), the first one the
  file's version. tensorboardX's writers queue events for a thread of
  their own (a kill loses the queue) or fsync each flush (some ms an
  epoch), and take four times as long per scalar."""

  PREFIX = "events.out.tfevents."

  def __init__(self, folder: str):
    os.makedirs(folder, exist_ok=True)
    self._file = open(os.path.join(   # pylint: disable=consider-using-with
        folder, f"{EventFile.PREFIX}{int(time.time())}.{platform.node()}"),
                      "wb")
    tensorboardx()
    self._write(file_version="brain.Event:2")

  def _write(self, **fields) -> None:
    from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
    from tensorboardX.record_writer import masked_crc32c  # pylint: disable=g-import-not-at-top
    data = event_pb2.Event(wall_time=time.time(), **fields).SerializeToString()
    header = struct.pack("<Q", len(data))
    self._file.write(header + struct.pack("<I", masked_crc32c(header))
                     + data + struct.pack("<I", masked_crc32c(data)))

  def scalars(self, row: dict) -> None:
    """The finite values of a metric row (``{"epoch": e, name: value}``) as
    scalars of step ``e``, tagged ``train/loss`` for ``train_loss``."""
    summary = tensorboardx().summary
    for name, value in row.items():
      if name != "epoch" and np.isfinite(value):
        self._write(step=row["epoch"], summary=summary.scalar(
            name.replace("_", "/", 1), value))

  def summaries(self, *summaries) -> None:
    for one in summaries:
      self._write(summary=one)

  def flush(self) -> None:
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class LiveLog:
  """A run's metrics written as they come: ``metrics.jsonl`` (a line per
  epoch, as the finished run's) and TensorBoard scalars in ``tensorboard/``
  (the same tags), both in ``folder``, with the run's settings (``run``,
  e.g. ``{"config": Config.flat()}``) in ``run.json``, from which
  ``experiments.plot`` draws the epochs so far (``learning_curves.*``
  there). Call it as ``log(epoch, metrics)``
  (a :func:`nn_jax.train.fit` ``on_progress``); each call's line and events
  are handed to the operating system before it returns, so a run killed
  at any moment, even by SIGKILL, leaves every epoch reported so far (a
  power cut may lose what the system had not yet written to disk).
  Starting one removes the files an earlier one left in ``folder`` (and
  the figure drawn from them); nothing else there is touched.
  """

  FOLDER = "live"
  RUN = "run.json"
  FIGURE = "learning_curves"

  def __init__(self, folder: str, run: Optional[dict] = None):
    self.folder = folder
    self.remove()
    os.makedirs(os.path.join(folder, "tensorboard"), exist_ok=True)
    if run is not None:
      write_json(os.path.join(folder, self.RUN), run)
    self.metrics_path = os.path.join(folder, "metrics.jsonl")
    self._metrics = open(self.metrics_path, "w")   # pylint: disable=consider-using-with
    self._events = EventFile(os.path.join(folder, "tensorboard"))
    self._events.flush()

  def __call__(self, epoch: int, metrics: dict) -> None:
    row = {"epoch": epoch, **{k: float(v) for k, v in metrics.items()}}
    self._metrics.write(json.dumps(_jsonable(row), sort_keys=True) + "\n")
    self._metrics.flush()
    self._events.scalars(row)
    self._events.flush()

  def close(self) -> None:
    if not self._metrics.closed:
      self._metrics.close()
      self._events.close()

  def remove(self) -> None:
    """Closes the files and removes them, the figure drawn from them, and
    the folders left empty."""
    if hasattr(self, "_metrics"):
      self.close()
    board = os.path.join(self.folder, "tensorboard")
    figures = [drawing.figure_file(self.folder, self.FIGURE, fmt)
               for fmt in drawing.FIGURE_FORMATS]
    names = [os.path.join(self.folder, n) for n in ("metrics.jsonl",
                                                    self.RUN)] + figures + (
        [os.path.join(board, f) for f in os.listdir(board)
         if f.startswith(EventFile.PREFIX)] if os.path.isdir(board) else [])
    for name in names:
      if os.path.isfile(name):
        os.remove(name)
    _remove_empty_parents(board, os.path.dirname(self.folder))
    _remove_empty_parents(self.folder, os.path.dirname(self.folder))


def _remove_empty_parents(folder: str, top: str) -> None:
  """Removes ``folder`` and its parents up to ``top`` while they are empty."""
  while os.path.abspath(folder) != os.path.abspath(top):
    try:
      os.rmdir(folder)
    except OSError:
      return
    folder = os.path.dirname(folder)


def figure_path(workdir: str, name: str) -> str:
  """Where a script writes its figure ``name`` (e.g. "sweep"): in
  ``workdir``, with the suffix of ``--figure_format``."""
  from experiments.cli import FLAGS  # pylint: disable=g-import-not-at-top
  return drawing.figure_file(workdir, name, FLAGS["figure_format"].value)


def _jsonable(value):
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if hasattr(value, "tolist"):
    return _jsonable(value.tolist())
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


@contextlib.contextmanager
def replacing(path: str, **open_kwargs):
  """A text file to write that takes ``path``'s place once it is whole (a
  write that fails leaves ``path`` as it was). An error opening it names
  ``path`` (and its folder, where that is missing or a file), not the file
  beside it."""
  tmp = path + ".tmp"
  try:
    f = open(tmp, "w", **open_kwargs)  # pylint: disable=consider-using-with
  except OSError as e:
    folder, why = os.path.dirname(path), e.strerror
    if e.errno in (errno.ENOENT, errno.ENOTDIR) and folder and (
        not os.path.isdir(folder)):
      why = (f"{folder} is not a folder" if os.path.exists(folder)
             else f"there is no folder {folder}")
    raise OSError(e.errno, why, path) from e
  try:
    with f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, data: dict) -> None:
  """Writes ``data`` as JSON (arrays as lists, NaN/Inf as null), atomically."""
  with replacing(path) as f:
    json.dump(_jsonable(data), f, indent=2, sort_keys=True)
    f.write("\n")


def write_jsonl(path: str, rows: list[dict]) -> None:
  """Writes one JSON object per line."""
  with open(path, "w") as f:
    for row in rows:
      f.write(json.dumps(_jsonable(row), sort_keys=True) + "\n")


def provenance() -> dict:
  """Versions, XLA_FLAGS, devices and the git commit, for results.json."""
  import jax  # pylint: disable=g-import-not-at-top
  import jaxlib  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def git(*args):
    try:
      out = subprocess.run(["git", *args], cwd=root, capture_output=True,
                           text=True, timeout=10)
      return out.stdout.strip() if out.returncode == 0 else None
    except OSError:
      return None

  status = git("status", "--porcelain", "--untracked-files=no")
  return {
      "python": platform.python_version(),
      "jax": jax.__version__,
      "jaxlib": jaxlib.__version__,
      "optax": optax.__version__,
      "numpy": np.__version__,
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "devices": [str(d) for d in jax.devices()],
      "git_commit": git("rev-parse", "HEAD"),
      "git_dirty": bool(status) if status is not None else None,
  }


def history_rows(history: dict) -> list[dict]:
  """Per-epoch metric rows ``{"epoch": e, name: value, ...}``."""
  epochs = len(next(iter(history.values()))) if history else 0
  return [{"epoch": e + 1, **{k: float(v[e]) for k, v in history.items()}}
          for e in range(epochs)]


def write_tensorboard(logdir: str, history: dict, hparams: dict,
                      final: dict) -> None:
  """Every per-epoch scalar as a TensorBoard event, and in ``hparams/``
  the hyperparameters with the final metrics (as tensorboardX's
  ``add_hparams`` writes them)."""
  events = EventFile(logdir)
  try:
    for row in history_rows(history):
      events.scalars(row)
  finally:   # not left to the garbage collector (cli.run freezes it)
    events.close()
  summary = tensorboardx().summary
  plain = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
           for k, v in hparams.items() if v is not None}
  metrics = {f"final/{k}": float(v) for k, v in final.items()
             if isinstance(v, (int, float)) and np.isfinite(v)}
  events = EventFile(os.path.join(logdir, "hparams"))
  try:
    events.summaries(*summary.hparams(plain, metrics),
                     *(summary.scalar(k, v) for k, v in metrics.items()))
  finally:
    events.close()


def tensorboardx():
  """The tensorboardX package, imported without PyTorch where that is not
  imported yet: tensorboardX imports torch, when it is installed, only to
  accept its tensors (nn_jax passes none), and importing torch takes
  longer (1.6 s here) than a small run."""
  if "tensorboardX" not in sys.modules and "torch" not in sys.modules:
    sys.modules["torch"] = None   # import torch: ImportError
    try:
      importlib.import_module("tensorboardX")
    finally:
      del sys.modules["torch"]
  return importlib.import_module("tensorboardX")


def import_in_background(module: str = "nn_jax.plots") -> threading.Thread:
  """Starts importing ``module`` (by default the figures' matplotlib) in a
  thread, so that the import overlaps the work that leaves Python idle (XLA
  loading or compiling programs, training); a later import of it waits for
  this one to finish. A failure is left for that import to raise. Not a
  daemon thread: a run that ends early (a bad flag found while loading the
  data) waits for the import at exit, as a daemon thread stopped mid-import
  by the interpreter's shutdown can crash the process (SIGABRT)."""
  def load():
    try:
      importlib.import_module(module)
    except Exception:  # pylint: disable=broad-except
      pass
  thread = threading.Thread(target=load)
  thread.start()
  return thread


def draw_run(workdir: str, history: dict, results: dict,
             regions=None, fit=None, records: bool = True) -> list[str]:
  """The figures of a run: learning curves and the confusion matrix (if
  any; unless ``records`` is False, where a :class:`drawing.Drawer` draws
  them), given ``regions = (predict, x, y)`` decision regions, and given
  ``fit = (predict, x, y, x_label)`` (from :func:`regression_view`) the
  regression fit; returns paths."""
  from experiments.cli import FLAGS  # pylint: disable=g-import-not-at-top
  written = (drawing.record_figures(workdir, history, results,
                                    FLAGS["figure_format"].value)
             if records else [])
  if regions is None and fit is None:
    return written
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  title = drawing.run_title(results)
  names = results.get("class_names") or None
  if regions is not None:
    predict, x, y = regions
    written.append(plots.decision_regions(
        predict, x, y, figure_path(workdir, "decision_regions"),
        title=f"{title}\ntest points on the network's regions",
        num_classes=len(names) if names else None, class_names=names,
        axis_labels=plane_axes(results["config"])))
  if fit is not None:
    from nn_jax import data  # pylint: disable=g-import-not-at-top
    predict, x, y, x_label = fit
    written.append(plots.regression_fit(
        predict, x, y, figure_path(workdir, "regression_fit"),
        title=f"{title}\ntest points, the network's fit",
        truth=data.truth(results["config"]["dataset"]), x_label=x_label))
  return written


def plane_axes(config: dict) -> tuple:
  """The two inputs of a network drawn in the plane, as it sees them:
  vowels' formants by name, else x_1 and x_2, and their input encoding
  (``config``: a run's flat settings)."""
  names = ["$x_1$", "$x_2$"]
  if config.get("dataset") == "vowels":
    log = "log " if config.get("log_frequency") else ""
    names = [f"{log}{f}" for f in config.get("vowel_features", ("F1", "F2"))]
  units = {"standardize": " (standardized)",
           "scale": " (scaled to [-1, 1])"}.get(
               config.get("input_encoding"),
               " (Hz)" if config.get("dataset") == "vowels"
               and not config.get("log_frequency") else "")
  return tuple(name + units for name in names)


def regression_view(params, stats, model, splits) -> tuple:
  """``(predict, x, y, x_label)`` of a regression network on the test
  split, for :func:`nn_jax.plots.regression_fit`: inputs in the data set's
  own units (``x``) where the input encoding can be undone (the built-in
  data sets), else as the network sees them (a CSV file's)."""
  from nn_jax import encoding  # pylint: disable=g-import-not-at-top
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  enc = splits.encoder
  if enc is None or isinstance(enc, (encoding.Standardize,
                                     encoding.ScaleRange)):
    encode = (lambda pts: pts) if enc is None else enc.apply
    x = splits.test.x if enc is None else enc.invert(splits.test.x)
    label = "x"
  else:
    encode, x, label = (lambda pts: pts), splits.test.x, "input (encoded)"
  return (lambda pts: experiment.predict(params, stats, encode(pts), model),
          x, splits.test.y, label)


class Timer:
  """Wall-clock seconds since creation."""

  def __init__(self):
    self.start = time.perf_counter()

  @property
  def seconds(self) -> float:
    return time.perf_counter() - self.start




def write_run(workdir: str, config, run, figures: bool = True,
              drawer: Optional[drawing.Drawer] = None) -> None:
  """A finished experiment.train run's files, but for params.npz:
  results.json (the summary and provenance), model.json (what
  nn_jax.load_model needs besides params.npz), metrics.jsonl, tensorboard/
  and, with ``figures``, the figures; ``drawer`` draws the learning curves
  and the confusion matrix from the files while the rest is written (those
  it did not draw are drawn here)."""
  from experiments.cli import FLAGS  # pylint: disable=g-import-not-at-top
  from nn_jax import bundle  # pylint: disable=g-import-not-at-top
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  results = {**run.summary.to_json(), "provenance": provenance()}
  write_json(os.path.join(workdir, "results.json"), results)
  write_jsonl(os.path.join(workdir, "metrics.jsonl"),
              history_rows(run.history))
  fmt = FLAGS["figure_format"].value
  if figures and drawer is not None:
    drawer.start(workdir, fmt)
  write_json(os.path.join(workdir, bundle.FILE), bundle.describe(config, run))
  write_tensorboard(
      os.path.join(workdir, "tensorboard"), run.history, config.flat(),
      {k: results[k] for k in ("test_accuracy", "test_loss",
                               "final_train_loss")})
  if not figures:
    return
  regions = None
  if experiment.has_decision_regions(config, run.splits.train.x.shape[1]):
    regions = (lambda pts: experiment.predict_labels(
        run.params, run.stats, pts, run.model),
               run.splits.test.x, run.splits.test.y)
  fit = None
  if experiment.has_regression_fit(config) and run.splits.test.size:
    fit = regression_view(run.params, run.stats, run.model, run.splits)
  draw_run(workdir, run.history, results, regions, fit,
           records=drawer is None)
  missing = drawer.finish() if drawer is not None else ()
  if missing:
    logging.warning("The figures' drawing process %s; drawing %s here.",
                    drawer.error, " and ".join(missing))
    drawing.record_figures(workdir, run.history, results, fmt, missing)
