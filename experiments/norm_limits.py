r"""Norm penalty and norm constraint, swept until they bind.

  python -m experiments.norm_limits [--seeds=10] [--l2s=1e-4,...,3e-2]
      [--radii=0.25,...,4] [--workdir=runs/norm_limits]

The setup of experiments.regularization (its BASE: a 64-512-512-10 ReLU
network, --hidden=512,512, optax's SGD with momentum 0.9 at eta = 0.01,
batches of 32, 150 epochs, on 300 training examples of the digits), the
data split of seed 0. Every L2 strength in --l2s (the penalty (l2/2) sum
||w||^2, the model's) and every max-norm radius in --radii (each unit's
incoming weights projected back onto ||w_j|| <= radius after every step, a
fit option), and the unregularized baseline, trains --seeds networks in
one vmapped call (nn_jax.population.fit_population). Seed s starts from the
same initial weights and takes the batches in the same order in every
setting, so that a setting's per-seed difference to the baseline is free of
that noise.

Measured per setting (mean and std over the seeds): test accuracy, final
training accuracy, the train - test gap, each layer's largest row norm
max_j ||w_j|| (what max-norm bounds) and the fraction of its units at the
bound, and the total weight norm sqrt(sum ||w||^2) (what L2 shrinks).
Writes results.json, results.md (the table) and norm_limits.png.
"""

import os

from absl import flags
import jax
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import population
from nn_jax import regularization as reg

cli.define_flags(config_lib.DataConfig,
                 defaults=dict(dataset="digits", train_size=300,
                               test_fraction=0.3, validation_fraction=0.2))
cli.define_flags(config_lib.NetConfig, config_lib.FitOptions,
                 only=("hidden", "epochs"),
                 defaults=dict(hidden=(512, 512), epochs=150))
flags.DEFINE_integer("seeds", 10, "Networks per setting (seeds 0, 1, ...).")
flags.DEFINE_list("l2s", ["1e-4", "3e-4", "1e-3", "3e-3", "1e-2", "3e-2"],
                  "L2 strengths to sweep.")
flags.DEFINE_list("radii", ["0.25", "0.5", "1", "2", "4"],
                  "Max-norm radii to sweep.")
flags.DEFINE_string("workdir", "runs/norm_limits", "Where results go.")

FLAGS = flags.FLAGS

# experiments.regularization's BASE (but for --hidden): the network and its
# training.
BASE = dict(activation="relu", optimizer="momentum", momentum=0.9,
            learning_rate=0.01, batch_size=32, train_metrics="full")


def run_setting(config, splits, technique: str, value: float,
                seeds: int) -> dict:
  """Trains ``seeds`` networks with one setting (``technique`` "l2",
  "max_norm" or "baseline"); returns its row of per-seed measurements."""
  config = config.replace(**({technique: value} if value else {}))
  model = config.net.make()
  data = experiment.training_data(splits, model.loss)
  sizes = [data.x.shape[1], *config.net.hidden, data.y.shape[1]]
  result = population.fit_population(
      population.seed_keys(seeds), sizes, model, data, config.fit,
      learning_rates=config.optim.learning_rate,
      optimizer=config.optim.optimizer, momentum=config.optim.momentum,
      init=config.net.init)
  _, test = population.evaluate(
      result, splits.test.x, data_lib.targets(model.loss, splits.test), model)
  norms = jax.vmap(lambda p: reg.weight_norms(p, config.fit.max_norm))(
      result.params)
  row = {"technique": technique, "value": value, "sizes": sizes,
         "test_accuracy": np.asarray(test),
         "train_accuracy": result.history["train_accuracy"][:, -1],
         "diverged": int(np.sum(~np.isfinite(
             result.history["train_loss"][:, -1])))}
  row.update({k: np.asarray(v) for k, v in norms.items()})
  row["gap"] = row["train_accuracy"] - row["test_accuracy"]
  cli.log("%-9s %-7g test %.4f +- %.4f, largest row norms %s, total %.2f",
          technique, value, row["test_accuracy"].mean(),
          row["test_accuracy"].std(), np.round(
              row["largest_row"].mean(0), 3), row["total"].mean())
  return row


def table(rows: list) -> str:
  """Mean +- std over seeds; vs. baseline: the per-seed difference."""
  base = rows[0]["test_accuracy"]
  lines = ["| setting | test acc. (%) | vs. baseline (pp, per seed) | "
           "train acc. (%) | train - test (pp) | largest row norm per "
           "layer | units at the bound (%) | total weight norm |",
           "| --- " * 8 + "|"]
  pm = lambda a, s=100: f"{s * np.mean(a):.2f} +- {s * np.std(a):.2f}"
  for r in rows:
    name = r["technique"] + (f"={r['value']:g}" if r["value"] else "")
    largest = ", ".join(f"{v:.2f}" for v in np.mean(r["largest_row"], 0))
    bound = ", ".join(f"{100 * v:.0f}" for v in np.mean(
        r["at_bound"], 0)) if "at_bound" in r else "-"
    lines.append(f"| {name} | {pm(r['test_accuracy'])} | "
                 f"{pm(r['test_accuracy'] - base)} | "
                 f"{pm(r['train_accuracy'])} | {pm(r['gap'])} | {largest} "
                 f"| {bound} | {pm(r['total'], 1)} |")
  return "\n".join(lines)


def command() -> str:
  """The command that reproduces this run (but for --workdir)."""
  given = [FLAGS[name].serialize() for name in cli.flag_dict(__file__)
           if FLAGS[name].present and name != "workdir"]
  return " ".join(["python -m experiments.norm_limits", *given])


def main(argv):
  del argv
  cli.check(FLAGS.seeds >= 2, "seeds", "must be >= 2 (a spread over seeds)")
  l2s, radii = (cli.numbers(f, lambda v: v > 0, "> 0")
                 for f in ("l2s", "radii"))
  config = cli.config_from_flags(**BASE)
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  settings = ([("baseline", 0.0)] + [("l2", v) for v in l2s]
              + [("max_norm", v) for v in radii])
  rows = [run_setting(config, splits, t, v, FLAGS.seeds)
          for t, v in settings]
  what = (f"{splits.train.size} training examples of {config.data.dataset}"
          f", {'-'.join(map(str, rows[0]['sizes']))} "
          f"{config.net.activation}, {config.fit.epochs} epochs")
  text = table(rows)
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(f"Mean +- std over {FLAGS.seeds} seeds, {what}.\n\n"
            f"`{command()}`\n\n{text}\n")
  results = {
      "experiment": "norm_limits", "rows": rows, "what": what,
      "config": config.flat(), "seeds": FLAGS.seeds,
      "flags": cli.flag_dict(__file__), "command": command(),
      "seconds": timer.seconds}
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  figures.norm_limits(workdir, results)
  print(text)


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
