"""MNIST from its IDX files, and MNIST-1D from the ``mnist1d`` package.

MNIST (LeCun, Cortes & Burges): 60,000 training and 10,000 test images of
28x28 grey pixels, digits 0-9, in four IDX files, gzip-compressed or raw::

  train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
  t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

:func:`load_mnist` reads them from ``data_dir`` (default
``~/.cache/nn_jax/mnist``, or ``$XDG_CACHE_HOME/nn_jax/mnist``). Files that
are not there are downloaded into ``data_dir`` from public mirrors and kept
only if the SHA-256 of their *uncompressed* contents is the known one (the
contents are what the original distribution defines; mirrors may recompress
the gzip files). Offline, the error says which files to put where.

An IDX file is a big-endian header -- two zero bytes, a type code (``0x08``
for unsigned bytes), the number of dimensions ``d`` -- then ``d`` 4-byte
sizes, then the values in C order. Images have magic number 2051
(``0x00000803``), labels 2049 (``0x00000801``).

MNIST-1D (Greydanus 2020, "Scaling down deep learning"): 5,000 1-D signals of
40 values, 10 classes, split 4,000 / 1,000; :func:`load_mnist1d` generates it
locally with the ``mnist1d`` package.
"""

import gzip
import hashlib
import math
import numbers
import os
import random
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from typing import Optional

import numpy as np

from nn_jax import caches
from nn_jax import data as data_lib

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the uncompressed files (their MD5s, as published with the
# original distribution, are 6bbc9ace898e44ae57da46a324031adb,
# a25bea736e30d166cdddb491f175f624, 2646ac647ad5339dbf082846283269ea and
# 27ae3e4e09519cfbb04c329615203637).
SHA256 = {
    "train-images-idx3-ubyte":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
NUM_CLASSES = 10
DIGITS = tuple(str(d) for d in range(NUM_CLASSES))   # the class names

# IDX type code -> big-endian NumPy dtype.
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
           0x0E: ">f8"}


class DownloadError(OSError, ValueError):
  """MNIST files are missing and could not be downloaded.

  Also a ``ValueError``, so that experiment scripts report it in one line.
  """


class MissingPackageError(ImportError, ValueError):
  """An optional package is not installed (the message says how to get it)."""


def default_data_dir() -> str:
  """``$XDG_CACHE_HOME/nn_jax/mnist``, by default ``~/.cache/nn_jax/mnist``.

  As the XDG base directory specification asks, a relative
  ``$XDG_CACHE_HOME`` is ignored (it would put the cache under whatever
  folder a command runs in).
  """
  return os.path.join(caches.cache_home(), "mnist")


def _open(path: str):
  with open(path, "rb") as f:
    gzipped = f.read(2) == b"\x1f\x8b"
  return gzip.open(path, "rb") if gzipped else open(path, "rb")


_READ_CHUNK = 1 << 26   # bytes; a header's sizes are not trusted to allocate


def _read_exactly(f, size: int, path: str, what: str) -> bytes:
  parts, found = [], 0
  try:
    while found < size:
      part = f.read(min(_READ_CHUNK, size - found))
      if not part:
        break
      parts.append(part)
      found += len(part)
  except (OSError, EOFError, zlib.error) as e:
    raise ValueError(f"{path} is corrupt ({e}); delete it and download it "
                     f"again") from None
  if found != size:
    raise ValueError(f"{path} is truncated: expected {size} bytes of {what}, "
                     f"found {found}; delete it and download it again")
  return b"".join(parts)


def _read_header(f, path: str, magic: Optional[int]):
  """``(dtype, shape)`` from an open IDX file's header."""
  head = _read_exactly(f, 4, path, "header")
  zeros, code, ndim = struct.unpack(">HBB", head)
  found = struct.unpack(">I", head)[0]
  if zeros != 0 or code not in _DTYPES or ndim == 0:
    raise ValueError(
        f"{path} is not an IDX file: magic number {found} (0x{found:08x})"
        f"{'' if magic is None else f', expected {magic} (0x{magic:08x})'}")
  if magic is not None and found != magic:
    raise ValueError(
        f"{path} has magic number {found} (0x{found:08x}) but {magic} "
        f"(0x{magic:08x}) was expected; is it the right file?")
  shape = list(struct.unpack(f">{ndim}I",
                             _read_exactly(f, 4 * ndim, path, "sizes")))
  return np.dtype(_DTYPES[code]), shape


def idx_shape(path: str, magic: Optional[int] = None) -> list[int]:
  """The shape an IDX file's header announces (nothing else is read)."""
  with _open(path) as f:
    return _read_header(f, path, magic)[1]


def read_idx(path: str, magic: Optional[int] = None,
             limit: Optional[int] = None) -> np.ndarray:
  """Reads an IDX file, gzip-compressed or raw (told apart by its first bytes).

  Args:
    path: the file.
    magic: the expected magic number (e.g. ``IMAGES_MAGIC``), or ``None`` to
      accept any valid IDX header.
    limit: read only the first ``limit`` records (along the first dimension);
      the rest of the file is neither read nor checked.

  Returns:
    The array, in native byte order.

  Raises:
    ValueError: a wrong magic number, an unknown type code, a truncated or
      corrupt file, or (without ``limit``) bytes after the data.
  """
  with _open(path) as f:
    dtype, shape = _read_header(f, path, magic)
    if limit is not None:
      shape[0] = min(shape[0], int(limit))
    size = math.prod(shape) * dtype.itemsize    # Python ints: no overflow
    buf = _read_exactly(f, size, path, "data")
    if limit is None and _has_more(f, path):
      raise ValueError(f"{path} has bytes after the {shape} values its header "
                       f"announces; it is corrupt")
  native = dtype.newbyteorder("=")
  return np.frombuffer(buf, dtype).reshape(shape).astype(native)


def _has_more(f, path) -> bool:
  try:
    return bool(f.read(1))
  except (OSError, EOFError, zlib.error) as e:
    raise ValueError(f"{path} is corrupt ({e}); delete it and download it "
                     f"again") from None


def find_file(data_dir: str, name: str) -> Optional[str]:
  """``data_dir/name`` or ``data_dir/name.gz``, whichever exists (raw first)."""
  for candidate in (name, name + ".gz"):
    path = os.path.join(data_dir, candidate)
    if os.path.isfile(path):
      return path
  return None


def fetch_url(url: str, timeout: float = 60.0) -> bytes:
  """The bytes at ``url`` (urllib; raises ``urllib.error.URLError`` offline)."""
  with urllib.request.urlopen(url, timeout=timeout) as response:
    return response.read()


def _sha256_uncompressed(blob: bytes) -> str:
  if blob[:2] == b"\x1f\x8b":
    blob = gzip.decompress(blob)
  return hashlib.sha256(blob).hexdigest()


def download(name: str, data_dir: str, mirrors=MIRRORS) -> str:
  """Downloads ``name.gz`` into ``data_dir`` and checks its contents' SHA-256.

  Tries each mirror in turn; a file is written (atomically) only once its
  checksum matches ``SHA256[name]``.

  Returns:
    The path of the downloaded file.

  Raises:
    DownloadError: no mirror gave a file with the right checksum.
  """
  os.makedirs(data_dir, exist_ok=True)
  problems = []
  for mirror in mirrors:
    url = mirror + name + ".gz"
    try:
      blob = fetch_url(url)
      digest = _sha256_uncompressed(blob)
    except (urllib.error.URLError, OSError, EOFError, zlib.error) as e:
      problems.append(f"{url}: {getattr(e, 'reason', e)}")
      continue
    if digest != SHA256[name]:
      problems.append(f"{url}: checksum mismatch (sha256 {digest[:12]}...)")
      continue
    path = os.path.join(data_dir, name + ".gz")
    fd, tmp = tempfile.mkstemp(dir=data_dir, suffix=".part")
    with os.fdopen(fd, "wb") as f:
      f.write(blob)
    os.chmod(tmp, 0o644)   # as a plain download (mkstemp makes it 0600)
    os.replace(tmp, path)
    return path
  raise DownloadError(
      f"could not download {name}.gz ({'; '.join(problems)}). Without a "
      f"network, copy the four MNIST files ("
      f"{', '.join(n + '[.gz]' for n in FILES.values())}) into {data_dir} "
      f"or pass the folder that holds them as data_dir (--data_dir)")


def _mnist_split(images: np.ndarray, labels: np.ndarray, images_path: str,
                 labels_path: str) -> data_lib.Dataset:
  if images.ndim != 3 or images.dtype != np.uint8:
    raise ValueError(f"{images_path} must hold uint8 images (n, rows, cols); "
                     f"it holds {images.dtype} of shape {images.shape}")
  if images.ndim == 3 and images.shape[1] * images.shape[2] == 0:
    raise ValueError(f"{images_path} has no input features: its images are "
                     f"{images.shape[1]}x{images.shape[2]} pixels")
  if labels.ndim != 1 or labels.dtype != np.uint8:
    raise ValueError(f"{labels_path} must hold uint8 labels (n,); it holds "
                     f"{labels.dtype} of shape {labels.shape}")
  if labels.size and labels.max() >= NUM_CLASSES:
    raise ValueError(f"{labels_path} has label {int(labels.max())}; MNIST "
                     f"labels are 0-9")
  # One pass, in float32: the values of astype(float32) / 255.
  x = np.divide(images.reshape(len(images), -1), np.float32(255),
                dtype=np.float32)
  return data_lib.Dataset("mnist", x, labels.astype(np.int32),
                          data_lib.CLASSIFICATION, NUM_CLASSES,
                          tuple(images.shape[1:]), DIGITS)


def load_mnist(data_dir: Optional[str] = None, *, limit: Optional[int] = None,
               download_missing: bool = True
               ) -> tuple[data_lib.Dataset, data_lib.Dataset]:
  """Loads MNIST's training and test sets.

  Args:
    data_dir: folder with the four IDX files (``.gz`` or raw); default
      :func:`default_data_dir`.
    limit: keep only the first ``limit`` examples of each split (the files'
      own order, so always the same ones; the first 1,000 training images
      hold about 100 of each digit). ``None`` keeps all.
    download_missing: download missing files into ``data_dir``; if ``False``,
      a missing file is an error.

  Returns:
    ``(train, test)`` :class:`nn_jax.data.Dataset`\\ s named ``"mnist"``:
    ``x`` float32 ``(n, 784)`` pixels in [0, 1], ``y`` int32 digits,
    ``image_shape=(28, 28)``.

  Raises:
    ValueError: a bad ``limit``, a missing file (with ``download_missing``
      off), or a corrupt, truncated or mismatched file.
    DownloadError: a missing file could not be downloaded (a ValueError too).
  """
  if limit is not None and (isinstance(limit, bool) or not isinstance(
      limit, numbers.Integral) or limit < 1):
    raise ValueError(f"limit must be an integer >= 1 (or None for all "
                     f"examples); got {limit!r}")
  data_dir = os.path.expanduser(data_dir or default_data_dir())
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise ValueError(f"data_dir {data_dir} is a file; it must be the folder "
                     f"of the MNIST files")
  paths = {}
  for key, name in FILES.items():
    path = find_file(data_dir, name)
    if path is None:
      if not download_missing:
        raise ValueError(
            f"{name}[.gz] is not in {data_dir}; put the four MNIST files "
            f"({', '.join(FILES.values())}, gzip or raw) there, or allow "
            f"the download")
      path = download(name, data_dir)
    paths[key] = path
  splits = []
  for split in ("train", "test"):
    images_path = paths[f"{split}_images"]
    labels_path = paths[f"{split}_labels"]
    # The headers' counts, also when a limit reads fewer.
    n_images = idx_shape(images_path, IMAGES_MAGIC)[0]
    n_labels = idx_shape(labels_path, LABELS_MAGIC)[0]
    if n_images != n_labels:
      raise ValueError(f"{images_path} has {n_images} images but "
                       f"{labels_path} has {n_labels} labels")
    if n_images == 0:
      raise ValueError(f"{images_path} holds no images (its header says 0); "
                       f"is it the right file?")
    splits.append(_mnist_split(read_idx(images_path, IMAGES_MAGIC, limit),
                               read_idx(labels_path, LABELS_MAGIC, limit),
                               images_path, labels_path))
  train, test = splits
  if train.image_shape != test.image_shape:
    raise ValueError(f"training images are {train.image_shape} but test "
                     f"images are {test.image_shape}")
  return train, test


def load_mnist1d(seed: int = 42) -> tuple[data_lib.Dataset, data_lib.Dataset]:
  """Generates MNIST-1D with the ``mnist1d`` package (nothing is downloaded).

  Uses the package's generator ``mnist1d.data.make_dataset`` with its default
  arguments (5,000 examples, 40 values each, ``train_split=0.8``), so
  ``seed=42``, the package's default, gives the standard data set. The
  package seeds NumPy's and Python's global RNGs; their states are restored
  afterwards, so the caller's global random state is unchanged.

  Args:
    seed: the generator's seed.

  Returns:
    ``(train, test)``: 4,000 and 1,000 examples named ``"mnist1d"``, ``x``
    float32 ``(n, 40)`` (the package centres and scales it to unit variance),
    ``y`` int32 digits 0-9.

  Raises:
    MissingPackageError: ``mnist1d`` is not installed.
  """
  try:
    # pylint: disable-next=g-import-not-at-top
    from mnist1d import data as mnist1d_data
  except ImportError:
    raise MissingPackageError(
        "MNIST-1D needs the mnist1d package: pip install mnist1d") from None
  args = mnist1d_data.get_dataset_args()
  args.seed = int(seed)
  np_state, py_state = np.random.get_state(), random.getstate()
  try:
    raw = mnist1d_data.make_dataset(args)
  finally:
    np.random.set_state(np_state)
    random.setstate(py_state)
  make = lambda x, y: data_lib.Dataset(
      "mnist1d", np.asarray(x, np.float32), np.asarray(y, np.int32),
      data_lib.CLASSIFICATION, NUM_CLASSES, class_names=DIGITS)
  return make(raw["x"], raw["y"]), make(raw["x_test"], raw["y_test"])
