"""Chapter 7 driver (ipdrop.chapters.reliability): toy views against the exact MI, the stored reliability table,
the verdict rule."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ipdrop import runstore, toy
from ipdrop.chapters import reliability as rel
from ipdrop.tracker import SplitData

torch.set_num_threads(1)


def test_toy_views_match_exact_at_low_dimension():
    # d = 1, 2 with Var(D) = 0.2: I(X;Z) = 1.46 / 2.92 nats << log N = 6.9, where all three views are accurate.
    # Observed over 4 seeds at N = 1000: |ratio - 1| <= 0.032 (input sampling ~2% plus the dataset view's
    # small downward bias at d = 2); 5% leaves room for that spread and fails for any view off by a real bias
    # (at d = 32 the views are off by factors 5-10, see the chapter).
    df = rel.toy_views_vs_n(dims=(1, 2), variances=(0.2,), sizes=(300, 1000), n_noise=10, seed=0)
    assert set(df["view"]) == set(rel.VIEWS)
    assert len(df) == 2 * 2 * 3
    for d in (1, 2):
        assert np.allclose(df.loc[df["dim"] == d, "exact"], toy.exact_mi(d, 0.2))
    big = df[df["n"] == 1000]
    assert (big["ratio"] - 1).abs().max() < 0.05, big
    assert (big["mc_error"] > 0).all() and (big["mc_error"] < 0.05).all()
    # Alg. 1 with N <= n_centers uses every input as a centre: it is the dataset view up to MC noise
    small = df[df["n"] == 300].set_index(["dim", "view"])["estimate"]
    for d in (1, 2):
        assert abs(small[(d, "paper")] - small[(d, "dataset")]) < 0.05
    wide = rel.toy_ratio_table(df)
    assert list(wide.columns) == ["dim", "variance", "exact", "log_n", "dataset", "heldout", "paper"]
    assert np.isclose(wide["log_n"].iloc[0], math.log(1000))
    with pytest.raises(ValueError, match="n = 7"):
        rel.toy_ratio_table(df, n=7)


def test_toy_views_vs_n_is_seeded():
    a = rel.toy_views_vs_n(dims=(2,), variances=(0.2,), sizes=(100,), seed=3)
    b = rel.toy_views_vs_n(dims=(2,), variances=(0.2,), sizes=(100,), seed=3)
    pd.testing.assert_frame_equal(a, b)


def _fake_run(tmp_path, epochs=(1, 3), n=120, d=3):
    run = tmp_path / "fc_mnist" / "var0.2-seed0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": {"variance": 0.2}, "resolved": {"activation": "softplus"}}))
    rng = np.random.default_rng(0)
    for ep in epochs:
        z = np.log1p(np.exp(rng.standard_normal((n, d)) * ep))
        runstore.save_representations(
            run, ep, {"train": SplitData(epoch=ep, split="train", z=z, y=rng.integers(0, 10, n))}
        )
    return run


def test_run_table_columns_and_store(tmp_path):
    run = _fake_run(tmp_path)
    df = rel.run_reliability_table(
        run, epochs=(1, 3, 99), sizes=(50, 120, 500), seeds=(0, 1), n_bins=(3, 30), ref_bins=(10,)
    )
    assert list(df.columns) == list(rel.TABLE_COLUMNS)
    assert df.attrs["missing"] == [99] and df.attrs["dropped_sizes"] == [500]
    assert df.attrs["variance"] == 0.2 and df.attrs["activation"] == "softplus"
    ests = {"mixture-dataset", "mixture-heldout", "mixture-paper", "binning-3", "binning-30", "binning-ref-10"}
    assert set(df["estimator"]) == ests
    assert len(df) == 2 * 2 * 2 * len(ests)  # epochs x sizes x seeds x estimators
    mix = df[df["estimator"].str.startswith("mixture")]
    assert mix["mc_error"].notna().all() and df.loc[~df.index.isin(mix.index), "mc_error"].isna().all()
    # the dataset view and binning are at most log N (X uniform on the sample)
    capped = df[df["estimator"].isin(["mixture-dataset", "binning-30"])]
    assert (capped["value"] <= capped["log_n"] + 1e-9).all()
    # same seed -> same inputs at every epoch; the full sample (N = 120) makes binning seed-independent
    full = df[(df["n"] == 120) & (df["estimator"] == "binning-30")]
    assert full.groupby("epoch")["value"].nunique().eq(1).all()
    csv, meta = rel.store_reliability_table(df, tmp_path / "store", "fake", settings={"k": 1}, wall_time_s=1.5)
    back, info = rel.load_reliability_table(tmp_path / "store", "fake")
    assert list(back.columns) == list(rel.TABLE_COLUMNS) and len(back) == len(df)
    assert info["settings"] == {"k": 1} and info["wall_time_s"] == 1.5 and info["missing_epochs"] == [99]
    assert {"cpu", "threads", "versions", "git_commit", "created"} <= set(info)
    assert rel.load_reliability_table(tmp_path / "store", "absent") is None
    with pytest.raises(ValueError, match="lacks column"):
        rel.store_reliability_table(df.drop(columns=["mc_error"]), tmp_path / "store", "bad")
    with pytest.raises(ValueError, match="none of the epochs"):
        rel.run_reliability_table(run, epochs=(7,), sizes=(50,), seeds=(0,))
    change = rel.epoch_change_vs_drift(df)
    assert set(change["verdict"]) <= {"noise", "N-dependent", "robust", "unknown"}
    assert len(change) == len(ests)  # one pair of epochs per estimator
    checks = rel.sec5_checks(df)
    assert list(checks.columns) == ["statement", "estimator", "verdict", "evidence"]


def test_judge_change_on_hand_made_numbers():
    assert rel.judge_change(0.05, noise=0.1, n_drift=0.0) == "noise"
    assert rel.judge_change(-0.1, noise=0.1, n_drift=0.0) == "noise"  # at the noise: not resolved
    assert rel.judge_change(1.0, noise=0.1, n_drift=2.0) == "N-dependent"
    assert rel.judge_change(1.0, noise=0.1, n_drift=0.5, sign_consistent=False) == "N-dependent"
    assert rel.judge_change(-1.0, noise=0.1, n_drift=0.5) == "robust"
    assert rel.judge_change(float("nan"), noise=0.1, n_drift=0.5) == "unknown"
    with pytest.raises(ValueError, match="noise and n_drift"):
        rel.judge_change(1.0, noise=-1.0, n_drift=0.5)


def _hand_table(drift):
    """Two epochs, two N, two seeds; the estimate falls by 1 nat between the epochs and moves by ``drift``
    between N = 100 and N = 1000 at each epoch; MC errors 0.01."""
    rows = []
    for ep, base in ((1, 5.0), (2, 4.0)):
        for n, shift in ((100, 0.0), (1000, drift)):
            for s, jitter in ((0, -0.01), (1, 0.01)):
                rows.append(
                    dict(
                        run="r",
                        epoch=ep,
                        split="train",
                        n=n,
                        seed=s,
                        estimator="mixture-heldout",
                        value=base + shift + jitter,
                        mc_error=0.01,
                        d=4,
                        log_n=math.log(n),
                        seconds=0.0,
                    )
                )
    return pd.DataFrame(rows)


def test_epoch_change_vs_drift_on_hand_made_tables():
    small = rel.epoch_change_vs_drift(_hand_table(drift=0.3)).iloc[0]
    assert np.isclose(small["change"], -1.0) and np.isclose(small["n_drift"], 0.3)
    assert np.isclose(small["change_n_min"], -1.0)  # the drift is the same at both epochs
    assert np.isclose(small["mc_noise"], 2 * math.hypot(0.01 / 2 * math.sqrt(2), 0.01 / 2 * math.sqrt(2)))
    assert small["sign_consistent"] and small["verdict"] == "robust"
    assert rel.epoch_change_vs_drift(_hand_table(drift=-3.0)).iloc[0]["verdict"] == "N-dependent"
    # the compression rule at each N: a 1-nat drop from a 5-nat peak is compressed at both sizes
    c = rel.compression_by_n(_hand_table(drift=0.3), "mixture-heldout")
    assert c["compressed"].all() and np.allclose(c["drop"], 1.0)
    checks = rel.sec5_checks(_hand_table(drift=0.3))
    assert checks.iloc[0]["verdict"] == "supported"  # compressed at every N, drop 1 > drift 0.3
    assert rel.sec5_checks(_hand_table(drift=-3.0)).iloc[0]["verdict"] == "N-dependent"


def test_figures_draw_every_view_and_the_log_n_curve(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    toy_df = rel.toy_views_vs_n(dims=(2,), variances=(0.2, 0.4), sizes=(50, 100), seed=0)
    fig = rel.reliability_toy_figure(toy_df, 2)
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "log N" in labels and any(lab.startswith("exact") for lab in labels)
    assert sum("mixture" in lab for lab in labels) == 3
    with pytest.raises(ValueError, match="dim = 5"):
        rel.reliability_toy_figure(toy_df, 5)
    df = rel.run_reliability_table(
        _fake_run(tmp_path), epochs=(1, 3), sizes=(50, 120), seeds=(0, 1), n_bins=(3, 30), ref_bins=(3, 30)
    )
    fig = rel.reliability_run_figure(df)
    assert len(fig.axes) == 4  # three views + the epoch colour bar
    fig = rel.reliability_binning_figure(df)
    assert [len(ax.get_legend().get_texts()) if ax.get_legend() else 0 for ax in fig.axes] == [3, 0]
    plt.close("all")


def test_update_reliability_table_adds_missing_epochs_and_the_script_wraps_it(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    run = _fake_run(tmp_path)
    store = tmp_path / "store"
    small = dict(sizes=(50,), seeds=(0,), n_bins=(3,), ref_bins=(3,), n_noise=2)
    csv, meta, first = rel.update_reliability_table(run, store, epochs=(1,), **small)
    assert csv.name == "fc_mnist-var0.2-seed0.csv" and sorted(first["epoch"].unique()) == [1]
    info = json.loads(meta.read_text())
    assert info["settings"]["epochs"] == [1] and info["settings"]["n_bins"] == [3]
    # --add keeps epoch 1 as stored (the CSV's 6 significant digits) and computes epoch 3 only
    _, meta, both = rel.update_reliability_table(run, store, add=True, epochs=(1, 3), **small)
    assert sorted(both["epoch"].unique()) == [1, 3] and json.loads(meta.read_text())["settings"]["epochs"] == [1, 3]
    kept = both[both["epoch"] == 1]
    assert list(kept["estimator"]) == list(first["estimator"])
    assert np.allclose(kept["value"], first["value"], rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match=r"has n_noise=2, not 3"):
        rel.update_reliability_table(run, store, add=True, epochs=(3,), **{**small, "n_noise": 3})
    with pytest.raises(ValueError, match="unknown setting"):
        rel.update_reliability_table(run, store, bins=3)
    # the script: the same settings as options (defaults from TABLE_SETTINGS), the same error as exit status 2
    path = Path(__file__).resolve().parents[1] / "scripts" / "reliability_table.py"
    spec = importlib.util.spec_from_file_location("reliability_table", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = [str(run), "--store", str(store), "--sizes", "50", "--seeds", "0", "--n-bins", "3", "--ref-bins", "3"]
    assert script.main([*args, "--epochs", "3", "--n-noise", "2", "--add"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert script.main([*args, "--epochs", "3", "--add"]) == 2  # n_noise default 10 differs from the stored 2
    assert "n_noise=2, not 10" in capsys.readouterr().err
