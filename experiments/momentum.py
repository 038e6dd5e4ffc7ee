r"""What momentum does: on a ravine of an error surface, and on the digits.

  python -m experiments.momentum [--seeds=10] [--workdir=runs/momentum]

Momentum is optax's, not ours: ``optax.sgd(eta, momentum=mu)``, the
velocity ``v <- mu v + dE/dw`` and the step ``w <- w - eta v`` (what
``--optimizer=momentum`` runs); ``mu = 0`` is plain gradient descent.

1. The ravine: experiments.error_surface's linear neuron (two weights, no
   bias, E = 1/2 mean squared error) on --ravine_samples examples whose
   inputs have correlation --correlation (0.98: a long, narrow valley,
   Hessian eigenvalues about 1.7 and 0.02). Full-batch descent from (-1.5,
   2.5), one step per epoch, for each mu of --momenta. Measured: the epochs
   until E - E_min falls to 1% of its start E(w0) - E_min and stays there
   ("within 1% of the minimum"), at --ravine_learning_rate and over a grid of
   learning rates (each mu's best), on --seeds data sets (seeds 0, 1, ...).
2. The digits: a network (--hidden, --batch_size, --epochs; digits split as
   by experiments.train --seed=0) trained by SGD and with momentum mu at the
   same effective step eta / (1 - mu), each of --effective_steps (eta = step
   (1 - mu)); --seeds networks per setting in one vmapped call per mu
   (nn_jax.population.fit_population), seed s from the same initial weights
   and batches for every mu and step. Measured: training cost per epoch,
   test accuracy, and how many runs diverged (final training cost NaN or
   above the first epoch's).

Writes results.json, momentum_ravine.png (paths on seed 0's surface, E -
E_min per epoch, epochs to 1% against eta) and momentum_digits.png (training
cost per epoch, median and range over the seeds, a panel per step).
"""

import os
import warnings

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
from nn_jax import surface

cli.define_flags(config_lib.DataConfig, config_lib.NetConfig,
                 config_lib.FitOptions,
                 only=("dataset", "n_samples", "hidden", "batch_size",
                       "epochs"),
                 defaults=dict(hidden=(64,), epochs=30))
flags.DEFINE_list("momenta", ["0", "0.5", "0.9"], "Momenta mu to compare.")
flags.DEFINE_integer("ravine_samples", 50, "Ravine: examples of each data "
                     "set.")
flags.DEFINE_float("correlation", 0.98, "Ravine: correlation of x1 and x2.")
flags.DEFINE_float("ravine_learning_rate", 0.9, "Ravine: eta of the paths.")
flags.DEFINE_integer("ravine_epochs", 1000, "Ravine: most epochs.")
flags.DEFINE_list("effective_steps", ["0.03", "0.3", "1", "2"],
                  "Digits: effective steps eta / (1 - mu).")
flags.DEFINE_integer("seeds", 10, "Ravine data sets; networks per setting.")
flags.DEFINE_string("workdir", "runs/momentum", "Where results go.")

FLAGS = flags.FLAGS
W0 = jnp.asarray([-1.5, 2.5])
ETAS = np.geomspace(0.01, 3.0, 41)   # the ravine's grid of learning rates
NEURON = mlp.make_model("identity", "linear_squared")


def ravine(seed: int, mus: list, eta: float) -> dict:
  """One data set's descents: at ``eta`` (first) and over ETAS."""
  x, y = surface.make_data("linear", FLAGS.ravine_samples,
                           FLAGS.correlation, seed)
  run = surface.momentum_descents(NEURON, x, y, W0, [eta, *ETAS], mus,
                                  FLAGS.ravine_epochs)
  run.update(seed=seed, epochs_to_1pct=run["epochs"][:, 0],
             grid_epochs=run.pop("epochs")[:, 1:],
             paths=run["paths"][:, 0], costs=run["costs"][:, 0],
             cost=jax.jit(jax.vmap(surface.cost_fn(NEURON, x, y))))
  return run


def digits(config, mus: list, steps: list) -> dict:
  """Per mu: the members' training cost per epoch and test accuracy,
  ``(steps, seeds, ...)``."""
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  model = config.net.make()
  data = experiment.training_data(splits, model.loss)
  seeds, sizes = FLAGS.seeds, [data.x.shape[1], *config.net.hidden,
                               data.y.shape[1]]
  out = {"sizes": sizes, "rows": []}
  for mu in mus:
    result = population.fit_population(
        population.seed_keys(seeds, len(steps)), sizes, model, data,
        config.fit, init=config.net.init,
        learning_rates=np.repeat(steps, seeds) * (1 - mu),
        optimizer="momentum" if mu else "sgd", momentum=mu)
    _, test = population.evaluate(
        result, splits.test.x, data_lib.targets(model.loss, splits.test),
        model)
    cost = result.history["train_loss"].reshape(len(steps), seeds, -1)
    cost = np.where(np.isfinite(cost), cost, np.nan)   # diverged: NaN
    test = np.asarray(test).reshape(len(steps), seeds)
    for i, step in enumerate(steps):
      out["rows"].append({
          "momentum": mu, "effective_step": step,
          "learning_rate": step * (1 - mu), "train_cost": cost[i],
          "diverged": int(np.sum(~(cost[i, :, -1] <= cost[i, :, 0]))),
          "test_accuracy": test[i],
          "epochs_to_cost_0.1": surface.epochs_to_reach(np.concatenate(
              [np.full((seeds, 1), np.inf), cost[i]], 1), 0.1)})
      cli.log("mu %g step %g: final cost %.4f, test %.4f", mu, step,
              np.nanmedian(cost[i, :, -1]), np.nanmean(test[i]))
  return out


def draw_ravine(path: str, first: dict, rows: list, mus: list,
                eta: float) -> str:
  """Paths on the contours of E, E - E_min per epoch, epochs to 1%."""
  fig, (ax, ax_cost, ax_eta) = plt.subplots(1, 3, figsize=(15, 4.8))
  shown = int(np.nanmax(np.append(first["epochs_to_1pct"], 30)))
  paths = [p[:shown + 1] for p in first["paths"]]
  plots.cost_contours(ax, surface.surface(first["cost"], paths,
                                          first["w_min"]))
  for i, (mu, p) in enumerate(zip(mus, paths)):
    ax.plot(p[:, 0], p[:, 1], "o-", ms=2.5, lw=1.2, color=f"C{i}",
            zorder=3 + len(mus) - i, label=f"mu = {mu:g}")
    excess = first["costs"][i] - first["e_min"]
    ax_cost.plot(np.arange(len(excess)), excess, color=f"C{i}",
                 label=f"mu = {mu:g}")
    grid = np.array([r["grid_epochs"][i] for r in rows])  # (seeds, etas)
    ax_eta.plot(ETAS, np.nanmedian(grid, 0), "o-", ms=3, color=f"C{i}",
                label=f"mu = {mu:g} (median)")
    ax_eta.fill_between(ETAS, np.nanmin(grid, 0), np.nanmax(grid, 0),
                        color=f"C{i}", alpha=0.2)
  ax.plot(*W0, "k*", ms=12, zorder=9, label="start")
  ax.plot(*first["w_min"], "X", color="gold", mec="k", ms=10, zorder=9,
          label="minimum")
  ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal",
         title=f"paths at eta = {eta:g}, first {shown} epochs (data seed 0)")
  excess0 = first["costs"][0][0] - first["e_min"]
  ax_cost.axhline(0.01 * excess0, color="0.4", ls=":", label="1% of start")
  ax_cost.set(yscale="log", xlim=(0, 2 * shown), ylim=(1e-6 * excess0,
                                                       2 * excess0),
              xlabel="epoch",
              ylabel="E - E_min", title=f"excess cost at eta = {eta:g}")
  ax_eta.set(xlabel="learning rate eta",
             ylabel="epochs to within 1% of the minimum",
             title=f"{len(rows)} data sets: median and range\n(no point: "
             f"not within {FLAGS.ravine_epochs} epochs, or diverged)")
  plots.log_ticks(ax_eta, "x")
  plots.log_ticks(ax_eta, "y")
  for a in (ax, ax_cost, ax_eta):
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
  fig.suptitle(f"Momentum on a ravine: linear neuron, "
               f"{FLAGS.ravine_samples} examples, inputs correlated "
               f"{FLAGS.correlation:g}, full-batch descent (optax.sgd with "
               "momentum mu)")
  return plots.save(fig, path, dpi=150)


def draw_digits(path: str, out: dict, mus: list, steps: list,
                what: str) -> str:
  """Training cost per epoch per effective step (median and range), and
  test accuracy against the effective step."""
  fig, axes = plt.subplots(1, len(steps) + 1, squeeze=False,
                           figsize=(3.6 * (len(steps) + 1), 4))
  ax_acc = axes[0, -1]
  for r in out["rows"]:
    ax, i = axes[0, steps.index(r["effective_step"])], mus.index(
        r["momentum"])
    cost, epochs = r["train_cost"], np.arange(1, r["train_cost"].shape[1] + 1)
    label = (f"mu = {r['momentum']:g}, eta = {r['learning_rate']:.3g}"
             + (f" ({r['diverged']} of {len(cost)} diverged)"
                if r["diverged"] else ""))
    ax.plot(epochs, np.nanmedian(cost, 0), color=f"C{i}", label=label)
    ax.fill_between(epochs, np.nanmin(cost, 0), np.nanmax(cost, 0),
                    color=f"C{i}", alpha=0.2)
    ax.set(xlabel="epoch", ylabel="training cost (median, "
           "range)", title=f"effective step eta/(1-mu) = "
           f"{r['effective_step']:g}")
    ax.legend(fontsize=7)
  for ax in axes[0, :-1]:
    plots.log_ticks(ax, "y")
    plots.epoch_axis(ax, out["rows"][0]["train_cost"].shape[1])
    if not any(np.isfinite(line.get_ydata()).any() for line in ax.lines):
      ax.text(0.5, 0.5, "every run diverged:\nno finite cost to draw",
              transform=ax.transAxes, ha="center", va="center")
  for i, mu in enumerate(mus):
    rows = [r for r in out["rows"] if r["momentum"] == mu]
    acc = np.array([100 * r["test_accuracy"] for r in rows])  # (steps, seeds)
    # A run that diverged is scored on its last finite weights: its point
    # is hollow, so that it does not pass for a run that trained.
    diverged = np.array([r["diverged"] > 0 for r in rows])
    x, mean = np.array(steps) * (1 + 0.04 * (i - 1)), acc.mean(1)
    ax_acc.errorbar(x, mean, acc.std(1), fmt="-", capsize=3, color=f"C{i}",
                    label=f"mu = {mu:g}")
    ax_acc.plot(x[~diverged], mean[~diverged], "o", color=f"C{i}")
    ax_acc.plot(x[diverged], mean[diverged], "o", color=f"C{i}",
                markerfacecolor="white")
  if any(r["diverged"] for r in out["rows"]):
    ax_acc.plot([], [], "o", color="gray", markerfacecolor="white",
                label="hollow: runs diverged\n(last finite weights)")
  ax_acc.set_xscale("log")
  ax_acc.set_xticks(steps, [f"{v:g}" for v in steps])
  ax_acc.minorticks_off()
  ax_acc.set(xlabel="effective step eta/(1-mu)",
             ylabel="test accuracy (%), mean +- std", title="after "
             f"{len(out['rows'][0]['train_cost'][0])} epochs")
  ax_acc.legend(fontsize=8)
  for ax in axes[0]:
    ax.grid(alpha=0.3)
  fig.suptitle("SGD with and without momentum at the same effective step "
               f"eta / (1 - mu): {what}, {len(out['rows'][0]['train_cost'])} "
               "seeds")
  return plots.save(fig, path, dpi=150)


def main(argv):
  del argv
  # Medians and ranges over seeds of which some (or all) diverged.
  warnings.filterwarnings("ignore", "All-NaN", RuntimeWarning)
  mus = cli.numbers("momenta", lambda v: 0 <= v < 1, "in [0, 1)")
  steps = cli.numbers("effective_steps", lambda v: v > 0, "> 0")
  cli.check(abs(FLAGS.correlation) < 1, "correlation", "must be in (-1, 1)")
  cli.check(FLAGS.seeds >= 1, "seeds", "must be >= 1")
  cli.check(FLAGS.ravine_epochs >= 1, "ravine_epochs", "must be >= 1")
  cli.check(FLAGS.ravine_samples >= 2, "ravine_samples", "must be >= 2")
  eta = FLAGS.ravine_learning_rate
  cli.check(0 < eta < np.inf, "ravine_learning_rate", "must be > 0")
  config = cli.config_from_flags(train_metrics="full")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  rows = [ravine(seed, mus, eta) for seed in range(FLAGS.seeds)]
  draw_ravine(outputs.figure_path(workdir, "momentum_ravine"), rows[0], rows,
              mus, eta)
  out = digits(config, mus, steps)
  what = (f"{config.data.dataset} {'-'.join(map(str, out['sizes']))} "
          f"{config.net.activation}, batches of {config.fit.batch_size}")
  draw_digits(outputs.figure_path(workdir, "momentum_digits"), out, mus, steps,
              what)
  for r in rows:   # the paths of the first data set are in the figure
    del r["cost"]
    if r["seed"]:
      del r["paths"]
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "momentum",
      "ravine": {"learning_rate": eta, "grid": ETAS, "momenta": mus,
                 "data_sets": rows}, "digits": out,
      "config": config.flat(), "flags": cli.flag_dict(__file__),
      "seconds": timer.seconds})
  epochs = np.array([r["epochs_to_1pct"] for r in rows])
  best = np.array([np.nanmin(r["grid_epochs"], 1) for r in rows])
  for i, mu in enumerate(mus):
    print(f"ravine mu = {mu:g}: epochs to 1% at eta = {eta:g}: median "
          f"{np.nanmedian(epochs[:, i]):g}; at the best eta: median "
          f"{np.nanmedian(best[:, i]):g} (range {np.nanmin(best[:, i]):g}-"
          f"{np.nanmax(best[:, i]):g})")
  for r in out["rows"]:
    seeds = len(r["test_accuracy"])
    diverged = (f"; {r['diverged']} of {seeds} diverged (final cost NaN or "
                f"above the first epoch's; scored on their last finite "
                f"weights)" if r["diverged"] else "")
    print(f"{config.data.dataset} mu = {r['momentum']:g}, step "
          f"{r['effective_step']:g}: "
          f"final cost median {np.nanmedian(r['train_cost'][:, -1]):.4g}, "
          f"test {100 * np.nanmean(r['test_accuracy']):.2f} +- "
          f"{100 * np.nanstd(r['test_accuracy']):.2f}%{diverged}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
