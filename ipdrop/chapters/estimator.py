"""Chapter 2 (paper Sec. 4, App. A.6-A.7): the mixture estimator on a toy problem with exact answers.
Every number and figure of ``notebooks/02_estimator.md``.

The toy problem (:mod:`ipdrop.toy`): X ~ N(0, I_n), f(x) = 2x + 0.5, Gaussian dropout Z = f(X) * D.

* :func:`toy_conditional_entropy` - Monte-Carlo convergence of h(Z|X) (Fig. 2/9), drawn by
  :func:`toy_conditional_entropy_figure`.
* :func:`toy_entropy_vs_dim` - h(Z) by the mixture against the Gaussian upper bound (Fig. 3/8), drawn by
  :func:`toy_entropy_figure`.
* :func:`toy_mi_vs_dim` - I(X;Z) by several estimators against the exact value (Fig. 4/10), drawn by
  :func:`toy_mi_figure`.

Every driver takes explicit sizes and a ``seed`` and returns a tidy :class:`pandas.DataFrame` (one row per
estimate, values in nats); same arguments and seed give the same frame.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from .. import toy
from .._base import check_int, check_positive, make_rng
from ..plotting import toy_conditional_entropy_figure, toy_entropy_figure, toy_mi_figure
from ._common import _bar, _check_list, _check_sizes, _gaussian_dropout_estimates

__all__ = [
    "toy",
    "toy_conditional_entropy",
    "toy_entropy_vs_dim",
    "toy_mi_vs_dim",
    "toy_conditional_entropy_figure",
    "toy_entropy_figure",
    "toy_mi_figure",
]


def toy_conditional_entropy(
    dims=(1, 2, 5, 10), sizes=(10, 100, 1000), variances=(0.1,), n_repeats: int = 10, seed=0
) -> pd.DataFrame:
    """Monte-Carlo estimates of h(Z|X) on the toy against the exact value (Fig. 2 / Fig. 9).

    h(Z|X=x) = sum_i [1/2 log(2 pi e sigma^2) + log|f_i(x)|] is exact for each x, so the estimate
    (1/N) sum_j h(Z|X=x_j) only averages over the inputs; its error is the Monte-Carlo error over X. For each
    dimension, variance (sigma^2 = Var(D)), repeat and N (nested prefixes of one stream of inputs) the frame
    holds the estimate, its standard error and the exact value.

    Returns columns ``dim, variance, repeat, n, estimate, stderr, exact, error``.
    """
    from ..estimators._mixture import component_entropies

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
                    rows.append(
                        dict(
                            dim=dim,
                            variance=var,
                            repeat=r,
                            n=int(n),
                            estimate=mean[k],
                            stderr=sd[k] / math.sqrt(n),
                            exact=exact,
                        )
                    )
    df = pd.DataFrame(rows)
    df["error"] = df["estimate"] - df["exact"]
    return df


def toy_entropy_vs_dim(
    dims=(1, 2, 5, 10), n: int = 1000, variance: float = 0.4, n_noise: int = 10, seed=0, device="cpu"
) -> pd.DataFrame:
    """h(Z) on the toy: mixture estimates against the Gaussian upper bound and the exact value (Fig. 3 / Fig. 8).

    For each dimension, N = ``n`` inputs with ``n_noise`` noisy draws each: the mixture estimate of h(Z) in the
    ``"dataset"`` and ``"heldout"`` views (``GaussianDropoutMI``), the Gaussian max-entropy bound
    1/2 log((2 pi e)^d det Cov(Z)) of the noisy draws (``gaussian_entropy_upper_bound``), and the exact
    h(Z) and h(Z|X) (:func:`ipdrop.toy.exact_entropies`).

    Returns columns ``dim, quantity, value`` with quantity one of ``"mixture (dataset)"``,
    ``"mixture (heldout)"``, ``"Gaussian upper bound"``, ``"exact h(Z)"``, ``"exact h(Z|X)"``.
    """
    from ..estimators._mixture import gaussian_entropy_upper_bound

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


def toy_mi_vs_dim(
    dims=(1, 2, 5, 10),
    n: int = 500,
    variance: float = 0.4,
    n_noise: int = 10,
    n_bins=(4, 16, 64),
    bin_widths=(0.5, 2.0),
    edge: bool = True,
    doe_steps: int = 1000,
    doe=("gaussian", "logistic"),
    seed=0,
    device="cpu",
    progress: bool = False,
) -> pd.DataFrame:
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
    from ..estimators._binning import binning_mi_yz
    from ..estimators._edge import edge_mi

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
            from ..estimators._doe import DoE

            t0 = time.perf_counter()
            r = DoE(fam, steps=doe_steps, seed=int(rng.integers(0, 2**31 - 1)), device=device).estimate(xr, z)
            add(dim, r.estimator, "", r.value, t0)
    df = pd.DataFrame(rows)
    df["exact"] = [toy.exact_mi(d, variance) for d in df["dim"]]
    df["log_n"] = math.log(n)
    return df[["dim", "estimator", "setting", "value", "exact", "log_n", "seconds"]]
