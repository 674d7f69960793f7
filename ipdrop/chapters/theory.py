"""Chapter 1 (paper Sec. 3): when is I(X;Z) finite? Every number and figure of ``notebooks/01_theory.md``.

* Thm 3.1/3.2 against Thm 3.3 - :func:`bernoulli_vs_gaussian` (binned I(X;Z) of binary dropout, exact over the
  masks, and the mixture estimate under Gaussian dropout, on a small fixed random network
  :func:`random_network`), drawn by :func:`bernoulli_gaussian_figure`.
* Example 3.4 - :func:`example34_figure` (exact partial sums and sample estimates of E[log f(X)]).
* Prop. 3.5 - :func:`relu_log_activation` (the sample mean of log f_i(X) of a random ReLU network settles),
  drawn by :func:`relu_log_figure`.

Every driver takes explicit sizes and a ``seed`` and returns a tidy :class:`pandas.DataFrame` (values in
nats); same arguments and seed give the same frame. Figures are drawn by :mod:`ipdrop.plotting`.

Example 3.4
-----------
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

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._base import check_int, check_positive, make_rng
from ..plotting import bernoulli_gaussian_figure, example34_plot, relu_log_figure
from ._common import _bar, _check_list, _check_sizes, _gaussian_dropout_estimates

__all__ = [
    # Example 3.4
    "EXAMPLE34_LEVEL_MEAN",
    "example34_sample_log_f",
    "example34_partial_sums",
    "running_mean_at",
    "example34_sampled_means",
    "example34_figure",
    # Thm 3.1-3.3 and Prop. 3.5
    "RandomNetwork",
    "random_network",
    "bernoulli_masks",
    "bernoulli_binning_mi",
    "bernoulli_vs_gaussian",
    "relu_log_activation",
    # figures
    "bernoulli_gaussian_figure",
    "relu_log_figure",
]

# --------------------------------------------------------------------------- Example 3.4 (heavy-tailed input)

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
    return np.stack(
        [
            running_mean_at(example34_sample_log_f(int(sizes.max()), rng), sizes)
            for _ in range(check_int(n_repeats, "n_repeats"))
        ]
    )


def example34_figure(n_levels: int = 30, sizes=None, n_repeats: int = 20, seed: int = 0):
    """Example 3.4: exact partial sums of E[log f(X)] (left) and sample estimates against N (right).

    ``sizes`` defaults to 26 log-spaced sample sizes from 10 to 10^6. Returns ``(fig, summary)`` where
    ``summary`` holds the plotted numbers (for printing in the notebook).
    """
    if sizes is None:
        sizes = np.unique(np.logspace(1, 6, 26).astype(int))
    sizes = np.asarray(sizes)
    partial = example34_partial_sums(n_levels)
    means = example34_sampled_means(sizes, n_repeats=n_repeats, seed=seed)
    return example34_plot(partial, sizes, means)


# --------------------------------------------------------------------------- Sec. 3: a fixed random network


@dataclass(frozen=True)
class RandomNetwork:
    """A fixed two-layer network f(x) = out_act(W2 relu(W1 x + b1) + b2) with numpy weights.

    Biases are set so that every unit is active (pre-activation > 0) on about half of the inputs in a pilot
    sample, which keeps every ReLU unit alive and makes the zero patterns non-trivial.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    output: str = "relu"

    def hidden(self, x) -> np.ndarray:
        return np.maximum(np.asarray(x, dtype=np.float64) @ self.w1 + self.b1, 0.0)

    def __call__(self, x) -> np.ndarray:
        a = self.hidden(x) @ self.w2 + self.b2
        if self.output == "relu":
            return np.maximum(a, 0.0)
        return np.logaddexp(0.0, a)  # softplus, overflow-free

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.w1.shape[0], self.w1.shape[1], self.w2.shape[1]


def random_network(
    input_dim: int = 2, hidden: int = 8, units: int = 4, output: str = "relu", input_sampler=None, seed=0
) -> RandomNetwork:
    """Draw a :class:`RandomNetwork` ``input_dim -> hidden (ReLU) -> units (output)``.

    Weights are N(0, 2 / fan_in) (He initialisation). Each bias is minus the median pre-activation of its unit
    over 2000 pilot inputs from ``input_sampler(n, rng)`` (default: uniform on [0, 1]^input_dim), so every unit
    is active on about half of the inputs. ``output`` is ``"relu"`` or ``"softplus"``.
    """
    input_dim = check_int(input_dim, "input_dim")
    hidden = check_int(hidden, "hidden")
    units = check_int(units, "units")
    if output not in ("relu", "softplus"):
        raise ValueError(f"output must be 'relu' or 'softplus'; got {output!r}")
    rng = make_rng(seed)
    sampler = input_sampler or (lambda n, r: r.random((n, input_dim)))
    pilot = np.asarray(sampler(2000, rng), dtype=np.float64)
    if pilot.ndim != 2 or pilot.shape[1] != input_dim:
        raise ValueError(f"input_sampler must return (n, {input_dim}) arrays; got shape {pilot.shape}")
    w1 = rng.normal(0.0, math.sqrt(2.0 / input_dim), (input_dim, hidden))
    pre1 = pilot @ w1
    b1 = -np.median(pre1, axis=0)
    h = np.maximum(pre1 + b1, 0.0)
    w2 = rng.normal(0.0, math.sqrt(2.0 / hidden), (hidden, units))
    pre2 = h @ w2
    b2 = -np.median(pre2, axis=0)
    return RandomNetwork(w1, b1, w2, b2, output)


def _uniform_inputs(low, high):
    def sampler(n, rng, dim):
        return low + (high - low) * rng.random((n, dim))

    return sampler


# --------------------------------------------------------------------------- Thm 3.1 / 3.2 vs Thm 3.3


def bernoulli_masks(units: int, keep_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """All 2^units binary dropout masks and their probabilities (independent units kept w.p. ``keep_prob``)."""
    units = check_int(units, "units")
    if units > 16:
        raise ValueError(f"enumerating 2^{units} masks is too many; use units <= 16")
    keep_prob = check_positive(keep_prob, "keep_prob")
    if keep_prob > 1:
        raise ValueError(f"keep_prob must lie in (0, 1]; got {keep_prob}")
    masks = ((np.arange(2**units)[:, None] >> np.arange(units)) & 1).astype(np.float64)
    k = masks.sum(1)
    probs = keep_prob**k * (1 - keep_prob) ** (units - k)
    return masks, probs


def _weighted_entropy(codes: np.ndarray, weights: np.ndarray) -> float:
    from ..estimators._binning import group_rows

    inv, _ = group_rows(np.ascontiguousarray(codes))
    p = np.bincount(inv, weights=weights)
    p = p[p > 0]
    p = p / p.sum()
    return float(-(p * np.log(p)).sum())


def bernoulli_binning_mi(fx, keep_prob: float, n_bins: int, value_range) -> float:
    """Binned I(X;Ẑ) for Bernoulli dropout Z = f(X) * B, X uniform on the sample, exact over the masks.

    For every sample f(x_j) and every mask b (probability P(b)), Ẑ = bin(f(x_j) * b) on a grid of ``n_bins``
    equal-width bins over ``value_range`` shared by all units. The joint law of (J, Ẑ) with J uniform on the
    N samples is known exactly, so I(J;Ẑ) = log N + H(Ẑ) - H(J, Ẑ) is computed without sampling the masks.
    It is at most log N. Value in nats.
    """
    from ..estimators._binning import quantize

    fx = np.asarray(fx, dtype=np.float64)
    n, d = fx.shape
    masks, probs = bernoulli_masks(d, keep_prob)
    z = (fx[:, None, :] * masks[None, :, :]).reshape(-1, d)
    codes, _ = quantize(z, n_bins=n_bins, value_range=value_range)
    w = np.tile(probs, n) / n
    j = np.repeat(np.arange(n, dtype=np.int64), len(probs))
    h_z = _weighted_entropy(codes, w)
    joint = np.concatenate([codes.astype(np.int64), j[:, None]], axis=1)
    h_jz = _weighted_entropy(joint, w)
    return float(math.log(n) + h_z - h_jz)


def bernoulli_vs_gaussian(
    sizes=(100, 300, 1000, 3000),
    n_bins=(10, 100, 1000),
    keep_prob: float = 0.5,
    variance: float = 0.4,
    n_noise: int = 10,
    input_dim: int = 2,
    hidden: int = 16,
    units: int = 4,
    seed=0,
    device="cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Estimates of I(X;Z) as the sample (and the binning) is refined, for binary and for Gaussian dropout.

    Setting: X uniform on [-1, 1]^input_dim, a fixed random network f (``input_dim -> hidden`` ReLU ``-> units``
    softplus, :func:`random_network`), and Z = f(X) * D with

    * Bernoulli dropout D = B (units kept with probability ``keep_prob``): binned I(X;Ẑ) with X uniform on the
      first N samples, exact over the 2^units masks (:func:`bernoulli_binning_mi`), for each ``n_bins`` on the
      fixed range [0, max f]. Thm 3.1: I(X;Z) = inf, so refining bins and samples drives the estimate up
      with log N.
    * Gaussian dropout D ~ N(1, ``variance``): the mixture estimator (``GaussianDropoutMI``) in the
      ``"dataset"`` view (X uniform on the sample, <= log N, biased low for the population value) and the
      ``"heldout"`` view (biased high), with ``n_noise`` draws per input. Thm 3.3: I(X;Z) < inf, so both
      settle on one finite value.

    Sample sizes are nested (the first N of one stream). Returns a DataFrame with columns
    ``dropout, estimator, n_bins, n, value, mc_error, input_se, log_n`` (``n_bins`` is 0 for the mixture rows;
    ``mc_error`` is the Monte-Carlo error over the noise draws, ``input_se`` the spread of the per-input terms
    over the inputs / sqrt(N), NaN for binning, which is exact over the masks).
    """
    sizes = _check_sizes(sizes)
    n_bins = _check_list(n_bins, "n_bins", lambda v, nm: check_int(v, nm, minimum=1))
    variance = check_positive(variance, "variance")
    n_noise = check_int(n_noise, "n_noise")
    rng = make_rng(seed)
    sampler = _uniform_inputs(-1.0, 1.0)
    net = random_network(
        input_dim, hidden, units, output="softplus", input_sampler=lambda n, r: sampler(n, r, input_dim), seed=rng
    )
    x = sampler(int(sizes.max()), rng, input_dim)
    fx = net(x)
    value_range = (0.0, float(fx.max()))
    noise_seed = int(rng.integers(0, 2**31 - 1))
    rows = []
    for n in _bar(sizes, progress, desc="sample sizes"):
        for b in n_bins:
            v = bernoulli_binning_mi(fx[:n], keep_prob, b, value_range)
            rows.append(
                dict(
                    dropout="bernoulli",
                    estimator=f"binning, {b} bins",
                    n_bins=b,
                    n=int(n),
                    value=v,
                    mc_error=np.nan,
                    input_se=np.nan,
                )
            )
        for e in _gaussian_dropout_estimates(fx[:n], variance, n_noise, noise_seed, device=device):
            rows.append(
                dict(
                    dropout="gaussian",
                    estimator=f"mixture ({e['mode']})",
                    n_bins=0,
                    n=int(n),
                    value=e["value"],
                    mc_error=np.nan if e["mc_error"] is None else e["mc_error"],
                    input_se=np.nan if e["input_se"] is None else e["input_se"],
                )
            )
    df = pd.DataFrame(rows)
    df["log_n"] = np.log(df["n"])
    return df


# =========================================================================== Prop. 3.5


def relu_log_activation(
    sizes=(10, 100, 1000, 10000), n_repeats: int = 20, input_dim: int = 2, hidden: int = 8, units: int = 3, seed=0
) -> pd.DataFrame:
    """Sample means of log|f_i(X)| over inputs with f_i(X) != 0, for a random ReLU network (Prop. 3.5).

    X is uniform on [0, 1]^input_dim (bounded density, bounded support), f a fixed random two-layer ReLU network
    (:func:`random_network`, every unit active on about half of the inputs). For each of ``n_repeats``
    independent streams of inputs and each N in ``sizes`` (nested: first N of the stream) and each output
    unit i the frame holds the sample mean of log f_i(x) over the inputs with f_i(x) > 0, its standard error
    (sample sd / sqrt(count)) and the fraction of such inputs.

    Returns columns ``repeat, n, unit, mean_log, stderr, n_nonzero, frac_nonzero``.
    """
    sizes = _check_sizes(sizes, minimum=1)
    n_repeats = check_int(n_repeats, "n_repeats")
    rng = make_rng(seed)
    net = random_network(input_dim, hidden, units, output="relu", seed=rng)
    n_max = int(sizes.max())
    rows = []
    for r in range(n_repeats):
        fx = net(rng.random((n_max, input_dim)))
        nz = fx > 0
        logf = np.where(nz, np.log(np.where(nz, fx, 1.0)), 0.0)
        c = np.cumsum(nz, axis=0)[sizes - 1]
        s1 = np.cumsum(logf, axis=0)[sizes - 1]
        s2 = np.cumsum(logf * logf, axis=0)[sizes - 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / c
            var = (s2 - c * mean * mean) / (c - 1)
            se = np.sqrt(np.maximum(var, 0.0) / c)
        for k, n in enumerate(sizes):
            for i in range(fx.shape[1]):
                rows.append(
                    dict(
                        repeat=r,
                        n=int(n),
                        unit=i,
                        mean_log=mean[k, i] if c[k, i] else np.nan,
                        stderr=se[k, i] if c[k, i] > 1 else np.nan,
                        n_nonzero=int(c[k, i]),
                        frac_nonzero=c[k, i] / n,
                    )
                )
    return pd.DataFrame(rows)
