"""Exact tests of linear separability, with certificates either way.

Points ``x_i`` with labels ``y_i`` in {0, 1} (signs ``s_i = 2 y_i - 1``) are
linearly separable iff some ``(w, b)`` has ``s_i (w . x_i + b) > 0`` for all i.
By Farkas' lemma (Gordan's theorem) exactly one of two things holds:

* a separating hyperplane ``(w, b)`` exists, or
* the convex hulls of the two classes intersect: weights ``lambda_i >= 0``
  with ``sum_i lambda_i = 1``, ``sum_i lambda_i s_i = 0`` and
  ``sum_i lambda_i s_i x_i = 0``. Then ``p = 2 sum_{s_i = 1} lambda_i x_i``
  is a convex combination of each class, and no hyperplane can put ``p`` on
  both sides.

:func:`linearly_separable` solves one labeling with two linear programs
(``scipy.optimize.linprog``, HiGHS) and returns whichever certificate exists,
checked in float64. :func:`threshold_labelings` and :func:`separable_many`
decide thousands of labelings of the same small set of integer points exactly
(integer arithmetic) by enumerating the vertices of the separability LP;
they are how every Boolean function of up to 4 inputs is classified at once.
"""

import itertools
import math
from typing import NamedTuple, Optional

import numpy as np
from scipy import optimize

from nn_jax import perceptron

# Relative tolerance of the float64 checks of LP certificates.
TOLERANCE = 1e-9
# Most candidate vertices :func:`threshold_labelings` will enumerate.
MAX_CANDIDATES = 5_000_000


class SeparabilityResult(NamedTuple):
  """What :func:`linearly_separable` returns.

  Attributes:
    separable: whether a hyperplane strictly separates the two classes.
    w: ``(n_features,)`` normal of a separating hyperplane (None if not
      separable); ``o = 1`` exactly where ``w . x + b > 0``.
    b: its offset (None if not separable).
    margin: its geometric margin ``min_i s_i (w . x_i + b) / ||w||`` (inf when
      all points have one label and ``w = 0``; None if not separable).
    weights: ``(n_examples,)`` the certificate ``lambda`` of non-separability
      (``lambda >= 0``, ``sum lambda = 1``, ``sum lambda s = 0``,
      ``sum lambda s x = 0``); None if separable.
    common_point: ``(n_features,)`` a point in both classes' convex hulls
      (None if separable).
  """
  separable: bool
  w: Optional[np.ndarray]
  b: Optional[float]
  margin: Optional[float]
  weights: Optional[np.ndarray]
  common_point: Optional[np.ndarray]


def _check_points(x, y):
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y)
  perceptron.check_shapes(x, y)
  if not np.all(np.isfinite(x)):
    raise ValueError("x contains NaN or infinite values")
  if not np.all((y == 0) | (y == 1)):
    raise ValueError(
        f"labels y must be 0 or 1; got values {np.unique(y)[:10].tolist()}")
  return x, y.astype(np.int64)


def _separating(x, s, w, b):
  """Whether ``(w, b)`` puts every point strictly on its side, with slack."""
  z = s * (x @ w + b)
  scale = max(1.0, float(np.max(np.abs(x) @ np.abs(w) + abs(b))))
  return bool(np.min(z) > TOLERANCE * scale)


def linearly_separable(x: np.ndarray, y: np.ndarray) -> SeparabilityResult:
  """Decides whether labeled points are linearly separable, with a certificate.

  First a margin LP: maximize ``t`` subject to ``s_i (w . x_i + b) >= t`` and
  ``-1 <= w_j <= 1`` (``b`` free). Its optimum is positive iff the data are
  separable; the hyperplane found is accepted only if a float64 check
  confirms strict separation. Otherwise a feasibility LP looks for the
  convex-combination certificate ``lambda`` (see the module docstring), which
  is also checked. Both LPs and checks work on the points centered and
  scaled into [-1, 1] (separability does not change under either), so the
  tolerance is relative to the points' spread, not absolute; the hyperplane
  returned is for the points as given. All points of one class are separable
  with ``w = 0``,
  ``b = +-1``; duplicate points with both labels are not (``lambda`` = 1/2 on
  the pair).

  Args:
    x: ``(n_examples, n_features)`` points.
    y: ``(n_examples,)`` labels, 0 or 1.

  Returns:
    A :class:`SeparabilityResult`.

  Raises:
    ValueError: for mismatched or empty shapes, non-finite points, or labels
      outside {0, 1}.
    ArithmeticError: if neither certificate survives the float64 check (data
      within floating-point tolerance of the separable/non-separable border).
  """
  x, y = _check_points(x, y)
  n, d = x.shape
  s = 2.0 * y - 1.0
  if np.all(y == y[0]):
    return SeparabilityResult(True, np.zeros(d), float(s[0]), math.inf,
                              None, None)
  raw = x
  center = (x.max(0) + x.min(0)) / 2
  spread = float(np.abs(x - center).max()) or 1.0
  x = (x - center) / spread
  # Variables (w_1..w_d, b, t); linprog minimizes, so the cost is -t.
  cost = np.zeros(d + 2)
  cost[-1] = -1.0
  a_ub = np.concatenate([-s[:, None] * x, -s[:, None], np.ones((n, 1))], 1)
  bounds = [(-1.0, 1.0)] * d + [(None, None), (None, None)]
  res = optimize.linprog(cost, A_ub=a_ub, b_ub=np.zeros(n), bounds=bounds,
                         method="highs")
  if res.status == 0 and -res.fun > 0:
    w, b = res.x[:d], float(res.x[d])
    if _separating(x, s, w, b):
      # w . (raw - center) / spread + b = (w / spread) . raw + b'.
      w, b = w / spread, b - float(w @ center) / spread
      margin = float(np.min(s * (raw @ w + b)) / np.linalg.norm(w))
      return SeparabilityResult(True, w, b, margin, None, None)
  # Certificate: lambda >= 0, sum lambda = 1, sum lambda s = 0, sum lambda s x = 0.
  a_eq = np.concatenate([np.ones((1, n)), s[None, :], (s[:, None] * x).T], 0)
  b_eq = np.zeros(d + 2)
  b_eq[0] = 1.0
  res = optimize.linprog(np.zeros(n), A_eq=a_eq, b_eq=b_eq,
                         bounds=[(0.0, None)] * n, method="highs")
  if res.status == 0:
    lam = np.clip(res.x, 0.0, None)
    lam = lam / lam.sum()
    residual = np.abs(a_eq @ lam - b_eq).max()
    if residual <= TOLERANCE:
      positive = s > 0
      point = lam[positive] @ raw[positive] / lam[positive].sum()
      return SeparabilityResult(False, None, None, None, lam, point)
  raise ArithmeticError(
      "linear separability is undecided within floating-point tolerance; "
      "rescale the data or use exact (integer) points with separable_many")


class Margin(NamedTuple):
  """What :func:`max_margin` returns: the margin in the augmented space.

  Attributes:
    u: ``(n_features + 1,)`` unit vector, bias first: the direction of the
      widest margin through the origin of the augmented inputs ``(1, x)``.
    margin: ``min_i s_i u . (1, x_i)``, in float64 for this ``u``.
    radius: ``max_i ||(1, x_i)||``.
  """
  u: np.ndarray
  margin: float
  radius: float


def augmented(x: np.ndarray) -> np.ndarray:
  """The inputs with the bias input first, ``(1, x_i)``, in float64."""
  x = np.asarray(x, np.float64)
  return np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)


def augmented_margin(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
  """``min_i s_i w . (1, x_i) / ||w||``: the margin of the weights ``w``
  (bias first) in the augmented space, negative if they misclassify."""
  x, y = _check_points(x, y)
  w = np.asarray(w, np.float64)
  if w.shape != (x.shape[1] + 1,) or not np.any(w):
    raise ValueError(f"w must be a non-zero vector of shape (n_features + "
                     f"1,) = ({x.shape[1] + 1},); got shape {w.shape}")
  return float(np.min((2.0 * y - 1.0) * (augmented(x) @ w))
               / np.linalg.norm(w))


def max_margin(x: np.ndarray, y: np.ndarray) -> Margin:
  """The widest margin of separable data in the augmented space.

  Novikoff's bound counts the perceptron's mistakes with ``R = max ||a_i||``
  and the margin ``gamma`` of a unit vector ``u`` through the origin of the
  augmented inputs ``a_i = (1, x_i)``: the bias is a weight like the others,
  so its part counts in ``||u|| = 1``. (This is not the margin of a
  support-vector machine, whose bias is free and unpenalized.) The widest
  such margin solves the quadratic program ``min ||v||^2`` subject to
  ``s_i v . a_i >= 1``, here by SLSQP from the hyperplane of
  :func:`linearly_separable`; ``u = v / ||v||``. The margin returned is
  recomputed in float64 for that ``u``: any unit vector's margin gives a
  valid bound, so the solver's tolerance can make it slightly smaller than
  the true widest margin, never larger than the margin ``u`` has.

  Args:
    x: ``(n_examples, n_features)`` points.
    y: ``(n_examples,)`` labels, 0 or 1.

  Returns:
    A :class:`Margin`.

  Raises:
    ValueError: for bad inputs, or data that are not linearly separable
      through the augmented origin (no positive margin).
  """
  x, y = _check_points(x, y)
  sep = linearly_separable(x, y)
  if not sep.separable:
    raise ValueError("the data are not linearly separable; they have no "
                     "margin (use linearly_separable for the certificate)")
  z = (2.0 * y - 1.0)[:, None] * augmented(x)
  v = np.concatenate([[sep.b], sep.w])
  v0 = v / np.min(z @ v)   # feasible: every s_i v . a_i >= 1
  res = optimize.minimize(
      lambda v: v @ v, v0, jac=lambda v: 2 * v, method="SLSQP",
      constraints=[{"type": "ineq", "fun": lambda v: z @ v - 1.0,
                    "jac": lambda v: z}],
      options={"ftol": 1e-15, "maxiter": 1000})
  candidates = [v0] + ([res.x] if np.all(np.isfinite(res.x)) else [])
  margins = [np.min(z @ c) / np.linalg.norm(c) for c in candidates]
  best = int(np.argmax(margins))
  u = candidates[best] / np.linalg.norm(candidates[best])
  return Margin(u, float(margins[best]),
                float(np.linalg.norm(augmented(x), axis=1).max()))


def boolean_cube(n: int) -> np.ndarray:
  """The ``2^n`` binary input vectors, row ``j`` holding the bits of ``j``.

  Args:
    n: number of inputs, >= 1.

  Returns:
    ``(2^n, n)`` int64 array; ``x[j, 0]`` is the most significant bit.
  """
  if n < 1:
    raise ValueError(f"n must be >= 1; got {n}")
  j = np.arange(2 ** n)
  return (j[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1


def boolean_functions(n: int) -> np.ndarray:
  """Truth tables of all ``2^(2^n)`` Boolean functions of ``n`` inputs.

  Function ``k`` maps input row ``j`` of :func:`boolean_cube` to bit ``j`` of
  ``k``; for ``n = 2``, AND is 8, OR 14, XOR 6 and NAND 7.

  Args:
    n: number of inputs, 1 to 4 (``2^16`` functions at most).

  Returns:
    ``(2^(2^n), 2^n)`` uint8 labels.
  """
  if not 1 <= n <= 4:
    raise ValueError(f"n must be between 1 and 4; got {n}")
  m = 2 ** n
  k = np.arange(2 ** m, dtype=np.int64)
  return ((k[:, None] >> np.arange(m)[None, :]) & 1).astype(np.uint8)


class Labelings(NamedTuple):
  """Every linearly separable labeling of a point set, with integer weights.

  Attributes:
    codes: ``(k,)`` sorted int64 codes, ``sum_i y_i 2^i``.
    labels: ``(k, n_examples)`` uint8 labels of each separable labeling.
    w: ``(k, n_features)`` int64 weights and ``b``: ``(k,)`` int64 offsets
      with ``s_i (w . x_i + b) >= 1`` for every point: exact certificates.
  """
  codes: np.ndarray
  labels: np.ndarray
  w: np.ndarray
  b: np.ndarray


def threshold_labelings(x: np.ndarray) -> Labelings:
  """All linearly separable labelings of integer points, exactly.

  With ``M = [1, x]`` of full column rank ``d + 1``, labeling ``s`` is
  separable iff the polyhedron ``P_s = {v : s_i (M v)_i >= 1}`` is non-empty.
  ``P_s`` contains no line, so if non-empty it has a vertex, where ``d + 1``
  linearly independent constraints ``B`` are tight: ``v = M_B^-1 s_B``.
  Conversely any ``v = M_B^-1 sigma`` (sigma in {-1, 1}^(d+1)) with
  ``|M v| >= 1`` elementwise separates the labeling ``sign(M v)``. So the
  separable labelings are exactly the sign patterns of those candidate
  vertices. Using the adjugate, ``u = adj(M_B) sigma = det(M_B) v`` is an
  integer vector and every test is an integer comparison, so the result is
  exact (adjugates are verified by ``M_B adj(M_B) = det(M_B) I``).

  Args:
    x: ``(n_examples, n_features)`` integer-valued points (at most 62, small
      coordinates) that affinely span their space.

  Returns:
    :class:`Labelings`, one row per separable labeling.

  Raises:
    ValueError: for non-integer, degenerate or too many points, or too many
      candidate vertices (more than ``MAX_CANDIDATES``).
  """
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(
        f"x must have shape (n_examples, n_features), both >= 1; got {x.shape}")
  if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
    raise ValueError("threshold_labelings needs integer-valued points x")
  if np.abs(x).max() > 2 ** 10 or x.shape[0] > 62:
    raise ValueError(
        f"threshold_labelings needs at most 62 points with |x| <= 1024; got "
        f"{x.shape[0]} points with max |x| = {np.abs(x).max()}")
  n, d = x.shape
  m = np.concatenate([np.ones((n, 1), np.int64), x.astype(np.int64)], 1)
  if np.linalg.matrix_rank(m.astype(np.float64)) != d + 1:
    raise ValueError(
        "the points must affinely span R^n_features (drop redundant columns)")
  num = math.comb(n, d + 1) * 2 ** (d + 1)
  if num > MAX_CANDIDATES:
    raise ValueError(
        f"{num} candidate vertices exceed MAX_CANDIDATES={MAX_CANDIDATES}; use "
        f"linearly_separable for each labeling instead")
  subsets = np.array(list(itertools.combinations(range(n), d + 1)))
  m_b = m[subsets]  # (C, d+1, d+1)
  det = np.round(np.linalg.det(m_b.astype(np.float64))).astype(np.int64)
  keep = det != 0
  m_b, det = m_b[keep], det[keep]
  adj = np.round(np.linalg.inv(m_b.astype(np.float64))
                 * det[:, None, None]).astype(np.int64)
  eye = np.eye(d + 1, dtype=np.int64)
  if not np.array_equal(m_b @ adj, det[:, None, None] * eye):
    raise ValueError("coordinates too large for exact adjugates")
  sigma = np.array(list(itertools.product((-1, 1), repeat=d + 1)), np.int64)
  # u[c, k] = adj_c sigma_k, the vertex times det; z = M u.
  u = np.einsum("cij,kj->cki", adj, sigma) * np.sign(det)[:, None, None]
  z = np.einsum("ni,cki->ckn", m, u)
  ok = np.all(np.abs(z) >= np.abs(det)[:, None, None], axis=-1)
  u, labels = u[ok], (z[ok] > 0).astype(np.uint8)
  codes = labels.astype(np.int64) @ (np.int64(1) << np.arange(n, dtype=np.int64))
  codes, first = np.unique(codes, return_index=True)
  return Labelings(codes, labels[first], u[first, 1:], u[first, 0])


class ManyResult(NamedTuple):
  """What :func:`separable_many` returns, one row per labeling.

  Attributes:
    separable: ``(k,)`` bool.
    w: ``(k, n_features)`` int64 separating weights (zeros if not separable).
    b: ``(k,)`` int64 offsets (zero if not separable).
  """
  separable: np.ndarray
  w: np.ndarray
  b: np.ndarray


def separable_many(x: np.ndarray, y: np.ndarray,
                   table: Optional[Labelings] = None) -> ManyResult:
  """Exactly decides separability of many labelings of the same integer points.

  Args:
    x: ``(n_examples, n_features)`` integer points (see
      :func:`threshold_labelings`).
    y: ``(k, n_examples)`` labelings, 0 or 1.
    table: ``threshold_labelings(x)``, if already computed.

  Returns:
    :class:`ManyResult`; where separable, ``(w, b)`` has
    ``s_i (w . x_i + b) >= 1`` on every point.
  """
  x = np.asarray(x)
  y = np.asarray(y)
  if y.ndim != 2 or x.ndim != 2 or y.shape[1] != x.shape[0]:
    raise ValueError(
        f"y must have shape (k, n_examples) with n_examples = x.shape[0]; got "
        f"x {x.shape} and y {y.shape}")
  if not np.all((y == 0) | (y == 1)):
    raise ValueError("labels y must be 0 or 1")
  table = threshold_labelings(x) if table is None else table
  codes = y.astype(np.int64) @ (np.int64(1) << np.arange(y.shape[1],
                                                         dtype=np.int64))
  idx = np.minimum(np.searchsorted(table.codes, codes), len(table.codes) - 1)
  found = table.codes[idx] == codes
  w = np.where(found[:, None], table.w[idx], 0)
  b = np.where(found, table.b[idx], 0)
  return ManyResult(found, w, b)
