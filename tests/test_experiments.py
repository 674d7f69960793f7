"""Experiment drivers of the theory and estimator chapters (ipdrop.chapters.theory / .estimator) and their
figures (ipdrop.plotting)."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ipdrop import plotting as figures
from ipdrop import toy
from ipdrop.chapters import estimator, theory

# ----------------------------------------------------------------------------------------------- Thm 3.1 / 3.2


def test_bernoulli_masks_are_a_distribution():
    masks, probs = theory.bernoulli_masks(3, 0.7)
    assert masks.shape == (8, 3) and len(np.unique(masks, axis=0)) == 8
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert probs[masks.sum(1) == 3][0] == pytest.approx(0.7**3)


def test_bernoulli_binning_mi_matches_closed_form_when_every_value_has_its_own_bin():
    # With f bounded away from 0 and a grid on which every value f_i(x_j) has its own cell (construction below),
    # Ẑ identifies (J, B) except for the all-dropped mask b = 0, which maps every input to 0.
    # Then I(J;Ẑ) = H(Ẑ) - H(B) = (1 - P(B = 0)) log N exactly: tolerance is float rounding only.
    rng = np.random.default_rng(0)
    n, d, keep = 200, 3, 0.6
    # each coordinate takes the values 1 + (k + 1/2) / n, k = 0..n-1 (shuffled): with 2n bins on [0, 2] (width
    # 1/n) every value has its own cell, and 0 (a dropped unit) falls in cell 0
    fx = 1.0 + (np.stack([rng.permutation(n) for _ in range(d)], axis=1) + 0.5) / n
    n_bins = 2 * n
    value = theory.bernoulli_binning_mi(fx, keep, n_bins, (0.0, 2.0))
    assert value == pytest.approx((1 - (1 - keep) ** d) * math.log(n), abs=1e-9)
    # no dropout: Z = f(X) is injective on the sample, so I = log N
    assert theory.bernoulli_binning_mi(fx, 1.0, n_bins, (0.0, 2.0)) == pytest.approx(math.log(n), abs=1e-9)
    # one bin for everything: Ẑ is constant, I = 0
    assert theory.bernoulli_binning_mi(fx, keep, 1, (0.0, 2.0)) == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def bg():
    return theory.bernoulli_vs_gaussian(sizes=(50, 200, 800), n_bins=(10, 1000), n_noise=5, seed=3)


def test_bernoulli_vs_gaussian_columns_and_rows(bg):
    assert list(bg.columns) == ["dropout", "estimator", "n_bins", "n", "value", "mc_error", "input_se", "log_n"]
    assert set(bg.estimator) == {"binning, 10 bins", "binning, 1000 bins", "mixture (dataset)", "mixture (heldout)"}
    assert len(bg) == 3 * 4
    assert np.allclose(bg.log_n, np.log(bg.n))


def test_bernoulli_estimate_grows_with_n_while_gaussian_stays_bounded(bg):
    fine = bg[bg.estimator == "binning, 1000 bins"].sort_values("n")
    # Thm 3.1: I(X;Z) = inf, so the fine-grid estimate keeps rising with N; with 2^4 masks kept w.p. 1/2 its
    # infinite-resolution value is (15/16) log N; bin collisions lower it, but it must stay above half of log N.
    assert np.all(np.diff(fine.value.values) > 0.5)
    assert np.all(fine.value.values > 0.5 * fine.log_n.values)
    assert np.all(fine.value.values <= fine.log_n.values + 1e-12)
    gauss = bg[bg.dropout == "gaussian"]
    big = gauss[gauss.n == 800].set_index("estimator").value
    # Thm 3.3: finite population MI (about 1 nat here); both views far below log 800 = 6.7 and close together:
    # the bracket width is bounded by a few standard errors (input_se ~ 0.02 here).
    assert np.all(gauss.value < 0.5 * gauss.log_n)
    assert abs(big["mixture (dataset)"] - big["mixture (heldout)"]) < 0.1


def test_bernoulli_vs_gaussian_is_seeded(bg):
    again = theory.bernoulli_vs_gaussian(sizes=(50, 200, 800), n_bins=(10, 1000), n_noise=5, seed=3)
    pd.testing.assert_frame_equal(bg, again)
    other = theory.bernoulli_vs_gaussian(sizes=(50, 200, 800), n_bins=(10, 1000), n_noise=5, seed=4)
    assert not np.allclose(bg.value, other.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sizes=[]),
        dict(sizes=[1, 10]),
        dict(sizes=[2.5]),
        dict(keep_prob=1.5),
        dict(units=17),
        dict(variance=0.0),
        dict(n_bins=[0]),
    ],
)
def test_bernoulli_vs_gaussian_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        theory.bernoulli_vs_gaussian(**{"sizes": (20, 40), **kwargs})


# ----------------------------------------------------------------------------------------------- Prop. 3.5


def test_random_network_units_are_alive_and_deterministic():
    net = theory.random_network(2, 8, 3, seed=1)
    x = np.random.default_rng(9).random((4000, 2))
    frac = (net(x) > 0).mean(0)
    # biases are the negative median pre-activation on 2000 pilot inputs: about half active (binomial sd ~ 0.01)
    assert np.all((frac > 0.4) & (frac < 0.6))
    assert np.array_equal(net(x), theory.random_network(2, 8, 3, seed=1)(x))
    soft = theory.random_network(2, 8, 3, output="softplus", seed=1)
    assert np.all(soft(x) > 0)
    with pytest.raises(ValueError):
        theory.random_network(output="tanh")


def test_relu_log_activation_settles_with_calibrated_stderr():
    df = theory.relu_log_activation(sizes=(10, 100, 10000), n_repeats=30, seed=2)
    assert list(df.columns) == ["repeat", "n", "unit", "mean_log", "stderr", "n_nonzero", "frac_nonzero"]
    assert len(df) == 30 * 3 * 3
    big = df[df.n == 10000]
    assert np.all(np.isfinite(big.mean_log))
    for _, g in big.groupby("unit"):
        # Prop. 3.5: finite expectation with finite variance, so the standard error predicts the spread of
        # independent streams. With 30 streams the sample sd has ~13% relative error: [0.6, 1.6] is > 3 sd.
        ratio = g.mean_log.std(ddof=1) / g.stderr.median()
        assert 0.6 < ratio < 1.6
    small_sd = df[df.n == 10].groupby("unit").mean_log.std()
    big_sd = big.groupby("unit").mean_log.std()
    assert np.all(big_sd < small_sd / 10)  # sqrt(10000 / 10) = 32-fold shrinkage expected
    pd.testing.assert_frame_equal(df, theory.relu_log_activation(sizes=(10, 100, 10000), n_repeats=30, seed=2))


# ----------------------------------------------------------------------------------------------- Sec. 4 toy


def test_toy_conditional_entropy_converges_to_exact():
    df = estimator.toy_conditional_entropy(
        dims=(1, 3), sizes=(10, 100, 5000), variances=(0.1, 0.4), n_repeats=4, seed=0
    )
    assert list(df.columns) == ["dim", "variance", "repeat", "n", "estimate", "stderr", "exact", "error"]
    assert len(df) == 2 * 2 * 4 * 3
    for (dim, var), g in df.groupby(["dim", "variance"]):
        assert g.exact.iloc[0] == pytest.approx(toy.exact_entropies(dim, var)[1], rel=1e-12)
        last = g[g.n == 5000]
        # an average of exact per-input values: unbiased, error within 4 standard errors
        assert np.all(np.abs(last.error) < 4 * last.stderr)
    # the variance only shifts h(Z|X) by n/2 log sigma^2, so with the same inputs the errors coincide
    a = df[df.variance == 0.1].error.values
    b = df[df.variance == 0.4].error.values
    assert np.allclose(a, b, atol=1e-9)


def test_toy_entropy_vs_dim_brackets_and_bound():
    df = estimator.toy_entropy_vs_dim(dims=(1, 2), n=400, variance=0.4, n_noise=5, seed=0)
    assert list(df.columns) == ["dim", "quantity", "value"]
    t = df.pivot_table(index="dim", columns="quantity", values="value")
    assert set(t.columns) == {
        "mixture (dataset)",
        "mixture (heldout)",
        "Gaussian upper bound",
        "exact h(Z)",
        "exact h(Z|X)",
    }
    # max-entropy bound: above the exact h(Z) (sampling error of the covariance is ~0.02 nats at 2000 draws)
    assert np.all(t["Gaussian upper bound"] > t["exact h(Z)"] - 0.02)
    # low dimension: both mixture views within 0.15 nats of the exact value (MC error over X ~ 0.05 per dim)
    assert np.all(np.abs(t["mixture (dataset)"] - t["exact h(Z)"]) < 0.15)
    assert np.all(np.abs(t["mixture (heldout)"] - t["exact h(Z)"]) < 0.15)


@pytest.fixture(scope="module")
def mi():
    return estimator.toy_mi_vs_dim(
        dims=(1, 6), n=200, variance=0.4, n_noise=5, n_bins=(4, 256), bin_widths=(0.5,), doe_steps=40, seed=0
    )


def test_toy_mi_vs_dim_columns_and_ceilings(mi):
    assert list(mi.columns) == ["dim", "estimator", "setting", "value", "exact", "log_n", "seconds"]
    assert set(mi.estimator) == {
        "ours (dataset)",
        "ours (heldout)",
        "binning (bins)",
        "binning (width)",
        "edge",
        "doe",
        "doe.l",
    }
    for dim, g in mi.groupby("dim"):
        assert g.exact.iloc[0] == pytest.approx(toy.exact_mi(dim, 0.4), rel=1e-12)
    log_n = math.log(200)
    capped = mi[mi.estimator.isin(["ours (dataset)", "binning (bins)", "binning (width)"])]
    assert np.all(capped.value <= log_n + 1e-9)  # X uniform on the sample: I <= H(X) = log N
    # in 6 dimensions the exact value (6.9 nats) exceeds log 200 = 5.3: the dataset view must sit near the ceiling
    # and below the truth, the held-out view above the dataset view (leave-one-out removes the own component)
    six = mi[mi.dim == 6].set_index("estimator").value
    assert six["ours (dataset)"] < mi[mi.dim == 6].exact.iloc[0]
    assert six["ours (heldout)"] > six["ours (dataset)"]
    fine = mi[(mi.dim == 6) & (mi.setting == "256 bins")].value.iloc[0]
    assert fine == pytest.approx(log_n, abs=1e-6)  # every noisy draw in its own cell: binning returns log N


def test_toy_mi_vs_dim_is_seeded(mi):
    again = estimator.toy_mi_vs_dim(
        dims=(1, 6), n=200, variance=0.4, n_noise=5, n_bins=(4, 256), bin_widths=(0.5,), doe_steps=40, seed=0
    )
    cols = ["dim", "estimator", "setting", "value"]
    pd.testing.assert_frame_equal(mi[cols], again[cols])


# ----------------------------------------------------------------------------------------------- figures


def _line(ax, label):
    """x and y data of the line labelled ``label`` in ``ax``."""
    (ln,) = [ln for ln in ax.lines if ln.get_label() == label]
    return np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)


def test_figures_plot_the_frames_numbers(bg, mi):
    import matplotlib.pyplot as plt

    # Thm 3.1-3.3: one line per bin count (binary dropout) and per mixture view (Gaussian), and log N
    fig = figures.bernoulli_gaussian_figure(bg)
    ax = fig.axes[0]
    for b in (10, 1000):
        s = bg[(bg.dropout == "bernoulli") & (bg.n_bins == b)].sort_values("n")
        np.testing.assert_allclose(_line(ax, f"binary dropout: binning, {b} bins")[1], s.value)
    g = bg[bg.dropout == "gaussian"]
    for est in g.estimator.unique():
        s = g[g.estimator == est].sort_values("n")
        np.testing.assert_allclose(_line(ax, f"Gaussian dropout: {est}")[1], s.value)
    x, y = _line(ax, r"$\log N$ (ceiling for X uniform on the sample)")
    np.testing.assert_allclose(y, np.log(x))
    assert "nats" in ax.get_ylabel()
    plt.close(fig)
    # Prop. 3.5: the returned summary is what the left panel plots
    df_relu = theory.relu_log_activation(sizes=(10, 100), n_repeats=3, seed=0)
    fig, summary = figures.relu_log_figure(df_relu)
    u0 = summary[summary.unit == 0]
    np.testing.assert_allclose(_line(fig.axes[0], "unit 0: median over streams")[1], u0["median"])
    np.testing.assert_allclose(u0["median"], df_relu[df_relu.unit == 0].groupby("n").mean_log.median())
    plt.close(fig)
    # Fig. 2/9: the exact h(Z|X) is the dashed line of each dimension
    df_h = estimator.toy_conditional_entropy(dims=(1,), sizes=(10, 100), variances=(0.4,), n_repeats=2, seed=0)
    fig = figures.toy_conditional_entropy_figure(df_h)
    dashed = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert [ln.get_ydata()[0] for ln in dashed] == [pytest.approx(df_h.exact.iloc[0])]
    plt.close(fig)
    # Fig. 3/8: every quantity of the frame is a line against the dimension
    df_hz = estimator.toy_entropy_vs_dim(dims=(1, 2), n=100, n_noise=2, seed=0)
    fig = figures.toy_entropy_figure(df_hz)
    for q in ("exact h(Z)", "Gaussian upper bound", "mixture (dataset)"):
        np.testing.assert_allclose(_line(fig.axes[0], q)[1], df_hz[df_hz.quantity == q].sort_values("dim").value)
    plt.close(fig)
    # Fig. 4/10: the exact value and log N in both panels, every estimator as a line
    fig = figures.toy_mi_figure(mi)
    a, b = fig.axes
    ex = mi.groupby("dim").exact.first()
    for ax in (a, b):
        np.testing.assert_allclose(_line(ax, "exact (quadrature)")[1], ex.values)
        np.testing.assert_allclose(_line(ax, r"$\log N$")[1], mi.log_n.iloc[0])
    np.testing.assert_allclose(_line(a, "edge")[1], mi[mi.estimator == "edge"].sort_values("dim").value)
    plt.close(fig)


def test_example34_figure_plots_exact_partial_sums():
    import matplotlib.pyplot as plt

    fig, summary = theory.example34_figure(n_levels=5, sizes=[10, 100, 1000], n_repeats=3, seed=0)
    left, right = fig.axes
    np.testing.assert_allclose(left.lines[0].get_ydata(), [-1.5, -3.0, -4.5, -6.0, -7.5])
    np.testing.assert_allclose(_line(right, "median sample mean")[1], summary["median"])
    means = theory.example34_sampled_means([10, 100, 1000], n_repeats=3, seed=0)
    np.testing.assert_allclose(summary["median"], np.median(means, axis=0))
    plt.close(fig)
