"""Tests for nn_jax.separability: LP oracle, certificates, exact batch oracle."""

import math

from absl.testing import absltest
from absl.testing import parameterized
from hypothesis import given
from hypothesis import strategies as st
import jax
import numpy as np

from nn_jax import separability

X2 = separability.boolean_cube(2).astype(np.float64)
KNOWN_COUNTS = {1: 4, 2: 14, 3: 104, 4: 1882}


def assert_separates(test, x, y, r):
  s = 2 * np.asarray(y) - 1
  z = s * (np.asarray(x, np.float64) @ r.w + r.b)
  test.assertTrue(np.all(z > 0), z)
  if np.any(r.w != 0):
    test.assertAlmostEqual(r.margin, z.min() / np.linalg.norm(r.w), places=9)


def assert_certificate(test, x, y, r):
  """lambda >= 0, sums to 1, sum lambda s = 0, sum lambda s x = 0."""
  x = np.asarray(x, np.float64)
  s = 2.0 * np.asarray(y) - 1.0
  lam = r.weights
  test.assertTrue(np.all(lam >= 0))
  np.testing.assert_allclose(lam.sum(), 1.0, atol=1e-9)
  np.testing.assert_allclose(lam @ s, 0.0, atol=1e-9)
  np.testing.assert_allclose((lam * s) @ x, 0.0, atol=1e-9)
  # The common point is a convex combination of each class.
  for cls in (0, 1):
    mask = np.asarray(y) == cls
    point = lam[mask] @ x[mask] / lam[mask].sum()
    np.testing.assert_allclose(point, r.common_point, atol=1e-9)


class LinearlySeparableTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("nand", [1, 1, 1, 0]),
      ("x1", [0, 0, 1, 1]))
  def test_separable_boolean(self, y):
    r = separability.linearly_separable(X2, y)
    self.assertTrue(r.separable)
    self.assertIsNone(r.weights)
    self.assertGreater(r.margin, 0)
    assert_separates(self, X2, y, r)

  @parameterized.named_parameters(("xor", [0, 1, 1, 0]), ("xnor", [1, 0, 0, 1]))
  def test_xor_not_separable(self, y):
    r = separability.linearly_separable(X2, y)
    self.assertFalse(r.separable)
    self.assertIsNone(r.w)
    assert_certificate(self, X2, y, r)
    np.testing.assert_allclose(r.common_point, [0.5, 0.5], atol=1e-9)

  def test_duplicate_point_with_both_labels(self):
    x = np.array([[0., 0.], [1., 2.], [1., 2.], [3., 0.]])
    y = np.array([0, 0, 1, 1])
    r = separability.linearly_separable(x, y)
    self.assertFalse(r.separable)
    assert_certificate(self, x, y, r)
    np.testing.assert_allclose(r.common_point, [1., 2.], atol=1e-9)

  @parameterized.parameters(0, 1)
  def test_one_class_is_separable(self, label):
    x = np.array([[0., 1.], [2., 3.], [2., 3.]])
    r = separability.linearly_separable(x, np.full(3, label))
    self.assertTrue(r.separable)
    np.testing.assert_array_equal(r.w, [0., 0.])
    self.assertEqual(r.b, 1.0 if label else -1.0)
    self.assertEqual(r.margin, math.inf)

  def test_margin_of_symmetric_points(self):
    x = np.array([[-2., 0.], [-3., 1.], [2., 0.], [3., -1.]])
    r = separability.linearly_separable(x, [0, 0, 1, 1])
    self.assertTrue(r.separable)
    assert_separates(self, x, [0, 0, 1, 1], r)

  @parameterized.product(scale=(1e-9, 1e-3, 1.0, 1e9), offset=(0.0, 1e3))
  def test_answer_does_not_depend_on_scale_or_offset(self, scale, offset):
    x = X2 * scale + offset
    r = separability.linearly_separable(x, [0, 0, 0, 1])
    self.assertTrue(r.separable)
    assert_separates(self, x, [0, 0, 0, 1], r)
    r = separability.linearly_separable(x, [0, 1, 1, 0])
    self.assertFalse(r.separable)
    np.testing.assert_allclose(r.common_point, 0.5 * scale + offset,
                               rtol=1e-9)
    r = separability.linearly_separable([[0.], [scale]], [0, 1])
    self.assertTrue(r.separable)
    assert_separates(self, [[0.], [scale]], [0, 1], r)

  @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(2, 30),
         d=st.integers(1, 4))
  def test_random_separable(self, seed, n, d):
    # Fixed shapes, then sliced, so jax.random compiles once.
    kx, kw = jax.random.split(jax.random.PRNGKey(seed))
    x = np.asarray(jax.random.normal(kx, (30, 4)), np.float64)[:n, :d]
    w = np.asarray(jax.random.normal(kw, (5,)), np.float64)[:d + 1]
    z = w[0] + x @ w[1:]
    x = x + (np.sign(z) * 0.1)[:, None] * w[1:] / np.linalg.norm(w[1:])
    y = (w[0] + x @ w[1:] > 0).astype(int)
    r = separability.linearly_separable(x, y)
    self.assertTrue(r.separable)
    assert_separates(self, x, y, r)

  @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 25),
         d=st.integers(1, 3))
  def test_always_a_valid_certificate(self, seed, n, d):
    kx, ky = jax.random.split(jax.random.PRNGKey(seed))
    x = np.asarray(jax.random.normal(kx, (25, 3)), np.float64)[:n, :d]
    y = np.asarray(jax.random.bernoulli(ky, 0.5, (25,)), int)[:n]
    r = separability.linearly_separable(x, y)
    if r.separable:
      assert_separates(self, x, y, r)
    else:
      assert_certificate(self, x, y, r)

  @parameterized.named_parameters(
      ("x_rank", np.zeros(3), [0, 1, 0], "x must have shape"),
      ("y_length", np.zeros((3, 2)), [0, 1], "y must have shape"),
      ("empty", np.zeros((0, 2)), [], "empty data"),
      ("labels", np.zeros((2, 2)), [-1, 1], "0 or 1"),
      ("nan", np.full((2, 2), np.nan), [0, 1], "NaN"))
  def test_raises(self, x, y, message):
    with self.assertRaisesRegex(ValueError, message):
      separability.linearly_separable(x, np.asarray(y))


class BooleanTest(parameterized.TestCase):

  def test_cube_and_functions(self):
    np.testing.assert_array_equal(separability.boolean_cube(2),
                                  [[0, 0], [0, 1], [1, 0], [1, 1]])
    f = separability.boolean_functions(2)
    self.assertEqual(f.shape, (16, 4))
    np.testing.assert_array_equal(f[8], [0, 0, 0, 1])  # AND
    np.testing.assert_array_equal(f[14], [0, 1, 1, 1])  # OR
    np.testing.assert_array_equal(f[6], [0, 1, 1, 0])  # XOR
    np.testing.assert_array_equal(f[7], [1, 1, 1, 0])  # NAND
    self.assertEqual(separability.boolean_functions(4).shape, (65536, 16))
    self.assertEqual(len(np.unique(separability.boolean_functions(3), axis=0)),
                     256)

  @parameterized.parameters(0, 5)
  def test_functions_rejects_n(self, n):
    with self.assertRaisesRegex(ValueError, "n must be"):
      separability.boolean_functions(n)

  @parameterized.parameters(1, 2, 3, 4)
  def test_known_counts_with_integer_certificates(self, n):
    x = separability.boolean_cube(n)
    y = separability.boolean_functions(n)
    r = separability.separable_many(x, y)
    self.assertEqual(r.separable.sum(), KNOWN_COUNTS[n])
    s = 2 * y[r.separable].astype(np.int64) - 1
    z = s * (r.w[r.separable] @ x.T + r.b[r.separable][:, None])
    self.assertTrue(np.all(z >= 1))  # Exact integer check.
    self.assertTrue(np.all(r.w[~r.separable] == 0))

  @parameterized.parameters(1, 2, 3)
  def test_exact_oracle_matches_lp_exhaustively(self, n):
    x = separability.boolean_cube(n)
    y = separability.boolean_functions(n)
    exact = separability.separable_many(x, y).separable
    lp = [separability.linearly_separable(x, labels).separable for labels in y]
    np.testing.assert_array_equal(exact, lp)

  def test_exact_oracle_matches_lp_on_n4_sample(self):
    x = separability.boolean_cube(4)
    y = separability.boolean_functions(4)
    exact = separability.separable_many(x, y).separable
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    sample = np.concatenate([
        np.asarray(jax.random.choice(k1, np.flatnonzero(exact), (60,), False)),
        np.asarray(jax.random.choice(k2, np.flatnonzero(~exact), (60,), False))])
    for k in sample:
      r = separability.linearly_separable(x, y[k])
      self.assertEqual(r.separable, exact[k], k)


class SeparableManyTest(parameterized.TestCase):

  def test_matches_lp_on_integer_grid_points(self):
    key = jax.random.PRNGKey(1)
    kx, ky = jax.random.split(key)
    x = np.asarray(jax.random.randint(kx, (9, 2), -3, 4))
    x = np.unique(x, axis=0)
    y = np.asarray(jax.random.bernoulli(ky, 0.5, (60, len(x))), np.uint8)
    r = separability.separable_many(x, y)
    for i in range(len(y)):
      self.assertEqual(r.separable[i],
                       separability.linearly_separable(x, y[i]).separable, i)

  def test_repeated_points_with_both_labels(self):
    x = np.array([[0, 0], [1, 0], [0, 1], [1, 0]])
    r = separability.separable_many(x, np.array([[0, 1, 1, 0], [0, 1, 1, 1]]))
    np.testing.assert_array_equal(r.separable, [False, True])

  @parameterized.named_parameters(
      ("fractional", np.array([[0.5, 0.], [1., 0.], [0., 1.]]), "integer"),
      ("collinear", np.array([[0, 0], [1, 1], [2, 2]]), "span"),
      ("too_many", np.arange(60 * 5).reshape(60, 5) ** 2 % 7 - 3, "candidate"))
  def test_rejects(self, x, message):
    with self.assertRaisesRegex(ValueError, message):
      separability.threshold_labelings(x)

  def test_rejects_label_shape(self):
    with self.assertRaisesRegex(ValueError, "y must have shape"):
      separability.separable_many(X2, np.zeros((3, 5)))



class MaxMarginTest(absltest.TestCase):
  """The widest margin in the augmented space, for Novikoff's bound."""

  def test_and(self):
    # (-3, 2, 2) has s_i v . (1, x_i) >= 1 with equality at (0, 1), (1, 0)
    # and (1, 1): the widest margin is 1 / ||v|| = 1 / sqrt(17).
    m = separability.max_margin(X2, np.array([0, 0, 0, 1]))
    self.assertAlmostEqual(m.margin, 1 / math.sqrt(17), places=7)
    np.testing.assert_allclose(m.u, np.array([-3, 2, 2]) / math.sqrt(17),
                               atol=1e-6)
    self.assertAlmostEqual(m.radius, math.sqrt(3))

  @given(seed=st.integers(0, 2 ** 31 - 1))
  def test_one_feature_against_every_direction(self, seed):
    # In 2-D augmented space every unit u is (cos t, sin t): a fine grid of
    # t finds the widest margin to within its step.
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (8, 1))
    y = (x[:, 0] > rng.uniform(-0.5, 0.5)).astype(int)
    if y.min() == y.max():
      y[0] = 1 - y[0]   # both classes; may be non-separable: skipped below
    if not separability.linearly_separable(x, y).separable:
      with self.assertRaisesRegex(ValueError, "not linearly separable"):
        separability.max_margin(x, y)
      return
    m = separability.max_margin(x, y)
    t = np.linspace(-np.pi, np.pi, 100_001)
    u = np.stack([np.cos(t), np.sin(t)], 1)
    z = (2 * y - 1)[:, None] * separability.augmented(x)
    grid_best = (u @ z.T).min(1).max()
    self.assertGreaterEqual(m.margin, grid_best - 1e-9)
    self.assertLessEqual(m.margin, grid_best + 1e-4)
    self.assertAlmostEqual(float(np.linalg.norm(m.u)), 1.0, places=12)
    self.assertAlmostEqual(separability.augmented_margin(x, y, m.u),
                           m.margin, places=12)

  def test_at_least_any_separator(self):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    w = np.array([0.3, 1.0, -2.0, 0.5])
    y = (separability.augmented(x) @ w > 0).astype(int)
    m = separability.max_margin(x, y)
    self.assertGreater(separability.augmented_margin(x, y, w), 0)
    self.assertGreaterEqual(m.margin,
                            separability.augmented_margin(x, y, w))
    r = separability.linearly_separable(x, y)
    self.assertGreaterEqual(m.margin, separability.augmented_margin(
        x, y, np.concatenate([[r.b], r.w])))

  def test_errors(self):
    with self.assertRaisesRegex(ValueError, "not linearly separable"):
      separability.max_margin(X2, np.array([0, 1, 1, 0]))
    with self.assertRaisesRegex(ValueError, "non-zero vector"):
      separability.augmented_margin(X2, np.array([0, 0, 0, 1]), np.zeros(3))
    # Weights that misclassify have a negative margin.
    self.assertLess(separability.augmented_margin(
        X2, np.array([0, 0, 0, 1]), np.array([1.0, -1, -1])), 0)


if __name__ == "__main__":
  absltest.main()
