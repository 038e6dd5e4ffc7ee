"""Shared test settings."""

import os
import subprocess
import sys

from hypothesis import settings

# Small, deterministic hypothesis runs: the suite must stay fast on 2 cores.
settings.register_profile("ci", max_examples=25, deadline=None,
                          derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Tests check results, not speed: XLA compiles with its quick settings (the
# legacy CPU emitters, no LLVM optimization), about a third of the compile
# time. Every run a test compares, in this process or a subprocess started
# from it, is compiled the same way. Unset with NN_JAX_TEST_XLA_FLAGS=0.
if os.environ.get("NN_JAX_TEST_XLA_FLAGS", "1") != "0":
  os.environ["XLA_FLAGS"] = " ".join([
      os.environ.get("XLA_FLAGS", ""), "--xla_cpu_use_fusion_emitters=false",
      "--xla_backend_optimization_level=0"]).strip()

# Tests keep no compiled programs in the user's cache folder (the default of
# the scripts, which tests also start as subprocesses); the tests of the
# cache give it a temporary folder.
os.environ["NN_JAX_COMPILATION_CACHE"] = "off"

import jax  # pylint: disable=g-import-not-at-top

# Every key is used once: the suite fails on any reuse of a PRNG key.
jax.config.update("jax_debug_key_reuse", True)

import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture
def debug_nans():
  """Any NaN produced inside JAX raises FloatingPointError."""
  with jax.debug_nans(True):
    yield


@pytest.fixture
def redraw():
  """``redraw(workdir, names)``: removes the figures ``names`` of the run in
  ``workdir`` and draws them again from its results.json alone, with
  experiments.plot's code; returns their bytes ``(before, after)``."""
  def redraw_figures(workdir, names):
    import json  # pylint: disable=g-import-not-at-top
    from experiments import figures  # pylint: disable=g-import-not-at-top
    before = {n: (workdir / n).read_bytes() for n in names}
    for n in names:
      (workdir / n).unlink()
    results = json.loads((workdir / "results.json").read_text())
    figures.DRAW[results["experiment"]](str(workdir), results)
    return before, {n: (workdir / n).read_bytes() for n in names}
  return redraw_figures


@pytest.fixture
def python():
  """``python(code, timeout=120, **kwargs)``: runs ``code`` in a fresh
  interpreter in the checkout's root (``kwargs`` as ``subprocess.run``'s,
  e.g. ``env``, ``check``); returns its ``CompletedProcess``, the output
  as text."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  def run(code, timeout=120, **kwargs):
    return subprocess.run([sys.executable, "-c", code], cwd=root,
                          capture_output=True, text=True, timeout=timeout,
                          **kwargs)
  return run


@pytest.fixture
def closed_figures(monkeypatch):
  """The figures that nn_jax.plots closes (after writing them), in order."""
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  closed = []
  close = plots.plt.close

  def keep(fig):
    closed.append(fig)
    close(fig)
  monkeypatch.setattr(plots.plt, "close", keep)
  return closed
