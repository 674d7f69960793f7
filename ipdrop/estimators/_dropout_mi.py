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

  ``mode="all"`` returns an :class:`MIResults` dict ``{mode: result}`` with the three side by side,
  computed from ONE pass over the same noisy samples (see :class:`GaussianDropoutMI`).

For ``"dataset"`` and ``"heldout"``, ``value`` is the *paired* Monte-Carlo estimate
mean[log q(z | x_j) - log p_hat(z)] over the same noisy samples, whose expectation is exactly
h(Z) - h(Z|X) (E[-log q(z|x_j)] is the closed-form h(Z|X=x_j)) but whose noise in h(Z|X) cancels:
in ``"dataset"`` mode it is <= log N for every draw, and equals log N exactly when the components do
not overlap. ``details["mi_closed_form"]`` holds h_z - h_z_given_x for comparison.

Zero activations (ReLU) are exact, with no epsilon: the zero pattern B = 1[f(X) != 0] is a function
of X, densities are taken w.r.t. Lebesgue measure on the non-zero coordinates x point mass at 0, a
noisy sample only sees centres with its own pattern, and I(X;Z) = H(B) + I(X;Z|B). If every input
has its own pattern, the dataset MI is log N. In the held-out views a noisy sample whose pattern
appears among no (other) centre has p_hat = 0: a ``ValueError`` is raised instead of a number (in
``mode="all"`` the other views are still returned, the reason is in ``MIResults.errors``). Structural zeros exist
only in ReLU layers: for softplus layers pass ``zero_patterns=False`` (float32 softplus(-110) is exactly 0; such
zeros are floored at 2^-150 instead of being treated as a pattern).

Errors: ``mc_error`` is the Monte-Carlo standard error over the noise draws (inputs fixed); ``stderr`` /
``details["input_spread_se"]`` is the spread over inputs / sqrt(N), an input-sampling measure, not an MC error.
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
    _blas_threads,
    _check_variance,
    _MixtureScorer,
    _resolve_dtype,
    column_exponents,
    component_entropies,
    gaussian_entropy_upper_bound,
    kolchinsky_tracey_bounds,
    mixture_entropy_bounds,
    mixture_logpdf,
    rescale_columns,
)

__all__ = [
    "DropoutMIResult",
    "GaussianDropoutMI",
    "MIResults",
    "SOFTPLUS_ZERO_FLOOR",
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
# noisy samples are scored in batches of about this many chunks (whole noise blocks): full chunks, and enough of
# them for the scorer's worker threads
_BATCH_CHUNKS = 8
_GAUSS_BOUND_MAX_DIM = 4096


@dataclass(frozen=True, kw_only=True)
class DropoutMIResult(MIResult):
    """Result of :class:`GaussianDropoutMI` (all in nats).

    ``value`` is the MI estimate (see the module docstring for how each ``mode`` defines it),
    ``mc_error`` its Monte-Carlo standard error over the dropout-noise draws (inputs fixed; ``None`` when
    ``n_noise == 1``); ``stderr`` = ``details["input_spread_se"]`` the spread of the per-input means over the
    inputs / sqrt(N) (input-sampling variability, not an MC error).
    ``h_z`` is the MC estimate of h(Z) (with ``h_z_stderr``, input spread, and ``details["h_z_mc_error"]``);
    ``h_z_given_x`` the closed-form h(Z|X)
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
    return (
        f"{mode} mode: {count} of {total} noisy samples have a zero pattern (set of inactive units) that no "
        f"{'other ' if mode == 'heldout' else ''}centre shares, so the mixture density there is 0 and -log p is "
        f"infinite; the population MI cannot be estimated this way (patterns are too diverse for N={n}). "
        f"Use mode='dataset' (MI of X uniform on the sample, <= log N)"
        + (" or a larger n_centers" if mode == "paper" else "")
    )


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


class MIResults(dict):
    """The views of one :class:`GaussianDropoutMI` pass (``mode="all"``): a dict ``{view: DropoutMIResult}``.

    Iterating gives the view names (a dict), ``res["dataset"]`` / ``res.dataset`` a result, ``res.results()``
    the results in view order. Views that could not be computed (e.g. the held-out view when some zero pattern
    has no other centre) are absent from the mapping and their reasons are in ``res.errors`` ``{view: message}``.
    """

    def __init__(self, results=(), errors=None):
        super().__init__(results)
        self.errors = dict(errors or {})

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def results(self) -> list:
        return list(self.values())


#: value that replaces an exact zero when ``zero_patterns=False``: 2^-150, the float32 underflow threshold (a
#: float32 softplus output that rounded to exactly 0 was below it; softplus(-110) = 1.7e-48 becomes 0 in float32)
SOFTPLUS_ZERO_FLOOR = 2.0**-150


class GaussianDropoutMI(MIEstimator):
    """Estimate I(X;Z) for Z = f(X) * D, D ~ N(1, ``variance``) i.i.d. per unit (Gaussian dropout).

    ``variance`` = Var(D) = sigma^2, so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2). h(Z|X) is closed
    form; h(Z) is a Monte-Carlo score of ``n_noise`` noisy samples per input under the Gaussian
    mixture centred on the noiseless representations. ``mode`` chooses the view:

    * ``"dataset"`` - X uniform on the sample: all inputs are centres; value <= log N (biased down
      as a population estimate);
    * ``"heldout"`` - leave-one-out mixture: population estimate, biased up;
    * ``"paper"`` - Alg. 1 as published: first ``n_centers`` rows are the centres;
    * ``"all"`` - the three views from ONE pass (an :class:`MIResults` dict ``{view: result}``).

    One pass for all views: every noisy sample is scored once against all centres with its own centre
    excluded (the held-out sum); the dataset view is ``logaddexp(held-out sum, own term)`` per sample, the
    own term log q(z | x_j) being exact from the drawn noise; Alg. 1's centres are the first ``n_centers``
    rows, i.e. the first columns of each pattern group of the same GEMM output, so its log-density comes from
    a column slice (with its own certified screening threshold). Hence per draw the dataset value is
    <= log N exactly, and the views share their noise (their differences have less MC noise than separate runs).

    Errors: ``mc_error`` is the Monte-Carlo standard error over the dropout-noise draws with the inputs
    fixed: the n_noise * N paired terms are independent given the inputs, so
    mc_error = sqrt(sum_j s_j^2 / n_noise) / N with s_j^2 the sample variance of input j's terms over its
    n_noise draws (the finest batch-means split; ``None`` when ``n_noise == 1``). ``stderr`` and
    ``details["input_spread_se"]`` are the spread of the per-input means over the inputs / sqrt(N): a
    measure of input-sampling variability (what another sample of N inputs could give), *not* a
    Monte-Carlo error - do not use it for compression verdicts.

    Zero activations: with ``zero_patterns=True`` (ReLU layers) exact zeros are structural: exact, with no
    epsilon (see the module docstring). With ``zero_patterns=False`` (softplus and other strictly
    positive layers, whose exact zeros can only be float underflow) zeros are replaced by
    ``SOFTPLUS_ZERO_FLOOR`` = 2^-150 and no split by pattern happens, so a held-out view cannot fail on an
    underflowed unit. Values are computed after an exact per-column power-of-two rescaling (the MI is
    invariant, h(Z) and h(Z|X) are shifted back), so activations of any magnitude (1e200, 1e-170) work.

    Parameters
    ----------
    variance : float
        sigma^2 = Var(D), > 1e-16 (below, float64 cannot resolve the noise: see ``MIN_VARIANCE``).
    n_noise : int
        Noisy samples per input (default 10, as in the paper); >= 2 for an ``mc_error``.
    mode : {"dataset", "heldout", "paper", "all"}
    n_centers : int
        Number of centres in ``"paper"`` (and ``"all"``) mode (default 1000); must not exceed N.
    chunk_size : int
        Scored points per kernel call; memory O(chunk_size x N) per CPU worker thread whatever N. On CPU the chunks
        run in ``torch.get_num_threads()`` worker threads (one torch thread each); the values do not depend on it.
    device : "cpu", "cuda" or "auto" (default: CUDA when available)
    dtype : torch.float64 (default) or torch.float32 (dense path only; loses ~1e-2 nats at small sigma).
    seed : int or numpy.random.Generator
        Seeds the torch.Generator that draws the dropout noise (on the CPU, so the same seed gives the
        same numbers on every device).
    progress : bool
        tqdm bar over scored noisy samples.
    method : {"auto", "dense", "screened"}
        Kernel of the mixture log-density (see :func:`mixture_logpdf`): "screened" skips, after a float32
        screen with a rigorous error bound, only terms more than 50 nats below a row's maximum (relative
        error <= N e^-50); "auto" screens in float64 (CPU and CUDA, TF32 off for the screen).
    zero_patterns : bool
        True (default): exact zeros are structural (ReLU). False: a strictly positive layer (softplus):
        zeros are underflow and are floored at 2^-150.

    Examples
    --------
    >>> from ipdrop import toy
    >>> x, fx = toy.sample(2000, dim=2, seed=0)
    >>> res = GaussianDropoutMI(variance=0.4).estimate(fx)
    >>> res.value, res.mc_error, res.h_z, res.h_z_given_x  # doctest: +SKIP
    """

    name = "gaussian_dropout"

    def __init__(
        self,
        variance: float,
        n_noise: int = 10,
        mode: str = "dataset",
        n_centers: int = 1000,
        chunk_size: int = 2048,
        device="auto",
        dtype=None,
        seed=0,
        progress: bool = False,
        method: str = "auto",
        zero_patterns: bool = True,
    ):
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
        self.zero_patterns = zero_patterns

    # ------------------------------------------------------------------ main entry
    def estimate(self, f_x, y=None):
        """Estimate I(X;Z) from the ``(N, d)`` matrix ``f_x`` of NOISELESS representations f(x_j).

        ``y`` must be None: I(X;Z) needs only f(X) (a ``ValueError`` says so otherwise). Returns a
        :class:`DropoutMIResult`, or an :class:`MIResults` ``{view: DropoutMIResult}`` for ``mode="all"``.
        """
        if y is not None:
            raise ValueError(
                "GaussianDropoutMI cannot use y: it estimates I(X;Z) from the noiseless representations "
                "f(X) alone; pass y=None (for I(Y;Z) use a label estimator such as EDGE or KNNLabelMI)"
            )
        import torch

        f = as_2d_float(f_x, "f_x", min_samples=2)
        n, d = f.shape
        variance = _check_variance(self.variance)
        n_noise = check_int(self.n_noise, "n_noise", minimum=1)
        chunk_size = check_int(self.chunk_size, "chunk_size", minimum=1)
        if self.mode not in MODES + ("all",):
            raise ValueError(f"mode must be one of {MODES + ('all',)}; got {self.mode!r}")
        if self.zero_patterns not in (True, False):
            raise ValueError(
                f"zero_patterns must be True (ReLU: exact zeros are structural) or False (softplus: "
                f"zeros are underflow); got {self.zero_patterns!r}"
            )
        all_mode = self.mode == "all"
        modes = MODES if all_mode else (self.mode,)
        n_centers = check_int(self.n_centers, "n_centers", minimum=1)
        if "paper" in modes and n_centers > n:
            raise ValueError(
                f"n_centers={n_centers} exceeds the number of samples N={n} (paper mode uses the "
                f"first n_centers rows as centres); pass n_centers <= {n}"
            )
        dtype = _resolve_dtype(self.dtype)
        dev = resolve_device(self.device)
        gen = torch_generator(self.seed, "cpu")

        if not self.zero_patterns:
            f = np.where(f == 0, SOFTPLUS_ZERO_FLOOR, f)
        # exact power-of-two rescaling per column: MI-invariant, no overflow/underflow (see column_exponents)
        ex = column_exponents(f)
        fs = rescale_columns(f, ex, "f_x")
        nzm = fs != 0
        shift = -math.log(2.0) * (nzm @ ex.astype(np.float64))  # log p(z) = log p_scaled(z') + shift_j

        # h(Z|X), closed form per input (original scale)
        hzx = _per_input_conditional_entropy(f, variance)
        k = nzm.sum(1)
        logabs_s = np.log(np.abs(np.where(nzm, fs, 1.0))).sum(1)
        half_log = 0.5 * (_LOG_2PI + math.log(variance))

        errors = {}
        for mm in modes:
            try:
                _check_patterns_covered(f, (mm,), n_centers, n_noise)
            except ValueError as exc:
                if not all_mode:
                    raise
                errors[mm] = str(exc)
        views = tuple(mm for mm in modes if mm not in errors)

        need_full = "dataset" in views or "heldout" in views
        m_sc = n if need_full else n_centers
        prefix = n_centers if ("paper" in views and need_full and n_centers < n) else None
        scorer = _MixtureScorer(fs[:m_sc], variance, dev, dtype, method=self.method)

        # per input and draw (scaled space): log p_hat(z) per view, and the exact own term log q(z | x_j)
        logp = {mm: np.empty((n, n_noise)) for mm in views}
        logq_all = np.empty((n, n_noise))
        # one noisy sample per input for the Gaussian max-entropy bound (only for densities on all of R^d)
        want_gauss = bool(np.all(nzm)) and d <= _GAUSS_BOUND_MAX_DIM
        z_first = np.empty((n, d)) if want_gauss else None
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n * n_noise, desc="dropout MI: scoring noisy samples", unit="pt")
        sigma = math.sqrt(variance)
        try:
            with _blas_threads():
                # inputs scored per scorer call: whole noise blocks, about _BATCH_CHUNKS chunks of rows (full chunks
                # for the scorer's worker threads); the noise is still drawn per block of _NOISE_BLOCK inputs, in order
                per_batch = _NOISE_BLOCK * max(1, (_BATCH_CHUNKS * chunk_size) // (_NOISE_BLOCK * n_noise))
                for s in range(0, n, per_batch):
                    nb = min(per_batch, n - s)
                    eps = np.concatenate(
                        [
                            torch.randn(
                                (min(_NOISE_BLOCK, s + nb - b), n_noise, d), generator=gen, dtype=torch.float64
                            ).numpy()
                            for b in range(s, s + nb, _NOISE_BLOCK)
                        ]
                    )
                    fb = fs[s : s + nb]
                    z = (fb[:, None, :] * (1.0 + sigma * eps)).reshape(nb * n_noise, d)
                    own = np.repeat(np.arange(s, s + nb), n_noise)
                    if z_first is not None:
                        z_first[s : s + nb] = z[::n_noise]
                    # exact log q(z' | x_j) from the standardised noise, over the non-zero units of f(x_j)
                    sq = np.where(nzm[s : s + nb, None, :], eps * eps, 0.0).sum(2)  # (nb, n_noise)
                    logq = -logabs_s[s : s + nb, None] - k[s : s + nb, None] * half_log - 0.5 * sq
                    logq_all[s : s + nb] = logq
                    lq = logq.reshape(-1)
                    # dataset view alone: no exclusion needed (cheaper screen: the own term is the row maximum)
                    excl = None if views == ("dataset",) else np.where(own < m_sc, own, -1)
                    if not views:
                        break
                    if prefix is None:
                        lse = scorer.score(z, excl, chunk_size=chunk_size, bar=bar)
                        lse_p = None
                    else:
                        lse, lse_p = scorer.score(z, excl, chunk_size=chunk_size, bar=bar, prefix=prefix)
                    # the excluded centre's term (exact, from the drawn noise)
                    own_term = np.full_like(lq, -np.inf) if excl is None else np.where(own < m_sc, lq, -np.inf)
                    with np.errstate(divide="ignore"):
                        full = np.logaddexp(lse, own_term)  # all m_sc centres
                        for mm in views:
                            if mm == "dataset":
                                v = full - math.log(n)
                            elif mm == "heldout":
                                v = lse - math.log(n - 1)
                            elif prefix is None:  # paper: its centres are exactly the scorer's
                                v = full - math.log(n_centers)
                            else:
                                v = np.logaddexp(lse_p, np.where(own < n_centers, lq, -np.inf)) - math.log(n_centers)
                            logp[mm][s : s + nb] = v.reshape(nb, n_noise)
        finally:
            if bar is not None:
                bar.close()
        scorer.release_buffers()

        h_gauss = None
        if z_first is not None:
            try:
                with _blas_threads():
                    # on the rescaled sample (no overflow), shifted back: h(2^e Z') = h(Z') + log 2 * sum e
                    h_gauss = gaussian_entropy_upper_bound(z_first) + math.log(2.0) * float(ex.sum())
            except ValueError:
                h_gauss = None
        results = {}
        for mm in views:
            unseen = int(np.count_nonzero(~np.isfinite(logp[mm])))
            if unseen:  # cannot happen after _check_patterns_covered; kept as a guard
                msg = _unseen_message(mm, unseen, n * n_noise, n)
                if not all_mode:
                    raise ValueError(msg)
                errors[mm] = msg
                continue
            m_eff = n_centers if mm == "paper" else (n - 1 if mm == "heldout" else n)
            results[mm] = self._result(
                mm, f, variance, n_noise, m_eff, logp[mm], logq_all, shift, hzx, chunk_size, h_gauss
            )
        if all_mode:
            return MIResults(results, errors)
        return results[self.mode]

    # ------------------------------------------------------------------ assembling a result
    def _result(self, mode, f, variance, n_noise, n_centers, logp_s, logq_s, shift, hzx, chunk_size, h_gauss):
        """``logp_s``, ``logq_s``: (N, n_noise) log-densities in the rescaled space; ``shift`` (N,) maps them back."""
        n, d = f.shape
        sq = math.sqrt(n)

        def mc_se(terms):  # MC standard error of terms.mean() over the noise draws, inputs fixed
            if n_noise < 2:
                return None
            return float(math.sqrt(terms.var(axis=1, ddof=1).sum() / n_noise) / n)

        neg_logp = -(logp_s + shift[:, None])  # (N, n_noise) samples of -log p_hat(Z) (original scale)
        h_z = float(neg_logp.mean())
        h_z_se = float(neg_logp.mean(1).std(ddof=1) / sq)
        h_zx = float(hzx.mean())
        h_zx_se = float(hzx.std(ddof=1) / sq)
        paired_t = logq_s - logp_s  # (N, n_noise) paired terms (shift cancels exactly)
        paired = paired_t.mean(1)
        closed = neg_logp.mean(1) - hzx
        if mode == "paper":
            value, spread, mce = float(closed.mean()), float(closed.std(ddof=1) / sq), mc_se(neg_logp)
        else:
            value, spread, mce = float(paired.mean()), float(paired.std(ddof=1) / sq), mc_se(paired_t)
        details = {
            "variance": variance,
            "n_noise": n_noise,
            "n_centers": n_centers,
            "mc_error_method": "sqrt(sum_j var_t(term_jt) / n_noise) / N over the noise draws t, inputs fixed",
            "input_spread_se": spread,
            "mi_paired": float(paired.mean()),
            "mi_paired_mc_error": mc_se(paired_t),
            "mi_paired_input_spread_se": float(paired.std(ddof=1) / sq),
            "mi_closed_form": float(closed.mean()),
            "mi_closed_form_mc_error": mc_se(neg_logp),
            "mi_closed_form_input_spread_se": float(closed.std(ddof=1) / sq),
            "h_z_mc_error": mc_se(neg_logp),
            "h_z_given_x_mc": float(-(logq_s + shift[:, None]).mean()),
            "log_n": math.log(n),
            "n_zero_patterns": int(len(np.unique(np.packbits(f != 0, axis=1), axis=0))),
            "zero_patterns": bool(self.zero_patterns),
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
            stderr=spread,
            mc_error=mce,
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


def dropout_mi(
    f_x,
    variance: float,
    *,
    n_noise: int = 10,
    mode: str = "dataset",
    n_centers: int = 1000,
    chunk_size: int = 2048,
    device="auto",
    dtype=None,
    seed=0,
    progress: bool = False,
    zero_patterns: bool = True,
):
    """Functional form of :class:`GaussianDropoutMI`: I(X;Z) in nats from noiseless representations ``f_x``.

    ``variance`` = Var(D) = sigma^2 (Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2)). ``mode`` is
    ``"dataset"`` (X uniform on the sample, <= log N), ``"heldout"`` (leave-one-out, population
    estimate biased up), ``"paper"`` (Alg. 1: first ``n_centers`` rows as centres) or ``"all"``
    (:class:`MIResults` of the three, one pass). Returns :class:`DropoutMIResult` (or the MIResults).
    """
    return GaussianDropoutMI(
        variance,
        n_noise=n_noise,
        mode=mode,
        n_centers=n_centers,
        chunk_size=chunk_size,
        device=device,
        dtype=dtype,
        seed=seed,
        progress=progress,
        zero_patterns=zero_patterns,
    ).estimate(f_x)
