"""benchmarks/bench_gpu.py (issue 13, item 6): the one script for a lent GPU, checked on the CPU in its quick mode.

Tolerance of the scorer check: 1e-10 relative, as the repository's other tests of the screened path against the
dense float64 path (tests/test_mixture_speed.py): the screened path keeps every term within 50 nats of a row's
maximum exactly in float64 and drops terms that change log p by < M e^-50 (< 1e-18 here), while the dense GEMM
expansion itself loses ~1e-12 relative at Var(D) = 0.2, d = 128 (cancellation in z^2 w - 2 z mu w + mu^2 w);
1e-10 leaves a margin of ~100x over that rounding and still catches any real error (a wrong term or a wrong
normalisation shifts log p by >= 1e-6 relative).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
TOL = 1e-10


def _load():
    spec = importlib.util.spec_from_file_location("bench_gpu_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v >= 0


@pytest.mark.slow  # ~15 s on the loaded 2-core machine (imports of torch, pandas, scipy and torch._dynamo included)
def test_quick_cpu_run_writes_three_parts_with_finite_times_and_exact_scorer(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IPDROP_DATA"}  # the synthetic MNIST-shaped data
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,  # the script finds its checkout itself
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "gpu_bench.json").read_text())
    md = (out / "gpu_bench.md").read_text()
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary file
    assert set(res["parts"]) == {"A", "B", "C", "D"} and res["correct"] is True and res["failures"] == []
    assert not [n for n in res["notes"] if "skipped" in n or "no warm-up" in n]

    a = res["parts"]["A"]
    assert [r["n"] for r in a["rows"]] == [500, 1000]
    for r in a["rows"]:
        assert _finite(r["auto_s"]) and _finite(r["dense_s"]) and len(r["auto_times_s"]) == 3
        assert r["rel_diff_vs_dense"] <= TOL
        # the default on the CPU at d = 128, >= 256 centres is the screened path, every chunk of it
        assert r["auto_path"]["screened_ran"] and r["auto_path"]["all_screened"]
        assert r["faster"] in ("default", "dense")
    assert a["rows"][0]["rel_diff_vs_cpu_default"] <= TOL and _finite(a["rows"][0]["cpu_default_s"])

    b = res["parts"]["B"]
    assert set(b["cases"]) == {"fc", "resnet"}
    for case in b["cases"].values():
        assert case["complete"] and _finite(case["total_s"])
        assert all(_finite(e["wall_s"]) for e in case["estimators"].values())
        assert "mixture-all" in case["estimators"]

    c = res["parts"]["C"]
    for key in ("training_s", "ip_record_s", "other_s", "epoch1_s", "train_wall_s"):
        assert _finite(c[key]), key
    assert c["training_s"] + c["ip_record_s"] <= c["epoch1_s"]
    assert c["data"].startswith("synthetic") and c["ip_n_train"] == c["ip_n_test"] == 256
    assert "mixture-paper I(X;Z)" in c["ip_values_train"] and "knn I(Y;Z)" in c["ip_values_train"]

    d = res["parts"]["D"]  # the chunk-size sweep at N = M = 1000 (part A timed that size, so it is predicted)
    assert [(r["chunk_size"], r["method"]) for r in d["rows"]] == [
        (cs, m) for cs in (1024, 2048, 8192) for m in ("auto", "dense")
    ]
    assert all(_finite(r["s"]) and r["rel_diff_vs_dense"] <= TOL for r in d["rows"])

    # the tables as the README's GPU section takes them
    for head in ("**Mixture scorer**", "**One IP record**", "**One FC training epoch", "**Chunk size**"):
        assert head in md
    assert "| 1,000 |" in md and "| **total** |" in md


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available: --device cuda would run")
def test_cuda_without_cuda_exits_2_with_a_clear_message(tmp_path, capsys):
    mod = _load()
    assert mod.main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda requested but CUDA is not available" in err and "--device cpu" in err
    assert not (tmp_path / "gpu_bench.json").exists()


def test_zero_budget_skips_every_part_with_a_note_and_still_writes_the_report(tmp_path):
    mod = _load()
    assert mod.main(["--device", "cpu", "--quick", "--budget-s", "0", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert res["parts"] == {} and len(res["notes"]) == 4
    assert all("skipped" in n for n in res["notes"])
    assert "Notes: part A (mixture scorer) skipped" in (tmp_path / "gpu_bench.md").read_text()


def test_max_rel_diff_flags_mismatched_infinities():
    mod = _load()
    assert mod.max_rel_diff([1.0, -math.inf], [1.0 + 1e-12, -math.inf]) == pytest.approx(1e-12, rel=1e-3)
    assert mod.max_rel_diff([1.0, 2.0], [1.0, -math.inf]) == math.inf
    assert mod.max_rel_diff([1.0], [1.0, 2.0]) == math.inf


def test_part_a_reduces_then_skips_sizes_that_would_overrun_the_budget():
    mod = _load()

    class Scripted(mod.Budget):  # answers allows() from a script: size 2 full plan no / reduced yes, size 3 no / no
        def __init__(self, answers):
            super().__init__(100.0)
            self.answers, self.asked = list(answers), []

        def allows(self, predicted=0.0):
            self.asked.append(predicted)
            return self.answers.pop(0)

    budget, notes = Scripted([False, True, False, False]), []
    res = mod.part_a(torch.device("cpu"), (300, 400, 500), budget, notes)
    full, reduced, skipped = res["rows"]
    assert full["repeats"] == 3 and full["warmup"] == 1 and full["ok"]
    assert reduced["repeats"] == 1 and reduced["warmup"] == 0 and len(reduced["auto_times_s"]) == 1 and reduced["ok"]
    assert skipped == {"n": 500, "skipped": skipped["skipped"]} and skipped["skipped"].startswith("budget")
    # predictions scale the first size's cost by (N / 300)^2; the reduced plan is a quarter of the full one
    assert budget.asked[1] == pytest.approx(budget.asked[0] / 4)
    assert budget.asked[2] == pytest.approx(budget.asked[0] * (500 / 400) ** 2)
    assert len(notes) == 2 and "no warm-up" in notes[0] and "skipped" in notes[1]


def test_a_failing_step_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    mod = _load()

    def oom(n, *args, **kwargs):
        if n == 500:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(n, *args, **kwargs)

    def broken_part_c(*args, **kwargs):
        raise ValueError("simulated failure of the training run")

    real = mod._scorer_size
    monkeypatch.setattr(mod, "_scorer_size", oom)
    monkeypatch.setattr(mod, "part_c", broken_part_c)
    assert mod.main(["--device", "cpu", "--quick", "--parts", "AC", "--out", str(tmp_path)]) == 1
    res = json.loads((tmp_path / "gpu_bench.json").read_text())
    first, second = res["parts"]["A"]["rows"]
    assert first["error"].startswith("RuntimeError: CUDA out of memory") and "Traceback" in first["traceback"]
    assert second["n"] == 1000 and second["ok"]  # the next size still ran
    assert res["parts"]["C"]["error"] == "ValueError: simulated failure of the training run"
    assert res["failures"] == ["A: N = 500 failed: RuntimeError", "part C failed: ValueError"]
    md = (tmp_path / "gpu_bench.md").read_text()
    assert "**Part C (one FC epoch with IP) failed**" in md and "| 500 | failed: `RuntimeError" in md
