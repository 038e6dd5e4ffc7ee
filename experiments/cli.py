"""What every experiment script shares at the command line: the settings as
absl flags, one-line errors, start-up (logging, compilation cache, several
hosts) and progress on the terminal.

A script declares its flags with :func:`define_flags` (the settings of
:mod:`nn_jax.config`, each flag named as its setting) plus flags of its own,
and ends with ``cli.run(main)``. Bad flag values, the library's
``ValueError`` and ``OSError`` (a path that cannot be read or written) end
the run with one line on stderr naming what to change, and exit code 2.
"""

import atexit
import gc
import logging as std_logging
import os
import re
import sys
import threading
from typing import Any, Callable, Optional, Sequence
import warnings


def _a_command() -> bool:
  """Whether this process is one of the package's commands: ``python -m
  experiments.<script>`` (or ``benchmarks.<script>``), a script of this
  folder run by its path, or an installed ``nn-jax-*`` command."""
  main = sys.modules.get("__main__")
  name = getattr(getattr(main, "__spec__", None), "name", None) or ""
  where = os.path.dirname(os.path.abspath(getattr(main, "__file__", "") or
                                          os.sep))
  command = os.path.basename(sys.argv[0]) if sys.argv else ""
  return (name.startswith(("experiments.", "benchmarks."))
          or where == os.path.dirname(os.path.abspath(__file__))
          or command.startswith("nn-jax-"))


# JAX's import makes some 160,000 objects, and the cyclic garbage
# collector would go over them again and again while it does (a tenth of a
# second of a small run): the collector waits while the modules every
# script needs are imported. In a command's process everything it holds
# then (the modules' objects, and the import's few garbage cycles, some
# 950 objects) is frozen, never gone over again (gc.freeze); a notebook or
# a test session that imports this module gets the pause alone, as a
# freeze would keep its own objects for good once they became garbage.
_collecting = gc.isenabled()
gc.disable()
try:
  # pylint: disable=g-import-not-at-top
  from absl import app
  from absl import flags
  from absl import logging
  import numpy as np

  from experiments import drawing
  from nn_jax import caches
  from nn_jax import config as config_lib
  # pylint: enable=g-import-not-at-top
finally:
  if _a_command():
    gc.freeze()
  if _collecting:
    gc.enable()

FLAGS = flags.FLAGS

USAGE_ERROR = 2
INTERRUPTED = 130   # as a shell reports a Ctrl-C

# JAX reports at INFO which accelerator back-ends it could not find, and
# orbax-checkpoint some 40 lines per checkpoint; that is noise next to our
# progress lines. Their warnings and errors still show.
std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)


class _QuietOrbax(std_logging.Filter):

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING
            or f"{os.sep}orbax{os.sep}" not in record.pathname)


logging.get_absl_handler().addFilter(_QuietOrbax())


def _plain_warnings(previous):
  """``warnings.showwarning`` that logs the library's own warnings (of the
  categories it defines) as a command's other lines (``HH:MM:SS warning:
  message``), not as Python's ``file:line: Category: message`` and its
  source line."""
  def show(message, category, filename, lineno, file=None, line=None):
    if not category.__module__.startswith("nn_jax."):
      return previous(message, category, filename, lineno, file, line)
    logging.warning("%s", message)
    return None
  show.nn_jax_plain = True
  return show


class _Plain(std_logging.Formatter):
  """A command's log lines as its user reads them: the time of day and the
  message (``warning:``, ``error:`` before those), not absl's level, date,
  thread and source line."""

  def format(self, record):
    text = record.getMessage()
    if record.levelno >= std_logging.WARNING:
      text = f"{record.levelname.lower()}: {text}"
    if record.exc_info:
      text += "\n" + self.formatException(record.exc_info)
    return f"{self.formatTime(record, '%H:%M:%S')} {text}"


# Values of --compilation_cache_dir and $NN_JAX_COMPILATION_CACHE that turn
# the cache off.
CACHE_OFF = ("", "0", "off", "none", "false")


def default_compilation_cache(environ=os.environ) -> str:
  """$NN_JAX_COMPILATION_CACHE if set (one of ``CACHE_OFF``: no cache), else
  ``$XDG_CACHE_HOME/nn_jax/xla`` (by default ``~/.cache/nn_jax/xla``)."""
  if "NN_JAX_COMPILATION_CACHE" in environ:
    return environ["NN_JAX_COMPILATION_CACHE"]
  return os.path.join(caches.cache_home(environ), "xla")


flags.DEFINE_string(
    "compilation_cache_dir", default_compilation_cache(),
    "Keep the compiled XLA programs in this folder, so that a later run of "
    "the same shapes and settings loads them instead of compiling them "
    "again (a second or more on a CPU); at most "
    f"{caches.MAX_BYTES // 2**20} MB, the oldest removed first. Default: "
    "$NN_JAX_COMPILATION_CACHE if set, else $XDG_CACHE_HOME/nn_jax/xla "
    "(~/.cache/nn_jax/xla); empty or off: no cache. JAX's own "
    "JAX_COMPILATION_CACHE_DIR, if set, takes precedence.")

flags.DEFINE_enum(
    "figure_format", "png", list(drawing.FIGURE_FORMATS),
    "File format of the figures a script writes (png at 150 dpi; pdf and "
    "svg as vector graphics, for a report).")

PRESETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flags")


def presets() -> list[str]:
  """The names of the presets that ship with the package."""
  return sorted(f.removesuffix(".flags") for f in os.listdir(PRESETS)
                if f.endswith(".flags"))


flags.DEFINE_string(
    "preset", "", "Read the flags of a preset that ships with the package "
    "(as --flagfile would read experiments/flags/NAME.flags, from any "
    "folder); flags after it override it. One of: " + ", ".join(presets())
    + ".")


def define_flags(*classes, defaults: Optional[dict] = None,
                 exclude: Sequence[str] = (),
                 only: Optional[Sequence[str]] = None,
                 helps: Optional[dict] = None,
                 flag_values: flags.FlagValues = FLAGS) -> None:
  """Defines a flag for every setting of ``classes`` (default: all of
  :class:`nn_jax.config.Config`'s), named and documented as the setting,
  with ``defaults`` where the script's differ and ``helps`` where it uses
  a setting otherwise (its help text); ``exclude`` leaves settings out,
  ``only`` keeps just these; on ``flag_values`` (default: absl's global
  flags). Must be called from the script's module (so that ``--help``
  lists the flags as the script's own)."""
  defaults, helps = dict(defaults or {}), dict(helps or {})
  classes = classes or (*config_lib.GROUPS.values(), config_lib.Config)
  module = sys._getframe(1).f_globals.get("__name__")   # pylint: disable=protected-access
  if module == "__main__":   # as absl names a script's own flags
    module = sys.argv[0]
  where = dict(module_name=module, flag_values=flag_values)
  for cls in classes:
    for field in config_lib.settings_of(cls):
      name = field.name
      if name in exclude or (only is not None and name not in only):
        continue
      default = defaults.pop(name, field.default)
      help_text = helps.pop(name, field.metadata["help"])
      check = field.metadata["check"]
      if isinstance(check, config_lib.OneOf) and "," not in help_text:
        help_text += f" One of: {', '.join(c for c in check.choices if c)}."
      kind = config_lib.kind_of(field)
      if kind is bool:
        flags.DEFINE_boolean(name, default, help_text, **where)
      elif kind is int:
        flags.DEFINE_integer(name, default, help_text, **where)
      elif kind is float:
        flags.DEFINE_float(name, default, help_text, **where)
      elif kind is str:
        flags.DEFINE_string(name, default, help_text, **where)
      elif config_lib.item_kind(field) is int:   # layer sizes: "64,32"
        flags.DEFINE_string(name, ",".join(map(str, default)), help_text,
                            **where)
      else:
        flags.DEFINE_list(name, list(default), help_text, **where)
  if defaults or helps:
    raise ValueError(f"defaults or helps for settings not defined: "
                     f"{sorted({**defaults, **helps})}")


def config_from_flags(*, flag_values: flags.FlagValues = FLAGS,
                      **settings) -> config_lib.Config:
  """The :class:`nn_jax.config.Config` of the settings defined as flags on
  ``flag_values`` (the others at their defaults, or as given in
  ``settings``); a value that is not allowed ends the run with one line
  naming the flag."""
  values = {}
  for cls in (*config_lib.GROUPS.values(), config_lib.Config):
    for field in config_lib.settings_of(cls):
      if field.name not in flag_values or field.name in settings:
        continue
      kind = config_lib.kind_of(field)
      if kind is tuple and config_lib.item_kind(field) is int:
        values[field.name] = parse_sizes(field.name, flag_values)
      elif kind is tuple:
        values[field.name] = tuple(flag_values[field.name].value)
      else:
        values[field.name] = flag_values[field.name].value
  try:
    return config_lib.Config.make(**values, **settings)
  except ValueError as e:
    fail(str(e))


def parse_sizes(flag: str, flag_values: flags.FlagValues = FLAGS) -> tuple:
  """``--flag=64,32`` as ``(64, 32)``; empty gives ``()`` (no hidden layer).
  Fails naming the flag on an empty or non-integer item."""
  value = flag_values[flag].value.strip()
  items = [h.strip() for h in value.split(",")] if value else []
  try:
    sizes = tuple(int(h) for h in items)
  except ValueError:
    sizes = None
  if sizes is None or any(s < 1 for s in sizes):
    fail(f"--{flag}={value}: comma-separated positive integers (empty for "
         f"no hidden layer)")
  return sizes


def fail(message: str, code: int = USAGE_ERROR) -> None:
  """Prints one line to stderr and exits with ``code`` (2: bad input)."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(code)


def expand_presets(argv: Sequence[str]) -> list[str]:
  """``argv`` with each ``--preset=NAME`` preceded by the ``--flagfile`` of
  the preset's file; fails in one line on a name that is not a preset, and
  on a ``--flagfile`` of a preset's relative path that does not exist here
  (as from outside the repository), naming the ``--preset`` to use."""
  out, args = [], list(argv)
  while args:
    arg = args.pop(0)
    if arg in ("--preset", "-preset") and args:
      arg = "--preset=" + args.pop(0)
    name = arg.split("=", 1)[1] if arg.startswith(("--preset=",
                                                   "-preset=")) else None
    if name is not None:
      if name not in presets():
        hint = (f" (a file of flags is read by --flagfile={name})"
                if os.path.isfile(name) else "")
        fail(f"--preset={name}: no such preset; one of: "
             f"{', '.join(presets())}{hint}")
      preset_file = os.path.join(PRESETS, name + ".flags")
      # A flag before the preset that the preset sets would be overridden
      # without a word: the flags after it override it.
      with open(preset_file) as f:
        sets = {line.split("=", 1)[0].strip().lstrip("-") for line in f
                if line.strip().startswith("-")}
      before = [a for a in out if a.startswith("-")
                and a.lstrip("-").split("=", 1)[0] in sets]
      if before:
        fail(f"{', '.join(before)} before --preset={name}, which sets "
             f"{'them' if len(before) > 1 else 'it'} too: flags after the "
             f"preset override it, so put {'them' if len(before) > 1 else 'it'}"
             f" after")
      out.append(f"--flagfile={preset_file}")
    elif arg.startswith("--flagfile="):
      path = arg.split("=", 1)[1]
      preset = os.path.basename(path).removesuffix(".flags")
      if (not os.path.exists(path) and not os.path.isabs(path)
          and preset in presets()
          and os.path.normpath(os.path.dirname(path)).endswith("flags")):
        fail(f"--flagfile={path}: no such file in {os.getcwd()}; the "
             f"presets ship with the package: use --preset={preset}")
    out.append(arg)
  return out


# absl's words for a flag's value that is not of its type (Python's, from
# int(), float() and its boolean parser), and what the error says instead.
_NOT_OF_TYPE = (
    (re.compile(r"flag (--\S+?=.*): invalid literal for int\(\)"),
     "not an integer"),
    (re.compile(r"flag (--\S+?=.*): could not convert string to float"),
     "not a number"),
    (re.compile(r"flag (--\S+?=.*): \('Non-boolean argument"),
     "not true or false"),
)


def _parse_flags(argv):
  """The flags of ``argv`` (its presets expanded); a bad flag, or a word
  that is not a flag (no command takes any), ends the run with one line."""
  argv = argv[:1] + expand_presets(argv[1:])
  try:
    rest = FLAGS(argv)
  except (flags.Error, ValueError) as e:   # ValueError: --nofoo=value
    message = str(e).splitlines()[0]
    for pattern, instead in _NOT_OF_TYPE:
      found = pattern.match(message)
      if found:
        fail(f"{found.group(1)}: {instead}")
    fail(message.removeprefix("ERROR:: "))  # absl's own prefix (--flagfile)
  if rest[1:]:
    word = rest[1]
    name = word.lstrip("-").split("=")[0]
    hint = (f" (the flag is written --{word.lstrip('-')})"
            if name in FLAGS and not word.startswith("--") else "")
    fail(f"unexpected argument {word!r}: flags are written --name=value"
         f"{hint}")
  return rest


def enable_compilation_cache(folder: str) -> None:
  """Makes JAX keep its compiled programs in ``folder`` (one of
  ``CACHE_OFF``: no cache) through :func:`nn_jax.caches.enable`, unless JAX
  already has a cache folder of its own."""
  import jax  # pylint: disable=g-import-not-at-top
  if folder.strip().lower() in CACHE_OFF or (
      jax.config.jax_compilation_cache_dir):
    return
  if not caches.enable(folder):
    logging.warning("no compilation cache: %s cannot be written", folder)


def distributed_requested(environ=os.environ) -> bool:
  """Whether this process is one of several: started by
  ``experiments.launch`` (``NN_JAX_NUM_PROCESSES``), or one of several
  hosts (``JAX_COORDINATOR_ADDRESS`` set, or ``NN_JAX_DISTRIBUTED=1`` on
  Cloud TPU and SLURM, where JAX finds the coordinator itself)."""
  return bool(environ.get("NN_JAX_NUM_PROCESSES")) or bool(
      environ.get("JAX_COORDINATOR_ADDRESS")) or (
          environ.get("NN_JAX_DISTRIBUTED", "") == "1")


def distributed_arguments(environ=os.environ) -> dict:
  """``jax.distributed.initialize``'s arguments from the environment: the
  coordinator's address, the number of processes and this one's id, from
  ``NN_JAX_COORDINATOR``, ``NN_JAX_NUM_PROCESSES`` and ``NN_JAX_PROCESS_ID``
  (``experiments.launch``) or ``JAX_COORDINATOR_ADDRESS``,
  ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; none where JAX finds them
  itself."""
  out = {}
  for argument, names, kind in (
      ("coordinator_address", ("NN_JAX_COORDINATOR",
                               "JAX_COORDINATOR_ADDRESS"), str),
      ("num_processes", ("NN_JAX_NUM_PROCESSES", "JAX_NUM_PROCESSES"), int),
      ("process_id", ("NN_JAX_PROCESS_ID", "JAX_PROCESS_ID"), int)):
    value = next((environ[n] for n in names if environ.get(n)), None)
    if value is not None:
      try:
        out[argument] = kind(value)
      except ValueError:
        fail(f"{names[0]}={value}: must be a whole number")
  return out


def start_distributed(environ=os.environ) -> None:
  """Joins the processes of one run when there are several
  (:func:`distributed_requested`), with collectives between CPU processes
  over gloo, so that ``jax.devices()`` lists every process's devices."""
  if not distributed_requested(environ):
    return
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**distributed_arguments(environ))


def help_of(main: Callable) -> None:
  """Makes ``--help`` describe the module of ``main`` also where an
  installed command (``nn-jax-train``) runs it: absl's help gives the
  docstring and the key flags of the program it runs (``sys.argv[0]``),
  which for an installed command is a wrapper of neither."""
  module = getattr(main, "__module__", "__main__")
  if module == "__main__":   # python -m ...: the program is the module
    return
  for flag in FLAGS.get_key_flags_for_module(module):
    FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  program = sys.modules.get("__main__")
  if program is not None and not getattr(program, "__doc__", None):
    program.__doc__ = getattr(sys.modules.get(module), "__doc__", None)


def _drop_jax_teardown() -> None:
  """Takes JAX's exit handler off the process's, unless a run on several
  processes holds a distributed client, which the handler shuts down for
  the others. The handler tears down JAX's backends and caches (their
  compiled programs, the thread pools): 0.02 s of a cold quickstart's
  exit, 0.01 s of a warm one's, for memory that ending the process frees
  anyway. Where JAX's internals differ from these, nothing is taken off."""
  api = sys.modules.get("jax._src.api")
  distributed = sys.modules.get("jax._src.distributed")
  clean_up = getattr(api, "clean_up", None)
  state = getattr(distributed, "global_state", None)
  if callable(clean_up) and state is not None and (
      getattr(state, "client", True) is None):
    atexit.unregister(clean_up)


def exit_without_teardown(code: Any) -> None:
  """Ends the process with ``code`` (as ``sys.exit``'s) the way the
  interpreter's exit does, but for its teardown: the threads that are not
  daemons are joined (idle executors' told to end first), the exit
  handlers run (but JAX's teardown of its backends:
  :func:`_drop_jax_teardown`) and the standard streams are flushed; then
  the process ends. The teardown would deallocate every object (a fifth of a second
  after JAX's import, where the collector goes over them) and then the
  C++ libraries' static objects, whose thread pools can abort the process
  there: 1 of 168 runs that failed on a flag right after pyarrow read a
  CSV file did ("terminate called without an active exception"; most
  likely pyarrow's pools, which the reading starts)."""
  # The interpreter's own first steps of an exit: its thread pools told to
  # end (concurrent.futures'), the threads that are not daemons joined,
  # then the exit handlers (but JAX's teardown).
  threading._shutdown()  # pylint: disable=protected-access
  _drop_jax_teardown()
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  if code is None:
    status = 0
  elif isinstance(code, int):
    status = code
  else:   # as the interpreter does with sys.exit("message")
    print(code, file=sys.stderr)
    status = 1
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):   # closed, or a broken pipe
      pass
  os._exit(status)  # pylint: disable=protected-access


def run(main: Callable[[list], Any], compilation_cache: bool = True) -> None:
  """Runs ``main`` under absl with one-line errors for bad input, with the
  compilation cache of ``--compilation_cache_dir`` unless
  ``compilation_cache`` is False (for timings that include compiling). With
  several processes or hosts it first joins them
  (:func:`start_distributed`). It ends the process
  (:func:`exit_without_teardown`): the exit handlers run, the
  interpreter's teardown does not."""
  help_of(main)
  logging.get_absl_handler().setFormatter(_Plain())
  if not getattr(warnings.showwarning, "nn_jax_plain", False):
    warnings.showwarning = _plain_warnings(warnings.showwarning)
  def guarded(argv):
    start_distributed()
    if compilation_cache:
      enable_compilation_cache(FLAGS.compilation_cache_dir)
    try:
      return main(argv)
    except ValueError as e:
      fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except OSError as e:   # a path that cannot be read or written
      fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror
           else str(e))
    except KeyboardInterrupt:
      done = (f" after epoch {Progress.last_epoch}"
              if Progress.last_epoch else "")
      resume = (" The checkpoints are kept: the same command with --resume "
                "continues from the latest." if "resume" in FLAGS and (
                    FLAGS["checkpoint_every"].value if "checkpoint_every"
                    in FLAGS else 0) else "")
      live = (os.path.join(FLAGS.workdir, "live", "metrics.jsonl")
              if "workdir" in FLAGS and "log_every" in FLAGS else "")
      kept = (f" Its epochs so far are in {live} (python -m "
              f"experiments.plot --workdir={FLAGS.workdir} draws them)."
              if live and os.path.exists(live) else "")
      fail(f"interrupted{done}; the earlier results in the workdir are as "
           f"they were.{kept}{resume}", code=INTERRUPTED)
  try:
    app.run(guarded, flags_parser=_parse_flags)
  except SystemExit as e:
    exit_without_teardown(e.code)


def check(condition: bool, flag: str, allowed: str) -> None:
  """Fails with ``--flag=value: allowed`` unless ``condition`` holds."""
  if not condition:
    value = FLAGS[flag].value if flag in FLAGS else None
    if isinstance(value, list):   # a list flag, as it was written
      value = ",".join(map(str, value))
    fail(f"--{flag}={value}: {allowed}")


def flag_dict(module_name: str) -> dict:
  """The values of the flags defined by a script: pass its ``__file__`` (or
  its module's name), which names it under ``python -m`` and the installed
  command alike."""
  key = None
  for name in FLAGS.flags_by_module_dict():
    if name.endswith(module_name) or module_name.endswith(
        name.replace(".", "/") + ".py"):
      key = name
  names = FLAGS.flags_by_module_dict().get(key, []) if key else []
  return {f.name: f.value for f in names}


class Progress:
  """Progress over epochs, called for each: a tqdm bar on a terminal
  (epoch, training cost and accuracy, validation accuracy), else an absl
  log line every ``total / lines`` epochs (and at the last). ``monitored``
  names the split the run measures as its validation data (``test``
  where a script monitors the test points)."""

  last_epoch = 0   # the latest epoch reported, for an interrupted run

  def __init__(self, total: int, desc: str = "train", lines: int = 20,
               monitored: str = "val"):
    self.total = total
    self.every = max(1, -(-total // lines))
    self.monitored = monitored
    self.bar = None
    if sys.stderr.isatty():
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=True)

  def __call__(self, epoch: int, m: dict) -> None:
    Progress.last_epoch = epoch
    # Accuracies only where there are any (not for regression).
    shown = {k: v for k, v in m.items()
             if not (k.endswith("accuracy") and np.isnan(v))}
    if self.bar is not None:
      self.bar.update(epoch - self.bar.n)
      names = {"train_loss": "cost", "train_accuracy": "acc",
               "val_accuracy": f"{self.monitored}_acc"}
      self.bar.set_postfix({names[k]: cost_text(v) for k, v in shown.items()
                            if k in names})
    elif epoch % self.every == 0 or epoch == self.total:
      # Without a validation set its cost is NaN while training's is not.
      splits = ("train",) if (np.isnan(m["val_loss"])
                              and np.isfinite(m["train_loss"])) else (
                                  "train", "val")
      said = {"val": self.monitored}
      parts = [f"{said.get(split, split)} cost "
               f"{cost_text(m[split + '_loss'])}"
               + (f" acc {shown[split + '_accuracy']:.4f}"
                  if split + "_accuracy" in shown else "")
               for split in splits]
      log("epoch %d/%d  %s", epoch, self.total, "  ".join(parts))

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()


def cost_text(v: float) -> str:
  """A cost in 4 decimals, or in 4 significant digits where those would
  hide it (below 0.001) or spread it (from 10,000 up)."""
  return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.4g}"


def log(message: str, *args) -> None:
  """Progress line through absl logging (INFO, shown on stderr)."""
  logging.info(message, *args)


def warn(message: str, *args) -> None:
  """A warning line (``warning: ...`` on stderr)."""
  logging.warning(message, *args)


def numbers(flag: str, ok: Callable[[float], bool] = lambda v: True,
            allowed: str = "") -> list:
  """A list flag's items as finite numbers for which ``ok`` holds (as
  ``allowed`` says, e.g. "> 0"); fails naming the flag."""
  try:
    values = [float(v) for v in FLAGS[flag].value]
  except ValueError:
    values = []
  check(bool(values) and all(np.isfinite(v) and ok(v) for v in values),
        flag, f"comma-separated finite numbers {allowed}".strip())
  return values
