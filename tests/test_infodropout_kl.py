"""Information-dropout closed forms (paper App. A.1) and the variational bound I(Y;Z) >= H(Y) - CE.

Both are closed-form computations, so they are checked against independent closed forms
(torch.distributions) at float64 round-off level.
"""

import math

import numpy as np
import pytest
import torch
from torch.distributions import LogNormal, Normal, kl_divergence

from ipdrop.dropout import InformationDropout
from ipdrop.estimators import (
    MIResult,
    infodropout_kl_relu,
    infodropout_kl_softplus,
    infodropout_mi,
    label_entropy,
    variational_iyz,
    variational_iyz_from_logits,
)

RTOL = 1e-10  # float64: both sides are a handful of elementwise ops, round-off ~1e-15 relative


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _inputs(rng, shape=(200, 7)):
    alpha = rng.uniform(0.05, 1.5, size=shape)
    f = np.log1p(np.exp(rng.normal(0, 2, size=shape)))  # softplus activations, > 0
    return alpha, f


# --------------------------------------------------------------------------- softplus / log-normal prior


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (0.7, 0.4), (-1.3, 2.5)])
def test_softplus_kl_matches_torch_normal_kl(rng, mu, sigma):
    alpha, f = _inputs(rng)
    ours = infodropout_kl_softplus(alpha, f, prior_mean=mu, prior_std=sigma)
    post = Normal(torch.from_numpy(np.log(f)), torch.from_numpy(alpha))
    prior = Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64))
    ref = kl_divergence(post, prior).sum(1).numpy()
    assert ours.shape == (alpha.shape[0],)
    np.testing.assert_allclose(ours, ref, rtol=RTOL)
    # KL is invariant under z -> log z: same as the KL between the log-normals themselves
    ref_ln = kl_divergence(
        LogNormal(torch.from_numpy(np.log(f)), torch.from_numpy(alpha)),
        LogNormal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)),
    )
    np.testing.assert_allclose(ours, ref_ln.sum(1).numpy(), rtol=RTOL)


def test_softplus_eq7_form_is_the_printed_formula(rng):
    alpha, f = _inputs(rng)
    for mu, sigma in [(0.3, 1.0), (-0.8, 2.0)]:
        ours = infodropout_kl_softplus(alpha, f, prior_mean=mu, prior_std=sigma, kl_form="eq7")
        # paper eq. 7 as printed: (alpha^2 + mu^2) / (2 sigma^2) - log(alpha) / sigma - 1/2
        eq7 = ((alpha**2 + mu**2) / (2 * sigma**2) - np.log(alpha) / sigma - 0.5).sum(1)
        np.testing.assert_allclose(ours, eq7, rtol=RTOL)
        # f is not needed in that form
        np.testing.assert_allclose(
            infodropout_kl_softplus(alpha, prior_mean=mu, prior_std=sigma, kl_form="eq7"), eq7, rtol=RTOL
        )
    # with f == 1 (log f = 0) and sigma = 1 both forms agree
    np.testing.assert_allclose(
        infodropout_kl_softplus(alpha, np.ones_like(alpha), prior_mean=0.3),
        infodropout_kl_softplus(alpha, prior_mean=0.3, kl_form="eq7"),
        rtol=RTOL,
    )
    # the deprecated boolean still works, with a warning
    with pytest.warns(DeprecationWarning, match="kl_form"):
        old = infodropout_kl_softplus(alpha, f, prior_mean=0.3, include_log_mean=False)
    np.testing.assert_allclose(old, infodropout_kl_softplus(alpha, f, prior_mean=0.3, kl_form="eq7"), rtol=RTOL)


def test_softplus_floor_clamps_f_like_the_reference(rng):
    alpha, _ = _inputs(rng, (50, 4))
    f = 10.0 ** rng.uniform(-40, 1, size=alpha.shape)  # many units far below the 1e-4 floor
    f[0, 0] = 0.0  # float32 softplus underflow gives exact zeros
    ours = infodropout_kl_softplus(alpha, f)
    ref = kl_divergence(
        Normal(torch.from_numpy(np.log(np.maximum(f, 1e-4))), torch.from_numpy(alpha)),
        Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)),
    )
    np.testing.assert_allclose(ours, ref.sum(1).numpy(), rtol=RTOL)
    assert np.all(np.isfinite(ours))
    # without the floor the tiny units cost (log f)^2 / 2: far more (the "up to 30 nats apart" of issue 12)
    g = np.where(f == 0, 1e-300, f)
    unclamped = infodropout_kl_softplus(alpha, g, f_floor=0)
    ref0 = kl_divergence(
        Normal(torch.from_numpy(np.log(g)), torch.from_numpy(alpha)),
        Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)),
    )
    np.testing.assert_allclose(unclamped, ref0.sum(1).numpy(), rtol=RTOL)
    assert np.all(unclamped >= ours - 1e-9) and np.max(unclamped - ours) > 30
    with pytest.raises(ValueError, match="f must be > 0"):
        infodropout_kl_softplus(alpha, f, f_floor=0)


def test_softplus_torch_path_is_differentiable_and_equal(rng):
    alpha, f = _inputs(rng, (50, 3, 4, 4))  # conv feature maps: summed over all non-batch dims
    a = torch.from_numpy(alpha).requires_grad_(True)
    out = infodropout_kl_softplus(a, torch.from_numpy(f))
    assert isinstance(out, torch.Tensor) and out.shape == (50,)
    np.testing.assert_allclose(out.detach().numpy(), infodropout_kl_softplus(alpha, f), rtol=RTOL)
    out.sum().backward()
    # d/dalpha [-log alpha + alpha^2/2] = -1/alpha + alpha  (sigma = 1)
    np.testing.assert_allclose(a.grad.numpy(), -1 / alpha + alpha, rtol=RTOL)


# --------------------------------------------------------------------------- ReLU / log-uniform + point mass


@pytest.mark.parametrize("c,q", [(1.0, 1.0), (0.2, 0.3), (5.0, 0.9)])
def test_relu_kl_matches_negative_gaussian_entropy(rng, c, q):
    alpha, f = _inputs(rng)
    f = np.where(rng.random(f.shape) < 0.4, 0.0, f)  # ReLU zeros
    ours = infodropout_kl_relu(alpha, f, c=c, q=q)
    # eq. 5: -h(log eps) - log c, with h the entropy of N(0, alpha^2); eq. 6: -log q
    h = Normal(torch.zeros(()), torch.from_numpy(alpha)).entropy().numpy()
    ref = np.where(f != 0, -h - math.log(c), -math.log(q)).sum(1)
    np.testing.assert_allclose(ours, ref, rtol=RTOL)
    # alpha is irrelevant where f == 0
    alpha2 = np.where(f == 0, 1e-3, alpha)
    np.testing.assert_allclose(infodropout_kl_relu(alpha2, f, c=c, q=q), ours, rtol=RTOL)


def test_infodropout_mi_is_mean_with_stderr(rng):
    alpha, f = _inputs(rng)
    per = infodropout_kl_softplus(alpha, f)
    res = infodropout_mi(alpha, f, activation="softplus")
    assert isinstance(res, MIResult) and res.n == 200 and res.d == 7
    assert res.value == pytest.approx(per.mean(), rel=RTOL)
    assert res.stderr == pytest.approx(per.std(ddof=1) / math.sqrt(200), rel=RTOL)
    res_relu = infodropout_mi(alpha, f, activation="relu", c=2.0, q=0.5)
    assert res_relu.value == pytest.approx(infodropout_kl_relu(alpha, f, c=2.0, q=0.5).mean(), rel=RTOL)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda a, f: infodropout_kl_softplus(-a, f), "alpha"),
        (lambda a, f: infodropout_kl_softplus(np.zeros_like(a), f), "alpha"),
        (lambda a, f: infodropout_kl_softplus(np.where(a > 1, np.nan, a), f), "non-finite"),
        (lambda a, f: infodropout_kl_softplus(a, np.where(f > 1, np.inf, f)), "non-finite"),
        (lambda a, f: infodropout_kl_softplus(a[:-1], f), "same shape"),
        (lambda a, f: infodropout_kl_softplus(a, -f), "f must be >= 0"),
        (lambda a, f: infodropout_kl_softplus(a, 0 * f, f_floor=0.0), "f must be > 0"),
        (lambda a, f: infodropout_kl_softplus(a, f, f_floor=-1.0), "f_floor"),
        (lambda a, f: infodropout_kl_softplus(a, f, kl_form="paper"), "kl_form"),
        (lambda a, f: infodropout_kl_softplus(a), "required"),
        (lambda a, f: infodropout_kl_softplus(a, f, prior_std=0.0), "prior_std"),
        (lambda a, f: infodropout_kl_relu(a, -f), ">= 0"),
        (lambda a, f: infodropout_kl_relu(-a, f), "alpha"),
        (lambda a, f: infodropout_kl_relu(a, f, q=1.5), "q"),
        (lambda a, f: infodropout_kl_relu(a, f, c=0.0), "c must"),
        (lambda a, f: infodropout_mi(a, f, activation="tanh"), "activation"),
        (lambda a, f: infodropout_kl_softplus(torch.from_numpy(-a), torch.from_numpy(f)), "alpha"),
    ],
)
def test_infodropout_rejects_bad_input(rng, call, match):
    alpha, f = _inputs(rng, (20, 3))
    with pytest.raises(ValueError, match=match):
        call(alpha, f)


# --------------------------------------------------------------------------- variational bound


def _labels(rng, n=1000, k=5):
    p = np.array([0.4, 0.3, 0.15, 0.1, 0.05])[:k]
    return rng.choice(k, size=n, p=p / p.sum())


def test_variational_perfect_classifier_gives_label_entropy(rng):
    y = _labels(rng)
    counts = np.bincount(y)
    h = float(-(counts / y.size * np.log(counts / y.size)).sum())
    logits = 60.0 * np.eye(5)[y]  # CE = log(1 + 4 e^-60) ~ 4e-26
    res = variational_iyz_from_logits(logits, y)
    assert res.value == pytest.approx(h, abs=1e-12)
    assert res.details["h_y"] == pytest.approx(label_entropy(labels=y), abs=1e-15)
    assert variational_iyz(0.0, labels=y).value == pytest.approx(h, abs=1e-15)


def test_variational_prior_classifier_gives_zero(rng):
    y = _labels(rng)
    prior = np.bincount(y) / y.size
    logits = np.tile(np.log(prior), (y.size, 1)) + rng.normal(size=(y.size, 1))  # per-row shift: same softmax
    res = variational_iyz_from_logits(torch.from_numpy(logits), torch.from_numpy(y))
    assert res.value == pytest.approx(0.0, abs=1e-12)
    # H(Y) from class probabilities, CE as a scalar (nats)
    ce = float(-(prior * np.log(prior)).sum())
    assert variational_iyz(ce, class_probs=prior).value == pytest.approx(0.0, abs=1e-15)
    # per-sample losses: mean and standard error
    per = -np.log(prior[y])
    r = variational_iyz(per, labels=y)
    assert r.value == pytest.approx(0.0, abs=1e-12)
    assert r.stderr == pytest.approx(per.std(ddof=1) / math.sqrt(y.size), rel=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda y, z: variational_iyz_from_logits(z, y + 0.5), "integer"),
        (lambda y, z: variational_iyz_from_logits(z[:-1], y), "inconsistent"),
        (lambda y, z: variational_iyz_from_logits(np.where(z > 1, np.nan, z), y), "non-finite"),
        (lambda y, z: variational_iyz_from_logits(z[:, :3], y), r"\[0, 3\)"),
        (lambda y, z: variational_iyz_from_logits(z, -y - 1), ">= 0"),
        (lambda y, z: variational_iyz(np.ones(len(y) - 1), labels=y), "inconsistent"),
        (lambda y, z: variational_iyz(np.nan, labels=y), "non-finite"),
        (lambda y, z: variational_iyz(-0.1, labels=y), ">= 0"),
        (lambda y, z: variational_iyz(0.5), "exactly one"),
        (lambda y, z: variational_iyz(0.5, labels=y, class_probs=[0.5, 0.5]), "exactly one"),
        (lambda y, z: variational_iyz(0.5, class_probs=[0.5, 0.6]), "sum to 1"),
        (lambda y, z: variational_iyz(0.5, labels=y.astype(float) + 0.25), "integer"),
    ],
)
def test_variational_rejects_bad_input(rng, call, match):
    y = _labels(rng, n=50)
    z = rng.normal(size=(50, 5))
    with pytest.raises(ValueError, match=match):
        call(y, z)


# --------------------------------------------------------------------------- layer (loss) == reporting function


@pytest.mark.parametrize("kl_form", ["exact", "eq7"])
@pytest.mark.parametrize("bias", [0.0, -12.0, -50.0, -120.0])  # softplus(-12) ~ 6e-6 < 1e-4; -120 underflows to 0
def test_layer_kl_equals_reporting_kl(kl_form, bias):
    torch.manual_seed(0)
    layer = InformationDropout(6, 5, prior_mean=0.2, prior_std=1.3, kl_form=kl_form)
    with torch.no_grad():
        layer.main.bias.fill_(bias)
    x = torch.randn(40, 6)
    layer(x)
    f, alpha = layer.last_noiseless, layer.last_alpha
    if bias <= -12:
        assert (f < 1e-4).all()  # every unit below the clamp
    if bias == -120.0:
        assert (f == 0).any()  # float32 underflow
    reported = infodropout_kl_softplus(alpha.double(), f.double(), prior_mean=0.2, prior_std=1.3, kl_form=kl_form)
    # the layer works in float32: agreement to float32 round-off of per-unit terms of size <= ~5 nats
    torch.testing.assert_close(layer.last_kl.detach().double(), reported, rtol=1e-5, atol=1e-4)
    assert torch.isfinite(layer.last_kl).all()
    res = infodropout_mi(alpha, f, prior_mean=0.2, prior_std=1.3, kl_form=kl_form)
    assert res.value == pytest.approx(float(layer.last_kl.detach().mean()), rel=1e-5)


def test_layer_relu_kl_equals_reporting_kl():
    torch.manual_seed(1)
    layer = InformationDropout(6, 8, activation="relu", c=0.5, q=0.3)
    layer(torch.randn(40, 6))
    f, alpha = layer.last_noiseless, layer.last_alpha
    assert (f == 0).any() and (f != 0).any()
    reported = infodropout_kl_relu(alpha.double(), f.double(), c=0.5, q=0.3)
    torch.testing.assert_close(layer.last_kl.detach().double(), reported, rtol=1e-5, atol=1e-5)
