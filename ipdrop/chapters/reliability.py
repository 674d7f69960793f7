"""Chapter 7 (beyond the paper): can the information planes be trusted? Every number and figure of
``notebooks/07_reliability.md``.

Three different errors separate an estimate of I(X;Z) from the quantity a compression verdict is about
(``/work/shared/ESTIMATOR_NOTES.md``): the Monte-Carlo error over the dropout noise (``mc_error``), the
variability over the N inputs (seed spread: another subset of inputs), and the *bias* of each view, which
depends on N and d. Only the first two shrink with more noise draws or seeds; the bias does not.

* :func:`toy_views_vs_n` - the toy of :mod:`ipdrop.toy` at the layer sizes of Sec. 5 (d = 32, 84, 128): the
  exact I(X;Z) against the three views of :class:`~ipdrop.estimators.GaussianDropoutMI` (dataset, held-out,
  Alg. 1) as N grows, each with its Monte-Carlo error; drawn by :func:`~ipdrop.plotting.reliability_toy_figure`,
  summarised by :func:`toy_ratio_table` (estimate / exact).
* :func:`run_reliability_table` - the same views plus binning (noiseless f(X), and the reference code's noisy
  binning) on the stored representations of a trained network (``RUN/reps/epoch-XXXX.npz``), for several
  epochs, N and seeds; :func:`store_reliability_table` writes it with provenance to
  ``results/reliability/<run>.csv`` + ``.json`` and :func:`load_reliability_table` reads it back.
* :func:`epoch_change_vs_drift` - per estimator and pair of epochs: is the epoch-to-epoch change larger than
  the noise (2 x MC error, seed spread) *and* than the N-drift of the estimate, with the same sign at every N?
  The rule is :func:`judge_change`.

Seeds: seed ``s`` fixes both the input subset (nested prefixes of one seeded permutation, the same inputs at
every epoch) and the dropout noise; so the spread over seeds at N < N_total measures input sampling plus noise.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _io, toy
from .._base import check_int, check_positive, make_rng
from ..analysis import COMPRESSION_DEFAULTS, FINE_BINS
from ..plotting import reliability_binning_figure, reliability_run_figure, reliability_toy_figure
from ._common import _check_list

__all__ = [
    "COMPRESSION_DEFAULTS",
    "FINE_BINS",
    "LOG_N_TOL",
    "VIEWS",
    "TABLE_COLUMNS",
    "toy_views_vs_n",
    "toy_ratio_table",
    "run_reliability_table",
    "store_reliability_table",
    "load_reliability_table",
    "TABLE_SETTINGS",
    "update_reliability_table",
    "epoch_change_vs_drift",
    "judge_change",
    "n_drift_table",
    "train_quick_run",
    "compression_by_n",
    "sec5_checks",
    "stored_table_dir",
    "reliability_toy_figure",
    "reliability_run_figure",
    "reliability_binning_figure",
]

#: the three views of the mixture estimator, in the order of the figures
VIEWS = ("dataset", "heldout", "paper")
#: columns of :func:`run_reliability_table` (and of the stored ``results/reliability/<run>.csv``)
TABLE_COLUMNS = ("run", "epoch", "split", "n", "seed", "estimator", "value", "mc_error", "d", "log_n", "seconds")


def _mixture_all(fx, variance, n_noise, seed, device, zero_patterns=True, n_centers=1000):
    from ..estimators import GaussianDropoutMI

    n = fx.shape[0]
    est = GaussianDropoutMI(
        variance=variance,
        n_noise=n_noise,
        mode="all",
        n_centers=min(n_centers, n),
        seed=seed,
        device=device,
        progress=False,
        zero_patterns=zero_patterns,
    )
    return est.estimate(fx)


# --------------------------------------------------------------------------- (a) the toy at Sec. 5 sizes


def toy_views_vs_n(
    dims: Sequence[int] = (32, 84, 128),
    variances: Sequence[float] = (0.2, 0.0625),
    sizes: Sequence[int] = (500, 1000, 2000, 4000),
    n_noise: int = 10,
    n_centers: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> pd.DataFrame:
    """The three views of the mixture estimator against the exact I(X;Z) on the toy, as N grows.

    For each dimension d and variance (Var(D) = sigma^2), one seeded sample of ``max(sizes)`` inputs; each N uses
    its first N rows (nested), scored with ``n_noise`` noisy draws per input in ``mode="all"`` (one pass: the
    dataset, held-out and Alg. 1 views share their noise; Alg. 1 uses the first ``min(n_centers, N)`` rows as
    centres). The exact value is :func:`ipdrop.toy.exact_mi`.

    Returns columns ``dim, variance, n, view, estimate, mc_error, exact, ratio, log_n`` (nats; ``ratio`` =
    estimate / exact). A view that fails is left out (never happens on the toy: no zeros).
    """
    dims = _check_list(dims, "dims", lambda v, nm: check_int(v, nm))
    variances = _check_list(variances, "variances", check_positive)
    sizes = sorted(set(_check_list(sizes, "sizes", lambda v, nm: check_int(v, nm, minimum=2))))
    n_noise = check_int(n_noise, "n_noise", minimum=2)
    rng = make_rng(seed)
    rows = []
    for dim in dims:
        _, fx_all = toy.sample(max(sizes), dim, rng)
        for var in variances:
            exact = toy.exact_mi(dim, var)
            noise_seed = int(rng.integers(0, 2**31 - 1))
            for n in sizes:
                res = _mixture_all(fx_all[:n], var, n_noise, noise_seed, device, n_centers=n_centers)
                for view in VIEWS:
                    if view not in res:
                        continue
                    r = res[view]
                    mc = np.nan if r.mc_error is None else float(r.mc_error)
                    rows.append(
                        dict(
                            dim=dim,
                            variance=var,
                            n=n,
                            view=view,
                            estimate=float(r.value),
                            mc_error=mc,
                            exact=exact,
                            ratio=float(r.value) / exact,
                            log_n=math.log(n),
                        )
                    )
    return pd.DataFrame(rows)


def toy_ratio_table(df: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """Estimate / exact per (dim, variance) and view at one N (default the largest): a wide table with the
    exact value, log N and one ``<view>`` column of ratios."""
    if n is None:
        n = int(df["n"].max())
    sub = df[df["n"] == n]
    if sub.empty:
        raise ValueError(f"toy_ratio_table(): no rows with n = {n}; sizes: {sorted(df['n'].unique())}")
    wide = sub.pivot_table(index=["dim", "variance", "exact", "log_n"], columns="view", values="ratio").reset_index()
    wide.columns.name = None
    return wide[["dim", "variance", "exact", "log_n"] + [v for v in VIEWS if v in wide.columns]]


# --------------------------------------------------------------------------- (b, c) stored representations


def _run_variance(run_dir: Path) -> tuple[float | None, str]:
    cfg = _io.read_json_or_none(run_dir / "config.json") or {}
    c = cfg.get("config") or {}
    act = (cfg.get("resolved") or {}).get("activation") or "softplus"  # every paper network uses softplus
    return c.get("variance"), act


#: the settings of :func:`run_reliability_table` recorded with a stored table, with their defaults
#: (``scripts/reliability_table.py`` builds its options from this)
TABLE_SETTINGS: dict[str, Any] = {
    "epochs": (2, 20, 100, 200),
    "sizes": (1000, 2000, 5000, 10000),
    "seeds": (0, 1, 2),
    "n_bins": (3, 10, 30, 100),
    "ref_bins": (3, 10, 30, 100),
    "n_noise": 10,
    "split": "train",
}


def run_reliability_table(
    run_dir: str | os.PathLike,
    *,
    epochs: Sequence[int] = TABLE_SETTINGS["epochs"],
    sizes: Sequence[int] = TABLE_SETTINGS["sizes"],
    seeds: Sequence[int] = TABLE_SETTINGS["seeds"],
    split: str = "train",
    n_noise: int = 10,
    n_bins: Sequence[int] = TABLE_SETTINGS["n_bins"],
    ref_bins: Sequence[int] = TABLE_SETTINGS["ref_bins"],
    variance: float | None = None,
    activation: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Every estimate of I(X;Z) of a stored run at several epochs, sample sizes and seeds (one tidy table).

    Parameters
    ----------
    run_dir : path
        A run folder with ``config.json`` and ``reps/epoch-XXXX.npz`` (:func:`ipdrop.runstore.save_representations`).
    epochs : ints
        Epochs to analyse; epochs without stored representations are skipped (listed in ``df.attrs["missing"]``).
    sizes : ints
        Sample sizes N; a size above the stored rows is dropped (``df.attrs["dropped_sizes"]``).
    seeds : ints
        Seed s draws the input subset (nested prefixes of one permutation, the same inputs at every epoch) and
        the dropout noise of the mixture views and of the reference binning.
    n_bins, ref_bins : ints
        Binning of the noiseless f(X) (``binning-<b>``) and the reference code's binning of one noisy draw
        f(X) * D with ``linspace(min, max, b)`` edges (``binning-ref-<b>``).
    variance, activation : optional
        Var(D) and the layer's activation; default from the run's ``config.json`` (activation: softplus, whose
        exact zeros are underflow, so no zero-pattern split).

    Returns
    -------
    DataFrame with :data:`TABLE_COLUMNS`: one row per epoch x N x seed x estimator (``mixture-dataset``,
    ``mixture-heldout``, ``mixture-paper``, ``binning-<b>``, ``binning-ref-<b>``), ``value`` I(X;Z) in nats,
    ``mc_error`` the Monte-Carlo error over the noise (mixture only), ``seconds`` the wall time of the mixture
    pass (mixture rows) or of that binning.
    """
    from .. import runstore
    from ..estimators._binning import binning_mi_xz, binning_ref_mi_xz, reference_noisy

    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"run_dir {str(run)!r} does not exist")
    cfg_var, cfg_act = _run_variance(run)
    variance = check_positive(variance if variance is not None else cfg_var, "variance")
    activation = activation or cfg_act
    zero_patterns = activation == "relu"
    epochs = _check_list(epochs, "epochs", lambda v, nm: check_int(v, nm, minimum=0))
    seeds = _check_list(seeds, "seeds", lambda v, nm: check_int(v, nm, minimum=0))
    sizes = sorted(set(_check_list(sizes, "sizes", lambda v, nm: check_int(v, nm, minimum=2))))
    n_noise = check_int(n_noise, "n_noise", minimum=2)
    stored = set(runstore.representation_epochs(run))
    missing = [e for e in epochs if e not in stored]
    use = [e for e in epochs if e in stored]
    if not use:
        raise ValueError(
            f"{run}: none of the epochs {list(epochs)} has stored representations "
            f"(stored: {sorted(stored)[:10]}{' ...' if len(stored) > 10 else ''})"
        )
    rows: list[dict] = []
    dropped: set[int] = set()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(use) * len(seeds), desc=f"reliability {run.name}")
    for epoch in use:
        reps = runstore.load_representations(run, epoch)
        if split not in reps:
            raise ValueError(f"{run}: epoch {epoch} has no split {split!r} (splits: {sorted(reps)})")
        z_all = np.asarray(reps[split]["z"], dtype=np.float64)
        n_total, d = z_all.shape
        ok_sizes = [n for n in sizes if n <= n_total]
        dropped.update(n for n in sizes if n > n_total)
        for s in seeds:
            order = np.random.default_rng([int(s), 7]).permutation(n_total)  # same subset at every epoch
            for n in ok_sizes:
                z = z_all[order[:n]]
                base = dict(run=run.name, epoch=epoch, split=split, n=n, seed=s, d=d, log_n=math.log(n))
                t0 = time.perf_counter()
                try:
                    res = _mixture_all(z, variance, n_noise, int(s), device, zero_patterns=zero_patterns)
                except ValueError:  # every view failed (e.g. all-distinct zero patterns): no rows
                    res = {}
                dt = time.perf_counter() - t0
                for view in VIEWS:
                    r = res.get(view)
                    rows.append(
                        dict(
                            base,
                            estimator=f"mixture-{view}",
                            value=np.nan if r is None else float(r.value),
                            mc_error=np.nan if r is None or r.mc_error is None else float(r.mc_error),
                            seconds=dt,
                        )
                    )
                for b in n_bins:
                    t0 = time.perf_counter()
                    v = float(binning_mi_xz(z, n_bins=int(b)).value)
                    rows.append(
                        dict(base, estimator=f"binning-{b}", value=v, mc_error=np.nan, seconds=time.perf_counter() - t0)
                    )
                if ref_bins:
                    zn = reference_noisy(z, variance, seed=int(s))  # one noisy draw per input, shared by all counts
                    for b in ref_bins:
                        t0 = time.perf_counter()
                        v = float(binning_ref_mi_xz(zn, int(b)).value)
                        rows.append(
                            dict(
                                base,
                                estimator=f"binning-ref-{b}",
                                value=v,
                                mc_error=np.nan,
                                seconds=time.perf_counter() - t0,
                            )
                        )
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    df.attrs["missing"] = missing
    df.attrs["dropped_sizes"] = sorted(dropped)
    df.attrs["variance"] = variance
    df.attrs["activation"] = activation
    return df


def store_reliability_table(
    df: pd.DataFrame,
    store_dir: str | os.PathLike,
    run_name: str,
    *,
    settings: dict | None = None,
    wall_time_s: float | None = None,
) -> tuple[Path, Path]:
    """Write ``<store_dir>/<run_name>.csv`` (the table) and ``<run_name>.json`` (settings, versions, CPU,
    threads, git commit, wall time) atomically. Returns the two paths."""
    from .. import runstore

    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"store_reliability_table(): the table lacks column(s) {missing}")
    if not run_name or "/" in run_name or run_name.startswith("."):
        raise ValueError(f"store_reliability_table(): bad run_name {run_name!r}")
    out = Path(store_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, meta = out / f"{run_name}.csv", out / f"{run_name}.json"
    with _io.atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    info = {
        "run": run_name,
        "columns": list(TABLE_COLUMNS),
        "settings": settings or {},
        "missing_epochs": list(df.attrs.get("missing", [])),
        "dropped_sizes": list(df.attrs.get("dropped_sizes", [])),
        "variance": df.attrs.get("variance"),
        "activation": df.attrs.get("activation"),
        "wall_time_s": wall_time_s,
        "cpu": runstore._cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": runstore._threads(),
        "versions": runstore._versions(),
        "git_commit": runstore._git_commit(),
        "created": runstore._now(),
    }
    with _io.atomic_path(meta) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=2, default=str) + "\n")
    return csv, meta


def load_reliability_table(store_dir: str | os.PathLike, run_name: str) -> tuple[pd.DataFrame, dict] | None:
    """``(table, provenance)`` stored by :func:`store_reliability_table`, or None when absent."""
    csv, meta = Path(store_dir) / f"{run_name}.csv", Path(store_dir) / f"{run_name}.json"
    if not csv.is_file():
        return None
    df = pd.read_csv(csv)
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{csv}: not a reliability table (missing column(s) {missing})")
    return df, (_io.read_json_or_none(meta) or {})


def update_reliability_table(
    run_dir: str | os.PathLike,
    store_dir: str | os.PathLike,
    run_name: str | None = None,
    *,
    add: bool = False,
    progress: bool = False,
    **settings: Any,
) -> tuple[Path, Path, pd.DataFrame]:
    """Compute the table of a stored run (:func:`run_reliability_table`) and store it (:func:`store_reliability_table`).

    ``settings`` are those of :data:`TABLE_SETTINGS` (defaults from there); ``run_name`` defaults to the run
    folder's parent and name (``fc_mnist-var0.2-seed0``). With ``add=True`` the epochs of a table already stored
    under ``run_name`` are kept and only the missing ones computed; every other setting must equal the stored
    one (``ValueError`` naming the first that differs). Returns ``(csv, json, table)``; the wall time (seconds,
    the stored table's included) is in ``table.attrs["wall_time_s"]``.
    """
    unknown = sorted(set(settings) - set(TABLE_SETTINGS))
    if unknown:
        raise ValueError(
            f"update_reliability_table(): unknown setting(s) {unknown}; choose from {list(TABLE_SETTINGS)}"
        )
    run = Path(run_dir)
    name = run_name or f"{run.parent.name}-{run.name}"
    chosen = {k: settings.get(k, v) for k, v in TABLE_SETTINGS.items()}
    chosen = {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in chosen.items()}  # as JSON reads back
    from .. import runstore

    recorded = {"run_dir": str(run), **chosen, "threads": runstore._threads()}
    old, wall_old, epochs = None, 0.0, list(chosen["epochs"])
    got = load_reliability_table(store_dir, name) if add else None
    if got is not None:
        old, meta = got
        prev = dict(meta.get("settings") or {})
        for k in TABLE_SETTINGS:
            if k != "epochs" and prev.get(k) != chosen[k]:
                raise ValueError(f"add: the stored table {name!r} has {k}={prev.get(k)}, not {chosen[k]}")
        recorded["epochs"] = sorted(set(prev.get("epochs", [])) | set(epochs))
        wall_old = float(meta.get("wall_time_s") or 0.0)
        epochs = [e for e in epochs if e not in set(old["epoch"])]
    t0 = time.perf_counter()
    if old is not None and not epochs:  # the stored table holds every epoch asked for
        df = old
    else:
        df = run_reliability_table(run, **{**chosen, "epochs": epochs}, progress=progress)
        if old is not None:
            attrs = df.attrs
            df = pd.concat([old, df], ignore_index=True).sort_values(["epoch", "seed", "n"], kind="stable")
            df.attrs = attrs
    df.attrs["wall_time_s"] = round(time.perf_counter() - t0 + wall_old, 1)
    csv, meta_path = store_reliability_table(
        df, store_dir, name, settings=recorded, wall_time_s=df.attrs["wall_time_s"]
    )
    return csv, meta_path, df


# --------------------------------------------------------------------------- the verdict


def judge_change(change: float, noise: float, n_drift: float, sign_consistent: bool = True) -> str:
    """Classify an epoch-to-epoch change of an estimate (nats).

    * ``"noise"`` - ``|change| <= noise`` (noise: 2 x the combined Monte-Carlo error, or the seed spread of the
      change, whichever is larger): the estimator cannot see it at all;
    * ``"N-dependent"`` - above the noise, but ``|change| <= n_drift`` (how much the estimate at a *fixed* epoch
      moves between the smallest and largest N) or its sign differs between sample sizes: the change is of the
      same size as the estimator's dependence on N, so a different N could tell another story;
    * ``"robust"`` - larger than both, with the same sign at every N.
    """
    vals = [change, noise, n_drift]
    if not all(np.isfinite(v) for v in vals):
        return "unknown"
    if noise < 0 or n_drift < 0:
        raise ValueError(f"judge_change(): noise and n_drift must be >= 0; got {noise}, {n_drift}")
    if abs(change) <= noise:
        return "noise"
    if abs(change) <= n_drift or not sign_consistent:
        return "N-dependent"
    return "robust"


def _means(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["estimator", "epoch", "n"])
    out = g["value"].agg(["mean", "std", "count"])
    # combined MC error of the seed mean: sqrt(sum e_s^2) / n_seeds
    out["mc_error"] = g["mc_error"].apply(
        lambda e: math.sqrt(np.nansum(np.square(e))) / max(len(e), 1) if np.isfinite(e).any() else np.nan
    )
    return out.reset_index()


def n_drift_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per estimator and epoch: the seed-mean estimate at the smallest and the largest N and the N-drift
    (largest minus smallest), with ``log N`` at both ends for comparison."""
    m = _means(df)
    rows = []
    for (est, ep), g in m.groupby(["estimator", "epoch"]):
        g = g.sort_values("n")
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append(
            dict(
                estimator=est,
                epoch=int(ep),
                n_min=int(lo["n"]),
                value_n_min=lo["mean"],
                n_max=int(hi["n"]),
                value_n_max=hi["mean"],
                n_drift=hi["mean"] - lo["mean"],
                log_n_ratio=math.log(hi["n"] / lo["n"]),
            )
        )
    return pd.DataFrame(rows)


def epoch_change_vs_drift(
    df: pd.DataFrame,
    *,
    estimators: Sequence[str] | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    se_factor: float = 2.0,
) -> pd.DataFrame:
    """Is each epoch-to-epoch change larger than the estimator's noise and its N-drift?

    For every estimator and pair of epochs (default: consecutive analysed epochs), at the largest N:
    ``change`` = seed-mean value(epoch b) - value(epoch a); ``mc_noise`` = ``se_factor`` x the combined MC error
    of the two seed means; ``seed_spread`` = the std over seeds of the per-seed change; ``n_drift`` = the larger
    |N-drift| (:func:`n_drift_table`) of the two epochs; ``sign_consistent`` whether the change has the same
    sign at every N; ``change_n_min`` the same change at the smallest N (how much the change itself depends on N).
    ``verdict`` is :func:`judge_change` with noise = max(mc_noise, seed_spread).
    """
    need = [c for c in ("estimator", "epoch", "n", "seed", "value", "mc_error") if c not in df.columns]
    if need:
        raise ValueError(f"epoch_change_vs_drift(): the table lacks column(s) {need}")
    if estimators is not None:
        df = df[df["estimator"].isin(list(estimators))]
    drift = n_drift_table(df).set_index(["estimator", "epoch"])["n_drift"]
    m = _means(df).set_index(["estimator", "epoch", "n"])
    rows = []
    for est, g in df.groupby("estimator"):
        eps = sorted(g["epoch"].unique())
        prs = list(pairs) if pairs is not None else list(zip(eps[:-1], eps[1:]))
        n_max = int(g["n"].max())
        for a, b in prs:
            if a not in eps or b not in eps:
                continue
            per_seed = g[g["n"] == n_max].pivot_table(index="seed", columns="epoch", values="value")
            d_seed = (per_seed[b] - per_seed[a]).dropna()
            ma, mb = m.loc[(est, a, n_max)], m.loc[(est, b, n_max)]
            change = float(mb["mean"] - ma["mean"])
            mc = se_factor * math.hypot(ma["mc_error"], mb["mc_error"]) if np.isfinite(ma["mc_error"]) else 0.0
            spread = float(d_seed.std(ddof=1)) if len(d_seed) > 1 else 0.0
            signs, by_n = [], []
            for n in sorted(g["n"].unique()):
                if (est, a, n) in m.index and (est, b, n) in m.index:
                    by_n.append(float(m.loc[(est, b, n)]["mean"] - m.loc[(est, a, n)]["mean"]))
                    signs.append(np.sign(by_n[-1]))
            consistent = len(set(signs)) == 1
            nd = float(max(abs(drift.get((est, a), np.nan)), abs(drift.get((est, b), np.nan))))
            rows.append(
                dict(
                    estimator=est,
                    epoch_a=int(a),
                    epoch_b=int(b),
                    n=n_max,
                    change=change,
                    change_n_min=by_n[0] if by_n else np.nan,
                    mc_noise=mc,
                    seed_spread=spread,
                    n_drift=nd,
                    sign_consistent=consistent,
                    verdict=judge_change(change, max(mc, spread), nd, consistent),
                )
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- a short run for the quick profile


def train_quick_run(
    out_dir: str | os.PathLike,
    *,
    model: str = "fc",
    variance: float = 0.2,
    epochs: int = 4,
    ip_epochs: Sequence[int] = (1, 2, 4),
    ip_n_train: int = 2000,
    subset: str = "embedded",
    lr: float = 0.1,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    num_threads: int | None = 1,
) -> Path:
    """Train ``model`` with Gaussian dropout (Var(D) = ``variance``) briefly and keep the representations of
    ``ip_n_train`` training inputs at ``ip_epochs`` (``RUN/reps/``), for :func:`run_reliability_table`.
    Only the variational I(Y;Z) is tracked during training (cheap); everything else is computed afterwards.
    Returns the run folder (``out_dir``); an existing complete run with the same config is reused."""
    from ..training import TrainConfig, train

    cfg = TrainConfig(
        model=model,
        dataset="mnist",
        dropout="gaussian",
        variance=variance,
        epochs=epochs,
        ip_epochs=list(ip_epochs),
        ip_n_train=ip_n_train,
        ip_n_test=min(ip_n_train, 1000),
        subset=subset,
        lr=lr,
        batch_size=batch_size,
        estimators=("variational",),
        save_representations=True,
        seed=seed,
        device=device,
        num_threads=num_threads,
    )
    train(cfg, out_dir, progress=False)
    return Path(out_dir)


# --------------------------------------------------------------------------- what the numbers say about Sec. 5


def compression_by_n(df: pd.DataFrame, estimator: str, **rule: Any) -> pd.DataFrame:
    """The book's one compression rule (:func:`ipdrop.analysis.compression`, seeds as repeated curves, the MC
    errors as errors) applied to the curve over the analysed epochs at each N separately. Columns ``estimator,
    n, peak, epoch_peak, final, drop, threshold, compressed``."""
    from ..analysis import compression

    sub = df[df["estimator"] == estimator]
    if sub.empty:
        raise ValueError(f"compression_by_n(): estimator {estimator!r} not in the table")
    rows = []
    for n, g in sub.groupby("n"):
        vals = g.pivot_table(index="seed", columns="epoch", values="value")
        errs = g.pivot_table(index="seed", columns="epoch", values="mc_error", dropna=False).reindex_like(vals)
        c = compression(vals.columns.to_numpy(), vals.to_numpy(), errs.to_numpy(), **rule)
        if c is None:
            continue
        rows.append(
            dict(
                estimator=estimator,
                n=int(n),
                peak=c.peak,
                epoch_peak=c.epoch_peak,
                final=c.final,
                drop=c.drop,
                threshold=c.threshold,
                compressed=c.compressed,
            )
        )
    return pd.DataFrame(rows)


#: how close to log N (nats) binning must stay for "|S| is insufficient for binning" (:func:`sec5_checks`)
LOG_N_TOL = 0.05


def sec5_checks(df: pd.DataFrame, *, log_n_tol: float = LOG_N_TOL, from_epoch: int = 1) -> pd.DataFrame:
    """Which statements of Sec. 5 the table supports, by stated rules (one row per statement and estimator).

    * "our estimator shows compression" (Figs. 5, 6), per mixture view: ``supported`` when the compression
      rule (:func:`compression_by_n`) says compressed at *every* N and the drop at the largest N exceeds the
      largest |N-drift| of the analysed epochs; ``N-dependent`` when compressed at some N only or the drop does
      not exceed the N-drift; ``not seen`` when compressed at no N.
    * "binning shows no compression" (Fig. 5, App. A.8), per binning estimator with >= FINE_BINS bins: ``supported``
      when not compressed at any N, ``undercut`` otherwise.
    * "|S| is insufficient for binning" (Sec. 5): per binning estimator with >= FINE_BINS bins: ``supported`` when
      |value - log N| <= ``log_n_tol`` nats at every epoch, N and seed (binning sees distinct inputs only).
    """
    rows = []
    drift = n_drift_table(df)
    ests = list(dict.fromkeys(df["estimator"]))
    for est in [e for e in ests if e.startswith("mixture-")]:
        c = compression_by_n(df, est, from_epoch=from_epoch)
        if c.empty:
            continue
        nd = float(drift.loc[drift["estimator"] == est, "n_drift"].abs().max())
        top = c.loc[c["n"].idxmax()]
        if not c["compressed"].any():
            v = "not seen"
        elif c["compressed"].all() and top["drop"] > nd:
            v = "supported"
        else:
            v = "N-dependent"
        rows.append(
            dict(
                statement="our estimator shows compression",
                estimator=est,
                verdict=v,
                evidence=f"compressed at N = {', '.join(str(n) for n in c.loc[c['compressed'], 'n']) or 'none'}"
                f"; drop at N = {int(top['n'])}: {top['drop']:.3g} nats; max |N-drift| {nd:.3g}",
            )
        )
    binned = [
        e
        for e in ests
        if e.startswith("binning") and e.rsplit("-", 1)[-1].isdigit() and int(e.rsplit("-", 1)[-1]) >= FINE_BINS
    ]
    for est in binned:
        c = compression_by_n(df, est, from_epoch=from_epoch)
        v = "undercut" if c["compressed"].any() else "supported"
        rows.append(
            dict(
                statement="binning shows no compression",
                estimator=est,
                verdict=v,
                evidence=f"compressed at N = {', '.join(str(n) for n in c.loc[c['compressed'], 'n']) or 'none'}",
            )
        )
    for est in binned:
        s = df[df["estimator"] == est]
        gap = float((s["log_n"] - s["value"]).abs().max())
        rows.append(
            dict(
                statement="|S| is insufficient for binning",
                estimator=est,
                verdict="supported" if gap <= log_n_tol else "not shown",
                evidence=f"max |log N - estimate| = {gap:.3g} nats over every epoch, N, seed",
            )
        )
    return pd.DataFrame(rows, columns=["statement", "estimator", "verdict", "evidence"])


def stored_table_dir() -> Path:
    """``results/reliability`` of the repository holding this package (may not exist in an installed copy)."""
    return Path(__file__).resolve().parents[2] / "results" / "reliability"
