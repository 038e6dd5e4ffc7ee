"""Which Boolean functions can a perceptron learn? Every one of n inputs, tried.

  python -m experiments.boolean_functions --n=4

Trains a perceptron (zero weights, eta = 1, fixed order) on each of the
2^(2^n) Boolean functions of n inputs in one vmapped, jitted call, and decides
each function's linear separability exactly with
``separability.separable_many`` (integer vertex enumeration of the LP). The
scipy LP oracle ``separability.linearly_separable`` re-checks a sample of
``--lp_sample`` functions (half separable, half not; all of them where
there are fewer: n <= 2, or n = 3 with ``--lp_sample=256``); 65536 LPs for
n = 4 would take over a minute. ``agree`` is true iff on every function the
perceptron converged exactly when the exact oracle says separable, every
converged weight vector classifies its truth table correctly, and every LP
verdict matches. ``--epochs`` bounds each perceptron's epochs, ``--seed``
draws the LP sample. Writes ``results.json`` (and for n = 2
``boolean_functions_n2.png``) to ``--workdir``.
"""

import os

from absl import flags
import jax
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import perceptron
from nn_jax import plots
from nn_jax import separability

flags.DEFINE_integer("n", 2, "Number of Boolean inputs, 1 to 4.")
cli.define_flags(config_lib.FitOptions, config_lib.Config,
                 only=("epochs", "seed"), defaults=dict(epochs=100))
flags.DEFINE_integer("lp_sample", 200,
                     "Functions re-checked with the scipy LP (all if fewer).")
flags.DEFINE_string("workdir", "runs/boolean_functions", "Output directory.")
FLAGS = flags.FLAGS

# Function k of two inputs is true on input j = 2 x1 + x2 iff bit j of k is 1.
NAMES_N2 = ("FALSE", "NOR", "NOT x1 AND x2", "NOT x1", "x1 AND NOT x2",
            "NOT x2", "XOR", "NAND", "AND", "XNOR", "x2", "x1 -> x2", "x1",
            "x2 -> x1", "OR", "TRUE")


def train_all(x: np.ndarray, labels: np.ndarray,
              max_epochs: int) -> perceptron.PerceptronResult:
  """Trains one perceptron per row of ``labels`` in one jitted vmapped call."""
  x = np.asarray(x, np.float32)
  fit = jax.jit(jax.vmap(
      lambda y: perceptron.train(x, y, max_epochs=max_epochs)))
  return jax.device_get(fit(labels))


def lp_sample_indices(separable: np.ndarray, size: int,
                      seed: int) -> np.ndarray:
  """``size`` functions (all if it covers them): half separable, half not
  (the odd one not separable), the other group filling in where one has
  too few."""
  if size >= len(separable):
    return np.arange(len(separable))
  # One random order of all functions; take the first of each group in it.
  order = np.argsort(np.asarray(
      jax.random.uniform(jax.random.PRNGKey(seed), (len(separable),))))
  yes, no = order[separable[order]], order[~separable[order]]
  n_yes = min(len(yes), size // 2)
  n_no = min(len(no), size - n_yes)
  n_yes = size - n_no
  return np.sort(np.concatenate([yes[:n_yes], no[:n_no]]))


def plot_n2(result: perceptron.PerceptronResult, labels: np.ndarray,
            path: str) -> None:
  """Draws the 16 truth tables of two inputs with the learned decision
  regions."""
  x = separability.boolean_cube(2)
  g1, g2 = np.meshgrid(np.linspace(-0.5, 1.5, 81), np.linspace(-0.5, 1.5, 81))
  fig, axes = plt.subplots(4, 4, figsize=(10, 10.5))
  for k, ax in enumerate(axes.flat):
    w = result.w[k]
    z = w[0] + w[1] * g1 + w[2] * g2
    ax.contourf(g1, g2, (z > 0).astype(float), levels=[-0.5, 0.5, 1.5],
                colors=["#f4d6d6", "#d6e4f4"])
    if np.any(w[1:] != 0):
      ax.contour(g1, g2, z, levels=[0.0],
                 colors="k" if result.converged[k] else "grey",
                 linestyles="-" if result.converged[k] else "--")
    for (x1, x2), label in zip(x, labels[k]):
      ax.scatter(x1, x2, s=120, edgecolors="k",
                 c="#1f5fbf" if label else "white", zorder=3)
    verdict = "learned" if result.converged[k] else "not learned"
    ax.set_title(f"{k}: {NAMES_N2[k]}\n{verdict}", fontsize=9)
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xticks=[0, 1], yticks=[0, 1],
           aspect="equal")
  for ax in axes[-1]:
    ax.set_xlabel("$x_1$")
  for ax in axes[:, 0]:
    ax.set_ylabel("$x_2$")
  fig.suptitle("Perceptron on the 16 Boolean functions of x1, x2\n"
               "filled: label 1; blue: output 1; a point on a line has "
               "z = 0, output 0;\ndashed: the last epoch's boundary of a "
               "function not learned")
  plots.save(fig, path)


def run_experiment(n: int, workdir: str, max_epochs: int = 100,
                   lp_sample: int = 200, seed: int = 0) -> dict:
  """Runs the experiment, writes ``results.json`` and returns its contents."""
  timer = outputs.Timer()
  workdir = outputs.make_workdir(workdir)
  x, labels = separability.boolean_cube(n), separability.boolean_functions(n)
  cli.log("training %d perceptrons on %d inputs", len(labels), n)
  result = train_all(x, labels, max_epochs)
  learned = np.asarray(result.converged)
  # The threshold unit on every input, for every function (o = 1 iff z > 0).
  z = result.w[:, :1] + result.w[:, 1:] @ x.T.astype(np.float32)
  correct = np.all((z > 0) == labels.astype(bool), axis=1)
  cli.log("exact oracle (vertex enumeration) on %d functions", len(labels))
  exact = separability.separable_many(x, labels).separable
  sample = lp_sample_indices(exact, lp_sample, seed)
  cli.log("scipy LP oracle on %d functions", len(sample))
  lp = np.array([separability.linearly_separable(x, labels[k]).separable
                 for k in sample], bool)
  agree = bool(np.array_equal(learned, exact) and np.all(correct[learned])
               and np.array_equal(lp, exact[sample]))
  results = {
      "experiment": "boolean_functions", "n": n,
      "num_functions": len(labels),
      "max_epochs": max_epochs,
      "perceptron_learned": int(learned.sum()),
      "lp_separable": int(exact.sum()),
      "lp_oracle": "exact integer vertex enumeration (separable_many)",
      "linprog_checked": len(sample),
      "linprog_separable": int(lp.sum()),
      "agree": agree,
      "most_epochs_to_converge": int(result.epochs[learned].max()),
      "most_mistakes_to_converge": int(result.num_mistakes[learned].max()),
  }
  if n <= 3:
    results["per_function"] = {
        "learned": learned, "separable": exact, "epochs": result.epochs,
        "w": result.w}
  if n == 2:
    results["names"] = list(NAMES_N2)
    plot_n2(result, labels,
            outputs.figure_path(workdir, "boolean_functions_n2"))
  results["seconds"] = timer.seconds
  outputs.write_json(os.path.join(workdir, "results.json"), results)
  return results


def main(argv):
  del argv
  cli.check(1 <= FLAGS.n <= 4, "n", "must be 1, 2, 3 or 4")
  cli.check(FLAGS.lp_sample >= 0, "lp_sample", "must be >= 0")
  config = cli.config_from_flags()
  r = run_experiment(FLAGS.n, FLAGS.workdir, config.fit.epochs,
                     FLAGS.lp_sample, config.seed)
  print(f"n={r['n']}: perceptron learned {r['perceptron_learned']} of "
        f"{r['num_functions']}, separable {r['lp_separable']} (linprog "
        f"checked {r['linprog_checked']}), agree={r['agree']}, "
        f"{r['seconds']:.2f} s")
  if not r["agree"]:
    cli.log("verdicts differ; if separable functions were not learned, "
            "raise --epochs")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
