"""The public API is what __all__ says, and every estimator shares one interface."""

import numpy as np
import pytest

import ipdrop
from ipdrop import estimators


def test_public_names_resolve():
    for name in ipdrop.__all__:
        assert hasattr(ipdrop, name), name
    for name in estimators.__all__:
        assert hasattr(estimators, name), name


@pytest.mark.parametrize(
    "cls,kw,needs_y",
    [
        (estimators.BinningMI, dict(n_bins=10), False),  # I(X;Z) = H(Z binned): y unused
        (estimators.EDGE, dict(seed=0), True),
        (estimators.KNNLabelMI, dict(), True),
        (estimators.GaussianDropoutMI, dict(variance=0.2, seed=0), False),  # I(X;Z) from f(X) alone
    ],
)
def test_estimators_share_the_interface(cls, kw, needs_y):
    est = cls(**kw)
    assert isinstance(est, ipdrop.MIEstimator)
    params = est.get_params()
    for k, v in kw.items():
        assert params[k] == v  # __init__ stores its arguments unchanged
    rng = np.random.default_rng(0)
    z = np.abs(rng.standard_normal((200, 3))) + 0.1
    y = rng.integers(0, 2, 200)
    res = est.estimate(z, y if needs_y else None)
    assert isinstance(res, ipdrop.MIResult) and np.isfinite(res.value) and res.n == 200
    assert res.quantity  # every number says what it is
