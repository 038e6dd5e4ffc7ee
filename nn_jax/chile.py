"""Voting intentions in Chile's 1988 plebiscite (FLACSO/Chile survey),
shipped with the package: a real data set with every kind of input column.

2,431 respondents (the complete cases of carData's ``Chile``; provenance,
license and counts in ``data_files/chile_1988.md``). The target is the
intended vote (A abstain, N no, U undecided, Y yes); the inputs are

* nominal: ``region`` (5 regions), ``sex``;
* ordinal: ``education`` (primary < secondary < post-secondary) and
  ``income`` (7 brackets, in pesos);
* numeric: ``population`` (of the respondent's community, 3,750-250,000),
  ``age`` (18-70) and ``statusquo`` (a scale of support, about -1.8-2.0).

They are encoded by :mod:`nn_jax.tabular` with a :class:`tabular.Codes`
(1-of-k, thermometer, standardized by default), fitted on the training
rows. The file's SHA-256 is checked on every load.
"""

import os

from nn_jax import data as data_lib
from nn_jax import tabular

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data_files",
                    "chile_1988.csv")
SHA256 = "a96841e4953a835e2bc05ffa4ce6370b63bb60c20b34d7431e4102202af5a3bc"
TARGET = "vote"
NOMINAL = ("region", "sex")
ORDINAL = {"education": ("P", "S", "PS"),
           "income": ("2500", "7500", "15000", "35000", "75000", "125000",
                      "200000")}
NUMERIC = ("population", "age", "statusquo")
FEATURES = ("region", "population", "sex", "age", "education", "income",
            "statusquo")   # in the file's order; its column "row" is no input


def read(path: str = PATH) -> tabular.Table:
  """The file's rows, after checking its SHA-256 (ValueError if it is not
  the shipped file)."""
  data_lib.read_shipped(path, SHA256, "the Chile data")
  return tabular.read_csv(path)


def fit(table: tabular.Table, codes: tabular.Codes = tabular.Codes()
        ) -> tabular.TabularEncoder:
  """The encoder of the data set's columns, fitted on ``table``'s rows."""
  return tabular.fit_encoder(table, TARGET, NOMINAL, ORDINAL,
                             task="classification", features=FEATURES,
                             codes=codes)._replace(name="chile")


def load(codes: tabular.Codes = tabular.Codes(), path: str = PATH):
  """``(dataset, encoder)``: every row, encoded by an encoder fitted on
  all of them."""
  table = read(path)
  enc = fit(table, codes)
  return enc.transform(table), enc


def load_split(test_fraction: float = 0.2, seed: int = 0,
               codes: tabular.Codes = tabular.Codes(), path: str = PATH,
               validation=None):
  """``(train, test, encoder)``: ``round(test_fraction * n)`` test rows
  drawn as :func:`nn_jax.tabular.load_split` draws them (by
  ``nn_jax.data.permutation(PRNGKey(seed), n)``), the encoder fitted on the
  training rows; with ``validation``, ``(train, val, test, encoder)``, the
  training rows split again as :func:`nn_jax.tabular.encode_split` does."""
  test_rows, train_rows = read(path).split(data_lib.host_key(seed),
                                           test_fraction)
  enc = fit(train_rows, codes)
  return (*tabular.encode_split(enc, train_rows, validation),
          enc.transform(test_rows), enc)
