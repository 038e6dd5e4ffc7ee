"""The arrays a training run takes, and their checks.

:class:`Data` holds the training and validation arrays (targets already
encoded for the loss); :func:`check` refuses, by name, what would train
wrongly or fail inside the compiled loop; :func:`resolve_batch_size` turns
the batch-size setting into a number of examples.
"""

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import losses as losses_lib
from nn_jax import mlp

class Data(NamedTuple):
  """Training and validation arrays (targets already encoded for the loss)."""
  x: jax.Array      # (n, n_in)
  y: jax.Array      # (n, n_out)
  x_val: jax.Array  # (n_val, n_in), n_val may be 0
  y_val: jax.Array  # (n_val, n_out)




def resolve_batch_size(batch_size: int, n: int) -> int:
  """0 means the whole training set; anything else must be in [1, n]."""
  if isinstance(batch_size, bool) or not isinstance(batch_size,
                                                     numbers.Integral):
    raise ValueError(f"batch_size must be an integer; got {batch_size!r}")
  if batch_size == 0:
    return n
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must be 0 (whole set) or between 1 and the "
                     f"number of training examples {n}; got {batch_size}")
  return batch_size


def check(params: mlp.Params, model: mlp.Model, data: Data) -> None:
  """Raises ValueError naming what is wrong with ``data`` for this network:
  shapes, feature and output counts, NaN or Inf, targets outside [0, 1] for
  sigmoid and softmax outputs, softmax cross-entropy targets whose rows do
  not sum to 1 (its output delta ``softmax(z) - y`` assumes they do)."""
  n_in, n_out = params[0]["w"].shape[1], params[-1]["w"].shape[0]
  if model.loss.task == losses_lib.MULTICLASS and n_out == 1:
    raise ValueError(f"{model.loss.name} over one output unit: a softmax of "
                     f"one unit is always 1, so its gradients are 0 and "
                     f"nothing trains; for two classes use one sigmoid unit "
                     f"(sigmoid_cross_entropy) or two softmax units")
  for name in Data._fields:
    shape = np.shape(getattr(data, name))
    if len(shape) != 2:
      raise ValueError(f"{name} must be a 2-D array (examples, "
                       f"{'features' if 'x' in name else 'outputs'}); got "
                       f"shape {shape}")
    width = n_in if name.startswith("x") else n_out
    value = getattr(data, name)
    if (value.dtype if hasattr(value, "dtype")
        else np.asarray(value).dtype) == bool:
      raise ValueError(f"{name} is boolean; give it as numbers, e.g. "
                       f"{name}.astype(np.float32)")
    if shape[1] != width:
      what = "features" if name.startswith("x") else "target columns"
      raise ValueError(f"{name} has {shape[1]} {what} but the network has "
                       f"{width}")
  # Reduce where the arrays live (those on an accelerator in one compiled
  # call): only scalars cross to the host. Arrays in the host's memory
  # (NumPy's, JAX's CPU ones) are reduced by NumPy, without compiling.
  on_device = {k: getattr(data, k) for k in Data._fields
               if isinstance(getattr(data, k), jax.Array) and any(
                   d.platform != "cpu" for d in getattr(data, k).devices())}
  summaries = {**(_summaries(on_device) if on_device else {}),
               **{k: _summary(np, np.asarray(getattr(data, k)), k)
                  for k in Data._fields if k not in on_device}}
  for name in Data._fields:
    finite, lo, hi, off_one = (float(s) for s in summaries[name])
    if not finite:
      bad = np.argwhere(~np.isfinite(np.asarray(getattr(data, name))))[0]
      raise ValueError(f"{name} contains NaN or Inf (first at row {bad[0]}, "
                       f"column {bad[1]})")
    if name.startswith("y") and model.loss.task != "regression":
      if lo < 0 or hi > 1:
        raise ValueError(f"{name} must hold targets in [0, 1] for "
                         f"{model.loss.name} (one-hot rows or 0/1 labels); "
                         f"found values in [{lo}, {hi}]")
    if (name.startswith("y") and off_one > 1e-3
        and model.loss.name == losses_lib.softmax_cross_entropy.name):
      sums = np.sum(np.asarray(getattr(data, name), np.float64), axis=1)
      row = int(np.argmax(np.abs(sums - 1)))
      raise ValueError(f"{name} rows must sum to 1 for {model.loss.name} "
                       f"(one-hot or class probabilities); row {row} sums "
                       f"to {sums[row]:g}")
  if data.x.shape[0] == 0:
    raise ValueError("the training set is empty")
  # Without 64-bit JAX a float64 array is float32 once on the device.
  w_dtype = jax.dtypes.canonicalize_dtype(params[0]["w"].dtype)
  for name in Data._fields:
    dtype = jax.dtypes.canonicalize_dtype(getattr(data, name).dtype)
    if jnp.issubdtype(dtype, jnp.floating) and dtype != w_dtype:
      raise ValueError(f"{name} is {dtype} but the network's weights are "
                       f"{w_dtype}; cast one to the other")
  for x, y in (("x", "y"), ("x_val", "y_val")):
    if getattr(data, x).shape[0] != getattr(data, y).shape[0]:
      raise ValueError(f"{x} has {getattr(data, x).shape[0]} rows but {y} "
                       f"has {getattr(data, y).shape[0]}")


def _summary(xp, a, name):
  """``(all finite, min, max, largest |row sum - 1|)`` of the 2-D ``a`` with
  ``xp`` (numpy or jax.numpy); the row sums only for targets (``y...``)."""
  if not xp.issubdtype(a.dtype, xp.floating):
    a = a.astype(xp.float32)
  off_one = (xp.max(xp.abs(xp.sum(a, axis=1) - 1), initial=0)
             if name.startswith("y") else 0.0)
  return (xp.all(xp.isfinite(a)), xp.min(a, initial=np.inf),
          xp.max(a, initial=-np.inf), off_one)


@jax.jit
def _summaries(arrays: dict) -> dict:
  return {k: _summary(jnp, a, k) for k, a in arrays.items()}

