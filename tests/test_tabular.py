"""CSV data: typed columns, encoders fitted on training rows, errors by row."""

import csv
import json
import os
import tempfile
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import data
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import tabular
from nn_jax import train

LEVELS = ("S", "M", "L")


def write_csv(path, header, rows):
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  return str(path)


def easy_rows(n, seed=0):
  """color (nominal), size (ordinal), x1/x2 (numeric) -> label yes/no.

  The rule: ``x1 + [color == red] + [size >= M] > 1``.
  """
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(n):
    color = rng.choice(["red", "green", "blue"])
    size = rng.choice(LEVELS)
    x1, x2 = rng.normal(), rng.normal() * 100 + 50
    score = x1 + (color == "red") + (LEVELS.index(size) >= 1)
    rows.append([f"{x1:.3f}", str(color), str(size), f"{x2:.1f}",
                 "yes" if score > 1 else "no"])
  return rows


HEADER = ["x1", "color", "size", "x2", "label"]
ORDINAL = {"size": LEVELS}


def test_mixed_columns_train_better_than_chance(tmp_path):
  path = write_csv(tmp_path / "easy.csv", HEADER, easy_rows(300))
  train_ds, test_ds, enc = tabular.load_split(
      path, "label", nominal=["color"], ordinal=ORDINAL, test_fraction=0.25,
      seed=0)
  assert enc.task == data.CLASSIFICATION and enc.classes == ("no", "yes")
  assert enc.feature_names == ("x1", "color=blue", "color=green", "color=red",
                               "size>=M", "size>=L", "x2")
  assert train_ds.x.shape == (225, 7) and test_ds.x.shape == (75, 7)
  assert train_ds.x.dtype == np.float32 and train_ds.y.dtype == np.int32
  assert train_ds.num_classes == test_ds.num_classes == 2
  # Numeric columns standardized with training statistics only.
  np.testing.assert_allclose(train_ds.x[:, [0, 6]].mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(train_ds.x[:, [0, 6]].std(0), 1, atol=1e-4)

  model = mlp.make_model("tanh", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [7, 8, 2], model)
  y = jnp.asarray(data.targets(model.loss, train_ds))
  y_test = jnp.asarray(data.targets(model.loss, test_ds))
  result = train.fit(
      params, model, optimizers.make("adam", 0.05),
      train.Data(jnp.asarray(train_ds.x), y, jnp.asarray(test_ds.x), y_test),
      train.FitOptions(epochs=30, batch_size=32), key=jax.random.PRNGKey(1))
  assert result.history["val_accuracy"][-1] >= 0.85


def test_encodings_of_each_column_type(tmp_path):
  path = write_csv(tmp_path / "t.csv", ["n", "c", "o", "y"], [
      ["1", "b", "lo", "0"], ["3", "a", "hi", "1"], ["5", "b", "mid", "2"]])
  ds, enc = tabular.load_csv(path, "y", nominal=["c"],
                             ordinal=tabular.parse_ordinal("o:lo<mid<hi"))
  np.testing.assert_allclose(ds.x[:, 0], np.array([-1, 0, 1]) / np.sqrt(2 / 3),
                             rtol=1e-5)
  np.testing.assert_array_equal(ds.x[:, 1:3], [[0, 1], [1, 0], [0, 1]])
  np.testing.assert_array_equal(ds.x[:, 3:], [[0, 0], [1, 1], [1, 0]])
  np.testing.assert_array_equal(ds.y, [0, 1, 2])
  assert enc.classes == ("0", "1", "2")
  assert enc.describe()["ordinal"] == {"o": ["lo", "mid", "hi"]}


@pytest.mark.parametrize("codes,x,names", [
    (tabular.Codes(nominal="integer"),
     [[-1.2247, 1, 0, 0], [0, 0, 1, 1], [1.2247, 1, 1, 0]],
     ("n", "c", "o>=mid", "o>=hi")),
    (tabular.Codes(ordinal="one_hot"),
     [[-1.2247, 0, 1, 1, 0, 0], [0, 1, 0, 0, 0, 1], [1.2247, 0, 1, 0, 1, 0]],
     ("n", "c=a", "c=b", "o=lo", "o=mid", "o=hi")),
    (tabular.Codes(ordinal="integer"),
     [[-1.2247, 0, 1, 0], [0, 1, 0, 2], [1.2247, 0, 1, 1]],
     ("n", "c=a", "c=b", "o")),
    (tabular.Codes(thermometer_units="k"),
     [[-1.2247, 0, 1, 1, 0, 0], [0, 1, 0, 1, 1, 1], [1.2247, 0, 1, 1, 1, 0]],
     ("n", "c=a", "c=b", "o>=lo", "o>=mid", "o>=hi")),
    (tabular.Codes(numeric="none"),
     [[1, 0, 1, 0, 0], [3, 1, 0, 1, 1], [5, 0, 1, 1, 0]],
     ("n", "c=a", "c=b", "o>=mid", "o>=hi")),
])
def test_other_codes_of_each_column_type(tmp_path, codes, x, names):
  path = write_csv(tmp_path / "t.csv", ["n", "c", "o", "y"], [
      ["1", "b", "lo", "0"], ["3", "a", "hi", "1"], ["5", "b", "mid", "2"]])
  ds, enc = tabular.load_csv(path, "y", nominal=["c"],
                             ordinal=tabular.parse_ordinal("o:lo<mid<hi"),
                             codes=codes)
  np.testing.assert_allclose(ds.x, x, atol=1e-4)
  assert enc.feature_names == names and enc.codes == codes
  assert enc.describe()["codes"] == codes._asdict()
  with pytest.raises(ValueError, match="codes.ordinal must be one of "
                     "thermometer, one_hot, integer; got 'binary'"):
    tabular.load_csv(path, "y", codes=tabular.Codes(ordinal="binary"))
  back = tabular.TabularEncoder.from_json(json.loads(json.dumps(
      enc.to_json())))
  assert back.codes == codes
  np.testing.assert_array_equal(back.transform(tabular.read_csv(path)).x,
                                ds.x)


def test_encoder_fitted_on_train_applied_to_test(tmp_path):
  path = write_csv(tmp_path / "t.csv", ["a", "c", "y"], [
      ["0", "u", "p"], ["10", "v", "q"], ["100", "u", "q"]])
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take([0, 1]), "y", nominal=["c"])
  test = enc.transform(table.take([2]))
  np.testing.assert_allclose(test.x, [[(100 - 5) / 5, 1, 0]], rtol=1e-6)
  np.testing.assert_array_equal(test.y, [1])


@pytest.mark.parametrize("values,task", [
    (["a", "b", "a"], data.CLASSIFICATION),
    (["1", "2", "3.0"], data.CLASSIFICATION),
    ([str(i) for i in range(11)], data.REGRESSION),
    (["0.5", "1", "2"], data.REGRESSION),
])
def test_task_rule(values, task):
  assert tabular.infer_task(values) == task


def test_task_override_and_regression_targets(tmp_path):
  rows = [[str(i), f"{i * 0.5}"] for i in range(6)]
  path = write_csv(tmp_path / "r.csv", ["x", "y"], rows)
  ds, enc = tabular.load_csv(path, "y")
  assert enc.task == data.REGRESSION and ds.task == data.REGRESSION
  assert ds.y.shape == (6, 1) and ds.y.dtype == np.float32
  assert ds.num_classes == 0 and enc.classes == ()
  path = write_csv(tmp_path / "i.csv", ["x", "y"], [["1", "7"], ["2", "8"]])
  assert tabular.load_csv(path, "y", task="regression")[1].task == "regression"


def test_split_is_seeded_and_keeps_row_numbers(tmp_path):
  path = write_csv(tmp_path / "easy.csv", HEADER, easy_rows(40))
  a = tabular.load_split(path, "label", ["color"], ORDINAL, 0.25, seed=3)
  b = tabular.load_split(path, "label", ["color"], ORDINAL, 0.25, seed=3)
  np.testing.assert_array_equal(a[1].x, b[1].x)
  table = tabular.read_csv(path)
  test, rest = table.split(jax.random.PRNGKey(3), 0.25)
  assert test.size == 10 and rest.size == 30
  assert sorted(np.r_[test.row_numbers, rest.row_numbers]) == list(
      range(1, 41))


# Bad input: every message names the data row (1-based) and the column.


def test_missing_value_names_row_and_column(tmp_path):
  rows = easy_rows(5)
  rows[3][3] = "NA"
  path = write_csv(tmp_path / "m.csv", HEADER, rows)
  with pytest.raises(ValueError,
                     match=r"data row 4 \(line 5\), column 'x2': missing"):
    tabular.load_csv(path, "label", ["color"], ORDINAL)
  rows[3][3] = ""
  path = write_csv(tmp_path / "m.csv", HEADER, rows)
  with pytest.raises(ValueError,
                     match=r"data row 4 \(line 5\), column 'x2': missing"):
    tabular.load_csv(path, "label", ["color"], ORDINAL)


def test_unknown_category_at_test_time_names_row_and_column(tmp_path):
  rows = easy_rows(6)
  for r in rows:
    r[1] = "red"
  rows[4][1] = "purple"
  path = write_csv(tmp_path / "u.csv", HEADER, rows)
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take([0, 1, 2, 3]), "label", ["color"],
                            ORDINAL)
  with pytest.raises(ValueError, match=r"data row 5 \(line 6\), column "
                     r"'color': category "
                     r"'purple' was not in the training rows \(known: red\)"):
    enc.transform(table.take([5, 4]))


def test_errors_name_the_first_bad_row_of_the_file(tmp_path):
  """A split shuffles the rows; the message still names the earliest one."""
  rows = easy_rows(6)
  rows[1][0], rows[4][0] = "abc", "def"
  rows[1][3], rows[4][3] = "NA", "?"
  rows[1][2], rows[4][2] = "XL", "XS"
  path = write_csv(tmp_path / "b.csv", HEADER, rows)
  shuffled = tabular.read_csv(path).take(np.array([5, 4, 3, 2, 1, 0]))
  with pytest.raises(ValueError, match=r"data row 2 .*'x1': 'abc'"):
    tabular.fit_encoder(shuffled, "label", ["color"], ORDINAL)
  with pytest.raises(ValueError, match=r"data row 2 .*'x2': missing"):
    tabular.fit_encoder(shuffled, "label", ["color"], ORDINAL,
                        features=["x2", "color", "size"])
  with pytest.raises(ValueError, match=r"data row 2 .*'size': level 'XL'"):
    tabular.fit_encoder(shuffled, "label", ["color"], ORDINAL,
                        features=["size", "color"])


def test_unknown_ordinal_level_names_row_and_column(tmp_path):
  rows = easy_rows(4)
  rows[1][2] = "XL"
  path = write_csv(tmp_path / "o.csv", HEADER, rows)
  with pytest.raises(ValueError, match=r"data row 2 \(line 3\), column "
                     r"'size': level 'XL'"
                     r" is not one of the levels given in --ordinal"):
    tabular.load_csv(path, "label", ["color"], ORDINAL)


def test_non_numeric_cell_names_row_and_column(tmp_path):
  rows = easy_rows(5)
  rows[2][0] = "abc"
  path = write_csv(tmp_path / "n.csv", HEADER, rows)
  with pytest.raises(ValueError, match=r"data row 3 \(line 4\), column "
                     r"'x1': 'abc' is not "
                     r"a finite number.*nominal or ordinal"):
    tabular.load_csv(path, "label", ["color"], ORDINAL)


def test_missing_target_column(tmp_path):
  path = write_csv(tmp_path / "t.csv", HEADER, easy_rows(3))
  with pytest.raises(ValueError, match=r"target column 'class' is not a "
                     r"column of .*t.csv; its columns are: x1, color"):
    tabular.load_split(path, "class")


def test_unknown_nominal_column(tmp_path):
  path = write_csv(tmp_path / "t.csv", HEADER, easy_rows(3))
  with pytest.raises(ValueError, match=r"nominal column 'colour' is not"):
    tabular.load_csv(path, "label", nominal=["colour"])


@pytest.mark.parametrize("spec,message", [
    ("size", r"--ordinal: 'size' must be one column:levels pair"),
    ("size:S", r"--ordinal: column 'size' needs at least two"),
    ("size:S<<L", r"--ordinal: column 'size' needs at least two non-empty"),
    (":S<M", r"--ordinal: ':S<M' has no column name"),
    ("a:x<y;a:x<y", r"--ordinal: column 'a' is given twice"),
    ("a:x<y<x", r"--ordinal: column 'a' repeats a level"),
])
def test_bad_ordinal_syntax_names_the_flag(spec, message):
  with pytest.raises(ValueError, match=message):
    tabular.parse_ordinal(spec)


def test_flag_parsers():
  assert tabular.parse_ordinal("c:low<mid<high; d: s < m < l") == {
      "c": ("low", "mid", "high"), "d": ("s", "m", "l")}
  assert tabular.parse_ordinal("") == {}
  assert tabular.parse_nominal("a, b") == ("a", "b")
  assert tabular.parse_nominal("") == ()
  with pytest.raises(ValueError, match=r"--nominal=a,,b: empty column name"):
    tabular.parse_nominal("a,,b")


def test_csv_without_data_rows_and_ragged_rows(tmp_path):
  path = write_csv(tmp_path / "h.csv", HEADER, [])
  with pytest.raises(ValueError, match=r"has a header .* but no data rows"):
    tabular.read_csv(path)
  empty = tmp_path / "e.csv"
  empty.write_text("")
  with pytest.raises(ValueError, match=r"e.csv is empty"):
    tabular.read_csv(str(empty))
  with pytest.raises(ValueError, match=r"nope.csv: no such CSV file"):
    tabular.read_csv(str(tmp_path / "nope.csv"))
  binary = tmp_path / "b.csv"
  binary.write_bytes(b"a,b\n\xff\xfe,1\n")
  with pytest.raises(ValueError, match=r"b.csv is not a UTF-8 CSV text file"):
    tabular.read_csv(str(binary))
  path = write_csv(tmp_path / "r.csv", ["a", "b"], [["1", "2"], ["3"]])
  with pytest.raises(ValueError, match=r"data row 2 \(line 3\) has 1 cells "
                     r"but the header "
                     r"has 2"):
    tabular.read_csv(path)


def test_unknown_class_in_test_rows(tmp_path):
  path = write_csv(tmp_path / "c.csv", ["x", "y"],
                   [["1", "a"], ["2", "b"], ["3", "c"]])
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take([0, 1]), "y")
  with pytest.raises(ValueError,
                     match=r"data row 3 \(line 4\), column 'y': class 'c'"):
    enc.transform(table)


def test_a_long_list_of_known_classes_is_cut_short(tmp_path):
  rows = [[str(i), f"c{i:02d}"] for i in range(30)]
  path = write_csv(tmp_path / "many.csv", ["x", "y"], rows)
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take(np.arange(29)), "y")
  with pytest.raises(ValueError, match=r"class 'c29' was not in the training "
                     r"rows \(known: c00, c01, .*, c09, \.\.\. \(29 in all\)\)$"):
    enc.transform(table)


def test_numeric_classes_are_equal_as_numbers(tmp_path):
  path = write_csv(tmp_path / "n.csv", ["x", "y"],
                   [["1", "1"], ["2", "0"], ["3", "1.0"], ["4", "2"],
                    ["5", "01"], ["6", "3"]])
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take([0, 1, 2, 3]), "y")
  assert enc.classes == ("0", "1", "2")
  ds = enc.transform(table.take([0, 1, 2, 3, 4]))
  np.testing.assert_array_equal(ds.y, [1, 0, 1, 2, 1])
  with pytest.raises(ValueError, match=r"class '3' was not in the training"):
    enc.transform(table)
  with pytest.raises(ValueError, match="only one class"):
    tabular.fit_encoder(table.take([0, 2, 4]), "y",
                        task="classification")


def test_blank_lines_are_not_rows_but_lines_are_counted(tmp_path):
  path = tmp_path / "b.csv"
  path.write_text("x,y\n1,a\n\n2,b\n\nzz,a\n")
  with pytest.raises(ValueError, match=r"data row 3 \(line 6\), column 'x': "
                     r"'zz' is not a finite number"):
    tabular.load_csv(str(path), "y")


def test_a_number_beyond_float32_names_row_and_column(tmp_path):
  # 1e300 became inf in float32: a NaN test cost and exit 0.
  rows = easy_rows(5)
  rows[1][0] = "1e300"
  path = write_csv(tmp_path / "big.csv", HEADER, rows)
  with pytest.raises(ValueError, match=r"data row 2 \(line 3\), column "
                     r"'x1': '1e300' is beyond the range of the 32-bit"):
    tabular.load_csv(path, "label", ["color"], ORDINAL)


def test_too_few_rows_for_a_test_split(tmp_path):
  # Two rows: the test split was empty and the test accuracy NaN.
  from nn_jax import config, experiment  # pylint: disable=g-import-not-at-top,multiple-imports
  path = write_csv(tmp_path / "two.csv", ["x", "y"], [["1", "a"], ["2", "b"]])
  run = config.Config.make(dataset="csv", csv_path=str(path), target="y",
                           validation_fraction=0.0)
  with pytest.raises(ValueError, match="test_fraction=0.2 of the 2 examples "
                     "leaves no test example"):
    experiment.prepare(run, experiment.run_keys(run)[0])


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_separated_files(tmp_path, separator):
  path = tmp_path / "s.csv"
  path.write_text(separator.join(["a", "b", "y"]) + "\n"
                  + "\n".join(separator.join([f"{i}.5", str(i), "yes" if i % 2
                                              else "no"]) for i in range(6))
                  + "\n")
  table = tabular.read_csv(str(path))
  assert table.header == ("a", "b", "y") and table.size == 6


def test_a_file_with_only_the_target_has_no_input_features(tmp_path):
  path = write_csv(tmp_path / "t.csv", ["y"], [["a"], ["b"], ["a"]])
  with pytest.raises(ValueError, match="has no input features: its only "
                     "column is the target 'y'"):
    tabular.load_csv(str(path), "y")


# Several targets: regression with one output per target column.


def _two_targets(tmp_path, n=12):
  rows = [[f"{i}", f"{i % 3}.5", f"{2 * i + 0.25}", f"{-i * 0.5}"]
          for i in range(n)]
  return write_csv(tmp_path / "two.csv", ["a", "b", "y1", "y2"], rows), rows


def test_two_target_columns_give_a_column_of_y_each(tmp_path):
  path, rows = _two_targets(tmp_path)
  ds, enc = tabular.load_csv(path, ["y1", "y2"])
  assert ds.y.shape == (12, 2) and ds.y.dtype == np.float32
  np.testing.assert_array_equal(ds.y, [[float(r[2]), float(r[3])]
                                       for r in rows])
  assert ds.x.shape == (12, 2) and enc.features == ("a", "b")
  assert enc.task == data.REGRESSION and enc.targets == ("y1", "y2")
  assert enc.describe()["target"] == ["y1", "y2"]
  # One target: as before, a name and a single column.
  ds, enc = tabular.load_csv(path, ["y1"])
  assert ds.y.shape == (12, 1) and enc.target == "y1"
  assert enc.describe()["target"] == "y1"
  train, test, enc = tabular.load_split(path, ("y2", "y1"), test_fraction=0.25)
  assert train.y.shape == (9, 2) and test.y.shape == (3, 2)
  assert enc.features == ("a", "b") and enc.target == ("y2", "y1")


def test_several_targets_are_regression_only(tmp_path):
  path, _ = _two_targets(tmp_path)
  with pytest.raises(ValueError, match=r"^task=classification predicts one "
                     r"target column; several \(y1, y2\)"):
    tabular.load_csv(path, ["y1", "y2"], task="classification")
  labels = write_csv(tmp_path / "c.csv", ["x", "a", "y1"],
                     [["1", "0", "1.5"], ["2", "1", "2.5"], ["3", "1", "4"]])
  with pytest.raises(ValueError, match=r"the target column 'a' holds class "
                     r"labels .* set task=regression to fit its values"):
    tabular.load_csv(labels, ["y1", "a"])
  ds, _ = tabular.load_csv(labels, ["y1", "a"], task="regression")
  np.testing.assert_array_equal(ds.y, [[1.5, 0], [2.5, 1], [4, 1]])
  with pytest.raises(ValueError, match=r"target column 'y1' is listed twice"):
    tabular.load_csv(path, ["y1", "y1"])
  with pytest.raises(ValueError, match=r"only columns are the targets a, b, "
                     r"y1, y2"):
    tabular.load_csv(path, ["a", "b", "y1", "y2"])


# How a column is kept (codes of few distinct cells, numbers, strings) and
# read (pyarrow block by block, or the csv module) changes no cell and no
# message.


@pytest.fixture(params=["as read", "compact forms"])
def forms(request, monkeypatch):
  if request.param == "compact forms":   # many blocks, codes given up early
    monkeypatch.setattr(tabular, "MAX_CODED", 2)
    monkeypatch.setattr(tabular, "BLOCK_BYTES", 128)
  return request.param


def _with_ids(n):
  rows = easy_rows(n)
  return [[f"r{i}", *r] for i, r in enumerate(rows)]


def test_cells_alike_in_every_form(tmp_path, forms):
  rows = _with_ids(60)
  rows[45][0] = "oops, text"   # an id column of numbers, text late in it
  for i, r in enumerate(rows):
    r[0] = str(i) if i != 45 else r[0]
  path = write_csv(tmp_path / "f.csv", ["id", *HEADER], rows)
  table = tabular.read_csv(path)
  for j, name in enumerate(table.header):
    assert table.column(name) == [r[j] for r in rows], name
  assert table.take([50, 3]).rows == (tuple(rows[50]), tuple(rows[3]))
  np.testing.assert_array_equal(table.line_numbers, np.arange(2, 62))
  by_csv = _read_by_csv_module(path)
  for name in table.header:
    assert by_csv.column(name) == table.column(name)
  ds, enc = tabular.load_csv(path, "label", ["color", "id"], ORDINAL)
  assert len(enc.nominal["id"]) == 60 and ds.x.shape == (60, 60 + 3 + 2 + 2)
  np.testing.assert_allclose(
      enc.scaler.mean, [np.mean([float(r[1]) for r in rows]),
                        np.mean([float(r[4]) for r in rows])])


@pytest.mark.parametrize("cell,message", [
    ("abc", r"'abc' is not a finite number"),
    ("1e300", r"'1e300' is beyond the range of the 32-bit"),
    ("nan", r"missing value \('nan'\)"),
    ("inf", r"'inf' is not a finite number"),
])
def test_bad_numbers_named_in_every_form(tmp_path, forms, cell, message):
  rows = _with_ids(60)
  rows[40][1] = cell
  path = write_csv(tmp_path / "b.csv", ["id", *HEADER], rows)
  with pytest.raises(ValueError, match=r"b.csv: data row 41 \(line 42\), "
                     r"column 'x1': " + message):
    tabular.load_split(path, "label", ["color"], ORDINAL, features=[
        "x1", "color", "size", "x2"])
  table = _read_by_csv_module(path)
  with pytest.raises(ValueError, match=r"data row 41 \(line 42\), column "
                     r"'x1': " + message):
    tabular.fit_encoder(table, "label", ["color"], ORDINAL,
                        features=["x1", "color", "size", "x2"])


def test_unknown_category_of_a_test_row_in_every_form(tmp_path, forms):
  rows = _with_ids(60)
  rows[57][2] = "purple"
  path = write_csv(tmp_path / "u.csv", ["id", *HEADER], rows)
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table.take(np.arange(50)), "label", ["color"],
                            ORDINAL, features=["x1", "color", "size"])
  with pytest.raises(ValueError, match=r"data row 58 \(line 59\), column "
                     r"'color': category 'purple' was not in the training"):
    enc.transform(table.take(np.arange(50, 60)))


def _read_by_csv_module(path):
  """read_csv as the csv module alone reads the file."""
  def refuse(*_):
    raise tabular._NotForArrow  # pylint: disable=protected-access
  read_arrow = tabular._read_arrow  # pylint: disable=protected-access
  tabular._read_arrow = refuse  # pylint: disable=protected-access
  try:
    return tabular.read_csv(path)
  finally:
    tabular._read_arrow = read_arrow  # pylint: disable=protected-access


CELLS = ["a", "1", "2.5", " x ", "", "NA", '"q,r"', '"s""t"', '"u\nv"',
         '"w\r\nz"', "é"]


@given(st.lists(st.tuples(st.lists(st.sampled_from(CELLS), min_size=1,
                                   max_size=3),
                          st.sampled_from(["\n", "\r\n", "\n\n", "\n \n"])),
                min_size=1, max_size=8),
       st.booleans())
def test_pyarrow_reads_as_the_csv_module(lines, ragged):
  """Quotes, line breaks in cells, blank lines, spaces, rows of another
  length: the same header, rows, line numbers, or the same error."""
  width = len(lines[0][0])
  text = "".join(",".join(cells if ragged else (cells * 3)[:width]) + end
                 for cells, end in lines)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "t.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
      f.write(text)
    results = []
    for read in (tabular.read_csv, _read_by_csv_module):
      try:
        table = read(path)
        results.append((table.header, table.rows,
                        table.line_numbers.tolist()))
      except ValueError as e:
        results.append(str(e))
    assert results[0] == results[1], text


def _same(a, b):
  """Two data sets with bitwise equal arrays, of the same dtypes."""
  for name in ("x", "y"):
    u, v = getattr(a, name), getattr(b, name)
    assert u.dtype == v.dtype and u.shape == v.shape
    assert u.tobytes() == v.tobytes()
  assert (a.name, a.task, a.num_classes, a.class_names) == (
      b.name, b.task, b.num_classes, b.class_names)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37])
@pytest.mark.parametrize("key", [jax.random.PRNGKey(5), None])
def test_validation_rows_are_those_data_split_takes(tmp_path, fraction, key):
  # prepare's validation and training rows, encoded at once into one array,
  # are bitwise data.split of the encoded training rows (regression too).
  path = write_csv(tmp_path / "easy.csv", HEADER, easy_rows(97))
  for target, kwargs in (("label", dict(nominal=["color"], ordinal=ORDINAL)),
                         (("x2", "x1"), dict(nominal=["color", "size", "label"]))):
    full, test, enc = tabular.load_split(path, target, test_fraction=0.2,
                                         seed=1, **kwargs)
    train, val, test2, enc2 = tabular.load_split(
        path, target, test_fraction=0.2, seed=1, validation=(key, fraction),
        **kwargs)
    want_val, want_train = data.split(full, key, (fraction,))
    _same(val, want_val)
    _same(train, want_train)
    _same(test2, test)
    assert json.dumps(enc2.to_json()) == json.dumps(enc.to_json())
    if fraction:   # slices of one array: no copy
      assert train.x.base is val.x.base is not None


def test_validation_split_names_the_first_bad_row_of_the_file(tmp_path):
  rows = easy_rows(40)
  rows[30][2], rows[7][2] = "XL", "XXL"
  path = write_csv(tmp_path / "bad.csv", HEADER, rows)
  messages = []
  for validation in (None, (jax.random.PRNGKey(0), 0.5)):
    with pytest.raises(ValueError, match="data row 8") as e:
      tabular.load_split(path, "label", ["color"], ORDINAL, 0.1,
                         validation=validation)
    messages.append(str(e.value))
  assert messages[0] == messages[1]


def test_a_numeric_columns_error_comes_before_a_nominal_ones(tmp_path):
  rows = easy_rows(6)
  path = write_csv(tmp_path / "ok.csv", HEADER, rows)
  enc = tabular.fit_encoder(tabular.read_csv(path), "label", ["color"],
                            ORDINAL)
  rows[1][1], rows[4][3] = "purple", "wide"
  path = write_csv(tmp_path / "bad.csv", HEADER, rows)
  with pytest.raises(ValueError, match=r"data row 5 .*'x2': 'wide' is not"):
    enc.transform(tabular.read_csv(path))


def test_encoding_by_blocks_of_rows_changes_no_value(tmp_path, monkeypatch):
  # Blocks of 7 rows (the last one short) against one block: the same
  # inputs and labels, numeric, nominal and ordinal columns alike.
  colors = ("red", "blue", "green")
  path = write_csv(tmp_path / "d.csv", ["a", "b", "color", "size", "label"],
                   [[i * 0.37 - 3, (i % 5) ** 2, colors[i % 3], LEVELS[i % 3],
                     ("yes", "no")[i % 2]] for i in range(40)])
  table = tabular.read_csv(path)
  enc = tabular.fit_encoder(table, "label", nominal=["color"],
                            ordinal={"size": LEVELS})
  whole = enc.transform(table)
  monkeypatch.setattr(tabular, "ENCODE_BLOCK_ROWS", 7)
  blocks = enc.transform(table)
  np.testing.assert_array_equal(blocks.x, whole.x, strict=True)
  np.testing.assert_array_equal(blocks.y, whole.y, strict=True)
  assert whole.x.shape == (40, 2 + 3 + 2) and len(set(whole.x[:, 2])) == 2


def test_fitting_and_encoding_make_no_copy_of_the_columns(tmp_path,
                                                         monkeypatch):
  # NumPy's arrays are traced (pyarrow's reading is not): fitting takes the
  # float64 numeric columns and nothing of their size more, encoding writes
  # x and y with temporaries of one column's size.
  monkeypatch.setattr(tabular, "ENCODE_BLOCK_ROWS", 4096)
  from benchmarks import loading  # pylint: disable=g-import-not-at-top
  path = loading.write_csv(str(tmp_path / "big.csv"), 50_000)
  _, rows = tabular.read_csv(path).split(data.host_key(0), 0.2)
  tracemalloc.start()
  try:
    enc = tabular.fit_encoder(rows, "label", nominal=["color"],
                              ordinal={"size": ("S", "M", "L")})
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    ds = enc.transform(rows)
    encode_peak = tracemalloc.get_traced_memory()[1] - start
  finally:
    tracemalloc.stop()
  assert ds.x.shape == (rows.size, 9)
  output = ds.x.nbytes + ds.y.nbytes   # more than the float64 columns'
  assert rows.size * 4 * 8 < output
  # (Before blockwise encoding and the fit's in-place deviations: 1.63x
  # and 1.47x.)
  assert encode_peak <= 1.25 * output, (encode_peak, output)
  # fit_encoder encodes the training rows on the way (its cell checks),
  # after it has freed the columns.
  assert fit_peak <= 1.25 * output, (fit_peak, output)
