"""Deprecated: the experiment drivers moved to their chapters, :mod:`ipdrop.chapters.theory` (Sec. 3) and
:mod:`ipdrop.chapters.estimator` (Sec. 4). Every old name still works (same object) and warns with its new
location."""

from __future__ import annotations

from ._deprecation import forwarding_module

_HOMES = {
    **dict.fromkeys(
        (
            "RandomNetwork",
            "random_network",
            "bernoulli_masks",
            "bernoulli_binning_mi",
            "bernoulli_vs_gaussian",
            "relu_log_activation",
        ),
        "ipdrop.chapters.theory",
    ),
    **dict.fromkeys(("toy_conditional_entropy", "toy_entropy_vs_dim", "toy_mi_vs_dim"), "ipdrop.chapters.estimator"),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = forwarding_module(__name__, _HOMES)
