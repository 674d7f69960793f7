"""From a results table to the numbers a chapter reports: summaries, the compression rule, sweep loading.

Everything here works on the tidy results table of :func:`ipdrop.training.train` (columns
:data:`ipdrop.tracker.RESULT_COLUMNS`, MI in nats), optionally preceded by a ``run`` column and extra columns
(a study: :func:`ipdrop.chapters.planes.run_study`; a sweep: :func:`load_sweep`). Nothing here trains or plots.

The compression rule
--------------------
One rule decides "does I(X;Z) compress?" in every chapter and in the sweep summary: :func:`compression`.
For each run (seed) s with a curve v_s(epoch):

* ``peak_s`` = max of v_s over the epochs ``>= from_epoch`` (default 1: the untrained network at epoch 0 is
  not a fitting phase), ``final_s`` = v_s at the last tracked epoch, ``drop_s = peak_s - final_s`` (>= 0);
* ``drop`` = mean of ``drop_s`` over the seeds, ``peak`` = mean of ``peak_s``;
* ``threshold = max(min_drop, rel_drop * |peak|, se_factor * mc_error, spread)`` where ``mc_error`` =
  sqrt(sum_s (e_s(peak)^2 + e_s(final)^2)) / n_seeds is the Monte-Carlo error of ``drop`` from the
  estimator's reported errors (0 where it reports none) and ``spread`` is the across-seed standard deviation
  of ``drop_s`` (0 for one seed);
* ``compressed = drop > threshold``.

Defaults: ``min_drop`` = 0.1 nats, ``rel_drop`` = 2%, ``se_factor`` = 2.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from . import _io, _rundir
from ._base import check_int
from .tracker import RESULT_COLUMNS

__all__ = [
    # the compression rule
    "Compression",
    "compression",
    "COMPRESSION_DEFAULTS",
    "FINE_BINS",
    # single runs and studies
    "ip_summary",
    "accuracy_summary",
    "compression_table",
    "final_values",
    "beta_summary",
    "beta_checks",
    "failed_estimates",
    "chapter_pairs",
    "binning_pairs",
    "error_column",
    # sweeps
    "load_sweep",
    "param_columns",
    "mean_planes",
    "compression_summary",
    "compression_verdict",
]

XQ, YQ = "I(X;Z)", "I(Y;Z)"
#: defaults of :func:`compression` (nats, fraction of the peak, number of Monte-Carlo errors)
COMPRESSION_DEFAULTS = {"from_epoch": 1, "min_drop": 0.1, "rel_drop": 0.02, "se_factor": 2.0}
#: the bin count from which the chapters call a binning grid fine: with this many bins per unit or more, nearly
#: every input of the chapters' IP subsets (500 to 10,000 inputs) has a cell of its own, so binning reads log N
#: (the quick planes show this grid; the reliability chapter's Sec. 5 checks test it)
FINE_BINS = 30


def error_column(df: pd.DataFrame) -> str | None:
    """Name of the Monte-Carlo error column of a results table (``mc_error``, or the older ``stderr``), or
    None when it has neither."""
    for c in _rundir.ERROR_COLUMNS:
        if c in df.columns:
            return c
    return None


# --------------------------------------------------------------------------- the compression rule


@dataclass(frozen=True)
class Compression:
    """The verdict of :func:`compression` and the numbers behind it (nats; epochs as tracked).

    With several seeds ``peak``/``final``/``drop`` are means over the seeds and ``epoch_peak`` is the median
    of the seeds' peak epochs.
    """

    n_seeds: int
    peak: float
    epoch_peak: float
    final: float
    epoch_final: float
    drop: float
    mc_error: float
    spread: float
    threshold: float
    compressed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compression(
    epochs: ArrayLike,
    values: ArrayLike,
    errors: ArrayLike | None = None,
    *,
    from_epoch: int = 1,
    min_drop: float = 0.1,
    rel_drop: float = 0.02,
    se_factor: float = 2.0,
) -> Compression | None:
    """The one compression rule: does the curve fall from its peak (after ``from_epoch``) to its end by more
    than the noise?

    Parameters
    ----------
    epochs : 1-D array
        The tracked epochs (any order; they are sorted).
    values : 1-D array (one run) or 2-D array (one row per seed, one column per epoch)
        The estimate per epoch, e.g. I(X;Z) in nats. Non-finite entries (a failed estimate) are skipped.
    errors : array like ``values``, optional
        The estimator's Monte-Carlo error of each estimate (``mc_error`` / ``stderr``); NaN where unknown.
    from_epoch : int
        The peak is taken over epochs ``>= from_epoch`` (1: after the first training epoch).
    min_drop, rel_drop, se_factor : float
        See the rule below.

    The rule
    --------
    Per seed s: ``peak_s`` = max of the curve over epochs >= ``from_epoch``, ``final_s`` = the value at the
    seed's last finite epoch, ``drop_s = peak_s - final_s``. Then ``drop`` = mean_s ``drop_s`` and

        ``compressed = drop > max(min_drop, rel_drop * |peak|, se_factor * mc_error, spread)``

    with ``mc_error = sqrt(sum_s e_s(peak_s)^2 + e_s(final_s)^2) / n_seeds`` (a missing error counts 0) and
    ``spread`` = standard deviation (ddof 1) of ``drop_s`` across seeds (0 for one seed). An absolute floor,
    the estimator's Monte-Carlo error and the seed-to-seed disagreement: the drop must exceed all three.

    Returns
    -------
    Compression or None
        None when no seed has a finite value at an epoch ``>= from_epoch``.
    """
    from_epoch = check_int(from_epoch, "from_epoch", minimum=0)
    ep = np.asarray(epochs, dtype=float).ravel()
    vals = np.asarray(values, dtype=float)
    if vals.ndim == 1:
        vals = vals[None, :]
    if vals.ndim != 2 or vals.shape[1] != ep.size:
        raise ValueError(f"values must have one entry per epoch ({ep.size}) per seed; got shape {np.shape(values)}")
    errs = np.full(vals.shape, np.nan) if errors is None else np.asarray(errors, dtype=float).reshape(vals.shape)
    order = np.argsort(ep, kind="stable")
    ep, vals, errs = ep[order], vals[:, order], errs[:, order]
    peaks, epeaks, finals, efinals, drops, var_mc = [], [], [], [], [], []
    for v, e in zip(vals, errs):
        ok = np.isfinite(v)
        later = ok & (ep >= from_epoch)
        if not later.any():
            continue
        i = int(np.flatnonzero(later)[np.argmax(v[later])])
        j = int(np.flatnonzero(ok)[-1])
        peaks.append(v[i])
        epeaks.append(ep[i])
        finals.append(v[j])
        efinals.append(ep[j])
        drops.append(v[i] - v[j])
        ei, ej = e[i], e[j]
        # the single-run rule of the chapters: the error term only where both errors are known
        var_mc.append(ei * ei + ej * ej if np.isfinite(ei) and np.isfinite(ej) else 0.0)
    if not peaks:
        return None
    n = len(peaks)
    peak, drop = float(np.mean(peaks)), float(np.mean(drops))
    mc = math.sqrt(sum(var_mc)) / n
    spread = float(np.std(drops, ddof=1)) if n > 1 else 0.0
    thr = max(min_drop, rel_drop * abs(peak), se_factor * mc, spread)
    return Compression(
        n_seeds=n,
        peak=peak,
        epoch_peak=float(np.median(epeaks)),
        final=float(np.mean(finals)),
        epoch_final=float(np.median(efinals)),
        drop=drop,
        mc_error=mc,
        spread=spread,
        threshold=float(thr),
        compressed=bool(drop > thr),
    )


# --------------------------------------------------------------------------- single runs and studies


def _check_table(df, cols=("epoch", "split", "estimator", "quantity", "value")):
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a results DataFrame; got {type(df).__name__}")
    missing = sorted(set(cols) - set(df.columns))
    if missing:
        raise ValueError(f"results table lacks the column(s) {missing}")


def _run_keys(df) -> list[str]:
    return ["run"] if "run" in df.columns else []


def ip_summary(
    df: pd.DataFrame,
    quantity: str = XQ,
    *,
    estimators: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    from_epoch: int = 1,
    min_drop: float = 0.1,
    rel_drop: float = 0.02,
    se_factor: float = 2.0,
) -> pd.DataFrame:
    """Maximum, final value and drop of an MI quantity per run, split and estimator, with the verdict of
    :func:`compression` (one run = one seed: the seed-spread term is 0).

    Parameters
    ----------
    df : DataFrame
        Tidy results (from :func:`~ipdrop.chapters.planes.run_study` or :func:`~ipdrop.training.train`).
    quantity : str
        ``"I(X;Z)"`` (default) or ``"I(Y;Z)"``.
    estimators, splits : optional filters.
    from_epoch, min_drop, rel_drop, se_factor
        Passed to :func:`compression`. ``init`` reports the value at the first tracked epoch separately.

    Returns
    -------
    DataFrame
        ``run`` (when present), ``split``, ``estimator``, ``n_epochs`` (epochs with an estimate), ``init``,
        ``max``, ``epoch_max``, ``final``, ``epoch_final``, ``drop`` (= max - final, >= 0), ``threshold``,
        ``compressed`` (bool). Rows sorted as the input's runs, then split, then estimator.
    """
    _check_table(df)
    from_epoch = check_int(from_epoch, "from_epoch", minimum=0)
    sub = df[df["quantity"] == quantity]
    if estimators is not None:
        sub = sub[sub["estimator"].isin(list(estimators))]
    if splits is not None:
        sub = sub[sub["split"].isin(list(splits))]
    err = error_column(sub)
    keys = _run_keys(df) + ["split", "estimator"]
    rows = []
    for key, g in sub.groupby(keys, sort=True, observed=True):
        g = g[np.isfinite(g["value"].astype(float))].sort_values("epoch", kind="stable")
        if g.empty:
            continue
        c = compression(
            g["epoch"].to_numpy(),
            g["value"].to_numpy(float),
            None if err is None else g[err].astype(float).to_numpy(),
            from_epoch=from_epoch,
            min_drop=min_drop,
            rel_drop=rel_drop,
            se_factor=se_factor,
        )
        if c is None:
            continue
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                "n_epochs": int(len(g)),
                "init": float(g["value"].iloc[0]),
                "max": c.peak,
                "epoch_max": int(c.epoch_peak),
                "final": c.final,
                "epoch_final": int(c.epoch_final),
                "drop": c.drop,
                "threshold": c.threshold,
                "compressed": c.compressed,
            }
        )
    cols = keys + ["n_epochs", "init", "max", "epoch_max", "final", "epoch_final", "drop", "threshold", "compressed"]
    return pd.DataFrame(rows, columns=cols)


def accuracy_summary(df: pd.DataFrame, *, percent: bool = True) -> pd.DataFrame:
    """Final accuracies per run (in %, or fractions with ``percent=False``).

    Columns: ``run`` (when present), ``epochs``, ``test`` (whole test set, dropout off), ``test_mc``
    (Monte-Carlo dropout, when tracked), ``train`` (the fixed IP training subset, dropout off),
    ``train_optim`` (running mean over the last epoch's mini-batches, dropout active) and ``best_test``.
    """
    _check_table(df)
    acc = df[df["quantity"] == "accuracy"]
    keys = _run_keys(df)
    groups = acc.groupby(keys, sort=True, observed=True) if keys else [((), acc)]
    scale = 100.0 if percent else 1.0
    rows = []
    for key, g in groups:
        last = int(g["epoch"].max())

        def pick(split, est, epoch=last, g=g):
            s = g[(g["split"] == split) & (g["estimator"] == est) & (g["epoch"] == epoch)]["value"]
            return float(s.iloc[0]) * scale if len(s) else np.nan

        test_curve = g[(g["split"] == "test") & (g["estimator"] == "eval")]["value"]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,))) if keys else {}
        row.update(
            {
                "epochs": last,
                "test": pick("test", "eval"),
                "test_mc": pick("test", "eval-mc"),
                "train": pick("train", "eval"),
                "train_optim": pick("train", "optim"),
                "best_test": float(test_curve.max()) * scale if len(test_curve) else np.nan,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def final_values(df: pd.DataFrame, quantity: str = YQ, *, split: str = "train") -> pd.DataFrame:
    """Wide table of an MI quantity at the last tracked epoch: one row per run, one column per estimator."""
    _check_table(df)
    sub = df[(df["quantity"] == quantity) & (df["split"] == split)]
    if sub.empty:
        raise ValueError(f"no {quantity} rows on split {split!r}")
    keys = _run_keys(df)
    last = sub.sort_values("epoch").groupby(keys + ["estimator"], observed=True).tail(1)
    if keys:
        return last.pivot_table(index=keys, columns="estimator", values="value", observed=True)
    return last.set_index("estimator")["value"].to_frame().T


def compression_table(
    df: pd.DataFrame,
    *,
    estimators: Sequence[str] | None = None,
    splits: Sequence[str] = ("train", "test"),
    decimals: int = 2,
    **kwargs: Any,
) -> pd.DataFrame:
    """The chapter table: per run, split and estimator the I(X;Z) at initialisation, its maximum after the
    first epoch, the final value, the drop and the threshold it must exceed (nats, rounded to ``decimals``) and
    ``compressed`` ("yes"/"no"),
    next to the final test accuracy (%, one decimal). ``kwargs`` go to :func:`ip_summary`."""
    s = ip_summary(df, estimators=estimators, splits=splits, **kwargs)
    if s.empty:
        raise ValueError("no I(X;Z) estimates in the table")
    a = accuracy_summary(df)
    keys = _run_keys(df)
    out = s.merge(a[keys + ["test"]], on=keys, how="left") if keys else s.assign(test=float(a["test"].iloc[0]))
    out = out.rename(columns={"test": "test acc %"})
    out["test acc %"] = out["test acc %"].round(1)
    for c in ("init", "max", "final", "drop", "threshold"):
        out[c] = out[c].round(decimals)
    out["compressed"] = np.where(out["compressed"], "yes", "no")
    cols = keys + [
        "split",
        "estimator",
        "test acc %",
        "init",
        "max",
        "epoch_max",
        "final",
        "drop",
        "threshold",
        "compressed",
    ]
    return out[cols].set_index(keys + ["split", "estimator"])


def beta_summary(df: pd.DataFrame, *, x_estimator: str = "kl", split: str = "train", **kwargs: Any) -> pd.DataFrame:
    """Fig. 7 in numbers: one row per run of :func:`beta_study` with ``size``, ``beta``, the final test /
    train accuracy (%), and for I(X;Z) (``x_estimator`` on ``split``) the value after the first epoch
    (``first``), the maximum (epochs >= 1), the final value, the drop, ``compressed`` (see :func:`ip_summary`,
    ``kwargs`` go there) and ``trend`` over training: ``"rises"`` / ``"falls"`` when the final value is above /
    below the epoch-1 value by more than the compression threshold, else ``"flat"``."""
    _check_table(df, ("run", "size", "beta", "epoch", "split", "estimator", "quantity", "value"))
    s = ip_summary(df, estimators=[x_estimator], splits=[split], **kwargs)
    a = accuracy_summary(df)
    meta = df[["run", "size", "beta"]].drop_duplicates("run")
    sub = df[(df["estimator"] == x_estimator) & (df["quantity"] == XQ) & (df["split"] == split)]
    first = sub[sub["epoch"] >= 1].sort_values("epoch").groupby("run", observed=True)["value"].first()
    rows = []
    for _, r in s.iterrows():
        f = float(first.get(r["run"], np.nan))
        diff = r["final"] - f
        trend = "rises" if diff > r["threshold"] else "falls" if -diff > r["threshold"] else "flat"
        m = meta[meta["run"] == r["run"]].iloc[0]
        acc = a[a["run"] == r["run"]].iloc[0]
        rows.append(
            {
                "run": r["run"],
                "size": m["size"],
                "beta": float(m["beta"]),
                "test acc %": acc["test"],
                "train acc %": acc["train"],
                "first": f,
                "max": r["max"],
                "final": r["final"],
                "drop": r["drop"],
                "compressed": bool(r["compressed"]),
                "trend": trend,
            }
        )
    return pd.DataFrame(rows)


def beta_checks(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's Fig. 7 statements, computed from :func:`beta_summary` per network size.

    Returns a DataFrame indexed by ``size`` with ``xz_decreases_with_beta`` (final I(X;Z) strictly decreasing
    in beta), ``test_cost`` and ``train_cost`` (accuracy of the smallest beta minus that of the largest,
    percentage points; paper: about 5 and 10 for beta = 20), ``compressed_small_beta`` /
    ``compressed_large_beta`` (the verdict for the smallest / largest beta) and ``trend_small_beta``.
    """
    rows = []
    for size, g in summary.groupby("size", sort=False):
        g = g.sort_values("beta")
        finals = g["final"].to_numpy(float)
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append(
            {
                "size": size,
                "betas": ", ".join(f"{b:g}" for b in g["beta"]),
                "xz_decreases_with_beta": bool(len(finals) > 1 and np.all(np.diff(finals) < 0)),
                "test_cost": float(lo["test acc %"] - hi["test acc %"]),
                "train_cost": float(lo["train acc %"] - hi["train acc %"]),
                "compressed_small_beta": bool(lo["compressed"]),
                "compressed_large_beta": bool(hi["compressed"]),
                "trend_small_beta": lo["trend"],
            }
        )
    return pd.DataFrame(rows).set_index("size")


_FAIL_RE = re.compile(r"estimator '([^']+)' failed at epoch (\d+), split '([^']+)': (.*)", re.S)


def failed_estimates(df: pd.DataFrame) -> pd.DataFrame:
    """Estimates that failed and left no rows, from ``df.attrs["warnings"]`` (``capture_warnings=True``).

    Returns a DataFrame with columns ``run, estimator, split, epoch, reason`` (first 120 characters of the
    message), empty when nothing failed.
    """
    rows = []
    for run, msg in df.attrs.get("warnings", []):
        m = _FAIL_RE.match(msg)
        if m:
            rows.append(
                {
                    "run": run,
                    "estimator": m.group(1),
                    "split": m.group(3),
                    "epoch": int(m.group(2)),
                    "reason": m.group(4)[:120],
                }
            )
    return pd.DataFrame(rows, columns=["run", "estimator", "split", "epoch", "reason"])


def chapter_pairs(df: pd.DataFrame, n_bins: int = 30) -> dict[str, list[tuple[str, str]]]:
    """Per run, the information planes the paper shows: for Gaussian dropout our estimator in both views
    against EDGE (``mixture-dataset``/``edge``, ``mixture-heldout``/``edge``) and binning with ``n_bins``
    for both axes; for information dropout the KL bound against the variational I(Y;Z), and binning."""
    _check_table(df, ("run", "estimator"))
    out = {}
    runs = list(df["run"].cat.categories) if hasattr(df["run"], "cat") else list(dict.fromkeys(df["run"]))
    for run in runs:
        ests = set(df.loc[df["run"] == run, "estimator"])
        pairs = []
        for x, y in (("mixture-dataset", "edge"), ("mixture-heldout", "edge"), ("kl", "variational")):
            if x in ests and y in ests:
                pairs.append((x, y))
        b = f"binning-{n_bins}"
        if b in ests:
            pairs.append((b, b))
        out[run] = pairs
    return out


def binning_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """``(binning-n, binning-n)`` pairs present in the table, by increasing bin count."""
    _check_table(df)
    names = {e for e in df["estimator"].unique() if isinstance(e, str) and e.startswith("binning-")}
    return [(e, e) for e in sorted(names, key=lambda e: int(e.split("-", 1)[1]))]


# --------------------------------------------------------------------------- sweeps

#: columns that describe a measurement, never a sweep parameter
_RESULT_COLUMNS = (
    set(RESULT_COLUMNS)
    | set(_rundir.ERROR_COLUMNS)
    | {"run", "step", "layer", "loss", "accuracy", "acc", "seconds", "time"}
)
#: columns that identify one measurement within a run (kept as group keys when present)
_ID_COLUMNS = ("split", "layer", "estimator", "quantity", "epoch")


def _run_params(run_dir: Path) -> dict | None:
    stored = _rundir.read_params(run_dir)
    if stored is not None and isinstance(stored.get("params"), dict):
        return dict(stored["params"])
    return None


def load_sweep(
    out_root: str | os.PathLike,
    *,
    only_complete: bool = True,
    include_base: bool = False,
    results: str = _rundir.RESULTS_FILE,
) -> pd.DataFrame:
    """Read every run of a sweep into one tidy table.

    Parameters
    ----------
    out_root : path
        The sweep folder (``out_root/<run>/results.csv``).
    only_complete : bool
        Skip runs whose ``run.json`` does not say complete (default). Incomplete
        or failed runs are listed in a warning.
    include_base : bool
        Also add the parameters shared by all runs (``base_params``) as columns.
    results : str
        Name of the results table inside each run folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``run`` (folder name), the sweep parameters (sorted), then the
        columns of ``results.csv``. Rows are ordered by run folder, then as in
        each file. ``df.attrs["params"]`` lists the parameter columns.

    Raises
    ------
    ValueError
        If ``out_root`` does not exist or holds no (complete) run with results.
    """
    root = Path(out_root)
    if not root.is_dir():
        raise ValueError(f"sweep folder {str(root)!r} does not exist")
    manifest = _io.read_json_or_none(root / "sweep.json")
    if isinstance(manifest, dict) and isinstance(manifest.get("runs"), list):
        dirs = [root / r["name"] for r in manifest["runs"] if (root / r["name"]).is_dir()]
        known = {d.name for d in dirs}
        dirs += sorted(d for d in root.iterdir() if d.is_dir() and d.name not in known and (d / results).is_file())
        base = dict(manifest.get("base_params") or {})
        listed = {r["name"]: dict(r.get("params") or {}) for r in manifest["runs"]}
    else:
        dirs = sorted(d for d in root.iterdir() if d.is_dir())
        base, listed = {}, {}
    frames, params_list, skipped = [], [], []
    for d in dirs:
        table = d / results
        if (only_complete and not _rundir.is_complete(d)) or not table.is_file():
            skipped.append(d.name)
            continue
        params = listed.get(d.name)
        if params is None:
            params = _run_params(d)
        if params is None:  # a run made outside the sweep: use its config.json
            params = _rundir.read_config(d) or {}
        if include_base:
            stored = _rundir.read_params(d) or {}
            params = {**(stored.get("base_params") or base), **params}
        df = pd.read_csv(table)
        frames.append(df)
        params_list.append((d.name, params))
    if skipped:
        warnings.warn(
            f"{len(skipped)} run folder(s) without complete results skipped: {', '.join(skipped[:10])}"
            + (" ..." if len(skipped) > 10 else ""),
            stacklevel=2,
        )
    if not frames:
        raise ValueError(f"no complete run with {results} under {str(root)!r}")
    names = sorted(set().union(*(p.keys() for _, p in params_list)))
    clash = [n for n in names if n in _RESULT_COLUMNS or any(n in f.columns for f in frames)]
    if clash:
        raise ValueError(f"sweep parameter(s) {clash} clash with result columns")
    out = []
    for (name, params), df in zip(params_list, frames):
        df = df.copy()
        for k in reversed(names):
            df.insert(0, k, params.get(k, np.nan))
        df.insert(0, "run", name)
        out.append(df)
    table = pd.concat(out, ignore_index=True)
    table.attrs["params"] = names
    return table


def param_columns(df: pd.DataFrame) -> list[str]:
    """The sweep-parameter columns of a table from :func:`load_sweep`."""
    if "params" in df.attrs:
        return [c for c in df.attrs["params"] if c in df.columns]
    return [c for c in df.columns if c not in _RESULT_COLUMNS]


def _check_columns(df, cols, what):
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: column(s) {missing} not in the table (columns: {list(df.columns)})")


def mean_planes(
    df: pd.DataFrame, by: Sequence[str] | None = None, over: str = "seed", value: str = "value", level: float = 0.95
) -> pd.DataFrame:
    """Mean, std and confidence band of each measurement across ``over`` (seeds).

    Parameters
    ----------
    df : DataFrame
        Tidy table from :func:`load_sweep`.
    by : list of str, optional
        Settings to keep apart (e.g. ``["variance"]``); default all parameter
        columns except ``over``. Measurement identifiers (``split``, ``layer``,
        ``estimator``, ``quantity``, ``epoch``) present in ``df`` are always kept.
    over : str
        Column averaged over (default ``"seed"``).
    value : str
        Column to average.
    level : float
        Confidence level of the Student-t band ``mean ± t_{(1+level)/2, n-1} · std/√n``.

    Returns
    -------
    DataFrame
        Group columns, then ``mean, std, n, sem, ci, ci_low, ci_high`` (``ci`` is the
        half-width; ``std``/``ci`` are NaN when n = 1).
    """
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    _check_columns(df, [over, value], "mean_planes")
    if by is None:
        by = [c for c in param_columns(df) if c != over]
    by = [by] if isinstance(by, str) else list(by)
    _check_columns(df, by, "mean_planes(by=...)")
    if over in by:
        raise ValueError(f"'{over}' is averaged over; it cannot also be in by={by}")
    keys = by + [c for c in _ID_COLUMNS if c in df.columns and c not in by]
    vals = pd.to_numeric(df[value], errors="coerce")
    g = vals.groupby([df[k] for k in keys], dropna=False, sort=True)
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()})
    out["sem"] = out["std"] / np.sqrt(out["n"])
    with np.errstate(invalid="ignore"):
        tq = stats.t.ppf((1 + level) / 2, np.maximum(out["n"].to_numpy() - 1, 1))
    out["ci"] = np.where(out["n"] > 1, tq * out["sem"], np.nan)
    out["ci_low"] = out["mean"] - out["ci"]
    out["ci_high"] = out["mean"] + out["ci"]
    out = out.reset_index()
    out.attrs["params"] = by
    return out


def pick_one(df: pd.DataFrame, column: str, wanted: Any, quantity: str) -> pd.DataFrame:
    """Filter ``df`` on ``column`` == wanted; with wanted None there must be a single choice."""
    if column not in df.columns:
        return df
    available = sorted(df[column].dropna().unique().tolist(), key=str)
    if wanted is None:
        if len(available) > 1:
            hint = ("x_estimator" if quantity == "I(X;Z)" else "y_estimator") if column == "estimator" else column
            raise ValueError(f"several {column}s in the table for {quantity}: {available}; choose one with {hint}=...")
        return df
    if wanted not in available:
        raise ValueError(f"{column} {wanted!r} not in the table for {quantity}; available: {available}")
    return df[df[column] == wanted]


def _setting_keys(df, by, over) -> list[str]:
    if by is None:
        by = [c for c in param_columns(df) if c != over]
    by = [by] if isinstance(by, str) else list(by)
    _check_columns(df, by, "compression_summary(by=...)")
    return by


def compression_summary(
    df: pd.DataFrame,
    by: Sequence[str] | None = None,
    over: str = "seed",
    per_run: bool = False,
    quantity: str = XQ,
    *,
    from_epoch: int = 1,
    min_drop: float = 0.1,
    rel_drop: float = 0.02,
    se_factor: float = 2.0,
) -> pd.DataFrame:
    """How much I(X;Z) drops from its peak (epochs ``>= from_epoch``) to the last epoch, per run and across
    seeds, with the verdict of the one rule :func:`compression`.

    Parameters
    ----------
    df : DataFrame
        Tidy table from :func:`load_sweep`.
    by : list of str, optional
        Settings compared (default all parameter columns except ``over``).
    over : str
        Column summarised over (default ``"seed"``).
    per_run : bool
        Return the per-run table instead of the per-setting summary.
    quantity : str
        Quantity measured (default ``"I(X;Z)"``).
    from_epoch, min_drop, rel_drop, se_factor
        Passed to :func:`compression`.

    Returns
    -------
    DataFrame
        Per run (``per_run=True``): settings, ``over``, ``split``/``layer``/``estimator`` when present,
        ``max``, ``epoch_max``, ``last``, ``epoch_last``, ``drop`` (max - last, nats, >= 0), ``rel_drop``
        (drop / max; NaN when max <= 0), ``threshold`` and ``compressed`` (the rule for this run alone).
        Otherwise one row per setting with ``n_runs``, mean/std of ``max``, ``last``, ``drop`` and
        ``rel_drop`` across ``over`` (``drop_mean``, ``drop_std``, ...), and the rule over the seeds:
        ``mc_error``, ``spread`` (= ``drop_std``, 0 for one seed), ``threshold`` and ``compressed``.
    """
    _check_columns(df, ["quantity", "epoch", "value"], "compression_summary")
    keys = _setting_keys(df, by, over)
    sub = df[df["quantity"] == quantity]
    if sub.empty:
        raise ValueError(f"the table has no {quantity} rows (quantities: {sorted(df['quantity'].unique())})")
    rule: dict[str, Any] = dict(from_epoch=from_epoch, min_drop=min_drop, rel_drop=rel_drop, se_factor=se_factor)
    err = error_column(sub)
    ids = [c for c in ("split", "layer", "estimator") if c in sub.columns]
    run_keys = keys + ([over] if over in sub.columns else []) + (["run"] if "run" in sub.columns else []) + ids
    rows, curves = [], []
    for key, g in sub.groupby(run_keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        g = g.assign(value=pd.to_numeric(g["value"], errors="coerce")).dropna(subset=["value"])
        g = g.sort_values("epoch", kind="stable")
        e = None if err is None else pd.to_numeric(g[err], errors="coerce").to_numpy(float)
        c = compression(g["epoch"].to_numpy(), g["value"].to_numpy(float), e, **rule)
        if c is None:
            continue
        row = dict(zip(run_keys, key))
        rows.append(
            {
                **row,
                "max": c.peak,
                "epoch_max": int(c.epoch_peak),
                "last": c.final,
                "epoch_last": int(c.epoch_final),
                "drop": c.drop,
                "rel_drop": c.drop / c.peak if c.peak > 0 else np.nan,
                "threshold": c.threshold,
                "compressed": c.compressed,
            }
        )
        curves.append((row, g["epoch"].to_numpy(), g["value"].to_numpy(float), e))
    runs = pd.DataFrame(rows)
    if per_run:
        return runs
    setting = keys + ids
    stats = ["max", "last", "drop", "rel_drop"]
    grouped = runs.groupby(setting, dropna=False, sort=True) if setting else runs.groupby(lambda _: 0)
    out = grouped[stats].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out.insert(0, "n_runs", grouped.size())
    verdicts = []
    for idx in grouped.indices.values():
        members = [curves[i] for i in idx]
        epochs = np.unique(np.concatenate([m[1] for m in members]))
        vals = np.full((len(members), len(epochs)), np.nan)
        errs = np.full_like(vals, np.nan)
        for r, (_, ep, v, e) in enumerate(members):
            pos = np.searchsorted(epochs, ep)
            vals[r, pos] = v
            if e is not None:
                errs[r, pos] = e
        c = compression(epochs, vals, errs, **rule)
        assert c is not None  # every member curve had a verdict of its own
        verdicts.append(
            {"mc_error": c.mc_error, "spread": c.spread, "threshold": c.threshold, "compressed": c.compressed}
        )
    v = pd.DataFrame(verdicts, index=out.index)
    out = pd.concat([out, v], axis=1)
    out = out.reset_index(drop=not setting)
    return out


def compression_verdict(
    df: pd.DataFrame,
    estimator: str,
    by: Sequence[str] | None = None,
    over: str = "seed",
    quantity: str = XQ,
    **rule: Any,
) -> pd.DataFrame:
    """The per-setting rows of :func:`compression_summary` for one ``estimator``, with the verdict of the one
    rule (:func:`compression`) named for the sweep chapter: ``seed_noise`` = the across-seed standard
    deviation of the drop (``spread``), ``distinguishable`` = ``compressed`` (the mean drop exceeds the floor,
    the Monte-Carlo error and the seed noise). ``rule`` goes to :func:`compression` (``from_epoch``, ...).
    A rule for reading a small sweep, not a statistical test of compression.
    """
    sub = df[(df["estimator"] == estimator) & (df["quantity"] == quantity)]
    if sub.empty:
        raise ValueError(f"the table has no {quantity} rows for estimator {estimator!r}")
    by = _setting_keys(sub, by, over)
    summary = compression_summary(sub, by=by, over=over, quantity=quantity, **rule)
    summary["seed_noise"] = summary["spread"]
    summary["distinguishable"] = summary["compressed"]
    return summary
