"""ipdrop.chapters.planes (chapters 3-5): the study drivers on tiny configurations, the summaries against hand-made
tables, and the figures' content."""

import math

import numpy as np
import pandas as pd
import pytest

from ipdrop.chapters import planes
from ipdrop.training import RESULT_COLUMNS, TrainConfig

TINY = dict(
    epochs=1,
    n_train=128,
    batch_size=32,
    ip_n_train=64,
    ip_n_test=64,
    n_bins=(10,),
    num_threads=1,
    device="cpu",
    eval_batch_size=256,
)


def _hand_table():
    """Two runs; I(X;Z) rises to a maximum and falls (run a) or keeps rising (run b)."""
    rows = []
    vals = {"a": [0.5, 3.0, 5.0, 4.0, 3.5], "b": [0.5, 1.0, 2.0, 3.0, 4.0]}
    for run, vs in vals.items():
        for e, v in enumerate(vs):
            rows.append(
                {
                    "run": run,
                    "epoch": e,
                    "split": "train",
                    "estimator": "mixture-dataset",
                    "quantity": "I(X;Z)",
                    "value": v,
                    "mc_error": 0.1,
                    "n": 100,
                    "d": 4,
                }
            )
            # binning: maximal at epoch 0 (random network), flat afterwards
            rows.append(
                {
                    "run": run,
                    "epoch": e,
                    "split": "train",
                    "estimator": "binning-10",
                    "quantity": "I(X;Z)",
                    "value": 4.6 if e == 0 else 2.0,
                    "mc_error": np.nan,
                    "n": 100,
                    "d": 4,
                }
            )
            rows.append(
                {
                    "run": run,
                    "epoch": e,
                    "split": "test",
                    "estimator": "eval",
                    "quantity": "accuracy",
                    "value": 0.1 + 0.2 * e if run == "a" else 0.5,
                    "mc_error": np.nan,
                    "n": 100,
                    "d": None,
                }
            )
    return pd.DataFrame(rows)


def test_ip_summary_max_final_drop_against_hand_made_frame():
    s = planes.ip_summary(_hand_table()).set_index(["run", "split", "estimator"])
    a = s.loc[("a", "train", "mixture-dataset")]
    assert (a["init"], a["max"], a["epoch_max"], a["final"], a["epoch_final"]) == (0.5, 5.0, 2, 3.5, 4)
    assert a["drop"] == pytest.approx(1.5)
    # threshold = max(0.1, 0.02 * 5, 2 * hypot(0.1, 0.1)) = 0.2828...
    assert a["threshold"] == pytest.approx(2 * math.hypot(0.1, 0.1))
    assert bool(a["compressed"]) is True
    b = s.loc[("b", "train", "mixture-dataset")]
    assert (b["max"], b["final"], b["drop"]) == (4.0, 4.0, 0.0)
    assert bool(b["compressed"]) is False
    # the value of the random network (epoch 0) is not a maximum: binning is flat after epoch 1
    c = s.loc[("a", "train", "binning-10")]
    assert (c["init"], c["max"], c["drop"], bool(c["compressed"])) == (4.6, 2.0, 0.0, False)
    # ... unless asked for
    s0 = planes.ip_summary(_hand_table(), from_epoch=0).set_index(["run", "split", "estimator"])
    assert s0.loc[("a", "train", "binning-10"), "drop"] == pytest.approx(2.6)


def test_ip_summary_thresholds_and_missing_epochs():
    df = _hand_table()
    # a drop of 1.5 nats is not compression when the threshold is 2 nats
    s = planes.ip_summary(df, min_drop=2.0, estimators=["mixture-dataset"])
    assert not s["compressed"].any() and set(s["estimator"]) == {"mixture-dataset"}
    # a missing (failed) epoch is skipped, not treated as zero
    df2 = df[~((df["run"] == "a") & (df["epoch"] == 4) & (df["estimator"] == "mixture-dataset"))]
    a = planes.ip_summary(df2).set_index(["run", "split", "estimator"]).loc[("a", "train", "mixture-dataset")]
    assert (a["n_epochs"], a["final"], a["epoch_final"], a["drop"]) == (4, 4.0, 3, 1.0)


def test_accuracy_and_compression_table():
    acc = planes.accuracy_summary(_hand_table()).set_index("run")
    assert acc.loc["a", "test"] == pytest.approx(90.0) and acc.loc["b", "test"] == pytest.approx(50.0)
    assert acc.loc["a", "best_test"] == pytest.approx(90.0) and np.isnan(acc.loc["a", "test_mc"])
    t = planes.compression_table(_hand_table(), splits=["train"])
    assert t.loc[("a", "train", "mixture-dataset"), "compressed"] == "yes"
    assert t.loc[("b", "train", "mixture-dataset"), "compressed"] == "no"
    assert t.loc[("a", "train", "mixture-dataset"), "test acc %"] == 90.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty mapping"):
        planes.Study("x", {})
    with pytest.raises(ValueError, match="not in configs"):
        planes.Study("x", {"a": TrainConfig()}, {"b": {}})
    with pytest.raises(ValueError, match="include"):
        planes.mnist_study(include=("resnet",))
    with pytest.raises(ValueError, match="lacks the column"):
        planes.ip_summary(pd.DataFrame({"epoch": [0]}))


def test_builders_and_beta_convention():
    st = planes.beta_study(betas=[1.0, 20.0], widths=[0.125, 0.03125], kl_dataset_size=50000, epochs=2)
    assert st.runs == [
        "full (x0.125), beta=1",
        "full (x0.125), beta=20",
        "small (x0.03125), beta=1",
        "small (x0.03125), beta=20",
    ]
    cfg = st.configs["small (x0.03125), beta=20"]
    assert cfg.model == "fullcnn" and cfg.dropout == "information" and cfg.width == 0.03125
    # paper convention everywhere: loss = CE + beta * KL / kl_dataset_size
    assert cfg.beta == 20.0 and cfg.kl_dataset_size == 50000 and cfg.max_alpha == 0.95
    assert st.settings().loc["small (x0.03125), beta=20", "beta"] == 20.0
    m = planes.mnist_study(fc_variances=(0.2, 0.4), **TINY)
    assert list(m.runs) == [
        "LeNet, Gaussian s2=0.2",
        "LeNet, information",
        "FC, Gaussian s2=0.2",
        "FC, Gaussian s2=0.4",
    ]
    assert m.configs["FC, Gaussian s2=0.4"].variance == 0.4
    c = planes.cifar10_study(width=0.125, epochs=1)
    assert c.configs[c.runs[0]].model == "resnet18"


def test_run_study_tiny_is_seeded_and_tidy():
    st = planes.mnist_study(include=("fc",), fc_variances=(0.3,), **TINY)
    df1 = st.run()
    df2 = st.run()
    assert list(df1.columns[:5]) == ["run", "network", "dropout_kind", "variance", "epoch"]
    assert set(RESULT_COLUMNS) <= set(df1.columns)
    assert set(df1["estimator"]) >= {
        "mixture-dataset",
        "mixture-heldout",
        "binning-10",
        "edge",
        "knn",
        "variational",
        "eval",
        "eval-mc",
        "optim",
    }
    assert list(df1["run"].unique()) == ["FC, Gaussian s2=0.3"]
    pd.testing.assert_frame_equal(df1, df2)  # same seed, fresh temporary folder: same numbers
    assert df1.attrs["wall_time_s"]["FC, Gaussian s2=0.3"] > 0
    # dataset view of the mixture estimator: X uniform on the 64 samples, so I(X;Z) <= log 64
    mix = df1[(df1["estimator"] == "mixture-dataset") & (df1["quantity"] == "I(X;Z)")]["value"]
    assert (mix <= math.log(64) + 1e-6).all()
    s = planes.ip_summary(df1)
    assert set(s["split"]) == {"train", "test"} and (s["n_epochs"] == 2).all()
    import matplotlib.pyplot as plt

    run = "FC, Gaussian s2=0.3"
    fig = planes.plot_study_planes(df1, [("mixture-dataset", "edge"), ("kl", "variational")])
    tracked, missing = fig.axes[0], fig.axes[1]
    assert tracked.get_title() == f"{run}\nmixture-dataset / edge"
    pts = (
        df1[(df1["split"] == "train") & (df1["estimator"] == "mixture-dataset") & (df1["quantity"] == "I(X;Z)")]
        .sort_values("epoch")["value"]
        .to_numpy()
    )
    np.testing.assert_allclose(tracked.collections[-1].get_offsets()[:, 0], pts)  # one point per epoch
    assert not missing.axison and "not tracked" in missing.texts[0].get_text()  # kl is not tracked for Gaussian
    plt.close(fig)
    fig = planes.plot_binning_sweep(df1, run)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == ["train: 10 bins", "test: 10 bins"]
    ceiling = [ln.get_xdata()[0] for ln in panels[0].lines if ln.get_linestyle() == "--"]
    assert ceiling == [pytest.approx(math.log(64))]  # log N of the 64-sample IP subset
    plt.close("all")


def test_run_study_beta_tiny(tmp_path):
    st = planes.beta_study(
        betas=[0.1, 20.0],
        widths=[0.0625],
        epochs=1,
        n_train=64,
        ip_n_train=32,
        ip_n_test=32,
        num_threads=1,
        device="cpu",
        eval_batch_size=256,
    )
    df = st.run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full__x0.0625___beta=0.1", "full__x0.0625___beta=20"]
    assert (tmp_path / "full__x0.0625___beta=20" / "run.json").exists()
    assert set(df["beta"]) == {0.1, 20.0} and set(df["size"]) == {"full"}
    kl = df[(df["estimator"] == "kl") & (df["quantity"] == "I(X;Z)")]
    assert (kl["value"] >= 0).all()  # a KL divergence
    import matplotlib.pyplot as plt

    fig = planes.plot_beta_planes(df)
    ax = fig.axes[0]
    assert ax.get_title() == "full network (train)" and ax.get_xlabel().startswith("I(X;Z) [nats]")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["beta=0.1", "beta=20"]
    # the first scatter is beta = 0.1: its x values are the KL bound on the training split, epoch by epoch
    first = (
        df[(df["beta"] == 0.1) & (df["estimator"] == "kl") & (df["split"] == "train") & (df["quantity"] == "I(X;Z)")]
        .sort_values("epoch")["value"]
        .to_numpy()
    )
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], first)

    plt.close("all")


def test_run_settings_are_shared_and_checked():
    assert planes.builder_settings("beta_study", {"epochs": 2})["epochs"] == 2
    assert planes.builder_settings("mnist_study", {"n_bins": [3, 10]})["n_bins"] == (3, 10)
    with pytest.raises(TypeError, match=r"beta_study\(\) got unexpected keyword argument\(s\) \['n_noise'\]"):
        planes.beta_study(n_noise=3)  # information dropout draws no noise samples
    with pytest.raises(TypeError, match="epochz"):
        planes.mnist_study(epochz=3)
    with pytest.raises(ValueError, match="builder must be one of"):
        planes.builder_settings("nope", {})


def test_numbers_the_chapters_state():
    from ipdrop.chapters import GlueText

    assert planes.stage_widths("resnet18", 0.125) == (8, 16, 32, 64)
    assert planes.stage_widths("fullcnn") == (96, 192) and planes.stage_widths("fullcnn", 0.03125) == (3, 6)
    with pytest.raises(ValueError, match="model must be one of"):
        planes.stage_widths("lenet")
    assert GlueText.listing([10, 30, 100, 300]) == "10, 30, 100 and 300" and GlueText.listing([0.5]) == "0.5"
    assert repr(GlueText.listing([1, 2], last="or")) == "1 or 2"
    assert planes.training_images(planes.beta_study(betas=[1.0], widths=[0.1])) == {"full (x0.1), beta=1": 1000}
    assert list(planes.training_images(planes.cifar10_study(n_train=None)).values()) == [2000]  # embedded subset


def test_saturated_bins_is_the_smallest_bin_count_at_log_n():
    # binning-10 ends 2.9 nats below log 1000, binning-30 0.4, binning-100 0.06 (within the 0.1-nat floor)
    log_n = math.log(1000)
    rows = [
        ("a", e, "train", f"binning-{b}", "I(X;Z)", log_n - gap - (0.5 if e == 0 else 0.0), 1000)
        for b, gap in ((10, 2.9), (30, 0.4), (100, 0.06))
        for e in (0, 1)
    ]
    df = pd.DataFrame(rows, columns=["run", "epoch", "split", "estimator", "quantity", "value", "n"])
    assert planes.saturated_bins(df) == 100
    assert planes.saturated_bins(df, tol=0.5) == 30
    assert planes.saturated_bins(df, tol=0.01) is None
    assert planes.saturated_bins(df, split="test") is None
