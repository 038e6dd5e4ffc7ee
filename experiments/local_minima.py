r"""Local minima on XOR: how often batch GD and online SGD get stuck.

  python -m experiments.local_minima [--hidden_sizes=2,3] [--seeds=256]

The lecture: online (stochastic) gradient descent is less susceptible to
local minima than batch gradient descent. Here 2-H-1 sigmoid networks
(sigmoid output, cross-entropy; weights and biases N(0, 1), --init) learn
XOR's four patterns by plain SGD (no momentum), --seeds starts per setting,
all rates and seeds of a mode in one vmapped call
(:func:`nn_jax.descent_modes.fit_grid`); seed s starts from the same weights
in both modes and at every rate, so that the modes are compared run by run.

Matched step sizes: the batch cost is the mean over the 4 patterns, so one
batch step moves the weights by eta_b / 4 * sum_p grad E_p; an online epoch
makes 4 steps of eta_o * grad E_p, in all (to first order) eta_o * sum_p
grad E_p. The same total step per epoch is therefore eta_o = eta_b / 4:
--learning_rates are the batch rates, online runs at a quarter of each, and
both get the same --epochs.

After --epochs a run is ``solved`` (all 4 patterns on the right side of
1/2), ``stuck`` (not solved, and its cost, averaged over a tenth of the
epochs to smooth online SGD's jitter, moved by less than --stuck_tolerance
between halfway and the end) or ``moving`` (neither: still descending, or
drifting). A stuck run is placed at the plateau of the cost nearest that
late mean (within 0.02): two patterns at output 1/2 (ln 2 / 2 = 0.347),
three patterns sharing one output (0.477), or all four at 1/2 (ln 2 =
0.693). Writes results.json (per size, mode and rate: the fractions, where
the stuck runs are, the epochs to solve, every final cost; the run-by-run
pairing of the modes) and local_minima.png (fractions against the rate;
histograms of the final costs).
"""

import os

from absl import flags
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import figures
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import descent_modes
from nn_jax import mlp
from nn_jax import train_data

cli.define_flags(config_lib.NetConfig, config_lib.FitOptions,
                 only=("init", "epochs"),
                 defaults=dict(init="normal", epochs=10000))
flags.DEFINE_list("hidden_sizes", ["2", "3"], "Hidden units H of the "
                  "2-H-1 networks.")
flags.DEFINE_list("learning_rates", ["0.5", "1", "2", "4", "8"], "Batch "
                  "rates eta_b; online runs at eta_b / 4.")
flags.DEFINE_integer("seeds", 256, "Starts per setting.", lower_bound=1)
flags.DEFINE_float("stuck_tolerance", 1e-3, "Stuck: the cost moved less "
                   "than this over the second half of training.",
                   lower_bound=0)
flags.DEFINE_string("workdir", "runs/local_minima", "Where results go.")

FLAGS = flags.FLAGS
MODEL = mlp.make_model("sigmoid", "sigmoid_cross_entropy")
MODES = {"batch": (0, 1.0), "online": (1, 0.25)}   # batch size, rate factor


def train_mode(h, mode, data, rates, config):
  """Rows (one per rate) and the solved flags (rates, seeds) of a mode."""
  batch, factor = MODES[mode]
  options = config_lib.FitOptions(epochs=config.fit.epochs, batch_size=batch,
                                  train_metrics="full")
  cli.log("2-%d-1, %s: %d members, %d epochs", h, mode,
          len(rates) * FLAGS.seeds, options.epochs)
  grid = descent_modes.fit_grid([2, h, 1], MODEL, data, options,
                                np.asarray(rates) * factor, FLAGS.seeds,
                                init=config.net.init)
  rows, solved = descent_modes.end_summary(
      grid.history["train_loss"], grid.history["train_accuracy"],
      tolerance=FLAGS.stuck_tolerance)
  return [{"hidden": h, "mode": mode, "batch_rate": rate,
           "rate": float(grid.rates[i]), "seeds": FLAGS.seeds, **rows[i]}
          for i, rate in enumerate(rates)], solved


def pairing(h, rates, solved):
  """Run by run (same start, matched rate): solved by both modes, by one,
  by neither."""
  b, o = solved["batch"], solved["online"]
  return [{"hidden": h, "batch_rate": rate, "both": int((b[i] & o[i]).sum()),
           "batch_only": int((b[i] & ~o[i]).sum()),
           "online_only": int((~b[i] & o[i]).sum()),
           "neither": int((~b[i] & ~o[i]).sum())}
          for i, rate in enumerate(rates)]


def main(argv):
  del argv
  config = cli.config_from_flags()
  hidden = [int(h) for h in cli.numbers("hidden_sizes", lambda v: v >= 1 and v == int(v),
                                         "that are positive integers")]
  rates = cli.numbers("learning_rates", lambda v: v > 0, "> 0")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  ds = data_lib.load("xor")
  x, y = jnp.asarray(ds.x), jnp.asarray(data_lib.targets(MODEL.loss, ds),
                                        jnp.float32)
  data = train_data.Data(x, y, x[:0], y[:0])
  rows, paired = [], []
  for h in hidden:
    solved = {}
    for mode in MODES:
      mode_rows, solved[mode] = train_mode(h, mode, data, rates, config)
      rows += mode_rows
    paired += pairing(h, rates, solved)
  results = {
      "experiment": "local_minima", "settings": rows, "paired": paired,
      "plateaus": descent_modes.XOR_PLATEAUS, "epochs": config.fit.epochs,
      "init": config.net.init, "seeds": FLAGS.seeds,
      "stuck_tolerance": FLAGS.stuck_tolerance, "seconds": timer.seconds,
      "provenance": outputs.provenance()}
  figures.local_minima(workdir, results)
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  for r in rows:
    print(f"2-{r['hidden']}-1 {r['mode']:6s} eta {r['rate']:<6g}: solved "
          f"{r['solved']:.3f}, stuck {r['stuck']:.3f}, moving "
          f"{r['moving']:.3f}; stuck at {r['stuck_at']}")
  for p in paired:
    print(f"2-{p['hidden']}-1 eta_b {p['batch_rate']:g}: both {p['both']}, "
          f"batch only {p['batch_only']}, online only {p['online_only']}, "
          f"neither {p['neither']}")
  print(f"results in {workdir} ({timer.seconds:.0f} s)")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
