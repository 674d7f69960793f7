"""scripts/environment_report.py: the "Environment and compute" page is built from data, deterministically."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("environment_report", ROOT / "scripts" / "environment_report.py")
env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(env)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _run(results: Path, experiment: str, run: str, train_s, est_s, commit="0123456789abcdef", device="cpu"):
    d = results / experiment / run
    _write(
        d / "config.json",
        {
            "config": {"num_threads": 4},
            "versions": {"python": "3.11.7", "torch": "2.14.1", "numpy": "2.4.6"},
            "git_commit": commit,
            "resolved": {"device": device},
        },
    )
    _write(d / "run.json", {"wall_time_s": train_s, "device": device})
    _write(
        d / "provenance.json",
        {
            "cpu": "Some CPU",
            "cpu_count": 16,
            "gpu": None,
            "device": device,
            "threads_training": 4,
            "wall_time_s": {"training": train_s, "estimation": est_s},
            "git_commit": commit,
            "versions": {"python": "3.11.7", "torch": "2.14.1", "numpy": "2.4.6"},
        },
    )


def _notebook(path: Path, title: str, metadata: dict) -> None:
    _write(
        path,
        {
            "cells": [
                {"cell_type": "code", "source": "x = 1", "metadata": {}},
                {"cell_type": "markdown", "source": [f"# {title}\n", "text"], "metadata": {}},
            ],
            "metadata": {"language_info": {"version": "3.11.7"}, **metadata},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
    )


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "—"),
        (float("nan"), "—"),
        (-1, "—"),
        ("x", "—"),
        (0.4, "0 s"),
        (59.4, "59 s"),
        (60, "1.0 min"),
        (754, "12.6 min"),
        (3600, "1.00 h"),
        (12345, "3.43 h"),
    ],
)
def test_format_duration(seconds, text):
    assert env.format_duration(seconds) == text


def test_empty_store_says_so(tmp_path):
    text = env.build(tmp_path / "results", tmp_path / "nb")
    assert "No stored runs yet" in text
    assert "No executed chapters yet" in text
    assert text.startswith("# Environment and compute\n")
    assert "| torch |" in text and "| python |" in text


def test_runs_and_chapters_are_tabulated_sorted_and_rounded(tmp_path):
    results = tmp_path / "results"
    _run(results, "lenet_mnist", "var0.4-seed0", 7260.4, 95.2)
    _run(results, "fc_mnist", "var0.2-seed1", 3599.9, None, device="cuda:0")
    _run(results, "fc_mnist", "var0.2-seed0", 30.2, 12.0)
    (results / "fc_mnist" / "not-a-run").mkdir()  # no config.json: ignored
    nb = tmp_path / "nb"
    _notebook(nb / "02_estimator.ipynb", "Does the estimator work?", {"papermill": {"duration": 123.456}})
    _notebook(nb / "01_theory.ipynb", "Theory", {"ipdrop": {"duration_s": 42.0, "profile": "quick"}})
    text = env.build(results, nb)
    assert text == env.build(results, nb), "the page must be deterministic"
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.startswith("| fc_mnist") or ln.startswith("| lenet_mnist")]
    assert [r.split(" | ")[1] for r in rows] == ["var0.2-seed0", "var0.2-seed1", "var0.4-seed0"]
    assert rows[0].split(" | ")[5:8] == ["30 s", "12 s", "`0123456789`"]
    assert rows[1].split(" | ")[2] == "cuda:0" and rows[1].split(" | ")[6] == "—"
    assert rows[2].split(" | ")[5] == "2.02 h"
    assert "3 stored run(s)" in text and "training 3.03 h and estimation 1.8 min" in text
    ch = [ln for ln in lines if "`0" in ln and ".ipynb`" in ln]
    assert ch[0].startswith("| Theory | `01_theory.ipynb` | quick | 3.11.7 | 42 s |")
    assert ch[1].startswith("| Does the estimator work? | `02_estimator.ipynb` | — | 3.11.7 | 2.1 min |")


def test_bad_json_names_the_file(tmp_path):
    d = tmp_path / "results" / "exp" / "run"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{not json")
    with pytest.raises(SystemExit, match="config.json"):
        env.stored_runs(tmp_path / "results")


def test_check_mode(tmp_path):
    out = tmp_path / "environment.md"
    args = ["--results", str(tmp_path / "r"), "--notebooks", str(tmp_path / "nb"), "--out", str(out)]
    assert env.main([*args, "--check"]) == 1  # missing
    assert env.main(args) == 0 and out.is_file()
    assert env.main([*args, "--check"]) == 0
    out.write_text(out.read_text() + "edited\n")
    assert env.main([*args, "--check"]) == 1


def test_a_resumed_run_without_its_earlier_time_is_a_lower_bound(tmp_path):
    results = tmp_path / "results"
    _run(results, "fc_mnist", "var0.2-seed0", 600.0, 60.0)
    _run(results, "fc_mnist", "var0.2-seed1", 1200.0, 60.0)
    prov = results / "fc_mnist" / "var0.2-seed1" / "provenance.json"
    _write(prov, {**json.loads(prov.read_text()), "training_wall_time_complete": False})
    text = env.build(results, tmp_path / "nb")
    rows = {ln.split(" | ")[1]: ln.split(" | ")[5] for ln in text.splitlines() if ln.startswith("| fc_mnist")}
    assert rows == {"var0.2-seed0": "10.0 min", "var0.2-seed1": "≥ 20.0 min"}
    assert "≥: a run resumed" in text
