r"""The error surface of a two-weight neuron, with paths of batch GD and SGD.

  python -m experiments.error_surface                    # linear neuron
  python -m experiments.error_surface --neuron=sigmoid --learning_rate=0.5

A single neuron with two weights and no bias, ``o = g(w1 x1 + w2 x2)``, on a
small data set generated from --seed: correlated inputs, so the surface
E(w1, w2) is a long, narrow valley. ``linear`` (g = identity, E = 1/2 mean
squared error: a quadratic bowl) or ``sigmoid`` (0/1 targets, cross-entropy).
From the same start, batch gradient descent (one step per epoch on the whole
set) and online SGD (one step per example, reshuffled every epoch) follow
``w <- w - eta dE/dw`` with the gradients of the hand-written backprop
(:func:`nn_jax.backprop.gradients`); the bias stays at 0. Writes
error_surface.png (contours with both paths, cost per epoch) and
results.json (final weights and costs) to --workdir.
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from experiments import common
from nn_jax import backprop
from nn_jax import mlp

LOSSES = {"linear": "linear_squared", "sigmoid": "sigmoid_cross_entropy"}

flags.DEFINE_enum("neuron", "linear", tuple(LOSSES), "Output unit and cost.")
flags.DEFINE_integer("n_samples", 20, "Training examples.", lower_bound=2)
flags.DEFINE_float("correlation", 0.8, "Correlation of x1 and x2 (|c| < 1); "
                   "the larger, the narrower the valley.")
flags.DEFINE_float("learning_rate", 0.1, "Learning rate eta of both methods "
                   "(0.7: SGD bounces about the minimum).")
flags.DEFINE_integer("epochs", 40, "Epochs of both methods.", lower_bound=1)
flags.DEFINE_list("start", ["-1.5", "2.5"], "Initial weights w1,w2.")
flags.DEFINE_integer("seed", 0, "Seed of the data and of the SGD shuffles.")
flags.DEFINE_string("workdir", "runs/error_surface", "Where results go.")

FLAGS = flags.FLAGS


def make_data(neuron: str, n: int, correlation: float, seed: int):
  """Correlated inputs ``(n, 2)`` and targets ``(n, 1)`` of a teacher neuron."""
  rng = np.random.default_rng(seed)
  cov = np.array([[1.0, correlation], [correlation, 1.0]])
  x = rng.multivariate_normal(np.zeros(2), cov, n)
  z = x @ np.array([1.0, 0.5])
  if neuron == "linear":
    y = z + 0.3 * rng.normal(size=n)
  else:  # labels drawn with probability sigmoid(2z): a finite minimum
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * z))).astype(float)
  return jnp.asarray(x, jnp.float32), jnp.asarray(y[:, None], jnp.float32)


def as_params(w):
  """The neuron's parameters in ``nn_jax.mlp`` form, bias fixed at 0."""
  return [{"w": w[None, :], "b": jnp.zeros((1,), w.dtype)}]


def descend(model, x, y, w0, batches, learning_rate):
  """Gradient steps over ``batches`` (steps, batch size) of example indices.

  Returns the path: the weights before and after every step, ``(steps+1, 2)``.
  """
  def step(w, idx):
    _, grads = backprop.gradients(as_params(w), x[idx], y[idx], model,
                                  "manual")
    w = w - learning_rate * grads[0]["w"][0]  # the bias gradient is dropped
    return w, w
  _, path = jax.lax.scan(step, w0, batches)
  return jnp.concatenate([w0[None], path])


def minimum(loss, w0, steps: int = 50):
  """Newton's method on the convex E(w) (a quadratic bowl, or the logistic
  cross-entropy). Returns ``None`` where it does not settle (separable 0/1
  targets: E falls towards 0 without a finite minimum)."""
  grad, hessian = jax.jit(jax.grad(loss)), jax.jit(jax.hessian(loss))
  w = w0
  for _ in range(steps):
    step = jnp.linalg.solve(hessian(w), grad(w))
    w = w - step
    if not bool(jnp.all(jnp.isfinite(w))):
      return None
    if float(jnp.max(jnp.abs(step))) < 1e-6 * (1 + float(jnp.max(
        jnp.abs(w)))):
      return np.asarray(w)
  return None


def main(argv):
  del argv
  common.check(abs(FLAGS.correlation) < 1, "correlation", "must be in (-1, 1)")
  common.check(FLAGS.learning_rate > 0, "learning_rate", "must be > 0")
  try:
    start = [float(v) for v in FLAGS.start]
  except ValueError:
    start = []
  common.check(len(start) == 2 and np.all(np.isfinite(start)), "start",
               "two finite numbers w1,w2, e.g. -1.5,2.5")
  workdir = common.make_workdir(FLAGS.workdir)
  timer = common.Timer()
  model = mlp.make_model("identity", LOSSES[FLAGS.neuron])
  n, epochs = FLAGS.n_samples, FLAGS.epochs
  x, y = make_data(FLAGS.neuron, n, FLAGS.correlation, FLAGS.seed)
  loss = lambda w: backprop.loss(as_params(w), x, y, model)
  cost = jax.jit(jax.vmap(loss))
  w0 = jnp.asarray(start, jnp.float32)
  w_min = minimum(loss, w0)

  batch_idx = jnp.tile(jnp.arange(n), (epochs, 1))                   # (E, n)
  shuffles = np.random.default_rng([FLAGS.seed, 1])  # apart from the data's
  online_idx = np.concatenate([shuffles.permutation(n) for _ in range(epochs)])
  online_idx = jnp.asarray(online_idx.reshape(epochs * n, 1))         # (E n, 1)
  batch_path = np.asarray(descend(model, x, y, w0, batch_idx,
                                  FLAGS.learning_rate))
  online_path = np.asarray(descend(model, x, y, w0, online_idx,
                                   FLAGS.learning_rate))
  # E at the end of each epoch (and at the start).
  batch_cost = np.asarray(cost(jnp.asarray(batch_path)))
  online_cost = np.asarray(cost(jnp.asarray(online_path[::n])))
  common.check(np.isfinite(online_cost).all() and np.isfinite(batch_cost).all(),
               "learning_rate", "too large: the weights diverged")

  # The window holds both paths and the minimum (if E has a finite one).
  pts = np.concatenate([batch_path, online_path,
                        np.empty((0, 2)) if w_min is None else w_min[None]])
  lo, hi = pts.min(0), pts.max(0)
  pad = 0.15 * (hi - lo).max() + 0.1
  g1, g2 = np.meshgrid(np.linspace(lo[0] - pad, hi[0] + pad, 201),
                       np.linspace(lo[1] - pad, hi[1] + pad, 201))
  grid = np.stack([g1.ravel(), g2.ravel()], 1)
  surface = np.asarray(cost(jnp.asarray(grid, jnp.float32))).reshape(g1.shape)
  if w_min is None:
    w_min, min_label = grid[np.argmin(surface)], "lowest E in the window"
  else:
    min_label = "minimum of E"
  e_min = float(cost(jnp.asarray(w_min[None], jnp.float32))[0])
  grad_norm = float(jnp.linalg.norm(jax.grad(loss)(jnp.asarray(w_min))))

  fig, (ax, ax_cost) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})
  # Levels at quantiles of E over the plot: more contours near the minimum.
  levels = np.unique(np.quantile(surface, np.linspace(0.03, 1, 18) ** 2))
  norm = matplotlib.colors.LogNorm(levels[0], levels[-1])
  ax.contourf(g1, g2, surface, levels=levels, cmap="Greys_r", norm=norm,
              alpha=0.45, extend="both")
  ax.contour(g1, g2, surface, levels=levels, colors="0.35", linewidths=0.6)
  ax.plot(online_path[:, 0], online_path[:, 1], "-", color="tab:blue", lw=0.9,
          alpha=0.8, label=f"online SGD: batch size 1 ({n} steps / epoch)")
  ax.plot(online_path[::n, 0], online_path[::n, 1], "o", color="tab:blue",
          ms=3)
  ax.plot(batch_path[:, 0], batch_path[:, 1], "o-", color="tab:red", ms=4,
          lw=1.5, label=f"batch GD: batch size {n} (1 step / epoch)")
  ax.plot(*w0, "k*", ms=14, label="start")
  ax.plot(*w_min, "X", color="gold", mec="k", ms=11, label=min_label)
  ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal",
         title=f"E(w1, w2) of a {FLAGS.neuron} neuron, eta = "
         f"{FLAGS.learning_rate:g}, {epochs} epochs")
  ax.legend(loc="best", fontsize=8, framealpha=0.9)
  for path_cost, color, label in ((batch_cost, "tab:red", "batch GD"),
                                  (online_cost, "tab:blue", "online SGD")):
    ax_cost.plot(np.arange(epochs + 1), path_cost, "o-", ms=3, color=color,
                 label=label)
  ax_cost.axhline(e_min, color="0.5", ls=":", label=min_label)
  spread = max(batch_cost.max(), online_cost.max()) / e_min
  ax_cost.set(xlabel="epoch", ylabel="cost E",
              yscale="log" if spread > 10 else "linear",
              title="cost at the end of each epoch")
  ax_cost.grid(alpha=0.3)
  ax_cost.legend()
  fig.suptitle("Batch gradient descent vs. online SGD on the error surface "
               "(one dot per epoch)")
  fig.tight_layout()
  png = os.path.join(workdir, "error_surface.png")
  fig.savefig(png, dpi=100)
  plt.close(fig)

  method = lambda path, c: {"final_w": path[-1], "final_cost": float(c[-1]),
                            "cost_per_epoch": c, "steps": len(path) - 1}
  common.write_json(os.path.join(workdir, "results.json"), {
      "batch": method(batch_path, batch_cost),
      "online": method(online_path, online_cost),
      "start": start,
      "minimum": {"w": w_min, "cost": e_min, "gradient_norm": grad_norm,
                  "found": min_label == "minimum of E"},
      "flags": common.flag_dict(__file__), "seconds": timer.seconds})
  print(f"batch GD: w = {np.round(batch_path[-1], 3)}, E = "
        f"{batch_cost[-1]:.4f};"
        f" online SGD: w = {np.round(online_path[-1], 3)}, E = "
        f"{online_cost[-1]:.4f}; {min_label} {e_min:.4f} ({png})")


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
