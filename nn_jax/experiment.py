"""One supervised run from a :class:`nn_jax.config.Config`: data -> init ->
fit -> evaluate, returned as a typed :class:`RunResult`.

:func:`train_and_evaluate` runs a network (:func:`run_network`) or the
perceptron (:func:`run_perceptron`) on the splits of :func:`prepare`.
"""

import dataclasses
import functools
import hashlib
import os
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import data as data_lib
from nn_jax import encoding
from nn_jax import epoch as epoch_lib
from nn_jax import losses
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import pretrain as pretrain_lib
from nn_jax import train as train_lib
from nn_jax import train_data
from nn_jax.config import Config
from nn_jax.config import DataConfig
from nn_jax.config import TABULAR


class Splits(NamedTuple):
  """The examples of a run, inputs encoded, and the fitted encoding."""
  train: data_lib.Dataset
  val: data_lib.Dataset
  test: data_lib.Dataset
  # A CSV file's tabular.TabularEncoder, else the encoding.Standardize or
  # ScaleRange of input_encoding (None: inputs as loaded).
  encoder: Any = None


def prepare(config: Config, key) -> Splits:
  """Loads the data set, splits it, and encodes inputs fitted on training data.

  Data sets of fewer than 10 examples (``xor``) are not split: all examples
  are training and test data. MNIST, MNIST-1D, the vowels and CSV files
  keep their own test set (the vowels' test speakers are the even-numbered
  ones, the validation rows drawn from the odd ones' rows; a CSV file and
  ``chile`` are split by ``test_fraction`` and encoded by
  :mod:`nn_jax.tabular` as :func:`column_codes` says, fitted on their
  training rows). ``train_size > 0``
  keeps only that many training examples (the first of the shuffled split,
  after ``classes`` or ``positive_class`` picked theirs). With ``split_order
  = "file"`` the held-out parts are the last examples in file order
  (validation the end of MNIST's training file, as in Nielsen's book), not
  drawn at random.
  """
  seed, config = config.seed, config.data
  encoder = None
  fractions = (config.test_fraction, config.validation_fraction)
  split_key = None if config.split_order == "file" else key
  # A CSV file's and chile's training rows are split as data_lib.split
  # splits them, encoded at once (no copy of the encoded rows).
  validation = (split_key, config.validation_fraction)
  if config.dataset == "chile":
    from nn_jax import chile  # pylint: disable=g-import-not-at-top
    train, val, test, encoder = chile.load_split(
        config.test_fraction, seed, column_codes(config),
        validation=validation)
  elif config.dataset == "csv":
    from nn_jax import tabular  # pylint: disable=g-import-not-at-top
    train, val, test, encoder = tabular.load_split(
        config.csv_path, config.target,
        tabular.parse_nominal(config.nominal),
        tabular.parse_ordinal(config.ordinal), config.test_fraction,
        seed, task=config.task or None,
        features=tabular.parse_nominal(config.features, "features")
        or None, codes=column_codes(config), validation=validation)
  elif config.dataset in ("mnist", "mnist1d", "vowels"):
    # These come with their own test set: only validation is split off.
    if config.dataset == "mnist":
      from nn_jax import mnist  # pylint: disable=g-import-not-at-top
      full, test = mnist.load_mnist(config.data_dir or None)
    elif config.dataset == "mnist1d":
      from nn_jax import mnist  # pylint: disable=g-import-not-at-top
      full, test = mnist.load_mnist1d()
    else:   # by speaker: odd train, even test
      from nn_jax import vowels  # pylint: disable=g-import-not-at-top
      full, test = vowels.load_split(config.vowel_features,
                                     config.log_frequency)
    val, train = data_lib.split(full, split_key,
                               (config.validation_fraction,))
  else:
    ds = data_lib.load(config.dataset, seed=seed, n_samples=config.n_samples,
                       num_classes=config.num_classes,
                       noise=config.data_noise)
    if ds.size < 10:
      train, val, test = ds, ds.take(np.arange(0)), ds
    else:
      test, val, train = data_lib.split(ds, split_key, fractions)
  if config.classes or config.positive_class >= 0:
    if train.task != data_lib.CLASSIFICATION:
      raise ValueError("classes and positive_class need a classification "
                       "data set")
    if config.classes:
      pick = lambda d: data_lib.select_classes(d, config.classes.split(","))
    else:
      pick = lambda d: data_lib.one_vs_rest(d, config.positive_class)
    train, val, test = (pick(s) for s in (train, val, test))
  if config.test_fraction > 0 and test.size == 0:
    raise ValueError(f"test_fraction={config.test_fraction} of the "
                     f"{train.size + val.size} examples leaves no test "
                     f"example; use more data or a larger test_fraction")
  if config.train_size:   # of the selected classes' training examples
    if config.train_size > train.size:
      raise ValueError(f"train_size={config.train_size} exceeds the "
                       f"{train.size} training examples")
    train = train.take(np.arange(config.train_size))
  if config.input_encoding != "none" and config.dataset not in TABULAR:
    encoder = (encoding.Standardize if config.input_encoding == "standardize"
               else encoding.ScaleRange).fit(train.x)
    train, val, test = (s._replace(x=encoder.apply(s.x)) if s.size else s
                        for s in (train, val, test))
  return Splits(train, val, test, encoder)


def column_codes(config: DataConfig):
  """The :class:`nn_jax.tabular.Codes` of a CSV file's or ``chile``'s
  columns that ``config`` sets (``input_encoding`` none: raw numeric
  columns)."""
  from nn_jax import tabular  # pylint: disable=g-import-not-at-top
  return tabular.Codes(
      config.nominal_code, config.ordinal_code, config.thermometer_units,
      "none" if config.input_encoding == "none" else "standardize")


def training_data(splits: Splits, loss: losses.Loss,
                  dtype=jnp.float32) -> train_data.Data:
  """The training and validation arrays of ``splits``, targets encoded for
  ``loss``'s outputs (the validation arrays shaped so also when empty)."""
  encode = lambda s: jnp.asarray(data_lib.targets(loss, s), dtype)
  n_in, y = splits.train.x.shape[1], encode(splits.train)
  return train_data.Data(jnp.asarray(splits.train.x, dtype), y,
                        jnp.asarray(splits.val.x.reshape(-1, n_in), dtype),
                        encode(splits.val).reshape(-1, y.shape[1]))


@functools.partial(jax.jit, static_argnames="model")
def _outputs(params, stats, x, model: mlp.Model) -> jax.Array:
  return mlp.predict(params, x, model, stats)


def predict(params, stats, x, model: mlp.Model) -> np.ndarray:
  """The network's outputs ``(n, n_out)`` for inputs ``x``, in evaluation
  mode (computed in the parameters' precision, float64 ones in 64 bits; one
  compiled program)."""
  dtype = params[0]["w"].dtype
  with jax.enable_x64(dtype == np.float64):
    return np.asarray(_outputs(params, stats, jnp.asarray(x, dtype), model))


def _labels(o: jax.Array) -> jax.Array:
  """The largest output's index, or a single sigmoid unit > 0.5 (int32)."""
  if o.shape[1] == 1:
    return (o[:, 0] > 0.5).astype(jnp.int32)
  return jnp.argmax(o, -1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames="model")
def _predict_labels(params, stats, x, model: mlp.Model) -> jax.Array:
  return _labels(mlp.predict(params, x, model, stats))


def predict_labels(params, stats, x, model: mlp.Model) -> np.ndarray:
  """Class labels: the largest output, or a single sigmoid unit > 0.5
  (computed in the parameters' precision, float64 ones in 64 bits; one
  compiled program)."""
  dtype = params[0]["w"].dtype
  with jax.enable_x64(dtype == np.float64):
    return np.asarray(_predict_labels(params, stats, jnp.asarray(x, dtype),
                                      model))


@functools.partial(jax.jit, static_argnames=("model", "labels"))
def _test_scores(params, stats, x, y, model: mlp.Model, labels: bool):
  """``(cost, accuracy, labels or None)`` of the test set in one program:
  :func:`nn_jax.epoch.evaluate`'s cost and accuracy, and the predicted
  labels from the same outputs."""
  cost, accuracy, o = epoch_lib.scores(params, x, y, model, stats)
  return cost, accuracy, _labels(o) if labels and o is not None else None


def _compile_ahead(jitted, *args) -> threading.Thread:
  """Compiles ``jitted`` for ``args`` (passed as the later call will pass
  them: same shapes, dtypes, devices, static values, positions) in a
  thread, so that XLA compiles it while the caller goes on (on a CPU with
  a core to spare: the quickstart's test scores, 0.25 s); the later call
  finds it in JAX's caches. ``join()`` the thread before that call (else
  both compile). The thread takes the caller's 64-bit mode, matmul
  precision and default device, JAX's settings that a caller's context may
  change; under other contexts (``jax.debug_nans``, ...) the call
  compiles for itself. Whatever goes wrong here is left to the call."""
  settings = (jax.config.jax_enable_x64,
              jax.config.jax_default_matmul_precision,
              jax.config.jax_default_device)

  def run():
    x64, precision, device = settings
    try:
      with (jax.enable_x64(x64), jax.default_matmul_precision(precision),
            jax.default_device(device)):
        jitted.lower(*args).compile()
    except Exception:  # pylint: disable=broad-except
      pass
  # Not a daemon: were the caller to end without joining it, the shutdown
  # waits for it instead of stopping it mid-compile (which can crash).
  thread = threading.Thread(target=run)
  thread.start()
  return thread


def confusion_matrix(y, predicted, k: int) -> list:
  """``m[i][j]``: examples of class i predicted as j."""
  m = np.zeros((k, k), np.int64)
  np.add.at(m, (np.asarray(y), np.asarray(predicted)), 1)
  return m.tolist()


def regression_scores(y, o) -> dict:
  """Scores of outputs ``o`` against targets ``y``, both ``(n, k)``.

  ``mse``: the mean of ``(y - o)^2`` over examples and outputs;
  ``r2_per_output``: ``1 - SSE_j / SST_j`` for each output ``j`` (SST about
  the targets' own mean; NaN where the targets are constant); ``r2``: their
  mean (scikit-learn's ``r2_score``). Computed in float64.
  """
  y, o = (np.asarray(a, np.float64).reshape(len(a), -1) for a in (y, o))
  if y.shape != o.shape or not y.size:
    raise ValueError(f"targets {y.shape} and outputs {o.shape} must have "
                     f"the same shape, with at least one example")
  sse = np.sum((y - o) ** 2, 0)
  sst = np.sum((y - y.mean(0)) ** 2, 0)
  with np.errstate(divide="ignore", invalid="ignore"):
    r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
  return {"mse": float(sse.sum() / y.size), "r2": float(r2.mean()),
          "r2_per_output": r2.tolist()}


# Why a run's training ended, as results.json's stop_reason says; the first
# that holds: the cost or weights became NaN/Inf, the validation cost did not
# improve for early_stopping_patience epochs, the training cost fell below
# cost_threshold (the perceptron: an epoch without a mistake), all epochs run.
STOP_REASONS = ("diverged", "early_stopping", "cost_threshold", "no_mistakes",
                "epochs")


def stop_reason(*, diverged: bool, early_stopped: bool,
                reached_threshold: bool, perceptron: bool = False) -> str:
  """The run's entry of :data:`STOP_REASONS`."""
  if diverged:
    return "diverged"
  if early_stopped:
    return "early_stopping"
  if reached_threshold:
    return "no_mistakes" if perceptron else "cost_threshold"
  return "epochs"


# What a diverged run is, in words (its figures say it alike).
DIVERGED = "the cost or the weights became NaN/Inf"


def why_stopped(summary: "Summary") -> str:
  """Why the run's training ended, in words (from its ``stop_reason``),
  and with early stopping on, which epoch's parameters the run kept."""
  config, epoch = summary.config, summary.epochs_run
  kept = ""
  if (config.get("early_stopping_patience") and summary.stop_reason in (
      "epochs", "cost_threshold") and summary.best_epoch not in (0, epoch)):
    kept = (f"; epoch {summary.best_epoch}'s parameters kept (its "
            f"validation cost the best)")
  return {
      "epochs": f"all {epoch} epochs run" if epoch != 1 else "its 1 epoch run",
      "cost_threshold": (f"the training cost fell below cost_threshold="
                         f"{config['cost_threshold']:g} at epoch {epoch}"),
      "early_stopping": (
          f"early stopping at epoch {epoch}: no better validation cost for "
          f"early_stopping_patience={config['early_stopping_patience']} "
          f"epochs; epoch {summary.best_epoch}'s parameters kept"),
      "no_mistakes": f"epoch {epoch} made no mistake on the training set",
      "diverged": f"{DIVERGED} at epoch {epoch}",
  }[summary.stop_reason] + kept


# A finite training cost this many times its first epoch's is a blow-up.
SPIKE_FACTOR = 10.0


def cost_spike(train_loss) -> Optional[tuple]:
  """``(epoch, cost)`` of the highest training cost (1-based epoch) where
  it rose above :data:`SPIKE_FACTOR` times the first epoch's and stayed
  finite: a run that blew up without becoming NaN/Inf (which
  ``diverged`` records) and went on from weights that can be far off;
  None where it did not."""
  cost = np.asarray(train_loss, np.float64)
  if cost.size < 2 or not np.isfinite(cost).all() or cost[0] <= 0:
    return None
  top = int(np.argmax(cost))
  if cost[top] <= SPIKE_FACTOR * cost[0]:
    return None
  return top + 1, float(cost[top])


@dataclasses.dataclass(frozen=True)
class Summary:
  """The JSON part of a run's result (results.json)."""
  test_accuracy: float       # NaN for regression
  test_loss: float           # NaN for the perceptron (it has no cost)
  confusion_matrix: Optional[list]   # m[i][j]: class i predicted as j
  final_train_loss: float
  final_train_accuracy: float
  epochs_run: int
  reached_threshold: bool
  early_stopped: bool
  best_epoch: int            # 0 without validation data
  diverged: bool
  stop_reason: str           # one of STOP_REASONS: why training ended
  pretrain_costs: list
  seconds: float
  grad: str                  # how the weights were trained
  description: str           # what was trained, for figure titles
  sizes: list                # layer sizes, inputs first
  num_train: int
  num_val: int
  num_test: int
  config: dict               # Config.flat()
  class_names: list          # label i is class_names[i] (regression: [])
  # Regression (None otherwise): regression_scores on the test set.
  test_mse: Optional[float] = None
  test_r2: Optional[float] = None
  test_r2_per_output: Optional[list] = None

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RunResult:
  """A run's summary, per-epoch history and what it trained (not JSON)."""
  summary: Summary
  history: dict              # metric name -> np.ndarray (epochs_run,)
  params: Any                # mlp.Params, or {"w": ...} of the perceptron
  stats: list                # batch-norm running statistics
  model: Optional[mlp.Model]   # None for the perceptron
  splits: Splits


def run_keys(config: Config):
  """The run's PRNG keys: ``(split, init, train, pretrain)``, from the seed:
  ``jax.random.split(jax.random.PRNGKey(seed), 4)``, drawn on the host (no
  program to compile)."""
  keys = data_lib.host_split(data_lib.host_key(config.seed), 4)
  return tuple(jax.device_put(k) for k in keys)


def has_decision_regions(config: Config, n_in: int) -> bool:
  """Whether a run's figures include its decision regions: a network that
  classifies 2-D inputs."""
  return (config.net.model == "mlp" and n_in == 2
          and losses.get(config.net.loss).task != losses.REGRESSION)


def has_regression_fit(config: Config) -> bool:
  """Whether a run's figures include its fit on the test data
  (``regression_fit.png``): a network with linear outputs."""
  return (config.net.model == "mlp"
          and losses.get(config.net.loss).task == losses.REGRESSION)


# Settings that may change between a run and its resumption.
RESUMABLE_CHANGES = ("epochs", "epochs_per_call", "log_every")


def data_fingerprint(data: train_data.Data) -> str:
  """SHA-256 of the training and validation arrays (shapes, dtypes, bytes):
  a checkpoint records it, and resuming on other data is refused."""
  h = hashlib.sha256()
  for a in data:
    a = np.ascontiguousarray(np.asarray(a))
    h.update(f"{a.shape}{a.dtype}".encode())
    h.update(a.tobytes())
  return h.hexdigest()


def _check_resumable(checkpointer, config: Config, fingerprint: str) -> None:
  """Raises ValueError naming a setting that differs from the checkpoint's,
  or saying that the training data differ."""
  saved = None
  for epoch in checkpointer.epochs():   # the newest readable one
    try:
      saved = checkpointer.metadata(epoch).get("config", {})
      break
    except ValueError:
      continue
  if saved is None:
    checkpointer.metadata(checkpointer.latest_epoch())   # raises its error
  # A setting by name first: one that changes the arrays (dtype, the
  # split) changes their fingerprint too.
  for name, value in config.flat().items():
    if name in RESUMABLE_CHANGES or name not in saved:
      continue
    if saved[name] != value:
      raise ValueError(f"cannot resume: the checkpoint at epoch {epoch} was "
                       f"made with {name}={saved[name]!r}, this run has "
                       f"{name}={value!r}")
  if saved.get("data_fingerprint", fingerprint) != fingerprint:
    raise ValueError(f"cannot resume: the checkpoint at epoch {epoch} was "
                     f"made from other training data (SHA-256 "
                     f"{saved['data_fingerprint'][:12]}..., now "
                     f"{fingerprint[:12]}...); resume with the data it was "
                     f"made from, or start afresh in another folder")
  if epoch > config.fit.epochs:
    raise ValueError(f"cannot resume: the latest checkpoint is at epoch "
                     f"{epoch}, past epochs={config.fit.epochs}; set epochs "
                     f"to {epoch} or more")


def _summary(config: Config, splits: Splits, start: float, **fields):
  return Summary(num_train=splits.train.size, num_val=splits.val.size,
                 num_test=splits.test.size, config=config.flat(),
                 class_names=data_lib.class_names(splits.train),
                 seconds=time.perf_counter() - start, **fields)


def run_perceptron(config: Config, splits: Splits, key,
                   start: float) -> RunResult:
  """Rosenblatt's perceptron through the same data path as the networks.

  Its training curves count the mistakes made during each (online) epoch;
  the scores are those of the final weights."""
  from nn_jax import perceptron  # pylint: disable=g-import-not-at-top
  if splits.train.num_classes != 2:
    raise ValueError(f"model=perceptron needs a binary problem; "
                     f"{config.data.dataset!r} has "
                     f"{splits.train.num_classes} classes (use classes=a,b "
                     f"or positive_class=k)")
  result = perceptron.train(
      jnp.asarray(splits.train.x), jnp.asarray(splits.train.y), key=key,
      learning_rate=config.optim.learning_rate, max_epochs=config.fit.epochs,
      shuffle=config.fit.shuffle)
  epochs = int(result.epochs)
  mistakes = np.asarray(result.mistakes[:epochs], np.float64)
  accuracy = lambda s: (float(np.mean(np.asarray(perceptron.predict(
      result.w, jnp.asarray(s.x))) == s.y)) if s.size else float("nan"))
  predicted = np.asarray(perceptron.predict(result.w,
                                            jnp.asarray(splits.test.x)))
  history = {"train_loss": mistakes / splits.train.size,
             "train_accuracy": 1 - mistakes / splits.train.size,
             "val_loss": np.full(epochs, np.nan),
             "val_accuracy": np.full(epochs, np.nan)}
  history["val_accuracy"][-1] = accuracy(splits.val)
  summary = _summary(
      config, splits, start, test_accuracy=accuracy(splits.test),
      test_loss=float("nan"),
      confusion_matrix=confusion_matrix(splits.test.y, predicted, 2),
      final_train_loss=float(history["train_loss"][-1]),
      final_train_accuracy=accuracy(splits.train), epochs_run=epochs,
      reached_threshold=bool(result.converged), early_stopped=False,
      best_epoch=0, diverged=False, pretrain_costs=[],
      stop_reason=stop_reason(diverged=False, early_stopped=False,
                              reached_threshold=bool(result.converged),
                              perceptron=True),
      grad="perceptron rule", sizes=[splits.train.x.shape[1], 1],
      description="perceptron (training: mistakes during each epoch)")
  return RunResult(summary, history, {"w": result.w}, [], None, splits)


def _checkpointer(config: Config, data: train_data.Data, checkpoint_dir,
                  resume):
  """The run's checkpointer (None without checkpoints), checked against an
  earlier run's checkpoints in the folder."""
  if not checkpoint_dir or not (config.fit.checkpoint_every or (
      resume and os.path.isdir(checkpoint_dir))):
    return None
  from nn_jax import checkpoint  # pylint: disable=g-import-not-at-top
  fingerprint = data_fingerprint(data)
  checkpointer = checkpoint.Checkpointer(
      checkpoint_dir,
      config={**config.flat(), "data_fingerprint": fingerprint})
  latest = checkpointer.latest_epoch()
  if resume and latest is not None:
    try:
      _check_resumable(checkpointer, config, fingerprint)
    except ValueError:
      checkpointer.close()
      raise
  elif latest is not None:   # its epochs would not be saved over
    checkpointer.close()
    raise ValueError(f"checkpoint_every: {checkpoint_dir} holds the "
                     f"checkpoints of an earlier run (the latest at epoch "
                     f"{latest}); resume to continue that run, or choose "
                     f"another folder")
  return checkpointer


def memory_estimate(sizes, batch: int, dtype, optimizer: str) -> int:
  """Bytes a network of layer ``sizes`` needs in training, roughly: the
  parameters about four times (with their gradients, the best epoch's and
  the update's copies) plus the optimizer's state, and a batch's
  activations and deltas."""
  n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1],
                                                            sizes[1:]))
  state = {"adam": 2, "momentum": 1, "nesterov": 1}.get(optimizer, 0)
  return jnp.dtype(dtype).itemsize * ((4 + state) * n_params
                                      + 4 * batch * sum(sizes))


def _check_memory(sizes, batch, dtype, optimizer) -> None:
  from nn_jax import devices  # pylint: disable=g-import-not-at-top
  need, free = memory_estimate(sizes, batch, dtype, optimizer), (
      devices.available_bytes())
  if free is not None and need > free:
    raise ValueError(f"a network of layer sizes {list(sizes)} needs about "
                     f"{need / 2**30:.1f} GiB to train (parameters, "
                     f"gradients, optimizer state, a batch's activations), "
                     f"more than the {free / 2**30:.1f} GiB free; use fewer "
                     f"or smaller hidden layers")


def run_network(config: Config, splits: Splits, keys, start: float,
                on_progress=None, checkpoint_dir=None,
                resume: bool = False) -> RunResult:
  """A network trained by :func:`nn_jax.train.fit` (see
  :func:`train_and_evaluate`); ``keys`` are ``run_keys(config)``."""
  _, init_key, train_key, pretrain_key = keys
  model = config.net.make()
  data_lib.check_loss_fits(model.loss, splits.train)
  if "shift" in config.fit.augment and not splits.train.image_shape:
    raise ValueError(f"augment=shift needs an image data set; "
                     f"{config.data.dataset!r} is not one (use "
                     f"augment=noise)")
  sizes = ([splits.train.x.shape[1], *config.net.hidden]
           + [data_lib.num_outputs(model.loss, splits.train)])
  dtype = jnp.dtype(config.net.dtype)
  if config.fit.batch_size > splits.train.size:
    raise ValueError(
        f"batch_size={config.fit.batch_size} is more than the "
        f"{splits.train.size} training examples" + (
            f" (train_size={config.data.train_size})"
            if config.data.train_size else "")
        + "; lower batch_size (0: the whole training set)")
  batch = train_data.resolve_batch_size(config.fit.batch_size,
                                       splits.train.size)
  _check_memory(sizes, batch, dtype, config.optim.optimizer)
  params = mlp.init(init_key, sizes, model, config.net.init, dtype)
  make_optimizer = lambda: optimizers.from_config(
      config.optim, steps_per_epoch=splits.train.size // batch,
      epochs=config.fit.epochs)
  data = training_data(splits, model.loss, dtype)
  classified = (splits.test.task == data_lib.CLASSIFICATION
                and splits.test.size > 0)
  test_x = jnp.asarray(splits.test.x, dtype)
  test_y = jnp.asarray(data_lib.targets(model.loss, splits.test), dtype)
  # The initial parameters stand in for the trained ones (same shapes,
  # dtypes and device): the test scores' program compiles while it trains.
  scores_compiled = _compile_ahead(
      _test_scores, params, mlp.init_stats(params, model), test_x, test_y,
      model, classified)
  pretrain_costs, checkpointer = [], None
  try:
    checkpointer = _checkpointer(config, data, checkpoint_dir, resume)
    if config.pretrain and not (resume and checkpointer and
                                checkpointer.latest_epoch() is not None):
      params, pretrain_costs = pretrain_lib.pretrain(
          pretrain_key, params, model, data.x, epochs=config.pretrain_epochs,
          batch_size=config.fit.batch_size, make_optimizer=make_optimizer,
          grad=config.fit.grad)
    result = train_lib.fit(
        params, model, make_optimizer(), data, config.fit, key=train_key,
        image_shape=splits.train.image_shape, on_progress=on_progress,
        checkpointer=checkpointer, resume=resume)
  finally:
    if checkpointer is not None:
      checkpointer.close()
    scores_compiled.join()   # (also when training fails: no stray work)
  test_loss, test_acc, predicted = _test_scores(
      result.params, result.stats, test_x, test_y, model, classified)
  confusion, scores = None, {}
  if classified:
    confusion = confusion_matrix(splits.test.y, np.asarray(predicted),
                                 splits.test.num_classes)
  elif splits.test.size:
    scores = regression_scores(splits.test.y, predict(
        result.params, result.stats, splits.test.x, model))
    scores = {f"test_{k}": v for k, v in scores.items()}
  summary = _summary(
      config, splits, start, test_accuracy=float(test_acc),
      test_loss=float(test_loss), confusion_matrix=confusion,
      final_train_loss=float(result.history["train_loss"][-1]),
      final_train_accuracy=float(result.history["train_accuracy"][-1]),
      epochs_run=result.epochs_run,
      reached_threshold=result.reached_threshold,
      early_stopped=result.early_stopped, best_epoch=result.best_epoch,
      diverged=result.diverged, pretrain_costs=pretrain_costs,
      stop_reason=stop_reason(diverged=result.diverged,
                              early_stopped=result.early_stopped,
                              reached_threshold=result.reached_threshold),
      grad=config.fit.grad, sizes=sizes,
      description=(f"{sizes} {config.net.activation}, {config.net.loss}, "
                   f"grad={config.fit.grad}"), **scores)
  return RunResult(summary, result.history, result.params, result.stats,
                   model, splits)


def train_and_evaluate(config: Config,
                       on_progress: Optional[Callable[[int, dict], Any]] = None,
                       checkpoint_dir: Optional[str] = None,
                       resume: bool = False) -> RunResult:
  """Runs ``config`` and returns its :class:`RunResult`.

  With ``checkpoint_dir`` and ``checkpoint_every > 0`` the training state is
  saved there every that many epochs; ``resume`` continues from the latest
  checkpoint (whose settings must match, but for the number of epochs).
  With ``dtype="float64"`` the run computes in 64 bits (as NumPy does by
  default) inside ``jax.enable_x64``; the parameters are float64 arrays.
  """
  start = time.perf_counter()
  with jax.enable_x64(config.net.dtype == "float64"):
    keys = run_keys(config)
    splits = prepare(config, keys[0])
    if config.net.model == "perceptron":
      return run_perceptron(config, splits, keys[2], start)
    return run_network(config, splits, keys, start, on_progress,
                       checkpoint_dir, resume)
