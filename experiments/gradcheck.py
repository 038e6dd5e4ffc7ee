r"""Hand-written backprop vs. jax.grad for every combination, in float64.

  python -m experiments.gradcheck [--tolerance=1e-10] [--workdir=runs/gradcheck]

Every differentiable activation x every output/loss pair x 0-3 hidden layers
x batch sizes 1 and 7 ("mlp" rows), and the same with 1-3 hidden layers for
each regularizer that changes gradients: "l2" (penalty 0.1 on weights),
"dropout" (p = 0.5, the same masks for both methods), "batchnorm" (training
mode, batch 7 only: one example has no batch variance) and "prelu_l2" (PReLU
with its slopes penalized too). Prints the table of the worst relative error per
(activation, loss), writes every case to <workdir>/results.json, and exits
with code 1 if any case is above the tolerance.
"""

import os
import sys

from absl import flags
import jax
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import activations
from nn_jax import config as config_lib
from nn_jax import gradcheck
from nn_jax import losses
from nn_jax import mlp

DEPTHS = (0, 1, 2, 3)
BATCH_SIZES = (1, 7)
HIDDEN = (5, 4, 6)   # hidden sizes used, first `depth` of them
N_IN, N_OUT = 4, 3


# Case name -> (model keyword arguments, depths, batch sizes).
CASES = {
    "mlp": ({}, DEPTHS, BATCH_SIZES),
    "l2": ({"l2": 0.1}, DEPTHS[1:], BATCH_SIZES),
    "dropout": ({"dropout": 0.5}, DEPTHS[1:], BATCH_SIZES),
    "batchnorm": ({"batchnorm": True}, DEPTHS[1:], (7,)),
    "prelu_l2": ({"l2": 0.1, "l2_alpha": True}, DEPTHS[1:], BATCH_SIZES),
}


flags.DEFINE_float("tolerance", 1e-10, "Largest relative error allowed.")
flags.DEFINE_list("activations", list(activations.DIFFERENTIABLE),
                  "Activations to check (comma-separated).")
flags.DEFINE_list("losses", list(losses.NAMES),
                  "Output/loss pairs to check (comma-separated).")
flags.DEFINE_list("cases", list(CASES), "Rows to check: "
                  f"{', '.join(CASES)}.")
cli.define_flags(config_lib.Config, only=("seed",))
flags.DEFINE_string("workdir", "runs/gradcheck", "Where results are written.")

FLAGS = flags.FLAGS


def cases(acts, loss_names, case_names=tuple(CASES)):
  """Yields ``(case, activation, loss, depth, batch)`` for every check."""
  for case in case_names:
    _, depths, batches = CASES[case]
    for act in (["prelu"] if case == "prelu_l2" else acts):
      for loss in loss_names:
        for depth in depths:
          for batch in batches:
            yield case, act, loss, depth, batch


def check(case, act, loss, depth, batch, key) -> float:
  """The relative error of one case (float64)."""
  model = mlp.make_model(act, loss, **CASES[case][0])
  sizes = [N_IN, *HIDDEN[:depth], N_OUT]
  k_problem, k_dropout = jax.random.split(key)
  params, x, y = gradcheck.random_problem(k_problem, model, sizes, batch)
  return gradcheck.manual_vs_autodiff(params, x, y, model, k_dropout)


def run_checks(todo: list, seed: int, tolerance: float,
               timer: outputs.Timer) -> list:
  """One row per case of ``todo``: its relative error, in float64, and
  whether that is within ``tolerance``."""
  rows = []
  with jax.enable_x64(True):
    key = jax.random.PRNGKey(seed)
    for i, (case, act, loss, depth, batch) in enumerate(todo):
      error = check(case, act, loss, depth, batch, jax.random.fold_in(key, i))
      rows.append({"case": case, "activation": act, "loss": loss,
                   "depth": depth, "batch": batch, "error": error,
                   "passed": error <= tolerance})
      if i + 1 == len(todo) or todo[i + 1][:2] != (case, act):
        cli.log("%s, %s: checked (%d of %d cases, %.1f s)", case, act,
                i + 1, len(todo), timer.seconds)
  return rows


def worst_errors(rows: list) -> dict:
  """The largest error per (case, activation, loss); NaN counts as inf."""
  worst = {}
  for r in rows:
    k = (r["case"], r["activation"], r["loss"])
    # A NaN error counts as the worst (max() would pass over it).
    err = np.inf if np.isnan(r["error"]) else r["error"]
    worst[k] = max(worst.get(k, 0.0), err)
  return worst


def print_table(worst: dict, tolerance: float) -> None:
  width = max(len(l) for l in losses.NAMES)
  print(f"{'case':10s} {'activation':17s} {'loss':{width}s}  max rel. error "
        f"(over the case's depths and batch sizes)")
  for (case, act, loss), err in worst.items():
    flag = "" if err <= tolerance else "  FAIL"
    print(f"{case:10s} {act:17s} {loss:{width}s}  {err:.2e}{flag}")


def main(argv):
  del argv
  cli.check(FLAGS.tolerance > 0, "tolerance", "must be > 0")
  cli.check(set(FLAGS.activations) <= set(activations.DIFFERENTIABLE),
            "activations", f"allowed: {', '.join(activations.DIFFERENTIABLE)}")
  cli.check(set(FLAGS.losses) <= set(losses.NAMES), "losses",
            f"allowed: {', '.join(losses.NAMES)}")
  cli.check(set(FLAGS.cases) <= set(CASES), "cases",
            f"allowed: {', '.join(CASES)}")
  todo = list(cases(FLAGS.activations, FLAGS.losses, FLAGS.cases))
  cli.check(bool(todo), "cases", "with these --activations and --losses "
            "there is nothing to check")
  config = cli.config_from_flags()
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  rows = run_checks(todo, config.seed, FLAGS.tolerance, timer)
  worst = worst_errors(rows)
  print_table(worst, FLAGS.tolerance)
  failed = [r for r in rows if not r["passed"]]
  overall = max(worst.values())
  print(f"{len(rows)} cases, worst {overall:.2e}, tolerance "
        f"{FLAGS.tolerance:.0e}: {len(rows) - len(failed)} passed, "
        f"{len(failed)} failed ({timer.seconds:.1f} s)")
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "gradcheck",
      "tolerance": FLAGS.tolerance, "dtype": "float64",
      "num_cases": len(rows), "num_failed": len(failed),
      "max_error": overall, "passed": not failed, "cases": rows,
      "seconds": timer.seconds})
  if failed:
    sys.exit(1)


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
