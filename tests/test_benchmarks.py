"""The benchmark suite (``python -m benchmarks.run``) on minimal sizes."""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import pytest

from benchmarks import run
from benchmarks import suite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = suite.Sizes(n_train=96, hidden=(), batch_size=32, n_online=8,
                   members=2, population_hidden=4, population_epochs=1,
                   fit_loop_repetitions=0, nielsen_epochs=1,
                   nielsen_repetitions=1, squares=(16,), matmul_calls=2,
                   repetitions=1)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  """Every benchmark once, on tiny MNIST IDX files; PyTorch if installed."""
  folder = str(tmp_path_factory.mktemp("mnist"))
  mnist_dir = suite.write_idx(folder, *suite.synthetic_mnist(0, 120, 10))
  torch_ref = None
  if importlib.util.find_spec("torch") is not None:
    from benchmarks import torch_ref  # pylint: disable=g-import-not-at-top
  return run.run_suite(suite, TINY, run.BENCHMARKS, mnist_dir, torch_ref,
                       torch_threads=(1,), log=lambda _: None)


@pytest.mark.slow
def test_every_benchmark_reports(results):
  for name in ("epoch", "online", "population"):
    assert all(s > 0 for s in results[name]["median_seconds"].values())
  epoch = results["epoch"]
  assert {"nn_jax_manual", "nn_jax_autodiff", "nn_jax_manual_batch_metrics",
          "sklearn", "matmul_skeleton"} <= set(epoch["median_seconds"])
  assert epoch["median_ratios"]["sklearn_over_manual_batch_metrics"] > 0
  assert epoch["flops"]["steps"] == 96 // 32
  # Hand-written backprop and jax.grad train the same weights.
  assert epoch["max_abs_weight_diff_manual_vs_autodiff"] < 1e-5
  assert {"vmapped", "vmapped_shared_key",
          "sequential_compiled_once_fit_chunks_shared_key"} <= set(
              results["population"]["median_seconds"])
  assert results["population"][
      "max_abs_weight_diff_member0_vmapped_vs_sequential"] < 1e-5
  assert results["matmul"]["best_square_gflops"] > 0
  # forward and dE/dw of the one layer, and the evaluation forward
  assert len(results["matmul"]["shapes"]) == 3
  nielsen = results["nielsen"]["runs"][0]
  assert (nielsen["num_train"], nielsen["num_val"]) == (100, 20)
  assert nielsen["epochs_run"] == 1
  json.dumps(results)   # JSON-ready


@pytest.mark.slow
def test_targets_and_table(results):
  torch = "torch_1_threads" in results["epoch"]["median_seconds"]
  targets = run.check_targets(results, (1,) if torch else ())
  assert len(targets) == len(run.TARGETS)
  assert [t["met"] is None for t in targets] == [
      False, not torch, not torch, False, False, not torch, False, True,
      False, True, False, False]
  table = run.markdown(results, targets, (1,))
  for row in ("nn_jax, manual backprop", "batch metrics", "scikit-learn",
              "fit_population", "one training key shared",
              "Nielsen ch. 1", "best square"):
    assert row in table


@pytest.mark.slow
def test_torch_trains_the_same_weights_in_the_same_order(results):
  pytest.importorskip("torch")
  # Same initial weights, order of examples and updates as nn_jax.
  assert results["epoch"]["max_abs_weight_diff_vs_nn_jax"][
      "torch_1_threads"] < 1e-5
  assert results["online"]["max_abs_weight_diff_vs_nn_jax"] < 1e-5
  assert results["epoch"]["median_ratios"]["torch_1_threads_over_manual"] > 0


@pytest.mark.slow
def test_command_splits_the_population_over_cpu_devices(tmp_path):
  out = tmp_path / "results.json"
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.run", "--benchmarks=population",
       "--members=4", "--population_epochs=1", "--cpu_devices=2",
       "--repetitions=1", "--fit_loop_repetitions=0", "--max_wait_s=0",
       f"--out={out}"], env=env, cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr
  report = json.loads(out.read_text())
  population = report["results"]["population"]
  assert population["devices"] == 2
  assert report["machine"]["jax_device_count"] == 2
  assert population["median_seconds"]["vmapped_over_2_devices"] > 0
  assert population["median_seconds"][
      "vmapped_shared_key_over_2_devices"] > 0
  assert population["median_ratios"][
      "sequential_compiled_once_fit_chunks_shared_key_over_vmapped_shared_"
      "key_over_devices"] > 0
  assert population["max_abs_weight_diff_member0_vmapped_vs_sequential"] < 1e-5
  assert "members over 2 CPU devices" in report["markdown_table"]
  # Four members, one epoch: not the targets' 64 members and 20 epochs.
  assert all(t["met"] is None for t in report["targets"])


def test_flops_count_what_runs():
  sizes = [784, 256, 256, 10]
  # 6 x batch x weights, less the delta not passed down to the inputs.
  assert suite.step_matmul_flops(sizes, 128) == 128 * (
      6 * (784 * 256 + 256 * 256 + 256 * 10) - 2 * 784 * 256)
  flops = suite.epoch_flops(sizes, 128, 60000)
  assert flops["steps"] == 468
  assert flops["eval_matmul"] == 2 * 60000 * (784 * 256 + 256 * 256
                                              + 256 * 10)
  assert flops["train_other"] < 0.01 * flops["train_matmul"]


@pytest.mark.slow
def test_flagfiles_read_as_experiments_train_reads_them():
  # The suite cannot import experiments.train (their flags would clash), so
  # it reads flagfiles on flags of its own; every preset must come out the
  # same.
  folder = os.path.join(ROOT, "experiments", "flags")
  paths = sorted(os.path.join(folder, f) for f in os.listdir(folder))
  code = ("import json, sys\n"
          "from absl import flags\n"
          "from experiments import cli\n"
          "from experiments import train\n"
          "for path in sys.argv[1:]:\n"
          "  flags.FLAGS.unparse_flags()\n"
          "  flags.FLAGS(['train', '--flagfile=' + path])\n"
          "  print(json.dumps(cli.config_from_flags().flat()))\n")
  proc = subprocess.run([sys.executable, "-c", code, *paths], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  expected = [json.loads(line) for line in proc.stdout.splitlines()]
  assert len(expected) == len(paths) >= 8
  for path, want in zip(paths, expected):
    got = json.loads(json.dumps(suite.config_from_flagfile(path).flat()))
    assert got == want, path


def test_nielsen_flagfile_config():
  config = suite.config_from_flagfile(suite.NIELSEN_FLAGFILE, data_dir="d")
  data, net, optim, fit = config.data, config.net, config.optim, config.fit
  assert (data.dataset, data.data_dir) == ("mnist", "d")
  assert (net.hidden, net.activation) == ((30,), "sigmoid")
  assert (net.loss, net.init) == ("sigmoid_squared", "normal")
  assert (optim.optimizer, optim.learning_rate) == ("sgd", 3.0)
  assert (fit.batch_size, fit.epochs) == (10, 30)
  assert data.input_encoding == "none"
  assert round(60000 * data.validation_fraction) == 10000
  assert data.split_order == "file"


@pytest.mark.slow
def test_loading_benchmark_files_and_measurements(tmp_path):
  from benchmarks import loading  # pylint: disable=g-import-not-at-top
  path = loading.write_csv(str(tmp_path / "big.csv"), 500)
  with open(path) as f:
    lines = f.read().splitlines()
  assert lines[0] == "a,b,c,d,color,size,label" and len(lines) == 501
  assert {l.split(",")[4] for l in lines[1:]} == {"red", "green", "blue"}
  csv_run = loading.child("csv", path)
  assert csv_run["error"] is None and csv_run["seconds"] > 0
  assert csv_run["shapes"]["train"] == [360, 9]   # 4 + 3 colors + 2 sizes
  bomb = loading.write_npz_bomb(str(tmp_path / "bomb.npz"), 0.01)
  with zipfile.ZipFile(bomb) as z:
    sizes = {i.filename: (i.file_size, i.compress_size) for i in z.infolist()}
  assert sizes["extra.npy"][0] > 0.01 * 2**30 > 100 * sizes["extra.npy"][1]
  bomb_run = loading.child("npz_bomb", bomb)
  assert bomb_run["error"] is None and bomb_run["peak_growth"] < 0.01 * 2**30
  table = loading.table({"csv": {"rows": 500, "file_bytes": os.path.getsize(
      path), "median_seconds": 1.0, "median_cpu_seconds": 1.0,
                                  "median_peak_growth": 2**20,
                                  "runs": [csv_run]}})
  assert "| CSV, 500 rows, as a run loads it |" in table
