"""The measurements behind ``python -m benchmarks.run``.

Every function here takes plain values (no flags) and returns a JSON-ready
dict of seconds, rates and checks. Timings of compiled JAX code call the
function once first (compilation excluded) and wait with
``jax.block_until_ready``; several implementations of one task are timed in
turn within each repetition, so that a load change on the machine hits them
alike, and each repetition's ratio is kept.

The nn_jax epoch is the library's own loop: ``epoch.make_epoch`` +
``epoch.init_state`` + ``jax.jit`` of the epoch function, as ``train.fit``
builds it. Every repetition starts from the same state, so every
implementation runs the same first epoch: same initial weights, same data,
same order of examples.
"""

import functools
import gzip
import os
import statistics
import struct
import tempfile
import time
import warnings
from typing import Callable, NamedTuple

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from nn_jax import config as config_lib
from nn_jax import epoch as epoch_lib
from nn_jax import experiment
from nn_jax import mlp
from nn_jax import mnist
from nn_jax import optimizers
from nn_jax import population as population_lib
from nn_jax import train

NUM_CLASSES = 10
MNIST_TRAIN, MNIST_TEST, MNIST_SIDE = 60000, 10000, 28
NIELSEN_FLAGFILE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "experiments", "flags", "nielsen_ch1.flags")


class Sizes(NamedTuple):
  """How big each benchmark is (the defaults are the published sizes)."""
  n_train: int = MNIST_TRAIN        # examples of the batch epoch
  hidden: tuple = (256, 256)
  batch_size: int = 128
  learning_rate: float = 0.1
  n_online: int = 10000             # examples of the online epoch
  online_learning_rate: float = 0.01  # 0.1 is unstable one example at a time
  members: int = 64                 # population size
  population_hidden: int = 32
  population_epochs: int = 20
  population_batch_size: int = 32
  population_devices: int = 1       # also time the members split over these
  fit_loop_repetitions: int = 1     # train.fit x members, as is
  nielsen_epochs: int = 30
  nielsen_train_size: int = 0       # 0: all 50,000
  nielsen_repetitions: int = 3
  squares: tuple = (256, 512, 1024, 2048)
  matmul_calls: int = 50            # calls per timed matmul shape
  repetitions: int = 5
  max_wait_s: float = 0.0           # wait for a quiet machine, per timing
  seed: int = 0


# ---------------------------------------------------------------- helpers


def median(values) -> float:
  return float(statistics.median(values))


def block_time(fn: Callable) -> float:
  """Wall-clock seconds of ``fn()``, waiting for its JAX results."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


class Contention:
  """Measures what other processes use of the CPUs during a ``with`` block.

  ``other_cores`` is the CPU time of every other process on the machine
  (from ``/proc/stat``, minus this process's own) divided by the wall time:
  0 on an idle machine, 1.0 when another job keeps one core busy. ``None``
  where ``/proc/stat`` does not exist.
  """

  def __init__(self):
    self.other_cores = None

  @staticmethod
  def _busy_seconds():
    try:
      with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
      return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

  def __enter__(self):
    self._busy = self._busy_seconds()
    self._own = sum(os.times()[:2])
    self._wall = time.perf_counter()
    return self

  def __exit__(self, *exc):
    busy = self._busy_seconds()
    if busy is not None and self._busy is not None:
      wall = time.perf_counter() - self._wall
      other = (busy - self._busy) - (sum(os.times()[:2]) - self._own)
      self.other_cores = max(0.0, other) / max(wall, 1e-9)
    return False


def wait_for_quiet(max_wait_s: float, threshold: float = 0.25,
                   window_s: float = 0.5) -> float:
  """Waits until other processes use under ``threshold`` cores for
  ``window_s`` (or ``max_wait_s`` have passed); returns the seconds waited."""
  start = time.perf_counter()
  while time.perf_counter() - start < max_wait_s:
    with Contention() as c:
      time.sleep(window_s)
    if c.other_cores is None or c.other_cores < threshold:
      break
  return time.perf_counter() - start


def interleaved(runners: dict, repetitions: int, max_wait_s: float,
                log: Callable[[str], None], label: str):
  """Times every runner once per repetition, in turn.

  Each runner returns its own seconds. Before each measurement we wait (up
  to ``max_wait_s``) for the other processes to leave the CPUs alone.

  Returns:
    ``(times, other_cores, waited_s)``: per runner the list of seconds and of
    the other processes' CPU use during each measurement, and the total
    wait.
  """
  times = {name: [] for name in runners}
  other = {name: [] for name in runners}
  waited = 0.0
  for r in range(repetitions):
    for name, run in runners.items():
      waited += wait_for_quiet(max_wait_s)
      with Contention() as c:
        times[name].append(run())
      other[name].append(c.other_cores)
    log(f"  {label} repetition {r + 1}/{repetitions}: " + ", ".join(
        f"{k} {v[-1]:.3f}s" for k, v in times.items()))
  return times, other, waited


def max_abs_diff(params_a, params_b) -> float:
  """Largest absolute difference between two parameter lists."""
  return float(max(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))
                   for a, b in zip(params_a, params_b) for k in a))


def epoch_order(key, n: int) -> np.ndarray:
  """The order of examples in ``epoch.make_epoch``'s epoch from the raw key
  ``key`` (``epoch.host_draws``). The other libraries get this order;
  their final weights matching nn_jax's (``max_abs_diff``) checks it.
  """
  drawn = epoch_lib.host_draws(key, n, 1, True)
  if drawn is None:
    raise ValueError("epoch_order needs a raw Threefry key (jax.random."
                     "PRNGKey) and at most 2^24 examples")
  return drawn.orders[0]


# ------------------------------------------------------------------- data


def synthetic_mnist(seed: int, n_train: int = MNIST_TRAIN,
                    n_test: int = MNIST_TEST):
  """Random uint8 images and labels of MNIST's shapes (a NumPy generator)."""
  rng = np.random.default_rng(seed)
  side = MNIST_SIDE
  return (rng.integers(0, 256, (n_train, side, side), np.uint8),
          rng.integers(0, NUM_CLASSES, n_train).astype(np.uint8),
          rng.integers(0, 256, (n_test, side, side), np.uint8),
          rng.integers(0, NUM_CLASSES, n_test).astype(np.uint8))


def write_idx(folder: str, train_images, train_labels, test_images,
              test_labels) -> str:
  """Writes the four arrays as gzip-compressed MNIST IDX files in ``folder``."""
  arrays = {"train_images": (train_images, mnist.IMAGES_MAGIC),
            "train_labels": (train_labels, mnist.LABELS_MAGIC),
            "test_images": (test_images, mnist.IMAGES_MAGIC),
            "test_labels": (test_labels, mnist.LABELS_MAGIC)}
  os.makedirs(folder, exist_ok=True)
  for key, (array, magic) in arrays.items():
    head = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I",
                                                  *array.shape)
    with gzip.open(os.path.join(folder, mnist.FILES[key] + ".gz"), "wb",
                   compresslevel=1) as f:
      f.write(head + np.ascontiguousarray(array, np.uint8).tobytes())
  return folder


def mnist_arrays(data_dir: str, n_train: int, seed: int):
  """``(x, labels, source)``: the first ``n_train`` training images as float32
  in [0, 1] and their int labels, from ``data_dir`` or synthetic if empty."""
  if data_dir:
    train_set, _ = mnist.load_mnist(data_dir, limit=n_train,
                                    download_missing=False)
    return train_set.x, train_set.y, f"MNIST from {data_dir}"
  images, labels, _, _ = synthetic_mnist(seed, n_train, 1)
  x = images.reshape(n_train, -1).astype(np.float32) / 255.0
  return x, labels.astype(np.int32), "synthetic (uniform random pixels)"


def make_data(x: np.ndarray, labels: np.ndarray) -> train.Data:
  """Training data for ``train``: one-hot targets, no validation set."""
  n_in = x.shape[1]
  return train.Data(jnp.asarray(x), jax.nn.one_hot(labels, NUM_CLASSES),
                    jnp.zeros((0, n_in)), jnp.zeros((0, NUM_CLASSES)))


def mnist_setup(x: np.ndarray, labels: np.ndarray, sizes: "Sizes",
                optimizer: str, learning_rate: float):
  """The epoch and online benchmarks' start: ReLU network, softmax
  cross-entropy, the plain SGD ``optimizer`` (``sgd`` or ``delayed_sgd``)
  at ``learning_rate``, data and initial state.

  Returns ``(layer_sizes, model, params, optimizer, data, key, state0)``.
  """
  layer_sizes = [x.shape[1], *sizes.hidden, NUM_CLASSES]
  model = mlp.make_model("relu", "softmax_cross_entropy")
  params = mlp.init(jax.random.PRNGKey(sizes.seed), layer_sizes, model)
  optimizer = optimizers.make(optimizer, learning_rate)
  key = jax.random.PRNGKey(sizes.seed + 1)
  state0 = train.init_state(params, model, optimizer, key)
  return (layer_sizes, model, params, optimizer, make_data(x, labels), key,
          state0)


def torch_runners(torch_ref, base, threads: tuple) -> dict:
  """``{"torch_T_threads": run}``: ``base()`` with T PyTorch threads."""
  def runner(t):
    def run():
      torch_ref.set_threads(t)
      return base()
    return run
  return {f"torch_{t}_threads": runner(t) for t in threads}


# ------------------------------------------------------------------ FLOPs


def step_matmul_flops(layer_sizes, batch: int) -> int:
  """Multiply-adds x 2 of one training step's matmuls, as executed.

  Per layer ``l`` with ``n_in x n_out`` weights: the forward ``a @ w.T``
  and the weight gradient ``delta.T @ a`` (``2 * batch * n_in * n_out``
  each), and ``delta @ w`` to pass delta down, except at the first layer
  (nothing is passed to the inputs). This is ``6 * batch * sum(n_in *
  n_out)`` less ``2 * batch * n_in * n_out`` of the first layer.
  """
  pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
  return sum((4 if l == 0 else 6) * batch * n_in * n_out
             for l, (n_in, n_out) in enumerate(pairs))


def step_other_flops(layer_sizes, batch: int) -> int:
  """Lower-order FLOPs of one step: bias add, activation and its derivative,
  bias gradient (``4 * batch * n_out`` per layer), softmax and its delta
  (``5 * batch * classes``) and the SGD update (``2`` per parameter)."""
  outs = sum(layer_sizes[1:])
  params = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
  return 4 * batch * outs + 5 * batch * layer_sizes[-1] + 2 * params


def eval_flops(layer_sizes, n: int) -> tuple[int, int]:
  """``(matmul, other)`` FLOPs of one evaluation forward pass over ``n``."""
  weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
  return 2 * n * weights, n * (2 * sum(layer_sizes[1:])
                               + 6 * layer_sizes[-1])


def epoch_flops(layer_sizes, batch: int, n: int) -> dict:
  """FLOPs of one ``epoch.make_epoch`` epoch without validation data: the
  training steps plus the evaluation pass over the training set that ends
  every epoch."""
  steps = n // batch
  train_mm = steps * step_matmul_flops(layer_sizes, batch)
  train_other = steps * step_other_flops(layer_sizes, batch)
  eval_mm, eval_other = eval_flops(layer_sizes, n)
  weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
  return {"steps": steps,
          "train_matmul": train_mm, "train_other": train_other,
          "eval_matmul": eval_mm, "eval_other": eval_other,
          "matmul": train_mm + eval_mm,
          "total": train_mm + train_other + eval_mm + eval_other,
          "conventional_6bp": 6 * batch * weights * steps}


# ------------------------------------------------------- matmul skeleton


def make_skeleton(layer_sizes, batch: int, n: int) -> Callable:
  """A jitted function running exactly the matmuls of one epoch, nothing else.

  Each of the ``n // batch`` steps does the forward ``a @ w.T``, the weight
  gradients ``delta.T @ a`` and ``delta @ w`` (not to the inputs) in the
  forms and shapes of :func:`nn_jax.backprop.backward`, on the real batches
  (contiguous, no gather); the weight gradients are summed so that nothing
  is dead code. Then one forward pass over all ``n`` examples, as the
  epoch's evaluation. Its time is the machine's matmul rate on this
  problem's own shapes.

  Returns:
    ``skeleton(params, x) -> arrays`` (``x`` is ``(n, n_in)``).
  """
  steps = n // batch

  def run(params, x):
    ws = [layer["w"] for layer in params]
    batches = x[:steps * batch].reshape(steps, batch, -1)

    def step(sums, xb):
      acts = [xb]
      for w in ws:
        acts.append(acts[-1] @ w.T)
      delta = acts.pop()
      new = list(sums)
      for l in range(len(ws) - 1, -1, -1):
        new[l] = sums[l] + delta.T @ acts[l]
        if l:
          delta = delta @ ws[l]
      return new, None

    sums, _ = jax.lax.scan(step, [jnp.zeros_like(w) for w in ws], batches)
    a = x
    for w in ws:
      a = a @ w.T
    return sums, a

  return jax.jit(run)


def step_shapes(layer_sizes, batch: int) -> list:
  """``(name, form, lhs_shape, rhs_shape, flops)`` of every matmul of a step."""
  shapes = []
  for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
    flops = 2 * batch * n_in * n_out
    shapes.append((f"layer {l + 1} forward a @ w.T", "a_wT",
                   (batch, n_in), (n_out, n_in), flops))
    shapes.append((f"layer {l + 1} dE/dw delta.T @ a", "dT_a",
                   (batch, n_out), (batch, n_in), flops))
    if l:
      shapes.append((f"layer {l + 1} delta @ w", "d_w",
                     (batch, n_out), (n_out, n_in), flops))
  return shapes


def eval_shapes(layer_sizes, n: int) -> list:
  """The same for the evaluation pass over ``n`` examples (forward only)."""
  return [(f"evaluation layer {l + 1} a @ w.T", "a_wT", (n, n_in),
           (n_out, n_in), 2 * n * n_in * n_out)
          for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1],
                                                layer_sizes[1:]))]


_FORMS = {"a_wT": lambda a, b: a @ b.T, "dT_a": lambda a, b: a.T @ b,
          "d_w": lambda a, b: a @ b}


def time_matmul_shape(form: str, lhs_shape, rhs_shape, calls: int,
                      repetitions: int, seed: int) -> float:
  """Median seconds of one jitted ``form`` matmul: ``calls`` calls are
  dispatched back to back (JAX dispatches asynchronously, so the dispatch
  overlaps the previous call) and the total divided by ``calls``."""
  rng = np.random.default_rng(seed)
  lhs = jnp.asarray(rng.standard_normal(lhs_shape, np.float32))
  rhs = jnp.asarray(rng.standard_normal(rhs_shape, np.float32))
  f = jax.jit(_FORMS[form])
  jax.block_until_ready(f(lhs, rhs))

  def run():
    out = None
    for _ in range(calls):
      out = f(lhs, rhs)
    return out
  return median(block_time(run) for _ in range(repetitions)) / calls


# -------------------------------------------------------------- sklearn


class SklearnRunner:
  """One epoch of scikit-learn's ``MLPClassifier`` from given weights.

  ``MLPClassifier(solver="sgd", batch_size, max_iter=1, momentum=0,
  nesterovs_momentum=False, alpha=0, shuffle=True)``; its weights are set to
  ``params`` (transposed: scikit-learn keeps ``(n_in, n_out)``) by a fit on
  one example per class, an overwrite and ``warm_start`` (untimed). Its own
  ``shuffle`` orders the examples, and it also trains on the incomplete last
  batch. Its ConvergenceWarning is ignored.
  """

  def __init__(self, params, x, labels, batch_size, learning_rate, seed):
    self.params, self.x, self.labels = params, x, np.asarray(labels)
    self.kwargs = dict(
        hidden_layer_sizes=tuple(int(p["w"].shape[0]) for p in params[:-1]),
        activation="relu", solver="sgd", batch_size=batch_size, max_iter=1,
        learning_rate_init=learning_rate, momentum=0.0,
        nesterovs_momentum=False, alpha=0.0, shuffle=True, random_state=seed)
    self.loss = None

  def __call__(self) -> float:
    from sklearn import exceptions  # pylint: disable=g-import-not-at-top
    from sklearn import neural_network  # pylint: disable=g-import-not-at-top
    model = neural_network.MLPClassifier(warm_start=True, **self.kwargs)
    first = np.unique(self.labels, return_index=True)[1]
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")   # a batch larger than 10 examples
      model.fit(self.x[first], self.labels[first])
    model.coefs_ = [np.array(p["w"], self.x.dtype).T.copy()
                    for p in self.params]
    model.intercepts_ = [np.array(p["b"], self.x.dtype) for p in self.params]
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
      start = time.perf_counter()
      model.fit(self.x, self.labels)
      seconds = time.perf_counter() - start
    self.loss = float(model.loss_)
    return seconds


# ------------------------------------------------------------ benchmarks


def _nn_jax_epoch(model, optimizer, n, batch_size, grad,
                  train_metrics="full"):
  options = train.FitOptions(epochs=1, batch_size=batch_size, grad=grad,
                             train_metrics=train_metrics)
  return jax.jit(epoch_lib.make_epoch(model, optimizer, n, options))


def bench_epoch(x: np.ndarray, labels: np.ndarray, sizes: Sizes,
                torch_ref=None, torch_threads: tuple = (),
                sklearn: bool = True,
                log: Callable[[str], None] = print) -> dict:
  """One epoch of 784-256-256-10 ReLU, softmax cross-entropy, SGD, batch 128.

  Per repetition, in turn: nn_jax with hand-written backprop, nn_jax with
  ``jax.grad``, PyTorch (once per entry of ``torch_threads``),
  scikit-learn, and the epoch's matmuls alone (:func:`make_skeleton`).

  Args:
    x: ``(n, 784)`` float32 inputs; labels: ``(n,)`` ints.
    sizes: the sizes (``hidden``, ``batch_size``, ``learning_rate``,
      ``repetitions``, ``seed``).
    torch_ref: the ``benchmarks.torch_ref`` module, or ``None`` to skip.
    torch_threads: thread counts to time PyTorch with.
    sklearn: time scikit-learn too.
    log: progress lines.
  """
  n = x.shape[0]
  layer_sizes, model, params, optimizer, data, key, state0 = mnist_setup(
      x, labels, sizes, "sgd", sizes.learning_rate)
  order = epoch_order(key, n)
  runners, compile_s, finals = {}, {}, {}
  for grad in ("manual", "autodiff"):
    epoch = _nn_jax_epoch(model, optimizer, n, sizes.batch_size, grad)
    compile_s[grad] = block_time(lambda: epoch(state0, data))  # incl. 1 run
    runners[f"nn_jax_{grad}"] = functools.partial(
        block_time, functools.partial(epoch, state0, data))
    finals[grad] = epoch(state0, data)
  # The same work as the PyTorch loop and scikit-learn: the epoch's training
  # metrics are the mean of its batches' costs, no second pass.
  epoch = _nn_jax_epoch(model, optimizer, n, sizes.batch_size, "manual",
                        train_metrics="batches")
  compile_s["manual_batch_metrics"] = block_time(lambda: epoch(state0, data))
  runners["nn_jax_manual_batch_metrics"] = functools.partial(
      block_time, functools.partial(epoch, state0, data))
  torch_bases = {}
  if torch_ref is not None:
    base = torch_ref.EpochRunner(params, x, labels, order, sizes.batch_size,
                                 sizes.learning_rate)
    torch_run = torch_runners(torch_ref, base, torch_threads)
    runners.update(torch_run)
    torch_bases = dict.fromkeys(torch_run, base)
  sk = None
  if sklearn:
    sk = SklearnRunner(params, x, labels, sizes.batch_size,
                       sizes.learning_rate, sizes.seed)
    runners["sklearn"] = sk
  skeleton = make_skeleton(layer_sizes, sizes.batch_size, n)
  jax.block_until_ready(skeleton(params, data.x))
  runners["matmul_skeleton"] = functools.partial(
      block_time, functools.partial(skeleton, params, data.x))

  times, other, waited = interleaved(runners, sizes.repetitions,
                                     sizes.max_wait_s, log, "epoch")

  flops = epoch_flops(layer_sizes, sizes.batch_size, n)
  out = {
      "layer_sizes": layer_sizes, "n": n, "batch_size": sizes.batch_size,
      "learning_rate": sizes.learning_rate, "times": times,
      "median_seconds": {k: median(v) for k, v in times.items()},
      "compile_and_first_run_seconds": compile_s, "flops": flops,
      "other_processes_cores": other, "waited_for_quiet_seconds": waited,
      "nn_jax_train_metrics_after_epoch": {
          g: dict(zip(train.METRICS, np.asarray(m).tolist()))
          for g, (_, m) in finals.items()},
  }
  manual = np.asarray(times["nn_jax_manual"])
  ratios = {"manual_over_autodiff": manual / np.asarray(
      times["nn_jax_autodiff"])}
  same_work = np.asarray(times["nn_jax_manual_batch_metrics"])
  for name in torch_bases:
    ratios[f"{name}_over_manual"] = np.asarray(times[name]) / manual
    ratios[f"{name}_over_manual_batch_metrics"] = (np.asarray(times[name])
                                                   / same_work)
  if sk is not None:
    ratios["sklearn_over_manual"] = np.asarray(times["sklearn"]) / manual
    ratios["sklearn_over_manual_batch_metrics"] = (
        np.asarray(times["sklearn"]) / same_work)
    out["sklearn_training_loss"] = sk.loss
  skel = np.asarray(times["matmul_skeleton"])
  for grad in ("manual", "autodiff"):
    t = np.asarray(times[f"nn_jax_{grad}"])
    out[f"gflops_{grad}"] = median(flops["total"] / t / 1e9)
    out[f"gflops_{grad}_training_only"] = median(
        (flops["train_matmul"] + flops["train_other"]) / t / 1e9)
    out[f"gflops_{grad}_conventional_6bp"] = median(
        flops["conventional_6bp"] / t / 1e9)
    # Achieved rate over the skeleton's rate, per repetition.
    ratios[f"fraction_of_skeleton_rate_{grad}"] = (
        (flops["total"] / t) / (flops["matmul"] / skel))
  out["gflops_matmul_skeleton"] = median(flops["matmul"] / skel / 1e9)
  out["ratios"] = {k: v.tolist() for k, v in ratios.items()}
  out["median_ratios"] = {k: median(v) for k, v in ratios.items()}
  for name, runner in torch_bases.items():
    out.setdefault("max_abs_weight_diff_vs_nn_jax", {})[name] = max_abs_diff(
        runner.last_params, finals["manual"][0].params)
  out["max_abs_weight_diff_manual_vs_autodiff"] = max_abs_diff(
      finals["manual"][0].params, finals["autodiff"][0].params)
  return out


def bench_matmul(layer_sizes, sizes: Sizes,
                 log: Callable[[str], None] = print) -> dict:
  """float32 matmul rates of the batch epoch's own shapes, and of squares.

  Each matmul of a training step (in its form and shape, :func:`step_shapes`)
  and of the evaluation pass over ``sizes.n_train`` examples is timed as a
  jitted ``jnp.dot`` alone. ``epoch_weighted_gflops`` is the rate at which
  the epoch's matmuls would run one after another at those rates: their
  FLOPs over the sum of their times. Square ``s x s @ s x s`` for ``s`` in
  ``sizes.squares`` give the machine's best case.
  """
  steps = sizes.n_train // sizes.batch_size
  shapes, epoch_flops_, epoch_s = [], 0, 0.0
  for name, form, lhs, rhs, flops, per_epoch in (
      [(*s, steps) for s in step_shapes(layer_sizes, sizes.batch_size)]
      + [(*s, 1) for s in eval_shapes(layer_sizes, sizes.n_train)]):
    wait_for_quiet(sizes.max_wait_s)
    calls = sizes.matmul_calls if per_epoch > 1 else max(
        1, sizes.matmul_calls // 25)
    seconds = time_matmul_shape(form, lhs, rhs, calls, sizes.repetitions,
                                sizes.seed + len(shapes))
    shapes.append({"name": name, "lhs": lhs, "rhs": rhs, "flops": flops,
                   "per_epoch": per_epoch, "seconds": seconds,
                   "gflops": flops / seconds / 1e9})
    epoch_flops_ += per_epoch * flops
    epoch_s += per_epoch * seconds
    log(f"  {name} {lhs} x {rhs}: {flops / seconds / 1e9:.1f} GFLOP/s")
  squares = {}
  rng = np.random.default_rng(sizes.seed)
  for s in sizes.squares:
    a = jnp.asarray(rng.standard_normal((s, s), np.float32))
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    wait_for_quiet(sizes.max_wait_s)
    seconds = median(block_time(lambda: f(a))
                     for _ in range(max(3, sizes.repetitions)))
    squares[s] = 2 * s ** 3 / seconds / 1e9
    log(f"  square {s}: {squares[s]:.1f} GFLOP/s")
  return {"shapes": shapes, "epoch_matmul_seconds": epoch_s,
          "epoch_weighted_gflops": epoch_flops_ / epoch_s / 1e9,
          "squares_gflops": squares,
          "best_square_gflops": max(squares.values()) if squares else None}


def bench_online(x: np.ndarray, labels: np.ndarray, sizes: Sizes,
                 torch_ref=None, torch_threads: tuple = (),
                 log: Callable[[str], None] = print) -> dict:
  """Online SGD (batch size 1) over the first ``sizes.n_online`` examples:
  nn_jax (``grad="manual"``, the delayed updates of
  :func:`nn_jax.online.delayed_sgd`) vs PyTorch, same network, weights and
  order."""
  n = sizes.n_online
  x, labels = x[:n], labels[:n]
  layer_sizes, model, params, optimizer, data, key, state0 = mnist_setup(
      x, labels, sizes, "delayed_sgd", sizes.online_learning_rate)
  epoch = _nn_jax_epoch(model, optimizer, n, 1, "manual")
  compile_s = block_time(lambda: epoch(state0, data))
  final, _ = epoch(state0, data)
  runners = {"nn_jax_manual": functools.partial(
      block_time, functools.partial(epoch, state0, data))}
  base = None
  if torch_ref is not None:
    base = torch_ref.EpochRunner(params, x, labels, epoch_order(key, n), 1,
                                 sizes.online_learning_rate)
    runners.update(torch_runners(torch_ref, base, torch_threads))
  times, other, waited = interleaved(runners, sizes.repetitions,
                                     sizes.max_wait_s, log, "online")
  manual = np.asarray(times["nn_jax_manual"])
  ratios = {f"{k}_over_manual": (np.asarray(v) / manual).tolist()
            for k, v in times.items() if k.startswith("torch")}
  out = {"n": n, "layer_sizes": layer_sizes,
         "learning_rate": sizes.online_learning_rate, "times": times,
         "median_seconds": {k: median(v) for k, v in times.items()},
         "microseconds_per_step": {k: median(v) / n * 1e6
                                   for k, v in times.items()},
         "compile_and_first_run_seconds": compile_s,
         "other_processes_cores": other, "waited_for_quiet_seconds": waited,
         "ratios": ratios,
         "median_ratios": {k: median(v) for k, v in ratios.items()}}
  if base is not None:
    out["max_abs_weight_diff_vs_nn_jax"] = max_abs_diff(base.last_params,
                                                         final.params)
  return out


def digits_data(seed: int):
  """The digits split and encoded as ``experiments.train`` does by default."""
  config = config_lib.Config.make(dataset="digits", seed=seed)
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  loss = mlp.make_model("relu", "softmax_cross_entropy").loss
  return experiment.training_data(splits, loss)


def _fit_loop_compiled_once(keys, layer_sizes, model, data, sizes,
                            epochs_per_call, shared_key=None):
  """``train.fit``'s loop for every member, with the jitted chunk of epochs
  built once: per member ``init``, ``init_state``, then ``epochs /
  epochs_per_call`` jitted calls with ``fit``'s host reads between them.
  Member ``i`` trains with ``split(keys[i])[1]``, or with ``shared_key``."""
  optimizer = optimizers.make("sgd", sizes.learning_rate)
  options = train.FitOptions(epochs=sizes.population_epochs,
                             batch_size=sizes.population_batch_size)
  epoch_fn = epoch_lib.make_epoch(model, optimizer, data.x.shape[0], options)
  run = jax.jit(lambda s, d: jax.lax.scan(lambda c, _: epoch_fn(c, d), s,
                                          None, length=epochs_per_call))

  def member(key):
    k_init, k_train = jax.random.split(key)
    params = mlp.init(k_init, layer_sizes, model, "glorot")
    state = train.init_state(params, model, optimizer,
                             k_train if shared_key is None else shared_key)
    while True:
      state, metrics = run(state, data)
      np.asarray(metrics)   # fit reads the metrics after every call
      if bool(state.done) or int(state.epoch) >= sizes.population_epochs:
        return state

  member(keys[0])   # compile
  return member


def bench_population(sizes: Sizes, log: Callable[[str], None] = print
                     ) -> dict:
  """``members`` networks 64-32-10 on digits: one
  ``population.fit_population`` call vs one training after another.

  With ``population_devices > 1`` (and as many devices), the call is also
  timed with the members split over that many devices (on the CPU, devices
  that share its cores). Both are also timed with one training key shared
  by the members (``shared_key``: the same batch order for all, so that the
  first layer's products of all members are one matmul), against the
  sequential runs with that key.

  Sequential variants: ``train.fit`` called per member as it is (one
  warm-up call first, which compiles the jitted loop that ``fit`` keeps for
  the later calls), ``fit``'s loop with its jitted function compiled once
  (``epochs_per_call`` as ``fit`` picks it), and the same with all epochs
  in one call per member.
  """
  data = digits_data(sizes.seed)
  layer_sizes = [data.x.shape[1], sizes.population_hidden, NUM_CLASSES]
  model = mlp.make_model("relu", "softmax_cross_entropy")
  keys = jax.random.split(jax.random.PRNGKey(sizes.seed), sizes.members)
  epochs, batch = sizes.population_epochs, sizes.population_batch_size

  shared_key = jax.random.PRNGKey(sizes.seed + 1)

  def population(devices=1, shared=False):
    options = train.FitOptions(epochs=epochs, batch_size=batch,
                               devices=devices)
    return population_lib.fit_population(
        keys, layer_sizes, model, data, options,
        learning_rates=sizes.learning_rate, optimizer="sgd", init="glorot",
        shared_key=shared_key if shared else None).params

  devices = sizes.population_devices
  if devices > jax.device_count() or sizes.members % devices:
    log(f"population: not split over {devices} devices ({jax.device_count()}"
        f" available, {sizes.members} members)")
    devices = 1

  def fit_member(key):
    k_init, k_train = jax.random.split(key)
    params = mlp.init(k_init, layer_sizes, model, "glorot")
    return train.fit(params, model,
                     optimizers.make("sgd", sizes.learning_rate), data,
                     train.FitOptions(epochs=epochs, batch_size=batch),
                     key=k_train)

  compile_s = block_time(population)
  block_time(lambda: population(shared=True))   # compile
  if devices > 1:
    block_time(lambda: population(devices))
    block_time(lambda: population(devices, shared=True))
  fit_chunk = max(1, -(-epochs // 20))    # fit's default epochs_per_call
  chunked = _fit_loop_compiled_once(keys, layer_sizes, model, data, sizes,
                                    fit_chunk)
  chunked_shared = _fit_loop_compiled_once(keys, layer_sizes, model, data,
                                           sizes, fit_chunk, shared_key)
  whole = chunked if fit_chunk == epochs else _fit_loop_compiled_once(
      keys, layer_sizes, model, data, sizes, epochs)
  calls = {"vmapped": population,
           "vmapped_shared_key": lambda: population(shared=True)}
  if devices > 1:
    calls.update({
        f"vmapped_over_{devices}_devices": lambda: population(devices),
        f"vmapped_shared_key_over_{devices}_devices":
            lambda: population(devices, shared=True)})
  runs = {**calls,
          "sequential_compiled_once_fit_chunks": lambda: [
              chunked(k).params for k in keys],
          "sequential_compiled_once_one_call": lambda: [
              whole(k).params for k in keys],
          "sequential_compiled_once_fit_chunks_shared_key": lambda: [
              chunked_shared(k).params for k in keys]}
  times, other, waited = interleaved(
      {k: functools.partial(block_time, f) for k, f in runs.items()},
      sizes.repetitions, sizes.max_wait_s, log, "population")
  member0 = lambda params: [jax.tree.map(lambda a: a[0], p) for p in params]
  sequential0 = {False: chunked(keys[0]).params,
                 True: chunked_shared(keys[0]).params}
  diff = max(max_abs_diff(member0(f()), sequential0["shared" in c])
             for c, f in calls.items())
  # Each sequential run over each vmapped call with the same keys, and the
  # call on one device over the call split over the devices, per repetition.
  call_times = {c.replace(f"_{devices}_devices", "_devices"):
                np.asarray(times[c]) for c in calls}
  ratios = {f"{k}_over_{c}": (np.asarray(v) / t).tolist()
            for c, t in call_times.items() for k, v in times.items()
            if (k.startswith("sequential")
                and ("shared_key" in k) == ("shared_key" in c))
            or (c.endswith("over_devices")
                and k == c.replace("_over_devices", ""))}
  if sizes.fit_loop_repetitions:
    fit_member(keys[0])    # warm-up
    fit_times, fit_other, fit_waited = interleaved(
        {"sequential_train_fit_as_is": functools.partial(
            block_time, lambda: [fit_member(k).params for k in keys])},
        sizes.fit_loop_repetitions, sizes.max_wait_s, log, "train.fit loop")
    times.update(fit_times)
    other.update(fit_other)
    waited += fit_waited
    # Fewer repetitions than the vmapped calls: a ratio of medians.
    for c, t in call_times.items():
      if "shared_key" not in c:
        ratios[f"sequential_train_fit_as_is_over_{c}"] = [
            median(fit_times["sequential_train_fit_as_is"]) / median(t)]
  return {"members": sizes.members, "layer_sizes": layer_sizes,
          "devices": devices,
          "epochs": epochs, "batch_size": batch,
          "num_train": int(data.x.shape[0]),
          "num_val": int(data.x_val.shape[0]),
          "fit_epochs_per_call": fit_chunk, "times": times,
          "median_seconds": {k: median(v) for k, v in times.items()},
          "vmapped_compile_and_first_run_seconds": compile_s,
          "other_processes_cores": other, "waited_for_quiet_seconds": waited,
          "ratios": ratios,
          "median_ratios": {k: median(v) for k, v in ratios.items()},
          # over every vmapped call against its sequential run
          "max_abs_weight_diff_member0_vmapped_vs_sequential": diff}


def config_from_flagfile(path: str, **overrides) -> config_lib.Config:
  """The :class:`nn_jax.config.Config` that ``experiments.train
  --flagfile=path`` builds, with ``overrides`` (settings by name).

  absl reads the file into flags of their own (a ``FlagValues`` of this
  call), defined by ``cli.define_flags`` as ``experiments.train`` defines
  them.
  """
  flag_values = flags.FlagValues()
  cli.define_flags(flag_values=flag_values)
  flag_values(["benchmarks.suite", f"--flagfile={path}"])
  return cli.config_from_flags(flag_values=flag_values, **overrides)


def bench_nielsen(data_dir: str, sizes: Sizes,
                  log: Callable[[str], None] = print) -> dict:
  """Nielsen's ch. 1 network end to end through
  ``experiment.train_and_evaluate`` (the library path of
  ``experiments.train --flagfile=experiments/flags/nielsen_ch1.flags``).

  Times the whole call: reading the IDX files, splitting, tracing and
  compiling, ``nielsen_epochs`` epochs with their evaluations, and the test
  evaluation (not the interpreter start or imports). JAX's caches are
  cleared before each repetition, so each one compiles. Without
  ``data_dir``, synthetic IDX files of MNIST's shapes are written to a
  temporary folder (test accuracy is then chance).
  """
  tmp = None
  if not data_dir:
    tmp = tempfile.TemporaryDirectory()
    data_dir = write_idx(tmp.name, *synthetic_mnist(sizes.seed))
  try:
    config = config_from_flagfile(
        NIELSEN_FLAGFILE, data_dir=data_dir, epochs=sizes.nielsen_epochs,
        train_size=sizes.nielsen_train_size, seed=sizes.seed)
    runs = []
    for r in range(sizes.nielsen_repetitions):
      jax.clear_caches()
      waited = wait_for_quiet(sizes.max_wait_s)
      with Contention() as c:
        start = time.perf_counter()
        summary = experiment.train_and_evaluate(config).summary
        wall = time.perf_counter() - start
      runs.append({"wall_seconds": wall, "seconds_reported": summary.seconds,
                   "test_accuracy": summary.test_accuracy,
                   "epochs_run": summary.epochs_run,
                   "num_train": summary.num_train,
                   "num_val": summary.num_val,
                   "num_test": summary.num_test,
                   "other_processes_cores": c.other_cores,
                   "waited_for_quiet_seconds": waited})
      log(f"  nielsen repetition {r + 1}/{sizes.nielsen_repetitions}: "
          f"{wall:.2f}s, test accuracy {summary.test_accuracy:.4f}")
  finally:
    if tmp is not None:
      tmp.cleanup()
  return {"config": config.flat(), "runs": runs,
          "synthetic_data": tmp is not None,
          "median_wall_seconds": median(r["wall_seconds"] for r in runs),
          "median_test_accuracy": median(r["test_accuracy"] for r in runs)}
