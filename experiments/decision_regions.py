r"""Decision regions of a multilayer network on a 2-D problem of k classes.

  python -m experiments.decision_regions                  # 3-arm spiral
  python -m experiments.decision_regions --dataset=blobs --num_classes=5
  python -m experiments.decision_regions --dataset=vowels   # the lecture's
  python -m experiments.decision_regions --dataset=csv \
      --csv_path=vowels.csv --features=F1,F2 --target=vowel

Trains an MLP (hand-written backprop, softmax output, cross-entropy) on two
input features and colours the plane by the class the network picks, as in
the lecture's figure of vowels in the formant plane (F1, F2). The data are
any 2-D data set of experiments.train (``spiral``: one arm per class;
``blobs``: overlapping Gaussian classes around the unit circle; ``moons``,
``circles``, ``xor``; generated from --seed with --n_samples, --num_classes
and --data_noise) or two numeric columns of a CSV file. The network and its
training are experiments.train's flags (other defaults: --hidden=32,32
--activation=tanh --optimizer=adam --learning_rate=0.01 --epochs=1500
--batch_size=0). Inputs are standardized with the training split's
statistics; the axes keep the raw units. The test points are drawn as
triangles, and their cost is measured every epoch. In the same run
scikit-learn's k-nearest neighbours (k=5) and Gaussian quadratic classifier
(QDA) are fitted on the same encoded split, and results.json reports the
three test accuracies side by side. Writes decision_regions.png and
results.json to --workdir.

``--dataset=vowels`` is the lecture's figure (Huang & Lippmann 1988):
Peterson & Barney's F1 against F2 in Hz, the regions labelled with the hVd
words, the test speakers' tokens on top (odd-numbered speakers train, even
ones test); it takes the settings of experiments/flags/vowels.flags that
the command line leaves out (--log_frequency: log-Hz inputs, the axes in
Hz).
"""

import os
import time

from absl import flags
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data
from nn_jax import experiment
from nn_jax import plots
from nn_jax import tabular
from nn_jax import vowels

# No validation split: the test points are monitored every epoch instead
# (a validation fraction would only take training points away).
cli.define_flags(config_lib.DataConfig, defaults=dict(dataset="spiral"),
                 exclude=("validation_fraction",))
cli.define_flags(config_lib.NetConfig, config_lib.OptimConfig,
                 config_lib.FitOptions, config_lib.Config,
                 defaults=dict(hidden=(32, 32), activation="tanh",
                               optimizer="adam", learning_rate=0.01,
                               epochs=1500, batch_size=0, log_every=0,
                               train_metrics="full"),
                 exclude=("model", "dtype", "early_stopping_patience",
                          "checkpoint_every"))
flags.DEFINE_string("workdir", "runs/decision_regions", "Where results go.")

FLAGS = flags.FLAGS
PRESET = os.path.join(os.path.dirname(__file__), "flags", "vowels.flags")


def vowel_preset() -> None:
  """Sets the flags of ``PRESET`` that the command line did not set."""
  for arg in FLAGS.read_flags_from_files([f"--flagfile={PRESET}"]):
    name, value = arg[2:].split("=", 1)
    if not FLAGS[name].present:
      FLAGS[name].parse(value)


def load(config) -> tuple:
  """``(splits, scaler, class names, input names)``: the run's splits (the
  test points monitored every epoch as its validation data) and the
  inputs' encoding (``apply``, ``invert``; None for raw inputs)."""
  d = config.data
  if d.dataset == "csv":
    cli.check(len(d.target) == 1, "target", "decision regions need one "
              "target column, of class labels")
    table = tabular.read_csv(d.csv_path)
    if d.target[0] in table.header:   # else load_split names it
      labels = [v for v in table.column(d.target[0])
                if not tabular.is_missing(v)]
      cli.check(tabular.infer_task(labels) == data.CLASSIFICATION, "target",
                "its column holds real numbers; decision regions need "
                f"class labels (text, or at most "
                f"{tabular.MAX_INTEGER_CLASSES} distinct integers)")
    if not d.features:
      features = tuple(c for c in table.header if c not in d.target)
      cli.check(len(features) == 2, "features", f"{d.csv_path} has the "
                f"columns {', '.join(features)} besides the target; name "
                f"the two inputs, e.g. --features={','.join(features[:2])}")
      config = config.replace(features=",".join(features))
  splits = experiment.prepare(config, experiment.run_keys(config)[0])
  cli.check(splits.train.x.shape[1] == 2, {"csv": "features", "vowels":
            "vowel_features"}.get(d.dataset, "dataset"), f"{d.dataset} gives {splits.train.x.shape[1]} "
            "inputs; decision regions need two numeric ones")
  splits = splits._replace(val=splits.test)
  enc = splits.encoder
  if d.dataset == "csv":
    return splits, enc.scaler, enc.classes, enc.numeric
  names = splits.train.class_names or tuple(
      f"class {c}" for c in range(splits.train.num_classes))
  if d.dataset == "vowels":   # the plane in Hz, as the lecture draws it
    return (splits, vowels.HzEncoding(enc, d.log_frequency), names,
            tuple(f"{f} (Hz)" for f in d.vowel_features))
  return splits, enc, names, ("$x_1$", "$x_2$")


def source(config, num_classes: int) -> str:
  """What the data are, for the figure's title."""
  d = config.data
  log = ", the network's inputs their logarithms" if d.log_frequency else ""
  return {"csv": os.path.basename(d.csv_path), "vowels": (
      "Peterson & Barney's vowels, odd-numbered speakers train, even test "
      f"(seed {config.seed}){log}")}.get(d.dataset, f"{d.dataset} "
                                         f"({num_classes} classes, seed "
                                         f"{config.seed})")


def describe(others: dict) -> str:
  """``kNN (k=5) 0.730, QDA 0.763``: the other classifiers' accuracies."""
  return ", ".join(f"{vowels.REFERENCES[name]} {acc:.3f}" for name, acc in
                   others.items() if acc is not None)


def label_regions(ax, predict, names, points=None) -> None:
  """Writes each class's name in its regions in the window, where it is
  farthest both from any other class's region and from the ``points``
  drawn there (in the deepest part of a region that points fill), on a
  light box through which the points show."""
  n = 200
  (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
  g0, g1 = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
  labels = np.asarray(predict(np.stack([g0.ravel(), g1.ravel()], 1)))
  free = np.full(g0.shape, np.inf)   # grid cells to the nearest point
  if points is not None and len(points):
    occupied = np.zeros(g0.shape, bool)
    col = np.round((points[:, 0] - x0) / (x1 - x0) * (n - 1)).astype(int)
    row = np.round((points[:, 1] - y0) / (y1 - y0) * (n - 1)).astype(int)
    inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
    occupied[row[inside], col[inside]] = True
    free = ndimage.distance_transform_edt(~occupied)
  for c, name in enumerate(names):
    mask = np.pad(labels.reshape(g0.shape) == c, 1)
    depth = ndimage.distance_transform_edt(mask)[1:-1, 1:-1]
    if depth.max() > 0:
      room = np.minimum(depth, free)
      score = room if room.max() > 0 else depth
      i, j = np.unravel_index(score.argmax(), score.shape)
      ax.text(g0[i, j], g1[i, j], name, ha="center", va="center",
              weight="bold",
              bbox=dict(boxstyle="round,pad=0.15", lw=0, fc="white",
                        alpha=0.6))


def draw(path: str, run, predict, train, test, names, axes, title: str,
         others: dict, lecture: bool) -> str:
  """The regions with the training points (circles) and test points
  (triangles) on the left, the cost per epoch on the right. ``lecture``:
  as the lecture draws the vowels, only the test points, on regions
  labelled with the class names, the axes from 0."""
  s = run.summary
  fig, (ax, ax_cost) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.25, 1]})
  # Margin so that the coloured plane also covers the test points.
  x_all = np.concatenate([train.x, test.x])
  margin = max(0.08 * float(np.ptp(x_all, 0).max()),
               float(np.max(train.x.min(0) - x_all.min(0))),
               float(np.max(x_all.max(0) - train.x.max(0))))
  shown = test if lecture else train
  plots.decision_regions(predict, shown.x, shown.y, "", ax=ax,
                         margin=margin, resolution=300,
                         num_classes=len(names))
  colors = plots.class_colors(max(len(names), 2))   # as in the regions
  if lecture:
    ax.collections[-1].set_sizes([14])   # the test points, smaller
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    ax.set(xlim=(max(x0, 0), x1), ylim=(max(y0, 0), y1))   # no Hz below 0
    label_regions(ax, predict, names, shown.x)
  else:
    ax.scatter(test.x[:, 0], test.x[:, 1], marker="^", s=45,
               edgecolors="k", color=[colors[c] for c in test.y])
    plots.class_legend(ax, names, loc="best", fontsize=8, framealpha=0.8)
  ax.set(xlabel=axes[0], ylabel=axes[1])
  test_text = ("" if not test.size else f", test {s.test_accuracy:.3f}"
               + (" (points)" if lecture else " (triangles)"))
  other_text = describe(others)
  ax.set_title(f"{'-'.join(map(str, s.sizes))} {s.config['activation']} "
               f"network: accuracy train {s.final_train_accuracy:.3f}"
               f"{test_text}" + (f"\ntest accuracy of {other_text}"
                                 if other_text else ""), fontsize=10)
  epochs = np.arange(1, s.epochs_run + 1)
  ax_cost.plot(epochs, run.history["train_loss"], label="training")
  if test.size:
    ax_cost.plot(epochs, run.history["val_loss"], "--", label="test")
  ax_cost.set(xlabel="epoch", ylabel="cost", title="cost per epoch")
  plots.log_ticks(ax_cost, "y")
  ax_cost.grid(alpha=0.3)
  ax_cost.legend()
  fig.suptitle(f"Decision regions learned by backprop: {title}")
  return plots.save(fig, path, dpi=150)


def main(argv):
  del argv
  if FLAGS.dataset == "vowels":
    vowel_preset()
  config = cli.config_from_flags(validation_fraction=0.0)
  workdir = outputs.make_workdir(FLAGS.workdir)
  splits, scaler, names, axes = load(config)
  raw, encode = ((lambda x: x,) * 2 if scaler is None
                 else (scaler.invert, scaler.apply))
  progress = cli.Progress(config.fit.epochs, monitored="test")
  run = experiment.run_network(config, splits, experiment.run_keys(config),
                               time.perf_counter(), on_progress=progress)
  progress.close()
  others = vowels.reference_accuracies(splits.train, splits.test)
  train, test = (s._replace(x=raw(s.x)) for s in (splits.train, splits.test))
  predict = lambda pts: experiment.predict_labels(
      run.params, run.stats, encode(pts), run.model)
  png = draw(outputs.figure_path(workdir, "decision_regions"), run, predict,
             train, test, names, axes, source(config, len(names)) + "\n" +
             plots.run_title(config.flat(), omit=("seed",),
                             num_train=train.size).splitlines()[-1], others,
             lecture=config.data.dataset == "vowels")
  s = run.summary
  test_accuracy = s.test_accuracy if test.size else None
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "decision_regions",
      "train_accuracy": s.final_train_accuracy,
      "test_accuracy": test_accuracy,
      "test_accuracies": {"network": test_accuracy, **others},
      "final_train_loss": s.final_train_loss, "epochs_run": s.epochs_run,
      "classes": list(names), "num_train": train.size,
      "num_test": test.size, "sizes": s.sizes,
      "flags": cli.flag_dict(__file__), "seconds": s.seconds})
  print(f"train accuracy {s.final_train_accuracy:.3f}, test accuracy "
        f"{'n/a' if test_accuracy is None else f'{test_accuracy:.3f}'}; "
        f"{describe(others) or 'no kNN, QDA'} ({png})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
