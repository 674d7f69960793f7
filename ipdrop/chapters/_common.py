"""Helpers shared by the chapter drivers of chapters 1 and 2 (argument checks, progress bars, the mixture
estimates of I(X;Z) under Gaussian dropout)."""

from __future__ import annotations

import time

import numpy as np

__all__: list[str] = []


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


def _gaussian_dropout_estimates(fx, variance, n_noise, seed, modes=("dataset", "heldout"), device="cpu"):
    """Mixture estimates of I(X;Z) for Gaussian dropout, one per mode: list of dicts (mode, value, mc_error,
    input_se, h_z, ...). ``mc_error`` is the estimator's Monte-Carlo error over the noise draws; ``input_se`` the
    spread of the per-input terms over the inputs / sqrt(N) (what the estimator calls ``stderr``)."""
    from ..estimators._dropout_mi import GaussianDropoutMI

    out = []
    for mode in modes:
        t0 = time.perf_counter()
        est = GaussianDropoutMI(variance=variance, n_noise=n_noise, mode=mode, seed=seed, device=device)
        r = est.estimate(fx)
        out.append(
            {
                "mode": mode,
                "value": float(r.value),
                "mc_error": r.mc_error,  # Monte-Carlo error over the noise draws (inputs fixed)
                "input_se": r.stderr,  # spread of the per-input terms / sqrt(N): not a Monte-Carlo error
                "h_z": float(r.h_z),
                "h_z_given_x": float(r.h_z_given_x),
                "seconds": time.perf_counter() - t0,
            }
        )
    return out
