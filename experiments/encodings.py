r"""Input encodings on real mixed-type data: which code of each column helps.

  python -m experiments.encodings [--seeds=10] [--widths=0,16]
  python -m experiments.encodings --codes=default,thermometer_k
  python -m experiments.encodings --dataset=csv --csv_path=F --target=y \
      --nominal=a --ordinal="b:lo<mid<hi"

The lecture codes nominal inputs 1-of-k, ordinal ones by a thermometer and
standardizes numeric ones. On ``chile`` (the 1988 survey of nn_jax.chile:
nominal region and sex, ordinal education and income brackets, numeric
population, age and status-quo support; the intended vote, 4 classes) or a
CSV file, the same network is trained on the same split with one column
type coded otherwise at a time:

* default: nominal 1-of-k, ordinal thermometer (k - 1 units), numeric
  standardized (on the training rows);
* nominal as integer codes (the category's index in sorted order);
* ordinal as 1-of-k, as integer codes (the level's index, in order), and as
  the lecture's thermometer of k units (``--thermometer_units=k``);
* numeric columns raw (``--input_encoding=none``);

(``--codes`` names those compared: default, nominal_integer,
ordinal_one_hot, ordinal_integer, thermometer_k, numeric_raw).

For each width of ``--widths`` (0: no hidden layer, softmax regression) and
each code, ``--seeds`` networks (initial weights and batch order; the split
is --seed's) at each of ``--learning_rates`` train side by side in one
vmapped call (nn_jax.population.fit_population) for --epochs. Measured,
each code at its own best rate: the test accuracy after the last epoch (at
the rate with the best mean validation accuracy), and the epochs until the
training cost first falls below --cost_threshold (the test by which
nn_jax.train.fit stops; here every network runs all epochs, in lock-step),
at the rate with the fewest (median over seeds; a rate counts where at
least half the seeds get there). Writes results.json (every rate's numbers
too) and encodings.png (test accuracy, epochs to the threshold and the
training cost per epoch, a row per width) to --workdir.
"""

import os
import warnings

from absl import flags
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import plots
from nn_jax import population

# Name: (label, the settings that differ from the default codes).
CODES = {
    "default": ("default: 1-of-k, thermometer, standardized", {}),
    "nominal_integer": ("nominal: integer", {"nominal_code": "integer"}),
    "ordinal_one_hot": ("ordinal: 1-of-k", {"ordinal_code": "one_hot"}),
    "ordinal_integer": ("ordinal: integer", {"ordinal_code": "integer"}),
    "thermometer_k": ("ordinal: thermometer of k units",
                      {"thermometer_units": "k"}),
    "numeric_raw": ("numeric: raw", {"input_encoding": "none"})}

cli.define_flags(
    config_lib.DataConfig, config_lib.NetConfig, config_lib.OptimConfig,
    config_lib.FitOptions, config_lib.Config,
    only=("dataset", "csv_path", "target", "features", "nominal", "ordinal",
          "test_fraction", "validation_fraction", "activation", "init",
          "optimizer", "momentum", "batch_size", "epochs", "cost_threshold",
          "seed"),
    defaults=dict(dataset="chile", activation="tanh", optimizer="sgd",
                  batch_size=32, epochs=100, cost_threshold=0.83),
    helps=dict(cost_threshold="The training cost (> 0) whose first epoch "
               "below it is measured; training goes on for all --epochs."))
flags.DEFINE_list("learning_rates", ["0.01", "0.03", "0.1", "0.3", "1"],
                  "Learning rates; each code at its best.")
flags.DEFINE_list("widths", ["0", "16"], "Hidden units of the networks "
                  "compared (0: no hidden layer).")
flags.DEFINE_list("codes", list(CODES), "The codes compared, of "
                  f"{', '.join(CODES)}.")
flags.DEFINE_integer("seeds", 10, "Networks per code and width.",
                     lower_bound=1)
flags.DEFINE_string("workdir", "runs/encodings", "Where results go.")

FLAGS = flags.FLAGS
OFF_SCALE_PP = 9   # accuracies this far below the best mean: at the edge


def best_rates(val_accuracy: np.ndarray, epochs: np.ndarray) -> tuple:
  """``(for accuracy, for speed)``: the index of the rate with the best
  mean validation accuracy, and of the one with the fewest epochs to the
  threshold (median over seeds, where at least half get there; None if
  none does); both ``(rates, seeds)``, NaN for a diverged or unreached
  network."""
  mean = np.nanmean(np.where(np.isfinite(val_accuracy), val_accuracy,
                             np.nan), 1)
  accurate = int(np.argmax(np.nan_to_num(mean, nan=-1.0)))
  enough = np.isfinite(epochs).mean(1) >= 0.5
  median = np.where(enough, np.nanmedian(epochs, 1), np.inf)
  return accurate, (int(np.argmin(median)) if enough.any() else None)


def train_codes(config, width: int, seeds: int, rates: list,
                codes: list) -> list:
  """One row per code: every rate's and seed's validation and test
  accuracy, epochs to the threshold and training cost per epoch, and the
  best rates'."""
  rows = []
  config = config.replace(hidden=(width,) if width else ())
  model = config.net.make()
  # All run every epoch; the training cost measured after each.
  options = config.fit.replace(cost_threshold=0.0, train_metrics="full")
  for name in codes:
    label, settings = CODES[name]
    run = config.replace(**settings)
    splits = experiment.prepare(run, experiment.run_keys(run)[0])
    data = experiment.training_data(splits, model.loss)
    sizes = [data.x.shape[1], *run.net.hidden, data.y.shape[1]]
    result = population.fit_population(
        population.seed_keys(seeds, len(rates)), sizes, model, data, options,
        learning_rates=np.repeat(rates, seeds),
        optimizer=run.optim.optimizer, momentum=run.optim.momentum,
        init=run.net.init)
    _, test = population.evaluate(
        result, splits.test.x, data_lib.targets(model.loss, splits.test),
        model)
    shape = (len(rates), seeds)
    cost = result.history["train_loss"].reshape(*shape, -1)
    diverged = ~np.isfinite(cost[:, :, -1])
    test = np.where(diverged, np.nan, np.asarray(test).reshape(shape))
    val = np.where(diverged, np.nan, result.history["val_accuracy"][
        :, -1].reshape(shape))
    epochs = population.epochs_to_threshold(cost, config.fit.cost_threshold)
    accurate, fast = best_rates(val, epochs)
    finite = np.where(np.isfinite(cost), cost, np.nan)
    rows.append({
        "name": name, "code": label, "settings": settings, "width": width,
        "inputs": sizes[0], "feature_names": list(
            splits.encoder.feature_names),
        "learning_rates": rates, "val_accuracy": val, "test_accuracies": test,
        "epochs": epochs, "diverged_per_rate": diverged.sum(1),
        "rate_for_accuracy": rates[accurate],
        "test_accuracy": test[accurate],
        "test_mean": float(np.nanmean(test[accurate])),
        "test_std": float(np.nanstd(test[accurate])),
        "rate_for_epochs": None if fast is None else rates[fast],
        "epochs_to_threshold": epochs[accurate if fast is None else fast],
        "reached": 0 if fast is None else int(np.isfinite(epochs[fast]).sum()),
        "median_train_cost": np.nanmedian(finite, 1),   # (rates, epochs)
        "final_train_cost": cost[:, :, -1]})
    cli.log("width %d, %s: %d inputs, test %.3f +- %.3f (eta %g), %s",
            width, label, sizes[0], rows[-1]["test_mean"],
            rows[-1]["test_std"], rates[accurate],
            reached_text(rows[-1], seeds))
  return rows


def reached_text(row: dict, seeds: int) -> str:
  """How many seeds reached the cost threshold, and the median epochs at
  the rate that reached it fastest (none reached it: no rate to name)."""
  if not row["reached"]:
    return f"reached 0/{seeds}"
  return (f"reached {row['reached']}/{seeds}, median epochs "
          f"{np.nanmedian(row['epochs_to_threshold']):g} "
          f"(eta {row['rate_for_epochs']:g})")


def draw(path: str, widths: list, rows: list, threshold: float,
         what: str) -> str:
  """A row of three panels per width: test accuracy and epochs to the
  threshold per code (every seed, mean or median), and every code's
  training cost at the default code's fastest rate."""
  fig, axes = plt.subplots(len(widths), 3, squeeze=False,
                           figsize=(18, 3.7 * len(widths) + 1.4))
  labels = [r["code"] for r in rows if r["width"] == widths[0]]
  ys = np.arange(len(labels))[::-1]
  for (ax_acc, ax_ep, ax_cost), width in zip(axes, widths):
    mine = [r for r in rows if r["width"] == width]
    means = np.array([100 * r["test_mean"] for r in mine])
    low_acc = np.nanmax(means) - OFF_SCALE_PP   # below: drawn at the edge
    epochs_all = np.concatenate([r["epochs_to_threshold"] for r in mine])
    top = np.nanmax(np.append(epochs_all, 1)) * 1.15 + 2
    rates = mine[0]["learning_rates"]
    rate = mine[0]["rate_for_epochs"] or mine[0]["rate_for_accuracy"]
    medians = np.array([r["median_train_cost"][rates.index(rate)]
                        for r in mine])
    low_cost = min(np.nanmin(medians), threshold)
    high_cost = max(threshold + 2 * (threshold - low_cost), 1.05 * threshold)
    off = []
    for i, (y, r) in enumerate(zip(ys, mine)):
      acc, ep = 100 * r["test_accuracy"], r["epochs_to_threshold"]
      jitter = np.linspace(-0.2, 0.2, len(acc))
      ax_acc.plot(np.maximum(acc, low_acc), y + jitter, "o", ms=4,
                  color=f"C{i}", alpha=0.7)
      if np.isfinite(means[i]) and means[i] >= low_acc:
        ax_acc.plot([means[i]] * 2, [y - 0.32, y + 0.32], "k-", lw=2)
      note = (f"eta {r['rate_for_accuracy']:g}" if np.isfinite(means[i])
              else "all diverged")
      if means[i] < low_acc:
        note += f", mean {means[i]:.1f} (off the scale)"
      ax_acc.text(1.01, y, note, va="center", fontsize=8,
                  transform=ax_acc.get_yaxis_transform())
      hit = np.isfinite(ep)
      for seeds, x, marker in ((hit, ep, "o"), (~hit, top, ">")):
        ax_ep.plot(np.broadcast_to(x, ep.shape)[seeds], (y + jitter)[seeds],
                   marker, ms=4, color=f"C{i}", alpha=0.7)
      if r["reached"]:
        ax_ep.plot([np.nanmedian(ep)] * 2, [y - 0.32, y + 0.32], "k-", lw=2)
      ax_ep.text(1.01, y, f"{r['reached']}/{len(ep)}" + (
          f", eta {r['rate_for_epochs']:g}" if r["reached"] else ""),
                 va="center", fontsize=8,
                 transform=ax_ep.get_yaxis_transform())
      ax_cost.plot(np.arange(1, medians.shape[1] + 1), medians[i],
                   color=f"C{i}", lw=1.2)
      if not np.any(medians[i] <= high_cost):
        off.append(r["code"])
    ax_ep.axvline(top, color="0.5", ls=":", lw=1)
    for ax in (ax_acc, ax_ep):
      ax.set_yticks(ys, labels if ax is ax_acc else [""] * len(labels))
      ax.grid(axis="x", alpha=0.3)
    ax_acc.set(xlabel="seeds (dots), mean (bar); at right: the rate of best "
               "validation accuracy",
               xlim=(low_acc - 0.5, np.nanmax(means) + OFF_SCALE_PP / 3),
               title=("no hidden layer" if not width else
                      f"{width} hidden units") + ": test accuracy (%)")
    ax_ep.set(xlabel="seeds (dots), median (bar); on the dotted line (>): "
              "not reached; at right: how many reached, the fastest rate",
              title=f"epochs until the training cost < {threshold:g}",
              xlim=(0, top * 1.05))
    for ax in (ax_acc, ax_ep):
      ax.xaxis.label.set_size(8.5)
    ax_cost.axhline(threshold, color="0.3", ls="--", lw=1)
    ax_cost.set(xlabel="epoch", ylabel="training cost, median of seeds",
                xscale="log", ylim=(low_cost - 0.1 * (threshold - low_cost),
                                    high_cost),
                title=f"every code at eta {rate:g}; dashed: the threshold"
                + (f"\noff the scale: {', '.join(off)}" if off else ""))
    ax_cost.title.set_size(9)
    ax_cost.grid(alpha=0.3)
  fig.legend(handles=[plt.Line2D([], [], color=f"C{i}", lw=2, label=label)
                      for i, label in enumerate(labels)],
             loc="lower center", ncol=len(labels), fontsize=9,
             title="training cost curves (right)", title_fontsize=9)
  fig.suptitle(f"Input codes on {what}:\none column type coded otherwise "
               "at a time")
  return plots.save(fig, path, rect=(0, 0.06, 1, 1))


def main(argv):
  del argv
  warnings.filterwarnings("ignore", "All-NaN", RuntimeWarning)
  warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
  config = cli.config_from_flags()
  cli.check(config.data.dataset in config_lib.TABULAR, "dataset",
            f"one of {', '.join(config_lib.TABULAR)} (data with typed "
            "columns)")
  cli.check(config.fit.cost_threshold > 0, "cost_threshold", "must be > 0 "
            "(the cost whose epoch is measured)")
  cli.check(config.optim.optimizer != "delayed_sgd", "optimizer",
            "a population trains with sgd, momentum, nesterov or adam")
  widths = cli.numbers("widths", lambda v: v >= 0 and v == int(v),
                       "(hidden units, >= 0)")
  widths = [int(w) for w in widths]
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  rates = cli.numbers("learning_rates", lambda v: v > 0, "> 0")
  cli.check(FLAGS.codes and set(FLAGS.codes) <= set(CODES), "codes",
            f"of {', '.join(CODES)}")
  rows = [r for w in widths
          for r in train_codes(config, w, FLAGS.seeds, rates, FLAGS.codes)]
  what = (f"{config.data.dataset}, {config.net.activation} units, "
          f"{config.optim.optimizer}, batches of {config.fit.batch_size}, "
          f"{config.fit.epochs} epochs, {FLAGS.seeds} seeds, each code at its "
          f"best of eta = {', '.join(f'{r:g}' for r in rates)}")
  png = draw(outputs.figure_path(workdir, "encodings"), widths, rows,
             config.fit.cost_threshold, what)
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "encodings",
      "rows": rows, "widths": widths, "config": config.flat(),
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds,
      "provenance": outputs.provenance()})
  for r in rows:
    print(f"width {r['width']:3d}  {r['code']:45s} {r['inputs']:3d} inputs  "
          f"test {100 * r['test_mean']:.2f} +- {100 * r['test_std']:.2f} % "
          f"(eta {r['rate_for_accuracy']:g})  "
          f"{reached_text(r, FLAGS.seeds)}")
  print(f"wrote {png}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
