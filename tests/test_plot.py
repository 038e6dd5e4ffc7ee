"""experiments.plot redraws the figures of every kind of run it names, in
the format of --figure_format, and refuses the others by name."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(module, *args):
  return subprocess.Popen(
      [sys.executable, "-m", module, *args], cwd=ROOT, text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      env=dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0"))


def finish(proc):
  _, stderr = proc.communicate(timeout=300)
  return proc.returncode, stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A sweep and a regularization run at tiny sizes."""
  tmp = tmp_path_factory.mktemp("plot")
  commands = {
      "sweep": ("experiments.sweep", "--learning_rates=0.01,0.1", "--seeds=2",
                "--epochs=2", "--hidden=4", "--dataset=iris",
                "--batch_size=8"),
      "regularization": ("experiments.regularization", "--seeds=1",
                         "--epochs=3", "--train_size=40",
                         "--techniques=l2"),
  }
  procs = {name: start(module, *args, f"--workdir={tmp / name}")
           for name, (module, *args) in commands.items()}
  out = {}
  for name, proc in procs.items():
    returncode, stderr = finish(proc)
    assert returncode == 0, stderr
    out[name] = tmp / name
  return out


def figure_files(workdir):
  return sorted(f for f in os.listdir(workdir)
                if f.endswith((".png", ".svg", ".pdf")))


@pytest.mark.slow
@pytest.mark.parametrize("kind,figure", [("sweep", "sweep.png"),
                                         ("regularization",
                                          "validation_curves.png")])
def test_plot_redraws_what_the_experiment_drew(runs, redraw, kind, figure):
  workdir = runs[kind]
  assert json.loads((workdir / "results.json").read_text())[
      "experiment"] == kind
  assert figure_files(workdir) == [figure]
  # The same figure again, from results.json alone.
  before, after = redraw(workdir, [figure])
  assert after == before


@pytest.mark.slow
def test_plot_command_writes_the_figure_format(runs):
  workdir = runs["sweep"]
  returncode, stderr = finish(start("experiments.plot", "--figure_format=svg",
                                    f"--workdir={workdir}"))
  assert returncode == 0, stderr
  assert figure_files(workdir) == ["sweep.png", "sweep.svg"]
  assert "<svg" in (workdir / "sweep.svg").read_text()[:2000]


@pytest.mark.slow
def test_plot_refuses_a_kind_it_does_not_redraw_by_name(tmp_path):
  (tmp_path / "results.json").write_text('{"experiment": "xor"}')
  returncode, stderr = finish(start("experiments.plot",
                                    f"--workdir={tmp_path}"))
  assert returncode == 2
  assert stderr.strip().splitlines() == [
      f"error: --workdir={tmp_path} holds an experiments.xor run, whose "
      f"figures it does not redraw (rerun experiments.xor); "
      f"experiments.plot redraws the runs of train, "
      f"sweep, regularization, saturation, activations, local_minima, "
      f"norm_limits"]
  # One that draws no figure at all is said to draw none.
  (tmp_path / "results.json").write_text('{"experiment": "gradcheck"}')
  returncode, stderr = finish(start("experiments.plot",
                                    f"--workdir={tmp_path}"))
  assert returncode == 2
  assert (f"--workdir={tmp_path} holds an experiments.gradcheck run, which "
          f"draws no figures;") in stderr


def test_no_script_names_a_figure_format_of_its_own():
  # Every figure path comes from outputs.figure_path (--figure_format).
  folder = os.path.join(ROOT, "experiments")
  for name in sorted(os.listdir(folder)):
    if name.endswith(".py"):
      with open(os.path.join(folder, name)) as f:
        source = f.read()
      for suffix in (".png\"", ".pdf\"", ".svg\""):
        assert suffix not in source, (name, suffix)


def command(workdir, module, *flags) -> list:
  """Runs ``module`` with ``flags`` in ``workdir``; the words it printed."""
  proc = subprocess.run([sys.executable, "-m", module, *flags,
                         f"--workdir={workdir}"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  return proc.stdout.split()


@pytest.mark.slow
def test_figures_drawn_later_go_with_the_next_run(tmp_path):
  # The figures experiments.plot draws into a run's workdir are outputs of
  # that run: the next run there removes them with its own (they stayed,
  # titled with the old run's settings, beside the new results).
  run = ("experiments.train", "--dataset=iris", "--hidden=4", "--nofigures")
  command(tmp_path, *run, "--epochs=2")
  command(tmp_path, "experiments.plot")
  assert (tmp_path / "learning_curves.png").exists()
  command(tmp_path, *run, "--epochs=3")
  assert not list(tmp_path.glob("*.png"))
  assert json.loads((tmp_path / "results.json").read_text())[
      "epochs_run"] == 3


@pytest.mark.slow
def test_figures_are_redrawn_in_the_runs_format(tmp_path):
  # A run drawn as svg is redrawn as svg (it was redrawn as png beside
  # it), unless --figure_format says otherwise.
  command(tmp_path, "experiments.train", "--dataset=iris", "--hidden=4",
          "--epochs=2", "--figure_format=svg")
  assert sorted(os.path.basename(p) for p in command(
      tmp_path, "experiments.plot")) == ["confusion_matrix.svg",
                                         "learning_curves.svg"]
  assert not list(tmp_path.glob("*.png"))
  assert command(tmp_path, "experiments.plot",
                 "--figure_format=png")[0].endswith(".png")


@pytest.mark.slow
def test_plot_draws_the_epochs_of_a_run_still_training(tmp_path):
  # A run holds the workdir and has reported 2 of its 9 epochs to live/
  # (the last line half written): experiments.plot draws those 2, says the
  # run is still training, and draws nothing else (no run finished there).
  from experiments import outputs  # pylint: disable=g-import-not-at-top
  metrics = {"train_loss": 0.5, "train_accuracy": 0.8, "val_loss": 0.6,
             "val_accuracy": 0.7}
  with outputs.Workdir(str(tmp_path)) as workdir:
    log = workdir.live_log(run={"config": {"dataset": "iris", "epochs": 9,
                                           "hidden": [4]}})
    # Before its first epoch: nothing to draw yet, and it says so.
    returncode, stderr = finish(start("experiments.plot",
                                      f"--workdir={tmp_path}"))
    assert returncode == 2 and stderr.strip().endswith(
        "holds a run that is training and has not reported an epoch yet; "
        "try again once it has"), stderr
    log(1, metrics)
    log(2, metrics)
    with open(tmp_path / "live" / "metrics.jsonl", "a") as f:
      f.write('{"epoch": 3, "train_lo')
    returncode, stderr = finish(start("experiments.plot",
                                      f"--workdir={tmp_path}"))
    log.close()
  assert returncode == 0, stderr
  assert (f"--workdir={tmp_path} holds a run still training: drawing the 2 "
          f"epochs it reported (live/)") in stderr
  assert figure_files(tmp_path) == []
  assert figure_files(tmp_path / "live") == ["learning_curves.png"]
