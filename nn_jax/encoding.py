"""Input encodings of the lecture, fitted on training data only.

* :func:`one_hot` (1-of-k) for nominal features;
* :func:`thermometer` for ordinal features (level i of k sets the first i
  of k - 1 units by default; ``units="k"``, the lecture's form, the first
  i + 1 of k);
* :func:`integer_code` (the index of the category or level, one input), the
  code that 1-of-k and the thermometer replace;
* :class:`Standardize` (mean subtraction, unit variance) and
  :class:`ScaleRange` (scaling to [-1, 1]), each a fitted NamedTuple with
  ``apply`` and ``invert``.

All are pure: fitting returns the statistics, applying them changes
nothing (but ``Standardize.fit(x, overwrite=True)``, which uses ``x``, a
writable float64 array, as scratch).
"""

from typing import NamedTuple, Sequence

import numpy as np

# The thermometer's forms: k - 1 units for k levels (the lowest level all
# zeros), or the lecture's k (small = [1 0 0], medium = [1 1 0], large =
# [1 1 1]), whose first unit is 1 for every level.
THERMOMETER_UNITS = ("k-1", "k")


def _check_2d(x, what):
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"{what} must be a 2-D array (examples, features); got "
                     f"shape {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{what} contains NaN or Inf")
  return x


def _fit_rows(x):
  """``x`` checked as :func:`_check_2d`, with at least one row."""
  x = _check_2d(x, "features")
  if x.shape[0] == 0:
    raise ValueError("cannot fit an encoding on 0 rows")
  return x


def _check_columns(stat, x, what):
  """``x`` checked as :func:`_check_2d`, with ``stat``'s number of columns."""
  x = _check_2d(x, what)
  if x.shape[1] != stat.shape[0]:
    raise ValueError(f"the encoding was fitted on {stat.shape[0]} columns "
                     f"but is applied to {x.shape[1]}")
  return x


def _constant_columns(x: np.ndarray) -> np.ndarray:
  """Columns whose values lie within a few rounding steps of each other.

  Equal values can have a std of 1e-17 (rounding), not 0, and values
  computed alike can differ in their last bits (0.1 and 0.3 - 0.2): such a
  spread is no spread to scale up to 1.
  """
  high, low = x.max(axis=0), x.min(axis=0)
  return high - low <= 4 * np.finfo(np.float64).eps * np.maximum(high, -low)


class Standardize(NamedTuple):
  """x -> (x - mean) / std per column; a column constant in the training
  data (its values within a few rounding steps of each other) gets mean =
  its first value and std 1 (it maps to about 0 there)."""
  mean: np.ndarray  # (n_features,)
  std: np.ndarray   # (n_features,)

  @classmethod
  def fit(cls, x, overwrite: bool = False) -> "Standardize":
    """The statistics of ``x``'s columns: ``x.mean(axis=0)`` and
    ``x.std(axis=0)``, bitwise, with no temporary of ``x``'s size where
    ``overwrite`` lets the deviations be computed in ``x`` (a float64
    array the caller discards)."""
    x = _fit_rows(x)
    constant, first = _constant_columns(x), x[0].copy()
    mean = np.add.reduce(x, axis=0) / x.shape[0]
    deviation = np.subtract(x, mean, out=x if overwrite else None)
    np.multiply(deviation, deviation, out=deviation)
    std = np.sqrt(np.add.reduce(deviation, axis=0) / x.shape[0])
    # std can underflow to 0 for values spread more than a rounding step
    # (0 and 4e-302).
    constant |= std == 0
    return cls(np.where(constant, first, mean), np.where(constant, 1.0, std))

  def apply(self, x) -> np.ndarray:
    x = _check_columns(self.mean, x, "features")
    return ((x - self.mean) / self.std).astype(np.float32)

  def invert(self, z) -> np.ndarray:
    return _check_columns(self.mean, z, "codes") * self.std + self.mean


class ScaleRange(NamedTuple):
  """x -> 2 (x - min) / (max - min) - 1 per column, so training data spans
  [-1, 1]; a column constant in the training data (within a few rounding
  steps) maps to x - min (about 0 there)."""
  low: np.ndarray   # (n_features,)
  high: np.ndarray  # (n_features,)

  @classmethod
  def fit(cls, x) -> "ScaleRange":
    x = _fit_rows(x)
    low, high = x.min(axis=0), x.max(axis=0)
    return cls(low, np.where(_constant_columns(x), low, high))

  def _span(self):
    """Which columns spread, and their ranges (1 where they do not)."""
    spread = self.high > self.low
    return spread, np.where(spread, self.high - self.low, 1.0)

  def apply(self, x) -> np.ndarray:
    x = _check_columns(self.low, x, "features")
    spread, span = self._span()
    return np.where(spread, 2 * (x - self.low) / span - 1,
                    x - self.low).astype(np.float32)

  def invert(self, z) -> np.ndarray:
    z = _check_columns(self.low, z, "codes")
    spread, span = self._span()
    return np.where(spread, (z + 1) / 2 * span, z) + self.low


def one_hot(values: Sequence, categories: Sequence) -> np.ndarray:
  """1-of-k code of nominal ``values`` over the known ``categories``.

  Raises:
    ValueError: naming the first value that is not a known category.
  """
  index = _indices(values, categories, "category", ", ")
  out = np.zeros((len(values), len(categories)), np.float32)
  out[np.arange(len(values)), index] = 1
  return out


def _indices(values: Sequence, levels: Sequence, what: str, joint: str
             ) -> np.ndarray:
  """Each value's index in ``levels``; ValueError naming the first unknown
  value (``what``: category or level, ``joint`` how levels are listed)."""
  index = {c: i for i, c in enumerate(levels)}
  if len(index) != len(levels):
    plural = "categories" if what == "category" else what + "s"
    raise ValueError(f"{plural} must be distinct; got {list(levels)}")
  out = np.empty(len(values), np.int64)
  for row, v in enumerate(values):
    if v not in index:
      raise ValueError(f"row {row}: unknown {what} {v!r}; known: "
                       f"{joint.join(map(str, levels))}")
    out[row] = index[v]
  return out


def thermometer(values: Sequence, levels: Sequence,
                units: str = "k-1") -> np.ndarray:
  """Thermometer code of ordinal ``values`` with ordered ``levels``.

  ``units="k-1"`` (the default): level i (0-based) of k sets the first i of
  k - 1 units; for levels ``low < mid < high``, low -> [0, 0], mid -> [1, 0],
  high -> [1, 1]. ``units="k"`` is the lecture's form: level i sets the
  first i + 1 of k units, low -> [1, 0, 0], mid -> [1, 1, 0], high -> [1, 1,
  1]. Its first unit is 1 for every level: a constant input, which adds to
  the next layer's biases what they can learn alone. The default leaves it
  out (the same functions are representable with one input fewer).
  """
  if units not in THERMOMETER_UNITS:
    raise ValueError(f"units must be one of {', '.join(THERMOMETER_UNITS)}; "
                     f"got {units!r}")
  index = _indices(values, levels, "level", " < ")
  shift = units == "k"
  width = max(len(levels) - 1 + shift, 0)
  return (np.arange(width) < index[:, None] + shift).astype(np.float32)


def integer_code(values: Sequence, categories: Sequence) -> np.ndarray:
  """One input per column: the index of each value in ``categories`` (0, 1,
  ..., k-1), float32 ``(n, 1)``. For a nominal column the order is
  arbitrary (the network sees a distance between categories that the data
  do not have); for an ordinal one it says each step up is alike."""
  return _indices(values, categories, "category", ", ")[:, None].astype(
      np.float32)


def decode_one_hot(codes, categories: Sequence) -> list:
  """Inverse of :func:`one_hot` (argmax per row)."""
  return [categories[i] for i in np.argmax(np.asarray(codes), axis=1)]


def decode_thermometer(codes, levels: Sequence, units: str = "k-1") -> list:
  """Inverse of :func:`thermometer` (the number of set units per row, less
  one in the lecture's form ``units="k"``)."""
  if units not in THERMOMETER_UNITS:
    raise ValueError(f"units must be one of {', '.join(THERMOMETER_UNITS)}; "
                     f"got {units!r}")
  set_units = np.asarray(codes).sum(axis=1).round().astype(int)
  low = int(units == "k")   # the units the first level sets
  index = set_units - low
  bad = np.flatnonzero((index < 0) | (index >= len(levels)))
  if bad.size:   # a count that no level's code has
    row = int(bad[0])
    raise ValueError(f"row {row} has {set_units[row]} units set, not a "
                     f"{units!r} thermometer code of {len(levels)} levels "
                     f"({low} to {len(levels) - 1 + low} units set)")
  return [levels[i] for i in index]
