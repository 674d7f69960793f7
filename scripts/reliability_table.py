"""Compute the reliability table of a stored run (chapter 7) and save it into the results store.

    PYTHONPATH=$PWD python scripts/reliability_table.py /var/tmp/ipdrop-work/runs/fc_mnist/var0.2-seed0 \
        --epochs 2 20 100 200 --sizes 1000 2000 5000 10000 --seeds 0 1 2

writes ``results/reliability/<run>.csv`` + ``.json`` (see :func:`ipdrop.chapters.reliability.update_reliability_table`;
the options and their defaults are :data:`ipdrop.chapters.reliability.TABLE_SETTINGS`). With ``--add`` the epochs
already in a stored table are kept and only the missing ones are computed (same settings required). Threads: 1
by default (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from ipdrop.chapters import reliability as rel

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument(
        "--name", help="name in the store (default: the run folder's parent and name, e.g. fc_mnist-var0.2-seed0)"
    )
    p.add_argument("--store", default="results/reliability")
    for key, default in rel.TABLE_SETTINGS.items():
        many = isinstance(default, tuple)
        p.add_argument(
            "--" + key.replace("_", "-"),
            type=type(default[0] if many else default),
            nargs="+" if many else None,
            default=list(default) if many else default,
            help=f"(default: {' '.join(map(str, default)) if many else default})",
        )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--add", action="store_true", help="keep the stored epochs, compute only the missing ones")
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    settings = {k: getattr(a, k) for k in rel.TABLE_SETTINGS}
    try:
        csv, meta, df = rel.update_reliability_table(a.run_dir, a.store, a.name, add=a.add, progress=True, **settings)
    except ValueError as exc:
        print(f"reliability_table: error: {exc}", file=sys.stderr)
        return 2
    wall, missing = df.attrs["wall_time_s"], df.attrs.get("missing")
    print(f"wrote {csv} ({len(df)} rows) and {meta}; wall time {wall:.0f} s; missing epochs {missing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
