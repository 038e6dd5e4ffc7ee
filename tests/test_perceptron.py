"""Tests for nn_jax.perceptron: the rule, convergence, vmap, the mistake bound."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
from hypothesis import given
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nn_jax import data
from nn_jax import perceptron
from nn_jax import separability

X2 = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]], np.float32)
AND = np.array([0, 0, 0, 1])
OR = np.array([0, 1, 1, 1])
NAND = np.array([1, 1, 1, 0])
XOR = np.array([0, 1, 1, 0])
# All 16 Boolean functions of two inputs, function k true on row j iff bit j.
ALL2 = ((np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1).astype(np.int32)

MAX_EPOCHS = 20
# Compiled once and reused by several tests.
_fit_all2 = jax.jit(jax.vmap(
    functools.partial(perceptron.train, X2, max_epochs=MAX_EPOCHS)))


def reference_train(x, y, learning_rate, max_epochs, w=None):
  """The perceptron rule with Python loops, in float64, zero start."""
  a = np.concatenate([np.ones((len(x), 1)), x], 1)
  w = np.zeros(a.shape[1]) if w is None else np.array(w, np.float64)
  mistakes = []
  for _ in range(max_epochs):
    m = 0
    for a_i, y_i in zip(a, y):
      o = float(a_i @ w > 0)
      w = w + learning_rate * (y_i - o) * a_i
      m += int(o != y_i)
    mistakes.append(m)
    if m == 0:
      break
  return w, mistakes


class PredictTest(absltest.TestCase):

  def test_threshold_with_bias_first(self):
    w = jnp.array([-1.5, 1.0, 1.0])
    np.testing.assert_array_equal(perceptron.predict(w, X2), AND)
    self.assertEqual(perceptron.predict(w, jnp.array([1., 1.])), 1)

  def test_integer_weights_with_real_inputs(self):
    # separability.separable_many gives integer weights (AND: -3, 2, 2).
    w = np.array([-3, 2, 2])
    x = np.array([[.95, .95], [.05, .05], [1., .6], [.8, .6]])
    np.testing.assert_array_equal(perceptron.predict(w, x), [1, 0, 1, 0])

  def test_zero_input_gives_zero(self):
    # o = 1 only for z > 0 strictly.
    np.testing.assert_array_equal(perceptron.predict(jnp.zeros(3), X2), 0)

  def test_shape_mismatch(self):
    with self.assertRaisesRegex(ValueError, "n_features"):
      perceptron.predict(jnp.zeros(2), X2)


class TrainTest(parameterized.TestCase):

  @parameterized.named_parameters(("and", AND), ("or", OR), ("nand", NAND))
  def test_learns_separable(self, y):
    r = perceptron.train(X2, y, max_epochs=MAX_EPOCHS)
    self.assertTrue(r.converged)
    chex.assert_shape(r.w, (3,))
    chex.assert_shape(r.mistakes, (MAX_EPOCHS,))
    np.testing.assert_array_equal(perceptron.predict(r.w, X2), y)
    epochs = int(r.epochs)
    mistakes = np.asarray(r.mistakes)
    self.assertEqual(mistakes[epochs - 1], 0)
    self.assertTrue(np.all(mistakes[:epochs - 1] > 0))
    self.assertTrue(np.all(mistakes[epochs:] == -1))
    self.assertEqual(int(r.num_mistakes), mistakes[:epochs].sum())

  def test_xor_does_not_converge(self):
    r = perceptron.train(X2, XOR, max_epochs=MAX_EPOCHS)
    self.assertFalse(r.converged)
    self.assertEqual(int(r.epochs), MAX_EPOCHS)
    self.assertTrue(np.all(np.asarray(r.mistakes) > 0))

  # Powers of two keep float32 and float64 sums of small integers exact, so
  # both decide z > 0 alike (with eta = 0.1, 0.1 + 0.2 - 0.3 > 0 in float32).
  @parameterized.parameters(0.25, 1.0, 2.0)
  def test_matches_python_loop(self, learning_rate):
    key = jax.random.PRNGKey(3)
    for i in range(4):
      kx, ky, key = jax.random.split(key, 3)
      x = np.asarray(jax.random.randint(kx, (6, 3), -2, 3), np.float32)
      y = np.asarray(jax.random.bernoulli(ky, 0.5, (6,)), np.int32)
      r = perceptron.train(x, y, learning_rate=learning_rate, max_epochs=15)
      w, mistakes = reference_train(x, y, learning_rate, 15)
      np.testing.assert_allclose(r.w, w, rtol=1e-5, atol=1e-5, err_msg=str(i))
      np.testing.assert_array_equal(r.mistakes[:len(mistakes)], mistakes)
      self.assertEqual(int(r.epochs), len(mistakes))
      self.assertEqual(bool(r.converged), mistakes[-1] == 0)

  def test_weights_frozen_after_convergence(self):
    short = perceptron.train(X2, AND, max_epochs=MAX_EPOCHS)
    epochs = int(short.epochs)
    exact = perceptron.train(X2, AND, max_epochs=epochs)
    long = perceptron.train(X2, AND, max_epochs=200)
    np.testing.assert_array_equal(exact.w, short.w)
    np.testing.assert_array_equal(long.w, short.w)
    self.assertEqual(int(long.epochs), epochs)

  def test_integer_inputs_and_bool_labels(self):
    r = perceptron.train(X2.astype(np.int32), AND.astype(bool), max_epochs=10)
    self.assertTrue(r.converged)
    self.assertEqual(r.w.dtype, jnp.float32)

  def test_shuffle_and_random_init_depend_only_on_key(self):
    key = jax.random.PRNGKey(0)
    a = perceptron.train(X2, OR, key=key, shuffle=True, init="random",
                         max_epochs=MAX_EPOCHS)
    b = perceptron.train(X2, OR, key=key, shuffle=True, init="random",
                         max_epochs=MAX_EPOCHS)
    chex.assert_trees_all_equal(a, b)
    self.assertTrue(a.converged)
    np.testing.assert_array_equal(perceptron.predict(a.w, X2), OR)
    zero = perceptron.train(X2, OR, max_epochs=MAX_EPOCHS)
    self.assertFalse(np.array_equal(a.w, zero.w))

  def test_jit_whole_call(self):
    fit = jax.jit(functools.partial(perceptron.train, max_epochs=MAX_EPOCHS))
    chex.assert_trees_all_equal(
        fit(X2, NAND), perceptron.train(X2, NAND, max_epochs=MAX_EPOCHS))


class VmapTest(absltest.TestCase):

  def test_all_labelings_in_one_call(self):
    r = _fit_all2(ALL2)
    chex.assert_shape(r.w, (16, 3))
    chex.assert_shape(r.mistakes, (16, MAX_EPOCHS))
    learned = np.asarray(r.converged)
    self.assertEqual(learned.sum(), 14)
    self.assertFalse(learned[6])  # XOR
    self.assertFalse(learned[9])  # XNOR
    for k in (0, 6, 8, 14):
      single = perceptron.train(X2, ALL2[k], max_epochs=MAX_EPOCHS)
      chex.assert_trees_all_equal(jax.tree.map(lambda t: t[k], r), single)

  def test_vmap_over_keys(self):
    keys = jax.random.split(jax.random.PRNGKey(1), 8)
    fit = jax.jit(jax.vmap(lambda k: perceptron.train(
        X2, NAND, key=k, shuffle=True, init="random", max_epochs=MAX_EPOCHS)))
    r = fit(keys)
    self.assertTrue(np.all(r.converged))
    single = perceptron.train(X2, NAND, key=keys[5], shuffle=True,
                              init="random", max_epochs=MAX_EPOCHS)
    chex.assert_trees_all_close(jax.tree.map(lambda t: t[5], r), single)
    self.assertGreater(len(np.unique(np.asarray(r.w), axis=0)), 1)

  def test_vmap_over_data_sets_and_learning_rates(self):
    xs = jnp.stack([X2, X2 * 2.0, X2 - 0.5])
    lrs = jnp.array([1.0, 0.5, 0.1])
    r = jax.vmap(lambda x, lr: perceptron.train(
        x, AND, learning_rate=lr, max_epochs=50))(xs, lrs)
    self.assertTrue(np.all(r.converged))
    for i in range(3):
      np.testing.assert_array_equal(perceptron.predict(r.w[i], xs[i]), AND)


class ValidationTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("x_rank", dict(x=np.zeros(4)), "x must have shape"),
      ("y_length", dict(y=np.array([0, 1, 1])), "y must have shape"),
      ("y_rank", dict(y=np.zeros((4, 1))), "y must have shape"),
      ("empty", dict(x=np.zeros((0, 2)), y=np.zeros(0)), "empty data"),
      ("no_features", dict(x=np.zeros((4, 0))), "no features"),
      ("labels_pm1", dict(y=np.array([-1, 1, 1, -1])), "0 or 1"),
      ("labels_2", dict(y=np.array([0, 2, 1, 0])), "0 or 1"),
      ("nan", dict(x=np.full((4, 2), np.nan)), "NaN"),
      ("lr_zero", dict(learning_rate=0.0), "learning_rate"),
      ("lr_negative", dict(learning_rate=-1.0), "learning_rate"),
      ("lr_nan", dict(learning_rate=float("nan")), "learning_rate"),
      ("epochs", dict(max_epochs=0), "max_epochs"),
      ("init", dict(init="ones"), "unknown init"),
      ("shuffle_no_key", dict(shuffle=True), "key"),
      ("random_no_key", dict(init="random"), "key"),
  )
  def test_raises(self, overrides, message):
    kwargs = dict(x=X2, y=AND)
    kwargs.update(overrides)
    x, y = kwargs.pop("x"), kwargs.pop("y")
    with self.assertRaisesRegex(ValueError, message):
      perceptron.train(x, y, **kwargs)


def separable_data(key, gamma, scale, n=32, d=3):
  """Points with a known unit separator u through the origin of (1, x) space.

  Points closer than ``gamma`` to the hyperplane ``u . (1, x) = 0`` are moved
  along ``u`` to distance ``gamma``; labels are ``u . (1, x) > 0``.
  """
  ku, kx = jax.random.split(key)
  u = jax.random.normal(ku, (d + 1,))
  u = u / jnp.linalg.norm(u)
  x = scale * jax.random.normal(kx, (n, d))
  m = u[0] + x @ u[1:]
  target = jnp.where(m >= 0, jnp.maximum(m, gamma), jnp.minimum(m, -gamma))
  x = x + ((target - m) / (u[1:] @ u[1:]))[:, None] * u[1:]
  y = (u[0] + x @ u[1:] > 0).astype(jnp.int32)
  return x, y, u


def mistake_bound(x, u):
  """(R / gamma)^2 in float64, R and gamma over the augmented points (1, x)."""
  a = np.concatenate([np.ones((x.shape[0], 1)), np.asarray(x, np.float64)], 1)
  u = np.asarray(u, np.float64)
  u = u / np.linalg.norm(u)
  r = np.linalg.norm(a, axis=1).max()
  gamma = np.abs(a @ u).min()
  return (r / gamma) ** 2


THEOREM_EPOCHS = 2000
_fit_theorem = jax.jit(functools.partial(perceptron.train,
                                         max_epochs=THEOREM_EPOCHS))


class ConvergenceTheoremTest(absltest.TestCase):
  """Novikoff: at most (R / gamma)^2 mistakes from w = 0 with eta = 1."""

  @given(seed=st.integers(0, 2 ** 31 - 1),
         gamma=st.floats(0.05, 1.0),
         scale=st.floats(0.5, 3.0))
  def test_mistakes_within_bound(self, seed, gamma, scale):
    x, y, u = separable_data(jax.random.PRNGKey(seed), gamma, scale)
    bound = mistake_bound(x, u)
    r = _fit_theorem(x, y)
    self.assertLessEqual(int(r.num_mistakes), bound)
    if bound + 1 <= THEOREM_EPOCHS:
      self.assertTrue(r.converged)
      np.testing.assert_array_equal(perceptron.predict(r.w, x), y)

  def test_mistakes_within_bound_many_seeds_vmapped(self):
    keys = jax.random.split(jax.random.PRNGKey(7), 256)
    x, y, u = jax.vmap(lambda k: separable_data(k, 0.2, 1.0))(keys)
    r = jax.jit(jax.vmap(functools.partial(perceptron.train, max_epochs=500)))(
        x, y)
    bounds = np.array([mistake_bound(x[i], u[i]) for i in range(len(keys))])
    self.assertTrue(np.all(np.asarray(r.num_mistakes) <= bounds))
    self.assertTrue(np.all(np.asarray(r.converged)[bounds + 1 <= 500]))



def test_training_continues_from_given_weights():
  x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
  y = jnp.array([0, 0, 0, 1])
  first = perceptron.train(x, y, max_epochs=2)
  assert not bool(first.converged)
  resumed = perceptron.train(x, y, max_epochs=50, w0=first.w)
  whole = perceptron.train(x, y, max_epochs=52)
  np.testing.assert_array_equal(resumed.w, whole.w)
  assert int(resumed.epochs) == int(whole.epochs) - 2
  with pytest.raises(ValueError, match="w0 must have shape"):
    perceptron.train(x, y, w0=jnp.zeros(2))


# trajectory, find_cycle and mistake_bound: what experiments.perceptron
# measures.

_trajectory_jit = jax.jit(functools.partial(perceptron.trajectory, epochs=12),
                          static_argnames=("shuffle", "init"))


def reference_trajectory(x, y, learning_rate, epochs):
  """Weights after each epoch and the largest norm in each, Python loops."""
  a = np.concatenate([np.ones((len(x), 1)), x], 1)
  w = np.zeros(a.shape[1])
  ws, tops = [w], []
  for _ in range(epochs):
    top = np.linalg.norm(w)
    for a_i, y_i in zip(a, y):
      w = w + learning_rate * (y_i - float(a_i @ w > 0)) * a_i
      top = max(top, np.linalg.norm(w))
    ws.append(w)
    tops.append(top)
  return np.array(ws), np.array(tops)


class TrajectoryTest(parameterized.TestCase):

  def test_matches_python_loop(self):
    rng = np.random.default_rng(0)
    for i in range(4):
      x = rng.integers(-2, 3, (7, 3)).astype(np.float32)
      y = rng.integers(0, 2, 7)
      run = _trajectory_jit(x, y, learning_rate=0.5)
      w, tops = reference_trajectory(x, y, 0.5, 12)
      np.testing.assert_allclose(run.w, w, atol=1e-6, err_msg=str(i))
      np.testing.assert_allclose(run.max_norm, tops, rtol=1e-6)
      _, mistakes = reference_train(x, y, 0.5, 12)
      np.testing.assert_array_equal(run.mistakes[:len(mistakes)], mistakes)

  @parameterized.parameters(
      dict(shuffle=False, init="zeros"), dict(shuffle=True, init="random"))
  def test_same_weights_as_train_epoch_by_epoch(self, shuffle, init):
    key = jax.random.PRNGKey(5)
    run = _trajectory_jit(X2, NAND, key=key, shuffle=shuffle, init=init)
    final = perceptron.train(X2, NAND, key=key, shuffle=shuffle, init=init,
                             max_epochs=12)
    self.assertTrue(final.converged)
    epochs = int(final.epochs)
    np.testing.assert_array_equal(run.mistakes[:epochs],
                                  final.mistakes[:epochs])
    np.testing.assert_array_equal(run.mistakes[epochs:], 0)  # idle after
    for e in (1, epochs - 1):
      part = perceptron.train(X2, NAND, key=key, shuffle=shuffle, init=init,
                              max_epochs=e)
      np.testing.assert_array_equal(run.w[e], part.w)
    np.testing.assert_array_equal(run.w[epochs:], np.broadcast_to(
        final.w, run.w[epochs:].shape))

  def test_vmaps_over_learning_rates(self):
    rates = jnp.array([0.25, 1.0])
    runs = jax.vmap(lambda lr: perceptron.trajectory(
        X2, XOR, learning_rate=lr, epochs=6))(rates)
    chex.assert_shape(runs.w, (2, 7, 3))
    # From zero, the rate only scales the weights (exactly, a power of 2).
    np.testing.assert_array_equal(runs.w[0] * 4, runs.w[1])
    np.testing.assert_array_equal(runs.mistakes[0], runs.mistakes[1])

  def test_epochs_checked(self):
    with self.assertRaisesRegex(ValueError, "epochs must be an integer"):
      perceptron.trajectory(X2, AND, epochs=0)


_cycle_run = jax.jit(functools.partial(perceptron.trajectory, epochs=200))


class FindCycleTest(absltest.TestCase):

  def test_xor_cycles_every_epoch_with_four_updates(self):
    # w: 0 -> (0, -1, 0) -> (1, -1, 0), then each epoch's four mistakes
    # take (1, -1, 0) round to itself.
    run = perceptron.trajectory(X2, XOR, epochs=10)
    self.assertEqual(perceptron.find_cycle(run), perceptron.Cycle(2, 1, 4))
    np.testing.assert_array_equal(run.w[2], [1, -1, 0])

  def test_converged_run_is_a_fixed_point(self):
    run = perceptron.trajectory(X2, AND, epochs=10)
    epochs = int(perceptron.train(X2, AND, max_epochs=10).epochs)
    self.assertEqual(perceptron.find_cycle(run),
                     perceptron.Cycle(epochs - 1, 1, 0))

  def test_longer_cycle_and_none(self):
    w = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [1, 0], [2, 0]], float)
    mistakes = np.array([1, 2, 3, 4, 5])
    run = perceptron.Trajectory(w, mistakes, np.zeros(5))
    self.assertEqual(perceptron.find_cycle(run), perceptron.Cycle(1, 3, 9))
    self.assertIsNone(perceptron.find_cycle(run._replace(w=w[:4])))
    with self.assertRaisesRegex(ValueError, "one trajectory"):
      perceptron.find_cycle(run._replace(w=w[None]))

  @given(seed=st.integers(0, 2 ** 31 - 1))
  def test_integer_data_cycle_and_updates_tell_separability(self, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (6, 2)).astype(np.float32)
    y = rng.integers(0, 2, 6)
    run = _cycle_run(x, y)
    cycle = perceptron.find_cycle(run)
    self.assertIsNotNone(cycle)   # integer weights, bounded: they repeat
    start, length = cycle.start, cycle.epochs
    np.testing.assert_array_equal(run.w[start + length], run.w[start])
    # The cycle is the rule's own: started from w[start] it comes back.
    again = _cycle_run(x, y, w0=run.w[start])
    np.testing.assert_array_equal(again.w[length], run.w[start])
    self.assertEqual(int(again.mistakes[:length].sum()), cycle.updates)
    separable = separability.linearly_separable(x, y).separable
    self.assertEqual(cycle.updates == 0, separable)
    self.assertLessEqual(float(run.max_norm.max()),
                         float(run.max_norm[:start + length].max()))



class MistakeBoundTest(parameterized.TestCase):

  def test_formula(self):
    self.assertAlmostEqual(perceptron.mistake_bound(2.0, 0.5), 16.0)
    self.assertAlmostEqual(perceptron.mistake_bound(2.0, 0.5, 3.0, 0.1),
                           16.0 + 2 * 3.0 / (0.1 * 0.5))
    with self.assertRaisesRegex(ValueError, "margin"):
      perceptron.mistake_bound(1.0, 0.0)
    # A norm below 0 would lower the bound (300 instead of 400 here).
    for norm in (-5.0, float("nan")):
      with self.assertRaisesRegex(ValueError, "w0_norm, a norm, finite and "
                                  ">= 0"):
        perceptron.mistake_bound(2.0, 0.1, w0_norm=norm)

  @given(seed=st.integers(0, 2 ** 31 - 1), margin=st.floats(0.01, 0.3),
         log2_rate=st.integers(-7, 0), init=st.sampled_from(perceptron.INITS))
  def test_mistakes_within_bound_from_any_start(self, seed, margin, log2_rate,
                                                init):
    md = data.margin_separable(24, 3, margin, seed)
    key = jax.random.PRNGKey(seed)
    rate = 2.0 ** log2_rate
    r = _fit_bound(md.x, md.y, key, rate, init=init)
    w0 = np.asarray(perceptron.trajectory(md.x, md.y, key=key, init=init,
                                          epochs=1).w[0])
    radius = np.linalg.norm(np.concatenate(
        [np.ones((24, 1)), md.x.astype(np.float64)], 1), axis=1).max()
    bound = perceptron.mistake_bound(radius, md.margin,
                                     np.linalg.norm(w0), rate)
    self.assertLessEqual(int(r.num_mistakes), bound)
    self.assertTrue(r.converged)

  def test_zero_start_rate_only_scales_random_start_rescales_w0(self):
    md = data.margin_separable(40, 2, 0.05, 1)
    one = perceptron.train(md.x, md.y, max_epochs=200)
    small = perceptron.train(md.x, md.y, learning_rate=2.0 ** -6,
                             max_epochs=200)
    # Powers of two scale exactly in floating point: the same run.
    np.testing.assert_array_equal(small.w * 2.0 ** 6, one.w)
    np.testing.assert_array_equal(small.mistakes, one.mistakes)
    # From w0 at rate eta: the run from w0 / eta at rate 1, scaled by eta.
    key = jax.random.PRNGKey(2)
    w0 = perceptron.trajectory(md.x, md.y, key=key, init="random",
                               epochs=1).w[0]
    random_small = perceptron.train(md.x, md.y, key=key, init="random",
                                    learning_rate=2.0 ** -6, max_epochs=200)
    scaled = perceptron.train(md.x, md.y, w0=w0 * 2.0 ** 6, max_epochs=200)
    np.testing.assert_array_equal(random_small.w * 2.0 ** 6, scaled.w)
    random_one = perceptron.train(md.x, md.y, key=key, init="random",
                                  max_epochs=200)
    self.assertNotEqual(int(random_small.num_mistakes),
                        int(random_one.num_mistakes))


_fit_bound = jax.jit(
    lambda x, y, key, rate, init: perceptron.train(
        x, y, key=key, learning_rate=rate, init=init, shuffle=True,
        max_epochs=3000), static_argnames="init")


if __name__ == "__main__":
  absltest.main()
