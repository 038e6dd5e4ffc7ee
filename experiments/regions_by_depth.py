r"""Decision regions by depth: 0, 1 and 2 hidden layers, threshold-like and
smooth units, on 2-D problems that need disjoint regions for one class.

  python -m experiments.regions_by_depth
  python -m experiments.regions_by_depth --width=16 --gain=20 --seeds=10

The claim of Huang & Lippmann (1988): one hidden layer forms convex and also
disjoint regions, two hidden layers arbitrary ones; no hidden layer, one
half-plane. Two problems, generated here from --seed: ``two blobs`` (class 1
is two blobs, at -(0.6, 0.6) and (0.6, 0.6), class 0's blob between them
at (0, 0); std 0.15) and
a 4x4 ``checkerboard`` on [-1, 1]^2 (points uniform), each --n_samples
training points and 2,000 test points from the same generator. Networks
[2, 1], [2, W, 1] and [2, W, W, 1] (W = --width) of sigmoid hidden units,
smooth (sigmoid(z)) or threshold-like (sigmoid(gain z), --gain), a sigmoid
output with cross-entropy, full-batch Adam (--learning_rate, --epochs);
--seeds initial weights each, trained side by side in one vmapped call
(nn_jax.population). Writes results.json (test and training accuracy of
every network and seed, mean and std) and regions_by_depth.png (rows: data
x units, columns: depth; each panel the regions of the first seed's network
with 300 training points, the test accuracy over seeds in its title) to
--workdir.
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
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import plots
from nn_jax import population
from nn_jax import train_data

cli.define_flags(config_lib.DataConfig, config_lib.OptimConfig,
                 config_lib.FitOptions, config_lib.Config,
                 defaults=dict(n_samples=800, learning_rate=0.01,
                               epochs=3000),
                 only=("n_samples", "learning_rate", "epochs", "seed"))
flags.DEFINE_integer("width", 8, "Units of each hidden layer.", lower_bound=1)
flags.DEFINE_float("gain", 10.0, "Threshold-like units: sigmoid(gain z).",
                   lower_bound=1.0)
flags.DEFINE_integer("seeds", 5, "Initial weights per network.",
                     lower_bound=1)
flags.DEFINE_string("workdir", "runs/regions_by_depth", "Where results go.")

FLAGS = flags.FLAGS
NUM_TEST = 2000
SHOWN = 300   # training points drawn in each panel


def two_blobs(n: int, seed: int):
  """``(x, y)``: class 1 two blobs at +-(0.6, 0.6), class 0 one at (0, 0)."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, n)
  side = np.where(rng.integers(0, 2, n) == 1, 0.6, -0.6)
  centre = np.where(y[:, None] == 1, side[:, None], 0.0) * np.ones((1, 2))
  return (centre + 0.15 * rng.normal(size=(n, 2))).astype(np.float32), y


def checkerboard(n: int, seed: int, cells: int = 4):
  """``(x, y)``: uniform on [-1, 1]^2, the class the parity of the cell."""
  x = np.random.default_rng(seed).uniform(-1, 1, (n, 2))
  cell = np.minimum(np.floor((x + 1) / 2 * cells), cells - 1).astype(int)
  return x.astype(np.float32), cell.sum(1) % 2


PROBLEMS = {"two blobs": two_blobs, "checkerboard": checkerboard}


def steep_sigmoid(gain: float) -> activations.Activation:
  """sigmoid(gain z) beside its derivative gain s (1 - s)."""
  def grad(z, alpha):
    s = jax.nn.sigmoid(gain * z)
    return gain * s * (1 - s)
  return activations.Activation(f"sigmoid({gain:g} z)",
                                lambda z, alpha: jax.nn.sigmoid(gain * z),
                                grad)


def fit(model, hidden, train, test, options, seed: int, seeds: int,
        learning_rate: float):
  """``seeds`` networks trained side by side: ``(first network's params,
  test accuracies, training accuracies)``."""
  data = train_data.Data(*(jnp.asarray(a, jnp.float32) for a in (
      train[0], train[1][:, None], test[0], test[1][:, None])))
  keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
  result = population.fit_population(
      keys, [2, *hidden, 1], model, data, options,
      learning_rates=learning_rate, optimizer="adam")
  first = jax.tree.map(lambda a: a[0], result.params)
  return (first, result.history["val_accuracy"][:, -1],
          result.history["train_accuracy"][:, -1])


def draw(path: str, panels: list, units: dict) -> str:
  """One panel per network: rows data x units, columns depth."""
  rows = len(panels) // 3
  fig, axes = plt.subplots(rows, 3, figsize=(9, 3.1 * rows))
  for ax, p in zip(axes.ravel(), panels):
    x, y = (a[:SHOWN] for a in p["train"])
    plots.decision_regions(p["predict"], x, y, "", ax=ax, margin=0.15,
                           resolution=150, num_classes=2)
    ax.collections[-1].set_sizes([8])   # the training points, small
    acc = np.asarray(p["test_accuracy"])
    ax.set_title(f"{p['depth_label']}: test {acc.mean():.3f} ± "
                 f"{acc.std():.3f}", fontsize=10)
    ax.set_aspect("equal")
  for ax, p in zip(axes[:, 0], panels[::3]):
    ax.set_ylabel(f"{p['problem']}, {units[p['units']]}\n$x_2$")
  # The classes' legend below the panels, where it covers no panel and
  # leaves the title its room.
  plots.class_legend(fig, ["class 0", "class 1"], loc="lower center",
                     ncol=2, fontsize=9, frameon=False)
  fig.suptitle(f"Decision regions by depth: test accuracy, mean ± std over "
               f"{len(acc)} seeds;\nthe first seed's regions, {SHOWN} of "
               "the training points")
  return plots.save(fig, path, dpi=150, rect=(0, 0.4 / fig.get_figheight(),
                                              1, 1))


def train_all(config, models: dict, width: int, seeds: int):
  """Every problem x units x depth: ``(rows for results.json, panels)``."""
  options = config_lib.FitOptions(epochs=config.fit.epochs, batch_size=0,
                                  train_metrics="full")
  depths = {0: (), 1: (width,), 2: (width, width)}
  panels, rows = [], []
  for problem, make in PROBLEMS.items():
    train = make(config.data.n_samples, config.seed)
    test = make(NUM_TEST, config.seed + 1)
    for kind, model in models.items():
      for depth, hidden in depths.items():
        params, test_acc, train_acc = fit(
            model, hidden, train, test, options, config.seed, seeds,
            config.optim.learning_rate)
        row = {"problem": problem, "units": kind, "hidden": list(hidden),
               "test_accuracy": test_acc, "train_accuracy": train_acc,
               "test_mean": float(test_acc.mean()),
               "test_std": float(test_acc.std())}
        cli.log("%s, %s units, hidden %s: test accuracy %.3f +- %.3f",
                problem, kind, list(hidden), row["test_mean"],
                row["test_std"])
        rows.append(row)
        panels.append({**row, "train": train, "depth_label": (
            f"{depth} hidden" + (f" ({','.join(map(str, hidden))})"
                                 if hidden else "")),
                       "predict": lambda pts, p=params, m=model: (
                           experiment.predict_labels(p, [], pts, m))})
  return rows, panels


def main(argv):
  del argv
  config = cli.config_from_flags()
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  smooth = mlp.make_model("sigmoid", "sigmoid_cross_entropy")
  models = {"smooth": smooth, "threshold-like": smooth._replace(
      activation=steep_sigmoid(FLAGS.gain))}
  units = {"smooth": "sigmoid(z)",
           "threshold-like": f"sigmoid({FLAGS.gain:g} z)"}
  rows, panels = train_all(config, models, FLAGS.width, FLAGS.seeds)
  png = draw(outputs.figure_path(workdir, "regions_by_depth"), panels, units)
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "regions_by_depth",
      "networks": rows, "units": units, "num_test": NUM_TEST,
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds,
      "provenance": outputs.provenance()})
  print(f"wrote {png}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
