"""Deprecated: the figures of the theory and estimator chapters moved to :mod:`ipdrop.plotting` (Example 3.4,
which also computes its numbers, to :mod:`ipdrop.chapters.theory`). Every old name still works (same object)
and warns with its new location."""

from __future__ import annotations

from ._deprecation import forwarding_module

_HOMES = {
    "example34_figure": "ipdrop.chapters.theory",
    **dict.fromkeys(
        (
            "bernoulli_gaussian_figure",
            "relu_log_figure",
            "toy_conditional_entropy_figure",
            "toy_entropy_figure",
            "toy_mi_figure",
        ),
        "ipdrop.plotting",
    ),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = forwarding_module(__name__, _HOMES)
