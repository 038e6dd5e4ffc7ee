"""What a short run costs before it trains: the modules it imports."""

import json
import os
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Imported only by the runs that use them.
HEAVY = ("sklearn", "scipy", "matplotlib", "orbax", "tensorboardX", "chex",
         "nn_jax.mnist", "nn_jax.tabular", "nn_jax.checkpoint", "tqdm")


def test_quickstart_imports_only_what_it_uses(python):
  # experiments.train and the digits data, as the quickstart's run loads
  # them, in a fresh interpreter: none of the heavy modules.
  code = ("import sys; import experiments.train; from nn_jax import data; "
          "data.load('digits'); data.load('iris'); "
          f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
  proc = python(code, check=True)
  assert proc.stdout.strip() == "[]", proc.stdout


def test_an_import_in_the_background_is_there_when_needed(python):
  # experiments.train imports matplotlib while it trains; the figures'
  # import then finds it, and a module that fails leaves the error to the
  # import that needs it, without a word from the thread.
  code = ("import sys, threading; from experiments import outputs; "
          "outputs.import_in_background(); "
          "outputs.import_in_background('nn_jax.no_such_module'); "
          "[t.join() for t in threading.enumerate() "
          " if t is not threading.main_thread()]; "
          "print('matplotlib' in sys.modules, 'nn_jax.plots' in sys.modules)\n"
          "try:\n  import nn_jax.no_such_module\n"
          "except ImportError as e:\n  print(type(e).__name__)")
  proc = python(code, check=True)
  assert proc.stdout.split() == ["True", "True", "ModuleNotFoundError"]
  assert proc.stderr == ""


def test_a_run_that_ends_early_waits_for_the_background_import(python):
  # A bad flag found while the data load ends the run at once: the exit
  # waits for the import (a daemon thread stopped mid-import by the
  # shutdown crashed a run with SIGABRT), and then ends with the run's code.
  code = ("import atexit, sys; from experiments import outputs; "
          "thread = outputs.import_in_background(); "
          "assert not thread.daemon; "
          "atexit.register(lambda: print('matplotlib' in sys.modules)); "
          "sys.exit(2)")
  proc = python(code)
  assert (proc.returncode, proc.stdout.split()) == (2, ["True"]), proc.stderr


@pytest.mark.parametrize("ending,code", [("return None", 0),
                                         ("return 3", 3),
                                         ("cli.fail('bad')", 2)])
def test_a_run_ends_after_its_exit_handlers_without_the_teardown(
    python, ending, code):
  # The interpreter's teardown deallocates every object JAX made (a fifth
  # of a second of a small run) and then the C++ libraries' static objects,
  # whose thread pools aborted 1 run in 168 after pyarrow read a CSV file.
  # cli.run ends the process after the threads that are not daemons and
  # the exit handlers, with the run's code; no object is torn down.
  # An idle executor's threads (kept by a module, as libraries keep them)
  # are told to end, as at the interpreter's exit, not waited for forever.
  script = f"""
import atexit, concurrent.futures, threading, time
from experiments import cli
class Kept:
  def __del__(self):
    print("torn down", flush=True)
kept = Kept()
POOL = concurrent.futures.ThreadPoolExecutor(2)
atexit.register(lambda: print("handler"))
def main(argv):
  POOL.submit(lambda: None).result()
  threading.Thread(target=lambda: (time.sleep(0.2), print("joined"))).start()
  {ending}
cli.run(main)
"""
  proc = python(script, timeout=60)
  assert proc.returncode == code, proc.stderr
  assert proc.stdout.split() == ["joined", "handler"], proc.stdout
  assert ("error: bad" in proc.stderr) == (code == 2), proc.stderr


@pytest.mark.parametrize("command", [True, False])
@pytest.mark.parametrize("collecting", [True, False])
def test_the_modules_a_command_needs_import_without_garbage_collection(
    python, collecting, command):
  # JAX's import makes some 160,000 objects: experiments.cli imports it
  # with the collector paused (the few collections left come with the
  # standard modules before it; without the pause, some 230) and leaves the
  # collector as it found it. A command (here: an installed nn-jax-*
  # script) then freezes what it holds; a notebook or a test session does
  # not, and its own objects are collected once they are garbage.
  as_command = "sys.argv[0] = 'nn-jax-probe'" if command else ""
  code = ("import gc, sys, weakref\n"
          f"{as_command}\n"
          "class Cycle: pass\n"
          "mine = Cycle(); mine.me = mine; ref = weakref.ref(mine)\n"
          f"{'' if collecting else 'gc.disable()'}\n"
          "before = gc.get_stats()\n"
          "from experiments import cli\n"
          "after = gc.get_stats()\n"
          "enabled = gc.isenabled(); del mine; gc.collect()\n"
          "print(sum(a['collections'] - b['collections'] "
          "          for a, b in zip(after, before)), "
          "gc.get_freeze_count() > 100_000, enabled, "
          "'jax' in sys.modules, ref() is None)")
  proc = python(code, check=True)
  collections, *rest = proc.stdout.split()
  assert int(collections) < 20, proc.stdout
  assert rest == [str(command), str(collecting), "True", str(not command)], (
      proc.stdout)


def test_a_command_is_told_from_a_session_that_imports_the_module(
    monkeypatch):
  from experiments import cli  # pylint: disable=g-import-not-at-top
  here = os.path.join(ROOT, "experiments")
  for spec, path, argv0, command in [
      ("experiments.train", os.path.join(here, "train.py"), "-m", True),
      ("benchmarks.startup", None, "-m", True),
      (None, os.path.join(here, "train.py"), "experiments/train.py", True),
      (None, "/venv/bin/nn-jax-train", "/venv/bin/nn-jax-train", True),
      (None, None, "", False),                      # python -c, a notebook
      (None, "/venv/bin/pytest", "/venv/bin/pytest", False),
      ("pytest", None, "-m", False),
      (None, os.path.join(ROOT, "mine.py"), "mine.py", False)]:
    main = types.ModuleType("__main__")
    main.__spec__ = (types.SimpleNamespace(name=spec) if spec else None)
    if path:
      main.__file__ = path
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli._a_command() == command, (spec, path, argv0)


def test_tensorboard_events_are_written_without_importing_torch(tmp_path,
                                                                python):
  # tensorboardX imports torch where it is installed (1.6 s): a stand-in
  # torch on the path must stay unimported while a run's events are
  # written, live and at the end.
  (tmp_path / "torch").mkdir()
  (tmp_path / "torch" / "__init__.py").write_text("class Tensor: pass\n")
  code = ("import os, sys; from experiments import outputs; "
          f"folder = {str(tmp_path / 'run')!r}; "
          "live = outputs.LiveLog(folder); live(1, {'train_loss': 0.5}); "
          "live.close(); outputs.write_tensorboard(os.path.join(folder, "
          "'final'), {'train_loss': [0.5]}, {'seed': 0}, {}); "
          "print('torch' in sys.modules, len(os.listdir(os.path.join("
          "folder, 'final'))))")
  env = {**os.environ, "PYTHONPATH": str(tmp_path)}
  proc = python(code, env=env, check=True)
  assert proc.stdout.split() == ["False", "2"], proc.stdout + proc.stderr


def test_a_run_compiles_a_handful_of_programs(caplog):
  # The initial weights, the epochs, the test scores (in a thread): no
  # program per array operation (the seed's keys and the split's order are
  # drawn on the host, the training state put together there).
  import jax  # pylint: disable=g-import-not-at-top
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  from nn_jax.config import Config  # pylint: disable=g-import-not-at-top
  config = Config.make(dataset="iris", hidden=(7,), epochs=2, batch_size=16)
  jax.clear_caches()
  jax.config.update("jax_log_compiles", True)   # in every thread
  try:
    with caplog.at_level("WARNING"):
      experiment.train_and_evaluate(config)
  finally:
    jax.config.update("jax_log_compiles", False)
  compiled = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("Finished XLA compilation")]
  assert len(compiled) == 3, compiled
  assert any("_test_scores" in m for m in compiled), compiled


@pytest.mark.parametrize("precision", [None, "highest"])
def test_the_test_scores_compile_once_while_it_trains(caplog, precision):
  # The test scores' program is compiled in another thread as training
  # starts, under the caller's settings (a matmul precision here); the call
  # after training finds it (one compilation, not two), and the scores are
  # those of the program called afresh.
  import jax  # pylint: disable=g-import-not-at-top
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  from nn_jax.config import Config  # pylint: disable=g-import-not-at-top
  config = Config.make(dataset="iris", hidden=(13,), epochs=2, batch_size=16)
  experiment._test_scores.clear_cache()  # pylint: disable=protected-access
  jax.config.update("jax_log_compiles", True)   # in every thread
  try:
    with caplog.at_level("WARNING"), jax.default_matmul_precision(precision):
      run = experiment.train_and_evaluate(config)
  finally:
    jax.config.update("jax_log_compiles", False)
  compiled = [(r.threadName, r.getMessage()) for r in caplog.records
              if r.getMessage().startswith("Finished XLA compilation")]
  assert [t for t, m in compiled if "_test_scores" in m] not in (
      [], ["MainThread"]), compiled
  assert sum("_test_scores" in m for _, m in compiled) == 1, compiled
  with jax.default_matmul_precision(precision):
    scores = experiment._test_scores(  # pylint: disable=protected-access
        run.params, run.stats, run.splits.test.x,
        jax.nn.one_hot(run.splits.test.y, 3), run.model, True)
  assert float(scores[0]) == run.summary.test_loss
  assert float(scores[1]) == run.summary.test_accuracy


@pytest.mark.slow
def test_startup_benchmark_writes_its_entry(tmp_path):
  # The iris job at one epoch, once: twelve fresh processes taken in turn.
  out = tmp_path / "results.json"
  out.write_text(json.dumps({"epoch": {"kept": True}}))
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.startup", "--jobs=iris",
       "--repeats=1", "--epochs=1", f"--out={out}"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  results = json.loads(out.read_text())
  assert results["epoch"] == {"kept": True}
  entry = results["startup"]["jobs"]["iris"]
  assert {k: len(v) for k, v in entry["runs"].items()} == {
      "nn_jax_cold": 1, "nn_jax_warm": 1, "nn_jax_nofigures_cold": 1,
      "nn_jax_nofigures_warm": 1, "bare_jax_cold": 1, "bare_jax_warm": 1,
      "peer": 6}
  for ratio in entry["ratios"].values():
    assert ratio["wall"] > 0 and ratio["cpu"] > 0
  table = results["startup"]["markdown_table"]
  assert "| iris, 4-8-3" in table and "| `--nofigures` |" in table
  assert "| a bare JAX script |" in table
  assert "--dataset=iris" in entry["nn_jax_command"]



@pytest.mark.parametrize("argv0,orig,command", [
    ("-m", ["python", "-X", "importtime", "-m", "experiments.train", "-m"],
     True),
    ("-m", ["python", "-m", "benchmarks.startup"], False),
    ("-m", ["python", "-mexperiments.train"], True),
    ("-m", ["python", "-Im", "experiments.xor"], True),
    ("-m", ["python", "-W", "ignore", "-Ximporttime", "-OO", "-m",
            "experiments.train"], True),
    ("-m", ["python", "-m", "pytest", "experiments.train"], False),
    (os.path.join(ROOT, "experiments", "train.py"), ["python", "x"], True),
    ("/venv/bin/nn-jax-train", ["python", "/venv/bin/nn-jax-train"], True),
    ("", ["python"], False),                        # a notebook, python -c
    ("/venv/bin/pytest", ["python", "/venv/bin/pytest", "-m", "slow"],
     False)])
def test_a_command_is_told_from_how_python_started(monkeypatch, argv0, orig,
                                                   command):
  import experiments  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(sys, "argv", [argv0])
  monkeypatch.setattr(sys, "orig_argv", orig, raising=False)
  assert experiments._started_as_command() == command


@pytest.mark.parametrize("set_by_user", ["", "2"])
def test_a_command_loads_openblas_with_one_thread(python, set_by_user):
  # OpenBLAS's threads spin after its work (0.12 s of CPU time while JAX
  # is imported): a command's process loads it with one thread, unless the
  # user chose a number. Here the package is imported as `python -m
  # experiments.<name>` imports it, before NumPy.
  code = ("import sys; sys.argv[0] = '-m'; "
          "sys.orig_argv = ['python', '-m', 'experiments.train']; "
          "import experiments, numpy, threadpoolctl; "
          "print([p['num_threads'] for p in threadpoolctl.threadpool_info() "
          "       if p['internal_api'] == 'openblas'])")
  env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
  if set_by_user:
    env["OPENBLAS_NUM_THREADS"] = set_by_user
  proc = python(code, env=env, check=True)
  assert proc.stdout.strip() == f"[{set_by_user or 1}]", proc.stdout


@pytest.mark.parametrize("distributed", [False, True])
def test_jaxs_teardown_is_dropped_from_a_runs_exit_unless_distributed(
    python, distributed):
  # JAX's exit handler tears its backends down (0.01-0.02 s of a small
  # run's exit): cli.run's exit drops it, but where a distributed client
  # is held, which the handler shuts down for the other processes.
  # (The stand-in client comes after the backend is made: a client there
  # would have it made for several processes.)
  held = "d.global_state.client = Client()" if distributed else ""
  script = f"""
import atexit
def last():   # registered first: runs last
  from jax._src import xla_bridge
  print("backends kept", bool(xla_bridge._backends), flush=True)
atexit.register(last)
from experiments import cli
import jax._src.distributed as d
import jax.numpy as jnp
class Client:
  def shutdown(self):
    print("shut down", flush=True)
def main(argv):
  jnp.ones(1).block_until_ready()
  {held}
cli.run(main)
"""
  proc = python(script, timeout=60)
  assert proc.returncode == 0, proc.stderr
  expected = (["shut", "down", "backends", "kept", "False"] if distributed
              else ["backends", "kept", "True"])
  assert proc.stdout.split() == expected, proc.stdout
