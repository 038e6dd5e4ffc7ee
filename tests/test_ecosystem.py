"""Fitting the ecosystem: TensorBoard events, redrawn plots, presets,
installed commands, and no pickle anywhere."""

import glob
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest
from tensorboardX.proto import event_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = sorted(glob.glob(os.path.join(ROOT, "experiments", "flags",
                                        "*.flags")))


def run(*args):
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def read_events(folder):
  """Scalars ``{tag: [(step, value)]}`` from TFRecord event files."""
  scalars = {}
  for path in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"),
                        recursive=True):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        if value.HasField("simple_value"):
          scalars.setdefault(value.tag, []).append((event.step,
                                                    value.simple_value))
  return scalars


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("moons")
  proc = run("experiments.train", "--dataset=moons", "--hidden=8",
             "--epochs=6", "--batch_size=16", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr
  return workdir


@pytest.mark.slow
def test_tensorboard_scalars_read_back(moons_run):
  scalars = read_events(str(moons_run / "tensorboard"))
  metrics = [json.loads(l) for l in
             (moons_run / "metrics.jsonl").read_text().splitlines()]
  assert [s for s, _ in scalars["train/loss"]] == list(range(1, 7))
  assert scalars["train/loss"][-1][1] == pytest.approx(
      metrics[-1]["train_loss"], rel=1e-6)
  assert "val/accuracy" in scalars


@pytest.mark.slow
def test_plot_redraws_figures(moons_run):
  for name in ("learning_curves.png", "confusion_matrix.png",
               "decision_regions.png"):
    os.remove(moons_run / name)
  proc = run("experiments.plot", f"--workdir={moons_run}")
  assert proc.returncode == 0, proc.stderr
  for name in ("learning_curves.png", "confusion_matrix.png",
               "decision_regions.png"):
    assert (moons_run / name).stat().st_size > 5_000


@pytest.mark.slow
def test_plot_needs_a_run(tmp_path):
  proc = run("experiments.plot", f"--workdir={tmp_path}")
  assert proc.returncode == 2 and "results.json" in proc.stderr
  # A run that ended before its first epoch, a results.json of no known
  # experiment, a damaged file: one line each.
  train = '{"config": {}, "description": "a network"}'
  for metrics, results, message in (
      ("", train, "has no epoch in metrics.jsonl"),
      ('{"epoch": 1, "train_loss": 1.0}', "{}", "of no known experiment"),
      ('{"epoch": 1, "train_loss": 1.0}', "{", "results.json is not valid "
       "JSON"),
      ('{"epoch": 1, "train_loss": 1.0}\n{"epoch": 2, "tr', train,
       "metrics.jsonl is not valid JSON")):
    (tmp_path / "metrics.jsonl").write_text(metrics)
    (tmp_path / "results.json").write_text(results)
    proc = run("experiments.plot", f"--workdir={tmp_path}")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=os.path.basename)
def test_presets_parse_and_run(tmp_path, preset):
  # Each preset's flags are accepted; the run is cut to one epoch on digits
  # so that no download is needed.
  proc = run("experiments.train", f"--flagfile={preset}", "--epochs=1",
             "--dataset=digits", "--train_size=0", "--validation_fraction=0.1",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_installed_command(tmp_path):
  command = shutil.which("nn-jax-train",
                         path=os.path.dirname(sys.executable))
  if command is None:
    pytest.skip("the package is not installed (pip install -e .)")
  proc = subprocess.run([command, "--dataset=iris", "--hidden=4",
                         "--epochs=1", f"--workdir={tmp_path}"],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert (tmp_path / "results.json").exists()


def test_no_pickle_in_library_or_experiments():
  proc = subprocess.run(["grep", "-rn", r"pickle\|allow_pickle=True",
                         "nn_jax", "experiments", "--include=*.py"],
                        cwd=ROOT, capture_output=True, text=True)
  assert proc.returncode == 1 and proc.stdout == "", proc.stdout + proc.stderr


def _readme_snippets():
  import re  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, "README.md")) as f:
    return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_readme_snippets())))
def test_readme_python_snippets_run_as_written(tmp_path, index):
  snippet = tmp_path / "snippet.py"
  snippet.write_text(_readme_snippets()[index])
  proc = subprocess.run([sys.executable, str(snippet)], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr


def test_several_hosts_are_asked_for_by_the_environment():
  from experiments import cli  # pylint: disable=g-import-not-at-top
  assert not cli.distributed_requested({})
  assert not cli.distributed_requested({"NN_JAX_DISTRIBUTED": "0"})
  assert cli.distributed_requested({"NN_JAX_DISTRIBUTED": "1"})
  assert cli.distributed_requested(
      {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
       "JAX_PROCESS_ID": "0"})
  assert cli.distributed_requested({"NN_JAX_NUM_PROCESSES": "2"})


def test_distributed_arguments_come_from_the_launcher_or_the_hosts():
  from experiments import cli  # pylint: disable=g-import-not-at-top
  assert cli.distributed_arguments({"NN_JAX_DISTRIBUTED": "1"}) == {}
  launched = {"NN_JAX_COORDINATOR": "127.0.0.1:5", "NN_JAX_NUM_PROCESSES": "2",
              "NN_JAX_PROCESS_ID": "1"}
  assert cli.distributed_arguments(launched) == {
      "coordinator_address": "127.0.0.1:5", "num_processes": 2,
      "process_id": 1}
  hosts = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
           "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
  assert cli.distributed_arguments(hosts) == {
      "coordinator_address": "10.0.0.1:1234", "num_processes": 4,
      "process_id": 3}
  with pytest.raises(SystemExit):
    cli.distributed_arguments({"NN_JAX_NUM_PROCESSES": "two"})
