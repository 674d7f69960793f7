"""InformationPlaneTracker: API contract and estimates against closed-form ground truth."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ipdrop import MIResult
from ipdrop.tracker import RESULT_COLUMNS, InformationPlaneTracker, parse_estimators

K = 10  # classes


def _balanced_labels(n_per_class=20):
    return np.repeat(np.arange(K), n_per_class)


def _one_hot(y, scale=1.0):
    z = np.zeros((len(y), K))
    z[np.arange(len(y)), y] = scale
    return z


def _value(df, split, estimator, quantity):
    sel = df[(df.split == split) & (df.estimator == estimator) & (df.quantity == quantity)]
    assert len(sel) == 1, (split, estimator, quantity, df)
    return float(sel["value"].iloc[0])


def test_update_before_increment_raises():
    t = InformationPlaneTracker(["variational"])
    with pytest.raises(RuntimeError, match="increment"):
        t.update(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(RuntimeError, match="increment"):
        t.compute()


def test_constructor_validates():
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        InformationPlaneTracker(["nope"])
    with pytest.raises(ValueError, match="variance"):
        InformationPlaneTracker(["mixture"])  # the mixture estimator needs the dropout variance
    with pytest.raises(ValueError, match="variance"):
        InformationPlaneTracker(["mixture"], variance=-0.1)
    with pytest.raises(ValueError, match="binning"):
        parse_estimators(["binning-x"])
    with pytest.raises(ValueError, match="on_error"):
        InformationPlaneTracker(["kl"], on_error="ignore")


def test_variational_closed_form():
    # logits that put probability 1 - 9e on the true class: CE = -log(1 - 9e) exactly, so
    # H(Y) - CE = log 10 + log(1 - 9e) for balanced labels (tolerance: float64 round-off only).
    y = _balanced_labels()
    e = 1e-3
    probs = np.full((len(y), K), e)
    probs[np.arange(len(y)), y] = 1 - 9 * e
    t = InformationPlaneTracker(["variational"])
    t.increment(0)
    # the labels are given as a torch tensor, the logits in two batches: both must be concatenated
    half = len(y) // 2
    z = torch.randn(len(y), 5)
    t.update(z[:half], torch.as_tensor(y[:half]), split="train", logits=torch.log(torch.as_tensor(probs[:half])))
    t.update(z[half:], torch.as_tensor(y[half:]), split="train", logits=torch.log(torch.as_tensor(probs[half:])))
    df = t.compute()
    assert _value(df, "train", "variational", "I(Y;Z)") == pytest.approx(math.log(K) + math.log(1 - 9 * e), abs=1e-9)
    # uniform logits: CE = log 10 = H(Y), the bound is exactly 0
    t.increment(1)
    t.update(z, y, split="test", logits=np.zeros((len(y), K)))
    assert _value(t.compute(), "test", "variational", "I(Y;Z)") == pytest.approx(0.0, abs=1e-12)


def test_kl_is_mean_of_per_sample_kl():
    rng = np.random.default_rng(0)
    kl = rng.gamma(2.0, 1.0, size=50)
    t = InformationPlaneTracker(["kl"])
    t.increment(3)
    t.update(rng.normal(size=(50, 4)), np.arange(50) % 2, kl=torch.as_tensor(kl))
    df = t.compute()
    row = df[df.estimator == "kl"].iloc[0]
    assert row["value"] == pytest.approx(kl.mean(), rel=1e-12)
    assert row["mc_error"] is None or np.isnan(row["mc_error"])  # a mean of given values: no Monte-Carlo draw
    assert row["epoch"] == 3 and row["quantity"] == "I(X;Z)"


def test_binning_on_class_indicator_representation():
    # Z = one-hot(y): with 2 bins every class is its own bin pattern, so the binned representation
    # is a bijection of Y: I(X;Z) = H(Z) = H(Y) = log 10 and I(Y;Z) = log 10 exactly (plug-in entropies).
    y = _balanced_labels()
    t = InformationPlaneTracker(["binning"], n_bins=(2,))
    t.increment(0)
    t.update(_one_hot(y), y)
    df = t.compute()
    assert _value(df, "train", "binning-2", "I(X;Z)") == pytest.approx(math.log(K), abs=1e-9)
    assert _value(df, "train", "binning-2", "I(Y;Z)") == pytest.approx(math.log(K), abs=1e-9)


def test_mixture_separated_centres_reach_log_n():
    # Centres far apart relative to the noise (sigma |f| = 1e-3 * f <= 0.4, spacing 10): the components
    # do not overlap, so the dataset-view I(X;Z) equals log N up to exp(-huge) terms (tolerance 1e-6).
    n = 40
    f = np.tile(10.0 * (np.arange(n) + 1.0)[:, None], (1, 3))
    t = InformationPlaneTracker(["mixture-dataset"], variance=1e-6, n_noise=3, seed=1)
    t.increment(0)
    t.update(f, np.arange(n) % 2)
    df = t.compute()
    assert _value(df, "train", "mixture-dataset", "I(X;Z)") == pytest.approx(math.log(n), abs=1e-6)
    # h(Z|X) in closed form: sum_i log(|f_i| sigma sqrt(2 pi e)) averaged over the inputs
    hzx = np.mean(np.sum(np.log(np.abs(f) * 1e-3 * math.sqrt(2 * math.pi * math.e)), axis=1))
    assert _value(df, "train", "mixture-dataset", "h(Z|X)") == pytest.approx(hzx, abs=1e-9)


def test_label_estimators_separated_vs_independent():
    # Well separated class clusters: I(Y;Z) = H(Y) = log 10; labels independent of Z: I(Y;Z) = 0.
    # k-NN (Ross) is consistent with small bias at n = 500; 0.25 nats (~11% of log 10) covers its
    # finite-sample error (seen: < 0.05), while a broken estimator is off by > 1 nat. EDGE is strongly
    # biased upwards on independent data (its own property: ~0.4-0.7 nats here), so for it we only
    # require the separated case near log 10 and a clear gap to the independent case.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), 50)
    z_sep = _one_hot(y, scale=20.0) + rng.normal(size=(len(y), K))
    z_ind = rng.normal(size=(len(y), K))
    t = InformationPlaneTracker(["knn", "edge"], seed=0)
    t.increment(0)
    t.update(z_sep, y, split="train")
    # I(Y;Z) uses the noisy sample when one is given: here it is the informative one
    t.update(z_ind, y, split="test", z_noisy=z_sep)
    df = t.compute()
    for split in ("train", "test"):
        assert _value(df, split, "knn", "I(Y;Z)") == pytest.approx(math.log(K), abs=0.25)
        assert _value(df, split, "edge", "I(Y;Z)") == pytest.approx(math.log(K), abs=0.25)
    t.increment(1)
    t.update(z_ind, y, split="train")
    df = t.compute()
    assert _value(df, "train", "knn", "I(Y;Z)") == pytest.approx(0.0, abs=0.25)
    assert _value(df, "train", "edge", "I(Y;Z)") < math.log(K) - 1.0


def test_tidy_table_steps_reset_and_determinism():
    rng = np.random.default_rng(1)
    y = _balanced_labels(10)
    t = InformationPlaneTracker(["variational", "binning"], n_bins=(4, 8), seed=5)
    for epoch in (0, 2, 5):
        t.increment(epoch)
        t.update(rng.normal(size=(len(y), 6)), y, split="train", logits=rng.normal(size=(len(y), K)))
        t.update(rng.normal(size=(len(y), 6)), y, split="test", logits=rng.normal(size=(len(y), K)))
    df = t.compute_all()
    assert list(df.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert sorted(df.epoch.unique()) == [0, 2, 5]
    # per step and split: variational (1 row) + 2 bin counts x 2 quantities
    assert len(df) == 3 * 2 * (1 + 4)
    assert set(df.estimator) == {"variational", "binning-4", "binning-8"}
    assert (df.n == len(y)).all() and (df.d == 6).all()
    with pytest.raises(ValueError, match="already tracked"):
        t.increment(2)
    t.reset()
    assert t.n_steps == 0 and t.compute_all().empty


def test_custom_callable_and_miresult_rows():
    def mean_norm(data):
        yield MIResult(value=float(np.linalg.norm(data.z, axis=1).mean()), estimator="norm", quantity="I(X;Z)")
        yield {"estimator": "const", "quantity": "I(Y;Z)", "value": 1.5}

    t = InformationPlaneTracker([mean_norm])
    t.increment(0)
    t.update(np.ones((4, 4)), np.array([0, 1, 0, 1]))
    df = t.compute()
    assert _value(df, "train", "norm", "I(X;Z)") == pytest.approx(2.0)
    assert _value(df, "train", "const", "I(Y;Z)") == 1.5


def test_failing_estimator_warns_when_asked():
    def broken(data):
        raise ValueError("no luck")

    t = InformationPlaneTracker([broken, "kl"], on_error="warn")
    t.increment(0)
    t.update(np.ones((4, 2)), np.array([0, 1, 0, 1]), kl=np.ones(4))
    with pytest.warns(RuntimeWarning, match="no luck"):
        df = t.compute()
    assert list(df.estimator) == ["kl"]
    t2 = InformationPlaneTracker([broken])
    t2.increment(0)
    t2.update(np.ones((4, 2)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="no luck"):
        t2.compute()


def test_update_checks_shapes():
    t = InformationPlaneTracker(["variational"])
    t.increment(0)
    with pytest.raises(ValueError, match="inconsistent"):
        t.update(np.ones((4, 2)), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="logits"):
        t.update(np.ones((4, 2)), np.array([0, 1, 0, 1]), logits=np.ones((3, 2)))
    with pytest.raises(ValueError, match="split"):
        t.update(np.ones((4, 2)), np.array([0, 1, 0, 1]), split="valid")


def test_plot_information_plane_from_tracker_table():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ipdrop.plotting import information_plane_points, plot_information_plane, plot_planes_grid

    rows = []
    for epoch in range(4):
        rows += [
            {
                "epoch": epoch,
                "split": "train",
                "estimator": "mixture-dataset",
                "quantity": "I(X;Z)",
                "value": 5.0 - epoch,
            },
            {"epoch": epoch, "split": "train", "estimator": "edge", "quantity": "I(Y;Z)", "value": 0.5 * epoch},
            {"epoch": epoch, "split": "train", "estimator": "binning-30", "quantity": "I(X;Z)", "value": 6.9},
            {"epoch": epoch, "split": "train", "estimator": "binning-30", "quantity": "I(Y;Z)", "value": 2.3},
        ]
    df = pd.DataFrame(rows)
    pts = information_plane_points(df, "mixture-dataset", "edge")
    assert pts["x"].tolist() == [5.0, 4.0, 3.0, 2.0] and pts["y"].tolist() == [0.0, 0.5, 1.0, 1.5]
    ax = plot_information_plane(df, "mixture-dataset", "edge")
    assert ax.get_xlabel().startswith("I(X;Z) [nats]") and ax.get_ylabel().startswith("I(Y;Z) [nats]")
    assert len(ax.figure.axes) == 2  # the plane and its epoch colour bar
    fig = plot_planes_grid(df, splits=("train",))
    assert len([a for a in fig.axes if a.get_xlabel()]) == 2  # mixture/edge and binning-30/binning-30
    with pytest.raises(ValueError, match="no I\\(X;Z\\) rows"):
        information_plane_points(df, "kl", "edge")
    plt.close("all")


def test_mixture_keeps_dataset_view_when_heldout_view_fails():
    # ReLU-like features where every input has its own zero pattern: the dataset view is exactly log N
    # (the pattern identifies the input), the held-out view has no centre with the same pattern and must
    # refuse (never an epsilon). The dataset rows survive the held-out failure.
    n = 6
    z = np.eye(n) * 2.0 + 0.0  # row j is non-zero only in unit j
    y = np.arange(n) % 2
    t = InformationPlaneTracker(["mixture"], variance=0.2, n_noise=4, on_error="warn", progress=False)
    t.increment(0)
    t.update(z, y)
    with pytest.warns(RuntimeWarning, match="mixture"):
        df = t.compute()
    assert set(df.estimator) == {"mixture-dataset"}
    assert _value(df, "train", "mixture-dataset", "I(X;Z)") == pytest.approx(math.log(n), abs=1e-9)


def test_binning_ref_rows_equal_the_reference_functions():
    # 'binning-ref' bins one seeded noisy draw f(x) * D (as the paper's code does) with linspace/digitize edges;
    # its rows must equal the library functions on the same draw (seed derived from (seed, epoch, split)).
    from ipdrop.estimators import binning_ref_mi_xz, binning_ref_mi_yz, reference_noisy
    from ipdrop.tracker import _stable_seed

    rng = np.random.default_rng(3)
    f = np.log1p(np.exp(rng.normal(size=(200, 6))))
    y = rng.integers(0, K, 200)
    t = InformationPlaneTracker(["binning-ref", "binning-ref-3"], variance=0.2, n_bins=(10,), seed=4)
    t.increment(1)
    t.update(f, y, split="test")
    df = t.compute()
    noisy = reference_noisy(f, 0.2, seed=_stable_seed(4, 1, "test"))
    for n in (10, 3):
        name = f"binning-ref-{n}"
        assert _value(df, "test", name, "I(X;Z)") == binning_ref_mi_xz(noisy, n).value
        assert _value(df, "test", name, "I(Y;Z)") == binning_ref_mi_yz(noisy, y, n).value
        assert _value(df, "test", name, "I(Y_binned;Z)") == binning_ref_mi_yz(noisy, y, n, bin_labels=True).value
    with pytest.raises(ValueError, match="binning-ref.*variance"):
        InformationPlaneTracker(["binning-ref"])


@pytest.mark.parametrize(
    "name, match",
    [
        ("binning-ref-1", ">= 2"),
        ("binning-ref-x", "binning-ref"),
        ("binning-1", ">= 2"),
        ("mixture-X1", "mixture"),
        ("knn-3", "unknown"),
    ],
)
def test_estimator_names_are_validated(name, match):
    with pytest.raises(ValueError, match=match):
        parse_estimators([name])


def test_factories_cover_every_known_name_and_knn_is_the_default_label_estimator():
    from ipdrop.tracker import ESTIMATOR_FACTORIES, KNOWN_ESTIMATORS

    assert KNOWN_ESTIMATORS == tuple(ESTIMATOR_FACTORIES)
    assert {"mixture", "binning", "binning-ref", "knn", "edge", "variational", "kl"} == set(KNOWN_ESTIMATORS)
    t = InformationPlaneTracker()
    assert "knn" in t.estimators and "edge" not in t.estimators
    # label estimators: EDGE is seeded per step (reproducible), k-NN is deterministic
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(4), 30)
    z = y[:, None] + rng.normal(size=(120, 3))
    vals = []
    for _ in range(2):
        t = InformationPlaneTracker(["edge", "knn"], seed=9)
        t.increment(0)
        t.update(z, y)
        vals.append(t.compute().set_index("estimator")["value"].to_dict())
    assert vals[0] == vals[1]


class _Capture:
    """Stands in for GaussianDropoutMI in the tracker: records the variance it is built with."""

    seen: list = []

    def __init__(self, variance, **kw):
        from ipdrop.estimators import GaussianDropoutMI

        _Capture.seen.append(variance)
        self._est = GaussianDropoutMI(variance=variance, **kw)

    def estimate(self, z):
        return self._est.estimate(z)


def test_tracker_gives_the_tracked_layers_variance_to_the_estimators(monkeypatch):
    # A layer variance that is no default anywhere (TrainConfig: 0.2): the mixture estimator is built with it,
    # and the reference binning bins the same seeded draw f(x) * D, D ~ N(1, 0.37), as the library function.
    from ipdrop import tracker as tracker_mod
    from ipdrop.estimators import binning_ref_mi_xz, reference_noisy
    from ipdrop.models import build_model
    from ipdrop.tracker import _stable_seed

    monkeypatch.setattr(tracker_mod, "GaussianDropoutMI", _Capture)
    _Capture.seen = []
    model = build_model("fc", "mnist", dropout="gaussian", variance=0.37)
    t = InformationPlaneTracker(["mixture-dataset", "binning-ref-5"], layer=model.dropout, n_noise=2, seed=2)
    assert t.variance == 0.37
    rng = np.random.default_rng(0)
    f = np.log1p(np.exp(rng.normal(size=(30, 4))))
    t.increment(0)
    t.update(f, np.arange(30) % 3)
    df = t.compute()
    assert _Capture.seen == [0.37]
    noisy = reference_noisy(f, 0.37, seed=_stable_seed(2, 0, "train"))
    assert _value(df, "train", "binning-ref-5", "I(X;Z)") == binning_ref_mi_xz(noisy, 5).value
    # the variance is read from the layer at every compute, not copied at construction
    model.dropout.variance = 0.55
    t.increment(1)
    t.update(f, np.arange(30) % 3)
    t.compute()
    assert _Capture.seen == [0.37, 0.55] and t.variance == 0.55


def test_tracker_variance_and_layer_must_agree():
    from ipdrop.dropout import BernoulliDropout, GaussianDropout, InformationDropout, NoDropout

    layer = GaussianDropout(variance=0.4)
    assert InformationPlaneTracker(["mixture"], layer=layer, variance=0.4).variance == 0.4  # agreeing: fine
    with pytest.raises(ValueError, match=r"variance=0.2 differs from the tracked layer's variance 0.4"):
        InformationPlaneTracker(["mixture"], layer=layer, variance=0.2)
    t = InformationPlaneTracker(["mixture-dataset", "binning-ref-3"], variance=0.2)
    with pytest.raises(ValueError, match="differs from the tracked layer's variance"):
        t.track_layer(layer)
    assert t.layer is None and t.variance == 0.2  # a refused layer is not attached
    # information dropout: a learned per-sample, per-unit log-normal scale, no single Var(D)
    info = InformationDropout(4)
    with pytest.raises(ValueError, match=r"InformationDropout.*'mixture'.*learned scale.*'kl'"):
        InformationPlaneTracker(["mixture"], layer=info)
    with pytest.raises(ValueError, match="variance=0.2 was given, but the tracked layer"):
        InformationPlaneTracker(["kl"], layer=info, variance=0.2)
    assert InformationPlaneTracker(["kl", "binning"], layer=info).variance is None
    with pytest.raises(ValueError, match=r"BernoulliDropout.*'binning-ref'.*no Gaussian noise"):
        InformationPlaneTracker(["binning-ref"], layer=BernoulliDropout(0.5))
    with pytest.raises(ValueError, match="NoDropout"):
        InformationPlaneTracker(["binning-ref"], layer=NoDropout())
    assert InformationPlaneTracker(["binning"], layer=NoDropout()).variance is None
    t = InformationPlaneTracker(["mixture"], layer=layer)
    with pytest.raises(ValueError, match="has no Gaussian dropout variance"):
        t.track_layer(torch.nn.Identity())
    # an invalid variance on the layer is named when it is read
    layer.variance = -1.0
    with pytest.raises(ValueError, match="GaussianDropout.variance"):
        _ = t.variance
