r"""The perceptron's behaviour: Novikoff's bound, cycling, the learning rate.

  python -m experiments.perceptron
  python -m experiments.perceptron --dim=10 --margins=0.1,0.01

Rosenblatt's rule (nn_jax.perceptron: w <- w + eta (y - o) (1, x), zero
start and eta = 1 unless said otherwise) in three measurements.

1. Mistakes until convergence against Novikoff's bound (R / gamma)^2, on
   --seeds data sets per margin of --margins (data.margin_separable:
   --n_samples points in [-1, 1]^--dim, a tenth of them on the margin of a
   fixed hyperplane). R = max ||(1, x_i)||, the augmented input with the
   bias input 1; gamma = the widest margin of a unit vector in that
   augmented space (separability.max_margin; the bias weight counts in
   ||u|| = 1, so the bound holds for it as proved). Each set in --orderings
   orders: the fixed order and orderings - 1 reshuffled every epoch.
2. Data that are not separable: XOR, moons and two overlapping blobs with
   inputs scaled by --grid and rounded to integers (so that with eta = 1
   the weights are integers, exact in float32), the same moons unrounded,
   and a separable set for contrast, each drawn from --seeds seeds (the
   figure shows the first); --epochs epochs in the fixed order.
   Reported: the first weights seen again at an epoch boundary (the cycle:
   its start and length in epochs and updates), the largest ||w|| of the
   run against R sqrt(mistakes), what ||w|| could reach without cycling.
3. The learning rate, each of --learning_rates on every set of 1 and on
   two of 2: from w = 0 the run at eta is the run at 1 scaled by eta
   (measured: the same mistakes epoch by epoch, and max |w_eta / eta -
   w_1|); from a random start (w0 ~ N(0, I), the same w0 for every eta)
   the mistakes, against the bound (R / gamma)^2 + 2 ||w0|| / (eta gamma).

Writes results.json and perceptron.png to --workdir.
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments import cli
from experiments import outputs
from nn_jax import config as config_lib
from nn_jax import data
from nn_jax import perceptron
from nn_jax import plots
from nn_jax import separability

cli.define_flags(config_lib.DataConfig, config_lib.FitOptions,
                 config_lib.Config, only=("n_samples", "epochs", "seed"),
                 defaults=dict(n_samples=200, epochs=3000))
flags.DEFINE_list("margins", ["0.3", "0.1", "0.03", "0.01", "0.003", "0.001"],
                  "Margins gamma of the separable sets, in (0, 0.5].")
flags.DEFINE_integer("dim", 2, "Inputs of the separable sets.", lower_bound=1)
flags.DEFINE_integer("seeds", 5, "Data sets per margin.", lower_bound=1)
flags.DEFINE_integer("orderings", 8, "Orders per set: the fixed one and "
                     "orderings - 1 reshuffled every epoch.", lower_bound=1)
flags.DEFINE_list("learning_rates", ["0.01", "0.03", "0.1", "0.3", "1"],
                  "Learning rates eta compared (the last is the reference).")
flags.DEFINE_integer("grid", 4, "Sets that are not separable: inputs times "
                     "this, rounded to integers.", lower_bound=1)
flags.DEFINE_string("workdir", "runs/perceptron", "Where results go.")

FLAGS = flags.FLAGS
CONTRAST_MARGIN = 0.01   # the separable set beside the cycling ones


def radius(x) -> float:
  return float(np.linalg.norm(separability.augmented(x), axis=1).max())


def separable_sets(margins, seeds, n, dim, seed):
  """Every margin x seed: ``(rows, x, y)`` stacked for vmap."""
  rows, xs, ys = [], [], []
  for g in margins:
    for s in range(seeds):
      md = data.margin_separable(n, dim, g, seed + s)
      m = separability.max_margin(md.x, md.y)
      rows.append({"margin_asked": g, "seed": seed + s,
                   "gamma_generator": md.margin, "gamma": m.margin,
                   "radius": m.radius,
                   "bound": perceptron.mistake_bound(m.radius, m.margin)})
      xs.append(md.x)
      ys.append(md.y)
  return rows, jnp.asarray(np.stack(xs)), jnp.asarray(np.stack(ys))


def bound_runs(rows, x, y, orderings, epochs, seed):
  """Mistakes of every set in every ordering, against its bound."""
  fit = lambda x, y, k, shuffle: perceptron.train(
      x, y, key=k, shuffle=shuffle, max_epochs=epochs)
  keys = jax.random.split(jax.random.PRNGKey(seed), (len(rows), orderings))
  fixed = jax.jit(jax.vmap(lambda x, y, k: fit(x, y, k, False)))(
      x, y, keys[:, 0])
  shuffled = jax.jit(jax.vmap(jax.vmap(
      lambda x, y, k: fit(x, y, k, True), in_axes=(None, None, 0))))(
          x, y, keys[:, 1:])
  for name in ("num_mistakes", "epochs", "converged"):
    both = np.concatenate([np.asarray(getattr(fixed, name))[:, None],
                           np.asarray(getattr(shuffled, name))], 1)
    for row, values in zip(rows, both):
      row[name] = values
  for row in rows:
    row["within_bound"] = bool(np.all(row["num_mistakes"] <= row["bound"]))
  return rows


def cycling_sets(n, grid, seed):
  """The sets of part 2: name -> (x, y)."""
  moons = data.load("moons", seed=seed, n_samples=n)
  blobs = data.load("blobs", seed=seed, n_samples=n, num_classes=2,
                    noise=0.8)
  xor = data.load("xor")
  md = data.margin_separable(n, 2, CONTRAST_MARGIN, seed)
  on_grid = lambda ds: np.round(ds.x * grid).astype(np.float32)
  return {"XOR": (xor.x, xor.y),
          f"moons x {grid}, rounded": (on_grid(moons), moons.y),
          f"two blobs x {grid}, rounded": (on_grid(blobs), blobs.y),
          "moons, not rounded": (moons.x, moons.y),
          f"separable, margin {CONTRAST_MARGIN}": (md.x, md.y)}


def cycles(sets, epochs, log=True):
  """Each set's run in the fixed order: its cycle and its weight norms."""
  out = {}
  for name, (x, y) in sets.items():
    run = perceptron.trajectory(x, y, epochs=epochs)
    cycle = perceptron.find_cycle(run)
    mistakes = int(np.asarray(run.mistakes).sum())
    top = np.asarray(run.max_norm)
    out[name] = {
        "n": len(x), "radius": radius(x),
        "separable": separability.linearly_separable(x, y).separable,
        "cycle": None if cycle is None else cycle._asdict(),
        "mistakes": mistakes, "max_norm": float(top.max()),
        "max_norm_first_tenth": float(top[:max(1, epochs // 10)].max()),
        "no_cycling_bound": radius(x) * float(np.sqrt(mistakes)),
        "norm": np.linalg.norm(np.asarray(run.w), axis=1),
        "max_norm_per_epoch": top}
    if log:
      cli.log("%s: cycle %s, max ||w|| %.3g, mistakes %d", name, cycle,
              out[name]["max_norm"], mistakes)
  return out


def rescaling(x, y, rates, epochs, key=None):
  """Each set's runs at every rate (zero start, or random with ``key``):
  the mistakes and the weights divided by eta, against the last rate's."""
  init = "zeros" if key is None else "random"
  run = jax.jit(jax.vmap(jax.vmap(
      lambda x, y, k, r: perceptron.train(x, y, key=k, init=init,
                                          learning_rate=r, max_epochs=epochs),
      in_axes=(None, None, None, 0)), in_axes=(0, 0, 0, None)))
  keys = jax.random.split(jax.random.PRNGKey(0) if key is None else key,
                          len(x))
  r = run(x, y, keys, jnp.asarray(rates, jnp.float32))
  w = np.asarray(r.w) / np.asarray(rates)[None, :, None]
  scale = np.abs(w[:, -1]).max(1)
  mistakes = np.asarray(r.mistakes)
  w0 = np.stack([np.asarray(perceptron.trajectory(
      x[i], y[i], key=keys[i], init=init, epochs=1).w[0])
                 for i in range(len(x))])
  return {"num_mistakes": np.asarray(r.num_mistakes),
          "converged": np.asarray(r.converged),
          "same_mistakes": np.all(mistakes == mistakes[:, -1:], axis=2),
          "max_dev": (np.abs(w - w[:, -1:]).max(2) / scale[:, None]),
          "w0_norm": np.linalg.norm(w0, axis=1)}


def rescaling_cycles(sets, names, rates, epochs):
  """Zero start on sets that are not separable: epoch by epoch."""
  out = {}
  for name in names:
    x, y = sets[name]
    run = jax.vmap(lambda r: perceptron.trajectory(
        x, y, learning_rate=r, epochs=epochs))(jnp.asarray(rates))
    m, w = np.asarray(run.mistakes), np.asarray(run.w)
    w = w / np.asarray(rates)[:, None, None]
    same = np.all(m == m[-1:], axis=1)
    out[name] = {"same_mistakes": same,
                 "first_differing_epoch": [
                     int(np.nonzero(m[i] != m[-1])[0][0]) + 1 if not s
                     else None for i, s in enumerate(same)],
                 "max_dev": np.abs(w - w[-1:]).max((1, 2))
                            / np.abs(w[-1]).max()}
  return out


def cycle_text(cycle) -> str:
  """A legend's words on a run's cycle (a ``find_cycle`` dict, or None):
  its length in epochs and updates, or, where the weights stopped
  changing, the epoch from which the run made no update."""
  if cycle is None:
    return ""
  if cycle["updates"] == 0:   # no cycle: it converged
    return f" (converged: no update from epoch {cycle['start'] + 1})"
  return f" (cycle: {cycle['epochs']} ep., {cycle['updates']} upd.)"


def draw(path, rows, margins, cyc, zero, random, nonsep, rates):
  fig, axes = plt.subplots(2, 2, figsize=(12, 9.5))
  ax = axes[0, 0]
  gam = np.array([r["gamma"] for r in rows])
  mis = np.stack([r["num_mistakes"] for r in rows])
  done = np.stack([r["converged"] for r in rows]).ravel()
  gam_all = np.repeat(gam, mis.shape[1])
  mis_all = np.maximum(mis.ravel(), 0.8)
  ax.scatter(gam_all[done], mis_all[done], s=8, alpha=0.4,
             label="mistakes, each set and order")
  if not done.all():
    ax.scatter(gam_all[~done], mis_all[~done], s=14, marker="x", color="C3",
               label="not converged within --epochs (mistakes so far)")
  by_margin = lambda values: [np.median(values[[
      r["margin_asked"] == g for r in rows]]) for g in margins]
  ax.plot(margins, by_margin(np.array([r["bound"] for r in rows])), "k-",
          label=r"Novikoff's bound $(R/\gamma)^2$ (median over sets)")
  ax.plot(margins, by_margin(mis), "o-", color="C1",
          label="median mistakes")
  ax.set(xscale="log", yscale="log", xlabel=r"margin $\gamma$ (augmented "
         "space)", ylabel="mistakes until convergence",
         title="1. Separable data: mistakes against the bound")
  ax.legend(fontsize=8)
  ax = axes[0, 1]
  for i, (name, c) in enumerate(cyc.items()):
    epochs = np.arange(1, len(c["norm"]))
    ax.plot(epochs, c["norm"][1:], color=f"C{i}", lw=1,
            label=name + cycle_text(c["cycle"]))
    ax.plot(epochs, c["max_norm_per_epoch"], color=f"C{i}", lw=0.6,
            ls=":")
    if c["cycle"] is not None and c["cycle"]["start"] > 0:
      s = c["cycle"]["start"]
      ax.plot(s, c["norm"][s], "o", color=f"C{i}", ms=5)
  ax.set(xscale="log", yscale="log", xlabel="epoch",
         ylabel=r"$\|w\|$ at epoch ends (dotted: max within the epoch)",
         title="2. Weight norm over epochs (dot: the weights repeat from "
         "here)")
  ax.set_ylim(0.3, None)
  ax.legend(fontsize=7, loc="lower right")
  ax = axes[1, 0]
  ref, shown = rates[-1], rates[:-1]   # the last is the reference
  w_ref = "w_1" if ref == 1 else rf"w_{{{ref:g}}}/{ref:g}"
  ax.plot(shown, zero["max_dev"].max(0)[:-1], "o-",
          label=f"separable sets ({zero['same_mistakes'].all(1).sum()} of "
                f"{len(zero['same_mistakes'])} with every rate's mistakes "
                "identical)")
  for name, c in nonsep.items():
    first = ", ".join(str(e) for e in c["first_differing_epoch"][:-1])
    ax.plot(shown, c["max_dev"][:-1], "s--", label=(
        f"{name}: mistakes differ from epoch {first}"))
  ax.plot([], [], " ", label=r"(at $\eta$ = " + ", ".join(
      f"{r:g}" for r in shown) + ")")
  ax.set(xscale="log", yscale="log", xlabel=r"learning rate $\eta$",
         ylabel=rf"max $|w_\eta/\eta - {w_ref}|$ / max $|{w_ref}|$",
         title=rf"3a. Zero start: is $w_\eta/\eta = {w_ref}$?")
  ax.legend(fontsize=7)
  ax = axes[1, 1]
  for j, g in enumerate(margins):
    sel = np.array([r["margin_asked"] == g for r in rows])
    ax.plot(rates, np.median(random["num_mistakes"][sel], 0), "o-",
            color=f"C{j}", label=rf"$\gamma$ = {g:g}, random start")
    ax.axhline(np.median(zero["num_mistakes"][sel][:, -1]), color=f"C{j}",
               ls=":", lw=1)
  ax.set(xscale="log", yscale="log", xlabel=r"learning rate $\eta$",
         ylabel="mistakes until convergence (median over sets)",
         title="3b. Random start, w0 ~ N(0, I) (dotted: zero start)")
  ax.legend(fontsize=7)
  for ax in axes.flat:   # numbers a reader reads on every log axis
    plots.log_ticks(ax, "x")
    plots.log_ticks(ax, "y")
  fig.suptitle("Rosenblatt's perceptron: Novikoff's bound, cycling, the "
               "learning rate")
  fig.tight_layout()
  return plots.save(fig, path)


def main(argv):
  del argv
  config = cli.config_from_flags()
  margins = cli.numbers("margins", lambda v: 0 < v <= 0.5, "in (0, 0.5]")
  rates = cli.numbers("learning_rates", lambda v: v > 0, "> 0")
  workdir = outputs.make_workdir(FLAGS.workdir)
  timer = outputs.Timer()
  n, epochs, seed = config.data.n_samples, config.fit.epochs, config.seed
  cli.check(n >= 2, "n_samples", "must be >= 2")
  rows, x, y = separable_sets(margins, FLAGS.seeds, n, FLAGS.dim, seed)
  rows = bound_runs(rows, x, y, FLAGS.orderings, epochs, seed)
  for g in margins:
    sel = [r for r in rows if r["margin_asked"] == g]
    cli.log("margin %g: mistakes median %g, max %d; bound %.0f; all within: "
            "%s", g, np.median([r["num_mistakes"] for r in sel]),
            max(r["num_mistakes"].max() for r in sel),
            min(r["bound"] for r in sel), all(r["within_bound"] for r in sel))
  medians = [np.median([r["num_mistakes"] for r in rows
                        if r["margin_asked"] == g]) for g in margins]
  # Mistakes ~ gamma^-exponent, over the margins where every run converged.
  done = [all(r["converged"].all() for r in rows if r["margin_asked"] == g)
          for g in margins]
  exponent = (float(np.polyfit(np.log(1 / np.array(margins)[done]),
                               np.log(np.maximum(medians, 1))[done], 1)[0])
              if sum(done) > 1 else None)
  sets = cycling_sets(n, FLAGS.grid, seed)
  cyc = cycles(sets, epochs)
  # The same kinds of sets drawn from the other seeds: cycles over seeds.
  over_seeds = {name: [{k: v for k, v in c.items() if k not in (
      "norm", "max_norm_per_epoch")}] for name, c in cyc.items()}
  for s in range(1, FLAGS.seeds):
    more = cycles(cycling_sets(n, FLAGS.grid, seed + s), epochs, log=False)
    for name, c in zip(over_seeds, more.values()):
      over_seeds[name].append({k: v for k, v in c.items() if k not in (
          "norm", "max_norm_per_epoch")})
  for name, runs in over_seeds.items():
    cli.log("%s over %d seeds: cycles (start, epochs, updates) %s", name,
            len(runs), [tuple(r["cycle"].values()) if r["cycle"] else None
                        for r in runs])
  zero = rescaling(x, y, rates, epochs)
  random = rescaling(x, y, rates, epochs, jax.random.PRNGKey(seed + 1))
  random["bound"] = np.array([[perceptron.mistake_bound(
      r["radius"], r["gamma"], w0, eta) for eta in rates]
                              for r, w0 in zip(rows, random["w0_norm"])])
  nonsep = rescaling_cycles(sets, list(sets)[1:4:2], rates, epochs)
  cli.log("zero start: every rate's mistakes identical on %d of %d "
          "separable sets; max relative |w_eta/eta - w_ref/ref| %.2g",
          zero["same_mistakes"].all(1).sum(), len(rows),
          zero["max_dev"].max())
  cli.log("random start: mistakes (median over sets) by rate %s; all "
          "within the bound: %s", np.median(random["num_mistakes"], 0),
          bool(np.all(random["num_mistakes"] <= random["bound"])))
  png = draw(outputs.figure_path(workdir, "perceptron"), rows, margins, cyc,
             zero, random, nonsep, rates)
  outputs.write_json(os.path.join(workdir, "results.json"), {
      "experiment": "perceptron",
      "bound": {"sets": rows,
                "all_within_bound": all(r["within_bound"] for r in rows),
                "all_converged": all(bool(r["converged"].all())
                                     for r in rows),
                "median_mistakes": dict(zip(margins, medians)),
                "converged_margins": [g for g, d in zip(margins, done) if d],
                "exponent": exponent},
      "cycles": cyc, "cycles_over_seeds": over_seeds,
      "learning_rates": rates,
      "zero_start": zero, "random_start": random,
      "zero_start_not_separable": nonsep,
      "flags": cli.flag_dict(__file__), "seconds": timer.seconds,
      "provenance": outputs.provenance()})
  print(f"wrote {png}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
