"""Deprecated: the numerics of Example 3.4 moved to :mod:`ipdrop.chapters.theory`, the driver of the theory
chapter. Every old name still works (same object) and warns with its new location."""

from __future__ import annotations

from ._deprecation import forwarding_module

_HOMES = dict.fromkeys(
    (
        "EXAMPLE34_LEVEL_MEAN",
        "example34_sample_log_f",
        "example34_partial_sums",
        "running_mean_at",
        "example34_sampled_means",
    ),
    "ipdrop.chapters.theory",
)
__all__ = sorted(_HOMES)
__getattr__, __dir__ = forwarding_module(__name__, _HOMES)
