"""ipdrop.plotting.run_title, `ipdrop plot` titling a figure from the run's config, and ipdrop._rundir."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ipdrop import _rundir
from ipdrop.plotting import run_title
from ipdrop.training import TrainConfig


def test_run_title_names_network_dropout_and_n():
    cfg = TrainConfig(model="fc", dataset="mnist", dropout="gaussian", variance=0.2, ip_n_train=400, ip_n_test=200)
    assert run_title(cfg) == "fc on mnist, Gaussian dropout Var(D) = 0.2, IP on N = 400 train / 200 test inputs"
    info = dict(cfg.to_dict(), model="lenet", dropout="information", beta=3.0, max_alpha=0.7)
    assert run_title(info).startswith("lenet on mnist, information dropout beta = 3, max alpha = 0.7, ")
    # Bernoulli: the trainer drops with p = variance / (1 + variance)
    bern = dict(cfg.to_dict(), dropout="bernoulli", variance=1.0, width=0.5)
    assert run_title(bern).startswith("fc x0.5 on mnist, Bernoulli dropout p = 0.5 (Var(D) = 1), ")
    assert "no dropout" in run_title(dict(cfg.to_dict(), dropout=None))
    # a config with its own drop rate (the planned TrainConfig.drop_rate) is titled with it
    assert "Bernoulli dropout p = 0.3, " in run_title(dict(bern, drop_rate=0.3))


def _run_folder(path, complete=True):
    path.mkdir()
    rows = [
        dict(epoch=e, split="train", estimator=est, quantity=q, value=v, stderr=np.nan, n=100, d=4)
        for e in range(3)
        for est, q, v in (("binning-10", "I(X;Z)", 1.0 + e), ("binning-10", "I(Y;Z)", 0.5 * e))
    ]
    pd.DataFrame(rows).to_csv(path / _rundir.RESULTS_FILE, index=False)
    cfg = TrainConfig(variance=0.4, ip_n_train=100, ip_n_test=100)
    (path / _rundir.CONFIG_FILE).write_text(json.dumps({"config": cfg.to_dict()}))
    if complete:
        (path / _rundir.RUN_FILE).write_text(json.dumps({"status": "complete"}))
    return cfg


def test_rundir_readers(tmp_path):
    cfg = _run_folder(tmp_path / "run")
    _run_folder(tmp_path / "half", complete=False)
    assert _rundir.is_complete(tmp_path / "run") and not _rundir.is_complete(tmp_path / "half")
    assert _rundir.read_config(tmp_path / "run")["variance"] == cfg.variance
    assert _rundir.read_config(tmp_path / "nothing") is None and _rundir.read_run_info(tmp_path / "half") == {}
    df = _rundir.read_results(tmp_path / "run")
    assert df["epoch"].dtype == "int64" and str(df["n"].dtype) == "Int64" and df["stderr"].dtype == "float64"
    pd.testing.assert_frame_equal(df, _rundir.read_results(tmp_path / "run" / _rundir.RESULTS_FILE))
    with pytest.raises(FileNotFoundError, match="no results table"):
        _rundir.read_results(tmp_path / "nothing")


def test_cli_plot_titles_the_figure_from_the_config(tmp_path, monkeypatch):
    from ipdrop import plotting
    from ipdrop.cli import main

    cfg = _run_folder(tmp_path / "run")
    seen = {}
    original = plotting.plot_planes_grid

    def spy(df, **kw):
        seen.update(kw)
        return original(df, **kw)

    monkeypatch.setattr(plotting, "plot_planes_grid", spy)
    assert main(["plot", str(tmp_path / "run"), "--splits", "train"]) == 0
    assert seen["suptitle"] == run_title(cfg)
    assert (tmp_path / "run" / "information_planes.png").stat().st_size > 0
    # a results.csv without a config next to it keeps its path as the title
    bare = tmp_path / "bare"
    bare.mkdir()
    (tmp_path / "run" / _rundir.RESULTS_FILE).rename(bare / "r.csv")
    assert main(["plot", str(bare / "r.csv"), "--splits", "train"]) == 0
    assert seen["suptitle"] == str(bare / "r.csv")


def test_paper_planes_panel_without_data_has_no_axes_and_a_wrapped_name():
    # a pair with no rows in the table (e.g. information dropout not stored yet) is drawn as a blank panel with the
    # pair's name, not as an empty 0..1 frame that reads like data
    import math

    from ipdrop.plotting import plot_paper_planes

    rows = []
    for e in range(1, 4):
        for split in ("train", "test"):
            rows.append(
                dict(run="a", epoch=e, split=split, estimator="mixture-paper", quantity="I(X;Z)", value=5.0 - e)
            )
            rows.append(dict(run="a", epoch=e, split=split, estimator="edge", quantity="I(Y;Z)", value=math.log(10)))
    df = pd.DataFrame(rows).assign(mc_error=np.nan, n=1000)
    fig = plot_paper_planes(df, [("mixture-paper", "edge"), ("kl", "variational")])
    empty = fig.axes[1]
    assert not empty.axison and "not stored yet" in empty.texts[0].get_text()
    assert max(len(line) for line in empty.texts[0].get_text().splitlines()) <= 18
    assert fig.axes[0].axison
