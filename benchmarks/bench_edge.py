"""Benchmark: label MI at scale (k-NN GEMM vs k-d tree vs EDGE), vectorised vs loop EDGE, binning at 60,000 x 512.

Label MI (``--labels-only`` runs just this part): I(Y;Z) with the Ross k-NN estimator by the screened-GEMM
path (exact Euclidean counts) and by k-d trees (the former default path; Euclidean here so both give the same
number), and EDGE, at N = ``--label-n`` (default 10,000), d = 32, 64, 128, 10 classes. Medians of wall-clock
and CPU (process) time over ``--repeats``; on a shared machine the CPU time is the better measure of the work,
so the load average is printed too. The tree is timed once at d = 32 only unless ``--tree-all`` (it takes
seconds to minutes in high dimension).

The loop implementation uses the *same* hash plan (projection, widths, shifts drawn from the same seed by
``edge_hash_plan``) and builds dict counts sample by sample, the way a straightforward implementation does;
both must give the same estimate (they group identical codes, so they agree to float rounding).

Usage: ``python benchmarks/bench_edge.py [--n 60000] [--d 32] [--repeats 3] [--loop-repeats 1]``
Times are medians over repeats (wall clock, this machine); peak memory is numpy/Python allocations traced by
:mod:`tracemalloc` during one extra run.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tracemalloc

import numpy as np
import torch

from ipdrop.estimators import binning_mi_xz, binning_mi_yz, edge_mi, knn_mi_labels
from ipdrop.estimators._edge import edge_from_plan, edge_hash_plan

EDGE_KW = dict(n_ensemble=10, ensemble="median", projection="auto")


def edge_loop(plan) -> float:
    """EDGE (median ensemble) on a prepared plan, hashing and counting buckets in Python dicts sample by sample."""
    n = plan.px.shape[0]
    base = []
    for l in range(plan.factors.size):
        cx, cy, cxy = {}, {}, {}
        for i in range(n):
            hx = tuple(np.floor((plan.px[i] + plan.shift_x[l]) / plan.eps_x[l]).astype(np.int64).tolist())
            if plan.labels is not None:
                hy = int(plan.labels[i])
            else:
                hy = tuple(np.floor((plan.py[i] + plan.shift_y[l]) / plan.eps_y[l]).astype(np.int64).tolist())
            cx[hx] = cx.get(hx, 0) + 1
            cy[hy] = cy.get(hy, 0) + 1
            cxy[(hx, hy)] = cxy.get((hx, hy), 0) + 1
        total = 0.0
        for (hx, hy), nij in cxy.items():
            total += nij * math.log(nij * n / (cx[hx] * cy[hy]))
        base.append(total / n)
    return float(np.median(base))


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def timed_cpu(fn, repeats):
    """Medians of (wall, CPU) seconds over ``repeats`` calls, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus)), out


def label_mi_bench(n, dims, repeats, tree_all, no_tree=False):
    print(
        f"I(Y;Z) at N = {n}, 10 classes (means N(0, 0.25 I_d), unit noise), torch threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = f"{'d':>4} {'estimator':<22}{'wall s':>9}{'cpu s':>9}{'estimate':>10}   ratio (cpu, vs k-NN GEMM)"
    print(header)
    print("-" * len(header))
    for d in dims:
        rng = np.random.default_rng(d)
        means = 0.5 * rng.standard_normal((10, d))
        y = rng.integers(0, 10, n)
        z = means[y] + rng.standard_normal((n, d))
        wg, cg, rg = timed_cpu(lambda: knn_mi_labels(z, y), repeats)
        rows = [("k-NN, GEMM (default)", wg, cg, rg.value)]
        if tree_all or (d == dims[0] and not no_tree):
            wt, ct, rt = timed_cpu(lambda: knn_mi_labels(z, y, method="tree", p=2), 1)
            assert abs(rt.value - rg.value) < 1e-9, (rt.value, rg.value)  # same exact counts
            rows.append(("k-NN, k-d tree (1 run)", wt, ct, rt.value))
            wo, co, ro = timed_cpu(lambda: knn_mi_labels(z, y, method="tree", p=np.inf), 1)
            rows.append(("k-NN, tree max-norm*", wo, co, ro.value))
        we, ce, re_ = timed_cpu(lambda: edge_mi(z, y, seed=0), repeats)
        rows.append(("EDGE", we, ce, re_.value))
        for name, w, c, v in rows:
            print(f"{d:>4} {name:<22}{w:>9.3f}{c:>9.3f}{v:>10.4f}   {c / cg:>6.1f}x")
    if tree_all or not no_tree:
        print("* the former default (k-d tree, max-norm; another norm, so another finite-sample value); one run")
    print(f"load average after: {os.getloadavg()[0]:.1f}\n")


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def make_data(n, d, seed=0):
    """Gaussian mixture: 10 classes, means N(0, 4 I_d), unit noise; plus a continuous 4-D target."""
    rng = np.random.default_rng(seed)
    means = 2.0 * rng.standard_normal((10, d))
    y = rng.integers(0, 10, n)
    z = means[y] + rng.standard_normal((n, d))
    y_cont = z[:, :4] @ rng.standard_normal((4, 4)) + rng.standard_normal((n, 4))
    return z, y, y_cont


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-repeats", type=int, default=1)
    ap.add_argument("--bin-d", type=int, default=512)
    ap.add_argument("--label-n", type=int, default=10_000)
    ap.add_argument("--label-dims", type=str, default="32,64,128")
    ap.add_argument("--tree-all", action="store_true", help="time the k-d tree at every d (slow)")
    ap.add_argument("--labels-only", action="store_true", help="run only the label-MI part")
    ap.add_argument("--no-tree", action="store_true", help="skip the k-d tree rows (minutes under load)")
    args = ap.parse_args()

    label_mi_bench(
        args.label_n, [int(v) for v in args.label_dims.split(",")], args.repeats, args.tree_all, args.no_tree
    )
    if args.labels_only:
        return

    z, y, y_cont = make_data(args.n, args.d)
    print(f"EDGE, N = {args.n}, d = {args.d}, {EDGE_KW}, seed 0")
    print("plan = validation + projection + k-NN bandwidth (shared by both); hash+count = the 10 ensemble members")
    header = f"{'case':<22}{'step':<22}{'median s':>10}{'peak MiB':>10}{'estimate':>12}"
    print(header)
    print("-" * len(header))
    for case, target in [("Z;Y labels (10)", y), ("Z;Y continuous (4-D)", y_cont)]:

        def make_plan(target=target):
            return edge_hash_plan(z, target, n_ensemble=EDGE_KW["n_ensemble"], projection=EDGE_KW["projection"], seed=0)

        tp, plan = timed(make_plan, args.repeats)
        tv, rv = timed(lambda: edge_from_plan(plan, ensemble="median"), args.repeats)
        tl, vl = timed(lambda: edge_loop(plan), args.loop_repeats)
        tt, rt = timed(lambda: edge_mi(z, target, seed=0, **EDGE_KW), args.repeats)
        mv = peak_mib(lambda: edge_mi(z, target, seed=0, **EDGE_KW))
        assert rt.value == rv.value
        print(f"{case:<22}{'plan':<22}{tp:>10.3f}")
        print(f"{'':<22}{'hash+count vectorised':<22}{tv:>10.3f}{'':>10}{rv.value:>12.6f}")
        print(f"{'':<22}{'hash+count loop':<22}{tl:>10.3f}{'':>10}{vl:>12.6f}")
        print(f"{'':<22}{'edge_mi total':<22}{tt:>10.3f}{mv:>10.1f}{rt.value:>12.6f}")
        rel = abs(rv.value - vl) / max(abs(vl), 1e-12)
        print(
            f"{'':<22}hash+count speed-up {tl / tv:.1f}x (total incl. plan: {(tl + tp) / tt:.1f}x), "
            f"relative difference {rel:.1e} ({'OK' if rel < 0.01 else 'MISMATCH'}: < 1%), "
            f"hash dim {rv.details['hash_dim_x']}+{rv.details['hash_dim_y']}, eps0 {rv.details['eps0']:.3f}"
        )

    rng = np.random.default_rng(1)
    zb = np.tanh(rng.standard_normal((args.n, args.bin_d)))
    yb = rng.integers(0, 10, args.n)
    print(f"\nBinning, N = {args.n}, d = {args.bin_d} (float64 input, 30 bins over the global range)")
    header = f"{'quantity':<22}{'median s':>10}{'peak MiB':>10}{'estimate':>12}{'log N':>10}"
    print(header)
    print("-" * len(header))
    for name, fn in [
        ("I(X;Z) = H(Z_binned)", lambda: binning_mi_xz(zb, n_bins=30)),
        ("I(Y;Z_binned)", lambda: binning_mi_yz(zb, yb, n_bins=30)),
        ("I(X;Z), bin_width=0.5", lambda: binning_mi_xz(zb, bin_width=0.5)),
    ]:
        t, r = timed(fn, args.repeats)
        print(f"{name:<22}{t:>10.3f}{peak_mib(fn):>10.1f}{r.value:>12.4f}{math.log(args.n):>10.4f}")


if __name__ == "__main__":
    main()
