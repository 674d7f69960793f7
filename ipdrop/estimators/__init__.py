"""Mutual-information estimators. All return :class:`ipdrop.MIResult` in nats.

Each block below is owned by one module; keep exports explicit.
"""

from .._base import MIEstimator, MIResult

__all__ = ["MIEstimator", "MIResult"]

# --- gaussian-dropout mixture estimator (issue 3) ---
from ._dropout_mi import (  # noqa: E402
    DropoutMIResult,
    GaussianDropoutMI,
    conditional_entropy,
    dropout_mi,
)
from ._mixture import (  # noqa: E402
    EntropyBounds,
    gaussian_entropy_upper_bound,
    kolchinsky_tracey_bounds,
    mixture_entropy_bounds,
    mixture_logpdf,
)

__all__ += [
    "DropoutMIResult",
    "GaussianDropoutMI",
    "conditional_entropy",
    "dropout_mi",
    "EntropyBounds",
    "gaussian_entropy_upper_bound",
    "kolchinsky_tracey_bounds",
    "mixture_entropy_bounds",
    "mixture_logpdf",
]
# --- binning (also as the paper's code runs it), EDGE, kNN ---
from ._binning import (
    BinningLabelMI,
    BinningMI,
    BinningRefMI,
    HistogramMI,
    binning_mi_xy,
    binning_mi_xz,
    binning_mi_yz,
    binning_ref_mi_xz,
    binning_ref_mi_yz,
    reference_noisy,
)
from ._edge import EDGE, edge_mi
from ._knn import KNNLabelMI, KSGMI, knn_mi_labels, ksg_mi

__all__ += [
    "BinningMI",
    "BinningLabelMI",
    "BinningRefMI",
    "HistogramMI",
    "binning_mi_xz",
    "binning_mi_yz",
    "binning_mi_xy",
    "binning_ref_mi_xz",
    "binning_ref_mi_yz",
    "reference_noisy",
    "EDGE",
    "edge_mi",
    "KNNLabelMI",
    "KSGMI",
    "knn_mi_labels",
    "ksg_mi",
]
# --- DoE, MINE, variational bound, information-dropout closed forms (issue 4b) ---
from .._base import TrainingDivergedError  # noqa: E402
from ._doe import DoE, doe_mi
from ._infodropout import infodropout_kl_relu, infodropout_kl_softplus, infodropout_mi
from ._mine import MINE, mine_mi
from ._variational import VariationalIYZ, label_entropy, variational_iyz, variational_iyz_from_logits

__all__ += [
    "TrainingDivergedError",
    "DoE",
    "doe_mi",
    "MINE",
    "mine_mi",
    "VariationalIYZ",
    "label_entropy",
    "variational_iyz",
    "variational_iyz_from_logits",
    "infodropout_kl_softplus",
    "infodropout_kl_relu",
    "infodropout_mi",
]
