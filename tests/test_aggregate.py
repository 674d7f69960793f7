"""Aggregation of a sweep: tidy table, means across seeds, compression, information-plane figures.

The sweep here runs a synthetic target whose "MI" values are closed-form functions of (epoch, variance,
seed), so every mean, std, confidence band and compression number has an exact expected value:

    I(X;Z)(e) = 1 + v * tri(e) + 0.1 * s      tri = 0, 1, 2, 1, 0 for epochs 0..4 (peak at epoch 2)
    I(Y;Z)(e) = v + 0.25 * e + 0.05 * s

over seeds s = 0, 1, 2: mean offset 0.1 * 1, std (ddof=1) 0.1 * 1 for I(X;Z) and 0.05 for I(Y;Z).
Only floating-point rounding separates computed from expected values, hence the 1e-12 tolerances.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipdrop.analysis import compression_summary, load_sweep, mean_planes
from ipdrop.plotting import plot_mean_planes
from ipdrop.sweep import run_sweep

SEEDS = [0, 1, 2]
VARIANCES = [0.2, 0.4]
EPOCHS = range(5)
TRI = [0, 1, 2, 1, 0]
T975_2 = stats.t.ppf(0.975, 2)  # Student t quantile for n = 3 seeds


def ixz(e, v, s):
    return 1 + v * TRI[e] + 0.1 * s


def iyz(e, v, s):
    return v + 0.25 * e + 0.05 * s


def synthetic_target(params, out_dir):
    """Writes a results.csv in the training's tidy format with closed-form values."""
    v, s = params["variance"], params["seed"]
    rows = []
    for e in EPOCHS:
        for split, shift in (("train", 0.0), ("test", 0.5)):
            rows += [
                dict(epoch=e, split=split, estimator="binning-30", quantity="I(X;Z)", value=ixz(e, v, s) + shift),
                dict(epoch=e, split=split, estimator="binning-30", quantity="I(Y;Z)", value=iyz(e, v, s) + shift),
                dict(epoch=e, split=split, estimator="knn", quantity="I(Y;Z)", value=iyz(e, v, s) + 0.01),
                dict(epoch=e, split=split, estimator="eval", quantity="loss", value=2.0 / (e + 1)),
            ]
    df = pd.DataFrame(rows)
    df["stderr"], df["n"], df["d"] = np.nan, 100, 8
    df.to_csv(Path(out_dir) / "results.csv", index=False)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("agg") / "sweep"
    rep = run_sweep(
        synthetic_target,
        {"seed": SEEDS, "variance": VARIANCES},
        root,
        executor="serial",
        base_params={"epochs": 4},
        progress=False,
    )
    assert rep.ok
    # an unfinished run (no run.json) must be left out of the table
    junk = root / "seed=9,variance=0.2"
    junk.mkdir()
    synthetic_target({"seed": 9, "variance": 0.2}, junk)
    with pytest.warns(UserWarning, match="1 run folder"):
        df = load_sweep(root)
    return root, df


def test_load_sweep_tidy_table(table):
    root, df = table
    assert list(df.columns) == [
        "run",
        "seed",
        "variance",
        "epoch",
        "split",
        "estimator",
        "quantity",
        "value",
        "stderr",
        "n",
        "d",
    ]
    assert df.attrs["params"] == ["seed", "variance"]
    assert len(df) == len(SEEDS) * len(VARIANCES) * len(EPOCHS) * 2 * 4
    assert 9 not in set(df["seed"])
    row = df[
        (df.seed == 2) & (df.variance == 0.4) & (df.epoch == 2) & (df.split == "train") & (df.quantity == "I(X;Z)")
    ]
    assert row["value"].item() == pytest.approx(ixz(2, 0.4, 2), abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wide = load_sweep(root, include_base=True)
    assert (wide["epochs"] == 4).all()
    with pytest.raises(ValueError, match="does not exist"):
        load_sweep(root / "nope")


def test_mean_planes_match_closed_form(table):
    _, df = table
    m = mean_planes(df)
    assert {"variance", "split", "estimator", "quantity", "epoch", "mean", "std", "n", "ci"} <= set(m.columns)
    assert "seed" not in m.columns and (m["n"] == 3).all()
    sel = m[(m.split == "train") & (m.estimator == "binning-30")]
    for v in VARIANCES:
        for e in EPOCHS:
            x = sel[(sel.variance == v) & (sel.epoch == e) & (sel.quantity == "I(X;Z)")].iloc[0]
            assert x["mean"] == pytest.approx(1 + v * TRI[e] + 0.1, abs=1e-12)
            assert x["std"] == pytest.approx(0.1, abs=1e-12)
            assert x["ci"] == pytest.approx(T975_2 * 0.1 / np.sqrt(3), abs=1e-12)
            assert x["ci_high"] - x["ci_low"] == pytest.approx(2 * x["ci"], abs=1e-12)
            y = sel[(sel.variance == v) & (sel.epoch == e) & (sel.quantity == "I(Y;Z)")].iloc[0]
            assert y["mean"] == pytest.approx(v + 0.25 * e + 0.05, abs=1e-12)
            assert y["std"] == pytest.approx(0.05, abs=1e-12)
    # averaging over variance instead of seed
    by_seed = mean_planes(df, by=["seed"], over="variance")
    r = by_seed[
        (by_seed.seed == 1) & (by_seed.epoch == 2) & (by_seed.split == "train") & (by_seed.quantity == "I(X;Z)")
    ].iloc[0]
    assert r["mean"] == pytest.approx(1 + 0.3 * 2 + 0.1, abs=1e-12) and r["n"] == 2
    with pytest.raises(ValueError, match="beta"):
        mean_planes(df, by=["beta"])
    with pytest.raises(ValueError, match="level"):
        mean_planes(df, level=95)


def test_compression_summary(table):
    _, df = table
    runs = compression_summary(df, per_run=True)
    one = runs[(runs.split == "train") & (runs.estimator == "binning-30")]
    assert len(one) == len(SEEDS) * len(VARIANCES)
    for _, r in one.iterrows():
        v, s = r["variance"], r["seed"]
        assert r["epoch_max"] == 2 and r["epoch_last"] == 4
        assert r["drop"] == pytest.approx(2 * v, abs=1e-12)  # max - last = v * (2 - 0)
        assert r["rel_drop"] == pytest.approx(2 * v / (1 + 2 * v + 0.1 * s), abs=1e-12)
        # the one rule, one seed, no Monte-Carlo errors: threshold = max(0.1, 2% of the peak)
        assert r["threshold"] == pytest.approx(max(0.1, 0.02 * (1 + 2 * v + 0.1 * s)), abs=1e-12)
        assert bool(r["compressed"])
    summ = compression_summary(df)
    summ = summ[(summ.split == "train") & (summ.estimator == "binning-30")].set_index("variance")
    for v in VARIANCES:
        assert summ.loc[v, "n_runs"] == 3
        assert summ.loc[v, "drop_mean"] == pytest.approx(2 * v, abs=1e-12)
        assert summ.loc[v, "drop_std"] == pytest.approx(0.0, abs=1e-12)
        rel = [2 * v / (1 + 2 * v + 0.1 * s) for s in SEEDS]
        assert summ.loc[v, "rel_drop_mean"] == pytest.approx(np.mean(rel), abs=1e-12)
        assert summ.loc[v, "rel_drop_std"] == pytest.approx(np.std(rel, ddof=1), abs=1e-12)
        # across the seeds: same drop in every seed (spread 0), mean peak 1 + 2v + 0.1
        assert summ.loc[v, "spread"] == pytest.approx(0.0, abs=1e-12)
        assert summ.loc[v, "threshold"] == pytest.approx(max(0.1, 0.02 * (1 + 2 * v + 0.1)), abs=1e-12)
        assert bool(summ.loc[v, "compressed"])
    with pytest.raises(ValueError, match="no I\\(X;Z\\) rows"):
        compression_summary(df[df.quantity != "I(X;Z)"])


def test_plot_mean_planes_one_panel_per_variance(table):
    import matplotlib.pyplot as plt

    _, df = table
    fig = plot_mean_planes(df, by="variance", y_estimator="binning-30")
    panels, cbar = fig.axes[:2], fig.axes[2]
    assert len(fig.axes) == 3 and cbar.get_ylabel() == "epoch"
    assert [a.get_title() for a in panels] == ["variance = 0.2", "variance = 0.4"]
    assert all(a.get_xlabel() == "I(X;Z) [nats]" for a in panels)  # no x_estimator given: none named
    assert panels[0].get_ylabel() == "I(Y;Z) [nats], binning, 30 bins"  # the estimator named on the axis
    assert all(float(t).is_integer() for t in cbar.get_yticks())  # integer epochs only
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[1])
    assert panels[0].get_shared_y_axes().joined(panels[0], panels[1])
    assert all(a.get_legend() is not None for a in panels)
    for ax, v in zip(panels, VARIANCES):
        pts = ax.collections[-1].get_offsets()  # scatter of the means, epoch order
        np.testing.assert_allclose(pts[:, 0], [1 + v * t + 0.1 for t in TRI], atol=1e-12)
        np.testing.assert_allclose(pts[:, 1], [v + 0.25 * e + 0.05 for e in EPOCHS], atol=1e-12)
        bars = ax.containers  # one error bar per epoch, both directions
        assert len(bars) == len(EPOCHS)
        xseg, yseg = bars[0].lines[2][0].get_segments()[0], bars[0].lines[2][1].get_segments()[0]
        ci = lambda sd: T975_2 * sd / np.sqrt(3)  # noqa: E731
        assert (xseg[1, 0] - xseg[0, 0]) / 2 == pytest.approx(ci(0.1), abs=1e-12)
        assert (yseg[1, 1] - yseg[0, 1]) / 2 == pytest.approx(ci(0.05), abs=1e-12)
    plt.close(fig)
    fig = plot_mean_planes(df, y_estimator="knn", split="test", band="std")  # one panel, ± 1 std
    ax = fig.axes[0]
    xseg = ax.containers[0].lines[2][0].get_segments()[0]
    assert (xseg[1, 0] - xseg[0, 0]) / 2 == pytest.approx(0.1, abs=1e-12)
    assert len(ax.collections) >= 2  # a line per variance in the same panel
    plt.close(fig)


def test_plot_mean_planes_bad_input(table):
    _, df = table
    with pytest.raises(ValueError, match="y_estimator"):
        plot_mean_planes(df, by="variance")  # two estimators give I(Y;Z)
    with pytest.raises(ValueError, match="beta"):
        plot_mean_planes(df, by="beta", y_estimator="knn")
    with pytest.raises(ValueError, match="split"):
        plot_mean_planes(df, split="val", y_estimator="knn")
    with pytest.raises(ValueError, match="band"):
        plot_mean_planes(df, band="sem", y_estimator="knn")


def test_cli_aggregate_writes_tables(tmp_path):
    from ipdrop import sweep

    root = tmp_path / "s"
    argv = [
        f"{__name__}:synthetic_target",
        "--grid",
        "seed=0..2",
        "variance=0.2",
        "--out",
        str(root),
        "--executor",
        "serial",
        "--no-progress",
        "--aggregate",
    ]
    assert sweep.main(argv) == 0
    comp = pd.read_csv(root / "compression.csv")
    row = comp[(comp.split == "train") & (comp.estimator == "binning-30")].iloc[0]
    assert row["drop_mean"] == pytest.approx(0.4, abs=1e-12)
    assert len(pd.read_csv(root / "sweep_results.csv")) == 3 * len(EPOCHS) * 2 * 4
    assert json.loads((root / "sweep.json").read_text())["grid_keys"] == ["seed", "variance"]


def test_compression_verdict_against_hand_computed_values():
    from ipdrop.analysis import compression_verdict

    # three seeds. A: every seed peaks at 5 and ends at 3 (drop 2, no spread: compressed); B: keeps rising
    # (drop 0); C: the seeds disagree (drops 1, 0, 5: mean 2, spread sqrt(7) = 2.65 > 2: not compressed)
    curves = {
        "A": [(1.0, 5.0, 3.0)] * 3,
        "B": [(1.0, 2.0, 3.0)] * 3,
        "C": [(1.0, 5.0, 4.0), (1.0, 5.0, 5.0), (1.0, 5.0, 0.0)],
    }
    rows = []
    for setting, per_seed in curves.items():
        for seed, (curve, off) in enumerate(zip(per_seed, [-0.1, 0.0, 0.1])):
            rows += [
                dict(
                    setting=setting,
                    seed=seed,
                    epoch=epoch,
                    split="train",
                    estimator="m",
                    quantity="I(X;Z)",
                    value=v + off,
                )
                for epoch, v in enumerate(curve)
            ]
    df = pd.DataFrame(rows)
    v = compression_verdict(df, "m", by=["setting"]).set_index("setting")
    assert v.loc["A", "drop_mean"] == pytest.approx(2.0) and v.loc["B", "drop_mean"] == pytest.approx(0.0)
    assert v.loc["A", "seed_noise"] == pytest.approx(0.0)  # a constant seed offset does not change the drop
    assert v.loc["C", "drop_mean"] == pytest.approx(2.0) and v.loc["C", "seed_noise"] == pytest.approx(7**0.5)
    assert v.loc["C", "threshold"] == pytest.approx(7**0.5)
    assert v["distinguishable"].to_dict() == {"A": True, "B": False, "C": False}
    with pytest.raises(ValueError, match="estimator"):
        compression_verdict(df, "nope", by=["setting"])
