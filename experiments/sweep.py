r"""A population of networks trained in one jitted, vmapped call.

  python -m experiments.sweep --learning_rates=0.01,0.03,0.1,0.3 --seeds=16

With ``--devices=N`` the members are split over N devices (several GPUs, or
the CPU's cores as devices:
``XLA_FLAGS=--xla_force_host_platform_device_count=N``).

Every (learning rate, seed) pair is one member; all members share the data
set, architecture and epochs, and train side by side through
``nn_jax.train.fit_population``. The seed draws a member's initial weights
and its batch order; with ``--shared_order`` every member takes the batches
in seed 0's order (and its dropout masks), so that members differ only in
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
import matplotlib.pyplot as plt
import numpy as np

from experiments import common
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import train

common.define_data_flags()
for _name in common.DATA_FLAGS:   # listed by --help, not only --helpfull
  flags.declare_key_flag(_name)
flags.DEFINE_string("hidden", "32", "Hidden layer sizes, comma-separated "
                    "(smaller than experiments.train's default, as are the "
                    "epochs: the population benchmark's members).")
flags.DEFINE_string("activation", "relu", "Hidden activation.")
flags.DEFINE_string("loss", "softmax_cross_entropy", "Output layer and cost.")
flags.DEFINE_string("optimizer", "momentum", "sgd, momentum, nesterov, adam.")
flags.DEFINE_list("learning_rates", ["0.003", "0.01", "0.03", "0.1"],
                  "Learning rates; each runs with every seed.")
flags.DEFINE_integer("seeds", 16, "Seeds per learning rate.")
flags.DEFINE_integer("epochs", 20, "Epochs of every member.")
flags.DEFINE_integer("batch_size", 32, "Mini-batch size (0: whole set).")
flags.DEFINE_string("grad", "manual", "manual or autodiff.")
flags.DEFINE_integer("devices", 1, "Split the members over this many "
                     "devices; the number of members must be a multiple.")
flags.DEFINE_boolean("shared_order", False, "Every member takes the "
                     "batches in seed 0's order (and its dropout masks): "
                     "members differ only in initial weights and learning "
                     "rate. Faster.")
flags.DEFINE_string("workdir", "runs/sweep", "Where results are written.")

FLAGS = flags.FLAGS


def main(argv):
  del argv
  hidden = common.parse_sizes("hidden")
  try:
    rates = [float(r) for r in FLAGS.learning_rates]
  except ValueError:
    common.fail(f"--learning_rates={','.join(FLAGS.learning_rates)}: "
                f"comma-separated numbers")
  common.check(rates and all(0 < r < np.inf for r in rates),
               "learning_rates", "finite positive numbers")
  common.check(FLAGS.seeds >= 1, "seeds", "must be >= 1")
  common.check(FLAGS.devices >= 1, "devices", "must be >= 1")
  config = experiment.Config(**common.data_flag_values(), hidden=hidden,
                             activation=FLAGS.activation, loss=FLAGS.loss,
                             optimizer=FLAGS.optimizer, epochs=FLAGS.epochs,
                             batch_size=FLAGS.batch_size, grad=FLAGS.grad)
  experiment.validate(config)
  workdir = common.make_workdir(FLAGS.workdir)
  timer = common.Timer()
  model = mlp.make_model(config.activation, config.loss)
  # The split of experiments.train --seed=0.
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  data_lib.check_loss_fits(model.loss, splits.train)
  data = experiment.training_data(splits, model.loss)
  sizes = [data.x.shape[1], *hidden, data.y.shape[1]]
  member_rates = np.repeat(rates, FLAGS.seeds)
  member_seeds = np.tile(np.arange(FLAGS.seeds), len(rates))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(member_seeds))
  members = len(member_rates)
  # Seed 0's training key (fit_population splits each member's key into
  # initial weights and training).
  shared_key = (jax.random.split(jax.random.PRNGKey(0))[1]
                if FLAGS.shared_order else None)
  common.log("training %d members of %s in one vmapped call on %d "
             "device(s)", members, sizes, FLAGS.devices)
  result = train.fit_population(
      keys, sizes, model, data, learning_rates=member_rates,
      optimizer=config.optimizer, momentum=config.momentum,
      epochs=config.epochs, batch_size=config.batch_size, grad=config.grad,
      devices=FLAGS.devices, shared_key=shared_key)
  train_seconds = timer.seconds
  x_test = jnp.asarray(splits.test.x)
  y_test = jnp.asarray(data_lib.targets(model.loss, splits.test))
  test = jax.vmap(lambda p: train.evaluate(p, x_test, y_test, model))(
      result.params)
  # A member whose training cost went NaN or Inf diverged (its learning
  # rate is too large); its test scores say nothing about the rate.
  diverged = ~np.all(np.isfinite(result.history["train_loss"]), axis=1)
  rows = []
  for i in range(members):
    rows.append({
        "member": i, "learning_rate": float(member_rates[i]),
        "seed": int(member_seeds[i]), "diverged": bool(diverged[i]),
        **{m: float(result.history[m][i, -1]) for m in train.METRICS},
        "test_loss": float(test[0][i]), "test_accuracy": float(test[1][i])})
  with open(os.path.join(workdir, "members.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  common.write_json(os.path.join(workdir, "results.json"), {
      "members": rows, "sizes": sizes,
      # The members' own rates and seeds are in their rows.
      "config": {k: v for k, v in config._asdict().items()
                 if k not in ("learning_rate", "seed")},
      "learning_rates": rates, "seeds": FLAGS.seeds,
      "shared_order": FLAGS.shared_order,
      "train_seconds": train_seconds, "seconds": timer.seconds,
      "provenance": common.provenance()})
  # Regression has no accuracy: its members are compared by test cost.
  score, name = (("test_loss", "test cost")
                 if splits.test.task == data_lib.REGRESSION
                 else ("test_accuracy", "test accuracy"))
  fig, ax = plt.subplots(figsize=(6, 4))
  values = np.array([r[score] for r in rows])
  ax.scatter(member_rates[~diverged], values[~diverged], alpha=0.5)
  kept = [(~diverged) & (member_rates == r) for r in rates]
  means = [values[k].mean() if k.any() else np.nan for k in kept]
  ax.plot(rates, means, "k-o", label="mean over seeds (not diverged)")
  ax.set(xscale="log", xlabel="learning rate", ylabel=name,
         title=f"{members} networks {sizes}, {config.epochs} epochs")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "sweep.png"), dpi=100)
  plt.close(fig)
  for r, m, k in zip(rates, means, kept):
    lost = FLAGS.seeds - int(k.sum())
    if not k.any():
      print(f"learning rate {r:g}: all {FLAGS.seeds} seeds diverged (cost "
            f"NaN or Inf)")
      continue
    print(f"learning rate {r:g}: mean {name} {m:.4f} over {int(k.sum())} "
          f"seeds" + (f" ({lost} diverged, left out)" if lost else ""))
  print(f"{members} members trained in {train_seconds:.1f} s "
        f"(results in {workdir})")


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
