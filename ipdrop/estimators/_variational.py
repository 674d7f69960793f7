"""Variational lower bound on I(Y;Z) from a classifier's cross-entropy loss.

For any decoder q(y|z) (a classifier reading the representation Z),

    I(Y;Z) = H(Y) - H(Y|Z) >= H(Y) - E[-log q(Y|Z)] = H(Y) - CE,

because the cross-entropy CE upper-bounds the conditional entropy H(Y|Z) (Barber & Agakov 2003; used by
Achille & Soatto 2018 and by the paper for information-dropout networks). H(Y) is the empirical label entropy
(or the entropy of given class probabilities), everything in nats. With labels and CE measured on the same sample
(Y uniform on that sample) the bound holds for that empirical distribution; as an estimate of the population
quantity, CE on held-out data is the honest choice (training CE can be optimistically small).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._base import MIEstimator, MIResult, as_labels, check_consistent_length

__all__ = ["VariationalIYZ", "label_entropy", "variational_iyz", "variational_iyz_from_logits"]


def _entropy_of_probs(p: Any, name: str = "class_probs") -> float:
    if hasattr(p, "detach"):
        p = p.detach().cpu().numpy()
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D vector of class probabilities; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    if abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"{name} must sum to 1; sums to {p.sum()!r}")
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def _labels_checked(labels: Any, n: int | None = None) -> np.ndarray:
    y = as_labels(labels, "labels", n=n)
    if y.size < 1:
        raise ValueError("labels must contain at least 1 sample")
    if np.any(y < 0):
        raise ValueError(f"labels must be >= 0; got {int(y.min())}")
    return y


def label_entropy(labels: Any = None, class_probs: Any = None) -> float:
    """H(Y) in nats of the empirical label distribution (``labels``) or of ``class_probs`` (exactly one given)."""
    if (labels is None) == (class_probs is None):
        raise ValueError("give exactly one of labels or class_probs")
    if class_probs is not None:
        return _entropy_of_probs(class_probs)
    y = _labels_checked(labels)
    counts = np.bincount(y)
    return _entropy_of_probs(counts[counts > 0] / y.size, "label frequencies")


def variational_iyz(cross_entropy: Any, labels: Any = None, class_probs: Any = None) -> MIResult:
    """Lower bound I(Y;Z) >= H(Y) - CE.

    Parameters
    ----------
    cross_entropy : mean cross-entropy in nats (scalar), or per-sample losses ``(N,)`` (then ``stderr`` is the
        standard error of their mean). Must be finite and >= 0.
    labels : integer class labels; H(Y) is their empirical entropy. Must match the length of per-sample losses.
    class_probs : alternatively, the class probabilities P(Y = k) (sum to 1).

    Returns
    -------
    MIResult with ``value = H(Y) - CE`` (may be negative for a classifier worse than the prior) and
    ``details = {"h_y", "cross_entropy"}``.
    """
    if (labels is None) == (class_probs is None):
        raise ValueError("give exactly one of labels or class_probs")
    if hasattr(cross_entropy, "detach"):
        cross_entropy = cross_entropy.detach().cpu().numpy()
    ce = np.asarray(cross_entropy, dtype=np.float64)
    if ce.ndim > 1:
        raise ValueError(f"cross_entropy must be a scalar or per-sample losses (N,); got shape {ce.shape}")
    if ce.size < 1:
        raise ValueError("cross_entropy is empty")
    if not np.all(np.isfinite(ce)):
        raise ValueError("cross_entropy contains non-finite values (NaN or inf)")
    if np.any(ce < 0):
        raise ValueError("cross_entropy must be >= 0 (it is a mean negative log-probability of discrete labels)")
    if labels is not None:
        y = _labels_checked(labels)
        if ce.ndim == 1:
            check_consistent_length(ce, y, names=["cross_entropy", "labels"])
        h_y = label_entropy(labels=y)
        n = int(y.size)
    else:
        h_y = _entropy_of_probs(class_probs)
        n = int(ce.size) if ce.ndim == 1 else 0
    mean_ce = float(ce.mean())
    stderr = float(ce.std(ddof=1) / math.sqrt(ce.size)) if ce.ndim == 1 and ce.size > 1 else None
    return MIResult(
        value=h_y - mean_ce,
        estimator="variational",
        quantity="I(Y;Z) >= H(Y) - cross-entropy (variational lower bound)",
        n=n,
        stderr=stderr,
        details={"h_y": h_y, "cross_entropy": mean_ce},
    )


def variational_iyz_from_logits(logits: Any, labels: Any) -> MIResult:
    """Lower bound I(Y;Z) >= H(Y) - CE with CE computed from classifier ``logits`` ``(N, K)`` and integer
    ``labels`` ``(N,)`` in ``[0, K)``; H(Y) is the empirical label entropy. Log-probabilities work as logits too.
    """
    from scipy.special import logsumexp

    if hasattr(logits, "detach"):
        logits = logits.detach().cpu().numpy()
    z = np.asarray(logits)
    if z.dtype == object or z.dtype.kind not in "biuf":
        raise ValueError(f"logits must be numeric; got dtype {z.dtype}")
    z = z.astype(np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (N, K) with K >= 2 classes; got {z.shape}")
    if z.shape[0] < 1:
        raise ValueError("logits must contain at least 1 sample")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain non-finite values (NaN or inf)")
    y = _labels_checked(labels)
    check_consistent_length(z, y, names=["logits", "labels"])
    if np.any(y >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1]}) for {z.shape[1]} logit columns; got {int(y.max())}")
    ce = logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    ce = np.maximum(ce, 0.0)  # exact value is >= 0; remove -1e-16 round-off
    res = variational_iyz(ce, labels=y)
    return MIResult(
        value=res.value,
        estimator=res.estimator,
        quantity=res.quantity,
        n=res.n,
        d=int(z.shape[1]),
        stderr=res.stderr,
        details=dict(res.details),
    )


class VariationalIYZ(MIEstimator):
    """Estimator-interface form of :func:`variational_iyz_from_logits`: I(Y;Z) >= H(Y) - CE.

    ``estimate(x, y)`` takes a classifier's ``logits`` (or log-probabilities) ``(N, K)`` read from the
    representation Z as ``x`` and integer labels ``(N,)`` in ``[0, K)`` as ``y`` (required). Deterministic: no
    parameters, no randomness. Use held-out logits for an estimate of the population quantity.
    """

    name = "variational"

    def __init__(self) -> None:
        pass

    def estimate(self, x: Any, y: Any = None) -> MIResult:
        """I(Y;Z) lower bound in nats from logits ``x`` ``(N, K)`` and labels ``y`` ``(N,)``."""
        if y is None:
            raise ValueError(
                "VariationalIYZ.estimate(x, y) needs y: the integer class labels (x are the "
                "classifier's logits); got y=None"
            )
        return variational_iyz_from_logits(x, y)
