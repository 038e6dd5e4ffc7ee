"""End-to-end tests of experiments/boolean_functions.py.

The script runs in a subprocess, as a user runs it: importing it here would
define its absl flags in the test process, where other experiment modules
define flags of the same names.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import pytest

from nn_jax import separability

pytestmark = pytest.mark.slow   # every test runs the script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNOWN_COUNTS = {1: 4, 2: 14, 3: 104, 4: 1882}
# The truth of each named two-input function, to check the names in the plot.
NAMED = {
    "FALSE": lambda a, b: 0, "NOR": lambda a, b: not (a or b),
    "NOT x1 AND x2": lambda a, b: (not a) and b, "NOT x1": lambda a, b: not a,
    "x1 AND NOT x2": lambda a, b: a and not b, "NOT x2": lambda a, b: not b,
    "XOR": lambda a, b: a != b, "NAND": lambda a, b: not (a and b),
    "AND": lambda a, b: a and b, "XNOR": lambda a, b: a == b,
    "x2": lambda a, b: b, "x1 -> x2": lambda a, b: (not a) or b,
    "x1": lambda a, b: a, "x2 -> x1": lambda a, b: a or not b,
    "OR": lambda a, b: a or b, "TRUE": lambda a, b: 1,
}


def run_script(*args):
  return subprocess.run(
      [sys.executable, "-m", "experiments.boolean_functions", *args],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


class BooleanFunctionsTest(parameterized.TestCase):

  def tmpdir(self) -> str:
    return self.enterContext(tempfile.TemporaryDirectory())

  @parameterized.parameters(2, 3, 4)
  def test_counts_and_agreement(self, n):
    workdir = self.tmpdir()
    proc = run_script(f"--n={n}", f"--workdir={workdir}", "--lp_sample=41")
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertIn("agree=True", proc.stdout)
    with open(os.path.join(workdir, "results.json")) as f:
      results = json.load(f)
    self.assertEqual(results["n"], n)
    self.assertEqual(results["num_functions"], 2 ** 2 ** n)
    self.assertEqual(results["perceptron_learned"], KNOWN_COUNTS[n])
    self.assertEqual(results["lp_separable"], KNOWN_COUNTS[n])
    self.assertTrue(results["agree"])
    self.assertEqual(results["linprog_checked"], min(41, 2 ** 2 ** n))
    if n == 4:  # The LP sample: half separable, half (and one) not.
      self.assertEqual(results["linprog_separable"], 20)
    self.assertGreater(results["seconds"], 0)
    self.assertLess(results["most_epochs_to_converge"], results["max_epochs"])
    if n <= 3:
      per = results["per_function"]
      self.assertEqual(per["learned"], per["separable"])
      self.assertLen(per["w"], 2 ** 2 ** n)
    if n == 2:
      self.assertTrue(os.path.getsize(
          os.path.join(workdir, "boolean_functions_n2.png")) > 1000)
      truth = separability.boolean_functions(2)
      for k, name in enumerate(results["names"]):
        expected = [int(bool(NAMED[name](a, b))) for a, b in
                    separability.boolean_cube(2)]
        np.testing.assert_array_equal(truth[k], expected, err_msg=name)
      learned = dict(zip(results["names"], per["learned"]))
      self.assertTrue(learned["AND"] and learned["OR"] and learned["NAND"])
      self.assertFalse(learned["XOR"] or learned["XNOR"])

  def test_too_few_epochs_disagree(self):
    workdir = self.tmpdir()
    proc = run_script("--n=3", f"--workdir={workdir}", "--epochs=1")
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertIn("agree=False", proc.stdout)

  @parameterized.parameters(("--n=0", "--n=0"), ("--n=5", "--n=5"),
                            ("--epochs=0", "epochs must be >= 1; got 0"))
  def test_bad_flags(self, flag, message):
    proc = run_script(flag, f"--workdir={self.tmpdir()}")
    self.assertEqual(proc.returncode, 2)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    self.assertLen(lines, 1, proc.stderr)
    self.assertIn(message, lines[0])


if __name__ == "__main__":
  absltest.main()
