"""Checkpoints: bitwise-exact resume after SIGKILL, refused when they do not
fit the network or were damaged."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nn_jax import checkpoint
from nn_jax import experiment
from nn_jax.config import Config
from nn_jax import mlp
from nn_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ["--hidden=16", "--batch_size=2", "--epochs=60", "--checkpoint_every=3",
         "--dropout=0.1"]


def _train(workdir, *extra):
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", *FLAGS,
       f"--workdir={workdir}", *extra], cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _checkpoints(workdir):
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit())


@pytest.mark.slow
def test_resume_after_sigkill_is_bitwise_exact(tmp_path):
  killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
  proc = _train(killed)
  deadline = time.time() + 240
  while len(_checkpoints(killed)) < 2 and time.time() < deadline:
    if proc.poll() is not None:
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL, "the run ended before the kill"
  saved = _checkpoints(killed)
  assert saved and max(saved) < 60
  resumed = _train(killed, "--resume")
  uninterrupted = _train(whole)
  for p in (resumed, uninterrupted):
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    # Progress lines only: orbax's INFO lines (dozens per save) are hidden;
    # the resumed run says first where it goes on from.
    lines = err.splitlines()
    assert "epoch 60/60" in err and all(re.fullmatch(
        r"\d\d:\d\d:\d\d (epoch \d+/60 .*|--resume: .*)", l)
                                        for l in lines), err
    assert ("--resume: going on from the checkpoint of epoch "
            f"{max(saved)} in" in lines[0]) == (p is resumed), lines[0]
  with np.load(os.path.join(killed, "params.npz")) as a, \
      np.load(os.path.join(whole, "params.npz")) as b:
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  read = lambda w: open(os.path.join(w, "metrics.jsonl")).read()
  assert read(killed) == read(whole)
  assert json.loads(open(os.path.join(killed, "results.json")).read())[
      "epochs_run"] == 60


MODEL = mlp.make_model("relu", "softmax_cross_entropy")


def _state(sizes=(3, 5, 2)):
  params = mlp.init(jax.random.PRNGKey(0), list(sizes), MODEL)
  return train.init_state(params, MODEL, optax.sgd(0.1, momentum=0.9),
                          jax.random.PRNGKey(1))


def test_round_trip_and_history(tmp_path, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path), config={"seed": 3})
  request.addfinalizer(ckpt.close)
  state = _state()
  rows = np.arange(8, dtype=np.float32).reshape(2, 4)
  ckpt.save(2, state, rows)
  restored, history, meta = ckpt.restore(_state())
  jax.tree.map(np.testing.assert_array_equal, restored, state)
  np.testing.assert_array_equal(history, rows)
  assert meta["config"] == {"seed": 3} and ckpt.latest_epoch() == 2


def test_float64_history_keeps_its_64_bits(tmp_path, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  with jax.enable_x64(True):
    params = mlp.init(jax.random.PRNGKey(0), [3, 5, 2], MODEL,
                      dtype=jnp.float64)
    state = train.init_state(params, MODEL, optax.sgd(0.1),
                             jax.random.PRNGKey(1))
    rows = 1 + np.arange(8).reshape(2, 4) * 1e-12
    ckpt.save(2, state, rows)
    restored, history, _ = ckpt.restore(state)
  assert history.dtype == np.float64 and restored.best_val_loss.dtype == (
      np.float64)
  np.testing.assert_array_equal(history, rows)
  # A float64 checkpoint is not restored into a float32 run.
  narrow = train.init_state(mlp.init(jax.random.PRNGKey(0), [3, 5, 2], MODEL),
                            MODEL, optax.sgd(0.1), jax.random.PRNGKey(1))
  with pytest.raises(ValueError, match="was saved as float64, this run's is "
                     "float32"):
    ckpt.restore(narrow)


def test_checkpoint_from_another_architecture_is_refused(tmp_path, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  ckpt.save(1, _state(), np.zeros((1, 4), np.float32))
  with pytest.raises(ValueError, match=r"params/0/b has shape \(5,\), the "
                     r"network expects \(6,\)"):
    ckpt.restore(_state((3, 6, 2)))
  with pytest.raises(ValueError, match="no array params/2/b"):
    ckpt.restore(_state((3, 5, 5, 2)))


def _data_files(folder):
  for root, _, files in os.walk(folder):
    for f in files:
      path = os.path.join(root, f)
      if os.sep + "d" + os.sep in path and "state" in path:
        yield path


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_refused(tmp_path, damage, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  ckpt.save(1, _state(), np.zeros((1, 4), np.float32))
  files = list(_data_files(str(tmp_path / "1")))
  assert files
  for target in files:   # the array data of the state
    with open(target, "rb") as f:
      blob = bytearray(f.read())
    if damage == "truncate":
      blob = blob[:len(blob) // 2]
    else:
      for i in range(len(blob) // 4, len(blob) // 2):
        blob[i] ^= 0x5A
    with open(target, "wb") as f:
      f.write(bytes(blob))
  with pytest.raises(ValueError, match="truncated or corrupted"):
    ckpt.restore(_state())


def test_arrays_other_than_the_saved_ones_are_refused(tmp_path, request):
  # Readable arrays of the right shapes, but not those the hashes in the
  # metadata were taken of: only the hash comparison can tell.
  saved = checkpoint.Checkpointer(str(tmp_path / "saved"))
  request.addfinalizer(saved.close)
  other = checkpoint.Checkpointer(str(tmp_path / "other"))
  request.addfinalizer(other.close)
  state = _state()
  rows = np.zeros((1, 4), np.float32)
  saved.save(1, state, rows)
  changed = state._replace(params=jax.tree.map(lambda a: a + 1, state.params))
  other.save(1, changed, rows)
  shutil.rmtree(tmp_path / "saved" / "1" / "state")
  shutil.copytree(tmp_path / "other" / "1" / "state",
                  tmp_path / "saved" / "1" / "state")
  with pytest.raises(ValueError, match="does not match the hash"):
    saved.restore(_state())
  restored, _, _ = other.restore(_state())    # the arrays themselves are fine
  jax.tree.map(np.testing.assert_array_equal, restored.params, changed.params)


def test_checkpoints_keep_the_progress_of_epochs_per_call(tmp_path, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 2], MODEL)
  x = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
  y = jax.nn.one_hot(jnp.arange(8) % 2, 2)
  seen = []
  result = train.fit(
      params, MODEL, optax.sgd(0.1), train.Data(x, y, x, y),
      train.FitOptions(epochs=12, batch_size=4, epochs_per_call=4,
                       checkpoint_every=6, log_every=0),
      key=jax.random.PRNGKey(2), checkpointer=ckpt, on_progress=lambda epoch,
      m: seen.append(epoch))
  # Calls of gcd(4, 6) = 2 epochs: a checkpoint every 6; each epoch reported.
  assert seen == list(range(1, 13))
  assert sorted(int(d) for d in os.listdir(tmp_path) if d.isdigit()) == [6, 12]
  assert result.epochs_run == 12


@pytest.mark.slow
def test_a_new_run_does_not_write_into_an_earlier_runs_checkpoints(tmp_path):
  # Its epochs would not be saved over the earlier run's later ones, and a
  # resume would find the earlier run's.
  config = Config.make(dataset="iris", hidden=(4,), epochs=4,
                       checkpoint_every=2)
  folder = str(tmp_path / "checkpoints")
  experiment.train_and_evaluate(config, checkpoint_dir=folder)
  with pytest.raises(ValueError, match="holds the checkpoints of an earlier "
                     r"run \(the latest at epoch 4\); resume"):
    experiment.train_and_evaluate(config.replace(epochs=2),
                                  checkpoint_dir=folder)
  again = experiment.train_and_evaluate(config.replace(epochs=6),
                                        checkpoint_dir=folder, resume=True)
  assert again.summary.epochs_run == 6
  # Resuming cannot go back: the run would report 6 epochs for epochs=4.
  with pytest.raises(ValueError, match="latest checkpoint is at epoch 6, past "
                     "epochs=4; set epochs to 6 or more"):
    experiment.train_and_evaluate(config, checkpoint_dir=folder, resume=True)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_typed_keys_are_checkpointed_and_resumed(tmp_path, request, impl):
  # A typed key (jax.random.key, as the scikit-learn estimators use) is
  # stored as its key data and comes back as a key of its implementation.
  params = mlp.init(jax.random.PRNGKey(0), [3, 4, 2], MODEL)
  x = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
  y = jax.nn.one_hot(jnp.arange(8) % 2, 2)
  data = train.Data(x, y, x, y)
  fit = lambda epochs, ckpt=None, **kw: train.fit(
      params, MODEL, optax.sgd(0.1), data,
      train.FitOptions(epochs=epochs, batch_size=2, checkpoint_every=2 if ckpt else 0),
      key=jax.random.key(2, impl=impl), checkpointer=ckpt, **kw)
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  fit(4, ckpt)
  resumed = fit(6, ckpt, resume=True)
  assert jax.random.key_impl(resumed.state.key) == jax.random.key_impl(
      jax.random.key(0, impl=impl))
  whole = fit(6)
  jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
  if impl == "threefry2x32":   # the same stream as the raw key's
    raw = train.fit(
        params, MODEL, optax.sgd(0.1), data,
        train.FitOptions(epochs=6, batch_size=2), key=jax.random.PRNGKey(2))
    jax.tree.map(np.testing.assert_array_equal, raw.params, whole.params)


@pytest.mark.slow
def test_resume_refuses_other_training_data(tmp_path):
  # The labels flipped after the checkpoint: the resumed run mixed the two
  # data sets and exited 0.
  rng = np.random.default_rng(0)
  x = rng.normal(size=(40, 2))
  def write(labels):
    lines = ["a,b,y"] + [f"{p:.6f},{q:.6f},{l}" for (p, q), l in
                         zip(x, labels)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
  labels = np.where(x[:, 0] > 0, "yes", "no")
  write(labels)
  config = Config.make(dataset="csv", csv_path=str(tmp_path / "d.csv"),
                       target="y", hidden=(4,), epochs=2, batch_size=8,
                       checkpoint_every=2)
  folder = str(tmp_path / "checkpoints")
  experiment.train_and_evaluate(config, checkpoint_dir=folder)
  write(np.where(labels == "yes", "no", "yes"))
  with pytest.raises(ValueError, match="cannot resume: the checkpoint at "
                     "epoch 2 was made from other training data"):
    experiment.train_and_evaluate(config.replace(epochs=4),
                                  checkpoint_dir=folder, resume=True)
  write(labels)   # the same data again: resumes
  # A setting that changes the arrays too is named (it blamed the data).
  with pytest.raises(ValueError, match="made with dtype='float32', this "
                     "run has dtype='float64'"):
    experiment.train_and_evaluate(config.replace(epochs=4, dtype="float64"),
                                  checkpoint_dir=folder, resume=True)
  again = experiment.train_and_evaluate(config.replace(epochs=4),
                                        checkpoint_dir=folder, resume=True)
  assert again.summary.epochs_run == 4


def _damage(folder):
  for target in _data_files(folder):
    with open(target, "rb") as f:
      blob = bytearray(f.read())
    with open(target, "wb") as f:
      f.write(bytes(blob[:len(blob) // 2]))


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, request, caplog):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  older = _state()
  ckpt.save(1, older, np.zeros((1, 4), np.float32))
  newer = older._replace(epoch=older.epoch + 1)
  ckpt.save(2, newer, np.ones((2, 4), np.float32))
  _damage(str(tmp_path / "2"))
  with caplog.at_level("WARNING"):
    restored, rows, meta = ckpt.restore_newest_intact(_state())
  assert meta["epoch"] == 1 and rows.shape == (1, 4)
  jax.tree.map(np.testing.assert_array_equal, restored, older)
  assert "skipped a damaged checkpoint" in caplog.text
  assert "truncated or corrupted" in caplog.text
  _damage(str(tmp_path / "1"))   # none intact: the newest one's error
  with pytest.raises(ValueError, match=r"checkpoint .*2: .*|truncated"):
    ckpt.restore_newest_intact(_state())


def test_damaged_metadata_are_refused_in_one_line(tmp_path, request):
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  request.addfinalizer(ckpt.close)
  ckpt.save(1, _state(), np.zeros((1, 4), np.float32))
  metas = [os.path.join(root, f) for root, _, files in os.walk(tmp_path / "1")
           for f in files if "history_dtype" in open(
               os.path.join(root, f), errors="ignore").read()]
  assert metas
  for path in metas:
    with open(path) as f:
      text = f.read()
    with open(path, "w") as f:
      f.write(re.sub(r'("history_dtype":\s*)"float32"', r'\1"nonsense"',
                     text))
  with pytest.raises(ValueError, match="metadata are damaged"):
    ckpt.restore(_state())


def test_ctrl_c_is_held_through_a_save_and_an_ignored_one_stays_ignored():
  hold = checkpoint._interrupt_after  # pylint: disable=protected-access
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    finished = False
    with pytest.raises(KeyboardInterrupt):
      with hold():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)   # the handler runs here: held, not raised
        finished = True
    assert finished
    # A process whose SIGINT is ignored (started in the background by a
    # shell) keeps ignoring it, during a save too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with hold():
      assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)
