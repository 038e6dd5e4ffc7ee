r"""The hidden activations compared: accuracy, dead units, PReLU's slopes.

  python -m experiments.activations               # digits and MNIST-1D, 5 seeds
  python -m experiments.activations --datasets=digits --seeds=2 --epochs=3

The same network (--hidden, --init, plain SGD by default) with each
differentiable activation (identity, the linear network, reported beside
them as a baseline) on each data set: seeds x --learning_rates members in
one jitted, vmapped call (nn_jax.population.fit_population) per
activation. An activation's score is the test accuracy after --epochs at
the learning rate with the best mean validation accuracy; at that rate,
per seed: the share of dead hidden units (g'(z) = 0 for every training
example) and of saturated values |g'(z)| < 0.01 (ReLU family: z <= 0) by
nn_jax.diagnostics, and for PReLU the learned slope alpha of every unit.
Writes results.json and activations.png (test accuracy and dead units per
activation, a histogram of the PReLU slopes per layer; a row per data set).
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import activations as activations_lib
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import diagnostics
from nn_jax import experiment
from nn_jax import population
from nn_jax.epoch import evaluate

cli.define_flags(config_lib.DataConfig, exclude=("dataset",))
cli.define_flags(config_lib.NetConfig, config_lib.OptimConfig,
                 config_lib.FitOptions,
                 only=("hidden", "init", "optimizer", "momentum", "epochs",
                       "batch_size"),
                 defaults=dict(hidden=(64, 64, 64), optimizer="sgd",
                               epochs=30))
flags.DEFINE_list("datasets", ["digits", "mnist1d"], "Data sets.")
flags.DEFINE_list("activations", list(activations_lib.DIFFERENTIABLE),
                  "Hidden activations (identity: the linear baseline).")
flags.DEFINE_integer("seeds", 5, "Seeds per activation and rate.",
                     lower_bound=1)
flags.DEFINE_list("learning_rates", ["0.03", "0.1", "0.3", "1"],
                  "Learning rates; the best by validation accuracy counts.")
flags.DEFINE_string("workdir", "runs/activations", "Where results go.")
FLAGS = flags.FLAGS


def parse_flags():
  """--datasets, --activations and --learning_rates, checked."""
  classified = [d for d in config_lib.DATASETS
                if d != "csv" and data_lib.truth(d) is None]
  cli.check(FLAGS.datasets and set(FLAGS.datasets) <= set(classified),
            "datasets", f"classification data sets of {', '.join(classified)}")
  cli.check(FLAGS.activations and set(FLAGS.activations) <= set(
      activations_lib.DIFFERENTIABLE), "activations",
            f"of {activations_lib.DIFFERENTIABLE}")
  try:
    rates = [float(r) for r in FLAGS.learning_rates]
  except ValueError:
    rates = []
  cli.check(rates and min(rates) > 0, "learning_rates", "positive numbers")
  return rates


def run_activation(config, splits, activation, rates):
  """Trains rates x seeds networks; the summary at the best rate."""
  config = config.replace(activation=activation)
  model = config.net.make()
  data = experiment.training_data(splits, model.loss)
  sizes = [data.x.shape[1], *config.net.hidden, data.y.shape[1]]
  seeds = FLAGS.seeds
  keys = population.seed_keys(seeds, len(rates))
  result = population.fit_population(
      keys, sizes, model, data, config.fit,
      learning_rates=np.repeat(rates, seeds),
      optimizer=config.optim.optimizer, momentum=config.optim.momentum,
      init=config.net.init)
  diverged = ~np.all(np.isfinite(result.history["train_loss"]), axis=1)
  val = np.where(diverged, 0, result.history["val_accuracy"][:, -1])
  best = int(np.argmax(val.reshape(len(rates), seeds).mean(1)))
  chosen = slice(best * seeds, (best + 1) * seeds)
  params, stats = jax.tree.map(lambda a: a[chosen],
                               (result.params, result.stats))
  x_test = jnp.asarray(splits.test.x)
  y_test = jnp.asarray(data_lib.targets(model.loss, splits.test))
  test_acc = jax.vmap(lambda p, s: evaluate(p, x_test, y_test, model, s))(
      params, stats)[1]
  diag = jax.vmap(lambda p: diagnostics.diagnose(p, data.x, data.y, model))(
      params)
  return dict(
      dataset=config.data.dataset, activation=activation, sizes=sizes,
      learning_rate=rates[best],
      val_accuracy_by_rate=val.reshape(len(rates), seeds).mean(1),
      test_accuracy=test_acc, diverged=diverged[chosen],
      dead=diag.dead, saturated=diag.saturated,
      prelu_slopes=([layer["alpha"] for layer in params[:-1]]
                    if model.activation.learnable else None))


def mean_std(values) -> str:
  return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def main(argv):
  del argv
  config = cli.config_from_flags(dataset=FLAGS.datasets[0])
  rates = parse_flags()
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  rows = []
  for dataset in FLAGS.datasets:
    config = config.replace(dataset=dataset)
    splits = experiment.prepare(config, experiment.run_keys(config)[0])
    for activation in FLAGS.activations:
      cli.log("%s: %s", dataset, activation)
      rows.append(run_activation(config, splits, activation, rates))
      row = rows[-1]
      slopes = row["prelu_slopes"]
      print(f"{dataset:8s} {activation:17s} test accuracy "
            f"{mean_std(row['test_accuracy'])} (lr {row['learning_rate']:g},"
            f" {int(np.sum(row['diverged']))} diverged), dead units "
            f"{mean_std(np.mean(row['dead'], 1))}" + ("" if slopes is None
            else ", PReLU slopes per layer (median) " + ", ".join(
                f"{np.median(a):.3f}" for a in slopes)))
  results = {
      "experiment": "activations", "runs": rows, "config": config.flat(),
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds,
      "provenance": outputs.provenance()}
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  figures.activations(workdir, results)
  print(f"{len(rows)} settings in {timer.seconds:.0f} s (results in "
        f"{workdir})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
