"""A run's workdir: locked, staged, replaced only on success."""

import errno
import json
import os
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
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.train", "--dataset=iris",
       "--hidden=4", "--epochs=100000", "--epochs_per_call=200",
       f"--workdir={workdir}", *flags], cwd=root, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


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
    _, err = first.communicate(timeout=120)
  finally:
    first.kill()
  assert first.returncode == 130, err
  assert "Traceback" not in err
  last = err.strip().splitlines()[-1]
  assert last.startswith("error: interrupted after epoch ")
  assert "--resume continues from the latest" in last
  assert not [d for d in os.listdir(tmp_path) if "staging" in d]
