r"""The benchmark suite: nn_jax against PyTorch, scikit-learn and itself.

  python -m benchmarks.run --data_dir=../shared/data/mnist
  python -m benchmarks.run --benchmarks=epoch,matmul --repetitions=3

Measures in one run, on the same data, network, initial weights and order of
examples (see ``benchmarks/suite.py`` for each measurement):

* ``epoch``: one epoch of 60,000 x 784 through 784-256-256-10 ReLU, softmax
  cross-entropy, plain SGD, batch 128: nn_jax with hand-written backprop and
  with ``jax.grad``, PyTorch on the CPU, scikit-learn's ``MLPClassifier``,
  and the epoch's matmuls alone; the achieved GFLOP/s;
* ``online``: online SGD (batch size 1) over 10,000 examples, same network:
  nn_jax (optimizer ``delayed_sgd``) vs PyTorch;
* ``population``: 64 networks 64-32-10 on digits, 20 epochs each: one
  vmapped ``population.fit_population`` call (on one device, and with the
  members split over ``--cpu_devices`` CPU devices) vs one training after
  another;
* ``matmul``: the float32 matmul rate of each matmul shape of a training
  step and of square matrices;
* ``nielsen``: Nielsen's ch. 1 network ([784, 30, 10] sigmoid, quadratic
  cost, eta 3, mini-batches of 10, 30 epochs) end to end through
  ``nn_jax.experiment.train_and_evaluate``.

``--data_dir`` names a folder with the MNIST IDX files; without it the data
are random images of MNIST's shapes. Prints the table (Markdown, as in
BENCHMARKS.md) and writes ``--out`` (JSON): every repetition's times, the
per-repetition ratios, their medians, the targets and whether each is met,
versions, and how busy the machine's other processes kept the CPUs.
"""

import os

if __name__ == "__main__":
  # OpenBLAS reads these when NumPy loads, and they slow scikit-learn's
  # matmuls; they are dropped for this process only (and recorded), before
  # any import can load NumPy.
  _REMOVED_ENV = {k: os.environ.pop(k) for k in
                  ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                  if k in os.environ}
else:
  _REMOVED_ENV = {}

# pylint: disable=g-import-not-at-top,wrong-import-position
import importlib.util
import platform
import sys
import time

from absl import flags
import jax

from experiments import cli
from experiments import outputs

BENCHMARKS = ("epoch", "online", "population", "matmul", "nielsen")

flags.DEFINE_list("benchmarks", list(BENCHMARKS),
                  f"Which to run: {', '.join(BENCHMARKS)}.")
flags.DEFINE_string("data_dir", "", "Folder of the MNIST IDX files; empty: "
                    "synthetic data of MNIST's shapes.")
flags.DEFINE_enum("platform", "cpu", ["cpu", "gpu"], "JAX platform (sets "
                  "JAX_PLATFORMS before JAX starts its back-ends).")
flags.DEFINE_integer("repetitions", 5, "Timed repetitions; medians are "
                     "reported.")
flags.DEFINE_integer("n_train", 60000, "Examples of the batch epoch.")
flags.DEFINE_integer("n_online", 10000, "Examples of the online epoch.")
flags.DEFINE_float("online_learning_rate", 0.01, "Learning rate of the "
                   "online epoch (optimizer delayed_sgd).")
flags.DEFINE_list("hidden", ["256", "256"], "Hidden layers of the MNIST "
                  "network.")
flags.DEFINE_integer("batch_size", 128, "Mini-batch size of the epoch.")
flags.DEFINE_float("learning_rate", 0.1, "SGD learning rate (all but "
                   "Nielsen's network, which uses its flagfile's 3.0).")
flags.DEFINE_integer("members", 64, "Networks in the population.")
flags.DEFINE_integer("population_epochs", 20, "Epochs per member.")
flags.DEFINE_integer("cpu_devices", 0, "CPU devices for the population "
                     "split over devices (XLA_FLAGS' "
                     "--xla_force_host_platform_device_count, set before JAX "
                     "starts its back-ends; everything else runs on the "
                     "first one); 0: one per core.")
flags.DEFINE_integer("fit_loop_repetitions", 1, "Repetitions of the "
                     "train.fit loop as is (0: not timed).")
flags.DEFINE_integer("nielsen_epochs", 30, "Epochs of Nielsen's network.")
flags.DEFINE_integer("nielsen_train_size", 0, "Training images of Nielsen's "
                     "network (0: all 50,000).")
flags.DEFINE_integer("nielsen_repetitions", 3, "End-to-end runs of "
                     "Nielsen's network.")
flags.DEFINE_list("squares", ["256", "512", "1024", "2048"], "Sizes of the "
                  "square matmuls.")
flags.DEFINE_integer("matmul_calls", 50, "Calls per timed matmul shape.")
flags.DEFINE_list("torch_threads", [], "PyTorch thread counts to time "
                  "(default: the number of cores, then 1); the first one "
                  "gives the ratios that the targets use.")
flags.DEFINE_boolean("torch", True, "Time PyTorch (if installed).")
flags.DEFINE_boolean("sklearn", True, "Time scikit-learn.")
flags.DEFINE_float("max_wait_s", 60.0, "Before each timing, wait up to this "
                   "long for other processes to leave the CPUs alone (under "
                   "0.25 cores for 0.5 s); 0: never wait.")
flags.DEFINE_integer("seed", 0, "Seed of weights, orders and data.")
flags.DEFINE_string("out", "benchmarks/results.json", "Where to write the "
                    "results.")
flags.DEFINE_string("markdown_out", "", "Also write the table here.")
FLAGS = flags.FLAGS

COMMAND = "python -m benchmarks.run"

# name, (section, ratio) in the results, comparison, threshold
TARGETS = (
    ("manual / jax.grad, batch-128 epoch", ("epoch", "manual_over_autodiff"),
     "<=", 1.00),
    ("PyTorch / nn_jax, batch-128 epoch", ("epoch", "torch_over_manual"),
     ">=", 1.6),
    ("PyTorch / nn_jax, batch-128 epoch, same work (batch metrics)",
     ("epoch", "torch_over_manual_batch_metrics"), ">=", 1.6),
    ("scikit-learn / nn_jax, batch-128 epoch",
     ("epoch", "sklearn_over_manual"), ">=", 4.0),
    ("scikit-learn / nn_jax, batch-128 epoch, same work (batch metrics)",
     ("epoch", "sklearn_over_manual_batch_metrics"), ">=", 4.0),
    ("PyTorch / nn_jax, online", ("online", "torch_over_manual"), ">=", 10.0),
    ("64 sequential (compiled once) / one vmapped run",
     ("population", "sequential_compiled_once_fit_chunks_over_vmapped"),
     ">=", 4.0),
    ("64 sequential (compiled once) / one vmapped run, members over the "
     "CPU devices", ("population",
                     "sequential_compiled_once_fit_chunks_over_vmapped_over_"
                     "devices"), ">=", 4.0),
    ("64 sequential (compiled once) / one vmapped run, one training key "
     "shared by the members", ("population",
                               "sequential_compiled_once_fit_chunks_shared_"
                               "key_over_vmapped_shared_key"), ">=", 4.0),
    ("64 sequential (compiled once) / one vmapped run, one training key "
     "shared by the members, members over the CPU devices",
     ("population", "sequential_compiled_once_fit_chunks_shared_key_over_"
                    "vmapped_shared_key_over_devices"), ">=", 4.0),
    ("achieved / matmul rate of its shapes, batch-128 epoch",
     ("gflops", "fraction_of_epoch_matmuls_alone"), ">=", 0.80),
    ("Nielsen ch. 1, 30 epochs, wall seconds", ("nielsen", "wall"), "<",
     10.0),
)


def torch_module(wanted: bool):
  """``benchmarks.torch_ref`` if torch is installed and wanted, else None."""
  if not wanted or importlib.util.find_spec("torch") is None:
    return None
  from benchmarks import torch_ref
  return torch_ref


def int_list(name: str) -> tuple:
  """The integers of the list flag ``--name``; a one-line error otherwise."""
  try:
    values = tuple(int(v) for v in FLAGS[name].value)
  except ValueError:
    values = ()
  if not all(v >= 1 for v in values) or len(values) != len(FLAGS[name].value):
    cli.fail(f"--{name}={','.join(FLAGS[name].value)}: comma-separated "
             "positive integers")
  return values


def thread_counts(requested) -> tuple:
  cores = os.cpu_count() or 1
  if requested:
    return requested
  return tuple(dict.fromkeys((cores, 1)))


def run_suite(suite, sizes, which, data_dir: str, torch_ref=None,
              torch_threads: tuple = (), sklearn: bool = True,
              log=print) -> dict:
  """Runs the benchmarks named in ``which``; returns their results by name."""
  results = {}
  layer_sizes = None
  if "epoch" in which or "online" in which:
    n = max(sizes.n_train if "epoch" in which else 0,
            sizes.n_online if "online" in which else 0)
    x, labels, source = suite.mnist_arrays(data_dir, n, sizes.seed)
    results["data"] = source
  if "epoch" in which:
    log(f"epoch: {sizes.n_train} x {x.shape[1]}, batch {sizes.batch_size}")
    results["epoch"] = suite.bench_epoch(
        x[:sizes.n_train], labels[:sizes.n_train], sizes, torch_ref,
        torch_threads, sklearn, log)
    layer_sizes = results["epoch"]["layer_sizes"]
  if "online" in which:
    log(f"online: {sizes.n_online} examples, batch 1")
    results["online"] = suite.bench_online(x, labels, sizes, torch_ref,
                                           torch_threads, log)
  if "population" in which:
    log(f"population: {sizes.members} members, {sizes.population_epochs} "
        "epochs")
    results["population"] = suite.bench_population(sizes, log)
  if "matmul" in which:
    log("matmul rates")
    layer_sizes = layer_sizes or [784, *sizes.hidden, suite.NUM_CLASSES]
    results["matmul"] = suite.bench_matmul(layer_sizes, sizes, log)
  if "epoch" in which and "matmul" in which:
    e, mm = results["epoch"], results["matmul"]
    results["gflops"] = {
        "achieved_manual": e["gflops_manual"],
        "achieved_manual_conventional_6bp":
            e["gflops_manual_conventional_6bp"],
        "epoch_matmuls_alone": mm["epoch_weighted_gflops"],
        "epoch_matmuls_in_one_program": e["gflops_matmul_skeleton"],
        "best_square": mm["best_square_gflops"],
        "fraction_of_epoch_matmuls_alone":
            e["gflops_manual"] / mm["epoch_weighted_gflops"],
        "fraction_of_best_square":
            e["gflops_manual"] / mm["best_square_gflops"],
    }
  if "nielsen" in which:
    log("Nielsen ch. 1 end to end")
    results["nielsen"] = suite.bench_nielsen(data_dir, sizes, log)
  return results


def _lookup(results: dict, where: tuple, torch_name: str):
  section, name = where
  if section not in results:
    return None
  if section == "nielsen":
    return results["nielsen"]["median_wall_seconds"]
  if section == "gflops":
    return results["gflops"][name]
  name = name.replace("torch_", f"{torch_name}_") if torch_name else name
  return results[section]["median_ratios"].get(name)


# The flags that set the work the targets are stated for (64 members, 30
# epochs, ...): with other values a target is shown but not judged.
SIZE_FLAGS = ("n_train", "n_online", "online_learning_rate", "hidden",
              "batch_size", "learning_rate", "members", "population_epochs",
              "nielsen_epochs", "nielsen_train_size")


def check_targets(results: dict, torch_threads: tuple,
                  judged: bool = True) -> list:
  """``[{"target", "value", "goal", "met"}]`` for the benchmarks that ran;
  ``met`` is None (not judged) unless ``judged`` (the targets' sizes)."""
  torch_name = f"torch_{torch_threads[0]}_threads" if torch_threads else None
  rows = []
  for name, where, op, threshold in TARGETS:
    value = _lookup(results, where, torch_name)
    met = None
    if value is not None and judged:
      met = bool({"<=": value <= threshold, ">=": value >= threshold,
                  "<": value < threshold}[op])
    rows.append({"target": name, "value": value, "goal": f"{op} {threshold}",
                 "met": met})
  return rows


def _s(seconds) -> str:
  return "" if seconds is None else (f"{seconds:.3f}" if seconds < 10
                                     else f"{seconds:.1f}")


def _x(ratio) -> str:
  return "" if ratio is None else f"{ratio:.2f}x"


def markdown(results: dict, targets: list, torch_threads: tuple) -> str:
  """The tables of BENCHMARKS.md: medians, ratios (median of per-repetition
  ratios), and the targets."""
  lines = ["| benchmark | implementation | median s | ratio |",
           "| --- | --- | ---: | ---: |"]
  row = lambda *c: lines.append("| " + " | ".join(c) + " |")
  e = results.get("epoch")
  if e:
    m, r = e["median_seconds"], e["median_ratios"]
    what = f"epoch, batch {e['batch_size']}"
    row(what, "nn_jax, manual backprop", _s(m["nn_jax_manual"]), "1.00x")
    row(what, "nn_jax, `jax.grad`", _s(m["nn_jax_autodiff"]),
        "manual / jax.grad " + _x(r["manual_over_autodiff"]))
    row(what, "nn_jax, manual, batch metrics (no second pass)",
        _s(m["nn_jax_manual_batch_metrics"]),
        _x(m["nn_jax_manual_batch_metrics"] / m["nn_jax_manual"]))
    for t in torch_threads:
      name = f"torch_{t}_threads"
      if name in m:
        row(what, f"PyTorch CPU, {t} thread{'s' * (t > 1)}", _s(m[name]),
            _x(r[f"{name}_over_manual"]))
    if "sklearn" in m:
      row(what, "scikit-learn `MLPClassifier`", _s(m["sklearn"]),
          _x(r["sklearn_over_manual"]))
    row(what, "its matmuls alone (XLA, same shapes)",
        _s(m["matmul_skeleton"]), _x(m["matmul_skeleton"]
                                     / m["nn_jax_manual"]))
  o = results.get("online")
  if o:
    m, r = o["median_seconds"], o["median_ratios"]
    what = f"online, {o['n']} steps"
    row(what, "nn_jax, manual backprop", _s(m["nn_jax_manual"]), "1.00x")
    for t in torch_threads:
      name = f"torch_{t}_threads"
      if name in m:
        row(what, f"PyTorch CPU, {t} thread{'s' * (t > 1)}", _s(m[name]),
            _x(r[f"{name}_over_manual"]))
  p = results.get("population")
  if p:
    m, r = p["median_seconds"], p["median_ratios"]
    what = f"{p['members']} x 64-32-10, {p['epochs']} epochs"
    # The members' own keys, then one key shared by them: each call, split
    # over the devices, and the sequential runs with the same keys.
    for key, call, sequential in (
        ("", "one `fit_population` call (vmap)",
         (("fit_chunks", "fit's chunks"), ("one_call", "1 call each"))),
        ("_shared_key", "one call, one training key shared by the members",
         (("fit_chunks", "fit's chunks, the shared key"),))):
      vmapped = f"vmapped{key}"
      row(what, call, _s(m[vmapped]), "1.00x")
      if p.get("devices", 1) > 1:
        row(what, f"the same call, members over {p['devices']} CPU devices",
            _s(m[f"{vmapped}_over_{p['devices']}_devices"]),
            _x(1 / r[f"{vmapped}_over_{vmapped}_over_devices"]))
      for name, label in sequential:
        name = f"sequential_compiled_once_{name}{key}"
        row(what, f"sequential, compiled once, {label}", _s(m[name]),
            _x(r[f"{name}_over_{vmapped}"]))
      if not key and "sequential_train_fit_as_is" in m:
        row(what, "sequential `train.fit` as is",
            _s(m["sequential_train_fit_as_is"]),
            _x(r["sequential_train_fit_as_is_over_vmapped"]))
  n = results.get("nielsen")
  if n:
    row(f"Nielsen ch. 1, {n['config']['epochs']} epochs",
        "`train_and_evaluate`, end to end", _s(n["median_wall_seconds"]),
        f"test acc. {n['median_test_accuracy']:.4f}")
  out = "\n".join(lines)
  g = results.get("gflops")
  if e:
    out += "\n\n| GFLOP/s, batch-128 epoch | value |\n| --- | ---: |\n"
    out += (f"| nn_jax manual, all executed FLOPs (training + evaluation) | "
            f"{e['gflops_manual']:.1f} |\n")
    out += (f"| nn_jax manual, counting 6 x batch x weights per step only | "
            f"{e['gflops_manual_conventional_6bp']:.1f} |\n")
    out += (f"| the epoch's matmuls in one XLA program, nothing else | "
            f"{e['gflops_matmul_skeleton']:.1f} |")
  if g:
    out += (f"\n| the epoch's matmul shapes, each a jitted `jnp.dot` | "
            f"{g['epoch_matmuls_alone']:.1f} |\n")
    out += (f"| best square `jnp.dot` "
            f"({', '.join(map(str, results['matmul']['squares_gflops']))}) | "
            f"{g['best_square']:.1f} |\n")
    out += (f"| achieved / its matmul shapes alone | "
            f"{g['fraction_of_epoch_matmuls_alone']:.2f} |\n")
    out += (f"| achieved / best square | "
            f"{g['fraction_of_best_square']:.2f} |")
  out += "\n\n| target | value | goal | met |\n| --- | ---: | --- | --- |\n"
  met = {None: "", True: "yes", False: "no"}
  out += "\n".join(
      f"| {t['target']} | "
      f"{'' if t['value'] is None else format(t['value'], '.2f')} | "
      f"{t['goal']} | {met[t['met']]} |" for t in targets)
  return out


def machine(torch_ref) -> dict:
  """Versions, CPU, load and the environment that shapes the timings."""
  import sklearn  # pylint: disable=g-import-not-at-top
  cpu = None
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((l.split(":", 1)[1].strip() for l in f
                  if l.startswith("model name")), None)
  except OSError:
    pass
  info = outputs.provenance()
  info.update({
      "cpu_count": os.cpu_count(), "cpu": cpu,
      "platform": platform.platform(), "sklearn": sklearn.__version__,
      "torch": torch_ref.version() if torch_ref else None,
      "jax_backend": jax.default_backend(),
      "jax_platforms_env": os.environ.get("JAX_PLATFORMS"),
      "xla_flags_env": os.environ.get("XLA_FLAGS"),
      "jax_device_count": jax.device_count(),
      "openblas_env_removed_for_this_run": _REMOVED_ENV,
      "load_average_1m_at_end": os.getloadavg()[0],
  })
  return info


def main(argv):
  del argv
  which = tuple(FLAGS.benchmarks)
  for b in which:
    cli.check(b in BENCHMARKS, "benchmarks",
              f"each one of {', '.join(BENCHMARKS)}")
  cli.check(FLAGS.repetitions >= 1, "repetitions", "must be >= 1")
  cli.check(FLAGS.n_train >= FLAGS.batch_size >= 1, "n_train",
            "must be >= --batch_size >= 1")
  cli.check(FLAGS.n_online >= 1, "n_online", "must be >= 1")
  cli.check(FLAGS.members >= 1, "members", "must be >= 1")
  cli.check(FLAGS.cpu_devices >= 0, "cpu_devices", "must be >= 0")
  cli.check(FLAGS.nielsen_repetitions >= 1, "nielsen_repetitions",
            "must be >= 1")
  for name in ("population_epochs", "nielsen_epochs", "matmul_calls"):
    cli.check(FLAGS[name].value >= 1, name, "must be >= 1")
  cli.check(FLAGS.fit_loop_repetitions >= 0, "fit_loop_repetitions",
            "must be >= 0 (0: not timed)")
  cli.check(FLAGS.nielsen_train_size >= 0, "nielsen_train_size",
            "must be >= 0 (0: all 50,000)")
  for name in ("learning_rate", "online_learning_rate"):
    cli.check(0 < FLAGS[name].value < float("inf"), name,
              "must be > 0 and finite")
  # JAX starts its back-ends at the first computation, so these settings
  # still take effect.
  os.environ["JAX_PLATFORMS"] = FLAGS.platform
  jax.config.update("jax_platforms", FLAGS.platform)
  cpu_devices = FLAGS.cpu_devices or os.cpu_count() or 1
  if FLAGS.platform == "cpu" and cpu_devices > 1:
    flag = f"--xla_force_host_platform_device_count={cpu_devices}"
    if "xla_force_host_platform_device_count" not in os.environ.get(
        "XLA_FLAGS", ""):
      os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}"
  if jax.default_backend() != FLAGS.platform:
    cli.fail(f"--platform={FLAGS.platform}: JAX started on "
          f"{jax.default_backend()} before it could take effect")
  from benchmarks import suite
  sizes = suite.Sizes(
      n_train=FLAGS.n_train, hidden=int_list("hidden"),
      batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
      n_online=FLAGS.n_online,
      online_learning_rate=FLAGS.online_learning_rate, members=FLAGS.members,
      population_epochs=FLAGS.population_epochs,
      population_devices=cpu_devices if FLAGS.platform == "cpu" else 1,
      fit_loop_repetitions=FLAGS.fit_loop_repetitions,
      nielsen_epochs=FLAGS.nielsen_epochs,
      nielsen_train_size=FLAGS.nielsen_train_size,
      nielsen_repetitions=FLAGS.nielsen_repetitions,
      squares=int_list("squares"),
      matmul_calls=FLAGS.matmul_calls, repetitions=FLAGS.repetitions,
      max_wait_s=FLAGS.max_wait_s, seed=FLAGS.seed)
  torch_ref = torch_module(FLAGS.torch)
  threads = thread_counts(int_list("torch_threads")) if torch_ref else ()
  start = time.perf_counter()
  results = run_suite(suite, sizes, which, FLAGS.data_dir, torch_ref,
                      threads, FLAGS.sklearn, log=cli.log)
  at_target_sizes = all(FLAGS[f].value == FLAGS[f].default
                        for f in SIZE_FLAGS)
  if not at_target_sizes:
    cli.log("sizes other than the defaults: the targets are not judged")
  targets = check_targets(results, threads, at_target_sizes)
  table = markdown(results, targets, threads)
  argv_used = " ".join(a for a in sys.argv[1:])
  out = {"command": f"{COMMAND} {argv_used}".strip(),
         "sizes": sizes._asdict(), "torch_threads": threads,
         "results": results, "targets": targets, "markdown_table": table,
         "seconds": time.perf_counter() - start,
         "machine": machine(torch_ref)}
  if not torch_ref:
    out["note"] = "PyTorch not installed or --notorch: its rows are missing"
  print(table)
  os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
  outputs.write_json(FLAGS.out, out)
  if FLAGS.markdown_out:
    with open(FLAGS.markdown_out, "w") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  cli.run(main, compilation_cache=False)   # timings include compiling
