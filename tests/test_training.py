"""Training: config validation, run folder contents, kill-and-resume, conflicts, evaluation semantics.

Every run here is tiny (FC network, 500 embedded MNIST training images, IP on 200 + 200 samples,
one thread) so the file stays well under a minute on a shared 2-core CPU.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ipdrop.training import RESULT_COLUMNS, RunConflictError, TrainConfig, load_results, run, train

TINY = dict(
    model="fc",
    dataset="mnist",
    dropout="gaussian",
    variance=0.2,
    epochs=2,
    n_train=500,
    ip_n_train=200,
    ip_n_test=200,
    batch_size=50,
    lr=0.1,
    n_bins=(10, 30),
    n_noise=2,
    seed=3,
    num_threads=1,
)


class _Crash(Exception):
    pass


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    rng_before = torch.get_rng_state().clone()
    df = train(TrainConfig(**TINY), out, progress=False)
    rng_after = torch.get_rng_state()
    return out, df, rng_before, rng_after


# --------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"model": "vgg"}, "unknown model 'vgg'"),
        ({"dataset": "svhn"}, "unknown dataset 'svhn'"),
        ({"variance": 0.0}, "variance must be finite and > 0"),
        ({"variance": -0.3}, "variance must be finite and > 0"),
        ({"beta": -1.0}, "beta must be finite and >= 0"),
        ({"dropout": "spike"}, "unknown dropout 'spike'"),
        ({"schedule": "linear"}, "unknown schedule"),
        ({"epochs": 2, "ip_epochs": (0, 5)}, "beyond epochs=2"),
        ({"ip_epochs": "sometimes"}, "ip_epochs"),
        ({"estimators": ("mixture",), "dropout": "information"}, "needs Gaussian dropout"),
        ({"estimators": ("binning-ref-30",), "dropout": "bernoulli", "drop_rate": 0.5}, "binning-ref.*Gaussian"),
        ({"estimators": ("kl",)}, "needs information dropout"),
        ({"estimators": ("magic",)}, "unknown estimator 'magic'"),
        ({"n_bins": (1,)}, "n_bins"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"batch_size": 1.5}, "batch_size must be an integer"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict({**TINY, **changes})


def test_config_roundtrip_and_normalisation():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['colour'\]"):
        TrainConfig.from_dict({"colour": "red"})
    cfg = TrainConfig.from_dict({"dropout": "None", "ip_epochs": "0,2", "n_bins": "10,30", "epochs": 3})
    assert cfg.dropout is None and cfg.ip_epochs == (0, 2) and cfg.n_bins == (10, 30)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig(epochs=4, ip_epochs="every:3").resolved_ip_epochs() == (0, 3, 4)
    assert TrainConfig(epochs=4, ip_epochs="last").resolved_ip_epochs() == (4,)
    assert TrainConfig(dropout="information").resolved_estimators[0] == "kl"
    assert "mixture" in TrainConfig(dropout="gaussian").resolved_estimators


# --------------------------------------------------------------------------- a run folder


def test_two_epoch_run_writes_tidy_table(two_epochs):
    out, df, rng_before, rng_after = two_epochs
    assert {p.name for p in out.iterdir()} >= {"config.json", "results.csv", "checkpoint.pt", "run.json"}
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"] == TrainConfig(**TINY).to_dict() and cfg["seed"] == 3
    assert cfg["versions"]["torch"] == torch.__version__ and cfg["resolved"]["device"] == "cpu"
    # the table on disk is the returned one
    pd.testing.assert_frame_equal(load_results(out), df)
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert sorted(df.epoch.unique()) == [0, 1, 2]
    combos = set(zip(df.estimator, df.quantity))
    expected = {
        ("mixture-dataset", "I(X;Z)"),
        ("mixture-dataset", "h(Z)"),
        ("mixture-dataset", "h(Z|X)"),
        ("mixture-heldout", "I(X;Z)"),
        ("binning-10", "I(X;Z)"),
        ("binning-30", "I(Y;Z)"),
        ("edge", "I(Y;Z)"),
        ("knn", "I(Y;Z)"),
        ("variational", "I(Y;Z)"),
        ("eval", "loss"),
        ("eval", "accuracy"),
        ("eval-mc", "accuracy"),
        ("optim", "loss"),
        ("optim", "lr"),
    }
    assert expected <= combos, expected - combos
    # every IP estimate exists for every epoch and both splits
    ip = df[df.quantity.isin(["I(X;Z)", "I(Y;Z)"])]
    assert (ip.groupby(["estimator", "quantity"]).size() == 3 * 2).all()
    assert (ip[ip.split == "train"].n == 200).all() and (ip.d == 32).all()
    # I(X;Z) of the dataset view is <= log N (N = 200 inputs): exact property of that estimator
    mix = df[(df.estimator == "mixture-dataset") & (df.quantity == "I(X;Z)")]
    assert (mix.value <= math.log(200) + 1e-9).all() and (mix.value > 0).all()
    test_eval = df[(df.estimator == "eval") & (df.split == "test") & (df.quantity == "accuracy")]
    assert (test_eval.n == 1000).all()
    # the learning rate follows the cosine schedule: lr at epoch 1 = 0.1, epoch 2 = 0.1 * (1 + cos(pi/2)) / 2
    lr = df[(df.quantity == "lr")].sort_values("epoch").value.tolist()
    assert lr == pytest.approx([0.1, 0.05])
    # training helped (loss of the test set after 2 epochs below the chance level log 10)
    loss = df[(df.estimator == "eval") & (df.split == "test") & (df.quantity == "loss")].sort_values("epoch")
    assert loss.value.iloc[-1] < math.log(10)
    # the caller's global torch RNG state is restored after the run
    assert torch.equal(rng_before, rng_after)


def _crash_after_first(epoch, df):
    """``on_epoch_end`` that kills the run after its first epoch (the checkpoint of epoch 1 is written)."""
    if epoch == 1:
        raise _Crash()


def test_kill_and_resume_gives_identical_results(two_epochs, tmp_path):
    full_out, full_df, *_ = two_epochs
    out = tmp_path / "crashy"

    with pytest.raises(_Crash):
        train(TrainConfig(**TINY), out, progress=False, on_epoch_end=_crash_after_first)
    assert not (out / "run.json").exists()
    partial = load_results(out)
    assert sorted(partial.epoch.unique()) == [0, 1]
    torch.manual_seed(12345)  # the resumed run must not depend on the caller's RNG
    resumed = train(TrainConfig(**TINY), out, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["resumed_from_epoch"] == 1
    # the wall time covers both processes: one time per epoch 0..2, and the total at least their sum
    assert len(info["epoch_times_s"]) == 3 and info["wall_time_complete"] is True
    assert info["wall_time_s"] >= sum(info["epoch_times_s"]) - 1e-6
    assert (out / "results.csv").read_bytes() == (full_out / "results.csv").read_bytes()
    pd.testing.assert_frame_equal(resumed, full_df)
    a = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(full_out / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_complete_run_is_not_retrained(two_epochs):
    out, df, *_ = two_epochs
    mtime = (out / "checkpoint.pt").stat().st_mtime_ns
    again = run(TrainConfig(**TINY).to_dict(), out, progress=False)
    pd.testing.assert_frame_equal(again, df)
    assert (out / "checkpoint.pt").stat().st_mtime_ns == mtime


def test_out_dir_with_another_run_is_refused(two_epochs, tmp_path):
    out, *_ = two_epochs
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunConflictError, match="holds another run"):
        train(TrainConfig(**{**TINY, "variance": 0.4}), out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunConflictError, match="not empty"):
        train(TrainConfig(**TINY), other, progress=False)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_bad_config_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="variance"):
        run({**TINY, "variance": -1}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_information_dropout_run_records_kl(tmp_path):
    cfg = TrainConfig(
        **{
            **TINY,
            "dropout": "information",
            "beta": 0.01,
            "epochs": 1,
            "ip_epochs": "last",
            "estimators": ("kl", "variational"),
            "n_train": 200,
            "ip_n_train": 100,
            "ip_n_test": 100,
        }
    )
    df = train(cfg, tmp_path / "info", progress=True)  # also exercises the progress bars
    kl = df[(df.estimator == "kl") & (df.quantity == "I(X;Z)")]
    assert sorted(kl.split) == ["test", "train"] and (kl.epoch == 1).all()
    # a KL divergence is >= 0 (the per-unit closed form is a KL between two log-normals)
    assert (kl.value >= 0).all() and np.isfinite(kl.value).all()


def test_trainer_estimates_with_the_models_layer_variance(tmp_path, monkeypatch):
    # The estimators get Var(D) from the tracked layer, not from the config: a model whose layer variance (0.37)
    # differs from the config's (0.2) is estimated with 0.37.
    from ipdrop import models, tracker
    from ipdrop.estimators import GaussianDropoutMI

    build = models.build_model

    def build_other(*args, **kwargs):
        return build(*args, **{**kwargs, "variance": 0.37})

    seen = []

    class Capture(GaussianDropoutMI):
        def __init__(self, variance, **kw):
            seen.append(variance)
            super().__init__(variance=variance, **kw)

    monkeypatch.setattr(models, "build_model", build_other)
    monkeypatch.setattr(tracker, "GaussianDropoutMI", Capture)
    cfg = {**TINY, "epochs": 0, "n_train": 100, "ip_n_train": 50, "ip_n_test": 50, "estimators": ("mixture-dataset",)}
    df = train(TrainConfig(**cfg), tmp_path / "r", progress=False)
    assert seen == [0.37, 0.37]  # train and test split
    assert "mixture-dataset" in set(df.estimator)


def test_evaluation_freezes_batch_norm_and_uses_mc_dropout():
    from ipdrop.dropout import GaussianDropout
    from ipdrop.tracker import InformationPlaneTracker
    from ipdrop.training import _evaluate

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(6)
            self.lin = torch.nn.Linear(6, 4)
            self.dropout = GaussianDropout(0.5)
            self.head = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.dropout(torch.nn.functional.softplus(self.lin(self.bn(x)))))

    torch.manual_seed(0)
    model = Tiny().train()
    x, y = torch.randn(40, 6) * 3 + 1, torch.arange(40) % 3
    stats = (model.bn.running_mean.clone(), model.bn.running_var.clone(), int(model.bn.num_batches_tracked))
    tracker = InformationPlaneTracker(["variational"])
    tracker.increment(0)
    kw = dict(device=torch.device("cpu"), batch_size=16, split="test", tracker=tracker, ip_index=np.arange(0, 40, 2))
    det = [_evaluate(model, x, y, mc_samples=0, **{k: v for k, v in kw.items() if k != "tracker"}) for _ in range(2)]
    mc = [_evaluate(model, x, y, mc_samples=1, **kw if i == 0 else {**kw, "tracker": None}) for i in range(2)]
    assert det[0] == det[1]  # dropout off: deterministic
    assert mc[0] != mc[1]  # Monte-Carlo dropout: noisy passes
    assert torch.equal(model.bn.running_mean, stats[0]) and torch.equal(model.bn.running_var, stats[1])
    assert int(model.bn.num_batches_tracked) == stats[2]
    assert not model.dropout.mc  # MC switch restored
    # the tracker saw exactly the 20 requested rows, with the noiseless representation
    data = tracker._split_data("test")
    assert data.z.shape == (20, 4) and data.z_noisy.shape == (20, 4)
    model.eval()
    with torch.no_grad():
        ref = torch.nn.functional.softplus(model.lin(model.bn(x[::2])))
    np.testing.assert_allclose(data.z, ref.numpy(), rtol=1e-6)
    assert not np.allclose(data.z_noisy, data.z)


def test_augmentation_is_a_seeded_crop_and_flip():
    from ipdrop.training import _augment

    x = torch.randn(6, 3, 8, 8)
    out = _augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, _augment(x, torch.Generator().manual_seed(0)))  # reproducible from the generator
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for b in range(len(x)):  # every output is a window of the zero-padded image, possibly mirrored
        windows = [
            w
            for dy in range(9)
            for dx in range(9)
            for w in (padded[b, :, dy : dy + 8, dx : dx + 8], padded[b, :, dy : dy + 8, dx : dx + 8].flip(-1))
        ]
        assert any(torch.equal(out[b], w) for w in windows)


def test_beta_convention_end_to_end(tmp_path):
    """`ipdrop train --beta 3 --kl-dataset-size 50000` is the chapters' (paper's) beta = 3: same config fields,
    and the loss depends on beta / kl_dataset_size only (CE + beta * KL / N_train)."""
    from ipdrop.chapters import planes
    from ipdrop.cli import build_parser

    args = build_parser().parse_args(
        [
            "train",
            "--out",
            str(tmp_path / "x"),
            "--model",
            "fullcnn",
            "--dataset",
            "cifar10",
            "--dropout",
            "information",
            "--beta",
            "3",
            "--kl-dataset-size",
            "50000",
        ]
    )
    st = planes.beta_study(betas=[3.0], widths=[0.125], kl_dataset_size=50000, epochs=1)
    cfg = st.configs[st.runs[0]]
    assert (args.beta, args.kl_dataset_size) == (cfg.beta, cfg.kl_dataset_size) == (3.0, 50000)
    base = dict(
        model="fc",
        dataset="mnist",
        dropout="information",
        epochs=1,
        n_train=300,
        batch_size=100,
        ip_epochs="none",
        num_threads=1,
    )
    a = train(TrainConfig(**base, beta=3.0, kl_dataset_size=1), tmp_path / "a", progress=False)
    b = train(TrainConfig(**base, beta=3000.0, kl_dataset_size=1000), tmp_path / "b", progress=False)
    c = train(TrainConfig(**base, beta=3.0, kl_dataset_size=1000), tmp_path / "c", progress=False)
    la, lb, lc = (d[(d.estimator == "optim") & (d.quantity == "loss")].value.iloc[0] for d in (a, b, c))
    assert la == lb  # beta / N_train is what the loss sees
    assert lc < la  # a 1000x smaller KL weight gives a smaller training loss


def test_bernoulli_dropout_takes_a_drop_rate():
    with pytest.raises(ValueError, match="needs drop_rate"):
        TrainConfig(dropout="bernoulli")
    with pytest.raises(ValueError, match="drop_rate must be in"):
        TrainConfig(dropout="bernoulli", drop_rate=1.0)
    with pytest.raises(ValueError, match="Bernoulli dropout only"):
        TrainConfig(dropout="gaussian", drop_rate=0.5)
    from ipdrop.models import build_model
    from ipdrop.training import _model_kwargs

    cfg = TrainConfig(dropout="bernoulli", drop_rate=0.3)
    assert _model_kwargs(cfg)["p"] == 0.3
    build_model("fc", "mnist", **_model_kwargs(cfg))


def test_config_differences_treat_missing_fields_as_defaults():
    from ipdrop.training import config_differences

    new = TrainConfig(variance=0.4).to_dict()
    old = {k: v for k, v in new.items() if k != "drop_rate"}  # a run written before drop_rate existed
    assert config_differences(old, new) == []
    assert config_differences({**old, "lr": 0.5}, new) == ["lr"]
    assert config_differences({**old, "num_threads": 7}, new) == []  # execution-only
    assert config_differences(old, {**new, "drop_rate": 0.5}) == ["drop_rate"]


def test_resume_from_a_checkpoint_without_wall_times_flags_the_total(tmp_path):
    # checkpoints written before the wall time was carried over: the run says its time is incomplete
    out = tmp_path / "old"

    with pytest.raises(_Crash):
        train(TrainConfig(**TINY), out, progress=False, on_epoch_end=_crash_after_first)
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    del ck["wall_time_s"], ck["epoch_times_s"]
    torch.save(ck, out / "checkpoint.pt")
    train(TrainConfig(**TINY), out, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["wall_time_complete"] is False and len(info["epoch_times_s"]) == 1
    from ipdrop.runstore import provenance

    prov = provenance(out)
    assert prov["training_wall_time_complete"] is False and prov["training_resumed_from_epoch"] == 1
