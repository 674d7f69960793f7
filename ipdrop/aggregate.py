"""Deprecated: sweep loading, means across seeds and the compression summary moved to :mod:`ipdrop.analysis`,
the mean-plane figure to :mod:`ipdrop.plotting` (chapter 6 uses :mod:`ipdrop.chapters.sweeps`). Every old
name still works (same object) and warns with its new location.

It forwards every name its replacement exports (its ``__all__``, so the old names are listed only there),
through :func:`ipdrop._deprecation.forwarding_module`.
"""

from __future__ import annotations

from ._deprecation import forwarding_module

__getattr__, __dir__ = forwarding_module(__name__, ("ipdrop.chapters.sweeps",))
