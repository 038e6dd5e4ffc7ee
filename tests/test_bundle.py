"""A run's model bundle (model.json + params.npz): load_model, predict,
class names, and the errors of bad rows and damaged files."""

import csv
import json
import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn_jax
from experiments import outputs
from nn_jax import bundle
from nn_jax import data
from nn_jax import encoding
from nn_jax import experiment
from nn_jax import params_io
from nn_jax import tabular
from nn_jax.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVELS = ("S", "M", "L")


def write_rows(path, n=60, seed=0):
  """x (numeric), color (nominal), size (ordinal) -> label bad/good."""
  rng = np.random.default_rng(seed)
  lines = ["x,color,size,label"]
  for _ in range(n):
    x, color, size = (rng.normal(), rng.choice(["red", "green", "blue"]),
                      rng.choice(LEVELS))
    good = x + (color == "red") + (size != "S") > 1
    lines.append(f"{x:.3f},{color},{size},{'good' if good else 'bad'}")
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def csv_config(path, **settings):
  return Config.make(dataset="csv", csv_path=path, target="label",
                     nominal="color", ordinal="size:S<M<L", hidden=(4,),
                     batch_size=8, **settings)


def save_bundle(folder, config, run):
  """What experiments.train writes for the model (without the figures)."""
  os.makedirs(folder, exist_ok=True)
  params_io.save(os.path.join(folder, "params.npz"), params=run.params,
                 stats=run.stats)
  outputs.write_json(os.path.join(folder, bundle.FILE),
                     bundle.describe(config, run))
  return str(folder)


def own_outputs(run):
  """The run's outputs on its (encoded) test rows, computed as the run
  computes its predictions (``experiment.predict``: one compiled program,
  in the parameters' precision)."""
  return experiment.predict(run.params, run.stats, run.splits.test.x,
                            run.model)


def held_out_rows(config):
  """The run's test rows as the CSV file has them."""
  table = tabular.read_csv(config.data.csv_path)
  return table.split(jax.random.PRNGKey(config.seed),
                     config.data.test_fraction)[0]


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("bundle")
  config = csv_config(write_rows(folder / "rows.csv"), epochs=3)
  run = experiment.train_and_evaluate(config)
  return config, run, save_bundle(folder / "run", config, run)


def test_predictions_on_the_test_rows_equal_the_runs(csv_run):
  config, run, workdir = csv_run
  model = nn_jax.load_model(workdir)
  rows = held_out_rows(config)
  records = [dict(zip(rows.header, r)) for r in rows.rows]
  cells = [[rec[c] for c in ("x", "color", "size")] for rec in records]
  own = own_outputs(run)
  for given_rows in (rows, records, cells):
    np.testing.assert_array_equal(model.encode(given_rows), run.splits.test.x)
    assert np.array_equal(model.outputs(given_rows), own)
  labels = experiment.predict_labels(run.params, run.stats,
                                     run.splits.test.x, run.model)
  np.testing.assert_array_equal(model.predict(records),
                                np.array(["bad", "good"])[labels])
  np.testing.assert_array_equal(model.predict_proba(records), own)
  assert model.classes == ("bad", "good") == tuple(run.summary.class_names)
  assert model.input_names == ("x", "color", "size")


def test_bad_rows_give_trainings_errors(csv_run, tmp_path):
  config, _, workdir = csv_run
  model = bundle.load_model(workdir)
  bad = tmp_path / "bad.csv"
  bad.write_text("x,color,size\n0.5,red,M\n0.1,purple,S\n")
  with pytest.raises(ValueError) as predicting:
    model.predict(str(bad))
  # Training on the same rows (with a label) fails with the same words.
  trained = tmp_path / "trained.csv"
  trained.write_text("x,color,size,label\n0.5,red,M,bad\n0.1,purple,S,good\n")
  enc = tabular.TabularEncoder.from_json(
      json.loads(open(os.path.join(workdir, bundle.FILE)).read())["inputs"][
          "encoder"])
  with pytest.raises(ValueError) as training:
    enc.transform(tabular.read_csv(str(trained)))
  assert str(predicting.value) == str(training.value).replace(
      "trained.csv", "bad.csv")
  assert ("data row 2 (line 3), column 'color': category 'purple' was not "
          "in the training rows (known: blue, green, red)"
          in str(predicting.value))
  with pytest.raises(ValueError, match=r"column 'size' is not a column of "
                     r"records; its columns are: x, color"):
    model.predict([{"x": 1, "color": "red"}])
  with pytest.raises(ValueError, match=r"records: data row 2 .*column 'x': "
                     r"missing value"):
    model.predict([{"x": 1, "color": "red", "size": "S"},
                   {"color": "red", "size": "S"}])
  with pytest.raises(ValueError, match=r"'L\+' is not one of the levels"):
    model.predict([{"x": 1, "color": "red", "size": "L+"}])
  with pytest.raises(ValueError, match=r"each row needs 3 cells"):
    model.predict([[1.0, "red"]])
  # One record, not a list of them: said so (it asked for 3 cells a row).
  with pytest.raises(ValueError, match=r"rows is one record \(a dict\); "
                     r"pass a list of records"):
    model.predict({"x": 1, "color": "red", "size": "S"})
  del config


def test_no_rows_give_no_predictions(csv_run):
  # An empty list of rows (it failed naming a missing column).
  model = nn_jax.load_model(csv_run[2])
  assert model.predict([]).shape == (0,)
  assert model.predict_proba([]).shape == (0, 2)


def _damaged(workdir, tmp_path, name, damage):
  copy = tmp_path / "copy"
  copy.mkdir()
  for f in ("model.json", "params.npz"):
    (copy / f).write_bytes(open(os.path.join(workdir, f), "rb").read())
  damage(copy / name)
  return str(copy)


@pytest.mark.parametrize("name,damage,message", [
    ("model.json", os.remove, "has no model.json: give the workdir of a "
     "finished experiments.train run"),
    ("model.json", lambda p: p.write_text(p.read_text()[:200]),
     "model.json is not valid JSON"),
    ("model.json", lambda p: p.write_text('{"format": "other"}'),
     "model.json is not an nn_jax model description"),
    ("model.json", lambda p: p.write_text(p.read_text().replace(
        '"network"', '"net"')), "model.json lacks or garbles 'network'"),
    ("model.json", lambda p: p.write_text(p.read_text().replace(
        '"loss"', '"cost"')), "model.json lacks or garbles 'loss'"),
    ("model.json", lambda p: p.write_text(p.read_text().replace(
        '"relu"', '"swish"')), "activation='swish' is not allowed"),
    ("params.npz", os.remove, "cannot read parameters file"),
    ("params.npz", lambda p: p.write_bytes(p.read_bytes()[:300]),
     "cannot read parameters file"),
    # Bytes of no known kind: NumPy would take them for a pickle and
    # suggest loading them unsafely.
    ("params.npz", lambda p: p.write_bytes(b"garbage"),
     "params.npz: not a parameters file (.npz): it is damaged or of another "
     "kind"),
    ("model.json", lambda p: p.write_text(p.read_text().replace(
        '"sizes": [\n      6,', '"sizes": [\n      7,')),
     "params/0/w has shape (4, 6), the network expects (4, 7)"),
])
def test_a_damaged_bundle_gives_one_line(csv_run, tmp_path, name, damage,
                                         message):
  workdir = _damaged(csv_run[2], tmp_path, name, damage)
  with pytest.raises(ValueError) as e:
    bundle.load_model(workdir)
  assert message in str(e.value) and "\n" not in str(e.value)


def test_no_such_folder(tmp_path):
  with pytest.raises(ValueError, match="no such folder"):
    bundle.load_model(str(tmp_path / "nothing"))


@given(st.lists(st.floats(-1e6, 1e6, allow_subnormal=True), min_size=1,
                max_size=4), st.sampled_from(["y", ("y", "z")]))
def test_encoder_json_round_trip_is_exact(values, target):
  enc = tabular.TabularEncoder(
      target=target, task=data.REGRESSION, features=("a", "c"),
      nominal={"c": ("u", "v")}, ordinal={}, numeric=("a",),
      scaler=encoding.Standardize(
          np.asarray(values[:1]), np.asarray([abs(values[-1]) + 0.1])),
      classes=(), feature_names=("a", "c=u", "c=v"), name="t")
  back = tabular.TabularEncoder.from_json(json.loads(json.dumps(
      enc.to_json())))
  assert back.target == target and back.nominal == enc.nominal
  np.testing.assert_array_equal(back.scaler.mean, enc.scaler.mean)
  np.testing.assert_array_equal(back.scaler.std, enc.scaler.std)
  rows = tabular.from_records([{"a": v, "c": "v"} for v in values])
  np.testing.assert_array_equal(back.inputs(rows), enc.inputs(rows))


def test_class_names_of_the_built_in_data_sets():
  assert data.load("digits").class_names == tuple("0123456789")
  iris = data.load("iris")
  assert iris.class_names == ("setosa", "versicolor", "virginica")
  assert data.class_names(data.select_classes(iris, [2, 0])) == [
      "virginica", "setosa"]
  assert data.class_names(data.load("moons")) == ["0", "1"]


def test_draw_run_passes_the_class_names(tmp_path, monkeypatch):
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  seen = {}
  monkeypatch.setattr(plots, "confusion_matrix",
                      lambda m, path, title="", class_names=None, **_:
                      seen.setdefault("matrix", class_names))
  monkeypatch.setattr(plots, "decision_regions", lambda *a, class_names=None,
                      **_: seen.setdefault("regions", class_names))
  history = {"train_loss": np.ones(2), "val_loss": np.ones(2)}
  results = {"config": {"dataset": "csv"}, "description": "a net",
             "confusion_matrix": [[1, 0], [0, 1]],
             "class_names": ["bad", "good"]}
  outputs.draw_run(str(tmp_path), history, results,
                   (lambda p: np.zeros(len(p), int), np.zeros((2, 2)),
                    np.zeros(2, int)))
  assert seen == {"matrix": ["bad", "good"], "regions": ["bad", "good"]}


def test_decision_regions_legend_names_the_classes(tmp_path):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from nn_jax import plots  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots()
  x = np.array([[0.0, 0.0], [1.0, 1.0]])
  plots.decision_regions(lambda p: (p[:, 0] > 0.5).astype(int), x,
                         np.array([0, 1]), "", ax=ax, resolution=10,
                         class_names=["bad", "good"])
  assert [t.get_text() for t in ax.get_legend().get_texts()] == [
      "bad", "good"]
  plt.close(fig)


def run_script(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_train_then_predict_a_csv_file(tmp_path):
  path = write_rows(tmp_path / "rows.csv")
  workdir = tmp_path / "run"
  proc = run_script("experiments.train", "--dataset=csv",
                    f"--csv_path={path}", "--target=label", "--nominal=color",
                    "--ordinal=size:S<M<L", "--hidden=4", "--batch_size=8",
                    "--epochs=5", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((workdir / "results.json").read_text())
  assert results["class_names"] == ["bad", "good"]
  # The bundle the script wrote equals the run (made again here) bitwise.
  config = Config.from_flat(results["config"])
  run = experiment.train_and_evaluate(config)
  model = nn_jax.load_model(str(workdir))
  assert np.array_equal(model.outputs(held_out_rows(config)), own_outputs(run))
  new = tmp_path / "new.csv"
  new.write_text("size,color,x\nL,red,2.5\nS,blue,-2.5\n")
  proc = run_script("experiments.predict", f"--model_dir={workdir}",
                    f"--csv_path={new}", f"--out={tmp_path / 'p.csv'}")
  assert proc.returncode == 0, proc.stderr
  with open(tmp_path / "p.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [r["predicted_label"] for r in rows] == list(model.predict(str(new)))
  assert set(rows[0]) == {"size", "color", "x", "predicted_label", "p_bad",
                          "p_good"}
  np.testing.assert_allclose([float(r["p_good"]) for r in rows],
                             model.predict_proba(str(new))[:, 1], rtol=1e-6)


@pytest.mark.slow
def test_train_then_predict_the_vowels(tmp_path):
  workdir = tmp_path / "run"
  proc = run_script("experiments.train", "--dataset=vowels",
                    "--log_frequency", "--hidden=8", "--epochs=3",
                    f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((workdir / "results.json").read_text())
  from nn_jax import vowels  # pylint: disable=g-import-not-at-top
  assert results["class_names"] == list(vowels.WORDS)
  config = Config.from_flat(results["config"])
  run = experiment.train_and_evaluate(config)
  model = nn_jax.load_model(str(workdir))
  # The test speakers' formants in Hz, as the data set has them.
  raw = config.replace(input_encoding="none", log_frequency=False)
  hz = experiment.prepare(raw, experiment.run_keys(raw)[0]).test.x
  assert np.array_equal(model.outputs(hz), own_outputs(run))
  np.testing.assert_array_equal(
      model.predict(hz), np.asarray(vowels.WORDS)[experiment.predict_labels(
          run.params, run.stats, run.splits.test.x, run.model)])
  # A CSV file names the inputs; its rows are read as the arrays are.
  new = tmp_path / "formants.csv"
  new.write_text("F2,F1\n2290,270\n1090,730\n")
  predicted = model.predict(str(new))
  assert list(predicted) == list(model.predict([[270, 2290], [730, 1090]]))
  assert set(predicted) <= set(vowels.WORDS)


@pytest.mark.slow
@pytest.mark.parametrize("settings", [
    dict(dataset="iris", input_encoding="scale"),
    dict(dataset="moons", loss="sigmoid_cross_entropy", dtype="float64"),
    dict(dataset="digits", model="perceptron", classes="3,8"),
], ids=["iris-scale", "moons-float64-sigmoid", "digits-perceptron"])
def test_built_in_runs_round_trip(tmp_path, settings):
  network = ({} if settings.get("model") == "perceptron"   # takes neither
             else dict(hidden=(4,), batch_size=8))
  config = Config.make(epochs=2, **network, **settings)
  run = experiment.train_and_evaluate(config)
  model = bundle.load_model(save_bundle(tmp_path, config, run))
  raw = config.replace(input_encoding="none")
  with jax.enable_x64(config.net.dtype == "float64"):
    x = experiment.prepare(raw, experiment.run_keys(raw)[0]).test.x
  names = np.asarray(run.summary.class_names)
  # The training rows' range, as the rows give them: the test rows are
  # inside it (no warning), rows far outside it warn, naming an input.
  with jax.enable_x64(config.net.dtype == "float64"):
    train = experiment.prepare(raw, experiment.run_keys(raw)[0]).train.x
  seen = json.loads((tmp_path / bundle.FILE).read_text())["inputs"]["range"]
  digits = 1e-5 * np.abs(train).max()   # kept to 6 digits of its scale
  np.testing.assert_allclose(seen["low"], train.min(0), rtol=0, atol=digits)
  np.testing.assert_allclose(seen["high"], train.max(0), rtol=0, atol=digits)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    model.predict(x)
  far = np.array(x, np.float64)
  far[0, 1] = seen["high"][1] + 2.5 * (max(seen["high"]) - min(seen["low"]))
  with pytest.warns(bundle.InputRangeWarning, match=(
      r"^1 of \d+ rows have inputs far outside the range the network was "
      r"trained on, e\.g\. x2 = ")):
    model.predict(far)
  if run.model is None:   # the perceptron: its 0/1 outputs, no probabilities
    from nn_jax import perceptron  # pylint: disable=g-import-not-at-top
    expected = perceptron.predict(run.params["w"],
                                  jnp.asarray(run.splits.test.x))
    np.testing.assert_array_equal(model.predict(x),
                                  names[np.asarray(expected)])
    assert list(names) == ["3", "8"]
    with pytest.raises(ValueError, match="a perceptron gives no "
                       "probabilities"):
      model.predict_proba(x)
    return
  own = own_outputs(run)
  assert np.array_equal(model.outputs(x), own)
  np.testing.assert_array_equal(model.predict(x), names[
      experiment.predict_labels(run.params, run.stats, run.splits.test.x,
                                run.model)])
  np.testing.assert_allclose(model.predict_proba(x).sum(1), 1, rtol=1e-6)
