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

  Raises:
    ValueError: the file is unreadable (truncated, corrupted: the zip CRC
      is checked, or holding Python objects, which are never deserialized), or its
      arrays do not match ``like`` (the message names the path and shapes).
  """
  try:
    f = np.load(path)   # NumPy refuses object arrays by default
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(f"cannot read parameters file {path}: {e}") from None
  if not isinstance(f, np.lib.npyio.NpzFile):
    raise ValueError(f"{path} holds one array, not a parameters file (.npz)")
  try:
    with f:
      stored = {k: f[k] for k in f.files}
  except Exception as e:  # pylint: disable=broad-except
    # A damaged member fails in zipfile, zlib or NumPy's header parser.
    raise ValueError(f"cannot read parameters file {path}: "
                     f"{type(e).__name__}: {e}") from None
  out = {}
  for name, tree in like.items():
    expected = _flatten(tree, name)
    missing = [key for key in expected if key not in stored]
    if missing:
      raise ValueError(f"{path} has no array {missing[0]}: it was saved from "
                       f"another architecture")
    for key, value in expected.items():
      if stored[key].shape != value.shape:
        raise ValueError(f"{path}: {key} has shape {stored[key].shape}, the "
                         f"network expects {value.shape}")
    extra = sorted(k for k in stored if k.startswith(name + "/")
                   and k not in expected)
    if extra:
      raise ValueError(f"{path} has arrays the network lacks, first {extra[0]}"
                       f": it was saved from another architecture")
    leaves, treedef = jax.tree.flatten(tree)
    values = [stored[k].astype(np.asarray(l).dtype)
              for k, l in zip(expected, leaves)]
    out[name] = jax.tree.unflatten(treedef, values)
  return out
