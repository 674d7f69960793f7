"""Binning (histogram / plug-in) estimators of I(X;Z) and I(Y;Z).

The setting of the paper (Sec. 3, Fig. 4, Figs. 1/5/14): X is uniform on the dataset S, the representation
Z = f(X) is deterministic, and Z is quantised to Ẑ. Then H(Ẑ|X) = 0, so

    I(X;Ẑ) = H(Ẑ)                    (<= log N, reached when every sample has its own bin pattern)
    I(Y;Ẑ) = H(Ẑ) - H(Ẑ|Y) = H(Ẑ) + H(Y) - H(Ẑ,Y)

with the labels Y kept discrete (never binned). All values are plug-in entropies of the empirical
distribution on the sample, in nats.

Bins
----
A whole layer is binned on one grid shared by all units (as in Shwartz-Ziv & Tishby 2017 and Saxe et al. 2018):

* ``n_bins``: ``n_bins`` equal-width bins spanning ``[lo, hi]``;
* ``bin_width``: bins of width ``bin_width`` with edges ``lo + k * bin_width`` (the last bin may extend past hi);

where ``[lo, hi]`` is ``value_range`` when given, otherwise the observed global minimum and maximum over all
units and samples. The range actually used is stored in ``MIResult.details`` (``range_lo``, ``range_hi``,
``range_source``), together with the number of bins per unit and the number of distinct bin patterns. With
``value_range`` given, values outside it are put into the first/last bin and counted in ``n_clipped``.
A bin width that would give more than 2**53 bins (not indexable exactly) is refused.

Binning as the paper's code runs it
-----------------------------------
The paper's public code bins the **noisy** representation Z = f(X) * D (one draw per input), with edges
``numpy.linspace(global_min, global_max, num_of_bins)`` (``num_of_bins`` edges, so ``num_of_bins - 1`` bins;
:func:`numpy.digitize` puts the layer maximum into a cell of its own) and, for I(Y;Z), labels digitized with the
same edges. :func:`binning_ref_mi_xz`, :func:`binning_ref_mi_yz` (``bin_labels``) and :class:`BinningRefMI`
reproduce that; :func:`reference_noisy` draws the noise (``variance`` = Var(D)). The functions above bin the
noiseless f(X) on ``n_bins`` bins: the two differ in what is binned and by one in the bin count.

Speed
-----
Bin indices are stored in the smallest unsigned dtype (uint8 for <= 256 bins) and each row is viewed as one
byte string (``numpy.void``), so one :func:`numpy.unique` groups the N patterns exactly (no hashing, no
Python loop). N = 60,000 x d = 512 takes well under a second (see ``benchmarks/bench_edge.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._base import MIEstimator, MIResult, as_2d_float, as_labels, check_int, check_positive, make_rng

__all__ = [
    "BinningMI",
    "BinningLabelMI",
    "BinningRefMI",
    "binning_ref_mi_xz",
    "binning_ref_mi_yz",
    "reference_noisy",
    "label_codes",
    "HistogramMI",
    "binning_mi_xz",
    "binning_mi_yz",
    "binning_mi_xy",
    "entropy_from_counts",
]

DEFAULT_N_BINS = 30
_MAX_BINS = 2.0**53  # bin indices beyond this are not exact in float64

_ROW_CHUNK = 8192


# --------------------------------------------------------------------------- helpers shared with EDGE


def entropy_from_counts(counts: ArrayLike) -> float:
    """Plug-in (maximum-likelihood) entropy in nats of the empirical distribution with the given counts."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    n = c.sum()
    if n <= 0:
        raise ValueError("counts must contain at least one positive entry")
    return float(np.log(n) - np.dot(c, np.log(c)) / n)


def group_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows of an integer array ``(n, d)``.

    Returns ``(inverse, counts)``: ``inverse[i]`` is the group id of row ``i`` (ids ``0..G-1``) and
    ``counts[g]`` the size of group ``g``. Exact (no hashing, no collisions), one :func:`numpy.unique`:
    when the product of the per-column code ranges is below 2**62 the rows are packed into one int64
    (mixed radix); otherwise each row is viewed as one opaque byte string (``numpy.void``).
    """
    codes = np.ascontiguousarray(codes)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.shape[1] == 1:
        _, inverse, counts = np.unique(codes[:, 0], return_inverse=True, return_counts=True)
        return inverse.reshape(-1), counts
    lo = codes.min(axis=0).astype(np.int64)
    span = codes.max(axis=0).astype(np.int64) - lo + 1
    if float(np.log2(span.astype(np.float64)).sum()) < 62.0:
        # small total range (e.g. EDGE hashes): mixed-radix packing into one int64 key, exact and faster
        key = np.zeros(codes.shape[0], dtype=np.int64)
        for j in range(codes.shape[1]):
            key *= span[j]
            key += codes[:, j].astype(np.int64) - lo[j]
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:
        rows = codes.view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1]))).reshape(-1)
        _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def label_codes(y: ArrayLike, name: str = "y", *, n: int | None = None) -> np.ndarray:
    """Class labels as int64 codes ``(n,)``: integers of any dtype (also integer-valued floats) or strings.

    Strings (and other non-numeric objects) are mapped to ``0..K-1`` in sorted order; numeric labels keep
    their values. Raises ``ValueError`` naming ``name`` for non-integer numbers, NaN or a wrong shape.
    """
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.dtype.kind in "USO":
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D class labels; got shape {a.shape}")
        if n is not None and a.shape[0] != n:
            raise ValueError(f"Found inputs with inconsistent numbers of samples: [{n}, {a.shape[0]}] ({name})")
        try:
            return np.unique(a, return_inverse=True)[1].reshape(-1).astype(np.int64)
        except TypeError:
            raise ValueError(f"{name} holds labels of mixed types that cannot be ordered") from None
    return as_labels(a, name, n=n)


def looks_discrete(y: ArrayLike) -> tuple[bool, str]:
    """Whether ``y`` looks like class labels, and why: 1-D (or one column) of integers in any dtype or strings.

    Integer-valued floats (e.g. labels stored as float64) count as labels; pass ``discrete_y=False`` to an
    estimator to treat such a variable as continuous.
    """
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    a = np.asarray(y)
    if not (a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1)):
        return False, f"{a.ndim}-D array with {a.shape[-1] if a.ndim else 0} columns: continuous"
    if a.dtype.kind in "iub":
        return True, f"1-D {a.dtype} array: class labels"
    if a.dtype.kind in "USO":
        return True, f"1-D {a.dtype} array of strings/objects: class labels"
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return True, f"1-D {a.dtype} array of integer values: class labels (pass discrete_y=False for continuous)"
    return False, f"1-D {a.dtype} array with non-integer values: continuous"


def _joint_with_labels(inverse: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts of the pairs (group id, label)."""
    _, lab = np.unique(labels, return_inverse=True)
    key = inverse.astype(np.int64) * (int(lab.max()) + 1) + lab.reshape(-1)
    return np.unique(key, return_counts=True)[1]


# --------------------------------------------------------------------------- quantisation


def _resolve_bins(n_bins, bin_width):
    if n_bins is not None and bin_width is not None:
        raise ValueError(f"give either n_bins or bin_width, not both (got n_bins={n_bins!r}, bin_width={bin_width!r})")
    if bin_width is not None:
        return None, check_positive(bin_width, "bin_width")
    if n_bins is None:
        n_bins = DEFAULT_N_BINS
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    if n_bins > _MAX_BINS:
        raise ValueError(f"n_bins={n_bins!r} is more bins than can be indexed exactly (at most 2**53)")
    return n_bins, None


def _resolve_range(z: np.ndarray, value_range):
    if value_range is None:
        return float(z.min()), float(z.max()), "observed global min/max over all units"
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (lo, hi) of numbers; got {value_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
        raise ValueError(f"value_range must be finite with lo <= hi; got {value_range!r}")
    return lo, hi, "value_range argument"


def quantize(
    z: ArrayLike,
    n_bins: int | None = None,
    bin_width: float | None = None,
    value_range: tuple[float, float] | None = None,
    name: str = "z",
) -> tuple[np.ndarray, dict]:
    """Bin every entry of ``z`` on one grid shared by all columns.

    Returns ``(codes, info)``: integer bin indices ``(n, d)`` (smallest unsigned dtype that fits) and a dict
    with the grid (``range_lo``, ``range_hi``, ``range_source``, ``n_bins``, ``bin_width``, ``n_clipped``).
    """
    z = as_2d_float(z, name)
    n_bins, bin_width = _resolve_bins(n_bins, bin_width)
    lo, hi, source = _resolve_range(z, value_range)
    if bin_width is None:
        width = (hi - lo) / n_bins if hi > lo else 1.0
        n_cells = n_bins
    else:
        width = bin_width
        with np.errstate(over="ignore"):
            cells = np.floor((hi - lo) / width) + 1.0  # edges lo + k*w; hi falls in the last bin
        if not np.isfinite(cells) or cells > _MAX_BINS:
            raise ValueError(
                f"bin_width={bin_width!r} gives {cells:.3g} bins over the range [{lo:.6g}, {hi:.6g}]; "
                "at most 2**53 bins can be indexed exactly: use a larger bin_width"
            )
        n_cells = max(1, int(cells))
    dtype = (
        np.uint8 if n_cells <= 2**8 else np.uint16 if n_cells <= 2**16 else np.uint32 if n_cells <= 2**32 else np.int64
    )
    codes = np.empty(z.shape, dtype=dtype)
    n_clipped = 0
    for i0 in range(0, z.shape[0], _ROW_CHUNK):  # row chunks: small temporaries, cache friendly
        zc = z[i0 : i0 + _ROW_CHUNK]
        if value_range is not None:
            n_clipped += int(np.count_nonzero(zc < lo) + np.count_nonzero(zc > hi))
        t = zc - lo
        t /= width
        np.floor(t, out=t)
        np.clip(t, 0, n_cells - 1, out=t)  # hi itself (index n_bins) belongs to the last bin
        codes[i0 : i0 + _ROW_CHUNK] = t
    info = {
        "range_lo": lo,
        "range_hi": hi,
        "range_source": source,
        "n_bins": int(n_cells),
        "bin_width": float(width),
        "binning": "by bin width" if bin_width is not None else "by number of bins",
        "n_clipped": n_clipped,
    }
    return codes, info


# --------------------------------------------------------------------------- functional API


def binning_mi_xz(
    z: ArrayLike,
    n_bins: int | None = None,
    bin_width: float | None = None,
    value_range: tuple[float, float] | None = None,
) -> MIResult:
    """I(X;Ẑ) = H(Ẑ) for a deterministic representation ``z = f(x)``, X uniform on the sample (nats).

    Parameters
    ----------
    z : array ``(n_samples, n_units)`` (or 1-D), the representation of each sample.
    n_bins : number of equal-width bins over the layer's range (default 30 when ``bin_width`` is None).
    bin_width : bin width, alternative to ``n_bins``.
    value_range : ``(lo, hi)`` of the grid; default: observed global min/max over all units.

    Returns
    -------
    MIResult with ``value = H(Ẑ) <= log N`` and the grid in ``details``.
    """
    codes, info = quantize(z, n_bins, bin_width, value_range)
    n, d = codes.shape
    _, counts = group_rows(codes)
    h = entropy_from_counts(counts)
    info.update(n_patterns=int(counts.size), log_n=float(np.log(n)))
    return MIResult(
        value=h,
        estimator="binning",
        quantity="I(X;Z_binned) = H(Z_binned), X uniform on the sample (<= log N)",
        n=n,
        d=d,
        details=info,
    )


def binning_mi_yz(
    z: ArrayLike,
    y: ArrayLike,
    n_bins: int | None = None,
    bin_width: float | None = None,
    value_range: tuple[float, float] | None = None,
) -> MIResult:
    """I(Y;Ẑ) = H(Ẑ) - H(Ẑ|Y) with integer class labels ``y`` (never binned) and ``z`` binned (nats).

    Parameters as :func:`binning_mi_xz`; ``y`` is ``(n_samples,)`` integer labels.
    """
    codes, info = quantize(z, n_bins, bin_width, value_range)
    n, d = codes.shape
    labels = label_codes(y, "y", n=n)
    inverse, counts = group_rows(codes)
    h_z = entropy_from_counts(counts)
    h_y = entropy_from_counts(np.unique(labels, return_counts=True)[1])
    h_zy = entropy_from_counts(_joint_with_labels(inverse, labels))
    value = max(h_z + h_y - h_zy, 0.0)  # >= 0 exactly; max() only removes -1e-16 rounding
    info.update(n_patterns=int(counts.size), h_z=h_z, h_y=h_y, h_zy=h_zy, h_z_given_y=h_zy - h_y)
    return MIResult(
        value=value,
        estimator="binning",
        quantity="I(Y;Z_binned), labels discrete, X uniform on the sample",
        n=n,
        d=d,
        details=info,
    )


def binning_mi_xy(
    x: ArrayLike,
    y: ArrayLike,
    n_bins: int | None = None,
    bin_width: float | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> MIResult:
    """Plug-in MI of two binned continuous variables: H(X̂) + H(Ŷ) - H(X̂,Ŷ) (nats).

    ``x`` and ``y`` are each binned on their own grid (own range, same ``n_bins`` / ``bin_width``).
    For a deterministic Z = f(X) with X uniform on the sample use :func:`binning_mi_xz` instead (that is the
    quantity of the paper's Fig. 4).
    """
    cx, ix = quantize(x, n_bins, bin_width, x_range, name="x")
    cy, iy = quantize(y, n_bins, bin_width, y_range, name="y")
    n = check_consistent(cx, cy)
    inv_x, cnt_x = group_rows(cx)
    inv_y, cnt_y = group_rows(cy)
    joint = np.unique(inv_x.astype(np.int64) * (int(inv_y.max()) + 1) + inv_y, return_counts=True)[1]
    hx, hy, hxy = entropy_from_counts(cnt_x), entropy_from_counts(cnt_y), entropy_from_counts(joint)
    details = {f"x_{k}": v for k, v in ix.items()} | {f"y_{k}": v for k, v in iy.items()}
    details.update(h_x=hx, h_y=hy, h_xy=hxy)
    return MIResult(
        value=max(hx + hy - hxy, 0.0),
        estimator="binning",
        quantity="I(X_binned;Y_binned), plug-in",
        n=n,
        d=cx.shape[1],
        details=details,
    )


def check_consistent(a: np.ndarray, b: np.ndarray) -> int:
    """Shared first dimension of ``a`` and ``b`` (``ValueError`` when they differ)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"Found inputs with inconsistent numbers of samples: [{a.shape[0]}, {b.shape[0]}] (x, y)")
    return a.shape[0]


# --------------------------------------------------------------------------- binning as the paper's code runs it


def reference_noisy(f_x: ArrayLike, variance: float, seed: int | np.random.Generator = 0) -> np.ndarray:
    """One noisy draw Z = f(X) * D per input, D ~ N(1, variance) elementwise (``variance`` = Var(D)), seeded.

    This is what the paper's code bins (``reprs * epsilon``); see :func:`binning_ref_mi_xz`.
    """
    f = as_2d_float(f_x, "f_x")
    var = check_positive(variance, "variance")
    rng = make_rng(seed)
    return f * (1.0 + np.sqrt(var) * rng.standard_normal(f.shape))


def _reference_codes(z: np.ndarray, num_of_bins: int) -> tuple[np.ndarray, np.ndarray, dict]:
    lo, hi = float(z.min()), float(z.max())
    edges = np.linspace(lo, hi, num_of_bins)
    codes = np.digitize(z, edges)  # 0..num_of_bins; the layer maximum gets index num_of_bins on its own
    dtype = np.uint8 if num_of_bins < 2**8 else np.uint16 if num_of_bins < 2**16 else np.int64
    info = {
        "range_lo": lo,
        "range_hi": hi,
        "range_source": "observed global min/max over all units",
        "num_of_bins": int(num_of_bins),
        "n_bins": int(max(num_of_bins - 1, 1)),
        "binning": "reference: edges linspace(min, max, num_of_bins), np.digitize (num_of_bins - 1 bins "
        "plus the maximum in its own cell)",
    }
    return codes.astype(dtype), edges, info


def binning_ref_mi_xz(z: ArrayLike, num_of_bins: int = 30) -> MIResult:
    """I(X;Ẑ) = H(Ẑ) binned as the paper's code does it (nats; X uniform on the sample, inputs distinct).

    ``z`` is what is binned, in the reference the *noisy* representation f(X) * D with one draw per input
    (:func:`reference_noisy`). Edges ``numpy.linspace(global_min, global_max, num_of_bins)`` over the whole
    layer (so ``num_of_bins`` edges make ``num_of_bins - 1`` bins; :func:`numpy.digitize` also puts the
    layer maximum into a cell of its own), then the plug-in entropy of the rows of bin indices (the
    reference's discrete MI with the input index). The number of bins differs by one from
    :func:`binning_mi_xz` with the same ``n_bins``, which bins the noiseless f(X).
    """
    z = as_2d_float(z, "z")
    num_of_bins = check_int(num_of_bins, "num_of_bins", minimum=2)
    codes, _, info = _reference_codes(z, num_of_bins)
    n, d = codes.shape
    _, counts = group_rows(codes)
    info.update(n_patterns=int(counts.size), log_n=float(np.log(n)))
    return MIResult(
        value=entropy_from_counts(counts),
        estimator="binning-ref",
        quantity="I(X;Z_binned) = H(Z_binned), reference binning, X uniform on the sample (<= log N)",
        n=n,
        d=d,
        details=info,
    )


def binning_ref_mi_yz(z: ArrayLike, y: ArrayLike, num_of_bins: int = 30, bin_labels: bool = False) -> MIResult:
    """I(Y;Ẑ) binned as the paper's code does it (see :func:`binning_ref_mi_xz`), in nats.

    ``bin_labels=True`` also digitizes the labels with the *same* edges as the representation, as the
    reference does (few edges then merge classes: 3 edges put the 10 MNIST labels into a few cells); the
    default keeps the labels as classes.
    """
    z = as_2d_float(z, "z")
    num_of_bins = check_int(num_of_bins, "num_of_bins", minimum=2)
    codes, edges, info = _reference_codes(z, num_of_bins)
    n, d = codes.shape
    labels = label_codes(y, "y", n=n)
    if bin_labels:
        labels = np.digitize(labels.astype(np.float64), edges).astype(np.int64)
    inverse, counts = group_rows(codes)
    h_z = entropy_from_counts(counts)
    h_y = entropy_from_counts(np.unique(labels, return_counts=True)[1])
    h_zy = entropy_from_counts(_joint_with_labels(inverse, labels))
    info.update(
        n_patterns=int(counts.size),
        h_z=h_z,
        h_y=h_y,
        h_zy=h_zy,
        bin_labels=bool(bin_labels),
        n_label_cells=int(np.unique(labels).size),
    )
    what = "labels binned with the same edges" if bin_labels else "labels discrete"
    return MIResult(
        value=max(h_z + h_y - h_zy, 0.0),
        estimator="binning-ref",
        quantity=f"I(Y;Z_binned), reference binning, {what}, X uniform on the sample",
        n=n,
        d=d,
        details=info,
    )


# --------------------------------------------------------------------------- estimator classes


class BinningMI(MIEstimator):
    """Binning estimate of I(X;Ẑ) = H(Ẑ) (X uniform on the sample, deterministic representation).

    Parameters
    ----------
    n_bins : equal-width bins over the layer's range (default 30 when ``bin_width`` is None).
    bin_width : bin width instead of a number of bins.
    value_range : ``(lo, hi)`` of the grid; default the observed global min/max over all units.

    ``estimate(z)`` returns I(X;Ẑ) (giving labels there is an error: it would be ignored);
    ``estimate_yz(z, y)`` (or :class:`BinningLabelMI`) returns I(Y;Ẑ).
    """

    name = "binning"

    def __init__(self, n_bins: int | None = None, bin_width: float | None = None, value_range=None):
        self.n_bins = n_bins
        self.bin_width = bin_width
        self.value_range = value_range

    def estimate(self, z: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(X;Ẑ) in nats; ``y`` must be None (use :meth:`estimate_yz` for I(Y;Ẑ))."""
        if y is not None:
            raise ValueError(
                "BinningMI.estimate(z) estimates I(X;Z) and takes no y; for I(Y;Z) use "
                "BinningMI.estimate_yz(z, y) or BinningLabelMI().estimate(z, y)"
            )
        return binning_mi_xz(z, self.n_bins, self.bin_width, self.value_range)

    def estimate_yz(self, z: ArrayLike, y: ArrayLike) -> MIResult:
        """I(Y;Ẑ) in nats with class labels ``y``."""
        return binning_mi_yz(z, y, self.n_bins, self.bin_width, self.value_range)


class BinningLabelMI(MIEstimator):
    """Binning estimate of I(Y;Ẑ) with discrete labels: ``estimate(z, y)`` (parameters as :class:`BinningMI`)."""

    name = "binning"

    def __init__(self, n_bins: int | None = None, bin_width: float | None = None, value_range=None):
        self.n_bins = n_bins
        self.bin_width = bin_width
        self.value_range = value_range

    def estimate(self, z: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(Y;Ẑ) in nats; ``y`` (class labels) is required."""
        if y is None:
            raise ValueError("BinningLabelMI estimates I(Y;Z) and needs the class labels y: estimate(z, y)")
        return binning_mi_yz(z, y, self.n_bins, self.bin_width, self.value_range)


class BinningRefMI(MIEstimator):
    """Binning as the paper's code runs it: noisy Z, ``linspace`` edges, :func:`numpy.digitize`.

    Parameters
    ----------
    num_of_bins : the reference's ``num_of_bins`` (number of edges: ``num_of_bins - 1`` bins).
    variance : Var(D); when given, ``estimate`` bins one seeded noisy draw f(x) * D of the noiseless input
        (as the reference does); ``None`` bins the array as given (pass the noisy Z yourself).
    bin_labels : digitize the labels with the same edges (the reference) in :meth:`estimate_yz`.
    seed : seed of the noise draw.

    ``estimate(z)`` returns I(X;Ẑ) (no ``y``); ``estimate_yz(z, y)`` returns I(Y;Ẑ).
    """

    name = "binning-ref"

    def __init__(self, num_of_bins: int = 30, variance: float | None = None, bin_labels: bool = False, seed=0):
        self.num_of_bins = num_of_bins
        self.variance = variance
        self.bin_labels = bin_labels
        self.seed = seed

    def _binned_input(self, z):
        return z if self.variance is None else reference_noisy(z, self.variance, self.seed)

    def estimate(self, z: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(X;Ẑ) in nats; ``y`` must be None (use :meth:`estimate_yz` for I(Y;Ẑ))."""
        if y is not None:
            raise ValueError("BinningRefMI.estimate(z) estimates I(X;Z) and takes no y; use estimate_yz(z, y)")
        return binning_ref_mi_xz(self._binned_input(z), self.num_of_bins)

    def estimate_yz(self, z: ArrayLike, y: ArrayLike) -> MIResult:
        """I(Y;Ẑ) in nats with class labels ``y`` (binned with the same edges when ``bin_labels``)."""
        return binning_ref_mi_yz(self._binned_input(z), y, self.num_of_bins, self.bin_labels)


class HistogramMI(MIEstimator):
    """Plug-in MI between two binned continuous variables: ``estimate(x, y)`` (see :func:`binning_mi_xy`)."""

    name = "histogram"

    def __init__(self, n_bins: int | None = None, bin_width: float | None = None):
        self.n_bins = n_bins
        self.bin_width = bin_width

    def estimate(self, x: ArrayLike, y: ArrayLike | None = None) -> MIResult:
        """I(X̂;Ŷ) in nats; ``y`` is required."""
        if y is None:
            raise ValueError("HistogramMI estimates I(X;Y) of two continuous variables and needs y: estimate(x, y)")
        return binning_mi_xy(x, y, self.n_bins, self.bin_width)
