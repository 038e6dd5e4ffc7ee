r"""Decision regions of a multilayer network on a 2-D problem with 3+ classes.

  python -m experiments.decision_regions                  # 3-arm spiral
  python -m experiments.decision_regions --problem=blobs --classes=5
  python -m experiments.decision_regions --csv_path=vowels.csv \
      --x_columns=F1,F2 --label_column=vowel

Trains an MLP (hand-written backprop, softmax output, cross-entropy) on two
input features and colours the plane by the class the network picks, as in
the lecture's figure of vowels in the formant plane (F1, F2). The built-in
problems are generated from --seed: ``spiral`` (one arm per class) and
``blobs`` (overlapping Gaussian classes around the unit circle). Inputs are
standardized with the training split's statistics; the axes keep the raw
units. Writes decision_regions.png and results.json to --workdir.
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import common
from nn_jax import activations
from nn_jax import data
from nn_jax import encoding
from nn_jax import mlp
from nn_jax import plots
from nn_jax import tabular
from nn_jax import train

PROBLEMS = ("spiral", "blobs")
NOISE = {"spiral": 0.2, "blobs": 0.45}

flags.DEFINE_enum("problem", "spiral", PROBLEMS, "Built-in problem.")
flags.DEFINE_integer("classes", 3, "Classes of the built-in problem.",
                     lower_bound=3)
flags.DEFINE_integer("n_samples", 450, "Examples of the built-in problem.",
                     lower_bound=30)
flags.DEFINE_float("noise", None, "Spiral: noise of each point's angle (rad, "
                   "default 0.2); blobs: std of each class around its centre "
                   "(default 0.45).", lower_bound=0)
flags.DEFINE_string("csv_path", "", "A CSV file to use instead (header line).")
flags.DEFINE_string("x_columns", "", "The CSV's two input columns, a,b "
                    "(default: the columns that are not the label).")
flags.DEFINE_string("label_column", "label", "The CSV's class column.")
flags.DEFINE_string("hidden", "32,32", "Hidden layer sizes, comma-separated.")
flags.DEFINE_enum("activation", "tanh", activations.DIFFERENTIABLE,
                  "Hidden activation.")
flags.DEFINE_enum("optimizer", "adam", train.OPTIMIZERS, "Optimizer.")
flags.DEFINE_float("learning_rate", 0.01, "Learning rate eta (> 0).")
flags.DEFINE_integer("epochs", 1500, "Epochs of training.", lower_bound=1)
flags.DEFINE_integer("batch_size", 0, "0: whole set; 1: online; else "
                     "mini-batch.", lower_bound=0)
flags.DEFINE_float("test_fraction", 0.2, "Held-out share, drawn as triangles.")
flags.DEFINE_integer("seed", 0, "Seed of the data, split, weights, shuffles.")
flags.DEFINE_string("workdir", "runs/decision_regions", "Where results go.")

FLAGS = flags.FLAGS


def spiral(n: int, classes: int, noise: float, seed: int):
  """``classes`` interleaved spiral arms of ``n // classes`` points each."""
  rng = np.random.default_rng(seed)
  per = n // classes
  r = np.tile(np.linspace(0.05, 1.0, per), classes)
  arm = np.repeat(np.arange(classes), per)
  t = 4 * r + arm * 2 * np.pi / classes + rng.normal(0, noise, per * classes)
  return np.stack([r * np.sin(t), r * np.cos(t)], 1), arm


def blobs(n: int, classes: int, noise: float, seed: int):
  """Gaussian classes of std ``noise`` around centres on the unit circle."""
  rng = np.random.default_rng(seed)
  label = np.arange(n) % classes
  angle = 2 * np.pi * label / classes
  centre = np.stack([np.cos(angle), np.sin(angle)], 1)
  return centre + noise * rng.normal(size=(n, 2)), label


def load(split_key):
  """``(train, test, raw -> standardized, class names, axis names)``."""
  if FLAGS.csv_path:
    x_cols = tabular.parse_nominal(FLAGS.x_columns, "x_columns")
    table = tabular.read_csv(FLAGS.csv_path)
    if FLAGS.label_column in table.header:   # else load_split names it
      labels = [v for v in table.column(FLAGS.label_column)
                if not tabular.is_missing(v)]
      common.check(tabular.infer_task(labels) == data.CLASSIFICATION,
                   "label_column", "its column holds real numbers; decision "
                   "regions need class labels (text, or at most "
                   f"{tabular.MAX_INTEGER_CLASSES} distinct integers)")
    if not x_cols:
      x_cols = tuple(c for c in table.header if c != FLAGS.label_column)
      common.check(len(x_cols) == 2, "x_columns", f"{FLAGS.csv_path} has the "
                   f"columns {', '.join(x_cols)} besides the label; name the "
                   f"two inputs, e.g. --x_columns={','.join(x_cols[:2])}")
    train_ds, test_ds, enc = tabular.load_split(
        FLAGS.csv_path, FLAGS.label_column, features=x_cols,
        test_fraction=FLAGS.test_fraction, seed=FLAGS.seed,
        task=data.CLASSIFICATION)
    common.check(len(enc.numeric) == 2, "x_columns", "name exactly two numeric "
                 f"columns of {FLAGS.csv_path} (found {list(enc.numeric)})")
    raw = lambda ds: ds._replace(x=enc.scaler.invert(ds.x))
    return (raw(train_ds), raw(test_ds), enc.scaler, enc.classes, enc.numeric)
  make = spiral if FLAGS.problem == "spiral" else blobs
  noise = NOISE[FLAGS.problem] if FLAGS.noise is None else FLAGS.noise
  x, y = make(FLAGS.n_samples, FLAGS.classes, noise, FLAGS.seed)
  test_ds, train_ds = data.split(data.classification(FLAGS.problem, x, y),
                                 split_key, (FLAGS.test_fraction,))
  names = tuple(f"class {c}" for c in range(FLAGS.classes))
  return (train_ds, test_ds, encoding.Standardize.fit(train_ds.x), names,
          ("$x_1$", "$x_2$"))


def main(argv):
  del argv
  common.check(FLAGS.n_samples >= 10 * FLAGS.classes, "n_samples",
               "must be >= 10 per class")
  common.check(0 <= FLAGS.test_fraction < 1, "test_fraction", "in [0, 1)")
  common.check(FLAGS.learning_rate > 0, "learning_rate", "must be > 0")
  try:
    hidden = [int(h) for h in FLAGS.hidden.split(",") if h.strip()]
  except ValueError:
    hidden = [0]
  common.check(all(h >= 1 for h in hidden), "hidden",
               "comma-separated positive integers")
  workdir = common.make_workdir(FLAGS.workdir)
  timer = common.Timer()
  split_key, init_key, train_key = jax.random.split(
      jax.random.PRNGKey(FLAGS.seed), 3)
  train_ds, test_ds, scaler, names, axes = load(split_key)

  model = mlp.make_model(FLAGS.activation, "softmax_cross_entropy")
  k = len(names)
  params = jax.jit(lambda key: mlp.init(key, [2, *hidden, k], model))(init_key)
  encode = lambda ds: (jnp.asarray(scaler.apply(ds.x.reshape(-1, 2))),
                       jnp.asarray(data.targets(model.loss, ds)).reshape(-1, k))
  result = train.fit(params, model,
                     train.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate),
                     train.Data(*encode(train_ds), *encode(test_ds)),
                     key=train_key, epochs=FLAGS.epochs,
                     batch_size=FLAGS.batch_size, grad="manual",
                     on_progress=lambda e, m: common.log(
                         "epoch %d: cost %.4f, accuracy %.3f", e,
                         m["train_loss"], m["train_accuracy"]))
  classify = jax.jit(lambda p, x: jnp.argmax(mlp.predict(p, x, model), -1))
  net = lambda pts: np.asarray(classify(result.params,
                                        jnp.asarray(scaler.apply(pts))))
  acc = lambda ds: float(np.mean(net(ds.x) == ds.y)) if ds.size else None
  train_acc, test_acc = acc(train_ds), acc(test_ds)

  fig, (ax, ax_cost) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.25, 1]})
  # Margin so that the coloured plane also covers the test points.
  x_all = np.concatenate([train_ds.x, test_ds.x])
  margin = max(0.08 * float(np.ptp(x_all, 0).max()),
               float(np.max(train_ds.x.min(0) - x_all.min(0))),
               float(np.max(x_all.max(0) - train_ds.x.max(0))))
  plots.decision_regions(net, train_ds.x, train_ds.y, "", ax=ax,
                         margin=margin, resolution=300,
                         num_classes=len(names))
  colors = plots.class_colors(max(len(names), 2))   # as in the regions
  ax.scatter(test_ds.x[:, 0], test_ds.x[:, 1], marker="^", s=45,
             edgecolors="k", color=[colors[c] for c in test_ds.y])
  handles = [plt.Line2D([], [], marker="o", linestyle="", markeredgecolor="k",
                        color=colors[c], label=name)
             for c, name in enumerate(names)]
  ax.set(xlabel=axes[0], ylabel=axes[1])
  ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.8)
  test_text = ("" if test_acc is None
               else f", test {test_acc:.2f} (triangles)")
  ax.set_title(f"2-{'-'.join(map(str, hidden))}-{k} {FLAGS.activation} "
               f"network: accuracy train {train_acc:.2f}{test_text}")
  epochs = np.arange(1, result.epochs_run + 1)
  ax_cost.plot(epochs, result.history["train_loss"], label="training")
  if test_ds.size:
    ax_cost.plot(epochs, result.history["val_loss"], "--", label="test")
  ax_cost.set(xlabel="epoch", ylabel="cross-entropy cost", yscale="log",
              title="cost per epoch")
  ax_cost.grid(alpha=0.3)
  ax_cost.legend()
  source = (os.path.basename(FLAGS.csv_path)
            or f"{FLAGS.problem} ({k} classes, seed {FLAGS.seed})")
  fig.suptitle(f"Decision regions learned by backprop: {source}")
  fig.tight_layout()
  png = os.path.join(workdir, "decision_regions.png")
  fig.savefig(png, dpi=100)
  plt.close(fig)

  common.write_json(os.path.join(workdir, "results.json"), {
      "train_accuracy": train_acc, "test_accuracy": test_acc,
      "final_train_loss": float(result.history["train_loss"][-1]),
      "epochs_run": result.epochs_run, "classes": list(names),
      "num_train": train_ds.size, "num_test": test_ds.size,
      "sizes": [2, *hidden, k], "flags": common.flag_dict(__file__),
      "seconds": timer.seconds})
  print(f"train accuracy {train_acc:.3f}, test accuracy "
        f"{'n/a' if test_acc is None else f'{test_acc:.3f}'} ({png})")


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
