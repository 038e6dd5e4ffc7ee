"""Figures written to files (matplotlib, Agg backend; nothing is shown).

Every figure goes through :func:`save`: at least :data:`DPI` dots per inch,
in the format its path names (``.png``, ``.pdf``, ``.svg``), nothing cut
off at the edges. Titles name what distinguishes a run
(:func:`run_title`); log axes get ticks a reader can read
(:func:`log_ticks`)."""

import math
from typing import Callable, Optional, Sequence

import matplotlib
matplotlib.use("Agg")
import matplotlib.backends.backend_agg  # pylint: disable=g-import-not-at-top
import matplotlib.colors  # pylint: disable=g-import-not-at-top
import matplotlib.image  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


DPI = 150   # the least resolution of a figure written as an image
FORMATS = ("png", "pdf", "svg")


def save(fig: plt.Figure, path: str, dpi: int = DPI,
         rect: tuple = (0, 0, 1, 1)) -> str:
  """Lays out ``fig`` (its axes within ``rect``, figure fractions left,
  bottom, right, top: room outside for a figure legend), writes it to
  ``path`` (its suffix names the format, one of :data:`FORMATS`) at
  ``dpi`` (at least :data:`DPI`) with nothing cut off at the edges and
  :data:`PAD_INCHES` of margin around its artists, closes it; returns
  ``path``."""
  if not fig.get_constrained_layout():
    fig.tight_layout(rect=rect)
  dpi = max(dpi, DPI)
  if not (path.lower().endswith(".png") and _save_png_drawn_once(
      fig, path, dpi)):
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=PAD_INCHES)
  plt.close(fig)
  return path


PAD_INCHES = 0.1   # the margin around a figure's artists


def _save_png_drawn_once(fig: plt.Figure, path: str, dpi: int) -> bool:
  """Writes ``fig`` to the PNG file ``path`` as ``savefig(bbox_inches=
  "tight")`` does, but drawn once rather than twice (a fifth of a record
  figure's time): drawn at ``dpi`` on its Agg canvas, then cut to its
  artists' bounding box and :data:`PAD_INCHES` around it, the image's
  size savefig's. Writes nothing and returns False where savefig would
  draw what the canvas does not hold: an artist beyond the figure's edges
  (the box then takes in more than the canvas), a frame or a background
  that is not opaque (drawn anew around the cut), or savefig's own
  colours or transparency set in matplotlib's settings; and for another
  canvas than Agg's."""
  patch, rc = fig.patch, matplotlib.rcParams
  if not (isinstance(fig.canvas, matplotlib.backends.backend_agg.
                     FigureCanvasAgg)
          and patch.get_visible() and patch.get_linewidth() == 0
          and matplotlib.colors.to_rgba(patch.get_facecolor())[3] == 1
          and rc["savefig.facecolor"] == "auto"
          and rc["savefig.edgecolor"] == "auto"
          and not rc["savefig.transparent"]):
    return False
  before = fig.dpi
  fig.set_dpi(dpi)
  try:
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())   # inches
    width, height = fig.get_size_inches()
    if box is None or not (0 <= box.x0 and box.x1 <= width
                           and 0 <= box.y0 and box.y1 <= height):
      return False
    box = box.padded(PAD_INCHES)
    image = np.asarray(fig.canvas.buffer_rgba())
    rows, cols = image.shape[:2]
    # savefig's size (the padded box's, in whole pixels as matplotlib's
    # canvas truncates it, a hair short of a pixel counting as one); pixel
    # rows count from the top; the margin beyond the canvas is the
    # figure's background, as savefig fills it.
    top, left = round((height - box.y1) * dpi), round(box.x0 * dpi)
    bottom = top + int(box.height * dpi + 1e-8)
    right = left + int(box.width * dpi + 1e-8)
    image = image[max(top, 0):min(bottom, rows),
                  max(left, 0):min(right, cols)]
    margins = ((max(-top, 0), max(bottom - rows, 0)),
               (max(-left, 0), max(right - cols, 0)))
    if any(m for pair in margins for m in pair):
      background = np.asarray(matplotlib.colors.to_rgba_array(
          patch.get_facecolor())[0] * 255 + 0.5, np.uint8)
      image = np.stack([np.pad(image[..., c], margins,
                               constant_values=background[c])
                        for c in range(4)], -1)
    # (matplotlib before 3.9 hands PIL the array as it is: it must be one
    # block of memory, which a cut of the canvas is not.)
    matplotlib.image.imsave(path, np.ascontiguousarray(image), dpi=dpi)
    return True
  finally:
    fig.set_dpi(before)


def _number(v: float) -> str:
  """``v`` in few characters: 0.003, 0.1, 30, 1e-05, 1,000, 92,032."""
  if abs(v) >= 1e3 and float(v).is_integer():
    return f"{v:,.0f}"
  return f"{v:.3g}"


def run_title(config: dict, sizes: Optional[Sequence[int]] = None,
              omit: Sequence[str] = (), num_train: Optional[int] = None,
              epochs_run: Optional[int] = None) -> str:
  """What distinguishes one run from another, in two lines: the data set
  and the network (``sizes``, else the hidden layers), then the optimizer,
  learning rate, batch size (``full batch`` when it is 0 or holds
  ``num_train`` examples or more), the regularization in force, the epochs
  (``40 of 2000 epochs`` where the run stopped after ``epochs_run``) and
  the seed.

  ``config`` is a run's flat settings (``Config.flat()``, as results.json
  holds them); settings named in ``omit`` are left out (those that vary
  within one figure, e.g. a sweep's learning rate and seed). A
  perceptron's second line is its rule, eta, the epochs and the seed: it
  takes no optimizer, batches or regularization."""
  c = {k: v for k, v in config.items() if k not in omit}
  get = c.get
  perceptron = get("model") == "perceptron"
  if perceptron:
    net = "perceptron"
    c = {k: v for k, v in c.items()
         if k in ("dataset", "csv_path", "learning_rate", "epochs", "seed")}
    get = c.get
  else:
    layers = "-".join(map(str, sizes)) if sizes else (
        "hidden " + ("-".join(map(str, get("hidden") or ())) or "none"))
    net = f"{layers} {get('activation', '')}".strip()
    if get("batchnorm"):
      net += " + batch norm"
  data = get("dataset", "")
  if data == "csv" and get("csv_path"):
    data = get("csv_path").replace("\\", "/").rsplit("/", 1)[-1]
  first = ", ".join(p for p in (data, net) if p)
  optimizer = "perceptron rule" if perceptron else get("optimizer", "")
  if optimizer == "momentum" and get("momentum") is not None:
    optimizer = f"momentum {_number(get('momentum'))}"
  parts = [optimizer]
  if "learning_rate" in c:
    lr = f"{'eta' if perceptron else 'lr'} {_number(get('learning_rate'))}"
    if get("schedule") not in (None, "constant"):
      lr += f" ({get('schedule')})"
    parts.append(lr)
  if "batch_size" in c:
    batch = get("batch_size")
    full = batch == 0 or (num_train and batch >= num_train)   # 0: all
    parts.append("full batch" if full else f"batch {batch}")
  for name, shown in (("l2", "L2"), ("dropout", "dropout"),
                      ("max_norm", "max-norm")):
    if get(name):
      parts.append(f"{shown} {_number(get(name))}")
  if get("augment"):
    parts.append("augment " + "+".join(get("augment")))
  if "epochs" in c:
    stopped = epochs_run is not None and epochs_run < get("epochs")
    parts.append(f"{epochs_run} of {get('epochs')} epochs" if stopped
                 else f"{get('epochs')} epochs")
  if "seed" in c:
    parts.append(f"seed {get('seed')}")
  second = ", ".join(p for p in parts if p)
  return "\n".join(p for p in (first, second) if p)


def _positive_view(axis, vmin: float, vmax: float) -> tuple:
  """``(lo, hi)`` of a log axis's view, ``lo`` the least positive datum
  where the view starts at 0 or below; ``(None, None)`` where nothing
  positive is shown (every value NaN, say: runs that all diverged), where
  matplotlib's log locators raise."""
  lo, hi = sorted((vmin, vmax))
  if not lo > 0 and axis is not None:
    lo = axis.get_minpos()
  if not (0 < lo < np.inf and lo <= hi < np.inf):
    return None, None
  return lo, hi


class _MinorLogLocator(matplotlib.ticker.LogLocator):
  """A log axis's minor ticks, as matplotlib's; none where nothing
  positive is shown."""

  def tick_values(self, vmin, vmax):
    if _positive_view(self.axis, vmin, vmax)[0] is None:
      return np.array([])
    return super().tick_values(vmin, vmax)


class ReadableLogLocator(matplotlib.ticker.Locator):
  """Ticks on a log axis at numbers a reader reads at a glance: the
  coarsest of 1, 1-2-5, 1-2-3-5, 1-1.5-2-3-...-8, 1-1.2-1.4-... times the
  powers of ten that puts at least three ticks in view (over a narrow
  range the view then has ticks at its low end too, not only at 1, 2 and
  5); the powers of ten alone over many decades; evenly spaced numbers
  where even the finest gives fewer than three."""

  STEPS = ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 1.5, 2, 3, 4, 5, 6, 7, 8),
           (1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9))

  def __call__(self):
    return self.tick_values(*self.axis.get_view_interval())

  def tick_values(self, vmin, vmax):
    lo, hi = _positive_view(self.axis, vmin, vmax)
    if lo is None:
      return np.array([])
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for steps in self.STEPS:
      ticks = [m * 10.0 ** k for k in decades for m in steps]
      ticks = [t for t in ticks
               if lo <= t * (1 + 1e-9) and t <= hi * (1 + 1e-9)]
      if len(ticks) >= 3:
        if len(ticks) > 12:   # too many decades for every power of ten
          return matplotlib.ticker.LogLocator().tick_values(vmin, vmax)
        return np.array(ticks)
    return matplotlib.ticker.MaxNLocator(
        nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)


def log_ticks(ax: plt.Axes, axis: str = "x",
              values: Optional[Sequence[float]] = None) -> None:
  """A log scale on ``axis`` ("x" or "y") of ``ax`` with readable ticks: at
  ``values`` when given (the rates of a sweep: 0.003, 0.01, 0.03, 0.1),
  else as :class:`ReadableLogLocator` puts them; written as plain numbers
  (0.003, 0.5, 20,000), as 10^k over more than four decades, beyond a
  million or below 0.0001."""
  which = ax.xaxis if axis == "x" else ax.yaxis
  (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
  if values is not None:
    values = sorted({float(v) for v in values if v > 0})
    which.set_major_locator(matplotlib.ticker.FixedLocator(values))
  else:
    which.set_major_locator(ReadableLogLocator())
  sci = matplotlib.ticker.LogFormatterSciNotation()
  sci.set_axis(which)

  def label(v, pos):
    lo, hi = sorted(which.get_view_interval())
    if lo > 0 and (hi / lo > 1e4 or hi > 1e6 or lo < 1e-4):
      return sci(v, pos)
    return _number(v)
  which.set_major_formatter(matplotlib.ticker.FuncFormatter(label))
  which.set_minor_locator(_MinorLogLocator(subs="auto"))
  which.set_minor_formatter(matplotlib.ticker.NullFormatter())


def learning_curves(history: dict, path: str, title: str = "",
                    cost: str = "cost", threshold: float = 0.0,
                    kept_epoch: int = 0) -> str:
  """Plots cost and accuracy per epoch (train and validation) to ``path``;
  the cost alone when no accuracy is finite (regression). ``title`` (as
  from :func:`run_title`) heads the figure; ``cost`` names what the
  ``*_loss`` series measure (a perceptron's: its mistakes); a
  ``threshold`` > 0 (the run's cost_threshold) is a line on the cost, a
  ``kept_epoch`` > 0 (early stopping's) a line across both panels."""
  has_acc = any(np.isfinite(np.asarray(history.get(f"{s}_accuracy", []),
                                       float)).any() for s in ("train", "val"))
  fig, axes = plt.subplots(1, 2 if has_acc else 1,
                           figsize=(10 if has_acc else 5.5, 4.2),
                           squeeze=False)
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
  ax_loss.set(xlabel="epoch", ylabel=cost, title=cost)
  drawn = np.concatenate([line.get_ydata() for line in ax_loss.lines]
                         or [np.zeros(0)])
  finite = drawn[np.isfinite(drawn)]
  if finite.size and finite.min() > 0:
    log_ticks(ax_loss, "y")
  if len(epochs) and not finite.size:   # it diverged in its first epoch
    ax_loss.text(0.5, 0.5, f"no finite {cost} to draw\n(the run diverged)",
                 transform=ax_loss.transAxes, ha="center", va="center")
  if threshold > 0:
    ax_loss.axhline(threshold, color="0.35", ls=":",
                    label=f"cost_threshold {_number(threshold)}")
  for ax in (axes[0] if kept_epoch > 0 else ()):
    ax.axvline(kept_epoch, color="0.35", ls="-.", lw=1,
               label=f"parameters kept: epoch {kept_epoch}")
  if has_acc:
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
  for ax in axes[0]:
    ax.grid(alpha=0.3)
    epoch_axis(ax, len(epochs))
    if ax.lines:
      ax.legend()
  if title:
    fig.suptitle(title)
  return save(fig, path)


def epoch_axis(ax: plt.Axes, num_epochs: int) -> None:
  """An x-axis of epochs 1 .. ``num_epochs``: whole-number ticks (the one
  epoch's too), the span with matplotlib's 5% margins, at least half an
  epoch, also where nothing finite is drawn."""
  pad = 0.05 * max(num_epochs - 1, 10)
  ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(
      integer=True, min_n_ticks=1))
  ax.set_xlim(1 - pad, max(num_epochs, 1) + pad)


def class_colors(k: int) -> list:
  """``k`` distinct colours for class labels 0..k-1 (matplotlib's tab10,
  tab20, or evenly spaced hues beyond 20 classes)."""
  if k <= 10:
    return list(plt.get_cmap("tab10").colors[:max(k, 1)])
  if k <= 20:
    return list(plt.get_cmap("tab20").colors[:k])
  return [plt.get_cmap("hsv")(i / k) for i in range(k)]


def class_legend(ax, class_names: Sequence[str], **kwargs):
  """A legend of the classes' colours (as :func:`decision_regions` draws
  them) on ``ax`` (axes or figure); ``kwargs`` go to ``legend``."""
  colors = class_colors(max(len(class_names), 2))
  handles = [matplotlib.lines.Line2D(
      [], [], marker="o", linestyle="", markersize=8, markeredgecolor="k",
      markerfacecolor=colors[c], label=str(name))
             for c, name in enumerate(class_names)]
  return ax.legend(handles=handles, **kwargs)


def decision_regions(predict: Callable[[np.ndarray], np.ndarray],
                     x: np.ndarray, y: np.ndarray, path: str,
                     title: str = "", ax: Optional[plt.Axes] = None,
                     resolution: int = 200, margin: float = 0.5,
                     num_classes: Optional[int] = None,
                     class_names: Optional[Sequence[str]] = None,
                     legend: Optional[bool] = None,
                     axis_labels: Sequence[str] = ("$x_1$", "$x_2$")
                     ) -> str:
  """Colours the plane by ``predict`` (points -> class labels) and draws ``x``.

  Args:
    predict: maps an ``(m, 2)`` array to ``m`` integer labels.
    x: 2-D points, shape ``(n, 2)``.
    y: their integer labels.
    path: the figure to write (ignored when ``ax`` is given).
    title: axes title.
    ax: draw into these axes instead of a new figure.
    resolution: grid points per axis.
    margin: space around the data.
    num_classes: colour as many classes (default: the largest label + 1,
      or as many as ``class_names``), as :func:`class_colors` does.
    class_names: the classes' names for the legend (default "class 0",
      "class 1", ...).
    legend: draw a legend of the classes, beside the axes in a figure of
      its own, inside given axes (default: in a figure of its own, or
      when ``class_names`` are given).
    axis_labels: what the two inputs are.
  """
  x = np.asarray(x, float)
  lo, hi = x.min(0) - margin, x.max(0) + margin
  g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                       np.linspace(lo[1], hi[1], resolution))
  grid = np.stack([g0.ravel(), g1.ravel()], 1)
  labels = np.asarray(predict(grid)).reshape(g0.shape)
  own = ax is None
  if own:
    fig, ax = plt.subplots(figsize=(5.5, 5))
  k = num_classes or (len(class_names) if class_names else
                      int(max(labels.max(), np.max(y))) + 1)
  cmap = matplotlib.colors.ListedColormap(class_colors(max(k, 2)))
  ax.contourf(g0, g1, labels, levels=np.arange(-0.5, max(k, 2)), cmap=cmap,
              alpha=0.3)
  ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y), cmap=cmap, vmin=-0.5,
             vmax=max(k, 2) - 0.5, edgecolors="k", s=40)
  ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
  # Few enough ticks that their numbers do not run together in a small
  # panel: about one per 0.8 inch.
  box = ax.get_position()
  for axis, inches in ((ax.xaxis, box.width * ax.figure.get_figwidth()),
                       (ax.yaxis, box.height * ax.figure.get_figheight())):
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(
        nbins=int(np.clip(inches / 0.8, 3, 8)), steps=[1, 2, 2.5, 5, 10]))
  if legend or (legend is None and (own or class_names)):
    names = list(class_names) if class_names else [
        f"class {c}" for c in range(max(k, 2))]
    where = (dict(loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  title="class (region, point)") if own else
             dict(loc="best", framealpha=0.85, fontsize=8))
    class_legend(ax, names, **where)
  if own:
    save(fig, path)
  return path


def confusion_matrix(matrix, path: str, title: str = "",
                     class_names: Optional[Sequence[str]] = None) -> str:
  """Draws a confusion matrix (rows: true class, columns: predicted) with
  each cell's count; the figure grows with the number of classes, so that
  2 and 10 classes are read alike. ``class_names`` label the rows and
  columns (default 0, 1, ...); ``title`` heads it above the default line
  "confusion matrix (test set)"."""
  matrix = np.asarray(matrix)
  k = matrix.shape[0]
  names = [str(n) for n in class_names] if class_names else [
      str(i) for i in range(k)]
  if len(names) != k:
    raise ValueError(f"class_names: {len(names)} names for a {k}x{k} "
                     f"confusion matrix; give one name per class")
  longest = max(len(n) for n in names)
  cell = 0.55 if k <= 10 else max(0.3, 5.5 / k)
  label_room = min(0.09 * longest, 1.6)   # inches for the row labels
  side = max(2.4, cell * k)
  fig, ax = plt.subplots(figsize=(side + 1.2 + label_room,
                                  side + 1.0 + label_room
                                  + 0.2 * title.count("\n")))
  image = ax.imshow(matrix, cmap="Blues", vmin=0)
  size = 11 if k <= 5 else 9 if k <= 10 else 7
  for i in range(k):
    for j in range(k):
      # Empty cells in grey, so that the errors stand out.
      color = ("white" if matrix[i, j] > matrix.max() / 2 else
               "black" if matrix[i, j] else "0.65")
      # Inside the axes: left out of the layout's measuring (a tenth of
      # the figure's time at 10 classes).
      ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
              fontsize=size, color=color, in_layout=False)
  rotate = longest > 3 and k > 2
  ax.set_xticks(range(k), names, rotation=45 if rotate else 0,
                ha="right" if rotate else "center",
                rotation_mode="anchor")
  ax.set_yticks(range(k), names)
  ax.set(xlabel="predicted class", ylabel="true class")
  head = "confusion matrix (test set)"
  ax.set_title(f"{title}\n{head}" if title else head, fontsize=10)
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples")
  return save(fig, path)


def cost_contours(ax: plt.Axes, grid: tuple, levels: int = 18) -> None:
  """Draws a cost surface ``grid = (g1, g2, E)`` (as from
  :func:`nn_jax.surface.surface`) on ``ax``: grey filled contours and their
  lines, the levels at quantiles of E over the window (denser near the
  minimum), on a log colour scale, with a colour bar of E beside it."""
  g1, g2, e = grid
  values = np.unique(np.quantile(e, np.linspace(0.03, 1, levels) ** 2))
  norm = matplotlib.colors.LogNorm(values[0], values[-1])
  filled = ax.contourf(g1, g2, e, levels=values, cmap="Greys_r", norm=norm,
                       alpha=0.45, extend="both")
  ax.contour(g1, g2, e, levels=values, colors="0.35", linewidths=0.6)
  bar = ax.figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.03)
  shown = values[np.unique(np.linspace(0, len(values) - 1, 5).round()
                           .astype(int))]
  bar.set_ticks(shown, labels=[f"{v:.2g}" for v in shown])
  bar.ax.minorticks_off()
  bar.ax.tick_params(labelsize=7)
  bar.set_label("cost E (a contour line per level)", fontsize=8)


def sweep(path: str, rows: Sequence[dict], rates: Sequence[float],
          score: str, name: str, title: str = "",
          higher_is_better: bool = True) -> str:
  """A population's ``score`` against learning rate: every member that did
  not diverge as a dot (``rows``: one dict per member with
  ``learning_rate``, ``diverged`` and ``score``), the mean per rate as a
  line, ticks at the ``rates`` themselves. When a few rates are far off
  the others (so that the differences among the good rates would fill a
  few pixels), a second panel shows the rates near the best on an axis
  fitted to them."""
  rates = sorted(rates)
  kept = [r for r in rows if not r["diverged"]]
  by_rate = {rate: np.array([r[score] for r in kept
                             if r["learning_rate"] == rate], float)
             for rate in rates}
  means = {rate: v.mean() for rate, v in by_rate.items() if v.size}
  diverged = {rate: sum(1 for r in rows if r["learning_rate"] == rate
                        and r["diverged"]) for rate in rates}
  near = _near_best(by_rate, means, higher_is_better)
  values = np.concatenate([v for v in by_rate.values() if v.size]
                          or [np.zeros(1)])
  full = np.ptp(values)
  zoom = [rate for rate in rates if rate in near]
  near_values = np.concatenate([by_rate[rate] for rate in zoom]
                               or [np.zeros(1)])
  show_zoom = (len(zoom) >= 2 and full > 0
               and np.ptp(near_values) < full / 3)
  fig, axes = plt.subplots(1, 2 if show_zoom else 1, squeeze=False,
                           figsize=(11 if show_zoom else 6.2, 4.4))
  panels = [(axes[0, 0], rates, "all learning rates")]
  if show_zoom:
    panels.append((axes[0, 1], zoom, "the rates near the best (axis fitted "
                   "to them)"))
  for ax, shown, panel_title in panels:
    for i, rate in enumerate(shown):
      v = by_rate[rate]
      # A small spread along x (in log space) so that equal scores show.
      jitter = 10 ** (0.04 * (np.linspace(-1, 1, v.size) if v.size > 1
                              else np.zeros(v.size)))
      ax.scatter(rate * jitter, v, s=18, alpha=0.55, color="C0",
                 label="a member (seed)" if i == 0 else None)
    line = [rate for rate in shown if rate in means]
    ax.plot(line, [means[rate] for rate in line], "k-o", ms=5,
            label="mean over seeds (not diverged)")
    # A mean of the seeds some of which diverged: hollow, so that it is not
    # read as a mean over all of them.
    part = [rate for rate in line if diverged[rate]]
    if part:
      ax.plot(part, [means[rate] for rate in part], "o", ms=7, mfc="white",
              mec="k", label="mean of the seeds left (some diverged)")
    log_ticks(ax, "x", shown)
    ax.set_xlim(shown[0] / 1.6, shown[-1] * 1.6)   # every rate, diverged too
    ax.set(xlabel="learning rate", ylabel=name, title=panel_title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  if show_zoom:
    pad = 0.1 * max(np.ptp(near_values), 1e-6)
    axes[0, 1].set_ylim(near_values.min() - pad, near_values.max() + pad)
  if any(diverged.values()):   # marked at the foot of the first panel
    ax = axes[0, 0]
    foot = matplotlib.transforms.blended_transform_factory(ax.transData,
                                                           ax.transAxes)
    for i, (rate, n) in enumerate((r, n) for r, n in diverged.items() if n):
      ax.scatter([rate], [0.04], marker="x", s=50, color="C3",
                 transform=foot, clip_on=False,
                 label="diverged (left out)" if i == 0 else None)
      ax.text(rate, 0.08, f"{n} of {n + by_rate[rate].size}", color="C3",
              transform=foot, ha="center", fontsize=8)
    ax.legend(fontsize=8)
  if title:
    fig.suptitle(title)
  return save(fig, path)


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
        ax.set(xlabel=x_label, ylabel=name, title=f"{name} against $x$")
    else:
      o = np.asarray(predict(x), float).reshape(len(x), -1)[:, j]
      ax.scatter(y[:, j], o, s=8, color="tab:red")
      lo, hi = min(y[:, j].min(), o.min()), max(y[:, j].max(), o.max())
      ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="prediction = target")
      ax.set(xlabel=f"target {name}", ylabel="prediction",
             title=f"{name}: prediction against target")
      ax.grid(alpha=0.3)
  # Every panel has the same lines: one legend for all, below them, where
  # it covers none of the data.
  handles, labels = axes[0, 0].get_legend_handles_labels()
  if labels:
    fig.legend(handles, labels, loc="lower center", ncol=len(labels),
               fontsize=9, frameon=False)
  if title:
    fig.suptitle(title)
  return save(fig, path, rect=(0, 0.07 if labels else 0, 1, 1))


def _near_best(by_rate: dict, means: dict, higher_is_better: bool) -> set:
  """The rates whose mean is within three standard deviations (the
  median over the rates of the seeds' spread) of the best rate's mean."""
  if not means:
    return set()
  best = (max if higher_is_better else min)(means.values())
  spread = float(np.median([v.std() for v in by_rate.values() if v.size]))
  reach = max(3 * spread, 1e-9 + 0.02 * abs(best))
  return {rate for rate, m in means.items() if abs(m - best) <= reach}


def technique_curves(path: str, curves: dict, title: str = "",
                     scores: Optional[dict] = None,
                     ylabel: str = "validation accuracy",
                     min_span: float = 0.04) -> str:
  """Small multiples: a panel per technique with its curve per epoch
  (``curves``: name -> values; the first is the baseline) over the
  baseline's in grey. Each panel's y-axis is fitted to its two curves
  after the first tenth of the epochs (the early climb, and a technique
  far below the rest, would flatten the differences that matter), and
  spans at least ``min_span`` so that noise is not blown up. ``scores``
  (name -> text) go into the panels' titles."""
  names = list(curves)
  base_name, others = names[0], names[1:] or names[:1]
  cols = min(4, len(others))
  rows = -(-len(others) // cols)
  fig, axes = plt.subplots(rows, cols, squeeze=False,
                           figsize=(3.5 * cols, 3.0 * rows + 0.8))

  def tail(values):
    v = np.asarray(values, float)
    v = v[len(v) // 10:]
    return v[np.isfinite(v)]

  base = np.asarray(curves[base_name], float)
  for ax, name in zip(axes.flat, others):
    ax.plot(np.arange(1, len(base) + 1), base, color="0.6", lw=2.6,
            label=base_name)
    v = np.asarray(curves[name], float)
    same = v.shape == base.shape and np.array_equal(v, base, equal_nan=True)
    ax.plot(np.arange(1, len(v) + 1), v, color="C3", lw=1.2,
            label=name + (" (the same curve)" if same else ""))
    shown = np.concatenate([tail(base), tail(v)])
    if shown.size:
      lo, hi = shown.min(), shown.max()
      grow = max(min_span - (hi - lo), 0) / 2 + 0.08 * (hi - lo)
      ax.set_ylim(lo - grow, hi + grow)
    ax.set_title(name + (f"\n{scores[name]}" if scores and name in scores
                         else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
  for ax in axes.flat[len(others):]:
    ax.axis("off")
  for ax in axes.flat[:len(others)]:
    ax.set_xlabel("epoch")
  for ax in axes[:, 0]:
    ax.set_ylabel(ylabel)
  if title:
    fig.suptitle(title)
  return save(fig, path)
