"""Torch threads per sweep worker: epoch times of a local sweep at 1 thread per run vs more.

Runs the same small grid (FC on the embedded MNIST subset, no IP estimation) as a local sweep with
``--workers W`` at each ``threads_per_run`` given, and prints the median epoch time (from each run's
``run.json``) side by side with the ratio to the default (``cores // workers``). Oversubscription
(workers x threads > cores) shows up as a ratio well above 1.

    PYTHONPATH=$PWD python benchmarks/bench_sweep_threads.py --workers 2 --threads 1 2 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=5000)
    args = ap.parse_args()

    from ipdrop.sweep import _available_cores, run_sweep

    cores = _available_cores()
    default = max(1, cores // args.workers)
    base = {
        "model": "fc",
        "dataset": "mnist",
        "subset": "embedded",
        "n_train": args.n_train,
        "epochs": args.epochs,
        "ip_epochs": "none",
        "device": "cpu",
        "batch_size": 64,
    }
    rows = []
    for t in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            rep = run_sweep(
                "train",
                {"seed": list(range(args.workers))},
                Path(tmp) / "s",
                workers=args.workers,
                base_params=base,
                progress=False,
                threads_per_run=t,
            )
            assert rep.ok, rep.summary()
            times = []
            for r in rep.runs:
                times += json.loads((Path(r.out_dir) / "run.json").read_text())["epoch_times_s"][1:]
            rows.append((t, statistics.median(times), min(times), max(times), rep.seconds))
    ref = {r[0]: r[1] for r in rows}.get(default, rows[0][1])
    print(f"cores={cores} workers={args.workers} default threads/run={default} load={os.getloadavg()[0]:.1f}")
    print(
        f"{'threads/run':>11} {'workers*threads':>15} {'median epoch s':>14} {'min':>7} {'max':>7} "
        f"{'sweep s':>8} {'ratio':>6}"
    )
    for t, med, lo, hi, total in rows:
        print(f"{t:>11} {t * args.workers:>15} {med:>14.3f} {lo:>7.3f} {hi:>7.3f} {total:>8.1f} {med / ref:>6.2f}")


if __name__ == "__main__":
    main()
