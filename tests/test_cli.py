"""The ``ipdrop`` command line: train, plot, sweep registration and the handling of bad input."""

import json

import pytest

from ipdrop import data as ipdrop_data
from ipdrop.cli import main

SMALL = [
    "--model",
    "fc",
    "--dataset",
    "mnist",
    "--epochs",
    "0",
    "--n-train",
    "300",
    "--ip-n-train",
    "100",
    "--ip-n-test",
    "100",
    "--estimators",
    "binning",
    "variational",
    "--n-bins",
    "10",
    "--num-threads",
    "1",
    "--no-progress",
]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *SMALL, "--out", str(out)]) == 0
    return out


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_train_writes_run_folder(cli_run, capsys):
    assert json.loads((cli_run / "run.json").read_text())["status"] == "complete"
    cfg = json.loads((cli_run / "config.json").read_text())["config"]
    assert cfg["model"] == "fc" and cfg["n_train"] == 300 and cfg["estimators"] == ["binning", "variational"]
    assert cfg["n_bins"] == [10] and cfg["variance"] == 0.2  # an option not given keeps its default


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "vgg"], "unknown model 'vgg'"),
        (["--dataset", "svhn"], "unknown dataset 'svhn'"),
        (["--variance", "0"], "variance must be finite and > 0"),
        (["--variance", "-0.5"], "variance must be finite and > 0"),
        (["--beta", "-1"], "beta must be finite and >= 0"),
        (["--epochs", "two"], "invalid int value"),  # an argparse error
    ],
)
def test_bad_input_fails_cleanly(tmp_path, capsys, args, message):
    out = tmp_path / "bad"
    assert main(["train", *SMALL, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not out.exists()


def test_missing_data_fails_cleanly(tmp_path, capsys, monkeypatch):
    def offline(name, cache):
        raise OSError("no network on this machine")

    monkeypatch.setattr(ipdrop_data, "_download", offline)
    monkeypatch.setenv("IPDROP_DATA", str(tmp_path / "nodata"))
    monkeypatch.setenv("IPDROP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--subset", "full", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ipdrop train: error: mnist not found" in err and "IPDROP_DATA" in err
    assert not out.exists()


def test_out_folder_with_another_run_is_refused(cli_run, capsys):
    before = _snapshot(cli_run)
    assert main(["train", *SMALL, "--variance", "0.4", "--out", str(cli_run)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert _snapshot(cli_run) == before


def test_same_command_on_complete_run_is_a_no_op(cli_run, capsys):
    before = _snapshot(cli_run)
    assert main(["train", *SMALL, "--out", str(cli_run)]) == 0
    assert _snapshot(cli_run) == before


def test_plot_writes_figure(cli_run, tmp_path, capsys):
    fig = tmp_path / "planes.png"
    assert main(["plot", str(cli_run), "--out", str(fig)]) == 0
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plot", str(cli_run), "--pairs", "binning-10"]) == 2


def test_subcommands_registered(capsys):
    assert main(["sweep", "--help"]) == 0
    assert "grid" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["--version"]) == 0


def test_config_file_with_overrides(tmp_path, capsys):
    cfg = tmp_path / "params.yaml"
    cfg.write_text(
        "model: fc\nepochs: 0\nn_train: 200\nip_n_train: 50\nip_n_test: 50\nvariance: 0.3\n"
        "estimators: [variational]\nip_epochs: none\nnum_threads: 1\n"
    )
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--variance", "0.5", "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["variance"] == 0.5 and saved["n_train"] == 200 and saved["ip_epochs"] == "none"
    cfg.write_text("model: fc\ncolour: red\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run2")]) == 2
    assert "unknown parameter(s) ['colour']" in capsys.readouterr().err
    assert not (tmp_path / "run2").exists()
