"""Numeric illustrations of Sec. 3 (finiteness of I(X;Z) under dropout).

Example 3.4 (heavy-tailed input): X' takes values in [2^n, 2^(n+1)), n = 1, 2, ..., and X = exp(-X').
A single ReLU neuron with weight 1 gives f(X) = X, so E[log|f(X)|] = E[-X'] = -inf and the condition of
Thm 3.3 fails.

Note on the paper's formula. The printed density p(x') = 2^-n on [2^n, 2^(n+1)) gives every interval
probability 2^-n * 2^n = 1 and does not integrate to one. We use the normalised version that keeps the
intended properties: P(X' in [2^n, 2^(n+1))) = 2^-n (density 4^-n, uniform within the interval). Then
E[X'] = sum_n 2^-n * 1.5 * 2^n = sum_n 1.5 = inf, exactly as the example needs.

Numerics: exp(-X') underflows to 0 in float64 as soon as X' > 745 (n >= 9), so f(X) would look like an
exact zero. Everything here works with log f(X) = -X' directly.
"""
from __future__ import annotations

import numpy as np

from ._base import check_int, make_rng

EXAMPLE34_LEVEL_MEAN = 1.5  # E[X' | level n] / 2^n, times P(level n) * 2^n = 1.5 per level


def example34_sample_log_f(n: int, seed=None) -> np.ndarray:
    """Draw ``n`` values of log f(X) = -X' for Example 3.4 (level n ~ Geometric(1/2), X' = 2^n (1 + U))."""
    n = check_int(n, "n", minimum=1)
    rng = make_rng(seed)
    level = rng.geometric(0.5, size=n)  # P(level = k) = 2^-k, k >= 1
    return -np.ldexp(1.0 + rng.random(n), level)


def example34_partial_sums(n_levels: int) -> np.ndarray:
    """Exact partial sums S_K = sum_{n<=K} E[log f(X); level n] = -1.5 K for K = 1..n_levels (diverges to -inf)."""
    k = np.arange(1, check_int(n_levels, "n_levels") + 1)
    return -EXAMPLE34_LEVEL_MEAN * k.astype(float)


def running_mean_at(values: np.ndarray, sizes) -> np.ndarray:
    """Means of the first ``s`` entries of ``values`` for every ``s`` in ``sizes``."""
    values = np.asarray(values, dtype=float)
    sizes = np.asarray(sizes, dtype=int)
    if sizes.min() < 1 or sizes.max() > len(values):
        raise ValueError(f"sizes must lie in [1, {len(values)}]; got {sizes.min()}..{sizes.max()}")
    csum = np.cumsum(values)
    return csum[sizes - 1] / sizes


def example34_sampled_means(sizes, n_repeats: int = 20, seed=0) -> np.ndarray:
    """Sample estimates of E[log f(X)] at each sample size, for ``n_repeats`` independent streams.

    Returns an array ``(n_repeats, len(sizes))``. For a finite expectation these would settle; here they drift
    down roughly like -1.5 log2(N) (the levels seen in N draws reach about log2 N).
    """
    sizes = np.asarray(sizes, dtype=int)
    rng = make_rng(seed)
    return np.stack([running_mean_at(example34_sample_log_f(int(sizes.max()), rng), sizes)
                     for _ in range(check_int(n_repeats, "n_repeats"))])
