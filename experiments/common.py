"""What every experiment script shares: flag errors, the workdir, result files.

A script defines its absl flags and a ``main(argv)``, and ends with
``common.run(main)``. Bad flag values, the library's ``ValueError`` and
``OSError`` (a path that cannot be read or written) end the run with one line
on stderr naming what to change, and exit code 2.
"""

import json
import logging as std_logging
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
import numpy as np

FLAGS = flags.FLAGS

USAGE_ERROR = 2

# JAX reports at INFO which accelerator back-ends it could not find, and
# orbax-checkpoint some 40 lines per checkpoint; that is noise next to our
# progress lines. Their warnings and errors still show.
std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)


class _QuietOrbax(std_logging.Filter):

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING
            or f"{os.sep}orbax{os.sep}" not in record.pathname)


logging.get_absl_handler().addFilter(_QuietOrbax())


flags.DEFINE_string(
    "compilation_cache_dir", os.environ.get("NN_JAX_COMPILATION_CACHE", ""),
    "Keep the compiled XLA programs in this folder (e.g. "
    "~/.cache/nn_jax/xla), so that a later run of the same shapes and "
    "settings loads them instead of compiling them again (a second or two "
    "on a CPU). Default: $NN_JAX_COMPILATION_CACHE; empty: no cache. JAX's "
    "own JAX_COMPILATION_CACHE_DIR, if set, takes precedence.")


# The flags that name the data set, where it comes from, which of its
# examples and classes are used, how it is split and how inputs are encoded.
DATA_FLAGS = ("dataset", "data_dir", "csv_path", "target", "nominal",
              "ordinal", "task", "classes", "positive_class", "train_size",
              "test_fraction", "validation_fraction", "split_order",
              "input_encoding")


def define_data_flags() -> None:
  """Defines ``DATA_FLAGS`` with ``experiment.Config``'s defaults (for the
  scripts that train on any of the data sets). A script lists them in its
  ``--help`` with ``flags.declare_key_flag`` (which must be called from the
  script's own module)."""
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  d = experiment.Config()
  flags.DEFINE_string("dataset", d.dataset,
                      f"Data set: {', '.join(experiment.DATASETS)}.")
  flags.DEFINE_string("data_dir", d.data_dir, "MNIST: folder of the IDX "
                      "files (default ~/.cache/nn_jax/mnist, downloaded if "
                      "missing).")
  flags.DEFINE_string("csv_path", d.csv_path, "CSV: the file to train on.")
  flags.DEFINE_string("target", d.target, "CSV: the column to predict.")
  flags.DEFINE_string("nominal", d.nominal, "CSV: nominal columns, a,b "
                      "(1-of-k coded).")
  flags.DEFINE_string("ordinal", d.ordinal, "CSV: ordinal columns with "
                      "their levels, c:low<mid<high;d:s<m<l (thermometer "
                      "coded).")
  flags.DEFINE_string("task", d.task, "CSV: classification or regression; "
                      "empty: classification when the target holds text or "
                      "at most 10 distinct integers.")
  flags.DEFINE_string("classes", d.classes, "Keep only these classes, e.g. "
                      "3,8 (relabelled 0, 1, ... in this order).")
  flags.DEFINE_integer("positive_class", d.positive_class, "If >= 0: this "
                       "class vs. the rest (binary).")
  flags.DEFINE_integer("train_size", d.train_size, "Use only this many "
                       "training examples (0: the whole training split), "
                       "counted after --classes or --positive_class.")
  flags.DEFINE_float("test_fraction", d.test_fraction,
                     "Held-out test share.")
  flags.DEFINE_float("validation_fraction", d.validation_fraction,
                     "Validation share, monitored every epoch.")
  flags.DEFINE_string("split_order", d.split_order, "Held-out examples: "
                      "random, or file (the last ones in the file's order: "
                      "the test part last, validation before it; a CSV "
                      "file's test rows are drawn at random either way).")
  flags.DEFINE_string("input_encoding", d.input_encoding,
                      f"Inputs: {', '.join(experiment.INPUT_ENCODINGS)} "
                      "(fitted on the training split).")


def parse_sizes(flag: str) -> tuple:
  """``--flag=64,32`` as ``(64, 32)``; empty gives ``()`` (no hidden layer).
  Fails naming the flag on an empty or non-integer item."""
  value = FLAGS[flag].value.strip()
  items = [h.strip() for h in value.split(",")] if value else []
  try:
    sizes = tuple(int(h) for h in items)
  except ValueError:
    sizes = None
  if sizes is None or any(s < 1 for s in sizes):
    fail(f"--{flag}={value}: comma-separated positive integers (empty for "
         f"no hidden layer)")
  return sizes


def data_flag_values() -> dict:
  """``DATA_FLAGS`` as ``experiment.Config`` fields."""
  return {name: FLAGS[name].value for name in DATA_FLAGS}


class UsageError(ValueError):
  """A user-caused error; its message names the flag to change."""


def fail(message: str, code: int = USAGE_ERROR) -> None:
  """Prints one line to stderr and exits with ``code`` (2: bad input)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(code)


def _parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = str(e).splitlines()[0]
    fail(message.removeprefix("ERROR:: "))  # absl's own prefix (--flagfile)


def enable_compilation_cache(folder: str) -> None:
  """Makes JAX keep its compiled programs in ``folder`` (empty: off), unless
  JAX already has a cache folder of its own."""
  import jax  # pylint: disable=g-import-not-at-top
  if not folder or jax.config.jax_compilation_cache_dir:
    return
  folder = os.path.expanduser(folder)
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    logging.warning("no compilation cache (%s)", e)
    return
  jax.config.update("jax_compilation_cache_dir", folder)
  # Our programs compile in well under JAX's default threshold of a second.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def distributed_requested(environ=os.environ) -> bool:
  """Whether this process is one of several hosts: ``JAX_COORDINATOR_ADDRESS``
  is set, or ``NN_JAX_DISTRIBUTED=1`` (Cloud TPU, SLURM: JAX finds the
  coordinator itself)."""
  return bool(environ.get("JAX_COORDINATOR_ADDRESS")) or (
      environ.get("NN_JAX_DISTRIBUTED", "") == "1")


def run(main: Callable[[list], Any], compilation_cache: bool = True) -> None:
  """Runs ``main`` under absl with one-line errors for bad input, with the
  compilation cache of ``--compilation_cache_dir`` unless
  ``compilation_cache`` is False (for timings that include compiling). On
  several hosts (:func:`distributed_requested`) it first calls
  ``jax.distributed.initialize()``, so that ``jax.devices()`` lists every
  host's devices."""
  def guarded(argv):
    if distributed_requested():
      import jax  # pylint: disable=g-import-not-at-top
      jax.distributed.initialize()
    if compilation_cache:
      enable_compilation_cache(FLAGS.compilation_cache_dir)
    try:
      return main(argv)
    except ValueError as e:
      fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except OSError as e:   # a path that cannot be read or written
      fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror
           else str(e))
  app.run(guarded, flags_parser=_parse_flags)


def check(condition: bool, flag: str, allowed: str) -> None:
  """Fails with ``--flag=value: allowed`` unless ``condition`` holds."""
  if not condition:
    value = FLAGS[flag].value if flag in FLAGS else None
    if isinstance(value, list):   # a list flag, as it was written
      value = ",".join(map(str, value))
    fail(f"--{flag}={value}: {allowed}")


def flag_dict(module_name: str) -> dict:
  """The values of the flags defined by a script: pass its ``__file__`` (or
  its module's name), which names it under ``python -m`` and the installed
  command alike."""
  key = None
  for name in FLAGS.flags_by_module_dict():
    if name.endswith(module_name) or module_name.endswith(
        name.replace(".", "/") + ".py"):
      key = name
  names = FLAGS.flags_by_module_dict().get(key, []) if key else []
  return {f.name: f.value for f in names}


def make_workdir(path: str) -> str:
  """Creates the workdir (and its parents) and returns its path."""
  if os.path.exists(path) and not os.path.isdir(path):
    fail(f"--workdir={path} is a file; give a folder for the results")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    fail(f"--workdir={path}: {e.strerror or e}")
  return path


# What experiments.train writes into its workdir (besides checkpoints/).
RUN_OUTPUTS = ("results.json", "metrics.jsonl", "params.npz",
               "learning_curves.png", "confusion_matrix.png",
               "decision_regions.png", "tensorboard")


def clear_outputs(workdir: str) -> None:
  """Removes an earlier run's outputs from ``workdir`` before a run writes
  its own, so that none of them (a figure this run does not draw, a
  second TensorBoard event file) is taken for this run's."""
  earlier = [n for n in RUN_OUTPUTS if os.path.exists(os.path.join(workdir, n))]
  if earlier:
    log("replacing the earlier run's %s in %s", ", ".join(earlier), workdir)
  for name in earlier:
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    else:
      os.remove(path)


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


def write_json(path: str, data: dict) -> None:
  """Writes ``data`` as JSON (arrays as lists, NaN/Inf as null), atomically."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(_jsonable(data), f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(tmp, path)


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


class Progress:
  """Progress over epochs: a tqdm bar on a terminal, else absl log lines."""

  def __init__(self, total: int, desc: str = "train"):
    self.total = total
    self.bar = None
    if sys.stderr.isatty():
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=True)

  def __call__(self, epoch: int, m: dict) -> None:
    # Accuracies only where there are any (not for regression).
    shown = {k: v for k, v in m.items()
             if not (k.endswith("accuracy") and np.isnan(v))}
    if self.bar is not None:
      self.bar.update(epoch - self.bar.n)
      names = {"train_loss": "loss", "train_accuracy": "acc",
               "val_accuracy": "val_acc"}
      self.bar.set_postfix({names[k]: f"{v:.4f}" for k, v in shown.items()
                            if k in names})
    else:
      # Without a validation set its cost is NaN while training's is not.
      splits = ("train",) if (np.isnan(m["val_loss"])
                              and np.isfinite(m["train_loss"])) else (
                                  "train", "val")
      parts = [f"{split} cost {m[split + '_loss']:.4f}"
               + (f" acc {shown[split + '_accuracy']:.4f}"
                  if split + "_accuracy" in shown else "")
               for split in splits]
      log("epoch %d/%d  %s", epoch, self.total, "  ".join(parts))

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()


def history_rows(history: dict) -> list[dict]:
  """Per-epoch metric rows ``{"epoch": e, name: value, ...}``."""
  epochs = len(next(iter(history.values()))) if history else 0
  return [{"epoch": e + 1, **{k: float(v[e]) for k, v in history.items()}}
          for e in range(epochs)]


def read_history(path: str) -> dict:
  """Reads metrics.jsonl back into ``{name: np.ndarray}`` (null -> NaN)."""
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  names = [k for k in (rows[0] if rows else {}) if k != "epoch"]
  return {n: np.array([np.nan if r[n] is None else r[n] for r in rows],
                      float) for n in names}


def write_tensorboard(logdir: str, history: dict, hparams: dict,
                      final: dict) -> None:
  """Every per-epoch scalar as a TensorBoard event, and the hyperparameters
  with the final metrics (tensorboardX)."""
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  writer = SummaryWriter(logdir=logdir)
  for row in history_rows(history):
    for name, value in row.items():
      if name != "epoch" and np.isfinite(value):
        writer.add_scalar(name.replace("_", "/", 1), value, row["epoch"])
  plain = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
           for k, v in hparams.items() if v is not None}
  metrics = {f"final/{k}": float(v) for k, v in final.items()
             if isinstance(v, (int, float)) and np.isfinite(v)}
  writer.add_hparams(plain, metrics, name="hparams")
  writer.close()


def draw_run(workdir: str, history: dict, results: dict,
             regions=None) -> list[str]:
  """The figures of a run: learning curves, the confusion matrix (if any)
  and, given ``regions = (predict, x, y)``, decision regions; returns paths."""
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  c = results["config"]
  # The perceptron's training curves count the mistakes it made during each
  # (online) epoch; results.json scores its final weights.
  title = (f"{c['dataset']}: perceptron (training: mistakes during each "
           f"epoch)" if c.get("model") == "perceptron"
           else f"{c['dataset']}: {results.get('sizes')} {c['activation']}, "
           f"{c['loss']}, grad={c['grad']}")
  written = [plots.learning_curves(
      history, os.path.join(workdir, "learning_curves.png"), title)]
  if results.get("confusion_matrix"):
    written.append(plots.confusion_matrix(
        results["confusion_matrix"],
        os.path.join(workdir, "confusion_matrix.png")))
  if regions is not None:
    predict, x, y = regions
    written.append(plots.decision_regions(
        predict, x, y, os.path.join(workdir, "decision_regions.png"),
        title=f"{c['dataset']}: test points, network's regions"))
  return written


class Timer:
  """Wall-clock seconds since creation."""

  def __init__(self):
    self.start = time.perf_counter()

  @property
  def seconds(self) -> float:
    return time.perf_counter() - self.start


def log(message: str, *args) -> None:
  """Progress line through absl logging (INFO, shown on stderr)."""
  logging.info(message, *args)
