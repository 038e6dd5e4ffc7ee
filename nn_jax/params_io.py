"""Parameters to and from ``.npz`` files: plain numeric arrays only.

Each array is stored under its pytree path (``params/0/w``, ``stats/1/mean``),
so loading checks the file against the network it is meant for and names the
first path that is missing, extra, or of another shape. Loaded arrays take the
dtypes of the network they are loaded into (a float64 run's file can be
drawn with float32 parameters). Floating-point types that NumPy's file format
does not know (bfloat16 and the other ``ml_dtypes``) are stored as float32,
which holds their values exactly.
"""

import os
from typing import Any
import zipfile

import jax
import numpy as np


def _flatten(tree, prefix: str) -> dict:
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
    flat["/".join([prefix, *keys])] = np.asarray(leaf)
  return flat


def save(path: str, **trees: Any) -> str:
  """Writes every named pytree's arrays to ``path`` (atomically)."""
  flat = {}
  for name, tree in trees.items():
    flat.update(_flatten(tree, name))
  for key, value in flat.items():
    if value.dtype.kind == "V":   # ml_dtypes: bfloat16, float8_*, ...
      flat[key] = value.astype(np.float32)
  tmp = path + ".tmp.npz"
  np.savez(tmp, **flat)
  os.replace(tmp, path)
  return path


def load(path: str, **like: Any) -> dict:
  """Reads the pytrees named in ``like`` from ``path``, shaped like them.

  Only the arrays ``like`` names are read, each after its stored size was
  checked against the network's (a file with a huge extra or padded member
  is refused without decompressing it).

  Raises:
    ValueError: the file is unreadable (truncated, corrupted: the zip CRC
      is checked, or holding Python objects, which are never deserialized),
      or its arrays do not match ``like``: the message names the file and
      the array (missing, extra, another shape, not real floating-point
      numbers, NaN or Inf).
  """
  try:
    with open(path, "rb") as head:
      start = head.read(6)
    # Neither a zip archive (.npz) nor one .npy array: NumPy would take it
    # for a pickle and suggest loading it unsafely.
    if not start.startswith((b"PK\x03\x04", b"\x93NUMPY")):
      raise ValueError("not a parameters file (.npz): it is damaged or of "
                       "another kind")
    f = np.load(path)   # NumPy refuses object arrays by default
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(f"cannot read parameters file {path}: {e}") from None
  if not isinstance(f, np.lib.npyio.NpzFile):
    raise ValueError(f"{path} holds one array, not a parameters file (.npz)")
  with f:
    names = set(f.files)
    out = {}
    for name, tree in like.items():
      expected = _flatten(tree, name)
      missing = [key for key in expected if key not in names]
      if missing:
        raise ValueError(f"{path} has no array {missing[0]}: it was saved "
                         f"from another architecture")
      extra = sorted(k for k in names if k.startswith(name + "/")
                     and k not in expected)
      if extra:
        raise ValueError(f"{path} has arrays the network lacks, first "
                         f"{extra[0]}: it was saved from another "
                         f"architecture")
      leaves, treedef = jax.tree.flatten(tree)
      values = [_read(f, path, key, value).astype(np.asarray(leaf).dtype)
                for (key, value), leaf in zip(expected.items(), leaves)]
      out[name] = jax.tree.unflatten(treedef, values)
  return out


def _read(f, path: str, key: str, like: np.ndarray) -> np.ndarray:
  """The array ``key`` of the open file ``f``, checked against ``like``."""
  # float64 is the widest type stored; the .npy header takes < 64 KiB.
  limit = 8 * like.size + 65536
  try:
    size = f.zip.getinfo(key + ".npy").file_size
  except KeyError:
    size = 0
  if size > limit:
    raise ValueError(f"{path}: {key} takes {size} bytes, more than an array "
                     f"of shape {like.shape} can")
  try:
    value = f[key]
  except Exception as e:  # pylint: disable=broad-except
    # A damaged member fails in zipfile, zlib or NumPy's header parser.
    raise ValueError(f"cannot read parameters file {path}: "
                     f"{type(e).__name__}: {e}") from None
  if value.shape != like.shape:
    raise ValueError(f"{path}: {key} has shape {value.shape}, the network "
                     f"expects {like.shape}")
  if value.dtype.kind not in "fiu" or value.dtype.names:
    raise ValueError(f"{path}: {key} holds {value.dtype} values, not real "
                     f"numbers")
  if not np.all(np.isfinite(value)):
    raise ValueError(f"{path}: {key} holds NaN or Inf")
  return value
