"""The training loop: every mode of gradient descent through one jitted step."""

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nn_jax import backprop
from nn_jax import config
from nn_jax import data as data_lib
from nn_jax import devices
from nn_jax import epoch as epoch_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import online
from nn_jax import optimizers
from nn_jax import population
from nn_jax import train

MODEL = mlp.make_model("tanh", "softmax_cross_entropy")


def _data(n=12, n_in=3, k=2, n_val=0, seed=0):
  kx, ky, kv = jax.random.split(jax.random.PRNGKey(seed), 3)
  x = jax.random.normal(kx, (n + n_val, n_in))
  labels = jax.random.randint(ky, (n + n_val,), 0, k)
  y = jax.nn.one_hot(labels, k)
  return train.Data(x[:n], y[:n], x[n:], y[n:])


def _params(sizes=(3, 4, 2), seed=1, model=MODEL):
  return mlp.init(jax.random.PRNGKey(seed), list(sizes), model)


def test_full_batch_epoch_is_one_gradient_step():
  data, params = _data(), _params()
  result = train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=1, batch_size=0), key=jax.random.PRNGKey(0))
  _, grads = backprop.gradients(params, data.x, data.y, MODEL)
  expected = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
  chex.assert_trees_all_close(result.params, expected, rtol=1e-5, atol=1e-6)


def test_online_epoch_is_one_step_per_example_in_order():
  data, params = _data(n=5), _params()
  result = train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=1, batch_size=1, shuffle=False),
      key=jax.random.PRNGKey(0))
  expected = params
  for i in range(5):
    _, g = backprop.gradients(expected, data.x[i:i + 1], data.y[i:i + 1],
                              MODEL)
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, expected, g)
  chex.assert_trees_all_close(result.params, expected, rtol=1e-5, atol=1e-6)


def test_mini_batches_shuffled_from_the_key():
  data, params = _data(n=20), _params()
  fit = lambda seed: train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=2, batch_size=6),
      key=jax.random.PRNGKey(seed)).params
  chex.assert_trees_all_equal(fit(0), fit(0))
  with pytest.raises(AssertionError):
    chex.assert_trees_all_close(fit(0), fit(1))


@jax.jit
def _drawn(key):
  """What 3 epochs of 20 examples draw in the epochs' program: each one's
  key after it, its steps' key and its order."""
  def one(k, _):
    k, shuffle_key, steps_key = jax.random.split(k, 3)
    return k, (jnp.stack([k, steps_key]), data_lib.permutation(shuffle_key,
                                                               20))
  return jax.lax.scan(one, key, None, length=3)[1]


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_draws_on_the_host_are_the_epochs_own(seed):
  key = jax.random.PRNGKey(seed)
  keys, orders = _drawn(key)
  drawn = epoch_lib.host_draws(key, 20, 3, shuffle=True)
  np.testing.assert_array_equal(drawn.keys, keys)
  np.testing.assert_array_equal(drawn.orders, orders)
  assert drawn.keys.dtype == np.uint32 and drawn.orders.dtype == np.int32
  unshuffled = epoch_lib.host_draws(key, 20, 3, shuffle=False)
  np.testing.assert_array_equal(unshuffled.keys, keys)
  assert unshuffled.orders is None
  # Where the host does not draw JAX's bits (a typed key) or the orders
  # would be too large, the epochs draw them.
  assert epoch_lib.host_draws(jax.random.key(seed), 20, 3, True) is None
  big = epoch_lib.HOST_ORDERS_MAX // 4 + 1
  assert epoch_lib.host_draws(key, big, 4, True) is None
  assert epoch_lib.host_draws(key, big, 4, False) is not None


def _doubled(params):   # an optimizer whose state is computed
  return optax.GradientTransformation(
      lambda p: jax.tree.map(lambda a: 2 * a + 1, p),
      lambda g, state, p=None: (g, state))


def _jitted(params):   # a state made by a jitted function (many outputs)
  return optax.GradientTransformation(
      jax.jit(lambda p: jax.tree.map(jnp.zeros_like, p)),
      lambda g, state, p=None: (g, state))


def _weak(params):   # a state of a Python scalar's (weak) type
  return optax.GradientTransformation(
      lambda p: {"scale": jnp.asarray(0.3)},
      lambda g, state, p=None: (g, state))


@pytest.mark.parametrize("optimizer,batchnorm,x64,on_host", [
    (optax.sgd(0.1), False, False, True),
    (optax.sgd(0.1, momentum=0.9), True, False, True),
    (optax.adamw(1e-3), False, True, True),
    (optax.chain(optax.clip_by_global_norm(1.0), optax.adam(
        optax.linear_schedule(0.1, 0.0, 10))), True, False, True),
    (_doubled(None), False, False, False),
    (_weak(None), False, True, False),
    (_jitted(None), False, False, False)])
def test_a_fits_start_is_the_programs_bit_for_bit_on_the_host(
    monkeypatch, optimizer, batchnorm, x64, on_host):
  # fit's first state: evaluated on the host where its program is
  # constants and copies, else compiled; the same arrays either way (bit
  # for bit, dtypes and the tree), each a buffer of its own.
  model = mlp.make_model("relu", "softmax_cross_entropy",
                         batchnorm=batchnorm)
  with jax.enable_x64(x64):
    params = mlp.init(jax.random.PRNGKey(1), [3, 5, 2], model,
                      dtype=jnp.float64 if x64 else jnp.float32)
    key = jax.random.PRNGKey(2)
    expected = train._starter(model, optimizer)(params, key)
    compiled = []
    starter = train._starter
    monkeypatch.setattr(train, "_starter", lambda *a: (compiled.append(1),
                                                      starter(*a))[1])
    state = train._start_state(model, optimizer, params, key)
  assert compiled == ([] if on_host else [1])
  assert jax.tree.structure(state) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
    assert (got.dtype, got.shape, got.weak_type) == (
        want.dtype, want.shape, want.weak_type)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  mine = jax.tree.leaves(state)
  for a in mine:
    assert not any(np.shares_memory(np.asarray(a), np.asarray(b))
                   for b in jax.tree.leaves((params, key)) + [
                       c for c in mine if c is not a])


def test_fit_starts_without_compiling_a_start(monkeypatch):
  def no_program(*args):
    raise AssertionError("compiled a start state")
  monkeypatch.setattr(train, "_starter", no_program)
  result = train.fit(_params(), MODEL, optax.sgd(0.1, momentum=0.9),
                     _data(), train.FitOptions(epochs=2, batch_size=4),
                     key=jax.random.PRNGKey(0))
  assert result.epochs_run == 2


def test_a_start_from_committed_arrays_or_typed_keys_is_compiled(
    monkeypatch):
  # Committed to a device, the state's arrays go where the program puts
  # them; a typed key has no NumPy value.
  compiled = []
  starter = train._starter
  monkeypatch.setattr(train, "_starter", lambda *a: (compiled.append(1),
                                                    starter(*a))[1])
  params = _params()
  train._start_state(MODEL, optax.sgd(0.1), jax.device_put(
      params, jax.devices()[0]), jax.random.PRNGKey(0))
  train._start_state(MODEL, optax.sgd(0.1), params, jax.random.key(0))
  assert compiled == [1, 1]


def _draws_passed(monkeypatch) -> list:
  """The ``drawn`` argument of every call of fit's epochs' program, in a
  list that fills as fits run."""
  runner, seen = train._fit_runner, []   # pylint: disable=protected-access

  def spy(*args):
    run = runner(*args)
    def call(state, data, drawn):
      seen.append(drawn)
      return run(state, data, drawn)
    return call

  monkeypatch.setattr(train, "_fit_runner", spy)
  return seen


@pytest.mark.parametrize("dropout,shuffle", [(0.0, True), (0.3, True),
                                             (0.3, False)])
def test_draws_from_the_host_train_as_those_drawn_in_the_program(
    monkeypatch, dropout, shuffle):
  model = mlp.make_model("tanh", "softmax_cross_entropy", dropout=dropout)
  data, params = _data(n=20, n_val=6), _params(model=model)
  options = train.FitOptions(epochs=7, batch_size=6, epochs_per_call=3,
                             shuffle=shuffle)
  fit = lambda: train.fit(params, model, optax.sgd(0.1), data, options,
                          key=jax.random.PRNGKey(3))
  seen = _draws_passed(monkeypatch)
  host = fit()
  # 7 epochs: 3, 3 and 1 of 3
  assert [jax.tree.map(np.shape, tuple(d)) for d in seen] == [
      ((3, 2, 2), (3, 20) if shuffle else None)] * 3
  monkeypatch.setattr(data_lib, "draws_on_host", lambda key: False)
  seen.clear()
  drawn = fit()
  assert seen == [None] * 3
  # The same orders and masks; XLA fuses the two programs otherwise, which
  # can move a last bit (with dropout here, 1e-8 in some weights).
  chex.assert_trees_all_equal(host.state.key, drawn.state.key)
  chex.assert_trees_all_close(host.params, drawn.params, rtol=1e-5,
                              atol=1e-7)
  for name in train.METRICS:
    np.testing.assert_allclose(host.history[name], drawn.history[name],
                               rtol=1e-5)


def test_runs_whose_draws_would_keep_the_host_busy_draw_in_the_program(
    monkeypatch):
  # The quickstart's and MNIST's draws take the host a few hundredths of a
  # second; XOR's 2,000 epochs would take it 0.4 s, more than compiling.
  assert epoch_lib.host_draws_pay(1258, 80, True)
  assert epoch_lib.host_draws_pay(50_000, 10, True)
  assert not epoch_lib.host_draws_pay(4, 2000, True)
  assert epoch_lib.host_draws_pay(4, 900, False)
  assert not epoch_lib.host_draws_pay(4, 2000, False)
  seen = _draws_passed(monkeypatch)
  data, params = _data(n=4), _params()
  for epochs, in_program in ((20, False), (2000, True)):
    seen.clear()
    train.fit(params, MODEL, optax.sgd(0.1), data,
              train.FitOptions(epochs=epochs, batch_size=2,
                               epochs_per_call=epochs // 2),
              key=jax.random.PRNGKey(0))
    assert [d is None for d in seen] == [in_program] * 2


def test_the_epochs_program_draws_nothing_when_the_host_does():
  data = _data(n=20)
  options = train.FitOptions(epochs=4, batch_size=5)
  run = train._fit_runner(   # pylint: disable=protected-access
      MODEL, optax.sgd(0.1), 20, options, None, None, 2)
  state = train.init_state(_params(), MODEL, optax.sgd(0.1),
                           jax.random.PRNGKey(0))
  drawn = epoch_lib.host_draws(state.key, 20, 2, True)
  for text, draws in ((run.lower(state, data, drawn).as_text("hlo"), False),
                      (run.lower(state, data, None).as_text("hlo"), True)):
    assert (" sort(" in text) == draws
    assert ("threefry" in text) == draws


def test_unrolling_the_steps_changes_only_rounding(monkeypatch):
  # Accelerators unroll small batches' steps 4 at a time, the CPU not: the
  # same steps, dropout masks included, though XLA may fuse the unrolled
  # ones otherwise (here a few ulp in some weights after 30 steps with
  # momentum, 3e-6 relative; the quickstart's weights came out bitwise
  # the same).
  assert epoch_lib.step_unroll(32, 40) == (
      1 if jax.default_backend() == "cpu" else 4)
  assert epoch_lib.step_unroll(64, 40) == epoch_lib.step_unroll(32, 3) == 1
  data, params = _data(n=40, n_val=8), _params()
  model = mlp.make_model("tanh", "softmax_cross_entropy", dropout=0.2)
  options = train.FitOptions(epochs=3, batch_size=4)
  results = []
  for unroll in (1, 4):
    monkeypatch.setattr(epoch_lib, "step_unroll", lambda b, n, u=unroll: u)
    train._fit_runner.cache_clear()  # pylint: disable=protected-access
    results.append(train.fit(params, model, optax.sgd(0.1, momentum=0.9),
                             data, options, key=jax.random.PRNGKey(0)))
  train._fit_runner.cache_clear()  # pylint: disable=protected-access
  chex.assert_trees_all_close(results[0].params, results[1].params,
                              rtol=1e-5, atol=1e-7)
  chex.assert_trees_all_close(results[0].history, results[1].history,
                              rtol=1e-5, atol=1e-7)


def test_incomplete_last_batch_is_dropped():
  # 7 examples, batches of 3: two updates, the 7th example unused.
  data, params = _data(n=7), _params()
  result = train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=1, batch_size=3, shuffle=False),
      key=jax.random.PRNGKey(0))
  expected = params
  for i in range(2):
    sl = slice(3 * i, 3 * i + 3)
    _, g = backprop.gradients(expected, data.x[sl], data.y[sl], MODEL)
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, expected, g)
  chex.assert_trees_all_close(result.params, expected, rtol=1e-5, atol=1e-6)


def test_cost_threshold_stops_training():
  data, params = _data(n=16), _params((3, 16, 2))
  result = train.fit(
      params, MODEL, optax.adam(0.05), data,
      train.FitOptions(epochs=500, batch_size=0, cost_threshold=0.05, epochs_per_call=7),
      key=jax.random.PRNGKey(0))
  loss = result.history["train_loss"]
  assert result.reached_threshold
  assert result.epochs_run < 500
  assert len(loss) == result.epochs_run
  assert loss[-1] < 0.05 <= loss[-2]


def test_history_and_validation_metrics():
  data, params = _data(n=12, n_val=6), _params()
  seen = []
  result = train.fit(
      params, MODEL, optimizers.make("momentum", 0.1), data,
      train.FitOptions(epochs=9, batch_size=4, epochs_per_call=4),
      key=jax.random.PRNGKey(0), on_progress=lambda e, m: seen.append(e))
  assert result.epochs_run == 9 and seen == list(range(1, 10))
  for name in train.METRICS:
    assert result.history[name].shape == (9,)
    assert np.all(np.isfinite(result.history[name]))
  val_loss, val_acc = train.evaluate(result.params, data.x_val, data.y_val,
                                     MODEL)
  assert result.history["val_loss"][-1] == pytest.approx(float(val_loss),
                                                         rel=1e-5)
  assert result.history["val_accuracy"][-1] == pytest.approx(float(val_acc))


@pytest.mark.parametrize("log_every,report,chunk", [
    (4, True, 2), (0, True, 6), (4, False, 6), (3, True, 3)])
def test_log_every_ends_the_calls_when_progress_is_reported(
    monkeypatch, log_every, report, chunk):
  chunks, seen = [], []
  runner = train._fit_runner   # pylint: disable=protected-access

  def spy(*args):
    chunks.append(args[-1])
    return runner(*args)

  monkeypatch.setattr(train, "_fit_runner", spy)
  data, params = _data(n=12, n_val=6), _params()
  result = train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=12, batch_size=4, epochs_per_call=6,
                       log_every=log_every), key=jax.random.PRNGKey(0),
      on_progress=(lambda e, m: seen.append((e, m))) if report else None)
  assert chunks == [chunk]
  if report:   # every epoch, in order, with that epoch's metrics
    assert [e for e, _ in seen] == list(range(1, 13))
    for name in train.METRICS:
      np.testing.assert_array_equal([m[name] for _, m in seen],
                                    result.history[name])


def test_no_validation_data_gives_nan():
  data, params = _data(n=8), _params()
  result = train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=2, batch_size=0), key=jax.random.PRNGKey(0))
  assert np.all(np.isnan(result.history["val_loss"]))


@pytest.mark.parametrize("name", config.OPTIMIZERS)
def test_every_optimizer_lowers_the_cost(name):
  data, params = _data(n=16), _params()
  result = train.fit(
      params, MODEL, optimizers.make(name, 0.05), data,
      train.FitOptions(epochs=30, batch_size=4, epochs_per_call=30),
      key=jax.random.PRNGKey(0))
  loss = result.history["train_loss"]
  assert loss[-1] < 0.8 * loss[0]


def test_any_optax_transformation():
  data, params = _data(), _params()
  # One full-batch step through a chain that clips the gradient's norm.
  opt = optax.chain(optax.clip_by_global_norm(1e-3), optax.sgd(0.1))
  result = train.fit(
      params, MODEL, opt, data, train.FitOptions(epochs=1, batch_size=0),
      key=jax.random.PRNGKey(0))
  _, grads = backprop.gradients(params, data.x, data.y, MODEL)
  norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads)))
  assert norm > 1e-3
  expected = jax.tree.map(lambda p, g: p - 0.1 * g * (1e-3 / norm), params,
                          grads)
  chex.assert_trees_all_close(result.params, expected, atol=1e-7)


def test_manual_and_autodiff_train_alike():
  data, params = _data(n=16), _params()
  fit = lambda grad: train.fit(
      params, MODEL, optax.sgd(0.2), data,
      train.FitOptions(epochs=10, batch_size=4, grad=grad, epochs_per_call=10),
      key=jax.random.PRNGKey(0)).params
  chex.assert_trees_all_close(fit("manual"), fit("autodiff"), rtol=1e-4,
                              atol=1e-5)


def test_sigmoid_network_learns_xor():
  x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
  y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
  model = mlp.make_model("sigmoid", "sigmoid_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(0), [2, 4, 1], model, "normal")
  data = train.Data(x, y, x[:0], y[:0])
  result = train.fit(
      params, model, optax.sgd(1.0, momentum=0.9), data,
      train.FitOptions(epochs=1000, batch_size=0, epochs_per_call=1000),
      key=jax.random.PRNGKey(0))
  assert result.history["train_accuracy"][-1] == 1.0


def test_bad_arguments():
  data, params = _data(n=5), _params()
  opt = optax.sgd(0.1)
  with pytest.raises(ValueError, match="batch_size"):
    train.fit(
        params, MODEL, opt, data, train.FitOptions(epochs=1, batch_size=6),
        key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="epochs"):
    train.fit(
        params, MODEL, opt, data, train.FitOptions(epochs=0, batch_size=0),
        key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="grad='numeric' is not allowed"):
    train.fit(
        params, MODEL, opt, data,
        train.FitOptions(epochs=1, batch_size=0, grad="numeric"),
        key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="optimizer"):
    optimizers.make("rmsprop", 0.1)
  with pytest.raises(ValueError, match="epochs must be an integer"):
    train.fit(
        params, MODEL, opt, data, train.FitOptions(epochs=2.5, batch_size=0),
        key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match=r"image_shape \(2, 2\) has 4 pixels "
                     "but x has 3 features"):
    train.fit(
        params, MODEL, opt, data,
        train.FitOptions(epochs=1, batch_size=0, max_shift=1, augment=('shift',)),
        key=jax.random.PRNGKey(0), image_shape=(2, 2))
  ints = data._replace(x=jnp.ones((5, 3), jnp.int32))
  with pytest.raises(ValueError, match="noise needs floating-point inputs"):
    train.fit(
        params, MODEL, opt, ints,
        train.FitOptions(epochs=1, batch_size=0, noise_std=0.1, augment=('noise',)),
        key=jax.random.PRNGKey(0))
  with jax.enable_x64(True):
    wide = data._replace(x=jnp.asarray(np.asarray(data.x), jnp.float64))
    for batch_size in (1, 5):
      with pytest.raises(ValueError, match="x is float64 but the network's "
                         "weights are float32"):
        train.fit(
            params, MODEL, opt, wide,
            train.FitOptions(epochs=1, batch_size=batch_size),
            key=jax.random.PRNGKey(0))
    # Targets too (np.eye gives float64): they failed inside the scan.
    wide = data._replace(y=jnp.asarray(np.asarray(data.y), jnp.float64))
    with pytest.raises(ValueError, match="y is float64 but the network's "
                       "weights are float32"):
      train.fit(
          params, MODEL, optax.adam(0.1), wide,
          train.FitOptions(epochs=1, batch_size=5), key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="batch_size must be an integer; got "
                     "2.5"):
    train.fit(
        params, MODEL, opt, data, train.FitOptions(epochs=1, batch_size=2.5),
        key=jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="early_stopping_patience must be >= "
                     "0"):
    train.fit(
        params, MODEL, opt, data._replace(x_val=data.x, y_val=data.y),
        train.FitOptions(epochs=1, batch_size=0, early_stopping_patience=-1),
        key=jax.random.PRNGKey(0))
  # Threshold units cannot be trained by gradients, on any path (online
  # plain SGD takes a path of its own).
  step = mlp.make_model("threshold", "softmax_cross_entropy")
  for optimizer in (opt, online.delayed_sgd(0.1)):
    for batch_size in (1, 5):
      with pytest.raises(ValueError, match="'threshold' has no derivative"):
        train.fit(
            _params(model=step), step, optimizer, data,
            train.FitOptions(epochs=1, batch_size=batch_size),
            key=jax.random.PRNGKey(0))


def test_data_a_network_cannot_learn_from_is_refused_by_name():
  data, params = _data(n=5), _params()
  opt = optax.sgd(0.1)
  # Boolean targets failed inside the step ("neg does not accept bool").
  with pytest.raises(ValueError, match=r"y is boolean; give it as numbers, "
                     r"e\.g\. y\.astype\(np\.float32\)"):
    train.fit(params, MODEL, opt, data._replace(y=np.asarray(data.y) > 0.5),
              train.FitOptions(epochs=1, batch_size=0),
              key=jax.random.PRNGKey(0))
  # A softmax over one unit is 1 whatever the weights: it trained nothing,
  # reporting cost 0 and accuracy 1.
  one = data._replace(y=data.y[:, :1], y_val=data.y_val[:, :1])
  with pytest.raises(ValueError, match="softmax_cross_entropy over one "
                     "output unit"):
    train.fit(_params(sizes=(3, 4, 1)), MODEL, opt, one,
              train.FitOptions(epochs=1, batch_size=0),
              key=jax.random.PRNGKey(0))


def test_a_state_to_go_on_from_needs_epochs_left():
  data, params = _data(n=8), _params()
  opt, key = optax.sgd(0.1), jax.random.PRNGKey(0)
  options = train.FitOptions(epochs=3, batch_size=0)
  first = train.fit(params, MODEL, opt, data, options, key=key)
  # Its 3 epochs run: nothing left (it failed with an IndexError).
  with pytest.raises(ValueError, match="state has run 3 epochs and "
                     "options.epochs is 3: nothing is left to run"):
    train.fit(params, MODEL, opt, data, options, key=key, state=first.state)
  more = train.fit(params, MODEL, opt, data, options, key=key,
                   state=first.state._replace(epoch=jnp.int32(0)))
  assert more.epochs_run == 3
  # One that stopped at its cost threshold is done: it ran no epoch.
  stopped = train.fit(params, MODEL, opt, data, options.replace(
      cost_threshold=10.0), key=key)
  assert stopped.epochs_run == 1 and stopped.reached_threshold
  with pytest.raises(ValueError, match="state is that of a run that "
                     "stopped"):
    train.fit(params, MODEL, opt, data, options, key=key,
              state=stopped.state._replace(epoch=jnp.int32(0)))
  went_on = train.fit(params, MODEL, opt, data, options, key=key,
                      state=stopped.state._replace(epoch=jnp.int32(0),
                                                   done=jnp.bool_(False)))
  assert went_on.epochs_run == 3


def test_float64_runs_compare_validation_costs_in_float64():
  # Improvements far below float32's resolution still count as improvements
  # for early stopping, and the history keeps them.
  model = mlp.make_model("tanh", "linear_squared")
  with jax.enable_x64(True):
    params = mlp.init(jax.random.PRNGKey(0), [3, 4, 1], model,
                      dtype=jnp.float64)
    x = jax.random.normal(jax.random.PRNGKey(1), (40, 3), jnp.float64)
    data = train.Data(x[:30], 2 * x[:30, :1], x[30:], 2 * x[30:, :1])
    result = train.fit(
        params, model, optimizers.make("sgd", 1e-9), data,
        train.FitOptions(epochs=12, batch_size=0, early_stopping_patience=3),
        key=jax.random.PRNGKey(0))
  assert result.history["val_loss"].dtype == np.float64
  # Narrower weights keep float32 metrics; NumPy float64 weights and data
  # are float32 on the device without 64-bit JAX, and train as such.
  half = jax.tree.map(lambda a: a.astype(jnp.bfloat16), _params())
  assert train.init_state(half, MODEL, optax.sgd(0.1), jax.random.PRNGKey(0)
                          ).best_val_loss.dtype == jnp.float32
  wide = jax.tree.map(lambda a: np.asarray(a, np.float64), _params())
  numpy64 = train.Data(*(np.asarray(a, np.float64) for a in _data(n_val=4)))
  assert train.fit(
      wide, MODEL, optax.sgd(0.1), numpy64,
      train.FitOptions(epochs=2, batch_size=0),
      key=jax.random.PRNGKey(0)).epochs_run == 2
  assert np.all(np.diff(result.history["val_loss"]) < 0)
  assert result.epochs_run == 12 and result.best_epoch == 12
  assert not result.early_stopped


_DATA_PARALLEL = """
import jax, jax.numpy as jnp, optax
from nn_jax import config, mlp, population, train
assert jax.device_count() == 8
model = mlp.make_model("tanh", "softmax_cross_entropy")
params = mlp.init(jax.random.PRNGKey(0), [6, 16, 3], model)
x = jax.random.normal(jax.random.PRNGKey(1), (128, 6))
y = jax.nn.one_hot(jnp.arange(128) % 3, 3)
data = train.Data(x, y, x[:8], y[:8])
fit = lambda devices: train.fit(
    params, model, optax.sgd(0.2), data,
    config.FitOptions(epochs=4, batch_size=32, devices=devices),
    key=jax.random.PRNGKey(2))
diff = lambda a, b: max(float(jnp.max(jnp.abs(u - v))) for u, v in
                        zip(jax.tree.leaves(a), jax.tree.leaves(b)))
one, eight = fit(1), fit(8)
assert eight.params[0]["w"].sharding.mesh.size == 8
keys = jax.random.split(jax.random.PRNGKey(3), 8)
pop = lambda devices, keys=keys: population.fit_population(
    keys, [6, 16, 3], model, data,
    config.FitOptions(epochs=3, batch_size=16, devices=devices),
    learning_rates=0.2)
pop_one, pop_eight = pop(1), pop(8)
assert pop_eight.params[0]["w"].sharding.spec[0] == "members"
assert pop_eight.params[0]["w"].sharding.mesh.size == 8
try:
  pop(8, keys[:6])
  raise AssertionError("6 members over 8 devices did not fail")
except ValueError as e:
  assert "multiple of the 8 devices" in str(e), e
print(diff(one.params, eight.params), diff(pop_one.params, pop_eight.params))
"""


@pytest.mark.slow
def test_data_parallel_and_population_over_8_devices_match_one_device():
  import os, subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  env = {**os.environ,
         "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu"}
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "-c", _DATA_PARALLEL], env=env,
                        cwd=root, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  data_parallel, population = proc.stdout.strip().splitlines()[-1].split()
  assert float(data_parallel) <= 1e-5
  assert float(population) <= 1e-5


def test_more_devices_than_available():
  with pytest.raises(ValueError, match="devices must be between 1"):
    devices.make_mesh(jax.device_count() + 1)


@pytest.mark.parametrize("shared", [False, True])
def test_population_members_equal_single_runs(shared):
  data = _data(n=16)
  keys = jax.random.split(jax.random.PRNGKey(5), 3)
  rates = jnp.array([0.05, 0.1, 0.2])
  shared_key = jax.random.PRNGKey(9) if shared else None
  pop = population.fit_population(
      keys, [3, 4, 2], MODEL, data, config.FitOptions(epochs=3, batch_size=4),
      learning_rates=rates, optimizer="sgd", shared_key=shared_key)
  assert pop.history["train_loss"].shape == (3, 3)
  for i in range(3):
    k_init, k_train = jax.random.split(keys[i])
    params = mlp.init(k_init, [3, 4, 2], MODEL)
    single = train.fit(
        params, MODEL, optax.sgd(float(rates[i])), data,
        train.FitOptions(epochs=3, batch_size=4),
        key=shared_key if shared else k_train)
    member = jax.tree.map(lambda a, i=i: a[i], pop.params)
    chex.assert_trees_all_close(member, single.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pop.history["train_loss"][i],
                               single.history["train_loss"], rtol=1e-5)


def test_population_arguments_are_checked_by_name():
  data = _data(n=8)
  options = train.FitOptions(epochs=1, batch_size=0)
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  with pytest.raises(ValueError, match=r"learning_rates has 2 values for "
                     r"the 4 members \(keys\)"):
    population.fit_population(keys, [3, 4, 2], MODEL, data, options,
                              learning_rates=[0.1, 0.2])
  for one in (jax.random.PRNGKey(0), jax.random.key(0)):   # raw, typed
    with pytest.raises(ValueError, match="keys must be one PRNG key per "
                       "member"):
      population.fit_population(one, [3, 4, 2], MODEL, data, options,
                                learning_rates=0.1)


def test_population_epochs_to_threshold_are_where_fit_stops():
  data = _data(n=16)
  keys = jax.random.split(jax.random.PRNGKey(2), 3)
  rates = [0.02, 0.3, 1.0]
  options = config.FitOptions(epochs=12, batch_size=4)
  pop = population.fit_population(keys, [3, 4, 2], MODEL, data, options,
                                  learning_rates=rates, optimizer="sgd")
  costs = pop.history["train_loss"]
  threshold = float(np.median(costs[:, -1]))   # some reach it, some not
  epochs = population.epochs_to_threshold(costs, threshold)
  assert np.isnan(epochs).any() and np.isfinite(epochs).any()
  for i in range(3):
    k_init, k_train = jax.random.split(keys[i])
    single = train.fit(mlp.init(k_init, [3, 4, 2], MODEL), MODEL,
                       optax.sgd(rates[i]), data,
                       options.replace(cost_threshold=threshold), key=k_train)
    assert single.reached_threshold == np.isfinite(epochs[i])
    if single.reached_threshold:
      assert single.epochs_run == epochs[i]
  np.testing.assert_array_equal(population.epochs_to_threshold(
      [[3.0, 1.0, 0.5, 2.0], [3.0, 2.0, np.nan, 0.9]], 1.0), [3, 4])


@pytest.mark.parametrize("shared", [False, True])
def test_population_shuffles_once_per_epoch_with_a_shared_key(shared):
  # With a shared key the members' batch order is one array, not a copy
  # per member: every sort in the program sorts a single order.
  data = _data(n=16)
  run = population._population_runner(  # pylint: disable=protected-access
      (3, 4, 2), MODEL, "sgd", 0.9, "glorot",
      config.FitOptions(epochs=2, batch_size=4), 16, None)
  keys = jax.random.split(jax.random.PRNGKey(5), 3)
  jaxpr = jax.make_jaxpr(run)(keys, jnp.full((3,), 0.1),
                              jax.random.PRNGKey(9) if shared else None, data)

  def sorts(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "sort":
        yield eqn.invars[0].aval.shape
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        yield from sorts(sub)

  shapes = list(sorts(jaxpr.jaxpr))
  assert shapes
  assert all(s == ((16,) if shared else (3, 16)) for s in shapes), shapes


@pytest.mark.parametrize("grad", ["manual", "autodiff"])
def test_batch_metrics_are_the_mean_over_the_epoch_before_each_update(grad):
  data, params = _data(n=12), _params()
  options = config.FitOptions(epochs=1, batch_size=4, shuffle=False,
                              grad=grad)
  fit = lambda options: train.fit(params, MODEL, optax.sgd(0.1), data,
                                  options, key=jax.random.PRNGKey(0))
  full = fit(options.replace(train_metrics="full"))
  batches = fit(options)   # the default
  chex.assert_trees_all_close(batches.params, full.params)
  p, costs, accs = params, [], []
  for i in range(3):
    x, y = data.x[4 * i:4 * i + 4], data.y[4 * i:4 * i + 4]
    cost, acc = train.evaluate(p, x, y, MODEL)
    costs.append(cost)
    accs.append(acc)
    _, g = backprop.gradients(p, x, y, MODEL, grad)
    p = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
  np.testing.assert_allclose(batches.history["train_loss"], [np.mean(costs)],
                             rtol=1e-5)
  np.testing.assert_allclose(batches.history["train_accuracy"],
                             [np.mean(accs)], rtol=1e-6)
  with pytest.raises(ValueError, match="train_metrics"):
    fit(options.replace(train_metrics="some"))


def test_lockstep_epoch_is_the_cond_epoch():
  data, params = _data(n=12, n_val=4), _params()
  opt = optax.sgd(0.1)
  options = config.FitOptions(epochs=2, batch_size=4)
  runs = []
  for lockstep in (False, True):
    epoch = jax.jit(epoch_lib.make_epoch(MODEL, opt, 12, options,
                                         lockstep=lockstep))
    state = train.init_state(params, MODEL, opt, jax.random.PRNGKey(3))
    rows = []
    for _ in range(3):     # the third epoch is past the end
      state, metrics = epoch(state, data)
      rows.append(metrics)
    runs.append((state, np.stack(rows)))
  # Past the end only the key differs: the lockstep epoch advances it.
  chex.assert_trees_all_close(runs[0][0]._replace(key=None),
                              runs[1][0]._replace(key=None))
  np.testing.assert_allclose(runs[0][1], runs[1][1])
  assert np.all(np.isnan(runs[1][1][2]))


@pytest.mark.slow
def test_runs_of_one_config_compile_once():
  run = config.Config.make(dataset="iris", hidden=(3,), epochs=2)
  experiment.train_and_evaluate(run)
  before = train._fit_runner.cache_info()
  experiment.train_and_evaluate(run.replace(seed=1))
  after = train._fit_runner.cache_info()
  assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_fits_of_one_setting_trace_once_and_keep_the_callers_arrays(
    monkeypatch):
  # chex counts the traces of the epoch function that fit compiles: fits of
  # one setting with other data, seeds and initial weights reuse it.
  made = []

  def counted_epoch(*args, **kwargs):
    made.append(args)
    return chex.assert_max_traces(make_epoch(*args, **kwargs), n=1)

  make_epoch = train.make_epoch
  monkeypatch.setattr(train, "make_epoch", counted_epoch)
  train._fit_runner.cache_clear()  # pylint: disable=protected-access
  opt = optimizers.make("sgd", 0.1)
  assert optimizers.make("sgd", 0.1) is opt
  fit = lambda params, data, seed: train.fit(
      params, MODEL, opt, data, train.FitOptions(epochs=2, batch_size=4),
      key=jax.random.PRNGKey(seed))
  try:
    for seed in range(3):
      params = _params(seed=seed)
      result = fit(params, _data(n=12, seed=seed), seed)
      # The loop donates its state's buffers, never the caller's arrays.
      assert not any(a.is_deleted() for a in jax.tree.leaves(params))
      assert np.all(np.isfinite(result.history["train_loss"]))
    assert len(made) == 1
    # The count is live: another architecture of the same data size and
    # options retraces the same epoch function.
    with pytest.raises(AssertionError, match="traced"):
      fit(_params(sizes=(5, 4, 2)), _data(n=12, n_in=5), 0)
  finally:
    train._fit_runner.cache_clear()  # pylint: disable=protected-access


@pytest.mark.parametrize("sizes,activation,residual,n,metrics,delayed", [
    ([5, 7, 3], "sigmoid", False, 70, "full", 1),
    ([6, 6, 4, 3], "relu", True, 64, "batches", 1),
    pytest.param([5, 6, 6, 3], "tanh", True, 130, "batches", 1,
                 marks=pytest.mark.slow),
    pytest.param([4, 300, 260, 3], "tanh", False, 70, "full", 2,
                 marks=pytest.mark.slow),
    pytest.param([5, 256, 256, 256, 3], "relu", True, 130, "batches", 3,
                 marks=pytest.mark.slow)])
def test_online_sgd_with_delayed_layers_is_step_by_step_sgd(
    sizes, activation, residual, n, metrics, delayed):
  # online.delayed_sgd lets online epochs update the first layer and large
  # hidden layers above it once per block (online.DELAY_BLOCK examples);
  # optax.sgd is stepped one example at a time. Same steps, other rounding.
  model = mlp.make_model(activation, "softmax_cross_entropy",
                         residual=residual)
  assert online._delayed_layers(  # pylint: disable=protected-access
      mlp.init(jax.random.PRNGKey(0), sizes, model)) == delayed
  delayed, stepwise = optimizers.make("delayed_sgd", 0.05), optax.sgd(0.05)
  assert online.applies(delayed, model, 1, "manual", False)
  assert not online.applies(stepwise, model, 1, "manual", False)
  assert not online.applies(delayed, model, 2, "manual", False)
  with jax.enable_x64(True):
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.normal(size=(n, sizes[0])))
    y = jax.nn.one_hot(rng.integers(0, sizes[-1], n), sizes[-1],
                       dtype=jnp.float64)
    data = train.Data(x, y, x[:5], y[:5])
    params = mlp.init(jax.random.PRNGKey(1), sizes, model, dtype=jnp.float64)
    a, b = (train.fit(
        params, model, opt, data,
        train.FitOptions(epochs=3, batch_size=1, train_metrics=metrics),
        key=jax.random.PRNGKey(2))
            for opt in (delayed, stepwise))
    chex.assert_trees_all_close(a.params, b.params, atol=1e-12)
  for name in train.METRICS:
    np.testing.assert_allclose(a.history[name], b.history[name], rtol=1e-6)


def test_online_sgd_with_integer_inputs():
  # Raw pixels: the delayed layers' Gram matrix of uint8 rows overflowed.
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.integers(0, 256, (40, 16)), jnp.uint8)
  y = jax.nn.one_hot(rng.integers(0, 3, 40), 3)
  data = train.Data(x, y, x[:0], y[:0])
  model = mlp.make_model("sigmoid", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(1), [16, 8, 3], model)
  a, b = (train.fit(
      params, model, opt, data,
      train.FitOptions(epochs=1, batch_size=1, shuffle=False),
      key=jax.random.PRNGKey(0))
          for opt in (online.delayed_sgd(1e-4), optax.sgd(1e-4)))
  chex.assert_trees_all_close(a.params, b.params, atol=1e-5)
