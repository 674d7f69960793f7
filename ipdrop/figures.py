"""Figures of the theory and estimator chapters (Sec. 3 and 4). Each returns a matplotlib Figure with
labelled axes (units in nats where they apply) and a legend; captions live in the notebooks."""
from __future__ import annotations

import numpy as np

from . import theory


def example34_figure(n_levels: int = 30, sizes=None, n_repeats: int = 20, seed: int = 0):
    """Example 3.4: exact partial sums of E[log f(X)] (left) and sample estimates against N (right).

    Returns ``(fig, summary)`` where ``summary`` holds the plotted numbers (for printing in the notebook).
    """
    import matplotlib.pyplot as plt

    if sizes is None:
        sizes = np.unique(np.logspace(1, 6, 26).astype(int))
    sizes = np.asarray(sizes)
    partial = theory.example34_partial_sums(n_levels)
    means = theory.example34_sampled_means(sizes, n_repeats=n_repeats, seed=seed)
    lo, med, hi = np.percentile(means, [10, 50, 90], axis=0)

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    k = np.arange(1, n_levels + 1)
    a.plot(k, partial, "o-", ms=3, label=r"$\sum_{n\leq K} \mathbb{E}[\log f(X);\ \mathrm{level}\ n] = -1.5K$")
    a.set_xlabel("number of levels K in the partial sum")
    a.set_ylabel(r"partial sum of $\mathbb{E}[\log|f(X)|]$ [nats]")
    a.set_title("exact series: diverges to $-\\infty$")
    a.legend(fontsize=8)
    b.fill_between(sizes, lo, hi, alpha=0.3, label=f"10–90% of {n_repeats} sample streams")
    b.plot(sizes, med, "o-", ms=3, label="median sample mean")
    b.plot(sizes, -1.5 * np.log2(sizes), "k--", lw=1, label=r"$-1.5\,\log_2 N$ (levels reached)")
    b.set_xscale("log")
    b.set_xlabel("number of samples N")
    b.set_ylabel(r"sample mean of $\log|f(X)|$ [nats]")
    b.set_title("sampled estimate: never settles")
    b.legend(fontsize=8)
    summary = {"sizes": sizes, "median": med, "p10": lo, "p90": hi, "partial_sums": partial}
    return fig, summary


# =========================================================================== Sec. 3: Thm 3.1/3.2 vs Thm 3.3

def _band(ax, x, lo, hi, color, label=None, alpha=0.25):
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=label)


def bernoulli_gaussian_figure(df):
    """Thm 3.1 vs Thm 3.3: I(X;Z) estimates against N for binary (binning, several bin counts) and Gaussian
    dropout (mixture, dataset and held-out views), with the log N ceiling. ``df`` from
    :func:`ipdrop.experiments.bernoulli_vs_gaussian`. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    bern = df[df.dropout == "bernoulli"]
    bins = sorted(bern.n_bins.unique())
    cmap = plt.get_cmap("Blues")
    for k, b in enumerate(bins):
        s = bern[bern.n_bins == b].sort_values("n")
        ax.plot(s.n, s.value, "o-", ms=3, color=cmap(0.4 + 0.6 * k / max(1, len(bins) - 1)),
                label=f"binary dropout: binning, {b} bins")
    gauss = df[df.dropout == "gaussian"]
    for est, color in zip(sorted(gauss.estimator.unique()), ("tab:orange", "tab:red")):
        s = gauss[gauss.estimator == est].sort_values("n")
        ax.plot(s.n, s.value, "s-", ms=3, color=color, label=f"Gaussian dropout: {est}")
        _band(ax, s.n, s.value - 1.96 * s.stderr, s.value + 1.96 * s.stderr, color)
    n = np.sort(df.n.unique())
    ax.plot(n, np.log(n), "k--", lw=1, label=r"$\log N$ (ceiling for X uniform on the sample)")
    ax.set_xscale("log")
    ax.set_xlabel("number of samples N")
    ax.set_ylabel(r"estimate of $I(X;Z)$ [nats]")
    ax.set_title("binary dropout: estimates follow log N; Gaussian dropout: they settle")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def relu_log_figure(df, ex34_sizes=None, ex34_means=None):
    """Prop. 3.5: sample means of log f_i(X) (over f_i(X) > 0) of a random ReLU network settle as N grows.

    Left: per unit, the median over repeats with the 10-90% band, and for the first stream the
    +-1.96 standard-error band. Right: width of the 10-90% band against N (log-log) for the ReLU units, and,
    when ``ex34_means`` (repeats x sizes, :func:`ipdrop.theory.example34_sampled_means`) is given, for
    Example 3.4, with an N^(-1/2) reference. ``df`` from :func:`ipdrop.experiments.relu_log_activation`.
    Returns ``(fig, summary)`` with the plotted per-unit numbers as a DataFrame.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    colors = plt.get_cmap("tab10")
    rows = []
    for i in sorted(df.unit.unique()):
        s = df[df.unit == i]
        g = s.groupby("n").mean_log
        n = np.asarray(g.median().index)
        med, lo, hi = g.median().values, g.quantile(0.1).values, g.quantile(0.9).values
        a.plot(n, med, "o-", ms=3, color=colors(i), label=f"unit {i}: median over streams")
        _band(a, n, lo, hi, colors(i))
        first = s[s.repeat == s.repeat.min()].sort_values("n")
        a.plot(first.n, first.mean_log - 1.96 * first.stderr, ":", color=colors(i), lw=1)
        a.plot(first.n, first.mean_log + 1.96 * first.stderr, ":", color=colors(i), lw=1)
        b.plot(n, hi - lo, "o-", ms=3, color=colors(i), label=f"ReLU unit {i}")
        rows += [dict(unit=i, n=int(nn), median=m, p10=l, p90=h) for nn, m, l, h in zip(n, med, lo, hi)]
    a.set_xscale("log")
    a.set_xlabel("number of samples N")
    a.set_ylabel(r"mean of $\log f_i(X)$ over $f_i(X)>0$ [nats]")
    a.set_title("ReLU net, X uniform on $[0,1]^n$: the estimate settles")
    a.plot([], [], "k:", lw=1, label=r"one stream $\pm 1.96$ s.e.")
    a.legend(fontsize=7)
    if ex34_means is not None:
        lo34, hi34 = np.percentile(ex34_means, [10, 90], axis=0)
        b.plot(ex34_sizes, hi34 - lo34, "k^-", ms=3, label="Example 3.4 (log f(X) = -X')")
    n_all = np.sort(df.n.unique()).astype(float)
    ref = df[df.n == n_all[0]].groupby("unit").mean_log.agg(lambda v: np.subtract(*np.percentile(v, [90, 10]))).mean()
    b.plot(n_all, ref * np.sqrt(n_all[0] / n_all), "k--", lw=1, label=r"$\propto N^{-1/2}$")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("number of samples N")
    b.set_ylabel("width of the 10–90% band [nats]")
    b.set_title("spread across independent streams")
    b.legend(fontsize=7)
    return fig, pd.DataFrame(rows)


# =========================================================================== Sec. 4: the toy problem

def toy_conditional_entropy_figure(df):
    """Fig. 2/9: MC estimate of h(Z|X) against N for several dimensions (median over repeats, 10-90% band),
    one panel per variance, exact values dashed. ``df`` from :func:`ipdrop.experiments.toy_conditional_entropy`."""
    import matplotlib.pyplot as plt

    variances = sorted(df.variance.unique())
    fig, axes = plt.subplots(1, len(variances), figsize=(5 * len(variances), 3.8), constrained_layout=True,
                             squeeze=False)
    colors = plt.get_cmap("viridis")
    dims = sorted(df.dim.unique())
    for ax, var in zip(axes[0], variances):
        for k, d in enumerate(dims):
            s = df[(df.variance == var) & (df.dim == d)]
            g = s.groupby("n").estimate
            n = np.asarray(g.median().index)
            c = colors(k / max(1, len(dims) - 1) * 0.9)
            ax.plot(n, g.median(), "o-", ms=3, color=c, label=f"dim {d}")
            _band(ax, n, g.quantile(0.1), g.quantile(0.9), c, alpha=0.2)
            ax.axhline(s.exact.iloc[0], color=c, ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("number of input samples N")
        ax.set_ylabel(r"estimate of $h(Z\mid X)$ [nats]")
        ax.set_title(rf"$\sigma^2 = {var:g}$ (dashed: exact)")
        ax.legend(fontsize=7, ncol=2)
    return fig


def toy_entropy_figure(df):
    """Fig. 3/8: h(Z) by the mixture (dataset and held-out views) against the Gaussian upper bound and the
    exact value, as the dimension grows. ``df`` from :func:`ipdrop.experiments.toy_entropy_vs_dim`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    styles = {"exact h(Z)": ("k-", 2), "Gaussian upper bound": ("C3^-", 1.5), "mixture (dataset)": ("C0o-", 1.5),
              "mixture (heldout)": ("C1s-", 1.5), "exact h(Z|X)": ("k:", 1)}
    for q, (st, lw) in styles.items():
        s = df[df.quantity == q].sort_values("dim")
        if len(s):
            ax.plot(s.dim, s.value, st, lw=lw, ms=4, label=q)
    ax.set_xlabel("dimension n of X and Z")
    ax.set_ylabel(r"$h(Z)$ [nats]")
    ax.set_title(r"$h(Z)$ on the toy problem")
    ax.legend(fontsize=8)
    return fig


def toy_mi_figure(df):
    """Fig. 4/10: I(X;Z) against the dimension by every estimator, with the exact value and log N.

    Left: the mixture estimator (dataset and held-out views), EDGE and DoE; right: binning by number of bins and
    by bin width. ``df`` from :func:`ipdrop.experiments.toy_mi_vs_dim`."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True, sharey=True)
    ex = df.groupby("dim").exact.first()
    for ax in (a, b):
        ax.plot(ex.index, ex.values, "k-", lw=2, label="exact (quadrature)")
        ax.axhline(df.log_n.iloc[0], color="k", ls="--", lw=1, label=r"$\log N$")
        ax.set_xlabel("dimension n of X and Z")
    marks = {"ours (dataset)": "C0o-", "ours (heldout)": "C1s-", "edge": "C2D-", "doe": "C3^-", "doe.l": "C4v-"}
    for est, st in marks.items():
        s = df[df.estimator == est].sort_values("dim")
        if len(s):
            a.plot(s.dim, s.value, st, ms=4, label=est)
    a.set_ylabel(r"estimate of $I(X;Z)$ [nats]")
    a.set_title("mixture (ours), EDGE, DoE")
    a.legend(fontsize=8)
    for est, cmap, st in (("binning (bins)", "Blues", "o-"), ("binning (width)", "Oranges", "s--")):
        s = df[df.estimator == est]
        settings = list(dict.fromkeys(s.setting))
        for k, setting in enumerate(settings):
            t = s[s.setting == setting].sort_values("dim")
            b.plot(t.dim, t.value, st, ms=4, color=plt.get_cmap(cmap)(0.45 + 0.55 * k / max(1, len(settings) - 1)),
                   label=f"binning, {setting}")
    b.set_title("binning (X uniform on the sample)")
    b.legend(fontsize=8)
    return fig
