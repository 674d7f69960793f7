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
