"""Settings declared once: checks, records and flags derive from them."""

import dataclasses
import math
import re

from absl import flags
from hypothesis import given
from hypothesis import strategies as st
import pytest

from experiments import cli
from nn_jax import config

ALL = (*config.GROUPS.values(), config.Config)


def _settings():
  return [f for cls in ALL for f in config.settings_of(cls)]


def test_every_setting_has_help_a_type_and_a_valid_default():
  names = [f.name for f in _settings()]
  assert len(names) == len(set(names)), "a setting declared twice"
  for field in _settings():
    assert field.metadata["help"].strip(), field.name
    assert config.kind_of(field) in (bool, int, float, str, tuple)
  config.Config()   # every default passes its check


@pytest.mark.parametrize("name,value,match", [
    ("learning_rate", -1.0, "learning_rate must be > 0 and finite; got -1.0"),
    ("learning_rate", math.nan, "learning_rate must be > 0 and finite"),
    ("l2", math.inf, "l2 must be >= 0 and finite"),
    ("momentum", 1.0, r"momentum must be in \[0, 1\) and finite"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\)"),
    ("epochs", 0, "epochs must be >= 1; got 0"),
    ("epochs", 2**31, "epochs must be at most 2147483647"),
    ("epochs", 2.5, "epochs must be an integer; got 2.5"),
    ("epochs", True, "epochs must be an integer; got True"),
    ("seed", 2**32, "seed must be at most 4294967295"),
    ("shuffle", 1, "shuffle must be True or False"),
    ("activation", "swish", "activation='swish' is not allowed; use one of"),
    ("optimizer", "rmsprop", "optimizer='rmsprop' is not allowed"),
    ("hidden", (4, 0), "hidden must hold positive integers; got 4,0"),
    ("augment", ("noise", "flip"), "augment must hold noise or shift"),
    ("dataset", "cifar", "dataset='cifar' is not allowed"),
])
def test_a_bad_value_names_its_setting(name, value, match):
  with pytest.raises(ValueError, match=match):
    config.Config.make(**{name: value})


@pytest.mark.parametrize("settings,match", [
    ({"classes": "1,2", "positive_class": 0}, "either classes or positive"),
    ({"dataset": "csv"}, "dataset=csv needs csv_path and target"),
    ({"test_fraction": 0.6, "validation_fraction": 0.4},
     "test_fraction \\+ validation_fraction must be < 1"),
    ({"early_stopping_patience": 3, "validation_fraction": 0.0},
     "early_stopping_patience needs validation_fraction > 0"),
    ({"pretrain": True, "hidden": ()}, "pretrain needs at least one hidden"),
    ({"model": "perceptron", "dtype": "float64"}, "dtype=float64 is for"),
    ({"bogus": 1}, "unknown setting 'bogus'"),
])
def test_relations_between_settings(settings, match):
  with pytest.raises(ValueError, match=match):
    config.Config.make(**settings)


def test_groups_are_checked_on_their_own_too():
  with pytest.raises(ValueError, match="batch_size must be >= 0"):
    config.FitOptions(batch_size=-1)
  options = config.FitOptions(augment=("noise",), noise_std=0.3)
  assert (options.noise, options.shift) == (0.3, 0)


@given(st.fixed_dictionaries({
    "learning_rate": st.floats(1e-6, 10), "epochs": st.integers(1, 10**6),
    "hidden": st.lists(st.integers(1, 4096), max_size=4).map(tuple),
    "dropout": st.floats(0, 0.99), "seed": st.integers(0, 2**32 - 1),
    "augment": st.sampled_from([(), ("noise",), ("noise", "shift")]),
    "alpha": st.none() | st.floats(0, 1)}))
def test_flat_record_round_trips(settings):
  c = config.Config.make(**settings)
  flat = c.flat()
  assert config.Config.from_flat(flat) == c
  assert config.Config.from_flat({**flat, "from_a_later_version": 1}) == c
  assert set(flat) == {f.name for f in _settings()}


def test_numbers_are_stored_as_their_type():
  c = config.Config.make(learning_rate=1, hidden=[3, 4])
  assert isinstance(c.optim.learning_rate, float) and c.net.hidden == (3, 4)


def _parse(argv, **define):
  values = flags.FlagValues()
  cli.define_flags(flag_values=values, **define)
  values(["prog", *argv])
  return values


def test_flags_derive_from_the_declarations():
  values = _parse([])
  for field in _settings():
    assert field.name in values, field.name
    assert values[field.name].help.startswith(field.metadata["help"])
  c = cli.config_from_flags(flag_values=_parse(
      ["--hidden=16,8", "--augment=noise", "--noshuffle", "--alpha=0.2",
       "--learning_rate=0.3", "--dataset=iris"]))
  assert c == config.Config.make(hidden=(16, 8), augment=("noise",),
                                 shuffle=False, alpha=0.2, learning_rate=0.3,
                                 dataset="iris")
  assert cli.config_from_flags(flag_values=_parse([])) == config.Config()


def test_a_script_changes_a_default_in_one_line():
  values = _parse([], defaults={"hidden": (32,), "epochs": 20},
                  exclude=("seed",))
  assert "seed" not in values
  c = cli.config_from_flags(flag_values=values)
  assert c.net.hidden == (32,) and c.fit.epochs == 20
  with pytest.raises(ValueError, match="not defined"):
    _parse([], defaults={"no_such_setting": 1})


def test_a_bad_flag_value_is_one_line_naming_the_flag(capsys):
  with pytest.raises(SystemExit) as e:
    cli.config_from_flags(flag_values=_parse(["--learning_rate=-1"]))
  assert e.value.code == cli.USAGE_ERROR
  assert capsys.readouterr().err == (
      "error: learning_rate must be > 0 and finite; got -1.0\n")
  with pytest.raises(SystemExit):
    cli.config_from_flags(flag_values=_parse(["--hidden=4,x"]))
  assert "--hidden=4,x: comma-separated positive integers" in (
      capsys.readouterr().err)


def test_fields_are_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.Config().seed = 3


@pytest.mark.parametrize("hidden", [("a",), (True,), (2.5,)])
def test_list_items_have_their_type(hidden):
  with pytest.raises(ValueError, match="hidden must hold positive integers"):
    config.NetConfig(hidden=hidden)


@pytest.mark.parametrize("name", ["l2", "max_norm", "noise_std",
                                  "cost_threshold", "alpha", "momentum",
                                  "dropout", "test_fraction"])
def test_nan_never_turns_a_setting_off(name):
  # NaN fails every comparison: it passed "< 0" checks and turned the
  # setting off in silence.
  with pytest.raises(ValueError, match=f"{name} must be .* and finite; got "
                     "nan"):
    config.Config.make(**{name: math.nan})


def test_seed_and_counters_do_not_wrap():
  # PRNGKey(2**32) is PRNGKey(0); an epoch count past int32 overflowed
  # after compiling.
  for name, value in (("seed", 2**32), ("epochs", 2**31),
                      ("epochs_per_call", 2**31), ("seed", 2**63)):
    with pytest.raises(ValueError, match=f"{name} .*at most|out of range"):
      config.Config.make(**{name: value})
  from nn_jax import sklearn as nn_sklearn  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="epochs must be at most"):
    nn_sklearn.MLPClassifier(epochs=2**31).fit([[0.0], [1.0]], [0, 1])


def test_csv_numeric_columns_are_standardized_or_raw():
  with pytest.raises(ValueError, match="input_encoding=scale is for the "
                     "other data sets; csv's numeric columns"):
    config.Config.make(dataset="csv", csv_path="a.csv", target="y",
                       input_encoding="scale")
  for dataset in ("csv", "chile"):
    assert config.Config.make(dataset=dataset, csv_path="a.csv", target="y",
                              input_encoding="none").data.input_encoding == (
                                  "none")


def test_column_codes_are_checked_by_name():
  for name, bad in (("nominal_code", "thermometer"),
                    ("ordinal_code", "binary"), ("thermometer_units", "k+1")):
    with pytest.raises(ValueError,
                       match=re.escape(f"{name}='{bad}' is not allowed")):
      config.Config.make(**{name: bad})


def test_target_is_one_column_or_several():
  make = lambda target, **kw: config.Config.make(
      dataset="csv", csv_path="a.csv", target=target, **kw)
  assert make("y").data.target == ("y",)
  assert make("y1, y2").data.target == ("y1", "y2")
  assert make(["y1", "y2"]).flat()["target"] == ["y1", "y2"]
  assert config.Config.from_flat(make("y").flat()).data.target == ("y",)
  with pytest.raises(ValueError, match="^task=classification predicts one "
                     "target column; several \\(y1,y2\\)"):
    make("y1,y2", task="classification")
  with pytest.raises(ValueError, match="target lists 'y' twice; got y,y"):
    make("y,y")
  with pytest.raises(ValueError, match="target must hold non-empty names"):
    make("a,,b")


def test_an_augmentations_setting_needs_the_augmentation_on():
  # --noise_std=0.5 alone did nothing (and results.json recorded it); the
  # scikit-learn estimators turn the noise on by noise_std > 0 instead.
  for name, kind, value in (("noise_std", "noise", 0.5),
                            ("max_shift", "shift", 2)):
    with pytest.raises(ValueError, match=f"{name}={value} has no effect "
                       f"without augment={kind}"):
      config.FitOptions(**{name: value})
    assert getattr(config.FitOptions(**{name: value}, augment=(kind,)),
                   name) == value
    config.FitOptions(**{name: 0})   # off, as an estimator sets it


def test_a_perceptron_refuses_the_settings_it_does_not_use():
  # They were passed over and recorded in results.json as if used (a
  # --checkpoint_every wrote no checkpoint).
  with pytest.raises(ValueError, match=r"model=perceptron does not use "
                     r"l2=0.1, checkpoint_every=1: they are for model=mlp"):
    config.Config.make(model="perceptron", l2=0.1, checkpoint_every=1)
  with pytest.raises(ValueError, match="does not use optimizer=adam: it is"):
    config.Config.make(model="perceptron", optimizer="adam")
  used = config.Config.make(model="perceptron", dataset="moons",
                            learning_rate=0.5, epochs=7, shuffle=False,
                            seed=3, train_size=50)
  assert used.fit.epochs == 7
  config.Config.make(l2=0.1, checkpoint_every=1)   # a network uses them
