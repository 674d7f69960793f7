"""Compute the reliability table of a stored run (chapter 7) and save it into the results store.

    PYTHONPATH=$PWD python scripts/reliability_table.py /var/tmp/ipdrop-work/runs/fc_mnist/var0.2-seed0 \
        --epochs 2 20 100 200 --sizes 1000 2000 5000 10000 --seeds 0 1 2

writes ``results/reliability/<run>.csv`` + ``.json`` (see :func:`ipdrop.chapters.reliability.store_reliability_table`).
With ``--add`` the epochs already in a stored table are kept and only the missing ones are computed (same
settings required). Threads: 1 by default (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument(
        "--name", help="name in the store (default: the run folder's parent and name, e.g. fc_mnist-var0.2-seed0)"
    )
    p.add_argument("--store", default="results/reliability")
    p.add_argument("--epochs", type=int, nargs="+", default=[2, 20, 100, 200])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-bins", type=int, nargs="+", default=[3, 10, 30, 100])
    p.add_argument("--ref-bins", type=int, nargs="+", default=[3, 10, 30, 100])
    p.add_argument("--n-noise", type=int, default=10)
    p.add_argument("--split", default="train")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--add", action="store_true", help="keep the stored epochs, compute only the missing ones")
    a = p.parse_args(argv)

    import pandas as pd
    import torch

    torch.set_num_threads(a.threads)
    from ipdrop.chapters import reliability as rel

    run = Path(a.run_dir)
    name = a.name or f"{run.parent.name}-{run.name}"
    settings = dict(
        run_dir=str(run),
        epochs=a.epochs,
        sizes=a.sizes,
        seeds=a.seeds,
        n_bins=a.n_bins,
        ref_bins=a.ref_bins,
        n_noise=a.n_noise,
        split=a.split,
        threads=a.threads,
    )
    old, wall_old = None, 0.0
    epochs = list(a.epochs)
    if a.add:
        got = rel.load_reliability_table(a.store, name)
        if got is not None:
            old, meta = got
            prev = dict(meta.get("settings") or {})
            for k in ("sizes", "seeds", "n_bins", "ref_bins", "n_noise", "split"):
                if prev.get(k) != settings[k]:
                    print(f"--add: stored setting {k}={prev.get(k)} differs from {settings[k]}", file=sys.stderr)
                    return 2
            settings["epochs"] = sorted(set(prev.get("epochs", [])) | set(a.epochs))
            wall_old = float(meta.get("wall_time_s") or 0.0)
            epochs = [e for e in a.epochs if e not in set(old["epoch"])]
    t0 = time.perf_counter()
    df = (
        rel.run_reliability_table(
            run,
            epochs=epochs,
            sizes=a.sizes,
            seeds=a.seeds,
            split=a.split,
            n_noise=a.n_noise,
            n_bins=a.n_bins,
            ref_bins=a.ref_bins,
            progress=True,
        )
        if epochs
        else None
    )
    wall = time.perf_counter() - t0 + wall_old
    if old is not None and df is not None:
        attrs = df.attrs
        df = pd.concat([old, df], ignore_index=True).sort_values(["epoch", "seed", "n"], kind="stable")
        df.attrs = attrs
    elif df is None:
        df = old
    csv, meta = rel.store_reliability_table(df, a.store, name, settings=settings, wall_time_s=round(wall, 1))
    print(f"wrote {csv} ({len(df)} rows) and {meta}; wall time {wall:.0f} s; missing epochs {df.attrs.get('missing')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
