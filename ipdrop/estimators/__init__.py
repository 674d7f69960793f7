"""Mutual-information estimators. All return :class:`ipdrop.MIResult` in nats.

Each group in ``__all__`` is owned by one module; keep exports explicit.
"""

from .._base import MIEstimator, MIResult, TrainingDivergedError
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
from ._doe import DoE, doe_mi
from ._dropout_mi import DropoutMIResult, GaussianDropoutMI, conditional_entropy, dropout_mi
from ._edge import EDGE, edge_mi
from ._infodropout import infodropout_kl_relu, infodropout_kl_softplus, infodropout_mi
from ._knn import KSGMI, KNNLabelMI, knn_mi_labels, ksg_mi
from ._mine import MINE, mine_mi
from ._mixture import (
    EntropyBounds,
    free_work_buffers,
    gaussian_entropy_upper_bound,
    kolchinsky_tracey_bounds,
    mixture_entropy_bounds,
    mixture_logpdf,
)
from ._variational import VariationalIYZ, label_entropy, variational_iyz, variational_iyz_from_logits

__all__ = [
    "MIEstimator",
    "MIResult",
    "TrainingDivergedError",
    # gaussian-dropout mixture estimator
    "DropoutMIResult",
    "GaussianDropoutMI",
    "conditional_entropy",
    "dropout_mi",
    "EntropyBounds",
    "gaussian_entropy_upper_bound",
    "kolchinsky_tracey_bounds",
    "mixture_entropy_bounds",
    "mixture_logpdf",
    "free_work_buffers",
    # binning (also as the paper's code runs it), EDGE, kNN
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
    # DoE, MINE, variational bound, information-dropout closed forms
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
