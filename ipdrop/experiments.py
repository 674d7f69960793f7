"""Deprecated: the experiment drivers moved to their chapters, :mod:`ipdrop.chapters.theory` (Sec. 3) and
:mod:`ipdrop.chapters.estimator` (Sec. 4). Every old name still works (same object) and warns with its new
location.

It forwards every name its replacement modules export (the union of their ``__all__``, so the old names
are listed only there), through :func:`ipdrop._deprecation.forwarding_module`.
"""

from __future__ import annotations

from ._deprecation import forwarding_module

__getattr__, __dir__ = forwarding_module(__name__, ("ipdrop.chapters.theory", "ipdrop.chapters.estimator"))
