r"""A population of networks trained in one jitted, vmapped call.

  python -m experiments.sweep --learning_rates=0.01,0.03,0.1,0.3 --seeds=16

With ``--devices=N`` the members are split over N devices (several GPUs, or
the CPU's cores as devices:
``XLA_FLAGS=--xla_force_host_platform_device_count=N``).

Every (learning rate, seed) pair is one member; all members share the data
set, architecture and epochs, and train side by side through
``nn_jax.population.fit_population``. The settings are experiments.train's
flags (smaller defaults: --hidden=32, --epochs=20, the population
benchmark's members), but for --learning_rate and --seed, which
--learning_rates and --seeds replace, and those a population does not take
(--model, --dtype, the schedules); the training options it cannot run in
lock-step (--cost_threshold, --early_stopping_patience, --epochs_per_call,
--checkpoint_every) it refuses by name. The data are split as by
experiments.train --seed=0. The seed draws a member's initial weights and
its batch order; with ``--shared_order`` every member takes the batches in
seed 0's order (and its dropout masks), so that members differ only in
initial weights and learning rate; this is also faster. Writes
results.json (one row per member: learning rate, seed, whether it diverged,
final train / validation / test cost and accuracy), members.csv (the same
rows) and sweep.png (test accuracy, or the test cost of a regression,
against learning rate; members that diverged are left out of it and of the
printed means).
"""

import csv
import os

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import population
from nn_jax import train

cli.define_flags(config_lib.DataConfig, config_lib.NetConfig,
                 config_lib.OptimConfig, config_lib.FitOptions,
                 defaults=dict(hidden=(32,), epochs=20),
                 exclude=("learning_rate", "model", "dtype", "schedule",
                          "decay_rate", "decay_epochs"))
flags.DEFINE_list("learning_rates", ["0.003", "0.01", "0.03", "0.1"],
                  "Learning rates; each runs with every seed.")
flags.DEFINE_integer("seeds", 16, "Seeds per learning rate (0, 1, ...).")
flags.DEFINE_boolean("shared_order", False, "Every member takes the "
                     "batches in seed 0's order (and its dropout masks): "
                     "members differ only in initial weights and learning "
                     "rate. Faster.")
flags.DEFINE_string("workdir", "runs/sweep", "Where results are written.")

FLAGS = flags.FLAGS


def train_members(config, splits, rates, seeds: int,
                  shared_order: bool) -> tuple:
  """Trains a member per (rate, seed); returns its rows (final metrics and
  test scores, in the order rates x seeds) and the layer sizes."""
  model = config.net.make()
  data_lib.check_loss_fits(model.loss, splits.train)
  data = experiment.training_data(splits, model.loss)
  sizes = [data.x.shape[1], *config.net.hidden, data.y.shape[1]]
  member_rates = np.repeat(rates, seeds)
  member_seeds = np.tile(np.arange(seeds), len(rates))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(member_seeds))
  # Seed 0's training key (fit_population splits each member's key into
  # initial weights and training).
  shared_key = (jax.random.split(jax.random.PRNGKey(0))[1]
                if shared_order else None)
  cli.log("training %d members of %s in one vmapped call on %d device(s)",
          len(keys), sizes, config.fit.devices)
  result = population.fit_population(
      keys, sizes, model, data, config.fit, learning_rates=member_rates,
      optimizer=config.optim.optimizer, momentum=config.optim.momentum,
      init=config.net.init, image_shape=splits.train.image_shape,
      shared_key=shared_key)
  x_test = jnp.asarray(splits.test.x)
  y_test = jnp.asarray(data_lib.targets(model.loss, splits.test))
  test_loss, test_accuracy = jax.vmap(
      lambda p, s: train.evaluate(p, x_test, y_test, model, s))(
          result.params, result.stats)
  # A member whose training cost went NaN or Inf diverged (its learning
  # rate is too large); its test scores say nothing about the rate.
  diverged = ~np.all(np.isfinite(result.history["train_loss"]), axis=1)
  rows = [{"member": i, "learning_rate": float(member_rates[i]),
           "seed": int(member_seeds[i]), "diverged": bool(diverged[i]),
           **{m: float(result.history[m][i, -1]) for m in train.METRICS},
           "test_loss": float(test_loss[i]),
           "test_accuracy": float(test_accuracy[i])}
          for i in range(len(keys))]
  return rows, sizes


def write_members(workdir: str, rows: list) -> None:
  with open(os.path.join(workdir, "members.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def means(rows: list, rates: list, score: str) -> list:
  """Per rate: the mean ``score`` of its members that did not diverge (NaN
  if all did) and how many did not."""
  out = []
  for rate in rates:
    kept = [r[score] for r in rows
            if r["learning_rate"] == rate and not r["diverged"]]
    out.append((np.mean(kept) if kept else np.nan, len(kept)))
  return out


def main(argv):
  del argv
  config = cli.config_from_flags()
  rates = cli.numbers("learning_rates", lambda v: v > 0, "> 0")
  seeds = FLAGS.seeds
  cli.check(seeds >= 1, "seeds", "must be >= 1")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  rows, sizes = train_members(config, splits, rates, seeds,
                              FLAGS.shared_order)
  train_seconds = timer.seconds
  write_members(workdir, rows)
  results = {
      "experiment": "sweep", "members": rows, "sizes": sizes,
      # The members' own rates and seeds are in their rows.
      "config": {k: v for k, v in config.flat().items()
                 if k not in ("learning_rate", "seed")},
      "learning_rates": rates, "seeds": seeds,
      "shared_order": FLAGS.shared_order,
      "train_seconds": train_seconds, "seconds": timer.seconds,
      "provenance": outputs.provenance()}
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  # Regression has no accuracy: its members are compared by test cost.
  score, name = (("test_loss", "test cost")
                 if splits.test.task == data_lib.REGRESSION
                 else ("test_accuracy", "test accuracy"))
  figures.sweep(workdir, results)
  for rate, (mean, kept) in zip(rates, means(rows, rates, score)):
    if not kept:
      print(f"learning rate {rate:g}: all {seeds} seeds diverged (cost NaN "
            f"or Inf)")
      continue
    lost = seeds - kept
    print(f"learning rate {rate:g}: mean {name} {mean:.4f} over "
          + (f"{kept} of {seeds} seeds ({lost} diverged, left out)" if lost
             else f"{seeds} seeds"))
  print(f"{len(rows)} members trained in {train_seconds:.1f} s "
        f"(results in {workdir})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
