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
def test_a_run_without_figures_gets_them_from_plot(moons_run, tmp_path):
  # --nofigures: the same run without figures and without matplotlib;
  # experiments.plot then draws the figures the run would have drawn.
  code = ("import atexit, runpy, sys; atexit.register(lambda: print("
          "'matplotlib imported:', 'matplotlib' in sys.modules)); "
          "sys.argv = ['train', '--dataset=moons', '--hidden=8', "
          "'--epochs=6', '--batch_size=16', '--nofigures', "
          f"'--workdir={tmp_path}']; "
          "runpy.run_module('experiments.train', run_name='__main__')")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert "matplotlib imported: False" in proc.stdout
  figures = ("confusion_matrix.png", "decision_regions.png",
             "learning_curves.png")
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".png")]
  assert ((tmp_path / "metrics.jsonl").read_bytes()
          == (moons_run / "metrics.jsonl").read_bytes())
  proc = run("experiments.plot", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".png")) == [
      *figures]
  for name in figures:
    assert (tmp_path / name).read_bytes() == (moons_run / name).read_bytes()


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
  # No module that unpickles is imported, and NumPy is never let unpickle.
  proc = subprocess.run(["grep", "-rnE",
                         r"^\s*(import|from) (c?pickle|dill|cloudpickle|"
                         r"joblib|shelve)\b|allow_pickle=True",
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


@pytest.mark.slow
def test_tensorboard_reads_the_runs_events(moons_run):
  # With TensorBoard's own reader, as `tensorboard --logdir runs` reads them.
  accumulator = pytest.importorskip(
      "tensorboard.backend.event_processing.event_accumulator",
      reason="tensorboard is not installed (pip install -e '.[viz]')")
  events = accumulator.EventAccumulator(str(moons_run / "tensorboard"))
  events.Reload()
  metrics = [json.loads(l) for l in
             (moons_run / "metrics.jsonl").read_text().splitlines()]
  for tag in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
    scalars = events.Scalars(tag)
    assert [e.step for e in scalars] == list(range(1, 7))
    assert [e.value for e in scalars] == pytest.approx(
        [m[tag.replace("/", "_")] for m in metrics], rel=1e-6)
  assert not (moons_run / "live").exists()   # the finished run's are these


def test_presets_ship_with_the_package():
  from experiments import cli  # pylint: disable=g-import-not-at-top
  assert cli.presets() == [os.path.basename(p).removesuffix(".flags")
                           for p in PRESETS]
  # The installed package carries them: pyproject's package data holds
  # every preset's file.
  tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
  shipped = {os.path.normpath(p) for pattern in data["experiments"]
             for p in glob.glob(os.path.join(ROOT, "experiments", pattern))}
  assert set(PRESETS) <= shipped


@pytest.mark.parametrize("args,expected", [
    (["--preset=digits", "--seed=1"], ["--flagfile={digits}",
                                       "--preset=digits", "--seed=1"]),
    (["--preset", "digits"], ["--flagfile={digits}", "--preset=digits"]),
    (["--seed=1"], ["--seed=1"]),
])
def test_a_preset_is_read_as_its_flagfile(args, expected):
  from experiments import cli  # pylint: disable=g-import-not-at-top
  digits = os.path.join(ROOT, "experiments", "flags", "digits.flags")
  assert cli.expand_presets(args) == [a.format(digits=digits)
                                      for a in expected]


@pytest.mark.parametrize("arg,message", [
    ("--preset=nielsen", "error: --preset=nielsen: no such preset; one of: "
     "digits, digits_regularized, iris_online"),
    ("--flagfile=experiments/flags/digits.flags", "no such file in {cwd}; "
     "the presets ship with the package: use --preset=digits"),
])
def test_a_preset_that_cannot_be_read_fails_in_one_line(
    tmp_path, monkeypatch, capsys, arg, message):
  from experiments import cli  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)   # not the repository: its paths do not hold
  with pytest.raises(SystemExit) as e:
    cli.expand_presets([arg])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and message.format(cwd=tmp_path) in err


@pytest.mark.slow
def test_a_preset_runs_from_any_folder(tmp_path):
  # From a folder outside the repository, as an installed command runs;
  # flags after the preset override it. Its cost threshold ends the run at
  # epoch 1, and the last line says so.
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.train", "--preset=iris_online",
       "--epochs=3", "--cost_threshold=5", "--workdir=run"], cwd=tmp_path,
      capture_output=True, text=True, timeout=300,
      env={**os.environ, "PYTHONPATH": ROOT})
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["config"]["activation"] == "sigmoid"   # the preset's
  assert results["config"]["epochs"] == 3               # the override
  assert results["stop_reason"] == "cost_threshold"
  assert "stopped: the training cost fell below cost_threshold=5 at epoch 1" \
      in proc.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_readme_predict_example_runs_as_written(tmp_path):
  # The README's shell example of training on a CSV file and predicting
  # new rows, run from a folder that has the package's data files where
  # the repository's root has them.
  import re  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  block = re.search(r"### Predicting with a trained model.*?```sh\n(.*?)```",
                    text, re.S).group(1)
  (tmp_path / "nn_jax").symlink_to(os.path.join(ROOT, "nn_jax"))
  env = {**os.environ, "PYTHONPATH": ROOT, "PATH": os.path.dirname(
      sys.executable) + os.pathsep + os.environ.get("PATH", "")}
  proc = subprocess.run(["bash", "-e", "-c", block.replace(
      "python -m", f"{sys.executable} -m")], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  rows = (tmp_path / "predictions.csv").read_text().splitlines()
  assert len(rows) == 4
  assert rows[0].endswith("predicted_vote,p_A,p_N,p_U,p_Y")


def _events_of(folder):
  """Each event file under ``folder`` (by its subfolder): its events
  without their wall time, in order."""
  out = {}
  for path in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"),
                        recursive=True):
    with open(path, "rb") as f:
      data = f.read()
    events, pos = [], 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      event.ClearField("wall_time")
      events.append(event.SerializeToString())
      pos += 12 + length + 4
    out[os.path.relpath(os.path.dirname(path), folder)] = events
  return out


def test_a_runs_events_are_those_tensorboardx_writes(tmp_path):
  # outputs.write_tensorboard writes its events itself, in this thread:
  # the same events (but their wall time) as tensorboardX's SummaryWriter
  # with add_scalar for each finite value and add_hparams.
  from experiments import outputs  # pylint: disable=g-import-not-at-top
  nan = float("nan")
  history = {"train_loss": [0.5, 0.25, nan], "val_accuracy": [0.5, nan, 1.0]}
  hparams = {"seed": 3, "hidden": [8, 4], "optimizer": "sgd", "noise": None}
  final = {"test_accuracy": 0.75, "test_loss": nan, "final_train_loss": 0.25}
  outputs.write_tensorboard(str(tmp_path / "ours"), history, hparams, final)
  writer = outputs.tensorboardx().SummaryWriter(logdir=str(tmp_path / "tbx"))
  for step, (loss, acc) in enumerate(zip(*history.values()), 1):
    for tag, value in (("train/loss", loss), ("val/accuracy", acc)):
      if value == value:
        writer.add_scalar(tag, value, step)
  writer.add_hparams({"seed": 3, "hidden": "[8, 4]", "optimizer": "sgd"},
                     {"final/test_accuracy": 0.75,
                      "final/final_train_loss": 0.25}, name="hparams")
  writer.close()
  ours, theirs = _events_of(tmp_path / "ours"), _events_of(tmp_path / "tbx")
  assert sorted(ours) == sorted(theirs) == [".", "hparams"]
  assert ours == theirs
