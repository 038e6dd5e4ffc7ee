r"""Online SGD vs. batch gradient descent on redundant data.

  python -m experiments.online_vs_batch [--repeats=1,2,4,8] [--passes=64]

The lecture: online (stochastic) gradient descent converges much faster than
batch gradient descent, above all on redundant data. The digits training
split (1,438 images; the data flags choose another) is written r times over
(--repeats) and trained by plain SGD in three modes: ``batch`` (the whole
set per step), ``online`` (one example per step) and ``minibatch``
(--batch_size). Each mode and r is one population of --learning_rates x
--seeds in one vmapped call (seed s starts from the same weights in every
mode), with one budget of examples processed: --passes x the distinct
examples (passes / r epochs). A mode is judged at its best rate (lowest
median final training cost, no seed diverged). Repeating the data leaves
the batch gradient as it is: batch GD's cost per epoch cannot improve with
r, while an online epoch makes r times as many steps.

Costs are measured at the end of each epoch (r x the distinct examples):
the examples to --target_cost are an upper bound for r > 1. Seconds: one
network of each mode and r alone (at the best rate, compiled first, fastest
of 3 calls, no cost evaluation) gives the seconds per epoch, wall-clock and
this process's CPU time (the figure's: other processes on a shared machine
do not inflate it). Writes results.json (per mode and r: the best rate,
every seed's cost per epoch, the costs after the same examples, examples
and seconds to --target_cost), online_vs_batch.png (cost against examples
processed, a panel per mode) and online_vs_batch_seconds.png (cost against
CPU seconds, a panel per r).
"""

import os

from absl import flags
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import descent_modes
from nn_jax import experiment
from nn_jax import plots

TITLES = {"batch": "batch GD: all r x n examples per step",
          "online": "online SGD: 1 example per step",
          "minibatch": "mini-batch SGD: {} examples per step"}

cli.define_flags(config_lib.DataConfig, defaults=dict(validation_fraction=0.0))
cli.define_flags(config_lib.NetConfig, config_lib.FitOptions,
                 config_lib.Config, defaults=dict(hidden=(32,)),
                 only=("hidden", "activation", "loss", "init", "batch_size",
                       "seed"))
flags.DEFINE_list("learning_rates", ["0.003", "0.01", "0.03", "0.1", "0.3",
                                     "1", "3", "10"], "The grid of rates of "
                  "every mode.")
flags.DEFINE_integer("seeds", 8, "Seeds per rate.", lower_bound=1)
flags.DEFINE_list("repeats", ["1", "2", "4", "8"], "How often the training "
                  "set is repeated.")
flags.DEFINE_list("modes", list(TITLES), "Modes.")
flags.DEFINE_integer("passes", 64, "Budget: examples processed, in passes "
                     "over the distinct examples (a multiple of each r).",
                     lower_bound=1)
flags.DEFINE_float("target_cost", 0.1, "Report the examples and seconds "
                   "to reach this training cost.")
flags.DEFINE_string("workdir", "runs/online_vs_batch", "Where results go.")

FLAGS = flags.FLAGS


def run_mode(mode, r, sizes, model, data, config, rates):
  """One mode on the data repeated r times: its record and the grid's
  costs (rates, seeds, epochs)."""
  batch = {"batch": 0, "online": 1}.get(mode, config.fit.batch_size)
  options = config_lib.FitOptions(epochs=FLAGS.passes // r, batch_size=batch,
                                  train_metrics="full")
  cli.log("%s, r = %d: %d members, %d epochs", mode, r,
          len(rates) * FLAGS.seeds, options.epochs)
  record, cost = descent_modes.at_best_rate(
      sizes, model, descent_modes.repeat(data, r), options, rates,
      FLAGS.seeds, init=config.net.init, target_cost=FLAGS.target_cost)
  return {"mode": mode, "r": r, **record}, cost


def draw(path, records, panels, key, lines, xlabel, title, seconds=False):
  """A panel per value of ``key``, a line per value of the other key."""
  cols = len(panels) if len(panels) <= 3 else 2
  rows = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows + 0.6),
                           sharey=True, squeeze=False)
  other = "r" if key == "mode" else "mode"
  for ax, panel in zip(axes.ravel(), panels):
    for value in lines:
      rec = next(x for x in records if x[key] == panel and x[other] == value)
      if rec["best_rate"] is None:
        continue
      c = rec["cost"]                               # (seeds, epochs)
      x = np.arange(1, rec["epochs"] + 1) * rec[
          "seconds_per_epoch" if seconds else "examples_per_epoch"]
      name = f"r = {value}" if other == "r" else value
      line, = ax.plot(x, np.median(c, 0), "o-" if len(x) <= 8 else "-",
                      ms=3,
                      label=f"{name} (eta {rec['best_rate']:g})")
      ax.fill_between(x, c.min(0), c.max(0), color=line.get_color(),
                      alpha=0.15, lw=0)
    ax.set(xlabel=xlabel,
           title=(f"r = {panel}: training set written {panel} x"
                  if key == "r" else TITLES[panel].format(rec["batch_size"])))
    plots.log_ticks(ax, "x")
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  for ax in axes[:, 0]:
    ax.set_ylabel("training cost\n(median over seeds, band min-max)")
    plots.log_ticks(ax, "y")   # after every panel: the y-axis is shared
  fig.suptitle(title, fontsize=10)
  return plots.save(fig, path, dpi=150)


def main(argv):
  del argv
  config = cli.config_from_flags()
  rates = cli.numbers("learning_rates", lambda v: v > 0, "> 0")
  repeats = [int(r) for r in cli.numbers(
      "repeats", lambda v: v >= 1 and v == int(v) and FLAGS.passes % v == 0,
      f"that are positive integers dividing --passes={FLAGS.passes}")]
  cli.check(FLAGS.modes and set(FLAGS.modes) <= set(TITLES), "modes",
            f"some of {', '.join(TITLES)}")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  model = config.net.make()
  data = experiment.training_data(splits, model.loss)
  n = data.x.shape[0]
  sizes = [data.x.shape[1], *config.net.hidden, data.y.shape[1]]
  records, costs = [], {}
  for mode in FLAGS.modes:
    for r in repeats:
      record, costs[mode, r] = run_mode(mode, r, sizes, model, data, config,
                                        rates)
      records.append(record)
  # Progress per epoch: the costs after each epoch at r0's best rate, seed
  # by seed, against r0 (batch GD: the same steps, so the same costs).
  r0, common = repeats[0], [max(repeats), FLAGS.passes]
  best0 = {rec["mode"]: rec["best_rate"] for rec in records if rec["r"] == r0}
  for rec in records:
    c, i = costs[rec["mode"], rec["r"]], rates.index(best0[rec["mode"]] or
                                                     rates[0])
    rec[f"per_epoch_max_difference_to_r{r0}"] = descent_modes.max_difference(
        c[i], costs[rec["mode"], r0][i])
    rec["first_epoch_cost_by_rate"] = np.median(c[:, :, 0], axis=1)
    if rec["best_rate"] is not None:   # after passes x the distinct examples
      rec["cost_after_passes"] = {p: float(np.median(
          rec["cost"][:, p // rec["r"] - 1])) for p in common}
  title = (f"{config.data.dataset}: {n} distinct training examples repeated "
           f"r times, {'-'.join(map(str, sizes))} {config.net.activation}, plain "
           f"SGD,\n"
           f"{FLAGS.passes} x {n} examples processed; {FLAGS.seeds} seeds "
           f"at each mode's best rate")
  draw(outputs.figure_path(workdir, "online_vs_batch"), records, FLAGS.modes,
       "mode", repeats, "examples processed", title)
  draw(outputs.figure_path(workdir, "online_vs_batch_seconds"), records,
       repeats, "r", FLAGS.modes, "CPU seconds (one network trained alone)",
       title, seconds=True)
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "online_vs_batch",
      "runs": records, "num_train": n, "sizes": sizes,
      "learning_rates": rates, "seeds": FLAGS.seeds, "passes": FLAGS.passes,
      "target_cost": FLAGS.target_cost, "config": config.flat(),
      "seconds": timer.seconds, "provenance": outputs.provenance()})
  for rec in records:
    if rec["best_rate"] is None:
      print(f"{rec['mode']:9s} r={rec['r']}: every rate diverged")
      continue
    reach, seconds = (np.median(rec[k]) for k in ("examples_to_target",
                                                   "seconds_to_target"))
    reach = (f"after {reach:.0f} examples and {seconds:.2g} CPU s"
             if np.isfinite(reach) else "not reached")   # by half the seeds
    after = ", ".join(f"{p} passes {c:.4f}"
                      for p, c in rec["cost_after_passes"].items())
    print(f"{rec['mode']:9s} r={rec['r']}: eta {rec['best_rate']:g}, final "
          f"cost {rec['final_cost_mean']:.4f} +- {rec['final_cost_std']:.4f}"
          f" (median after {after}), cost {FLAGS.target_cost:g} {reach} "
          f"(medians); the whole budget "
          f"{rec['seconds_per_epoch'] * rec['epochs']:.2g} CPU s")
  print(f"results in {workdir} ({timer.seconds:.0f} s)")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
