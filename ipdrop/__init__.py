"""ipdrop: information-plane analysis for dropout neural networks.

Reference implementation and reproducible paper for Adilova, Geiger & Fischer,
"Information Plane Analysis for Dropout Neural Networks" (ICLR 2023).

Conventions: all MI values are in nats; ``variance`` means Var(D) = sigma^2 of the multiplicative
Gaussian dropout noise D ~ N(1, sigma^2), so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2). Every MI result
states whether it is the MI of X uniform on the sample (<= log N) or an estimate of the population MI.

Layers, from the bottom (a module imports only from layers below it; ``tests/test_structure.py`` checks it):
``_base`` / ``_io`` / ``_rundir`` (shared checks, atomic files, run-folder files) - ``estimators``,
``groundtruth``, ``toy`` (MI estimators and problems with known answers) - ``dropout``, ``data``, ``models`` -
``tracker`` - ``training`` - ``analysis`` (summaries, the one compression rule, sweep loading) - ``runstore``,
``sweep`` (many runs) - ``plotting`` (every figure) - ``chapters`` (one driver per chapter of the book:
``chapters.theory``, ``chapters.estimator``, ``chapters.planes``, ``chapters.sweeps``) - ``cli``.
``studies``, ``aggregate``, ``experiments``, ``figures`` and ``theory`` are deprecated aliases of the new homes.
"""

from . import data, estimators
from ._base import VARIANCE_CONVENTION, MIEstimator, MIResult, resolve_device
from .dropout import BernoulliDropout, GaussianDropout, InformationDropout, mc_dropout
from .estimators import (
    EDGE,
    MINE,
    BinningMI,
    DoE,
    GaussianDropoutMI,
    KNNLabelMI,
    conditional_entropy,
    dropout_mi,
    mixture_logpdf,
)
from .models import build_model
from .plotting import plot_information_plane, plot_planes_grid
from .tracker import InformationPlaneTracker
from .training import TrainConfig, load_results, train

__version__ = "0.1.0"

__all__ = [
    "VARIANCE_CONVENTION",
    "MIEstimator",
    "MIResult",
    "resolve_device",
    "data",
    "estimators",
    "GaussianDropout",
    "InformationDropout",
    "BernoulliDropout",
    "mc_dropout",
    "GaussianDropoutMI",
    "dropout_mi",
    "conditional_entropy",
    "mixture_logpdf",
    "BinningMI",
    "EDGE",
    "KNNLabelMI",
    "DoE",
    "MINE",
    "build_model",
    "TrainConfig",
    "train",
    "load_results",
    "InformationPlaneTracker",
    "plot_information_plane",
    "plot_planes_grid",
    "__version__",
]
