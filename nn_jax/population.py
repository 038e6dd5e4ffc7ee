"""Populations: many networks trained side by side in one jitted, vmapped
call (learning rates x seeds), optionally split over devices."""

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import devices as devices_lib
from nn_jax import epoch as epoch_lib
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import train_data
from nn_jax.config import FitOptions
from nn_jax.epoch import METRICS, init_state, make_epoch
from nn_jax.train_data import Data

# What fit does that a population in lock-step does not; each must be off.
UNSUPPORTED = {"cost_threshold": 0.0, "early_stopping_patience": 0,
               "epochs_per_call": 0, "checkpoint_every": 0}


@functools.lru_cache(maxsize=16)
def _population_runner(sizes, model, optimizer, momentum, init, options, n,
                       image_shape):
  """The jitted, vmapped training of a population (cached per setting); a
  ``shared_key`` of None traces the members' own training keys."""

  def member(key, rate, shared_key, data):
    k_init, k_train = jax.random.split(key)
    if shared_key is not None:
      k_train = shared_key
    params = mlp.init(k_init, sizes, model, init)
    opt = optimizers.make(optimizer, rate, momentum)
    epoch_fn = make_epoch(model, opt, n, options, image_shape=image_shape,
                          lockstep=True)
    state = init_state(params, model, opt, k_train)
    state, metrics = jax.lax.scan(lambda c, _: epoch_fn(c, data), state,
                                  None, length=options.epochs)
    return state.params, state.stats, metrics

  return jax.jit(jax.vmap(member, in_axes=(0, 0, None, None)))


class PopulationResult(NamedTuple):
  """What :func:`fit_population` returns; every leaf has the members first."""
  params: mlp.Params     # each array (members, ...)
  stats: list
  history: dict          # metric name -> np.ndarray (members, epochs)


def fit_population(keys: jax.Array, sizes, model: mlp.Model, data: Data,
                   options: FitOptions, *, learning_rates,
                   optimizer: str = "sgd", momentum: float = 0.9,
                   init: str = "glorot", image_shape: Optional[tuple] = None,
                   shared_key: Optional[jax.Array] = None
                   ) -> PopulationResult:
  """Trains a population of networks in one jitted, vmapped call.

  Member ``i`` starts from ``mlp.init(split(keys[i])[0], sizes, ...)`` and
  trains with ``learning_rates[i]``, its own shuffles and dropout masks
  (from ``split(keys[i])[1]``, as ``fit(..., key=split(keys[i])[1])``); all
  share the data, architecture and number of epochs (no early stop: every
  member runs ``epochs`` epochs, so that the population stays in lock-step).
  With ``shared_key`` every member trains as ``fit(..., key=shared_key)``
  instead: the same batches in the same order, the same dropout masks and
  noise, so that the members differ only in their initial weights and
  learning rates (common random numbers, for comparing settings). Then
  every member's first layer sees the same batch, and its products for all
  members are one matmul: faster than members with batches of their own.

  Args:
    keys: ``(members,)`` PRNG keys, one per member (different seeds).
    sizes: layer sizes.
    model: activation, output layer and regularizers.
    data: training and validation arrays, shared.
    options: as in :func:`nn_jax.train.fit`, but for what a population in
      lock-step cannot do (``UNSUPPORTED``: each must be off) and
      ``devices``, which splits the members over that many devices (a
      ``Mesh`` with one ``"members"`` axis; the data are replicated), e.g.
      the cores of a CPU run with
      ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, or several
      GPUs; ``members`` must be a multiple of it.
    learning_rates: ``(members,)`` learning rates (or a scalar for all).
    optimizer: one of ``nn_jax.config.OPTIMIZERS`` but ``delayed_sgd``.
    momentum: for ``momentum`` and ``nesterov``.
    init: init scheme.
    image_shape: ``(height, width)`` of the images, for ``augment=shift``.
    shared_key: if given, the training key of every member (see above).
  """
  if not isinstance(options, FitOptions):
    raise ValueError(f"options must be a FitOptions; got {options!r}")
  for name, off in UNSUPPORTED.items():
    if getattr(options, name) != off:
      raise ValueError(f"{name}={getattr(options, name)} is not supported "
                       f"by fit_population (its members run every epoch in "
                       f"lock-step, in one call); leave it at {off}")
  if optimizer == "delayed_sgd":
    raise ValueError("optimizer=delayed_sgd is for fit; a population "
                     "trains with sgd")
  keys = jnp.asarray(keys)
  typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
  if keys.ndim != (1 if typed else 2):
    raise ValueError(f"keys must be one PRNG key per member, shape "
                     f"(members,){'' if typed else ' + (2,) for raw keys'}; "
                     f"got shape {keys.shape} (one key: split it, e.g. "
                     f"jax.random.split(key, members))")
  members = keys.shape[0]
  if np.size(learning_rates) not in (1, members):
    raise ValueError(f"learning_rates has {np.size(learning_rates)} values "
                     f"for the {members} members (keys): give one per "
                     f"member, or one for all")
  devices = options.devices
  mesh = devices_lib.make_mesh(devices, "members")
  if members % devices:
    raise ValueError(f"the {members} members must be a multiple of the "
                     f"{devices} devices")
  rates = jnp.broadcast_to(jnp.asarray(learning_rates, jnp.float32),
                           (members,))
  shapes = jax.eval_shape(
      lambda: mlp.init(jax.random.PRNGKey(0), sizes, model, init))
  train_data.check(shapes, model, data)
  run = _population_runner(tuple(sizes), model, optimizer, float(momentum),
                           init, options, data.x.shape[0],
                           tuple(image_shape) if image_shape else None)
  if mesh is not None:
    keys, rates = jax.device_put((keys, rates),
                                 devices_lib.sharding(mesh, "members"))
    data, shared_key = jax.device_put((data, shared_key),
                                      devices_lib.sharding(mesh))
  params, stats, metrics = devices_lib.gathered(
      run(keys, rates, shared_key, data), mesh)
  metrics = np.asarray(metrics)          # (members, epochs, metrics)
  history = {m: metrics[:, :, i] for i, m in enumerate(METRICS)}
  return PopulationResult(params, stats, history)


def evaluate(result: PopulationResult, x, y, model: mlp.Model) -> tuple:
  """Every member's ``(cost, accuracy)`` on inputs ``x`` and targets ``y``
  (encoded for ``model.loss``), in evaluation mode: two ``(members,)``
  arrays."""
  x, y = jnp.asarray(x), jnp.asarray(y)
  return jax.vmap(lambda p, s: epoch_lib.evaluate(p, x, y, model, s))(
      result.params, result.stats)


def epochs_to_threshold(costs, threshold: float) -> np.ndarray:
  """The epoch (1-based) after which :func:`nn_jax.train.fit` with
  ``cost_threshold=threshold`` would have stopped: the first whose training
  cost is below ``threshold``, per member of ``costs`` ``(members,
  epochs)`` (a population's ``history["train_loss"]``); NaN where none
  is."""
  below = np.asarray(costs) < threshold
  return np.where(below.any(-1), below.argmax(-1) + 1.0, np.nan)


def seed_keys(seeds: int, groups: int = 1) -> jax.Array:
  """The PRNG keys of seeds ``0 .. seeds-1`` for every one of ``groups``
  settings, group by group: ``(groups * seeds,)`` keys, so that member
  ``g * seeds + s`` has seed ``s`` (the same initial weights and batches in
  every group)."""
  return jax.vmap(jax.random.PRNGKey)(jnp.tile(jnp.arange(seeds), groups))
