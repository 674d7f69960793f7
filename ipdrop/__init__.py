"""ipdrop: information-plane analysis for dropout neural networks.

Reference implementation and reproducible paper for Adilova, Geiger & Fischer,
"Information Plane Analysis for Dropout Neural Networks" (ICLR 2023).
All MI values are in nats; ``variance`` means Var(D) = sigma^2 of D ~ N(1, sigma^2).
"""
from ._base import VARIANCE_CONVENTION, MIEstimator, MIResult, resolve_device

__version__ = "0.1.0"

__all__ = ["MIEstimator", "MIResult", "VARIANCE_CONVENTION", "resolve_device", "__version__"]
