"""Several processes on one machine (experiments.launch), as on several
hosts: data-parallel training and populations over two processes with one
CPU device each give what one process with two CPU devices gives; a killed
two-process run resumes to the uninterrupted result; one process failing
ends the launch."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ["experiments.train", "--dataset=iris", "--hidden=8",
         "--devices=2", "--batch_size=32", "--epochs=6"]
SWEEP = ["experiments.sweep", "--dataset=iris", "--hidden=8", "--devices=2",
         "--learning_rates=0.1,0.3", "--seeds=2", "--epochs=4"]

pytestmark = pytest.mark.slow


def _env(devices=None):
  env = dict(os.environ)
  env.pop("NN_JAX_NUM_PROCESSES", None)
  if devices:
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}")
  return env


def _launch(*command, processes=2, wait=True):
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.launch",
       f"--num_processes={processes}", "--", *command], cwd=ROOT, env=_env(),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  if wait:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
  return proc


def _one_process(*command):
  """The same command in one process over two CPU devices."""
  proc = subprocess.run([sys.executable, "-m", *command], cwd=ROOT,
                        env=_env(devices=2), capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]


def _assert_same_params(a, b):
  with np.load(os.path.join(a, "params.npz")) as pa, \
      np.load(os.path.join(b, "params.npz")) as pb:
    assert sorted(pa.files) == sorted(pb.files)
    for k in pa.files:   # same batches, same steps: bitwise here
      np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_two_processes_train_as_one_process_with_two_devices(tmp_path):
  two, one = str(tmp_path / "two"), str(tmp_path / "one")
  _launch(*TRAIN, f"--workdir={two}")
  _one_process(*TRAIN, f"--workdir={one}")
  _assert_same_params(two, one)
  read = lambda w: open(os.path.join(w, "metrics.jsonl")).read()
  assert read(two) == read(one)
  # Only the first process wrote: the workdir holds what one process
  # writes (TensorBoard's files are named by time), nothing more.
  files = lambda w: sorted(os.path.relpath(os.path.join(r, f), w)
                           for r, _, fs in os.walk(w) for f in fs
                           if not f.startswith("events."))
  assert files(two) == files(one)
  assert not [f for f in os.listdir(two) if f.startswith(".nn_jax-staging")]


def test_population_split_over_two_processes(tmp_path):
  two, one = str(tmp_path / "two"), str(tmp_path / "one")
  _launch(*SWEEP, f"--workdir={two}")
  _one_process(*SWEEP, f"--workdir={one}")
  rows = lambda w: [{k: v for k, v in r.items()} for r in json.loads(
      open(os.path.join(w, "results.json")).read())["members"]]
  assert len(rows(two)) == 4
  assert rows(two) == rows(one)


def _checkpoints(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if (
      os.path.isdir(folder)) else []


def test_two_processes_killed_and_resumed(tmp_path):
  killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
  flags = [*TRAIN[:-1], "--epochs=40", "--batch_size=8",
           "--checkpoint_every=2"]
  proc = _launch(*flags, f"--workdir={killed}", wait=False)
  deadline = time.time() + 400
  while len(_checkpoints(killed)) < 2 and time.time() < deadline:
    if proc.poll() is not None:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)   # its processes die with it
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL, "the run ended before the kill"
  saved = _checkpoints(killed)
  assert saved and max(saved) < 40
  _launch(*flags, f"--workdir={killed}", "--resume")
  _one_process(*flags, f"--workdir={whole}")
  _assert_same_params(killed, whole)
  assert json.loads(open(os.path.join(killed, "results.json")).read())[
      "epochs_run"] == 40


def test_one_process_failing_ends_the_launch(tmp_path):
  module = tmp_path / "fails_in_one.py"
  module.write_text(
      "import os, sys, time\n"
      "print('pid', os.getpid(), flush=True)\n"
      "if os.environ['NN_JAX_PROCESS_ID'] == '1':\n"
      "  sys.exit(5)\n"
      "time.sleep(120)\n")
  env = dict(_env(), PYTHONPATH=str(tmp_path))
  start = time.time()
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.launch", "--num_processes=2", "--",
       "fails_in_one"], cwd=ROOT, env=env, capture_output=True, text=True,
      timeout=120)
  assert proc.returncode == 5
  assert time.time() - start < 60
  assert "process 1 of 2 ended with exit code 5" in proc.stderr
  pids = [int(line.split()[-1]) for line in proc.stdout.splitlines()
          if " pid " in line]
  assert len(pids) == 2
  for pid in pids:   # no process left behind
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)


def test_launch_needs_a_command():
  proc = subprocess.run([sys.executable, "-m", "experiments.launch",
                         "--num_processes=2"], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 2
  assert "name the script to run after --" in proc.stderr
