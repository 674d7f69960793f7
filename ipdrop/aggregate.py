"""Aggregate a sweep's runs: one tidy table, means across seeds, information planes, compression.

A sweep made by :func:`ipdrop.sweep.run_sweep` has one folder per run holding
``results.csv`` (tidy: ``epoch, split, estimator, quantity, value, mc_error, ...``)
and ``params.json`` (the run's sweep parameters). :func:`load_sweep` stacks the
results of all complete runs and adds the sweep parameters as columns;
:func:`mean_planes` averages across seeds; :func:`plot_mean_planes` draws the
mean information planes with error bars in both coordinates;
:func:`compression_summary` measures how much I(X;Z) drops after its maximum.
All MI values are in nats.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import _io

__all__ = ["load_sweep", "mean_planes", "plot_mean_planes", "compression_summary", "compression_verdict",
           "param_columns"]

#: columns that describe a measurement, never a sweep parameter
_RESULT_COLUMNS = {"run", "epoch", "step", "split", "estimator", "quantity", "layer", "value", "mc_error", "stderr", "n", "d",
                   "loss", "accuracy", "acc", "seconds", "time"}
#: columns that identify one measurement within a run (kept as group keys when present)
_ID_COLUMNS = ("split", "layer", "estimator", "quantity", "epoch")


_read_json = _io.read_json_or_none


def _run_params(run_dir: Path) -> dict | None:
    stored = _read_json(run_dir / "params.json")
    if isinstance(stored, dict) and isinstance(stored.get("params"), dict):
        return dict(stored["params"])
    return None


def load_sweep(out_root, *, only_complete: bool = True, include_base: bool = False,
               results: str = "results.csv") -> pd.DataFrame:
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
    from .sweep import is_complete

    root = Path(out_root)
    if not root.is_dir():
        raise ValueError(f"sweep folder {str(root)!r} does not exist")
    manifest = _read_json(root / "sweep.json")
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
        if (only_complete and not is_complete(d)) or not table.is_file():
            skipped.append(d.name)
            continue
        params = listed.get(d.name)
        if params is None:
            params = _run_params(d)
        if params is None:  # a run made outside the sweep: use its config.json
            params = _read_json(d / "config.json") or {}
        if include_base:
            stored = _read_json(d / "params.json") or {}
            params = {**(stored.get("base_params") or base), **params}
        df = pd.read_csv(table)
        frames.append(df)
        params_list.append((d.name, params))
    if skipped:
        warnings.warn(f"{len(skipped)} run folder(s) without complete results skipped: {', '.join(skipped[:10])}"
                      + (" ..." if len(skipped) > 10 else ""), stacklevel=2)
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


def mean_planes(df: pd.DataFrame, by: Sequence[str] | None = None, over: str = "seed", value: str = "value",
                level: float = 0.95) -> pd.DataFrame:
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


def _pick(df, column, wanted, quantity):
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


def plot_mean_planes(df: pd.DataFrame, by: str | None = None, *, x_estimator: str | None = None,
                     y_estimator: str | None = None, split: str | None = "train", layer=None, over: str = "seed",
                     band: str = "ci", level: float = 0.95, cmap: str = "viridis", axes=None, panel_size=(4.0, 3.6)):
    """Mean information planes across seeds, one panel per value of ``by``, on shared axes.

    Each point is one epoch at (mean I(X;Z), mean I(Y;Z)) across ``over``
    (seeds), with error bars in both coordinates, coloured by epoch; the points of
    one setting are joined in epoch order.

    Parameters
    ----------
    df : DataFrame
        Tidy table from :func:`load_sweep` (rows with quantities ``I(X;Z)`` and ``I(Y;Z)``).
    by : str, optional
        Parameter with one panel per value, e.g. ``"variance"`` or ``"beta"``.
        Other varying parameters become separate lines inside each panel.
    x_estimator, y_estimator : str, optional
        Estimator for I(X;Z) / I(Y;Z) (e.g. ``"mixture-dataset"``, ``"binning-30"``);
        needed when the table holds several for a quantity.
    split : str or None
        Split to plot (default ``"train"``; ignored when the table has no ``split`` column).
    layer : optional
        Layer to plot when the table has a ``layer`` column with several values.
    over : str
        Column averaged over.
    band : {"ci", "std"}
        Error bars: the Student-t ``level`` confidence interval of the mean, or ± one std.
    cmap : str
        Colormap for the epochs.
    axes : sequence of Axes, optional
        One axes per panel; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib import colors

    if band not in ("ci", "std"):
        raise ValueError(f"band must be 'ci' or 'std', got {band!r}")
    _check_columns(df, ["quantity", "epoch", "value", over], "plot_mean_planes")
    params = [c for c in param_columns(df) if c != over]
    if by is not None and by not in params:
        raise ValueError(f"by={by!r} is not a sweep parameter of the table; parameters: {params}")
    if split is not None and "split" in df.columns:
        df = _pick(df, "split", split, "the plane")
    if "layer" in df.columns:
        df = _pick(df, "layer", layer, "the plane")
    parts = {}
    for q, est in (("I(X;Z)", x_estimator), ("I(Y;Z)", y_estimator)):
        sub = df[df["quantity"] == q]
        if sub.empty:
            raise ValueError(f"the table has no {q} rows (quantities: {sorted(df['quantity'].unique())})")
        sub = _pick(sub, "estimator", est, q)
        m = mean_planes(sub, by=params, over=over, level=level)
        parts[q] = m.drop(columns=[c for c in ("estimator", "quantity") if c in m.columns])
    keys = params + ["epoch"]
    plane = parts["I(X;Z)"].merge(parts["I(Y;Z)"], on=[k for k in keys if k in parts["I(X;Z)"].columns],
                                  suffixes=("_x", "_y"))
    if plane.empty:
        raise ValueError("I(X;Z) and I(Y;Z) share no (setting, epoch); nothing to plot")
    err = "ci" if band == "ci" else "std"
    panels = [None] if by is None else sorted(plane[by].dropna().unique().tolist())
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(panel_size[0] * len(panels), panel_size[1]),
                                 sharex=True, sharey=True, squeeze=False, constrained_layout=True)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(axes))
        if len(axes) != len(panels):
            raise ValueError(f"{len(axes)} axes given for {len(panels)} panels")
        fig = axes[0].figure
    norm = colors.Normalize(vmin=float(plane["epoch"].min()), vmax=max(float(plane["epoch"].max()),
                                                                        float(plane["epoch"].min()) + 1e-9))
    colormap = plt.get_cmap(cmap)
    line_keys = [p for p in params if p != by and plane[p].nunique(dropna=False) > 1]
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P"]
    band_label = f"{int(level * 100)}% CI" if band == "ci" else "± 1 std"
    for ax, panel in zip(axes, panels):
        sub = plane if panel is None else plane[plane[by] == panel]
        groups = sub.groupby(line_keys, dropna=False, sort=True) if line_keys else [((), sub)]
        for j, (gkey, g) in enumerate(groups):
            g = g.sort_values("epoch")
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            n_seeds = int(min(g["n_x"].min(), g["n_y"].min()))
            label = ", ".join(f"{k}={v}" for k, v in zip(line_keys, gkey)) or "mean"
            label += f" (n={n_seeds} {over}s, {band_label})"
            ax.plot(g["mean_x"], g["mean_y"], styles[j % len(styles)], color="0.5", lw=1, zorder=1,
                    marker=markers[j % len(markers)], markersize=0, label=None)
            ax.plot([], [], styles[j % len(styles)], color="0.4", lw=1, marker=markers[j % len(markers)],
                    markerfacecolor="0.8", markeredgecolor="k", label=label)  # legend entry only
            xerr = np.nan_to_num(g[f"{err}_x"].to_numpy(dtype=float))
            yerr = np.nan_to_num(g[f"{err}_y"].to_numpy(dtype=float))
            for (ex, ey, x, y, ep) in zip(xerr, yerr, g["mean_x"], g["mean_y"], g["epoch"]):
                ax.errorbar(x, y, xerr=ex, yerr=ey, fmt="none", ecolor=colormap(norm(ep)), elinewidth=1,
                            capsize=2, alpha=0.8, zorder=2)
            ax.scatter(g["mean_x"], g["mean_y"], c=g["epoch"], cmap=colormap, norm=norm, s=28,
                       marker=markers[j % len(markers)], edgecolors="k", linewidths=0.4, zorder=3)
        ax.set_xlabel("I(X;Z) [nats]")
        if panel is not None:
            ax.set_title(f"{by} = {panel}")
        ax.legend(fontsize="small", loc="best")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("I(Y;Z) [nats]")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    fig.colorbar(sm, ax=axes, label="epoch")
    return fig


def compression_summary(df: pd.DataFrame, by: Sequence[str] | None = None, over: str = "seed",
                        per_run: bool = False, quantity: str = "I(X;Z)") -> pd.DataFrame:
    """How much I(X;Z) drops from its maximum to the last epoch, per run and across seeds.

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

    Returns
    -------
    DataFrame
        Per run (``per_run=True``): settings, ``over``, ``split``/``layer``/``estimator``
        when present, ``max``, ``epoch_max``, ``last``, ``epoch_last``, ``drop`` (max − last,
        nats, ≥ 0) and ``rel_drop`` (drop / max; NaN when max ≤ 0).
        Otherwise one row per setting with ``n_runs`` and mean/std of ``max``, ``last``,
        ``drop`` and ``rel_drop`` across ``over`` (``drop_mean``, ``drop_std``, ...).
    """
    _check_columns(df, ["quantity", "epoch", "value"], "compression_summary")
    if by is None:
        by = [c for c in param_columns(df) if c != over]
    by = [by] if isinstance(by, str) else list(by)
    _check_columns(df, by, "compression_summary(by=...)")
    sub = df[df["quantity"] == quantity]
    if sub.empty:
        raise ValueError(f"the table has no {quantity} rows (quantities: {sorted(df['quantity'].unique())})")
    ids = [c for c in ("split", "layer", "estimator") if c in sub.columns]
    run_keys = by + ([over] if over in sub.columns else []) + (["run"] if "run" in sub.columns else []) + ids
    rows = []
    for key, g in sub.groupby(run_keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        g = g.assign(value=pd.to_numeric(g["value"], errors="coerce")).dropna(subset=["value"])
        if g.empty:
            continue
        g = g.sort_values("epoch", kind="stable")
        i_max = g["value"].to_numpy().argmax()
        vmax, vlast = float(g["value"].iloc[i_max]), float(g["value"].iloc[-1])
        drop = vmax - vlast
        rows.append({**dict(zip(run_keys, key)), "max": vmax, "epoch_max": g["epoch"].iloc[i_max],
                     "last": vlast, "epoch_last": g["epoch"].iloc[-1], "drop": drop,
                     "rel_drop": drop / vmax if vmax > 0 else np.nan})
    runs = pd.DataFrame(rows)
    if per_run:
        return runs
    setting = by + ids
    stats = ["max", "last", "drop", "rel_drop"]
    g = runs.groupby(setting, dropna=False, sort=True) if setting else runs.groupby(lambda _: 0)
    out = g[stats].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out.insert(0, "n_runs", g.size())
    out = out.reset_index(drop=not setting)
    return out


def compression_verdict(df: pd.DataFrame, estimator: str, by: Sequence[str] | None = None, over: str = "seed",
                        level: float = 0.95, quantity: str = "I(X;Z)") -> pd.DataFrame:
    """Is the drop of I(X;Z) (max -> last epoch) larger than the spread between seeds?

    For each setting in ``by`` and the one ``estimator``: the :func:`compression_summary` row, the
    ``seed_noise`` (median over epochs of the across-``over`` std of the estimate), ``drop_ci_low`` (lower end of
    the two-sided Student-t confidence interval of the mean drop at ``level``) and ``distinguishable`` =
    ``drop_ci_low > seed_noise``. A rule for reading a small sweep, not a statistical test of compression.
    """
    from scipy import stats as _stats

    sub = df[(df["estimator"] == estimator) & (df["quantity"] == quantity)]
    if sub.empty:
        raise ValueError(f"the table has no {quantity} rows for estimator {estimator!r}")
    if by is None:
        by = [c for c in param_columns(sub) if c != over]
    by = [by] if isinstance(by, str) else list(by)
    summary = compression_summary(sub, by=by, over=over, quantity=quantity)
    planes = mean_planes(sub, by=by, over=over)
    noise = (planes.groupby(by)["std"].median() if by else pd.Series([planes["std"].median()])).rename("seed_noise")
    summary = summary.merge(noise, left_on=by, right_index=True, how="left") if by else summary.assign(
        seed_noise=float(noise.iloc[0]))
    n = summary["n_runs"]
    summary["drop_ci_low"] = summary["drop_mean"] - _stats.t.ppf(0.5 + level / 2, n - 1) * summary["drop_std"] / np.sqrt(n)
    summary["distinguishable"] = summary["drop_ci_low"] > summary["seed_noise"]
    return summary
