"""Closed-form KL terms of information dropout (Achille & Soatto, 2018; paper App. A.1).

Information dropout multiplies the noiseless activation f(x) > 0 by log-normal noise
eps ~ logN(0, alpha(x)^2), so log Z | x ~ N(log f(x), alpha(x)^2) per unit. The regulariser (and, for a factorised
prior p(z), the variational upper bound on I(X;Z)) is E_x KL(p(z|x) || p(z)) summed over units. KL divergence is
invariant under the bijection z -> log z, so each term is a KL between distributions of log z.

Softplus activations, log-normal prior logN(mu, sigma^2) (paper eq. 7)
    KL = log(sigma / alpha) + (alpha^2 + (log f(x) - mu)^2) / (2 sigma^2) - 1/2    per unit,
the KL between N(log f(x), alpha^2) and N(mu, sigma^2) (identical to ``torch.distributions.kl_divergence`` of the
corresponding ``Normal`` or ``LogNormal`` pairs).

*Two forms, one implementation.* ``kl_form="exact"`` (default) is the KL above, with the posterior log-mean
log f(x) (Achille & Soatto's reference code ``KL_div2(log(max(f, 1e-4)), alpha, mu1, sigma1)`` in
github.com/ucla-vision/information-dropout keeps it, and so does the derivation: log Z = log f + log eps has mean
log f). ``kl_form="eq7"`` is the paper's eq. 7 as printed, (alpha^2 + mu^2) / (2 sigma^2) - log(alpha) / sigma - 1/2:
the posterior log-mean is dropped (set to 0), and for sigma != 1 the printed -log(alpha)/sigma is not a KL any more
(it equals the exact KL with log f = 0 only for the paper's sigma = 1). The two differ by
sum_i [(log f_i - mu)^2 - mu^2] / (2 sigma^2) per sample.

*The clamp.* log f is computed from max(f, ``f_floor``), ``f_floor = 1e-4`` by default, exactly as the reference
code does. The floor matters: float32 softplus underflows to exactly 0 below about -104, where log f = -inf, and for
f < 1e-4 the unclamped KL grows like (log f)^2 / 2 (at f = 1e-12: 38 nats per unit instead of 4.2). The
information-dropout layer (:class:`ipdrop.dropout.InformationDropout`, whose ``last_kl`` is the training
regulariser) and :func:`infodropout_kl_softplus` / :func:`infodropout_mi` (the reported I(X;Z)) call the same
function, :func:`kl_softplus_terms`, with the same defaults, so the loss and the reported number agree to round-off
on the same inputs. ``f_floor=0`` switches the clamp off (then f must be > 0).

ReLU activations, improper log-uniform prior plus a point mass q at 0 (paper eqs. 5-6)
    KL = -log alpha - 1/2 log(2 pi e) - log c      for units with f(x) != 0,
    KL = -log q                                    for units with f(x) = 0,
where c is the (improper) constant density of log z under the prior and q the prior weight of z = 0. Both are
free constants of the prior: the value is only defined up to them, which is why the paper calls this expression
"not practical" for the information plane. (The reference code uses -log(alpha / (max_alpha + 0.001)) for every
unit, i.e. it ignores the zero units and absorbs the constant.)

All functions accept numpy arrays or torch tensors (the torch path is differentiable, so the same code can serve
as a training regulariser) of shape ``(N, d)`` or ``(N, ...)``; they return per-sample sums over units, shape
``(N,)``, in the input's array type (numpy float64 for numpy input).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._base import MIResult, check_positive

__all__ = [
    "infodropout_kl_softplus",
    "infodropout_kl_relu",
    "infodropout_mi",
    "kl_softplus_terms",
    "kl_relu_terms",
    "KL_FORMS",
    "F_FLOOR",
]

_HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


def _is_torch(a) -> bool:
    return hasattr(a, "detach") and hasattr(a, "dim")


def _prep(a, name, xp):
    """numpy: float64 array; torch: the tensor itself. 1-D -> (N, 1). Checks finiteness and at least 1 sample."""
    if xp is np:
        a = np.asarray(a)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a numeric array; got dtype {a.dtype}")
        a = a.astype(np.float64, copy=False)
        finite = bool(np.all(np.isfinite(a)))
    else:
        if not _is_torch(a):
            a = xp.as_tensor(np.asarray(a, dtype=np.float64))
        if not a.is_floating_point():
            a = a.double()
        finite = bool(xp.isfinite(a).all())
    if a.ndim == 0:
        raise ValueError(f"{name} must have shape (N, d) or (N, ...); got a scalar")
    if a.ndim == 1:
        a = a[:, None]
    if a.shape[0] < 1:
        raise ValueError(f"{name} needs at least 1 sample; got shape {tuple(a.shape)}")
    if not finite:
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def _namespace(*arrays):
    if any(_is_torch(a) for a in arrays if a is not None):
        import torch

        return torch
    return np


def _check_pair(alpha, f, xp):
    if f is not None and tuple(alpha.shape) != tuple(f.shape):
        raise ValueError(f"alpha and f must have the same shape; got {tuple(alpha.shape)} and {tuple(f.shape)}")
    if not bool((alpha > 0).all()):
        raise ValueError("alpha (std of the log-noise) must be > 0 everywhere")


def _sum_units(a):
    return a.reshape(a.shape[0], -1).sum(1)


KL_FORMS = ("exact", "eq7")
F_FLOOR = 1e-4  # clamp of f before the log, as in Achille & Soatto's reference code


def kl_softplus_terms(
    alpha: Any,
    f: Any,
    *,
    prior_mean: float = 0.0,
    prior_std: float = 1.0,
    kl_form: str = "exact",
    f_floor: float = F_FLOOR,
) -> Any:
    """Per-unit softplus information-dropout KL, unvalidated; numpy arrays or (differentiable) torch tensors.

    The one implementation used by :class:`ipdrop.dropout.InformationDropout` (its ``last_kl``, i.e. the loss)
    and by :func:`infodropout_kl_softplus` (after input validation). ``kl_form="exact"``:
    log(sigma/alpha) + (alpha^2 + (log max(f, f_floor) - mu)^2) / (2 sigma^2) - 1/2;
    ``kl_form="eq7"`` (paper eq. 7 as printed, ``f`` unused and may be ``None``):
    (alpha^2 + mu^2) / (2 sigma^2) - log(alpha) / sigma - 1/2.
    """
    xp = _namespace(alpha, f)
    mu, sigma = float(prior_mean), float(prior_std)
    if kl_form == "eq7":
        return (alpha * alpha + mu * mu) / (2 * sigma * sigma) - xp.log(alpha) / sigma - 0.5
    if kl_form != "exact":
        raise ValueError(f"kl_form must be one of {list(KL_FORMS)}; got {kl_form!r}")
    if f_floor:
        f = np.maximum(f, f_floor) if xp is np else f.clamp(min=f_floor)  # torch: same as the reference
    m = xp.log(f)
    return math.log(sigma) - xp.log(alpha) + (alpha * alpha + (m - mu) ** 2) / (2 * sigma * sigma) - 0.5


def kl_relu_terms(alpha: Any, f: Any, *, log_c: float = 0.0, q: float = 1.0) -> Any:
    """Per-unit ReLU information-dropout KL (paper eqs. 5-6), unvalidated; shared by the layer and
    :func:`infodropout_kl_relu`: -log alpha - 1/2 log(2 pi e) - log c where f != 0, -log q where f == 0."""
    xp = _namespace(alpha, f)
    active = -xp.log(alpha) - _HALF_LOG_2PI_E - float(log_c)
    return xp.where(f != 0, active, xp.zeros_like(active) - math.log(q))


def _check_f_floor(f_floor) -> float:
    if f_floor is None:
        return 0.0
    return check_positive(f_floor, "f_floor", allow_zero=True)


def infodropout_kl_softplus(
    alpha: Any,
    f: Any = None,
    *,
    prior_mean: float = 0.0,
    prior_std: float = 1.0,
    kl_form: str = "exact",
    f_floor: float | None = F_FLOOR,
    include_log_mean: bool | None = None,
) -> Any:
    """Per-sample KL(p(z|x) || logN(prior_mean, prior_std^2)) summed over units (softplus information dropout).

    Parameters
    ----------
    alpha : (N, d) or (N, ...), > 0 — std of the log-noise, log eps ~ N(0, alpha^2).
    f : same shape, >= 0 — noiseless (softplus) activations; the posterior log-mean is log max(f, f_floor).
        Required for ``kl_form="exact"``.
    prior_mean, prior_std : parameters mu, sigma of the log-normal prior on each unit (defaults 0 and 1).
    kl_form : ``"exact"`` (default): the exact KL, including the (log f - mu)^2 term, as in Achille & Soatto's
        code and as the layer's training loss; ``"eq7"``: the paper's eq. 7 as printed (posterior log-mean 0).
    f_floor : f is clamped at this floor before the log (default 1e-4, as in the reference code and the layer);
        0 or ``None`` disables the clamp, and then f must be > 0.
    include_log_mean : deprecated alias (``True`` -> ``"exact"``, ``False`` -> ``"eq7"``).

    Returns
    -------
    (N,) array (numpy float64) or tensor: the per-unit :func:`kl_softplus_terms` summed over units.
    """
    if include_log_mean is not None:
        import warnings

        warnings.warn(
            "include_log_mean is deprecated; use kl_form='exact' (True) or kl_form='eq7' (False)",
            DeprecationWarning,
            stacklevel=2,
        )
        kl_form = "exact" if include_log_mean else "eq7"
    if kl_form not in KL_FORMS:
        raise ValueError(f"kl_form must be one of {list(KL_FORMS)}; got {kl_form!r}")
    xp = _namespace(alpha, f)
    mu = float(prior_mean)
    if not math.isfinite(mu):
        raise ValueError(f"prior_mean must be finite; got {prior_mean!r}")
    sigma = check_positive(prior_std, "prior_std")
    floor = _check_f_floor(f_floor)
    alpha = _prep(alpha, "alpha", xp)
    if f is None and kl_form == "exact":
        raise ValueError("f (noiseless activations) is required for kl_form='exact'")
    if f is not None:
        f = _prep(f, "f", xp)
    _check_pair(alpha, f, xp)
    if f is not None and kl_form == "exact":
        if floor > 0 and not bool((f >= 0).all()):
            raise ValueError(
                "f must be >= 0 (softplus activations; values below f_floor are clamped to it); "
                "use infodropout_kl_relu for ReLU activations"
            )
        if floor == 0 and not bool((f > 0).all()):
            raise ValueError(
                "f must be > 0 for the softplus/log-normal KL without a floor (log f is the posterior "
                "log-mean); set f_floor > 0 or use infodropout_kl_relu for ReLU activations with zeros"
            )
    kl = kl_softplus_terms(alpha, f, prior_mean=mu, prior_std=sigma, kl_form=kl_form, f_floor=floor)
    return _sum_units(kl)


def infodropout_kl_relu(alpha: Any, f: Any, *, c: float = 1.0, q: float = 1.0) -> Any:
    """Per-sample KL(p(z|x) || p(z)) summed over units for ReLU units (paper eqs. 5-6).

    Prior: improper log-uniform part with constant density ``c`` for log z, plus a point mass of weight ``q`` at 0.

    Parameters
    ----------
    alpha : (N, d) or (N, ...), > 0 — std of the log-noise.
    f : same shape, >= 0 — noiseless ReLU activations (exact zeros select eq. 6).
    c : > 0, density constant of the log-uniform part (default 1: the term -log c vanishes).
    q : in (0, 1], prior weight of z = 0 (default 1: zero units contribute 0).

    Returns
    -------
    (N,) array or tensor: sum_i [f_i != 0] (-log alpha_i - 1/2 log(2 pi e) - log c) + [f_i = 0] (-log q).
    The result is defined only up to the arbitrary constants c, q (see module docstring).
    """
    xp = _namespace(alpha, f)
    c = check_positive(c, "c")
    q = check_positive(q, "q")
    if q > 1:
        raise ValueError(f"q is a probability weight and must lie in (0, 1]; got {q!r}")
    alpha = _prep(alpha, "alpha", xp)
    f = _prep(f, "f", xp)
    _check_pair(alpha, f, xp)
    if not bool((f >= 0).all()):
        raise ValueError("f must be >= 0 (ReLU activations); got negative values")
    return _sum_units(kl_relu_terms(alpha, f, log_c=math.log(c), q=q))


def infodropout_mi(alpha: Any, f: Any = None, *, activation: str = "softplus", **kwargs: Any) -> MIResult:
    """I(X;Z) estimate of information dropout: the sample mean of the per-sample KL (App. A.1).

    ``activation="softplus"`` uses :func:`infodropout_kl_softplus` (keyword args ``prior_mean``, ``prior_std``,
    ``kl_form``, ``f_floor``), ``"relu"`` uses :func:`infodropout_kl_relu` (``c``, ``q``). With a factorised prior
    this is the variational *upper bound* E_x KL(p(z|x) || prod_i p(z_i)) >= I(X;Z) for the population X (exact
    when the prior equals the true marginal); ``stderr`` is the standard error of the mean over samples.
    """
    if activation == "softplus":
        per = infodropout_kl_softplus(alpha, f, **kwargs)
        quantity = "I(X;Z) <= E_x KL(p(z|x) || log-normal prior), softplus information dropout"
    elif activation == "relu":
        if f is None:
            raise ValueError("f (noiseless activations) is required for activation='relu'")
        per = infodropout_kl_relu(alpha, f, **kwargs)
        quantity = "E_x KL(p(z|x) || log-uniform + point-mass prior), ReLU information dropout (up to constants c, q)"
    else:
        raise ValueError(f"activation must be 'softplus' or 'relu'; got {activation!r}")
    if _is_torch(per):
        per = per.detach().cpu().double().numpy()
    per = np.asarray(per, dtype=np.float64)
    n = per.shape[0]
    shape = tuple(np.shape(alpha))
    d = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    stderr = float(per.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return MIResult(
        value=float(per.mean()),
        estimator=f"infodropout.{activation}",
        quantity=quantity,
        n=n,
        d=d,
        stderr=stderr,
        details={"activation": activation, **{k: v for k, v in kwargs.items()}},
    )
