"""DoE (McAllester & Stratos 2020) and MINE (Belghazi et al. 2018) against closed-form MI (nats).

Sizes are chosen so the file runs in well under a minute on 2 shared CPU cores: N = 5000 (2500 train / 2500
held out), 300 Adam steps, one hidden layer of 100 units, one torch thread.
"""

import numpy as np
import pytest
import torch

from ipdrop.estimators import MINE, DoE, doe_mi, mine_mi
from ipdrop.groundtruth import gaussian_pairs, uniform_noise

N = 5000
DOE_KW = dict(steps=300, lr=3e-3, batch_size=128, eval_every=100, device="cpu")
MINE_KW = dict(steps=300, lr=3e-3, batch_size=256, eval_every=100, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


CASES = {
    "rho0.75": lambda: gaussian_pairs(N, 0.75, 1, seed=1),  # I = 0.41334
    "5pairs_rho0.5": lambda: gaussian_pairs(N, 0.5, 5, seed=2),  # I = 5 * 0.14384 = 0.71921
}


@pytest.fixture(scope="module")
def data():
    return {k: f() for k, f in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_doe_gaussian_near_exact_on_gaussians(data, case):
    x, y, mi = data[case]
    res = DoE("gaussian", seed=0, **DOE_KW).estimate(x, y)
    assert res.estimator == "doe" and res.n == N and res.details["n_test"] == 2500
    # The Gaussian family contains the true q(y) and q(y|x) (linear mean, which the tanh MLP fits closely), so the
    # only errors are (i) sampling noise of the 2500 held-out points, which `stderr` measures (~0.015-0.023 here;
    # the exact pointwise MI averaged over these very test points is 0.374 / 0.732), and (ii) an optimisation
    # remainder after 300 steps. Over 4 trial seeds the error used at most 60% of this 3 stderr + 0.04 tolerance.
    assert abs(res.value - mi) <= 3 * res.stderr + 0.04, (res.value, res.stderr, mi)
    # the curve is recorded; the reported value uses each model's best validation state (early stopping), which
    # is the final one when both bests are at the last step
    steps, vals = zip(*res.details["curve"])
    assert steps == (100, 200, 300)
    if set(res.details["best_step"].values()) == {300}:
        assert vals[-1] == pytest.approx(res.value, abs=1e-9)
    assert res.details["n_val"] == 500 and res.details["n_train"] == 2000
    # h(Y) of a standard normal coordinate is 1.4189 nats each; CE_q(Y) upper-bounds it up to sampling noise
    d = y.shape[1]
    assert res.details["h_y"] == pytest.approx(d * 0.5 * np.log(2 * np.pi * np.e), abs=0.05 * d)


@pytest.mark.parametrize("parametrization,name", [("gaussian", "doe"), ("logistic", "doe.l")])
def test_doe_uniform_noise_loosely(parametrization, name):
    x, y, mi = uniform_noise(N, 0.1, seed=3)  # I = 0.1 - log 0.2 = 1.70944
    res = doe_mi(x, y, parametrization, seed=0, **DOE_KW)
    assert res.estimator == name
    # Both families are misspecified here (uniform marginal and uniform conditional): the best single Gaussian or
    # logistic gives 1.629 / 1.627 in the large-sample limit (computed by numerically optimising the
    # cross-entropies on 1e6 samples), i.e. a model bias of -0.08; training and test-split noise add ~0.05
    # (4 trial seeds: errors -0.07 to -0.09).
    # The paper's Fig. 4 reports 1.61 (doe) and 1.70 (doe.l) for this case. Tolerance 0.2 nats.
    assert abs(res.value - mi) <= 0.2, res.value
    # h(Y|X) = log 0.2 = -1.609 is upper-bounded by the conditional cross-entropy (up to noise)
    assert res.details["h_y_given_x"] >= np.log(0.2) - 3 * res.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_mine_is_a_lower_bound_and_reasonably_tight(data, case):
    x, y, mi = data[case]
    res = mine_mi(x, y, seed=0, **MINE_KW)
    assert res.estimator == "mine"
    # DV(T) <= I for a network fixed before the held-out data: the estimate may exceed the truth only through
    # Monte-Carlo error of the held-out averages, which `stderr` (delta method) measures.
    assert res.value <= mi + 3 * res.stderr, (res.value, res.stderr, mi)
    # ... and after 300 steps it recovers most of the information (trial runs over 4 seeds: 90-98%).
    assert res.value >= 0.7 * mi, (res.value, mi)
    assert len(res.details["curve"]) == 3 and res.details["curve"][-1][0] == 300


@pytest.mark.parametrize(
    "make",
    [
        lambda s: DoE("logistic", n_components=2, seed=s, **{**DOE_KW, "steps": 30}),
        lambda s: MINE(seed=s, **{**MINE_KW, "steps": 30}),
    ],
)
def test_seeded_and_global_rng_untouched(data, make):
    x, y, _ = data["rho0.75"]
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a, b, c = make(7).estimate(x, y), make(7).estimate(x, y), make(8).estimate(x, y)
    assert a.value == b.value and a.details["curve"] == b.details["curve"]
    assert a.value != c.value
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()
    # a numpy Generator works as a seed too
    assert make(np.random.default_rng(7)).estimate(x, y).value == a.value


@pytest.mark.parametrize("est", [DoE("gaussian", steps=2), MINE(steps=2)])
@pytest.mark.parametrize(
    "xy, match",
    [
        (lambda x, y: (np.where(x > 1, np.nan, x), y), "non-finite"),
        (lambda x, y: (x, np.where(y > 1, np.inf, y)), "non-finite"),
        (lambda x, y: (x[:-1], y), "inconsistent"),
        (lambda x, y: (x[:5], y[:5]), "at least"),
        (lambda x, y: (np.zeros((10, 1, 2)), y[:10]), "2-D"),
    ],
)
def test_rejects_bad_input(data, est, xy, match):
    x, y, _ = data["rho0.75"]
    with pytest.raises(ValueError, match=match):
        est.estimate(*xy(x[:100], y[:100]))


@pytest.mark.parametrize(
    "est, match",
    [
        (DoE("normal"), "parametrization"),
        (DoE(test_size=1.0), "test_size"),
        (DoE(steps=0), "steps"),
        (DoE(lr=-1.0), "lr"),
        (DoE(n_components=0), "n_components"),
        (DoE(activation="sigmoid"), "activation"),
        (MINE(ema_rate=0.0), "ema_rate"),
        (MINE(ema_rate=1.5), "ema_rate"),
        (MINE(hidden=0), "hidden"),
        (MINE(n_marginal=0), "n_marginal"),
    ],
)
def test_rejects_bad_parameters(data, est, match):
    x, y, _ = data["rho0.75"]
    with pytest.raises(ValueError, match=match):
        est.estimate(x[:100], y[:100])


def test_doe_rejects_constant_y(data):
    x, _, _ = data["rho0.75"]
    with pytest.raises(ValueError, match="constant"):
        DoE(steps=2).estimate(x[:100], np.ones(100))


# --------------------------------------------------------------------------- early stopping, divergence, interface


def test_doe_early_stopping_restores_best_validation_state(data):
    x, y, _ = data["rho0.75"]
    res = DoE(seed=0, steps=400, eval_every=20, patience=3, device="cpu").estimate(x[:1000], y[:1000])
    d = res.details
    assert d["n_val"] == 100 and d["n_train"] == 400 and d["n_test"] == 500 and res.n == 1000
    steps, vals = zip(*d["val_loss"])
    assert steps[0] == 0 and d["stopped_step"] == steps[-1]
    # each model is restored to its best validation state; training stopped `patience` evaluations after the
    # later of the two bests (or ran out of steps)
    assert d["stopped_step"] == 400 or d["stopped_step"] == max(d["best_step"].values()) + 3 * 20
    assert set(d["best_step"].values()) <= set(steps) and np.all(np.isfinite(vals))
    # switching early stopping off trains for all steps on the whole training part
    off = DoE(seed=0, steps=60, eval_every=20, val_size=None, device="cpu").estimate(x[:1000], y[:1000])
    assert off.details["n_val"] == 0 and off.details["n_train"] == 500 and off.details["stopped_step"] == 60
    assert off.details["val_loss"] == []


@pytest.mark.parametrize(
    "make", [lambda: DoE(lr=1e3, steps=50, device="cpu"), lambda: MINE(lr=1e3, steps=50, device="cpu")]
)
def test_diverging_optimiser_raises_naming_lr(data, make):
    from ipdrop.estimators import TrainingDivergedError

    x, y, _ = data["5pairs_rho0.5"]
    # before the guard: MINE(lr=1e3) returned -3.5e11 nats and DoE -1.5e16 without a word
    with pytest.raises(TrainingDivergedError, match=r"diverged.*lr=1000\.0") as info:
        make().estimate(x[:500], y[:500])
    assert isinstance(info.value, ValueError) and isinstance(info.value, FloatingPointError)


@pytest.mark.parametrize("est", [DoE(steps=2), MINE(steps=2)])
def test_y_is_required(data, est):
    x, _, _ = data["rho0.75"]
    with pytest.raises(ValueError, match="needs y"):
        est.estimate(x[:100])


@pytest.mark.parametrize("cls", [DoE, MINE])
def test_interface_defaults(cls):
    est = cls()
    assert est.seed == 0 and est.device == "auto"


@pytest.mark.parametrize("seed", ["x", 1.5, -1, True])
@pytest.mark.parametrize("cls", [DoE, MINE])
def test_bad_seed_names_the_parameter(data, cls, seed):
    x, y, _ = data["rho0.75"]
    with pytest.raises(ValueError, match=r"^seed must be a non-negative int"):
        cls(seed=seed, steps=2).estimate(x[:100], y[:100])


def test_seed_and_int_helpers_name_the_parameter():
    from ipdrop._base import check_int, make_rng, resolve_device, torch_generator

    for call in (lambda: make_rng("x"), lambda: torch_generator("x"), lambda: make_rng(2.5)):
        with pytest.raises(ValueError, match="^seed must"):
            call()
    with pytest.raises(ValueError, match="^noise_seed must"):
        make_rng("x", "noise_seed")
    with pytest.raises(ValueError, match="^noise_seed must"):
        torch_generator(-3, name="noise_seed")
    with pytest.raises(ValueError, match=r"^n_noise must be an integer >= 1; got 'x' \(str\)"):
        check_int("x", "n_noise")
    with pytest.raises(ValueError, match="^device must"):
        resolve_device("tpu")
    assert make_rng(np.int64(3)).integers(10**9) == np.random.default_rng(3).integers(10**9)
    assert torch_generator(3).initial_seed() == 3


@pytest.mark.parametrize("bad, match", [(dict(val_size=1.0), "val_size"), (dict(patience=0), "patience")])
def test_doe_rejects_bad_early_stopping_parameters(data, bad, match):
    x, y, _ = data["rho0.75"]
    with pytest.raises(ValueError, match=match):
        DoE(steps=2, **bad).estimate(x[:100], y[:100])
    with pytest.raises(ValueError, match="validation split"):
        DoE(steps=2, val_size=0.01).estimate(x[:20], y[:20])


def test_doe_default_early_stopping_five_pairs_small_n():
    # Issue 12: without early stopping the held-out estimate on 5 pairs (rho = 0.75, I = 2.0668) at N = 1000 fell
    # from 1.95 at step 100 to 0.59 at step 2000 (this data set, seed 0: 0.585). With the default validation split
    # and patience it stops near the validation optimum. Tolerance 10% of I (the target). Measured over
    # 4 data sets x 2 seeds: -3.6, -7.9, -9.9, -13.7, -17.9, -9.5, -8.7, -7.7 %; the oracle (true log-density
    # ratio) on the same 500 test points alone deviates by -9.5 .. +3.4 %, and the MLP conditional fitted on 400
    # points adds a -8 % excess cross-entropy on average, so this single case is the well-conditioned one, not a
    # guarantee for every split; `stderr` (~0.075 here) shows the size of the test-sample part.
    x, y, mi = gaussian_pairs(1000, 0.75, 5, seed=0)
    res = DoE(seed=0, device="cpu").estimate(x, y)
    assert abs(res.value - mi) <= 0.10 * mi, (res.value, mi)
    assert res.details["stopped_step"] < 2000  # early stopping ended training
