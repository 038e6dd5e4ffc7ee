r"""Regression with linear outputs, and the approximation claim: test error
against the width of one hidden layer.

  python -m experiments.regression
  python -m experiments.regression --widths=1,4,16 --seeds=3 --epochs=500

The claim: a network with one hidden layer can approximate any continuous
function given enough hidden units. On each data set of --datasets (``sine``:
y = sin(2 pi x); ``lissajous``: two outputs, y = (sin 2 pi x, sin 4 pi x);
x uniform on [0, 1], Gaussian noise of std --data_noise on every target;
--n_samples points drawn from --seed, --test_fraction of them held out;
inputs standardized on the training points), networks [1, W, k] of
--activation hidden units and linear outputs, for every width W of --widths,
each trained from --seeds initial weights side by side in one vmapped call
(nn_jax.population) with --optimizer, --learning_rate, --batch_size,
--epochs.

Both of the lecture's squared errors: ``linear_squared``, E = 1/2 sum_j
(y_j - o_j)^2, at --learning_rate, and ``linear_sum_squared``, E = sum_j
(o_j - y_j)^2, whose gradient is twice as large, at half the learning rate:
then every step is the same, and the script reports how far apart the two
forms' trained weights end (seed by seed, the largest difference).

Measured per network: the test MSE (against the noisy test targets), the
approximation error (MSE against the noise-free function on 1,000 points
evenly over [0, 1]), the training MSE, the test R^2, and whether it diverged
(its training cost ended above that of its first epoch). Writes results.json,
regression_fits.png (the fits of the first seed's networks of --shown_widths
against the truth) and regression_width.png (test MSE and approximation error
against width, median and range over the seeds) to --workdir.
"""

import math
import os

from absl import flags
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import plots
from nn_jax import population
from nn_jax import train_data

cli.define_flags(
    config_lib.DataConfig, config_lib.NetConfig, config_lib.OptimConfig,
    config_lib.FitOptions, config_lib.Config,
    only=("n_samples", "data_noise", "test_fraction", "activation", "init",
          "optimizer", "learning_rate", "momentum", "batch_size", "epochs",
          "seed"),
    defaults=dict(n_samples=500, test_fraction=0.4, activation="tanh",
                  learning_rate=0.3, batch_size=0, epochs=5000))
flags.DEFINE_list("datasets", ["sine", "lissajous"], "Regression data sets.")
flags.DEFINE_list("widths", ["1", "2", "4", "8", "16", "32", "64"],
                  "Hidden-layer widths.")
flags.DEFINE_list("shown_widths", ["1", "2", "4", "16", "64"],
                  "Widths whose fits regression_fits.png draws, each one of "
                  "--widths; left out, those of the default that --widths "
                  "has (else its first 5).")
flags.DEFINE_integer("seeds", 5, "Initial weights per width.", lower_bound=1)
flags.DEFINE_string("workdir", "runs/regression", "Where results go.")

FLAGS = flags.FLAGS
# Each form of the squared error and its learning rate, as a multiple of
# --learning_rate: the sum form's gradient is twice the half form's.
FORMS = {"linear_squared": 1.0, "linear_sum_squared": 0.5}
GRID = np.linspace(0, 1, 1000)[:, None]   # where the approximation is scored


def fit_widths(config, splits, widths: list, seeds: int) -> tuple:
  """Every form x width, ``seeds`` networks each: ``(rows, params)``, with
  ``params[form, width]`` the trained population's parameters."""
  k = splits.train.y.shape[1]
  data = train_data.Data(*(jnp.asarray(a, jnp.float32) for a in (
      splits.train.x, splits.train.y, splits.test.x, splits.test.y)))
  truth = data_lib.truth(config.data.dataset)(GRID)
  grid = jnp.asarray(splits.encoder.apply(GRID))
  options = config_lib.FitOptions(epochs=config.fit.epochs,
                                  batch_size=config.fit.batch_size,
                                  train_metrics="full")
  rows, trained = [], {}
  for form, factor in FORMS.items():
    model = mlp.make_model(config.net.activation, form)
    rate = config.optim.learning_rate * factor
    for width in widths:
      result = population.fit_population(
          population.seed_keys(seeds), [1, width, k], model, data, options,
          learning_rates=rate, optimizer=config.optim.optimizer,
          momentum=config.optim.momentum, init=config.net.init)
      outs = jax.vmap(lambda p, x: mlp.predict(p, x, model),
                      in_axes=(0, None))
      test, train, on_grid = (np.asarray(outs(result.params, x)) for x in (
          data.x_val, data.x, grid))
      scores = [experiment.regression_scores(splits.test.y, o) for o in test]
      row = {"loss": form, "learning_rate": rate, "width": width,
             "test_mse": [s["mse"] for s in scores],
             "test_r2": [s["r2"] for s in scores],
             "train_mse": [float(np.mean((o - splits.train.y) ** 2))
                           for o in train],
             "approximation_mse": [float(np.mean((o - truth) ** 2))
                                   for o in on_grid]}
      cost = result.history["train_loss"]
      # Diverged: the training cost ends higher than after the first epoch
      # (or not finite); such a member stays in the medians and ranges.
      row["diverged"] = (~(cost[:, -1] <= cost[:, 0])).tolist()
      for name in ("test_mse", "approximation_mse"):
        row[name + "_median"] = float(np.median(row[name]))
      if any(row["diverged"]):
        cli.log("%s, %s, width %d: %d of %d seeds diverged",
                config.data.dataset, form, width, sum(row["diverged"]), seeds)
      cli.log("%s, %s, width %d: test MSE %.3g, approximation MSE %.3g "
              "(medians over %d seeds)", config.data.dataset, form, width,
              row["test_mse_median"], row["approximation_mse_median"], seeds)
      rows.append(row)
      trained[form, width] = result.params
  return rows, trained


def same_path(trained: dict, widths: list) -> list:
  """Per width, the largest difference between the two forms' trained
  weights (over seeds, layers and entries), absolute and relative to the
  largest weight."""
  out = []
  for width in widths:
    a, b = ([np.asarray(l) for l in jax.tree.leaves(trained[f, width])]
            for f in FORMS)
    diff = max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))
    scale = max(float(np.max(np.abs(u))) for u in a)
    out.append({"width": width, "max_abs_weight_difference": diff,
                "relative": diff / scale,
                "bitwise_equal": all(np.array_equal(u, v)
                                     for u, v in zip(a, b))})
  return out


def draw_fits(path: str, runs: dict, shown: list) -> str:
  """The first seed's fits of the ``shown`` widths, against the truth:
  a panel per output against x, and for two outputs their curve."""
  panels = [(name, dict(output=j)) for name, r in runs.items()
            for j in range(r["splits"].test.y.shape[1])]
  panels += [(name, dict(plane=True)) for name, r in runs.items()
             if r["splits"].test.y.shape[1] == 2]
  cols = min(len(panels), 2)
  rows = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows),
                           squeeze=False)
  colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(shown)))
  for ax, (name, panel) in zip(axes.ravel(), panels):
    r = runs[name]
    encode = r["splits"].encoder.apply
    curves = {f"{w} unit{'s' if w > 1 else ''}": (
        lambda x, p=jax.tree.map(lambda a: a[0], r["params"][w]): np.asarray(
            mlp.predict(p, jnp.asarray(encode(x)), r["model"])))
              for w in shown}
    test = r["splits"].test
    plots.fit_curves(ax, r["splits"].encoder.invert(test.x), test.y, curves,
                     data_lib.truth(name), colors=list(colors), **panel)
    k = test.y.shape[1]
    if panel.get("plane"):
      ax.set(xlabel="$y_1$", ylabel="$y_2$",
             title=f"{name}: the outputs' curve")
    else:
      j = panel["output"]
      label = f"$y_{j + 1}$" if k > 1 else "$y$"
      ax.set(xlabel="x", ylabel=label, title=f"{name}: {label} against x")
  axes[0, 0].legend(fontsize=7, loc="upper right")   # the same in each
  for ax in axes.ravel()[len(panels):]:
    ax.axis("off")
  fig.suptitle("One hidden layer of W units: the first seed's fit on the "
               "test points")
  return plots.save(fig, path)


def draw_width(path: str, runs: dict, noise: dict) -> str:
  """Test MSE and approximation error against width, per data set: median
  and range over the seeds, both forms of the squared error."""
  fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4.2),
                           squeeze=False)
  for ax, (name, r) in zip(axes[0], runs.items()):
    for form, marker in zip(FORMS, ("o", "x")):
      rows = [row for row in r["rows"] if row["loss"] == form]
      widths = [row["width"] for row in rows]
      for metric, color in (("test_mse", "tab:blue"),
                            ("approximation_mse", "tab:orange")):
        values = np.array([row[metric] for row in rows])
        med = np.median(values, 1)
        if form == "linear_squared":
          ax.fill_between(widths, values.min(1), values.max(1), color=color,
                          alpha=0.2)
          ax.plot(widths, med, "-", color=color, marker=marker,
                  label={"test_mse": "test MSE",
                         "approximation_mse": "MSE against the truth"}[metric]
                  + f" ({form})")
        else:
          ax.plot(widths, med, linestyle="", marker=marker, color="k",
                  markersize=7, label=None if metric != "test_mse" else
                  f"both medians, {form} at eta / 2")
    ax.axhline(noise[name] ** 2, color="0.4", linestyle=":",
               label=f"noise variance {noise[name] ** 2:g}")
    ax.set(xscale="log", yscale="log", xlabel="hidden units W",
           ylabel="mean squared error", title=name)
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    plots.log_ticks(ax, "y")
    # Down to the power of ten below the lowest value: the smallest errors
    # (about 2e-4) then have a labelled tick beneath them to be read by.
    lowest = min(float(np.min(row[m])) for row in r["rows"]
                 for m in ("test_mse", "approximation_mse"))
    if lowest > 0:
      ax.set_ylim(bottom=10.0 ** math.floor(math.log10(lowest)))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
  fig.suptitle(f"Error against width: median and range over "
               f"{len(rows[0]['test_mse'])} seeds")
  return plots.save(fig, path)


def main(argv):
  del argv
  config = cli.config_from_flags(validation_fraction=0.0)
  widths = [int(w) for w in cli.numbers(
      "widths", lambda v: v >= 1 and v == int(v), "(positive integers)")]
  if FLAGS["shown_widths"].present:
    shown = [int(w) for w in cli.numbers(
        "shown_widths", lambda v: v in widths,
        f"each one of --widths={','.join(map(str, widths))}")]
  else:   # the default's, as far as --widths has them
    shown = [w for w in map(int, FLAGS["shown_widths"].default)
             if w in widths] or widths[:5]
  cli.check(all(data_lib.truth(d) for d in FLAGS.datasets), "datasets",
            "regression data sets of known truth: sine, lissajous")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  runs, results = {}, {}
  for name in FLAGS.datasets:
    c = config.replace(dataset=name)
    splits = experiment.prepare(c, experiment.run_keys(c)[0])
    rows, params = fit_widths(c, splits, widths, FLAGS.seeds)
    runs[name] = {"rows": rows,
                  "params": {w: params["linear_squared", w] for w in shown},
                  "splits": splits, "model": mlp.make_model(
                      c.net.activation, "linear_squared")}
    results[name] = {
        "num_train": splits.train.size, "num_test": splits.test.size,
        "outputs": splits.train.y.shape[1],
        "noise": data_lib.NOISE[name] if c.data.data_noise is None
        else c.data.data_noise,
        "networks": rows, "same_path": same_path(params, widths)}
    cli.log("%s: the two forms' weights differ by at most %.3g", name,
            max(s["max_abs_weight_difference"]
                for s in results[name]["same_path"]))
  noise = {name: r["noise"] for name, r in results.items()}
  figures = [draw_fits(outputs.figure_path(workdir, "regression_fits"), runs,
                       shown),
             draw_width(outputs.figure_path(workdir, "regression_width"), runs,
                        noise)]
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "regression",
      "datasets": results, "forms": FORMS, "config": config.flat(),
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds,
      "provenance": outputs.provenance()})
  for path in figures:
    print(f"wrote {path}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
