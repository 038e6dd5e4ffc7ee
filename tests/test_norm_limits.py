"""experiments.norm_limits and the weight-norm summaries it reports
(nn_jax.regularization.row_norms, weight_norms).

The script runs in a subprocess, as a user runs it (slow tier)."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import regularization as reg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_weight_norms_of_two_layers():
  params = [{"w": jnp.array([[3.0, 4.0], [0.0, 1.0]]), "b": jnp.ones(2)},
            {"w": jnp.array([[2.0, 0.0]]), "b": jnp.full(1, 100.0)}]
  np.testing.assert_allclose(reg.row_norms(params)[0], [5.0, 1.0])
  norms = reg.weight_norms(params)
  np.testing.assert_allclose(norms["largest_row"], [5.0, 2.0])
  np.testing.assert_allclose(norms["total"], np.sqrt(9 + 16 + 1 + 4))
  assert "at_bound" not in norms
  # The L2 penalty is (l2 / 2) total^2: biases are not counted.
  np.testing.assert_allclose(reg.l2_penalty(params, 0.1),
                             0.05 * norms["total"] ** 2, rtol=1e-6)


def test_max_norm_projection_puts_the_long_rows_on_the_bound():
  params = [{"w": jnp.array([[3.0, 4.0], [0.0, 1.0], [0.6, 0.8]]),
             "b": jnp.zeros(3)}]
  norms = reg.weight_norms(reg.max_norm(params, 2.0), bound=2.0)
  np.testing.assert_allclose(norms["largest_row"], [2.0], rtol=1e-6)
  np.testing.assert_allclose(norms["at_bound"], [1 / 3])


@pytest.mark.slow
def test_script_binding_limits_bound_and_shrink_the_weights(tmp_path,
                                                          redraw):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.norm_limits", "--seeds=2",
       "--hidden=32", "--epochs=4", "--train_size=100", "--l2s=1e-4,0.3",
       "--radii=0.3,50", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert (tmp_path / "norm_limits.png").stat().st_size > 20_000
  before, after = redraw(tmp_path, ["norm_limits.png"])   # experiments.plot
  assert after == before
  assert "| max_norm=0.3 |" in (tmp_path / "results.md").read_text()
  rows = {(r["technique"], r["value"]): r for r in results["rows"]}
  base = rows[("baseline", 0.0)]
  assert base["sizes"] == [64, 32, 10]
  assert len(base["test_accuracy"]) == 2
  # A binding radius bounds every layer's largest row norm, with units on
  # the bound; one far above the rows' norms changes nothing.
  bound = rows[("max_norm", 0.3)]
  assert np.all(np.array(bound["largest_row"]) <= 0.3 * (1 + 1e-5))
  assert np.all(np.array(base["largest_row"]) > 0.3)
  assert np.all(np.array(bound["at_bound"]) > 0)
  loose = rows[("max_norm", 50.0)]
  np.testing.assert_array_equal(loose["test_accuracy"], base["test_accuracy"])
  np.testing.assert_allclose(loose["total"], base["total"], rtol=1e-6)
  # A stronger L2 penalty: a smaller total weight norm, seed by seed.
  assert np.all(np.array(rows[("l2", 0.3)]["total"])
                < np.array(rows[("l2", 1e-4)]["total"]))
  assert np.all(np.array(rows[("l2", 1e-4)]["total"])
                < np.array(base["total"]))
