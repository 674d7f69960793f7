"""k-nearest-neighbour MI estimators (values in nats).

* :class:`KNNLabelMI` / :func:`knn_mi_labels` - Ross (PLoS ONE 9(2): e87357, 2014): I(Y;Z) for discrete
  labels Y and continuous Z. For sample i with label y_i, r_i is the distance to its k-th nearest neighbour
  among the N_{y_i} samples with the same label (sample i excluded); k_i counts the samples of the same label
  within distance r_i and m_i the samples of *any* label within r_i (both with ties at r_i included, sample i
  excluded). Then

      I = psi(N) - <psi(N_{y_i})> + <psi(k_i)> - <psi(m_i)>.

  Without ties k_i = k and this is Ross's estimator. With ties (repeated rows, e.g. the exact zeros of ReLU
  units, or r_i = 0) counting every tied sample in both k_i and m_i is the rule of Gao, Kannan, Oh &
  Viswanath (NeurIPS 2017) for mixed discrete-continuous data: on an atom the term becomes the plug-in
  log P(y | atom) / P(y), so the estimate stays consistent. (The former rule, psi(k) against a count m_i of
  all tied samples, returned -2.4 nats for independent labels on half-zero data.) The ball volume cancels
  between the two counts, so any norm gives a consistent estimator; the default is Euclidean (``p=2``),
  computed exactly by a screened GEMM (see below); other norms use :class:`scipy.spatial.cKDTree`.

* :class:`KSGMI` / :func:`ksg_mi` - Kraskov, Stoegbauer & Grassberger (Phys. Rev. E 69, 066138, 2004),
  algorithm 1, for continuous X and Y: eps_i is the max-norm distance in the joint space (the max of the
  two marginal max-norm distances) to the k-th neighbour; n_x(i), n_y(i) count the samples strictly closer
  than eps_i in each marginal space (sample i excluded). Then

      I = psi(k) + psi(N) - <psi(n_x + 1) + psi(n_y + 1)>.

  The max-norm makes KSG depend on the relative scale of the coordinates (scaling x by 10 changed one
  estimate from 1.27 to 0.004 nats), so each column is standardised (zero mean, unit sd) by default
  (``standardize=False`` switches it off).

Exact Euclidean k-NN by GEMM (``method="gemm"``)
-------------------------------------------------
Squared distances come from |a|^2 + |b|^2 - 2 a.b in float32 (torch GEMM, chunked blocks, each unordered
pair once, persistent buffers, ``torch.get_num_threads()`` threads) on centred data. The float32 error of
each entry is bounded by eta (|a|^2 + |b|^2) with eta = 1.1 (d + 8) 2^-24 (the standard dot-product bound
gamma_d plus the roundings of the additions); every pair whose screened value lies within that band of a
radius is recomputed exactly in float64 as sum((a - b)^2), so the counts are those of exact float64
distances (ties at r_i included, relative slack 1e-12). The k-th neighbour within each class comes from
the per-class GEMM's k + 4 best candidates recomputed in float64 (rows whose candidate list cannot certify
the k-th distance are recomputed in full). In high dimension this is much faster than a k-d tree, which
degrades to a slow brute force.

``stderr`` is the standard error of the mean of the per-sample terms (ignores their dependence: indicative
only; it is not a Monte-Carlo error, the estimators are deterministic).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree
from scipy.special import digamma

from .._base import MIEstimator, MIResult, as_2d_float, check_int
from ._binning import label_codes

__all__ = ["KNNLabelMI", "KSGMI", "knn_mi_labels", "ksg_mi"]

_METHODS = ("auto", "gemm", "tree")
_EXTRA_CANDIDATES = 4  # candidates beyond k kept per row from the screened per-class GEMM
_REL_SLACK = 1e-12  # exact float64 distances within this relative slack of r_i count as ties


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


# --------------------------------------------------------------------------- Ross, tree path (any norm)


def _ross_counts_tree(z: np.ndarray, inv: np.ndarray, n_classes: int, k: int, p: float, workers: int):
    """(r_i, k_i, m_i) with the tie rule of the module docstring, by k-d trees (any Minkowski norm)."""
    n = z.shape[0]
    radius = np.empty(n)
    k_i = np.empty(n, dtype=np.int64)
    for c in range(n_classes):
        idx = np.flatnonzero(inv == c)
        tree = cKDTree(z[idx])
        dist, _ = tree.query(z[idx], k=k + 1, p=p, workers=workers)
        radius[idx] = dist[:, -1]  # k+1 smallest including the point itself (distance 0): the k-th other
        # <= radius, with one ulp of slack against rounding between the two tree routines
        k_i[idx] = _count_within(tree, z[idx], np.nextafter(radius[idx], np.inf), p, workers) - 1
    m_i = _count_within(cKDTree(z), z, np.nextafter(radius, np.inf), p, workers) - 1
    return radius, np.maximum(k_i, k), m_i


# --------------------------------------------------------------------------- Ross, GEMM path (Euclidean)


class _ScreenedDistances:
    """Exact counts of points within per-row radii from float32 GEMM blocks (see the module docstring)."""

    def __init__(self, z: np.ndarray, chunk: int):
        import torch

        self.torch = torch
        zc = z - z.mean(axis=0)  # distances are translation invariant; centring shrinks |a|^2 and the band
        self.z64 = torch.from_numpy(np.ascontiguousarray(zc))
        nrm64 = (self.z64 * self.z64).sum(1)
        n, d = z.shape
        # augmented rows: [a, |a|^2, 1] . [-2 b, 1, |b|^2] = |a - b|^2, one GEMM and no extra pass
        self.left = torch.empty(n, d + 2, dtype=torch.float32)
        self.left[:, :d] = self.z64
        self.left[:, d] = nrm64
        self.left[:, d + 1] = 1.0
        self.right = torch.empty(n, d + 2, dtype=torch.float32)
        self.right[:, :d] = -2.0 * self.z64
        self.right[:, d] = 1.0
        self.right[:, d + 1] = nrm64
        self.nrm64 = nrm64
        # ids of identical rows (ties such as all-zero ReLU codes): their pairs need no exact recomputation
        self.dup = torch.from_numpy(np.unique(z, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64))
        self.nrm_max = float(nrm64.max())
        self.eta = 1.1 * (d + 12) * 2.0**-24
        self.buf = torch.empty(chunk * chunk, dtype=torch.float32)  # persistent GEMM output
        self.mask = torch.empty(chunk * chunk, dtype=torch.bool)

    def block(self, rows, cols, out=None):
        """Screened squared distances (float32) between row and column index sets (persistent buffer).

        ``rows``/``cols`` are index tensors, or slices into the arrays permuted by :meth:`permute`.
        """
        torch = self.torch
        left = self.left[rows] if not isinstance(rows, slice) else self.left_p[rows]
        right = self.right[cols] if not isinstance(cols, slice) else self.right_p[cols]
        nr, nc = left.shape[0], right.shape[0]
        if out is None:
            out = self.buf[: nr * nc].view(nr, nc) if nr * nc <= self.buf.numel() else torch.empty(nr, nc)
        torch.mm(left, right.T, out=out)
        return out

    def permute(self, order) -> None:
        """Keep row-permuted copies so that blocks of consecutive permuted rows are contiguous slices."""
        self.left_p = self.left[order]
        self.right_p = self.right[order]

    def exact(self, i, j):
        """Exact float64 squared distances sum((z_i - z_j)^2) of index pairs (chunked)."""
        torch = self.torch
        out = torch.empty(i.shape[0], dtype=torch.float64)
        step = max(1, 2**17 // max(1, self.z64.shape[1]))  # 1 MiB temporaries
        for s in range(0, i.shape[0], step):
            diff = self.z64[i[s : s + step]] - self.z64[j[s : s + step]]
            out[s : s + step] = (diff * diff).sum(1)
        return out

    def band(self, r2, idx):
        """float32 bounds (lo, hi): screened <= lo is surely within r, > hi surely not (rows ``idx``)."""
        torch = self.torch
        tol = self.eta * (self.nrm64[idx] + self.nrm_max)
        lo = (r2 - tol).float()
        hi = (r2 + tol).float()
        return (
            torch.nextafter(lo, torch.full_like(lo, -math.inf)),  # float64 -> float32 rounding
            torch.nextafter(hi, torch.full_like(hi, math.inf)),
        )

    def candidates(self, dist, thr: float):
        """Local (row, col) indices and values of the block entries <= thr (few: the neighbourhoods)."""
        torch = self.torch
        n_entries = dist.numel()
        mask = self.mask[:n_entries].view(dist.shape) if n_entries <= self.mask.numel() else None
        mask = torch.le(dist, thr, out=mask) if mask is not None else dist <= thr
        flat = torch.from_numpy(np.flatnonzero(mask.numpy()))  # numpy's is several times faster here
        ncol = dist.shape[1]
        return flat // ncol, flat % ncol, dist.reshape(-1)[flat]

    def count(self, own, other, vals, r2, lo, hi, own_g, other_g, size: int):
        """Per own index: exact number of candidate pairs (own, other) with distance <= r2[own]."""
        torch = self.torch
        sure = vals <= lo[own]
        unsure = torch.nonzero(~sure & (vals <= hi[own])).view(-1)
        counts = torch.bincount(own[sure], minlength=size)
        if unsure.numel():
            ou = own[unsure]
            og, tg = own_g[ou], other_g[other[unsure]]
            r2u = r2[ou]
            inside = self.dup[og] == self.dup[tg]  # identical rows: distance 0, no arithmetic needed
            need = torch.nonzero(~inside & (r2u > 0)).view(-1)  # distinct rows are never within r = 0
            if need.numel():
                inside[need] = self.exact(og[need], tg[need]) <= r2u[need] * (1 + _REL_SLACK)
            counts += torch.bincount(ou[inside], minlength=size)
        return counts


def _ross_counts_gemm(z: np.ndarray, inv: np.ndarray, n_classes: int, k: int, chunk: int):
    """(r_i, k_i, m_i), Euclidean, exact float64 counts from screened float32 GEMMs."""
    import torch

    n = z.shape[0]
    sd = _ScreenedDistances(z, chunk)
    r2 = torch.empty(n, dtype=torch.float64)
    k_i = torch.empty(n, dtype=torch.int64)
    # 1. per class: the k-th neighbour (exact) and k_i
    for c in range(n_classes):
        idx = torch.from_numpy(np.flatnonzero(inv == c))
        nc = idx.numel()
        for s in range(0, nc, chunk):
            rows = idx[s : s + chunk]
            nr = rows.numel()
            dist = sd.block(rows, idx, out=torch.empty(nr, nc, dtype=torch.float32))
            dist[torch.arange(nr), torch.arange(s, s + nr)] = math.inf  # the point itself
            m = min(k + _EXTRA_CANDIDATES, nc - 1)
            vals, cand = torch.topk(dist, m, dim=1, largest=False)  # ascending
            # the exact k-th distance lies within tol of the screened k-th: candidates surely below or above it
            # need no exact distance (-1 / inf stand for them), the few in the band are recomputed in float64
            tol = sd.eta * (sd.nrm64[rows] + sd.nrm_max)
            vd = vals.double()
            kth = vd[:, k - 1 : k]
            ex = torch.full(vd.shape, math.inf, dtype=torch.float64)
            ex[vd + tol[:, None] < kth - tol[:, None]] = -1.0
            ba, bb = torch.nonzero(
                (vd + tol[:, None] >= kth - tol[:, None]) & (vd - tol[:, None] <= kth + tol[:, None]), as_tuple=True
            )
            ex[ba, bb] = sd.exact(rows[ba], idx[cand[ba, bb]])
            r2_rows = ex.sort(dim=1).values[:, k - 1]
            # every same-label point within r_i is a candidate (counted exactly) unless a non-candidate's
            # screened distance minus its error bound could still be <= r_i^2
            k_rows = (ex <= r2_rows[:, None] * (1 + _REL_SLACK)).sum(1)
            if m < nc - 1:
                _, hi = sd.band(r2_rows, rows)
                bad = torch.nonzero(vals[:, -1] <= hi).view(-1)
                for b0 in range(0, bad.numel(), 256):  # ties/atoms: these rows in float64, in full
                    bb = bad[b0 : b0 + 256]
                    e = sd.exact(rows[bb].repeat_interleave(nc), idx.repeat(bb.numel())).view(-1, nc)
                    e[torch.arange(bb.numel()), s + bb] = math.inf
                    rb = torch.kthvalue(e, k, dim=1).values
                    r2_rows[bb] = rb
                    k_rows[bb] = (e <= rb[:, None] * (1 + _REL_SLACK)).sum(1)
            r2[rows] = r2_rows
            k_i[rows] = k_rows
    # 2. all labels: m_i. Points sorted by radius, so a block's radii are alike; each unordered block once,
    # its candidates (entries <= the largest radius bound of the block) counted for rows and columns.
    order = torch.argsort(r2)
    sd.permute(order)
    r2s = r2[order]
    lo_s, hi_s = sd.band(r2s, order)
    m_s = torch.zeros(n, dtype=torch.int64)
    # zero radii come first; they get blocks of their own and are counted from the duplicate table below
    n_zero = int(torch.count_nonzero(r2s == 0))
    blocks = [slice(i, min(i + chunk, n_zero)) for i in range(0, n_zero, chunk)]
    blocks += [slice(i, min(i + chunk, n)) for i in range(n_zero, n, chunk)]
    for bi, ri in enumerate(blocks):
        for bj in range(bi, len(blocks)):
            cj = blocks[bj]
            count_rows = ri.stop > n_zero
            count_cols = bj != bi and cj.stop > n_zero
            if not (count_rows or count_cols):
                continue
            thr = max(
                float(hi_s[ri].max()) if count_rows else -math.inf, float(hi_s[cj].max()) if count_cols else -math.inf
            )
            a, b, v = sd.candidates(sd.block(ri, cj), thr)
            rows, cols = order[ri], order[cj]
            if count_rows:
                m_s[ri] += sd.count(a, b, v, r2s[ri], lo_s[ri], hi_s[ri], rows, cols, rows.numel())
            if count_cols:
                m_s[cj] += sd.count(b, a, v, r2s[cj], lo_s[cj], hi_s[cj], cols, rows, cols.numel())
    m_i = torch.empty(n, dtype=torch.int64)
    m_i[order] = m_s - 1  # the point itself (exact distance 0 <= r_i^2) was counted once in its diagonal block
    zero = r2 == 0  # within radius 0: exactly the identical rows (the point itself included), of any label
    m_i[zero] = torch.bincount(sd.dup)[sd.dup[zero]] - 1
    return np.sqrt(r2.numpy()), np.maximum(k_i.numpy(), k), m_i.numpy()


def knn_mi_labels(
    z: ArrayLike,
    y: ArrayLike | None,
    k: int = 3,
    p: float = 2.0,
    method: str = "auto",
    workers: int = 1,
    chunk_size: int = 2048,
) -> MIResult:
    """Ross (2014) k-NN estimate of I(Y;Z) for class labels ``y`` and continuous ``z`` (nats), ties handled.

    Parameters
    ----------
    z : ``(n_samples, dim)`` continuous representation.
    y : ``(n_samples,)`` class labels: integers of any dtype (also integer-valued floats) or strings.
    k : neighbours within the own class (every class needs at least ``k + 1`` samples).
    p : Minkowski norm of the distances (default Euclidean; any norm gives a consistent estimate).
    method : ``"gemm"`` (exact Euclidean distances from screened torch GEMMs; needs ``p=2``), ``"tree"``
        (:class:`scipy.spatial.cKDTree`, any ``p``) or ``"auto"`` (GEMM for ``p=2``, else tree).
    workers : threads of the tree queries (-1: all cores); the GEMM path uses ``torch.get_num_threads()``.
    chunk_size : rows per GEMM block (memory ``chunk_size**2`` float32 per block).

    Returns
    -------
    MIResult; ``details`` has ``n_tied`` (samples with more than k same-label samples within r_i, i.e. ties),
    ``n_zero_radius`` (samples with at least k exact duplicates of their label) and the method.
    """
    k = check_int(k, "k", minimum=1)
    p = _check_p(p)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    if method == "gemm" and p != 2.0:
        raise ValueError(f"method='gemm' computes Euclidean distances (p=2); got p={p!r} (use method='tree')")
    chunk = check_int(chunk_size, "chunk_size", minimum=16)
    workers = int(workers)
    if y is None:
        raise ValueError("the k-NN label estimator needs the class labels y: estimate(z, y)")
    z = as_2d_float(z, "z", min_samples=k + 1)
    n = z.shape[0]
    labels = label_codes(y, "y", n=n)
    classes, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    if np.any(counts <= k):
        small = {int(c): int(m) for c, m in zip(classes, counts) if m <= k}
        raise ValueError(
            f"every class needs at least k+1 = {k + 1} samples for the k-NN estimator; too few in classes {small}"
        )
    use_gemm = method == "gemm" or (method == "auto" and p == 2.0)
    if use_gemm:
        radius, k_i, m_i = _ross_counts_gemm(z, inv, classes.size, k, chunk)
    else:
        radius, k_i, m_i = _ross_counts_tree(z, inv, classes.size, k, p, workers)
    n_y = counts[inv]
    terms = digamma(n) - digamma(n_y) + digamma(k_i) - digamma(m_i)
    value = float(terms.mean())
    return MIResult(
        value=value,
        estimator="knn_ross",
        quantity="I(Y;Z), Y discrete labels",
        n=n,
        d=z.shape[1],
        stderr=float(terms.std(ddof=1) / np.sqrt(n)),
        details={
            "k": k,
            "p": p,
            "method": "gemm" if use_gemm else "tree",
            "n_classes": int(classes.size),
            "n_tied": int(np.count_nonzero(k_i > k)),
            "n_zero_radius": int(np.count_nonzero(radius == 0)),
            "tie_rule": "k_i and m_i count every sample within r_i (Gao et al. 2017)",
        },
    )


def _standardize_columns(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    sd[~(sd > 0)] = 1.0  # constant columns stay as they are
    return (a - a.mean(axis=0)) / sd


def ksg_mi(x: ArrayLike, y: ArrayLike | None, k: int = 3, workers: int = 1, standardize: bool = True) -> MIResult:
    """Kraskov-Stoegbauer-Grassberger (algorithm 1) estimate of I(X;Y) for continuous ``x``, ``y`` (nats).

    Parameters
    ----------
    x, y : ``(n_samples, dim_x)``, ``(n_samples, dim_y)`` (1-D arrays are one column).
    k : number of joint-space neighbours.
    workers : threads for the tree queries (-1: all cores).
    standardize : scale every column to zero mean and unit sd first (default; makes the estimate invariant
        to rescaling a coordinate, which the max-norm otherwise is not).
    """
    k = check_int(k, "k", minimum=1)
    workers = int(workers)
    if y is None:
        raise ValueError("KSG estimates I(X;Y) and needs y: estimate(x, y)")
    x = as_2d_float(x, "x", min_samples=k + 1)
    y = as_2d_float(y, "y", min_samples=k + 1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"Found inputs with inconsistent numbers of samples: [{x.shape[0]}, {y.shape[0]}] (x, y)")
    if standardize:
        x, y = _standardize_columns(x), _standardize_columns(y)
    n = x.shape[0]
    xy = np.hstack([x, y])
    dist, _ = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=workers)  # column 0: the point itself
    eps = dist[:, -1]
    # strictly closer than eps: shrink the radius by one ulp
    r = np.nextafter(eps, 0)
    nx = _count_within(cKDTree(x), x, r, np.inf, workers) - 1
    ny = _count_within(cKDTree(y), y, r, np.inf, workers) - 1
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    return MIResult(
        value=float(terms.mean()),
        estimator="ksg",
        quantity="I(X;Y), both continuous",
        n=n,
        d=x.shape[1],
        stderr=float(terms.std(ddof=1) / np.sqrt(n)),
        details={"k": k, "norm": "max", "variant": "KSG algorithm 1", "standardized": bool(standardize)},
    )


class KNNLabelMI(MIEstimator):
    """Ross (2014) k-NN estimator of I(Y;Z), discrete Y, ties handled: ``estimate(z, y) -> MIResult``.

    The recommended estimator of I(Y;Z) for class labels (closer to closed forms than EDGE at the
    representation sizes of the paper; see :func:`knn_mi_labels` for the parameters). Deterministic: no seed.
    """

    name = "knn_ross"

    def __init__(self, k: int = 3, p: float = 2.0, method: str = "auto", workers: int = 1, chunk_size: int = 2048):
        self.k = k
        self.p = p
        self.method = method
        self.workers = workers
        self.chunk_size = chunk_size

    def estimate(self, z: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(Y;Z) in nats; ``y`` (class labels) is required."""
        return knn_mi_labels(z, y, **self.get_params())


class KSGMI(MIEstimator):
    """KSG (algorithm 1) estimator of I(X;Y) for continuous X and Y: ``estimate(x, y) -> MIResult``.

    See :func:`ksg_mi`.
    """

    name = "ksg"

    def __init__(self, k: int = 3, workers: int = 1, standardize: bool = True):
        self.k = k
        self.workers = workers
        self.standardize = standardize

    def estimate(self, x: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(X;Y) in nats; ``y`` is required."""
        return ksg_mi(x, y, **self.get_params())
