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
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import activations
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import diagnostics
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import plots
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
COLORS = {"sigmoid": "C0", "tanh": "C1", "relu": "C2"}


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
  rows = []
  for i, init in enumerate(inits):
    best = int(np.argmax(val[i]))
    pick = lambda a: a.reshape((len(inits), r, seeds) + a.shape[1:])[i, best]
    grads, sat, dead = map(pick, result.diagnostics)
    rows.append(dict(
        activation=activation, init=init, depth=depth, sizes=sizes,
        learning_rate=rates[best], val_accuracy_by_rate=val[i],
        test_accuracy=pick(test_acc), diverged=pick(diverged),
        grad_norms_start=grads[:, 0], grad_norms_end=grads[:, -1],
        grad_norms_median=np.median(grads, 0), saturated_start=sat[:, 0],
        saturated_median=np.median(sat, 0), dead_end=dead[:, -1]))
  return rows


def style(row):
  return dict(color=COLORS.get(row["activation"], "C3"),
              ls="-" if row["init"] == "normal" else "--",
              label=f"{row['activation']}, {row['init']} init")


def draw_layers(path, rows, depths, title):
  """Gradient norm against layer before training: a panel per depth."""
  cols, n = min(4, len(depths)), -(-len(depths) // 4)
  fig, axes = plt.subplots(n, cols, sharey=True, squeeze=False,
                           figsize=(3.3 * cols, 2.9 * n))
  for ax, depth in zip(axes.flat, depths):
    for row in (r for r in rows if r["depth"] == depth):
      g = np.asarray(row["grad_norms_start"])
      layers = np.arange(1, depth + 2)
      ax.plot(layers, np.median(g, 0), marker="o", ms=3, **style(row))
      ax.fill_between(layers, g.min(0), g.max(0), alpha=0.15,
                      color=style(row)["color"])
    ax.set(yscale="log", title=f"{depth} hidden layer{'s' * (depth > 1)}",
           xlabel=f"layer l (1 = first hidden, {depth + 1} = output)",
           xticks=layers)
    ax.grid(alpha=0.3)
  for ax in axes[:, 0]:
    ax.set_ylabel("||dE/dW_l|| before training")
  for ax in axes.flat[len(depths):]:
    ax.axis("off")
  axes.flat[0].legend(fontsize=7, handlelength=3)
  fig.suptitle(title)
  return plots.save(fig, path, dpi=150)


def draw_training(path, rows, depths, title):
  """The deepest nets per epoch; test accuracy against depth."""
  fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
  for row in (r for r in rows if r["depth"] == max(depths)):
    first = np.asarray(row["grad_norms_median"])[:, 0]
    axes[0].plot(first, **style(row))
    if np.all(row["diverged"]):   # fit keeps the last finite weights
      axes[0].text(1, first[-1], f"{style(row)['label']}: diverged",
                   va="top", color=style(row)["color"])
    axes[1].plot(np.mean(row["saturated_median"], 1), **style(row))
  for row in (r for r in rows if r["depth"] == depths[0]):
    same = [r for r in rows if r["activation"] == row["activation"]
            and r["init"] == row["init"]]
    acc = np.array([r["test_accuracy"] for r in same])
    med = np.median(acc, 1)
    axes[2].errorbar([r["depth"] for r in same], med, capsize=3,
                     yerr=[med - acc.min(1), acc.max(1) - med], **style(row))
  axes[0].set(yscale="log", xlabel="epoch", title=f"{max(depths)} hidden "
              "layers: first layer's gradient (median over seeds)",
              ylabel="||dE/dW_1|| on the training set")
  axes[1].set(xlabel="epoch", ylim=(-0.02, 1.02),
              ylabel=f"share of |g'(z)| < {FLAGS.threshold:g} (ReLU: z <= 0)",
              title=f"{max(depths)} hidden layers: saturated units "
              "(mean of layers)")
  axes[2].set(xlabel="hidden layers", ylabel="test accuracy", xticks=depths,
              title=f"after {FLAGS.epochs} epochs at the best rate "
              "(median, range)")
  for ax in axes:
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
  axes[2].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
  fig.suptitle(title)
  return plots.save(fig, path, dpi=150)


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
          f"{config.optim.optimizer} {config.fit.epochs} epochs")
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "runs": rows, "config": config.flat(), "flags": cli.flag_dict(__file__),
      "seconds": timer.seconds, "provenance": outputs.provenance()})
  draw_layers(os.path.join(workdir, "saturation.png"), rows, depths,
              f"{what}\ngradient norm per layer before training (median, "
              f"range over {FLAGS.seeds} seeds)")
  draw_training(os.path.join(workdir, "saturation_training.png"), rows,
                depths, f"{what}, {FLAGS.seeds} seeds")
  for r in rows:
    g = np.median(r["grad_norms_start"], 0)
    print(f"{r['activation']}:{r['init']} depth {r['depth']}: ||dE/dW_1|| / "
          f"||dE/dW_out|| {g[0] / g[-1]:.2g}, test accuracy "
          f"{np.median(r['test_accuracy']):.3f} ({sum(r['diverged'])} "
          "diverged)")
  print(f"{len(rows)} settings, {timer.seconds:.0f} s; results in {workdir}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
