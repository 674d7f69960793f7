"""One-pass views, Monte-Carlo errors, zero patterns, precision API and degenerate inputs of the
Gaussian-dropout mixture estimator (variance = Var(D) = sigma^2; Z_i|x ~ N(f_i(x), sigma^2 f_i(x)^2))."""
import math
import warnings

import numpy as np
import pytest
import torch

from ipdrop import toy
from ipdrop.estimators._dropout_mi import GaussianDropoutMI, MIResults
from ipdrop.estimators._mixture import _float32_unit_roundoff, mixture_logpdf

VAR = 0.2


def _softplus_codes(n, d, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return np.logaddexp(0.0, scale * rng.normal(size=(n, d)))


@pytest.mark.parametrize("method", ["dense", "screened"])
def test_one_pass_views_equal_separate_computations(method):
    # mode="all" scores each noisy sample once (held-out sum + exact own term; Alg. 1 centres = a column
    # slice). Separate runs with the same seed draw the same noise but compute each view on its own path
    # (dataset: no exclusion, own term from the kernel; paper: a scorer over the first n_centers rows only).
    # They differ only by float64 rounding of the log-sum-exp (relative ~1e-15 on values of size ~10-100).
    f = _softplus_codes(400, 40, seed=1)
    kw = dict(variance=VAR, n_noise=3, n_centers=150, seed=7, device="cpu", method=method, chunk_size=97)
    allv = GaussianDropoutMI(mode="all", **kw).estimate(f)
    assert isinstance(allv, MIResults) and list(allv) == ["dataset", "heldout", "paper"] and not allv.errors
    for mode in ("dataset", "heldout", "paper"):
        sep = GaussianDropoutMI(mode=mode, **kw).estimate(f)
        one = allv[mode]
        assert one.value == pytest.approx(sep.value, rel=1e-11, abs=1e-11)
        assert one.h_z == pytest.approx(sep.h_z, rel=1e-11, abs=1e-11)
        assert one.mc_error == pytest.approx(sep.mc_error, rel=1e-6)
    assert allv.dataset is allv["dataset"]


def test_one_pass_dataset_view_from_mixture_logpdf():
    # direct check against mixture_logpdf on the same noise (reconstructed from the seed): h(Z) of the
    # dataset view is the mean of -log p_hat(z) over all n*n_noise noisy samples
    f = _softplus_codes(120, 6, seed=2)
    n_noise = 4
    est = GaussianDropoutMI(variance=VAR, n_noise=n_noise, mode="all", n_centers=50, seed=3, device="cpu")
    res = est.estimate(f)
    g = torch.Generator().manual_seed(3)
    eps = torch.randn((120, n_noise, 6), generator=g, dtype=torch.float64).numpy()  # one noise block (< 256)
    z = (f[:, None, :] * (1 + math.sqrt(VAR) * eps)).reshape(-1, 6)
    own = np.repeat(np.arange(120), n_noise)
    h_ds = -mixture_logpdf(z, f, VAR, method="dense").mean()
    h_ho = -mixture_logpdf(z, f, VAR, exclude_self=own, method="dense").mean()
    h_pp = -mixture_logpdf(z, f[:50], VAR, method="dense").mean()
    assert res["dataset"].h_z == pytest.approx(h_ds, rel=1e-12)
    assert res["heldout"].h_z == pytest.approx(h_ho, rel=1e-12)
    assert res["paper"].h_z == pytest.approx(h_pp, rel=1e-12)


def test_mc_error_matches_spread_over_noise_seeds():
    # inputs fixed (toy, N=150, d=2), 40 independent noise seeds: the reported mc_error must be within a
    # factor 2 of the observed std of the estimates. With 40 repeats the sample std has a relative error of
    # about 1/sqrt(2*39) = 11%, so a factor 2 is > 6 of its standard errors away from a correct mc_error.
    _, fx = toy.sample(150, dim=2, seed=0)
    vals = {"dataset": [], "heldout": [], "paper": []}
    errs = {"dataset": [], "heldout": [], "paper": []}
    for seed in range(40):
        res = GaussianDropoutMI(variance=VAR, n_noise=5, mode="all", n_centers=60, seed=seed,
                                device="cpu").estimate(fx)
        for mode in vals:
            vals[mode].append(res[mode].value)
            errs[mode].append(res[mode].mc_error)
    for mode in vals:
        spread = np.std(vals[mode], ddof=1)
        mc = float(np.mean(errs[mode]))
        assert 0.5 < spread / mc < 2.0, (mode, spread, mc)
        # the input spread is a different (much larger here) quantity and is kept under its own name
        assert res[mode].details["input_spread_se"] == res[mode].stderr


def test_mc_error_none_with_one_draw():
    f = _softplus_codes(50, 3)
    r = GaussianDropoutMI(variance=VAR, n_noise=1, device="cpu").estimate(f)
    assert r.mc_error is None and math.isfinite(r.value)


def test_softplus_underflow_gives_finite_heldout_value():
    # float32 softplus(-110) == 0 exactly: with exact zeros treated as structural (ReLU) zeros, the rows with
    # an underflowed unit have zero patterns that no other centre shares and the held-out view fails; with
    # zero_patterns=False (softplus layer) the zeros are floored at 2^-150 and the value is finite.
    rng = np.random.default_rng(0)
    pre = rng.normal(size=(200, 5)).astype(np.float32)
    pre[:3, 0] = -110.0
    pre[3, 1] = -120.0
    f = torch.nn.functional.softplus(torch.from_numpy(pre)).numpy()
    assert np.count_nonzero(f == 0) == 4
    with pytest.raises(ValueError, match="zero pattern"):
        GaussianDropoutMI(variance=VAR, mode="heldout", device="cpu").estimate(f)
    r = GaussianDropoutMI(variance=VAR, mode="heldout", device="cpu", zero_patterns=False).estimate(f)
    assert math.isfinite(r.value) and math.isfinite(r.h_z)
    allv = GaussianDropoutMI(variance=VAR, mode="all", n_centers=100, device="cpu", zero_patterns=False).estimate(f)
    assert not allv.errors and all(math.isfinite(v.value) for v in allv.values())


def test_all_mode_reports_failed_view_and_keeps_others():
    # ReLU codes in d=20: every zero pattern is unique (checked), so held-out/Alg. 1 cannot be computed;
    # the dataset view still is (and equals log N: components with distinct patterns do not overlap)
    rng = np.random.default_rng(1)
    f = np.maximum(rng.normal(size=(60, 20)), 0.0)
    assert len(np.unique(f != 0, axis=0)) == 60
    res = GaussianDropoutMI(variance=VAR, mode="all", n_centers=30, device="cpu").estimate(f)
    assert set(res) == {"dataset"} and set(res.errors) == {"heldout", "paper"}
    assert res["dataset"].value == pytest.approx(math.log(60), abs=1e-9)


@pytest.mark.parametrize("backend_attr", ["mkldnn", "global"])
def test_new_precision_api_does_not_crash_and_stays_exact(backend_attr):
    # torch >= 2.9: once the per-backend fp32 precision API is used, the legacy getters raise RuntimeError.
    # The estimator reads only the new API; with bf16 float32 matmuls the certified screen is unusable
    # (u = 2^-8) and the dense float64 path is used: the value must equal the ieee one (same noise).
    f = _softplus_codes(600, 40, seed=4)
    kw = dict(variance=VAR, n_noise=2, mode="all", n_centers=300, device="cpu", seed=5)
    ref = GaussianDropoutMI(**kw).estimate(f)
    levels = (torch.backends.mkldnn.matmul, torch.backends.mkldnn, torch.backends)
    saved = [lv.fp32_precision for lv in levels]
    try:
        if backend_attr == "mkldnn":
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        else:  # the global setting reaches oneDNN only where the backend levels inherit ("none")
            torch.backends.mkldnn.matmul.fp32_precision = "none"
            torch.backends.mkldnn.fp32_precision = "none"
            torch.backends.fp32_precision = "bf16"
        assert _float32_unit_roundoff(torch.device("cpu")) == 2.0**-8
        got = GaussianDropoutMI(**kw).estimate(f)
    finally:
        for lv, v in zip(levels, saved):
            lv.fp32_precision = v
    assert _float32_unit_roundoff(torch.device("cpu")) == 2.0**-24
    for mode in ref:
        # dense float64 GEMM expansion vs exact recomputation: ~1e-12 relative (see _mixture docstring)
        assert got[mode].value == pytest.approx(ref[mode].value, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("scale", [1e200, 1e-170])
def test_extreme_magnitudes_are_rescaled_not_zero_patterns(scale):
    # multiplicative noise: MI is invariant to a per-unit positive scale, h(Z) and h(Z|X) shift by d log(scale)
    f = _softplus_codes(150, 4, seed=5)
    kw = dict(variance=VAR, n_noise=3, mode="all", n_centers=60, device="cpu", seed=1)
    ref = GaussianDropoutMI(**kw).estimate(f)
    got = GaussianDropoutMI(**kw).estimate(f * scale)
    assert not got.errors
    shift = 4 * math.log(scale)
    for mode in ref:
        # f*scale is not an exact power-of-two rescaling of f: values agree to float64 rounding of the data
        assert got[mode].value == pytest.approx(ref[mode].value, abs=1e-8)
        assert got[mode].h_z == pytest.approx(ref[mode].h_z + shift, abs=1e-8 * abs(shift) + 1e-8)
    lp = mixture_logpdf(f[:5] * scale, f * scale, VAR)
    assert np.all(np.isfinite(lp))
    assert lp == pytest.approx(mixture_logpdf(f[:5], f, VAR) - 4 * math.log(scale), abs=1e-8 * abs(shift) + 1e-8)


def test_tiny_variance_refused_with_bound():
    f = _softplus_codes(20, 3)
    with pytest.raises(ValueError, match="1e-16"):
        GaussianDropoutMI(variance=1e-17, device="cpu").estimate(f)
    with pytest.raises(ValueError, match="1e-16"):
        mixture_logpdf(f, f, 1e-16)


def test_mixture_logpdf_warns_when_every_row_is_minus_inf():
    c = np.array([[1.0, 0.0], [2.0, 0.0]])
    z = np.array([[0.0, 1.0], [0.0, 3.0]])
    with pytest.warns(RuntimeWarning, match="zero pattern"):
        lp = mixture_logpdf(z, c, VAR)
    assert np.all(lp == -np.inf)


def test_dataset_view_never_exceeds_log_n():
    # well separated components: the dataset MI is log N up to rounding, never above it
    f = _softplus_codes(300, 20, seed=6, scale=3.0)
    for var in (1e-6, 0.05):
        res = GaussianDropoutMI(variance=var, n_noise=4, mode="all", n_centers=100, device="cpu").estimate(f)
        assert res["dataset"].value <= math.log(300) + 1e-12
    assert res["dataset"].value == pytest.approx(math.log(300), abs=1e-6) or var == 0.05


def test_y_is_refused():
    with pytest.raises(ValueError, match="cannot use y"):
        GaussianDropoutMI(variance=VAR).estimate(np.ones((5, 2)), np.zeros(5))


def test_defaults():
    est = GaussianDropoutMI(variance=VAR)
    assert est.seed == 0 and est.device == "auto" and est.zero_patterns is True


def test_scorer_buffers_reused_bit_identical():
    from ipdrop.estimators._mixture import _MixtureScorer

    f = _softplus_codes(500, 40, seed=8)
    z = f * (1 + 0.3 * np.random.default_rng(0).normal(size=f.shape))
    for method in ("dense", "screened"):
        sc = _MixtureScorer(f, VAR, torch.device("cpu"), torch.float64, method=method)
        a = sc.score(z, None, chunk_size=128)
        b = sc.score(z[::-1].copy(), None, chunk_size=100)[::-1]  # buffers reused with other shapes
        fresh = _MixtureScorer(f, VAR, torch.device("cpu"), torch.float64, method=method).score(z, None, chunk_size=128)
        assert np.array_equal(a, fresh)
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_tracker_rows_carry_mc_error_and_zero_patterns():
    from ipdrop.tracker import RESULT_COLUMNS, InformationPlaneTracker

    assert "mc_error" in RESULT_COLUMNS and "stderr" not in RESULT_COLUMNS
    rng = np.random.default_rng(0)
    pre = rng.normal(size=(120, 4)).astype(np.float32)
    pre[0, 0] = -110.0  # float32 softplus underflows to exactly 0
    f = torch.nn.functional.softplus(torch.from_numpy(pre))
    t = InformationPlaneTracker(["mixture"], variance=VAR, n_noise=3, activation="softplus")
    t.increment(0)
    t.update(f, np.arange(120) % 3)
    df = t.compute()
    ixz = df[df.quantity == "I(X;Z)"].set_index("estimator")
    assert set(ixz.index) == {"mixture-dataset", "mixture-heldout"}
    assert np.all(np.isfinite(ixz["value"])) and np.all(ixz["mc_error"] > 0)
