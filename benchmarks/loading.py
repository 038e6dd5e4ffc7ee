r"""Reading a user's files: a large CSV through a run's data path, and a
decompression bomb in a parameters file.

  python -m benchmarks.loading
  python -m benchmarks.loading --benchmarks=csv --rows=100000 --repetitions=1

* ``csv``: writes a CSV of ``--rows`` rows (893,000 by default, about 50 MB:
  four real columns ``a, b, c, d``, ``color`` nominal, ``size`` ordinal
  ``S < M < L``, ``label`` good/bad) into a temporary folder and loads it as
  ``experiments.train`` does, through ``nn_jax.experiment.prepare``
  (split, encoder fitted on the training rows, every split encoded);
* ``npz_bomb``: a parameters file of a small network with an extra member
  of ``--bomb_gib`` GiB of zeros, deflated to a few MB, read with
  ``nn_jax.params_io.load``.

Each repetition runs in a fresh Python process, which reports the seconds
of the load (wall and CPU) and its peak memory: the peak resident set of
the process during the load (Linux's VmHWM, reset just before it; else the
peak of the process's life, ``resource.getrusage``) minus its resident set
just before the load, after NumPy and JAX were imported. Prints
a table and writes ``--out`` (JSON) with every repetition and the medians.
"""

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

from absl import flags
import numpy as np

from experiments import cli
from experiments import outputs

BENCHMARKS = ("csv", "npz_bomb")


def define_flags() -> None:
  """The script's flags (not defined on import: the test suite imports
  this module beside benchmarks.run, whose flags have the same names)."""
  flags.DEFINE_list("benchmarks", list(BENCHMARKS),
                    f"Which to run: {', '.join(BENCHMARKS)}.")
  flags.DEFINE_integer("rows", 893_000, "Data rows of the CSV file.")
  flags.DEFINE_float("bomb_gib", 3.0, "GiB of zeros in the parameters file's "
                     "extra member.")
  flags.DEFINE_integer("repetitions", 3, "Loads of each file (each in a new "
                       "process); medians are reported.")
  flags.DEFINE_string("out", "benchmarks/loading.json", "Where to write the "
                      "results.")
  flags.DEFINE_string("child", "", "(internal) Load this kind of file in this "
                      "process and print the measurement.")
  flags.DEFINE_string("path", "", "(internal) The file the child loads.")
  flags.DEFINE_boolean("warm", False, "(internal) Import pyarrow before the "
                       "load is measured.")


FLAGS = flags.FLAGS

COMMAND = "python -m benchmarks.loading"
CSV_SETTINGS = dict(dataset="csv", target="label", nominal="color",
                    ordinal="size:S<M<L")
BOMB_SIZES = (64, 32, 10)   # the network whose parameters the file holds


def write_csv(path: str, rows: int, seed: int = 0) -> str:
  """A CSV of ``rows`` rows: ``a..d`` reals (7 decimals), ``color`` of
  red/green/blue, ``size`` of S/M/L, ``label`` good when ``a + b - c +
  [color == red] + [size >= M] > 1``, else bad; written in blocks."""
  colors, sizes = np.array(["red", "green", "blue"]), np.array(["S", "M", "L"])
  rng = np.random.default_rng(seed)
  with open(path, "w", encoding="utf-8") as f:
    f.write("a,b,c,d,color,size,label\n")
    for start in range(0, rows, 100_000):
      n = min(100_000, rows - start)
      x = rng.normal(size=(n, 4))
      color, size = rng.integers(0, 3, n), rng.integers(0, 3, n)
      good = x[:, 0] + x[:, 1] - x[:, 2] + (color == 0) + (size >= 1) > 1
      cells = [np.char.mod("%.7f", x[:, j]) for j in range(4)]
      cells += [colors[color], sizes[size], np.where(good, "good", "bad")]
      lines = cells[0]
      for c in cells[1:]:
        lines = np.char.add(np.char.add(lines, ","), c)
      f.write("\n".join(lines.tolist()) + "\n")
  return path


def write_npz_bomb(path: str, gib: float) -> str:
  """Valid parameters of a ``BOMB_SIZES`` network plus an extra member
  ``extra.npy``: a float64 array of ``gib`` GiB of zeros, deflated as it
  is streamed in (never held in memory)."""
  import jax  # pylint: disable=g-import-not-at-top
  from nn_jax import mlp  # pylint: disable=g-import-not-at-top
  from nn_jax import params_io  # pylint: disable=g-import-not-at-top
  params = mlp.init(jax.random.PRNGKey(0), list(BOMB_SIZES),
                    mlp.make_model("relu", "softmax_cross_entropy"))
  params_io.save(path, params=params)
  if not gib:
    return path
  count = int(gib * 2**30) // 8
  header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
  header["shape"] = (count,)
  block = np.zeros(2**24, np.uint8)
  with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
    with z.open("extra.npy", "w", force_zip64=True) as member:
      np.lib.format.write_array_header_1_0(member, header)
      left = count * 8
      while left:
        member.write(block[:min(left, block.size)].tobytes())
        left -= min(left, block.size)
  return path


def _rss_bytes() -> int:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
  """The process's peak resident set since :func:`_reset_peak` (Linux's
  VmHWM), else over its life (``resource.getrusage``)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  import resource  # pylint: disable=g-import-not-at-top
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB


def _reset_peak() -> None:
  """Starts the peak of :func:`_peak_bytes` afresh (Linux), so that the
  imports' and the warm-up's peaks do not count."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError:
    pass


def _cpu_seconds() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def child(kind: str, path: str, warm: bool = False) -> dict:
  """Loads ``path`` once in this process: seconds and memory. With
  ``warm`` (CSV), pyarrow is imported first (its library's pages, about
  36 MiB, do not grow with the file), so that what is measured is the
  file's own reading, splitting and encoding."""
  import jax  # pylint: disable=g-import-not-at-top
  from nn_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from nn_jax import experiment  # pylint: disable=g-import-not-at-top
  from nn_jax import mlp  # pylint: disable=g-import-not-at-top
  from nn_jax import params_io  # pylint: disable=g-import-not-at-top
  if kind == "csv":
    config = config_lib.Config.make(csv_path=path, **CSV_SETTINGS)
    key = experiment.run_keys(config)[0]
    load = lambda: experiment.prepare(config, key)
    if warm:
      importlib.import_module("pyarrow.csv")
  else:
    like = mlp.init(jax.random.PRNGKey(1), list(BOMB_SIZES),
                    mlp.make_model("relu", "softmax_cross_entropy"))
    load = lambda: params_io.load(path, params=like)
  _reset_peak()
  before, cpu = _rss_bytes(), _cpu_seconds()
  start = time.perf_counter()
  try:
    result, error = load(), None
  except ValueError as e:
    result, error = None, str(e)
  seconds = time.perf_counter() - start
  out = {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu,
         "rss_before": before, "peak_rss": _peak_bytes(), "error": error}
  out["peak_growth"] = out["peak_rss"] - before
  if kind == "csv":
    out["shapes"] = {s: list(getattr(result, s).x.shape)
                     for s in ("train", "val", "test")}
  return out


def measure(kind: str, path: str, repetitions: int, warm: bool = False
            ) -> dict:
  """``repetitions`` loads of ``path``, each in a new process; medians."""
  runs = []
  for _ in range(repetitions):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.loading", f"--child={kind}",
         f"--path={path}", f"--warm={warm}"], capture_output=True, text=True,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode:
      raise RuntimeError(f"the {kind} load failed: {proc.stderr[-2000:]}")
    runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
  return {"file_bytes": os.path.getsize(path), "runs": runs,
          "median_seconds": statistics.median(r["seconds"] for r in runs),
          "median_cpu_seconds": statistics.median(r["cpu_seconds"]
                                                  for r in runs),
          "median_peak_growth": statistics.median(r["peak_growth"]
                                                  for r in runs)}


def run(which, rows: int, bomb_gib: float, repetitions: int,
        folder: str) -> dict:
  """The benchmarks named in ``which`` on files written into ``folder``."""
  results = {}
  if "csv" in which:
    path = write_csv(os.path.join(folder, "big.csv"), rows)
    results["csv"] = {"rows": rows, **measure("csv", path, repetitions)}
    results["csv_warm"] = {"rows": rows,
                           **measure("csv", path, repetitions, warm=True)}
    os.remove(path)
  if "npz_bomb" in which:
    path = write_npz_bomb(os.path.join(folder, "plain.npz"), 0)
    results["npz_plain"] = {"gib": 0, **measure("npz_bomb", path,
                                                repetitions)}
    path = write_npz_bomb(os.path.join(folder, "bomb.npz"), bomb_gib)
    with zipfile.ZipFile(path) as z:
      declared = sum(i.file_size for i in z.infolist())
    results["npz_bomb"] = {"gib": bomb_gib, "declared_bytes": declared,
                           **measure("npz_bomb", path, repetitions)}
    os.remove(path)
  return results


def table(results: dict) -> str:
  """The Markdown rows of BENCHMARKS.md."""
  lines = ["| file | size | seconds (median) | CPU seconds | peak memory "
           "of the load (median) | outcome |",
           "| --- | ---: | ---: | ---: | ---: | --- |"]
  mib = lambda b: f"{b / 2**20:.0f} MiB" if b >= 2**20 else (
      f"{b / 2**20:.2f} MiB")
  for name, what in (("csv", "as a run loads it"),
                     ("csv_warm", "pyarrow imported before")):
    if name in results:
      r = results[name]
      lines.append(
          f"| CSV, {r['rows']} rows, {what} | {mib(r['file_bytes'])} | "
          f"{r['median_seconds']:.2f} | {r['median_cpu_seconds']:.2f} | "
          f"{mib(r['median_peak_growth'])} "
          f"({r['median_peak_growth'] / r['file_bytes']:.1f}x the file) | "
          f"train x {r['runs'][0]['shapes']['train']} |")
  for name in ("npz_plain", "npz_bomb"):
    if name not in results:
      continue
    r = results[name]
    error = r["runs"][0]["error"]
    what = (f"{r['gib']:g} GiB zero member" if r["gib"] else
            "no extra member")
    lines.append(f"| .npz of a {'-'.join(map(str, BOMB_SIZES))} network, "
                 f"{what} | "
                 f"{mib(r['file_bytes'])} | {r['median_seconds']:.3f} | "
                 f"{r['median_cpu_seconds']:.3f} | "
                 f"{mib(r['median_peak_growth'])} | "
                 f"{'refused: ' + error if error else 'read'} |")
  return "\n".join(lines)


def main(argv):
  del argv
  if FLAGS.child:
    print(json.dumps(child(FLAGS.child, FLAGS.path, FLAGS.warm)))
    return
  unknown = set(FLAGS.benchmarks) - set(BENCHMARKS)
  cli.check(not unknown, "benchmarks", f"use some of {', '.join(BENCHMARKS)}")
  cli.check(FLAGS.rows >= 10, "rows", "must be >= 10")
  cli.check(FLAGS.bomb_gib > 0, "bomb_gib", "must be > 0")
  cli.check(FLAGS.repetitions >= 1, "repetitions", "must be >= 1")
  with tempfile.TemporaryDirectory() as folder:
    results = run(FLAGS.benchmarks, FLAGS.rows, FLAGS.bomb_gib,
                  FLAGS.repetitions, folder)
  results.update(command=" ".join([COMMAND, *sys.argv[1:]]), machine={
      "cpu_count": os.cpu_count(), "platform": platform.platform(),
      "python": platform.python_version(),
      "load_average_1m_at_end": os.getloadavg()[0]})
  print(table(results))
  os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
  outputs.write_json(FLAGS.out, results)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
