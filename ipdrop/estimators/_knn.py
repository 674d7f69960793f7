"""k-nearest-neighbour MI estimators on :class:`scipy.spatial.cKDTree` (values in nats).

* :class:`KNNLabelMI` / :func:`knn_mi_labels` - Ross (PLoS ONE 9(2): e87357, 2014): I(Y;Z) for discrete
  labels Y and continuous Z. For sample i with label y_i, d_i is the distance to its k-th nearest neighbour
  among the N_{y_i} samples with the same label; m_i is the number of samples of *any* label within
  distance d_i (ties at d_i included, sample i excluded). Then

      I = psi(N) - <psi(N_{y_i})> + psi(k) - <psi(m_i)>.

* :class:`KSGMI` / :func:`ksg_mi` - Kraskov, Stoegbauer & Grassberger (Phys. Rev. E 69, 066138, 2004),
  algorithm 1, for continuous X and Y: eps_i is the max-norm distance in the joint space (the max of the
  two marginal max-norm distances) to the k-th neighbour; n_x(i), n_y(i) count the samples strictly closer
  than eps_i in each marginal space (sample i excluded). Then

      I = psi(k) + psi(N) - <psi(n_x + 1) + psi(n_y + 1)>.

Distances are max-norm as in both papers (for the Ross estimator ``p`` selects another Minkowski norm).
``stderr`` is the standard error of the mean of the per-sample terms (ignores their dependence: indicative
only). Inputs are used as given; the estimators are not invariant to rescaling one coordinate, so put
coordinates on comparable scales first if that matters.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from .._base import MIEstimator, MIResult, as_2d_float, as_labels, check_int

__all__ = ["KNNLabelMI", "KSGMI", "knn_mi_labels", "ksg_mi"]


def _check_p(p) -> float:
    try:
        pf = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"p must be a number >= 1 or inf; got {p!r}") from None
    if not pf >= 1:
        raise ValueError(f"p must be >= 1 (Minkowski norm) or inf; got {p!r}")
    return pf


def _count_within(tree: cKDTree, pts: np.ndarray, radii: np.ndarray, p: float, workers: int) -> np.ndarray:
    """Number of tree points within distance <= radii[i] of pts[i] (the query point itself included)."""
    return np.asarray(tree.query_ball_point(pts, radii, p=p, return_length=True, workers=workers), dtype=np.int64)


def knn_mi_labels(z, y, k: int = 3, p=np.inf, workers: int = 1) -> MIResult:
    """Ross (2014) k-NN estimate of I(Y;Z) for integer labels ``y`` and continuous ``z`` (nats).

    Parameters
    ----------
    z : ``(n_samples, dim)`` continuous representation.
    y : ``(n_samples,)`` integer class labels.
    k : neighbours within the own class (every class needs at least ``k + 1`` samples).
    p : Minkowski norm of the distances (default max-norm).
    workers : threads for the tree queries (-1: all cores).
    """
    k = check_int(k, "k", minimum=1)
    p = _check_p(p)
    workers = int(workers)
    z = as_2d_float(z, "z", min_samples=k + 1)
    n = z.shape[0]
    labels = as_labels(y, "y", n=n)
    classes, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if np.any(counts <= k):
        small = {int(c): int(m) for c, m in zip(classes, counts) if m <= k}
        raise ValueError(f"every class needs at least k+1 = {k + 1} samples for the k-NN estimator; "
                         f"too few in classes {small}")
    radius = np.empty(n)
    for c in range(classes.size):
        idx = np.flatnonzero(inv == c)
        dist, _ = cKDTree(z[idx]).query(z[idx], k=k + 1, p=p, workers=workers)
        radius[idx] = dist[:, -1]  # column 0 is the point itself
    # <= radius (ties with the k-th neighbour count, as in Ross); nextafter guards against rounding
    m = _count_within(cKDTree(z), z, np.nextafter(radius, np.inf), p, workers) - 1
    n_y = counts[inv]
    terms = digamma(n) - digamma(n_y) + digamma(k) - digamma(m)
    value = float(terms.mean())
    return MIResult(value=value, estimator="knn_ross", quantity="I(Y;Z), Y discrete labels", n=n, d=z.shape[1],
                    stderr=float(terms.std(ddof=1) / np.sqrt(n)),
                    details={"k": k, "p": p, "n_classes": int(classes.size)})


def ksg_mi(x, y, k: int = 3, workers: int = 1) -> MIResult:
    """Kraskov-Stoegbauer-Grassberger (algorithm 1) estimate of I(X;Y) for continuous ``x``, ``y`` (nats).

    Parameters
    ----------
    x, y : ``(n_samples, dim_x)``, ``(n_samples, dim_y)`` (1-D arrays are one column).
    k : number of joint-space neighbours.
    workers : threads for the tree queries (-1: all cores).
    """
    k = check_int(k, "k", minimum=1)
    workers = int(workers)
    x = as_2d_float(x, "x", min_samples=k + 1)
    y = as_2d_float(y, "y", min_samples=k + 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"Found inputs with inconsistent numbers of samples: [{x.shape[0]}, {y.shape[0]}] (x, y)")
    n = x.shape[0]
    xy = np.hstack([x, y])
    dist, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)  # column 0: the point itself
    eps = dist[:, -1]
    # strictly closer than eps: shrink the radius by one ulp
    r = np.nextafter(eps, 0)
    nx = _count_within(cKDTree(x), x, r, np.inf, workers) - 1
    ny = _count_within(cKDTree(y), y, r, np.inf, workers) - 1
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    return MIResult(value=float(terms.mean()), estimator="ksg", quantity="I(X;Y), both continuous", n=n,
                    d=x.shape[1], stderr=float(terms.std(ddof=1) / np.sqrt(n)),
                    details={"k": k, "norm": "max", "variant": "KSG algorithm 1"})


class KNNLabelMI(MIEstimator):
    """Ross (2014) k-NN estimator of I(Y;Z), discrete Y: ``estimate(z, y) -> MIResult`` (see :func:`knn_mi_labels`)."""

    name = "knn_ross"

    def __init__(self, k=3, p=np.inf, workers=1):
        self.k = k
        self.p = p
        self.workers = workers

    def estimate(self, z, y) -> MIResult:
        return knn_mi_labels(z, y, k=self.k, p=self.p, workers=self.workers)


class KSGMI(MIEstimator):
    """KSG (algorithm 1) estimator of I(X;Y), continuous X and Y: ``estimate(x, y) -> MIResult`` (see :func:`ksg_mi`)."""

    name = "ksg"

    def __init__(self, k=3, workers=1):
        self.k = k
        self.workers = workers

    def estimate(self, x, y) -> MIResult:
        return ksg_mi(x, y, k=self.k, workers=self.workers)
