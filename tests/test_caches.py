"""The user's cache folder and the bounds and repairs of the compilation
cache (the whole runs with the cache: tests/test_experiments.py)."""

import os

from experiments import cli
from nn_jax import caches


def test_cache_home_follows_xdg(tmp_path):
  home = os.path.join(os.path.expanduser("~"), ".cache", "nn_jax")
  assert caches.cache_home({}) == home
  assert caches.cache_home({"XDG_CACHE_HOME": str(tmp_path)}) == str(
      tmp_path / "nn_jax")
  # A relative $XDG_CACHE_HOME is ignored, as the specification asks.
  assert caches.cache_home({"XDG_CACHE_HOME": "rel"}) == home


def test_default_compilation_cache_and_its_switch(tmp_path):
  xdg = {"XDG_CACHE_HOME": str(tmp_path)}
  assert cli.default_compilation_cache(xdg) == str(tmp_path / "nn_jax" / "xla")
  assert cli.default_compilation_cache(
      {**xdg, "NN_JAX_COMPILATION_CACHE": "/elsewhere"}) == "/elsewhere"
  assert cli.default_compilation_cache(
      {**xdg, "NN_JAX_COMPILATION_CACHE": "off"}) in cli.CACHE_OFF


def _entry(folder, name, size, age):
  path = folder / f"{name}-cache"
  path.write_bytes(b"x" * size)
  os.utime(path, (1e9 + age, 1e9 + age))
  return path


def test_bound_removes_the_oldest_programs_first(tmp_path):
  old = _entry(tmp_path, "jit_a-1", 400, 0)
  middle = _entry(tmp_path, "jit_b-2", 400, 1)
  new = _entry(tmp_path, "jit_c-3", 400, 2)
  other = tmp_path / "notes.txt"   # not a program: never counted or removed
  other.write_bytes(b"y" * 5000)
  assert caches.bound(str(tmp_path), 1200) == 0
  assert caches.bound(str(tmp_path), 900) == 1
  assert not old.exists() and middle.exists() and new.exists()
  assert caches.bound(str(tmp_path), 0) == 2
  assert other.exists()


def test_a_program_that_cannot_be_loaded_is_forgotten_without_a_word(
    tmp_path, monkeypatch):
  bad = _entry(tmp_path, "jit_run_epochs-abc", 10, 0)
  kept = _entry(tmp_path, "jit_run_epochs_other-def", 10, 0)
  shown = []
  monkeypatch.setattr(caches, "_folder", str(tmp_path))
  show = caches._show_warning(   # pylint: disable=protected-access
      lambda message, *args, **kwargs: shown.append(str(message)))
  show(UserWarning("Error reading persistent compilation cache entry for "
                   "'jit_run_epochs': JaxRuntimeError: INVALID_ARGUMENT"),
       UserWarning, "compiler.py", 1)
  assert shown == [] and not bad.exists() and kept.exists()
  show(UserWarning("something else"), UserWarning, "x.py", 1)
  assert shown == ["something else"]


def test_enable_refuses_a_folder_it_cannot_make(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  assert not caches.enable(str(blocker / "xla"))
