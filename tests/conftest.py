"""Shared test settings."""

import os

from hypothesis import settings

# Small, deterministic hypothesis runs: the suite must stay fast on 2 cores.
settings.register_profile("ci", max_examples=25, deadline=None,
                          derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
