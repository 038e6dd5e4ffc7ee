"""Peterson & Barney's (1952) vowels, shipped with the package.

F0 and the first three formants (Hz) of 10 American-English vowels in hVd
words (heed, hid, head, had, hod, hawed, hood, who'd, hud, heard), each said
twice by 76 speakers (1-33 men, 34-61 women, 62-76 children): 1,520
utterances, 152 per vowel (provenance and quirks in
``data_files/peterson_barney_1952.md``). The file's SHA-256 is checked on
every load. Huang & Lippmann's (1988) decision-region figure (F1 against
F2), which the lecture shows, comes from these data (this file is not
checked against the subset or the split they used).

The split is by speaker, so that no test speaker is heard in training: the
odd-numbered speakers (38: 17 men, 14 women, 7 children; 760 utterances)
train, the even-numbered ones (38: 16 men, 14 women, 8 children; 760
utterances) test.
"""

import csv
import io
import os
from typing import Any, NamedTuple

import numpy as np

from nn_jax import data as data_lib

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data_files",
                    "peterson_barney_1952.csv")
SHA256 = "b3821aeade71b2f0f5bca40102ec42ce0431da30c3928411a6ecea743b1b832a"
# The classes in the order of Huang & Lippmann's figure (labels 0..9).
WORDS = ("heed", "hid", "head", "had", "hod", "hawed", "hood", "who'd", "hud",
         "heard")
FREQUENCIES = ("F0", "F1", "F2", "F3")
# The classifiers of :func:`reference_accuracies`, by their names there.
REFERENCES = {"knn": "kNN (k=5)", "qda": "QDA"}


def read(path: str = PATH) -> list[dict]:
  """The rows of the CSV file as dicts of strings, after checking its
  SHA-256 (ValueError if the file is not the published one)."""
  raw = data_lib.read_shipped(path, SHA256, "the vowel data")
  return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def load(features=("F1", "F2"), log_frequency: bool = False,
         path: str = PATH) -> tuple[data_lib.Dataset, np.ndarray]:
  """``(dataset, speakers)``: every utterance, inputs ``features`` (of
  ``FREQUENCIES``, in Hz, or their natural log with ``log_frequency``),
  labels the index of the word in ``WORDS``; ``speakers`` (int, 1-76) per
  row."""
  features = tuple(features)
  if not features or len(set(features)) != len(features) or any(
      f not in FREQUENCIES for f in features):
    raise ValueError(f"vowel_features must be distinct names of "
                     f"{', '.join(FREQUENCIES)}; got {','.join(features)}")
  rows = read(path)
  x = np.array([[float(r[f]) for f in features] for r in rows], np.float32)
  if log_frequency:
    x = np.log(x)
  y = np.array([WORDS.index(r["vowel"]) for r in rows], np.int32)
  speakers = np.array([int(r["speaker"]) for r in rows])
  ds = data_lib.Dataset("vowels", x, y, data_lib.CLASSIFICATION, len(WORDS),
                        class_names=WORDS)
  return ds, speakers


def speaker_split(ds: data_lib.Dataset, speakers: np.ndarray):
  """``(train, test)``: the odd-numbered speakers' rows, the even ones'."""
  odd = np.asarray(speakers) % 2 == 1
  return ds.take(np.flatnonzero(odd)), ds.take(np.flatnonzero(~odd))


def load_split(features=("F1", "F2"), log_frequency: bool = False):
  """``(train, test)`` of :func:`load`, split by :func:`speaker_split`."""
  return speaker_split(*load(features, log_frequency))


class HzEncoding(NamedTuple):
  """A run's input encoding seen from Hz: ``apply`` maps frequencies in Hz
  to the network's inputs (their log with ``log_frequency``, then
  ``encoder``, e.g. the fitted ``encoding.Standardize``; None: none),
  ``invert`` maps inputs back to Hz. The log is taken of at least 1 Hz, so
  that a plot's margin below 0 Hz stays finite."""
  encoder: Any
  log_frequency: bool

  def apply(self, hz: np.ndarray) -> np.ndarray:
    x = np.asarray(hz, np.float32)
    x = np.log(np.maximum(x, 1.0)) if self.log_frequency else x
    return x if self.encoder is None else self.encoder.apply(x)

  def invert(self, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x if self.encoder is None else self.encoder.invert(x))
    return np.exp(x) if self.log_frequency else x


def reference_accuracies(train: data_lib.Dataset, test: data_lib.Dataset,
                         k: int = 5) -> dict:
  """Test accuracies of Huang & Lippmann's traditional classifiers on the
  same (encoded) inputs: scikit-learn's k-nearest neighbours (``knn``,
  ``k`` neighbours) and the Gaussian quadratic classifier (``qda``, a
  full covariance per class). One is None where its training set is too
  small (fewer than ``k`` rows; a class with fewer rows than inputs + 1)."""
  from sklearn import discriminant_analysis  # pylint: disable=g-import-not-at-top
  from sklearn import neighbors  # pylint: disable=g-import-not-at-top
  counts = np.bincount(train.y, minlength=train.num_classes)
  fits = {
      "knn": (neighbors.KNeighborsClassifier(k), train.size >= k),
      "qda": (discriminant_analysis.QuadraticDiscriminantAnalysis(),
              counts.min() > train.x.shape[1] + 1),
  }
  return {name: (float(model.fit(train.x, train.y).score(test.x, test.y))
                 if ok and test.size else None)
          for name, (model, ok) in fits.items()}
