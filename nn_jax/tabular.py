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

The target is one column (classification or regression), or several
numeric columns predicted together by regression (``y`` gets one column
per target).

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

The file is parsed by pyarrow's CSV reader (imported when a file is first
read) and kept column by column; each column is checked and encoded at once
with NumPy, its distinct cells looked up once. Files that reader does not
take as the standard library's ``csv`` module would (a row with too many or
too few cells, text that is not UTF-8) are read again by ``csv``, which
names the row.

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
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

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

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _arrow():
  """pyarrow and pyarrow.compute, imported on first use: only CSV files
  need them."""
  import pyarrow  # pylint: disable=g-import-not-at-top
  import pyarrow.compute  # pylint: disable=g-import-not-at-top
  return pyarrow, pyarrow.compute


def _pool():
  """The memory pool of reading: the C library's allocator, whose freed
  blocks NumPy's arrays can take next (pyarrow's own pool keeps them)."""
  return _arrow()[0].system_memory_pool()


# A column with at most this many distinct cells keeps them once each, and a
# code per row.
MAX_CODED = 1 << 12
CODE_DTYPE = np.int16 if MAX_CODED <= 1 << 15 else np.int32
# Encoded inputs are written this many rows at a time.
ENCODE_BLOCK_ROWS = 1 << 16
# The file is read in blocks of this many bytes (pyarrow buffers a few
# dozen; larger blocks take more memory and are not faster).
BLOCK_BYTES = 1 << 18


class Column(NamedTuple):
  """The cells of one column, every data row of a file, kept compactly.

  One of three forms: ``values`` and ``codes`` (row ``i``'s cell is
  ``values[codes[i]]``) for a column of at most ``MAX_CODED`` distinct
  cells; else ``numbers`` (float64) when pyarrow reads every cell as a
  number (the cells' text is read from the file again if a message needs
  it); else ``strings`` (a ``pyarrow.StringArray``).
  """
  values: Optional[list] = None
  codes: Optional[np.ndarray] = None
  numbers: Optional[np.ndarray] = None
  strings: Any = None


class Source(NamedTuple):
  """How a :class:`Table`'s file was read, to read a column of it again.

  Attributes:
    delimiter: the separator.
    dropped: the rows pyarrow gave that are not data rows (the header and
      blank rows), by position.
    lines: the line where each data row ends, when the ``csv`` module read
      the file; None when pyarrow did (a message then finds its row's line).
    quoted: whether the file holds a quote character (a quoted cell may
      hold a line break).
  """
  delimiter: str = ","
  dropped: np.ndarray = np.zeros(0, np.int64)
  lines: Optional[np.ndarray] = None
  quoted: bool = True


class Table(NamedTuple):
  """The cells of a CSV file, column by column, and which of the file's
  rows this table holds.

  Attributes:
    path: the file read (for error messages).
    header: column names, in file order.
    cells: one :class:`Column` per column, with the stripped cells of every
      data row of the file (shared by the tables ``take`` and ``split``
      make).
    index: int64 ``(n,)``: this table's rows, as 0-based positions among
      the file's data rows, in this table's order.
    source: how the file was read (:class:`Source`).
  """
  path: str
  header: tuple
  cells: tuple
  index: np.ndarray
  source: Source = Source()

  @property
  def size(self) -> int:
    return len(self.index)

  @property
  def row_numbers(self) -> np.ndarray:
    """int64 ``(n,)``, the 1-based data row number of each row in the file
    (data row 1 is the first row after the header; blank lines are not
    rows); kept through ``take`` so that errors on a split still name the
    file's row."""
    return self.index + 1

  @property
  def line_numbers(self) -> np.ndarray:
    """int64 ``(n,)``, the line of the file where each row ends."""
    lines = self.source.lines
    if lines is None:
      lines = _scan_lines(self.path, self.source.delimiter)
    return lines[self.index]

  @property
  def rows(self) -> tuple:
    """The rows as tuples of ``len(header)`` stripped strings (for small
    tables: this makes a Python string of every cell)."""
    return tuple(zip(*(self.column(c) for c in self.header)))

  def take(self, idx) -> "Table":
    """The rows at ``idx`` (an int array), in that order."""
    idx = np.asarray(idx, np.int64).reshape(-1)
    return self._replace(index=self.index[idx])

  def column(self, name: str) -> list:
    """The cells of column ``name``."""
    pa, _ = _arrow()
    strings = _strings(self, self._index(name, "column"))
    return strings.take(pa.array(self.index)).to_pylist()

  def split(self, key: jax.Array, test_fraction: float
            ) -> tuple["Table", "Table"]:
    """``(test, train)``: ``round(test_fraction * n)`` random rows, the rest.

    The permutation is ``nn_jax.data.permutation(key, n)``, as in
    :func:`nn_jax.data.split`.
    """
    if not 0 <= test_fraction < 1:
      raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}")
    order, (_, n_test, _) = data_lib.split_order(self.size, key,
                                                 (test_fraction,))
    return self.take(order[:n_test]), self.take(order[n_test:])

  def _index(self, name, what):
    try:
      return self.header.index(name)
    except ValueError:
      raise ValueError(
          f"{what} {name!r} is not a column of {self.path}; its columns are: "
          f"{', '.join(self.header)}") from None


def _where(table: Table, i: int, column: str) -> str:
  row = int(table.row_numbers[i])
  if table.source.lines is not None:
    line = str(int(table.source.lines[row - 1]))
  else:
    lines = _scan_lines(table.path, table.source.delimiter, stop=row)
    line = str(int(lines[-1])) if len(lines) == row else "?"
  return f"{table.path}: data row {row} (line {line}), column {column!r}"


def is_missing(cell: str) -> bool:
  """Whether ``cell`` (already stripped) stands for a missing value."""
  return cell.lower() in MISSING


def _blank(cells) -> bool:
  return not any(c.strip() for c in cells)


def _scan_lines(path: str, delimiter: str, stop: Optional[int] = None
                ) -> np.ndarray:
  """The line where each data row of the file ends (of the first ``stop``
  rows), as the ``csv`` module counts lines."""
  lines, header = [], False
  with open(path, newline="", encoding="utf-8-sig") as f:
    reader = csv.reader(f, delimiter=delimiter)
    for cells in reader:
      if _blank(cells):
        continue
      if header:
        lines.append(reader.line_num)
        if stop is not None and len(lines) >= stop:
          break
      header = True
  return np.asarray(lines, np.int64)


class _NotForArrow(Exception):
  """A file that pyarrow's reader leaves to the ``csv`` module."""


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
  try:
    header, cells, source = _read_arrow(path, delimiter)
  except _NotForArrow:
    header, cells, source = _read_python(path, delimiter)
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
  n = _length(cells[0])
  if not n:
    raise ValueError(f"{path} has a header ({', '.join(header)}) but no data "
                     f"rows")
  data_lib.release_freed_memory()   # pyarrow's reading's
  return Table(path, header, cells, np.arange(n, dtype=np.int64), source)


def _length(column: Column) -> int:
  for part in (column.codes, column.numbers, column.strings):
    if part is not None:
      return len(part)
  return 0


class _ColumnBuilder:
  """Takes a column's cells block by block and keeps them as a
  :class:`Column`: codes while there are few distinct cells, numbers while
  every cell is one, else the strings. ``capacity``: at least the number of
  cells to come (the arrays are made that long at once, and only the part
  written takes memory)."""

  def __init__(self, capacity: int):
    self.place = {}      # cell -> code
    self.codes = np.empty(capacity, CODE_DTYPE)
    self.numbers = np.empty(capacity, np.float64)
    self.strings = []
    self.size = 0
    self.lost = False    # the strings of earlier blocks were not kept

  def add(self, cells) -> None:
    pa, pc = _arrow()
    start, self.size = self.size, self.size + len(cells)
    if self.place is not None:
      encoded = pc.dictionary_encode(cells, memory_pool=_pool())
      if len(self.place) + len(encoded.dictionary) <= MAX_CODED:
        ids = np.asarray([self.place.setdefault(v, len(self.place))
                          for v in encoded.dictionary.to_pylist()] or [0],
                         CODE_DTYPE)
        self.codes[start:self.size] = ids[np.asarray(encoded.indices)]
      else:
        self.place = self.codes = None
    if self.numbers is not None:
      try:
        self.numbers[start:self.size] = pc.cast(cells, pa.float64(),
                                                memory_pool=_pool())
      except pa.ArrowInvalid:
        self.numbers = None
    if self.place is None and self.numbers is None:
      self.lost = self.lost or (start > 0 and not self.strings)
      self.strings.append(cells)

  def finish(self) -> Optional[Column]:
    """The column, or None if it must be read again for its strings."""
    pa, _ = _arrow()
    if self.place is not None:
      return Column(values=list(self.place), codes=self.codes[:self.size])
    if self.numbers is not None:
      return Column(numbers=self.numbers[:self.size])
    if self.lost:
      return None
    return Column(strings=pa.chunked_array(self.strings,
                                           pa.string()).combine_chunks())


def _first_row(path: str, delimiter: str) -> tuple:
  """The stripped cells of the file's first row that is not blank."""
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      for cells in csv.reader(f, delimiter=delimiter):
        if not _blank(cells):
          return tuple(c.strip() for c in cells)
  except (UnicodeDecodeError, csv.Error):
    pass
  raise _NotForArrow   # the csv module names the problem


def _lines_and_quotes(path: str) -> tuple:
  """``(n, quoted)``: at least the number of lines (and so of rows) of the
  file, and whether it holds a quote character."""
  lines, quoted = 1, False
  with open(path, "rb") as f:
    while block := f.read(1 << 22):
      lines += block.count(b"\n") + block.count(b"\r")
      quoted = quoted or b'"' in block
  return lines, quoted


def _arrow_options(delimiter: str, n_columns: int, quoted: bool,
                   **convert):
  """pyarrow's options to read the file's rows as strings, blank rows of
  another length skipped, other rows of another length an error."""
  pa, _ = _arrow()
  import pyarrow.csv as pa_csv  # pylint: disable=g-import-not-at-top
  names = [f"column{j}" for j in range(n_columns)]

  def other_length(row):
    return "skip" if _blank(next(csv.reader([row.text], delimiter=delimiter),
                                 [])) else "error"

  return pa_csv, dict(
      read_options=pa_csv.ReadOptions(column_names=names,
                                      block_size=BLOCK_BYTES,
                                      use_threads=False),
      parse_options=pa_csv.ParseOptions(
          delimiter=delimiter, newlines_in_values=quoted,
          invalid_row_handler=other_length),
      convert_options=pa_csv.ConvertOptions(
          column_types={n: pa.string() for n in names},
          strings_can_be_null=False, quoted_strings_can_be_null=False,
          **convert))


def _read_arrow(path: str, delimiter: str) -> tuple:
  """``(header, cells, source)`` by pyarrow's reader, block by block: one
  :class:`Column` of stripped cells per column, blank rows left out.

  Raises:
    _NotForArrow: the file is empty, is not UTF-8, or has a row (not blank)
      whose number of cells differs from the header's.
  """
  header = _first_row(path, delimiter)
  pa, pc = _arrow()
  lines, quoted = _lines_and_quotes(path)
  pa_csv, options = _arrow_options(delimiter, len(header), quoted)
  builders = [_ColumnBuilder(lines) for _ in header]
  dropped, position, found_header = [], 0, False
  default_pool = pa.default_memory_pool()
  pa.set_memory_pool(_pool())   # also for the reader's own buffers
  try:
    with pa.OSFile(path) as f:   # read as is, whatever the file's extension
      for batch in pa_csv.open_csv(f, **options, memory_pool=_pool()):
        cells = [pc.utf8_trim_whitespace(c, memory_pool=_pool())
                 for c in batch.columns]
        blank = np.ones(batch.num_rows, bool)
        for c in cells:
          blank &= np.asarray(pc.equal(pc.binary_length(c), 0))
        if not found_header and not blank.all():
          first = int(np.argmin(blank))
          if tuple(c[first].as_py() for c in cells) != header:
            raise _NotForArrow
          blank[first] = found_header = True
        if blank.any():
          dropped.append(position + np.flatnonzero(blank))
          keep = pa.array(~blank)
          cells = [pc.filter(c, keep, memory_pool=_pool()) for c in cells]
        position += batch.num_rows
        for builder, c in zip(builders, cells):
          builder.add(c)
  except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
    raise _NotForArrow from None
  finally:
    pa.set_memory_pool(default_pool)
  if not found_header:
    raise _NotForArrow
  source = Source(delimiter, np.concatenate(dropped), quoted=quoted)
  cells = []
  for j, builder in enumerate(builders):
    column = builder.finish()
    cells.append(column if column is not None else Column(
        strings=_read_strings(path, source, len(header), j)))
  return header, tuple(cells), source


def _read_strings(path: str, source: Source, n_columns: int, j: int):
  """Column ``j``'s stripped cells, every data row, read from the file
  again (pyarrow)."""
  pa, pc = _arrow()
  pa_csv, options = _arrow_options(source.delimiter, n_columns,
                                   source.quoted,
                                   include_columns=[f"column{j}"])
  with pa.OSFile(path) as f:
    cells = pa_csv.read_csv(f, **options).column(0)
  keep = np.ones(len(cells), bool)
  keep[source.dropped] = False
  return pc.utf8_trim_whitespace(cells.filter(pa.array(keep))).combine_chunks()


def _strings(table: Table, j: int):
  """Column ``j``'s cells, every data row of the file (pyarrow strings)."""
  pa, _ = _arrow()
  column = table.cells[j]
  if column.strings is not None:
    return column.strings
  if column.values is not None:
    return pa.array(column.values, pa.string()).take(pa.array(column.codes))
  return _read_strings(table.path, table.source, len(table.header), j)


def _read_python(path: str, delimiter: str) -> tuple:
  """``(header, cells, source)`` by the ``csv`` module, row by row, with
  the line where each data row ends; raises the errors of :func:`read_csv`
  that a row can cause."""
  pa, _ = _arrow()
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
  return header, _columns(header, rows), Source(
      delimiter, np.zeros(0, np.int64), np.asarray(lines, np.int64))


def _columns(header: tuple, rows: Sequence[tuple]) -> tuple:
  """The :class:`Column` of each of ``header``'s columns of ``rows`` (tuples
  of stripped strings), each keeping its text."""
  pa, _ = _arrow()
  cells = []
  for j in range(len(header)):
    strings = pa.array([r[j] for r in rows], pa.string())
    builder = _ColumnBuilder(len(rows))
    builder.add(strings)
    column = builder.finish()
    if column.values is None:   # the text stays at hand
      column = column._replace(strings=strings)
    cells.append(column)
  return tuple(cells)


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
  return Table(name, header, _columns(header, rows), numbers - 1,
               Source(lines=numbers))


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


def _target_names(target: Union[str, Sequence[str]]) -> tuple:
  targets = (target,) if isinstance(target, str) else tuple(target)
  if not targets:
    raise ValueError("no target column given; name the column to predict")
  for name in targets:
    if targets.count(name) > 1:
      raise ValueError(f"target column {name!r} is listed twice")
  return targets


class TabularEncoder(NamedTuple):
  """Column types and the statistics fitted on training rows.

  Attributes:
    target: the target column; with several targets (regression), a tuple
      of them in the order of ``y``'s columns.
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
  target: Union[str, tuple]
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

  @property
  def targets(self) -> tuple:
    """The target columns, one or more, in the order of ``y``'s columns."""
    return _target_names(self.target)

  def transform(self, table: Table) -> data_lib.Dataset:
    """Encodes ``table``'s rows with the statistics fitted on training rows.

    Returns:
      A :class:`nn_jax.data.Dataset`: ``x`` float32 ``(n, len(feature_names))``;
      ``y`` int32 labels ``0..len(classes) - 1`` (classification) or float32
      ``(n, len(targets))`` (regression).

    Raises:
      ValueError: a missing cell, a category or level the encoder does not
        know, a non-numeric cell in a numeric column, or a class label not in
        the training rows; the message names the data row and the column.
    """
    for name in self.targets:
      table._index(name, "column")  # pylint: disable=protected-access
    x = self.inputs(table)
    if self.task == data_lib.CLASSIFICATION:
      y = _known_cells(table, self.target, self.classes, "class",
                       "was not in the training rows",
                       numbers=_all_numbers(self.classes))
      data_lib.release_freed_memory()   # the column's temporaries
      return data_lib.Dataset(self.name, x, y, data_lib.CLASSIFICATION,
                              len(self.classes), class_names=self.classes)
    y = np.stack([_numeric_column(
        table, t, "a regression target must be a number (use "
        "task=classification for class labels)") for t in self.targets],
                 1).astype(np.float32)
    return data_lib.Dataset(self.name, x, y, data_lib.REGRESSION, 0)

  def inputs(self, table: Table) -> np.ndarray:
    """The encoded inputs of ``table``'s rows, float32 ``(n,
    len(feature_names))``; the target column need not be there (rows to
    predict). Raises ValueError as :meth:`transform` does."""
    for name in self.features:
      table._index(name, "column")  # pylint: disable=protected-access
    x = np.empty((table.size, len(self.feature_names)), np.float32)
    starts = np.cumsum([0] + [len(self.input_names(c)) for c in self.features])
    first = dict(zip(self.features, starts.tolist()))

    def write(c, width, code, values):
      """x's ``width`` inputs of column ``c``: ``code(values[rows])`` for
      each block of rows (no temporary of a whole column's codes); then
      ``values``, the caller's no more, and the temporaries are freed."""
      for i in range(0, table.size, ENCODE_BLOCK_ROWS):
        rows = slice(i, i + ENCODE_BLOCK_ROWS)
        x[rows, first[c]:first[c] + width] = code(values[rows])
      del values
      data_lib.release_freed_memory()

    # The numeric columns first (their errors come first), each taken and
    # standardized on its own into x: less memory, the same values.
    for n_i, c in enumerate(self.numeric):
      scaler = encoding.Standardize(self.scaler.mean[n_i:n_i + 1],
                                    self.scaler.std[n_i:n_i + 1])
      write(c, 1, scaler.apply, _numeric_column(table, c)[:, None])
    for c in self.features:
      if c in self.nominal:
        known = self.nominal[c]
        coded = _code(self.codes.nominal, known, known)   # a row per value
        what, why = "category", "was not in the training rows"
      elif c in self.ordinal:
        known = self.ordinal[c]
        coded = _code(self.codes.ordinal, known, known,
                      self.codes.thermometer_units)
        what, why = "level", "is not one of the levels given in --ordinal"
      else:
        continue
      write(c, coded.shape[1], lambda block: coded[block],
            _known_cells(table, c, known, what, why))
    return x

  def input_names(self, column: str) -> list:
    """The names of the inputs that feature ``column`` is encoded into
    (entries of ``feature_names``)."""
    if column in self.nominal:
      return _code_names(self.codes.nominal, column, self.nominal[column])
    if column in self.ordinal:
      return _code_names(self.codes.ordinal, column, self.ordinal[column],
                         self.codes.thermometer_units)
    return [column]

  def describe(self) -> dict:
    """A JSON-friendly summary (for results.json)."""
    return {"target": (self.target if isinstance(self.target, str)
                       else list(self.target)),
            "task": self.task,
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


def _first_in_file(table: Table, mask: np.ndarray) -> Optional[int]:
  """Of the rows where ``mask`` holds, the one that comes first in the
  file (so that an error names the first bad row of the file, not of a
  shuffled split); None if there is none."""
  rows = np.flatnonzero(mask)
  return int(rows[np.argmin(table.index[rows])]) if rows.size else None


def _distinct(table: Table, column: str) -> tuple:
  """``(codes, values)``: row ``i``'s cell of ``column`` is
  ``values[codes[i]]``; ``values`` are the distinct cells of the rows."""
  pa, pc = _arrow()
  j = table._index(column, "column")  # pylint: disable=protected-access
  kept = table.cells[j]
  if kept.values is not None:
    codes, values = kept.codes, kept.values
  else:
    encoded = pc.dictionary_encode(_strings(table, j))
    codes, values = np.asarray(encoded.indices), encoded.dictionary
  codes = codes[table.index]
  present = np.bincount(codes, minlength=len(values)) > 0
  if isinstance(values, list):
    values = [values[k] for k in np.flatnonzero(present)]
  else:
    values = values.filter(pa.array(present)).to_pylist()
  return (np.cumsum(present) - 1).astype(np.int32)[codes], values


def _cells(table: Table, column: str) -> tuple:
  """:func:`_distinct` of ``column``; raises on the first missing cell."""
  codes, values = _distinct(table, column)
  missing = [k for k, v in enumerate(values) if is_missing(v)]
  if missing:
    i = _first_in_file(table, np.isin(codes, missing))
    raise ValueError(
        f"{_where(table, i, column)}: missing value ({values[codes[i]]!r}); "
        f"fill it in or remove the row (data rows are 1-based, after the "
        f"header)")
  return codes, values


def _known_cells(table, column, known, what, why,
                 numbers=False) -> np.ndarray:
  """Each row's position in ``known`` of its cell of ``column`` (with
  ``numbers``: of the one it equals as a number); raises naming the first
  cell that is not there."""
  codes, values = _cells(table, column)
  place = {c: k for k, c in enumerate(known)}
  lookup = np.asarray(
      [place.get(_numeric_class(v) if numbers and _number(v) is not None
                 else v, -1) for v in values] or [-1], np.int32)
  out = lookup[codes]
  i = _first_in_file(table, out < 0)
  if i is not None:
    shown = ", ".join(known[:MAX_LISTED]) + (
        f", ... ({len(known)} in all)" if len(known) > MAX_LISTED else "")
    raise ValueError(
        f"{_where(table, i, column)}: {what} {values[codes[i]]!r} {why} "
        f"(known: {shown})")
  return out


def _finite_numbers(table: Table, column: str) -> Optional[np.ndarray]:
  """The rows' cells of ``column`` as float64 if pyarrow reads every cell
  of the column as a number and the rows' are finite and within float32's
  range; else None."""
  pa, pc = _arrow()
  j = table._index(column, "column")  # pylint: disable=protected-access
  kept = table.cells[j]
  try:
    if kept.numbers is not None:
      values = kept.numbers[table.index]
    elif kept.values is not None:
      values = np.asarray(pc.cast(pa.array(kept.values, pa.string()),
                                  pa.float64()))[kept.codes[table.index]]
    else:
      values = np.asarray(pc.cast(kept.strings, pa.float64()))[table.index]
  except pa.ArrowInvalid:
    return None
  # NaN fails the comparisons (it stands for a missing value or is no
  # number); the extremes need no temporary of the column's size.
  if values.size and not (values.max() <= FLOAT32_MAX
                          and values.min() >= -FLOAT32_MAX):
    return None
  return values


def _numeric_column(table: Table, column: str,
                    hint: str = "a numeric column must hold numbers (a "
                    "categorical one goes in nominal or ordinal)"
                    ) -> np.ndarray:
  """The rows' cells of ``column`` as float64; raises naming the first
  missing cell, else the first that is not a finite number or is beyond
  float32's range."""
  values = _finite_numbers(table, column)
  if values is not None:
    return values
  # Some cell is not a number as pyarrow reads them (or is in a row of the
  # file that this table leaves out): each distinct cell as Python reads it.
  codes, cells = _cells(table, column)
  numbers = [_number(v) for v in cells]
  bad = [k for k, v in enumerate(numbers) if v is None or abs(v) > FLOAT32_MAX]
  i = _first_in_file(table, np.isin(codes, bad))
  if i is None:
    return np.asarray(numbers or [0.0], np.float64)[codes]
  cell = cells[codes[i]]
  if numbers[codes[i]] is None:
    raise ValueError(
        f"{_where(table, i, column)}: {cell!r} is not a finite number; {hint}")
  raise ValueError(
      f"{_where(table, i, column)}: {cell!r} is beyond the range of the "
      f"32-bit floats the network computes in (+-{FLOAT32_MAX:.3g})")


def _task_of(table: Table, column: str, task: Optional[str]) -> str:
  """``task``, or the task :func:`infer_task` finds for the target
  ``column``; raises on its first missing cell."""
  values = _finite_numbers(table, column)
  if values is None:   # some cell is text, missing or no finite number
    _, cells = _cells(table, column)
    return task or infer_task(cells)
  if task:
    return task
  if (np.all(values == np.floor(values))
      and np.unique(values).size <= MAX_INTEGER_CLASSES):
    return data_lib.CLASSIFICATION
  return data_lib.REGRESSION


def fit_encoder(table: Table, target: Union[str, Sequence[str]],
                nominal: Sequence[str] = (),
                ordinal: Optional[Mapping[str, Sequence[str]]] = None,
                task: Optional[str] = None,
                features: Optional[Sequence[str]] = None,
                codes: Codes = Codes()) -> TabularEncoder:
  """Fits the column encodings on training rows.

  Args:
    table: the training rows.
    target: the column to predict, or several numeric ones (a sequence of
      names) to predict together by regression.
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
      target is also listed as a feature, ``task`` is unknown, several
      targets are not all regression targets, or a cell is bad (the message
      names the data row and the column).
  """
  return _fit(table, target, nominal, ordinal, task, features, codes)[0]


def _fit(table, target, nominal, ordinal, task, features, codes,
         validation=None) -> tuple:
  """:func:`fit_encoder`, and the training rows it encoded on the way
  (:func:`encode_split` of them by ``validation``)."""
  targets = _target_names(target)
  ordinal = {str(k): tuple(v) for k, v in (ordinal or {}).items()}
  nominal = tuple(nominal)
  codes = Codes(*codes).check()
  for name in targets:
    table._index(name, "target column")  # pylint: disable=protected-access
  if task is not None and task not in TASKS:
    raise ValueError(f"task must be one of {', '.join(TASKS)} (or None to "
                     f"infer it from the target column); got {task!r}")
  if len(targets) > 1 and task == data_lib.CLASSIFICATION:
    raise ValueError(f"task=classification predicts one target column; "
                     f"several ({', '.join(targets)}) are predicted "
                     f"together by regression only")
  for what, names in (("nominal", nominal), ("ordinal", tuple(ordinal)),
                      ("feature", tuple(features or ()))):
    for name in names:
      table._index(name, f"{what} column")  # pylint: disable=protected-access
      if name in targets:
        raise ValueError(
            f"the target column {name!r} is also listed in {what}; the "
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
    features = tuple(c for c in table.header if c not in targets)
  else:
    features = tuple(c for c in table.header if c in set(features))
  if not features:
    raise ValueError(
        f"{table.path} has no input features: its only column is the "
        f"target {targets[0]!r}" if len(targets) == 1 else
        f"{table.path} has no input features: its only columns are the "
        f"targets {', '.join(targets)}")
  nominal_set = set(nominal)
  missing_types = (nominal_set | set(ordinal)) - set(features)
  if missing_types:
    raise ValueError(f"columns {sorted(missing_types)} are typed as nominal or "
                     f"ordinal but are not among the features "
                     f"{list(features)}")

  if len(targets) == 1:
    task = _task_of(table, targets[0], task)
  else:
    for name in targets:
      if _task_of(table, name, task) != data_lib.REGRESSION:
        raise ValueError(
            f"{table.path}: the target column {name!r} holds class labels "
            f"(text, or at most {MAX_INTEGER_CLASSES} distinct integers), "
            f"but several targets ({', '.join(targets)}) are predicted "
            f"together by regression only; set task=regression to fit its "
            f"values as numbers, or give one target")
    task = data_lib.REGRESSION
  classes = ()
  if task == data_lib.CLASSIFICATION:
    classes = _sorted_classes(_cells(table, targets[0])[1])
    if len(classes) < 2:
      raise ValueError(f"{table.path}: the target column {targets[0]!r} has "
                       f"only one class ({classes[0]!r}) in the training rows")
  categories = {c: tuple(sorted(_cells(table, c)[1])) for c in features
                if c in nominal_set}
  numeric = tuple(c for c in features
                  if c not in nominal_set and c not in ordinal)
  columns = np.zeros((table.size, len(numeric)))
  for k, c in enumerate(numeric):
    columns[:, k] = _numeric_column(table, c)
  scaler = encoding.Standardize.fit(columns, overwrite=True)
  del columns   # encoding takes the columns again, one at a time
  data_lib.release_freed_memory()   # the fit's temporaries
  if codes.numeric == "none":
    scaler = encoding.Standardize(np.zeros(len(numeric)), np.ones(len(numeric)))
  enc = TabularEncoder(
      target=targets[0] if len(targets) == 1 else targets, task=task,
      features=features, nominal=categories,
      ordinal={c: ordinal[c] for c in features if c in ordinal},
      numeric=numeric, scaler=scaler, classes=classes, feature_names=(),
      name=os.path.splitext(os.path.basename(table.path))[0], codes=codes)
  enc = enc._replace(feature_names=tuple(
      name for c in features for name in enc.input_names(c)))
  # Encoding the training rows checks every cell (levels, regression y).
  return enc, encode_split(enc, table, validation)


def encode_split(enc: TabularEncoder, table: Table,
                 validation: Optional[tuple] = None) -> tuple:
  """``table``'s rows encoded by ``enc``: ``(rows,)``; with ``validation =
  (key, fraction)``, ``(train, val)``: the parts that
  ``nn_jax.data.split(rows, key, (fraction,))`` makes (the same rows in the
  same order, bitwise), encoded at once into one array of which they are
  slices, with no copy."""
  if validation is None:
    return (enc.transform(table),)
  key, fraction = validation
  order, bounds = data_lib.split_order(table.size, key, (fraction,))
  table = table.take(order)
  del order   # (memory)
  val, train = data_lib.parts(enc.transform(table), bounds)
  return train, val


def load_csv(path: str, target: Union[str, Sequence[str]],
             nominal: Sequence[str] = (),
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
  enc, (dataset,) = _fit(table, target, nominal, ordinal, task, features,
                         codes)
  return dataset, enc


def load_split(path: str, target: Union[str, Sequence[str]],
               nominal: Sequence[str] = (),
               ordinal: Optional[Mapping[str, Sequence[str]]] = None,
               test_fraction: float = 0.2, seed: int = 0,
               task: Optional[str] = None,
               features: Optional[Sequence[str]] = None,
               codes: Codes = Codes(), validation: Optional[tuple] = None
               ) -> tuple:
  """Reads ``path``, splits it, fits the encoder on train, applies it to test.

  The test rows are ``round(test_fraction * n)`` rows drawn by
  ``nn_jax.data.permutation(jax.random.PRNGKey(seed), n)``. A category that
  occurs only in test rows is an error naming its data row and column.

  Args:
    path: the CSV file (header line first).
    target: the column to predict, or several numeric ones (regression).
    nominal: nominal feature columns.
    ordinal: ordinal feature column -> levels, lowest first.
    test_fraction: share of rows held out, in [0, 1).
    seed: seed of the split.
    task: ``"classification"``, ``"regression"`` or ``None`` (inferred).
    features: feature columns (default: all but the target).
    codes: how each type of column is coded (:class:`Codes`).
    validation: ``(key, fraction)`` to split the training rows again into
      training and validation rows, as :func:`encode_split` does.

  Returns:
    ``(train, test, encoder)``, with ``validation`` ``(train, val, test,
    encoder)``; the encoder's ``classes`` names the labels and
    ``describe()`` summarises it for results.json.
  """
  # (The whole table's row index is not kept: the parts have their own.)
  test_rows, train_rows = read_csv(path).split(data_lib.host_key(seed),
                                               test_fraction)
  if train_rows.size == 0:
    raise ValueError(f"{path}: no training rows left after holding out "
                     f"test_fraction={test_fraction} of {test_rows.size}")
  enc, train = _fit(train_rows, target, nominal, ordinal, task, features,
                    codes, validation)
  return (*train, enc.transform(test_rows), enc)
