"""Shared test settings."""

import os

from hypothesis import settings

# Small, deterministic hypothesis runs: the suite must stay fast on 2 cores.
settings.register_profile("ci", max_examples=25, deadline=None,
                          derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import jax  # pylint: disable=g-import-not-at-top

# Every key is used once: the suite fails on any reuse of a PRNG key.
jax.config.update("jax_debug_key_reuse", True)

import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture
def debug_nans():
  """Any NaN produced inside JAX raises FloatingPointError."""
  with jax.debug_nans(True):
    yield
