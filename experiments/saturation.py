r"""Saturation and the gradient per layer of deep sigmoid, tanh and ReLU nets.

  python -m experiments.saturation                # digits, depths 1-8, 5 seeds
  python -m experiments.saturation --depths=2,8 --seeds=2 --epochs=3

A setup is an activation and an init (``sigmoid:normal``: weights and
biases N(0, 1)). Per setup and depth, seeds x --learning_rates networks
train in one vmapped call (nn_jax.diagnostics.fit_tracked), diagnosed on
the training set before the first epoch and after each: ||dE/dw_l|| per
layer (hand-written backward pass), the shares of |g'(z)| < --threshold and
of dead units per hidden layer. Scores: test accuracy after --epochs at the
rate with the best mean validation accuracy, and the diagnosis at that
rate. Writes results.json, saturation.png (gradient norm against layer
before training, a panel per depth) and saturation_training.png.
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import activations
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import diagnostics
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import population
from nn_jax.epoch import evaluate

cli.define_flags(config_lib.DataConfig)
cli.define_flags(config_lib.OptimConfig, config_lib.FitOptions,
                 only=("optimizer", "momentum", "epochs", "batch_size"),
                 defaults=dict(optimizer="sgd", epochs=30))
flags.DEFINE_list("setups", ["sigmoid:normal", "sigmoid:glorot",
                             "tanh:normal", "tanh:glorot", "relu:normal",
                             "relu:he"], "activation:init pairs.")
flags.DEFINE_list("depths", [str(d) for d in range(1, 9)],
                  "Numbers of hidden layers.")
flags.DEFINE_integer("width", 64, "Units per hidden layer.", lower_bound=1)
flags.DEFINE_integer("seeds", 5, "Seeds per setup, depth and rate.",
                     lower_bound=1)
flags.DEFINE_list("learning_rates", ["0.03", "0.1", "0.3", "1"],
                  "Learning rates; the best by validation accuracy counts.")
flags.DEFINE_float("threshold", diagnostics.THRESHOLD,
                   "|g'(z)| below this counts as saturated.")
flags.DEFINE_string("workdir", "runs/saturation", "Where results go.")
FLAGS = flags.FLAGS


def parse_flags():
  """--setups as (activation, init) pairs, --depths, --learning_rates."""
  setups = [tuple(s.split(":")) for s in FLAGS.setups]
  cli.check(all(len(s) == 2 and s[0] in activations.DIFFERENTIABLE
                and s[1] in mlp.INIT_SCHEMES for s in setups), "setups",
            f"activation:init pairs, of {activations.NAMES} and "
            f"{mlp.INIT_SCHEMES}")
  try:
    depths = [int(d) for d in FLAGS.depths]
    rates = [float(r) for r in FLAGS.learning_rates]
  except ValueError:
    depths = rates = []
  cli.check(depths and rates and min(depths + rates) > 0, "depths",
            "--depths and --learning_rates: comma-separated positive numbers")
  return setups, depths, rates


def run_activation(config, splits, activation, inits, depth, rates):
  """Trains inits x rates x seeds networks; one summary per init."""
  model = mlp.make_model(activation)
  data = experiment.training_data(splits, model.loss)
  sizes = [data.x.shape[1], *[FLAGS.width] * depth, data.y.shape[1]]
  seeds, r = FLAGS.seeds, len(rates)
  # Members in the order (init, rate, seed); a seed starts from the same
  # draw and takes the same batches at every rate.
  result = diagnostics.fit_tracked(
      population.seed_keys(seeds, len(inits) * r),
      sizes, model, data, config.fit, init=np.repeat(inits, r * seeds),
      learning_rates=np.tile(np.repeat(rates, seeds), len(inits)),
      optimizer=config.optim.optimizer, momentum=config.optim.momentum,
      threshold=FLAGS.threshold)
  x_test = jnp.asarray(splits.test.x)
  y_test = jnp.asarray(data_lib.targets(model.loss, splits.test))
  test_acc = np.asarray(jax.vmap(lambda p, s: evaluate(
      p, x_test, y_test, model, s))(result.params, result.stats)[1])
  diverged = ~np.all(np.isfinite(result.history["train_loss"]), axis=1)
  val = np.where(diverged, 0, result.history["val_accuracy"][:, -1])
  val = val.reshape(len(inits), r, seeds).mean(2)
  diverged_by_rate = diverged.reshape(len(inits), r, seeds).sum(2)
  rows = []
  for i, init in enumerate(inits):
    best = int(np.argmax(val[i]))
    pick = lambda a: a.reshape((len(inits), r, seeds) + a.shape[1:])[i, best]
    grads, sat, dead = map(pick, result.diagnostics)
    rows.append(dict(
        activation=activation, init=init, depth=depth, sizes=sizes,
        learning_rate=rates[best], val_accuracy_by_rate=val[i],
        test_accuracy=pick(test_acc), diverged=pick(diverged),
        diverged_by_rate=diverged_by_rate[i],
        grad_norms_start=grads[:, 0], grad_norms_end=grads[:, -1],
        grad_norms_median=np.median(grads, 0), saturated_start=sat[:, 0],
        saturated_median=np.median(sat, 0), dead_end=dead[:, -1]))
  return rows


def diverged_text(row: dict) -> str:
  """How many of a setting's seeds diverged at its chosen rate, in words;
  where every seed diverged at every rate, that the rate is no choice and
  the accuracy is of their last finite weights."""
  seeds = len(row["diverged"])
  if min(row["diverged_by_rate"]) == seeds:
    return (f"all {seeds} seeds diverged at every rate: the accuracy of "
            f"their last finite weights")
  return (f"{sum(row['diverged'])} of {seeds} diverged at eta "
          f"{row['learning_rate']:g}")


def main(argv):
  del argv
  config = cli.config_from_flags()
  setups, depths, rates = parse_flags()
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  rows = []
  for activation in dict.fromkeys(a for a, _ in setups):
    inits = [i for a, i in setups if a == activation]
    for depth in depths:
      cli.log("%s (%s), hidden layers: %d", activation, ", ".join(inits),
              depth)
      rows += run_activation(config, splits, activation, inits, depth, rates)
  what = (f"{config.data.dataset}, {FLAGS.width}-unit layers, "
          f"{config.optim.optimizer}, batch {config.fit.batch_size}, "
          f"{config.fit.epochs} epoch{'s' * (config.fit.epochs > 1)} at the "
          f"best of rates {', '.join(f'{r:g}' for r in rates)}")
  results = {
      "experiment": "saturation", "runs": rows, "what": what,
      "config": config.flat(), "flags": cli.flag_dict(__file__),
      "seconds": timer.seconds, "provenance": outputs.provenance()}
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  figures.saturation(workdir, results)
  for r in rows:
    g = np.asarray(r["grad_norms_start"], float)   # (seeds, layers)
    ratio = g[:, 0] / g[:, -1]   # each seed's, as CLAIMS.md gives them
    print(f"{r['activation']}:{r['init']} depth {r['depth']}: before "
          f"training ||dE/dW_1|| / ||dE/dW_out|| {np.median(ratio):.2g} "
          f"({np.min(ratio):.2g}-{np.max(ratio):.2g}), test accuracy after "
          f"training {np.median(r['test_accuracy']):.3f} "
          f"({diverged_text(r)})")
  print(f"{len(rows)} settings, {timer.seconds:.0f} s; results in {workdir}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
