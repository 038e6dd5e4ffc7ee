"""The perceptron on all 65536 Boolean functions of 4 inputs: JAX vs scikit-learn.

  python -m benchmarks.perceptron_vs_sklearn

Times the core of ``experiments.boolean_functions --n=4``: one jitted,
vmapped ``perceptron.train`` over all 2^16 truth tables (zero weights,
eta = 1, fixed order, ``--max_epochs`` epochs at most), once with
compilation included (caches cleared before each try) and once compiled.
Against it, ``sklearn.linear_model.Perceptron`` with matching settings
(``eta0=1, shuffle=False, tol=None, max_iter=--max_epochs``) is fitted in a
Python loop over a random sample of ``--sample`` non-constant functions
(scikit-learn rejects one-class data) and the time is extrapolated linearly
to 65536 functions; scikit-learn's defaults are timed the same way. Prints a
table and writes ``--out`` (JSON). Timings are medians of ``--repeats``.
"""

import os
import platform
import statistics
import sys
import time
import warnings

from absl import flags
import jax
import numpy as np
import sklearn
from sklearn import linear_model

from experiments import cli
from experiments import outputs
from nn_jax import perceptron
from nn_jax import separability

flags.DEFINE_integer("sample", 500, "Functions fitted with scikit-learn.")
flags.DEFINE_integer("max_epochs", 100, "Most epochs per function (both).")
flags.DEFINE_integer("repeats", 3, "Timing repeats; the median is reported.")
flags.DEFINE_integer("seed", 0, "Seed of the scikit-learn sample.")
flags.DEFINE_string("out", "benchmarks/perceptron_vs_sklearn.json",
                    "Where to write the results.")
FLAGS = flags.FLAGS

COMMAND = "python -m benchmarks.perceptron_vs_sklearn"


def time_jax(x, labels, max_epochs, compile_included):
  """Seconds for the vmapped perceptron on every row of ``labels``."""
  if compile_included:
    jax.clear_caches()
  fit = jax.jit(jax.vmap(
      lambda y: perceptron.train(x, y, max_epochs=max_epochs)))
  if not compile_included:
    jax.block_until_ready(fit(labels))
  start = time.perf_counter()
  result = jax.block_until_ready(fit(labels))
  return time.perf_counter() - start, result


def time_sklearn(x, labels, **kwargs):
  """Seconds to fit one scikit-learn Perceptron per row, and perfect fits."""
  perfect = 0
  start = time.perf_counter()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for y in labels:
      model = linear_model.Perceptron(**kwargs).fit(x, y)
      perfect += model.score(x, y) == 1.0
  return time.perf_counter() - start, int(perfect)


def main(argv):
  del argv
  cli.check(FLAGS.sample >= 1, "sample", "must be >= 1")
  cli.check(FLAGS.max_epochs >= 1, "max_epochs", "must be >= 1")
  cli.check(FLAGS.repeats >= 1, "repeats", "must be >= 1")
  out_dir = os.path.dirname(os.path.abspath(FLAGS.out))
  cli.check(os.path.isdir(out_dir), "out", f"{out_dir} is not a folder")
  x = separability.boolean_cube(4).astype(np.float32)
  labels = separability.boolean_functions(4)
  num = len(labels)
  nonconstant = np.flatnonzero(labels.min(1) != labels.max(1))
  cli.check(FLAGS.sample <= len(nonconstant), "sample",
            f"at most the {len(nonconstant)} non-constant functions")
  epochs = FLAGS.max_epochs
  with_compile = [time_jax(x, labels, epochs, True)[0]
                  for _ in range(FLAGS.repeats)]
  compiled = []
  for _ in range(FLAGS.repeats):
    seconds, result = time_jax(x, labels, epochs, False)
    compiled.append(seconds)
  pick = np.asarray(jax.random.choice(jax.random.PRNGKey(FLAGS.seed),
                                      nonconstant, (FLAGS.sample,),
                                      replace=False))
  matched = dict(eta0=1.0, shuffle=False, tol=None, max_iter=epochs)
  rows = {}
  for name, kwargs in (("matched", matched), ("defaults", {})):
    runs = [time_sklearn(x, labels[pick], **kwargs)
            for _ in range(FLAGS.repeats)]
    seconds = statistics.median(r[0] for r in runs)
    rows[name] = {"sample_seconds": seconds,
                  "extrapolated_seconds": seconds * num / FLAGS.sample,
                  "perfect_fits_in_sample": runs[0][1], "params": kwargs}
  jax_compiled = statistics.median(compiled)
  jax_with_compile = statistics.median(with_compile)
  out = {
      "command": " ".join([COMMAND, *sys.argv[1:]]),
      "num_functions": num,
      "max_epochs": epochs,
      "sample": FLAGS.sample,
      "jax_seconds_compiled": jax_compiled,
      "jax_seconds_with_compile": jax_with_compile,
      "jax_learned": int(np.asarray(result.converged).sum()),
      "jax_learned_in_sample": int(np.asarray(result.converged)[pick].sum()),
      "sklearn": rows,
      "ratio_compiled": rows["matched"]["extrapolated_seconds"] / jax_compiled,
      "ratio_with_compile":
          rows["matched"]["extrapolated_seconds"] / jax_with_compile,
      "note": (f"scikit-learn times are for {FLAGS.sample} sampled functions, "
               f"extrapolated linearly to {num}"),
      "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                  "python": platform.python_version(), "jax": jax.__version__,
                  "sklearn": sklearn.__version__,
                  "jax_backend": jax.default_backend(),
                  "load_average_1m_at_end": os.getloadavg()[0]},
  }
  print(f"{'method':<44}{'seconds':>10}")
  print(f"{'JAX vmap, 65536 functions, compiled':<44}{jax_compiled:>10.3f}")
  print(f"{'JAX vmap, 65536 functions, with compile':<44}"
        f"{jax_with_compile:>10.3f}")
  for name, row in rows.items():
    print(f"{'sklearn ' + name + f', {FLAGS.sample} functions':<44}"
          f"{row['sample_seconds']:>10.3f}")
    print(f"{'sklearn ' + name + f', x{num / FLAGS.sample:.1f} (extrapolated)':<44}"
          f"{row['extrapolated_seconds']:>10.3f}")
  print(f"ratio (sklearn matched, extrapolated / JAX): {out['ratio_compiled']:.0f}x "
        f"compiled, {out['ratio_with_compile']:.0f}x with compile")
  os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
  outputs.write_json(FLAGS.out, out)


if __name__ == "__main__":
  cli.run(main, compilation_cache=False)   # timings include compiling
