r"""Trains a multilayer network (or a perceptron) from flags; the main experiment.

  python -m experiments.train                       # digits, 256 ReLU units, >= 97% test accuracy
  python -m experiments.train --dataset=iris --hidden=8 --optimizer=sgd --learning_rate=0.3
  python -m experiments.train --grad=autodiff       # jax.grad instead of backprop
  python -m experiments.train --dataset=sine --loss=linear_squared --hidden=16 --activation=tanh \
      --learning_rate=0.05 --epochs=200           # regression: test R^2 0.96, the fit drawn

Every setting of nn_jax.config is a flag of the same name; --preset=NAME
reads one of the presets that ship with the package (experiments/flags).
While it trains, a network's metrics go to <workdir>/live/ every
--log_every epochs (metrics.jsonl, tensorboard/), kept if the run is
stopped; experiments.plot draws them (live/learning_curves.png), during
the run or after it was stopped. On success it writes to
--workdir: results.json, metrics.jsonl (one line per epoch),
learning_curves.png, params.npz (the trained parameters), model.json
(the rest of the model that nn_jax.load_model and experiments.predict
read), tensorboard/, confusion_matrix.png (classification; the class
names on its axes), decision_regions.png (a network classifying 2-D
inputs), regression_fit.png (regression: the fit on the test points, for
one input the curve against the noise-free function where the data set has
one) and, with --checkpoint_every, checkpoints/ (--nofigures: no
figures; experiments.plot draws them later). A run
whose cost becomes NaN or Inf stops there, keeps the last finite parameters
and exits with code 3.
"""

import atexit
import contextlib
import math
import os
import sys

from experiments import drawing   # imports neither JAX nor matplotlib

# Run from the command line, the run starts its figures' process first:
# the process imports matplotlib while JAX is imported here, rather than
# while the run compiles (a cold quickstart 0.08 s sooner on two cores). A
# run that draws nothing stops it, as does an exit before the run starts.
_DRAWER = None
if ((__name__ == "__main__" or os.path.basename(sys.argv[0]) == "nn-jax-train")
    and drawing.may_draw(sys.argv[1:])):
  _DRAWER = drawing.Drawer()
  atexit.register(_DRAWER.close)

# pylint: disable=g-import-not-at-top,g-bad-import-order
from absl import flags

from experiments import cli
from experiments import outputs
from nn_jax import data
from nn_jax import experiment
from nn_jax import params_io

cli.define_flags()
flags.DEFINE_boolean("resume", False, "Continue from the latest checkpoint "
                     "in <workdir>/checkpoints.")
flags.DEFINE_string("workdir", "runs/train", "Where results are written.")
flags.DEFINE_boolean("figures", True, "Draw the run's figures (the learning "
                     "curves and the confusion matrix in a process of their "
                     "own, which imports matplotlib while the run imports "
                     "JAX and trains). "
                     "--nofigures writes everything else and draws none (no "
                     "matplotlib: 0.15-0.3 s less on a small run on two "
                     "cores, and 30-45% less CPU time); python -m "
                     "experiments.plot --workdir=... draws the same figures "
                     "later from the workdir's files.")
flags.declare_key_flag("preset")   # cli's: listed by --help too

FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = cli.config_from_flags()
  regression = experiment.has_regression_fit(config)
  drawer = _DRAWER
  if not (FLAGS.figures and outputs.writes_outputs()):
    if drawer is not None:
      drawer.close()
    drawer = None
  elif drawer is None:
    drawer = drawing.Drawer()
  if drawer is not None:
    drawer.names = drawing.RECORDS[:1] if regression else drawing.RECORDS
  with outputs.Workdir(FLAGS.workdir) as workdir, (
      drawer or contextlib.nullcontext()):
    checkpoints = os.path.join(os.path.abspath(workdir.path), "checkpoints")
    saved = sorted(int(d) for d in (os.listdir(checkpoints) if os.path.isdir(
        checkpoints) else ()) if d.isdigit())
    if FLAGS.resume and not saved:
      cli.log("--resume: no checkpoint in %s, so the run starts at epoch 0",
              checkpoints)
    elif FLAGS.resume:   # the epochs before it are reported again first
      cli.log("--resume: going on from the checkpoint of epoch %d in %s "
              "(should it be damaged, from the newest intact one before "
              "it)", saved[-1], checkpoints)
    if FLAGS.figures and (regression or (
        config.data.dataset in data.PLANAR
        and experiment.has_decision_regions(config, 2))):
      # The fit's or the decision regions' figure: drawn here, from the
      # network; matplotlib is imported while it trains.
      outputs.import_in_background()
    progress = cli.Progress(config.fit.epochs)
    live = workdir.live_log(run={"config": config.flat()})

    def report(epoch, metrics):
      live(epoch, metrics)
      progress(epoch, metrics)

    run = experiment.train_and_evaluate(config, on_progress=report,
                                        checkpoint_dir=checkpoints,
                                        resume=FLAGS.resume)
    progress.close()
    params_io.save(os.path.join(workdir.staging, "params.npz"),
                   params=run.params, stats=run.stats)
    outputs.write_run(workdir.staging, config, run, figures=FLAGS.figures,
                      drawer=drawer)
    workdir.commit()
  summary = run.summary
  # (A perceptron's "cost" is its share of mistakes, which eta does not
  # change.)
  spike = (experiment.cost_spike(run.history["train_loss"])
           if config.net.model == "mlp" else None)
  if spike is not None:
    cli.warn("the training cost rose to %s at epoch %d, more than %g "
             "times its first epoch's (%s), and went on from there; a "
             "lower --learning_rate (now %g) may train without it",
             cli.cost_text(spike[1]), spike[0], experiment.SPIKE_FACTOR,
             cli.cost_text(run.history["train_loss"][0]),
             config.optim.learning_rate)
  if summary.diverged:
    cli.fail(f"training diverged at epoch {summary.epochs_run}: "
             f"{experiment.DIVERGED}; lower --learning_rate (now "
             f"{config.optim.learning_rate}). The last finite parameters "
             f"are in {os.path.join(workdir.path, 'params.npz')}", code=3)
  print(final_line(summary, workdir.path))


def final_line(summary, path: str) -> str:
  """The run's last line: test scores, why it stopped, where it wrote."""
  scores = [f"test {name} {cli.cost_text(value)}" for name, value in (
      ("accuracy", summary.test_accuracy), ("cost", summary.test_loss),
      ("MSE", summary.test_mse), ("R^2", summary.test_r2))
            if value is not None and not math.isnan(value)]
  if not scores:   # --test_fraction=0
    scores = ["no test scores (no test set)"]
  return (f"{'  '.join(scores)}  stopped: "
          f"{experiment.why_stopped(summary)}  "
          f"({summary.seconds:.1f} s, results in {path})")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
