"""MNIST IDX reading on tiny files the tests write, downloads faked, MNIST-1D.

No test touches the network or needs the real MNIST files.
"""

import gzip
import hashlib
import os
import random
import struct
import urllib.error

import numpy as np
import pytest

from nn_jax import mnist


def idx_bytes(array: np.ndarray) -> bytes:
  """An IDX file of unsigned bytes holding ``array``."""
  array = np.asarray(array, np.uint8)
  return (struct.pack(">HBB", 0, 0x08, array.ndim)
          + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def tiny_mnist(seed=0, n_train=5, n_test=3, side=6):
  rng = np.random.default_rng(seed)
  return {
      "train_images": rng.integers(0, 256, (n_train, side, side), np.uint8),
      "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
      "test_images": rng.integers(0, 256, (n_test, side, side), np.uint8),
      "test_labels": rng.integers(0, 10, n_test).astype(np.uint8),
  }


def write_files(folder, arrays, compress):
  for key, name in mnist.FILES.items():
    blob = idx_bytes(arrays[key])
    if compress:
      (folder / (name + ".gz")).write_bytes(gzip.compress(blob))
    else:
      (folder / name).write_bytes(blob)


def test_every_pixel_value_is_its_float32_over_255(tmp_path):
  # The published runs were computed from astype(float32) / 255: each of
  # the 256 values must keep those bits.
  arrays = tiny_mnist(n_train=4, side=8)
  arrays["train_images"] = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
  write_files(tmp_path, arrays, compress=False)
  train, _ = mnist.load_mnist(str(tmp_path), download_missing=False)
  expected = np.arange(256).astype(np.float32) / 255.0
  assert train.x.dtype == np.float32
  np.testing.assert_array_equal(train.x.reshape(-1), expected)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
  def offline(url, timeout=60.0):
    raise urllib.error.URLError(f"no network in tests ({url})")
  monkeypatch.setattr(mnist, "fetch_url", offline)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_gzip_and_raw(tmp_path, compress):
  arrays = tiny_mnist()
  write_files(tmp_path, arrays, compress)
  train, test = mnist.load_mnist(str(tmp_path), download_missing=False)
  assert train.x.shape == (5, 36) and test.x.shape == (3, 36)
  assert train.x.dtype == np.float32 and train.y.dtype == np.int32
  np.testing.assert_allclose(train.x, arrays["train_images"].reshape(5, -1)
                             / 255.0)
  np.testing.assert_array_equal(test.y, arrays["test_labels"])
  assert train.image_shape == (6, 6) and train.name == "mnist"
  assert train.num_classes == 10 and train.task == "classification"
  assert 0 <= train.x.min() and train.x.max() <= 1


def test_limit_keeps_the_first_examples(tmp_path):
  arrays = tiny_mnist()
  write_files(tmp_path, arrays, compress=True)
  train, test = mnist.load_mnist(str(tmp_path), limit=2)
  assert train.size == 2 and test.size == 2
  np.testing.assert_array_equal(train.y, arrays["train_labels"][:2])


def test_read_idx_other_types(tmp_path):
  path = tmp_path / "f.idx"
  values = np.arange(6, dtype=">i4").reshape(2, 3)
  path.write_bytes(struct.pack(">HBB", 0, 0x0C, 2) + struct.pack(">2I", 2, 3)
                   + values.tobytes())
  out = mnist.read_idx(str(path))
  np.testing.assert_array_equal(out, values)
  assert out.dtype == np.int32 and out.dtype.isnative


def test_wrong_magic_number(tmp_path):
  arrays = tiny_mnist()
  write_files(tmp_path, arrays, compress=False)
  # Labels where images belong: magic 2049 instead of 2051.
  (tmp_path / "train-images-idx3-ubyte").write_bytes(
      idx_bytes(arrays["train_labels"]))
  with pytest.raises(ValueError, match=r"train-images-idx3-ubyte has magic "
                     r"number 2049 \(0x00000801\) but 2051"):
    mnist.load_mnist(str(tmp_path))
  (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04" + bytes(40))
  with pytest.raises(ValueError, match="is not an IDX file"):
    mnist.load_mnist(str(tmp_path))


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_file(tmp_path, compress):
  arrays = tiny_mnist()
  write_files(tmp_path, arrays, compress=False)
  blob = idx_bytes(arrays["test_images"])[:-10]
  name = "t10k-images-idx3-ubyte"
  os.remove(tmp_path / name)
  if compress:
    (tmp_path / (name + ".gz")).write_bytes(gzip.compress(blob))
  else:
    (tmp_path / name).write_bytes(blob)
  with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte(\.gz)? is "
                     r"truncated: expected 108 bytes of data, found 98"):
    mnist.load_mnist(str(tmp_path))


def test_header_announcing_more_than_memory_is_a_truncated_file(tmp_path):
  # 2^31 images of 28 x 28: the sizes are not allocated before reading.
  path = tmp_path / "huge"
  path.write_bytes(struct.pack(">HBB3I", 0, 0x08, 3, 2**31, 28, 28) + b"\1")
  with pytest.raises(ValueError, match=f"huge is truncated: expected "
                     f"{2**31 * 28 * 28} bytes of data, found 1"):
    mnist.read_idx(str(path))
  # Sizes whose product overflows 64 bits.
  path.write_bytes(struct.pack(">HBB2I", 0, 0x08, 2, 2**32 - 1, 2**32 - 1))
  with pytest.raises(ValueError, match="huge is truncated"):
    mnist.read_idx(str(path))


def test_corrupt_gzip_and_trailing_bytes(tmp_path):
  arrays = tiny_mnist()
  write_files(tmp_path, arrays, compress=True)
  path = tmp_path / "train-labels-idx1-ubyte.gz"
  blob = path.read_bytes()
  path.write_bytes(blob[:len(blob) // 2])  # cut inside the deflate stream
  with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz is "
                     r"(corrupt|truncated)"):
    mnist.load_mnist(str(tmp_path))
  path.write_bytes(gzip.compress(idx_bytes(arrays["train_labels"]) + b"\0"))
  with pytest.raises(ValueError, match="has bytes after"):
    mnist.load_mnist(str(tmp_path))


def test_mismatched_counts_and_bad_labels(tmp_path):
  arrays = tiny_mnist()
  arrays["train_labels"] = arrays["train_labels"][:4]
  write_files(tmp_path, arrays, compress=False)
  with pytest.raises(ValueError, match="has 5 images but .* has 4 labels"):
    mnist.load_mnist(str(tmp_path))
  # Also when a limit reads only the first examples of each file.
  with pytest.raises(ValueError, match="has 5 images but .* has 4 labels"):
    mnist.load_mnist(str(tmp_path), limit=2)
  arrays = tiny_mnist()
  arrays["test_labels"][1] = 12
  write_files(tmp_path, arrays, compress=False)
  with pytest.raises(ValueError, match="has label 12; MNIST labels are 0-9"):
    mnist.load_mnist(str(tmp_path))


def test_files_without_images(tmp_path):
  arrays = tiny_mnist()
  arrays["train_images"] = arrays["train_images"][:0]
  arrays["train_labels"] = arrays["train_labels"][:0]
  write_files(tmp_path, arrays, compress=False)
  with pytest.raises(ValueError, match="holds no images"):
    mnist.load_mnist(str(tmp_path))


@pytest.mark.parametrize("limit", [0, 2.7, "5", True])
def test_limit_must_be_a_positive_integer(tmp_path, limit):
  with pytest.raises(ValueError, match="limit must be an integer >= 1"):
    mnist.load_mnist(str(tmp_path), limit=limit)


def test_missing_files_without_download(tmp_path):
  with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\[.gz\] is not "
                     rf"in {tmp_path}"):
    mnist.load_mnist(str(tmp_path), download_missing=False)


def test_offline_error_says_where_to_put_the_files(tmp_path):
  folder = tmp_path / "cache"
  with pytest.raises(mnist.DownloadError) as info:
    mnist.load_mnist(str(folder))
  message = str(info.value)
  assert "could not download train-images-idx3-ubyte.gz" in message
  assert "no network in tests" in message
  assert f"into {folder}" in message and "--data_dir" in message
  for name in mnist.FILES.values():
    assert name in message
  assert isinstance(info.value, ValueError)  # one line from cli.run


def test_download_checks_the_checksum(tmp_path, monkeypatch):
  arrays = tiny_mnist()
  blobs = {name: idx_bytes(arrays[key]) for key, name in mnist.FILES.items()}
  monkeypatch.setattr(mnist, "SHA256", {
      name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()})
  urls = []

  def fake_fetch(url, timeout=60.0):
    urls.append(url)
    if url.startswith(mnist.MIRRORS[0]):
      raise urllib.error.URLError("first mirror down")
    return gzip.compress(blobs[os.path.basename(url)[:-len(".gz")]])

  monkeypatch.setattr(mnist, "fetch_url", fake_fetch)
  folder = tmp_path / "cache"
  train, test = mnist.load_mnist(str(folder))
  assert train.size == 5 and test.size == 3
  assert sorted(os.listdir(folder)) == sorted(
      n + ".gz" for n in mnist.FILES.values())
  assert len(urls) == 8  # each file: first mirror fails, second serves it

  # A file with the wrong contents is never kept.
  monkeypatch.setattr(mnist, "fetch_url",
                      lambda url, timeout=60.0: gzip.compress(b"junk"))
  with pytest.raises(mnist.DownloadError, match="checksum mismatch"):
    mnist.load_mnist(str(tmp_path / "other"))
  assert not os.listdir(tmp_path / "other")


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert mnist.default_data_dir() == str(tmp_path / "nn_jax" / "mnist")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  home_cache = str(tmp_path / "home" / ".cache" / "nn_jax" / "mnist")
  monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored
  assert mnist.default_data_dir() == home_cache
  monkeypatch.delenv("XDG_CACHE_HOME")
  assert mnist.default_data_dir() == home_cache


@pytest.mark.slow
def test_mnist1d():
  pytest.importorskip("mnist1d")
  state = np.random.get_state()[1].copy()
  py_state = random.getstate()
  train, test = mnist.load_mnist1d()
  assert train.x.shape == (4000, 40) and test.x.shape == (1000, 40)
  assert train.x.dtype == np.float32 and train.y.dtype == np.int32
  assert train.num_classes == 10 and train.name == "mnist1d"
  assert set(np.unique(train.y)) == set(range(10))
  np.testing.assert_array_equal(np.random.get_state()[1], state)
  assert random.getstate() == py_state
  again, _ = mnist.load_mnist1d(seed=42)
  np.testing.assert_array_equal(train.x, again.x)
  other, _ = mnist.load_mnist1d(seed=1)
  assert not np.array_equal(train.x, other.x)


def test_mnist1d_missing_package(monkeypatch):
  import builtins  # pylint: disable=g-import-not-at-top
  real_import = builtins.__import__

  def no_mnist1d(name, *args, **kwargs):
    if name.startswith("mnist1d"):
      raise ImportError("No module named 'mnist1d'")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_mnist1d)
  with pytest.raises(ImportError, match="pip install mnist1d"):
    mnist.load_mnist1d()


def test_images_of_no_pixels_have_no_input_features(tmp_path):
  # 0x0 images were reported as a layer-size error.
  write_files(tmp_path, tiny_mnist(side=0), compress=False)
  with pytest.raises(ValueError, match="train-images-idx3-ubyte has no input "
                     "features: its images are 0x0 pixels"):
    mnist.load_mnist(str(tmp_path), download_missing=False)
