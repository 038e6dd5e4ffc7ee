"""The scikit-learn estimators: sklearn's own checks, pipelines, search, and
the library behind them."""

import jax
from jax.experimental.compilation_cache import compilation_cache
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nn_jax import sklearn as nn_sklearn


@pytest.fixture(scope="module", autouse=True)
def _persistent_compilation_cache(tmp_path_factory):
  """Lets fits of the same shapes load their compiled program.

  ``train.fit`` jits its loop afresh on every call; sklearn's checks fit the
  same small data sets many times. A cache in a temporary folder, for this
  module only, cuts the compiles to one per shape.
  """
  names = ("jax_compilation_cache_dir",
           "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  saved = {n: getattr(jax.config, n) for n in names}
  if saved["jax_compilation_cache_dir"]:  # the user's own cache: keep it
    yield
    return
  jax.config.update("jax_compilation_cache_dir",
                    str(tmp_path_factory.mktemp("jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  compilation_cache.reset_cache()
  yield
  for n, v in saved.items():
    jax.config.update(n, v)
  compilation_cache.reset_cache()


@parametrize_with_checks([nn_sklearn.PerceptronClassifier(),
                          nn_sklearn.MLPClassifier(),
                          nn_sklearn.MLPRegressor()])
def test_sklearn_compatible(estimator, check):
  check(estimator)
