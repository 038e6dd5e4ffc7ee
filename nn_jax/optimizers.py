"""Optimizers and learning-rate schedules: optax transformations by name.

Pure constructors, no registries: ``make("sgd", 0.1)`` is ``optax.sgd(0.1)``
(the same object for the same numbers, so that :func:`nn_jax.train.fit`
reuses its compiled loop), and :func:`from_config` builds the optimizer of an
:class:`nn_jax.config.OptimConfig`.
"""

import functools

import optax

from nn_jax import config as config_lib
from nn_jax import online

OPTIMIZERS = config_lib.OPTIMIZERS
SCHEDULES = config_lib.SCHEDULES


def make(name: str, learning_rate: float | optax.Schedule,
         momentum: float = 0.9) -> optax.GradientTransformation:
  """Returns the optax transformation called ``name`` (one of ``OPTIMIZERS``).

  ``sgd`` is plain gradient descent ``w <- w - eta dE/dw``; ``momentum`` adds
  a velocity ``v <- mu v + dE/dw, w <- w - eta v``; ``nesterov`` evaluates the
  step at the look-ahead point; ``adam`` is Adam; ``delayed_sgd`` is
  :func:`nn_jax.online.delayed_sgd` (plain SGD that online epochs may run
  with delayed weight updates). With numbers for ``learning_rate`` and
  ``momentum`` the same arguments give the same (immutable) object.
  """
  if isinstance(learning_rate, (int, float)) and isinstance(
      momentum, (int, float)):
    return _cached(name, float(learning_rate), float(momentum))
  return _make(name, learning_rate, momentum)


@functools.lru_cache(maxsize=64)
def _cached(name, learning_rate, momentum):
  return _make(name, learning_rate, momentum)


def _make(name, learning_rate, momentum):
  if name == "sgd":
    return optax.sgd(learning_rate)
  if name == "momentum":
    return optax.sgd(learning_rate, momentum=momentum)
  if name == "nesterov":
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)
  if name == "adam":
    return optax.adam(learning_rate)
  if name == "delayed_sgd":
    return online.delayed_sgd(learning_rate)
  raise ValueError(
      f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def make_schedule(name: str, learning_rate: float, *, steps_per_epoch: int,
                  epochs: int, decay_rate: float = 0.5,
                  decay_epochs: int = 10) -> float | optax.Schedule:
  """A learning-rate schedule over optimizer steps (one per mini-batch).

  ``constant``: eta throughout, returned as the number itself (so that
  :func:`make` returns its cached object, and optax keeps no step count);
  ``step``: eta times ``decay_rate`` every ``decay_epochs`` epochs;
  ``exponential``: the same decay, continuous; ``cosine``: from eta down to
  0 over all ``epochs``.
  """
  if name == "constant":
    return float(learning_rate)
  if name in ("step", "exponential"):
    if not 0 < decay_rate <= 1 or decay_epochs < 1:
      raise ValueError(f"decay_rate must be in (0, 1] and decay_epochs >= 1; "
                       f"got {decay_rate}, {decay_epochs}")
    return optax.exponential_decay(
        learning_rate, transition_steps=decay_epochs * steps_per_epoch,
        decay_rate=decay_rate, staircase=name == "step")
  if name == "cosine":
    return optax.cosine_decay_schedule(learning_rate,
                                       decay_steps=epochs * steps_per_epoch)
  raise ValueError(
      f"unknown schedule {name!r}; allowed: {', '.join(SCHEDULES)}")


def from_config(optim: config_lib.OptimConfig, *, steps_per_epoch: int,
                epochs: int) -> optax.GradientTransformation:
  """The optimizer that ``optim`` describes, its schedule counted in steps
  of ``steps_per_epoch`` per epoch."""
  if optim.optimizer == "delayed_sgd" and optim.schedule != "constant":
    raise ValueError("optimizer=delayed_sgd takes a constant learning rate "
                     f"(schedule=constant); got schedule={optim.schedule}")
  schedule = make_schedule(
      optim.schedule, optim.learning_rate, steps_per_epoch=steps_per_epoch,
      epochs=epochs, decay_rate=optim.decay_rate,
      decay_epochs=optim.decay_epochs)
  return make(optim.optimizer, schedule, optim.momentum)
