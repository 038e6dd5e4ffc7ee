r"""Each regularization technique against the unregularized baseline.

  python -m experiments.regularization [--seeds=3] [--workdir=runs/regularization]

A wide 64-512-512-10 ReLU network on 300 training examples of the digits
(overfits: training accuracy reaches 100%). Every technique runs with the
same seeds, data splits and initial weights as the baseline. Writes
results.json, results.md (a table of train / test accuracy, mean over seeds)
and validation_curves.png.
"""

import os

from absl import flags
import matplotlib.pyplot as plt
import numpy as np

from experiments import common
from nn_jax import experiment

flags.DEFINE_integer("seeds", 3, "Seeds per technique (0, 1, ...).")
flags.DEFINE_integer("train_size", 300, "Training examples used.")
flags.DEFINE_integer("epochs", 150, "Epochs per run.")
flags.DEFINE_list("techniques", [], "Subset of techniques to run (default "
                  "all); the baseline always runs.")
flags.DEFINE_string("workdir", "runs/regularization",
                    "Where results are written.")

FLAGS = flags.FLAGS

BASE = dict(dataset="digits", hidden=(512, 512), activation="relu",
            optimizer="momentum", learning_rate=0.01, batch_size=32,
            test_fraction=0.3, validation_fraction=0.2)

TECHNIQUES = {
    "baseline": {},
    "l2": dict(l2=1e-3),
    "max_norm": dict(max_norm=2.0),
    "dropout": dict(dropout=0.5),
    "batchnorm": dict(batchnorm=True),
    "input_noise": dict(augment=("noise",), noise_std=0.5),
    "image_shift": dict(augment=("shift",), input_encoding="none"),
    "early_stopping": dict(early_stopping_patience=15),
    "pretraining": dict(pretrain=True, pretrain_epochs=20),
}


def main(argv):
  del argv
  common.check(FLAGS.seeds >= 1, "seeds", "must be >= 1")
  common.check(FLAGS.train_size >= 1, "train_size", "must be >= 1 (a small "
               "training set, where regularization matters)")
  unknown = set(FLAGS.techniques) - set(TECHNIQUES)
  common.check(not unknown, "techniques",
               f"allowed: {', '.join(TECHNIQUES)}")
  workdir = common.make_workdir(FLAGS.workdir)
  timer = common.Timer()
  names = ["baseline"] + [t for t in TECHNIQUES if t != "baseline" and
                          (not FLAGS.techniques or t in FLAGS.techniques)]
  rows, curves = [], {}
  for name in names:
    runs = []
    for seed in range(FLAGS.seeds):
      config = experiment.Config(**{**BASE, "train_size": FLAGS.train_size,
                                    "epochs": FLAGS.epochs, "seed": seed,
                                    **TECHNIQUES[name]})
      out = experiment.train_and_evaluate(config)
      runs.append(out)
      common.log("%-15s seed %d: train %.4f test %.4f (%d epochs, %.1f s)",
                 name, seed, out["final_train_accuracy"],
                 out["test_accuracy"], out["epochs_run"], out["seconds"])
    curves[name] = runs[0]["history"]["val_accuracy"]
    test = [r["test_accuracy"] for r in runs]
    rows.append({
        "technique": name, "settings": TECHNIQUES[name],
        "train_accuracy": float(np.mean([r["final_train_accuracy"]
                                         for r in runs])),
        "test_accuracy": float(np.mean(test)),
        "test_accuracy_per_seed": test,
        "epochs_run": [r["epochs_run"] for r in runs]})
  baseline = rows[0]["test_accuracy"]
  for row in rows:
    row["vs_baseline"] = row["test_accuracy"] - baseline

  lines = ["| technique | settings | train acc. | test acc. | vs. baseline |",
           "| --- | --- | --- | --- | --- |"]
  for r in rows:
    settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "-"
    lines.append(f"| {r['technique']} | {settings} | "
                 f"{r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                 f"{100 * r['vs_baseline']:+.2f} pp |")
  table = "\n".join(lines)
  command = ("python -m experiments.regularization "
             f"--seeds={FLAGS.seeds} --train_size={FLAGS.train_size} "
             f"--epochs={FLAGS.epochs}"
             + (f" --techniques={','.join(FLAGS.techniques)}"
                if FLAGS.techniques else ""))
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(f"Mean over {FLAGS.seeds} seeds, {FLAGS.train_size} training "
            f"examples of digits, 64-512-512-10 ReLU.\n\n`{command}`\n\n"
            f"{table}\n")
  common.write_json(os.path.join(workdir, "results.json"), {
      "rows": rows, "base": BASE, "train_size": FLAGS.train_size,
      "epochs": FLAGS.epochs, "seeds": FLAGS.seeds,
      "best": max(rows, key=lambda r: r["test_accuracy"])["technique"],
      "seconds": timer.seconds, "command": command})

  fig, ax = plt.subplots(figsize=(8, 5))
  for name, acc in curves.items():
    ax.plot(np.arange(1, len(acc) + 1), acc, label=name,
            lw=2.5 if name == "baseline" else 1.2)
  ax.set(xlabel="epoch", ylabel="validation accuracy (seed 0)",
         title=f"Regularization on {FLAGS.train_size} digits")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "validation_curves.png"), dpi=100)
  plt.close(fig)
  print(table)


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
