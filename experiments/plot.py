r"""Redraws a finished run's figures from the files in its workdir.

  python -m experiments.plot --workdir=runs/train

Reads metrics.jsonl and results.json (and params.npz for decision regions)
and writes learning_curves.png, confusion_matrix.png (classification) and,
for a network classifying 2-D inputs, decision_regions.png.
"""

import json
import os

from absl import flags

from experiments import common
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import params_io

flags.DEFINE_string("workdir", "runs/train", "The run's workdir.")

FLAGS = flags.FLAGS


def main(argv):
  del argv
  workdir = FLAGS.workdir
  for name in ("metrics.jsonl", "results.json"):
    common.check(os.path.exists(os.path.join(workdir, name)), "workdir",
                 f"has no {name}: point it at a finished experiments.train run")
  name = "metrics.jsonl"
  try:
    history = common.read_history(os.path.join(workdir, name))
    name = "results.json"
    with open(os.path.join(workdir, name)) as f:
      results = json.load(f)
  except json.JSONDecodeError as e:
    common.fail(f"--workdir={workdir}: {name} is not valid JSON ({e}); the "
                f"run may have been cut short")
  common.check("train_loss" in history, "workdir",
               "has no epoch in metrics.jsonl: the run ended before its "
               "first epoch")
  common.check(isinstance(results, dict) and "config" in results, "workdir",
               "has a results.json without the run's config: not an "
               "experiments.train run")
  config = experiment.config_from_dict(results["config"])
  params_path = os.path.join(workdir, "params.npz")
  sizes = results.get("sizes") or []
  regions = None
  if (sizes and experiment.has_decision_regions(config, sizes[0])
      and os.path.exists(params_path)):
    model = experiment.model_of(config)
    split_key, init_key, _, _ = experiment.run_keys(config)
    splits = experiment.prepare(config, split_key)
    like = mlp.init(init_key, sizes, model, config.init)
    stored = params_io.load(params_path, params=like,
                            stats=mlp.init_stats(like, model))
    regions = (lambda pts: experiment.predict_labels(
        stored["params"], stored["stats"], pts, model),
               splits.test.x, splits.test.y)
  written = common.draw_run(workdir, history, results, regions)
  for path in written:
    print(path)


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
