r"""Trains a multilayer network from flags; the main experiment.

  python -m experiments.train                       # digits, 256 ReLU units, >= 97% test accuracy
  python -m experiments.train --dataset=iris --hidden=8 --optimizer=sgd --learning_rate=0.3
  python -m experiments.train --grad=autodiff       # jax.grad instead of backprop

Writes to --workdir: results.json, metrics.jsonl (one line per epoch),
learning_curves.png, params.npz (the trained parameters), tensorboard/,
confusion_matrix.png (classification), decision_regions.png (a network
classifying 2-D inputs) and, with --checkpoint_every, checkpoints/. A run
whose cost becomes NaN or Inf stops there, keeps the last finite parameters
and exits with code 3.
"""

import os

from absl import flags

from experiments import common
from nn_jax import activations
from nn_jax import data as data_lib
from nn_jax import experiment
from nn_jax import losses
from nn_jax import mlp
from nn_jax import params_io
from nn_jax import train

_D = experiment.Config()

flags.DEFINE_string("model", _D.model, "mlp (a network trained by "
                    "backprop) or perceptron (Rosenblatt's rule, binary "
                    "problems; the cost is the fraction of mistakes in an "
                    "epoch).")
common.define_data_flags()
for _name in common.DATA_FLAGS:   # listed by --help, not only --helpfull
  flags.declare_key_flag(_name)
flags.DEFINE_string("hidden", ",".join(map(str, _D.hidden)),
                    "Hidden layer sizes, comma-separated; empty for none.")
flags.DEFINE_string("activation", _D.activation,
                    f"Hidden activation: {', '.join(activations.DIFFERENTIABLE)}.")
flags.DEFINE_float("alpha", None, "Negative-side slope of leaky, generalized "
                   "and parametric ReLU (initial value for the last).")
flags.DEFINE_boolean("residual", _D.residual, "Skip connections: a hidden "
                     "layer as wide as its input adds the input to its "
                     "output, a_l = a_{l-1} + g(z_l).")
flags.DEFINE_string("loss", _D.loss,
                    f"Output layer and cost: {', '.join(losses.NAMES)}.")
flags.DEFINE_string("init", _D.init,
                    f"Weight init: {', '.join(mlp.INIT_SCHEMES)}.")
flags.DEFINE_string("optimizer", _D.optimizer,
                    f"Optimizer: {', '.join(train.OPTIMIZERS)}.")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Learning rate eta.")
flags.DEFINE_float("momentum", _D.momentum, "Momentum mu (momentum, nesterov).")
flags.DEFINE_integer("batch_size", _D.batch_size,
                     "1: online SGD; 0: whole set (batch GD); else mini-batch.")
flags.DEFINE_boolean("shuffle", _D.shuffle, "Reshuffle the training set "
                     "every epoch; --noshuffle visits it in a fixed order.")
flags.DEFINE_integer("epochs", _D.epochs, "Most epochs to run.")
flags.DEFINE_float("cost_threshold", _D.cost_threshold,
                   "Stop when the training cost falls below this (0: never).")
flags.DEFINE_integer("seed", _D.seed, "Seed of every random choice.")
flags.DEFINE_string("grad", _D.grad, "Gradients: manual (hand-written "
                    "backprop) or autodiff (jax.grad).")
flags.DEFINE_integer("devices", 1, "Data-parallel over this many devices "
                     "(batch split, parameters replicated).")
flags.DEFINE_string("train_metrics", _D.train_metrics, "Training cost and "
                    "accuracy per epoch: full (a second pass over the "
                    "training set after the epoch) or batches (the mean over "
                    "the epoch's batches, each before its update; no second "
                    "pass).")
flags.DEFINE_string("dtype", _D.dtype, "Parameters and data: float32, or "
                    "float64 (64-bit JAX for this run, as NumPy computes; "
                    "slower).")
flags.DEFINE_integer("checkpoint_every", 0, "Save the full training state "
                     "to <workdir>/checkpoints every this many epochs.")
flags.DEFINE_boolean("resume", False, "Continue from the latest checkpoint "
                     "in <workdir>/checkpoints.")
flags.DEFINE_integer("epochs_per_call", 0, "Epochs per jitted call between "
                     "progress lines (0: about 20 lines in all; with "
                     "--checkpoint_every, the greatest common divisor of "
                     "the two).")
# Regularization and training techniques.
flags.DEFINE_float("l2", _D.l2, "L2 penalty (l2/2) sum ||w||^2 on weights "
                   "(not biases); Nielsen's lambda/n.")
flags.DEFINE_boolean("l2_alpha", _D.l2_alpha, "Also penalize PReLU slopes.")
flags.DEFINE_float("max_norm", _D.max_norm, "Max-norm bound on each unit's "
                   "incoming weights, projected after every step (0: off).")
flags.DEFINE_float("dropout", _D.dropout, "Drop probability of hidden units.")
flags.DEFINE_boolean("batchnorm", _D.batchnorm, "Batch-normalize hidden "
                     "layers.")
flags.DEFINE_list("augment", list(_D.augment), "Data augmentation: noise "
                  "(Gaussian input noise), shift (random image shifts).")
flags.DEFINE_float("noise_std", _D.noise_std, "Std of the input noise.")
flags.DEFINE_integer("max_shift", _D.max_shift, "Largest image shift, px.")
flags.DEFINE_integer("early_stopping_patience", _D.early_stopping_patience,
                     "Stop after this many epochs without a better "
                     "validation cost; keep the best epoch (0: off).")
flags.DEFINE_boolean("pretrain", _D.pretrain, "Greedy layer-wise autoencoder "
                     "pretraining of the hidden layers before fine-tuning.")
flags.DEFINE_integer("pretrain_epochs", _D.pretrain_epochs,
                     "Epochs per pretrained layer.")
flags.DEFINE_string("schedule", _D.schedule, "Learning-rate schedule: "
                    f"{', '.join(train.SCHEDULES)}.")
flags.DEFINE_float("decay_rate", _D.decay_rate, "Decay factor of the step "
                   "and exponential schedules.")
flags.DEFINE_integer("decay_epochs", _D.decay_epochs, "Epochs per decay.")
flags.DEFINE_string("workdir", "runs/train", "Where results are written.")

FLAGS = flags.FLAGS


def config_from_flags() -> experiment.Config:
  hidden = common.parse_sizes("hidden")
  fields = {f: FLAGS[f].value for f in experiment.Config._fields
            if f not in ("hidden", "augment")}
  return experiment.Config(hidden=hidden, augment=tuple(FLAGS.augment),
                           **fields)


def main(argv):
  del argv
  config = config_from_flags()
  experiment.validate(config)
  workdir = common.make_workdir(FLAGS.workdir)
  checkpoints = os.path.join(os.path.abspath(workdir), "checkpoints")
  if FLAGS.resume and not (os.path.isdir(checkpoints) and any(
      d.isdigit() for d in os.listdir(checkpoints))):
    common.log("--resume: no checkpoint in %s, so the run starts at epoch 0",
               checkpoints)
  progress = common.Progress(config.epochs)
  out = experiment.train_and_evaluate(
      config, on_progress=progress,
      checkpoint_dir=checkpoints,
      resume=FLAGS.resume)
  progress.close()
  history = out.pop("history")
  params, stats = out.pop("params"), out.pop("stats")
  common.clear_outputs(workdir)
  params_io.save(os.path.join(workdir, "params.npz"), params=params,
                 stats=stats)
  model, splits = out.pop("model"), out.pop("splits")
  out["provenance"] = common.provenance()
  common.write_json(os.path.join(workdir, "results.json"), out)
  common.write_jsonl(os.path.join(workdir, "metrics.jsonl"),
                     common.history_rows(history))
  common.write_tensorboard(
      os.path.join(workdir, "tensorboard"), history, config._asdict(),
      {k: out.get(k) for k in ("test_accuracy", "test_loss",
                                "final_train_loss")})
  regions = None
  if experiment.has_decision_regions(config, splits.train.x.shape[1]):
    regions = (lambda pts: experiment.predict_labels(params, stats, pts,
                                                     model),
               splits.test.x, splits.test.y)
  common.draw_run(workdir, history, out, regions)
  if out["diverged"]:
    common.fail(f"training diverged at epoch {out['epochs_run']}: the cost or "
                f"the weights became NaN/Inf; lower --learning_rate (now "
                f"{config.learning_rate}). The last finite parameters are in "
                f"{os.path.join(workdir, 'params.npz')}", code=3)
  scores = []
  if splits.test.task != data_lib.REGRESSION:   # else no accuracy
    scores.append(f"test accuracy {out['test_accuracy']:.4f}")
  if config.model != "perceptron":
    scores.append(f"test cost {out['test_loss']:.4f}")
  print(f"{'  '.join(scores)}  after {out['epochs_run']} epochs in "
        f"{out['seconds']:.1f} s  (results in {workdir})")


def cli():
  """Entry point of the installed command."""
  common.run(main)


if __name__ == "__main__":
  cli()
