"""Mutual-information estimators. All return :class:`ipdrop.MIResult` in nats.

Each block below is owned by one module; keep exports explicit.
"""
from .._base import MIEstimator, MIResult

__all__ = ["MIEstimator", "MIResult"]

# --- gaussian-dropout mixture estimator (issue 3) ---
# --- binning, EDGE, kNN (issue 4a) ---
# --- DoE, MINE, variational bound, information-dropout closed forms (issue 4b) ---
