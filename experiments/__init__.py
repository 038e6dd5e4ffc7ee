"""The experiment scripts (``python -m experiments.<name>``) and what they
share.

A command's process loads NumPy's OpenBLAS with one thread
(``OPENBLAS_NUM_THREADS=1``, unless the variable is set already or NumPy
is loaded; the processes the command starts inherit it). OpenBLAS
otherwise starts a thread per core as it loads, and the threads spin a
while after its work: 0.12 s of CPU time while JAX is imported, taken
from XLA's threads and from the drawing process on a two-core machine
(BENCHMARKS.md, "Small jobs, whole process"). A command's arithmetic is
XLA's; its NumPy work is small. A session that imports the package (a
notebook, tests) keeps NumPy as it is.
"""

import os
import sys


def _module_run(options) -> str:
  """The module that the interpreter's command line runs, from its
  ``options`` (``sys.orig_argv`` after the executable): ``-m name``,
  ``-mname`` or ``-Im name``; "" for a script, ``-c`` or none."""
  options = iter(options)
  for option in options:
    if not option.startswith("-") or option in ("-", "--"):
      return ""   # a script's path, or standard input
    if option in ("-X", "-W", "--check-hash-based-pycs"):
      next(options, None)   # the option's value
      continue
    if option.startswith(("-X", "-W", "--")):
      continue
    for i, letter in enumerate(option[1:]):
      if letter == "c":
        return ""
      if letter == "m":
        return option[i + 2:] or next(options, "")
  return ""


def _started_as_command() -> bool:
  """Whether Python was started to run one of the scripts: ``python -m
  experiments.<name>``, a script of this folder by its path, or an
  installed ``nn-jax-*`` command (told from the command line, as this
  package is imported before the script's module is made ``__main__``)."""
  argv0 = sys.argv[0] if sys.argv else ""
  if argv0 == "-m":   # the module named after -m is being found
    return _module_run(getattr(sys, "orig_argv", [])[1:]).startswith(
        "experiments.")
  return (os.path.basename(argv0).startswith("nn-jax-") or
          os.path.dirname(os.path.abspath(argv0)) ==
          os.path.dirname(os.path.abspath(__file__)))


if "numpy" not in sys.modules and _started_as_command():
  os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
