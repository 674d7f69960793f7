"""Deprecated: the numerics of Example 3.4 moved to :mod:`ipdrop.chapters.theory`, the driver of the theory
chapter. Every old name still works (same object) and warns with its new location.

It forwards every name its replacement exports (its ``__all__``, so the old names are listed only there),
through :func:`ipdrop._deprecation.forwarding_module`.
"""

from __future__ import annotations

from ._deprecation import forwarding_module

__getattr__, __dir__ = forwarding_module(__name__, ("ipdrop.chapters.theory",))
