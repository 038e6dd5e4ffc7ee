"""The input encodings: codes, round trips and the statistics of the
training rows."""

import tracemalloc

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest

from nn_jax import encoding

LEVELS = ("low", "mid", "high")
ROWS = hnp.arrays(np.float64, st.tuples(st.integers(2, 8), st.integers(1, 4)),
                  elements=st.floats(-1e3, 1e3))


def test_one_hot_and_back():
  codes = encoding.one_hot(["b", "a", "c", "b"], ["a", "b", "c"])
  np.testing.assert_array_equal(codes, [[0, 1, 0], [1, 0, 0], [0, 0, 1],
                                        [0, 1, 0]])
  assert encoding.decode_one_hot(codes, ["a", "b", "c"]) == ["b", "a", "c",
                                                             "b"]


def test_thermometer_and_back():
  codes = encoding.thermometer(["mid", "low", "high"], LEVELS)
  np.testing.assert_array_equal(codes, [[1, 0], [0, 0], [1, 1]])
  assert encoding.decode_thermometer(codes, LEVELS) == ["mid", "low", "high"]


def test_the_lectures_thermometer_has_k_units_the_first_always_set():
  codes = encoding.thermometer(["mid", "low", "high"], LEVELS, units="k")
  np.testing.assert_array_equal(codes, [[1, 1, 0], [1, 0, 0], [1, 1, 1]])
  assert encoding.decode_thermometer(codes, LEVELS, units="k") == [
      "mid", "low", "high"]
  # The same code as k - 1 units with a constant unit in front.
  np.testing.assert_array_equal(
      codes[:, 1:], encoding.thermometer(["mid", "low", "high"], LEVELS))
  with pytest.raises(ValueError, match="units must be one of k-1, k"):
    encoding.thermometer(["low"], LEVELS, units="k+1")
  with pytest.raises(ValueError, match="units must be one of k-1, k"):
    encoding.decode_thermometer(codes, LEVELS, units="2k")
  # A count of set units that no level's code has (no unit set in the k
  # form decoded as the last level; all set in the k - 1 form, an
  # IndexError).
  for units, bad, count in (("k", np.zeros((1, 3)), 0),
                            ("k-1", np.ones((1, 3)), 3)):
    with pytest.raises(ValueError, match=f"row 0 has {count} units set, not "
                       f"a '{units}' thermometer code of 3 levels"):
      encoding.decode_thermometer(bad, LEVELS, units=units)


@settings(max_examples=30, deadline=None)
@given(levels=st.integers(1, 9), data=st.data())
def test_thermometers_round_trip_and_keep_the_order(levels, data):
  names = [f"l{i}" for i in range(levels)]
  values = data.draw(st.lists(st.sampled_from(names), min_size=1,
                              max_size=12))
  for units, width in (("k-1", levels - 1), ("k", levels)):
    codes = encoding.thermometer(values, names, units)
    assert codes.shape == (len(values), width)
    assert encoding.decode_thermometer(codes, names, units) == values
    # A higher level sets every unit a lower one sets, and more.
    rank = np.array([names.index(v) for v in values])
    for i, j in zip(*np.nonzero(rank[:, None] < rank[None, :])):
      assert np.all(codes[i] <= codes[j]) and codes[i].sum() < codes[j].sum()


def test_integer_code_is_the_index_in_one_column():
  codes = encoding.integer_code(["high", "low", "mid", "high"], LEVELS)
  assert codes.shape == (4, 1) and codes.dtype == np.float32
  np.testing.assert_array_equal(codes[:, 0], [2, 0, 1, 2])


@pytest.mark.parametrize("code", [encoding.one_hot, encoding.thermometer,
                                  encoding.integer_code])
def test_codes_refuse_unknown_and_repeated_names(code):
  with pytest.raises(ValueError, match="row 1: unknown .* 'huge'"):
    code(["low", "huge"], LEVELS)
  with pytest.raises(ValueError, match="must be distinct"):
    code(["low"], ["low", "mid", "low"])


@settings(max_examples=30, deadline=None)
@given(x=ROWS)
def test_standardize_fits_mean_0_std_1_and_inverts(x):
  scaler = encoding.Standardize.fit(x)
  z = scaler.apply(x)
  varies = np.ptp(x, axis=0) > 1e-6 * np.maximum(1, np.abs(x).max(0))
  np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(z.std(0)[varies], 1, rtol=1e-4)
  np.testing.assert_allclose(z[:, np.ptp(x, axis=0) == 0], 0, atol=1e-9)
  np.testing.assert_allclose(scaler.invert(z), x, rtol=1e-5, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(x=ROWS, rows=st.sampled_from([1, 3, 1000, 40_000]))
def test_standardize_fit_is_numpys_mean_and_std_bitwise(x, rows):
  # Long columns are summed in another order (pairwise where a single
  # column is contiguous): the statistics are NumPy's own whatever the
  # order, with x kept, or used as scratch on request.
  x = np.tile(x, (rows, 1)) * (1 + np.arange(rows * len(x))[:, None] / 7)
  # The reference: NumPy's statistics and the constant-column rule written
  # with its temporaries.
  constant = (np.ptp(x, axis=0) <= 4 * np.finfo(np.float64).eps
              * np.abs(x).max(0)) | (x.std(0) == 0)
  want = (np.where(constant, x[0], x.mean(0)),
          np.where(constant, 1.0, x.std(0)))
  kept = x.copy()
  scaler = encoding.Standardize.fit(x)
  np.testing.assert_array_equal(x, kept)
  scratch = encoding.Standardize.fit(x, overwrite=True)
  for got in (scaler, scratch):
    np.testing.assert_array_equal(got.mean, want[0], strict=True)
    np.testing.assert_array_equal(got.std, want[1], strict=True)


def test_standardize_fit_overwriting_needs_no_copy_of_the_rows():
  x = np.random.default_rng(0).normal(size=(100_000, 4))
  peaks = []
  for overwrite in (False, True):
    tracemalloc.start()
    encoding.Standardize.fit(x, overwrite=overwrite)
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
  # What is left: the finiteness check's mask, a byte per number.
  assert peaks[0] >= x.nbytes >= 7 * peaks[1], peaks


@settings(max_examples=30, deadline=None)
@given(x=ROWS)
def test_scale_range_maps_onto_minus_1_1_and_inverts(x):
  scaler = encoding.ScaleRange.fit(x)
  z = scaler.apply(x)
  assert np.all(z >= -1 - 1e-6) and np.all(z <= 1 + 1e-6)
  varies = np.ptp(x, axis=0) > 0
  np.testing.assert_allclose(z.min(0)[varies], -1, atol=1e-6)
  np.testing.assert_allclose(z.max(0)[varies], 1, atol=1e-6)
  np.testing.assert_allclose(scaler.invert(z), x, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("column", [[0.1] * 3, [0.7] * 6, [3.3] * 7,
                                    [0.1, 0.3 - 0.2, 0.1, 0.3 - 0.2]])
def test_constant_columns_map_to_0(column):
  # np.std of n copies of such a value is about 1e-17, not 0: dividing by
  # it would send every other value to 1e16. Values one rounding step
  # apart (0.1 and 0.3 - 0.2) are constant too.
  n, value = len(column), column[0]
  train = np.column_stack([column, np.arange(n, dtype=float)])
  later = np.array([[value + 0.5, 0.0]])
  for scaler in (encoding.Standardize.fit(train),
                 encoding.ScaleRange.fit(train)):
    np.testing.assert_allclose(scaler.apply(train)[:, 0], 0, atol=1e-15)
    np.testing.assert_allclose(scaler.apply(later)[:, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(scaler.invert(scaler.apply(later)), later,
                               atol=1e-6)


@pytest.mark.parametrize("scaler", [encoding.Standardize,
                                    encoding.ScaleRange])
def test_invert_checks_the_columns(scaler):
  fitted = scaler.fit(np.arange(6.0).reshape(3, 2))
  with pytest.raises(ValueError, match="fitted on 2 columns but is applied "
                     "to 3"):
    fitted.invert(np.zeros((1, 3)))


def test_statistics_come_from_the_training_rows():
  train = np.array([[0.0, 10.0], [2.0, 30.0]])
  test = np.array([[4.0, 20.0]])
  np.testing.assert_allclose(encoding.Standardize.fit(train).apply(test),
                             [[3.0, 0.0]])
  np.testing.assert_allclose(encoding.ScaleRange.fit(train).apply(test),
                             [[3.0, 0.0]])


@pytest.mark.parametrize("scaler", [encoding.Standardize,
                                    encoding.ScaleRange])
def test_no_fit_on_zero_rows(scaler):
  with pytest.raises(ValueError, match="0 rows"):
    scaler.fit(np.zeros((0, 3)))
