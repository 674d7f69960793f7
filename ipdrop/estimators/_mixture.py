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

Screened evaluation (``method="screened"``; "auto" picks it for float64, d >= 32): the row logsumexp is
dominated by the terms within a few tens of nats of the row maximum. Per chunk:

1. one *float32* GEMM of the same expansion gives approximate log-terms ``G_ij`` (half the cost of
   float64, and no exponentials at all);
2. a rigorous rounding-error bound decides which terms may lie within ``T`` = ``screen_nats`` of the
   row maximum. For any summation order, |fl32(sum_p x_p y_p) - sum_p x_p y_p| <= gamma_{n} sum_p |x_p y_p|
   (gamma_n = n u / (1 - n u), u = 2^-24, n = 2k + 4 counting the rounding of the inputs), and with
   (|z| + |mu|)^2 <= 2 (z - mu)^2 + 8 mu^2 and sum_i w_ji mu_ji^2 = k / sigma^2 exactly,
   sum_p |x_p y_p| <= Q_ij + 3.5 k / sigma^2 + |const_j| with Q_ij = sum_i w_ji (z_i - mu_ji)^2.
   Folding a shift H >= g (2 c_j + S_j) (one constant for all centres; c_j the log-normaliser,
   S_j >= 3.5 k / sigma^2 + |const_j|) into the constant column gives, with g = 2 gamma_n (a factor 2 of
   safety), (1 + 2g) a_ij <= G_ij <= (1 - 2g) a_ij + 2H. Hence L_i = (max_j G_ij - 2H) / (1 - 2g) <= max_j a_ij,
   and every term with a_ij >= L_i - T survives the test G_ij >= (1 + 2g)(L_i - T) (thresholds are
   widened by 1e-3 nats + 2^-20 relative for the float32 rounding of the threshold itself);
3. the surviving pairs are recomputed in float64 with the direct difference form
   sum_i ((z_i - mu_ji) / |mu_ji|)^2 / sigma^2 (no cancellation) and log-sum-exp'ed;
4. a chunk whose survivors exceed ``max_candidate_fraction`` of its entries (low d, large sigma, heavy
   overlap) is evaluated by the dense float64 path instead, and so is the rest of its pattern group
   (for the lifetime of the scorer object).

Two stages in practice: when k >= 16 the float32 GEMM first runs on the first ceil(k/2) coordinates
only. Since Q_ij is a sum of non-negative per-coordinate terms, that partial sum already gives a
rigorous *upper* bound on every a_ij (same rounding bound, constant column shifted by the scalar
(k - k1) / (2 sigma^2) so that the stage-2 sum needs no new constant); with one exact float64 term per
row (at the stage-1 arg-max) as the lower bound L_i it usually leaves a handful of candidates per row,
and then the second half of the GEMM is skipped. Otherwise the second half is added (``addmm``) and
the test of step 2 is repeated on the full sum.

Which path a pattern group takes is decided on its first screened chunk (in the scorer's life) and then kept: if
stage 1 keeps too many terms there (e.g. leave-one-out rows, whose maximum lies tens of nats below the own term),
later chunks skip stage 1 and run the full-width float32 GEMM at once (same bound, one pass less); if the first chunk
exceeds ``max_candidate_fraction`` the group goes dense. Later chunks that exceed it are evaluated densely alone.
The exact lower bound L_i is also taken at the full-width arg-max (an exact float64 term, sharper than the float32
bound). On CPU the row arg-max, the threshold test, the count and the candidate list run in numpy on views of the
same buffers (``argmax``, ``greater_equal(out=)``, ``flatnonzero`` + ``divmod``: 5x, 2x and 6x faster than the torch
calls here), and the candidates' centres are gathered with ``take`` into reused buffers.

Threads: with torch threads T > 1 on CPU the chunks of a group run in T worker threads with one torch thread each and
their own buffers (numpy releases the GIL in every heavy step), so the screening steps use every core, not only the
GEMM. Since the per-group decisions come from the group's first chunk (run alone), the values do not depend on T.

Guarantee: every dropped term is < e^{-T} times the largest term, so the neglected mass is at most
M e^{-T} relative to the kept sum, i.e. log p(z) is low by at most M e^{-T} nats (T = 50, M = 1e6:
2e-16). The kept terms are exact float64 values, so the result is at least as accurate as the dense
float64 path (whose expansion loses ~1e-12 relative at sigma^2 = 0.2, d = 128). Groups or chunks whose
float32 image could overflow (1 / (sigma^2 mu^2) or z^2 beyond ~1e30) use the dense path. The unit
roundoff u is read from the per-backend precision API (``torch.backends.mkldnn.matmul.fp32_precision``,
``torch.backends.cuda.matmul.fp32_precision``, falling back to ``torch.backends.fp32_precision``; never the
legacy ``torch.get_float32_matmul_precision()`` / ``allow_tf32``, which raise on torch >= 2.9 once the new API
has been used): "ieee" gives 2^-24; "tf32" 2^-11 and "bf16" 2^-8 make the bound useless (nterm * u >= 0.01 for
k >= 2 / k >= 1), and the dense path is used.

Device choice (CUDA): "auto" is the screened path on every device for float64. On CUDA the float32 screen GEMM
runs with TF32 switched off (``torch.backends.cuda.matmul.fp32_precision = "ieee"`` inside the scorer, restored
afterwards), so its certified bound holds with u = 2^-24; survivors are recomputed in float64 as on the CPU.
Rationale: it replaces the float64 GEMM + N*M exponentials of the dense path by a float32 GEMM (no exponentials)
plus O(candidates) float64 work. Not run on a GPU yet (no GPU on the development machine): the CUDA timings and
the screened-vs-dense choice there are unmeasured; ``method="dense"`` remains available.

Work buffers (the float32/float64 left factors, the chunk x M_g GEMM outputs and the keep mask) are persistent
per scorer and only grow; allocating them per chunk cost page faults that halved GEMM speed (1.36-1.43x).
"""

from __future__ import annotations

import math
import threading
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
    "free_work_buffers",
]

_LOG_2PI = math.log(2.0 * math.pi)

# Work buffers of the scorer (GEMM output, keep mask, left factors) are kept between calls in a small module-level
# pool: a fresh 80 MB buffer costs its page faults inside the first GEMM that writes it (measured: the first chunk
# of a call 0.16 s vs 0.09 s for the others at N = M = 10k, d = 128). Idle sets are kept up to this many bytes in
# all; larger sets are freed when their call ends. free_work_buffers() empties the pool.
_POOL_MAX_BYTES = 512 * 2**20
_pool_lock = threading.Lock()
_pool: list[dict] = []


def _buffer_bytes(bufs: dict) -> int:
    return sum(int(b.numel()) * b.element_size() for b in bufs.values())


def _acquire_buffers() -> dict:
    """An idle work-buffer set from the pool (the most recently returned), or a new empty one."""
    with _pool_lock:
        return _pool.pop() if _pool else {}


def _return_buffers(bufs: dict) -> None:
    """Give a work-buffer set back; kept only while the idle pool stays within ``_POOL_MAX_BYTES``."""
    size = _buffer_bytes(bufs)
    if size == 0:
        return
    with _pool_lock:
        if size + sum(_buffer_bytes(b) for b in _pool) <= _POOL_MAX_BYTES:
            _pool.append(bufs)


def free_work_buffers() -> int:
    """Free the mixture scorer's idle work buffers (kept between calls to avoid page faults); returns the bytes freed."""
    with _pool_lock:
        size = sum(_buffer_bytes(b) for b in _pool)
        _pool.clear()
    return size


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
        out.append(inv[start : start + s])
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


def _segment_logsumexp(a, rows, nrow: int, use_numpy: bool):
    """logsumexp of ``a`` grouped by ``rows`` (sorted ascending); rows without entries give -inf.

    Deterministic on every device (no atomics): numpy ``reduceat`` on CPU, a padded matrix elsewhere.
    """
    import torch

    if use_numpy:
        an, rn = a.numpy(), rows.numpy()
        out = np.full(nrow, -np.inf)
        if len(an):
            starts = np.flatnonzero(np.r_[True, rn[1:] != rn[:-1]])
            mx = np.maximum.reduceat(an, starts)
            seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(an)]))
            ssum = np.add.reduceat(np.exp(np.maximum(an - mx[seg], -700.0)), starts)
            out[rn[starts]] = np.log(ssum) + mx
        return torch.from_numpy(out)
    counts = torch.bincount(rows, minlength=nrow)
    width = max(int(counts.max()) if len(a) else 1, 1)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(a), device=a.device) - starts[rows]
    padded = torch.full((nrow, width), -math.inf, dtype=torch.float64, device=a.device)
    padded[rows, pos] = a
    return _logsumexp_(padded)


#: smallest accepted ``variance`` (exclusive). Below it the noise sigma |f| is < 1e-8 |f| and every log-density
#: involves terms of size k / variance >= 1e16 * k that must cancel down to O(1): float64 (relative resolution
#: 2.2e-16) cannot resolve them, so any estimate would be rounding noise.
MIN_VARIANCE = 1e-16
# after per-column power-of-two rescaling (column max |f| in [0.5, 1)) a non-zero |f| below this would make
# 1 / (variance f^2) overflow float64
_MIN_SCALED = 1e-150


def _check_variance(variance) -> float:
    v = check_positive(variance, "variance")
    if v <= MIN_VARIANCE:
        raise ValueError(
            f"variance={variance!r} is <= {MIN_VARIANCE:g}: the noise sigma*|f| would be below 1e-8 of |f| "
            f"and the log-densities would need terms of size d/variance >= 1e16*d to cancel to O(1), "
            f"which float64 (relative resolution 2.2e-16) cannot resolve; the estimate would be "
            f"meaningless. Use variance > {MIN_VARIANCE:g}"
        )
    return v


def column_exponents(*arrays: np.ndarray) -> np.ndarray:
    """Per-column power-of-two exponents e_i with max |a_.i| * 2^-e_i in [0.5, 1) over all ``arrays`` (0 for zero columns).

    Gaussian-dropout densities are scale-equivariant per coordinate: for Z' = c Z (c_i > 0),
    log p_Z(z) = log p_Z'(c z) + sum_{i: z_i != 0} log c_i, for the mixture and for each component alike,
    so I(X;Z) is unchanged. Rescaling by exact powers of two (``np.ldexp``) moves activations of any
    magnitude (1e200, 1e-170) into [0.5, 1) without rounding, where squares and 1 / (sigma^2 f^2) cannot
    overflow or underflow.
    """
    amax = np.zeros(arrays[0].shape[1])
    for a in arrays:
        if a.shape[0]:
            amax = np.maximum(amax, np.abs(a).max(0))
    _, e = np.frexp(amax)
    return e.astype(np.int64)


def rescale_columns(a: np.ndarray, e: np.ndarray, name: str) -> np.ndarray:
    """``a * 2^-e`` per column (exact); raises when a non-zero entry would leave the safe float64 range."""
    e = np.asarray(e, dtype=np.int64)
    if e.size and int(np.abs(e).max()) < 1000:
        # times the power of two 2^-e (a normal float64 here): correctly rounded like ldexp, so the same values,
        # about 5x faster than ldexp's integer-exponent loop
        out = a * np.ldexp(1.0, -e)[None, :]
    else:
        out = np.ldexp(a, -e[None, :])
    small = np.abs(out) < _MIN_SCALED  # zeros included: they are removed below only when something is small
    if small.any():
        small &= a != 0
    if small.any():
        cols = np.flatnonzero(small.any(0))
        raise ValueError(
            f"{name}: column(s) {cols[:5].tolist()} span more than 1e150 between their largest and smallest "
            f"non-zero |value|; 1/(variance*f^2) overflows float64 there (an underflow/overflow of the "
            f"representation, not a zero pattern). Check the activations for degenerate values"
        )
    return out


def _blas_threads():
    """Context limiting numpy's BLAS to ``torch.get_num_threads()`` threads (no oversubscription)."""
    import contextlib

    try:
        import torch
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=max(1, torch.get_num_threads()), user_api="blas")


_METHODS = ("auto", "dense", "screened")


def _check_method(method) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    return method


def _fp32_precision(backend: str) -> str:
    """Effective float32 matmul precision of ``backend`` ("cuda" or "mkldnn") from the per-backend API.

    Reads ``torch.backends.<backend>.matmul.fp32_precision``, then ``torch.backends.<backend>.fp32_precision``,
    then ``torch.backends.fp32_precision`` ("none" = inherit from the next level). Never the legacy
    ``torch.get_float32_matmul_precision()`` / ``allow_tf32``: on torch >= 2.9 those raise ``RuntimeError``
    once the per-backend API has been used. Returns "ieee", "tf32" or "bf16" ("ieee" when all say "none").
    """
    import torch

    mod = getattr(torch.backends, backend, None)
    for obj in (getattr(mod, "matmul", None), mod, torch.backends):
        val = getattr(obj, "fp32_precision", "none") if obj is not None else "none"
        if val not in (None, "none"):
            return str(val)
    return "ieee"


def _float32_unit_roundoff(device) -> float:
    """Unit roundoff of a float32 matmul on ``device`` (reduced-precision modes counted)."""
    backend = "cuda" if getattr(device, "type", str(device)) == "cuda" else "mkldnn"
    prec = _fp32_precision(backend)
    if prec == "ieee":
        return 2.0**-24
    if prec == "tf32":
        return 2.0**-11
    return 2.0**-8  # bf16 (or anything unknown): be conservative


class _IEEEFloat32Matmul:
    """Context: float32 matmuls on CUDA in full IEEE precision (TF32 off) via the per-backend API, restored on exit.

    The screened path's certified bound needs u = 2^-24; TF32 (u = 2^-11) would make the bound useless.
    A no-op on the CPU (oneDNN uses full float32 unless ``torch.backends.mkldnn.matmul.fp32_precision`` says
    otherwise; then :func:`_float32_unit_roundoff` counts it and the screen falls back to the dense path).
    """

    def __init__(self, device):
        self.on = getattr(device, "type", str(device)) == "cuda"
        self.saved = None

    def __enter__(self):
        if self.on:
            import torch

            try:
                self.saved = torch.backends.cuda.matmul.fp32_precision
                torch.backends.cuda.matmul.fp32_precision = "ieee"
            except RuntimeError:  # could not switch: _float32_unit_roundoff then sees TF32 and the screen goes dense
                self.on = False
        return self

    def __exit__(self, *exc):
        if self.on:
            import torch

            torch.backends.cuda.matmul.fp32_precision = self.saved
        return False


class _ScreenData(NamedTuple):
    r1: object  # (2k1+1, m_g) float32: [-w/2, mu w] on the first k1 coordinates + [c - k1/(2 sigma^2) + H]
    r2: object  # (2(k-k1), m_g) float32: [-w/2, mu w] on the other coordinates (None when k1 = k)
    k1: int
    mu: object  # (m_g, k) float64 centres (numpy on CPU, else a torch tensor), gathered per candidate pair
    r: object  # (2k+1, m_g) float32: r1 and r2 stacked (one GEMM when stage 1 is skipped)
    const: object  # (m_g,) float64 log-normalisers c_j (numpy on CPU, else a torch tensor)
    g1: float  # relative error factor of the stage-1 float32 GEMM (safety 2 included)
    g: float  # same for the full float32 sum
    shift: float  # H: error-bound shift folded into the constant column
    delta: float  # (k - k1) / (2 sigma^2): the full float32 sum approximates a + delta + H
    max_right: float  # max |r1|, |r2|, for the overflow guard


class _MixtureScorer:
    """Pre-grouped centres of a Gaussian-dropout mixture, reusable across many batches of scored points.

    ``score(z, exclude)`` returns ``logsumexp_j log N(z; mu_j, diag sigma^2 mu_j^2)`` over the centres
    with the zero pattern of each row of ``z`` (``-inf`` if there are none), *without* the 1/M weight.
    ``method`` / ``screen_nats`` / ``max_candidate_fraction``: see :func:`mixture_logpdf`.
    """

    # "auto" screens only pattern groups with at least this many centres and non-zero coordinates: smaller
    # groups are cheap anyway, and in a few dimensions the log-terms rarely spread over 50 nats, so most
    # chunks would fall back to the dense path after paying for the screen
    _AUTO_MIN_CENTRES = 256
    _AUTO_MIN_DIM = 32

    def __init__(
        self,
        centers: np.ndarray,
        variance: float,
        device,
        dtype,
        method: str = "auto",
        screen_nats: float = 50.0,
        max_candidate_fraction: float = 0.01,
    ):
        import torch

        self.centers = centers
        self.variance = variance
        self.device = device
        self.dtype = dtype
        self.method = _check_method(method)
        self.screen_nats = float(screen_nats)
        self.max_candidate_fraction = float(max_candidate_fraction)
        if self.method == "auto":
            # float64 requested: the screened path is exact to float64 (kept terms) and faster on CPU (measured)
            # and, with TF32 off for its float32 GEMM (see _IEEEFloat32Matmul), certified on CUDA too
            self._screen_ok = dtype == torch.float64
        else:
            self._screen_ok = self.method == "screened"
        self.m = centers.shape[0]
        self._device_exact = torch.empty(0, device=device).device  # with its index: pooled buffers must match it
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
            idx = self.order[self.bounds[g] : self.bounds[g + 1]]
            self.local[idx] = np.arange(len(idx))
        self._right: dict[int, object] = {}
        self._screen: dict[int, object] = {}
        self._dense_groups: set[int] = set()  # groups whose screen kept too many terms: dense from then on
        self._stage1: dict[int, bool] = {}  # group -> run stage 1 (decided on the group's first screened chunk)
        self._probed: set[int] = set()  # groups whose first screened chunk has run (their decisions are taken)
        self._numpy_gathers = True  # CPU: candidate gathers in numpy (tests switch to the all-torch device path)
        # statistics of the last score() call: chunks screened / dense, candidate pairs
        self.stats = {"screened_chunks": 0, "dense_chunks": 0, "candidates": 0, "entries": 0}
        # work buffers (grown on demand, never per chunk), from the module pool for the duration of score()
        self._bufs: dict[str, object] = {}
        self._worker_bufs: list[dict] = []  # one buffer set per worker thread (see score)
        self._tls = threading.local()  # .bufs: the buffer set of the current worker thread
        self._lock = threading.Lock()  # guards stats

    def _buf(self, name: str, nrow: int, ncol: int, dtype):
        """A ``(nrow, ncol)`` view of a persistent buffer ``name`` (reallocated only when too small).

        Allocating a fresh chunk-sized tensor per chunk costs page faults that halve GEMM speed
        (measured 1.36-1.43x slower); the values are bit-identical either way.
        """
        import torch

        bufs = getattr(self._tls, "bufs", None)
        if bufs is None:
            bufs = self._bufs
        need = nrow * ncol
        b = bufs.get(name)
        if b is None or b.numel() < need or b.dtype != dtype or b.device != self._device_exact:
            b = torch.empty(max(need, 1), dtype=dtype, device=self.device)
            bufs[name] = b
        return b[:need].view(nrow, ncol)

    def release_buffers(self) -> None:
        """Drop this scorer's work buffers (:meth:`score` gives them back to the module pool when it ends)."""
        self._bufs = {}
        self._worker_bufs = []

    @property
    def n_patterns(self) -> int:
        return len(self.nz)

    def members(self, g: int) -> np.ndarray:
        return self.order[self.bounds[g] : self.bounds[g + 1]]

    def _right_factor(self, g: int):
        import torch

        r = self._right.get(g)
        if r is None:
            nz = self.nz[g]
            k = len(nz)
            mu = torch.as_tensor(self.centers[np.ix_(self.members(g), nz)], dtype=torch.float64)
            w = 1.0 / (self.variance * mu * mu)
            const = (
                -0.5 * k * (_LOG_2PI + math.log(self.variance))
                - torch.log(mu.abs()).sum(1)
                - 0.5 * (mu * mu * w).sum(1)
            )
            r = torch.cat([-0.5 * w, mu * w, const[:, None]], dim=1).T.contiguous().to(self.device, self.dtype)
            self._right[g] = r
        return r

    def _use_screen(self, g: int) -> bool:
        if not self._screen_ok:
            return False
        if g in self._dense_groups:
            return False
        if self.method == "auto" and (
            self.bounds[g + 1] - self.bounds[g] < self._AUTO_MIN_CENTRES or len(self.nz[g]) < self._AUTO_MIN_DIM
        ):
            return False
        return self._screen_data(g) is not None

    # two-stage screening (a float32 GEMM on the first half of the coordinates, then on the rest)
    # needs at least this many non-zero coordinates
    _TWO_STAGE_MIN_K = 16
    # stage 1 alone decides a chunk when at most this fraction of its entries survive it
    _STAGE1_FRACTION = 0.002

    def _screen_data(self, g: int):
        """float32 right factors with the error-bound shift folded in, plus float64 data for recomputation.

        ``None`` when screening cannot be made rigorous for this group (float32 range, reduced precision).
        """
        import torch

        if g in self._screen:
            return self._screen[g]
        nz = self.nz[g]
        k = len(nz)
        s2 = self.variance
        u = _float32_unit_roundoff(self.device)
        data = None
        # 2k+1 products, +3 for rounding the inputs to float32; factor 2 of safety for the float64
        # rounding of w, mu w and the constants
        nterm = 2 * k + 4
        if nterm * u < 0.01 and k > 0:
            k1 = (k + 1) // 2 if k >= self._TWO_STAGE_MIN_K else k
            g1 = 2.0 * (2 * k1 + 4) * u / (1.0 - (2 * k1 + 4) * u)
            gf = 2.0 * nterm * u / (1.0 - nterm * u)
            mem = self.members(g)
            if len(mem) == self.m and np.all(mem[1:] > mem[:-1]):
                mu = self.centers if k == self.centers.shape[1] else self.centers[:, nz]
            else:
                mu = self.centers[mem] if k == self.centers.shape[1] else self.centers[np.ix_(mem, nz)]
            mu = np.ascontiguousarray(mu, dtype=np.float64)
            absmu = np.abs(mu)
            with np.errstate(divide="ignore"):
                inv = 1.0 / absmu
            const = -0.5 * k * (_LOG_2PI + math.log(s2)) - np.log(absmu).sum(1)  # c_j
            cprime = const - 0.5 * k1 / s2
            # sum |terms| <= Q + 3.5 k / s2 + |c' + H| (module docstring); H >= g (2 c_j + S_j) for all j
            big = float(np.max(2.0 * np.abs(const) + np.abs(cprime))) + 3.5 * k / s2
            shift = 2.0 * gf * big
            r = np.empty((2 * k + 1, len(mem)), dtype=np.float32)
            # tiny centres (e.g. floored softplus zeros) overflow float32 here: that is caught just below
            # (a non-finite screen falls back to the exact float64 path), so the cast warning is noise.
            # The factors are formed row-major (centre x coordinate) and transposed once into r's rows
            with np.errstate(over="ignore", invalid="ignore"):
                sq = np.square(inv)
                sq *= -0.5 / s2  # -w/2 = -1 / (2 s2 mu^2)
                lin = np.copysign(inv, mu)  # the coordinates are non-zero: sign(mu) / |mu| exactly
                lin /= s2  # mu w = 1 / (s2 mu)
                r[:k1] = sq[:, :k1].T
                r[k1 : 2 * k1] = lin[:, :k1].T
                r[2 * k1] = cprime + shift
                if k1 < k:
                    k2 = k - k1
                    r[2 * k1 + 1 : 2 * k1 + 1 + k2] = sq[:, k1:].T
                    r[2 * k1 + 1 + k2 :] = lin[:, k1:].T
                del sq, lin
            with np.errstate(over="ignore", invalid="ignore"):
                max_right = float(np.max(np.abs(r))) if r.size else 0.0
            if math.isfinite(max_right) and max_right < 1e30 and np.all(np.isfinite(const)):
                dev = self.device
                rt = torch.from_numpy(r).to(dev)
                on_cpu = getattr(dev, "type", str(dev)) == "cpu" and self._numpy_gathers
                data = _ScreenData(
                    rt[: 2 * k1 + 1],
                    rt[2 * k1 + 1 :] if k1 < k else None,
                    k1,
                    mu if on_cpu else torch.from_numpy(mu).to(dev),
                    rt,
                    const if on_cpu else torch.from_numpy(const).to(dev),
                    g1,
                    gf,
                    shift,
                    0.5 * (k - k1) / s2,
                    max_right,
                )
        self._screen[g] = data
        return data

    def _exact_terms(self, sd: _ScreenData, z64, rows, cols):
        """float64 log-terms a = c_j - sum(((z - mu_j) / mu_j)^2) / (2 sigma^2) for the pairs (rows, cols).

        ``rows=None`` means every row of ``z64`` once, in order. The direct difference form has no
        cancellation (z - mu_j is exact or correctly rounded, the quotient adds one rounding: <= 2 ulps of each
        standardised difference). On CPU the gathers run in numpy ``take`` into reused L2-sized buffers (2.3x
        faster than fancy indexing here); elsewhere in torch.
        """
        import torch

        k = z64.shape[1]
        npair = z64.shape[0] if rows is None else rows.shape[0]
        half = 0.5 / self.variance
        # pairs per gather: L2-sized blocks on CPU; on an accelerator each block is a few kernel launches, so the
        # blocks are 64x larger (4M gathered values, 32 MB float64 per temporary)
        on_cpu = getattr(z64.device, "type", "cpu") == "cpu"
        step = max(1, (1 << (16 if on_cpu else 22)) // max(k, 1))
        if isinstance(sd.mu, np.ndarray):
            zn = z64.numpy()
            cn = cols.numpy() if hasattr(cols, "numpy") else cols
            rn = None if rows is None else (rows.numpy() if hasattr(rows, "numpy") else rows)
            out = np.empty(npair)
            width = min(step, npair)
            pk = np.empty((width, k))
            zz = np.empty((width, k))
            for s in range(0, npair, step):
                c = cn[s : s + step]
                nn = len(c)
                t, mu = zz[:nn], pk[:nn]
                np.take(sd.mu, c, axis=0, out=mu)
                if rn is None:
                    np.subtract(zn[s : s + step], mu, out=t)
                else:
                    np.take(zn, rn[s : s + step], axis=0, out=t)
                    t -= mu
                t /= mu
                out[s : s + step] = np.einsum("ij,ij->i", t, t)
            out *= -half
            out += sd.const[cn]
            return torch.from_numpy(out)
        out = torch.empty(npair, dtype=torch.float64, device=z64.device)
        for s in range(0, npair, step):
            c = cols[s : s + step]
            mu = sd.mu.index_select(0, c)
            zr = z64[s : s + step] if rows is None else z64.index_select(0, rows[s : s + step])
            t = (zr - mu).div_(mu)
            out[s : s + step] = sd.const.index_select(0, c) - half * t.square_().sum(1)
        return out

    def _score_screened(self, sd: _ScreenData, z64, mask_rows, mask_cols, p=None, g: int = -1):
        """Screened logsumexp of one chunk; ``None`` when too many candidates (caller goes dense).

        Returns ``(lse, lse_prefix)``: the row logsumexp over all columns of the group and, when ``p`` is
        given, over its first ``p`` columns (else ``None``). The prefix gets its own row maximum and
        threshold from the same float32 GEMM output, so both are certified to the same ``screen_nats``.

        ``g`` (the pattern group) keys the stage-1 policy: when stage 1 keeps too many terms on the group's first
        chunk, the group's later chunks skip it and run the full-width GEMM at once (same bound, one pass less).
        On CPU the row arg-max, the threshold test and the count run in numpy on views of the same buffers
        (torch's ``max(dim=1)`` was 5x slower than numpy's ``argmax`` here, ``ge`` 2x).
        """
        import torch

        nrow, k = z64.shape
        m_g = sd.r1.shape[1]
        k1 = sd.k1
        amax_z = float(z64.abs().amax()) if z64.numel() else 0.0
        max_left = max(amax_z, amax_z * amax_z)
        if not (max_left < 1e30 and (2 * k + 2) * max_left * max(sd.max_right, 1.0) < 1e36):
            return None  # float32 range: products or partial sums could overflow
        if p is not None and p >= m_g:
            p = None  # the prefix is the whole group: same as the full view
            full_prefix = True
        else:
            full_prefix = False
        use_np = isinstance(sd.mu, np.ndarray)
        two_stage = sd.r2 is not None and self._stage1.get(g, True)
        left = self._buf("left32", nrow, 2 * k + 1, torch.float32)
        z32 = left[:, k1 : 2 * k1]
        z32.copy_(z64[:, :k1])
        torch.mul(z32, z32, out=left[:, :k1])  # rounding of z*z in float32 is one more u: counted
        left[:, 2 * k1] = 1.0
        if k1 < k:
            left2 = left[:, 2 * k1 + 1 :]
            left2[:, k - k1 :].copy_(z64[:, k1:])
            torch.mul(left2[:, k - k1 :], left2[:, k - k1 :], out=left2[:, : k - k1])
        gbuf = self._buf("g32", nrow, m_g, torch.float32)
        if two_stage or sd.r2 is None:
            gmat = torch.matmul(left[:, : 2 * k1 + 1], sd.r1, out=gbuf)
        else:  # stage 1 skipped: the full-width float32 GEMM at once
            gmat = torch.matmul(left, sd.r, out=gbuf)
        if mask_rows is not None:
            gmat[mask_rows, mask_cols] = -math.inf
        slack = lambda t: t - t.abs() * 2.0**-20 - 1e-3  # noqa: E731  float32 rounding of thresholds, subnormals
        entries = nrow * m_g
        with self._lock:
            self.stats["entries"] += entries
        keep_buf = self._buf("keep", nrow, m_g, torch.bool)
        gn = gmat.numpy() if use_np else None
        kn = keep_buf.numpy() if use_np else None
        views = [(None, m_g)] + ([] if p is None or p == 0 else [(0, p)])  # (start, stop) column ranges
        lowers = [None] * len(views)

        def row_max(stop):  # (max, arg-max) of each row over the first ``stop`` columns
            if use_np:
                j = np.argmax(gn[:, :stop], axis=1)
                return torch.from_numpy(gn[np.arange(nrow), j]), torch.from_numpy(j)
            return gmat[:, :stop].max(dim=1)

        flat = [None]  # numpy: the flat indices of the kept entries after the last view's test (their count is ncand)

        def test(v, stop, thr):  # keep |= G >= thr (row-wise) on the first ``stop`` columns
            if use_np:
                t = thr.numpy()[:, None]
                if v == 0:
                    np.greater_equal(gn, t, out=kn)
                else:
                    kn[:, :stop] |= gn[:, :stop] >= t
                if v < len(views) - 1:
                    return -1
                flat[0] = np.flatnonzero(kn)  # one pass gives the count and the candidates (no count_nonzero pass)
                return int(flat[0].size)
            if v == 0:
                torch.ge(gmat, thr[:, None], out=keep_buf)
            else:
                keep_buf[:, :stop] |= gmat[:, :stop] >= thr[:, None]
            return int(torch.count_nonzero(keep_buf)) if v == len(views) - 1 else -1

        ncand = -1
        if two_stage:
            # stage 1: G1 >= (1 + 2 g1) (c_j - Q^{S1}_ij / 2) >= (1 + 2 g1) a_ij; lower bound from one exact term
            for v, (_, stop) in enumerate(views):
                gmax, jstar = row_max(stop)
                fin = torch.isfinite(gmax)
                lowers[v] = self._exact_terms(sd, z64, None, jstar)
                thr = slack((1.0 + 2.0 * sd.g1) * (lowers[v] - self.screen_nats))
                thr = torch.where(fin, thr, torch.full_like(thr, math.inf)).to(torch.float32)
                ncand = test(v, stop, thr)
            failed = ncand > self._STAGE1_FRACTION * entries * len(views)
            self._stage1.setdefault(g, not failed)  # the group's first chunk decides for the others
            if failed:
                # stage 2: add the other coordinates; G >= (1 + 2 g) a + delta, G <= (1 - 2 g) a + delta + 2 H
                gmat.addmm_(left[:, 2 * k1 + 1 :], sd.r2)
                ncand = -1
        if ncand < 0:
            for v, (_, stop) in enumerate(views):
                gmax, jstar = row_max(stop)
                fin = torch.isfinite(gmax)
                lo = (gmax.double() - sd.delta - 2.0 * sd.shift) / (1.0 - 2.0 * sd.g)
                # the exact term at the arg-max is a lower bound on the row maximum too (usually the sharper one)
                ex = self._exact_terms(sd, z64, None, jstar)
                lower = torch.maximum(ex, lo) if lowers[v] is None else torch.maximum(torch.maximum(lowers[v], ex), lo)
                thr = slack((1.0 + 2.0 * sd.g) * (lower - self.screen_nats) + sd.delta)
                thr = torch.where(fin, thr, torch.full_like(thr, math.inf)).to(torch.float32)
                ncand = test(v, stop, thr)
            if ncand > self.max_candidate_fraction * entries:
                return None
        if use_np:  # flatnonzero + divmod: 6x faster than torch's (and numpy's 2-d) nonzero here
            rows, cols = (torch.from_numpy(a) for a in np.divmod(flat[0], m_g))
        else:
            rows, cols = keep_buf.nonzero(as_tuple=True)
        with self._lock:
            self.stats["candidates"] += ncand
        a = self._exact_terms(sd, z64, rows, cols)
        lse = _segment_logsumexp(a, rows, nrow, use_np)
        if full_prefix:
            return lse, lse
        if p is None:
            return lse, None
        if p == 0:
            return lse, torch.full_like(lse, -math.inf)
        sel = cols < p
        return lse, _segment_logsumexp(a[sel], rows[sel], nrow, use_np)

    def pattern_ids(self, z: np.ndarray) -> np.ndarray:
        """Centre-group id of each row's zero pattern (-1 when no centre has it)."""
        if len(self.nz) == 1 and len(self.nz[0]) == z.shape[1]:  # fast path: centres have no zeros
            return np.where(np.all(z != 0, axis=1), 0, -1)
        packed = np.packbits(z != 0, axis=1)
        uniq, inv = np.unique(packed, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        ids = np.array([self.keys.get(u.tobytes(), -1) for u in uniq], dtype=np.int64)
        return ids[inv]

    def _dense_chunk(self, g: int, z64, mrow, mcol, p_g):
        """Dense logsumexp of one chunk: one GEMM of the expansion in ``self.dtype`` + row logsumexp."""
        import torch

        dev, dt = self.device, self.dtype
        k = len(self.nz[g])
        m_g = int(self.bounds[g + 1] - self.bounds[g])
        nrow = z64.shape[0]
        zc = z64.to(dev, dt)
        left = self._buf("left", nrow, 2 * k + 1, dt)
        torch.mul(zc, zc, out=left[:, :k])
        left[:, k : 2 * k].copy_(zc)
        left[:, 2 * k] = 1.0
        # (chunk, m_g): component log-densities, into a persistent buffer
        logc = torch.matmul(left, self._right_factor(g), out=self._buf("logc", nrow, m_g, dt))
        if mrow is not None:
            logc[mrow, mcol] = -math.inf
        if p_g is None:
            return _logsumexp_(logc), None
        if p_g >= m_g:
            r0 = _logsumexp_(logc)
            return r0, r0
        if p_g == 0:
            r0 = _logsumexp_(logc)
            return r0, torch.full_like(r0, -math.inf)
        rp = _logsumexp_(logc[:, :p_g])
        rr = _logsumexp_(logc[:, p_g:])
        return torch.logaddexp(rp, rr), rp

    def _chunk(self, g, zg, rows, s, chunk_size, exclude, p_g, screen, bufs=None):
        """Score rows ``s : s + chunk_size`` of the group-``g`` block ``zg``; returns ``(lse, lse_prefix, screened)``.

        A screened chunk whose candidates exceed ``max_candidate_fraction`` is evaluated densely (this chunk
        only; whether the whole group goes dense is decided by its first chunk, see :meth:`score`).
        ``bufs``: the work-buffer set of the calling worker thread (None: the scorer's own).
        """
        import torch

        if bufs is not None:
            self._tls.bufs = bufs
        dev = self.device
        mrow = mcol = None
        if exclude is not None:
            e = exclude[rows[s : s + chunk_size]]
            ok = (e >= 0) & (self.group_of[np.maximum(e, 0)] == g)
            sel = np.flatnonzero(ok)
            if len(sel):
                mrow = torch.as_tensor(sel, device=dev)
                mcol = torch.as_tensor(self.local[e[sel]], device=dev)
        z64 = torch.from_numpy(zg[s : s + chunk_size])
        res = None
        if screen:
            res = self._score_screened(self._screen_data(g), z64.to(dev), mrow, mcol, p_g, g)
        if res is None:
            lse, lse_p = self._dense_chunk(g, z64, mrow, mcol, p_g)
        else:
            lse, lse_p = res
        lse = lse.to("cpu", torch.float64).numpy()
        lse_p = None if lse_p is None else lse_p.to("cpu", torch.float64).numpy()
        return lse, lse_p, res is not None

    def score(self, z: np.ndarray, exclude=None, *, chunk_size: int = 2048, bar=None, prefix: int | None = None):
        """Row logsumexp of the component log-densities (no 1/M weight); see the class docstring.

        ``prefix``: also return the logsumexp over the centres with index < ``prefix`` only (Alg. 1's
        first ``n_centers`` rows), from the same kernel pass: the prefix centres are the first columns of
        each pattern group, so they are a column slice of the same GEMM output. Returns ``out`` or, with
        ``prefix``, ``(out, out_prefix)``.

        Threads (CPU): with ``torch.get_num_threads()`` = T > 1 the chunks of a pattern group run in T worker
        threads, each with one torch thread and its own work buffers (torch's GEMM alone used the T threads,
        the numpy screening steps one). Every per-group decision (stage 1 or not, screened or dense) is taken on
        the group's first screened chunk (in the scorer's life), sequentially, so the values do not depend on T or
        on scheduling.
        """
        import torch

        n, d = z.shape
        out = np.full(n, -np.inf)
        out_p = None if prefix is None else np.full(n, -np.inf)
        gid = self.pattern_ids(z)
        order = np.argsort(gid, kind="stable")
        sg = gid[order]
        starts = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])
        ends = np.r_[starts[1:], n]
        dev = self.device
        n_threads = torch.get_num_threads()
        workers = n_threads if getattr(dev, "type", str(dev)) == "cpu" and n_threads > 1 else 1
        self.stats = {"screened_chunks": 0, "dense_chunks": 0, "candidates": 0, "entries": 0, "workers": workers}
        pool = None
        self._bufs = _acquire_buffers()

        def store(rows_c, res):
            lse, lse_p, screened = res
            out[rows_c] = lse
            if out_p is not None:
                out_p[rows_c] = lse_p
            self.stats["screened_chunks" if screened else "dense_chunks"] += 1
            if bar is not None:
                bar.update(len(rows_c))

        if workers > 1:
            # T workers x 1 torch thread each (no oversubscription); every chunk, the first one included, runs on one
            # torch thread, so the GEMM rounding - and hence the values - is the same whatever T
            torch.set_num_threads(1)
        try:
            with torch.no_grad(), _IEEEFloat32Matmul(dev):
                for a, b in zip(starts, ends):
                    g = int(sg[a])
                    rows = order[a:b]
                    if g < 0:  # pattern seen in no centre: p = 0
                        if bar is not None:
                            bar.update(len(rows))
                        continue
                    screen = self._use_screen(g)
                    nz = self.nz[g]
                    k = len(nz)
                    # number of prefix centres in this group (members are sorted by global index)
                    p_g = None if prefix is None else int(np.searchsorted(self.members(g), prefix))
                    if b - a == n:  # one group holds every row: no gather copy of z
                        rows = np.arange(n)
                        zg = z if k == d else z[:, nz]
                    else:
                        zg = z[rows] if k == d else z[np.ix_(rows, nz)]
                    zg = np.ascontiguousarray(zg, dtype=np.float64)
                    rest = list(range(0, len(rows), chunk_size))
                    if screen and g not in self._probed:
                        # the group's first screened chunk ever (sequential) takes the per-group decisions: stage 1
                        # or not (_score_screened) and, if its screen keeps too many terms, dense from then on
                        self._probed.add(g)
                        res = self._chunk(g, zg, rows, 0, chunk_size, exclude, p_g, screen)
                        if not res[2]:
                            screen = False
                            self._dense_groups.add(g)
                            for key in ("g32", "keep", "left32"):  # one chunk-sized buffer at a time
                                self._bufs.pop(key, None)
                        store(rows[:chunk_size], res)
                        del res
                        rest = rest[1:]
                    if workers > 1 and len(rest) > 1:
                        if pool is None:
                            import queue
                            from concurrent.futures import ThreadPoolExecutor

                            # torch.set_num_threads sets the OpenMP thread count of the calling thread only: each
                            # worker sets its own (else its GEMMs would run on the default T OpenMP threads each)
                            pool = ThreadPoolExecutor(
                                max_workers=workers, initializer=torch.set_num_threads, initargs=(1,)
                            )
                            self._worker_bufs = [_acquire_buffers() for _ in range(workers)]
                            slots = queue.SimpleQueue()
                            for wb in self._worker_bufs[:workers]:
                                slots.put(wb)

                        def task(s0, g=g, zg=zg, rows=rows, p_g=p_g, screen=screen, slots=slots):
                            wb = slots.get()
                            try:
                                return self._chunk(g, zg, rows, s0, chunk_size, exclude, p_g, screen, bufs=wb)
                            finally:
                                slots.put(wb)

                        for s0, res in zip(rest, pool.map(task, rest)):
                            store(rows[s0 : s0 + chunk_size], res)
                    else:
                        for s0 in rest:
                            store(
                                rows[s0 : s0 + chunk_size],
                                self._chunk(g, zg, rows, s0, chunk_size, exclude, p_g, screen),
                            )
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            if workers > 1:
                torch.set_num_threads(n_threads)
            for b in [self._bufs, *self._worker_bufs]:
                _return_buffers(b)
            self.release_buffers()
        return out if prefix is None else (out, out_p)


def _check_exclude(exclude_self, n: int, m: int):
    if exclude_self is None:
        return None
    if hasattr(exclude_self, "detach"):
        exclude_self = exclude_self.detach().cpu().numpy()
    excl = np.asarray(exclude_self)
    if excl.shape != (n,) or excl.dtype.kind not in "iu":
        raise ValueError(
            f"exclude_self must be an integer array of shape ({n},); got dtype {excl.dtype}, shape {excl.shape}"
        )
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
    method: str = "auto",
    screen_nats: float = 50.0,
    max_candidate_fraction: float = 0.01,
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
        Only used by the dense path; the screened path always returns float64-exact values.
    method : {"auto", "dense", "screened"}
        ``"dense"``: one GEMM of the expansion in ``dtype`` + a row logsumexp over all centres.
        ``"screened"``: a float32 GEMM with a rigorous rounding-error bound selects the terms within
        ``screen_nats`` of each row's largest term; those are recomputed exactly in float64 (direct
        difference form) and summed (see the module docstring). Chunks with more than
        ``max_candidate_fraction`` surviving terms fall back to the dense path.
        ``"auto"`` (default): screened for float64 on CPU and CUDA (pattern groups of >= 256 centres with >= 32
        non-zero coordinates; TF32 off for the screen on CUDA), dense otherwise.
    screen_nats : float
        T > 0: terms below (largest term - T) are dropped, so log p(z) is low by at most M e^{-T}
        (T = 50: <= 2e-16 for M = 1e6), far below float64 rounding of the result.
    max_candidate_fraction : float in (0, 1]
        Screened path only: fraction of a chunk's entries above which it is evaluated densely.
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
    method = _check_method(method)
    screen_nats = check_positive(screen_nats, "screen_nats")
    max_candidate_fraction = check_positive(max_candidate_fraction, "max_candidate_fraction")
    if max_candidate_fraction > 1:
        raise ValueError(f"max_candidate_fraction must lie in (0, 1]; got {max_candidate_fraction!r}")
    # exact per-column power-of-two rescaling (see column_exponents): no overflow/underflow for any magnitude
    ex = column_exponents(zz, cc)
    zs, cs = rescale_columns(zz, ex, "z"), rescale_columns(cc, ex, "centers")
    scorer = _MixtureScorer(
        cs, variance, dev, dtype, method=method, screen_nats=screen_nats, max_candidate_fraction=max_candidate_fraction
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="mixture log-density", unit="pt")
    try:
        lse = scorer.score(zs, excl, chunk_size=chunk_size, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    log_weight = np.full(n, -math.log(m))
    if excl is not None:
        log_weight[excl >= 0] = -math.log(m - 1) if m > 1 else 0.0
    if np.any(np.isnan(lse)):
        raise FloatingPointError(
            "mixture_logpdf: NaN log-densities (float64 overflow in the kernel); this should not "
            "happen after rescaling - please report the inputs"
        )
    if not np.any(np.isfinite(lse)):
        import warnings

        warnings.warn(
            f"mixture_logpdf: every one of the {n} points has a zero pattern (set of exactly-zero "
            f"coordinates) that no {'other ' if excl is not None else ''}centre shares, so every "
            "log-density is -inf. If the zeros are underflowed positive activations (e.g. float32 "
            "softplus), they are not structural zeros: replace them by a tiny positive value",
            RuntimeWarning,
            stacklevel=2,
        )
    return lse + log_weight - math.log(2.0) * ((zz != 0) @ ex.astype(np.float64))


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
        raise ValueError(
            "z has a coordinate that is identically 0 (a dead unit); the Gaussian upper bound "
            "needs a density on all of R^d - drop such columns first"
        )
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


def kolchinsky_tracey_bounds(
    centers, variance: float, *, chunk_size: int = 512, device="cpu", dtype=None
) -> EntropyBounds:
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
            idx = order_c[bounds_c[g] : bounds_c[g + 1]]
            nz = np.flatnonzero(patterns[g])
            k = len(nz)
            mu = torch.as_tensor(c[np.ix_(idx, nz)], dtype=dtype, device=dev)
            logabs = torch.log(mu.abs()).sum(1)
            inv = 1.0 / mu
            # KL(i||j) = sum log|b|-log|a| + (1+s2)/(2 s2) sum a^2/b^2 - (1/s2) sum a/b + k/(2 s2) - k/2
            for s in range(0, len(idx), chunk_size):
                a = mu[s : s + chunk_size]
                kl = (
                    logabs[None, :]
                    - logabs[s : s + chunk_size, None]
                    + (1 + s2) / (2 * s2) * ((a * a) @ (inv * inv).T)
                    - (a @ inv.T) / s2
                    + k / (2 * s2)
                    - k / 2
                )
                lse_kl[idx[s : s + chunk_size]] = torch.logsumexp(-kl, 1).cpu().double().numpy()
                # Bhattacharyya, per coordinate: (a-b)^2 / (4 s2 (a^2+b^2)) + 1/2 log((a^2+b^2) / (2|a||b|))
                sub = max(1, int(2**22 // max(1, len(idx) * max(k, 1))))
                for t in range(0, a.shape[0], sub):
                    aa = a[t : t + sub, None, :]
                    bb = mu[None, :, :]
                    q = aa * aa + bb * bb
                    bd = ((aa - bb) ** 2 / (4 * s2 * q) + 0.5 * torch.log(q / (2 * (aa * bb).abs()))).sum(-1)
                    lse_bd[idx[s + t : s + min(t + sub, a.shape[0])]] = torch.logsumexp(-bd, 1).cpu().double().numpy()
    logm = math.log(m)
    upper = float(np.mean(h) - np.mean(lse_kl - logm))
    lower = float(np.mean(h) - np.mean(lse_bd - logm))
    return EntropyBounds(lower, upper)
