"""Binning estimators: exact closed forms (plug-in entropies are exact functions of the bin counts)."""

import math
from collections import Counter

import numpy as np
import pytest

from ipdrop import groundtruth as gt
from ipdrop.estimators import (
    BinningLabelMI,
    BinningMI,
    BinningRefMI,
    HistogramMI,
    binning_mi_xy,
    binning_mi_xz,
    binning_mi_yz,
    binning_ref_mi_xz,
    binning_ref_mi_yz,
    reference_noisy,
)


def _naive_entropy(rows) -> float:
    """Reference: dict of tuples, one Python loop (slow, obviously correct)."""
    counts = Counter(tuple(r) for r in rows)
    n = len(rows)
    return -sum(c / n * math.log(c / n) for c in counts.values())


def test_injective_map_gives_log_n():
    # a deterministic injective f with bins finer than the spacing of the images: every sample gets its own
    # pattern, so H(Z_binned) = log N exactly (up to float rounding of the log).
    n = 3000
    x = np.arange(n, dtype=float)
    z = np.stack([2.0 * x + 1.0, -x], axis=1)
    res = binning_mi_xz(z, bin_width=1.0)
    assert res.value == pytest.approx(math.log(n), abs=1e-12)
    assert res.details["n_patterns"] == n
    # random high-dimensional tanh layer with 30 bins: patterns all distinct -> log N as well
    rng = np.random.default_rng(0)
    z = np.tanh(rng.standard_normal((n, 10)) @ rng.standard_normal((10, 64)))
    assert BinningMI(n_bins=30).estimate(z).value == pytest.approx(math.log(n), abs=1e-12)


def test_matches_naive_counting_and_known_entropy():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2000, 3))
    res = binning_mi_xz(z, n_bins=4)
    lo, hi = z.min(), z.max()
    codes = np.clip(np.floor((z - lo) / ((hi - lo) / 4)), 0, 3).astype(int)
    assert res.value == pytest.approx(_naive_entropy(codes), abs=1e-12)
    assert res.details["range_lo"] == lo and res.details["range_hi"] == hi
    assert res.details["range_source"].startswith("observed")
    # 4 equally frequent values, one bin each: H = log 4 exactly
    z = np.repeat(np.arange(4.0), 250)[:, None]
    assert binning_mi_xz(z, n_bins=4).value == pytest.approx(math.log(4), abs=1e-12)
    # one bin only (constant layer): H = 0
    assert binning_mi_xz(np.ones((50, 5)), n_bins=30).value == 0.0


@pytest.mark.parametrize("n_bins, d", [(3, 4), (200, 12)])  # packed-int64 path and byte-string path
def test_group_rows_both_paths(n_bins, d):
    from ipdrop.estimators._binning import group_rows

    rng = np.random.default_rng(n_bins)
    codes = rng.integers(0, n_bins, size=(3000, d)).astype(np.uint8)
    codes[1000:2000] = codes[:1000]  # guarantee repeated rows
    inverse, counts = group_rows(codes)
    ref = Counter(tuple(r) for r in codes.tolist())
    assert sorted(counts.tolist()) == sorted(ref.values())
    for g in range(0, counts.size, 97):  # rows in one group are identical
        rows = codes[inverse == g]
        assert (rows == rows[0]).all() and len(rows) == counts[g]


def test_bin_width_grid_and_value_range():
    z = np.array([[0.0], [0.4], [0.6], [1.0], [1.9]])
    res = binning_mi_xz(z, bin_width=0.5)  # edges 0, .5, 1, 1.5, 2 -> bins {0,0.4}, {0.6}, {1.0}, {1.9}
    assert res.value == pytest.approx(_naive_entropy([[0], [0], [1], [2], [3]]), abs=1e-12)
    assert res.details["n_bins"] == 4
    res = binning_mi_xz(z, n_bins=2, value_range=(0.0, 1.0))  # 1.9 outside -> last bin, counted
    assert res.details["n_clipped"] == 1
    assert res.value == pytest.approx(_naive_entropy([[0], [0], [1], [1], [1]]), abs=1e-12)


def test_label_mi_separated_classes_equals_h_y():
    # well-separated classes (distance 50, unit noise) never share a bin of width ~ 5: I(Y;Z_binned) equals the
    # empirical H(Y) exactly; the empirical H(Y) is within 0.005 of log 4 at N = 4000 (its deficit is about
    # (K-1)/(2N) = 4e-4 plus fluctuations of order 1e-4).
    z, y, h = gt.separated_classes(4000, n_classes=4, dim=2, seed=0)
    res = BinningLabelMI(n_bins=30).estimate(z, y)
    h_emp = _naive_entropy(y[:, None])
    assert res.value == pytest.approx(h_emp, abs=1e-12)
    assert res.value == pytest.approx(h, abs=5e-3)
    assert BinningMI(n_bins=30).estimate_yz(z, y).value == res.value


def test_label_mi_independent_is_small():
    # Z independent of Y: the plug-in I(Y;Z_binned) has positive bias ~ (B-1)(K-1)/(2N) with B occupied bins;
    # 10 bins, 3 classes, N = 5000 -> ~0.0018; allow 4x (the sd is of the same order as the mean).
    rng = np.random.default_rng(2)
    z, y = rng.uniform(size=(5000, 1)), rng.integers(0, 3, 5000)
    assert 0.0 <= binning_mi_yz(z, y, n_bins=10).value < 4 * 9 * 2 / (2 * 5000)


def test_xy_pair():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 1))
    res = binning_mi_xy(x, x.copy(), n_bins=8)  # identical variables: I = H(X_binned)
    assert res.value == pytest.approx(binning_mi_xz(x, n_bins=8).value, abs=1e-12)
    # bivariate Gaussian rho = 0.75 with 20 bins over ~ +-4 sd, N = 20000: discretisation loses ~0.01-0.02 and the
    # plug-in adds ~(occupied cells)/(2N) ~ 0.006; allow 0.05 around 0.41334.
    x, y, mi = gt.gaussian_pairs(20000, 0.75, seed=4)
    assert HistogramMI(n_bins=20).estimate(x, y).value == pytest.approx(mi, abs=0.05)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: binning_mi_xz(np.array([[0.0], [np.nan]])), "non-finite"),
        (lambda: binning_mi_xz(np.array([[1.0]])), "at least 2"),
        (lambda: binning_mi_xz(np.ones((5, 2)), n_bins=3, bin_width=0.1), "either n_bins or bin_width"),
        (lambda: binning_mi_xz(np.ones((5, 2)), bin_width=-1.0), "bin_width"),
        (lambda: binning_mi_xz(np.ones((5, 2)), n_bins=0), "n_bins"),
        (lambda: binning_mi_xz(np.ones((5, 2)), value_range=(1.0, 0.0)), "value_range"),
        (lambda: binning_mi_yz(np.ones((5, 2)), np.arange(4)), "inconsistent"),
        (lambda: binning_mi_yz(np.ones((5, 2)), np.array([0, 1, 0.5, 1, 0])), "integer"),
        (lambda: binning_mi_xy(np.ones((5, 1)), np.ones((6, 1))), "inconsistent"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_params_stored_as_given():
    est = BinningMI(n_bins=-3)  # no validation in __init__ (sklearn rule) ...
    assert est.get_params() == {"n_bins": -3, "bin_width": None, "value_range": None}
    with pytest.raises(ValueError, match="n_bins"):  # ... but in estimate
        est.estimate(np.ones((4, 2)))


# ----------------------------------------------------------------------------------------------- reference binning


def _port_reference(z, y, num_of_bins, bin_labels):
    """Direct port of the paper's code as described in shared/REFERENCE_CODE.md: edges
    linspace(global min, global max, num_of_bins), np.digitize, discrete MI (plug-in, dict counts) on tuples."""
    edges = np.linspace(z.min(), z.max(), num_of_bins)
    t = [tuple(r) for r in np.digitize(z, edges).tolist()]
    labels = np.digitize(y, edges).tolist() if bin_labels else y.tolist()
    h_t = _naive_entropy([[r] for r in t])
    h_y = _naive_entropy([[v] for v in labels])
    h_ty = _naive_entropy([[r, v] for r, v in zip(t, labels)])
    return h_t, h_t + h_y - h_ty


@pytest.mark.parametrize("num_of_bins", [3, 10, 30])
def test_reference_binning_equals_port_of_reference_formula(num_of_bins):
    # a fixed array (softplus-like codes, 10 labels): identical up to float rounding of the entropies
    rng = np.random.default_rng(20)
    z = np.log1p(np.exp(rng.normal(size=(600, 5)) + rng.integers(0, 10, 600)[:, None] * 0.3))
    y = rng.integers(0, 10, 600)
    z[17, 2] = z.max() + 1.0  # the layer maximum: np.digitize gives it a cell of its own
    h_t, mi_y_binned = _port_reference(z, y, num_of_bins, bin_labels=True)
    _, mi_y = _port_reference(z, y, num_of_bins, bin_labels=False)
    assert binning_ref_mi_xz(z, num_of_bins).value == pytest.approx(h_t, abs=1e-12)
    assert binning_ref_mi_yz(z, y, num_of_bins, bin_labels=True).value == pytest.approx(mi_y_binned, abs=1e-12)
    assert binning_ref_mi_yz(z, y, num_of_bins).value == pytest.approx(mi_y, abs=1e-12)
    res = binning_ref_mi_xz(z, num_of_bins)
    assert res.details["num_of_bins"] == num_of_bins and res.details["n_bins"] == num_of_bins - 1


def test_reference_binning_differs_from_noiseless_binning_by_one_bin():
    # 3 equally spaced values: linspace(0, 2, 3) edges [0, 1, 2] -> digitize gives cells 1, 2, 3 (the maximum alone),
    # so with num_of_bins = 2 (edges [0, 2]) the reference puts {0, 1} in one cell and 2 in another, whereas
    # n_bins = 2 on the noiseless grid splits at 1: {0}, {1, 2}. Both H = H(1/3, 2/3), but for different reasons.
    z = np.repeat([0.0, 1.0, 2.0], 10)[:, None]
    h = -(1 / 3) * math.log(1 / 3) - (2 / 3) * math.log(2 / 3)
    assert binning_ref_mi_xz(z, 2).value == pytest.approx(h, abs=1e-12)
    assert binning_mi_xz(z, n_bins=2).value == pytest.approx(h, abs=1e-12)
    assert binning_ref_mi_xz(z, 2).details["n_patterns"] == binning_mi_xz(z, n_bins=2).details["n_patterns"] == 2
    assert binning_ref_mi_xz(z, 3).value == pytest.approx(math.log(3), abs=1e-12)


def test_reference_noise_draw_and_class():
    # Z = f * D with D ~ N(1, variance): Z / f has mean 1 and variance `variance`; with 2e5 draws the sample
    # variance has sd variance * sqrt(2 / 2e5) = 6e-4 (at variance 0.2), so 5e-3 is > 8 sd.
    f = np.full((40_000, 5), 2.5)
    z = reference_noisy(f, 0.2, seed=3)
    d = (z / f).ravel()
    assert d.mean() == pytest.approx(1.0, abs=5e-3) and d.var() == pytest.approx(0.2, abs=5e-3)
    assert np.array_equal(z, reference_noisy(f, 0.2, seed=3))
    rng = np.random.default_rng(4)
    fx, y = np.abs(rng.normal(size=(300, 4))), rng.integers(0, 3, 300)
    est = BinningRefMI(num_of_bins=10, variance=0.4, bin_labels=True, seed=7)
    noisy = reference_noisy(fx, 0.4, seed=7)
    assert est.estimate(fx).value == binning_ref_mi_xz(noisy, 10).value
    assert est.estimate_yz(fx, y).value == binning_ref_mi_yz(noisy, y, 10, bin_labels=True).value
    assert BinningRefMI(num_of_bins=10).estimate(noisy).value == binning_ref_mi_xz(noisy, 10).value
    with pytest.raises(ValueError, match="variance"):
        reference_noisy(fx, 0.0)
    with pytest.raises(ValueError, match="num_of_bins"):
        binning_ref_mi_xz(fx, 1)


def test_tiny_bin_width_is_refused_not_overflowed():
    import warnings

    z = np.random.default_rng(5).normal(size=(100, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way to the error
        with pytest.raises(ValueError, match="bin_width=1e-300 gives .* bins"):
            BinningMI(bin_width=1e-300).estimate(z)
        with pytest.raises(ValueError, match="n_bins"):
            binning_mi_xz(z, n_bins=2**60)


def test_estimate_refuses_labels_it_would_ignore():
    z, y = np.random.default_rng(6).normal(size=(50, 2)), np.arange(50) % 2
    with pytest.raises(ValueError, match="estimate_yz"):
        BinningMI().estimate(z, y)
    with pytest.raises(ValueError, match="needs the class labels"):
        BinningLabelMI().estimate(z)
    # string labels are classes too
    assert binning_mi_yz(z, np.array(["a", "b"])[y], n_bins=5).value == binning_mi_yz(z, y, n_bins=5).value
