r"""Redraws a finished run's figures from the files in its workdir.

  python -m experiments.plot --workdir=runs/train

Reads metrics.jsonl and results.json (and params.npz for decision regions
and fits) and writes learning_curves.png, confusion_matrix.png
(classification), for a network classifying 2-D inputs
decision_regions.png, and for a regression network regression_fit.png.
"""

import json
import os

from absl import flags

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import params_io

flags.DEFINE_string("workdir", "runs/train", "The run's workdir.")

FLAGS = flags.FLAGS


def read_run(workdir: str) -> tuple:
  """``(history, results)`` of the experiments.train run in ``workdir``;
  fails naming --workdir when they are missing or cut short."""
  for name in ("metrics.jsonl", "results.json"):
    cli.check(os.path.exists(os.path.join(workdir, name)), "workdir",
              f"has no {name}: point it at a finished experiments.train run")
  name = "metrics.jsonl"
  try:
    history = outputs.read_history(os.path.join(workdir, name))
    name = "results.json"
    with open(os.path.join(workdir, name)) as f:
      results = json.load(f)
  except json.JSONDecodeError as e:
    cli.fail(f"--workdir={workdir}: {name} is not valid JSON ({e}); the "
             f"run may have been cut short")
  cli.check("train_loss" in history, "workdir",
            "has no epoch in metrics.jsonl: the run ended before its first "
            "epoch")
  cli.check(isinstance(results, dict) and "config" in results, "workdir",
            "has a results.json without the run's config: not an "
            "experiments.train run")
  return history, results


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
  like = mlp.init(init_key, sizes, model, config.net.init)
  stored = params_io.load(params_path, params=like,
                          stats=mlp.init_stats(like, model))
  params, stats = stored["params"], stored["stats"]
  if fit:
    return None, (outputs.regression_view(params, stats, model, splits)
                  if splits.test.size else None)
  return (lambda pts: experiment.predict_labels(params, stats, pts, model),
          splits.test.x, splits.test.y), None


def main(argv):
  del argv
  history, results = read_run(FLAGS.workdir)
  for path in outputs.draw_run(FLAGS.workdir, history, results,
                               *stored_network(FLAGS.workdir, results)):
    print(path)


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
