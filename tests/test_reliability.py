"""Reliability: stable numerics, clear errors on bad input, divergence,
reproducible runs, parameter files that are checked and never unpickled."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nn_jax import activations
from nn_jax import data
from nn_jax import encoding
from nn_jax import experiment
from nn_jax.config import Config
from nn_jax import losses
from nn_jax import mlp
from nn_jax import params_io
from nn_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG = 1e4


# ------------------------------------------------------------ stable numerics
@pytest.mark.parametrize("name", ["softmax_cross_entropy",
                                  "sigmoid_cross_entropy", "softmax_squared",
                                  "sigmoid_squared"])
def test_losses_finite_for_huge_logits_and_match_float64(name):
  loss = losses.get(name)
  z = np.array([[BIG, -BIG, 0.0], [-BIG, BIG, 3.0], [2.0, -1.0, 0.5]],
               np.float32)
  y = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0]], np.float32)
  value32 = loss.value(jnp.asarray(z), jnp.asarray(y))
  grad32 = jax.grad(loss.value)(jnp.asarray(z), jnp.asarray(y))
  assert np.isfinite(float(value32))
  assert np.all(np.isfinite(np.asarray(grad32)))
  np.testing.assert_array_equal(np.isfinite(loss.delta(jnp.asarray(z),
                                                       jnp.asarray(y))), True)
  with jax.enable_x64(True):
    value64 = loss.value(jnp.asarray(z, jnp.float64),
                         jnp.asarray(y, jnp.float64))
    grad64 = jax.grad(loss.value)(jnp.asarray(z, jnp.float64),
                                  jnp.asarray(y, jnp.float64))
  assert float(value32) == pytest.approx(float(value64), rel=1e-6)
  np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", losses.NAMES)
def test_output_layers_finite_for_huge_logits(name):
  output = losses.get(name).output
  z = jnp.array([[BIG, -BIG, 0.0]], jnp.float32)
  assert np.all(np.isfinite(output(z)))
  g = jax.grad(lambda t: jnp.sum(output(t) * jnp.arange(3.0)))(z)
  assert np.all(np.isfinite(g))


def test_softmax_loss_invariant_to_a_shift_of_all_logits():
  # Multiples of 1/16 stay exact after adding 1e6 in float32.
  z = jnp.array([[1.5, -2.25, 0.0625], [3.0, 0.5, -1.0]], jnp.float32)
  y = jnp.array([[0, 1, 0], [1, 0, 0]], jnp.float32)
  loss = losses.softmax_cross_entropy
  assert float(loss.value(z + 1e6, y)) == pytest.approx(float(loss.value(z, y)),
                                                        rel=1e-6)
  np.testing.assert_allclose(jax.grad(loss.value)(z + 1e6, y),
                             jax.grad(loss.value)(z, y), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(loss.delta(z + 1e6, y), loss.delta(z, y),
                             rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", activations.DIFFERENTIABLE)
def test_activation_gradients_finite_at_extremes(name):
  act = activations.get(name)
  z = jnp.array([0.0, BIG, -BIG], jnp.float32)
  assert np.all(np.isfinite(act.fn(z, act.alpha)))
  assert np.all(np.isfinite(act.grad(z, act.alpha)))
  auto = jax.vmap(jax.grad(lambda t: act.fn(t, act.alpha)))(z)
  assert np.all(np.isfinite(auto))


# ---------------------------------------------------------------- bad input
MODEL = mlp.make_model("tanh", "softmax_cross_entropy")
PARAMS = mlp.init(jax.random.PRNGKey(0), [3, 4, 2], MODEL)


def _data(n=8):
  x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
  y = np.eye(2, dtype=np.float32)[np.arange(n) % 2]
  return train.Data(x, y, x[:0], y[:0])


def _fit(d, **options):
  return train.fit(PARAMS, MODEL, optax.sgd(0.1), d,
                   train.FitOptions(epochs=1, **{"batch_size": 0, **options}),
                   key=jax.random.PRNGKey(1))


@pytest.mark.parametrize("bad,match", [
    (lambda d: d._replace(x=d.x.at[2, 1].set(np.nan) if hasattr(d.x, "at")
                          else np.where(np.arange(3) == 1, np.nan, d.x)),
     "x contains NaN or Inf"),
    (lambda d: d._replace(y=d.y + np.inf), "y contains NaN or Inf"),
    (lambda d: d._replace(x=d.x[:, :2]), "x has 2 features but the network"),
    (lambda d: d._replace(y=np.ones((8, 3), np.float32)),
     "y has 3 target columns"),
    (lambda d: d._replace(x=d.x[:0], y=d.y[:0]), "training set is empty"),
    (lambda d: d._replace(x=d.x[:5]), "x has 5 rows but y has 8"),
    (lambda d: d._replace(x=d.x[:, 0]), "2-D array"),
    (lambda d: d._replace(y=d.y * 3), r"targets in \[0, 1\]"),
    (lambda d: d._replace(y=np.ones((8, 2), np.float32)),
     "y rows must sum to 1 for softmax_cross_entropy .* row 0 sums to 2"),
    (lambda d: d._replace(y=np.concatenate([d.y[:7], np.zeros((1, 2),
                                                             np.float32)])),
     "row 7 sums to 0"),
])
def test_fit_rejects_bad_data(bad, match):
  with pytest.raises(ValueError, match=match):
    _fit(bad(_data()))


def test_only_cross_entropy_needs_targets_summing_to_1():
  # Squared error's softmax backward is exact for any targets in [0, 1].
  d = _data()._replace(y=np.ones((8, 2), np.float32))
  model = mlp.make_model("tanh", "softmax_squared")
  result = train.fit(
      PARAMS, model, optax.sgd(0.1), d,
      train.FitOptions(epochs=1, batch_size=0), key=jax.random.PRNGKey(1))
  assert result.epochs_run == 1


def test_batch_larger_than_data():
  with pytest.raises(ValueError, match="batch_size must be 0"):
    _fit(_data(), batch_size=9)


def test_epochs_per_call_not_negative():
  # 0 is the declared default (about 20 calls), for fit as for the flag.
  with pytest.raises(ValueError, match="epochs_per_call must be >= 0; got -1"):
    _fit(_data(), epochs_per_call=-1)
  assert _fit(_data(), epochs_per_call=0).epochs_run == 1


def test_labels_outside_the_classes():
  ds = data.Dataset("toy", np.zeros((3, 2), np.float32),
                    np.array([0, 1, 5]), data.CLASSIFICATION, 2)
  with pytest.raises(ValueError, match=r"integers 0..1; found values in \[0, 5\]"):
    data.targets(losses.softmax_cross_entropy, ds)


def test_encoding_fitted_on_other_columns():
  scaler = encoding.Standardize.fit(np.ones((4, 3)))
  with pytest.raises(ValueError, match="fitted on 3 columns but is applied to 2"):
    scaler.apply(np.ones((4, 2)))
  with pytest.raises(ValueError, match="NaN or Inf"):
    scaler.apply(np.full((1, 3), np.nan))


def test_parameters_file_from_another_architecture(tmp_path):
  path = str(tmp_path / "params.npz")
  params_io.save(path, params=PARAMS)
  other = mlp.init(jax.random.PRNGKey(0), [3, 5, 2], MODEL)
  with pytest.raises(ValueError, match=r"params/0/b has shape \(4,\), the "
                     r"network expects \(5,\)"):
    params_io.load(path, params=other)
  deeper = mlp.init(jax.random.PRNGKey(0), [3, 4, 4, 2], MODEL)
  with pytest.raises(ValueError, match="no array params/2/b: it was saved"):
    params_io.load(path, params=deeper)
  loaded = params_io.load(path, params=PARAMS)["params"]
  jax.tree.map(np.testing.assert_array_equal, loaded, PARAMS)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_parameters_file_round_trips_low_precision(tmp_path, dtype):
  # NumPy's format has no bfloat16: it is stored as float32, exactly.
  path = str(tmp_path / "params.npz")
  params = jax.tree.map(lambda a: a.astype(dtype), PARAMS)
  params_io.save(path, params=params)
  loaded = params_io.load(path, params=params)["params"]
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(a, np.float32),
                                  np.asarray(b, np.float32))


def test_truncated_and_corrupted_parameter_files(tmp_path):
  path = str(tmp_path / "params.npz")
  params_io.save(path, params=PARAMS)
  blob = open(path, "rb").read()
  truncated = tmp_path / "truncated.npz"
  truncated.write_bytes(blob[:len(blob) // 2])
  with pytest.raises(ValueError, match="cannot read parameters file"):
    params_io.load(str(truncated), params=PARAMS)
  flipped = bytearray(blob)
  flipped[len(blob) // 3] ^= 0xFF
  (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
  with pytest.raises(ValueError, match="cannot read parameters file"):
    params_io.load(str(tmp_path / "flipped.npz"), params=PARAMS)
  # A flipped byte anywhere: the file loads unchanged (bytes that hold no
  # data) or is refused with a ValueError, never another exception.
  for at in range(0, len(blob), max(1, len(blob) // 40)):
    flipped = bytearray(blob)
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    try:
      loaded = params_io.load(str(tmp_path / "flipped.npz"), params=PARAMS)
    except ValueError:
      continue
    jax.tree.map(np.testing.assert_array_equal, loaded["params"], PARAMS)
  np.save(tmp_path / "one.npy", np.zeros(3))
  with pytest.raises(ValueError, match="holds one array, not a parameters "
                     "file"):
    params_io.load(str(tmp_path / "one.npy"), params=PARAMS)


class _Payload:
  """Unpickling this writes a file: the test checks that never happens."""

  def __init__(self, target):
    self.target = target

  def __reduce__(self):
    return (open, (self.target, "w"))


@pytest.mark.slow
def test_pickle_payload_is_never_executed(tmp_path):
  target = tmp_path / "owned.txt"
  path = tmp_path / "evil.npz"
  evil = np.empty((1,), object)
  evil[0] = _Payload(str(target))
  # Every array of the network, and an object array (a pickle) as the
  # first weights, so that the loader gets to it.
  arrays = {f"params/{l}/{k}": np.asarray(v) for l, layer in enumerate(PARAMS)
            for k, v in layer.items()}
  np.savez(path, **{**arrays, "params/0/w": evil})
  with zipfile.ZipFile(path) as z:
    assert any(n.endswith(".npy") for n in z.namelist())
  with pytest.raises(ValueError, match="cannot read parameters file"):
    params_io.load(str(path), params=PARAMS)
  assert not target.exists()


# ------------------------------------------------- divergence, reproducibility
def _run(*args, cwd=ROOT):
  return subprocess.run([sys.executable, "-m", "experiments.train", *args],
                        cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_divergence_is_caught(tmp_path):
  proc = _run("--learning_rate=1e6", "--epochs=5", f"--workdir={tmp_path}")
  assert proc.returncode == 3
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "diverged at epoch 1" in lines[0]
  assert "learning_rate" in lines[0]
  with np.load(tmp_path / "params.npz", allow_pickle=False) as f:
    assert all(np.all(np.isfinite(f[k])) for k in f.files)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["diverged"] is True and results["stop_reason"] == "diverged"


def _fingerprint(config):
  out = experiment.train_and_evaluate(config)
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(out.params):
    h.update(np.asarray(leaf).tobytes())
  for name in sorted(out.history):
    h.update(np.asarray(out.history[name]).tobytes())
  return h.hexdigest()


@pytest.mark.slow
def test_same_seed_same_bits_other_seed_other_bits():
  config = Config.make(dataset="iris", hidden=(8,), epochs=5, batch_size=8,
                       dropout=0.2)
  first, second = _fingerprint(config), _fingerprint(config)
  assert first == second
  assert _fingerprint(config.replace(seed=1)) != first


@pytest.mark.slow
def test_results_record_versions(tmp_path):
  proc = _run("--dataset=iris", "--hidden=4", "--epochs=1",
              f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  prov = json.loads((tmp_path / "results.json").read_text())["provenance"]
  for key in ("jax", "jaxlib", "optax", "python", "xla_flags", "git_commit"):
    assert key in prov
  assert prov["jax"] == jax.__version__


def _saved(tmp_path, **replace):
  """PARAMS saved with some arrays replaced."""
  arrays = {f"params/{l}/{k}": np.asarray(v) for l, layer in enumerate(PARAMS)
            for k, v in layer.items()}
  path = tmp_path / "p.npz"
  np.savez(path, **{**arrays, **replace})
  return str(path)


@pytest.mark.parametrize("value,match", [
    (lambda w: w.astype(np.complex64), "params/0/w holds complex64 values"),
    (lambda w: np.full(w.shape, "a"), "params/0/w holds <U1 values"),
    (lambda w: np.zeros(w.shape, [("a", "f4")]), "params/0/w holds"),
    (lambda w: np.where(np.eye(*w.shape) > 0, np.nan, w), "params/0/w holds "
     "NaN or Inf"),
])
def test_parameters_that_are_not_real_finite_numbers_are_refused(
    tmp_path, value, match):
  # Complex weights lost their imaginary part, NaN weights were drawn.
  w = np.asarray(PARAMS[0]["w"])
  path = _saved(tmp_path, **{"params/0/w": value(w)})
  with pytest.raises(ValueError, match=f"{path}: {match}"):
    params_io.load(path, params=PARAMS)


def test_a_huge_member_is_refused_before_it_is_decompressed(tmp_path):
  # A 3 GB member of zeros compresses to a few MB; reading it took 23 s and
  # 3.3 GB. Extra members are never read; a padded expected one is refused
  # by its stored size.
  w = np.asarray(PARAMS[0]["w"])
  big = np.zeros((1000, 1000))
  path = _saved(tmp_path, **{"params/0/w": big})
  with pytest.raises(ValueError, match=r"params/0/w takes \d+ bytes, more "
                     r"than an array of shape"):
    params_io.load(path, params=PARAMS)
  path = _saved(tmp_path, **{"params/0/w": w, "other/huge": big})
  assert params_io.load(path, params=PARAMS)["params"][0]["w"].shape == w.shape
