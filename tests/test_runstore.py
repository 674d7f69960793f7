"""Stored representations, estimation after training, the results store and its provenance checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from ipdrop import runstore

ROOT = Path(__file__).resolve().parents[1]


def _tiny_params(tmp_path: Path, **estimate) -> Path:
    spec = yaml.safe_load((ROOT / "params" / "paper_runs" / "fc_mnist.yaml").read_text())
    spec["base"].update(subset="embedded", epochs=2, ip_n_train=200, ip_n_test=150, ip_epochs="all", n_train=400)
    spec["runs"] = {"a": {"variance": 0.2}}
    spec["estimate"] = estimate or {"estimators": ["mixture", "binning"], "n_bins": [3, 30], "sizes": [100]}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_reproduce_stores_a_checked_run_and_resumes(tmp_path):
    params = _tiny_params(tmp_path)
    work, store = tmp_path / "work", tmp_path / "store"
    assert runstore.reproduce(params, store, work=work, progress=False) == {"a": "done"}
    run, stored = work / "a", store / "a"
    assert runstore.representation_epochs(run) == [0, 1, 2]
    reps = runstore.load_representations(run, 1)
    assert reps["train"]["z"].shape == (200, 32) and reps["train"]["z"].dtype == np.float32
    assert reps["test"]["y"].shape == (150,)
    assert sorted(p.name for p in stored.iterdir()) == sorted(runstore.STORED_FILES)
    assert not list(stored.glob("*.pt")) and not (stored / "reps").exists()
    assert runstore.check_stored_run(stored, params) == []
    table = runstore.load_table(stored)
    assert {"mixture-dataset", "mixture-heldout", "binning-3", "binning-30", "variational", "eval"} <= set(
        table.estimator
    )
    # the dataset view is the MI of X uniform on the sample: at most log N (plus MC error)
    ds = table[(table.estimator == "mixture-dataset") & (table.quantity == "I(X;Z)") & (table.split == "train")]
    assert (ds.value <= np.log(200) + 0.05).all()
    # the subsample rows (the N-drift that shows finite-N bias): same views on the first 100 representations
    sub = table[(table.estimator == "mixture-dataset@100") & (table.quantity == "I(X;Z)") & (table.split == "train")]
    assert len(sub) == 3 and (sub["n"] == 100).all() and (sub.value <= np.log(100) + 0.05).all()
    # a second call estimates nothing again (same settings): the file is unchanged
    before = (run / "estimates.csv").read_bytes()
    info = json.loads((run / "estimates.json").read_text())
    runstore.estimate_run(run, ["mixture", "binning"], n_bins=[3, 30], sizes=[100], progress=False)
    assert (run / "estimates.csv").read_bytes() == before
    assert json.loads((run / "estimates.json").read_text())["epochs_done"] == info["epochs_done"] == [0, 1, 2]


def test_store_check_finds_disagreement_and_missing_provenance(tmp_path):
    params = _tiny_params(tmp_path)
    store = tmp_path / "store"
    runstore.reproduce(params, store, work=tmp_path / "work", progress=False)
    stored = store / "a"
    cfg = json.loads((stored / "config.json").read_text())
    cfg["config"]["lr"] = 0.5
    (stored / "config.json").write_text(json.dumps(cfg))
    assert any("differs" in p and "lr" in p for p in runstore.check_stored_run(stored, params))
    cfg["config"]["lr"] = 0.1
    (stored / "config.json").write_text(json.dumps(cfg))
    prov = json.loads((stored / "provenance.json").read_text())
    prov["cpu"] = ""
    (stored / "provenance.json").write_text(json.dumps(prov))
    assert any("lacks cpu" in p for p in runstore.check_stored_run(stored, params))
    (stored / "provenance.json").unlink()
    assert any("missing provenance.json" in p for p in runstore.check_stored_run(stored, params))


def test_estimate_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        runstore.estimate_run(tmp_path, progress=False)
    params = _tiny_params(tmp_path)
    work = tmp_path / "work"
    runstore.reproduce(params, tmp_path / "store", work=work, progress=False, stages=("train",))
    bad = work / "a" / "reps" / "epoch-0001.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="epoch-0001.npz"):
        runstore.load_representations(work / "a", 1)
    with pytest.raises(ValueError, match="no stored representations for epochs \\[7\\]"):
        runstore.estimate_run(work / "a", epochs=[7], progress=False)
    with pytest.raises(ValueError, match="has not finished|no estimates.csv"):
        runstore.export_run(work / "a", tmp_path / "x")


def test_committed_results_store_matches_its_params_files():
    """Every stored paper-scale run agrees with its params file and carries its provenance."""
    results = ROOT / "results"
    runs = sorted(p for p in results.glob("*/*") if p.is_dir()) if results.is_dir() else []
    if not runs:
        pytest.skip("no stored runs yet")
    problems = []
    for run in runs:
        params = ROOT / "params" / "paper_runs" / f"{run.parent.name}.yaml"
        if not params.is_file():
            problems.append(f"{run}: no params file {params}")
            continue
        problems += runstore.check_stored_run(run, params)
    assert problems == []
    size = sum(f.stat().st_size for f in results.rglob("*") if f.is_file())
    assert size <= 25 * 2**20, f"the results store holds {size / 2**20:.1f} MB (limit 25 MB)"
