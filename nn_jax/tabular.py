"""CSV data a user brings: typed columns encoded as the lecture encodes inputs.

Every column of the CSV except the target is a feature of one of three types:

* **nominal** (listed in ``nominal``): 1-of-k code (:func:`encoding.one_hot`)
  over the categories seen in the *training* rows, sorted;
* **ordinal** (listed in ``ordinal`` with its levels in order): thermometer
  code (:func:`encoding.thermometer`), ``k - 1`` units for ``k`` levels;
* **numeric** (every other column): standardized (:class:`encoding.Standardize`)
  with the mean and standard deviation of the *training* rows.

Those are the defaults; :class:`Codes` chooses others (integer codes for
nominal or ordinal columns, 1-of-k for ordinal ones, the lecture's k-unit
thermometer, raw numeric columns), as ``nn_jax.config``'s ``nominal_code``,
``ordinal_code``, ``thermometer_units`` and ``input_encoding`` do.

The encoder is fitted on the training split and then applied to any other
rows, so the caller splits first::

  table = tabular.read_csv("weather.csv")
  test_rows, train_rows = table.split(key, 0.2)
  enc = tabular.fit_encoder(train_rows, "play", nominal=["outlook"],
                            ordinal={"humidity": ["low", "normal", "high"]})
  train, test = enc.transform(train_rows), enc.transform(test_rows)

or all at once with :func:`load_split`. On the command line the types are
given as ``--nominal=a,b`` and ``--ordinal=c:low<mid<high;d:s<m<l``, parsed by
:func:`parse_nominal` and :func:`parse_ordinal`.

Errors that the data can cause (a missing value, a category the training rows
never had, a word in a numeric column) raise ``ValueError`` naming the
**data row** -- 1-based, counting the rows after the header, so data row 1 is
the file's second line unless blank lines come between -- with its line in
the file, and the column. Cells are stripped of surrounding
spaces; an empty cell or one of ``NA``, ``N/A``, ``NaN``, ``null``, ``None``,
``?`` (any case) is a missing value.
"""

import csv
import os
from typing import Mapping, NamedTuple, Optional, Sequence

import chex
import jax
import numpy as np

from nn_jax import data as data_lib
from nn_jax import encoding

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

# A numeric target with integer values only and at most this many distinct
# values is taken for class labels.
MAX_INTEGER_CLASSES = 10
# Most known categories, levels or classes an error message lists.
MAX_LISTED = 10

TASKS = (data_lib.CLASSIFICATION, data_lib.REGRESSION)


class Table(NamedTuple):
  """The cells of a CSV file as strings, with each row's place in the file.

  Attributes:
    path: the file read (for error messages).
    header: column names, in file order.
    rows: the data rows, each a tuple of ``len(header)`` stripped strings.
    row_numbers: int ``(n,)``, the 1-based data row number of each row in the
      file (data row 1 is the first row after the header; blank lines are not
      rows); kept through ``take`` so that errors on a split still name the
      file's row.
    line_numbers: int ``(n,)``, the line of the file where each row ends.
  """
  path: str
  header: tuple
  rows: tuple
  row_numbers: np.ndarray
  line_numbers: np.ndarray

  @property
  def size(self) -> int:
    return len(self.rows)

  def take(self, idx) -> "Table":
    """The rows at ``idx`` (an int array), in that order."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    return self._replace(rows=tuple(self.rows[i] for i in idx),
                         row_numbers=self.row_numbers[idx],
                         line_numbers=self.line_numbers[idx])

  def column(self, name: str) -> list:
    """The cells of column ``name``."""
    j = self._index(name, "column")
    return [r[j] for r in self.rows]

  def split(self, key: chex.PRNGKey, test_fraction: float
            ) -> tuple["Table", "Table"]:
    """``(test, train)``: ``round(test_fraction * n)`` random rows, the rest.

    The permutation is ``nn_jax.data.permutation(key, n)``, as in
    :func:`nn_jax.data.split`.
    """
    if not 0 <= test_fraction < 1:
      raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}")
    order = np.asarray(data_lib.permutation(key, self.size))
    n_test = int(round(test_fraction * self.size))
    return self.take(order[:n_test]), self.take(order[n_test:])

  def _index(self, name, what):
    try:
      return self.header.index(name)
    except ValueError:
      raise ValueError(
          f"{what} {name!r} is not a column of {self.path}; its columns are: "
          f"{', '.join(self.header)}") from None


def _where(table: Table, i: int, column: str) -> str:
  return (f"{table.path}: data row {int(table.row_numbers[i])} (line "
          f"{int(table.line_numbers[i])}), column {column!r}")


def is_missing(cell: str) -> bool:
  """Whether ``cell`` (already stripped) stands for a missing value."""
  return cell.lower() in MISSING


def read_csv(path: str, delimiter: str = ",") -> Table:
  """Reads a CSV file with a header line into a :class:`Table` of strings.

  Blank lines are skipped (they do not count as data rows). A file whose
  header holds no comma but semicolons or tabs is read with those as the
  separator.

  Raises:
    ValueError: the file does not exist or is not UTF-8 text, is empty, has
      no data rows, has an empty or repeated column name, or has a row whose
      number of cells differs from the header's (the message names the data
      row and its line).
  """
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such CSV file")
  header = None
  rows, lines = [], []
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      reader = csv.reader(f, delimiter=delimiter)
      for cells in reader:
        cells = tuple(c.strip() for c in cells)
        if not any(cells):
          continue
        if header is None:
          header = cells
          continue
        if len(cells) != len(header):
          raise ValueError(
              f"{path}: data row {len(rows) + 1} (line {reader.line_num}) has "
              f"{len(cells)} cells but the header has {len(header)} columns "
              f"({', '.join(header)})")
        rows.append(cells)
        lines.append(reader.line_num)
  except (UnicodeDecodeError, csv.Error) as e:
    raise ValueError(f"{path} is not a UTF-8 CSV text file ({e})") from None
  if header is None:
    raise ValueError(f"{path} is empty; it needs a header line with the "
                     f"column names, then one line per example")
  if len(header) == 1 and delimiter == ",":
    for other in (";", "\t"):
      if other in header[0]:   # a ;- or tab-separated file
        return read_csv(path, other)
  for j, name in enumerate(header):
    if not name:
      raise ValueError(f"{path}: column {j + 1} of the header has no name")
    if header.index(name) != j:
      raise ValueError(f"{path}: column name {name!r} appears twice in the "
                       f"header")
  if not rows:
    raise ValueError(f"{path} has a header ({', '.join(header)}) but no data "
                     f"rows")
  return Table(path, header, tuple(rows), np.arange(1, len(rows) + 1),
               np.asarray(lines, np.int64))


def from_records(records: Sequence[Mapping], name: str = "records"
                 ) -> Table:
  """A :class:`Table` of ``records`` (one dict per row, column -> value),
  as :func:`read_csv` would read them: the columns in the order first
  seen, a cell the record lacks (or None) missing, others as ``str``."""
  header = tuple(dict.fromkeys(str(k) for r in records for k in r))
  rows = tuple(tuple("" if r.get(c) is None else str(r.get(c)).strip()
                     for c in header)
               for r in ({str(k): v for k, v in r.items()} for r in records))
  numbers = np.arange(1, len(rows) + 1)
  return Table(name, header, rows, numbers, numbers)


def parse_nominal(spec: str, flag: str = "nominal") -> tuple:
  """Parses ``"a,b"`` into ``("a", "b")``; an empty spec gives ``()``.

  Raises:
    ValueError: an empty or repeated name, naming ``--flag``.
  """
  if not spec.strip():
    return ()
  names = tuple(n.strip() for n in spec.split(","))
  for n in names:
    if not n:
      raise ValueError(f"--{flag}={spec}: empty column name; write "
                       f"comma-separated names like --{flag}=color,shape")
    if names.count(n) > 1:
      raise ValueError(f"--{flag}={spec}: column {n!r} is listed twice")
  return names


def parse_ordinal(spec: str, flag: str = "ordinal") -> dict:
  """Parses ``"c:low<mid<high;d:s<m<l"`` into ``{"c": ("low", "mid", "high"),
  "d": ("s", "m", "l")}``.

  Columns are separated by ``;``, a column's name from its levels by ``:``,
  and the levels, lowest first, by ``<``. An empty spec gives ``{}``.

  Raises:
    ValueError: on bad syntax, naming ``--flag`` and the part to change.
  """
  out = {}
  example = f"--{flag}=size:small<medium<large;grade:C<B<A"
  for part in spec.split(";"):
    part = part.strip()
    if not part:
      continue
    if part.count(":") != 1:
      raise ValueError(f"--{flag}: {part!r} must be one column:levels pair "
                       f"with a single ':', e.g. {example}")
    name, levels = (s.strip() for s in part.split(":"))
    if not name:
      raise ValueError(f"--{flag}: {part!r} has no column name before ':', "
                       f"e.g. {example}")
    levels = tuple(l.strip() for l in levels.split("<"))
    if len(levels) < 2 or not all(levels):
      raise ValueError(f"--{flag}: column {name!r} needs at least two "
                       f"non-empty levels separated by '<', lowest first, "
                       f"e.g. {example}")
    if len(set(levels)) != len(levels):
      raise ValueError(f"--{flag}: column {name!r} repeats a level in "
                       f"{' < '.join(levels)}")
    if name in out:
      raise ValueError(f"--{flag}: column {name!r} is given twice")
    out[name] = levels
  return out


def _number(cell: str):
  try:
    v = float(cell)
  except ValueError:
    return None
  return v if np.isfinite(v) else None


def _numeric_class(cell: str) -> str:
  """A number's class name: ``1``, ``1.0`` and ``01`` are all ``"1"``."""
  v = _number(cell)
  return str(int(v)) if v.is_integer() else repr(v)


def _all_numbers(values) -> bool:
  return all(_number(v) is not None for v in values)


def _sorted_classes(values) -> tuple:
  """Distinct values, as numbers (equal numbers one class) and numerically
  sorted if they are all numbers."""
  distinct = set(values)
  if _all_numbers(distinct):
    return tuple(sorted({_numeric_class(v) for v in distinct}, key=float))
  return tuple(sorted(distinct))


def infer_task(values: Sequence[str]) -> str:
  """Classification or regression from a target column's (non-missing) cells.

  The rule: the target is a class label (``"classification"``) if any cell is
  not a number, or if every cell is a whole number (``3``, ``3.0``) and there
  are at most ``MAX_INTEGER_CLASSES`` (10) distinct values; otherwise it is a
  real value to predict (``"regression"``).
  """
  numbers = [_number(v) for v in values]
  if any(n is None for n in numbers):
    return data_lib.CLASSIFICATION
  if (all(float(n).is_integer() for n in numbers)
      and len(set(numbers)) <= MAX_INTEGER_CLASSES):
    return data_lib.CLASSIFICATION
  return data_lib.REGRESSION


NOMINAL_CODES = ("one_hot", "integer")
ORDINAL_CODES = ("thermometer", "one_hot", "integer")
NUMERIC_CODES = ("standardize", "none")


class Codes(NamedTuple):
  """How each type of column is coded: ``nominal`` one of NOMINAL_CODES,
  ``ordinal`` one of ORDINAL_CODES (a thermometer of ``thermometer_units``,
  one of ``encoding.THERMOMETER_UNITS``), ``numeric`` one of NUMERIC_CODES
  (``none``: the numbers as they are)."""
  nominal: str = "one_hot"
  ordinal: str = "thermometer"
  thermometer_units: str = "k-1"
  numeric: str = "standardize"

  def check(self) -> "Codes":
    for name, allowed in (("nominal", NOMINAL_CODES),
                          ("ordinal", ORDINAL_CODES),
                          ("thermometer_units", encoding.THERMOMETER_UNITS),
                          ("numeric", NUMERIC_CODES)):
      if getattr(self, name) not in allowed:
        raise ValueError(f"codes.{name} must be one of {', '.join(allowed)}; "
                         f"got {getattr(self, name)!r}")
    return self


class TabularEncoder(NamedTuple):
  """Column types and the statistics fitted on training rows.

  Attributes:
    target: the target column.
    task: ``"classification"`` or ``"regression"``.
    features: the feature columns, in file order.
    nominal: nominal column -> its categories (from the training rows, sorted).
    ordinal: ordinal column -> its levels, lowest first.
    numeric: the numeric columns, in file order.
    scaler: standardization of the numeric columns, fitted on training rows
      (with ``codes.numeric == "none"``: mean 0, std 1, the identity).
    classes: class names (the target's values, sorted; numerically when they
      are numbers); label ``i`` is ``classes[i]``. Empty for regression.
    feature_names: one name per encoded input: ``age`` (numeric, or an
      integer code), ``color=red`` (one unit of a 1-of-k code), ``size>=mid``
      (one unit of a thermometer code).
    name: the data set's name (the file's name without extension).
    codes: how each type of column is coded (:class:`Codes`).
  """
  target: str
  task: str
  features: tuple
  nominal: dict
  ordinal: dict
  numeric: tuple
  scaler: encoding.Standardize
  classes: tuple
  feature_names: tuple
  name: str
  codes: Codes = Codes()

  def transform(self, table: Table) -> data_lib.Dataset:
    """Encodes ``table``'s rows with the statistics fitted on training rows.

    Returns:
      A :class:`nn_jax.data.Dataset`: ``x`` float32 ``(n, len(feature_names))``;
      ``y`` int32 labels ``0..len(classes) - 1`` (classification) or float32
      ``(n, 1)`` (regression).

    Raises:
      ValueError: a missing cell, a category or level the encoder does not
        know, a non-numeric cell in a numeric column, or a class label not in
        the training rows; the message names the data row and the column.
    """
    table._index(self.target, "column")  # pylint: disable=protected-access
    x = self.inputs(table)
    if self.task == data_lib.CLASSIFICATION:
      values = _known_cells(table, self.target, self.classes, "class",
                            "was not in the training rows",
                            numbers=_all_numbers(self.classes))
      index = {c: i for i, c in enumerate(self.classes)}
      y = np.asarray([index[v] for v in values], np.int32)
      return data_lib.Dataset(self.name, x, y, data_lib.CLASSIFICATION,
                              len(self.classes), class_names=self.classes)
    y = _numeric_column(
        table, self.target, "a regression target must be a number (use "
        "task=classification for class labels)")[:, None].astype(np.float32)
    return data_lib.Dataset(self.name, x, y, data_lib.REGRESSION, 0)

  def inputs(self, table: Table) -> np.ndarray:
    """The encoded inputs of ``table``'s rows, float32 ``(n,
    len(feature_names))``; the target column need not be there (rows to
    predict). Raises ValueError as :meth:`transform` does."""
    for name in self.features:
      table._index(name, "column")  # pylint: disable=protected-access
    blocks = []
    numeric = [_numeric_column(table, c) for c in self.numeric]
    numeric = (self.scaler.apply(np.stack(numeric, 1)) if numeric
               else np.zeros((table.size, 0), np.float32))
    n_i = 0
    for c in self.features:
      if c in self.nominal:
        values = _known_cells(table, c, self.nominal[c], "category",
                              "was not in the training rows")
        blocks.append(_code(self.codes.nominal, values, self.nominal[c]))
      elif c in self.ordinal:
        values = _known_cells(table, c, self.ordinal[c], "level",
                              "is not one of the levels given in --ordinal")
        blocks.append(_code(self.codes.ordinal, values, self.ordinal[c],
                            self.codes.thermometer_units))
      else:
        blocks.append(numeric[:, n_i:n_i + 1])
        n_i += 1
    return (np.concatenate(blocks, 1) if blocks
            else np.zeros((table.size, 0), np.float32)).astype(np.float32)

  def describe(self) -> dict:
    """A JSON-friendly summary (for results.json)."""
    return {"target": self.target, "task": self.task,
            "classes": list(self.classes),
            "nominal": {k: list(v) for k, v in self.nominal.items()},
            "ordinal": {k: list(v) for k, v in self.ordinal.items()},
            "numeric": list(self.numeric),
            "feature_names": list(self.feature_names),
            "codes": self.codes._asdict()}

  def to_json(self) -> dict:
    """Everything :meth:`from_json` needs to encode rows again: the column
    roles, categories, levels, the codes of each column type, the fitted
    mean and std (exact in JSON), the class names."""
    return {**self.describe(), "features": list(self.features),
            "target": (list(self.target) if isinstance(self.target, tuple)
                       else self.target),
            "mean": self.scaler.mean.tolist(),
            "std": self.scaler.std.tolist(), "name": self.name}

  @classmethod
  def from_json(cls, d: dict) -> "TabularEncoder":
    """The encoder :meth:`to_json` described (KeyError, TypeError or
    ValueError if ``d`` is not such a description)."""
    strings = lambda v: tuple(str(s) for s in v)
    target = d["target"]
    return cls(
        target=strings(target) if isinstance(target, list) else str(target),
        task=str(d["task"]), features=strings(d["features"]),
        nominal={str(k): strings(v) for k, v in d["nominal"].items()},
        ordinal={str(k): strings(v) for k, v in d["ordinal"].items()},
        numeric=strings(d["numeric"]),
        scaler=encoding.Standardize(np.asarray(d["mean"], np.float64),
                                    np.asarray(d["std"], np.float64)),
        classes=strings(d["classes"]),
        feature_names=strings(d["feature_names"]), name=str(d["name"]),
        codes=Codes(**{k: str(v) for k, v in d["codes"].items()}).check())


def _code(code: str, values, levels, units: str = "k-1") -> np.ndarray:
  """``values`` coded by ``code`` (of NOMINAL_CODES or ORDINAL_CODES)."""
  if code == "one_hot":
    return encoding.one_hot(values, levels)
  if code == "integer":
    return encoding.integer_code(values, levels)
  return encoding.thermometer(values, levels, units)


def _code_names(code: str, column: str, levels, units: str = "k-1") -> list:
  """The names of the inputs :func:`_code` makes for ``column``."""
  if code == "one_hot":
    return [f"{column}={v}" for v in levels]
  if code == "integer":
    return [column]
  return [f"{column}>={v}" for v in levels[units != "k":]]


def _in_file_order(table: Table, values: list):
  """``(i, values[i])`` in the order of the rows in the file, so that an
  error names the first bad row of the file, not of a shuffled split."""
  for i in np.argsort(table.row_numbers, kind="stable"):
    yield int(i), values[i]


def _cells(table: Table, column: str) -> list:
  """The cells of ``column``; raises on the first missing one."""
  values = table.column(column)
  for i, v in _in_file_order(table, values):
    if is_missing(v):
      raise ValueError(
          f"{_where(table, i, column)}: missing value ({v!r}); fill it in or "
          f"remove the row (data rows are 1-based, after the header)")
  return values


def _known_cells(table, column, known, what, why, numbers=False) -> list:
  """The column's cells, each one of ``known`` (with ``numbers``: equal as
  a number to one, and named as it is there)."""
  values = _cells(table, column)
  allowed = set(known)
  named = [_numeric_class(v) if numbers and _number(v) is not None else v
           for v in values]
  for i, name in _in_file_order(table, named):
    if name not in allowed:
      shown = ", ".join(known[:MAX_LISTED]) + (
          f", ... ({len(known)} in all)" if len(known) > MAX_LISTED else "")
      raise ValueError(
          f"{_where(table, i, column)}: {what} {values[i]!r} {why} (known: "
          f"{shown})")
  return named


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _numeric_column(table: Table, column: str,
                    hint: str = "a numeric column must hold numbers (a "
                    "categorical one goes in nominal or ordinal)"
                    ) -> np.ndarray:
  values = _cells(table, column)
  out = np.empty(len(values), np.float64)
  for i, v in _in_file_order(table, values):
    number = _number(v)
    if number is None:
      raise ValueError(
          f"{_where(table, i, column)}: {v!r} is not a finite number; {hint}")
    if abs(number) > FLOAT32_MAX:
      raise ValueError(
          f"{_where(table, i, column)}: {v!r} is beyond the range of the "
          f"32-bit floats the network computes in (+-{FLOAT32_MAX:.3g})")
    out[i] = number
  return out


def fit_encoder(table: Table, target: str, nominal: Sequence[str] = (),
                ordinal: Optional[Mapping[str, Sequence[str]]] = None,
                task: Optional[str] = None,
                features: Optional[Sequence[str]] = None,
                codes: Codes = Codes()) -> TabularEncoder:
  """Fits the column encodings on training rows.

  Args:
    table: the training rows.
    target: the column to predict.
    nominal: nominal feature columns (1-of-k over the training categories).
    ordinal: ordinal feature column -> its levels, lowest first (thermometer).
    task: ``"classification"`` or ``"regression"``; ``None`` infers it from
      the target's cells by the rule of :func:`infer_task`.
    features: the feature columns to use (default: every column except the
      target); those not in ``nominal`` or ``ordinal`` are numeric.
    codes: how each type of column is coded (default: 1-of-k, thermometer
      of k - 1 units, standardized).

  Returns:
    The fitted :class:`TabularEncoder`; apply it with ``transform``.

  Raises:
    ValueError: a named column is not in the file or is listed twice, the
      target is also listed as a feature, ``task`` is unknown, or a cell is
      bad (the message names the data row and the column).
  """
  ordinal = {str(k): tuple(v) for k, v in (ordinal or {}).items()}
  nominal = tuple(nominal)
  codes = Codes(*codes).check()
  table._index(target, "target column")  # pylint: disable=protected-access
  if task is not None and task not in TASKS:
    raise ValueError(f"task must be one of {', '.join(TASKS)} (or None to "
                     f"infer it from the target column); got {task!r}")
  for what, names in (("nominal", nominal), ("ordinal", tuple(ordinal)),
                      ("feature", tuple(features or ()))):
    for name in names:
      table._index(name, f"{what} column")  # pylint: disable=protected-access
      if name == target:
        raise ValueError(
            f"the target column {target!r} is also listed in {what}; the "
            f"target is not an input (its classes come from its values; set "
            f"task=classification to force class labels)")
  for name in set(nominal) & set(ordinal):
    raise ValueError(f"column {name!r} is listed in both nominal and ordinal; "
                     f"keep it in one of them")
  for name, levels in ordinal.items():
    if len(levels) < 2 or len(set(levels)) != len(levels):
      raise ValueError(f"ordinal column {name!r} needs at least two distinct "
                       f"levels; got {list(levels)}")
  if features is None:
    features = tuple(c for c in table.header if c != target)
  else:
    features = tuple(c for c in table.header if c in set(features))
  if not features:
    raise ValueError(f"{table.path} has no input features: its only column "
                     f"is the target {target!r}")
  nominal_set = set(nominal)
  missing_types = (nominal_set | set(ordinal)) - set(features)
  if missing_types:
    raise ValueError(f"columns {sorted(missing_types)} are typed as nominal or "
                     f"ordinal but are not among the features "
                     f"{list(features)}")

  targets = _cells(table, target)
  task = task or infer_task(targets)
  classes = ()
  if task == data_lib.CLASSIFICATION:
    classes = _sorted_classes(targets)
    if len(classes) < 2:
      raise ValueError(f"{table.path}: the target column {target!r} has only "
                       f"one class ({classes[0]!r}) in the training rows")
  categories = {c: tuple(sorted(set(_cells(table, c)))) for c in features
                if c in nominal_set}
  numeric = tuple(c for c in features
                  if c not in nominal_set and c not in ordinal)
  columns = [_numeric_column(table, c) for c in numeric]
  scaler = encoding.Standardize.fit(
      np.stack(columns, 1) if columns else np.zeros((table.size, 0)))
  if codes.numeric == "none":
    scaler = encoding.Standardize(np.zeros(len(numeric)), np.ones(len(numeric)))
  names = []
  for c in features:
    if c in categories:
      names += _code_names(codes.nominal, c, categories[c])
    elif c in ordinal:
      names += _code_names(codes.ordinal, c, ordinal[c],
                           codes.thermometer_units)
    else:
      names.append(c)
  enc = TabularEncoder(
      target=target, task=task, features=features, nominal=categories,
      ordinal={c: ordinal[c] for c in features if c in ordinal},
      numeric=numeric, scaler=scaler, classes=classes,
      feature_names=tuple(names),
      name=os.path.splitext(os.path.basename(table.path))[0], codes=codes)
  enc.transform(table)  # checks every training cell (levels, regression y)
  return enc


def load_csv(path: str, target: str, nominal: Sequence[str] = (),
             ordinal: Optional[Mapping[str, Sequence[str]]] = None,
             task: Optional[str] = None,
             features: Optional[Sequence[str]] = None,
             codes: Codes = Codes()
             ) -> tuple[data_lib.Dataset, TabularEncoder]:
  """Reads ``path`` and encodes every row with an encoder fitted on all of them.

  For a train/test split whose encoder sees only the training rows, use
  :func:`load_split`. Arguments as in :func:`fit_encoder`.

  Returns:
    ``(dataset, encoder)``.
  """
  table = read_csv(path)
  enc = fit_encoder(table, target, nominal, ordinal, task, features, codes)
  return enc.transform(table), enc


def load_split(path: str, target: str, nominal: Sequence[str] = (),
               ordinal: Optional[Mapping[str, Sequence[str]]] = None,
               test_fraction: float = 0.2, seed: int = 0,
               task: Optional[str] = None,
               features: Optional[Sequence[str]] = None,
               codes: Codes = Codes()
               ) -> tuple[data_lib.Dataset, data_lib.Dataset, TabularEncoder]:
  """Reads ``path``, splits it, fits the encoder on train, applies it to test.

  The test rows are ``round(test_fraction * n)`` rows drawn by
  ``nn_jax.data.permutation(jax.random.PRNGKey(seed), n)``. A category that
  occurs only in test rows is an error naming its data row and column.

  Args:
    path: the CSV file (header line first).
    target: the column to predict.
    nominal: nominal feature columns.
    ordinal: ordinal feature column -> levels, lowest first.
    test_fraction: share of rows held out, in [0, 1).
    seed: seed of the split.
    task: ``"classification"``, ``"regression"`` or ``None`` (inferred).
    features: feature columns (default: all but the target).
    codes: how each type of column is coded (:class:`Codes`).

  Returns:
    ``(train, test, encoder)``; the encoder's ``classes`` names the labels and
    ``describe()`` summarises it for results.json.
  """
  table = read_csv(path)
  test_rows, train_rows = table.split(jax.random.PRNGKey(seed), test_fraction)
  if train_rows.size == 0:
    raise ValueError(f"{path}: no training rows left after holding out "
                     f"test_fraction={test_fraction} of {table.size}")
  enc = fit_encoder(train_rows, target, nominal, ordinal, task, features,
                    codes)
  return enc.transform(train_rows), enc.transform(test_rows), enc
