"""The shipped vowel data (nn_jax.vowels): checksum, counts, the speaker
split, and experiments.decision_regions on it (slow)."""

import collections
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nn_jax import data
from nn_jax import encoding
from nn_jax import experiment
from nn_jax import vowels
from nn_jax.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_csv_has_the_published_checksum():
  with open(vowels.PATH, "rb") as f:
    assert hashlib.sha256(f.read()).hexdigest() == vowels.SHA256
  notes = os.path.join(os.path.dirname(vowels.PATH),
                       "peterson_barney_1952.md")
  with open(notes, encoding="utf-8") as f:   # the provenance notes agree
    assert vowels.SHA256 in f.read()


def test_a_changed_file_is_refused(tmp_path):
  with open(vowels.PATH, "rb") as f:
    raw = f.read()
  changed = tmp_path / "vowels.csv"
  changed.write_bytes(raw.replace(b"m,1,m,iy,i,heed,160,240,",
                                  b"m,1,m,iy,i,heed,160,241,", 1))
  with pytest.raises(ValueError, match="SHA-256"):
    vowels.load(path=str(changed))


def test_counts_and_classes():
  ds, speakers = vowels.load()
  assert ds.x.shape == (1520, 2) and ds.x.dtype == np.float32
  assert ds.num_classes == 10 and ds.class_names == vowels.WORDS
  assert np.bincount(ds.y).tolist() == [152] * 10
  assert collections.Counter(np.bincount(speakers)[1:]) == {20: 76}
  # The men's mean F1 of "heed" (Peterson & Barney's Table II: 270 Hz).
  assert abs(ds.x[(speakers <= 33) & (ds.y == 0), 0].mean() - 270) < 15
  assert data.load("vowels").x.shape == (1520, 2)


def test_features_and_log_frequency():
  hz, _ = vowels.load(("F0", "F3"))
  log, _ = vowels.load(("F0", "F3"), log_frequency=True)
  np.testing.assert_allclose(log.x, np.log(hz.x), rtol=1e-6)
  for bad in ((), ("F1", "F1"), ("F4",)):
    with pytest.raises(ValueError, match="vowel_features"):
      vowels.load(bad)
  with pytest.raises(ValueError, match="vowel_features"):
    Config.make(vowel_features=("F1", "F5"))


def test_split_by_speaker():
  ds, speakers = vowels.load()
  train, test = vowels.speaker_split(ds, speakers)
  assert train.size == test.size == 760
  # prepare keeps this split: the test rows are exactly the even-numbered
  # speakers' rows, the training and validation rows the odd ones'.
  inputs = ("F0", "F1", "F2", "F3")
  rows, speakers = vowels.load(inputs)
  splits = experiment.prepare(
      Config.make(dataset="vowels", vowel_features=inputs,
                  input_encoding="none", validation_fraction=0.1),
      experiment.run_keys(Config())[0])
  as_set = lambda x: collections.Counter(map(tuple, np.asarray(x).tolist()))
  even = speakers % 2 == 0
  assert as_set(splits.test.x) == as_set(rows.x[even])
  assert as_set(np.concatenate([splits.train.x, splits.val.x])) == as_set(
      rows.x[~even])
  assert splits.val.size == 76 and splits.train.class_names == vowels.WORDS


def test_class_names_follow_class_selection():
  ds = data.load("vowels")
  assert data.select_classes(ds, [3, 0]).class_names == ("had", "heed")
  assert data.one_vs_rest(ds, 1).class_names == ("not hid", "hid")
  unnamed = data.classification("toy", np.zeros((3, 1)), [0, 1, 2])
  assert data.select_classes(unnamed, [0, 1]).class_names == ()


def test_hz_encoding_round_trip():
  hz = np.array([[300.0, 2300.0], [700.0, 1200.0], [0.0, 900.0]])
  for log in (False, True):
    enc = encoding.Standardize.fit(np.log(hz[:2]) if log else hz[:2])
    hz_enc = vowels.HzEncoding(enc, log)
    np.testing.assert_allclose(hz_enc.invert(hz_enc.apply(hz[:2])), hz[:2],
                               rtol=1e-4)
    assert np.isfinite(hz_enc.apply(hz)).all()   # 0 Hz: finite inputs


def test_reference_accuracies():
  rng = np.random.default_rng(0)
  y = np.repeat([0, 1], 20)
  x = (rng.normal(size=(40, 2)) + 4 * y[:, None]).astype(np.float32)
  ds = data.classification("toy", x, y)
  accuracies = vowels.reference_accuracies(ds, ds)
  assert accuracies["knn"] > 0.9 and accuracies["qda"] > 0.9
  tiny = ds.take(np.array([0, 1, 20]))   # 3 rows: no kNN, no QDA
  assert vowels.reference_accuracies(tiny, ds) == {"knn": None, "qda": None}


@pytest.mark.slow
def test_decision_regions_on_vowels(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0")
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.decision_regions",
       "--dataset=vowels", "--epochs=40", f"--workdir={tmp_path}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["classes"] == list(vowels.WORDS)
  assert results["num_train"] == results["num_test"] == 760
  # The preset's settings, but for the one the command line sets.
  assert results["flags"]["hidden"] == "32" and results["flags"]["l2"] == 0.001
  assert results["flags"]["epochs"] == 40
  accuracies = results["test_accuracies"]
  assert set(accuracies) == {"network", "knn", "qda"}
  assert 0.70 < accuracies["knn"] < 0.75 and 0.74 < accuracies["qda"] < 0.79
  assert accuracies["network"] > 0.3   # chance: 0.1
  assert (tmp_path / "decision_regions.png").stat().st_size > 50_000
  # The points monitored every epoch are the test speakers', and the
  # progress lines say so; there is no validation split to ask for.
  assert "test cost" in proc.stderr and "val cost" not in proc.stderr
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.decision_regions",
       "--dataset=vowels", "--validation_fraction=0.2",
       f"--workdir={tmp_path}"], cwd=ROOT, env=env, capture_output=True,
      text=True, timeout=120)
  assert proc.returncode != 0
  assert "Unknown command line flag 'validation_fraction'" in proc.stderr


def test_a_regions_name_goes_where_no_point_is(python):
  # Class 0 on the left half, class 1 on the right; points fill the left
  # half's middle, where its deepest point is: the name goes beside them.
  code = """
import json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from experiments import decision_regions
fig, ax = plt.subplots()
g = np.linspace(0.1, 0.4, 15)
points = np.stack(np.meshgrid(g, np.linspace(0.3, 0.7, 15)), -1).reshape(-1, 2)
ax.scatter(points[:, 0], points[:, 1])
ax.set(xlim=(0, 1), ylim=(0, 1))
decision_regions.label_regions(
    ax, lambda p: (p[:, 0] > 0.5).astype(int), ["left", "right"], points)
print(json.dumps({t.get_text(): t.get_position() for t in ax.texts}))
"""
  where = json.loads(python(code, check=True).stdout)
  x, y = where["left"]
  assert x < 0.5   # in its own region
  assert not (0.1 <= x <= 0.4 and 0.3 <= y <= 0.7)   # not on the points
  assert where["right"][0] > 0.5
