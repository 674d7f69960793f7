"""The life cycle of local sweeps: stopping on SIGINT, dying with the sweep process, crashed workers, and
finished runs whose results table was damaged.

The sweeps run as separate ``ipdrop sweep`` processes started in a new session, so each test can signal
the sweep alone and then list every process left in its process group (the sweep's run processes and
its fork server are all in that group).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipdrop.sweep import is_complete, run_sweep

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from ipdrop.cli import main; sys.exit(main())"]
# a run of seed=0 that cannot finish within the test: it is interrupted after its first checkpoint
LONG_TRAIN = [
    "model=fc",
    "width=0.25",
    "dataset=mnist",
    "subset=embedded",
    "epochs=500",
    "ip_epochs=none",
    "batch_size=64",
    "eval_batch_size=1000",
    "device=cpu",
]


# --------------------------------------------------------------------------- module-level targets
def sleepy(params, out_dir):
    """Write this process's pid, then sleep ``params['sleep']`` seconds."""
    out_dir = Path(out_dir)
    (out_dir / "pid").write_text(str(os.getpid()))
    time.sleep(params.get("sleep", 1.0))
    (out_dir / "done.txt").write_text("ok")


# --------------------------------------------------------------------------- helpers
def _env():
    paths = [str(REPO), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS="1")


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d))
    return out


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"the sweep ended (status {proc.returncode}) before {path} appeared: "
                f"{proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def _group_gone(pgid: int, timeout: float = 5.0) -> list[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = _group(pgid)
        if not left:
            return []
        time.sleep(0.1)
    return _group(pgid)


def _kill_group(pgid: int) -> None:
    for pid in _group(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists processes through /proc")


# --------------------------------------------------------------------------- tests
@needs_proc
def test_sigint_stops_a_local_sweep_within_seconds(tmp_path):
    """The issue's case: ``ipdrop sweep train --grid seed=0..3 --workers 1``, SIGINT during the first run."""
    out = tmp_path / "S"
    proc = subprocess.Popen(
        [
            *CLI,
            "sweep",
            "train",
            "--grid",
            "seed=0..3",
            "--set",
            *LONG_TRAIN,
            "--workers",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
        env=_env(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(out / "seed=0" / "checkpoint.pt", proc)  # the first run is training
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
    left = _group_gone(proc.pid)
    _kill_group(proc.pid)
    assert proc.returncode == 130, stderr
    assert elapsed < 10, f"the sweep took {elapsed:.1f} s to stop"
    assert not left, f"processes left in the sweep's group: {left}"
    report = json.loads((out / "sweep_report.json").read_text())
    assert report["interrupted"] is True
    status = {r["name"]: r["status"] for r in report["runs"]}
    assert status == {
        "seed=0": "interrupted",
        "seed=1": "not started",
        "seed=2": "not started",
        "seed=3": "not started",
    }, status
    assert not is_complete(out / "seed=0") and (out / "seed=0" / "checkpoint.pt").is_file()  # resumable
    assert not any((out / f"seed={s}").exists() for s in (1, 2, 3)), "queued runs must not start"
    assert "1 interrupted, 3 not started" in stdout and "run the same command again" in stderr
    print(f"SIGINT -> exit in {elapsed:.2f} s")


@needs_proc
def test_killing_the_sweep_kills_its_run_processes(tmp_path):
    """SIGKILL of the sweep process: its run processes (and fork server) end within seconds."""
    out = tmp_path / "S"
    proc = subprocess.Popen(
        [
            *CLI,
            "sweep",
            "test_sweep_lifecycle:sleepy",
            "--grid",
            "seed=0..3",
            "--set",
            "sleep=120",
            "--workers",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ],
        env=_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(out / "seed=0" / "pid", proc)
        _wait_for(out / "seed=1" / "pid", proc)
        runs = [int((out / f"seed={s}" / "pid").read_text()) for s in (0, 1)]
        assert set(runs) <= set(_group(proc.pid))
        proc.kill()
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while set(runs) & set(_group(proc.pid)) and time.monotonic() - t0 < 3.0:
            time.sleep(0.05)
        runs_left = set(runs) & set(_group(proc.pid))
        # the fork server exits when the sweep's end of its pipe closes; the teardown of an interpreter
        # that imported torch alone takes ~5 s on a loaded 2-core machine, so give it more time
        left = _group_gone(proc.pid, timeout=20.0)
    finally:
        _kill_group(proc.pid)
    assert not runs_left, f"run processes still alive 3 s after SIGKILL of the sweep: {runs_left}"
    assert not left, f"processes left after SIGKILL of the sweep: {left}"
    assert not (out / "seed=2").exists(), "no queued run may start after the sweep died"


def test_a_killed_worker_fails_only_its_own_run(tmp_path):
    """A run process killed (as by the OOM killer) fails that run alone, named, with its log; the rest finish."""
    root = tmp_path / "s"
    victim = root / "seed=0" / "pid"

    def killer():
        t0 = time.monotonic()
        while not victim.exists() and time.monotonic() - t0 < 120:
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(int(victim.read_text()), signal.SIGKILL)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    rep = run_sweep(
        sleepy, {"seed": [0, 1, 2, 3]}, root, executor="local", workers=2, base_params={"sleep": 1.5}, progress=False
    )
    th.join(timeout=1)
    assert [r.name for r in rep.failed] == ["seed=0"], rep.summary()
    assert sorted(r.name for r in rep.completed) == ["seed=1", "seed=2", "seed=3"], rep.summary()
    failed = rep.failed[0]
    assert "SIGKILL" in failed.error and "out of memory" in failed.error
    log = Path(failed.log).read_text()
    assert log.startswith("run seed=0: its worker process died (killed by signal SIGKILL")
    assert "FAILED seed=0" in rep.summary() and str(root / "seed=0" / "error.log") in rep.summary()
    assert not is_complete(root / "seed=0") and all(is_complete(root / f"seed={s}") for s in (1, 2, 3))


def test_interrupted_serial_sweep_reports_true_statuses(tmp_path):
    """Ctrl-C inside a run of a serial sweep: that run is 'interrupted', the rest 'not started'."""
    from ipdrop.sweep import SweepInterrupted

    def raise_in_second(params, out_dir):
        if params["seed"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as info:
        run_sweep(raise_in_second, {"seed": [0, 1, 2]}, tmp_path / "s", executor="serial", progress=False)
    assert [r.status for r in info.value.report.runs] == ["complete", "interrupted", "not started"]
