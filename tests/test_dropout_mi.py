"""Gaussian-dropout MI estimator (variance = Var(D) = sigma^2; Z_i|x ~ N(f_i(x), sigma^2 f_i(x)^2))."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from ipdrop import toy
from ipdrop.estimators._dropout_mi import (
    DropoutMIResult,
    GaussianDropoutMI,
    conditional_entropy,
    dropout_mi,
    gaussian_entropy_upper_bound,
    kolchinsky_tracey_bounds,
    mixture_entropy_bounds,
    mixture_logpdf,
)

VAR = 0.4  # the paper's sigma^2


def _bruteforce_logpdf(z, c, v, exclude=None):
    """Per-centre scipy loop with exact zero-pattern matching (reference measure: Lebesgue x point mass)."""
    out = []
    for r, zr in enumerate(z):
        terms = []
        for j, cj in enumerate(c):
            if exclude is not None and exclude[r] == j:
                continue
            if not np.array_equal(zr != 0, cj != 0):
                continue
            nz = cj != 0
            terms.append(norm.logpdf(zr[nz], cj[nz], math.sqrt(v) * np.abs(cj[nz])).sum())
        cnt = len(c) - (1 if exclude is not None and exclude[r] >= 0 else 0)
        out.append(logsumexp(terms) - math.log(cnt) if terms else -np.inf)
    return np.array(out)


def _relu_like(rng, n, d, p_zero=0.3):
    c = rng.normal(size=(n, d))
    c[rng.random(c.shape) < p_zero] = 0.0
    return c


# ----------------------------------------------------------------------------- kernel


def test_mixture_logpdf_matches_bruteforce_with_zeros_and_loo():
    rng = np.random.default_rng(0)
    c = _relu_like(rng, 40, 3)
    z = np.repeat(c, 3, 0) * (1 + 0.5 * rng.normal(size=(120, 3)))
    own = np.repeat(np.arange(40), 3)
    for excl in (None, own):
        got = mixture_logpdf(z, c, 0.25, chunk_size=7, exclude_self=excl)
        ref = _bruteforce_logpdf(z, c, 0.25, excl)
        fin = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(got), fin)  # -inf exactly where no centre shares the pattern
        np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-12)  # float64 GEMM expansion
    assert not np.all(np.isfinite(_bruteforce_logpdf(z, c, 0.25, own)))  # the LOO case does produce -inf rows


def test_mixture_logpdf_torch_input_and_chunk_invariance():
    rng = np.random.default_rng(1)
    c = rng.normal(size=(50, 4))
    z = c[rng.integers(0, 50, 70)] * (1 + 0.3 * rng.normal(size=(70, 4)))
    a = mixture_logpdf(torch.as_tensor(z), torch.as_tensor(c), 0.09, chunk_size=3)
    b = mixture_logpdf(z, c, 0.09, chunk_size=1000)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_float32_documented_loss_small_sigma():
    rng = np.random.default_rng(2)
    c = rng.normal(size=(200, 64)) + 3.0
    z = c * (1 + 0.01 * rng.normal(size=c.shape))
    ref = mixture_logpdf(z, c, 1e-4)
    f32 = mixture_logpdf(z, c, 1e-4, dtype=torch.float32)
    # the docstrings warn about float32 cancellation; float64 is the default for that reason
    assert np.max(np.abs(f32 - ref)) > 1e-3


# ----------------------------------------------------------------------------- h(Z|X)


def test_conditional_entropy_closed_form():
    rng = np.random.default_rng(3)
    f = _relu_like(rng, 30, 5)
    res = conditional_entropy(f, VAR)
    nz = f != 0
    per = np.array(
        [np.sum(np.log(np.abs(r[m]) * math.sqrt(VAR) * math.sqrt(2 * math.pi * math.e))) for r, m in zip(f, nz)]
    )
    assert res.value == pytest.approx(per.mean(), rel=1e-13)
    assert res.stderr == pytest.approx(per.std(ddof=1) / math.sqrt(30), rel=1e-12)
    # and the estimator reports the same number
    est = dropout_mi(f, VAR, n_noise=2)
    assert est.h_z_given_x == pytest.approx(per.mean(), rel=1e-13)


def test_conditional_entropy_vs_toy_exact():
    _, fx = toy.sample(200_000, 1, seed=0)
    res = conditional_entropy(fx, VAR)
    # sampling error of the sample mean: stderr ~ 2.5e-3; allow 4 stderr
    assert res.value == pytest.approx(toy.exact_entropies(1, VAR)[1], abs=4 * res.stderr)


# ----------------------------------------------------------------------------- toy ground truth


@pytest.mark.parametrize("dim", [1, 2])
def test_toy_dataset_mode_within_3pct(dim):
    """N=4000: the MI of X uniform on the sample is close to the population MI in 1-2 dims (the issue's 3%)."""
    _, fx = toy.sample(4000, dim, seed=dim)
    # n_noise=5 halves the run time; the stderr (~0.01-0.015 nats) is dominated by the spread over x, not the noise
    res = dropout_mi(fx, VAR, mode="dataset", seed=dim, n_noise=5)
    exact = toy.exact_mi(dim, VAR)
    assert res.value == pytest.approx(exact, rel=0.03)
    assert res.h_z == pytest.approx(toy.exact_entropies(dim, VAR)[0], rel=0.03)
    assert res.value <= math.log(4000)


def test_heldout_above_dataset_in_10d_and_brackets():
    exact = toy.exact_mi(10, VAR)  # 11.42 nats, far above log(600) = 6.4
    ds, ho = [], []
    for seed in range(3):
        _, fx = toy.sample(600, 10, seed=seed)
        ds.append(dropout_mi(fx, VAR, mode="dataset", seed=seed, n_noise=4).value)
        ho.append(dropout_mi(fx, VAR, mode="heldout", seed=seed, n_noise=4).value)
    assert np.mean(ho) > np.mean(ds)
    assert max(ds) <= math.log(600) + 1e-9
    assert np.mean(ds) < exact < np.mean(ho)  # the bracket the notes promise (dataset low, held-out high)


def test_paper_mode_with_all_centres_equals_dataset_closed_form():
    _, fx = toy.sample(300, 2, seed=5)
    out = dropout_mi(fx, VAR, mode="all", n_centers=300, seed=1, n_noise=3)
    assert set(out) == {"dataset", "heldout", "paper"}
    # same centres, same noise: paper mode = h_z - closed form h(Z|X) of the dataset view
    assert out["paper"].value == pytest.approx(out["dataset"].details["mi_closed_form"], abs=1e-10)
    assert out["paper"].h_z == pytest.approx(out["dataset"].h_z, abs=1e-10)
    for m, r in out.items():
        assert isinstance(r, DropoutMIResult) and r.mode == m and "sigma^2" in r.convention


# ----------------------------------------------------------------------------- bounds


def test_dataset_value_never_exceeds_log_n():
    rng = np.random.default_rng(4)
    for trial in range(4):
        n = int(rng.integers(20, 200))
        f = rng.normal(size=(n, int(rng.integers(1, 8)))) * 10 ** rng.uniform(-1, 2)
        v = float(10 ** rng.uniform(-5, 0))
        r = dropout_mi(f, v, seed=trial, n_noise=3)
        # the paired estimate is <= log N for every draw (own component is in the mixture); 1e-9 = rounding
        assert r.value <= math.log(n) + 1e-9
        assert (
            r.details["h_z_lower_bound"] - 5 * r.h_z_stderr <= r.h_z <= r.details["h_z_upper_bound"] + 5 * r.h_z_stderr
        )


def test_well_separated_components_give_log_n():
    n, v = 64, 1e-4
    f = np.outer(1.5 ** np.arange(n), [1.0, -2.0, 0.5])  # consecutive ratios 1.5 >> sigma = 0.01
    r = dropout_mi(f, v, seed=0)
    assert r.value == pytest.approx(math.log(n), abs=1e-9)
    # h = sum w_k h_k + log N, MC noise only from the component entropies
    assert r.h_z == pytest.approx(r.h_z_given_x + math.log(n), abs=5 * r.h_z_stderr)
    lo, hi = mixture_entropy_bounds(f, v)
    kt = kolchinsky_tracey_bounds(f, v)
    assert hi == pytest.approx(r.h_z_given_x + math.log(n), rel=1e-12)
    assert kt.lower == pytest.approx(hi, abs=1e-9) and kt.upper == pytest.approx(hi, abs=1e-9)
    assert lo == pytest.approx(r.h_z_given_x, rel=1e-12)


def test_kolchinsky_tracey_bracket_the_mixture_entropy():
    _, fx = toy.sample(300, 2, seed=7)
    r = dropout_mi(fx, VAR, seed=0, n_noise=50)  # dataset-view h(Z) is the mixture entropy (unbiased MC)
    kt = kolchinsky_tracey_bounds(fx, VAR, chunk_size=64)
    lo, hi = mixture_entropy_bounds(fx, VAR)
    assert lo <= kt.lower < kt.upper <= hi + 1e-12
    assert kt.lower - 4 * r.h_z_stderr <= r.h_z <= kt.upper + 4 * r.h_z_stderr


def test_kolchinsky_tracey_matches_bruteforce_divergences():
    rng = np.random.default_rng(8)
    c = _relu_like(rng, 12, 3, p_zero=0.2)
    v = 0.3
    h = np.array([np.sum(np.log(np.abs(r[r != 0]) * math.sqrt(2 * math.pi * math.e * v))) for r in c])
    kl = np.full((12, 12), np.inf)
    bd = np.full((12, 12), np.inf)
    for i in range(12):
        for j in range(12):
            if not np.array_equal(c[i] != 0, c[j] != 0):
                continue
            m = c[i] != 0
            s1, s2 = v * c[i, m] ** 2, v * c[j, m] ** 2
            dm = c[i, m] - c[j, m]
            kl[i, j] = np.sum(0.5 * (np.log(s2 / s1) + (s1 + dm**2) / s2 - 1))
            s = (s1 + s2) / 2
            bd[i, j] = np.sum(dm**2 / (8 * s) + 0.5 * np.log(s / np.sqrt(s1 * s2)))
    up = h.mean() - np.mean(logsumexp(-kl, axis=1) - math.log(12))
    low = h.mean() - np.mean(logsumexp(-bd, axis=1) - math.log(12))
    kt = kolchinsky_tracey_bounds(c, v, chunk_size=5)
    assert kt.upper == pytest.approx(up, abs=1e-10) and kt.lower == pytest.approx(low, abs=1e-10)


def test_gaussian_upper_bound():
    rng = np.random.default_rng(9)
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    g = rng.multivariate_normal([0, 0], cov, size=20000)
    true = 0.5 * (2 * math.log(2 * math.pi * math.e) + math.log(np.linalg.det(cov)))
    # for 20k Gaussian samples the plug-in log-det error is ~1e-2; shrinkage is ~0 here
    assert gaussian_entropy_upper_bound(g) == pytest.approx(true, abs=0.03)
    # on the toy the bound sits above the estimated h(Z), and stays finite for n < d thanks to shrinkage
    _, fx = toy.sample(2000, 3, seed=0)
    r = dropout_mi(fx, VAR, seed=0, n_noise=2)
    z = fx * (1 + math.sqrt(VAR) * rng.normal(size=fx.shape))
    assert gaussian_entropy_upper_bound(z) > r.h_z
    assert r.details["h_z_gaussian_upper_bound"] > r.h_z
    assert np.isfinite(gaussian_entropy_upper_bound(rng.normal(size=(10, 50))))
    with pytest.raises(ValueError, match="identically 0"):
        gaussian_entropy_upper_bound(np.c_[rng.normal(size=(10, 2)), np.zeros(10)])


# ----------------------------------------------------------------------------- zero activations


def test_distinct_zero_patterns_give_log_n_exactly():
    rng = np.random.default_rng(10)
    n, d = 100, 12
    codes = rng.choice(2**d - 1, size=n, replace=False) + 1
    mask = ((codes[:, None] >> np.arange(d)) & 1).astype(bool)
    f = np.where(mask, rng.uniform(0.5, 2.0, size=(n, d)), 0.0)
    r = dropout_mi(f, VAR, seed=0)
    assert r.value == pytest.approx(math.log(n), abs=1e-12)  # the pattern alone identifies the input
    assert r.details["n_zero_patterns"] == n
    with pytest.raises(ValueError, match="zero pattern"):
        dropout_mi(f, VAR, mode="heldout")
    with pytest.raises(ValueError, match="zero pattern"):
        dropout_mi(f, VAR, mode="paper", n_centers=50)


def test_half_zero_plus_separated_values():
    """d=1, half the inputs have f = 0, the other half distinct well-separated values:
    I = H(B) + P(B=1) log(N/2) = 1/2 log 2 + 1/2 log N exactly in the dataset view."""
    n = 200
    f = np.zeros((n, 1))
    f[::2, 0] = 1.3 ** np.arange(n // 2)
    r = dropout_mi(f, 1e-6, seed=0)
    assert r.value == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(n), abs=1e-9)


def test_relu_population_case_with_known_answer():
    """X = (B, X'), B ~ Bern(1/2) independent of X' ~ N(0,1), f = B (2X' + 0.5):
    I(X;Z) = H(B) + 1/2 I(X';Z|B=1) = log 2 + exact_mi(1)/2."""
    rng = np.random.default_rng(12)
    _, fx = toy.sample(4000, 1, seed=12)
    fx = fx * (rng.random((4000, 1)) < 0.5)
    exact = math.log(2) + 0.5 * toy.exact_mi(1, VAR)
    ds = dropout_mi(fx, VAR, mode="dataset", seed=0, n_noise=3)
    ho = dropout_mi(fx, VAR, mode="heldout", seed=0, n_noise=3)
    assert ds.value == pytest.approx(exact, rel=0.03)  # as in the toy test, 3% (stderr ~0.012 nats = 1%)
    assert ho.value == pytest.approx(exact, rel=0.03)
    assert ds.details["n_zero_patterns"] == 2


# ----------------------------------------------------------------------------- API hygiene


def test_same_seed_same_numbers_and_chunk_invariance():
    _, fx = toy.sample(500, 3, seed=0)
    a = dropout_mi(fx, VAR, seed=42, n_noise=3)
    b = dropout_mi(fx, VAR, seed=42, n_noise=3)
    c = dropout_mi(fx, VAR, seed=43, n_noise=3)
    d = dropout_mi(fx, VAR, seed=42, n_noise=3, chunk_size=37)
    assert a.value == b.value and a.h_z == b.h_z
    assert a.value != c.value
    assert d.value == pytest.approx(a.value, abs=1e-12)  # noise does not depend on chunk_size
    t = GaussianDropoutMI(VAR, n_noise=3, seed=42).estimate(torch.as_tensor(fx))
    assert t.value == a.value


def test_progress_bar_does_not_change_numbers():
    _, fx = toy.sample(300, 2, seed=0)
    a = GaussianDropoutMI(VAR, n_noise=2, mode="all", n_centers=100, progress=True).estimate(fx)
    b = GaussianDropoutMI(VAR, n_noise=2, mode="all", n_centers=100).estimate(fx)
    assert all(a[m].value == b[m].value for m in a)
    c = mixture_logpdf(fx, fx, VAR, progress=True)
    assert np.all(np.isfinite(c))


def test_result_fields():
    _, fx = toy.sample(100, 2, seed=0)
    r = GaussianDropoutMI(VAR, n_noise=2).estimate(fx)
    assert (r.n, r.d, r.mode, r.n_noise, r.variance) == (100, 2, "dataset", 2, VAR)
    assert r.stderr > 0 and r.h_z_stderr > 0 and r.h_z_given_x_stderr > 0
    assert "uniform on the sample" in r.quantity
    assert r.as_dict()["h_z"] == r.h_z
    assert "GaussianDropoutMI(variance=0.4" in repr(GaussianDropoutMI(VAR))


@pytest.mark.parametrize(
    "kwargs, f, match",
    [
        ({}, np.array([[1.0, np.nan], [2.0, 3.0]]), "non-finite"),
        ({}, np.array([[1.0, np.inf], [2.0, 3.0]]), "non-finite"),
        ({}, np.ones((1, 3)), "at least 2"),
        ({}, np.ones((2, 2, 2)), "2-D"),
        ({"variance": 0.0}, np.ones((5, 2)), "variance"),
        ({"variance": -0.1}, np.ones((5, 2)), "variance"),
        ({"variance": float("nan")}, np.ones((5, 2)), "variance"),
        ({"n_noise": 0}, np.ones((5, 2)), "n_noise"),
        ({"n_noise": 2.5}, np.ones((5, 2)), "n_noise"),
        ({"mode": "paper", "n_centers": 6}, np.ones((5, 2)), "n_centers"),
        ({"mode": "all", "n_centers": 6}, np.ones((5, 2)), "n_centers"),
        ({"mode": "loo"}, np.ones((5, 2)), "mode"),
        ({"chunk_size": 0}, np.ones((5, 2)), "chunk_size"),
        ({"dtype": torch.int64}, np.ones((5, 2)), "dtype"),
    ],
)
def test_bad_input_raises(kwargs, f, match):
    params = {"variance": VAR, **kwargs}
    with pytest.raises(ValueError, match=match):
        GaussianDropoutMI(**params).estimate(f)


def test_bad_input_kernel_and_y():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same dimension"):
        mixture_logpdf(rng.normal(size=(4, 3)), rng.normal(size=(5, 2)), VAR)
    with pytest.raises(ValueError, match="exclude_self"):
        mixture_logpdf(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), VAR, exclude_self=np.arange(3))
    with pytest.raises(ValueError, match="exclude_self"):
        mixture_logpdf(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), VAR, exclude_self=np.array([0, 1, 2, 9]))
    with pytest.raises(ValueError, match="variance"):
        mixture_logpdf(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), 0.0)
    with pytest.raises(ValueError, match="y=None"):
        GaussianDropoutMI(VAR).estimate(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    _, fx = toy.sample(2000, 4, seed=0)
    a = dropout_mi(fx, VAR, seed=1, mode="all", n_centers=1000)
    b = dropout_mi(fx, VAR, seed=1, mode="all", n_centers=1000, device="cuda")
    for m in a:
        assert b[m].value == pytest.approx(a[m].value, abs=1e-9)


# ----------------------------------------------------------------------------- screened kernel


def _direct_logterms(z, c, v):
    """float64 component log-densities log N(z_r; mu_j, diag v mu_j^2) in the direct difference form
    (no GEMM expansion, so no cancellation): the reference for the screened kernel. Centres without zeros."""
    k = c.shape[1]
    const = -0.5 * k * math.log(2 * math.pi * v) - np.log(np.abs(c)).sum(1)
    dev = (z[:, None, :] - c[None, :, :]) / np.abs(c)[None, :, :]
    return const[None, :] - 0.5 * np.einsum("rjk,rjk->rj", dev, dev) / v


def _direct_logpdf(z, c, v, exclude=None):
    a = _direct_logterms(z, c, v)
    cnt = np.full(len(z), float(len(c)))
    if exclude is not None:
        a[np.arange(len(z)), exclude] = -np.inf
        cnt -= 1
    return logsumexp(a, axis=1) - np.log(cnt)


def _softplus_mixture(rng, n, m, d, v):
    c = np.logaddexp(0.0, rng.normal(size=(m, d)))
    own = rng.integers(0, m, size=n)
    return c[own] * (1 + math.sqrt(v) * rng.normal(size=(n, d))), c, own


@pytest.mark.parametrize(
    "d, v, fallback",
    [(1, 0.2, True), (8, 0.2, True), (8, 4.0, True), (128, 1e-3, False), (128, 0.2, False), (128, 4.0, True)],
)
def test_screened_matches_dense_and_direct(d, v, fallback):
    from ipdrop.estimators._mixture import _MixtureScorer

    rng = np.random.default_rng(d)
    z, c, own = _softplus_mixture(rng, 150, 400, d, v)
    for excl in (None, own):
        ref = _direct_logpdf(z, c, v, excl)
        scr = mixture_logpdf(z, c, v, method="screened", exclude_self=excl, chunk_size=64)
        den = mixture_logpdf(z, c, v, method="dense", exclude_self=excl, chunk_size=64)
        # the direct form and the screened kernel are both float64 sums of the same terms: 1e-12 relative
        # leaves room for float64 rounding only (|log p| ~ 1e2, terms ~ 1e2..1e5); the dropped terms are
        # < e^-50 each, i.e. < 400 e^-50 = 8e-20 relative
        np.testing.assert_allclose(scr, ref, rtol=1e-12, atol=0)
        # the dense GEMM expansion loses up to ~1e-13 relative to cancellation at small sigma: 1e-10
        np.testing.assert_allclose(scr, den, rtol=1e-10, atol=0)
        # the screened path forced even where the terms overlap heavily (every chunk screened)
        forced = mixture_logpdf(z, c, v, method="screened", exclude_self=excl, chunk_size=64, max_candidate_fraction=1)
        np.testing.assert_allclose(forced, ref, rtol=1e-12, atol=0)
    sc = _MixtureScorer(c, v, torch.device("cpu"), torch.float64, method="screened")
    sc.score(z, own, chunk_size=64)
    # the path the test claims to exercise really ran: where the terms within 50 nats of the maximum are
    # > 1% of all (low d; large sigma with only 400 centres: ~3%) the first chunk falls back and the rest
    # of the group goes dense
    assert sc.stats == {**sc.stats, "screened_chunks": 0 if fallback else 3, "dense_chunks": 3 if fallback else 0}


def test_screened_zero_patterns_and_loo_vs_bruteforce():
    rng = np.random.default_rng(5)
    c = _relu_like(rng, 60, 24)
    z = np.repeat(c, 2, 0) * (1 + 0.2 * rng.normal(size=(120, 24)))
    own = np.repeat(np.arange(60), 2)
    own[::7] = -1  # rows that exclude nothing
    for excl in (None, own):
        got = mixture_logpdf(
            z, c, 0.04, method="screened", max_candidate_fraction=1.0, exclude_self=excl, chunk_size=16
        )
        ref = _bruteforce_logpdf(z, c, 0.04, excl)
        fin = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(got), fin)
        np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-12)  # float64 rounding only


def test_error_bound_protects_terms_the_naive_float32_screen_would_drop(monkeypatch):
    """At sigma^2 = 1e-10 the float32 expansion is off by hundreds of nats, so a naive screen "keep a32 >= max a32 - T"
    drops terms that lie within T of the maximum. The screened kernel keeps every term within T: its result
    lies between the logsumexp of the true terms >= max - T and the full logsumexp. With the rounding bound
    switched off (unit roundoff 0) the same kernel drops them too, so the bound is what protects them."""
    import ipdrop.estimators._mixture as mx

    rng = np.random.default_rng(3)
    v, d, T = 1e-10, 8, 2.0
    base = rng.normal(size=d) + 3.0
    near = base[None, :] * (1 + 1e-5 * rng.normal(size=(6, d)))  # 6 centres within O(1) nats of each other
    far = rng.normal(size=(40, d)) + 3.0
    c = np.concatenate([near, far])
    z = base[None, :] * (1 + 1e-5 * rng.normal(size=(200, d)))
    a = _direct_logterms(z, c, v)
    amax = a.max(1, keepdims=True)
    # the naive float32 screen, with the GEMM expansion of the kernel
    w = 1.0 / (v * c * c)
    cst = -0.5 * d * math.log(2 * math.pi * v) - np.log(np.abs(c)).sum(1) - 0.5 * d / v
    left = torch.as_tensor(np.concatenate([z * z, z, np.ones((len(z), 1))], 1), dtype=torch.float32)
    right = torch.as_tensor(np.concatenate([-0.5 * w, c * w, cst[:, None]], 1).T.copy(), dtype=torch.float32)
    a32 = (left @ right).double().numpy()
    naive_keep = a32 >= a32.max(1, keepdims=True) - T
    must_keep = a >= amax - T
    assert np.abs(a32 - a).max() > 10 * T  # float32 really is off by much more than T here
    assert np.any(must_keep & ~naive_keep)  # ... and the naive screen drops needed terms
    lower = logsumexp(np.where(must_keep, a, -np.inf), axis=1)
    full = logsumexp(a, axis=1)
    naive = logsumexp(np.where(naive_keep, a, -np.inf), axis=1)
    assert np.any(naive < lower - 1e-2)  # the naive screen loses visible mass

    def screened():
        return mixture_logpdf(z, c, v, method="screened", screen_nats=T, max_candidate_fraction=1.0) + math.log(len(c))

    got = screened()
    # float64 rounding: |a| ~ 1e2, 1e-12 relative
    assert np.all(got >= lower - 1e-12 * np.abs(lower))
    assert np.all(got <= full + 1e-12 * np.abs(full))
    monkeypatch.setattr(mx, "_float32_unit_roundoff", lambda device: 0.0)  # no rounding-error bound
    assert np.any(screened() < lower - 1e-2)


def test_screened_all_torch_path_used_on_gpus():
    """The device-agnostic branch (torch gathers, padded logsumexp) that CUDA runs, exercised on the CPU."""
    from ipdrop.estimators._mixture import _MixtureScorer

    rng = np.random.default_rng(6)
    z, c, own = _softplus_mixture(rng, 100, 300, 48, 0.1)
    sc = _MixtureScorer(c, 0.1, torch.device("cpu"), torch.float64, method="screened", max_candidate_fraction=1.0)
    sc._numpy_gathers = False
    got = sc.score(z, own, chunk_size=32) - math.log(len(c) - 1)
    assert not isinstance(sc._screen_data(0).mu, np.ndarray) and sc.stats["screened_chunks"] == 4
    np.testing.assert_allclose(got, _direct_logpdf(z, c, 0.1, own), rtol=1e-12, atol=0)  # float64 rounding only


def test_auto_method_and_reduced_precision_guard():
    from ipdrop.estimators._mixture import _MixtureScorer

    rng = np.random.default_rng(4)
    z, c, _ = _softplus_mixture(rng, 300, 300, 64, 0.2)
    cpu = torch.device("cpu")
    sc = _MixtureScorer(c, 0.2, cpu, torch.float64)  # auto: float64 on CPU, group >= 256 centres -> screened
    auto = sc.score(z)
    assert sc.stats["screened_chunks"] > 0 and sc.stats["dense_chunks"] == 0
    # ~1 candidate per row survives out of 300 centres
    assert sc.stats["candidates"] < 0.01 * sc.stats["entries"]
    sc32 = _MixtureScorer(c, 0.2, cpu, torch.float32)  # auto with float32: the (lossy) dense float32 path
    sc32.score(z)
    assert sc32.stats["screened_chunks"] == 0
    old = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # float32 matmuls may use bf16: no rigorous bound
        scm = _MixtureScorer(c, 0.2, cpu, torch.float64, method="screened")
        np.testing.assert_allclose(scm.score(z), auto, rtol=1e-10)
        assert scm.stats["screened_chunks"] == 0
    finally:
        torch.set_float32_matmul_precision(old)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "fast"}, "method"),
        ({"screen_nats": 0.0}, "screen_nats"),
        ({"max_candidate_fraction": 1.5}, "max_candidate_fraction"),
        ({"max_candidate_fraction": 0}, "max_candidate_fraction"),
    ],
)
def test_screened_bad_arguments(kwargs, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        mixture_logpdf(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), VAR, **kwargs)


def test_estimator_kernel_method_does_not_change_the_estimate():
    # d = 64 softplus-like features: "auto" screens on the CPU; the screened and dense kernels must agree
    # to well below Monte-Carlo error (the screen drops only terms < e^-50 of a row's largest).
    rng = np.random.default_rng(5)
    f = np.log1p(np.exp(rng.standard_normal((600, 64))))
    vals = {
        m: GaussianDropoutMI(variance=0.2, mode="all", n_centers=300, seed=1, method=m).estimate(f)
        for m in ("dense", "screened", "auto")
    }
    for mode in ("dataset", "heldout", "paper"):
        ref = vals["dense"][mode].value
        for m in ("screened", "auto"):
            assert vals[m][mode].value == pytest.approx(ref, rel=1e-9, abs=1e-9)
    with pytest.raises(ValueError, match="method"):
        GaussianDropoutMI(variance=0.2, method="fast").estimate(f)
