"""The paper-settings parts of chapters 3-5: the results-store driver (ipdrop.chapters.paper) and its figures
(the "paper settings" section of ipdrop.plotting), on a tiny synthetic store whose numbers are known."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ipdrop import plotting, runstore
from ipdrop.chapters import paper

EPOCHS = [0, 10, 20, 30, 40]
#: I(X;Z) of Alg. 1 per epoch and seed: fitting to epoch 10, then a fall of 3 nats (compression)
PAPER_VIEW = {0: [5.0, 9.0, 8.0, 7.0, 6.0], 1: [5.2, 9.2, 8.1, 7.1, 6.4]}
#: the same view on half the representations: the drop differs by 0.5 nats (the N-drift)
PAPER_VIEW_HALF = {0: [4.5, 8.0, 7.2, 6.5, 5.5], 1: [4.7, 8.2, 7.3, 6.6, 5.9]}
#: binning with 3 edges: flat up to noise (no compression)
BINNING = {0: [2.30, 2.298, 2.299, 2.297, 2.298], 1: [2.30, 2.299, 2.298, 2.299, 2.297]}


def _write_run(store, experiment, name, seed):
    spec = runstore.read_params_file(paper.params_root() / f"{experiment}.yaml")
    d = store / experiment / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"config": spec["configs"][name]}))
    (d / "run.json").write_text(json.dumps({"status": "complete", "wall_time_s": 600.0}))
    (d / "provenance.json").write_text(
        json.dumps({"cpu": "test CPU", "threads_training": 1, "wall_time_s": {"training": 600.0, "estimation": 120.0}})
    )
    res, est = [], []
    for i, e in enumerate(EPOCHS):
        for split in ("train", "test"):
            res.append((e, split, "eval", "accuracy", 0.5 + 0.1 * i, np.nan, 10000, np.nan))
            est += [
                (e, split, "mixture-paper", "I(X;Z)", PAPER_VIEW[seed][i], 0.01, 10000, 32),
                (e, split, "mixture-paper@5000", "I(X;Z)", PAPER_VIEW_HALF[seed][i], 0.01, 5000, 32),
                (e, split, "binning-ref-3", "I(X;Z)", BINNING[seed][i], np.nan, 10000, 32),
                (e, split, "binning-ref-3", "I(Y;Z)", 0.5 + 0.01 * i, np.nan, 10000, 32),
                (e, split, "edge", "I(Y;Z)", 1.0 + 0.2 * i, np.nan, 10000, 32),
            ]
    cols = ["epoch", "split", "estimator", "quantity", "value", "mc_error", "n", "d"]
    pd.DataFrame(res, columns=cols).to_csv(d / "results.csv", index=False)
    pd.DataFrame(est, columns=cols).to_csv(d / "estimates.csv", index=False)
    (d / "estimates.json").write_text(json.dumps({"settings": {}}))


@pytest.fixture()
def store(tmp_path):
    root = tmp_path / "store"
    _write_run(root, "fc_mnist", "var0.2-seed0", 0)
    _write_run(root, "fc_mnist", "var0.2-seed1", 1)
    return root


def _expected_drops(curves):
    return [max(v[1:]) - v[-1] for v in curves.values()]


def test_verdicts_exceed_floor_mc_error_seed_spread_and_n_drift(store):
    df = paper.load_experiment("fc_mnist", store)
    assert set(df["run"]) == {"var0.2-seed0", "var0.2-seed1"} and set(df["variance"]) == {0.2}
    v = paper.compression_verdicts(df, ["mixture-paper", "binning-ref-3"], splits=["train"])
    assert list(v.columns) == [
        "variance",
        "split",
        "estimator",
        "seeds",
        "peak",
        "epoch_peak",
        "final",
        "drop",
        "mc_error",
        "seed_spread",
        "n_drift",
        "threshold",
        "verdict",
    ]
    mp = v.set_index("estimator").loc["mixture-paper"]
    drops, half = _expected_drops(PAPER_VIEW), _expected_drops(PAPER_VIEW_HALF)
    assert mp["seeds"] == 2 and mp["drop"] == pytest.approx(np.mean(drops))
    assert mp["seed_spread"] == pytest.approx(np.std(drops, ddof=1))
    assert mp["n_drift"] == pytest.approx(abs(np.mean(drops) - np.mean(half)))
    # two errors of 0.01 per seed and epoch: sqrt(4 * 0.01^2) / 2 seeds
    assert mp["mc_error"] == pytest.approx(math.sqrt(4 * 1e-4) / 2)
    assert mp["threshold"] == pytest.approx(
        max(0.1, 0.02 * mp["peak"], 2 * mp["mc_error"], mp["seed_spread"], mp["n_drift"])
    )
    assert mp["verdict"] == "compresses"
    b = v.set_index("estimator").loc["binning-ref-3"]
    assert b["verdict"] == "no compression" and math.isnan(b["n_drift"])  # a drop of ~0.002 nats is below the floor
    # a wider N-drift flips the verdict: the threshold takes the largest term
    table = paper.verdict_table(paper.compression_verdicts(df, ["mixture-paper", "binning-ref-3"]))
    assert list(table.columns) == [
        "variance",
        "estimator",
        "seeds",
        "train: drop",
        "train: threshold",
        "train: verdict",
        "test: drop",
        "test: threshold",
        "test: verdict",
    ]
    assert table["estimator"].iloc[0] == plotting.short_label("mixture-paper") == "ours, Alg. 1 as published"
    assert paper.verdict_counts(v) == {"compresses": 1, "no compression": 1, "rises": 0, "total": 2}


def test_store_status_names_missing_runs_and_their_command(store):
    st = paper.store_status(store, experiments=["fc_mnist", "resnet18_cifar10"]).set_index("experiment")
    assert st.loc["fc_mnist", "stored"] == 2 and st.loc["fc_mnist", "planned"] == 6
    assert "var0.4-seed0" in st.loc["fc_mnist", "missing"] and "var0.2-seed0" not in st.loc["fc_mnist", "missing"]
    assert st.loc["resnet18_cifar10", "stored"] == 0
    assert st.loc["resnet18_cifar10", "command"] == (
        "ipdrop reproduce params/paper_runs/resnet18_cifar10.yaml --out results/resnet18_cifar10"
    )
    with pytest.raises(ValueError, match="no params file.*nonsense"):
        paper.store_status(store, experiments=["nonsense"])
    empty = paper.load_experiment("resnet18_cifar10", store)
    assert empty.empty and {"run", "epoch", "estimator", "value"} <= set(empty.columns)
    assert paper.compression_verdicts(empty, ["mixture-paper"]).empty
    facts = paper.experiment_facts("fc_mnist", store)
    assert (facts["ip_n_train"], facts["ip_n_test"], facts["estimate_every"], facts["stored"]) == (10000, 10000, 10, 2)


def test_run_settings_and_deviations(store):
    s = paper.run_settings("fc_mnist", store).set_index("run")
    assert s.loc["var0.2-seed1", "test acc %"] == pytest.approx(90.0)  # 0.5 + 0.1 * 4 at the last epoch
    assert s.loc["var0.2-seed1", "training min"] == 10.0 and s.loc["var0.2-seed0", "beta"] is None
    dev = paper.deviations("resnet18_cifar10").set_index("parameter")
    assert list(dev.columns) == ["paper", "here", "why"] and dev.loc["width", "here"] == "0.125"
    assert dev.loc["variance", "here"] == "0.4444"  # Var(D) = 4/9 as a table cell, not 0.4444444444444444
    facts = paper.experiment_facts("resnet18_cifar10", store)
    assert (facts["lr"], facts["batch_size"], facts["augment"], facts["stored"]) == (0.05, 64, True, 0)
    assert paper.deviations("fc_mnist").empty  # at the paper's settings: nothing to list


def test_paper_planes_plot_the_table_numbers_with_named_axes(store):
    df = paper.load_experiment("fc_mnist", store)
    pairs = [("mixture-paper", "edge"), ("binning-ref-3", "binning-ref-3")]
    fig = plotting.plot_paper_planes(df, pairs, splits=["train", "test"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4
    ax = panels[0]  # train, Alg. 1 against EDGE
    pts = plotting.plotted_points(ax)
    assert set(pts) == {"var0.2-seed0", "var0.2-seed1"}
    np.testing.assert_allclose(pts["var0.2-seed1"][:, 0], PAPER_VIEW[1])
    np.testing.assert_allclose(pts["var0.2-seed1"][:, 1], [1.0 + 0.2 * i for i in range(len(EPOCHS))])
    assert "Alg. 1" in panels[2].get_xlabel() and "EDGE" in ax.get_ylabel()
    assert "noisy Z" in panels[3].get_xlabel() and "binning" in panels[1].get_ylabel()
    # binning values span 0.003 nats: the axis shows at least 0.5 nats, and log N (= log 10,000) is drawn
    lo, hi = panels[1].get_ylim()
    assert hi - lo >= 0.5
    assert any(np.allclose(line.get_xdata(), math.log(10000)) for line in ax.get_lines())
    # panels of the same estimator share their axis; the epoch colour bar has integer ticks
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[2])
    cbar = [a for a in fig.axes if a.get_label() == "<colorbar>"][0]
    ticks = cbar.get_yticks()
    assert np.allclose(ticks, np.round(ticks))
    plt.close(fig)


def test_accuracy_in_percent_and_placeholder(store):
    df = paper.load_experiment("fc_mnist", store)
    fig = plotting.plot_paper_accuracy(df)
    line = [ln for ln in fig.axes[1].get_lines() if ln.get_gid() == "points:var0.2-seed0"][0]
    np.testing.assert_allclose(line.get_ydata(), [50, 60, 70, 80, 90])
    assert "%" in fig.axes[0].get_ylabel()
    plt.close(fig)
    fig = plotting.placeholder_figure("not stored: ipdrop reproduce ...")
    assert fig.get_gid() == "placeholder" and "not stored" in fig.axes[0].texts[0].get_text()
    from IPython.core.pylabtools import print_figure

    assert print_figure(fig, "png")  # IPython (and so glue) renders it: a figure without Axes gives no image
    plt.close(fig)


def test_beta_figure_and_sizes(store, tmp_path):
    rows = []
    for width in (0.125, 0.03125):
        for beta in (0.1, 20.0):
            for e in (0, 3, 6):
                for q, est, v in (("I(X;Z)", "kl", beta * 10 + e), ("I(Y;Z)", "variational", 1.0 + e / 10)):
                    rows.append(
                        {
                            "run": f"{width}-{beta}",
                            "width": width,
                            "beta": beta,
                            "epoch": e,
                            "split": "train",
                            "estimator": est,
                            "quantity": q,
                            "value": v,
                        }
                    )
    df = paper.with_size(pd.DataFrame(rows))
    assert set(df.loc[df.width == 0.125, "size"]) == {"full"} and set(df.loc[df.width < 0.1, "size"]) == {"small"}
    # only the small runs stored: still "small" (the widths come from the params file, not from the table)
    only_small = paper.with_size(pd.DataFrame(rows)[lambda d: d.width < 0.1])
    assert set(only_small["size"]) == {"small"}
    fig = plotting.plot_paper_beta(df, splits=["train"])
    ax = fig.axes[0]
    pts = plotting.plotted_points(ax)
    np.testing.assert_allclose(pts["beta=20"][:, 0], [200, 203, 206])
    assert ax.get_xscale() == "log"  # 1 ... 206 spans more than a factor 20
    assert "KL" in ax.get_xlabel() and "H(Y)" in ax.get_ylabel()
    plt.close(fig)


def test_paper_planes_can_leave_out_the_untrained_network(store):
    df = paper.load_experiment("fc_mnist", store)
    fig = plotting.plot_paper_planes(df, [("mixture-paper", "edge")], splits=["train"], min_epoch=1)
    pts = plotting.plotted_points(fig.axes[0])
    np.testing.assert_allclose(pts["var0.2-seed0"][:, 0], PAPER_VIEW[0][1:])  # epoch 0 is not drawn
    plt.close(fig)


def test_tables_render_the_same_html_in_every_run(store):
    dev = paper.deviations("resnet18_cifar10")
    assert plotting.table(dev, "deviations").to_html() == plotting.table(dev.copy(), "deviations").to_html()


def test_paper_planes_draw_the_binned_label_quantity_of_the_papers_code(store):
    df = paper.load_experiment("fc_mnist", store)
    extra = df[df.estimator == "binning-ref-3"].copy()
    extra = extra[extra.quantity == "I(Y;Z)"].assign(quantity="I(Y_binned;Z)", value=lambda t: t.value / 2)
    df = pd.concat([df, extra], ignore_index=True)
    pairs = [("binning-ref-3", "binning-ref-3"), ("binning-ref-3", "binning-ref-3", "I(Y_binned;Z)")]
    fig = plotting.plot_paper_planes(df, pairs, splits=["train"])
    a, b = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(
        plotting.plotted_points(b)["var0.2-seed0"][:, 1], plotting.plotted_points(a)["var0.2-seed0"][:, 1] / 2
    )
    assert b.get_ylabel().startswith("I(Y_binned;Z)") and a.get_ylabel().startswith("I(Y;Z)")
    plt.close(fig)


def test_store_tables_show_the_reproduce_command_when_no_run_is_stored(store):
    # lenet_mnist has no run in the store, fc_mnist has two: the same call gives a sentence or a table
    from ipdrop.chapters import planes

    lenet = planes.load_experiment("lenet_mnist", store)
    empty = planes.verdict_table(planes.compression_verdicts(lenet, ["kl"], by=["dropout"]), by=["dropout"])
    out = planes.store_table(empty, "LeNet: does I(X;Z) compress? (nats)", experiment="lenet_mnist")
    md = out._repr_markdown_()
    assert "LeNet: does I(X;Z) compress?" in md and "not in the results store yet" in md
    assert "`ipdrop reproduce params/paper_runs/lenet_mnist.yaml --out results/lenet_mnist`" in md
    assert "<table" not in md and repr(out) == md  # plain text too: no empty table header
    fc = planes.load_experiment("fc_mnist", store)
    verdicts = planes.verdict_table(planes.compression_verdicts(fc, ["mixture-paper"]))
    html = planes.store_table(verdicts, "FC", experiment="fc_mnist").to_html()
    assert "<table" in html and "compresses" in html and "ipdrop reproduce" not in html
    settings = planes.store_table(planes.run_settings("resnet18_cifar10", store), "s", experiment="resnet18_cifar10")
    assert "results/resnet18_cifar10" in settings._repr_markdown_()
