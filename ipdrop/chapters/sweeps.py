"""Chapter 6 (``notebooks/06_sweeps.md``): many seeds of one setting, mean information planes, and the
compression verdict across seeds.

* :func:`run_sweep` (from :mod:`ipdrop.sweep`) trains one run per grid point, each in its own folder;
* :func:`load_sweep` stacks their results into one tidy table with the swept parameters as columns;
* :func:`mean_planes` / :func:`plot_mean_planes` average each epoch across seeds (Student-t bands);
* :func:`compression_summary` / :func:`compression_verdict` apply the one compression rule
  (:func:`ipdrop.analysis.compression`) per run and across the seeds of a setting.
"""

from __future__ import annotations

from ..analysis import (
    COMPRESSION_DEFAULTS,
    compression,
    compression_summary,
    compression_verdict,
    load_sweep,
    mean_planes,
    param_columns,
)
from ..plotting import plot_mean_planes
from ..sweep import expand_grid, parse_grid, run_sweep

__all__ = [
    "run_sweep",
    "parse_grid",
    "expand_grid",
    "load_sweep",
    "param_columns",
    "mean_planes",
    "plot_mean_planes",
    "COMPRESSION_DEFAULTS",
    "compression",
    "compression_summary",
    "compression_verdict",
]
