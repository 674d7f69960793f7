"""Damaged run folders and bad input give one ``ipdrop <command>: error: ...`` line (exit 2) naming the file,
never a traceback and never damaged numbers; finished runs' tables are verified against ``run.json``.

Runs are tiny (FC at width 0.25 on 300 embedded MNIST images, IP on 50 + 50 samples, one thread).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from ipdrop import data as ipdrop_data
from ipdrop.cli import main
from ipdrop.training import (
    RESULT_COLUMNS,
    ResultsIntegrityError,
    TrainConfig,
    default_num_threads,
    load_results,
    train,
)

PARAMS = {
    "model": "fc",
    "width": 0.25,
    "dataset": "mnist",
    "epochs": 1,
    "n_train": 300,
    "ip_n_train": 50,
    "ip_n_test": 50,
    "batch_size": 100,
    "estimators": ["binning"],
    "n_bins": [10],
    "num_threads": 1,
    "device": "cpu",
    "seed": 0,
}


class _Stop(Exception):
    pass


def _one_line_error(capsys, command: str, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ipdrop {command}: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _cli_train(tmp_path, out, **changes) -> int:
    cfg = tmp_path / "params.json"
    cfg.write_text(json.dumps({**PARAMS, **changes}))
    return main(["train", "--config", str(cfg), "--out", str(out), "--no-progress"])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "done"
    df = train(TrainConfig(**PARAMS), out, progress=False)
    return out, df


def _unfinished(out, **changes):
    """A run stopped after epoch 0 (checkpoint and table of epoch 0, no run.json)."""

    def stop(epoch, df):
        raise _Stop

    with pytest.raises(_Stop):
        train(TrainConfig(**{**PARAMS, "epochs": 2, **changes}), out, progress=False, on_epoch_end=stop)
    assert (out / "checkpoint.pt").exists() and not (out / "run.json").exists()


# --------------------------------------------------------------------------- verified results
def test_finished_run_records_checksum_and_row_count(finished):
    out, df = finished
    info = json.loads((out / "run.json").read_text())
    assert info["results_sha256"] == hashlib.sha256((out / "results.csv").read_bytes()).hexdigest()
    assert info["results_rows"] == len(df) > 0
    pd.testing.assert_frame_equal(load_results(out), df)


@pytest.mark.parametrize("damage", ["edit", "truncate", "garbage", "delete"])
def test_damaged_table_of_a_finished_run_is_refused(finished, tmp_path, capsys, damage):
    src, _ = finished
    out = tmp_path / "run"
    out.mkdir()
    for p in src.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    table = out / "results.csv"
    text = table.read_text()
    if damage == "edit":  # one accuracy changed, same number of rows
        df = pd.read_csv(table)
        i = df.index[(df["quantity"] == "accuracy")][0]
        df.loc[i, "value"] = 0.8230
        df.to_csv(table, index=False, float_format="%.17g")
    elif damage == "truncate":
        table.write_text("\n".join(text.splitlines()[:3]) + "\n")
    elif damage == "garbage":
        table.write_bytes(b'a,b\n"1,2\n3,4,5,6\n\x00\xff')
    else:
        table.unlink()
    with pytest.raises(ResultsIntegrityError, match="results.csv"):
        train(TrainConfig(**PARAMS), out, progress=False)
    assert _cli_train(tmp_path, out) == 2
    line = _one_line_error(capsys, "train", str(table))
    assert "test accuracy" not in capsys.readouterr().out
    if damage in ("edit", "truncate"):
        assert "sha256" in line and "changed or damaged" in line
    if damage == "truncate":
        assert "rows found" in line
    # a sweep over that folder refuses before running anything
    cfg = {k: v for k, v in PARAMS.items() if k != "seed"}
    sweep_root = tmp_path / "sweep"
    (sweep_root / "seed=0").mkdir(parents=True)
    for p in out.iterdir():
        (sweep_root / "seed=0" / p.name).write_bytes(p.read_bytes())
    args = [
        "sweep",
        "train",
        "--grid",
        "seed=0",
        "--executor",
        "serial",
        "--out",
        str(sweep_root),
        "--no-progress",
        "--set",
        *[f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in cfg.items()],
    ]
    assert main(args) == 2
    _one_line_error(capsys, "sweep", str(sweep_root / "seed=0" / "results.csv"))


def test_garbage_table_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "results.csv"
    bad.write_bytes(b'a,b\n"1,2\n3,4,5,6\n')
    assert main(["plot", str(bad)]) == 2
    _one_line_error(capsys, "plot", str(bad))
    bad.write_text("x,y\n1,2\n")
    assert main(["plot", str(bad)]) == 2
    _one_line_error(capsys, "plot", str(bad), "columns")
    with pytest.raises(ValueError, match="results.csv"):
        load_results(tmp_path)


# --------------------------------------------------------------------------- damaged run folders
def test_truncated_checkpoint_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    _unfinished(out)
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:1000])
    assert _cli_train(tmp_path, out, epochs=2) == 2
    _one_line_error(capsys, "train", str(ck), "damaged or truncated", "--no-resume")
    assert (
        main(["train", "--config", str(tmp_path / "params.json"), "--out", str(out), "--no-progress", "--no-resume"])
        == 0
    )  # the way out the message names works


def test_stray_temporary_files_are_removed_at_the_next_start(tmp_path):
    out = tmp_path / "run"
    _unfinished(out)
    stray = [out / ".checkpoint.pt.k1ll3d.tmp", out / ".results.csv.abc.tmp"]
    for p in stray:
        p.write_bytes(b"half a file")
    train(TrainConfig(**{**PARAMS, "epochs": 2}), out, progress=False)
    assert not any(p.exists() for p in stray)
    assert not list(out.glob(".*.tmp"))


def test_execution_only_keys_may_change_on_resume(tmp_path):
    out = tmp_path / "run"
    _unfinished(out)
    df = train(TrainConfig(**{**PARAMS, "epochs": 2, "num_threads": 2}), out, progress=False)
    assert sorted(df["epoch"].unique()) == [0, 1, 2]
    # the science still has to match
    from ipdrop.training import RunConflictError

    with pytest.raises(RunConflictError, match="variance"):
        train(TrainConfig(**{**PARAMS, "epochs": 2, "variance": 0.5}), out, progress=False)


def test_run_files_are_readable_by_others(finished):
    out, _ = finished
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "results.csv", "checkpoint.pt", "run.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~mask, name


# --------------------------------------------------------------------------- bad input
def test_out_below_a_file_is_a_one_line_error(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _cli_train(tmp_path, afile / "sub") == 2
    _one_line_error(capsys, "train", str(afile), "not a folder")
    assert (
        main(["sweep", "train", "--grid", "seed=0", "--set", "epochs=0", "--out", str(afile / "sub"), "--no-progress"])
        == 2
    )
    _one_line_error(capsys, "sweep", str(afile))


def test_unknown_device_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "--device", "tpu", "--out", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, "train", "unknown device 'tpu'")
    assert not (tmp_path / "run").exists()
    assert main(["sweep", "train", "--grid", "seed=0", "--set", "device=tpu", "--out", str(tmp_path / "s")]) == 2
    _one_line_error(capsys, "sweep", "unknown device 'tpu'")


def _npz_bytes(tmp_path, **arrays) -> bytes:
    p = tmp_path / "tmp.npz"
    np.savez(p, **arrays)
    return p.read_bytes()


def _good_arrays(n=20):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 255, (n, 28, 28), dtype=np.uint8),
        "y_train": np.arange(n) % 10,
        "x_test": rng.integers(0, 255, (n, 28, 28), dtype=np.uint8),
        "y_test": np.arange(n) % 10,
    }


@pytest.mark.parametrize(
    "content", ["truncated", "empty", "not-npz", "pickle", "labels", "negative-labels", "float-labels"]
)
def test_bad_dataset_file_is_a_one_line_error(tmp_path, capsys, monkeypatch, content):
    root = tmp_path / "data"
    root.mkdir()
    f = root / "mnist.npz"
    good = _npz_bytes(tmp_path, **_good_arrays())
    expect = str(f)
    if content == "truncated":
        f.write_bytes(good[: len(good) // 2])
    elif content == "empty":
        f.write_bytes(b"")
    elif content == "not-npz":
        f.write_text("these are not the images you are looking for\n")
        expect = "not a NumPy .npz archive"
    elif content == "pickle":
        import pickle

        f.write_bytes(pickle.dumps({"x_train": [1, 2]}))
    else:
        arrays = _good_arrays()
        if content == "labels":
            arrays["y_train"] = arrays["y_train"].copy()
            arrays["y_train"][7] = 10  # IndexError after epoch 0 before labels were checked
            expect = "outside 0..9"
        elif content == "negative-labels":
            arrays["y_test"] = -arrays["y_test"] - 1
            expect = "outside 0..9"
        else:
            arrays["y_train"] = arrays["y_train"].astype(float)
            expect = "integer class labels"
        f.write_bytes(_npz_bytes(tmp_path, **arrays))
    monkeypatch.setenv("IPDROP_DATA", str(root))
    monkeypatch.setattr(ipdrop_data, "_download", lambda name, cache: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(ValueError, match="mnist.npz"):
        ipdrop_data.load("mnist")
    out = tmp_path / "run"
    assert _cli_train(tmp_path, out, subset="full", n_train=None) == 2
    _one_line_error(capsys, "train", str(f) if expect.startswith("not a") else expect, expect)
    assert not out.exists(), "nothing may be written before the data are checked"


def test_default_threads_never_exceed_cores(monkeypatch):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.delenv("IPDROP_SWEEP_THREADS", raising=False)
    assert 1 <= default_num_threads() <= cores
    monkeypatch.setenv("IPDROP_SWEEP_THREADS", "1")  # a sweep worker's share
    assert default_num_threads() == 1


def test_result_columns_are_the_tracker_ones(finished):
    out, _ = finished
    assert list(pd.read_csv(out / "results.csv").columns) == list(RESULT_COLUMNS)
