"""A finished run as a model to predict with: ``model.json`` beside
``params.npz`` in the run's workdir.

``model.json`` (plain JSON, no Python objects) holds what turns raw rows into the
network's inputs and its outputs into answers:

* ``network``: the layer sizes and the network's settings of
  :class:`nn_jax.config.NetConfig` (activation, alpha, loss, residual,
  batch norm, dtype, ...), or the perceptron;
* ``inputs``: for a CSV file (and ``chile``), the fitted
  :class:`nn_jax.tabular.TabularEncoder` (column roles, nominal categories,
  ordinal levels, the codes of each column type, the numeric columns' mean
  and std); for another built-in data set, the input names, the log of the
  frequencies (vowels) and the fitted ``input_encoding`` (mean and std, or
  the range);
* ``task``, ``target`` and ``classes``: label i is ``classes[i]``.

Floats are written by their shortest repr, which reads back to the same
float64, so that predictions on a run's test rows equal the run's own
bitwise::

  model = nn_jax.load_model("runs/train")
  model.predict("new_rows.csv")           # class names (or values)
  model.predict_proba([{"color": "red", "size": "small", "x": 0.3}])

Rows are given as the run took them: a CSV file's path (or its
:class:`nn_jax.tabular.Table`), records (a list of dicts, column -> value)
or a 2-D array. For a CSV run an array's columns
are the feature columns in order; for a built-in data set its columns are
the raw inputs as the data set has them (digits' pixels in [0, 1], the
vowels' frequencies in Hz), and a CSV file or records name them by
``model.input_names``. A bad row (a missing column or value, a category
the training rows lacked) raises the ``ValueError`` training raises. For a
built-in data set, ``model.json`` also holds the training inputs' range
per input; inputs beyond it by more than its width are predicted with an
:class:`InputRangeWarning` naming them.
"""

import dataclasses
import json
import os
import sys
from typing import Mapping, Sequence
import warnings

import jax
import numpy as np

from nn_jax import config as config_lib
from nn_jax import data as data_lib
from nn_jax import encoding
from nn_jax import losses
from nn_jax import tabular

FILE = "model.json"
PARAMS = "params.npz"
FORMAT = "nn_jax model"
VERSION = 1
_ENCODINGS = {"Standardize": encoding.Standardize,
              "ScaleRange": encoding.ScaleRange}


def describe(config: config_lib.Config, run) -> dict:
  """The contents of ``model.json`` for ``run`` (an
  :class:`nn_jax.experiment.RunResult` of ``config``)."""
  train = run.splits.train
  enc = run.splits.encoder
  if config.data.dataset in config_lib.TABULAR:   # a CSV file, chile
    inputs = {"kind": "table", "encoder": enc.to_json()}
    target = enc.target
  else:
    names = (list(config.data.vowel_features) if config.data.dataset ==
             "vowels" else [f"x{i + 1}" for i in range(train.x.shape[1])])
    log = config.data.dataset == "vowels" and config.data.log_frequency
    # The training inputs' range as rows give them: the codes' range
    # decoded (every code grows with its input).
    x = np.asarray(train.x)
    raw = np.stack([x.min(axis=0), x.max(axis=0)]).astype(np.float64)
    raw = raw if enc is None else enc.invert(raw)
    raw = np.exp(raw) if log else raw
    # To 6 digits of each column's power of ten: from the float32 codes,
    # 0 and 1 come back as about 1e-8 and 1 - 1e-8, 3610 Hz as 3610.002.
    top = np.abs(raw).max(axis=0)
    scale = 10.0 ** np.ceil(np.log10(np.where(top > 0, top, 1.0)))
    low, high = np.round(raw / scale, 6) * scale + 0.0   # no -0.0
    inputs = {"kind": "arrays", "dataset": config.data.dataset,
              "names": names, "log_frequency": log,
              "encoding": None if enc is None else {
                  "kind": type(enc).__name__,
                  **{k: np.asarray(v).tolist()
                     for k, v in enc._asdict().items()}},
              "range": {"low": low.tolist(), "high": high.tolist()}}
    target = "label"
  network = {"sizes": list(run.summary.sizes),
             **dataclasses.asdict(config.net)}
  network["hidden"] = list(network["hidden"])
  return {"format": FORMAT, "version": VERSION, "parameters": PARAMS,
          "network": network, "inputs": inputs, "task": train.task,
          "target": list(target) if isinstance(target, tuple) else target,
          "classes": data_lib.class_names(train)}


class Model:
  """A trained network (or perceptron) with its input encoding and class
  names, as :func:`load_model` reads it from a run's workdir.

  Attributes:
    task: ``"classification"`` or ``"regression"``.
    classes: class names; label i is ``classes[i]`` (empty for regression).
    target: the predicted column's name (a CSV run's target).
    input_names: the columns a CSV file or records must have.
    net: the network's settings (:class:`nn_jax.config.NetConfig`).
    sizes: the layer sizes, inputs first.
  """

  def __init__(self, spec: dict, params, stats, path: str):
    self.spec, self.params, self.stats, self.path = spec, params, stats, path
    self.task = spec["task"]
    self.classes = tuple(spec["classes"])
    self.target = spec["target"]
    self.sizes = list(spec["network"]["sizes"])
    self.net = _net_config(spec["network"])
    inputs = spec["inputs"]
    if inputs["kind"] == "table":
      self._table = tabular.TabularEncoder.from_json(inputs["encoder"])
      self.input_names = self._table.features
      self._encoding, self._log = None, False
    else:
      self.input_names = tuple(inputs["names"])
      n = len(self.input_names)
      # Cells read as numbers, as they are: (x - 0) / 1.
      self._table = tabular.TabularEncoder(
          target="", task=data_lib.REGRESSION, features=self.input_names,
          nominal={}, ordinal={}, numeric=self.input_names,
          scaler=encoding.Standardize(np.zeros(n), np.ones(n)), classes=(),
          feature_names=self.input_names, name=inputs["dataset"])
      enc = inputs["encoding"]
      self._encoding = None if enc is None else _ENCODINGS[enc["kind"]](
          **{k: np.asarray(v, np.float64) for k, v in enc.items()
             if k != "kind"})
      self._log = bool(inputs["log_frequency"])
      # The training inputs' range per input (a model.json before it: None).
      seen = inputs.get("range")
      self._range = None if seen is None else (
          np.asarray(seen["low"], np.float64),
          np.asarray(seen["high"], np.float64))
    self._arrays = inputs["kind"] == "arrays"
    self._model = self.net.make() if self.net.model == "mlp" else None

  def __repr__(self) -> str:
    what = (f"{len(self.classes)} classes" if self.classes
            else f"predicts {self.target}")
    net = (f"{self.sizes} {self.net.activation}, {self.net.loss}"
           if self._model else "perceptron")
    return f"Model({self.path}: {net}, {what})"

  def encode(self, rows) -> np.ndarray:
    """The network's inputs (float32) for raw ``rows`` (see the module)."""
    if isinstance(rows, Mapping):
      raise ValueError("rows is one record (a dict); pass a list of "
                       "records, e.g. [record]")
    if isinstance(rows, (list, tuple)) and not rows:   # no rows, no outputs
      return np.zeros((0, self.sizes[0]), np.float32)
    if isinstance(rows, (str, os.PathLike)):
      x = self._table.inputs(tabular.read_csv(os.fspath(rows)))
    elif isinstance(rows, tabular.Table):   # a CSV file read already
      x = self._table.inputs(rows)
    elif _is_records(rows):
      x = self._table.inputs(tabular.from_records(rows))
    elif self._arrays:
      x = np.asarray(rows, np.float32)
      if x.ndim != 2 or x.shape[1] != len(self.input_names):
        raise ValueError(f"the model takes rows of {len(self.input_names)} "
                         f"inputs ({_listed(self.input_names)}), a 2-D "
                         f"array; got shape {x.shape}")
    else:   # a CSV run's cells, one row per example, features in order
      rows = [list(r) for r in rows]
      if any(len(r) != len(self.input_names) for r in rows):
        raise ValueError(f"each row needs {len(self.input_names)} cells, "
                         f"one per feature column "
                         f"({_listed(self.input_names)})")
      x = self._table.inputs(tabular.from_records(
          [dict(zip(self.input_names, r)) for r in rows], "rows"))
    if not self._arrays:
      return x
    self._check_range(x)
    if self._log:
      x = np.log(x)
    return x if self._encoding is None else self._encoding.apply(x)

  def _check_range(self, x: np.ndarray) -> None:
    """Warns (:class:`InputRangeWarning`) where inputs lie beyond the
    training inputs' range by more than its width: inputs on another
    scale than the run's (digits' pixels as 0-16, say), where the network
    only extrapolates."""
    if self._range is None or not x.size:
      return
    low, high = self._range
    width = high - low
    width = np.where(width > 0, width, width.max(initial=0) or 1.0)
    far = (x < low - width) | (x > high + width)
    if not far.any():
      return
    columns = np.flatnonzero(far.any(axis=0))
    shown = []
    for j in columns[:3]:
      value = x[np.argmax(far[:, j]), j]
      shown.append(f"{self.input_names[j]} = {value:.4g} (trained on "
                   f"{low[j]:.4g} to {high[j]:.4g})")
    more = f" and {len(columns) - 3} more inputs" if len(columns) > 3 else ""
    hint = _SCALE_HINTS.get(self.spec["inputs"]["dataset"], "")
    warnings.warn(
        f"{int(far.any(axis=1).sum())} of {x.shape[0]} rows have inputs far "
        f"outside the range the network was trained on, e.g. "
        f"{'; '.join(shown)}{more}: its outputs there are extrapolations"
        f"{hint}", InputRangeWarning, stacklevel=_caller_level())

  def outputs(self, rows) -> np.ndarray:
    """The network's outputs for ``rows``, in its precision (for the
    perceptron, its 0/1 outputs)."""
    x = self.encode(rows)
    if self._model is None:
      from nn_jax import perceptron  # pylint: disable=g-import-not-at-top
      with jax.enable_x64(np.dtype(self.net.dtype) == np.float64):
        return np.asarray(perceptron.predict(self.params["w"], x))
    from nn_jax import experiment  # pylint: disable=g-import-not-at-top
    return experiment.predict(self.params, self.stats, x, self._model)

  def predict_labels(self, rows) -> np.ndarray:
    """Class labels 0..k-1, as the run computed them on its test set."""
    self._need_classes("predict_labels")
    if self._model is None:
      return self.outputs(rows).astype(np.int32)
    from nn_jax import experiment  # pylint: disable=g-import-not-at-top
    return experiment.predict_labels(self.params, self.stats,
                                     self.encode(rows), self._model)

  def predict(self, rows) -> np.ndarray:
    """Class names (a string array) for classification, else the predicted
    values: ``(n,)`` for one target, ``(n, k)`` for several."""
    if self.task == data_lib.CLASSIFICATION:
      return np.asarray(self.classes)[self.predict_labels(rows)]
    o = self.outputs(rows)
    return o[:, 0] if o.shape[1] == 1 else o

  def predict_proba(self, rows) -> np.ndarray:
    """Class probabilities ``(n, len(classes))``: softmax outputs as they
    are; one sigmoid unit o as ``[1 - o, o]``; sigmoid units, one per
    class, divided by their sum."""
    self._need_classes("predict_proba")
    if self._model is None:
      raise ValueError("a perceptron gives no probabilities, only its "
                       "outputs; use predict")
    o = self.outputs(rows)
    if o.shape[1] == 1:
      return np.concatenate([1 - o, o], axis=1)
    if self._model.loss.task == losses.MULTICLASS:
      return o
    return o / o.sum(axis=1, keepdims=True)

  def _need_classes(self, what: str) -> None:
    if self.task != data_lib.CLASSIFICATION:
      raise ValueError(f"{what}: this model predicts {self.target} "
                       f"(regression), it has no classes; use predict")


def _caller_level() -> int:
  """The ``stacklevel`` of a warning from a function of this module that
  names the line outside it which called into it."""
  frame, level = sys._getframe(1), 1   # pylint: disable=protected-access
  while frame is not None and frame.f_code.co_filename == __file__:
    frame, level = frame.f_back, level + 1
  return level


class InputRangeWarning(UserWarning):
  """Rows to predict with inputs far outside the training inputs' range."""


# What a data set's rows are, where a user may hold them on another scale.
_SCALE_HINTS = {"digits": " (the digits' pixels are in [0, 1]; "
                          "scikit-learn's load_digits gives them as 0 to 16: "
                          "divide those by 16)"}


def _is_records(rows) -> bool:
  return (isinstance(rows, Sequence) and not isinstance(rows, str)
          and len(rows) > 0 and all(isinstance(r, dict) for r in rows))


def _listed(names: Sequence[str]) -> str:
  shown = ", ".join(names[:tabular.MAX_LISTED])
  return shown + (f", ... ({len(names)} in all)"
                  if len(names) > tabular.MAX_LISTED else "")


# The settings that decide what the network computes: never defaulted.
_REQUIRED = ("model", "activation", "alpha", "loss", "residual", "batchnorm",
             "dtype")


def _net_config(network: dict) -> config_lib.NetConfig:
  missing = [name for name in _REQUIRED if name not in network]
  if missing:
    raise KeyError(missing[0])
  fields = {f.name for f in dataclasses.fields(config_lib.NetConfig)}
  return config_lib.NetConfig(**{k: (tuple(v) if isinstance(v, list) else v)
                                 for k, v in network.items() if k in fields})


def _read_spec(workdir: str) -> tuple[dict, str]:
  path = os.path.join(workdir, FILE)
  if not os.path.isdir(workdir):
    raise ValueError(f"{workdir}: no such folder; give the workdir of a "
                     f"finished experiments.train run")
  if not os.path.isfile(path):
    raise ValueError(f"{workdir} has no {FILE}: give the workdir of a "
                     f"finished experiments.train run (one from before "
                     f"{FILE} existed must be trained again)")
  try:
    with open(path, encoding="utf-8") as f:
      spec = json.load(f)
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{path} is not valid JSON ({e}); it is damaged: "
                     f"train the model again") from None
  if not isinstance(spec, dict) or spec.get("format") != FORMAT:
    raise ValueError(f"{path} is not an nn_jax model description")
  if spec.get("version") != VERSION:
    raise ValueError(f"{path} has format version {spec.get('version')}; "
                     f"this nn_jax reads version {VERSION}")
  return spec, path


def load_model(workdir: str) -> Model:
  """The model of the finished experiments.train run in ``workdir``.

  Raises:
    ValueError: in one line, when ``model.json`` or ``params.npz`` is
      missing, damaged, or does not match the other.
  """
  from nn_jax import mlp  # pylint: disable=g-import-not-at-top
  spec, path = _read_spec(workdir)
  try:
    net = _net_config(spec["network"])
    sizes = [int(s) for s in spec["network"]["sizes"]]
    dtype = np.dtype(net.dtype)
    with jax.enable_x64(dtype == np.float64):
      if net.model == "mlp":
        model = net.make()
        like = jax.tree.map(np.asarray, mlp.init(
            jax.random.PRNGKey(0), sizes, model, net.init, dtype))
        like_stats = jax.tree.map(np.asarray, mlp.init_stats(like, model))
      else:
        like, like_stats = {"w": np.zeros(sizes[0] + 1, np.float32)}, []
    from nn_jax import params_io  # pylint: disable=g-import-not-at-top
    stored = params_io.load(os.path.join(workdir, spec["parameters"]),
                            params=like, stats=like_stats)
    return Model(spec, stored["params"], stored["stats"], workdir)
  except (KeyError, TypeError, AttributeError) as e:
    raise ValueError(f"{path} lacks or garbles {e}; it is damaged: train "
                     f"the model again") from None
