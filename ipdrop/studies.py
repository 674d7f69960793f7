"""Deprecated: the chapter drivers of chapters 3-5 moved to :mod:`ipdrop.chapters.planes`, the summaries to
:mod:`ipdrop.analysis` and the figures to :mod:`ipdrop.plotting`. Every old name still works (same object)
and warns with its new location.

It forwards every name its replacement exports (its ``__all__``, so the old names are listed only there),
through :func:`ipdrop._deprecation.forwarding_module`.
"""

from __future__ import annotations

from ._deprecation import forwarding_module

__getattr__, __dir__ = forwarding_module(__name__, ("ipdrop.chapters.planes",))
