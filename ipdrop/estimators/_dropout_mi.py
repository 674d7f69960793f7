"""I(X;Z) for a representation under Gaussian dropout (the paper's estimator, Sec. 5 and Alg. 1).

Convention (everywhere in ipdrop): ``variance`` = Var(D) = sigma^2 of the multiplicative noise
D ~ N(1, sigma^2), i.i.d. per unit, Z = f(X) * D, so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2).
All values are in nats.

I(X;Z) = h(Z) - h(Z|X):

* h(Z|X) in closed form: the mean over the sample of
  sum_{i: f_i(x) != 0} log(|f_i(x)| sigma sqrt(2 pi e)).
* h(Z) by Monte Carlo: ``n_noise`` noisy samples per input are scored under the Gaussian mixture
  of N(f(x_j), diag sigma^2 f(x_j)^2). Three views (``mode``), which estimate different things:

  - ``"dataset"``: centres = all N inputs, the same ones whose noisy samples are scored. This is the
    exact (unbiased MC) MI for X *uniform on the sample*, so it is <= log N; as an estimate of the
    population MI it is biased downwards.
  - ``"heldout"``: leave-one-out - the noisy samples of x_j are scored under the mixture of all the
    *other* centres (weights 1/(N-1)), so centres and scored inputs are disjoint without splitting the
    sample. It estimates the population MI with an upward bias (Jensen). Together with ``"dataset"``
    it brackets the population value.
  - ``"paper"``: Alg. 1 as published - the first ``n_centers`` noiseless representations are the
    centres and every noisy sample is scored; ``value`` = h(Z) - closed-form h(Z|X). Mostly held-out.
    (Alg. 1 prints log(sqrt(2 pi e sigma)|f|) for h(Z|X); we use the correct sigma = sqrt(variance).)

  ``mode="all"`` returns a dict ``{mode: result}`` with the three side by side.

For ``"dataset"`` and ``"heldout"``, ``value`` is the *paired* Monte-Carlo estimate
mean[log q(z | x_j) - log p_hat(z)] over the same noisy samples, whose expectation is exactly
h(Z) - h(Z|X) (E[-log q(z|x_j)] is the closed-form h(Z|X=x_j)) but whose noise in h(Z|X) cancels:
in ``"dataset"`` mode it is <= log N for every draw, and equals log N exactly when the components do
not overlap. ``details["mi_closed_form"]`` holds h_z - h_z_given_x for comparison.

Zero activations (ReLU) are exact, with no epsilon: the zero pattern B = 1[f(X) != 0] is a function
of X, densities are taken w.r.t. Lebesgue measure on the non-zero coordinates x point mass at 0, a
noisy sample only sees centres with its own pattern, and I(X;Z) = H(B) + I(X;Z|B). If every input
has its own pattern, the dataset MI is log N. In the held-out views a noisy sample whose pattern
appears among no (other) centre has p_hat = 0: a ``ValueError`` is raised instead of a number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import (
    VARIANCE_CONVENTION,
    MIEstimator,
    MIResult,
    as_2d_float,
    check_int,
    check_positive,
    resolve_device,
    torch_generator,
)
from ._mixture import (
    _LOG_2PI,
    EntropyBounds,
    _MixtureScorer,
    _resolve_dtype,
    component_entropies,
    gaussian_entropy_upper_bound,
    kolchinsky_tracey_bounds,
    mixture_entropy_bounds,
    mixture_logpdf,
)

__all__ = [
    "DropoutMIResult",
    "GaussianDropoutMI",
    "dropout_mi",
    "conditional_entropy",
    "mixture_logpdf",
    "gaussian_entropy_upper_bound",
    "mixture_entropy_bounds",
    "kolchinsky_tracey_bounds",
    "EntropyBounds",
]

MODES = ("dataset", "heldout", "paper")
_QUANTITY = {
    "dataset": "I(X;Z), X uniform on the sample (<= log N)",
    "heldout": "I(X;Z), population, leave-one-out mixture (biased upward)",
    "paper": "I(X;Z), population, Alg. 1 (first n_centers rows as centres; mostly held-out)",
}
# noise is drawn in blocks of this many inputs, so results do not depend on chunk_size
_NOISE_BLOCK = 256
_GAUSS_BOUND_MAX_DIM = 4096


@dataclass(frozen=True, kw_only=True)
class DropoutMIResult(MIResult):
    """Result of :class:`GaussianDropoutMI` (all in nats).

    ``value`` is the MI estimate (see the module docstring for how each ``mode`` defines it),
    ``stderr`` its Monte-Carlo standard error (std over inputs of the per-input mean / sqrt(N)).
    ``h_z`` is the MC estimate of h(Z) (with ``h_z_stderr``); ``h_z_given_x`` the closed-form h(Z|X)
    averaged over the inputs (``h_z_given_x_stderr`` = std of the per-input values / sqrt(N)).
    ``variance`` is Var(D) = sigma^2, see ``convention``.
    """

    h_z: float
    h_z_given_x: float
    mode: str
    h_z_stderr: float = float("nan")
    h_z_given_x_stderr: float = float("nan")
    variance: float = float("nan")
    n_noise: int = 0
    n_centers: int = 0
    convention: str = VARIANCE_CONVENTION


def _per_input_conditional_entropy(f: np.ndarray, variance: float) -> np.ndarray:
    return component_entropies(f, variance)


def conditional_entropy(f_x, variance: float) -> MIResult:
    """Closed-form h(Z|X) for Z = f(X) * D, D ~ N(1, sigma^2), ``variance`` = sigma^2 = Var(D).

    h(Z|X) = mean over the sample of sum_{i: f_i(x) != 0} log(|f_i(x)| sigma sqrt(2 pi e))
    (units with f_i(x) = 0 are deterministic and contribute nothing: reference measure Lebesgue on
    the non-zero coordinates x point mass at 0). ``stderr`` = std of the per-sample values / sqrt(N).

    Parameters
    ----------
    f_x : array-like (N, d)
        Noiseless representations f(x_j).
    variance : float
        sigma^2 = Var(D) > 0.
    """
    f = as_2d_float(f_x, "f_x", min_samples=2)
    variance = check_positive(variance, "variance")
    h = _per_input_conditional_entropy(f, variance)
    n = len(h)
    return MIResult(
        value=float(h.mean()),
        estimator="gaussian_dropout",
        quantity="h(Z|X), closed form, averaged over the sample",
        n=n,
        d=f.shape[1],
        stderr=float(h.std(ddof=1) / math.sqrt(n)),
        details={"variance": variance, "convention": VARIANCE_CONVENTION},
    )


def _unseen_message(mode: str, count: int, total: int, n: int) -> str:
    return (f"{mode} mode: {count} of {total} noisy samples have a zero pattern (set of inactive units) that no "
            f"{'other ' if mode == 'heldout' else ''}centre shares, so the mixture density there is 0 and -log p is "
            f"infinite; the population MI cannot be estimated this way (patterns are too diverse for N={n}). "
            f"Use mode='dataset' (MI of X uniform on the sample, <= log N)"
            + (" or a larger n_centers" if mode == "paper" else ""))


def _check_patterns_covered(f: np.ndarray, modes, n_centers: int, n_noise: int) -> None:
    """Fail before any Monte Carlo when a held-out view would meet a zero pattern with no centre.

    A noisy sample has the zero pattern of its input (almost surely), so this is decided by f alone.
    """
    if not ("heldout" in modes or "paper" in modes):
        return
    n = f.shape[0]
    packed = np.packbits(f != 0, axis=1)
    _, inv, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
    inv = np.asarray(inv).reshape(-1)
    if "heldout" in modes:
        lonely = int(np.count_nonzero(counts[inv] == 1))
        if lonely:
            raise ValueError(_unseen_message("heldout", lonely * n_noise, n * n_noise, n))
    if "paper" in modes:
        seen = np.zeros(len(counts), dtype=bool)
        seen[inv[:n_centers]] = True
        missing = int(np.count_nonzero(~seen[inv]))
        if missing:
            raise ValueError(_unseen_message("paper", missing * n_noise, n * n_noise, n))


class GaussianDropoutMI(MIEstimator):
    """Estimate I(X;Z) for Z = f(X) * D, D ~ N(1, ``variance``) i.i.d. per unit (Gaussian dropout).

    ``variance`` = Var(D) = sigma^2, so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2). h(Z|X) is closed
    form; h(Z) is a Monte-Carlo score of ``n_noise`` noisy samples per input under the Gaussian
    mixture centred on the noiseless representations. ``mode`` chooses the view:

    * ``"dataset"`` - X uniform on the sample: all inputs are centres; value <= log N (biased down
      as a population estimate);
    * ``"heldout"`` - leave-one-out mixture: population estimate, biased up;
    * ``"paper"`` - Alg. 1 as published: first ``n_centers`` rows are the centres;
    * ``"all"`` - a dict with the three results.

    Zero activations are exact (zero-pattern groups, no epsilon); see the module docstring.

    Parameters
    ----------
    variance : float
        sigma^2 = Var(D) > 0.
    n_noise : int
        Noisy samples per input (default 10, as in the paper).
    mode : {"dataset", "heldout", "paper", "all"}
    n_centers : int
        Number of centres in ``"paper"`` mode (default 1000); must not exceed N.
    chunk_size : int
        Scored points per kernel call; memory O(chunk_size x N) whatever N.
    device : "cpu", "cuda" or "auto"
    dtype : torch.float64 (default) or torch.float32 (loses ~1e-2 nats at small sigma).
    seed : int or numpy.random.Generator
        Seeds the torch.Generator that draws the dropout noise (on the CPU, so the same seed gives the
        same numbers on every device).
    progress : bool
        tqdm bar over scored noisy samples.
    method : {"auto", "dense", "screened"}
        Kernel of the mixture log-density (see :func:`mixture_logpdf`): "screened" skips, after a float32
        screen with a rigorous error bound, only terms more than 50 nats below a row's maximum (relative
        error <= N e^-50); "auto" screens on the CPU in float64 when d >= 32.

    Examples
    --------
    >>> from ipdrop import toy
    >>> x, fx = toy.sample(2000, dim=2, seed=0)
    >>> res = GaussianDropoutMI(variance=0.4).estimate(fx)
    >>> res.value, res.h_z, res.h_z_given_x  # doctest: +SKIP
    """

    name = "gaussian_dropout"

    def __init__(self, variance: float, n_noise: int = 10, mode: str = "dataset", n_centers: int = 1000,
                 chunk_size: int = 2048, device="cpu", dtype=None, seed=0, progress: bool = False,
                 method: str = "auto"):
        self.variance = variance
        self.n_noise = n_noise
        self.mode = mode
        self.n_centers = n_centers
        self.chunk_size = chunk_size
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self.progress = progress
        self.method = method

    # ------------------------------------------------------------------ main entry
    def estimate(self, f_x, y=None):
        """Estimate I(X;Z) from the ``(N, d)`` matrix ``f_x`` of NOISELESS representations f(x_j).

        ``y`` is not used (I(X;Z) needs only f(X)) and must be None. Returns a
        :class:`DropoutMIResult`, or a dict ``{mode: DropoutMIResult}`` for ``mode="all"``.
        """
        if y is not None:
            raise ValueError("GaussianDropoutMI estimates I(X;Z) from the noiseless representations f(X) alone; "
                             "pass y=None")
        f = as_2d_float(f_x, "f_x", min_samples=2)
        n, d = f.shape
        variance = check_positive(self.variance, "variance")
        n_noise = check_int(self.n_noise, "n_noise", minimum=1)
        chunk_size = check_int(self.chunk_size, "chunk_size", minimum=1)
        if self.mode not in MODES + ("all",):
            raise ValueError(f"mode must be one of {MODES + ('all',)}; got {self.mode!r}")
        modes = MODES if self.mode == "all" else (self.mode,)
        n_centers = check_int(self.n_centers, "n_centers", minimum=1)
        if "paper" in modes and n_centers > n:
            raise ValueError(f"n_centers={n_centers} exceeds the number of samples N={n} (paper mode uses the "
                             f"first n_centers rows as centres); pass n_centers <= {n}")
        dtype = _resolve_dtype(self.dtype)
        dev = resolve_device(self.device)
        gen = torch_generator(self.seed, "cpu")

        # h(Z|X), closed form per input
        hzx = _per_input_conditional_entropy(f, variance)
        k = (f != 0).sum(1)
        logabs = np.log(np.abs(np.where(f != 0, f, 1.0))).sum(1)
        half_log = 0.5 * (_LOG_2PI + math.log(variance))

        _check_patterns_covered(f, modes, n_centers, n_noise)

        scorers = {}
        if "dataset" in modes or "heldout" in modes:
            scorers["full"] = _MixtureScorer(f, variance, dev, dtype, method=self.method)
        if "paper" in modes:
            if n_centers == n and "full" in scorers:
                scorers["paper"] = scorers["full"]
            else:
                scorers["paper"] = _MixtureScorer(f[:n_centers], variance, dev, dtype, method=self.method)

        # per-input sums over the n_noise samples of: log p_hat(z) per mode, and log q(z|x_j)
        sum_logp = {mm: np.zeros(n) for mm in modes}
        sum_logq = np.zeros(n)
        # one noisy sample per input for the Gaussian max-entropy bound (only for densities on all of R^d)
        want_gauss = bool(np.all(f != 0)) and d <= _GAUSS_BOUND_MAX_DIM
        z_first = np.empty((n, d)) if want_gauss else None
        n_unseen = {mm: 0 for mm in modes}
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n * n_noise * len(modes), desc="dropout MI: scoring noisy samples", unit="pt")
        import torch

        sigma = math.sqrt(variance)
        try:
            for s in range(0, n, _NOISE_BLOCK):
                fb = f[s:s + _NOISE_BLOCK]
                nb = fb.shape[0]
                eps = torch.randn((nb, n_noise, d), generator=gen, dtype=torch.float64).numpy()
                z = (fb[:, None, :] * (1.0 + sigma * eps)).reshape(nb * n_noise, d)
                own = np.repeat(np.arange(s, s + nb), n_noise)
                if z_first is not None:
                    z_first[s:s + nb] = z[::n_noise]
                # exact log q(z | x_j) from the standardised noise, over the non-zero units of f(x_j)
                sq = np.where((fb != 0)[:, None, :], eps * eps, 0.0).sum(2)  # (nb, n_noise)
                logq = -logabs[s:s + nb, None] - k[s:s + nb, None] * half_log - 0.5 * sq
                sum_logq[s:s + nb] += logq.sum(1)
                for mm in modes:
                    if mm == "dataset":
                        lse = scorers["full"].score(z, None, chunk_size=chunk_size, bar=bar) - math.log(n)
                    elif mm == "heldout":
                        lse = scorers["full"].score(z, own, chunk_size=chunk_size, bar=bar) - math.log(n - 1)
                    else:
                        lse = scorers["paper"].score(z, None, chunk_size=chunk_size, bar=bar) - math.log(n_centers)
                    n_unseen[mm] += int(np.count_nonzero(~np.isfinite(lse)))
                    sum_logp[mm][s:s + nb] += lse.reshape(nb, n_noise).sum(1)
        finally:
            if bar is not None:
                bar.close()

        h_gauss = None
        if z_first is not None:
            try:
                h_gauss = gaussian_entropy_upper_bound(z_first)
            except ValueError:
                h_gauss = None
        results = {}
        for mm in modes:
            if n_unseen[mm]:
                raise ValueError(_unseen_message(mm, n_unseen[mm], n * n_noise, n))
            results[mm] = self._result(mm, f, variance, n_noise, n_centers if mm == "paper" else (n - 1 if mm == "heldout" else n),
                                       sum_logp[mm] / n_noise, sum_logq / n_noise, hzx, chunk_size, h_gauss)
        return results if self.mode == "all" else results[self.mode]

    # ------------------------------------------------------------------ assembling a result
    def _result(self, mode, f, variance, n_noise, n_centers, mean_logp, mean_logq, hzx, chunk_size, h_gauss):
        n, d = f.shape
        sq = math.sqrt(n)
        neg_logp = -mean_logp  # per-input MC estimate of E[-log p_hat(Z) | x_j]
        h_z = float(neg_logp.mean())
        h_z_se = float(neg_logp.std(ddof=1) / sq)
        h_zx = float(hzx.mean())
        h_zx_se = float(hzx.std(ddof=1) / sq)
        paired = mean_logq - mean_logp
        closed = neg_logp - hzx
        if mode == "paper":
            value, se = float(closed.mean()), float(closed.std(ddof=1) / sq)
        else:
            value, se = float(paired.mean()), float(paired.std(ddof=1) / sq)
        details = {
            "variance": variance,
            "n_noise": n_noise,
            "n_centers": n_centers,
            "mi_paired": float(paired.mean()),
            "mi_paired_stderr": float(paired.std(ddof=1) / sq),
            "mi_closed_form": float(closed.mean()),
            "mi_closed_form_stderr": float(closed.std(ddof=1) / sq),
            "h_z_given_x_mc": float(-mean_logq.mean()),
            "log_n": math.log(n),
            "n_zero_patterns": int(len(np.unique(np.packbits(f != 0, axis=1), axis=0))),
            "chunk_size": chunk_size,
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else repr(self.seed),
            "convention": VARIANCE_CONVENTION,
            # Gaussian max-entropy bound on h(Z) from one noisy sample per input (Ledoit-Wolf shrinkage);
            # None when some f_i(x) = 0 (the bound is for Lebesgue densities on R^d) or d is very large
            "h_z_gaussian_upper_bound": h_gauss,
        }
        if mode == "dataset":
            # sum_j w_j h_j <= h(mixture) <= sum_j w_j h_j + log N (exact for X uniform on the sample)
            details["h_z_lower_bound"] = h_zx
            details["h_z_upper_bound"] = h_zx + math.log(n)
        return DropoutMIResult(
            value=value,
            estimator=self.name,
            quantity=_QUANTITY[mode],
            n=n,
            d=d,
            stderr=se,
            details=details,
            h_z=h_z,
            h_z_given_x=h_zx,
            mode=mode,
            h_z_stderr=h_z_se,
            h_z_given_x_stderr=h_zx_se,
            variance=variance,
            n_noise=n_noise,
            n_centers=n_centers,
        )


def dropout_mi(f_x, variance: float, *, n_noise: int = 10, mode: str = "dataset", n_centers: int = 1000,
               chunk_size: int = 2048, device="cpu", dtype=None, seed=0, progress: bool = False):
    """Functional form of :class:`GaussianDropoutMI`: I(X;Z) in nats from noiseless representations ``f_x``.

    ``variance`` = Var(D) = sigma^2 (Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2)). ``mode`` is
    ``"dataset"`` (X uniform on the sample, <= log N), ``"heldout"`` (leave-one-out, population
    estimate biased up), ``"paper"`` (Alg. 1: first ``n_centers`` rows as centres) or ``"all"``
    (dict of the three). Returns :class:`DropoutMIResult` (or the dict).
    """
    return GaussianDropoutMI(variance, n_noise=n_noise, mode=mode, n_centers=n_centers, chunk_size=chunk_size,
                             device=device, dtype=dtype, seed=seed, progress=progress).estimate(f_x)
