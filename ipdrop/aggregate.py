"""Deprecated: sweep loading, means across seeds and the compression summary moved to :mod:`ipdrop.analysis`,
the mean-plane figure to :mod:`ipdrop.plotting` (chapter 6 uses :mod:`ipdrop.chapters.sweeps`). Every old
name still works (same object) and warns with its new location."""

from __future__ import annotations

from ._deprecation import forwarding_module

_HOMES = {
    **dict.fromkeys(
        ("load_sweep", "mean_planes", "compression_summary", "compression_verdict", "param_columns"), "ipdrop.analysis"
    ),
    "plot_mean_planes": "ipdrop.plotting",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = forwarding_module(__name__, _HOMES)
