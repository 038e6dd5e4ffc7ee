r"""Each regularization technique against the unregularized baseline.

  python -m experiments.regularization [--seeds=3] [--workdir=runs/regularization]

A wide 64-512-512-10 ReLU network on 300 training examples of the digits
(overfits: training accuracy reaches 100%). Every technique runs with the
same seeds, data splits and initial weights as the baseline. The data are
experiments.train's data flags (defaults: --dataset=digits
--train_size=300 --test_fraction=0.3 --validation_fraction=0.2;
image_shift needs images). Writes results.json, results.md (a table of
train / test accuracy, mean over seeds) and validation_curves.png.
"""

import os

from absl import flags
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import experiment

cli.define_flags(config_lib.DataConfig,
                 defaults=dict(dataset="digits", train_size=300,
                               test_fraction=0.3, validation_fraction=0.2))
cli.define_flags(config_lib.FitOptions, only=("epochs",),
                 defaults=dict(epochs=150))
flags.DEFINE_integer("seeds", 3, "Seeds per technique (0, 1, ...).")
flags.DEFINE_list("techniques", [], "Subset of techniques to run (default "
                  "all); the baseline always runs.")
flags.DEFINE_string("workdir", "runs/regularization",
                    "Where results are written.")

FLAGS = flags.FLAGS

# The baseline's network and training (the data come from the flags).
BASE = dict(hidden=(512, 512), activation="relu", optimizer="momentum",
            learning_rate=0.01, batch_size=32, train_metrics="full")

TECHNIQUES = {
    "baseline": {},
    # Settings that bind (experiments.norm_limits, 10 seeds): the L2
    # strength of its largest test gain (total weight norm 26 -> 9), and
    # its smallest radius without a loss there (holds nearly every unit of
    # every layer at the bound; 2.0 bound only the output layer).
    "l2": dict(l2=1e-2),
    "max_norm": dict(max_norm=0.5),
    "dropout": dict(dropout=0.5),
    "batchnorm": dict(batchnorm=True),
    "input_noise": dict(augment=("noise",), noise_std=0.5),
    "image_shift": dict(augment=("shift",), input_encoding="none"),
    "early_stopping": dict(early_stopping_patience=15),
    "pretraining": dict(pretrain=True, pretrain_epochs=20),
}


def run_technique(config, name: str, seeds: int) -> tuple:
  """Runs technique ``name`` with seeds 0 .. seeds-1; returns its table row
  and seed 0's run."""
  runs = []
  for seed in range(seeds):
    run = experiment.train_and_evaluate(
        config.replace(seed=seed, **TECHNIQUES[name]))
    s = run.summary
    cli.log("%-15s seed %d: train %.4f test %.4f (%d epochs, %.1f s)", name,
            seed, s.final_train_accuracy, s.test_accuracy, s.epochs_run,
            s.seconds)
    runs.append(run)
  test = [r.summary.test_accuracy for r in runs]
  row = {"technique": name, "settings": TECHNIQUES[name],
         "train_accuracy": float(np.mean([r.summary.final_train_accuracy
                                          for r in runs])),
         "test_accuracy": float(np.mean(test)),
         "test_accuracy_per_seed": test,
         "epochs_run": [r.summary.epochs_run for r in runs]}
  return row, runs[0]


def table(rows: list) -> str:
  """The rows as a Markdown table."""
  lines = ["| technique | settings | train acc. | test acc. | vs. baseline |",
           "| --- | --- | --- | --- | --- |"]
  for r in rows:
    settings = figures.settings_text(r["settings"]) or "-"
    lines.append(f"| {r['technique']} | {settings} | "
                 f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                 f"{100 * r['vs_baseline']:+.2f} pp |")
  return "\n".join(lines)


def command() -> str:
  """The command that reproduces this run (but for --workdir)."""
  always = ["seeds", "train_size", "epochs"]
  given = [name for name in cli.flag_dict(__file__) if FLAGS[name].present
           and name not in (*always, "workdir")]
  return " ".join(["python -m experiments.regularization",
                   *(FLAGS[name].serialize() for name in always + given)])


def main(argv):
  del argv
  cli.check(FLAGS.seeds >= 1, "seeds", "must be >= 1")
  unknown = set(FLAGS.techniques) - set(TECHNIQUES)
  cli.check(not unknown, "techniques", f"allowed: {', '.join(TECHNIQUES)}")
  config = cli.config_from_flags(**BASE)
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  names = ["baseline"] + [t for t in TECHNIQUES if t != "baseline" and
                          (not FLAGS.techniques or t in FLAGS.techniques)]
  rows, first = [], {}   # first: each technique's run of seed 0
  for name in names:
    row, first[name] = run_technique(config, name, FLAGS.seeds)
    rows.append(row)
  base = first["baseline"].summary
  what = (f"{base.num_train} training examples of {config.data.dataset}, "
          f"{'-'.join(map(str, base.sizes))} {config.net.activation}")
  for row in rows:
    row["vs_baseline"] = row["test_accuracy"] - rows[0]["test_accuracy"]
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(f"Mean over {FLAGS.seeds} seeds, {what}.\n\n`{command()}`\n\n"
            f"{table(rows)}\n")
  results = {
      "experiment": "regularization", "rows": rows, "what": what,
      "config": config.flat(), "seeds": FLAGS.seeds,
      "best": max(rows, key=lambda r: r["test_accuracy"])["technique"],
      "curves": {n: r.history["val_accuracy"] for n, r in first.items()},
      "seconds": timer.seconds, "command": command()}
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  figures.regularization(workdir, results)
  print(table(rows))


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
