"""The experiment scripts (``python -m experiments.<name>``) and what they
share.

A command's process loads NumPy's OpenBLAS with one thread
(``OPENBLAS_NUM_THREADS=1``, unless the variable is set already or NumPy
is loaded). OpenBLAS otherwise starts a thread per core as it loads, and
the threads spin a while after its work: 0.12 s of CPU time while JAX is
imported, taken from XLA's threads and from the drawing process on a
two-core machine (BENCHMARKS.md, "Small jobs, whole process"). A
command's arithmetic is XLA's; its NumPy work is small. A session that
imports the package (a notebook, tests) keeps NumPy as it is.
"""

import os
import sys


def _started_as_command() -> bool:
  """Whether Python was started to run one of the scripts: ``python -m
  experiments.<name>``, a script of this folder by its path, or an
  installed ``nn-jax-*`` command (told from the command line, as this
  package is imported before the script's module is made ``__main__``)."""
  argv0 = sys.argv[0] if sys.argv else ""
  if argv0 == "-m":   # the module named after -m is being found
    argv = getattr(sys, "orig_argv", [])
    after = argv[argv.index("-m") + 1:] if "-m" in argv else []
    return bool(after) and after[0].startswith("experiments.")
  return (os.path.basename(argv0).startswith("nn-jax-") or
          os.path.dirname(os.path.abspath(argv0)) ==
          os.path.dirname(os.path.abspath(__file__)))


if "numpy" not in sys.modules and _started_as_command():
  os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
