"""One supervised run from a frozen config: data -> init -> fit -> results.

``experiments/train.py`` maps its flags onto :class:`Config` one to one, so a
config field and its flag share a name, and so do the error messages.
"""

import os
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import activations
from nn_jax import data as data_lib
from nn_jax import encoding
from nn_jax import losses
from nn_jax import mlp
from nn_jax import pretrain as pretrain_lib
from nn_jax import train as train_lib

INPUT_ENCODINGS = ("standardize", "scale", "none")
SPLIT_ORDERS = ("random", "file")
AUGMENTATIONS = ("noise", "shift")


DATASETS = data_lib.NAMES + ("mnist", "mnist1d", "csv")
MODELS = ("mlp", "perceptron")
DTYPES = ("float32", "float64")


class Config(NamedTuple):
  """Hyperparameters of one run; every field is a flag of experiments.train."""
  model: str = "mlp"
  dataset: str = "digits"
  classes: str = ""        # "3,8": keep these classes (3 -> 0, 8 -> 1)
  positive_class: int = -1  # >= 0: that class vs. the rest
  data_dir: str = ""       # mnist: folder of the IDX files ("" = cache)
  csv_path: str = ""       # csv: the file, its target column, column types
  target: str = ""
  nominal: str = ""        # "a,b"
  ordinal: str = ""        # "c:low<mid<high;d:s<m<l"
  task: str = ""           # csv: classification or regression ("": inferred)
  hidden: tuple = (256,)
  activation: str = "relu"
  alpha: Optional[float] = None
  residual: bool = False   # skip connections around equal-width layers
  loss: str = "softmax_cross_entropy"
  init: str = "glorot"
  optimizer: str = "momentum"
  learning_rate: float = 0.005
  momentum: float = 0.9
  batch_size: int = 32
  shuffle: bool = True      # False: the training examples in a fixed order
  epochs: int = 80
  cost_threshold: float = 0.0
  seed: int = 0
  grad: str = "manual"
  test_fraction: float = 0.2
  validation_fraction: float = 0.1
  split_order: str = "random"   # "file": held-out parts from the file's end
  input_encoding: str = "standardize"
  train_size: int = 0
  devices: int = 1
  epochs_per_call: int = 0
  checkpoint_every: int = 0
  train_metrics: str = "full"   # "batches": the mean of the batch costs
  dtype: str = "float32"        # "float64": parameters and data in 64 bits
  # Regularization and training techniques (all off by default).
  l2: float = 0.0
  l2_alpha: bool = False
  max_norm: float = 0.0
  dropout: float = 0.0
  batchnorm: bool = False
  augment: tuple = ()
  noise_std: float = 0.1
  max_shift: int = 1
  early_stopping_patience: int = 0
  pretrain: bool = False
  pretrain_epochs: int = 10
  schedule: str = "constant"
  decay_rate: float = 0.5
  decay_epochs: int = 10


def _allowed(name, value, allowed):
  if value not in allowed:
    raise ValueError(f"{name}={value!r} is not allowed; use one of: "
                     f"{', '.join(map(str, allowed))}")


def validate(config: Config) -> None:
  """Raises ValueError naming the first field with a value that is not allowed."""
  _allowed("model", config.model, MODELS)
  _allowed("dataset", config.dataset, DATASETS)
  if config.classes and config.positive_class >= 0:
    raise ValueError("use either classes or positive_class, not both")
  if config.dataset == "csv" and not (config.csv_path and config.target):
    raise ValueError("dataset=csv needs csv_path and target (the column to "
                     "predict)")
  if config.task:
    _allowed("task", config.task, (data_lib.CLASSIFICATION,
                                   data_lib.REGRESSION))
    if config.dataset != "csv":
      raise ValueError(f"task is for dataset=csv; {config.dataset!r} has "
                       f"its own")
  _allowed("activation", config.activation, activations.DIFFERENTIABLE)
  _allowed("loss", config.loss, losses.NAMES)
  _allowed("init", config.init, mlp.INIT_SCHEMES)
  _allowed("optimizer", config.optimizer, train_lib.OPTIMIZERS)
  _allowed("grad", config.grad, ("manual", "autodiff"))
  _allowed("input_encoding", config.input_encoding, INPUT_ENCODINGS)
  _allowed("split_order", config.split_order, SPLIT_ORDERS)
  _allowed("train_metrics", config.train_metrics, train_lib.TRAIN_METRICS)
  _allowed("dtype", config.dtype, DTYPES)
  if config.dtype != "float32" and config.model != "mlp":
    raise ValueError(f"dtype={config.dtype} is for model=mlp; the perceptron "
                     "trains in float32")
  if any(h < 1 for h in config.hidden):
    raise ValueError(f"hidden sizes must be >= 1 (comma-separated, empty for "
                     f"no hidden layer); got {list(config.hidden)}")
  if not 0 < config.learning_rate < float("inf"):
    raise ValueError(f"learning_rate must be > 0 and finite; got "
                     f"{config.learning_rate}")
  if not 0 <= config.momentum < 1:
    raise ValueError(f"momentum must be in [0, 1); got {config.momentum}")
  if config.batch_size < 0:
    raise ValueError(f"batch_size must be 0 (whole training set) or >= 1; "
                     f"got {config.batch_size}")
  if config.epochs < 1:
    raise ValueError(f"epochs must be >= 1; got {config.epochs}")
  if config.cost_threshold < 0:
    raise ValueError(f"cost_threshold must be >= 0; got "
                     f"{config.cost_threshold}")
  for name in ("test_fraction", "validation_fraction"):
    if not 0 <= getattr(config, name) < 1:
      raise ValueError(f"{name} must be in [0, 1); got "
                       f"{getattr(config, name)}")
  if config.train_size < 0:
    raise ValueError(f"train_size must be >= 0 (0: the whole training "
                     f"split); got {config.train_size}")
  for name in ("checkpoint_every", "epochs_per_call"):
    if getattr(config, name) < 0:
      raise ValueError(f"{name} must be >= 0 (0: off, or the default); got "
                       f"{getattr(config, name)}")
  if config.test_fraction + config.validation_fraction >= 1:
    raise ValueError("test_fraction + validation_fraction must be < 1")
  if config.alpha is not None and config.alpha < 0:
    raise ValueError(f"alpha must be >= 0; got {config.alpha}")
  _allowed("schedule", config.schedule, train_lib.SCHEDULES)
  for name in ("l2", "max_norm", "noise_std"):
    if getattr(config, name) < 0:
      raise ValueError(f"{name} must be >= 0; got {getattr(config, name)}")
  if not 0 <= config.dropout < 1:
    raise ValueError(f"dropout must be in [0, 1); got {config.dropout}")
  for a in config.augment:
    _allowed("augment", a, AUGMENTATIONS)
  if config.max_shift < 0:
    raise ValueError(f"max_shift must be >= 0; got {config.max_shift}")
  if config.early_stopping_patience < 0:
    raise ValueError(f"early_stopping_patience must be >= 0; got "
                     f"{config.early_stopping_patience}")
  if config.early_stopping_patience and config.validation_fraction == 0:
    raise ValueError("early_stopping_patience needs validation_fraction > 0")
  if config.pretrain and not config.hidden:
    raise ValueError("pretrain needs at least one hidden layer (--hidden)")
  if config.pretrain and config.residual:
    raise ValueError("pretrain trains plain layers; it cannot be combined "
                     "with residual")
  if config.pretrain_epochs < 1:
    raise ValueError(f"pretrain_epochs must be >= 1; got "
                     f"{config.pretrain_epochs}")
  if not 0 < config.decay_rate <= 1:
    raise ValueError(f"decay_rate must be in (0, 1]; got {config.decay_rate}")
  if config.decay_epochs < 1:
    raise ValueError(f"decay_epochs must be >= 1; got {config.decay_epochs}")


class Splits(NamedTuple):
  train: data_lib.Dataset
  val: data_lib.Dataset
  test: data_lib.Dataset


def prepare(config: Config, key) -> Splits:
  """Loads the data set, splits it, and encodes inputs fitted on training data.

  Data sets of fewer than 10 examples (``xor``) are not split: all examples
  are training and test data. MNIST, MNIST-1D and CSV files keep their own
  test set (a CSV file is split by ``test_fraction`` and encoded by
  :mod:`nn_jax.tabular`, fitted on its training rows). ``train_size > 0``
  keeps only that many training examples (the first of the shuffled split,
  after ``classes`` or ``positive_class`` picked theirs). With ``split_order
  = "file"`` the held-out parts are the last examples in file order
  (validation the end of MNIST's training file, as in Nielsen's book), not
  drawn at random.
  """
  fractions = (config.test_fraction, config.validation_fraction)
  split_key = None if config.split_order == "file" else key
  if config.dataset in ("mnist", "mnist1d", "csv"):
    # These come with their own test set: only validation is split off.
    if config.dataset == "mnist":
      from nn_jax import mnist  # pylint: disable=g-import-not-at-top
      full, test = mnist.load_mnist(config.data_dir or None)
    elif config.dataset == "mnist1d":
      from nn_jax import mnist  # pylint: disable=g-import-not-at-top
      full, test = mnist.load_mnist1d()
    else:
      from nn_jax import tabular  # pylint: disable=g-import-not-at-top
      full, test, _ = tabular.load_split(
          config.csv_path, config.target,
          tabular.parse_nominal(config.nominal),
          tabular.parse_ordinal(config.ordinal), config.test_fraction,
          config.seed, task=config.task or None)
    val, train = data_lib.split(full, split_key,
                               (config.validation_fraction,))
  else:
    ds = data_lib.load(config.dataset, seed=config.seed)
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
  if config.train_size:   # of the selected classes' training examples
    if config.train_size > train.size:
      raise ValueError(f"train_size={config.train_size} exceeds the "
                       f"{train.size} training examples")
    train = train.take(np.arange(config.train_size))
  if config.input_encoding != "none" and config.dataset != "csv":
    enc = (encoding.Standardize if config.input_encoding == "standardize"
           else encoding.ScaleRange).fit(train.x)
    train, val, test = (s._replace(x=enc.apply(s.x)) if s.size else s
                        for s in (train, val, test))
  return Splits(train, val, test)


def training_data(splits: Splits, loss: losses.Loss,
                  dtype=jnp.float32) -> train_lib.Data:
  """The training and validation arrays of ``splits``, targets encoded for
  ``loss``'s outputs (the validation arrays shaped so also when empty)."""
  encode = lambda s: jnp.asarray(data_lib.targets(loss, s), dtype)
  n_in, y = splits.train.x.shape[1], encode(splits.train)
  return train_lib.Data(jnp.asarray(splits.train.x, dtype), y,
                        jnp.asarray(splits.val.x.reshape(-1, n_in), dtype),
                        encode(splits.val).reshape(-1, y.shape[1]))


def predict_labels(params, stats, x, model: mlp.Model) -> np.ndarray:
  """Class labels: the largest output, or a single sigmoid unit > 0.5
  (computed in the parameters' precision, float64 ones in 64 bits)."""
  dtype = params[0]["w"].dtype
  with jax.enable_x64(dtype == np.float64):
    o = mlp.predict(params, jnp.asarray(x, dtype), model, stats)
    if o.shape[1] == 1:
      return np.asarray(o[:, 0] > 0.5, np.int32)
    return np.asarray(jnp.argmax(o, -1))


def confusion_matrix(y, predicted, k: int) -> list:
  """``m[i][j]``: examples of class i predicted as j."""
  m = np.zeros((k, k), np.int64)
  np.add.at(m, (np.asarray(y), np.asarray(predicted)), 1)
  return m.tolist()


def _check_resumable(checkpointer, config: Config) -> None:
  """Raises ValueError naming a field that differs from the checkpoint's."""
  epoch = checkpointer.latest_epoch()
  saved = checkpointer.metadata(epoch).get("config", {})
  now = _jsonable_config(config)
  for name, value in now.items():
    if name in RESUMABLE_CHANGES or name not in saved:
      continue
    if saved[name] != value:
      raise ValueError(f"cannot resume: the checkpoint at epoch {epoch} was "
                       f"made with {name}={saved[name]!r}, this run has "
                       f"{name}={value!r}")
  if epoch > config.epochs:
    raise ValueError(f"cannot resume: the latest checkpoint is at epoch "
                     f"{epoch}, past epochs={config.epochs}; set epochs to "
                     f"{epoch} or more")


def _jsonable_config(config: Config) -> dict:
  import json  # pylint: disable=g-import-not-at-top
  return json.loads(json.dumps(config._asdict()))


def _perceptron_run(config: Config, splits: Splits, key) -> dict:
  """Rosenblatt's perceptron through the same data path as the networks."""
  from nn_jax import perceptron  # pylint: disable=g-import-not-at-top
  if splits.train.num_classes != 2:
    raise ValueError(f"model=perceptron needs a binary problem; "
                     f"{config.dataset!r} has {splits.train.num_classes} "
                     f"classes (use classes=a,b or positive_class=k)")
  x = jnp.asarray(splits.train.x)
  result = perceptron.train(x, jnp.asarray(splits.train.y), key=key,
                            learning_rate=config.learning_rate,
                            max_epochs=config.epochs, shuffle=config.shuffle)
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
  return {"params": {"w": result.w}, "history": history,
          "test_accuracy": accuracy(splits.test), "test_loss": float("nan"),
          "confusion_matrix": confusion_matrix(splits.test.y, predicted, 2),
          "final_train_accuracy": accuracy(splits.train),
          "epochs_run": epochs,
          "reached_threshold": bool(result.converged)}


def run_keys(config: Config):
  """The run's PRNG keys: ``(split, init, train, pretrain)``, from the seed."""
  return jax.random.split(jax.random.PRNGKey(config.seed), 4)


def config_from_dict(d: dict) -> Config:
  """A Config from its JSON form (lists back to tuples, unknown keys out)."""
  fields = {k: (tuple(v) if isinstance(v, list) else v)
            for k, v in d.items() if k in Config._fields}
  return Config(**fields)


def model_of(config: Config) -> mlp.Model:
  """The network a config describes."""
  return mlp.make_model(config.activation, config.loss, config.alpha,
                        dropout=config.dropout, batchnorm=config.batchnorm,
                        l2=config.l2, l2_alpha=config.l2_alpha,
                        residual=config.residual)


def has_decision_regions(config: Config, n_in: int) -> bool:
  """Whether a run's figures include its decision regions: a network that
  classifies 2-D inputs."""
  return (config.model == "mlp" and n_in == 2
          and losses.get(config.loss).task != losses.REGRESSION)


# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("epochs", "epochs_per_call")


def train_and_evaluate(config: Config,
                       on_progress: Optional[Callable[[int, dict], Any]] = None,
                       checkpoint_dir: Optional[str] = None,
                       resume: bool = False) -> dict:
  """Runs ``config`` and returns its results.

  With ``checkpoint_dir`` and ``config.checkpoint_every > 0`` the training
  state is saved there every that many epochs; ``resume`` continues from the
  latest checkpoint (whose configuration must match, but for the number of
  epochs).

  Returns:
    A dict with ``test_accuracy``, ``test_loss``, ``final_train_loss``,
    ``epochs_run``, ``reached_threshold``, ``seconds``, ``grad``, ``config``
    (the fields as a dict), ``history`` (per-epoch metric arrays) and the
    trained ``params`` and ``model``.

  With ``config.dtype="float64"`` the run computes in 64 bits (as NumPy
  does by default) inside ``jax.enable_x64``; the returned parameters are
  float64 arrays.
  """
  validate(config)
  with jax.enable_x64(config.dtype == "float64"):
    return _train_and_evaluate(config, on_progress, checkpoint_dir, resume)


def _train_and_evaluate(config, on_progress, checkpoint_dir, resume):
  start = time.perf_counter()
  model = model_of(config)
  split_key, init_key, train_key, pretrain_key = run_keys(config)
  splits = prepare(config, split_key)
  if config.model == "perceptron":
    out = _perceptron_run(config, splits, train_key)
    return {**out, "final_train_loss": float(out["history"]["train_loss"][-1]),
            "early_stopped": False, "best_epoch": 0, "diverged": False,
            "pretrain_costs": [], "seconds": time.perf_counter() - start,
            "grad": "perceptron rule", "sizes": [splits.train.x.shape[1], 1],
            "num_train": splits.train.size, "num_val": splits.val.size,
            "num_test": splits.test.size, "config": config._asdict(),
            "stats": [], "model": None, "splits": splits}
  data_lib.check_loss_fits(model.loss, splits.train)
  if "shift" in config.augment and not splits.train.image_shape:
    raise ValueError(f"augment=shift needs an image data set; "
                     f"{config.dataset!r} is not one (use augment=noise)")
  sizes = ([splits.train.x.shape[1], *config.hidden]
           + [data_lib.num_outputs(model.loss, splits.train)])
  dtype = jnp.dtype(config.dtype)
  params = mlp.init(init_key, sizes, model, config.init, dtype)
  batch = train_lib.resolve_batch_size(config.batch_size, splits.train.size)
  schedule = train_lib.make_schedule(
      config.schedule, config.learning_rate,
      steps_per_epoch=splits.train.size // batch, epochs=config.epochs,
      decay_rate=config.decay_rate, decay_epochs=config.decay_epochs)
  make_optimizer = lambda: train_lib.make_optimizer(
      config.optimizer, schedule, config.momentum)
  data = training_data(splits, model.loss, dtype)
  pretrain_costs = []
  checkpointer = None
  if checkpoint_dir and (config.checkpoint_every or (
      resume and os.path.isdir(checkpoint_dir))):
    from nn_jax import checkpoint  # pylint: disable=g-import-not-at-top
    checkpointer = checkpoint.Checkpointer(
        checkpoint_dir, config=_jsonable_config(config))
    latest = checkpointer.latest_epoch()
    if resume and latest is not None:
      _check_resumable(checkpointer, config)
    elif latest is not None:   # its epochs would not be saved over
      checkpointer.close()
      raise ValueError(f"checkpoint_every: {checkpoint_dir} holds the "
                       f"checkpoints of an earlier run (the latest at epoch "
                       f"{latest}); resume to continue that run, or choose "
                       f"another folder")
  if config.pretrain and not (resume and checkpointer and
                              checkpointer.latest_epoch() is not None):
    params, pretrain_costs = pretrain_lib.pretrain(
        pretrain_key, params, model, data.x, epochs=config.pretrain_epochs,
        batch_size=config.batch_size, make_optimizer=make_optimizer,
        grad=config.grad)
  result = train_lib.fit(
      params, model, make_optimizer(), data, key=train_key,
      epochs=config.epochs, batch_size=config.batch_size, grad=config.grad,
      shuffle=config.shuffle,
      cost_threshold=config.cost_threshold, max_norm=config.max_norm,
      early_stopping_patience=config.early_stopping_patience,
      noise_std=config.noise_std if "noise" in config.augment else 0.0,
      max_shift=config.max_shift if "shift" in config.augment else 0,
      image_shape=splits.train.image_shape, devices=config.devices,
      train_metrics=config.train_metrics,
      epochs_per_call=config.epochs_per_call or None,
      on_progress=on_progress, checkpointer=checkpointer,
      checkpoint_every=config.checkpoint_every, resume=resume)
  if checkpointer is not None:
    checkpointer.close()
  test_loss, test_acc = train_lib.evaluate(
      result.params, jnp.asarray(splits.test.x, dtype),
      jnp.asarray(data_lib.targets(model.loss, splits.test), dtype), model,
      result.stats)
  confusion = None
  if splits.test.task == data_lib.CLASSIFICATION and splits.test.size:
    predicted = predict_labels(result.params, result.stats, splits.test.x,
                               model)
    confusion = confusion_matrix(splits.test.y, predicted,
                                 splits.test.num_classes)
  return {
      "test_accuracy": float(test_acc),
      "test_loss": float(test_loss),
      "confusion_matrix": confusion,
      "final_train_loss": float(result.history["train_loss"][-1]),
      "final_train_accuracy": float(result.history["train_accuracy"][-1]),
      "epochs_run": result.epochs_run,
      "reached_threshold": result.reached_threshold,
      "early_stopped": result.early_stopped,
      "best_epoch": result.best_epoch,
      "diverged": result.diverged,
      "pretrain_costs": pretrain_costs,
      "seconds": time.perf_counter() - start,
      "grad": config.grad,
      "sizes": sizes,
      "num_train": splits.train.size,
      "num_val": splits.val.size,
      "num_test": splits.test.size,
      "config": config._asdict(),
      "history": result.history,
      "params": result.params,
      "stats": result.stats,
      "model": model,
      "splits": splits,
  }

