"""The shipped Chile 1988 survey (nn_jax.chile): checksum, counts, column
types, its split and codes, and the data set by name."""

import collections
import hashlib
import os

import jax
import numpy as np
import pytest

from experiments import outputs
from nn_jax import bundle
from nn_jax import chile
from nn_jax import data
from nn_jax import experiment
from nn_jax import params_io
from nn_jax import tabular
from nn_jax.config import Config


def test_shipped_csv_has_its_checksum_and_is_small():
  with open(chile.PATH, "rb") as f:
    raw = f.read()
  assert hashlib.sha256(raw).hexdigest() == chile.SHA256
  assert len(raw) < 100_000
  notes = chile.PATH.replace(".csv", ".md")
  with open(notes, encoding="utf-8") as f:   # the provenance notes agree
    assert chile.SHA256 in f.read()


def test_a_changed_file_is_refused(tmp_path):
  with open(chile.PATH, "rb") as f:
    raw = f.read()
  changed = tmp_path / "chile.csv"
  changed.write_bytes(raw.replace(b"1,N,175000,M,65,P,35000,1.0082,Y",
                                  b"1,N,175000,M,65,P,35000,1.0082,N", 1))
  assert changed.read_bytes() != raw
  with pytest.raises(ValueError, match="SHA-256 .* is not the Chile data's"):
    chile.load(path=str(changed))
  with pytest.raises(ValueError, match="SHA-256"):
    chile.load_split(path=str(changed))


def test_counts_and_column_types():
  table = chile.read()
  assert table.size == 2431 and os.path.basename(table.path) == (
      "chile_1988.csv")
  assert set(table.header) == {"row", *chile.FEATURES, chile.TARGET}
  assert set(chile.FEATURES) == (set(chile.NOMINAL) | set(chile.ORDINAL)
                                 | set(chile.NUMERIC))
  assert collections.Counter(table.column("vote")) == {
      "N": 867, "Y": 836, "U": 551, "A": 177}
  for column, levels in chile.ORDINAL.items():   # every level occurs
    assert set(table.column(column)) == set(levels)
  ds, enc = chile.load()
  assert ds.name == "chile" and enc.classes == ("A", "N", "U", "Y")
  assert ds.x.shape == (2431, 5 + 1 + 2 + 1 + 2 + 6 + 1)
  assert np.bincount(ds.y).tolist() == [177, 867, 551, 836]
  assert data.load("chile").x.shape == ds.x.shape


def test_split_codes_and_encoder_fitted_on_the_training_rows():
  train, test, enc = chile.load_split(0.2, seed=3)
  assert (train.size, test.size) == (1945, 486)
  again = chile.load_split(0.2, seed=3)[0]
  np.testing.assert_array_equal(train.x, again.x)
  numeric = [enc.feature_names.index(c) for c in chile.NUMERIC]
  np.testing.assert_allclose(train.x[:, numeric].mean(0), 0, atol=1e-5)
  raw, _, raw_enc = chile.load_split(0.2, 3, tabular.Codes(numeric="none"))
  assert raw_enc.feature_names == enc.feature_names
  assert raw.x[:, numeric].max() == 250000   # population, as in the file
  lecture, _, lecture_enc = chile.load_split(
      0.2, 3, tabular.Codes(thermometer_units="k"))
  assert lecture.x.shape[1] == train.x.shape[1] + 2   # one more per column
  first = lecture_enc.feature_names.index("education>=P")
  np.testing.assert_array_equal(lecture.x[:, first], 1)


def test_experiment_prepares_chile_with_the_codes_of_the_config():
  config = Config.make(dataset="chile", nominal_code="integer",
                       ordinal_code="one_hot", validation_fraction=0.1)
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  assert splits.encoder.feature_names[:2] == ("region", "population")
  assert "income=2500" in splits.encoder.feature_names
  assert splits.train.size + splits.val.size == 1945
  assert splits.test.size == 486
  assert experiment.column_codes(config.data) == tabular.Codes(
      "integer", "one_hot", "k-1", "standardize")


def test_a_chile_run_predicts_raw_rows_with_its_codes(tmp_path):
  config = Config.make(dataset="chile", nominal_code="integer",
                       ordinal_code="thermometer", thermometer_units="k",
                       hidden=(4,), epochs=2)
  run = experiment.train_and_evaluate(config)
  params_io.save(str(tmp_path / bundle.PARAMS), params=run.params,
                 stats=run.stats)
  outputs.write_json(str(tmp_path / bundle.FILE), bundle.describe(config, run))
  model = bundle.load_model(str(tmp_path))
  assert model.input_names == chile.FEATURES
  assert model.classes == ("A", "N", "U", "Y")
  test_rows = chile.read().split(jax.random.PRNGKey(config.seed),
                                 config.data.test_fraction)[0]
  records = [dict(zip(test_rows.header, r)) for r in test_rows.rows]
  np.testing.assert_array_equal(model.encode(records), run.splits.test.x)
  own = experiment.predict(run.params, run.stats, run.splits.test.x,
                           run.model)   # as the run computes its predictions
  assert np.array_equal(model.outputs(test_rows), own)


def test_validation_rows_are_those_data_split_takes():
  key = jax.random.PRNGKey(4)
  full, test, enc = chile.load_split(0.2, seed=3)
  train, val, test2, enc2 = chile.load_split(0.2, seed=3,
                                             validation=(key, 0.25))
  for got, want in zip((val, train, test2),
                       (*data.split(full, key, (0.25,)), test)):
    assert got.x.tobytes() == want.x.tobytes() and got.x.dtype == np.float32
    assert got.y.tobytes() == want.y.tobytes() and got.name == "chile"
  assert enc2.to_json() == enc.to_json()
