"""Property-based tests (Hypothesis) over the estimator interface of every estimator in ``ipdrop.estimators``.

Inputs are drawn as small random designs: shapes (N, d), float32/float64, global scalings over 12 orders of
magnitude, ties (values rounded to a coarse grid, ReLU-style exact zeros), duplicate rows and constant columns.
Properties:

* no NaN/inf without an error: an estimate is finite, or the estimator raises ``ValueError`` (with a message);
* invariance to the order of the rows (exact for the deterministic estimators, within the stated MC error for
  the noise-drawing dropout estimator);
* scaling invariance where it holds (a global scaling of the representation for binning with ``n_bins``, the
  kNN label estimator, KSG, the dropout mixture; x scaled alone for KSG);
* the dataset-view mixture MI <= log N (+ MC error);
* MI >= -(stated tolerance).

Sizes are small and ``max_examples`` low so that the module runs in well under 2 minutes on 2 CPU cores;
``derandomize=True`` makes every CI run draw the same examples. The settings live in this module (not in
conftest.py) so they apply to these tests only.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ipdrop.dropout import InformationDropout  # noqa: E402
from ipdrop.estimators import (  # noqa: E402
    EDGE,
    KSGMI,
    MINE,
    BinningMI,
    DoE,
    GaussianDropoutMI,
    KNNLabelMI,
    VariationalIYZ,
    infodropout_kl_relu,
    infodropout_kl_softplus,
    infodropout_mi,
)

# One profile for the whole module: deterministic examples (CI reproducibility), no per-example deadline (the
# machine is shared), few examples per property (the budget is the whole module < 2 min on 2 cores).
settings.register_profile(
    "ipdrop-properties",
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PROFILE = settings.get_profile("ipdrop-properties")


def fast(max_examples: int = 15):
    return settings(PROFILE, max_examples=max_examples)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# --------------------------------------------------------------------------- data strategy


@st.composite
def designs(draw, *, min_n=20, max_n=60, max_d=4, nonneg=False, allow_constant=True, allow_ties=True):
    """A random (N, d) design with the awkward features real representations have."""
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = 10.0 ** draw(st.integers(-6, 6))
    ties = allow_ties and draw(st.booleans())
    dup = allow_ties and draw(st.booleans())
    const = allow_constant and draw(st.booleans())
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    if nonneg:
        x = np.maximum(x, 0.0) if ties else np.abs(x) + 0.05  # ReLU zeros are ties
    if ties:
        x = np.round(x * 2) / 2  # a coarse grid: many exact ties
    if dup:
        k = max(1, n // 4)
        x[-k:] = x[:k]  # duplicate rows
    if const:
        x[:, 0] = 1.0 if nonneg else 0.3  # a constant column
    return (x * scale).astype(dtype), rng


def finite_or_value_error(call):
    """Run ``call``; return its result when it has a finite value, ``None`` when it raised ``ValueError``."""
    try:
        res = call()
    except ValueError as e:
        assert str(e), "ValueError without a message"
        _event(f"ValueError: {str(e)[:60]}")
        return None
    _event("estimated")
    assert math.isfinite(res.value), res
    for name in ("stderr", "mc_error"):
        v = getattr(res, name, None)
        assert v is None or math.isfinite(v), (name, v)
    return res


def _event(text):
    """Record an outcome for ``pytest --hypothesis-show-statistics`` (a no-op outside a Hypothesis test)."""
    try:
        hypothesis.event(text)
    except hypothesis.errors.InvalidArgument:
        pass


def labels_for(rng, n, k):
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)  # every class present
    return y


# --------------------------------------------------------------------------- binning


@fast()
@given(designs(nonneg=True), st.integers(2, 12))
def test_binning_finite_order_and_scale_invariant(design, n_bins):
    x, rng = design
    est = BinningMI(n_bins=n_bins)
    res = finite_or_value_error(lambda: est.estimate(x))
    if res is None:
        return
    n = len(x)
    # plug-in discrete MI of X uniform on the sample with a function of X: 0 <= I <= log N (round-off 1e-9)
    assert -1e-9 <= res.value <= math.log(n) + 1e-9
    perm = rng.permutation(n)
    assert est.estimate(x[perm]).value == pytest.approx(res.value, abs=1e-9)
    # a global positive scaling moves the min/max grid with the data: the same cells (exact up to round-off
    # at cell edges, hence tested on a power of two, which scales exactly)
    assert est.estimate(x * 4.0).value == pytest.approx(res.value, abs=1e-9)
    y = labels_for(rng, n, 3)
    ry = finite_or_value_error(lambda: est.estimate_yz(x, y))
    if ry is not None:
        assert -1e-9 <= ry.value <= math.log(3) + 1e-9


@fast(10)
@given(designs(nonneg=True, max_n=40), st.sampled_from([1e-300, 1e-12, 1e-3, 0.5, 1e6]))
def test_binning_any_width_finite_or_error(design, width):
    x, _ = design
    res = finite_or_value_error(lambda: BinningMI(bin_width=width).estimate(x))
    if res is not None:
        assert -1e-9 <= res.value <= math.log(len(x)) + 1e-9


def test_binning_tiny_width_refused_without_warnings():
    x = np.random.default_rng(0).normal(size=(50, 2))
    with _no_runtime_warnings():
        with pytest.raises(ValueError, match="bin_width"):
            BinningMI(bin_width=1e-300).estimate(x)


class _no_runtime_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# --------------------------------------------------------------------------- kNN label MI (Ross) and KSG


@fast()
@given(designs(nonneg=True, min_n=30, max_n=80), st.integers(2, 4))
def test_knn_label_finite_order_and_scale_invariant(design, k):
    x, rng = design
    y = labels_for(rng, len(x), k)
    est = KNNLabelMI()
    res = finite_or_value_error(lambda: est.estimate(x, y))
    if res is None:
        return
    perm = rng.permutation(len(x))
    # deterministic given the data (any tie-breaking jitter is seeded): the order of the rows must not matter
    # beyond the statistical error of the estimator (stderr when reported, else 0.05 nats)
    tol = 3 * (res.stderr or 0.0) + 0.05
    assert est.estimate(x[perm], y[perm]).value == pytest.approx(res.value, abs=tol)
    # max-norm neighbourhoods are invariant to a global scaling (power of two: exact)
    assert est.estimate(x * 8.0, y).value == pytest.approx(res.value, abs=tol)
    assert res.value <= math.log(k) + tol


@fast()
@given(designs(min_n=30, max_n=80, allow_constant=False, allow_ties=False), st.integers(2, 4))
def test_knn_label_never_negative_beyond_tolerance_on_continuous_data(design, k):
    x, rng = design
    y = labels_for(rng, len(x), k)
    res = finite_or_value_error(lambda: KNNLabelMI().estimate(x, y))
    if res is not None:
        # Ross's estimator has a bias of O(k / N) and noise ~ 1/sqrt(N) at independence: 0.5 nats at N >= 30
        assert res.value >= -0.5


def test_knn_label_ties_not_negative():
    rng = np.random.default_rng(0)
    z = np.maximum(rng.normal(size=(2000, 1)), 0)
    y = rng.integers(0, 4, 2000)
    # independent labels: the truth is 0; tolerance 0.1 nats (statistical error at N = 2000 is ~0.02)
    assert KNNLabelMI().estimate(z, y).value >= -0.1


@fast()
@given(designs(min_n=30, max_n=80, allow_constant=False))
def test_ksg_finite_and_order_invariant(design):
    x, rng = design
    y = x[:, :1] + 0.5 * rng.normal(size=(len(x), 1)) * float(np.std(x[:, :1]) + 1e-300)
    est = KSGMI()
    res = finite_or_value_error(lambda: est.estimate(x, y))
    if res is None:
        return
    perm = rng.permutation(len(x))
    tol = 3 * (res.stderr or 0.0) + 0.05
    assert est.estimate(x[perm], y[perm]).value == pytest.approx(res.value, abs=tol)
    assert res.value >= -0.5  # KSG bias at independence is O(1/N) with noise ~1/sqrt(N): 0.5 nats at N >= 30


@fast(5)
@given(st.integers(0, 2**16), st.sampled_from([1e-3, 10.0, 1e3]))
def test_ksg_invariant_to_scaling_x_alone(seed, factor):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 1))
    y = x + 0.3 * rng.normal(size=(200, 1))
    a = KSGMI().estimate(x, y).value
    b = KSGMI().estimate(x * factor, y).value
    # MI is invariant to scaling one variable; tolerance 0.1 nats (KSG's spread at N = 200 is ~0.05)
    assert b == pytest.approx(a, abs=0.1)


# --------------------------------------------------------------------------- EDGE


@fast(10)
@given(designs(min_n=30, max_n=60), st.integers(2, 4))
def test_edge_finite_and_bounded(design, k):
    x, rng = design
    y = labels_for(rng, len(x), k)
    res = finite_or_value_error(lambda: EDGE(n_ensemble=3).estimate(x, y))
    if res is not None:
        # EDGE is a plug-in on a hashed graph: >= 0 up to its ensemble correction (0.1 nats), <= H(Y) <= log k
        assert -0.1 <= res.value <= math.log(k) + 0.1


@pytest.mark.parametrize("convert", [lambda y: y.astype(np.float64), lambda y: y.astype(str)])
def test_edge_label_dtype_does_not_matter(convert):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = y[:, None] + 0.5 * rng.normal(size=(300, 2))
    a = EDGE().estimate(x, y).value
    assert EDGE().estimate(x, convert(y)).value == pytest.approx(a, abs=1e-9)


# --------------------------------------------------------------------------- Gaussian-dropout mixture


@fast()
@given(designs(nonneg=True, max_n=40, max_d=3), st.sampled_from([0.05, 0.2, 1.0]))
def test_gaussian_dropout_dataset_view_bounded_finite_order_invariant(design, variance):
    f, rng = design
    est = GaussianDropoutMI(variance=variance, n_noise=3, mode="dataset", seed=0, device="cpu")
    res = finite_or_value_error(lambda: est.estimate(f))
    if res is None:
        return
    n = len(f)
    err = res.mc_error if getattr(res, "mc_error", None) is not None else (res.stderr or 0.0)
    # X uniform on the N samples: I(X;Z) <= H(X) = log N; the estimate may exceed it only by Monte-Carlo error
    assert res.value <= math.log(n) + 4 * err + 1e-6
    # MI >= 0; the estimator's negative excursions are Monte-Carlo error only
    assert res.value >= -4 * err - 1e-6
    # reordering rows reassigns the noise draws: equal within Monte-Carlo error (4 sigma, plus a 0.05 floor
    # for the fluctuation of the error estimate at n_noise = 3)
    perm = rng.permutation(n)
    assert est.estimate(f[perm]).value == pytest.approx(res.value, abs=4 * err + 0.05)


@pytest.mark.parametrize("factor, variance", [(1e200, 0.2), (1e-170, 0.2), (1.0, 1e-17)])
def test_gaussian_dropout_extreme_scale_or_variance(factor, variance):
    rng = np.random.default_rng(0)
    f = np.abs(rng.normal(size=(300, 2))) + 0.1
    try:
        res = GaussianDropoutMI(variance=variance, n_noise=3, seed=0, device="cpu").estimate(f * factor)
    except ValueError as e:  # refusing is fine, if the message names the real cause
        assert any(w in str(e) for w in ("overflow", "underflow", "variance")), str(e)
    else:
        assert math.isfinite(res.value)
        ref = GaussianDropoutMI(variance=variance, n_noise=3, seed=0, device="cpu").estimate(f).value
        assert res.value == pytest.approx(ref, rel=1e-6)  # I(X;Z) is invariant to a global scaling of f
        assert res.value <= math.log(300) + 0.1


# --------------------------------------------------------------------------- DoE, MINE (trained; tiny budgets)


def _xy(design):
    x, rng = design
    y = x[:, :1] * 0.5 + rng.normal(size=(len(x), 1)).astype(x.dtype) * np.abs(x[:, :1]).max(initial=1.0)
    return x, y


@fast(5)
@given(designs(min_n=20, max_n=50, max_d=2))
def test_doe_finite_or_value_error(design):
    x, y = _xy(design)
    a = finite_or_value_error(lambda: DoE(steps=10, hidden=8, eval_every=5, device="cpu").estimate(x, y))
    # the result depends only on (data, seed): repeatable
    if a is not None:
        assert DoE(steps=10, hidden=8, eval_every=5, device="cpu").estimate(x, y).value == a.value


@fast(6)
@given(designs(min_n=20, max_n=50, max_d=2))
def test_mine_finite_or_value_error(design):
    x, y = _xy(design)
    res = finite_or_value_error(
        lambda: MINE(steps=10, hidden=8, eval_every=5, n_marginal=500, device="cpu").estimate(x, y)
    )
    if res is not None:
        a = MINE(steps=10, hidden=8, eval_every=5, n_marginal=500, device="cpu").estimate(x, y).value
        assert a == res.value


@pytest.mark.parametrize("est", [DoE(steps=2), MINE(steps=2), KSGMI(), KNNLabelMI(), EDGE(), VariationalIYZ()])
def test_estimators_needing_y_say_so(est):
    x = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError) as info:
        est.estimate(x)
    assert "y" in str(info.value)


# --------------------------------------------------------------------------- variational bound, information dropout


@fast()
@given(st.integers(1, 60), st.integers(2, 6), st.integers(0, 2**16), st.sampled_from([1e-3, 1.0, 1e3]))
def test_variational_finite_order_invariant_and_bounded(n, k, seed, scale):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * scale
    y = rng.integers(0, k, n)
    res = finite_or_value_error(lambda: VariationalIYZ().estimate(logits, y))
    if res is None:
        return
    # H(Y) - CE <= H(Y) <= log k (CE >= 0); no lower bound (a bad classifier is allowed)
    assert res.value <= math.log(k) + 1e-9
    perm = rng.permutation(n)
    assert VariationalIYZ().estimate(logits[perm], y[perm]).value == pytest.approx(res.value, abs=1e-9)
    # a constant shift of every logit of a row leaves the softmax unchanged
    assert VariationalIYZ().estimate(logits + 7.0, y).value == pytest.approx(res.value, abs=1e-9)


@fast(25)
@given(
    st.integers(1, 30),
    st.integers(1, 5),
    st.integers(0, 2**16),
    st.integers(-45, 3),
    st.sampled_from(["exact", "eq7"]),
    st.floats(-2.0, 2.0),
    st.floats(0.3, 3.0),
)
def test_infodropout_kl_nonnegative_finite_order_invariant(n, d, seed, log10_fmin, kl_form, mu, sigma):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.001, 1.0, size=(n, d))
    f = 10.0 ** rng.uniform(log10_fmin, 3, size=(n, d))
    f[rng.random(size=(n, d)) < 0.1] = 0.0  # float32 softplus underflow
    kl = infodropout_kl_softplus(alpha, f, prior_mean=mu, prior_std=sigma, kl_form=kl_form)
    assert np.all(np.isfinite(kl))
    if kl_form == "exact":
        assert np.all(kl >= -1e-9)  # a KL divergence
    perm = rng.permutation(n)
    np.testing.assert_allclose(
        infodropout_kl_softplus(alpha[perm], f[perm], prior_mean=mu, prior_std=sigma, kl_form=kl_form),
        kl[perm],
        rtol=1e-12,
    )
    res = infodropout_mi(alpha, f, prior_mean=mu, prior_std=sigma, kl_form=kl_form)
    assert math.isfinite(res.value) and res.value == pytest.approx(kl.mean(), rel=1e-12, abs=1e-12)
    relu = infodropout_kl_relu(alpha, f, c=1.0, q=0.5)
    assert np.all(np.isfinite(relu))


@fast(15)
@given(
    st.integers(1, 20),
    st.integers(1, 6),
    st.integers(0, 2**16),
    st.floats(-130.0, 5.0),
    st.sampled_from(["exact", "eq7"]),
)
def test_infodropout_layer_kl_equals_reporting_kl(n, d, seed, bias, kl_form):
    # the loss (layer.last_kl) and the reported KL are one implementation with one clamp, for any f including
    # f below the 1e-4 floor and float32 softplus underflow (bias < -104)
    gen = torch.Generator().manual_seed(seed)
    layer = InformationDropout(3, d, kl_form=kl_form)
    with torch.no_grad():
        layer.main.bias.fill_(bias)
    layer(torch.randn(n, 3, generator=gen))
    f, alpha = layer.last_noiseless.double(), layer.last_alpha.double()
    reported = infodropout_kl_softplus(alpha, f, kl_form=kl_form)
    assert torch.isfinite(layer.last_kl).all()
    # float32 layer vs float64 report: per-unit terms are <= ~6 nats, float32 round-off ~1e-6 relative
    torch.testing.assert_close(layer.last_kl.detach().double(), reported, rtol=1e-5, atol=1e-4 * d)
