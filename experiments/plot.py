r"""Redraws a finished run's figures from the files in its workdir.

  python -m experiments.plot --workdir=runs/train [--figure_format=pdf]

A run of experiments.train that is still training there, or was stopped
(Ctrl-C, a kill), has its epochs so far in live/: their learning curves
are drawn into live/ (learning_curves.png), titled as such; those of the
finished run there, if any, are redrawn beside them once no run holds the
workdir.

In the format of the figures already in the workdir (where they are of one
format), else --figure_format's.

Handles the runs of experiments.train (from metrics.jsonl, results.json
and, for decision regions and regression fits, params.npz:
learning_curves, confusion_matrix, decision_regions, regression_fit) and
of the experiments whose results.json holds all that their figures show
(``experiments.figures.DRAW``: sweep, regularization, saturation,
activations, local_minima, norm_limits), drawn by the same code as the
experiment drew them. The figures of the other experiments need their
trained networks or data again: it refuses those by name, in one line.
"""

import json
import os
from typing import Any, Callable

from absl import flags
import jax
import numpy as np

from experiments import cli
from experiments import drawing
from experiments import figures
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import params_io

flags.DEFINE_string("workdir", "runs/train", "The run's workdir.")

FLAGS = flags.FLAGS
# The experiments that write results but no figure.
DRAWS_NONE = ("gradcheck",)


def read_results(workdir: str) -> dict:
  """results.json of the run in ``workdir``; fails naming --workdir when
  it is missing or cut short."""
  path = os.path.join(workdir, "results.json")
  cli.check(os.path.exists(path), "workdir",
            "has no results.json: point it at a finished run's workdir")
  try:
    with open(path) as f:
      results = json.load(f)
  except json.JSONDecodeError as e:
    cli.fail(f"--workdir={workdir}: results.json is not valid JSON ({e}); "
             f"the run may have been cut short")
  cli.check(isinstance(results, dict), "workdir",
            "has a results.json that is not a run's record")
  return results


def kind_of(results: dict) -> str:
  """The experiment that wrote ``results``: as it records itself, else
  "train" for experiments.train's record (its config and description)."""
  kind = results.get("experiment")
  if kind:
    return str(kind)
  if "config" in results and "description" in results:
    return "train"
  return ""


def read_history(workdir: str) -> dict:
  """metrics.jsonl of the experiments.train run in ``workdir``."""
  path = os.path.join(workdir, "metrics.jsonl")
  cli.check(os.path.exists(path), "workdir",
            "has no metrics.jsonl: point it at a finished experiments.train "
            "run")
  try:
    history = drawing.read_history(path)
  except json.JSONDecodeError as e:
    cli.fail(f"--workdir={workdir}: metrics.jsonl is not valid JSON ({e}); "
             f"the run may have been cut short")
  cli.check("train_loss" in history, "workdir",
            "has no epoch in metrics.jsonl: the run ended before its first "
            "epoch")
  return history


def handled() -> str:
  """The kinds of run this command redraws, for its messages."""
  return ", ".join(["train", *figures.DRAW])


def stored_network(workdir: str, results: dict):
  """The stored network's figure inputs: ``(regions, fit)`` for
  :func:`outputs.draw_run`, ``(predict, x, y)`` for its decision regions
  and :func:`outputs.regression_view` for a regression fit, each None
  where the run has no such figure (or params.npz is missing)."""
  config = config_lib.Config.from_flat(results["config"])
  params_path = os.path.join(workdir, "params.npz")
  sizes = results.get("sizes") or []
  regions = bool(sizes) and experiment.has_decision_regions(config, sizes[0])
  fit = bool(sizes) and experiment.has_regression_fit(config)
  if not ((regions or fit) and os.path.exists(params_path)):
    return None, None
  model = config.net.make()
  split_key, init_key, _, _ = experiment.run_keys(config)
  splits = experiment.prepare(config, split_key)
  dtype = np.dtype(config.net.dtype)
  with jax.enable_x64(dtype == np.float64):   # the run's own precision
    like = mlp.init(init_key, sizes, model, config.net.init, dtype)
    stored = params_io.load(params_path, params=like,
                            stats=mlp.init_stats(like, model))
  params, stats = stored["params"], stored["stats"]
  if fit:
    return None, (outputs.regression_view(params, stats, model, splits)
                  if splits.test.size else None)
  return (lambda pts: experiment.predict_labels(params, stats, pts, model),
          splits.test.x, splits.test.y), None


def live_figure(workdir: str, training: bool) -> list:
  """The learning curves of the epochs that the run in ``workdir`` has
  reported so far (``live/``: a run still ``training``, or one that was
  stopped), drawn into ``live/``; returns their paths (none where there is
  no such run)."""
  folder = os.path.join(workdir, outputs.LiveLog.FOLDER)
  path = os.path.join(folder, "metrics.jsonl")
  try:
    with open(path) as f:   # whole lines: not one being written
      lines = [line for line in f if line.endswith("\n")]
  except OSError:   # no live log
    return []
  try:
    history = drawing.read_history_lines(lines)
  except json.JSONDecodeError as e:
    cli.fail(f"--workdir={workdir}: {os.path.relpath(path, workdir)} is "
             f"not valid JSON ({e})")
  epochs = len(history.get("train_loss", ()))
  if not epochs:
    return []
  try:
    with open(os.path.join(folder, outputs.LiveLog.RUN)) as f:
      config = json.load(f)["config"]
  except (OSError, ValueError, TypeError, KeyError):   # none, or not whole
    config = {}
  state = "still training" if training else "stopped before its end"
  cli.log("--workdir=%s holds a run %s: drawing the %d epochs it reported "
          "(live/)", workdir, state, epochs)
  return drawing.record_figures(folder, history, {
      "config": config if isinstance(config, dict) else {},
      "epochs_run": epochs}, FLAGS.figure_format, ("learning_curves",),
                                note=f"{state}: the epochs it reported "
                                f"(live/)")


def redraw(workdir: str, drawn: Callable[[str], Any] = print) -> None:
  """Draws the figures of a run still training in ``workdir`` or stopped
  (:func:`live_figure`), else, and beside those of a stopped one, redraws
  the finished run's there; calls ``drawn(path)`` for each as it is
  written."""
  training = outputs.Workdir.in_use(workdir)
  live = live_figure(workdir, training)
  for path in live:
    drawn(path)
  if training:   # the workdir is the run's: its results are its to write
    cli.check(bool(live), "workdir", "holds a run that is training and has "
              "not reported an epoch yet; try again once it has")
    return
  if live and not os.path.exists(os.path.join(workdir, "results.json")):
    return
  for path in finished(workdir):
    drawn(path)


def finished(workdir: str) -> list:
  """Redraws the figures of the finished run in ``workdir``; returns their
  paths."""
  results = read_results(workdir)
  kind = kind_of(results)
  if kind == "train":
    drawn = outputs.draw_run(workdir, read_history(workdir), results,
                             *stored_network(workdir, results))
    outputs.Workdir.add_outputs(workdir, drawn)   # the next run's to remove
    return drawn
  if kind in figures.DRAW:
    return figures.DRAW[kind](workdir, results)
  what = ("holds a results.json of no known experiment" if not kind
          else f"holds an experiments.{kind} run, which draws no figures"
          if kind in DRAWS_NONE
          else f"holds an experiments.{kind} run, whose figures it does not "
          f"redraw (rerun experiments.{kind})")
  cli.fail(f"--workdir={workdir} {what}; experiments.plot redraws the "
           f"runs of {handled()}")


def formats_in(workdir: str) -> list:
  """The figure formats of the files in ``workdir`` (its own, not its
  subfolders')."""
  names = os.listdir(workdir) if os.path.isdir(workdir) else []
  return sorted({n.rsplit(".", 1)[1] for n in names if "." in n}
                & set(drawing.FIGURE_FORMATS))


def main(argv):
  del argv
  found = formats_in(FLAGS.workdir)
  if not FLAGS["figure_format"].present and len(found) == 1:
    # The run's own format (a run drawn as svg is redrawn as svg, not png
    # beside it), unless --figure_format says otherwise.
    FLAGS.figure_format = found[0]
  redraw(FLAGS.workdir)


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
