"""Deprecated: the chapter drivers of chapters 3-5 moved to :mod:`ipdrop.chapters.planes`, the summaries to
:mod:`ipdrop.analysis` and the figures to :mod:`ipdrop.plotting`. Every old name still works (same object)
and warns with its new location."""

from __future__ import annotations

from ._deprecation import forwarding_module

_PLANES = "ipdrop.chapters.planes"
_ANALYSIS = "ipdrop.analysis"
_PLOTTING = "ipdrop.plotting"
_HOMES = {
    **dict.fromkeys(
        (
            "Study",
            "run_study",
            "mnist_study",
            "cifar10_study",
            "beta_study",
            "GAUSSIAN_ESTIMATORS",
            "INFORMATION_ESTIMATORS",
        ),
        _PLANES,
    ),
    **dict.fromkeys(
        (
            "ip_summary",
            "accuracy_summary",
            "compression_table",
            "final_values",
            "beta_summary",
            "beta_checks",
            "failed_estimates",
            "chapter_pairs",
            "binning_pairs",
        ),
        _ANALYSIS,
    ),
    **dict.fromkeys(
        ("plot_study_planes", "plot_binning_sweep", "plot_beta_planes", "plot_accuracy", "plot_run_planes"), _PLOTTING
    ),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = forwarding_module(__name__, _HOMES)
