"""One driver module per chapter of the book: everything a chapter computes, summarises and draws.

=====================  ===============================  ==========================================
chapter (notebook)     driver                           what it holds
=====================  ===============================  ==========================================
00_claims.md           :mod:`ipdrop.chapters.claims`    each claim of the paper, its status
01_theory.md           :mod:`ipdrop.chapters.theory`    Sec. 3: Thm 3.1-3.3, Example 3.4, Prop. 3.5
02_estimator.md        :mod:`ipdrop.chapters.estimator` Sec. 4: the toy problem with exact answers
03-05 (MNIST, CIFAR,   :mod:`ipdrop.chapters.planes`    Sec. 5: studies of trained networks,
beta)                                                   summaries, the compression verdict, and the
                                                        results store (from :mod:`.paper`)
06_sweeps.md           :mod:`ipdrop.chapters.sweeps`    many seeds: sweep, mean planes, compression
07_reliability.md      :mod:`ipdrop.chapters.           beyond the paper: the three views and
                       reliability`                     binning vs N, truth on the toy, N-drift vs epochs
=====================  ===============================  ==========================================

A chapter notebook imports its driver only (``from ipdrop.chapters import planes``, plus :class:`GlueText`).
:mod:`ipdrop.chapters.paper` reads the results store; the drivers ``planes`` and ``claims`` re-export what
their chapters use of it. The drivers call the library below them: :mod:`ipdrop.analysis` (summaries and the one
compression rule), :mod:`ipdrop.plotting` (every figure), :mod:`ipdrop.training` / :mod:`ipdrop.sweep` (runs)
and the estimators.
The submodules are imported on first use, so ``import ipdrop.chapters`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["claims", "theory", "estimator", "planes", "sweeps", "paper", "reliability", "GlueText"]


class GlueText(str):
    """A string that ``myst_nb.glue`` shows without quotes in ``{glue:text}`` (its plain-text repr is itself):
    ``glue("key", GlueText("above in 2 dimensions"), display=False)``."""

    def __repr__(self) -> str:
        return str(self)

    @classmethod
    def listing(cls, values, fmt: str = "{:g}", last: str = "and") -> GlueText:
        """The values as prose: ``GlueText.listing([10, 30, 100]) == "10, 30 and 100"``."""
        items = [fmt.format(v) for v in values]
        if not items:
            raise ValueError("GlueText.listing(): no values")
        return cls(items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}")


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "GlueText":
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
