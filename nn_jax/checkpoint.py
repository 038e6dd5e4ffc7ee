"""Checkpoints of the full training state with orbax-checkpoint.

A checkpoint holds the :class:`nn_jax.train.TrainState` (parameters,
optimizer state, batch-norm statistics, the PRNG key that fixes the next
epochs' data order, dropout masks and noise, the epoch counter, early-stopping
bookkeeping), the per-epoch metrics so far, and JSON metadata: the caller's
configuration and, per array, its tree path, shape, dtype and SHA-256.

Orbax writes each checkpoint into a temporary folder and renames it when it
is complete, so an interrupted save never replaces a good checkpoint. Arrays
are stored as tensorstore/OCDBT files and metadata as JSON: no Python object
is ever serialized. Restoring checks the tree against the network it is meant for and
the hashes of what was read, and names the first path that does not match.
A Ctrl-C during a save or a close takes effect when it is done.
"""

import contextlib
import hashlib
import logging
import os
import signal
import threading
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp


def _path_str(path) -> str:
  return "/".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx",
                                                                   k))))
                  for k in path)


def _is_typed_key(leaf) -> bool:
  return jax.dtypes.issubdtype(getattr(leaf, "dtype", None),
                               jax.dtypes.prng_key)


def _key_data(tree):
  """``tree`` with each typed PRNG key (``jax.random.key``) replaced by its
  uint32 key data, which is what is stored."""
  return jax.tree.map(
      lambda a: jax.random.key_data(a) if _is_typed_key(a) else a, tree)


def _rewrap_keys(tree, like):
  """Key data back into typed keys of ``like``'s implementation."""
  return jax.tree.map(
      lambda a, l: (jax.random.wrap_key_data(a, impl=jax.random.key_impl(l))
                    if _is_typed_key(l) else a), tree, like)


def describe(tree) -> dict:
  """``{path: {"shape", "dtype", "sha256"}}`` for every array of ``tree``
  (a typed PRNG key as its key data)."""
  tree = _key_data(tree)
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    a = np.asarray(leaf)
    out[_path_str(path)] = {"shape": list(a.shape), "dtype": str(a.dtype),
                            "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
  return out


@contextlib.contextmanager
def _interrupt_after():
  """Holds a Ctrl-C (SIGINT) until the block is done, then raises it: a save
  is not cut short, and orbax's threads do not report a broken wait. Where
  SIGINT is ignored (a process started in the background by a shell, or
  under ``nohup``-like launchers), it stays ignored."""
  if (threading.current_thread() is not threading.main_thread()
      or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
    yield
    return
  held = []
  previous = signal.signal(signal.SIGINT, lambda *_: held.append(True))
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
    if held:
      raise KeyboardInterrupt


class Checkpointer:
  """Saves and restores training states in ``directory`` (one folder per epoch).

  Args:
    directory: where the checkpoints live (created if missing).
    max_to_keep: how many recent checkpoints are kept.
    config: plain (JSON) configuration stored with every checkpoint.
  """

  def __init__(self, directory: str, max_to_keep: int = 3,
               config: Optional[dict] = None):
    self.directory = os.path.abspath(directory)
    self.config = config or {}
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def close(self) -> None:
    """Waits for pending writes and releases orbax's resources."""
    with _interrupt_after():
      self._manager.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def latest_epoch(self) -> Optional[int]:
    """The epoch of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def epochs(self) -> list:
    """The epochs of the complete checkpoints, newest first."""
    return sorted(self._manager.all_steps(), reverse=True)

  def restore_newest_intact(self, like: Any):
    """:meth:`restore` of the newest checkpoint that restores; a damaged
    newer one is skipped with a warning that says why. Raises the newest
    one's error when none restores."""
    errors = []
    for epoch in self.epochs():
      try:
        restored = self.restore(like, epoch)
      except ValueError as e:
        errors.append(e)
        continue
      for e in errors:
        logging.warning("skipped a damaged checkpoint: %s; resuming from "
                        "epoch %d", e, epoch)
      return restored
    if errors:
      raise errors[0]
    raise ValueError(f"no checkpoint in {self.directory}")

  def save(self, epoch: int, state: Any, history: np.ndarray) -> None:
    """Writes ``state`` and the metric rows ``history`` (epochs, metrics;
    float32, or float64 from a float64 run)."""
    history = np.asarray(history)
    if history.dtype != np.float64:
      history = history.astype(np.float32)
    meta = {"epoch": int(epoch), "config": self.config,
            "history_shape": list(history.shape),
            "history_dtype": history.dtype.name, "arrays": describe(state)}
    with _interrupt_after():
      self._manager.save(epoch, args=ocp.args.Composite(
          state=ocp.args.StandardSave(_key_data(state)),
          history=ocp.args.StandardSave({"rows": history}),
          meta=ocp.args.JsonSave(meta)))
      self._manager.wait_until_finished()

  def metadata(self, epoch: int) -> dict:
    """The JSON metadata saved with the checkpoint of ``epoch``."""
    where = os.path.join(self.directory, str(epoch))
    try:
      return self._manager.restore(epoch, args=ocp.args.Composite(
          meta=ocp.args.JsonRestore())).meta
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(f"cannot read the checkpoint metadata in {where}: "
                       f"{type(e).__name__}") from None

  def restore(self, like: Any, epoch: Optional[int] = None):
    """Reads a checkpoint shaped like the state ``like``.

    Returns:
      ``(state, history, meta)``.

    Raises:
      ValueError: no checkpoint, a tree or shape that does not match
        ``like`` (another architecture or optimizer), or arrays whose
        contents changed since they were saved (truncated or corrupted files).
    """
    epoch = self.latest_epoch() if epoch is None else epoch
    if epoch is None:
      raise ValueError(f"no checkpoint in {self.directory}")
    where = os.path.join(self.directory, str(epoch))
    meta = self.metadata(epoch)
    expected = describe(like)
    stored = meta.get("arrays", {})
    missing = [path for path in expected if path not in stored]
    if missing:
      raise ValueError(f"checkpoint {where} has no array {missing[0]}: it "
                       f"was saved from another architecture or optimizer")
    for path, info in expected.items():
      if stored[path]["dtype"] != info["dtype"]:
        raise ValueError(f"checkpoint {where}: {path} was saved as "
                         f"{stored[path]['dtype']}, this run's is "
                         f"{info['dtype']} (another dtype, or a checkpoint "
                         f"from an older nn_jax)")
      if stored[path]["shape"] != info["shape"]:
        raise ValueError(f"checkpoint {where}: {path} has shape "
                         f"{tuple(stored[path]['shape'])}, the network "
                         f"expects {tuple(info['shape'])}")
    extra = sorted(set(stored) - set(expected))
    if extra:
      raise ValueError(f"checkpoint {where} has arrays the network lacks, "
                       f"first {extra[0]}: another architecture or optimizer")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _key_data(like))
    shape, dtype = meta.get("history_shape"), meta.get("history_dtype",
                                                      "float32")
    if dtype not in ("float32", "float64") or not (
        isinstance(shape, list) and len(shape) == 2
        and all(isinstance(n, int) and n >= 0 for n in shape)):
      raise ValueError(f"checkpoint {where}: its metadata are damaged "
                       f"(history {shape!r} of {dtype!r})")
    rows = jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
    try:
      restored = self._manager.restore(epoch, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract),
          history=ocp.args.StandardRestore({"rows": rows})))
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(f"cannot read the checkpoint arrays in {where} "
                       f"(truncated or corrupted: {type(e).__name__})"
                       ) from None
    for path, info in describe(restored.state).items():
      if info["sha256"] != stored[path]["sha256"]:
        raise ValueError(f"checkpoint {where}: {path} does not match the "
                         f"hash saved with it (corrupted)")
    return (_rewrap_keys(restored.state, like),
            np.asarray(restored.history["rows"]), meta)
