"""scikit-learn estimators over the library's networks and training loop.

* :class:`PerceptronClassifier`: Rosenblatt's threshold unit
  (:func:`nn_jax.perceptron.train`), one unit per class (one-vs-rest) when
  there are more than two classes.
* :class:`MLPClassifier` and :class:`MLPRegressor`: networks from
  :mod:`nn_jax.mlp` trained by :func:`nn_jax.train.fit`, the library's one
  jitted loop, with its activations, losses, optimizers, schedules and
  regularizers as constructor arguments.

They follow scikit-learn's conventions: constructor arguments are stored
unchanged and checked in ``fit``; inputs are checked by
``sklearn.utils.validation``, so NaN, infinity, a wrong number of features or
a missing ``y`` raise scikit-learn's errors; fitted attributes end in ``_``.
Inputs are cast to float32 and all computation is in float32; outputs of
``predict_proba`` and of the regressor's ``predict`` are returned as float64
NumPy arrays, as scikit-learn's scorers expect.

``sklearn.utils.estimator_checks.check_estimator`` passes for all three,
with no check skipped or expected to fail on their account (scikit-learn
itself skips its pandas and array-API checks when pandas is not installed or
``SCIPY_ARRAY_API`` is not set).

Randomness comes only from ``random_state``, an int seed (``None`` means 0):
two fits with the same seed and data give the same model.

Hyperparameters are checked by the library's declarations
(:mod:`nn_jax.config`): ``fit`` builds the :class:`~nn_jax.config.NetConfig`,
:class:`~nn_jax.config.OptimConfig` and :class:`~nn_jax.config.FitOptions`
they stand for, and a bad value raises their ``ValueError`` naming it.

Compilation: :func:`nn_jax.train.fit` keeps its compiled loop for equal
settings (model, optimizer and its hyperparameters, array shapes, and the
training options such as epochs and batch size), so within one process only
the first ``fit`` or ``partial_fit`` of each setting compiles (whatever the
number of epochs); the next ones, with other data or seeds, reuse it. With
JAX's persistent compilation cache (``jax_compilation_cache_dir``) a setting
seen by an earlier process loads its program instead of compiling it.

Example::

  from sklearn.datasets import load_iris
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  x, y = load_iris(return_X_y=True)
  clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
  clf.fit(x, y).score(x, y)  # training accuracy 0.96 (50 epochs)
"""

import functools
import numbers
import warnings

import jax
import numpy as np
from scipy import special
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
  from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
  def validate_data(estimator, /, *args, **kwargs):
    # pylint: disable-next=protected-access
    return estimator._validate_data(*args, **kwargs)

from nn_jax import config
from nn_jax import data as data_lib
from nn_jax import mlp
from nn_jax import optimizers
from nn_jax import perceptron
from nn_jax import train as train_lib

__all__ = ["PerceptronClassifier", "MLPClassifier", "MLPRegressor"]


# ------------------------------------------------------------------ checking
def _seed(random_state) -> int:
  """The int seed of ``random_state`` (``None`` means 0)."""
  if random_state is None:
    return 0
  if (isinstance(random_state, numbers.Integral)
      and not isinstance(random_state, (bool, np.bool_))
      and 0 <= random_state < 2**32):
    return int(random_state)
  raise ValueError(f"random_state must be None or an int seed in [0, 2**32); "
                   f"got {random_state!r}")


# PRNG keys use JAX's "rbg" implementation (XLA's RngBitGenerator), which
# compiles faster on a CPU than the default threefry (this matters when
# every fit compiles). A seed gives the same stream every time on a given
# backend and JAX version.
_KEY_IMPL = "rbg"


def _key(seed: int) -> jax.Array:
  """The PRNG key of ``seed``."""
  return jax.random.key(seed, impl=_KEY_IMPL)


def _to_numpy(tree):
  return jax.tree.map(np.asarray, tree)


# ---------------------------------------------------------------- perceptron
@functools.partial(jax.jit, static_argnames=("max_epochs", "shuffle", "init"))
def _perceptron_fit(x, y, keys, learning_rate, w0=None, *, max_epochs,
                    shuffle, init):
  """:func:`perceptron.train` for every column of ``y`` (one unit each),
  from ``init`` or from the weights ``w0`` ``(units, n_features + 1)``."""
  def unit(y_unit, key, w):
    return perceptron.train(x, y_unit, key=key, learning_rate=learning_rate,
                            max_epochs=max_epochs, shuffle=shuffle, init=init,
                            w0=w)
  if w0 is None:
    return jax.vmap(lambda y_unit, key: unit(y_unit, key, None),
                    in_axes=(1, 0))(y, keys)
  return jax.vmap(unit, in_axes=(1, 0, 0))(y, keys, w0)


# Predictions run in chunks of this many rows (the last one padded), all
# through one compiled program: no compile per number of samples, and every
# row gets exactly the same arithmetic wherever it sits (XLA's matmul rounds
# the rows of an incomplete block differently), so predictions do not depend
# on the order or the subset of the samples.
_CHUNK_ROWS = 512


def _in_chunks(fn, x, *args):
  """``fn(chunk, *args)`` over fixed-size row chunks of ``x``, concatenated."""
  outs = []
  for start in range(0, len(x), _CHUNK_ROWS):
    part = x[start:start + _CHUNK_ROWS]
    padded = np.zeros((_CHUNK_ROWS, x.shape[1]), np.float32)
    padded[:len(part)] = part
    outs.append(np.asarray(fn(padded, *args))[:len(part)])
  return np.concatenate(outs)


@jax.jit
def _scores(x, w):
  """``w[:, 0] + x @ w[:, 1:].T``: each unit's weighted input."""
  return w[:, 0] + x @ w[:, 1:].T


@jax.jit
def _threshold_output(x, w):
  return perceptron.predict(w, x)


def _classes_and_labels(estimator, y):
  """Sets ``classes_`` from ``y`` and returns ``y`` as indices into it."""
  check_classification_targets(y)
  classes, labels = np.unique(y, return_inverse=True)
  if len(classes) < 2:
    raise ValueError(f"{type(estimator).__name__} needs samples of at least 2 "
                     f"classes in y; got 1 class ({classes[0]!r})")
  estimator.classes_ = classes
  return labels.astype(np.int32)


def _partial_fit_labels(estimator, y, classes, first_call):
  """Checks ``classes`` of a ``partial_fit`` call; returns ``y`` as indices."""
  check_classification_targets(y)
  if first_call:
    if classes is None:
      raise ValueError("classes must be passed on the first call to "
                       "partial_fit (all the labels y can take)")
    check_classification_targets(np.asarray(classes))
    all_classes = np.unique(classes)
    if len(all_classes) < 2:
      raise ValueError(f"classes must hold at least 2 classes; got "
                       f"{all_classes.tolist()}")
  else:
    all_classes = estimator.classes_
    if classes is not None and not np.array_equal(np.unique(classes),
                                                  all_classes):
      raise ValueError(f"classes={np.unique(classes).tolist()} differs from "
                       f"the classes of the previous calls "
                       f"{all_classes.tolist()}")
  unseen = np.setdiff1d(y, all_classes)
  if unseen.size:
    raise ValueError(f"y holds labels {unseen.tolist()} that are not in "
                     f"classes {all_classes.tolist()}")
  estimator.classes_ = all_classes
  return np.searchsorted(all_classes, y).astype(np.int32)


class _Classifier(ClassifierMixin):
  """``fit`` and ``partial_fit`` of the classifiers: they check the
  arguments (``_check_params``, which returns what training needs) and the
  data, encode the labels as indices into ``classes_`` and train
  (``_train``)."""

  def fit(self, X, y):
    """Trains on ``(X, y)`` from the start.

    Args:
      X: ``(n_samples, n_features)`` inputs.
      y: ``(n_samples,)`` class labels, at least two classes.

    Returns:
      self.
    """
    settings = self._check_params()
    X, y = validate_data(self, X, y, dtype=np.float32)
    labels = _classes_and_labels(self, y)
    return self._train(settings, X, labels, incremental=False)

  def partial_fit(self, X, y, classes=None):
    """Runs one epoch on ``(X, y)``, continuing the training.

    Args:
      X: ``(n_samples, n_features)`` inputs.
      y: ``(n_samples,)`` class labels, all in ``classes``.
      classes: every class label that ``y`` can take; needed on the first
        call, optional (and checked) after.

    Returns:
      self.
    """
    settings = self._check_params()
    first_call = not hasattr(self, "params_")
    X, y = validate_data(self, X, y, dtype=np.float32, reset=first_call)
    labels = _partial_fit_labels(self, y, classes, first_call)
    return self._train(settings, X, labels, incremental=True)


class PerceptronClassifier(_Classifier, BaseEstimator):
  """Rosenblatt's perceptron as a scikit-learn classifier.

  Two classes: a single threshold unit trained by
  :func:`nn_jax.perceptron.train` on the targets ``y == classes_[1]``. More
  classes: one unit per class, each trained one-vs-rest (all units in one
  :func:`jax.vmap`), and the prediction is the class whose unit has the
  largest weighted input. Training of a unit stops after its first epoch
  without a mistake or after ``epochs``.

  ``partial_fit`` runs one epoch of the same rule from the current weights;
  the first call needs ``classes`` and starts from ``init``.

  The threshold unit gives no probabilities, so there is no
  ``predict_proba`` (as in ``sklearn.linear_model.Perceptron``);
  ``decision_function`` gives the weighted inputs.

  ``check_estimator`` passes: no check skipped or expected to fail.

  Args:
    learning_rate: eta > 0.
    epochs: the most epochs of ``fit`` (like ``max_iter``).
    shuffle: visit the examples in a new random order each epoch (off by
      default, as in :func:`perceptron.train`: every epoch in the order
      given).
    init: ``"zeros"`` or ``"random"`` initial weights.
    random_state: int seed for the order and the random initial weights
      (``None``: 0).

  Attributes:
    params_: ``(units, n_features + 1)`` weights, bias first; one unit for
      two classes, else one per class.
    classes_: the class labels.
    n_features_in_: number of input features.
    n_iter_: epochs run (by the slowest unit; ``partial_fit`` adds 1).
    converged_: whether every unit finished an epoch without a mistake.
    loss_curve_: mistakes per epoch, summed over the units.
  """

  def __init__(self, learning_rate=1.0, epochs=100, shuffle=False,
               init="zeros", random_state=None):
    self.learning_rate = learning_rate
    self.epochs = epochs
    self.shuffle = shuffle
    self.init = init
    self.random_state = random_state

  def _check_params(self):
    """Checks the arguments (the first three by their declarations in
    :mod:`nn_jax.config`); returns the PRNG key."""
    config.OptimConfig(learning_rate=self.learning_rate)
    config.FitOptions(epochs=self.epochs, shuffle=self.shuffle)
    error = config.OneOf(perceptron.INITS).error(self.init)
    if error:
      raise ValueError(f"init={self.init!r} {error}")
    return _key(_seed(self.random_state))

  def _unit_targets(self, labels):
    if len(self.classes_) == 2:
      return (labels == 1).astype(np.float32)[:, None]
    return np.eye(len(self.classes_), dtype=np.float32)[labels]

  def _train(self, key, x, labels, *, incremental):
    """Trains the units on the float32 inputs ``x`` and class indices
    ``labels``: from ``init`` up to ``epochs`` epochs, or (``incremental``)
    one epoch from the current weights."""
    targets = self._unit_targets(labels)
    first_call = not (incremental and hasattr(self, "params_"))
    if first_call:
      self.n_iter_, self.loss_curve_ = 0, []
    if incremental:
      key = jax.random.fold_in(key, self.n_iter_)
    result = _perceptron_fit(
        x, targets, jax.random.split(key, targets.shape[1]),
        np.float32(self.learning_rate),
        None if first_call else self.params_,
        max_epochs=1 if incremental else int(self.epochs),
        shuffle=bool(self.shuffle), init=self.init)
    epochs = int(np.max(result.epochs))
    mistakes = np.maximum(np.asarray(result.mistakes), 0).sum(axis=0)
    self.params_ = np.asarray(result.w)
    self.n_iter_ += epochs
    self.converged_ = bool(np.all(result.converged))
    self.loss_curve_ = self.loss_curve_ + [int(m) for m in mistakes[:epochs]]
    return self

  def decision_function(self, X):
    """Weighted inputs: ``(n_samples,)`` for two classes (positive means
    ``classes_[1]``), else ``(n_samples, n_classes)``."""
    check_is_fitted(self)
    X = validate_data(self, X, dtype=np.float32, reset=False)
    z = _in_chunks(_scores, X, self.params_)
    return z[:, 0] if len(self.classes_) == 2 else z

  def predict(self, X):
    """Class labels: the unit's output (two classes) or the largest score."""
    check_is_fitted(self)
    X = validate_data(self, X, dtype=np.float32, reset=False)
    if len(self.classes_) == 2:
      return self.classes_[_in_chunks(_threshold_output, X, self.params_[0])]
    return self.classes_[np.argmax(_in_chunks(_scores, X, self.params_), 1)]


# ----------------------------------------------------------------------- MLP
@functools.partial(jax.jit, static_argnames=("model",))
def _network_logits(x, params, stats, model):
  """The output layer's weighted inputs ``z_L`` in evaluation mode."""
  _, cache = mlp.forward(params, x, model,
                         stats=stats if model.batchnorm else None)
  return cache["zs"][-1]


class _BaseMLP(BaseEstimator):
  """Hyperparameter checks and the training shared by the MLP estimators."""

  def _hidden(self):
    """``hidden_layer_sizes`` (an int or any sequence of ints) as a tuple."""
    sizes = self.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral):
      sizes = (sizes,)
    try:
      sizes = tuple(sizes)
    except TypeError:
      sizes = None
    if sizes is None or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
        for s in sizes):
      raise ValueError(f"hidden_layer_sizes must be a sequence of ints >= 1 "
                       f"(empty for no hidden layer); got "
                       f"{self.hidden_layer_sizes!r}")
    return tuple(int(s) for s in sizes)

  def _check_params(self) -> config.Config:
    """The arguments as a :class:`nn_jax.config.Config`, each checked by
    its declaration there (``validation_fraction`` in a data config without
    a test part); ``hidden_layer_sizes`` and ``random_state``, which take
    what scikit-learn's do, are checked here."""
    run = config.Config(
        data=config.DataConfig(test_fraction=0.0,
                               validation_fraction=self.validation_fraction),
        net=config.NetConfig(
            hidden=self._hidden(), activation=self.activation,
            alpha=self.alpha, loss=self.loss, init=self.init, l2=self.l2,
            l2_alpha=self.l2_alpha, dropout=self.dropout,
            batchnorm=self.batchnorm),
        optim=config.OptimConfig(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            momentum=self.momentum, schedule=self.schedule,
            decay_rate=self.decay_rate, decay_epochs=self.decay_epochs),
        fit=config.FitOptions(
            epochs=self.epochs, batch_size=self.batch_size,
            shuffle=self.shuffle, grad=self.grad,
            cost_threshold=self.cost_threshold, max_norm=self.max_norm,
            early_stopping_patience=self.early_stopping_patience,
            noise_std=self.noise_std,
            augment=("noise",) if self.noise_std else ()),
        seed=_seed(self.random_state))
    return run

  def _dataset(self, x, y):
    """Subclasses: a data_lib.Dataset of the (encoded) training data."""
    raise NotImplementedError

  def _train(self, run, x, y, *, incremental):
    """Trains on the float32 inputs ``x`` and encoded labels or targets ``y``.

    Args:
      run: the settings, from :meth:`_check_params`.
      x: ``(n, n_features)`` float32 inputs.
      y: class indices ``(n,)`` or float32 targets ``(n, n_outputs)``.
      incremental: ``partial_fit``: one epoch, continuing from the fitted
        parameters, optimizer state and PRNG key when there are any.

    Returns:
      self.
    """
    model = run.net.make()
    ds = self._dataset(x, y)
    data_lib.check_loss_fits(model.loss, ds)
    targets = data_lib.targets(model.loss, ds)
    sizes = [x.shape[1], *run.net.hidden,
             data_lib.num_outputs(model.loss, ds)]
    init_key, split_key, key = jax.random.split(_key(run.seed), 3)
    first_call = not (incremental and hasattr(self, "params_"))
    if first_call:
      params = mlp.init(init_key, sizes, model, run.net.init)
      self.loss_curve_, self.n_iter_ = [], 0
      for name in ("validation_scores_", "validation_loss_curve_",
                   "best_epoch_"):
        if hasattr(self, name):
          delattr(self, name)
    else:
      params = self.params_
      key = jax.random.wrap_key_data(self._key, impl=_KEY_IMPL)
      expected = jax.eval_shape(
          lambda k: mlp.init(k, sizes, model, run.net.init), init_key)
      if (jax.tree.structure(expected) != jax.tree.structure(params)
          or any(e.shape != np.shape(p) for e, p in zip(
              jax.tree.leaves(expected), jax.tree.leaves(params)))):
        raise ValueError(
            "the network's shape (hidden_layer_sizes, activation, loss, "
            "batchnorm or the number of outputs) changed since the last fit; "
            "call fit to start again")

    fraction = run.data.validation_fraction
    n_val = 0
    if not incremental and fraction > 0:
      n_val = max(1, int(round(fraction * len(x))))
      if n_val >= len(x):
        raise ValueError(
            f"validation_fraction={self.validation_fraction} leaves no "
            f"training examples out of {len(x)}; lower it or pass more data")
    order = (data_lib.host_permutation(split_key, len(x)) if n_val
             else np.arange(len(x)))
    val, tr = order[:n_val], order[n_val:]
    data = train_lib.Data(x[tr], targets[tr], x[val], targets[val])
    n = len(tr)
    batch = min(run.fit.batch_size, n) or n
    optimizer = optimizers.from_config(run.optim, steps_per_epoch=n // batch,
                                       epochs=run.fit.epochs)
    state = None
    if not first_call:
      state = train_lib.init_state(params, model, optimizer, key)
      if (jax.tree.structure(state.opt_state)
          == jax.tree.structure(self._opt_state)):  # else: another optimizer
        state = state._replace(opt_state=self._opt_state)
      state = state._replace(stats=self.stats_, best_stats=self.stats_)
    options = run.fit.replace(batch_size=batch, epochs_per_call=run.fit.epochs)
    if incremental:
      options = options.replace(epochs=1, epochs_per_call=1,
                                cost_threshold=0.0, early_stopping_patience=0)
    result = train_lib.fit(params, model, optimizer, data, options, key=key,
                           state=state)
    if result.diverged:
      warnings.warn(
          f"training diverged after {result.epochs_run} epochs (the cost or "
          f"the weights stopped being finite); the last finite weights are "
          f"kept. Lower learning_rate.", ConvergenceWarning, stacklevel=3)
    self.params_ = _to_numpy(result.params)
    self.stats_ = _to_numpy(result.stats)
    self._net = run.net   # what predict needs besides the weights
    self._opt_state = _to_numpy(result.state.opt_state)
    self._key = np.asarray(jax.random.key_data(result.state.key))
    self.n_iter_ += result.epochs_run
    history = result.history
    self.loss_curve_ = self.loss_curve_ + history["train_loss"].tolist()
    if n_val:
      self.validation_loss_curve_ = history["val_loss"].tolist()
      self.validation_scores_ = self._validation_scores(history, data)
      self.best_epoch_ = result.best_epoch
    return self

  def _logits(self, X):
    """The output layer's weighted inputs for ``X`` (checked), float64
    ``(n, n_out)`` (computed in float32); for linear outputs, the outputs."""
    check_is_fitted(self)
    X = validate_data(self, X, dtype=np.float32, reset=False)
    net = self._net
    model = mlp.make_model(net.activation, net.loss, net.alpha,
                           batchnorm=net.batchnorm)
    return _in_chunks(functools.partial(_network_logits, model=model), X,
                      self.params_, self.stats_).astype(np.float64)

  def __sklearn_tags__(self):
    tags = super().__sklearn_tags__()
    tags.non_deterministic = False
    return tags


_MLP_ARGS_DOC = """
  Args:
    hidden_layer_sizes: units of each hidden layer (empty: no hidden layer).
    activation: the hidden units' activation, one of
      ``activations.DIFFERENTIABLE``.
    alpha: slope of the ReLU family for ``z < 0`` (initial slope for
      ``prelu``); ``None``: the activation's default. (Not an L2 penalty:
      that is ``l2``.)
    loss: the output layer and its cost, one of ``losses.NAMES`` that fits
      the task.
    init: weight initialization, one of ``mlp.INIT_SCHEMES``.
    optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or
      ``"delayed_sgd"`` (plain SGD whose online epochs, ``batch_size=1``,
      apply the first layers' updates per block of examples: the same steps,
      rounded differently; constant ``schedule`` only).
    learning_rate: eta > 0 (the start of the schedule).
    momentum: mu in [0, 1) of ``momentum`` and ``nesterov``.
    schedule: learning-rate schedule over steps, one of
      ``config.SCHEDULES``; ``step`` and ``exponential`` multiply eta by
      ``decay_rate`` every ``decay_epochs`` epochs, ``cosine`` decays to 0
      over ``epochs``.
    decay_rate: in (0, 1].
    decay_epochs: >= 1.
    batch_size: examples per step: 1 online, 0 the whole training set
      (batch gradient descent); larger than the training set means the
      whole set. An incomplete last batch is dropped each epoch.
    epochs: the most epochs of ``fit`` (like ``max_iter``).
    shuffle: reshuffle the training set every epoch.
    grad: ``"manual"`` (hand-written backprop) or ``"autodiff"``
      (``jax.grad``); the same gradients.
    l2: L2 penalty ``(l2 / 2) sum ||w||^2`` (weights only).
    l2_alpha: also penalize the PReLU slopes.
    max_norm: cap on each unit's incoming weight norm after every step
      (0: off).
    dropout: drop probability of hidden units in training (0: off).
    batchnorm: batch-normalize every hidden layer.
    noise_std: std of Gaussian noise added to training inputs (0: off).
    early_stopping_patience: stop when the validation cost has not improved
      for this many epochs and keep the best epoch's weights (0: off; needs
      ``validation_fraction > 0``).
    validation_fraction: fraction of ``fit``'s data held out (at random from
      ``random_state``) to compute the validation curves; 0: none.
    cost_threshold: stop after the first epoch whose training cost is below
      this (0: off).
    random_state: int seed of the initial weights, the validation split, the
      shuffles, dropout masks and noise (``None``: 0).
"""

_MLP_ATTRS_DOC = """
  Attributes:
    params_: the weights, as in :func:`nn_jax.mlp.init` (a list of per-layer
      dicts of float32 NumPy arrays, ``w`` of shape ``(n_out, n_in)``).
    stats_: batch-norm running statistics (``[]`` without batch norm).
    n_features_in_: number of input features.
    n_iter_: epochs run (``partial_fit`` adds 1).
    loss_curve_: training cost (without the L2 penalty) per epoch: the
      mean over the epoch's batches, each taken before its update.
    validation_loss_curve_: validation cost per epoch (only when ``fit``
      held out a ``validation_fraction``).
    validation_scores_: validation score per epoch (ditto): {score}.
    best_epoch_: the epoch of the lowest validation cost (ditto); with
      early stopping ``params_`` are this epoch's.
"""

_PARTIAL_FIT_DOC = """
  ``partial_fit`` runs one epoch of the same loop on the data it is given,
  continuing from the fitted weights, the optimizer's state (momenta, Adam's
  moments, the schedule's step count), the batch-norm running statistics and
  the PRNG stream: they go back into :func:`train.fit` as the ``state`` it
  starts from. So ``k`` calls on the same data equal ``fit`` with
  ``epochs=k`` (without a validation split). It holds out no validation data
  (no early stopping, no ``cost_threshold``), as in scikit-learn, and leaves
  the validation curves of ``fit`` as they are.
  Changing ``optimizer`` between calls restarts the optimizer state; changing
  the network's shape raises ``ValueError``.
"""


def _mlp_init(default_loss):
  """The MLP estimators' ``__init__``, its ``loss`` defaulting to
  ``default_loss``: scikit-learn reads the arguments and their defaults from
  the signature, and the two estimators differ only in that default."""

  def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
               alpha=None, loss=default_loss, init="glorot",
               optimizer="adam", learning_rate=0.001, momentum=0.9,
               schedule="constant", decay_rate=0.5, decay_epochs=10,
               batch_size=32, epochs=50, shuffle=True, grad="manual", l2=0.0,
               l2_alpha=False, max_norm=0.0, dropout=0.0, batchnorm=False,
               noise_std=0.0, early_stopping_patience=0,
               validation_fraction=0.0, cost_threshold=0.0,
               random_state=None):
    self.hidden_layer_sizes = hidden_layer_sizes
    self.activation = activation
    self.alpha = alpha
    self.loss = loss
    self.init = init
    self.optimizer = optimizer
    self.learning_rate = learning_rate
    self.momentum = momentum
    self.schedule = schedule
    self.decay_rate = decay_rate
    self.decay_epochs = decay_epochs
    self.batch_size = batch_size
    self.epochs = epochs
    self.shuffle = shuffle
    self.grad = grad
    self.l2 = l2
    self.l2_alpha = l2_alpha
    self.max_norm = max_norm
    self.dropout = dropout
    self.batchnorm = batchnorm
    self.noise_std = noise_std
    self.early_stopping_patience = early_stopping_patience
    self.validation_fraction = validation_fraction
    self.cost_threshold = cost_threshold
    self.random_state = random_state

  return __init__


class MLPClassifier(_Classifier, _BaseMLP):
  __doc__ = (
      """A multilayer perceptron classifier trained by :func:`nn_jax.train.fit`.

  Classes are encoded 1-of-k for a softmax output layer, one unit per class,
  with two classes too (the default ``softmax_cross_entropy``, or
  ``softmax_squared`` / ``softmax_sum_squared``). The sigmoid losses
  (``sigmoid_cross_entropy``, ``sigmoid_squared``, ``sigmoid_sum_squared``)
  give a single sigmoid unit for two classes (target 1 for ``classes_[1]``)
  and one unit per class, one-vs-rest, for more. ``predict`` is the class of
  the largest output; ``predict_proba`` the outputs normalized to sum to 1
  (in float64; ``[1 - o, o]`` for a single sigmoid unit).

  ``check_estimator`` passes: no check skipped or expected to fail.
""" + _PARTIAL_FIT_DOC + _MLP_ARGS_DOC
      + _MLP_ATTRS_DOC.format(score="accuracy")
      + """    classes_: the class labels.
""")

  __init__ = _mlp_init("softmax_cross_entropy")

  def _dataset(self, x, y):
    return data_lib.Dataset("y", x, y, data_lib.CLASSIFICATION,
                            len(self.classes_))

  def _validation_scores(self, history, data):
    del data
    return history["val_accuracy"].tolist()

  def predict_log_proba(self, X):
    """Log class probabilities, ``(n_samples, n_classes)`` float64.

    Softmax outputs as they are; one sigmoid unit as ``[1 - o, o]``;
    sigmoid units, one per class, normalized to sum 1. All from the
    logits, so that outputs which round to 0 still give their ratios.
    """
    z = self._logits(X)
    if z.shape[1] == 1:  # one sigmoid unit: P(classes_[1])
      z = special.log_expit(np.concatenate([-z, z], axis=1))
    elif not self._net.loss.startswith("softmax"):
      z = special.log_expit(z)              # log sigmoid(z)
    return special.log_softmax(z, axis=1)

  def predict_proba(self, X):
    """Class probabilities, ``(n_samples, n_classes)`` float64: the
    exponential of :meth:`predict_log_proba`."""
    return np.exp(self.predict_log_proba(X))

  def predict(self, X):
    """The most probable class of each sample."""
    proba = self.predict_proba(X)
    return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
  __doc__ = (
      """A multilayer perceptron regressor trained by :func:`nn_jax.train.fit`.

  A linear output unit per target (``linear_squared``, the lecture's
  ``1/2 sum (y - o)^2``, or ``linear_sum_squared``); ``y`` may have several
  columns. ``predict`` returns the shape of the ``y`` that ``fit`` saw:
  ``(n_samples,)`` for a 1-d ``y``, ``(n_samples, n_outputs)`` for a 2-d one,
  as float64 (computed in float32).

  ``check_estimator`` passes: no check skipped or expected to fail.
""" + _PARTIAL_FIT_DOC + _MLP_ARGS_DOC
      + _MLP_ATTRS_DOC.format(
          score="R^2 pooled over the outputs, ``1 - SSE / SST`` from the "
          "validation cost (scikit-learn's ``r2_score`` for one output)")
      + """    n_outputs_: number of targets.
""")

  __init__ = _mlp_init("linear_squared")

  def _dataset(self, x, y):
    return data_lib.Dataset("y", x, y, data_lib.REGRESSION, 0)

  def _validation_scores(self, history, data):
    y = np.asarray(data.y_val, np.float64)
    sst = np.sum((y - y.mean(axis=0)) ** 2) / len(y)
    # The validation cost is (1/2) SSE / n (linear_squared) or SSE / n.
    scale = 2.0 if self._net.loss == "linear_squared" else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
      return (1 - scale * history["val_loss"] / sst).tolist()

  def _targets_2d(self, y, first_call):
    big = np.abs(np.asarray(y, np.float64)) > np.finfo(np.float32).max
    if np.any(big):
      raise ValueError(f"y holds {np.asarray(y).ravel()[np.argmax(big)]:g}, "
                       f"beyond the range of the 32-bit floats the network "
                       f"computes in; scale the targets")
    y = np.asarray(y, np.float32)
    y2 = y.reshape(len(y), -1)
    if first_call:
      self._y_1d = y.ndim == 1
      self.n_outputs_ = y2.shape[1]
    elif y2.shape[1] != self.n_outputs_:
      raise ValueError(f"y has {y2.shape[1]} outputs but the network was "
                       f"fitted with {self.n_outputs_}")
    return y2

  def fit(self, X, y):
    """Trains on ``(X, y)`` from the start.

    Args:
      X: ``(n_samples, n_features)`` inputs.
      y: ``(n_samples,)`` or ``(n_samples, n_outputs)`` targets.

    Returns:
      self.
    """
    run, X, y = self._checked(X, y, first_call=True)
    return self._train(run, X, y, incremental=False)

  def partial_fit(self, X, y):
    """Runs one epoch on ``(X, y)`` (as in :meth:`fit`), continuing the
    training."""
    run, X, y = self._checked(X, y, first_call=not hasattr(self, "params_"))
    return self._train(run, X, y, incremental=True)

  def _checked(self, X, y, *, first_call):
    """The settings, the float32 inputs and the 2-d targets."""
    run = self._check_params()
    X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True,
                         y_numeric=True, reset=first_call)
    return run, X, self._targets_2d(y, first_call)

  def predict(self, X):
    """Predicted targets, float64, shaped like the ``y`` of ``fit``."""
    o = self._logits(X)      # linear outputs
    return o[:, 0] if self._y_1d else o

  def __sklearn_tags__(self):
    tags = super().__sklearn_tags__()
    tags.target_tags.multi_output = True
    return tags
