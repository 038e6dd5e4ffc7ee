"""Where nn_jax keeps files between runs, and JAX's persistent compilation
cache there.

:func:`cache_home` is the user's cache folder (``$XDG_CACHE_HOME/nn_jax``,
by default ``~/.cache/nn_jax``). :func:`enable` makes JAX keep its compiled
XLA programs in a folder, so that a later run of the same programs loads
them instead of compiling them again; the folder is kept under a size bound
(the oldest programs removed first), and a cached program that JAX cannot
load (a damaged file, or one XLA refuses) is compiled again without a
warning and its file replaced by the new program.
"""

import os
import re
import warnings
from typing import Optional

# JAX's words when a cached program cannot be loaded (jax/_src/compiler.py);
# the quoted name is the program's, which starts its cache file's name.
_READ_ERROR = "Error reading persistent compilation cache entry for"
_READ_ERROR_NAME = re.compile(re.escape(_READ_ERROR) + r" '([^']+)'")
_SUFFIX = "-cache"

# The folder's bound, in bytes: the programs of some hundred settings.
MAX_BYTES = 256 * 2**20


def cache_home(environ=os.environ) -> str:
  """``$XDG_CACHE_HOME/nn_jax``, by default ``~/.cache/nn_jax``.

  As the XDG base directory specification asks, a relative
  ``$XDG_CACHE_HOME`` is ignored (it would put the cache under whatever
  folder a command runs in).
  """
  cache = environ.get("XDG_CACHE_HOME", "")
  if not os.path.isabs(cache):
    cache = os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(cache, "nn_jax")


def _entries(folder: str) -> list:
  """``(mtime, bytes, path)`` of the cached programs' files in ``folder``."""
  found = []
  for entry in os.scandir(folder):
    if entry.is_file() and entry.name.endswith(_SUFFIX):
      try:
        stat = entry.stat()
      except OSError:   # removed meanwhile by another run
        continue
      found.append((stat.st_mtime, stat.st_size, entry.path))
  return found


def bound(folder: str, max_bytes: int = MAX_BYTES) -> int:
  """Removes the oldest cached programs from ``folder`` until the rest take
  at most ``max_bytes``; returns the number removed."""
  entries = sorted(_entries(folder))
  total, removed = sum(size for _, size, _ in entries), 0
  for _, size, path in entries:
    if total <= max_bytes:
      break
    try:
      os.remove(path)
    except OSError:
      continue
    total -= size
    removed += 1
  return removed


def _forget(folder: str, program: str) -> None:
  """Removes the cached files of the program named ``program``: JAX compiles
  it again and writes the new program in its place (it never replaces a
  file that exists)."""
  for entry in os.scandir(folder):
    if entry.name.startswith(program + "-") and entry.name.endswith(_SUFFIX):
      try:
        os.remove(entry.path)
      except OSError:
        pass


_folder: Optional[str] = None   # the folder that enable() set up


def _show_warning(previous):
  def show(message, category, filename, lineno, file=None, line=None):
    found = _READ_ERROR_NAME.match(str(message))
    if found is None:
      return previous(message, category, filename, lineno, file, line)
    if _folder is not None:
      _forget(_folder, found.group(1))
    return None
  show.nn_jax_xla_cache = True
  return show


def enable(folder: str, max_bytes: int = MAX_BYTES) -> bool:
  """Makes JAX keep its compiled programs in ``folder`` (made if missing),
  kept to ``max_bytes``, with damaged or refused programs compiled again
  silently and replaced. Returns False, leaving the cache off, when the
  folder cannot be made or written."""
  import jax  # pylint: disable=g-import-not-at-top
  global _folder
  folder = os.path.abspath(os.path.expanduser(folder))
  try:
    os.makedirs(folder, exist_ok=True)
    if not os.access(folder, os.W_OK):
      return False
    bound(folder, max_bytes)
  except OSError:
    return False
  _folder = folder
  jax.config.update("jax_compilation_cache_dir", folder)
  # Our programs compile in well under JAX's default threshold of a second.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  # Every such warning reaches the hook (not only each message's first).
  warnings.filterwarnings("always", message=re.escape(_READ_ERROR))
  if not getattr(warnings.showwarning, "nn_jax_xla_cache", False):
    warnings.showwarning = _show_warning(warnings.showwarning)
  return True
