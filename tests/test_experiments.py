"""The experiment scripts end to end, as a user runs them."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import warnings
import zlib

import jax
import numpy as np
import pytest

from experiments import cli
from experiments import drawing
from nn_jax import data
from nn_jax import experiment
from nn_jax.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(module, *args, env=None):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env=None if env is None else {**os.environ, **env})


@pytest.mark.slow
def test_train_writes_results(tmp_path):
  proc = run("experiments.train", "--dataset=iris", "--hidden=6",
             "--epochs=5", "--batch_size=8", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  for key in ("test_accuracy", "final_train_loss", "epochs_run", "seconds",
              "grad", "config"):
    assert key in results
  assert results["epochs_run"] == 5
  assert results["config"]["hidden"] == [6]
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 5 and json.loads(lines[-1])["epoch"] == 5
  assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
  assert "epoch 5/5" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("flag,names", [
    ("--learning_rate=-1", "learning_rate must be > 0 and finite; got -1.0"),
    ("--learning_rate=inf", "learning_rate must be > 0 and finite; got inf"),
    ("--activation=swish", "activation"),
    ("--hidden=0", "hidden"),
    ("--dataset=iris --loss=linear_squared", "softmax_cross_entropy"),
    ("--train_metrics=epoch", "train_metrics"),
    ("--split_order=sorted", "split_order"),
    ("--dtype=float16", "float64"),
    ("--model=perceptron --dtype=float64", "model=mlp"),
    ("--classes=a,b", "classes must be integer labels; got a,b"),
    ("--classes=3,8,3", "each once; got [3, 8, 3]"),
    ("--hidden=64,,3", "--hidden=64,,3: comma-separated positive integers"),
    ("--flagfile=experiments/flags/nosuch.flags",
     "error: Unable to open flagfile"),
    ("--task=ranking", "task='ranking' is not allowed"),
    ("--checkpoint_every=-1", "checkpoint_every must be >= 0"),
    ("--dataset=mnist --data_dir=README.md", "data_dir README.md is a file"),
    ("--dataset=mnist --data_dir=README.md/mnist",
     "README.md/mnist: Not a directory"),
    ("--task=regression", "task is for dataset=csv"),
    # A value not of the flag's type, in the user's words, not Python's.
    ("--epochs=ten", "error: --epochs=ten: not an integer"),
    ("--seed=1.5", "error: --seed=1.5: not an integer"),
    ("--learning_rate=abc", "error: --learning_rate=abc: not a number"),
    ("--figures=maybe", "error: --figures=maybe: not true or false"),
    ("--nofigures=x", "error: --nofigures=x does not take an argument"),
    # A word that is not a flag (the dashes forgotten, a stray argument)
    # fails; it was passed over, and the run trained with the defaults.
    ("learning_rate=0.1", "error: unexpected argument 'learning_rate=0.1': "
     "flags are written --name=value (the flag is written "
     "--learning_rate=0.1)"),
    ("--epochs=1 extra", "error: unexpected argument 'extra'"),
    ("--epochs=1 -- more", "error: unexpected argument 'more'"),
    # A flag the preset sets, before it, was overridden without a word.
    ("--epochs=5 --preset=moons_batch", "error: --epochs=5 before "
     "--preset=moons_batch, which sets it too: flags after the preset "
     "override it, so put it after"),
    ("--preset=experiments/flags/moons_batch.flags",
     "(a file of flags is read by "
     "--flagfile=experiments/flags/moons_batch.flags)"),
])
def test_bad_flags_fail_in_one_line(tmp_path, flag, names):
  proc = run("experiments.train", *flag.split(), f"--workdir={tmp_path}")
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, proc.stderr
  assert names in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_workdir_that_cannot_be_made_fails_in_one_line(tmp_path):
  afile = tmp_path / "afile"
  afile.write_text("")
  proc = run("experiments.xor", f"--workdir={afile}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f"error: --workdir={afile} is a file; give a folder for the results"]


@pytest.mark.slow
def test_a_run_replaces_an_earlier_runs_outputs(tmp_path):
  # A 2-D run's figure and its TensorBoard event file would otherwise sit
  # next to this (4-feature) run's results; files that nn_jax did not write
  # stay, in the workdir and in its tensorboard/ alike.
  first = run("experiments.train", "--dataset=moons", "--hidden=4",
              "--epochs=2", f"--workdir={tmp_path}")
  assert first.returncode == 0, first.stderr
  assert (tmp_path / "decision_regions.png").exists()
  earlier_events = set(os.listdir(tmp_path / "tensorboard"))
  (tmp_path / "tensorboard" / "notes.txt").write_text("mine too")
  (tmp_path / "notes.txt").write_text("mine")
  proc = run("experiments.train", "--dataset=iris", "--hidden=4",
             "--epochs=2", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert not (tmp_path / "decision_regions.png").exists()
  events = set(os.listdir(tmp_path / "tensorboard"))
  assert not earlier_events - {"hparams"} & events
  assert (tmp_path / "notes.txt").read_text() == "mine"
  assert (tmp_path / "tensorboard" / "notes.txt").read_text() == "mine too"
  assert (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_train_metrics_of_the_batches():
  config = Config.make(dataset="iris", hidden=(6,), epochs=3, batch_size=8,
                       train_metrics="batches")
  out = experiment.train_and_evaluate(config).summary
  full = experiment.train_and_evaluate(
      config.replace(train_metrics="full")).summary
  # Same training, only the reported training cost differs: the batches'
  # mean is taken before each update, the full pass after the epoch.
  assert out.test_accuracy == full.test_accuracy
  assert out.final_train_loss != full.final_train_loss


@pytest.mark.slow
def test_float64_run_keeps_64_bits_inside_the_run():
  config = Config.make(dataset="iris", hidden=(6,), epochs=3, batch_size=8,
                       dtype="float64", pretrain=True, pretrain_epochs=1)
  out = experiment.train_and_evaluate(config)
  assert {l["w"].dtype for l in out.params} == {np.dtype("float64")}
  assert jax.numpy.zeros(1).dtype == np.float32   # x64 is off again
  test = out.splits.test
  with warnings.catch_warnings():   # no float64 -> float32 truncation
    warnings.simplefilter("error")
    predicted = experiment.predict_labels(out.params, out.stats, test.x,
                                          out.model)
  assert out.summary.test_accuracy == pytest.approx(
      np.mean(predicted == test.y))
  single = experiment.train_and_evaluate(config.replace(dtype="float32"))
  assert {l["w"].dtype for l in single.params} == {np.dtype("float32")}


def test_split_in_file_order_holds_out_the_last_examples():
  config = Config.make(dataset="digits", split_order="file",
                       input_encoding="none")
  splits = experiment.prepare(config, jax.random.PRNGKey(0))
  again = experiment.prepare(config, jax.random.PRNGKey(1))
  digits = data.load("digits")
  n_test = round(0.2 * digits.size)
  n_val = round(0.1 * digits.size)
  np.testing.assert_array_equal(splits.test.x, digits.x[-n_test:])
  np.testing.assert_array_equal(splits.val.x,
                                digits.x[-n_test - n_val:-n_test])
  np.testing.assert_array_equal(splits.train.x, again.train.x)


def test_train_size_counts_the_selected_classes_examples():
  config = Config.make(dataset="digits", classes="3,8", train_size=100,
                       input_encoding="none")
  splits = experiment.prepare(config, jax.random.PRNGKey(0))
  assert splits.train.size == 100
  assert set(np.unique(splits.train.y)) == {0, 1}
  everything = experiment.prepare(config.replace(train_size=0),
                                  jax.random.PRNGKey(0))
  np.testing.assert_array_equal(splits.train.x, everything.train.x[:100])
  with pytest.raises(ValueError, match=f"train_size=1000 exceeds the "
                     f"{everything.train.size} training examples"):
    experiment.prepare(config.replace(train_size=1000),
                       jax.random.PRNGKey(0))


def test_noshuffle_reaches_the_training_loop():
  config = Config.make(dataset="iris", hidden=(6,), epochs=3, batch_size=8,
                       train_metrics="batches")
  fixed = experiment.train_and_evaluate(config.replace(shuffle=False)).summary
  shuffled = experiment.train_and_evaluate(config).summary
  # Same data and initial weights; only the order of the examples differs.
  assert fixed.final_train_loss != shuffled.final_train_loss
  assert fixed.config["shuffle"] is False


@pytest.mark.slow
def test_default_run_reaches_97_percent_on_digits():
  manual = experiment.train_and_evaluate(Config()).summary
  assert manual.test_accuracy >= 0.97
  auto = experiment.train_and_evaluate(Config.make(grad="autodiff")).summary
  assert abs(manual.test_accuracy - auto.test_accuracy) <= 0.005


@pytest.mark.slow
def test_xor(tmp_path):
  proc = run("experiments.xor", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["perceptron_accuracy"] <= 0.75
  # Its last weights put (1, 0) and (1, 1) on the boundary (z = 0, output
  # 0), which the figure's title then says.
  w = np.array(results["perceptron_weights"])
  x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
  assert results["perceptron_points_on_boundary"] == int(
      np.sum(w[0] + x @ w[1:] == 0)) == 2
  assert results["mlp_accuracy"] == 1.0
  assert (tmp_path / "xor_decision_regions.png").stat().st_size > 10_000
  # From some starts the 2-2-1 network stops in a local minimum; it says so.
  stuck = run("experiments.xor", "--seed=4", f"--workdir={tmp_path}")
  assert stuck.returncode == 0, stuck.stderr
  assert json.loads((tmp_path / "results.json").read_text())[
      "mlp_accuracy"] == 0.5
  assert "did not solve XOR from this start" in stuck.stdout


@pytest.mark.slow
def test_gradcheck_table_and_exit_code(tmp_path):
  proc = run("experiments.gradcheck", "--cases=mlp", "--activations=tanh,prelu",
             "--losses=softmax_cross_entropy,linear_squared",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["num_cases"] == 2 * 2 * 4 * 2 and results["passed"]
  assert results["max_error"] <= 1e-10
  assert "prelu" in proc.stdout and "32 passed" in proc.stdout
  assert "mlp, prelu: checked (32 of 32 cases" in proc.stderr
  # An impossible tolerance must fail the run.
  strict = run("experiments.gradcheck", "--cases=mlp", "--activations=tanh",
               "--losses=softmax_cross_entropy", "--tolerance=1e-30",
               f"--workdir={tmp_path}")
  assert strict.returncode == 1
  assert "FAIL" in strict.stdout
  bad = run("experiments.gradcheck", "--activations=tanh,foo",
            f"--workdir={tmp_path}")
  assert bad.returncode == 2
  assert bad.stderr.startswith("error: --activations=tanh,foo: allowed:")
  nothing = run("experiments.gradcheck", "--cases=", f"--workdir={tmp_path}")
  assert nothing.returncode == 2
  assert "there is nothing to check" in nothing.stderr


_NAN_GRADCHECK = """
import sys
from experiments import gradcheck as g
real = g.check
g.check = lambda *case: (float("nan") if case[3:5] == (1, 7)
                         else real(*case))
sys.argv = ["gradcheck", "--workdir=" + sys.argv[1], "--activations=tanh",
            "--losses=softmax_cross_entropy", "--cases=mlp"]
g.entry()
"""


@pytest.mark.slow
def test_gradcheck_reports_a_nan_error_as_the_worst(tmp_path):
  proc = subprocess.run([sys.executable, "-c", _NAN_GRADCHECK, str(tmp_path)],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stderr
  row = [l for l in proc.stdout.splitlines() if l.startswith("mlp ")][0]
  assert row.endswith("inf  FAIL"), row
  assert "worst inf" in proc.stdout and "1 failed" in proc.stdout
  assert json.loads((tmp_path / "results.json").read_text())[
      "max_error"] is None   # JSON has no inf: null


@pytest.mark.slow
def test_regularization_table(tmp_path):
  proc = run("experiments.regularization", "--seeds=1", "--epochs=3",
             "--train_size=100", "--techniques=l2,input_noise",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert [r["technique"] for r in results["rows"]] == ["baseline", "l2",
                                                       "input_noise"]
  # The settings as flags are written (not Python's ('noise',)).
  assert "| input_noise | augment=noise, noise_std=0.5 |" in (
      tmp_path / "results.md").read_text()
  assert (tmp_path / "validation_curves.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--dataset=iris", "--positive_class=0"],
                                   ["--dataset=digits", "--classes=3,8"]])
def test_perceptron_in_the_main_experiment(tmp_path, flags):
  proc = run("experiments.train", "--model=perceptron", "--epochs=40",
             *flags, f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["test_accuracy"] >= 0.9
  assert results["config"]["model"] == "perceptron"
  rows = [json.loads(r) for r in
          (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert len(rows) == results["epochs_run"]
  # Validation accuracy only at the end; a perceptron has no cost there.
  assert rows[-1]["val_accuracy"] >= 0.5
  assert rows[-1]["val_loss"] is None or np.isnan(rows[-1]["val_loss"])
  assert (tmp_path / "learning_curves.png").exists()


@pytest.mark.slow
def test_perceptron_needs_a_binary_problem(tmp_path):
  proc = run("experiments.train", "--model=perceptron", f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert "positive_class" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_compilation_cache(tmp_path):
  # On by default in the user's cache folder: a second run loads the
  # compiled programs; damaged or refused cached programs are compiled
  # again without a word and replaced; the results are bitwise the same in
  # every case, and with the cache off (nothing kept).
  env = {k: v for k, v in os.environ.items()
         if k not in ("NN_JAX_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
  home = tmp_path / "home"
  env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
  cache = home / ".cache" / "nn_jax" / "xla"
  args = ("experiments.train", "--dataset=iris", "--hidden=4", "--epochs=3")

  def train(name, **extra_env):
    proc = subprocess.run(
        [sys.executable, "-m", *args, f"--workdir={tmp_path / name}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**env, **extra_env})
    assert proc.returncode == 0, proc.stderr
    assert "persistent compilation cache" not in proc.stderr, proc.stderr
    with np.load(tmp_path / name / "params.npz") as f:
      params = {k: f[k] for k in f.files}
    return params, (tmp_path / name / "metrics.jsonl").read_text()

  def same(a, b):
    assert a[0].keys() == b[0].keys() and a[1] == b[1]
    for k in a[0]:
      np.testing.assert_array_equal(a[0][k], b[0][k])

  cold = train("cold")
  entries = sorted(e for e in os.listdir(cache) if e.endswith("-cache"))
  assert entries
  same(train("warm"), cold)
  assert sorted(e for e in os.listdir(cache) if e.endswith("-cache")) == (
      entries)
  # Damaged files, and well-formed ones that XLA refuses to load.
  junk = {name: b"not a program" if i % 2 else zlib.compress(b"\0" * 99)
          for i, name in enumerate(entries)}
  for name, bad in junk.items():
    (cache / name).write_bytes(bad)
  same(train("damaged"), cold)
  for name, bad in junk.items():   # each replaced by the new program
    assert (cache / name).read_bytes() != bad, name
  off = tmp_path / "off_home"
  same(train("off", NN_JAX_COMPILATION_CACHE="off", HOME=str(off),
             XDG_CACHE_HOME=str(off / ".cache")), cold)
  assert not (off / ".cache" / "nn_jax").exists()


def _write_mixed_csv(path, n=240, seed=0):
  """numeric x, nominal color, ordinal size -> label yes/no by
  ``x + [color == red] + [size >= M] > 1``."""
  rng = np.random.default_rng(seed)
  lines = ["x,color,size,label"]
  for _ in range(n):
    x = rng.normal()
    color = rng.choice(["red", "green", "blue"])
    size = rng.choice(["S", "M", "L"])
    yes = x + (color == "red") + (size != "S") > 1
    lines.append(f"{x:.3f},{color},{size},{'yes' if yes else 'no'}")
  path.write_text("\n".join(lines) + "\n")
  return path


@pytest.mark.slow
def test_train_and_sweep_on_a_csv_file(tmp_path):
  path = _write_mixed_csv(tmp_path / "mixed.csv")
  csv_flags = ("--dataset=csv", f"--csv_path={path}", "--target=label",
               "--nominal=color", "--ordinal=size:S<M<L")
  proc = run("experiments.train", *csv_flags, "--epochs=60", "--hidden=8",
             "--learning_rate=0.05", f"--workdir={tmp_path / 'train'}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "train" / "results.json").read_text())
  assert results["num_test"] == 48 and results["test_accuracy"] > 0.85
  proc = run("experiments.train", *csv_flags, "--task=regression",
             "--loss=linear_squared", f"--workdir={tmp_path / 'train'}")
  assert proc.returncode == 2
  assert "data row 1 (line 2), column 'label': 'no' is not a finite " \
      "number; a regression target " \
      "must be a number (use task=classification for class labels)" in \
      proc.stderr
  proc = run("experiments.sweep", *csv_flags, "--learning_rates=0.1",
             "--seeds=2", "--epochs=30", "--hidden=8",
             f"--workdir={tmp_path / 'sweep'}")
  assert proc.returncode == 0, proc.stderr
  rows = json.loads((tmp_path / "sweep" / "results.json").read_text())[
      "members"]
  assert len(rows) == 2 and min(r["test_accuracy"] for r in rows) > 0.85


@pytest.mark.slow
def test_regression_on_two_csv_columns(tmp_path):
  rng = np.random.default_rng(0)
  rows = [f"{a:.3f},{b:.3f},{2 * a - b:.3f}" for a, b in rng.normal(
      size=(40, 2))]
  path = tmp_path / "plane.csv"
  path.write_text("\n".join(["a,b,y", *rows]) + "\n")
  csv_flags = ("--dataset=csv", f"--csv_path={path}", "--target=y",
               "--loss=linear_squared", "--batch_size=4", "--epochs=20")
  proc = run("experiments.train", *csv_flags, f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("test cost ") and "accuracy" not in proc.stdout
  assert "train cost" in proc.stderr and "acc" not in proc.stderr
  written = set(os.listdir(tmp_path / "run"))
  assert "learning_curves.png" in written
  assert not written & {"decision_regions.png", "confusion_matrix.png"}
  proc = run("experiments.sweep", *csv_flags, "--learning_rates=0.01",
             "--seeds=2", f"--workdir={tmp_path / 'sweep'}")
  assert proc.returncode == 0, proc.stderr
  assert "learning rate 0.01: mean test cost" in proc.stdout


@pytest.mark.slow
def test_regression_on_two_target_columns(tmp_path):
  rng = np.random.default_rng(0)
  rows = [f"{a:.3f},{b:.3f},{2 * a - b:.3f},{a + 0.5 * b:.3f}"
          for a, b in rng.normal(size=(40, 2))]
  path = tmp_path / "two.csv"
  path.write_text("\n".join(["a,b,y1,y2", *rows]) + "\n")
  proc = run("experiments.train", "--dataset=csv", f"--csv_path={path}",
             "--target=y1,y2", "--loss=linear_squared", "--hidden=",
             "--batch_size=4", "--epochs=30", "--learning_rate=0.05",
             f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["config"]["target"] == ["y1", "y2"]
  assert results["sizes"] == [2, 2]   # one linear output per target
  assert results["test_loss"] < 0.05   # two planes: linear units fit them
  proc = run("experiments.train", "--dataset=csv", f"--csv_path={path}",
             "--target=y1,y2", "--task=classification",
             f"--workdir={tmp_path / 'bad'}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: task=classification predicts one target column; several "
      "(y1,y2) are predicted together by regression only"]


@pytest.mark.slow
def test_sweep_one_row_per_member(tmp_path):
  proc = run("experiments.sweep", "--learning_rates=0.01,0.1", "--seeds=3",
             "--epochs=2", "--hidden=8", "--dataset=iris", "--batch_size=8",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  rows = json.loads((tmp_path / "results.json").read_text())["members"]
  assert len(rows) == 6
  assert sorted({r["learning_rate"] for r in rows}) == [0.01, 0.1]
  assert len({(r["learning_rate"], r["seed"]) for r in rows}) == 6
  assert len((tmp_path / "members.csv").read_text().splitlines()) == 7
  # The same members split over two (CPU) devices.
  two = tmp_path / "two_devices"
  proc = run("experiments.sweep", "--learning_rates=0.01,0.1", "--seeds=3",
             "--epochs=2", "--hidden=8", "--dataset=iris", "--batch_size=8",
             "--devices=2", f"--workdir={two}",
             env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert proc.returncode == 0, proc.stderr
  split = json.loads((two / "results.json").read_text())["members"]
  for a, b in zip(rows, split):
    assert (a["learning_rate"], a["seed"]) == (b["learning_rate"], b["seed"])
    np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=1e-5)
  # One batch order for all: seed 0's members train as before, the others
  # differ from their runs in their own order.
  shared = tmp_path / "shared_order"
  proc = run("experiments.sweep", "--learning_rates=0.01,0.1", "--seeds=3",
             "--epochs=2", "--hidden=8", "--dataset=iris", "--batch_size=8",
             "--shared_order", f"--workdir={shared}")
  assert proc.returncode == 0, proc.stderr
  results = json.loads((shared / "results.json").read_text())
  assert results["shared_order"]
  for a, b in zip(rows, results["members"]):
    assert (a["learning_rate"], a["seed"]) == (b["learning_rate"], b["seed"])
    same = np.isclose(a["test_loss"], b["test_loss"], rtol=1e-5)
    assert same == (a["seed"] == 0), (a, b)


@pytest.mark.slow
def test_sweep_reports_members_that_diverged(tmp_path):
  proc = run("experiments.sweep", "--learning_rates=0.1,1000", "--seeds=2",
             "--epochs=2", "--hidden=8", "--dataset=iris", "--batch_size=8",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert "learning rate 1000: all 2 seeds diverged" in proc.stdout
  assert "learning rate 0.1: mean test accuracy" in proc.stdout
  rows = json.loads((tmp_path / "results.json").read_text())["members"]
  assert [r["diverged"] for r in rows] == [False, False, True, True]


@pytest.mark.slow
def test_progress_lines_leave_out_a_missing_validation_set(tmp_path):
  # The MNIST-1D presets hold out no validation set: no "val cost nan".
  proc = run("experiments.train", "--dataset=iris", "--hidden=4",
             "--epochs=2", "--validation_fraction=0", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  line = [l for l in proc.stderr.splitlines() if "epoch 2/2" in l][0]
  assert "train cost" in line and "val" not in line, line


@pytest.mark.slow
def test_sweep_refuses_an_option_a_population_does_not_take(tmp_path):
  proc = run("experiments.sweep", "--dataset=iris", "--seeds=1", "--epochs=2",
             "--cost_threshold=0.1", f"--workdir={tmp_path}")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: cost_threshold=0.1 is not supported by fit_population")
  assert "Traceback" not in proc.stderr


def test_a_network_too_big_for_memory_is_refused_before_allocating():
  config = Config.make(dataset="iris", hidden=(10**8,), epochs=1)
  with pytest.raises(ValueError, match=r"layer sizes \[4, 100000000, 3\] "
                     r"needs about [\d.]+ GiB to train .* GiB free"):
    experiment.train_and_evaluate(config)


def test_train_size_below_the_batch_size_names_both():
  config = Config.make(dataset="iris", train_size=1, epochs=1)
  with pytest.raises(ValueError, match=r"batch_size=32 is more than the 1 "
                     r"training examples \(train_size=1\)"):
    experiment.train_and_evaluate(config)


def test_a_run_with_early_stopping_on_says_whose_parameters_it_kept():
  # All epochs run, early stopping on but never stopping: the parameters
  # are still the best validation epoch's, and the words say which.
  summary = experiment.train_and_evaluate(Config.make(
      dataset="iris", hidden=(4,), batch_size=0, epochs=3)).summary
  on = {**summary.config, "early_stopping_patience": 5}
  assert experiment.why_stopped(dataclasses.replace(
      summary, config=on, best_epoch=2)) == (
          "all 3 epochs run; epoch 2's parameters kept (its validation cost "
          "the best)")
  for config, best in ((on, 3), (summary.config, 2)):   # the last; off
    assert experiment.why_stopped(dataclasses.replace(
        summary, config=config, best_epoch=best)) == "all 3 epochs run"


@pytest.mark.parametrize("cost,spike", [
    ([1.0, 0.5, 20.0, 0.1], (3, 20.0)),   # the highest, 1-based
    ([1.0, 30.0, 20.0], (2, 30.0)),
    ([1.0, 0.5, 9.0, 0.1], None),          # within 10 times the first
    ([1.0, np.nan], None),                 # diverged: recorded as such
    ([1.0, 50.0, np.inf], None),           # a blow-up that diverged
    ([np.nan, 5.0], None), ([0.0, 5.0], None), ([1.0], None)])
def test_a_finite_blow_up_of_the_cost_is_found(cost, spike):
  assert experiment.cost_spike(cost) == spike


@pytest.mark.slow
def test_a_run_without_a_test_set_says_so_in_its_last_line(tmp_path):
  # --test_fraction=0 holds out no test set: the line began with blanks.
  proc = run("experiments.train", "--dataset=iris", "--hidden=4",
             "--epochs=2", "--test_fraction=0", "--nofigures",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("no test scores (no test set)  stopped: "
                                "all 2 epochs run"), proc.stdout


@pytest.mark.slow
def test_train_warns_of_a_finite_blow_up(tmp_path):
  # Iris at eta 3: the cost rises a thousandfold and the run goes on, its
  # weights far off; it ended "all 30 epochs run" without a word.
  proc = run("experiments.train", "--dataset=iris", "--hidden=8",
             "--learning_rate=3", "--epochs=30", "--nofigures",
             f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  history = drawing.read_history(tmp_path / "metrics.jsonl")["train_loss"]
  epoch, cost = experiment.cost_spike(history)
  assert re.search(
      rf"warning: the training cost rose to \S+ at epoch {epoch}, more than "
      rf"10 times its first epoch's \(\S+\), and went on from there; a "
      rf"lower --learning_rate \(now 3\) may train without it",
      proc.stderr), proc.stderr
  assert cost > 10 * history[0]


@pytest.mark.parametrize("value,text", [
    (0.1234567, "0.1235"), (0.0, "0.0000"), (3e-5, "3e-05"),
    (2.3e30, "2.3e+30"), (12345.6, "1.235e+04"), (float("nan"), "nan")])
def test_costs_are_written_readably(value, text):
  assert cli.cost_text(value) == text


@pytest.mark.parametrize("settings,reason,epochs,words", [
    (dict(epochs=3), "epochs", 3, "all 3 epochs run"),
    (dict(epochs=1), "epochs", 1, "its 1 epoch run"),
    (dict(epochs=9, cost_threshold=5.0), "cost_threshold", 1,
     "the training cost fell below cost_threshold=5 at epoch 1"),
    # Weights that do not move: the validation cost never gets better
    # after epoch 1.
    (dict(epochs=9, optimizer="sgd", learning_rate=1e-30,
          early_stopping_patience=2), "early_stopping", 3,
     "early stopping at epoch 3: no better validation cost for "
     "early_stopping_patience=2 epochs; epoch 1's parameters kept"),
    # Measured after the epoch (with the batches' costs, taken before each
    # update, the first non-finite cost is epoch 2's).
    (dict(epochs=9, optimizer="sgd", learning_rate=1e30,
          train_metrics="full"), "diverged", 1,
     "the cost or the weights became NaN/Inf at epoch 1"),
    (dict(epochs=50, model="perceptron", classes="0,1", learning_rate=1.0),
     "no_mistakes", None, "made no mistake on the training set"),
])
def test_the_run_records_why_it_stopped(settings, reason, epochs, words):
  network = ({} if settings.get("model") == "perceptron"   # takes neither
             else dict(hidden=(4,), batch_size=0))
  config = Config.make(dataset="iris", **network, **settings)
  summary = experiment.train_and_evaluate(config).summary
  assert summary.stop_reason == reason
  assert summary.to_json()["stop_reason"] == reason   # results.json's
  if epochs is not None:
    assert summary.epochs_run == epochs
  else:   # setosa and versicolor are separable: before the budget
    assert summary.epochs_run < 50
  assert words in experiment.why_stopped(summary)


@pytest.mark.slow
def test_a_killed_run_keeps_its_epochs_and_the_earlier_results(tmp_path):
  # A run killed by SIGKILL right after reporting epoch 3 (no checkpoints,
  # nothing of its own cleans up) leaves exactly epochs 1-3 in live/, and
  # the earlier run's results as they were.
  assert run("experiments.train", "--dataset=iris", "--hidden=4",
             "--epochs=2", f"--workdir={tmp_path}").returncode == 0
  earlier = {n: (tmp_path / n).read_bytes()
             for n in ("results.json", "metrics.jsonl", "params.npz")}
  code = ("import os, signal, sys\n"
          "from experiments import cli, train\n"
          "report = cli.Progress.__call__\n"
          "def kill_at_3(self, epoch, metrics):\n"
          "  report(self, epoch, metrics)\n"
          "  if epoch == 3:\n"
          "    os.kill(os.getpid(), signal.SIGKILL)\n"
          "cli.Progress.__call__ = kill_at_3\n"
          "sys.argv[1:] = ['--dataset=iris', '--hidden=4', '--epochs=50',\n"
          f"               '--workdir={tmp_path}']\n"
          "train.entry()\n")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == -9, proc.stderr
  rows = [json.loads(l) for l in
          (tmp_path / "live" / "metrics.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in rows] == [1, 2, 3]
  assert all(np.isfinite(r["train_loss"]) for r in rows)
  assert {n: (tmp_path / n).read_bytes() for n in earlier} == earlier
  events = os.listdir(tmp_path / "live" / "tensorboard")
  assert len(events) == 1 and events[0].startswith("events.out.tfevents.")
  # experiments.plot draws those epochs' learning curves into live/, said
  # to be of a stopped run, and the earlier run's figures as before.
  figures = {n: (tmp_path / n).read_bytes()
             for n in ("learning_curves.png", "confusion_matrix.png")}
  proc = run("experiments.plot", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split() == [
      str(tmp_path / "live" / "learning_curves.png"),
      *(str(tmp_path / n) for n in figures)]
  assert (f"--workdir={tmp_path} holds a run stopped before its end: "
          f"drawing the 3 epochs it reported (live/)") in proc.stderr
  assert (tmp_path / "live" / "learning_curves.png").stat().st_size > 5_000
  assert {n: (tmp_path / n).read_bytes() for n in figures} == figures
  # The next run that finishes takes the stopped one's live/ away, figure
  # and all.
  assert run("experiments.train", "--dataset=iris", "--hidden=4",
             "--epochs=2", "--nofigures",
             f"--workdir={tmp_path}").returncode == 0
  assert not (tmp_path / "live").exists()


def test_help_describes_an_installed_command_as_its_module(python):
  # An installed command runs experiments.train from a wrapper of its own:
  # --help gives the module's docstring and flags all the same (it gave a
  # line of usage and no flag), as python -m experiments.train does.
  code = ("import sys\n"
          "sys.argv[0] = 'nn-jax-train'; sys.argv[1:] = ['--help']\n"
          "from experiments import train\n"
          "train.entry()\n")
  installed = python(code)
  module = subprocess.run([sys.executable, "-m", "experiments.train",
                           "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert "Trains a multilayer network" in installed.stdout, installed.stderr
  assert "--learning_rate: Learning rate eta." in installed.stdout
  # The same text but for the program's name in the flags' heading.
  assert installed.stdout.replace("nn-jax-train:", "") == (
      module.stdout.replace(os.path.join(ROOT, "experiments", "train.py:"),
                            ""))


def test_a_commands_log_lines_are_the_time_and_the_message(python,
                                                           tmp_path):
  # Progress lines and warnings without absl's level, date, thread and
  # source line.
  proc = python(
      "import sys\n"
      "from absl import logging\n"
      "from experiments import cli, train\n"
      "sys.argv[1:] = ['--dataset=iris', '--hidden=4', '--epochs=2',\n"
      f"                '--nofigures', '--workdir={tmp_path}']\n"
      "import warnings\n"
      "from nn_jax import bundle\n"
      "def main(argv):\n"
      "  logging.warning('a warning')\n"
      "  warnings.warn('rows far out', bundle.InputRangeWarning)\n"
      "  warnings.warn('not ours', UserWarning)\n"
      "  train.main(argv)\n"
      "cli.run(main)\n")
  assert proc.returncode == 0, proc.stderr
  lines = proc.stderr.splitlines()
  assert re.fullmatch(r"\d\d:\d\d:\d\d warning: a warning", lines[0]), lines
  # The library's own warnings as a log line; others as Python shows them.
  assert re.fullmatch(r"\d\d:\d\d:\d\d warning: rows far out", lines[1]), lines
  assert lines[2].endswith("UserWarning: not ours"), lines
  assert re.fullmatch(r"\d\d:\d\d:\d\d epoch 1/2  train cost \S+ acc \S+  "
                      r"val cost \S+ acc \S+", lines[3]), lines
