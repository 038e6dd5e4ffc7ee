"""Every setting of a run, declared once: name, type, default, help, check.

Settings are grouped by concern into frozen dataclasses:

* :class:`DataConfig`: the data set, which of its examples, the splits, the
  input encoding;
* :class:`NetConfig`: the network (or the perceptron) and its regularizers;
* :class:`OptimConfig`: the optimizer and its learning-rate schedule;
* :class:`FitOptions`: how :func:`nn_jax.train.fit` trains (epochs, batch
  size, stopping rules, augmentation, devices, checkpoints);
* :class:`Config`: one run, the four above plus the seed and pretraining.

A field is declared with :func:`setting` (its default, help text and check);
its type is the annotation. Everything else derives from that declaration:
the absl flags of every script (``experiments/cli.py``, flag name = field
name), the checks (every instance is checked when it is made, so an
instance holds valid values; a bad value raises ``ValueError`` naming the
field), the config recorded in results.json and checkpoints
(:meth:`Config.flat`), and the parameter checks of the scikit-learn
estimators (which build these objects from their arguments).

Adding a setting: one ``setting(...)`` line in the class of its concern,
then the code that uses it. A script that wants another default passes it
to ``cli.define_flags`` in one line.
"""

import dataclasses
import math
import numbers
from typing import Any, NamedTuple, Optional

from nn_jax import activations
from nn_jax import encoding
from nn_jax import losses
from nn_jax import mlp

# Integers that the compiled loop counts in int32.
INT32_MAX = 2**31 - 1

DATASETS = ("digits", "iris", "xor", "moons", "circles", "spiral", "blobs",
            "mnist", "mnist1d", "csv", "vowels", "sine", "lissajous",
            "chile")
# Data sets whose columns nn_jax.tabular encodes by type.
TABULAR = ("csv", "chile")
INPUT_ENCODINGS = ("standardize", "scale", "none")
NOMINAL_CODES = ("one_hot", "integer")
ORDINAL_CODES = ("thermometer", "one_hot", "integer")
SPLIT_ORDERS = ("random", "file")
TASKS = ("", "classification", "regression")
MODELS = ("mlp", "perceptron")
# The settings beyond the data's that model=perceptron uses (dtype: only
# float32, checked by NetConfig).
PERCEPTRON_USES = ("model", "dtype", "learning_rate", "epochs", "shuffle",
                   "seed")
DTYPES = ("float32", "float64")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "delayed_sgd")
SCHEDULES = ("constant", "step", "exponential", "cosine")
GRADS = ("manual", "autodiff")
TRAIN_METRICS = ("full", "batches")
AUGMENTATIONS = ("noise", "shift")


# ----------------------------------------------------------------- checks
class OneOf(NamedTuple):
  """The value is one of ``choices``."""
  choices: tuple

  def error(self, value) -> Optional[str]:
    if isinstance(value, str) and value in self.choices:
      return None
    return (f"is not allowed; use one of: "
            f"{', '.join(c or '(empty)' for c in self.choices)}")


class Range(NamedTuple):
  """A finite number in ``[low, high)`` (the open ends as given)."""
  low: float = -math.inf
  high: float = math.inf
  low_open: bool = False
  high_open: bool = False

  def describe(self) -> str:
    low = f"{'>' if self.low_open else '>='} {_number(self.low)}"
    if self.high >= INT32_MAX:   # a bound for counters only: not shown
      return low
    return (f"in {'(' if self.low_open else '['}{_number(self.low)}, "
            f"{_number(self.high)}{')' if self.high_open else ']'}")

  def error(self, value) -> Optional[str]:
    if self.high >= INT32_MAX and math.isfinite(value) and (
        value >= self.high if self.high_open else value > self.high):
      return f"must be at most {_number(self.high)}"
    ok = (math.isfinite(value)
          and (value > self.low if self.low_open else value >= self.low)
          and (value < self.high if self.high_open else value <= self.high))
    if ok:
      return None
    return (f"must be {self.describe()}"
            + (" and finite" if isinstance(value, float) else ""))


def _number(v) -> str:
  return str(int(v)) if float(v).is_integer() else f"{v:g}"


class Items(NamedTuple):
  """A tuple whose every item is a ``kind`` (int or str) that passes
  ``check``."""
  kind: type
  check: Any
  what: str

  def error(self, value) -> Optional[str]:
    for item in value:
      if (_type_error("", self.kind, item) is not None
          or self.check.error(item) is not None):
        return f"must hold {self.what}"
    return None


class Names(NamedTuple):
  """Distinct, non-empty names (of columns)."""

  def error(self, value) -> Optional[str]:
    if not all(value):
      return "must hold non-empty names, comma-separated"
    for name in value:
      if value.count(name) > 1:
        return f"lists {name!r} twice"
    return None


def _type_error(name, kind, value) -> Optional[str]:
  """Whether ``value`` has the setting's type (a bool is not a number)."""
  is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"
  if kind is bool:
    ok = is_bool
  elif kind is int:
    ok = isinstance(value, numbers.Integral) and not is_bool
  elif kind is float:
    ok = isinstance(value, numbers.Real) and not is_bool
  elif kind is str:
    ok = isinstance(value, str)
  else:   # tuples
    ok = isinstance(value, tuple)
  what = {bool: "True or False", int: "an integer", float: "a number",
          str: "a string"}.get(kind, "a tuple")
  return None if ok else f"{name} must be {what}; got {value!r}"


def setting(default, help: str, check=None):   # pylint: disable=redefined-builtin
  """A declared setting: the dataclass field with its help and check."""
  return dataclasses.field(default=default,
                           metadata={"help": help, "check": check})


def kind_of(field: dataclasses.Field):
  """The setting's base type: bool, int, float, str, or tuple (of ints for
  layer sizes, of strings for lists); ``Optional[float]`` is float."""
  t = field.type
  if isinstance(t, str):   # annotations are strings under __future__
    t = eval(t, globals())   # pylint: disable=eval-used
  for kind in (bool, int, float, str):
    if t is kind or t == Optional[kind]:
      return kind
  return tuple


def item_kind(field: dataclasses.Field):
  """The item type of a tuple setting (int or str)."""
  return int if "int" in str(field.type) else str


class _Settings:
  """Checks every field when an instance is made (see :func:`setting`)."""

  def __post_init__(self):
    for field in settings_of(self):
      value = getattr(self, field.name)
      kind = kind_of(field)
      if kind is tuple and isinstance(value, list):   # from JSON
        value = tuple(value)
        object.__setattr__(self, field.name, value)
      if (kind is tuple and isinstance(value, str)
          and item_kind(field) is str):   # "a,b" (or "a") for ("a", "b")
        value = tuple(v.strip() for v in value.split(",")) if value else ()
        object.__setattr__(self, field.name, value)
      if value is None and field.default is None:   # Optional, unset
        continue
      message = _type_error(field.name, kind, value)
      if message is None and kind is int and not -2**63 <= value < 2**64:
        message = f"{field.name} is out of range; got {value}"
      if message is not None:
        raise ValueError(message)
      if kind is float and not isinstance(value, float):
        value = float(value)   # 1 -> 1.0; numpy scalars -> float
        object.__setattr__(self, field.name, value)
      elif kind is int and not isinstance(value, int):
        value = int(value)
        object.__setattr__(self, field.name, value)
      elif kind is bool:
        value = bool(value)
        object.__setattr__(self, field.name, value)
      check = field.metadata["check"]
      if check is not None:
        error = check.error(value)
        if error:
          shown = ",".join(map(str, value)) if kind is tuple else repr(value)
          raise ValueError(f"{field.name}={shown} {error}" if isinstance(
              check, OneOf) else f"{field.name} {error}; got {shown}")
    self._relations()

  def _relations(self) -> None:
    """Checks between fields (subclasses)."""

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ValueError(message)


# ------------------------------------------------------------- concerns
@dataclasses.dataclass(frozen=True)
class DataConfig(_Settings):
  """The data set, its examples and splits, the input encoding."""
  dataset: str = setting("digits", "Data set.", OneOf(DATASETS))
  data_dir: str = setting("", "MNIST: folder of the IDX files (default "
                          "~/.cache/nn_jax/mnist, downloaded if missing).")
  csv_path: str = setting("", "CSV: the file to train on.")
  target: tuple[str, ...] = setting(
      (), "CSV: the column to predict, or several numeric ones, y1,y2, "
      "predicted together by regression (one linear output each).", Names())
  features: str = setting("", "CSV: the input columns, a,b (default: every "
                          "column but the target).")
  n_samples: int = setting(500, "Examples of a generated data set (moons, "
                           "circles, spiral, blobs, sine, lissajous).",
                           Range(1, INT32_MAX))
  num_classes: int = setting(3, "Classes of a generated data set that has a "
                             "choice (spiral, blobs).", Range(2, INT32_MAX))
  data_noise: Optional[float] = setting(
      None, "Noise of a generated data set (default: its own): moons, "
      "circles: std of each point; spiral: std of each point's angle "
      "(rad); blobs: std of each class around its centre; sine, "
      "lissajous: std of the noise added to each target.", Range(0))
  vowel_features: tuple[str, ...] = setting(
      ("F1", "F2"), "vowels: the inputs, of F0, F1, F2, F3 (Hz).",
      Items(str, OneOf(("F0", "F1", "F2", "F3")), "F0, F1, F2 or F3"))
  log_frequency: bool = setting(False, "vowels: the log of each frequency "
                                "as input (before input_encoding).")
  nominal: str = setting("", "CSV: nominal columns, a,b (1-of-k coded).")
  ordinal: str = setting("", "CSV: ordinal columns with their levels, "
                         "c:low<mid<high;d:s<m<l (thermometer coded).")
  nominal_code: str = setting("one_hot", "CSV, chile: nominal columns as "
                              "one_hot (1-of-k) or integer (the category's "
                              "index, one input).", OneOf(NOMINAL_CODES))
  ordinal_code: str = setting("thermometer", "CSV, chile: ordinal columns "
                              "as thermometer, one_hot or integer (the "
                              "level's index, one input).",
                              OneOf(ORDINAL_CODES))
  thermometer_units: str = setting(
      "k-1", "Thermometer code of k levels: k-1 units (level i sets the "
      "first i; the default, since the k-th would be 1 for every level, a "
      "copy of the bias) or k, the lecture's (small = [1 0 0], medium = "
      "[1 1 0], large = [1 1 1]).", OneOf(encoding.THERMOMETER_UNITS))
  task: str = setting("", "CSV: classification or regression; empty: "
                      "classification when the target holds text or at "
                      "most 10 distinct integers.", OneOf(TASKS))
  classes: str = setting("", "Keep only these classes, e.g. 3,8 "
                         "(relabelled 0, 1, ... in this order).")
  positive_class: int = setting(-1, "If >= 0: this class vs. the rest "
                                "(binary).", Range(-1, INT32_MAX))
  train_size: int = setting(0, "Use only this many training examples (0: "
                            "the whole training split), counted after "
                            "--classes or --positive_class.",
                            Range(0, INT32_MAX))
  test_fraction: float = setting(0.2, "Held-out test share.",
                                 Range(0, 1, high_open=True))
  validation_fraction: float = setting(0.1, "Validation share, monitored "
                                       "every epoch.",
                                       Range(0, 1, high_open=True))
  split_order: str = setting("random", "Held-out examples: random, or file "
                             "(the last ones in the file's order: the test "
                             "part last, validation before it; a CSV file's "
                             "test rows are drawn at random either way).",
                             OneOf(SPLIT_ORDERS))
  input_encoding: str = setting("standardize", "Inputs: standardize, scale "
                                "(to [-1, 1]) or none, fitted on the "
                                "training split (of a CSV file or chile, "
                                "the numeric columns: standardize or "
                                "none).",
                                OneOf(INPUT_ENCODINGS))

  def _relations(self):
    _require(not (self.classes and self.positive_class >= 0),
             "use either classes or positive_class, not both")
    _require(self.dataset != "csv" or (self.csv_path and self.target),
             "dataset=csv needs csv_path and target (the column to predict)")
    _require(len(self.target) < 2 or self.task != "classification",
             f"task=classification predicts one target column; several "
             f"({','.join(self.target)}) are predicted together by "
             f"regression only")
    _require(not self.task or self.dataset == "csv",
             f"task is for dataset=csv; {self.dataset!r} has its own")
    _require(self.test_fraction + self.validation_fraction < 1,
             "test_fraction + validation_fraction must be < 1")
    _require(self.dataset not in TABULAR or self.input_encoding != "scale",
             f"input_encoding=scale is for the other data sets; "
             f"{self.dataset}'s numeric columns are standardized (fitted on "
             "its training rows) or, with none, left as they are")


@dataclasses.dataclass(frozen=True)
class NetConfig(_Settings):
  """The network (or the perceptron), its units and regularizers."""
  model: str = setting("mlp", "mlp (a network trained by backprop) or "
                       "perceptron (Rosenblatt's rule, binary problems; the "
                       "cost is the fraction of mistakes in an epoch; it "
                       "takes the data settings, learning_rate, epochs, "
                       "shuffle and seed, and refuses the others).",
                       OneOf(MODELS))
  hidden: tuple[int, ...] = setting((256,), "Hidden layer sizes, "
                                    "comma-separated; empty for none.",
                                    Items(int, Range(1, INT32_MAX),
                                          "positive integers"))
  activation: str = setting("relu", "Hidden activation.",
                            OneOf(activations.DIFFERENTIABLE))
  alpha: Optional[float] = setting(None, "Negative-side slope of leaky, "
                                   "generalized and parametric ReLU "
                                   "(initial value for the last).", Range(0))
  residual: bool = setting(False, "Skip connections: a hidden layer as wide "
                           "as its input adds the input to its output, "
                           "a_l = a_{l-1} + g(z_l).")
  loss: str = setting("softmax_cross_entropy", "Output layer and cost.",
                      OneOf(losses.NAMES))
  init: str = setting("glorot", "Weight init.", OneOf(mlp.INIT_SCHEMES))
  dtype: str = setting("float32", "Parameters and data: float32, or float64 "
                       "(64-bit JAX for this run, as NumPy computes; "
                       "slower; its initial weights are drawn in 64 bits, "
                       "another draw than float32's from the same seed).",
                       OneOf(DTYPES))
  l2: float = setting(0.0, "L2 penalty (l2/2) sum ||w||^2 on weights (not "
                      "biases); Nielsen's lambda/n.", Range(0))
  l2_alpha: bool = setting(False, "Also penalize PReLU slopes.")
  dropout: float = setting(0.0, "Drop probability of hidden units.",
                           Range(0, 1, high_open=True))
  batchnorm: bool = setting(False, "Batch-normalize hidden layers.")

  def _relations(self):
    _require(self.dtype == "float32" or self.model == "mlp",
             f"dtype={self.dtype} is for model=mlp; the perceptron trains "
             "in float32")

  def make(self):
    """The :class:`nn_jax.mlp.Model` this describes."""
    return mlp.make_model(self.activation, self.loss, self.alpha,
                          dropout=self.dropout, batchnorm=self.batchnorm,
                          l2=self.l2, l2_alpha=self.l2_alpha,
                          residual=self.residual)


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Settings):
  """The optimizer and its learning-rate schedule."""
  optimizer: str = setting("momentum", "Optimizer: sgd, momentum, nesterov, "
                           "adam, or delayed_sgd (plain SGD; online, with "
                           "hand-written gradients, the first layers' "
                           "updates are applied per block of examples: the "
                           "same steps, rounded differently, faster).",
                           OneOf(OPTIMIZERS))
  learning_rate: float = setting(0.005, "Learning rate eta.",
                                 Range(0, low_open=True))
  momentum: float = setting(0.9, "Momentum mu (momentum, nesterov).",
                            Range(0, 1, high_open=True))
  schedule: str = setting("constant", "Learning-rate schedule: constant, "
                          "step, exponential, cosine.", OneOf(SCHEDULES))
  decay_rate: float = setting(0.5, "Decay factor of the step and "
                              "exponential schedules.",
                              Range(0, 1, low_open=True))
  decay_epochs: int = setting(10, "Epochs per decay.", Range(1, INT32_MAX))


@dataclasses.dataclass(frozen=True)
class FitOptions(_Settings):
  """How :func:`nn_jax.train.fit` trains."""
  epochs: int = setting(80, "Most epochs to run.", Range(1, INT32_MAX))
  batch_size: int = setting(32, "1: online SGD; 0: whole set (batch GD); "
                            "else mini-batches (an epoch is n // batch_size "
                            "full batches).", Range(0, INT32_MAX))
  shuffle: bool = setting(True, "Reshuffle the training set every epoch; "
                          "--noshuffle visits it in a fixed order.")
  grad: str = setting("manual", "Gradients: manual (hand-written backprop) "
                      "or autodiff (jax.grad).", OneOf(GRADS))
  cost_threshold: float = setting(0.0, "Stop when the training cost falls "
                                  "below this (0: never).", Range(0))
  max_norm: float = setting(0.0, "Max-norm bound on each unit's incoming "
                            "weights, projected after every step (0: off).",
                            Range(0))
  early_stopping_patience: int = setting(
      0, "Stop after this many epochs without a better validation cost; "
      "keep the best epoch (0: off).", Range(0, INT32_MAX))
  augment: tuple[str, ...] = setting((), "Data augmentation: noise "
                                     "(Gaussian input noise), shift "
                                     "(random image shifts).",
                                     Items(str, OneOf(AUGMENTATIONS),
                                           "noise or shift"))
  noise_std: float = setting(0.1, "Std of the input noise.", Range(0))
  max_shift: int = setting(1, "Largest image shift, px.",
                           Range(0, INT32_MAX))
  train_metrics: str = setting("batches", "Training cost and accuracy per "
                               "epoch: batches (the mean over the epoch's "
                               "batches, each before its update) or full "
                               "(a second pass over the whole training set "
                               "after the epoch).",
                               OneOf(TRAIN_METRICS))
  devices: int = setting(1, "Data-parallel over this many devices (batch "
                         "split, parameters replicated); a population's "
                         "members split over them.", Range(1, INT32_MAX))
  epochs_per_call: int = setting(0, "Epochs per jitted call (0: about 20 "
                                 "calls in all); with --checkpoint_every, "
                                 "and with --log_every where progress is "
                                 "reported (experiments.train), the greatest "
                                 "common divisor of them.",
                                 Range(0, INT32_MAX))
  checkpoint_every: int = setting(0, "Save the full training state every "
                                  "this many epochs (0: never).",
                                  Range(0, INT32_MAX))
  log_every: int = setting(1, "Report the metrics (to fit's on_progress, "
                           "which experiments.train writes to "
                           "<workdir>/live as they come) at least every "
                           "this many epochs: the jitted calls then end "
                           "there; 0: at the ends of the calls of "
                           "epochs_per_call.", Range(0, INT32_MAX))

  def _relations(self):
    # A setting of an augmentation that is not on would do nothing.
    fields = {f.name: f for f in dataclasses.fields(self)}
    for name, kind in (("noise_std", "noise"), ("max_shift", "shift")):
      value = getattr(self, name)
      _require(kind in self.augment or value in (0, fields[name].default),
               f"{name}={value} has no effect without augment={kind} "
               f"(add {kind} to augment)")

  @property
  def noise(self) -> float:
    """The std of the input noise in force (0: off)."""
    return self.noise_std if "noise" in self.augment else 0.0

  @property
  def shift(self) -> int:
    """The largest image shift in force (0: off)."""
    return self.max_shift if "shift" in self.augment else 0


GROUPS = {"data": DataConfig, "net": NetConfig, "optim": OptimConfig,
          "fit": FitOptions}


@dataclasses.dataclass(frozen=True)
class Config(_Settings):
  """One run: data, network, optimizer, fit options, seed, pretraining.

  ``Config.make(dataset="iris", hidden=(8,), epochs=5)`` builds one from
  settings by name; :meth:`flat` gives them back by name (as results.json
  records them).
  """
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  net: NetConfig = dataclasses.field(default_factory=NetConfig)
  optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
  fit: FitOptions = dataclasses.field(default_factory=FitOptions)
  seed: int = setting(0, "Seed of every random choice.",
                      Range(0, 2**32 - 1))
  pretrain: bool = setting(False, "Greedy layer-wise autoencoder "
                           "pretraining of the hidden layers before "
                           "fine-tuning.")
  pretrain_epochs: int = setting(10, "Epochs per pretrained layer.",
                                 Range(1, INT32_MAX))

  def __post_init__(self):
    for name, group in GROUPS.items():
      _require(isinstance(getattr(self, name), group),
               f"{name} must be a {group.__name__}")
    super().__post_init__()

  def _relations(self):
    if self.net.model == "perceptron":
      # Rosenblatt's rule takes the data, eta, the epochs, the shuffle and
      # the seed; any other setting would be passed over (and recorded).
      defaults = Config().flat()
      unused = [f"{name}={value}" for name, value in self.flat().items()
                if _GROUP_OF[name] != "data" and name not in PERCEPTRON_USES
                and value != defaults[name]]
      _require(not unused,
               f"model=perceptron does not use {', '.join(unused)}: "
               f"{'they are' if len(unused) > 1 else 'it is'} for model=mlp "
               f"(the perceptron takes the data settings, "
               f"{', '.join(PERCEPTRON_USES[2:])})")
    _require(not (self.fit.early_stopping_patience
                  and self.data.validation_fraction == 0),
             "early_stopping_patience needs validation_fraction > 0")
    _require(not self.pretrain or self.net.hidden,
             "pretrain needs at least one hidden layer (--hidden)")
    _require(not (self.pretrain and self.net.residual),
             "pretrain trains plain layers; it cannot be combined with "
             "residual")

  @classmethod
  def make(cls, **settings) -> "Config":
    """A Config from settings by name (defaults for the rest); an unknown
    name raises ValueError."""
    return cls().replace(**settings)

  def replace(self, **settings) -> "Config":
    """A copy with the named settings changed, in whichever group."""
    changes = {name: {} for name in GROUPS}
    own = {}
    for name, value in settings.items():
      group = _GROUP_OF.get(name)
      if group is None:
        raise ValueError(f"unknown setting {name!r}")
      if group == "":
        own[name] = value
      else:
        changes[group][name] = value
    groups = {g: dataclasses.replace(getattr(self, g), **c)
              for g, c in changes.items() if c}
    return dataclasses.replace(self, **groups, **own)

  def flat(self) -> dict:
    """Every setting by name (tuples as lists), as JSON records it."""
    out = {}
    for name, group in _GROUP_OF.items():
      value = getattr(getattr(self, group) if group else self, name)
      out[name] = list(value) if isinstance(value, tuple) else value
    return out

  @classmethod
  def from_flat(cls, settings: dict) -> "Config":
    """A Config from :meth:`flat`'s form; names it does not know (from
    other versions) are left out."""
    return cls.make(**{k: v for k, v in settings.items() if k in _GROUP_OF})


def settings_of(cls) -> list:
  """The declared settings (fields with help) of a settings class."""
  return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


# Setting name -> the group holding it ("" for Config's own).
_GROUP_OF = {f.name: g for g, cls in GROUPS.items() for f in settings_of(cls)}
_GROUP_OF.update({f.name: "" for f in settings_of(Config)})
assert len(_GROUP_OF) == sum(len(settings_of(c)) for c in
                             (*GROUPS.values(), Config)), "a name twice"
