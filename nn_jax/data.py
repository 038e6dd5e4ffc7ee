"""Embedded and generated data sets, splits, and targets encoded for a loss.

Embedded (no download): ``digits`` (scikit-learn's 8x8 handwritten digits,
1,797 images, pixels scaled to [0, 1]) and ``iris`` (150 flowers, 3 classes).
Generated: ``xor`` (the 4 points of the XOR truth table), ``moons`` and
``circles`` (2-D, 2 classes, from scikit-learn's generators with a seed),
``spiral`` (interleaved spiral arms, one per class) and ``blobs``
(overlapping Gaussian classes around the unit circle), 2-D with any number
of classes. Shipped with the package: ``vowels`` (Peterson & Barney's
formants F1 and F2 of 10 vowels, in Hz; see :mod:`nn_jax.vowels`) and
``chile`` (a 1988 survey's voting intentions from nominal, ordinal and
numeric columns, encoded by their default codes; see :mod:`nn_jax.chile`).
Generated regression sets (x uniform on [0, 1], Gaussian noise of std
``noise`` on every target): ``sine`` (one output, y = sin(2 pi x)) and
``lissajous`` (two outputs, y = (sin(2 pi x), sin(4 pi x)), a figure eight
in the plane); :func:`truth` gives their noise-free functions.
"""

import functools
import hashlib
import math
import numbers
import os
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from nn_jax import losses as losses_lib

CLASSIFICATION = "classification"
REGRESSION = "regression"
NAMES = ("digits", "iris", "xor", "moons", "circles", "spiral", "blobs",
         "vowels", "sine", "lissajous", "chile")
# The built-in sets of 2-D inputs: a network classifying them draws its
# decision regions.
PLANAR = ("xor", "moons", "circles", "spiral", "blobs", "vowels")
# The noise of each generated set that has one, by default.
NOISE = {"moons": 0.2, "circles": 0.1, "spiral": 0.2, "blobs": 0.45,
         "sine": 0.1, "lissajous": 0.1}


class Dataset(NamedTuple):
  """Features and targets of one data set (NumPy arrays).

  Attributes:
    name: the data set's name.
    x: features, float32, shape ``(n, n_features)``.
    y: int class labels ``(n,)`` for classification, float32 ``(n, k)`` for
      regression.
    task: ``"classification"`` or ``"regression"``.
    num_classes: number of classes (0 for regression).
    image_shape: ``(height, width)`` when the features are image pixels.
    class_names: the name of each class, where the data set has them.
  """
  name: str
  x: np.ndarray
  y: np.ndarray
  task: str
  num_classes: int
  image_shape: Optional[tuple] = None
  class_names: tuple = ()

  @property
  def size(self) -> int:
    return self.x.shape[0]

  def take(self, idx: np.ndarray) -> "Dataset":
    """The subset at ``idx``."""
    return self._replace(x=self.x[idx], y=self.y[idx])


def read_shipped(path: str, sha256: str, what: str) -> bytes:
  """The bytes of a data file shipped with the package, after checking
  that their SHA-256 is ``sha256`` (ValueError naming ``what`` if not)."""
  with open(path, "rb") as f:
    raw = f.read()
  digest = hashlib.sha256(raw).hexdigest()
  if digest != sha256:
    raise ValueError(f"{path}: SHA-256 {digest} is not {what}'s {sha256}; "
                     f"reinstall the package")
  return raw


def classification(name: str, x, y, image_shape=None,
                   names=None) -> Dataset:
  """A classification Dataset with labels relabelled to 0..k-1; given
  ``names`` (indexed by the original labels), class i is named after its
  original label c as ``names[c]``."""
  classes, labels = np.unique(np.asarray(y), return_inverse=True)
  return Dataset(name, np.asarray(x, np.float32), labels.astype(np.int32),
                 CLASSIFICATION, len(classes), image_shape, () if names is None
                 else tuple(str(names[c]) for c in classes))


def class_names(ds: Dataset) -> list:
  """A classification data set's class names, label i's at i (``str(i)``
  where it has none); empty for regression."""
  if ds.task != CLASSIFICATION:
    return []
  return list(ds.class_names) or [str(i) for i in range(ds.num_classes)]


def load(name: str, *, seed: int = 0, n_samples: int = 500,
         num_classes: int = 3, noise: Optional[float] = None) -> Dataset:
  """Loads an embedded or generated data set by name (one of ``NAMES``).

  Args:
    name: the data set.
    seed: seed of the generated sets (``moons``, ``circles``, ``spiral``,
      ``blobs``, ``sine``, ``lissajous``).
    n_samples: size of the generated sets (``spiral``: a multiple of
      ``num_classes``, rounded down).
    num_classes: classes of ``spiral`` and ``blobs``.
    noise: of the generated sets (None: ``NOISE``): the std of each point's
      Gaussian noise (``moons``, ``circles``), of each point's angle in
      radians (``spiral``), of each class around its centre (``blobs``), of
      the noise added to each target (``sine``, ``lissajous``).
  """
  if name == "digits":
    x, y, _ = _embedded("digits")
    return classification(name, x / 16.0, y, (8, 8),
                          names=[str(c) for c in range(10)])
  if name == "iris":
    x, y, names = _embedded("iris")
    return classification(name, x, y, names=names)
  if name == "vowels":   # F1, F2 in Hz of every speaker (nn_jax.vowels)
    from nn_jax import vowels  # pylint: disable=g-import-not-at-top
    return vowels.load()[0]
  if name == "chile":   # every row, encoded by their default codes
    from nn_jax import chile  # pylint: disable=g-import-not-at-top
    return chile.load()[0]
  if name == "xor":
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return classification(name, x, np.array([0, 1, 1, 0]))
  if name not in NOISE:
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(NAMES)}")
  noise = NOISE[name] if noise is None else noise
  if not noise >= 0:
    raise ValueError(f"noise must be >= 0; got {noise}")
  if name in _TRUTH:
    x = np.random.default_rng(seed).uniform(0, 1, (n_samples, 1))
    y = _TRUTH[name](x)
    y = y + noise * np.random.default_rng([seed, 1]).normal(size=y.shape)
    return Dataset(name, x.astype(np.float32), y.astype(np.float32),
                   REGRESSION, 0)
  if name in ("moons", "circles"):
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    if name == "moons":
      x, y = datasets.make_moons(n_samples, noise=noise, random_state=seed)
    else:
      x, y = datasets.make_circles(n_samples, noise=noise, factor=0.5,
                                   random_state=seed)
    return classification(name, x, y)
  if num_classes < 2 or n_samples < num_classes:
    raise ValueError(f"{name} needs num_classes >= 2 and n_samples >= "
                     f"num_classes; got {num_classes} and {n_samples}")
  make = spiral if name == "spiral" else blobs
  return classification(name, *make(n_samples, num_classes, noise, seed))


def _embedded(name: str):
  """``(x, labels, class names or None)`` of scikit-learn's embedded
  ``digits`` or ``iris``, read from the files scikit-learn ships as its own
  loaders read them (float64 features, int labels; iris's class names from
  its header), without importing scikit-learn (a second of a short run's
  start); through its loaders if the files are not where expected."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.find_spec("sklearn")
  folder = os.path.join(os.path.dirname(spec.origin) if spec and spec.origin
                        else "", "datasets", "data")
  try:
    if name == "digits":   # 64 pixels and the label per row, no header
      table = np.loadtxt(os.path.join(folder, "digits.csv.gz"), delimiter=",")
      return table[:, :-1], table[:, -1].astype(int), None
    # iris.csv: a header (rows, features, class names), then the rows
    path = os.path.join(folder, "iris.csv")
    with open(path) as f:
      names = np.array(f.readline().strip().split(",")[2:])
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1].astype(int), names
  except OSError:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    d = getattr(datasets, f"load_{name}")()
    return d.data, d.target, getattr(d, "target_names", None)


_TRUTH = {
    "sine": lambda x: np.sin(2 * np.pi * x),
    "lissajous": lambda x: np.concatenate(
        [np.sin(2 * np.pi * x), np.sin(4 * np.pi * x)], 1),
}


def truth(name: str):
  """The noise-free function of a generated regression set, ``x (m, 1) ->
  y (m, k)`` in NumPy (float64), or None for any other data set."""
  return _TRUTH.get(name)


def spiral(n: int, classes: int, noise: float, seed: int):
  """``(x, labels)``: ``classes`` interleaved spiral arms of ``n // classes``
  points each, each point's angle perturbed by N(0, ``noise``)."""
  rng = np.random.default_rng(seed)
  per = n // classes
  r = np.tile(np.linspace(0.05, 1.0, per), classes)
  arm = np.repeat(np.arange(classes), per)
  t = 4 * r + arm * 2 * np.pi / classes + rng.normal(0, noise, per * classes)
  return np.stack([r * np.sin(t), r * np.cos(t)], 1), arm


def blobs(n: int, classes: int, noise: float, seed: int):
  """``(x, labels)``: ``n`` points of Gaussian classes of std ``noise``
  around centres on the unit circle."""
  rng = np.random.default_rng(seed)
  label = np.arange(n) % classes
  angle = 2 * np.pi * label / classes
  centre = np.stack([np.cos(angle), np.sin(angle)], 1)
  return centre + noise * rng.normal(size=(n, 2)), label


class MarginData(NamedTuple):
  """What :func:`margin_separable` returns.

  Attributes:
    x: ``(n, d)`` float32 points in ``[-1, 1]^d``.
    y: ``(n,)`` int32 labels, 1 where ``u . (1, x) > 0``.
    u: ``(d + 1,)`` float64 unit vector, bias first, that separates them.
    margin: ``min_i |u . (1, x_i)|`` in float64 over the float32 points:
      the margin asked for, up to the points' rounding to float32.
  """
  x: np.ndarray
  y: np.ndarray
  u: np.ndarray
  margin: float


def margin_separable(n: int, d: int, margin: float, seed: int) -> MarginData:
  """Linearly separable points with a known margin in the augmented space.

  A unit vector ``u = (b, v) / sqrt(1 + b^2)`` (``v`` a random unit
  vector, the offset ``b`` uniform in [-0.25, 0.25]) fixes a hyperplane
  through the origin of the augmented inputs ``(1, x)``. A tenth of the
  points (at least 2, half of each class) lie on the margin, drawn uniform
  in ``[-1, 1]^d`` and moved along ``v`` to ``u . (1, x) = +-margin``
  (those that leave the cube are drawn again); the others are drawn
  uniform in the cube, those with ``|u . (1, x)| < margin`` dropped. So
  ``u`` separates the points with exactly ``margin`` (up to float32
  rounding). The widest margin (:func:`nn_jax.separability.max_margin`)
  is at least that, and equal to it when the points on the margin surround
  ``margin u`` (many more of them than ``d + 1``: with ``n = 200`` and
  ``d = 2``, equal to 4 digits; with few points or many dimensions it can
  be several times wider).

  Args:
    n: points, >= 2.
    d: input dimension, >= 1.
    margin: in (0, 0.5].
    seed: of the hyperplane and the points.

  Returns:
    A :class:`MarginData`.
  """
  if n < 2 or d < 1:
    raise ValueError(f"n must be >= 2 and d >= 1; got n={n}, d={d}")
  if not 0 < margin <= 0.5:
    raise ValueError(f"margin must be in (0, 0.5]; got {margin}")
  rng = np.random.default_rng(seed)
  v = rng.normal(size=d)
  v = v / np.linalg.norm(v)
  b = rng.uniform(-0.25, 0.25)
  u = np.concatenate([[b], v]) / np.sqrt(1 + b * b)
  z_of = lambda x: u[0] + x.astype(np.float64) @ u[1:]
  on_margin = max(2, n // 10)
  side = np.where(np.arange(on_margin) % 2 == 0, margin, -margin)
  edge = np.empty((0, d), np.float32)
  while len(edge) < on_margin:
    x = rng.uniform(-1, 1, (on_margin, d))
    want = side[len(edge):][:on_margin]
    x = x[:len(want)]
    # Along v, z changes by t / sqrt(1 + b^2) per unit t.
    x = x + ((want - z_of(x)) * np.sqrt(1 + b * b))[:, None] * v
    inside = np.all(np.abs(x) <= 1, axis=1)
    edge = np.concatenate([edge, x[inside].astype(np.float32)])
  kept = [edge]
  while sum(len(k) for k in kept) < n:
    x = rng.uniform(-1, 1, (4 * n, d)).astype(np.float32)
    kept.append(x[np.abs(z_of(x)) >= margin])
  x = np.concatenate(kept)[:n]
  z = z_of(x)
  return MarginData(x, (z > 0).astype(np.int32), u, float(np.abs(z).min()))


def _rounds(n: int) -> tuple[int, int]:
  """``(k, rounds)`` of :func:`permutation` of ``n``: the bits of a
  position, and sorting rounds until the random bits number at least
  ``3 k``; ``rounds`` is 0 where ``n > 2^24`` leaves too few random bits
  (``jax.random.permutation`` then)."""
  n = int(n)
  if n < 0:
    raise ValueError(f"n must be >= 0; got {n}")
  k = max(1, (n - 1).bit_length())
  return k, (-(-3 * k // (32 - k)) if 32 - k >= 8 else 0)


@functools.partial(jax.jit, static_argnums=1)
def permutation(key: jax.Array, n: int) -> jax.Array:
  """A random permutation of ``0 .. n-1`` (int32); every random order in
  nn_jax (splits, each epoch's shuffle) comes from here.

  Each round draws 32 random bits per position, keeps the high ones, puts
  the position in the low ``k = ceil(log2 n)`` bits and sorts these single
  uint32 words: XLA sorts one array of words faster than the key-value
  pairs of ``jax.random.permutation``. Positions whose random bits tie
  in a round keep their order from the round before, so there are rounds
  until the random bits number at least ``3 k``, as in
  ``jax.random.permutation``. Jittable; ``n`` is static.
  :func:`host_permutation` computes the same on the host.
  """
  k, rounds = _rounds(n)
  if not rounds:
    return jax.random.permutation(key, n).astype(jnp.int32)
  low = jnp.uint32((1 << k) - 1)
  positions = jnp.arange(n, dtype=jnp.uint32)
  order = positions
  for round_key in jax.random.split(key, rounds):
    bits = jax.random.bits(round_key, (n,), jnp.uint32)
    order = order[jnp.sort((bits & ~low) | positions) & low]
  return order.astype(jnp.int32)


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(key: tuple, x0: np.ndarray, x1: np.ndarray) -> tuple:
  """The Threefry-2x32 hash (20 rounds, JAX's) of the uint32 counter
  pairs ``(x0, x1)`` under ``key`` (two ints), computed in place."""
  ks = (key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA)
  x0 += np.uint32(ks[0])
  x1 += np.uint32(ks[1])
  for i in range(5):
    for r in _THREEFRY_ROTATIONS[i % 2]:
      x0 += x1
      x1[:] = (x1 << r) | (x1 >> (32 - r))
      x1 ^= x0
    x0 += np.uint32(ks[(i + 1) % 3])
    x1 += np.uint32((ks[(i + 2) % 3] + i + 1) & 0xFFFFFFFF)
  return x0, x1


def _host_hash(key: tuple, n: int) -> tuple:
  """Threefry of the counters ``(0, i)``, ``i < n``: what JAX's
  ``random.split(key, n)`` (the pairs) and ``random.bits(key, (n,))``
  (their xor) draw from, with ``jax_threefry_partitionable``."""
  return _threefry2x32(key, np.zeros(n, np.uint32),
                       np.arange(n, dtype=np.uint32))


def _on_host(key) -> Optional[tuple]:
  """``key`` as two ints where the host draws JAX's bits (a raw
  Threefry key, ``jax_threefry_partitionable`` on, not traced: a value the
  host has), else None."""
  if (isinstance(key, jax.core.Tracer)
      or not jax.config.jax_threefry_partitionable
      or jax.config.jax_default_prng_impl != "threefry2x32"
      or getattr(key, "dtype", None) != np.uint32   # JAX's raw keys only
      or np.shape(key) != (2,)):
    return None
  return tuple(int(v) for v in np.asarray(key, np.uint32))


def draws_on_host(key) -> bool:
  """Whether the host draws ``key``'s random bits as JAX would (the
  ``host_*`` functions; they fall back to JAX otherwise)."""
  return _on_host(key) is not None


def host_key(seed: int) -> jax.Array:
  """``jax.random.PRNGKey(seed)``, bit for bit, made by NumPy (uint32
  ``(2,)``: Threefry's key of a seed in ``[0, 2^32)``) where JAX's PRNG is
  Threefry: JAX's own compiles a program, some 40 MiB of memory and tens
  of milliseconds, for two words. Other seeds and PRNGs: JAX's."""
  if (jax.config.jax_default_prng_impl == "threefry2x32"
      and isinstance(seed, (int, np.integer)) and 0 <= seed < 2**32):
    return np.array([0, seed], np.uint32)
  return jax.random.PRNGKey(seed)


def host_split(key: jax.Array, num: int) -> np.ndarray:
  """``jax.random.split(key, num)``, bit for bit, computed by NumPy (uint32
  ``(num, 2)``); JAX's where :func:`host_permutation` falls back."""
  pair = _on_host(key)
  if pair is None:
    return np.asarray(jax.random.split(key, num))
  return np.stack(_host_hash(pair, num), 1)


def host_bits(key: jax.Array, shape: tuple,
              width: int = 32) -> Optional[np.ndarray]:
  """``jax.random.bits(key, shape, uint<width>)`` (``width`` 32 or 64), bit
  for bit, computed by NumPy; None where JAX draws its bits otherwise (see
  :func:`host_permutation`) or the shape holds ``2^32`` elements or more."""
  pair, n = _on_host(key), math.prod(shape)
  if pair is None or n >= 2**32 or width not in (32, 64):
    return None
  x0, x1 = _host_hash(pair, n)
  if width == 32:
    return (x0 ^ x1).reshape(shape)
  return ((x0.astype(np.uint64) << np.uint64(32)) | x1).reshape(shape)


def host_permutation(key: jax.Array, n: int) -> np.ndarray:
  """:func:`permutation` ``(key, n)``, bit for bit, computed by NumPy on
  the host: no XLA program to compile and run, and so none of compiling's
  time and memory, for the splits of a data set before training. Falls
  back to :func:`permutation` where JAX draws its random bits otherwise
  (a key of another PRNG, ``jax_threefry_partitionable`` off) or ``n >
  2^24``."""
  k, rounds = _rounds(n)
  pair = _on_host(key)
  if not rounds or pair is None:
    return np.asarray(permutation(key, n))
  low = np.uint32((1 << k) - 1)
  positions = np.arange(n, dtype=np.uint32)
  order = positions
  for round_key in host_split(np.asarray(pair, np.uint32), rounds):
    words = np.bitwise_xor(*_host_hash(tuple(map(int, round_key)), n))
    words &= ~low
    words |= positions
    words.sort()
    order = order[words & low]
  return order.astype(np.int32)


def release_freed_memory() -> None:
  """Hands the memory freed so far back to the operating system where the
  C library is glibc (a no-op elsewhere). Its heap keeps freed blocks (of
  XLA's compiling, of pyarrow's reading, of NumPy arrays below its mmap
  threshold, which rises as large arrays are freed), while large arrays
  made next are mapped anew beside them: without this, the freed blocks of
  one step of loading a large data set count again in the next one's
  memory (30 to 60 MiB each of a 900,000-row CSV file's)."""
  import ctypes  # pylint: disable=g-import-not-at-top
  try:
    ctypes.CDLL(None).malloc_trim(0)
  except AttributeError:   # not glibc
    pass


def split_order(n: int, key: Optional[jax.Array],
                fractions: tuple[float, ...]) -> tuple[np.ndarray, list]:
  """``(order, bounds)``: part ``i`` of :func:`split` of ``n`` examples is
  examples ``order[bounds[i]:bounds[i + 1]]``, the rest last."""
  if any(f < 0 for f in fractions) or sum(fractions) >= 1:
    raise ValueError(f"split fractions must be >= 0 and sum to less than 1; "
                     f"got {fractions}")
  sizes = [int(round(f * n)) for f in fractions]
  if sum(sizes) > n:
    raise ValueError(f"split fractions {fractions} of {n} examples "
                     f"round to parts of {sizes}, more than there are")
  starts = np.cumsum([0, *sizes])
  if key is None:   # the parts from the end, each in file order, then the rest
    ends = n - starts
    order = np.concatenate([np.arange(end - size, end)
                            for size, end in zip(sizes, ends)]
                           + [np.arange(ends[-1])])
  else:
    order = host_permutation(key, n)
    release_freed_memory()   # its temporaries'
  return order, [*starts.tolist(), n]


def parts(ds: Dataset, bounds: list) -> list[Dataset]:
  """The examples ``bounds[i]:bounds[i + 1]`` of ``ds``, each part a view
  of its arrays (no copy)."""
  return [ds.take(slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def split(ds: Dataset, key: Optional[jax.Array],
          fractions: tuple[float, ...]) -> list[Dataset]:
  """Splits ``ds`` into parts of the given fractions plus the rest.

  ``split(ds, key, (0.2, 0.1))`` returns ``[part_20%, part_10%, rest_70%]``.
  Each part gets ``round(fraction * n)`` examples, drawn at random with a
  key. With ``key=None`` the parts are the last examples in file order: the
  first part is the last 20%, the second the 10% before it, the rest the
  first 70% (so a validation part is the end of a training file, as in the
  MNIST split of Nielsen's book). The order is :func:`split_order`'s.
  """
  order, bounds = split_order(ds.size, key, fractions)
  return [ds.take(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def check_loss_fits(loss: losses_lib.Loss, ds: Dataset) -> None:
  """Raises ValueError (naming the losses that fit) if ``loss`` can't fit ``ds``.

  Classification needs at least two classes and takes softmax or sigmoid
  outputs (a single sigmoid unit for two classes, one per class otherwise);
  regression takes linear outputs.
  """
  if ds.task == REGRESSION:
    ok_tasks = (losses_lib.REGRESSION,)
  else:
    ok_tasks = (losses_lib.MULTICLASS, losses_lib.BINARY)
    if ds.num_classes < 2:
      raise ValueError(f"classification needs at least 2 classes; data set "
                       f"{ds.name!r} has {ds.num_classes}")
  if loss.task not in ok_tasks:
    fits = [n for n in losses_lib.NAMES
            if losses_lib.get(n).task in ok_tasks]
    what = (f"the {ds.task} targets y" if ds.name == "y"   # an estimator's
            else f"{ds.task} data set {ds.name!r}")
    raise ValueError(f"loss {loss.name!r} does not fit {what}; use one of: "
                     f"{', '.join(fits)}")


def num_outputs(loss: losses_lib.Loss, ds: Dataset) -> int:
  """Output units the network needs for ``ds`` under ``loss``."""
  if loss.task == losses_lib.BINARY and ds.num_classes == 2:
    return 1
  if loss.task in (losses_lib.MULTICLASS, losses_lib.BINARY):
    return ds.num_classes
  return ds.y.shape[1]


def targets(loss: losses_lib.Loss, ds: Dataset) -> np.ndarray:
  """``ds.y`` encoded for ``loss``: one-hot rows, a 0/1 column, or as is."""
  if ds.task == CLASSIFICATION and ds.size:
    y = np.asarray(ds.y)
    if y.ndim != 1 or y.min() < 0 or y.max() >= ds.num_classes or np.any(
        y != np.round(y)):
      raise ValueError(f"labels of {ds.name!r} must be integers 0.."
                       f"{ds.num_classes - 1}; found values in "
                       f"[{y.min()}, {y.max()}]")
  if loss.task == losses_lib.BINARY and ds.num_classes == 2:
    return ds.y.astype(np.float32)[:, None]
  if loss.task in (losses_lib.MULTICLASS, losses_lib.BINARY):
    return np.eye(ds.num_classes, dtype=np.float32)[ds.y]
  return ds.y.astype(np.float32)


def select_classes(ds: Dataset, classes) -> Dataset:
  """Keeps the examples of ``classes`` (labels of ``ds``), relabelled 0, 1, ...
  in the order given: ``select_classes(digits, [3, 8])`` is 3 vs. 8."""
  try:
    # "3" or 3, not 0.5 (int() would make that 0).
    labels = [int(c) for c in classes]
    if any(not isinstance(c, str) and c != l for c, l in zip(classes, labels)):
      raise ValueError
  except ValueError:
    raise ValueError(f"classes must be integer labels; got "
                     f"{','.join(map(str, classes))}") from None
  classes = labels
  if (len(classes) < 2 or len(set(classes)) != len(classes)
      or any(not 0 <= c < ds.num_classes for c in classes)):
    raise ValueError(f"classes must be at least two distinct labels in 0.."
                     f"{ds.num_classes - 1}, each once; got {classes}")
  keep = np.isin(ds.y, classes)
  relabel = np.zeros(ds.num_classes, np.int32)
  relabel[classes] = np.arange(len(classes))
  return ds._replace(x=ds.x[keep], y=relabel[ds.y[keep]],
                     num_classes=len(classes), class_names=tuple(
                         ds.class_names[c] for c in classes
                         if ds.class_names))


def one_vs_rest(ds: Dataset, positive: int) -> Dataset:
  """Relabels ``ds`` as a binary problem: class ``positive`` -> 1, others -> 0."""
  if ds.task != CLASSIFICATION:
    raise ValueError(f"positive_class needs classes; {ds.name!r} is a "
                     f"{ds.task} data set")
  if (isinstance(positive, bool) or not isinstance(positive, numbers.Integral)
      or not 0 <= positive < ds.num_classes):
    raise ValueError(f"positive_class must be a label in 0.."
                     f"{ds.num_classes - 1}; got {positive}")
  names = ds.class_names and (f"not {ds.class_names[positive]}",
                               ds.class_names[positive])
  return ds._replace(y=(ds.y == positive).astype(np.int32), num_classes=2,
                     class_names=names)
