"""Figures written to files (matplotlib, Agg backend; nothing is shown)."""

from typing import Callable, Optional, Sequence

import matplotlib
matplotlib.use("Agg")
import matplotlib.patches  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def save(fig: plt.Figure, path: str, dpi: int = 100,
         rect: tuple = (0, 0, 1, 1)) -> str:
  """Lays out ``fig`` (its axes within ``rect``, figure fractions left,
  bottom, right, top: room outside for a figure legend), writes it to
  ``path``, closes it; returns ``path``."""
  fig.tight_layout(rect=rect)
  fig.savefig(path, dpi=dpi)
  plt.close(fig)
  return path


def learning_curves(history: dict, path: str, title: str = "") -> str:
  """Plots cost and accuracy per epoch (train and validation) to ``path``;
  the cost alone when no accuracy is finite (regression)."""
  has_acc = any(np.isfinite(np.asarray(history.get(f"{s}_accuracy", []),
                                       float)).any() for s in ("train", "val"))
  fig, axes = plt.subplots(1, 2 if has_acc else 1,
                           figsize=(10 if has_acc else 5, 4), squeeze=False)
  ax_loss, ax_acc = axes[0, 0], axes[0, -1]
  epochs = np.arange(1, len(history["train_loss"]) + 1)
  for split, style in (("train", "-"), ("val", "--")):
    loss = np.asarray(history.get(f"{split}_loss", []), float)
    acc = np.asarray(history.get(f"{split}_accuracy", []), float)
    label = "training" if split == "train" else "validation"
    for ax, values, shown in ((ax_loss, loss, True), (ax_acc, acc, has_acc)):
      if shown and values.size and np.isfinite(values).any():
        # A series of a few finite points (a run measured once) gets
        # markers: a line through one point is not drawn.
        few = np.isfinite(values).sum() < 3
        ax.plot(epochs, values, style, label=label,
                marker="o" if few else None)
  ax_loss.set(xlabel="epoch", ylabel="cost", title="cost")
  train_loss = np.asarray(history["train_loss"], float)
  finite = train_loss[np.isfinite(train_loss)]
  if finite.size and finite.min() > 0:
    ax_loss.set_yscale("log")
  if has_acc:
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
  for ax in axes[0]:
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend()
  if title:
    fig.suptitle(title)
  return save(fig, path)


def class_colors(k: int) -> list:
  """``k`` distinct colours for class labels 0..k-1 (matplotlib's tab10,
  tab20, or evenly spaced hues beyond 20 classes)."""
  if k <= 10:
    return list(plt.get_cmap("tab10").colors[:max(k, 1)])
  if k <= 20:
    return list(plt.get_cmap("tab20").colors[:k])
  return [plt.get_cmap("hsv")(i / k) for i in range(k)]


def decision_regions(predict: Callable[[np.ndarray], np.ndarray],
                     x: np.ndarray, y: np.ndarray, path: str,
                     title: str = "", ax: Optional[plt.Axes] = None,
                     resolution: int = 200, margin: float = 0.5,
                     num_classes: Optional[int] = None,
                     class_names: Optional[Sequence[str]] = None) -> str:
  """Colours the plane by ``predict`` (points -> class labels) and draws ``x``.

  Args:
    predict: maps an ``(m, 2)`` array to ``m`` integer labels.
    x: 2-D points, shape ``(n, 2)``.
    y: their integer labels.
    path: PNG to write (ignored when ``ax`` is given).
    title: axes title.
    ax: draw into these axes instead of a new figure.
    resolution: grid points per axis.
    margin: space around the data.
    num_classes: colour as many classes (default: the largest label + 1),
      as :func:`class_colors` does.
    class_names: a legend naming each class's colour (label i's name at i).
  """
  x = np.asarray(x, float)
  lo, hi = x.min(0) - margin, x.max(0) + margin
  g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                       np.linspace(lo[1], hi[1], resolution))
  grid = np.stack([g0.ravel(), g1.ravel()], 1)
  labels = np.asarray(predict(grid)).reshape(g0.shape)
  own = ax is None
  if own:
    fig, ax = plt.subplots(figsize=(5, 5))
  k = num_classes or int(max(labels.max(), np.max(y))) + 1
  cmap = matplotlib.colors.ListedColormap(class_colors(max(k, 2)))
  ax.contourf(g0, g1, labels, levels=np.arange(-0.5, max(k, 2)), cmap=cmap,
              alpha=0.3)
  ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y), cmap=cmap, vmin=-0.5,
             vmax=max(k, 2) - 0.5, edgecolors="k", s=40)
  ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
  if class_names:
    colors = class_colors(max(k, 2))
    ax.legend(handles=[matplotlib.patches.Patch(
        facecolor=colors[i], edgecolor="k", label=str(name))
                       for i, name in enumerate(class_names)],
              title="class", fontsize="small", loc="best", framealpha=0.8)
  if own:
    save(fig, path)
  return path


def confusion_matrix(matrix, path: str, title: str = "",
                     labels: Optional[list] = None) -> str:
  """Draws a confusion matrix (rows: true class, columns: predicted)."""
  matrix = np.asarray(matrix)
  k = matrix.shape[0]
  labels = labels or [str(i) for i in range(k)]
  fig, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
  ax.imshow(matrix, cmap="Blues")
  for i in range(k):
    for j in range(k):
      ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
              color="white" if matrix[i, j] > matrix.max() / 2 else "black")
  ax.set(xticks=range(k), yticks=range(k), xticklabels=labels,
         yticklabels=labels, xlabel="predicted", ylabel="true",
         title=title or "confusion matrix (test set)")
  return save(fig, path)


def cost_contours(ax: plt.Axes, grid: tuple, levels: int = 18) -> None:
  """Draws a cost surface ``grid = (g1, g2, E)`` (as from
  :func:`nn_jax.surface.surface`) on ``ax``: grey filled contours and their
  lines, the levels at quantiles of E over the window (denser near the
  minimum), on a log colour scale."""
  g1, g2, e = grid
  values = np.unique(np.quantile(e, np.linspace(0.03, 1, levels) ** 2))
  norm = matplotlib.colors.LogNorm(values[0], values[-1])
  ax.contourf(g1, g2, e, levels=values, cmap="Greys_r", norm=norm,
              alpha=0.45, extend="both")
  ax.contour(g1, g2, e, levels=values, colors="0.35", linewidths=0.6)


def fit_curves(ax: plt.Axes, x, y, curves: dict, truth=None,
               output: int = 0, plane: bool = False, colors=None,
               resolution: int = 400) -> None:
  """One panel of a regression fit with 1-D inputs.

  Args:
    ax: the axes.
    x: inputs ``(n, 1)``, drawn as grey points with their targets.
    y: targets ``(n, k)``.
    curves: ``{label: predict}``, each mapping inputs ``(m, 1)`` to outputs
      ``(m, k)``, drawn over an even grid across the range of ``x``.
    truth: the noise-free function, ``(m, 1) -> (m, k)``, drawn dashed.
    output: the output drawn against x.
    plane: draw output 1 against output 0 instead (the curve the outputs
      trace as x runs over its range).
    colors: one colour per curve (default: tab10's).
    resolution: grid points.
  """
  x, y = np.asarray(x, float), np.asarray(y, float).reshape(len(x), -1)
  grid = np.linspace(x.min(), x.max(), resolution)[:, None]
  if plane:
    ax.scatter(y[:, 0], y[:, 1], s=6, color="0.6", label="data")
  else:
    ax.scatter(x[:, 0], y[:, output], s=6, color="0.6", label="data")
  colors = colors or class_colors(max(len(curves), 1))
  for (label, predict), color in zip(curves.items(), colors):
    o = np.asarray(predict(grid), float).reshape(resolution, -1)
    a, b = (o[:, 0], o[:, 1]) if plane else (grid[:, 0], o[:, output])
    ax.plot(a, b, color=color, lw=1.6, label=label)
  if truth is not None:
    t = np.asarray(truth(grid), float).reshape(resolution, -1)
    a, b = (t[:, 0], t[:, 1]) if plane else (grid[:, 0], t[:, output])
    ax.plot(a, b, "k--", lw=1.2, label="truth (no noise)")
  ax.grid(alpha=0.3)


def regression_fit(predict: Callable[[np.ndarray], np.ndarray], x, y,
                   path: str, title: str = "", truth=None,
                   x_label: str = "x") -> str:
  """A regression network's fit on (test) data, to ``path``.

  1-D inputs: each output against x (the points, the network's curve and,
  given ``truth``, the noise-free function); with two outputs also output
  2 against output 1, the curve they trace in the plane. Wider inputs:
  each output's prediction against its target, with the diagonal (the
  first six outputs).

  Args:
    predict: inputs ``(m, n_in)`` -> outputs ``(m, k)``.
    x: inputs ``(n, n_in)``.
    y: targets ``(n, k)``.
    path: PNG to write.
    title: figure title.
    truth: for 1-D inputs, the noise-free function ``(m, 1) -> (m, k)``.
    x_label: the input's name on the x axis.
  """
  x = np.asarray(x, float)
  y = np.asarray(y, float).reshape(len(x), -1)
  k = y.shape[1]
  if x.shape[1] == 1:
    panels = [dict(output=j) for j in range(min(k, 6))] + (
        [dict(plane=True)] if k == 2 else [])
  else:
    panels = [dict(output=j) for j in range(min(k, 6))]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4),
                           squeeze=False)
  for ax, panel in zip(axes[0], panels):
    j = panel.get("output", 0)
    name = f"$y_{j + 1}$" if k > 1 else "$y$"
    if x.shape[1] == 1:
      fit_curves(ax, x, y, {"network": predict}, truth, colors=["tab:red"],
                 **panel)
      if panel.get("plane"):
        ax.set(xlabel="$y_1$", ylabel="$y_2$", title="the outputs' curve")
      else:
        ax.set(xlabel=x_label, ylabel=name, title=f"{name} against x")
    else:
      o = np.asarray(predict(x), float).reshape(len(x), -1)[:, j]
      ax.scatter(y[:, j], o, s=8, color="tab:red")
      lo, hi = min(y[:, j].min(), o.min()), max(y[:, j].max(), o.max())
      ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="prediction = target")
      ax.set(xlabel=f"target {name}", ylabel="prediction",
             title=f"{name}: prediction against target")
      ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  if title:
    fig.suptitle(title)
  return save(fig, path)
