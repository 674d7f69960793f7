"""Experiment drivers of the theory chapter (Sec. 3) and the estimator chapter (Sec. 4, App. A.6-A.7).

Every driver takes explicit sizes and a ``seed`` and returns a tidy :class:`pandas.DataFrame` (one row per
estimate, values in nats), so that the notebooks only plot and print. Same arguments and seed give the
same frame.

Sec. 3 (finiteness of I(X;Z))
-----------------------------
* :func:`bernoulli_vs_gaussian` - Thm 3.1/3.2 against Thm 3.3 on a small fixed random network.
* :func:`relu_log_activation` - Prop. 3.5: for a ReLU network and a bounded input density the sample
  mean of log|f_i(X)| over the inputs with f_i(X) != 0 settles as N grows.

Sec. 4 (the toy problem of :mod:`ipdrop.toy`: X ~ N(0, I_n), f(x) = 2x + 0.5, Gaussian dropout)
-------------------------------------------------------------------------------------------------
* :func:`toy_conditional_entropy` - Monte-Carlo convergence of h(Z|X) (Fig. 2/9).
* :func:`toy_entropy_vs_dim` - h(Z) by the mixture against the Gaussian upper bound (Fig. 3/8).
* :func:`toy_mi_vs_dim` - I(X;Z) by several estimators against the exact value (Fig. 4/10).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import toy
from ._base import check_int, check_positive, make_rng

__all__ = [
    "RandomNetwork",
    "random_network",
    "bernoulli_masks",
    "bernoulli_binning_mi",
    "bernoulli_vs_gaussian",
    "relu_log_activation",
    "toy_conditional_entropy",
    "toy_entropy_vs_dim",
    "toy_mi_vs_dim",
]


def _check_sizes(sizes, name="sizes", minimum=2) -> np.ndarray:
    s = np.asarray(sizes)
    if s.ndim != 1 or s.size == 0 or s.dtype.kind not in "iuf" or np.any(s != np.round(s)):
        raise ValueError(f"{name} must be a non-empty 1-D list of integers; got {sizes!r}")
    s = s.astype(np.int64)
    if s.min() < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {s.min()}")
    return np.unique(s)


def _check_list(values, name, conv):
    if values is None:
        return []
    if np.isscalar(values):
        values = [values]
    return [conv(v, name) for v in values]


def _bar(iterable, progress, **kw):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


# =========================================================================== Sec. 3: a fixed random network

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


def random_network(input_dim: int = 2, hidden: int = 8, units: int = 4, output: str = "relu",
                   input_sampler=None, seed=0) -> RandomNetwork:
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


# =========================================================================== Thm 3.1 / 3.2 vs Thm 3.3

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
    from .estimators._binning import group_rows

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
    from .estimators._binning import quantize

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


def _gaussian_dropout_estimates(fx, variance, n_noise, seed, modes=("dataset", "heldout"), device="cpu"):
    """Mixture estimates of I(X;Z) for Gaussian dropout, one per mode: list of dicts (mode, value, h_z, ...)."""
    from .estimators._dropout_mi import GaussianDropoutMI

    out = []
    for mode in modes:
        t0 = time.perf_counter()
        est = GaussianDropoutMI(variance=variance, n_noise=n_noise, mode=mode, seed=seed, device=device)
        r = est.estimate(fx)
        out.append({"mode": mode, "value": float(r.value), "stderr": r.stderr, "h_z": float(r.h_z),
                    "h_z_given_x": float(r.h_z_given_x), "seconds": time.perf_counter() - t0})
    return out


def bernoulli_vs_gaussian(sizes=(100, 300, 1000, 3000), n_bins=(10, 100, 1000), keep_prob: float = 0.5,
                          variance: float = 0.4, n_noise: int = 10, input_dim: int = 2, hidden: int = 16,
                          units: int = 4, seed=0, device="cpu", progress: bool = False) -> pd.DataFrame:
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
    ``dropout, estimator, n_bins, n, value, stderr, log_n`` (``n_bins`` is 0 for the mixture rows).
    """
    sizes = _check_sizes(sizes)
    n_bins = _check_list(n_bins, "n_bins", lambda v, nm: check_int(v, nm, minimum=1))
    variance = check_positive(variance, "variance")
    n_noise = check_int(n_noise, "n_noise")
    rng = make_rng(seed)
    sampler = _uniform_inputs(-1.0, 1.0)
    net = random_network(input_dim, hidden, units, output="softplus",
                         input_sampler=lambda n, r: sampler(n, r, input_dim), seed=rng)
    x = sampler(int(sizes.max()), rng, input_dim)
    fx = net(x)
    value_range = (0.0, float(fx.max()))
    noise_seed = int(rng.integers(0, 2**31 - 1))
    rows = []
    for n in _bar(sizes, progress, desc="sample sizes"):
        for b in n_bins:
            v = bernoulli_binning_mi(fx[:n], keep_prob, b, value_range)
            rows.append(dict(dropout="bernoulli", estimator=f"binning, {b} bins", n_bins=b, n=int(n), value=v,
                             stderr=np.nan))
        for e in _gaussian_dropout_estimates(fx[:n], variance, n_noise, noise_seed, device=device):
            rows.append(dict(dropout="gaussian", estimator=f"mixture ({e['mode']})", n_bins=0, n=int(n),
                             value=e["value"], stderr=np.nan if e["stderr"] is None else e["stderr"]))
    df = pd.DataFrame(rows)
    df["log_n"] = np.log(df["n"])
    return df


# =========================================================================== Prop. 3.5

def relu_log_activation(sizes=(10, 100, 1000, 10000), n_repeats: int = 20, input_dim: int = 2, hidden: int = 8,
                        units: int = 3, seed=0) -> pd.DataFrame:
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
                rows.append(dict(repeat=r, n=int(n), unit=i, mean_log=mean[k, i] if c[k, i] else np.nan,
                                 stderr=se[k, i] if c[k, i] > 1 else np.nan, n_nonzero=int(c[k, i]),
                                 frac_nonzero=c[k, i] / n))
    return pd.DataFrame(rows)


# =========================================================================== Sec. 4: the toy problem

def toy_conditional_entropy(dims=(1, 2, 5, 10), sizes=(10, 100, 1000), variances=(0.1,), n_repeats: int = 10,
                            seed=0) -> pd.DataFrame:
    """Monte-Carlo estimates of h(Z|X) on the toy against the exact value (Fig. 2 / Fig. 9).

    h(Z|X=x) = sum_i [1/2 log(2 pi e sigma^2) + log|f_i(x)|] is exact for each x, so the estimate
    (1/N) sum_j h(Z|X=x_j) only averages over the inputs; its error is the Monte-Carlo error over X. For each
    dimension, variance (sigma^2 = Var(D)), repeat and N (nested prefixes of one stream of inputs) the frame
    holds the estimate, its standard error and the exact value.

    Returns columns ``dim, variance, repeat, n, estimate, stderr, exact, error``.
    """
    from .estimators._mixture import component_entropies

    dims = _check_list(dims, "dims", lambda v, nm: check_int(v, nm))
    variances = _check_list(variances, "variances", check_positive)
    sizes = _check_sizes(sizes)
    n_repeats = check_int(n_repeats, "n_repeats")
    rng = make_rng(seed)
    n_max = int(sizes.max())
    rows = []
    for dim in dims:
        for r in range(n_repeats):
            _, fx = toy.sample(n_max, dim, rng)
            for var in variances:
                h = component_entropies(fx, var)  # h(Z|X = x_j), closed form per input
                c1 = np.cumsum(h)[sizes - 1]
                c2 = np.cumsum(h * h)[sizes - 1]
                mean = c1 / sizes
                sd = np.sqrt(np.maximum(c2 - sizes * mean * mean, 0.0) / (sizes - 1))
                exact = toy.exact_entropies(dim, var)[1]
                for k, n in enumerate(sizes):
                    rows.append(dict(dim=dim, variance=var, repeat=r, n=int(n), estimate=mean[k],
                                     stderr=sd[k] / math.sqrt(n), exact=exact))
    df = pd.DataFrame(rows)
    df["error"] = df["estimate"] - df["exact"]
    return df


def toy_entropy_vs_dim(dims=(1, 2, 5, 10), n: int = 1000, variance: float = 0.4, n_noise: int = 10, seed=0,
                       device="cpu") -> pd.DataFrame:
    """h(Z) on the toy: mixture estimates against the Gaussian upper bound and the exact value (Fig. 3 / Fig. 8).

    For each dimension, N = ``n`` inputs with ``n_noise`` noisy draws each: the mixture estimate of h(Z) in the
    ``"dataset"`` and ``"heldout"`` views (``GaussianDropoutMI``), the Gaussian max-entropy bound
    1/2 log((2 pi e)^d det Cov(Z)) of the noisy draws (``gaussian_entropy_upper_bound``), and the exact
    h(Z) and h(Z|X) (:func:`ipdrop.toy.exact_entropies`).

    Returns columns ``dim, quantity, value`` with quantity one of ``"mixture (dataset)"``,
    ``"mixture (heldout)"``, ``"Gaussian upper bound"``, ``"exact h(Z)"``, ``"exact h(Z|X)"``.
    """
    from .estimators._mixture import gaussian_entropy_upper_bound

    dims = _check_list(dims, "dims", lambda v, nm: check_int(v, nm))
    n = check_int(n, "n", minimum=2)
    n_noise = check_int(n_noise, "n_noise")
    variance = check_positive(variance, "variance")
    rng = make_rng(seed)
    rows = []
    for dim in dims:
        _, fx = toy.sample(n, dim, rng)
        noise_seed = int(rng.integers(0, 2**31 - 1))
        for e in _gaussian_dropout_estimates(fx, variance, n_noise, noise_seed, device=device):
            rows.append(dict(dim=dim, quantity=f"mixture ({e['mode']})", value=e["h_z"]))
        z = np.repeat(fx, n_noise, axis=0) * (1.0 + math.sqrt(variance) * rng.standard_normal((n * n_noise, dim)))
        rows.append(dict(dim=dim, quantity="Gaussian upper bound", value=gaussian_entropy_upper_bound(z)))
        hz, hzx = toy.exact_entropies(dim, variance)
        rows.append(dict(dim=dim, quantity="exact h(Z)", value=hz))
        rows.append(dict(dim=dim, quantity="exact h(Z|X)", value=hzx))
    return pd.DataFrame(rows)


def toy_mi_vs_dim(dims=(1, 2, 5, 10), n: int = 500, variance: float = 0.4, n_noise: int = 10,
                  n_bins=(4, 16, 64), bin_widths=(0.5, 2.0), edge: bool = True, doe_steps: int = 1000,
                  doe=("gaussian", "logistic"), seed=0, device="cpu", progress: bool = False) -> pd.DataFrame:
    """I(X;Z) on the toy by several estimators against the exact value (Fig. 4 / Fig. 10).

    For each dimension: N = ``n`` inputs x_j ~ N(0, I), f = 2x + 0.5, and ``n_noise`` noisy draws
    z_jr = f(x_j) * d_jr, d_jr ~ N(1, ``variance``) per input, i.e. N * n_noise pairs (x_j, z_jr). Estimators
    (column ``estimator``; column ``setting`` holds the bin count / width):

    * ``"ours (dataset)"``, ``"ours (heldout)"``: the mixture estimator ``GaussianDropoutMI`` in the two views
      (dataset: X uniform on the sample, <= log N; heldout: leave-one-out, biased up for the population MI);
    * ``"binning (bins)"``, ``"binning (width)"``: plug-in I(J;Ẑ) of the sample index J and the binned noisy
      draws (one grid over all units, by number of bins over the observed range or by bin width): X uniform on
      the sample, so <= log N;
    * ``"edge"``: EDGE on the N * n_noise continuous pairs (Z, X) (population MI, X repeated n_noise times);
    * ``"doe"``, ``"doe.l"``: DoE with Gaussian / logistic parametrisation trained for ``doe_steps`` steps on
      the same pairs (population MI, neither an upper nor a lower bound).

    Every row also has the exact population value ``exact`` (quadrature, :func:`ipdrop.toy.exact_mi`),
    ``log_n`` = log N and the wall time ``seconds``. Returns columns
    ``dim, estimator, setting, value, exact, log_n, seconds``.
    """
    from .estimators._binning import binning_mi_yz
    from .estimators._edge import edge_mi

    dims = _check_list(dims, "dims", lambda v, nm: check_int(v, nm))
    n = check_int(n, "n", minimum=2)
    n_noise = check_int(n_noise, "n_noise")
    variance = check_positive(variance, "variance")
    n_bins = _check_list(n_bins, "n_bins", lambda v, nm: check_int(v, nm))
    bin_widths = _check_list(bin_widths, "bin_widths", check_positive)
    doe = list(doe or ())
    doe_steps = check_int(doe_steps, "doe_steps")
    rng = make_rng(seed)
    rows = []

    def add(dim, estimator, setting, value, t0=None, seconds=None):
        if seconds is None:
            seconds = time.perf_counter() - t0
        rows.append(dict(dim=dim, estimator=estimator, setting=setting, value=float(value), seconds=seconds))

    for dim in _bar(dims, progress, desc="dimensions"):
        x, fx = toy.sample(n, dim, rng)
        noise_seed = int(rng.integers(0, 2**31 - 1))
        for e in _gaussian_dropout_estimates(fx, variance, n_noise, noise_seed, device=device):
            add(dim, f"ours ({e['mode']})", "", e["value"], seconds=e["seconds"])
        xr = np.repeat(x, n_noise, axis=0)
        z = np.repeat(fx, n_noise, axis=0) * (1.0 + math.sqrt(variance) * rng.standard_normal((n * n_noise, dim)))
        j = np.repeat(np.arange(n), n_noise)
        for b in n_bins:
            t0 = time.perf_counter()
            add(dim, "binning (bins)", f"{b} bins", binning_mi_yz(z, j, n_bins=b).value, t0)
        for w in bin_widths:
            t0 = time.perf_counter()
            add(dim, "binning (width)", f"width {w:g}", binning_mi_yz(z, j, bin_width=w).value, t0)
        if edge:
            t0 = time.perf_counter()
            add(dim, "edge", "", edge_mi(z, xr, seed=int(rng.integers(0, 2**31 - 1))).value, t0)
        for fam in doe:
            from .estimators._doe import DoE

            t0 = time.perf_counter()
            r = DoE(fam, steps=doe_steps, seed=int(rng.integers(0, 2**31 - 1)), device=device).estimate(xr, z)
            add(dim, r.estimator, "", r.value, t0)
    df = pd.DataFrame(rows)
    df["exact"] = [toy.exact_mi(d, variance) for d in df["dim"]]
    df["log_n"] = math.log(n)
    return df[["dim", "estimator", "setting", "value", "exact", "log_n", "seconds"]]
