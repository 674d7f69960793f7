"""EDGE: ensemble dependency-graph estimator of mutual information (Noshad, Zeng & Hero, ICASSP 2019).

Own vectorised implementation (no code taken from the authors' release). Values in nats.

Algorithm
---------
1. **Standardise / project.** Each continuous variable is centred and scaled to unit standard deviation per
   column (constant columns are left at scale 1). If its dimension ``d`` exceeds ``k`` (``projection``; by
   default ``k = floor(log2(N / 10))``, so that even 2 cells per hashed axis leave >= 10 samples per cell
   on average), it is mapped by a Gaussian random matrix W (d x k), i.e. p-stable (Gaussian) LSH
   projections ``w . x``, and the projected columns are standardised again.
2. **Hash (H1).** For ensemble member ``l`` with width ``eps_l`` and a random shift ``b_l ~ U[0, eps_l)^k``
   the hash of a sample is the integer vector ``floor((p + b_l) / eps_l)``. A discrete Y (integer labels) is
   never hashed: its "hash" is the label itself. The paper's second stage H2 (a random map of H1 codes
   into ``{1..cN}`` buckets, which may merge buckets) is replaced by exact grouping of identical codes
   (:func:`numpy.unique` over the rows), so no extra collisions are introduced.
3. **Dependence graph.** Vertices are the occupied X-buckets i (size N_i) and Y-buckets j (size M_j); an
   edge (i, j) carries the N_ij samples that fall in both. The base estimate is

       Î_l = sum_{edges} (N_ij / N) g(N_ij N / (N_i M_j)),      g = log,

   which is exactly the plug-in MI of the two hashed variables (so Î_l >= 0). The authors' public code
   clips each log-term to ``[0.001, U]`` with U = 10; here there is no clipping unless ``clip=U`` is given
   (then each term is ``min(log(.), U)``; there is never a lower clip).
4. **Bandwidth.** ``eps_0 = bandwidth_scale * 2 * median_i r_k(i)`` where r_k(i) is the Chebyshev
   (max-norm) distance from sample i to its k-th nearest neighbour, over a random subset of
   ``n_bandwidth_queries`` samples (neighbours searched among at most 20,000 samples, k scaled accordingly),
   in the hashed space (the joint space [p_x, p_y] for continuous Y, the
   X space for discrete Y). A max-norm ball of radius r is a cube of side 2r, so in low dimension a typical
   occupied cell of width eps_0 holds of the order of k samples (fewer in high dimension, where the density
   varies across a cell); default ``k = ceil(sqrt(N))`` (the occupancy N eps^d = sqrt(N) for
   which the 1/(N eps^d) bias term of the EDGE analysis is O(N^{-1/2})).
5. **Ensemble.** ``eps_l = t_l * eps_0`` for ``t = geomspace(*eps_factors, L)``; the L base estimates are
   combined by their ``"median"`` (default), ``"mean"``, or ``"optimal_weights"``: the minimum-norm weights
   w with sum(w) = 1 and sum_l w_l t_l^i = 0 for i in ``weight_orders`` (cancelling bias terms c_i eps^i,
   the ensemble-estimation scheme of Moon & Hero used by EDGE), solved in closed form (no cvxpy). The
   weights and their L2 norm (variance inflation) are returned in ``details``.

All randomness (projection, shifts, bandwidth subsample) comes from ``seed`` (int or numpy Generator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from .._base import MIEstimator, MIResult, Seed, as_2d_float, check_int, check_positive, make_rng
from ._binning import group_rows, label_codes, looks_discrete

__all__ = [
    "EDGE",
    "edge_mi",
    "EDGEHashPlan",
    "edge_hash_plan",
    "edge_from_plan",
    "edge_base_estimate",
    "edge_ensemble_weights",
]

_ENSEMBLES = ("median", "mean", "optimal_weights")


@dataclass
class EDGEHashPlan:
    """Everything the hashes of one EDGE estimate depend on (so other implementations can reuse them).

    ``px`` (N, kx) and ``py`` (N, ky) are the standardised / projected variables (``py`` is None for discrete
    Y, then ``labels`` holds the labels); member l hashes ``floor((p + shift_l) / eps_l)``.
    """

    px: np.ndarray
    py: np.ndarray | None
    labels: np.ndarray | None
    eps_x: np.ndarray  # (L,)
    eps_y: np.ndarray | None  # (L,)
    shift_x: np.ndarray  # (L, kx)
    shift_y: np.ndarray | None  # (L, ky)
    factors: np.ndarray  # (L,) t_l
    eps0: float
    k_neighbors: int
    projected_x: bool
    projected_y: bool
    dim_x: int = 0
    y_reason: str = ""


def _standardize(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    sd[~(sd > 0)] = 1.0
    return (a - a.mean(axis=0)) / sd


def _project(a: np.ndarray, projection, n: int, rng: np.random.Generator, name: str):
    d = a.shape[1]
    a = _standardize(a)
    if projection is None or projection is False:
        return a, False
    if projection == "auto":
        k = max(1, int(math.floor(math.log2(max(n / 10.0, 1.0)))))
    else:
        k = check_int(projection, "projection", minimum=1)
    if d <= k:
        return a, False
    w = rng.standard_normal((d, k)) / math.sqrt(d)  # Gaussian = 2-stable LSH directions
    return _standardize(a @ w), True


_MAX_BANDWIDTH_REF = 20_000


def _median_knn_radius(space: np.ndarray, k: int, n_queries: int, rng: np.random.Generator) -> float:
    """Median over ``n_queries`` random samples of the max-norm distance to the k-th nearest neighbour.

    For N > 20,000 the neighbours are searched in a random subset of 20,000 samples with k scaled by the
    subset fraction (same expected radius, ~N/20,000 times cheaper).
    """
    n = space.shape[0]
    if n > _MAX_BANDWIDTH_REF:
        space = space[rng.choice(n, size=_MAX_BANDWIDTH_REF, replace=False)]
        k = max(1, int(round(k * _MAX_BANDWIDTH_REF / n)))
        n = _MAX_BANDWIDTH_REF
    q = rng.choice(n, size=n_queries, replace=False) if n_queries < n else np.arange(n)
    dist, _ = cKDTree(space).query(space[q], k=k + 1, p=np.inf)  # +1: the query point itself
    r = float(np.median(dist[:, -1]))
    if r > 0:
        return r
    pos = dist[dist > 0]  # heavily tied (near-discrete) data: fall back to the typical positive spacing
    return float(np.median(pos)) if pos.size else 0.5  # constant data: any width gives one cell


def edge_hash_plan(
    x: ArrayLike,
    y: ArrayLike | None,
    *,
    n_ensemble: int = 10,
    projection: str | int | None = "auto",
    bandwidth: float | None = None,
    bandwidth_scale: float = 1.0,
    k_neighbors: int | None = None,
    eps_factors: Sequence[float] = (0.7, 1.4),
    discrete_y: bool | None = None,
    n_bandwidth_queries: int = 1000,
    seed: Seed = 0,
) -> EDGEHashPlan:
    """Validate inputs and draw the projections, widths and shifts of an EDGE estimate (see module doc)."""
    if y is None:
        raise ValueError("EDGE estimates I(X;Y) and needs y (class labels or a continuous array): estimate(x, y)")
    x = as_2d_float(x, "x", min_samples=4)
    n = x.shape[0]
    if discrete_y is None:
        discrete_y, y_reason = looks_discrete(y)
    else:
        discrete_y = bool(discrete_y)
        y_reason = f"discrete_y={discrete_y} given"
    L = check_int(n_ensemble, "n_ensemble", minimum=1)
    scale = check_positive(bandwidth_scale, "bandwidth_scale")
    if not (isinstance(eps_factors, (tuple, list, np.ndarray)) and len(eps_factors) == 2):
        raise ValueError(f"eps_factors must be a pair (low, high) of positive numbers; got {eps_factors!r}")
    lo_f, hi_f = (check_positive(f, "eps_factors") for f in eps_factors)
    if hi_f < lo_f:
        raise ValueError(f"eps_factors must satisfy low <= high; got {eps_factors!r}")
    nq = check_int(n_bandwidth_queries, "n_bandwidth_queries", minimum=1)
    rng = make_rng(seed)

    labels = py = None
    if discrete_y:
        labels = label_codes(y, "y", n=n)
    else:
        ya = as_2d_float(y, "y", min_samples=4)
        if ya.shape[0] != n:
            raise ValueError(f"Found inputs with inconsistent numbers of samples: [{n}, {ya.shape[0]}] (x, y)")
    px, proj_x = _project(x, projection, n, rng, "x")
    if not discrete_y:
        py, proj_y = _project(ya, projection, n, rng, "y")
    else:
        proj_y = False

    if k_neighbors is None:
        k = int(math.ceil(math.sqrt(n)))
    else:
        k = check_int(k_neighbors, "k_neighbors", minimum=1)
    k = min(k, n - 1)
    if bandwidth is None:
        space = px if py is None else np.hstack([px, py])
        eps0 = scale * 2.0 * _median_knn_radius(space, k, nq, rng)
    else:
        eps0 = scale * check_positive(bandwidth, "bandwidth")

    factors = np.geomspace(lo_f, hi_f, L) if L > 1 else np.array([1.0])
    eps = eps0 * factors
    shift_x = rng.uniform(0.0, 1.0, size=(L, px.shape[1])) * eps[:, None]
    shift_y = None if py is None else rng.uniform(0.0, 1.0, size=(L, py.shape[1])) * eps[:, None]
    return EDGEHashPlan(
        px=px,
        py=py,
        labels=labels,
        eps_x=eps,
        eps_y=None if py is None else eps.copy(),
        shift_x=shift_x,
        shift_y=shift_y,
        factors=factors,
        eps0=float(eps0),
        k_neighbors=k,
        projected_x=proj_x,
        projected_y=proj_y,
        dim_x=x.shape[1],
        y_reason=y_reason,
    )


def _hash_codes(p: np.ndarray, shift: np.ndarray, eps: float) -> np.ndarray:
    return np.floor((p + shift) / eps).astype(np.int64)


def edge_base_estimate(ix: np.ndarray, iy: np.ndarray, clip: float | None = None) -> tuple[float, int]:
    """Base EDGE estimate from bucket ids: sum over edges of (N_ij/N) g(N_ij N / (N_i M_j)), g = log.

    ``ix``, ``iy``: integer bucket id of every sample for X and Y (ids ``0..G-1``). ``clip=U`` replaces each
    log-term by ``min(log(.), U)``. Returns ``(estimate, number of edges)``.
    """
    n = ix.shape[0]
    n_i = np.bincount(ix)
    m_j = np.bincount(iy)
    key = ix.astype(np.int64) * (int(iy.max()) + 1) + iy
    uniq, n_ij = np.unique(key, return_counts=True)
    ei, ej = np.divmod(uniq, int(iy.max()) + 1)
    terms = np.log(n_ij * float(n)) - np.log(n_i[ei].astype(np.float64) * m_j[ej])
    if clip is not None:
        terms = np.minimum(terms, clip)
    return float(np.dot(n_ij, terms) / n), int(uniq.size)


def edge_ensemble_weights(factors: ArrayLike, orders: Sequence[float] = (1, 2)) -> np.ndarray:
    """Minimum-L2-norm weights w with sum(w) = 1 and sum_l w_l t_l^i = 0 for every i in ``orders``.

    Closed form w = A^T (A A^T)^+ e_1 with rows of A = [1, t^i ...]; needs ``len(factors) > len(orders)``.
    """
    t = np.asarray(factors, dtype=np.float64)
    orders = tuple(orders)
    if t.size <= len(orders):
        raise ValueError(
            f"optimal_weights needs more ensemble members ({t.size}) than cancelled orders ({len(orders)})"
        )
    if np.unique(t).size <= len(orders):
        raise ValueError("optimal_weights needs distinct eps factors (eps_factors low < high)")
    a = np.vstack([np.ones_like(t)] + [t ** float(i) for i in orders])
    e = np.zeros(a.shape[0])
    e[0] = 1.0
    return a.T @ np.linalg.lstsq(a @ a.T, e, rcond=None)[0]


def edge_mi(
    x: ArrayLike,
    y: ArrayLike | None,
    *,
    n_ensemble: int = 10,
    ensemble: str = "median",
    projection: str | int | None = "auto",
    bandwidth: float | None = None,
    bandwidth_scale: float = 1.0,
    k_neighbors: int | None = None,
    eps_factors: Sequence[float] = (0.7, 1.4),
    weight_orders: Sequence[int] = (1, 2),
    clip: float | None = None,
    discrete_y: bool | None = None,
    n_bandwidth_queries: int = 1000,
    seed: Seed = 0,
) -> MIResult:
    """EDGE estimate of I(X;Y) in nats (see the module docstring for every step).

    Parameters
    ----------
    x : ``(n_samples, dim_x)`` continuous variable (e.g. a representation Z).
    y : class labels ``(n_samples,)`` (discrete, never hashed) or a continuous ``(n_samples, dim_y)`` array.
    n_ensemble : number L of base estimators (hash widths).
    ensemble : ``"median"``, ``"mean"`` or ``"optimal_weights"``.
    projection : ``"auto"`` (Gaussian random projection to floor(log2(N/10)) dims when a variable has more),
        ``None`` (never project) or an int target dimension.
    bandwidth : base hash width eps_0 in standardised units; default from k-NN distances.
    bandwidth_scale : multiplies eps_0 (automatic or given).
    k_neighbors : k of the k-NN bandwidth rule (default ceil(sqrt(N))).
    eps_factors : ``(low, high)``: member widths are eps_0 * geomspace(low, high, L).
    weight_orders : bias orders i cancelled by ``"optimal_weights"`` (terms eps^i).
    clip : optional upper clip U of each log-term (None: no clipping).
    discrete_y : force Y discrete/continuous; default (None): a 1-D ``y`` of integers in any dtype (also
        integer-valued floats) or of strings is taken as class labels, anything else as continuous; the
        decision and its reason are in ``details["y_discrete"]`` / ``details["y_kind"]``.
    n_bandwidth_queries : samples used for the median k-NN distance.
    seed : int or numpy Generator (projection, shifts, bandwidth subsample).
    """
    if ensemble not in _ENSEMBLES:
        raise ValueError(f"ensemble must be one of {_ENSEMBLES}; got {ensemble!r}")
    if clip is not None:
        clip = check_positive(clip, "clip")
    plan = edge_hash_plan(
        x,
        y,
        n_ensemble=n_ensemble,
        projection=projection,
        bandwidth=bandwidth,
        bandwidth_scale=bandwidth_scale,
        k_neighbors=k_neighbors,
        eps_factors=eps_factors,
        discrete_y=discrete_y,
        n_bandwidth_queries=n_bandwidth_queries,
        seed=seed,
    )
    return edge_from_plan(plan, ensemble=ensemble, weight_orders=weight_orders, clip=clip)


def edge_from_plan(
    plan: EDGEHashPlan, *, ensemble: str = "median", weight_orders: Sequence[int] = (1, 2), clip: float | None = None
) -> MIResult:
    """Hash, count and combine the ensemble for a prepared :class:`EDGEHashPlan` (steps 2, 3 and 5)."""
    if ensemble not in _ENSEMBLES:
        raise ValueError(f"ensemble must be one of {_ENSEMBLES}; got {ensemble!r}")
    if clip is not None:
        clip = check_positive(clip, "clip")
    weights = None
    if ensemble == "optimal_weights":
        weights = edge_ensemble_weights(plan.factors, weight_orders)
    values: list[float] = []
    n_edges: list[int] = []
    iy_fixed = None
    if plan.labels is not None:
        iy_fixed = np.unique(plan.labels, return_inverse=True)[1].reshape(-1)
    for h in range(plan.factors.size):
        ix, _ = group_rows(_hash_codes(plan.px, plan.shift_x[h], plan.eps_x[h]))
        if iy_fixed is None:
            assert plan.py is not None and plan.shift_y is not None and plan.eps_y is not None  # continuous y
            iy, _ = group_rows(_hash_codes(plan.py, plan.shift_y[h], plan.eps_y[h]))
        else:
            iy = iy_fixed
        v, e = edge_base_estimate(ix, iy, clip)
        values.append(v)
        n_edges.append(e)
    base = np.asarray(values)
    if ensemble == "median":
        value = float(np.median(base))
    elif ensemble == "mean":
        value = float(base.mean())
    else:
        assert weights is not None  # ensemble == "optimal_weights"
        value = float(weights @ base)
    n, dx = plan.px.shape[0], plan.dim_x
    details = {
        "ensemble": ensemble,
        "n_ensemble": int(plan.factors.size),
        "eps0": plan.eps0,
        "k_neighbors": plan.k_neighbors,
        "hash_dim_x": int(plan.px.shape[1]),
        "hash_dim_y": 0 if plan.py is None else int(plan.py.shape[1]),
        "projected_x": plan.projected_x,
        "projected_y": plan.projected_y,
        "y_discrete": plan.labels is not None,
        "y_kind": plan.y_reason,
        "clip": clip,
        "base_estimates": base.tolist(),
        "eps_factors": plan.factors.tolist(),
        "n_edges": n_edges,
    }
    if weights is not None:
        details.update(weights=weights.tolist(), weights_l2=float(np.linalg.norm(weights)))
    quantity = "I(Y;Z), Y discrete labels" if plan.labels is not None else "I(X;Y), both continuous"
    return MIResult(value=value, estimator="edge", quantity=quantity, n=n, d=dx, details=details)


class EDGE(MIEstimator):
    """Ensemble dependency-graph MI estimator (Noshad, Zeng & Hero 2019); ``estimate(x, y) -> MIResult`` in nats.

    ``x`` is the continuous representation ``(n, d)``; ``y`` class labels (integers in any dtype or strings:
    discrete, not hashed) or a continuous array. The paper's choice for I(Y;Z); for class labels
    :class:`~ipdrop.estimators.KNNLabelMI` is closer to closed forms (4 Gaussian classes in d = 8, truth
    0.917 nats, N = 2,000: EDGE 0.71, k-NN 0.89-0.93). Parameters as :func:`edge_mi`; ``seed`` (default 0)
    makes the estimate reproducible.
    """

    name = "edge"

    def __init__(
        self,
        n_ensemble: int = 10,
        ensemble: str = "median",
        projection: str | int | None = "auto",
        bandwidth: float | None = None,
        bandwidth_scale: float = 1.0,
        k_neighbors: int | None = None,
        eps_factors: Sequence[float] = (0.7, 1.4),
        weight_orders: Sequence[int] = (1, 2),
        clip: float | None = None,
        discrete_y: bool | None = None,
        n_bandwidth_queries: int = 1000,
        seed: Seed = 0,
    ) -> None:
        self.n_ensemble = n_ensemble
        self.ensemble = ensemble
        self.projection = projection
        self.bandwidth = bandwidth
        self.bandwidth_scale = bandwidth_scale
        self.k_neighbors = k_neighbors
        self.eps_factors = eps_factors
        self.weight_orders = weight_orders
        self.clip = clip
        self.discrete_y = discrete_y
        self.n_bandwidth_queries = n_bandwidth_queries
        self.seed = seed

    def estimate(self, x: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(X;Y) in nats; ``y`` is required."""
        return edge_mi(x, y, **self.get_params())
