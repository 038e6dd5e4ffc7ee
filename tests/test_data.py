"""``data.permutation`` (every random order of the library comes from it),
``data.split`` and the checks of a data set against a loss."""

import itertools

import jax
import numpy as np
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from nn_jax import data
from nn_jax import losses


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 3000), seed=st.integers(0, 2**31 - 1))
def test_is_a_permutation(n, seed):
  p = np.asarray(data.permutation(jax.random.PRNGKey(seed), n))
  assert p.dtype == np.int32
  np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_same_key_same_order_other_key_other_order():
  k0, k1 = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
  np.testing.assert_array_equal(data.permutation(k0, 500),
                                data.permutation(k0, 500))
  assert not np.array_equal(data.permutation(k0, 500),
                            data.permutation(k1, 500))


# One compiled function per n, shared by the uniformity tests.
_MANY = {n: jax.jit(jax.vmap(lambda k, n=n: data.permutation(k, n)))
         for n in (4, 1000)}


def test_all_orders_of_four_equally_likely():
  draws = 24_000
  perms = np.asarray(_MANY[4](jax.random.split(jax.random.PRNGKey(7),
                                               draws)))
  index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
  counts = np.bincount([index[tuple(p)] for p in perms], minlength=24)
  expected = draws / 24
  chi2 = float(np.sum((counts - expected) ** 2 / expected))
  assert chi2 < 49.7   # 23 degrees of freedom, p = 0.001


def test_every_position_equally_likely_for_large_n():
  # Two rounds of sorting at n = 1000; a tie left in place would keep
  # elements near their start: the mean new position of each of the first
  # ten elements is (n - 1) / 2 within 4 standard errors.
  draws, n = 2000, 1000
  perms = np.asarray(_MANY[n](jax.random.split(jax.random.PRNGKey(3),
                                               draws)))
  where = np.argsort(perms, axis=1)[:, :10]       # new position of 0..9
  se = np.sqrt((n ** 2 - 1) / 12 / draws)
  assert np.all(np.abs(where.mean(0) - (n - 1) / 2) < 4 * se)
  # The first slot holds each element about draws / n = 2 times.
  assert np.bincount(perms[:, 0], minlength=n).max() <= 12


# The splits of a data set are drawn on the host; they must be XLA's orders
# bit for bit (one compiled permutation per n, shared by the seeds).
_HOST_SIZES = (1, 2, 3, 255, 256, 257, 1797, 70_000)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_hosts_permutation_and_split_are_jaxs(seed):
  key = jax.random.PRNGKey(np.uint32(seed))
  for n in _HOST_SIZES:
    order = data.host_permutation(key, n)
    assert order.dtype == np.int32
    np.testing.assert_array_equal(order, data.permutation(key, n))
  for num in (1, 4, 7):
    np.testing.assert_array_equal(data.host_split(key, num),
                                  jax.random.split(key, num))


@pytest.mark.parametrize("width", [32, 64])
def test_the_hosts_bits_are_jaxs(width):
  # The random bits of mlp.init's weights, drawn on the host.
  dtype = np.dtype(f"uint{width}")
  with jax.enable_x64(width == 64):
    for seed in (0, 3, 2**32 - 1):
      key = jax.random.PRNGKey(np.uint32(seed))
      for shape in ((1,), (7,), (5, 3), (2, 3, 4)):
        bits = data.host_bits(key, shape, width)
        assert bits.dtype == dtype and bits.shape == shape
        np.testing.assert_array_equal(bits,
                                      jax.random.bits(key, shape, dtype))


def test_the_planar_sets_are_those_of_2d_inputs():
  for name in data.NAMES:
    assert (data.load(name).x.shape[1] == 2) == (name in data.PLANAR), name


def test_run_keys_are_the_split_of_the_seeds_key():
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  from nn_jax.config import Config  # pylint: disable=g-import-not-at-top
  for seed in (0, 1, 2**32 - 1):
    keys = experiment.run_keys(Config.make(seed=seed))
    np.testing.assert_array_equal(
        np.stack(keys), jax.random.split(jax.random.PRNGKey(np.uint32(seed)),
                                         4))


@pytest.mark.parametrize("x64", [False, True])
def test_the_hosts_key_is_jaxs(x64):
  with jax.enable_x64(x64):
    for seed in (0, 1, 7, 2**31 - 1, 2**31, 2**32 - 1, np.uint32(9),
                 np.int64(12)):
      key = data.host_key(seed)
      assert isinstance(key, np.ndarray) and key.dtype == np.uint32
      np.testing.assert_array_equal(key, jax.random.PRNGKey(seed))
    # Outside [0, 2^32) JAX makes the key (it wraps or not by x64).
    for seed in (-1, 2**32):
      assert isinstance(data.host_key(seed), jax.Array)


def test_the_host_falls_back_where_jax_draws_otherwise():
  with jax.threefry_partitionable(False):
    key = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(data.host_permutation(key, 300),
                                  data.permutation(key, 300))
    np.testing.assert_array_equal(data.host_split(key, 3),
                                  jax.random.split(key, 3))
    assert data.host_bits(key, (3,)) is None
  assert data.host_bits(jax.random.key(5), (3,)) is None
  # Not a raw key (JAX refuses these): left to JAX, which says so.
  for key in (np.array([0, 5], np.int32), np.array([0.0, 5.0]), [0, 5]):
    assert not data.draws_on_host(key)
  # A typed key, once for each (the tests check that none is reused).
  np.testing.assert_array_equal(
      data.host_permutation(jax.random.key(5), 300),
      data.permutation(jax.random.key(5), 300))


def test_negative_size():
  with pytest.raises(ValueError, match="n must be >= 0"):
    data.permutation(jax.random.PRNGKey(0), -1)
  with pytest.raises(ValueError, match="n must be >= 0"):
    data.host_permutation(jax.random.PRNGKey(0), -1)


def _numbered(n):
  return data.Dataset("numbered", np.arange(n, dtype=np.float32)[:, None],
                      np.arange(n) % 2, data.CLASSIFICATION, 2)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), a=st.floats(0, 0.45), b=st.floats(0, 0.45),
       seed=st.integers(0, 2**31 - 1))
def test_split_parts_partition_the_data(n, a, b, seed):
  ds = _numbered(n)
  for key in (jax.random.PRNGKey(seed), None):
    first, second, rest = data.split(ds, key, (a, b))
    assert (first.size, second.size) == (round(a * n), round(b * n))
    ids = np.concatenate([first.x[:, 0], second.x[:, 0], rest.x[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    np.testing.assert_array_equal(rest.y, rest.x[:, 0] % 2)


def test_split_in_file_order_takes_the_parts_from_the_end():
  first, second, rest = data.split(_numbered(10), None, (0.2, 0.1))
  np.testing.assert_array_equal(first.x[:, 0], [8, 9])
  np.testing.assert_array_equal(second.x[:, 0], [7])
  np.testing.assert_array_equal(rest.x[:, 0], np.arange(7))


def test_split_fractions_checked():
  with pytest.raises(ValueError, match="sum to less than 1"):
    data.split(_numbered(4), None, (0.5, 0.5))
  # Each part rounds up: 2 + 2 + 2 of 5 examples would overlap.
  for key in (None, jax.random.PRNGKey(0)):
    with pytest.raises(ValueError, match=r"round to parts of \[2, 2, 2\]"):
      data.split(_numbered(5), key, (0.3, 0.3, 0.3))


def test_one_class_is_no_classification():
  one = data.classification("one", np.zeros((6, 2)), np.full(6, 7))
  with pytest.raises(ValueError, match="at least 2 classes; .* has 1"):
    data.check_loss_fits(losses.softmax_cross_entropy, one)


def test_select_classes_needs_distinct_integer_labels():
  digits = data.load("digits")
  picked = data.select_classes(digits, ["8", 3])
  np.testing.assert_array_equal(picked.y, (digits.y[np.isin(digits.y, [3, 8])]
                                           == 3).astype(int))
  for classes in ([0.5, 1.7], ["a", "b"], ["1.5", "2"]):
    with pytest.raises(ValueError, match="classes must be integer labels"):
      data.select_classes(digits, classes)
  for classes in ([3], [3, 3], [3, 10]):
    with pytest.raises(ValueError, match="at least two distinct labels in "
                       "0..9, each once"):
      data.select_classes(digits, classes)


def test_one_vs_rest_needs_an_integer_class_of_a_classification_set():
  iris = data.load("iris")
  binary = data.one_vs_rest(iris, 2)
  np.testing.assert_array_equal(binary.y, iris.y == 2)
  for positive in (2.5, 3, -1, True):
    with pytest.raises(ValueError, match="positive_class must be a label in "
                       "0..2"):
      data.one_vs_rest(iris, positive)
  regression = data.Dataset("r", np.zeros((4, 1), np.float32),
                            np.zeros((4, 1), np.float32), data.REGRESSION, 0)
  with pytest.raises(ValueError, match="positive_class needs classes"):
    data.one_vs_rest(regression, 0)


@pytest.mark.parametrize("name", ["digits", "iris"])
def test_embedded_sets_read_as_scikit_learn_loads_them(name):
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  x, y, names = data._embedded(name)   # pylint: disable=protected-access
  d = getattr(datasets, f"load_{name}")()
  assert x.dtype == d.data.dtype and y.dtype == d.target.dtype
  np.testing.assert_array_equal(x, d.data)
  np.testing.assert_array_equal(y, d.target)
  if name == "iris":
    np.testing.assert_array_equal(names, d.target_names)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 4),
       margin=st.sampled_from([0.5, 0.1, 0.003]))
def test_margin_separable_has_the_margin_asked_for(seed, d, margin):
  md = data.margin_separable(50, d, margin, seed)
  assert md.x.shape == (50, d) and md.x.dtype == np.float32
  assert np.abs(md.x).max() <= 1
  np.testing.assert_allclose(np.linalg.norm(md.u), 1.0)
  z = md.u[0] + md.x.astype(np.float64) @ md.u[1:]
  np.testing.assert_array_equal(md.y, z > 0)
  assert set(md.y[:5]) == {0, 1}   # the first points: on the margin
  np.testing.assert_allclose(np.abs(z[:5]), margin, rtol=1e-5)
  np.testing.assert_allclose(md.margin, margin, rtol=1e-5)
  assert md.margin == np.abs(z).min()


def test_margin_separable_widest_margin_is_the_margin_in_2d():
  from nn_jax import separability  # pylint: disable=g-import-not-at-top
  for margin in (0.1, 0.001):
    md = data.margin_separable(200, 2, margin, 0)
    m = separability.max_margin(md.x, md.y)
    assert md.margin - 1e-9 <= m.margin <= md.margin * (1 + 1e-3)


def test_margin_separable_checks_its_arguments():
  with pytest.raises(ValueError, match="margin must be in"):
    data.margin_separable(10, 2, 0.7, 0)
  with pytest.raises(ValueError, match="n must be >= 2"):
    data.margin_separable(1, 2, 0.1, 0)


@pytest.mark.parametrize("name,k", [("sine", 1), ("lissajous", 2)])
def test_regression_sets_shapes_and_determinism(name, k):
  ds = data.load(name, seed=3, n_samples=57)
  assert ds.task == data.REGRESSION and ds.num_classes == 0
  assert ds.x.shape == (57, 1) and ds.y.shape == (57, k)
  assert ds.x.dtype == ds.y.dtype == np.float32
  assert ds.x.min() >= 0 and ds.x.max() <= 1
  again = data.load(name, seed=3, n_samples=57)
  np.testing.assert_array_equal(ds.x, again.x)
  np.testing.assert_array_equal(ds.y, again.y)
  other = data.load(name, seed=4, n_samples=57)
  assert not np.array_equal(ds.x, other.x)
  # The targets are the truth plus noise of the given std; the inputs do
  # not depend on the noise.
  clean = data.load(name, seed=3, n_samples=57, noise=0.0)
  np.testing.assert_array_equal(clean.x, ds.x)
  np.testing.assert_allclose(clean.y, data.truth(name)(ds.x), atol=1e-6)
  big = data.load(name, seed=0, n_samples=20_000, noise=0.3)
  residual = big.y - data.truth(name)(big.x)
  assert abs(residual.std() - 0.3) < 0.01 and abs(residual.mean()) < 0.01


def test_regression_sets_truth_and_losses():
  x = np.array([[0.0], [0.25], [0.5], [0.75]])
  np.testing.assert_allclose(data.truth("sine")(x)[:, 0], [0, 1, 0, -1],
                             atol=1e-12)
  np.testing.assert_allclose(data.truth("lissajous")(x),
                             [[0, 0], [1, 0], [0, 0], [-1, 0]], atol=1e-12)
  assert data.truth("moons") is None
  sine = data.load("sine", n_samples=10)
  data.check_loss_fits(losses.linear_sum_squared, sine)
  assert data.num_outputs(losses.linear_squared, data.load("lissajous")) == 2
  with pytest.raises(ValueError, match="use one of: linear_squared, "
                     "linear_sum_squared"):
    data.check_loss_fits(losses.softmax_cross_entropy, sine)
  with pytest.raises(ValueError, match="noise must be >= 0"):
    data.load("sine", noise=-0.1)


@pytest.mark.parametrize("key", [jax.random.PRNGKey(2), None])
def test_split_order_gives_the_parts_of_split(key):
  ds = _numbered(23)
  order, bounds = data.split_order(ds.size, key, (0.2, 0.3))
  assert bounds == [0, 5, 12, 23]
  for part, view in zip(data.split(ds, key, (0.2, 0.3)),
                        data.parts(ds.take(order), bounds)):
    np.testing.assert_array_equal(part.x, view.x)
    np.testing.assert_array_equal(part.y, view.y)
