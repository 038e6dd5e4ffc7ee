"""Each experiment's figures drawn from its results (the dict it writes to
results.json), so that a script and ``experiments.plot`` draw the same
figure from the same numbers.

``DRAW`` maps the name an experiment records in results.json
(``"experiment"``) to a function ``(workdir, results) -> paths`` that
writes its figures into ``workdir`` in the format of ``--figure_format``.
The figures of experiments.train are drawn by
:func:`experiments.outputs.draw_run`.
"""

import json
import math

import numpy as np

from experiments import outputs
from nn_jax import activations as activations_lib
from nn_jax import diagnostics
from nn_jax import plots

plt = plots.plt


def sweep(workdir: str, results: dict) -> list:
  """sweep.png: test accuracy (test cost of a regression) per member
  against the learning rate."""
  results = _as_written(results)
  rows = results["members"]
  # A regression has no accuracy (NaN, null in results.json).
  regression = not any(_finite(r.get("test_accuracy")) for r in rows)
  score, name = (("test_loss", "test cost") if regression
                 else ("test_accuracy", "test accuracy"))
  title = (plots.run_title(results["config"], results["sizes"])
           + f"; {len(rows)} members: {len(results['learning_rates'])} "
           f"learning rates x {results['seeds']} seeds")
  return [plots.sweep(outputs.figure_path(workdir, "sweep"), rows,
                      results["learning_rates"], score, name, title,
                      higher_is_better=not regression)]


def settings_text(settings: dict) -> str:
  """A technique's settings as flags read: ``augment=noise, noise_std=0.5``
  (a list's items joined with ``+``)."""
  return ", ".join(
      f"{k}={'+'.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
      for k, v in settings.items())


def regularization(workdir: str, results: dict) -> list:
  """validation_curves.png: each technique's validation accuracy per
  epoch (seed 0) against the baseline's, a panel per technique."""
  results = _as_written(results)
  rows = results["rows"]
  base = rows[0]["test_accuracy"]
  scores = {}
  for r in rows[1:]:
    scores[r["technique"]] = (
        f"{settings_text(r['settings'])}\ntest {r['test_accuracy']:.3f} "
        f"({100 * (r['test_accuracy'] - base):+.1f} pp)")
  training = plots.run_title(results["config"], omit=("seed",))
  title = (f"{results['what']}; {training.splitlines()[-1]}\n"
           f"validation accuracy of seed 0 per epoch (grey: the baseline, "
           f"test {base:.3f}); test: mean over {results['seeds']} seed"
           f"{'s' if results['seeds'] > 1 else ''}\neach panel's y-axis "
           f"spans its curves after their first tenth of the epochs")
  return [plots.technique_curves(
      outputs.figure_path(workdir, "validation_curves"),
      # In the table's order, the baseline first (results.json sorts keys).
      {r["technique"]: results["curves"][r["technique"]] for r in rows},
      title, scores)]


SATURATION_COLORS = {"sigmoid": "C0", "tanh": "C1", "relu": "C2"}


def _saturation_style(row):
  return dict(color=SATURATION_COLORS.get(row["activation"], "C3"),
              ls="-" if row["init"] == "normal" else "--",
              label=f"{row['activation']}, {row['init']} init")


def saturation(workdir: str, results: dict) -> list:
  """saturation.png (gradient norm against layer before training, a panel
  per depth) and saturation_training.png (the deepest networks per epoch,
  test accuracy against depth)."""
  results = _as_written(results)
  rows, flags = results["runs"], results["flags"]
  depths = sorted({r["depth"] for r in rows})
  seeds = flags["seeds"]
  return [
      _saturation_layers(
          outputs.figure_path(workdir, "saturation"), rows, depths,
          f"{results['what']}\ngradient norm per layer before training "
          f"(median, range over {seeds} seeds)"),
      _saturation_training(
          outputs.figure_path(workdir, "saturation_training"), rows, depths,
          f"{results['what']}, {seeds} seeds", flags["threshold"],
          results["config"]["epochs"])]


def _saturation_layers(path, rows, depths, title):
  """Gradient norm against layer before training: a panel per depth."""
  cols, n = min(4, len(depths)), -(-len(depths) // 4)
  fig, axes = plt.subplots(n, cols, sharey=True, squeeze=False,
                           figsize=(3.3 * cols, 2.9 * n + 0.4))
  for ax, depth in zip(axes.flat, depths):
    for row in (r for r in rows if r["depth"] == depth):
      g = np.asarray(row["grad_norms_start"])
      layers = np.arange(1, depth + 2)
      ax.plot(layers, np.median(g, 0), marker="o", ms=3,
              **_saturation_style(row))
      ax.fill_between(layers, g.min(0), g.max(0), alpha=0.15,
                      color=_saturation_style(row)["color"])
    ax.set(title=f"{depth} hidden layer{'s' * (depth > 1)}",
           xlabel=f"layer l (1 = first hidden, {depth + 1} = output)",
           xticks=layers)
    ax.grid(alpha=0.3)
  for ax in axes.flat[:len(depths)]:
    plots.log_ticks(ax, "y")
  for ax in axes[:, 0]:
    ax.set_ylabel("||dE/dW_l|| before training")
  for ax in axes.flat[len(depths):]:
    ax.axis("off")
  axes.flat[0].legend(fontsize=7, handlelength=3)
  fig.suptitle(title)
  return plots.save(fig, path)


def _saturation_training(path, rows, depths, title, threshold, epochs):
  """The deepest nets per epoch; test accuracy against depth."""
  fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
  for row in (r for r in rows if r["depth"] == max(depths)):
    first = np.asarray(row["grad_norms_median"])[:, 0]
    axes[0].plot(first, **_saturation_style(row))
    if np.all(row["diverged"]):   # fit keeps the last finite weights
      axes[0].text(1, first[-1], f"{_saturation_style(row)['label']}: "
                   "diverged", va="top",
                   color=_saturation_style(row)["color"])
    axes[1].plot(np.mean(row["saturated_median"], 1),
                 **_saturation_style(row))
  for row in (r for r in rows if r["depth"] == depths[0]):
    same = [r for r in rows if r["activation"] == row["activation"]
            and r["init"] == row["init"]]
    acc = np.array([r["test_accuracy"] for r in same])
    med = np.median(acc, 1)
    style = _saturation_style(row)
    # A setting whose deepest runs all diverged: its curves in the first
    # two panels go on flat from the last finite weights.
    if any(np.all(r["diverged"]) for r in same if r["depth"] == max(depths)):
      style["label"] += f"\n(diverged at {max(depths)} layers)"
    axes[2].errorbar([r["depth"] for r in same], med, capsize=3,
                     yerr=[med - acc.min(1), acc.max(1) - med], **style)
  axes[0].set(xlabel="epoch", title=f"{max(depths)} hidden "
              "layers: first layer's gradient (median over seeds)",
              ylabel="||dE/dW_1|| on the training set")
  plots.log_ticks(axes[0], "y")
  axes[1].set(xlabel="epoch", ylim=(-0.02, 1.02),
              ylabel=f"share of |g'(z)| < {threshold:g} (ReLU: z <= 0)",
              title=f"{max(depths)} hidden layers: saturated units "
              "(mean of layers)")
  axes[2].set(xlabel="hidden layers", ylabel="test accuracy", xticks=depths,
              title=f"after {epochs} epoch{'s' * (epochs > 1)} at the best "
              "rate (median, range)")
  for ax in axes:
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
  axes[2].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
  fig.suptitle(title)
  return plots.save(fig, path)


def activations(workdir: str, results: dict) -> list:
  """activations.png: per data set, test accuracy, dead and saturated
  units per activation, PReLU's learned slopes per layer."""
  results = _as_written(results)
  c, flags = results["config"], results["flags"]
  hidden = "-".join(map(str, c["hidden"]))
  title = (f"hidden layers {hidden}, {c['init']} init, {c['optimizer']}, "
           f"batch {c['batch_size']}, {c['epochs']} epoch"
           f"{'s' * (c['epochs'] > 1)} at the best of rates "
           f"{', '.join(flags['learning_rates'])}; {flags['seeds']} seeds")
  return [_activations(outputs.figure_path(workdir, "activations"),
                       results["runs"], flags["datasets"], title)]


def _activations(path, rows, datasets, title):
  """Per data set: test accuracy, dead and saturated units per
  activation, PReLU slopes per layer."""
  fig, axes = plt.subplots(len(datasets), 3, figsize=(15, 4 * len(
      datasets)), squeeze=False)
  for (ax_acc, ax_units, ax_alpha), dataset in zip(axes, datasets):
    own = [r for r in rows if r["dataset"] == dataset]
    names = [r["activation"] for r in own]
    for i, row in enumerate(own):
      for ax, values, mark in (
          (ax_acc, row["test_accuracy"], "o"),
          (ax_units, np.mean(row["dead"], 1), "o"),
          (ax_units, np.mean(row["saturated"], 1), "x")):
        ax.plot(np.full(len(values), i), values, mark, alpha=0.6,
                color="C0" if mark == "o" else "C1")
        ax.plot([i - 0.3, i + 0.3], [np.mean(values)] * 2, "k-")
    ax_units.plot([], [], "o", color="C0",
                  label="dead units: g'(z) = 0 on every example")
    ax_units.plot([], [], "x", color="C1",
                  label=f"values |g'(z)| < {diagnostics.THRESHOLD:g} "
                  "(ReLU: z <= 0)")
    ax_units.legend(fontsize=8)
    ticks = [n + "\n(linear)" if n == "identity" else n for n in names]
    for ax, ylabel in ((ax_acc, "test accuracy"),
                       (ax_units, "share")):
      ax.set_xticks(range(len(names)), ticks, rotation=25, ha="right")
      ax.set(ylabel=ylabel)
      ax.grid(alpha=0.3)
    ax_acc.set_title(f"{dataset}: test accuracy at the best rate (dots: "
                     "seeds, bar: mean)")
    ax_units.set_title(f"{dataset}: hidden units after training, per seed")
    prelu = [r for r in own if r["prelu_slopes"] is not None]
    for row in prelu:
      for l, alphas in enumerate(row["prelu_slopes"]):
        ax_alpha.hist(np.ravel(alphas), bins=30, histtype="step", lw=1.5,
                      label=f"hidden layer {l + 1}")
      ax_alpha.axvline(activations_lib.prelu().alpha, color="k", ls="--",
                       label="initial slope")
      ax_alpha.legend()
    ax_alpha.set(xlabel="learned slope alpha (z < 0)", ylabel="units",
                 title=f"{dataset}: PReLU slopes, all seeds")
    ax_alpha.grid(alpha=0.3)
  fig.suptitle(title)
  return plots.save(fig, path)


def local_minima(workdir: str, results: dict) -> list:
  """local_minima.png: per network size, the fractions solved and stuck
  against the rate, and where the runs end (histogram of final costs)."""
  results = _as_written(results)
  rows = results["settings"]
  return [_local_minima(outputs.figure_path(workdir, "local_minima"), rows,
                        list(dict.fromkeys(r["hidden"] for r in rows)),
                        results["epochs"], results["init"],
                        results["plateaus"])]


def _local_minima(path, rows, hidden, epochs, init, plateaus):
  """Per size: the fractions solved and stuck against the rate, and the
  histogram of the final costs."""
  fig, axes = plt.subplots(2, len(hidden), figsize=(5.5 * len(hidden), 8),
                           squeeze=False)
  bins = np.linspace(0, 0.75, 76)
  colors = {"batch": "tab:red", "online": "tab:blue"}
  for col, h in enumerate(hidden):
    ax, hist = axes[0, col], axes[1, col]
    for mode in dict.fromkeys(r["mode"] for r in rows):
      mine = [r for r in rows if r["hidden"] == h and r["mode"] == mode]
      x = [r["batch_rate"] for r in mine]
      for what, style in (("solved", "o-"), ("stuck", "s--")):
        p = np.array([r[what] for r in mine])
        err = np.sqrt(p * (1 - p) / mine[0]["seeds"])
        ax.errorbar(x, p, err, fmt=style, color=colors[mode], capsize=3,
                    label=f"{mode}: {what}")
      costs = np.concatenate([r["final_costs"] for r in mine])
      hist.hist(np.clip(costs, None, bins[-1]), bins, histtype="step",
                lw=1.5, color=colors[mode],
                label=f"{mode} ({len(costs)} runs, all rates)")
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="batch learning rate "
           "eta_b (online: eta_b / 4 per pattern)", ylabel="fraction of runs",
           title=f"2-{h}-1 sigmoid network on XOR, {epochs} epochs")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    for (name, value), ls in zip(plateaus.items(),
                                 (":", "-.", "--")):
      hist.axvline(value, color="0.3", ls=ls, lw=1, label=f"{name}: "
                   f"{value:.3f}")
    hist.set(yscale="log", xlabel="final training cost (cross-entropy, "
             "mean over 4 patterns; bins of 0.01)", ylabel="runs",
             title=f"2-{h}-1: where the runs end (solved: first bin)")
    hist.legend(fontsize=7, loc="upper right")
  for a in axes.ravel():
    a.grid(alpha=0.3)
  fig.suptitle("Batch GD vs. online SGD at matched step sizes, plain SGD "
               f"from {init} init\n(error bars: binomial standard error; "
               "runs neither solved nor stuck are still moving)", fontsize=11)
  return plots.save(fig, path)


def norm_limits(workdir: str, results: dict) -> list:
  """norm_limits.png: per technique (L2, max-norm) against its setting,
  the accuracies, the change from the baseline seed by seed, the weight
  norms."""
  results = _as_written(results)
  # The per-seed measurements as arrays (results.json holds lists).
  rows = [{k: (np.asarray(v, float) if isinstance(v, list) and k != "sizes"
               else v) for k, v in r.items()} for r in results["rows"]]
  training = plots.run_title(results["config"], omit=("seed", "epochs",
                                                      "dataset"))
  return [_norm_limits(
      outputs.figure_path(workdir, "norm_limits"), rows,
      f"Norm penalty and max-norm constraint: {results['what']}; "
      f"{training.splitlines()[-1]}")]


def _norm_limits(path: str, rows: list, title: str) -> str:
  """Per technique, against its setting: training and test accuracy, the
  test accuracy's per-seed change from the baseline, and the weight norms
  (the baseline's as dotted lines)."""
  base, seeds = rows[0], len(rows[0]["total"])
  sizes = base["sizes"]
  fig, axes = plt.subplots(2, 3, figsize=(17, 8.5))
  for (ax_acc, ax_diff, ax_norm), technique, xlabel in (
      (axes[0], "l2", "L2 strength l2"),
      (axes[1], "max_norm", "max-norm radius c")):
    sweep = [r for r in rows if r["technique"] == technique]
    x = [r["value"] for r in sweep]
    for key, name, color in (("train_accuracy", "training", "tab:green"),
                             ("test_accuracy", "test", "tab:blue")):
      acc, b = np.array([100 * r[key] for r in sweep]), 100 * base[key]
      ax_acc.errorbar(x, acc.mean(1), acc.std(1), fmt="o-", capsize=3,
                      color=color, label=f"{name} (mean +- std)")
      ax_acc.axhline(b.mean(), color=color, ls=":", label=f"{name}, no "
                     f"limit ({b.mean():.1f} +- {b.std():.1f})")
    diff = np.array([100 * (r["test_accuracy"] - base["test_accuracy"])
                     for r in sweep])
    ax_diff.errorbar(x, diff.mean(1), diff.std(1), fmt="o-", capsize=3,
                     color="tab:blue", label="mean +- std over seeds")
    ax_diff.axhline(0, color="k", lw=0.8)
    ax_acc.set(xlabel=xlabel, ylabel="accuracy (%)",
               title=f"{technique}: accuracy, {seeds} seeds")
    ax_diff.set(xlabel=xlabel, ylabel="test accuracy - baseline's (pp)",
                title=f"{technique}: change, seed by seed")
    for l in range(len(sizes) - 1):
      color = plt.get_cmap("tab10")(l + 3)
      ax_norm.plot(x, [np.mean(r["largest_row"][:, l]) for r in sweep],
                   "o-", color=color, label=f"largest row norm, layer {l+1}"
                   f" ({sizes[l]}->{sizes[l + 1]})")
      ax_norm.axhline(np.mean(base["largest_row"][:, l]), color=color,
                      ls=":", lw=1)
    ax_norm.plot(x, [np.mean(r["total"]) for r in sweep], "ks-",
                 label="total weight norm sqrt(sum ||w||^2)")
    ax_norm.axhline(np.mean(base["total"]), color="k", ls=":", lw=1,
                    label="dotted: no limit")
    if technique == "max_norm":
      # On top: a layer at its bound draws its line right under it.
      ax_norm.plot(x, x, "--", color="0.2", lw=1.2, zorder=5,
                   label="radius c")
    ax_norm.set(yscale="log", ylim=(0.04, 80), xlabel=xlabel,
                ylabel="weight norm after training",
                title=f"{technique}: weight norms, mean over seeds")
    ax_norm.legend(fontsize=7, loc="lower right", framealpha=0.9)
    for ax in (ax_acc, ax_diff, ax_norm):
      ax.set_xscale("log")
      ax.set_xticks(x, [f"{v:g}" for v in x])
      ax.minorticks_off()
      ax.grid(alpha=0.3)
      if ax is not ax_norm:
        ax.legend(fontsize=8)
  fig.suptitle(title)
  return plots.save(fig, path)


def _as_written(results: dict) -> dict:
  """``results`` as read back from results.json (arrays as lists), so that
  a script draws from the same values as a later redraw; a null among
  numbers (results.json's NaN) is NaN again."""
  jsonable = outputs._jsonable(results)  # pylint: disable=protected-access
  return _nan_back(json.loads(json.dumps(jsonable, sort_keys=True)))


def _nan_back(value):
  if isinstance(value, dict):
    return {k: _nan_back(v) for k, v in value.items()}
  if isinstance(value, list):
    items = [_nan_back(v) for v in value]
    numbers = all(v is None or (isinstance(v, (int, float))
                                and not isinstance(v, bool)) for v in items)
    return ([math.nan if v is None else v for v in items] if numbers
            else items)
  return value


def _finite(value) -> bool:
  return value is not None and math.isfinite(value)


DRAW = {"sweep": sweep, "regularization": regularization,
        "saturation": saturation, "activations": activations,
        "local_minima": local_minima, "norm_limits": norm_limits}
