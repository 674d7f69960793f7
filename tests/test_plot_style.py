"""The book's plotting style and its helpers (ipdrop.plotting): style(), figsize, axis labels naming the
estimator, reference lines at log N and H(Y), integer epoch colour bars, run titles and HTML tables."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ipdrop import plotting


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_style_sets_and_restores_rcparams():
    before = mpl.rcParams["font.size"]
    with plotting.style(font__size=13.5) as s:
        assert isinstance(s, plotting.style)
        assert mpl.rcParams["font.size"] == 13.5
        assert mpl.rcParams["figure.figsize"] == list(plotting.STYLE_RC["figure.figsize"])
        assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["font.size"] == before
    with pytest.raises(ValueError, match="no.such"):
        plotting.style(rc={"no.such": 1})
    assert mpl.rcParams["font.size"] == before


def test_figsize_spans_the_page():
    assert plotting.figsize() == (plotting.PAGE_WIDTH, plotting.PAGE_WIDTH * 0.8)
    w, h = plotting.figsize(4, 3, aspect=0.75)
    assert w == plotting.PAGE_WIDTH and h == pytest.approx(plotting.PAGE_WIDTH / 4 * 0.75 * 3)
    with pytest.raises(ValueError, match="ncols"):
        plotting.figsize(0)


@pytest.mark.parametrize(
    "name, label",
    [
        ("mixture-dataset", "mixture (dataset view)"),
        ("mixture-heldout", "mixture (held-out view)"),
        ("binning-30", "binning, 30 bins"),
        ("edge", "EDGE"),
        ("knn", "k-NN"),
        ("my-estimator", "my-estimator"),
    ],
)
def test_estimator_label(name, label):
    assert plotting.estimator_label(name) == label


def test_ip_axis_labels_name_quantity_unit_and_estimator():
    _, ax = plt.subplots()
    plotting.ip_axis_labels(ax, "mixture-dataset", "edge")
    assert ax.get_xlabel() == "I(X;Z) [nats], mixture (dataset view)"
    assert ax.get_ylabel() == "I(Y;Z) [nats], EDGE"
    plotting.ip_axis_labels(ax, None, "binning-3")
    assert ax.get_xlabel() == "I(X;Z) [nats]" and ax.get_ylabel() == "I(Y;Z) [nats], binning, 3 bins"


def test_label_entropy_in_nats():
    assert plotting.label_entropy(np.repeat(np.arange(10), 7)) == pytest.approx(math.log(10), abs=1e-12)
    assert plotting.label_entropy([1, 1, 1]) == 0.0
    # p = (1/4, 3/4): H = -(1/4 log 1/4 + 3/4 log 3/4)
    assert plotting.label_entropy([0, 1, 1, 1]) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    with pytest.raises(ValueError, match="empty"):
        plotting.label_entropy([])


def test_reference_lines_sit_at_log_n_and_h_y():
    _, ax = plt.subplots()
    ax.plot([2.296, 2.300], [1.0, 1.1], "o")
    lines = plotting.ip_reference_lines(ax, n_samples=5000, labels=np.repeat(np.arange(10), 3))
    assert lines["log_n"].get_xdata()[0] == pytest.approx(math.log(5000))
    assert lines["h_y"].get_ydata()[0] == pytest.approx(math.log(10))
    # the ceilings are inside the view, so a 0.004-nat wobble cannot fill the panel
    assert ax.get_xlim()[1] >= math.log(5000) and ax.get_ylim()[1] >= math.log(10)
    only = plotting.ip_reference_lines(plt.subplots()[1], h_y=0.5)
    assert set(only) == {"h_y"} and only["h_y"].get_ydata()[0] == 0.5
    with pytest.raises(ValueError, match="not both"):
        plotting.ip_reference_lines(ax, labels=[0, 1], h_y=1.0)
    with pytest.raises(ValueError, match="n_samples"):
        plotting.ip_reference_lines(ax, n_samples=0)


def _tick_values(cb):
    return np.asarray(cb.get_ticks(), float)


@pytest.mark.parametrize("epochs", [[0, 1, 2], [0, 2, 4, 6, 8, 10], list(range(0, 201, 2)), [5]])
def test_epoch_colorbar_ticks_are_integers(epochs):
    fig, ax = plt.subplots()
    sc = ax.scatter(np.arange(len(epochs)), np.arange(len(epochs)), c=epochs)
    cb = plotting.epoch_colorbar(sc, ax=ax)
    fig.canvas.draw()
    ticks = _tick_values(cb)
    assert len(ticks) >= 1
    assert np.all(ticks == np.round(ticks)), ticks
    lo, hi = min(epochs), max(epochs)
    visible = ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]
    assert len(visible) >= 1
    if len(set(epochs)) <= 8:
        assert sorted(visible) == sorted(set(epochs))
    labels = [t.get_text() for t in cb.ax.get_yticklabels() if t.get_text()]
    assert labels and all("." not in t for t in labels), labels
    assert cb.ax.get_ylabel() == "epoch"


def test_epoch_colorbar_shared_by_several_axes():
    fig, axes = plt.subplots(1, 2)
    sc = axes[0].scatter([0, 1], [0, 1], c=[0, 1])
    axes[1].scatter([0, 1], [0, 1], c=[0, 1])
    cb = plotting.epoch_colorbar(sc, ax=list(axes))
    assert np.all(_tick_values(cb) == [0, 1])


def test_run_title_from_config_json():
    cfg = {
        "config": {
            "model": "fc",
            "dataset": "mnist",
            "dropout": "gaussian",
            "variance": 0.4444444,
            "seed": 0,
            "ip_n_train": 10000,
            "ip_n_test": 10000,
        }
    }
    assert plotting.run_title(cfg) == (
        "fc on mnist, Gaussian dropout Var(D) = 0.444444, IP on N = 10000 train / 10000 test inputs"
    )
    info = {
        "model": "fullcnn",
        "dataset": "cifar10",
        "dropout": "information",
        "beta": 3.0,
        "max_alpha": 0.95,
        "width": 0.25,
    }
    assert plotting.run_title(info) == "fullcnn x0.25 on cifar10, information dropout beta = 3, max alpha = 0.95"
    with pytest.raises(ValueError, match="config dict"):
        plotting.run_title("runs/x")


def test_table_formats_numbers_and_hides_the_index():
    df = pd.DataFrame(
        {
            "run": ["a", "b"],
            "I(X;Z)": [8.517234, 0.0123456],
            "N": [60000, 1000],
            "small": [2.5e-5, np.nan],
            "compressed": [True, False],
            "accuracy": [0.9812, 0.5],
        }
    )
    html = plotting.table(df, caption="Final epoch", formats={"accuracy": "{:.1%}"}).to_html()
    assert "<caption>Final epoch</caption>" in html
    for text in ("8.52", "0.0123", "60,000", "1,000", "2.50e-05", "—", "yes", "no", "98.1%", "50.0%"):
        assert f">{text}</td>" in html, text
    assert "8.517" not in html and "0.9812" not in html
    assert "font-size: 0.8em" in html and "white-space: normal" in html
    assert 'class="blank level0' not in html and "row_heading" not in html  # no index column
    assert "row_heading" in plotting.table(df, index=True).to_html()


@pytest.mark.parametrize(
    "x, text",
    [
        (8.517, "8.52"),
        (0.0123456, "0.0123"),
        (123.45, "123"),
        (1234.5, "1,234"),
        (-0.5, "-0.500"),
        (0.0, "0"),
        (np.float32(2.0), "2.00"),
        (np.int64(7), "7"),
        (float("inf"), "∞"),
        (None, "—"),
    ],
)
def test_number_format(x, text):
    assert plotting._format_number(x, 3) == text


def test_table_rejects_bad_input():
    with pytest.raises(ValueError, match="DataFrame"):
        plotting.table([[1, 2]])
    with pytest.raises(ValueError, match="digits"):
        plotting.table(pd.DataFrame({"a": [1.0]}), digits=0)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        plotting.table(pd.DataFrame({"a": [1.0]}), formats={"b": "{:.1f}"})
