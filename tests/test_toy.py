"""Exact ground truth of the paper's toy (X ~ N(0, I), f(x) = 2x + 0.5, D ~ N(1, variance))."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from ipdrop import toy

VAR = 0.4  # the paper's sigma^2


def _density_nested_quad(z, v):
    """p(z) = int p_D(d) p_U(z/d) / |d| dd with plain scalar quad, split at the singular points."""

    def g(d):
        return (
            math.exp(-0.5 * (d - 1) ** 2 / v)
            / math.sqrt(2 * math.pi * v)
            * math.exp(-0.5 * (z / d - 0.5) ** 2 / 4)
            / math.sqrt(8 * math.pi)
            / abs(d)
        )

    a = abs(z)
    return sum(
        quad(g, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=500)[0]
        for lo, hi in [(-np.inf, -a), (-a, 0), (0, a), (a, 1), (1, np.inf)]
    )


def test_f_and_sample():
    x, fx = toy.sample(5, 3, seed=1)
    assert x.shape == fx.shape == (5, 3)
    np.testing.assert_array_equal(fx, 2 * x + 0.5)
    np.testing.assert_array_equal(toy.sample(5, 3, seed=1)[0], x)
    assert not np.array_equal(toy.sample(5, 3, seed=2)[0], x)


def test_density_matches_independent_quadrature():
    zs = np.array([-7.0, -0.3, -1e-3, 1e-4, 0.02, 0.5, 1.0, 3.0, 12.0])
    ref = np.array([_density_nested_quad(z, VAR) for z in zs])
    # both are adaptive quadratures at ~1e-12 tolerance
    np.testing.assert_allclose(toy.density_1d(zs, VAR), ref, rtol=1e-9)


def test_conditional_entropy_vs_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2_000_000)
    mc = np.mean(np.log(np.abs(2 * x + 0.5))) + 0.5 * math.log(2 * math.pi * math.e * VAR)
    # std of log|2X+.5| is ~1.1, so the MC stderr is ~8e-4; 4e-3 is 5 stderr
    assert toy.exact_conditional_entropy_1d(VAR) == pytest.approx(mc, abs=4e-3)


def test_entropy_step_converged_and_mc_consistent():
    h = toy.exact_entropy_1d(VAR)
    # trapezoid in log|z| on an analytic integrand: halving the step changes nothing visible
    assert toy.exact_entropy_1d.__wrapped__(VAR, step=0.01) == pytest.approx(h, abs=1e-10)
    rng = np.random.default_rng(3)
    z = (2 * rng.standard_normal(4000) + 0.5) * (1 + math.sqrt(VAR) * rng.standard_normal(4000))
    nl = -np.log(toy.density_1d(z, VAR))
    # MC over z of -log p(z); stderr nl.std()/sqrt(n) ~ 0.025; allow 4 stderr
    assert h == pytest.approx(nl.mean(), abs=4 * nl.std() / math.sqrt(len(z)))


def test_exact_mi_vs_independent_monte_carlo():
    """I_1 = E[log q(z|x) - log p(z)] with p(z) a Monte-Carlo average of the kernel over 10k fresh x's."""
    rng = np.random.default_rng(11)
    n, k = 2000, 10000
    s = math.sqrt(VAR)
    fx = 2 * rng.standard_normal(n) + 0.5
    eps = rng.standard_normal(n)
    z = fx * (1 + s * eps)
    logq = -np.log(np.abs(fx) * s * math.sqrt(2 * math.pi)) - 0.5 * eps**2
    fk = 2 * rng.standard_normal(k) + 0.5
    sk = s * np.abs(fk)
    logp = np.empty(n)
    for a in range(0, n, 500):
        zz = z[a : a + 500, None]
        lk = -np.log(sk * math.sqrt(2 * math.pi)) - 0.5 * ((zz - fk) / sk) ** 2
        m = lk.max(1, keepdims=True)
        logp[a : a + 500] = m[:, 0] + np.log(np.exp(lk - m).mean(1))
    diff = logq - logp
    se = diff.std() / math.sqrt(n)  # ~0.025; the log of a 10k-sample mean adds a bias of order 1e-3
    assert toy.exact_mi(1, VAR) == pytest.approx(diff.mean(), abs=4 * se + 5e-3)


def test_exact_mi_scaling_and_values():
    i1 = toy.exact_mi(1, VAR)
    assert 1.10 < i1 < 1.18  # 1.14197 nats at variance 0.4
    assert toy.exact_mi(7, VAR) == pytest.approx(7 * i1, rel=1e-12)
    hz, hzx = toy.exact_entropies(3, VAR)
    assert hz - hzx == pytest.approx(3 * i1, rel=1e-12)
    # more noise -> less information
    assert toy.exact_mi(1, 2.0) < i1 < toy.exact_mi(1, 0.01)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_variance(bad):
    with pytest.raises(ValueError, match="variance"):
        toy.exact_mi(1, bad)


def test_bad_dim():
    with pytest.raises(ValueError, match="dim"):
        toy.exact_mi(0, VAR)
    with pytest.raises(ValueError, match="dim"):
        toy.sample(10, 0)


@pytest.mark.slow
def test_entropy_vs_fully_nested_quad():
    """h(Z_1) = -int p log p with scalar quad over z and scalar quad inside p (a few seconds; ~15 s on a loaded
    machine)."""

    def integ(z):
        p = _density_nested_quad(z, VAR)
        return -p * math.log(p) if p > 0 else 0.0

    h = sum(
        quad(integ, a, b, epsabs=1e-10, epsrel=1e-10, limit=500)[0]
        for a, b in [(-np.inf, -1), (-1, 0), (0, 1), (1, np.inf)]
    )
    assert toy.exact_entropy_1d(VAR) == pytest.approx(h, abs=1e-8)
