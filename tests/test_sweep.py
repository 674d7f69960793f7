"""Sweeps: grid parsing, run folders, resume, failures, bad input, and the local / Dask / notebook paths.

The integration tests train the real networks, tiny: FC on the embedded MNIST subset, 300 training
images, one epoch, a 100-image IP subset. Runs are seeded, so the local process pool and a Dask
LocalCluster must give *identical* tables (compared exactly with pandas' testing helpers).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from ipdrop import sweep
from ipdrop.analysis import compression_summary, load_sweep, mean_planes
from ipdrop.sweep import expand_grid, is_complete, parse_grid, run_name, run_sweep

TINY = dict(
    model="fc",
    width=0.25,
    dataset="mnist",
    subset="embedded",
    n_train=300,
    epochs=1,
    batch_size=64,
    ip_n_train=100,
    ip_n_test=100,
    eval_batch_size=500,
    estimators=["mixture-dataset", "binning"],
    n_noise=2,
    device="cpu",
)
GRID = {"seed": [0, 1], "variance": [0.2, 0.4]}
NAMES = ["seed=0,variance=0.2", "seed=0,variance=0.4", "seed=1,variance=0.2", "seed=1,variance=0.4"]


# --------------------------------------------------------------------------- module-level fake targets
def counting_target(params, out_dir):
    """Writes a result and appends its run name to ../calls.log (to count executions)."""
    out_dir = Path(out_dir)
    with open(out_dir.parent / "calls.log", "a") as fh:
        fh.write(out_dir.name + "\n")
    print(f"hello from {out_dir.name}")
    time.sleep(params.get("sleep", 0))
    print(f"bye from {out_dir.name}")
    if params.get("fail"):
        raise RuntimeError(f"planned failure for seed {params['seed']}")
    (out_dir / "result.json").write_text(
        json.dumps({"twice": 2 * params["seed"], "omp": os.environ.get("OMP_NUM_THREADS")})
    )


def interrupting_target(params, out_dir):
    """Like a user pressing Ctrl-C during the run with seed 1 while a flag file exists."""
    out_dir = Path(out_dir)
    (out_dir / "partial.txt").write_text("started")
    if params["seed"] == 1 and (out_dir.parent / "interrupt.flag").exists():
        raise KeyboardInterrupt
    counting_target(params, out_dir)


def _calls(root: Path) -> list[str]:
    p = root / "calls.log"
    return sorted(p.read_text().split()) if p.exists() else []


# --------------------------------------------------------------------------- parsing and naming
def test_parse_grid_ranges_lists_and_types():
    g = parse_grid(["seed=0..3", "variance=0.2,0.4", "dropout=gaussian", "augment=false", "n_train=300,1e3"])
    assert g == {
        "seed": [0, 1, 2, 3],
        "variance": [0.2, 0.4],
        "dropout": ["gaussian"],
        "augment": [False],
        "n_train": [300, 1000.0],
    }
    assert isinstance(g["seed"][0], int) and isinstance(g["variance"][0], float)
    assert parse_grid("seed=0..1,5 beta=0") == {"seed": [0, 1, 5], "beta": [0]}
    runs = expand_grid(parse_grid("seed=0..1 variance=0.2,0.4"))
    assert runs == [
        {"seed": 0, "variance": 0.2},
        {"seed": 0, "variance": 0.4},
        {"seed": 1, "variance": 0.2},
        {"seed": 1, "variance": 0.4},
    ]


@pytest.mark.parametrize(
    "bad", [["seed"], ["seed=3..1"], ["seed=0..x"], ["seed=0,,1"], ["seed="], ["seed=0", "seed=1"], ["1x=2"]]
)
def test_parse_grid_rejects(bad):
    with pytest.raises(ValueError):
        parse_grid(bad)


def test_run_name_stable_sorted_and_safe():
    assert run_name({"variance": 0.2, "seed": 0}) == "seed=0,variance=0.2"
    assert run_name({"seed": 0, "variance": 0.2}) == run_name({"variance": 0.2, "seed": 0})
    assert run_name({"x": 1.0}) != run_name({"x": 1})
    name = run_name({"path": "a/b c:d", "ip_epochs": "every:2", "n_bins": [10, 30]})
    assert "/" not in name and " " not in name and ":" not in name
    assert name == "ip_epochs=every_2,n_bins=10+30,path=a_b_c_d"
    long = run_name({"tag": "x" * 500})
    assert len(long) <= 150 and long != run_name({"tag": "x" * 499})
    assert run_name({}) == "default"


def test_params_file(tmp_path):
    f = tmp_path / "list.yaml"
    f.write_text("- {seed: 0, variance: 0.2}\n- {seed: 1, variance: 0.4}\n")
    assert sweep.load_params_file(f) == [{"seed": 0, "variance": 0.2}, {"seed": 1, "variance": 0.4}]
    g = tmp_path / "grid.yaml"
    g.write_text("base: {epochs: 1}\ngrid: 'seed=0..1'\nruns: [{seed: 9, epochs: 2}]\n")
    assert sweep.load_params_file(g) == [{"epochs": 1, "seed": 0}, {"epochs": 1, "seed": 1}, {"epochs": 2, "seed": 9}]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 3\n")
    with pytest.raises(ValueError, match="expected a dict"):
        sweep.load_params_file(bad)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_before_anything_runs(tmp_path):
    root = tmp_path / "s"
    with pytest.raises(ValueError, match="sed"):  # typo of seed: caught by TrainConfig.from_dict
        run_sweep("train", {"sed": [0, 1]}, root, base_params=TINY, progress=False)
    with pytest.raises(ValueError, match="variance"):  # invalid value, also before launching
        run_sweep("train", {"variance": [0.2, -1.0]}, root, base_params=TINY, progress=False)
    with pytest.raises(ValueError, match="empty"):
        run_sweep("train", {}, root, progress=False)
    with pytest.raises(ValueError, match="empty"):
        run_sweep("train", [], root, progress=False)
    with pytest.raises(ValueError, match="no values"):
        run_sweep("train", {"seed": []}, root, progress=False)
    with pytest.raises(ValueError, match="executor"):
        run_sweep("train", GRID, root, executor="mpi", base_params=TINY, progress=False)
    with pytest.raises(ValueError, match="cannot import"):
        run_sweep("no_such_module_xyz:f", GRID, root, progress=False)
    with pytest.raises(ValueError, match="not found"):
        run_sweep("notebook:no_such_notebook", GRID, root, progress=False)
    with pytest.raises(ValueError, match="same folder"):
        run_sweep(counting_target, [{"seed": 0}, {"seed": 0}], root, progress=False)
    with pytest.raises(ValueError, match="module-level"):
        run_sweep(lambda p, o: None, GRID, root, progress=False)
    assert not root.exists(), "a rejected sweep must not create anything"


def test_unreachable_dask_scheduler(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        run_sweep(
            counting_target,
            {"seed": [0]},
            tmp_path / "s",
            executor="dask",
            scheduler="tcp://127.0.0.1:9",
            dask_timeout=2,
            progress=False,
        )
    assert time.perf_counter() - t0 < 30
    assert _calls(tmp_path / "s") == []


def test_jobqueue_missing_is_a_clear_error():
    pytest.importorskip("dask")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install dask-jobqueue"):
            sweep.make_jobqueue_cluster("slurm", cores=1, memory="1GB")
    with pytest.raises(ValueError, match="unknown cluster kind"):
        sweep.make_jobqueue_cluster("condorr")


def test_cli_bad_input_exit_codes(tmp_path, capsys):
    assert sweep.main(["train", "--grid", "sed=0..1", "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    assert "unknown parameter" in capsys.readouterr().err
    assert sweep.main(["train", "--out", str(tmp_path / "s")]) == 2
    assert "nothing to sweep" in capsys.readouterr().err
    assert sweep.main(["train", "--grid", "seed=3..1", "--out", str(tmp_path / "s")]) == 2
    assert "empty range" in capsys.readouterr().err


# --------------------------------------------------------------------------- failures, resume, interrupt
def test_failed_run_is_reported_with_log_and_others_complete(tmp_path):
    root = tmp_path / "s"
    runs = [{"seed": 0}, {"seed": 1, "fail": True}, {"seed": 2}]
    rep = run_sweep(f"{__name__}:counting_target", runs, root, workers=2, progress=False)
    assert not rep.ok
    assert [r.name for r in rep.completed] == ["seed=0", "seed=2"]
    assert [r.name for r in rep.failed] == ["fail=True,seed=1"]
    bad = rep.failed[0]
    assert "planned failure for seed 1" in bad.error
    log = Path(bad.log).read_text()
    assert "Traceback" in log and "RuntimeError: planned failure" in log
    assert "hello from fail=True,seed=1" in log, "the run's captured output belongs in its error.log"
    assert not is_complete(root / "fail=True,seed=1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # 2 workers share the cores: each run is limited to max(1, cores // 2) threads
    assert json.loads((root / "seed=2" / "result.json").read_text()) == {"twice": 4, "omp": str(max(1, cores // 2))}
    assert "FAILED fail=True,seed=1" in rep.summary()
    frame = rep.to_frame()
    assert list(frame["status"]) == ["complete", "failed", "complete"]
    saved = json.loads((root / "sweep_report.json").read_text())
    assert [r["status"] for r in saved["runs"]] == ["complete", "failed", "complete"]
    # resuming retries only the failed run
    rep2 = run_sweep(counting_target, runs, root, executor="serial", progress=False)
    assert [r.name for r in rep2.skipped] == ["seed=0", "seed=2"] and len(rep2.failed) == 1
    assert _calls(root) == sorted(["seed=0", "seed=2"] + ["fail=True,seed=1"] * 2)


def test_interrupt_keeps_completed_runs_and_resumes(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "interrupt.flag").touch()
    grid = {"seed": [0, 1, 2]}
    with pytest.raises(KeyboardInterrupt):
        run_sweep(interrupting_target, grid, root, executor="serial", progress=False)
    assert is_complete(root / "seed=0") and not is_complete(root / "seed=1")
    assert (root / "seed=1" / "partial.txt").exists()
    assert json.loads((root / "sweep_report.json").read_text())["interrupted"] is True
    (root / "interrupt.flag").unlink()
    rep = run_sweep(interrupting_target, grid, root, executor="serial", progress=False)
    assert [r.name for r in rep.skipped] == ["seed=0"]
    assert [r.name for r in rep.completed] == ["seed=1", "seed=2"]
    assert _calls(root) == ["seed=0", "seed=1", "seed=2"]  # the interrupted run was redone, the finished one not


def test_changed_parameters_of_a_finished_run_are_refused(tmp_path):
    root = tmp_path / "s"
    run_sweep(counting_target, {"seed": [0]}, root, executor="serial", base_params={"scale": 1}, progress=False)
    with pytest.raises(ValueError, match="scale"):
        run_sweep(counting_target, {"seed": [0]}, root, executor="serial", base_params={"scale": 2}, progress=False)


# --------------------------------------------------------------------------- real training: local pool vs Dask
@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep") / "local"
    rep = run_sweep("train", GRID, root, executor="local", workers=2, base_params=TINY, progress=False)
    return root, rep


def test_local_sweep_trains_every_run(local_sweep):
    root, rep = local_sweep
    assert rep.ok and [r.name for r in rep.completed] == NAMES, rep.summary()
    for name in NAMES:
        assert is_complete(root / name)
        cfg = json.loads((root / name / "config.json").read_text())["config"]
        stored = json.loads((root / name / "params.json").read_text())
        assert cfg["seed"] == stored["params"]["seed"] and cfg["variance"] == stored["params"]["variance"]
        assert cfg["n_train"] == 300
    df = load_sweep(root)
    assert list(df.columns[:3]) == ["run", "seed", "variance"]
    assert sorted(df["run"].unique()) == NAMES
    assert {"I(X;Z)", "I(Y;Z)", "loss", "accuracy"} <= set(df["quantity"])
    assert {"mixture-dataset", "binning-30"} <= set(df["estimator"])
    m = mean_planes(df)  # across the 2 seeds, per variance
    assert set(m["variance"]) == {0.2, 0.4} and (m["n"] == 2).all()
    comp = compression_summary(df, per_run=True)
    ours = comp[(comp.estimator == "mixture-dataset") & (comp.split == "train")]
    assert len(ours) == 4 and (ours["drop"] >= 0).all()


def test_resumed_sweep_reruns_nothing(local_sweep):
    root, _ = local_sweep
    before = {n: (root / n / "results.csv").stat().st_mtime_ns for n in NAMES}
    rep = run_sweep("train", GRID, root, executor="local", workers=2, base_params=TINY, progress=False)
    assert [r.name for r in rep.skipped] == NAMES and not rep.completed and rep.ok
    assert {n: (root / n / "results.csv").stat().st_mtime_ns for n in NAMES} == before
    # the CLI says the same and exits 0
    argv = ["train", "--grid", "seed=0..1", "variance=0.2,0.4", "--out", str(root), "--no-progress", "--set"]
    argv += [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in TINY.items()]
    assert sweep.main(argv) == 0
    assert {n: (root / n / "results.csv").stat().st_mtime_ns for n in NAMES} == before


def test_dask_local_cluster_gives_the_same_table(local_sweep, tmp_path):
    pytest.importorskip("dask.distributed")
    root, _ = local_sweep
    rep = run_sweep("train", GRID, tmp_path / "dask", executor="dask", workers=2, base_params=TINY, progress=False)
    assert rep.ok and [r.name for r in rep.completed] == NAMES, rep.summary()
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "dask"), load_sweep(root))


def test_dask_existing_cluster_with_thread_workers(tmp_path):
    """An existing scheduler (by address, and as a cluster object like dask-jobqueue's SLURMCluster);
    runs sharing one worker process in threads still capture only their own output."""
    distributed = pytest.importorskip("dask.distributed")
    root = tmp_path / "s"
    grid = {"seed": [0, 1, 2, 3], "sleep": [0.3]}
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=4, processes=False, dashboard_address=None
    ) as cluster:
        rep = run_sweep(
            counting_target, grid, root, executor="dask", scheduler=cluster.scheduler_address, progress=False
        )
        assert rep.ok and len(rep.completed) == 4, rep.summary()
        rep = run_sweep(counting_target, grid, root, executor="dask", scheduler=cluster, progress=False)
        assert len(rep.skipped) == 4
    assert _calls(root) == [f"seed={s},sleep=0.3" for s in range(4)]
    for s in range(4):
        name = f"seed={s},sleep=0.3"
        log = (root / name / sweep.LOG_FILE).read_text()
        assert log == f"hello from {name}\nbye from {name}\n", log
    assert not isinstance(sys.stdout, sweep._ThreadStream) or sys.stdout._local.__dict__.get("stream") is None


# --------------------------------------------------------------------------- notebook target
NOTEBOOK = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # tiny

    ```{code-cell} ipython3
    :tags: [parameters]
    seed = 0
    scale = 1.0
    out_dir = "."
    ```

    ```{code-cell} ipython3
    import json, pathlib
    pathlib.Path(out_dir, "nb_result.json").write_text(json.dumps({"value": seed * scale}))
    ```
    """)


def test_notebook_target(tmp_path):
    pytest.importorskip("papermill")
    pytest.importorskip("jupytext")
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    (nbdir / "tiny.md").write_text(NOTEBOOK)
    root = tmp_path / "s"
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sed'\]"):
        run_sweep("notebook:tiny", {"sed": [1]}, root, notebooks_dir=nbdir, progress=False)
    rep = run_sweep(
        "notebook:tiny",
        {"seed": [3]},
        root,
        executor="serial",
        base_params={"scale": 2.0},
        notebooks_dir=nbdir,
        progress=False,
    )
    assert rep.ok, rep.summary()
    run = root / "seed=3"
    assert json.loads((run / "nb_result.json").read_text()) == {"value": 6.0}
    assert (run / "tiny.ipynb").is_file() and is_complete(run)
    rep = run_sweep(
        "notebook:tiny",
        {"seed": [3]},
        root,
        executor="serial",
        base_params={"scale": 2.0},
        notebooks_dir=nbdir,
        progress=False,
    )
    assert [r.name for r in rep.skipped] == ["seed=3"]
