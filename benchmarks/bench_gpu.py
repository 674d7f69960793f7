"""GPU benchmark (issue 13, item 6): the mixture scorer, one full IP record and one FC epoch with IP, on one device.

One command, prepared for a machine with a CUDA device and a fixed time budget; ``--device cpu --quick`` runs the
same code on tiny sizes in seconds (``tests/test_bench_gpu.py``). Run it from the repository root::

    PYTHONUNBUFFERED=1 PYTHONPATH=. python3 benchmarks/bench_gpu.py --out OUTDIR --budget-s 480

Part A - the mixture scorer, ``ipdrop.estimators.mixture_logpdf`` at N = M = 10k, 60k, 100k, d = 128, variance
(Var(D)) 0.2, data as in ``bench_mixture.py`` (``_data``: centres softplus(N(0, I)), z = mu_J * D):

* the default (``method="auto"``: on CUDA the screened float32 GEMM, TF32 switched off inside the call, survivors
  recomputed in float64) and ``method="dense"`` (float64 GEMM + logsumexp, the other candidate for the default):
  median wall time of 3 calls after one warm-up (``torch.cuda.synchronize`` around each call), peak device memory
  (``torch.cuda.max_memory_allocated``, reset before each method; the scorer's pooled work buffers are freed first);
* whether the screened path actually ran: the chunk counts of ``ipdrop.estimators._mixture._MixtureScorer.stats``
  (``screened_chunks`` / ``dense_chunks``, candidate pairs / entries), read by wrapping ``_MixtureScorer.score``
  for the duration of the calls (the values and the work are unchanged);
* correctness: max relative difference of the default against ``method="dense"`` float64 on the same device at
  every size, and at the first size also against the CPU default (``device="cpu"``). Tolerance 1e-10, as the
  repository's tests of the screened path against dense: the kept terms are exact float64 and the dropped ones
  change log p by < M e^-50; the dense expansion itself loses ~1e-12 relative at variance 0.2, d = 128.

A size is skipped with a note when its predicted cost (the previous size's, scaled by (N/N_prev)^2) would overrun
``--budget-s``; if one call of each method would still fit, it runs with 1 timed call and no warm-up instead.

Part B - one full IP record (``bench_ip_record.py``: ``make_split``, its estimator list, ``time_estimator``) with
the tracker on the device (the mixture estimator runs there; binning, EDGE, k-NN and the variational bound are
CPU code): FC d = 32 and ResNet d = 128, 10k train + 10k test representations, n_noise = 10; wall time per
estimator and total.

Part C - one FC training epoch with IP tracking on the device: ``ipdrop.training.train`` with the base of
``params/paper_runs/fc_mnist.yaml`` (FC 784-512-128-32-10 softplus, Gaussian dropout Var(D) 0.2, batch 256, SGD
lr 0.1, momentum 0.9, weight decay 1e-3, cosine) but 1 epoch and an IP record at epoch 1 on 10k train + 10k test
with the estimators of the paper-scale runs' estimation step (mixture-all, binning 3/10/30/100, binning-ref,
edge, knn, variational; n_noise 10). Data: ``$IPDROP_DATA/mnist.npz`` when it exists, else a synthetic
MNIST-shaped ``mnist.npz`` (60k + 10k uint8 images: class templates + noise) written to a temporary folder that
``IPDROP_DATA`` then points at (the report says which). Epoch 1 is split into the training pass
(``ipdrop.training._train_epoch``) and the IP record (``InformationPlaneTracker.compute``), both timed by
wrapping them during the run; the rest (evaluation passes, collecting representations, checkpoint) is the
remainder of ``run.json``'s ``epoch_times_s[1]``.

Output: a markdown table per part on stdout and in ``OUT/gpu_bench.md`` (in the form of the README's "GPU"
section), everything in ``OUT/gpu_bench.json``; both are rewritten atomically (tmp + os.replace) after every part,
so a run killed by a time limit leaves the parts done so far. A step that raises (a size of part A, an estimator of
part B, a part) is recorded with its traceback and the run goes on. Exit status: 0; 1 when a correctness check
failed or a step raised;
2 when ``--device cuda`` is asked for and CUDA is unavailable; 3 when an import fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the benchmarks folder (bench_mixture, bench_ip_record) and this checkout's ipdrop, whatever the working directory
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402

VARIANCE = 0.2
TOLERANCE = 1e-10  # max relative difference of the default against dense float64 (see the module docstring)
D_SCORER = 128
FULL = {
    "sizes": (10_000, 60_000, 100_000),
    "record_n": 10_000,
    "mnist": (60_000, 10_000),
    "n_train": None,
    "ip_n": 10_000,
    "min_left_c": 60.0,
    "sweep_n": 60_000,
}
QUICK = {
    "sizes": (500, 1_000),
    "record_n": 300,
    "mnist": (2_000, 500),
    "n_train": 2_000,  # also when $IPDROP_DATA holds the real MNIST
    "ip_n": 256,
    "min_left_c": 5.0,
    "sweep_n": 1_000,
}
CHUNK_SIZES = (1024, 2048, 8192)  # part D; 2048 is mixture_logpdf's default
RECORD_CASES = (("fc", 32), ("resnet", 128))
# the estimation step of the paper-scale runs (params/paper_runs/fc_mnist.yaml, "estimate")
PAPER_ESTIMATORS = ("mixture-all", "binning", "binning-ref", "edge", "knn", "variational")
PAPER_N_BINS = (3, 10, 30, 100)
N_NOISE = 10


def log(msg: str) -> None:
    print(msg, flush=True)


class Budget:
    """Wall-clock budget of the whole run: parts and sizes that would overrun it are skipped with a note."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def allows(self, predicted: float = 0.0) -> bool:
        return self.elapsed() + predicted <= self.seconds


# --------------------------------------------------------------------------- helpers


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device) -> None:
    import torch

    from ipdrop.estimators import free_work_buffers

    free_work_buffers()  # the scorer's pooled work buffers of the previous method would count in its peak
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def _timed_calls(fn, device, repeats: int, warmup: int):
    """``warmup`` untimed calls, then ``repeats`` timed ones (synchronised); returns (times, last output)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times, out


def max_rel_diff(a, b) -> float:
    """max |a - b| / |b| over the entries; inf when the non-finite entries (-inf: no centre) differ."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return math.inf
    fa, fb = np.isfinite(a), np.isfinite(b)
    if np.any(fa != fb) or np.any(a[~fa] != b[~fb]):
        return math.inf
    if not np.any(fa):
        return 0.0
    return float(np.max(np.abs(a[fa] - b[fb]) / np.maximum(np.abs(b[fb]), np.finfo(np.float64).tiny)))


@contextlib.contextmanager
def scorer_stats():
    """Collect ``_MixtureScorer.stats`` after every ``score`` call inside the block (a list; None if unavailable).

    ``mixture_logpdf`` builds one scorer per call and exposes no stats; wrapping ``score`` reads them without
    changing the work. Each entry: screened_chunks, dense_chunks, candidates, entries (see the scorer).
    """
    try:
        from ipdrop.estimators import _mixture

        cls = _mixture._MixtureScorer
        orig = cls.score
    except (ImportError, AttributeError):
        yield None
        return
    got: list[dict] = []

    def score(self, *args, **kwargs):
        out = orig(self, *args, **kwargs)
        got.append(dict(getattr(self, "stats", {}) or {}))
        return out

    cls.score = score
    try:
        yield got
    finally:
        cls.score = orig


def _summarise_stats(stats: list[dict] | None) -> dict:
    if stats is None:
        return {"available": False}
    if not stats:
        return {"available": True, "calls": 0}
    last = stats[-1]
    sc, dn = int(last.get("screened_chunks", 0)), int(last.get("dense_chunks", 0))
    ent, cand = int(last.get("entries", 0)), int(last.get("candidates", 0))
    return {
        "available": True,
        "calls": len(stats),
        "screened_chunks": sc,
        "dense_chunks": dn,
        "screened_ran": sc > 0,
        "all_screened": sc > 0 and dn == 0,
        "candidate_fraction": cand / ent if ent else None,
    }


@contextlib.contextmanager
def wrapped_timer(owner, name: str, sink: list):
    """Time every call of ``owner.name`` (a module function or a class method) into ``sink``; restored on exit."""
    orig = getattr(owner, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return orig(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - t0)

    setattr(owner, name, timed)
    try:
        yield sink
    finally:
        setattr(owner, name, orig)


def _error(exc: BaseException) -> dict:
    """An exception as JSON: type, message and the last lines of the traceback (a failure never loses the rest)."""
    import traceback

    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(tb)[-4000:]}


def _git_commit() -> str | None:
    if os.environ.get("IPDROP_GIT_COMMIT"):
        return os.environ["IPDROP_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def precision_settings() -> dict:
    """float32 matmul/conv precision from the per-backend API (the legacy getters raise on torch >= 2.9 once it
    has been used, so they are not read), and what the mixture scorer sees (ieee = TF32 off)."""
    import torch

    out = {}
    getters = {
        "torch.backends.fp32_precision": lambda: torch.backends.fp32_precision,
        "torch.backends.cuda.matmul.fp32_precision": lambda: torch.backends.cuda.matmul.fp32_precision,
        "torch.backends.cudnn.fp32_precision": lambda: torch.backends.cudnn.fp32_precision,
        "torch.backends.cudnn.conv.fp32_precision": lambda: torch.backends.cudnn.conv.fp32_precision,
        "torch.backends.mkldnn.matmul.fp32_precision": lambda: torch.backends.mkldnn.matmul.fp32_precision,
    }
    for key, get in getters.items():
        try:
            out[key] = str(get())
        except Exception as exc:  # attribute missing on this torch, or a RuntimeError of the API
            out[key] = f"unavailable ({type(exc).__name__})"
    try:
        from ipdrop.estimators._mixture import _fp32_precision

        out["effective cuda matmul (ipdrop)"] = _fp32_precision("cuda")
    except Exception as exc:
        out["effective cuda matmul (ipdrop)"] = f"unavailable ({type(exc).__name__})"
    return out


def environment(device) -> dict:
    import torch

    env = {
        "device": str(device),
        "device_name": "CPU" if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "ipdrop_path": str(Path(sys.modules["ipdrop"].__file__).parent) if "ipdrop" in sys.modules else None,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "precision_at_start": precision_settings(),
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env["device_memory_gib"] = round(p.total_memory / 2**30, 1)
        env["compute_capability"] = f"{p.major}.{p.minor}"
    return env


# --------------------------------------------------------------------------- part A: the scorer


def _scorer_size(n: int, device, repeats: int, warmup: int, cpu_reference: bool) -> dict:
    """Part A at one size N = M: the default and dense float64 on ``device`` (+ the CPU default if asked)."""
    import functools

    import torch
    from bench_mixture import _data

    from ipdrop.estimators import mixture_logpdf

    t_size = time.perf_counter()
    z, c = _data(n, n, D_SCORER, seed=0)
    row: dict = {"n": n, "m": n, "d": D_SCORER, "repeats": repeats, "warmup": warmup}

    _reset_peak(device)
    with scorer_stats() as st:
        auto = functools.partial(mixture_logpdf, z, c, VARIANCE, device=device)
        t_auto, out_auto = _timed_calls(auto, device, repeats, warmup)
    row["auto_s"] = statistics.median(t_auto)
    row["auto_times_s"] = t_auto
    row["auto_peak_mb"] = _peak_mb(device)
    row["auto_path"] = _summarise_stats(st)

    _reset_peak(device)
    dense = functools.partial(mixture_logpdf, z, c, VARIANCE, device=device, method="dense", dtype=torch.float64)
    t_dense, out_dense = _timed_calls(dense, device, repeats, warmup)
    row["dense_s"] = statistics.median(t_dense)
    row["dense_times_s"] = t_dense
    row["dense_peak_mb"] = _peak_mb(device)
    _reset_peak(device)

    row["rel_diff_vs_dense"] = max_rel_diff(out_auto, out_dense)
    row["faster"] = "default" if row["auto_s"] <= row["dense_s"] else "dense"
    row["dense_over_default"] = row["dense_s"] / row["auto_s"] if row["auto_s"] > 0 else None
    row["device_s"] = time.perf_counter() - t_size  # data + both methods: what the next size's prediction scales
    if cpu_reference:  # the CPU default too (on the CPU: the default against itself)
        with scorer_stats() as st_cpu:
            t0 = time.perf_counter()
            out_cpu = mixture_logpdf(z, c, VARIANCE, device="cpu")
            row["cpu_default_s"] = time.perf_counter() - t0
        row["cpu_default_path"] = _summarise_stats(st_cpu)
        row["rel_diff_vs_cpu_default"] = max_rel_diff(out_auto, out_cpu)
    row["ok"] = row["rel_diff_vs_dense"] <= TOLERANCE and row.get("rel_diff_vs_cpu_default", 0.0) <= TOLERANCE
    row["size_s"] = time.perf_counter() - t_size
    return row


def part_a(device, sizes, budget: Budget, notes: list) -> dict:
    rows = []
    prev = None  # (n, seconds) of the last size run with the full plan
    for i, n in enumerate(sizes):
        repeats, warmup = 3, 1
        if prev is not None:
            predicted = prev[1] * (n / prev[0]) ** 2
            if not budget.allows(predicted):
                if budget.allows(predicted / 4):  # 4 calls per method in the full plan, 1 in the reduced one
                    repeats, warmup = 1, 0
                    notes.append(
                        f"A: N = {n}: 1 timed call per method, no warm-up (budget; predicted {predicted:.0f} s)"
                    )
                else:
                    rows.append({"n": n, "skipped": f"budget: predicted {predicted:.0f} s, {budget.left():.0f} s left"})
                    notes.append(f"A: N = {n} skipped (predicted {predicted:.0f} s, {budget.left():.0f} s left)")
                    log(f"  N = M = {n}: skipped (predicted {predicted:.0f} s > {budget.left():.0f} s left)")
                    continue
        try:
            row = _scorer_size(n, device, repeats, warmup, cpu_reference=i == 0)
        except Exception as exc:  # e.g. out of memory: recorded, the next sizes and parts still run
            rows.append({"n": n, **_error(exc)})
            notes.append(f"A: N = {n} failed: {type(exc).__name__}")
            log(f"  N = M = {n}: FAILED {type(exc).__name__}: {exc}")
            _reset_peak(device)
            continue
        if repeats == 3:
            prev = (n, row["device_s"])
        rows.append(row)
        path = row["auto_path"]
        log(
            f"  N = M = {n}: default {row['auto_s']:.3f} s (screened chunks {path.get('screened_chunks', '?')}, "
            f"dense chunks {path.get('dense_chunks', '?')}), dense float64 {row['dense_s']:.3f} s -> "
            f"{row['faster']} faster; peak MB {row['auto_peak_mb']} / {row['dense_peak_mb']}; max rel diff vs dense "
            f"{row['rel_diff_vs_dense']:.1e}"
            + (f", vs CPU default {row['rel_diff_vs_cpu_default']:.1e}" if "rel_diff_vs_cpu_default" in row else "")
            + f"; size took {row['size_s']:.1f} s"
        )
    return {"variance": VARIANCE, "d": D_SCORER, "tolerance": TOLERANCE, "rows": rows}


# --------------------------------------------------------------------------- part B: one IP record


def part_b(device, n, budget: Budget, notes: list) -> dict:
    import bench_ip_record as bir

    cases = {}
    for case, d in RECORD_CASES:
        splits = {"train": bir.make_split(n, d, 1), "test": bir.make_split(n, d, 2)}
        per = {}
        for name in bir.ESTIMATORS:
            if not budget.allows(5.0):
                per[name] = {"skipped": "budget"}
                notes.append(f"B: {case} {name} skipped (budget: {budget.left():.0f} s left)")
                continue
            try:
                df, wall, cpu = bir.time_estimator(name, splits, seed=0, device=str(device))
            except Exception as exc:
                per[name] = _error(exc)
                notes.append(f"B: {case} {name} failed: {type(exc).__name__}")
                log(f"  {case} (d = {d}) {name:12s} FAILED {type(exc).__name__}: {exc}")
                continue
            tr = df[(df.split == "train") & df.quantity.isin(["I(X;Z)", "I(Y;Z)"])]
            values = {f"{e} {q}": float(v) for e, q, v in zip(tr.estimator, tr.quantity, tr.value)}
            per[name] = {"wall_s": wall, "cpu_s": cpu, "values_train": values}
            log(f"  {case} (d = {d}) {name:12s} {wall:8.2f} s wall ({cpu:.2f} s cpu)")
        done = [v["wall_s"] for v in per.values() if "wall_s" in v]
        cases[case] = {
            "d": d,
            "estimators": per,
            "total_s": float(sum(done)),
            "complete": len(done) == len(bir.ESTIMATORS),
        }
        log(f"  {case}: total {cases[case]['total_s']:.2f} s")
    return {"n_train": n, "n_test": n, "n_noise": bir.N_NOISE, "variance": bir.VARIANCE, "cases": cases}


# --------------------------------------------------------------------------- part C: one FC epoch with IP


def synthetic_mnist(path: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """An MNIST-shaped ``mnist.npz`` (uint8 (N, 28, 28), labels 0..9): per-class templates + noise, atomically."""
    rng = np.random.default_rng(seed)
    templates = (rng.random((10, 28, 28)) < 0.2).astype(np.uint8) * 200  # sparse bright strokes per class
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        x = templates[y]
        x += rng.integers(0, 56, size=x.shape, dtype=np.uint8)  # <= 255: no wrap-around
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def part_c(device, sizes: dict, budget: Budget, notes: list) -> dict:
    import ipdrop.training as training
    from ipdrop.tracker import InformationPlaneTracker

    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        tmp = Path(tmp)
        real = os.environ.get("IPDROP_DATA")
        saved_env = real
        if real and (Path(real).expanduser() / "mnist.npz").exists():
            data = f"MNIST ({Path(real).expanduser() / 'mnist.npz'})"
        else:
            n_tr, n_te = sizes["mnist"]
            synthetic_mnist(tmp / "mnist.npz", n_tr, n_te)
            os.environ["IPDROP_DATA"] = str(tmp)
            data = f"synthetic MNIST-shaped data ({n_tr} + {n_te} images: class templates + noise; no mnist.npz found)"
            notes.append(f"C: {data}")
        log(f"  data: {data}")
        cfg = training.TrainConfig(
            model="fc",
            dataset="mnist",
            dropout="gaussian",
            variance=VARIANCE,
            subset="full",
            n_train=sizes["n_train"],
            epochs=1,
            batch_size=256,
            lr=0.1,
            momentum=0.9,
            weight_decay=1e-3,
            schedule="cosine",
            ip_epochs=(1,),
            ip_n_train=sizes["ip_n"],
            ip_n_test=sizes["ip_n"],
            estimators=PAPER_ESTIMATORS,
            n_bins=PAPER_N_BINS,
            n_noise=N_NOISE,
            mc_samples=1,
            seed=0,
            device=str(device),
        )
        # the first optimizer of a process imports torch._dynamo (seconds): a one-off cost, kept out of the timing
        import torch

        t0 = time.perf_counter()
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        optimizer_import_s = time.perf_counter() - t0
        t_train, t_ip = [], []
        try:
            with (
                wrapped_timer(training, "_train_epoch", t_train),
                wrapped_timer(InformationPlaneTracker, "compute", t_ip),
            ):
                t0 = time.perf_counter()
                df = training.train(cfg, tmp / "run", progress=False, resume=False)
                wall = time.perf_counter() - t0
        finally:
            if saved_env is None:
                os.environ.pop("IPDROP_DATA", None)
            else:
                os.environ["IPDROP_DATA"] = saved_env
        run = json.loads((tmp / "run" / "run.json").read_text())
        conf = json.loads((tmp / "run" / "config.json").read_text())
    epoch_times = run.get("epoch_times_s") or []
    epoch1 = epoch_times[1] if len(epoch_times) > 1 else None
    training_s = sum(t_train) if t_train else None
    ip_s = sum(t_ip) if t_ip else None
    other = epoch1 - training_s - ip_s if None not in (epoch1, training_s, ip_s) else None
    ip_rows = df[(df.epoch == 1) & df.quantity.isin(["I(X;Z)", "I(Y;Z)"]) & (df.split == "train")]
    test_acc = df[(df.epoch == 1) & (df.split == "test") & (df.estimator == "eval") & (df.quantity == "accuracy")]
    res = {
        "data": data,
        "config": cfg.to_dict(),
        "n_train_images": conf["resolved"]["n_train"],
        "ip_n_train": conf["resolved"]["ip_n_train"],
        "ip_n_test": conf["resolved"]["ip_n_test"],
        "train_wall_s": wall,
        "optimizer_import_s": optimizer_import_s,
        "run_wall_time_s": run.get("wall_time_s"),
        "epoch_times_s": epoch_times,
        "epoch1_s": epoch1,
        "training_s": training_s,
        "ip_record_s": ip_s,
        "other_s": other,
        "test_accuracy": float(test_acc.value.iloc[0]) if len(test_acc) else None,
        "ip_values_train": {
            f"{e} {q}": float(v) for e, q, v in zip(ip_rows.estimator, ip_rows.quantity, ip_rows.value)
        },
    }
    log(
        f"  epoch 1: {_fmt(epoch1, '.2f')} s = training {_fmt(training_s, '.2f')} s + IP record {_fmt(ip_s, '.2f')} s"
        f" + other {_fmt(other, '.2f')} s; train() {wall:.2f} s in all"
    )
    return res


# --------------------------------------------------------------------------- part D: chunk sizes (if time is left)


def part_d(device, n: int, part_a_result: dict | None, budget: Budget, notes: list) -> dict:
    """The default and dense at N = M = ``n`` for each of :data:`CHUNK_SIZES` (the chunk size is part of what the
    default on the device should be): min of 2 timed calls each, peak memory, max rel. diff against dense float64
    at the default chunk size. Predicted from part A's times at ``n``; skipped when that would overrun the budget."""
    import functools

    import torch
    from bench_mixture import _data

    from ipdrop.estimators import mixture_logpdf

    ref_row = next((r for r in (part_a_result or {}).get("rows", []) if r.get("n") == n and "auto_s" in r), None)
    if ref_row is None:
        notes.append(f"D skipped: part A has no timings at N = {n}")
        return {"n": n, "skipped": "no part A timings at this size", "rows": []}
    per_call = ref_row["auto_s"] + ref_row["dense_s"]
    predicted = per_call * (1 + 2 * len(CHUNK_SIZES))  # the reference + 2 calls per method and chunk size
    if not budget.allows(predicted):
        notes.append(f"D skipped (predicted {predicted:.0f} s, {budget.left():.0f} s left)")
        return {"n": n, "skipped": f"budget: predicted {predicted:.0f} s", "rows": []}
    z, c = _data(n, n, D_SCORER, seed=0)
    ref = mixture_logpdf(z, c, VARIANCE, device=device, method="dense", dtype=torch.float64)
    rows = []
    for chunk in CHUNK_SIZES:
        for method in ("auto", "dense"):
            _reset_peak(device)
            fn = functools.partial(mixture_logpdf, z, c, VARIANCE, device=device, method=method, chunk_size=chunk)
            with scorer_stats() as st:
                times, out = _timed_calls(fn, device, repeats=2, warmup=0)
            row = {
                "chunk_size": chunk,
                "method": method,
                "s": min(times),
                "times_s": times,
                "peak_mb": _peak_mb(device),
                "path": _summarise_stats(st),
                "rel_diff_vs_dense": max_rel_diff(out, ref),
            }
            row["ok"] = row["rel_diff_vs_dense"] <= TOLERANCE
            rows.append(row)
            log(
                f"  N = M = {n}, chunk {chunk}, {method}: {row['s']:.3f} s, peak MB {row['peak_mb']}, "
                f"max rel diff {row['rel_diff_vs_dense']:.1e}"
            )
    _reset_peak(device)
    return {"n": n, "d": D_SCORER, "rows": rows}


# --------------------------------------------------------------------------- report


def _fmt(v, spec=".3f", none="-"):
    if v is None:
        return none
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return format(v, spec)


def markdown(res: dict) -> str:
    env = res["environment"]
    prec = env.get("precision_at_start", {})
    lines = [
        f"Device: {env['device_name']} ({env['device']}"
        + (
            f", {env['device_memory_gib']} GiB, compute capability {env['compute_capability']}"
            if "device_memory_gib" in env
            else ""
        )
        + f"); torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; {env['cpu_count']} CPUs, "
        f"{env['torch_threads']} torch threads; commit {env['git_commit'] or 'unknown'}; {env['started']}"
        + (" (--quick: tiny sizes)" if res["quick"] else ""),
        "",
        "float32 precision settings (per-backend API): "
        + ", ".join(f"`{k}` = {v}" for k, v in prec.items())
        + ". The mixture scorer switches the CUDA matmul to ieee (TF32 off) for its float32 screen and restores it.",
        "",
    ]
    parts = res["parts"]
    for key, title in (("A", "mixture scorer"), ("B", "one IP record"), ("C", "one FC epoch with IP")):
        if "error" in parts.get(key, {}):
            lines += [f"**Part {key} ({title}) failed**: `{parts[key]['error']}` (traceback in gpu_bench.json)", ""]
    a = parts.get("A")
    if a is not None and "error" not in a:
        lines += [
            f"**Mixture scorer** (`mixture_logpdf`, d = {a['d']}, Var(D) = {a['variance']}, data as in "
            "`bench_mixture.py`; median of 3 calls after a warm-up; peak = `torch.cuda.max_memory_allocated`)",
            "",
            "| N = M | default (auto) s | screened chunks / dense chunks | dense float64 s | faster | "
            "dense / default | peak MB default / dense | max rel. diff default vs dense | vs CPU default |",
            "|---:|---:|:-:|---:|:-:|---:|---:|---:|---:|",
        ]
        for r in a["rows"]:
            if "skipped" in r or "error" in r:
                why = f"skipped ({r['skipped']})" if "skipped" in r else f"failed: `{r['error'][:200]}`"
                lines.append(f"| {r['n']:,} | {why} | | | | | | | |")
                continue
            p = r["auto_path"]
            chunks = f"{p.get('screened_chunks', '?')} / {p.get('dense_chunks', '?')}" if p.get("available") else "n/a"
            lines.append(
                f"| {r['n']:,} | {_fmt(r['auto_s'])} | {chunks} | {_fmt(r['dense_s'])} | {r['faster']} | "
                f"{_fmt(r['dense_over_default'], '.2f')}x | {_fmt(r['auto_peak_mb'], '.0f')} / "
                f"{_fmt(r['dense_peak_mb'], '.0f')} | {_fmt(r['rel_diff_vs_dense'], '.1e')} | "
                f"{_fmt(r.get('rel_diff_vs_cpu_default'), '.1e')} |"
            )
        timed = [r for r in a["rows"] if "auto_s" in r]
        if timed:
            wins = [r for r in timed if r["faster"] == "default" and r["ok"]]
            lines += [
                "",
                f"The default is the fastest correct method at {len(wins)} of {len(timed)} sizes"
                + (
                    " (dense float64 faster or the default wrong at N = "
                    + ", ".join(format(r["n"], ",") for r in timed if r not in wins)
                    + ")."
                    if len(wins) < len(timed)
                    else "."
                ),
            ]
        first = next((r for r in a["rows"] if "cpu_default_s" in r), None)
        if first is not None:
            lines += ["", f"CPU default at N = M = {first['n']:,}: {_fmt(first['cpu_default_s'])} s."]
        lines.append("")
    b = parts.get("B")
    if b is not None and "error" not in b:
        cases = b["cases"]
        names = list(next(iter(cases.values()))["estimators"]) if cases else []
        lines += [
            f"**One IP record** ({b['n_train']:,} train + {b['n_test']:,} test representations, n_noise = "
            f"{b['n_noise']}, `bench_ip_record.py` estimators through the tracker; the mixture runs on "
            f"{env['device']}, the other estimators on the CPU), wall s:",
            "",
            "| estimator | " + " | ".join(f"{k} (d = {v['d']})" for k, v in cases.items()) + " |",
            "|:--|" + "---:|" * len(cases),
        ]
        for name in names:
            cells = []
            for v in cases.values():
                e = v["estimators"].get(name, {})
                cells.append(_fmt(e.get("wall_s"), ".2f", none="failed" if "error" in e else e.get("skipped", "-")))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append(
            "| **total** | "
            + " | ".join(f"**{v['total_s']:.2f}**" + ("" if v["complete"] else " (incomplete)") for v in cases.values())
            + " |"
        )
        lines.append("")
    c = parts.get("C")
    if c is not None and "error" not in c:
        lines += [
            "**One FC training epoch with an IP record** (FC 784-512-128-32-10, Gaussian dropout Var(D) = 0.2, "
            f"batch 256; IP at epoch 1 on {c['ip_n_train']:,} train + {c['ip_n_test']:,} test inputs with "
            f"{', '.join(PAPER_ESTIMATORS)}, n_bins {', '.join(map(str, PAPER_N_BINS))}; data: {c['data']}), s:",
            "",
            "| training pass | IP record | evaluation, collection, checkpoint | epoch 1 total | `train()` total |",
            "|---:|---:|---:|---:|---:|",
            f"| {_fmt(c['training_s'], '.2f')} | {_fmt(c['ip_record_s'], '.2f')} | {_fmt(c['other_s'], '.2f')} | "
            f"{_fmt(c['epoch1_s'], '.2f')} | {_fmt(c['train_wall_s'], '.2f')} |",
            "",
            "`train()` total: also loading the data, building the model, the evaluation at epoch 0 and the run files "
            "(the process's one-off `torch._dynamo` import on the first optimizer, "
            f"{_fmt(c['optimizer_import_s'], '.1f')} s, done before). Test accuracy after the epoch: "
            f"{_fmt(c['test_accuracy'], '.4f')}.",
            "",
        ]
    dd = parts.get("D")
    if dd is not None and "error" not in dd and dd.get("rows"):
        lines += [
            f"**Chunk size** (`mixture_logpdf(chunk_size=...)`, N = M = {dd['n']:,}, d = {dd['d']}; min of 2 calls), s "
            "(peak MB):",
            "",
            "| chunk size | default (auto) | dense float64 |",
            "|---:|---:|---:|",
        ]
        for chunk in sorted({r["chunk_size"] for r in dd["rows"]}):
            cell = {
                r["method"]: f"{_fmt(r['s'])} ({_fmt(r['peak_mb'], '.0f')})" + ("" if r["ok"] else " WRONG")
                for r in dd["rows"]
                if r["chunk_size"] == chunk
            }
            lines.append(f"| {chunk:,} | {cell.get('auto', '-')} | {cell.get('dense', '-')} |")
        lines.append("")
    if res["notes"]:
        lines += ["Notes: " + "; ".join(res["notes"]) + ".", ""]
    lines.append(f"Total benchmark wall time {res['elapsed_s']:.1f} s (budget {res['budget_s']:.0f} s).")
    return "\n".join(lines) + "\n"


def _clean(v):
    """JSON-safe: non-finite floats as strings ("inf", "nan"), numpy scalars as Python numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def write_outputs(out: Path, res: dict) -> str:
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(res)
    for name, text in (("gpu_bench.json", json.dumps(_clean(res), indent=1) + "\n"), ("gpu_bench.md", md)):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    return md


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for the quick check)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: the whole run in seconds (tests)")
    ap.add_argument(
        "--out", default="runs/gpu_bench", help="folder for gpu_bench.json and gpu_bench.md (runs/ is ignored by git)"
    )
    ap.add_argument("--budget-s", type=float, default=480.0, help="skip what would overrun this many seconds")
    ap.add_argument("--parts", default="ABCD", help="which parts to run (subset of ABCD; D runs only if time is left)")
    args = ap.parse_args(argv)
    budget = Budget(args.budget_s)
    parts = [p for p in "ABCD" if p in args.parts.upper()]
    if not parts or set(args.parts.upper()) - set("ABCD"):
        ap.error(f"--parts must be a non-empty subset of ABCD; got {args.parts!r}")

    import torch

    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError, ValueError):
        ap.error(f"--device: not a torch device: {args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"bench_gpu: --device {args.device} requested but CUDA is not available "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
            "use --device cpu (e.g. --device cpu --quick for the quick check)",
            file=sys.stderr,
            flush=True,
        )
        return 2
    try:  # fail fast, before any timing, when this python lacks something ipdrop imports
        import bench_ip_record  # noqa: F401
        import bench_mixture  # noqa: F401

        import ipdrop.estimators  # noqa: F401
        import ipdrop.tracker  # noqa: F401
        import ipdrop.training  # noqa: F401
    except ImportError as exc:
        print(f"bench_gpu: import failed: {exc!r} (run from the repository root with PYTHONPATH=.)", file=sys.stderr)
        return 3

    sizes = QUICK if args.quick else FULL
    if device.type == "cuda":
        t0 = time.perf_counter()
        a = torch.ones(64, 64, device=device)
        (a @ a).sum().item()
        (a.double() @ a.double()).sum().item()
        torch.cuda.synchronize(device)
        init_s = time.perf_counter() - t0
    else:
        init_s = 0.0
    res: dict = {
        "environment": environment(device),
        "quick": args.quick,
        "budget_s": args.budget_s,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "device_init_s": init_s,
        "parts": {},
        "notes": [],
        "elapsed_s": 0.0,
    }
    out = Path(args.out)
    env = res["environment"]
    log(
        f"bench_gpu: {env['device_name']} ({device}), torch {env['torch']}, CUDA {env['cuda']}, "
        f"{env['torch_threads']} torch threads, budget {args.budget_s:.0f} s{' (quick)' if args.quick else ''}"
    )
    log(f"  precision: {env['precision_at_start']}")
    runners = {
        "A": ("mixture scorer", lambda: part_a(device, sizes["sizes"], budget, res["notes"])),
        "B": ("one IP record", lambda: part_b(device, sizes["record_n"], budget, res["notes"])),
        "C": ("one FC epoch with IP", lambda: part_c(device, sizes, budget, res["notes"])),
        "D": (
            "chunk-size sweep",
            lambda: part_d(device, sizes["sweep_n"], res["parts"].get("A"), budget, res["notes"]),
        ),
    }
    for p in parts:
        title, fn = runners[p]
        min_left = sizes["min_left_c"] if p == "C" else 5.0  # part D predicts its own cost
        if not budget.allows(min_left):
            res["notes"].append(f"part {p} ({title}) skipped: {budget.left():.0f} s of the budget left")
            log(f"part {p} ({title}): skipped, {budget.left():.0f} s of the budget left")
            continue
        log(f"part {p}: {title}")
        t0 = time.perf_counter()
        try:
            res["parts"][p] = fn()
        except Exception as exc:  # recorded in the report; the other parts still run
            res["parts"][p] = _error(exc)
            res["notes"].append(f"part {p} failed: {type(exc).__name__}")
            log(f"part {p} FAILED: {res['parts'][p]['traceback']}")
        res["parts"][p]["part_s"] = time.perf_counter() - t0
        res["elapsed_s"] = budget.elapsed()
        res["environment"]["precision_at_end"] = precision_settings()
        write_outputs(out, res)
        log(
            f"part {p} done in {res['parts'][p]['part_s']:.1f} s; "
            f"elapsed {budget.elapsed():.1f} s of {budget.seconds:.0f} s"
        )
    res["elapsed_s"] = budget.elapsed()
    res["environment"]["third_party_modules"] = sorted(
        {m.split(".")[0] for m in sys.modules if not m.startswith("_")}
        - set(sys.stdlib_module_names)
        - {"bench_mixture", "bench_ip_record", "bench_gpu"}
    )
    ok = all(r.get("ok", True) for k in "AD" for r in res["parts"].get(k, {}).get("rows", []))
    failures = [n for n in res["notes"] if " failed: " in n]
    res["correct"] = ok
    res["failures"] = failures
    md = write_outputs(out, res)
    log("\n" + md)
    log(f"{'PASS' if ok else 'FAIL'}: default vs dense float64 max rel diff <= {TOLERANCE:g} at every size run")
    if failures:
        log(f"FAIL: {len(failures)} step(s) raised: {'; '.join(failures)} (tracebacks in gpu_bench.json)")
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
