"""Exact, chunked log-density of the Gaussian-dropout mixture (the kernel behind :mod:`._dropout_mi`).

Convention (everywhere in ipdrop): ``variance`` = Var(D) = sigma^2 of the multiplicative noise
D ~ N(1, sigma^2), so a centre mu (a noiseless representation f(x)) is the diagonal Gaussian
N(mu, diag sigma^2 mu^2).

Zero activations are handled exactly, with no epsilon. A unit with mu_i = 0 has Z_i = 0 with
probability one, so each centre lives on the coordinate subspace of its *zero pattern*
b = 1[mu != 0]. Densities are taken with respect to the reference measure "Lebesgue measure on the
non-zero coordinates x point mass at 0 on the others". Under it a point z with pattern b has

    p(z) = (1/M) sum_{j : b(mu_j) = b} prod_{i : b_i = 1} N(z_i; mu_ji, sigma^2 mu_ji^2),

i.e. only centres with the same zero pattern contribute (the others are mutually singular with it),
and the product runs over the non-zero coordinates only. A point whose pattern matches no centre
has p(z) = 0 and log p(z) = -inf.

The quadratic forms of a chunk of points against all centres of a pattern group come from a single
matrix product (the "GEMM expansion"): with w_j = 1 / (sigma^2 mu_j^2),

    sum_i w_ji (z_i - mu_ji)^2 = (z*z) . w_j - 2 z . (mu_j*w_j) + sum_i mu_ji^2 w_ji,

so ``[z*z, z, 1] @ [-w/2, mu*w, c]^T`` (c = log-normaliser - sum mu^2 w / 2) is the matrix of
component log-densities; a row ``logsumexp`` finishes the job. In float32 this expansion cancels
catastrophically for small sigma (errors of ~1e-2 nats), so float64 is the default.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._base import as_2d_float, check_int, check_positive, resolve_device

__all__ = [
    "EntropyBounds",
    "mixture_logpdf",
    "component_entropies",
    "gaussian_entropy_upper_bound",
    "mixture_entropy_bounds",
    "kolchinsky_tracey_bounds",
    "zero_pattern_groups",
]

_LOG_2PI = math.log(2.0 * math.pi)


class EntropyBounds(NamedTuple):
    """A lower and an upper bound on a (differential) entropy, in nats."""

    lower: float
    upper: float


def _resolve_dtype(dtype):
    import torch

    if dtype is None:
        return torch.float64
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32; got {dtype!r}")
    return dtype


def zero_pattern_groups(*arrays: np.ndarray):
    """Group the rows of several arrays by their common zero pattern ``1[row != 0]``.

    Returns ``(patterns, inverse)``: ``patterns`` is the ``(K, d)`` boolean array of the distinct
    patterns (over all arrays together) and ``inverse`` is a list with, for each input array, the
    ``(n_rows,)`` integer id of each row's pattern.
    """
    masks = [np.asarray(a) != 0 for a in arrays]
    sizes = [m.shape[0] for m in masks]
    allm = np.concatenate(masks, axis=0)
    # pack bits so np.unique compares short byte rows instead of long bool rows
    packed = np.packbits(allm, axis=1)
    _, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    patterns = allm[first]
    out, start = [], 0
    for s in sizes:
        out.append(inv[start:start + s])
        start += s
    return patterns, out


def _logsumexp_(a):
    """Row logsumexp that overwrites ``a``; rows that are all -inf give -inf.

    After subtracting the row maximum the terms are clamped at -700 (float32: -80) before ``exp``: exp
    of arguments below ~-708 (float32: ~-87) takes a very slow subnormal/underflow path in the
    vectorised exp (25x slower here), while a clamped term adds at most M * 1e-304 (float32: M * 2e-35)
    to a sum that is >= 1, i.e. nothing at that precision.
    """
    import torch

    m = a.amax(dim=1, keepdim=True)
    fin = torch.isfinite(m)
    m = torch.where(fin, m, torch.zeros_like(m))
    a.sub_(m).clamp_(min=-700.0 if a.dtype == torch.float64 else -80.0).exp_()
    out = torch.log(a.sum(dim=1)) + m[:, 0]
    return torch.where(fin[:, 0], out, torch.full_like(out, -math.inf))


def _check_variance(variance) -> float:
    return check_positive(variance, "variance")


class _MixtureScorer:
    """Pre-grouped centres of a Gaussian-dropout mixture, reusable across many batches of scored points.

    ``score(z, exclude)`` returns ``logsumexp_j log N(z; mu_j, diag sigma^2 mu_j^2)`` over the centres
    with the zero pattern of each row of ``z`` (``-inf`` if there are none), *without* the 1/M weight.
    """

    def __init__(self, centers: np.ndarray, variance: float, device, dtype):
        self.centers = centers
        self.variance = variance
        self.device = device
        self.dtype = dtype
        self.m = centers.shape[0]
        mask = centers != 0
        packed = np.packbits(mask, axis=1)
        uniq, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        self.keys = {uniq[g].tobytes(): g for g in range(len(uniq))}
        self.nz = [np.flatnonzero(mask[i]) for i in first]
        self.group_of = inv
        self.order = np.argsort(inv, kind="stable")
        self.bounds = np.searchsorted(inv[self.order], np.arange(len(uniq) + 1))
        self.local = np.empty(self.m, dtype=np.int64)
        for g in range(len(uniq)):
            idx = self.order[self.bounds[g]:self.bounds[g + 1]]
            self.local[idx] = np.arange(len(idx))
        self._right: dict[int, object] = {}

    @property
    def n_patterns(self) -> int:
        return len(self.nz)

    def members(self, g: int) -> np.ndarray:
        return self.order[self.bounds[g]:self.bounds[g + 1]]

    def _right_factor(self, g: int):
        import torch

        r = self._right.get(g)
        if r is None:
            nz = self.nz[g]
            k = len(nz)
            mu = torch.as_tensor(self.centers[np.ix_(self.members(g), nz)], dtype=torch.float64)
            w = 1.0 / (self.variance * mu * mu)
            const = (-0.5 * k * (_LOG_2PI + math.log(self.variance)) - torch.log(mu.abs()).sum(1)
                     - 0.5 * (mu * mu * w).sum(1))
            r = torch.cat([-0.5 * w, mu * w, const[:, None]], dim=1).T.contiguous().to(self.device, self.dtype)
            self._right[g] = r
        return r

    def pattern_ids(self, z: np.ndarray) -> np.ndarray:
        """Centre-group id of each row's zero pattern (-1 when no centre has it)."""
        packed = np.packbits(z != 0, axis=1)
        uniq, inv = np.unique(packed, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        ids = np.array([self.keys.get(u.tobytes(), -1) for u in uniq], dtype=np.int64)
        return ids[inv]

    def score(self, z: np.ndarray, exclude=None, *, chunk_size: int = 2048, bar=None) -> np.ndarray:
        import torch

        n, d = z.shape
        out = np.full(n, -np.inf)
        gid = self.pattern_ids(z)
        order = np.argsort(gid, kind="stable")
        sg = gid[order]
        starts = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])
        ends = np.r_[starts[1:], n]
        dev, dt = self.device, self.dtype
        with torch.no_grad():
            for a, b in zip(starts, ends):
                g = int(sg[a])
                rows = order[a:b]
                if g < 0:  # pattern seen in no centre: p = 0
                    if bar is not None:
                        bar.update(len(rows))
                    continue
                right = self._right_factor(g)
                nz = self.nz[g]
                if b - a == n:  # one group holds every row: no gather copy of z
                    rows = np.arange(n)
                    zg = z if len(nz) == d else z[:, nz]
                else:
                    zg = z[rows] if len(nz) == d else z[np.ix_(rows, nz)]
                for s in range(0, len(rows), chunk_size):
                    zc = torch.as_tensor(zg[s:s + chunk_size], dtype=dt).to(dev)
                    left = torch.cat([zc * zc, zc, torch.ones(zc.shape[0], 1, dtype=dt, device=dev)], dim=1)
                    logc = left @ right  # (chunk, m_g): component log-densities
                    if exclude is not None:
                        e = exclude[rows[s:s + chunk_size]]
                        ok = (e >= 0) & (self.group_of[np.maximum(e, 0)] == g)
                        sel = np.flatnonzero(ok)
                        if len(sel):
                            loc = self.local[e[sel]]
                            logc[torch.as_tensor(sel, device=dev), torch.as_tensor(loc, device=dev)] = -math.inf
                    out[rows[s:s + chunk_size]] = _logsumexp_(logc).to("cpu", torch.float64).numpy()
                    done = zc.shape[0]
                    del logc, left, zc  # free before the next chunk is allocated: peak stays one chunk
                    if bar is not None:
                        bar.update(done)
        return out


def _check_exclude(exclude_self, n: int, m: int):
    if exclude_self is None:
        return None
    if hasattr(exclude_self, "detach"):
        exclude_self = exclude_self.detach().cpu().numpy()
    excl = np.asarray(exclude_self)
    if excl.shape != (n,) or excl.dtype.kind not in "iu":
        raise ValueError(f"exclude_self must be an integer array of shape ({n},); got dtype {excl.dtype}, shape {excl.shape}")
    if np.any(excl >= m) or np.any(excl < -1):
        raise ValueError(f"exclude_self entries must lie in [-1, {m - 1}] (-1 = exclude nothing)")
    if m < 2 and np.any(excl >= 0):
        raise ValueError("exclude_self needs at least 2 centres")
    return excl.astype(np.int64)


def mixture_logpdf(
    z,
    centers,
    variance: float,
    *,
    chunk_size: int = 2048,
    exclude_self=None,
    device="cpu",
    dtype=None,
    progress: bool = False,
) -> np.ndarray:
    """Log-density of points under the equal-weight Gaussian-dropout mixture of ``centers``.

    The mixture is p(z) = (1/M) sum_j N(z; mu_j, diag sigma^2 mu_j^2) with ``variance`` = sigma^2
    = Var(D), D ~ N(1, sigma^2) (so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2)). Zero coordinates are
    exact: a point only sees centres with its own zero pattern, and densities are w.r.t. Lebesgue
    measure on the non-zero coordinates x point mass at 0 (see the module docstring). A point whose
    pattern matches no (non-excluded) centre gets ``-inf``; no epsilon is ever added.

    Parameters
    ----------
    z : array-like (n, d)
        Points to score (numpy array or torch tensor).
    centers : array-like (M, d)
        Mixture means mu_j (noiseless representations f(x_j)).
    variance : float
        sigma^2 = Var(D) > 0.
    chunk_size : int
        Number of scored points processed at once; memory is O(chunk_size x M) whatever n.
    exclude_self : array-like of int (n,), optional
        Leave-one-out scoring: row r is scored under the mixture of all centres except
        ``exclude_self[r]`` (weights 1/(M-1)); -1 means "exclude nothing" for that row.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    dtype : torch dtype
        ``torch.float64`` (default). float32 loses ~1e-2 nats at small sigma in the GEMM expansion.
    progress : bool
        Show a tqdm bar over scored points.

    Returns
    -------
    numpy.ndarray (n,)
        log p(z_r) in nats (float64).
    """
    variance = _check_variance(variance)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    dtype = _resolve_dtype(dtype)
    dev = resolve_device(device)
    zz = as_2d_float(z, "z", min_samples=1)
    cc = as_2d_float(centers, "centers", min_samples=1)
    if zz.shape[1] != cc.shape[1]:
        raise ValueError(f"z and centers must have the same dimension; got {zz.shape[1]} and {cc.shape[1]}")
    n, m = zz.shape[0], cc.shape[0]
    excl = _check_exclude(exclude_self, n, m)
    scorer = _MixtureScorer(cc, variance, dev, dtype)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="mixture log-density", unit="pt")
    try:
        lse = scorer.score(zz, excl, chunk_size=chunk_size, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    log_weight = np.full(n, -math.log(m))
    if excl is not None:
        log_weight[excl >= 0] = -math.log(m - 1) if m > 1 else 0.0
    return lse + log_weight


def component_entropies(centers, variance: float) -> np.ndarray:
    """Entropy of each component N(mu_j, diag sigma^2 mu_j^2) over its non-zero coordinates.

    h_j = sum_{i: mu_ji != 0} log(|mu_ji| sigma sqrt(2 pi e)), with ``variance`` = sigma^2 = Var(D)
    (reference measure: Lebesgue on non-zero coordinates x point mass at 0 on the others).
    """
    variance = _check_variance(variance)
    c = as_2d_float(centers, "centers", min_samples=1)
    nzm = c != 0
    a = np.abs(np.where(nzm, c, 1.0))
    return np.log(a).sum(1) + 0.5 * nzm.sum(1) * (_LOG_2PI + 1.0 + math.log(variance))


def gaussian_entropy_upper_bound(z, *, shrinkage="ledoit-wolf") -> float:
    """Max-entropy upper bound on h(Z): the entropy of a Gaussian with the covariance of ``z``.

    h(Z) <= 1/2 log((2 pi e)^d det Cov(Z)), computed with ``slogdet`` (never ``det``, which
    overflows for d >~ 100). The sample covariance is shrunk towards (tr S / d) I with the
    Ledoit-Wolf coefficient (or a fixed ``shrinkage`` in [0, 1]); since log det is concave and
    det((tr S/d) I) >= det S, shrinkage only raises the bound, and it keeps it finite when n <= d.
    Only meaningful for Lebesgue densities on R^d: if some column of ``z`` is identically 0 the
    bound is -inf/undefined, so a ``ValueError`` is raised.

    Parameters
    ----------
    z : array-like (n, d)
        Samples of Z (e.g. the noisy representations).
    shrinkage : "ledoit-wolf" or float in [0, 1]

    Returns
    -------
    float : the bound in nats.
    """
    x = as_2d_float(z, "z", min_samples=2)
    n, d = x.shape
    xc = x - x.mean(0)
    s = xc.T @ xc / n
    mu = np.trace(s) / d
    if not mu > 0:
        raise ValueError("z has zero variance in every coordinate; the Gaussian bound is -inf")
    if np.any(np.all(x == 0, axis=0)):
        raise ValueError("z has a coordinate that is identically 0 (a dead unit); the Gaussian upper bound "
                         "needs a density on all of R^d - drop such columns first")
    if isinstance(shrinkage, str):
        if shrinkage != "ledoit-wolf":
            raise ValueError(f"shrinkage must be 'ledoit-wolf' or a float in [0, 1]; got {shrinkage!r}")
        # Ledoit & Wolf (2004) optimal coefficient towards mu*I
        delta2 = ((s - mu * np.eye(d)) ** 2).sum() / d
        x2 = xc * xc
        beta2 = ((x2.T @ x2) / n - s * s).sum() / (d * n)
        alpha = 0.0 if delta2 == 0 else float(min(max(beta2, 0.0), delta2) / delta2)
    else:
        alpha = float(shrinkage)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1]; got {shrinkage!r}")
    cov = (1 - alpha) * s + alpha * mu * np.eye(d)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise ValueError("covariance of z is singular; use shrinkage > 0 or more samples")
    return float(0.5 * (d * (_LOG_2PI + 1.0) + logdet))


def mixture_entropy_bounds(centers, variance: float) -> EntropyBounds:
    """Elementary bounds on the entropy of the equal-weight Gaussian-dropout mixture of ``centers``.

    sum_j w_j h_j <= h(mixture) <= sum_j w_j h_j + H(w) = mean_j h_j + log M, where
    h_j is the entropy of N(mu_j, diag sigma^2 mu_j^2) and ``variance`` = sigma^2 = Var(D).
    This is the h(Z) of the "dataset" view (X uniform on the sample); the lower bound is h(Z|X).
    """
    h = component_entropies(centers, variance)
    lo = float(h.mean())
    return EntropyBounds(lo, lo + math.log(len(h)))


def kolchinsky_tracey_bounds(centers, variance: float, *, chunk_size: int = 512, device="cpu", dtype=None) -> EntropyBounds:
    """Kolchinsky & Tracey (Entropy 2017) pairwise-distance bounds on the mixture entropy.

    H_D = sum_i w_i h_i - sum_i w_i log sum_j w_j exp(-D(p_i || p_j)); D = Bhattacharyya distance
    gives a lower bound, D = KL divergence an upper bound. Components are N(mu_j, diag sigma^2 mu_j^2)
    with ``variance`` = sigma^2 = Var(D). Components with different zero patterns are mutually
    singular (D = inf). Cost O(M^2 d), memory O(chunk_size x M x d) for the Bhattacharyya part.

    Returns
    -------
    EntropyBounds(lower=H_Bhattacharyya, upper=H_KL)
    """
    import torch

    variance = _check_variance(variance)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    dtype = _resolve_dtype(dtype)
    dev = resolve_device(device)
    c = as_2d_float(centers, "centers", min_samples=1)
    m = c.shape[0]
    h = component_entropies(c, variance)
    patterns, (cid,) = zero_pattern_groups(c)
    order_c = np.argsort(cid, kind="stable")
    bounds_c = np.searchsorted(cid[order_c], np.arange(len(patterns) + 1))
    lse_kl = np.empty(m)
    lse_bd = np.empty(m)
    s2 = variance
    with torch.no_grad():
        for g in range(len(patterns)):
            idx = order_c[bounds_c[g]:bounds_c[g + 1]]
            nz = np.flatnonzero(patterns[g])
            k = len(nz)
            mu = torch.as_tensor(c[np.ix_(idx, nz)], dtype=dtype, device=dev)
            logabs = torch.log(mu.abs()).sum(1)
            inv = 1.0 / mu
            # KL(i||j) = sum log|b|-log|a| + (1+s2)/(2 s2) sum a^2/b^2 - (1/s2) sum a/b + k/(2 s2) - k/2
            for s in range(0, len(idx), chunk_size):
                a = mu[s:s + chunk_size]
                kl = (logabs[None, :] - logabs[s:s + chunk_size, None]
                      + (1 + s2) / (2 * s2) * ((a * a) @ (inv * inv).T)
                      - (a @ inv.T) / s2 + k / (2 * s2) - k / 2)
                lse_kl[idx[s:s + chunk_size]] = torch.logsumexp(-kl, 1).cpu().double().numpy()
                # Bhattacharyya, per coordinate: (a-b)^2 / (4 s2 (a^2+b^2)) + 1/2 log((a^2+b^2) / (2|a||b|))
                sub = max(1, int(2**22 // max(1, len(idx) * max(k, 1))))
                for t in range(0, a.shape[0], sub):
                    aa = a[t:t + sub, None, :]
                    bb = mu[None, :, :]
                    q = aa * aa + bb * bb
                    bd = ((aa - bb) ** 2 / (4 * s2 * q) + 0.5 * torch.log(q / (2 * (aa * bb).abs()))).sum(-1)
                    lse_bd[idx[s + t:s + min(t + sub, a.shape[0])]] = torch.logsumexp(-bd, 1).cpu().double().numpy()
    logm = math.log(m)
    upper = float(np.mean(h) - np.mean(lse_kl - logm))
    lower = float(np.mean(h) - np.mean(lse_bd - logm))
    return EntropyBounds(lower, upper)
