r"""Runs an experiment as several processes on this machine, as on several hosts.

  python -m experiments.launch --num_processes=2 -- experiments.train --devices=2 --batch_size=32

Starts ``--num_processes`` copies of ``python -m MODULE ARGS...``, each
told the coordinator's address (a free loopback port), the number of
processes and its own id through ``NN_JAX_COORDINATOR``,
``NN_JAX_NUM_PROCESSES`` and ``NN_JAX_PROCESS_ID``; the script joins them
with ``jax.distributed.initialize`` (CPU collectives over gloo), so that
``jax.devices()`` lists every process's devices exactly as it would list
every host's. Each process has ``--local_devices`` CPU devices. Their output
is streamed with a ``[i]`` prefix. If one process fails, the others are
stopped and the launch exits with the failed one's code; if the launcher
itself is killed, the processes die with it.

On SLURM or Cloud TPU, start the same script on every host instead
(``srun python -m experiments.train ...``) with ``NN_JAX_DISTRIBUTED=1``:
JAX finds the coordinator itself.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import app
from absl import flags

from experiments import cli

flags.DEFINE_integer("num_processes", 2, "How many processes to start.",
                     lower_bound=1)
flags.DEFINE_integer("local_devices", 1, "CPU devices per process.",
                     lower_bound=1)

FLAGS = flags.FLAGS


def free_port() -> int:
  """A TCP port on the loopback interface that nothing listens on now."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _die_with_parent():
  """Runs in the child before exec: the kernel kills it when the launcher
  dies, however the launcher dies (Linux)."""
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass


def _stream(proc: subprocess.Popen, prefix: str) -> None:
  for line in proc.stdout:
    sys.stdout.write(f"{prefix}{line}")
    sys.stdout.flush()


def launch(command: list, num_processes: int, local_devices: int = 1,
           port: int = 0) -> int:
  """Runs ``python -m command...`` as ``num_processes`` processes; returns
  0, or the exit code of the first one that failed."""
  port = port or free_port()
  env = dict(os.environ, NN_JAX_COORDINATOR=f"127.0.0.1:{port}",
             NN_JAX_NUM_PROCESSES=str(num_processes),
             PYTHONUNBUFFERED="1")
  flags_now = env.get("XLA_FLAGS", "").split()
  env["XLA_FLAGS"] = " ".join(
      [f for f in flags_now if "xla_force_host_platform_device_count" not in f]
      + [f"--xla_force_host_platform_device_count={local_devices}"])
  procs, threads = [], []
  for i in range(num_processes):
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", *command], env=dict(env, NN_JAX_PROCESS_ID=str(i)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_die_with_parent)
    procs.append(proc)
    threads.append(threading.Thread(target=_stream, args=(proc, f"[{i}] "),
                                    daemon=True))
    threads[-1].start()
  failed = None
  try:
    while failed is None and any(p.poll() is None for p in procs):
      failed = next((i for i, p in enumerate(procs)
                     if p.poll() not in (None, 0)), None)
      time.sleep(0.05)
    if failed is None:
      failed = next((i for i, p in enumerate(procs) if p.returncode), None)
  except KeyboardInterrupt:
    _stop(procs)
    raise
  if failed is not None:
    _stop(procs)
  for t in threads:
    t.join(timeout=5)
  if failed is None:
    return 0
  code = procs[failed].returncode
  others = " and stopped the others" if num_processes > 1 else ""
  sys.stderr.write(f"error: process {failed} of {num_processes} ended with "
                   f"exit code {code}{others}\n")
  return code if code > 0 else 1


def _stop(procs: list, grace: float = 5.0) -> None:
  """Ends every process still running: SIGTERM, then SIGKILL after
  ``grace`` seconds."""
  for p in procs:
    if p.poll() is None:
      p.terminate()
  deadline = time.time() + grace
  for p in procs:
    try:
      p.wait(timeout=max(0.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
      p.kill()
      p.wait()


def main(argv):
  command = argv[1:]
  if not command:
    cli.fail("name the script to run after --, e.g. "
             "python -m experiments.launch --num_processes=2 -- "
             "experiments.train --devices=2")
  sys.exit(launch(command, FLAGS.num_processes, FLAGS.local_devices))


def entry():
  """Entry point of the installed command."""
  cli.help_of(main)
  app.run(main)


if __name__ == "__main__":
  entry()
