"""ipdrop.analysis: the one compression rule on curves with known answers, and its use by every summary."""

import math

import numpy as np
import pandas as pd
import pytest

from ipdrop.analysis import compression, compression_summary, error_column, ip_summary

EPOCHS = np.arange(5)


def test_peak_at_epoch_0_is_not_a_fitting_phase():
    # the untrained network has the largest value; afterwards the curve is flat
    curve = [4.6, 2.0, 2.0, 2.0, 2.0]
    c = compression(EPOCHS, curve)
    assert (c.peak, c.epoch_peak, c.final, c.drop, c.compressed) == (2.0, 1, 2.0, 0.0, False)
    # from_epoch=0 counts epoch 0: a drop of 2.6 nats
    c0 = compression(EPOCHS, curve, from_epoch=0)
    assert (c0.epoch_peak, c0.drop, c0.compressed) == (0, pytest.approx(2.6), True)


def test_peak_mid_run_then_fall():
    c = compression(EPOCHS, [0.5, 3.0, 5.0, 4.0, 3.5])
    assert (c.peak, c.epoch_peak, c.final, c.epoch_final) == (5.0, 2, 3.5, 4)
    assert c.drop == pytest.approx(1.5)
    assert c.threshold == pytest.approx(0.1)  # max(0.1 nats, 2% of 5 = 0.1), no errors, one seed
    assert c.compressed
    # the floor decides: 1.5 nats is not compression when the floor is 2 nats
    assert not compression(EPOCHS, [0.5, 3.0, 5.0, 4.0, 3.5], min_drop=2.0).compressed
    # the relative floor: 40% of the peak is 2 nats
    assert compression(EPOCHS, [0.5, 3.0, 5.0, 4.0, 3.5], rel_drop=0.4).threshold == pytest.approx(2.0)


def test_peak_at_the_end_is_no_compression():
    c = compression(EPOCHS, [0.5, 1.0, 2.0, 3.0, 4.0])
    assert (c.epoch_peak, c.epoch_final, c.drop, c.compressed) == (4, 4, 0.0, False)


def test_monte_carlo_error_enters_the_threshold():
    curve = [0.5, 3.0, 5.0, 4.0, 3.5]
    err = [0.1, 0.1, 0.5, 0.1, 0.6]
    c = compression(EPOCHS, curve, err)
    assert c.mc_error == pytest.approx(math.hypot(0.5, 0.6))  # errors at the peak and at the end
    assert c.threshold == pytest.approx(2 * math.hypot(0.5, 0.6))  # 1.56 > drop 1.5
    assert not c.compressed
    # an unknown error (NaN) at the peak or the end: the term is left out, as for estimators without one
    assert compression(EPOCHS, curve, [np.nan] * 5).threshold == pytest.approx(0.1)


def test_several_seeds_spread_and_mean():
    # seeds peak at 5 and end at 4, 5 and 0 (drops 1, 0, 5): mean 2, spread sqrt(7)
    vals = np.array([[1, 5, 4], [1, 5, 5], [1, 5, 0]], float)
    c = compression([0, 1, 2], vals)
    assert c.n_seeds == 3 and c.drop == pytest.approx(2.0) and c.spread == pytest.approx(math.sqrt(7))
    assert c.threshold == pytest.approx(math.sqrt(7)) and not c.compressed
    # same drop in every seed (only an offset differs): the spread is 0 and the drop counts
    same = np.array([[1, 5, 3], [2, 6, 4], [0, 4, 2]], float)
    c = compression([0, 1, 2], same)
    assert c.spread == pytest.approx(0.0) and c.compressed
    # errors of the mean drop: sqrt(sum of squares) / n_seeds
    c = compression([0, 1, 2], same, np.full(same.shape, 0.3))
    assert c.mc_error == pytest.approx(math.sqrt(3 * 2 * 0.09) / 3)


def test_missing_values_and_nothing_after_from_epoch():
    c = compression(EPOCHS, [0.5, 3.0, 5.0, 4.0, np.nan])  # a failed last estimate is skipped
    assert (c.final, c.epoch_final, c.drop) == (4.0, 3, 1.0)
    assert compression([0], [1.0]) is None  # only the untrained network
    with pytest.raises(ValueError, match="one entry per epoch"):
        compression(EPOCHS, [1.0, 2.0])
    with pytest.raises(ValueError, match="from_epoch"):
        compression(EPOCHS, [1.0] * 5, from_epoch=-1)


def _table(err_name):
    vals, errs = [0.5, 3.0, 5.0, 4.0, 3.5], [0.1, 0.1, 0.5, 0.1, 0.6]
    return pd.DataFrame(
        {
            "epoch": EPOCHS,
            "split": "train",
            "estimator": "m",
            "quantity": "I(X;Z)",
            "value": vals,
            err_name: errs,
            "n": 100,
            "d": 4,
        }
    )


@pytest.mark.parametrize("err_name", ["stderr", "mc_error"])
def test_summaries_use_the_rule_with_either_error_column(err_name):
    df = _table(err_name)
    assert error_column(df) == err_name
    expect = compression(EPOCHS, df["value"], df[err_name])
    s = ip_summary(df).iloc[0]
    assert (s["max"], s["final"], s["threshold"], s["compressed"]) == (
        expect.peak,
        expect.final,
        expect.threshold,
        expect.compressed,
    )
    runs = compression_summary(df.assign(seed=0), by=[], per_run=True).iloc[0]
    assert (runs["max"], runs["last"], runs["threshold"], runs["compressed"]) == (
        expect.peak,
        expect.final,
        expect.threshold,
        expect.compressed,
    )
