r"""Small jobs, whole process: nn_jax's command line against scikit-learn
(and PyTorch), each run in a fresh process from start to exit.

  python -m benchmarks.startup --repeats=3
  python -m benchmarks.startup --jobs=quickstart,iris,mnist \
      --data_dir=../shared/data/mnist     # the MNIST job needs torch

The jobs (``JOBS``): the quickstart (``python -m experiments.train``:
digits, 64-256-10 ReLU, 80 epochs, batches of 32, momentum), iris (4-8-3,
200 epochs, batches of 32) and MNIST (784-256-256-10 ReLU, plain SGD at
0.05, batches of 128, 10 epochs, PyTorch's default initialization, no
validation set). Each nn_jax run is ``python -m experiments.train`` with the
job's flags, as a user types it: it trains, evaluates and writes its
results, metrics, parameters, TensorBoard events and figures. Its peer is a
plain script in a fresh interpreter: scikit-learn's ``MLPClassifier`` with
the same network, optimizer, epochs, batch size and split sizes (it
evaluates the test set once and prints the accuracy), or, for MNIST, a
plain PyTorch loop (shuffled batches, one evaluation at the end). Beside
them, a bare JAX script of the same network, optimizer, epochs and batch
size (the data from ``nn_jax.data``, or the IDX files; ``jax.grad``),
every epoch in one jitted scan with JAX's persistent compilation cache,
one jitted evaluation at the end, nothing written, JAX imported with the
garbage collector paused as ``experiments.cli`` imports it, and the exit
that ``experiments.cli.run`` makes (``gc.freeze``): for the small jobs, the
least a JAX program of the job costs as a fresh process, without the
library's settings, checks, metrics, files and figures.

Each repeat takes the runs in turn: nn_jax with an empty compilation cache
(cold), the peer, nn_jax again with the cache the cold run filled (warm, the
second run of the same command), the peer again; then the same two with
``--nofigures`` (everything but the figures, which the peers do not
draw), then the bare JAX script cold and warm, each followed by the peer.
The ratios compare the medians (nn_jax / peer: below 1 nn_jax is
faster). Wall-clock seconds are
the result; the processes' CPU seconds (user + system, all threads) are
recorded beside them, as on a shared machine they are less inflated by the
other jobs than wall-clock time. Writes the ``"startup"`` entry of
``--out`` (the other entries are kept) and prints a Markdown table.
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags

from experiments import cli
from experiments import outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = "python -m benchmarks.startup"

flags.DEFINE_list("jobs", ["quickstart", "iris"], "Jobs to run (of "
                  "quickstart, iris, mnist).")
flags.DEFINE_integer("repeats", 3, "Runs of each kind per job; the median "
                     "is reported.")
flags.DEFINE_string("data_dir", "", "Folder of the MNIST IDX files (the "
                    "mnist job).")
flags.DEFINE_integer("epochs", 0, "Epochs of every job (0: each job's own; "
                     "other values for a quick check of the script only).")
flags.DEFINE_string("out", "benchmarks/results.json", "JSON file whose "
                    "\"startup\" entry is written.")
flags.DEFINE_string("markdown_out", "", "Also write the table here.")
FLAGS = flags.FLAGS

# A scikit-learn MLPClassifier run as a user writes it: the data set, the
# split sizes of experiments.train (test 20%, validation 10% of the rest
# left unused here), standardized inputs, one evaluation at the end.
_SKLEARN = """
import json, sys, warnings
import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
job = json.loads(sys.argv[1])
x, y = getattr(datasets, "load_" + job["dataset"])(return_X_y=True)
if job["dataset"] == "digits":
  x = x / 16.0
x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2,
                                                  random_state=0)
n_train = len(x_rest) - round(0.1 * len(x))
x_train, y_train = x_rest[:n_train], y_rest[:n_train]
scaler = StandardScaler().fit(x_train)
net = MLPClassifier(hidden_layer_sizes=job["hidden"], activation="relu",
                    solver="sgd", learning_rate_init=job["learning_rate"],
                    momentum=0.9, nesterovs_momentum=False, alpha=0.0,
                    batch_size=job["batch_size"], max_iter=job["epochs"],
                    tol=0.0, n_iter_no_change=job["epochs"] + 1,
                    shuffle=True, random_state=0)
with warnings.catch_warnings():
  warnings.simplefilter("ignore", ConvergenceWarning)
  net.fit(scaler.transform(x_train), y_train)
print(json.dumps({"test_accuracy": net.score(scaler.transform(x_test),
                                             y_test)}))
"""

# Reads an MNIST IDX file of job["data_dir"], gzip-compressed or not.
_IDX = """
def idx(name):
  path = os.path.join(job["data_dir"], name)
  if os.path.exists(path + ".gz"):
    with gzip.open(path + ".gz", "rb") as f:
      raw = f.read()
  else:
    with open(path, "rb") as f:
      raw = f.read()
  dims = raw[3]
  shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
"""

# A plain PyTorch loop on the MNIST IDX files: nn.Linear's default
# initialization, shuffled batches (the incomplete last one dropped, as
# nn_jax does), one evaluation of the test set at the end.
_TORCH = """
import gzip, json, os, sys
import numpy as np
import torch
from torch import nn
job = json.loads(sys.argv[1])
""" + _IDX + """
x = torch.from_numpy(idx("train-images-idx3-ubyte").reshape(-1, 784) / np.float32(255))
y = torch.from_numpy(idx("train-labels-idx1-ubyte").astype(np.int64))
x_test = torch.from_numpy(idx("t10k-images-idx3-ubyte").reshape(-1, 784) / np.float32(255))
y_test = torch.from_numpy(idx("t10k-labels-idx1-ubyte").astype(np.int64))
torch.manual_seed(0)
sizes = [784, *job["hidden"], 10]
layers = []
for n_in, n_out in zip(sizes[:-1], sizes[1:]):
  layers += [nn.Linear(n_in, n_out), nn.ReLU()]
net = nn.Sequential(*layers[:-1])
opt = torch.optim.SGD(net.parameters(), lr=job["learning_rate"])
loss_fn = nn.CrossEntropyLoss()
batch = job["batch_size"]
for _ in range(job["epochs"]):
  order = torch.randperm(len(x))
  for i in range(0, len(x) // batch * batch, batch):
    b = order[i:i + batch]
    opt.zero_grad()
    loss_fn(net(x[b]), y[b]).backward()
    opt.step()
with torch.no_grad():
  accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
print(json.dumps({"test_accuracy": accuracy}))
"""

# A bare JAX script of the job (see the module's docstring). The
# digits and iris from nn_jax.data (standardized with the training set's
# statistics, 20% held out for the test), MNIST from its IDX files; He
# initialization; momentum 0.9 as scikit-learn's (v = 0.9 v - lr g) for
# the scikit-learn jobs, plain SGD for MNIST's.
_BARE_JAX = """
import gc, gzip, json, os, sys
gc.disable()   # while JAX is imported, as nn_jax's commands do
import numpy as np
import jax
import jax.numpy as jnp
gc.freeze()
gc.enable()
job = json.loads(sys.argv[1])
jax.config.update("jax_compilation_cache_dir",
                  os.environ["NN_JAX_COMPILATION_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
""" + _IDX + """
rng = np.random.default_rng(0)
if job["dataset"] == "mnist":
  x = idx("train-images-idx3-ubyte").reshape(-1, 784) / np.float32(255)
  y = idx("train-labels-idx1-ubyte").astype(np.int32)
  x_test = idx("t10k-images-idx3-ubyte").reshape(-1, 784) / np.float32(255)
  y_test = idx("t10k-labels-idx1-ubyte").astype(np.int32)
  momentum = 0.0
else:
  from nn_jax import data
  d = data.load(job["dataset"])
  order = rng.permutation(len(d.y))
  n_test = round(0.2 * len(d.y))
  x, y = d.x[order[n_test:]], d.y[order[n_test:]]
  x_test, y_test = d.x[order[:n_test]], d.y[order[:n_test]]
  mean, std = x.mean(0), x.std(0) + 1e-8
  x, x_test = (x - mean) / std, (x_test - mean) / std
  momentum = 0.9
sizes = [x.shape[1], *job["hidden"], int(y.max()) + 1]
params = [(jnp.asarray(rng.normal(size=(m, n)) * np.sqrt(2 / m), jnp.float32),
           jnp.zeros(n, jnp.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
def logits(params, x):
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  return x @ params[-1][0] + params[-1][1]
def loss(params, x, y):
  return -jnp.mean(jnp.take_along_axis(
      jax.nn.log_softmax(logits(params, x)), y[:, None], 1))
batch, lr, n = job["batch_size"], job["learning_rate"], len(y)
@jax.jit
def train(params, key, x, y):
  def epoch(carry, key):
    order = jax.random.permutation(key, n)[:n // batch * batch]
    def step(carry, i):
      params, velocity = carry
      grads = jax.grad(loss)(params, x[i], y[i])
      velocity = jax.tree.map(lambda v, g: momentum * v - lr * g, velocity,
                              grads)
      return (jax.tree.map(jnp.add, params, velocity), velocity), None
    return jax.lax.scan(step, carry, order.reshape(-1, batch))[0], None
  carry = (params, jax.tree.map(jnp.zeros_like, params))
  return jax.lax.scan(epoch, carry, jax.random.split(
      key, job["epochs"]))[0][0]
@jax.jit
def accuracy(params, x, y):
  return jnp.mean(jnp.argmax(logits(params, x), 1) == y)
params = train(params, jax.random.PRNGKey(0), x, y)
print(json.dumps({"test_accuracy": float(accuracy(params, x_test,
                                                  y_test))}))
gc.freeze()
"""

JOBS = {
    "quickstart": dict(
        flags=[], peer="scikit-learn", dataset="digits", hidden=[256],
        learning_rate=0.005, batch_size=32, epochs=80,
        what="digits, 64-256-10, 80 epochs, batch 32, momentum"),
    "iris": dict(
        flags=["--dataset=iris", "--hidden=8", "--epochs=200",
               "--batch_size=32"],
        peer="scikit-learn", dataset="iris", hidden=[8], learning_rate=0.005,
        batch_size=32, epochs=200,
        what="iris, 4-8-3, 200 epochs, batch 32, momentum"),
    "mnist": dict(
        flags=["--dataset=mnist", "--hidden=256,256", "--optimizer=sgd",
               "--learning_rate=0.05", "--batch_size=128", "--epochs=10",
               "--validation_fraction=0", "--input_encoding=none",
               "--init=uniform_fan_in"],
        peer="PyTorch", dataset="mnist", hidden=[256, 256],
        learning_rate=0.05, batch_size=128, epochs=10,
        what="MNIST, 784-256-256-10, SGD 0.05, 10 epochs, batch 128"),
}


def timed(argv, env) -> dict:
  """Runs ``argv`` to its exit: wall-clock and CPU seconds; fails on an
  error."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True,
                        text=True, check=False)
  wall = time.perf_counter() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  if proc.returncode != 0:
    raise RuntimeError(f"{' '.join(argv[:4])} ... exited with "
                       f"{proc.returncode}: {proc.stderr.strip()[-2000:]}")
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return {"wall": wall, "cpu": cpu}


def nn_jax_argv(job: dict, workdir: str, epochs: int, data_dir: str) -> list:
  argv = [sys.executable, "-m", "experiments.train", *job["flags"],
          f"--workdir={workdir}"]
  if epochs:
    argv.append(f"--epochs={epochs}")
  if job["dataset"] == "mnist":
    argv.append(f"--data_dir={data_dir}")
  return argv


def script_argv(code: str, job: dict, epochs: int, data_dir: str) -> list:
  """A peer's or the bare JAX script's command: ``code`` and the job."""
  spec = {k: job[k] for k in ("dataset", "hidden", "learning_rate",
                              "batch_size", "epochs")}
  if epochs:
    spec["epochs"] = epochs
  spec["data_dir"] = data_dir
  return [sys.executable, "-c", code, json.dumps(spec)]


def peer_argv(job: dict, epochs: int, data_dir: str) -> list:
  return script_argv(_TORCH if job["peer"] == "PyTorch" else _SKLEARN, job,
                     epochs, data_dir)


# The runs of a job, each followed by a peer's: nn_jax's with extra flags,
# or the bare JAX script; whether it starts with an empty compilation cache
# (cold) or the one the cold run before it filled (warm: the second run of
# the same command).
NN_JAX_KINDS = {"nn_jax_cold": ((), True), "nn_jax_warm": ((), False),
                "nn_jax_nofigures_cold": (("--nofigures",), True),
                "nn_jax_nofigures_warm": (("--nofigures",), False),
                "bare_jax_cold": (None, True), "bare_jax_warm": (None, False)}


def run_job(name: str, repeats: int, epochs: int = 0, data_dir: str = "",
            log=lambda *a: None) -> dict:
  """The job's runs, taken in turn, and the medians and ratios."""
  job = JOBS[name]
  env = {k: v for k, v in os.environ.items()
         if k not in ("NN_JAX_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
  times = {kind: [] for kind in (*NN_JAX_KINDS, "peer")}
  scratch = tempfile.mkdtemp(prefix="nn_jax_startup-")
  try:
    for r in range(repeats):
      for kind in (k for nn_jax_kind in NN_JAX_KINDS
                   for k in (nn_jax_kind, "peer")):
        extra, cold = NN_JAX_KINDS.get(kind, ((), False))
        if cold:   # a new, empty cache
          cache = os.path.join(scratch, f"xla_{kind}{r}")
        run_env = {**env, "NN_JAX_COMPILATION_CACHE": cache}
        if kind == "peer":
          argv = peer_argv(job, epochs, data_dir)
        elif extra is None:
          argv = script_argv(_BARE_JAX, job, epochs, data_dir)
        else:
          argv = nn_jax_argv(job, os.path.join(scratch, "run"), epochs,
                             data_dir) + list(extra)
        times[kind].append(timed(argv, run_env))
        log("%s %d/%d %s: %.2f s (CPU %.2f s)", name, r + 1, repeats, kind,
            times[kind][-1]["wall"], times[kind][-1]["cpu"])
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  median = {kind: {t: statistics.median(x[t] for x in runs)
                   for t in ("wall", "cpu")} for kind, runs in times.items()}
  ratio = {f"{kind}_over_peer": {
      t: median[kind][t] / median["peer"][t] for t in ("wall", "cpu")}
           for kind in NN_JAX_KINDS}
  what = job["what"] + (f" (run at {epochs} epochs)" if epochs else "")
  return {"what": what, "peer": job["peer"],
          "nn_jax_command": " ".join(["python", *nn_jax_argv(
              job, "W", epochs, data_dir or "D")[1:]]).replace(
                  " --workdir=W", ""),
          "runs": times, "median_seconds": median, "ratios": ratio}


def markdown(results: dict) -> str:
  """Three rows per job, nn_jax as run and with --nofigures and the bare
  JAX script: medians (wall-clock, CPU in brackets) and ratios."""
  lines = ["| job | run | cold cache | warm cache | peer, fresh "
           "process | cold / peer | warm / peer |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in results.values():
    m, q = r["median_seconds"], r["ratios"]
    cell = lambda k: f"{m[k]['wall']:.1f} s ({m[k]['cpu']:.1f})"
    for label, cold, warm in (
        ("as typed", "nn_jax_cold", "nn_jax_warm"),
        ("`--nofigures`", "nn_jax_nofigures_cold", "nn_jax_nofigures_warm"),
        ("a bare JAX script", "bare_jax_cold", "bare_jax_warm")):
      lines.append(
          f"| {r['what']} | {label} | {cell(cold)} | {cell(warm)} | "
          f"{r['peer']} {cell('peer')} | "
          f"{q[cold + '_over_peer']['wall']:.2f} | "
          f"{q[warm + '_over_peer']['wall']:.2f} |")
  return "\n".join(lines)


def main(argv):
  del argv
  cli.check(FLAGS.repeats >= 1, "repeats", "must be >= 1")
  cli.check(FLAGS.epochs >= 0, "epochs", "must be >= 0")
  for name in FLAGS.jobs:
    cli.check(name in JOBS, "jobs", f"names of {', '.join(JOBS)}")
  if "mnist" in FLAGS.jobs:
    cli.check(bool(FLAGS.data_dir), "data_dir",
              "the folder of the MNIST IDX files (the mnist job)")
  start = time.perf_counter()
  load_before = os.getloadavg()[0]
  results = {name: run_job(name, FLAGS.repeats, FLAGS.epochs,
                           os.path.abspath(FLAGS.data_dir)
                           if FLAGS.data_dir else "", log=cli.log)
             for name in FLAGS.jobs}
  table = markdown(results)
  entry = {"command": " ".join([COMMAND, *sys.argv[1:]]),
           "repeats": FLAGS.repeats, "jobs": results,
           "markdown_table": table,
           "seconds": time.perf_counter() - start,
           "machine": {**outputs.provenance(), "cpu_count": os.cpu_count(),
                       "load_average_1m_at_start": load_before,
                       "load_average_1m_at_end": os.getloadavg()[0]}}
  existing = {}
  if os.path.exists(FLAGS.out):
    with open(FLAGS.out) as f:
      existing = json.load(f)
  os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
  outputs.write_json(FLAGS.out, {**existing, "startup": entry})
  print(table)
  if FLAGS.markdown_out:
    with open(FLAGS.markdown_out, "w") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  cli.run(main, compilation_cache=False)
