r"""The error surface of a two-weight neuron, with paths of batch GD and SGD.

  python -m experiments.error_surface                    # linear neuron
  python -m experiments.error_surface --neuron=sigmoid --learning_rate=0.5
  python -m experiments.error_surface --learning_rate=0.7   # SGD bounces

A single neuron with two weights and no bias, ``o = g(w1 x1 + w2 x2)``, on a
small data set generated from --seed: correlated inputs, so the surface
E(w1, w2) is a long, narrow valley. ``linear`` (g = identity, E = 1/2 mean
squared error: a quadratic bowl) or ``sigmoid`` (0/1 targets, cross-entropy).
From the same start, batch gradient descent (one step per epoch on the whole
set) and online SGD (one step per example, reshuffled every epoch) follow
``w <- w - eta dE/dw`` with the gradients of the hand-written backprop
(:func:`nn_jax.backprop.gradients`); the bias stays at 0. --learning_rate
is eta of both methods, --epochs their epochs, --seed draws the data and
the SGD shuffles. Writes
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

from experiments import cli
from experiments import outputs
from nn_jax import backprop
from nn_jax import config as config_lib
from nn_jax import mlp
from nn_jax import plots

LOSSES = {"linear": "linear_squared", "sigmoid": "sigmoid_cross_entropy"}

cli.define_flags(config_lib.DataConfig, config_lib.OptimConfig,
                 config_lib.FitOptions, config_lib.Config,
                 only=("n_samples", "learning_rate", "epochs", "seed"),
                 defaults=dict(n_samples=20, learning_rate=0.1, epochs=40))
flags.DEFINE_enum("neuron", "linear", tuple(LOSSES), "Output unit and cost.")
flags.DEFINE_float("correlation", 0.8, "Correlation of x1 and x2 (|c| < 1); "
                   "the larger, the narrower the valley.")
flags.DEFINE_list("start", ["-1.5", "2.5"], "Initial weights w1,w2.")
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


def initial_weights() -> list:
  """--start as two numbers; fails naming the flag."""
  try:
    start = [float(v) for v in FLAGS.start]
  except ValueError:
    start = []
  cli.check(len(start) == 2 and np.all(np.isfinite(start)), "start",
            "two finite numbers w1,w2, e.g. -1.5,2.5")
  return start


def descents(model, x, y, w0, epochs: int, learning_rate: float,
             seed: int) -> tuple:
  """The paths of batch GD and online SGD from ``w0``: ``(batch_path,
  online_path)``, the weights before and after every step."""
  n = x.shape[0]
  batch_idx = jnp.tile(jnp.arange(n), (epochs, 1))                   # (E, n)
  shuffles = np.random.default_rng([seed, 1])  # apart from the data's
  online_idx = np.concatenate([shuffles.permutation(n) for _ in range(epochs)])
  online_idx = jnp.asarray(online_idx.reshape(epochs * n, 1))         # (E n, 1)
  return (np.asarray(descend(model, x, y, w0, batch_idx, learning_rate)),
          np.asarray(descend(model, x, y, w0, online_idx, learning_rate)))


def surface(cost, paths: list, w_min) -> tuple:
  """E on a 201 x 201 grid over a window that holds the paths and the
  minimum (if E has a finite one): ``(g1, g2, E)``."""
  pts = np.concatenate([*paths,
                        np.empty((0, 2)) if w_min is None else w_min[None]])
  lo, hi = pts.min(0), pts.max(0)
  pad = 0.15 * (hi - lo).max() + 0.1
  g1, g2 = np.meshgrid(np.linspace(lo[0] - pad, hi[0] + pad, 201),
                       np.linspace(lo[1] - pad, hi[1] + pad, 201))
  grid = np.stack([g1.ravel(), g2.ravel()], 1)
  e = np.asarray(cost(jnp.asarray(grid, jnp.float32))).reshape(g1.shape)
  return g1, g2, e


def draw(path: str, grid: tuple, paths: tuple, costs: tuple, w0, w_min,
         e_min: float, min_label: str, title: str) -> str:
  """The contours of E with both paths, and the cost per epoch."""
  g1, g2, e = grid
  batch_path, online_path = paths
  n = (len(online_path) - 1) // (len(batch_path) - 1)   # steps per epoch
  fig, (ax, ax_cost) = plt.subplots(
      1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1.2, 1]})
  # Levels at quantiles of E over the plot: more contours near the minimum.
  levels = np.unique(np.quantile(e, np.linspace(0.03, 1, 18) ** 2))
  norm = matplotlib.colors.LogNorm(levels[0], levels[-1])
  ax.contourf(g1, g2, e, levels=levels, cmap="Greys_r", norm=norm,
              alpha=0.45, extend="both")
  ax.contour(g1, g2, e, levels=levels, colors="0.35", linewidths=0.6)
  ax.plot(online_path[:, 0], online_path[:, 1], "-", color="tab:blue", lw=0.9,
          alpha=0.8, label=f"online SGD: batch size 1 ({n} steps / epoch)")
  ax.plot(online_path[::n, 0], online_path[::n, 1], "o", color="tab:blue",
          ms=3)
  ax.plot(batch_path[:, 0], batch_path[:, 1], "o-", color="tab:red", ms=4,
          lw=1.5, label=f"batch GD: batch size {n} (1 step / epoch)")
  ax.plot(*w0, "k*", ms=14, label="start")
  ax.plot(*w_min, "X", color="gold", mec="k", ms=11, label=min_label)
  ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal", title=title)
  ax.legend(loc="best", fontsize=8, framealpha=0.9)
  for path_cost, color, label in zip(costs, ("tab:red", "tab:blue"),
                                     ("batch GD", "online SGD")):
    ax_cost.plot(np.arange(len(path_cost)), path_cost, "o-", ms=3,
                 color=color, label=label)
  ax_cost.axhline(e_min, color="0.5", ls=":", label=min_label)
  spread = max(c.max() for c in costs) / e_min
  ax_cost.set(xlabel="epoch", ylabel="cost E",
              yscale="log" if spread > 10 else "linear",
              title="cost at the end of each epoch")
  ax_cost.grid(alpha=0.3)
  ax_cost.legend()
  fig.suptitle("Batch gradient descent vs. online SGD on the error surface "
               "(one dot per epoch)")
  return plots.save(fig, path)


def main(argv):
  del argv
  cli.check(abs(FLAGS.correlation) < 1, "correlation", "must be in (-1, 1)")
  start = initial_weights()
  config = cli.config_from_flags()
  eta, epochs, n = (config.optim.learning_rate, config.fit.epochs,
                    config.data.n_samples)
  cli.check(n >= 2, "n_samples", "must be >= 2")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  model = mlp.make_model("identity", LOSSES[FLAGS.neuron])
  x, y = make_data(FLAGS.neuron, n, FLAGS.correlation, config.seed)
  loss = lambda w: backprop.loss(as_params(w), x, y, model)
  cost = jax.jit(jax.vmap(loss))
  w0 = jnp.asarray(start, jnp.float32)
  w_min = minimum(loss, w0)
  paths = descents(model, x, y, w0, epochs, eta, config.seed)
  # E at the end of each epoch (and at the start).
  costs = (np.asarray(cost(jnp.asarray(paths[0]))),
           np.asarray(cost(jnp.asarray(paths[1][::n]))))
  cli.check(all(np.isfinite(c).all() for c in costs), "learning_rate",
            "too large: the weights diverged")
  grid = surface(cost, paths, w_min)
  found = w_min is not None
  if not found:   # the lowest point of the window instead
    w_min = np.stack([g.ravel() for g in grid[:2]], 1)[np.argmin(grid[2])]
  min_label = "minimum of E" if found else "lowest E in the window"
  e_min = float(cost(jnp.asarray(w_min[None], jnp.float32))[0])
  png = draw(os.path.join(workdir, "error_surface.png"), grid, paths, costs,
             w0, w_min, e_min, min_label,
             f"E(w1, w2) of a {FLAGS.neuron} neuron, eta = {eta:g}, "
             f"{epochs} epochs")
  method = lambda path, c: {"final_w": path[-1], "final_cost": float(c[-1]),
                            "cost_per_epoch": c, "steps": len(path) - 1}
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "batch": method(paths[0], costs[0]),
      "online": method(paths[1], costs[1]), "start": start,
      "minimum": {"w": w_min, "cost": e_min, "found": found,
                  "gradient_norm": float(jnp.linalg.norm(
                      jax.grad(loss)(jnp.asarray(w_min))))},
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds})
  print(f"batch GD: w = {np.round(paths[0][-1], 3)}, E = {costs[0][-1]:.4f};"
        f" online SGD: w = {np.round(paths[1][-1], 3)}, E = "
        f"{costs[1][-1]:.4f}; {min_label} {e_min:.4f} ({png})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
