"""A run's workdir: locked, staged, replaced only on success."""

import errno
import json
import os
import shutil
import tempfile

import pytest

from experiments import outputs


def _earlier_run(path):
  """A workdir holding a committed run's outputs and a user's own files."""
  with outputs.Workdir(str(path)) as w:
    for name in ("results.json", "figure.png", "tensorboard/events.1"):
      os.makedirs(os.path.dirname(os.path.join(w.staging, name)),
                  exist_ok=True)
      with open(os.path.join(w.staging, name), "w") as f:
        f.write("earlier")
    w.commit()
  (path / "notes.txt").write_text("mine")
  (path / "tensorboard" / "notes.txt").write_text("mine too")


def _contents(path):
  return {os.path.relpath(os.path.join(root, f), path):
          open(os.path.join(root, f)).read()
          for root, _, files in os.walk(path) for f in files
          if not f.startswith(".nn_jax")}


def test_commit_replaces_only_the_files_of_the_earlier_run(tmp_path):
  _earlier_run(tmp_path)
  with outputs.Workdir(str(tmp_path)) as w:
    with open(os.path.join(w.staging, "results.json"), "w") as f:
      f.write("new")
    assert w.commit() == ["results.json"]
  assert _contents(tmp_path) == {
      "results.json": "new", "notes.txt": "mine",
      os.path.join("tensorboard", "notes.txt"): "mine too"}
  manifest = json.loads((tmp_path / outputs.Workdir.MANIFEST).read_text())
  assert manifest == {"files": ["results.json"]}
  assert not [d for d in os.listdir(tmp_path) if "staging" in d]


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"), ValueError("bad")])
def test_a_failed_run_leaves_the_earlier_outputs_as_they_were(tmp_path,
                                                              failure):
  _earlier_run(tmp_path)
  before = _contents(tmp_path)
  with pytest.raises(type(failure)):
    with outputs.Workdir(str(tmp_path)) as w:
      with open(os.path.join(w.staging, "results.json"), "w") as f:
        f.write("half")
      raise failure   # e.g. the disk filled up while writing params.npz
  assert _contents(tmp_path) == before
  assert not [d for d in os.listdir(tmp_path) if "staging" in d]


def test_a_second_run_on_the_workdir_is_refused(tmp_path, capsys):
  with outputs.Workdir(str(tmp_path)):
    with pytest.raises(SystemExit) as e:
      with outputs.Workdir(str(tmp_path)):
        pass
  assert e.value.code == 2
  assert capsys.readouterr().err.strip() == (
      f"error: --workdir={tmp_path} is in use by another run (process "
      f"{os.getpid()}); wait for it or choose another folder")
  with outputs.Workdir(str(tmp_path)):   # free again once the first ends
    pass


def test_an_unwritable_workdir_is_found_before_training(tmp_path,
                                                        monkeypatch):
  def refuse(**kwargs):
    raise PermissionError(errno.EACCES, "Permission denied", kwargs["dir"])
  monkeypatch.setattr(tempfile, "mkdtemp", refuse)
  with pytest.raises(PermissionError):
    outputs.Workdir(str(tmp_path)).__enter__()
  monkeypatch.undo()
  with outputs.Workdir(str(tmp_path)):   # the lock was let go
    pass


def test_a_manifest_cannot_name_files_outside_the_workdir(tmp_path):
  outside = tmp_path / "outside.txt"
  outside.write_text("keep")
  work = tmp_path / "work"
  work.mkdir()
  (work / outputs.Workdir.MANIFEST).write_text(json.dumps(
      {"files": ["../outside.txt", str(outside)]}))
  with outputs.Workdir(str(work)) as w:
    w.commit()
  assert outside.read_text() == "keep"


def _start(workdir, *flags):
  import subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  # Ctrl-C as in a terminal, also where the tests run with SIGINT ignored
  # (started in the background by a shell: the child would inherit that).
  code = ("import runpy, signal, sys; "
          "signal.signal(signal.SIGINT, signal.default_int_handler); "
          "sys.argv[0] = 'train'; "
          "runpy.run_module('experiments.train', run_name='__main__')")
  return subprocess.Popen(
      [sys.executable, "-c", code, "--dataset=iris",
       "--hidden=4", "--epochs=100000", "--epochs_per_call=200",
       f"--workdir={workdir}", *flags], cwd=root, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, PYTHONFAULTHANDLER="1"))   # stacks on SIGABRT


def _wait_for_epochs(proc):
  for line in proc.stderr:
    if "epoch " in line:
      return
  raise AssertionError("the run ended before its first epoch")


@pytest.mark.slow
def test_two_runs_on_one_workdir_and_ctrl_c(tmp_path):
  import signal, subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  first = _start(tmp_path, "--checkpoint_every=200")
  try:
    _wait_for_epochs(first)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    second = subprocess.run(
        [sys.executable, "-m", "experiments.train", "--dataset=iris",
         f"--workdir={tmp_path}"], cwd=root, capture_output=True, text=True,
        timeout=120)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: --workdir={tmp_path} is in use by another run (process "
        f"{first.pid}); wait for it or choose another folder")
    first.send_signal(signal.SIGINT)
    try:
      _, err = first.communicate(timeout=120)
    except subprocess.TimeoutExpired:   # where it hangs, for the report
      first.send_signal(signal.SIGABRT)
      _, err = first.communicate(timeout=60)
      pytest.fail(f"the run did not end after Ctrl-C:\n{err[-12000:]}")
  finally:
    first.kill()
  assert first.returncode == 130, err
  assert "Traceback" not in err
  last = err.strip().splitlines()[-1]
  assert last.startswith("error: interrupted after epoch ")
  assert "--resume continues from the latest" in last
  assert (f"Its epochs so far are in {tmp_path}/live/metrics.jsonl (python "
          f"-m experiments.plot --workdir={tmp_path} draws them)") in last
  assert not [d for d in os.listdir(tmp_path) if "staging" in d]


METRICS = {"train_loss": 0.5, "train_accuracy": 0.75, "val_loss": float("nan"),
           "val_accuracy": float("nan")}


def _tensorboard_scalars(folder):
  """``{tag: [(step, value)]}`` as TensorBoard itself reads ``folder``."""
  accumulator = pytest.importorskip(
      "tensorboard.backend.event_processing.event_accumulator",
      reason="tensorboard is not installed (pip install -e '.[viz]')")
  events = accumulator.EventAccumulator(str(folder))
  events.Reload()
  return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
          for tag in events.Tags()["scalars"]}


def test_live_log_holds_each_epoch_as_soon_as_it_is_reported(tmp_path):
  log = outputs.LiveLog(str(tmp_path / "live"))
  for epoch in (1, 2, 3):
    log(epoch, {**METRICS, "train_loss": 1.0 / epoch})
    # Read by another reader while the log is open, as a user watching.
    rows = [json.loads(l) for l in
            (tmp_path / "live" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, epoch + 1))
    assert rows[-1]["train_loss"] == 1.0 / epoch
    assert rows[-1]["val_loss"] is None   # NaN, as the final metrics.jsonl
    scalars = _tensorboard_scalars(tmp_path / "live" / "tensorboard")
    assert [s for s, _ in scalars["train/loss"]] == list(range(1, epoch + 1))
    assert scalars["train/loss"][-1][1] == pytest.approx(1.0 / epoch)
    assert "val/loss" not in scalars   # no validation set: nothing drawn
  log.close()


def test_the_live_log_is_kept_by_a_failed_run_and_removed_on_success(
    tmp_path):
  _earlier_run(tmp_path)
  before = _contents(tmp_path)
  with pytest.raises(ValueError):
    with outputs.Workdir(str(tmp_path)) as w:
      log = w.live_log(run={"config": {"epochs": 9}})
      log(1, METRICS)
      log(2, METRICS)
      raise ValueError("stopped")
  kept = (tmp_path / "live" / "metrics.jsonl").read_text()
  assert [json.loads(l)["epoch"] for l in kept.splitlines()] == [1, 2]
  assert len(os.listdir(tmp_path / "live" / "tensorboard")) == 1
  assert json.loads((tmp_path / "live" / "run.json").read_text()) == {
      "config": {"epochs": 9}}
  # The figure experiments.plot draws from them goes with them.
  (tmp_path / "live" / "learning_curves.svg").write_text("<svg/>")
  shutil.move(tmp_path / "live", tmp_path.parent / "live_aside")
  assert _contents(tmp_path) == before
  shutil.move(tmp_path.parent / "live_aside", tmp_path / "live")
  (tmp_path / "live" / "notes.txt").write_text("mine")
  with outputs.Workdir(str(tmp_path)) as w:
    log = w.live_log()   # starts afresh: the earlier run's epochs go
    assert (tmp_path / "live" / "metrics.jsonl").read_text() == ""
    log(1, METRICS)
    with open(os.path.join(w.staging, "results.json"), "w") as f:
      f.write("new")
    w.commit()
  assert sorted(os.listdir(tmp_path / "live")) == ["notes.txt"]


def test_a_workdir_is_in_use_while_a_run_holds_it(tmp_path):
  assert not outputs.Workdir.in_use(str(tmp_path))   # never used
  with outputs.Workdir(str(tmp_path)):
    assert outputs.Workdir.in_use(str(tmp_path))
    assert outputs.Workdir.in_use(str(tmp_path))   # asking takes nothing
  assert not outputs.Workdir.in_use(str(tmp_path))   # its lock file stays
  with outputs.Workdir(str(tmp_path)):   # and asking left it free
    pass
  # A run that starts while another process looks waits for the look to
  # end (it was refused as "in use by another run").
  import fcntl, threading  # pylint: disable=g-import-not-at-top,multiple-imports
  with open(tmp_path / outputs.Workdir.LOCK) as look:
    fcntl.flock(look, fcntl.LOCK_SH | fcntl.LOCK_NB)
    threading.Timer(0.03, fcntl.flock, (look, fcntl.LOCK_UN)).start()
    with outputs.Workdir(str(tmp_path)):
      assert outputs.Workdir.in_use(str(tmp_path))


def test_the_staging_folder_of_a_killed_run_goes_with_the_next_run(
    tmp_path):
  left = tmp_path / (outputs.Workdir.STAGING + "killed")
  left.mkdir()
  (left / "results.json").write_text("half")
  with outputs.Workdir(str(tmp_path)) as w:
    assert not left.exists()
    assert os.path.isdir(w.staging)


def test_a_file_replaced_whole_or_not_at_all(tmp_path):
  path = tmp_path / "results.json"
  outputs.write_json(str(path), {"a": float("nan")})
  assert json.loads(path.read_text()) == {"a": None}
  with pytest.raises(ZeroDivisionError):
    with outputs.replacing(str(path)) as f:
      f.write("half a record")
      raise ZeroDivisionError
  assert json.loads(path.read_text()) == {"a": None}
  assert os.listdir(tmp_path) == ["results.json"]


def test_a_file_in_a_missing_folder_is_named_with_the_folder(tmp_path,
                                                             python):
  # Not the temporary file beside it; the command's error is one line.
  path = str(tmp_path / "nodir" / "p.csv")
  with pytest.raises(OSError) as raised:
    with outputs.replacing(path):
      pass
  assert raised.value.filename == path
  assert raised.value.errno == errno.ENOENT
  assert f"there is no folder {tmp_path / 'nodir'}" in str(raised.value)
  proc = python("from experiments import cli, outputs; "
                f"cli.run(lambda argv: outputs.write_json({path!r}, {{}}))")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f"error: {path}: there is no folder {tmp_path / 'nodir'}"], proc.stderr


def test_a_file_in_a_folder_that_is_a_file_says_so(tmp_path):
  (tmp_path / "notes").write_text("")
  path = str(tmp_path / "notes" / "p.csv")
  with pytest.raises(OSError) as raised:
    with outputs.replacing(path):
      pass
  assert raised.value.filename == path
  assert raised.value.strerror == f"{tmp_path / 'notes'} is not a folder"


def test_a_file_that_cannot_be_opened_is_named_itself(tmp_path):
  (tmp_path / "p.csv.tmp").mkdir()   # where the file's first copy goes
  with pytest.raises(OSError) as raised:
    with outputs.replacing(str(tmp_path / "p.csv")):
      pass
  assert raised.value.filename == str(tmp_path / "p.csv")


@pytest.mark.parametrize("config,axes", [
    ({"dataset": "vowels", "input_encoding": "standardize"},
     ("F1 (standardized)", "F2 (standardized)")),
    ({"dataset": "vowels", "input_encoding": "none",
      "vowel_features": ["F2", "F3"]}, ("F2 (Hz)", "F3 (Hz)")),
    ({"dataset": "vowels", "input_encoding": "none", "log_frequency": True},
     ("log F1", "log F2")),
    ({"dataset": "moons", "input_encoding": "scale"},
     ("$x_1$ (scaled to [-1, 1])", "$x_2$ (scaled to [-1, 1])")),
    ({"dataset": "spiral", "input_encoding": "none"}, ("$x_1$", "$x_2$")),
])
def test_a_runs_plane_names_its_inputs_as_the_network_sees_them(config,
                                                                 axes):
  # The vowels' decision regions were drawn over "x_1" and "x_2", standardized
  # formants that nothing named.
  assert outputs.plane_axes(config) == axes
