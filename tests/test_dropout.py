"""Noise statistics, evaluation/MC behaviour, KL closed forms and validation of ipdrop.dropout.

Statistical checks use a fixed torch.Generator (deterministic, no global RNG) and a
tolerance of 5 standard errors of the statistic (two-sided probability of a false failure
< 6e-7 for a fresh seed); a wrong variance convention (e.g. sigma instead of sigma^2, or
p instead of p/(1-p)) misses by far more than that and makes the test fail.
"""

import math

import pytest
import torch

from ipdrop.dropout import (
    BernoulliDropout,
    GaussianDropout,
    InformationDropout,
    IPDropout,
    NoDropout,
    information_kl,
    mc_dropout,
    set_mc,
)

N = 1_000_000


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _multiplier(layer, n=N, value=1.0):
    x = torch.full((n // 100, 100), value, dtype=torch.float64)
    layer.generator = _gen(1)
    layer.train()
    return layer(x) / x


# --------------------------------------------------------------------------- Gaussian


@pytest.mark.parametrize("variance", [0.05, 0.2, 1.0])
def test_gaussian_multiplier_mean_and_variance(variance):
    d = _multiplier(GaussianDropout(variance)).flatten()
    n = d.numel()
    # mean of D ~ N(1, s2): standard error sqrt(s2 / n)
    assert abs(d.mean().item() - 1.0) < 5 * math.sqrt(variance / n)
    # sample variance of a normal: standard error s2 * sqrt(2 / (n - 1))
    assert abs(d.var().item() - variance) < 5 * variance * math.sqrt(2 / (n - 1))
    # Gaussian: excess kurtosis 0 (SE sqrt(24/n)); separates it from e.g. uniform noise
    c = (d - d.mean()) / d.std()
    assert abs((c**4).mean().item() - 3.0) < 5 * math.sqrt(24 / n)


def test_gaussian_from_rate():
    layer = GaussianDropout.from_rate(0.5)
    assert layer.variance == pytest.approx(1.0)
    assert GaussianDropout.from_rate(0.2).variance == pytest.approx(0.25)
    assert layer.std == pytest.approx(1.0)


def test_gaussian_eval_is_deterministic_identity():
    layer = GaussianDropout(0.5).eval()
    x = torch.rand(64, 10) + 0.5
    assert torch.equal(layer(x), x)
    assert torch.equal(layer(x), layer(x))
    assert torch.equal(layer.last_noiseless, x) and torch.equal(layer.last_output, x)


def test_gaussian_mc_mode_is_random_and_explicit():
    layer = GaussianDropout(0.5).eval()
    x = torch.rand(64, 10) + 0.5
    layer.mc = True
    a, b = layer(x), layer(x)
    assert not torch.equal(a, x) and not torch.equal(a, b)
    layer.mc = False
    with mc_dropout(layer):
        assert layer.mc is True
        assert not torch.equal(layer(x), x)
    assert layer.mc is False  # restored
    assert torch.equal(layer(x), x)
    assert GaussianDropout(0.5, mc=True).eval()(x).ne(x).any()


def test_generator_makes_mc_repeatable():
    x = torch.rand(32, 8)
    l1, l2 = GaussianDropout(0.3, mc=True).eval(), GaussianDropout(0.3, mc=True).eval()
    l1.generator, l2.generator = _gen(7), _gen(7)
    assert torch.equal(l1(x), l2(x))
    assert not torch.equal(l1(x), l1(x))  # the generator advances


def test_records_shapes_and_record_switch():
    layer = GaussianDropout(0.2)
    x = torch.rand(5, 3, 4, 4, requires_grad=True)
    z = layer(x)
    assert layer.last_noiseless.shape == (5, 3, 4, 4)
    assert not layer.last_noiseless.requires_grad and not layer.last_output.requires_grad
    assert torch.equal(layer.last_output, z.detach())
    layer.clear()
    layer.record = False
    layer(x)
    assert layer.last_noiseless is None and layer.last_output is None


# --------------------------------------------------------------------------- Bernoulli


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_bernoulli_inverted_scaling(p):
    d = _multiplier(BernoulliDropout(p)).flatten()
    n = d.numel()
    vals = torch.unique(d)
    assert torch.allclose(vals, torch.tensor([0.0, 1 / (1 - p)], dtype=d.dtype))
    # mean of B/(1-p) is 1 with variance p/(1-p)
    assert abs(d.mean().item() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)
    # fraction dropped ~ p, SE sqrt(p(1-p)/n)
    assert abs((d == 0).double().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_bernoulli_eval_mc_and_zero_rate():
    x = torch.rand(100, 10) + 0.1
    layer = BernoulliDropout(0.5).eval()
    assert torch.equal(layer(x), x)
    with mc_dropout(layer):
        assert (layer(x) == 0).any()
    assert torch.equal(BernoulliDropout(0.0).train()(x), x)


# --------------------------------------------------------------------------- information dropout


def _info(activation="softplus", **kw):
    with torch.random.fork_rng():  # deterministic weight init, global RNG state restored
        torch.manual_seed(0)
        return InformationDropout(20, 30, activation=activation, **kw)


def _x(*shape, seed=5, scale=1.0):
    return torch.randn(*shape, generator=_gen(seed)) * scale


def test_information_noise_is_lognormal_with_alpha():
    layer = _info(max_alpha=0.7)
    layer.generator = _gen(3)
    x = _x(20_000, 20, seed=4)
    z = layer.train()(x)
    f, alpha = layer.last_noiseless, layer.last_alpha
    n = (torch.log(z.detach() / f) / alpha).double().flatten()  # should be N(0, 1)
    m = n.numel()
    assert abs(n.mean().item()) < 5 / math.sqrt(m)
    assert abs(n.var().item() - 1.0) < 5 * math.sqrt(2 / (m - 1))


def test_information_alpha_bounds_even_when_saturated():
    layer = _info(max_alpha=0.7)
    x = _x(256, 20, scale=1e4)  # saturate the sigmoid both ways
    layer(x)
    a = layer.last_alpha
    assert a.min() >= 0.001 and a.max() <= 0.001 + 0.7 + 1e-6
    assert a.min() < 0.01 and a.max() > 0.69  # both ends reached: the bound is the active one


def test_information_eval_deterministic_mc_random():
    layer = _info().eval()
    x = _x(16, 20)
    a = layer(x)
    assert torch.equal(a, layer.last_noiseless) and torch.equal(a, layer(x))
    with mc_dropout(layer):
        assert not torch.equal(layer(x), a)


def test_information_kl_softplus_matches_normal_kl():
    mu_p, sd_p = 0.3, 1.5
    layer = _info(prior_mean=mu_p, prior_std=sd_p)
    x = _x(64, 20)
    layer(x)
    f, alpha = layer.last_noiseless, layer.last_alpha
    # KL between log-normals = KL between the normals of log z: N(log f, alpha^2) vs prior
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.log(f), alpha), torch.distributions.Normal(mu_p, sd_p)
    ).sum(dim=1)
    assert layer.last_kl.shape == (64,)
    torch.testing.assert_close(layer.last_kl.detach(), ref, rtol=1e-5, atol=1e-5)


def test_information_kl_relu_closed_form():
    c, q = 0.5, 0.3
    layer = _info("relu", c=c, q=q)
    layer(_x(64, 20))
    f, alpha = layer.last_noiseless, layer.last_alpha
    assert (f == 0).any() and (f != 0).any()  # both branches of the formula are exercised
    per_unit = torch.where(
        f != 0,
        -torch.log(alpha) - 0.5 * math.log(2 * math.pi * math.e) - math.log(c),
        torch.full_like(alpha, -math.log(q)),
    )
    torch.testing.assert_close(layer.last_kl.detach(), per_unit.sum(1))
    # default c: KL = -log(alpha / (max_alpha + 0.001)) on active units (zero at max alpha)
    layer2 = _info("relu", max_alpha=0.7)
    layer2(_x(64, 20))
    f, a = layer2.last_noiseless, layer2.last_alpha
    ref = torch.where(f != 0, -torch.log(a / 0.701), torch.zeros_like(a)).sum(1)
    torch.testing.assert_close(layer2.last_kl.detach(), ref)


def test_information_kl_is_differentiable_and_record_independent():
    layer = _info()
    layer.record = False
    layer(_x(8, 20))
    assert layer.last_noiseless is None and layer.last_alpha is None
    assert layer.last_kl.requires_grad
    information_kl(layer).mean().backward()
    assert layer.alpha_layer.weight.grad is not None and layer.alpha_layer.weight.grad.abs().sum() > 0
    assert information_kl(GaussianDropout(0.1)) is None


def test_information_conv_shapes():
    layer = InformationDropout(4, 6, kind="conv", stride=2, batch_norm=True, max_alpha=0.95)
    z = layer(_x(3, 4, 9, 9))
    assert z.shape == (3, 6, 5, 5)
    assert layer.last_noiseless.shape == layer.last_alpha.shape == (3, 6, 5, 5)
    assert layer.last_kl.shape == (3,)


# --------------------------------------------------------------------------- helpers, validation


def test_set_mc_and_base_class():
    model = torch.nn.Sequential(GaussianDropout(0.1), torch.nn.Linear(3, 3), BernoulliDropout(0.2), NoDropout())
    assert set_mc(model, True) == 3
    assert all(m.mc for m in model if isinstance(m, IPDropout))
    with mc_dropout(model, enabled=False):
        assert not any(m.mc for m in model if isinstance(m, IPDropout))
    assert all(m.mc for m in model if isinstance(m, IPDropout))


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "x"])
def test_gaussian_rejects_bad_variance(bad):
    with pytest.raises(ValueError, match="variance"):
        GaussianDropout(bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_rates_rejected(bad):
    with pytest.raises(ValueError, match="p"):
        BernoulliDropout(bad)
    with pytest.raises(ValueError):
        GaussianDropout.from_rate(bad)


def test_from_rate_zero_rejected():
    with pytest.raises(ValueError, match="variance 0"):
        GaussianDropout.from_rate(0.0)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"kind": "dense"}, "kind"),
        ({"activation": "tanh"}, "activation"),
        ({"max_alpha": 0}, "max_alpha"),
        ({"prior_std": -1}, "prior_std"),
        ({"q": 0}, "q"),
        ({"c": 0}, "c"),
        ({"batch_norm": True}, "batch_norm"),
    ],
)
def test_information_rejects_bad_args(kw, msg):
    with pytest.raises(ValueError, match=msg):
        InformationDropout(4, **kw)
    with pytest.raises(ValueError, match="in_features"):
        InformationDropout(0)
