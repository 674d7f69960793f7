"""Information-plane plots from the tidy results table of :func:`ipdrop.training.train` / the tracker.

The table has the columns ``epoch, split, estimator, quantity, value`` (values in nats); a point of an
information plane is one epoch: x = I(X;Z) of ``x_estimator``, y = I(Y;Z) of ``y_estimator``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["information_plane_points", "plot_information_plane", "plot_planes_grid", "plot_training_curves",
           "default_pairs"]

_XQ, _YQ = "I(X;Z)", "I(Y;Z)"


def _as_frame(df):
    import pandas as pd

    if isinstance(df, (str, bytes)) or hasattr(df, "__fspath__"):
        from .training import load_results

        return load_results(df)
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a results DataFrame or a run folder; got {type(df).__name__}")
    missing = {"epoch", "split", "estimator", "quantity", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"results table lacks the column(s) {sorted(missing)}")
    return df


def information_plane_points(df, x_estimator: str, y_estimator: str, split: str = "train"):
    """DataFrame with columns ``epoch, x, y`` (and ``x_mc_error``, ``y_mc_error``, the Monte-Carlo errors): one row per epoch at
    which both estimates exist."""
    import pandas as pd

    df = _as_frame(df)
    sel = df[df["split"] == split]

    def pick(est, q):
        s = sel[(sel["estimator"] == est) & (sel["quantity"] == q)]
        cols = ["epoch", "value"] + (["mc_error"] if "mc_error" in s else [])
        return s[cols].groupby("epoch", as_index=False).mean(numeric_only=True)

    xs, ys = pick(x_estimator, _XQ), pick(y_estimator, _YQ)
    if xs.empty or ys.empty:
        have = sorted(set(zip(sel["estimator"], sel["quantity"])))
        raise ValueError(f"no {_XQ} rows for estimator {x_estimator!r} or no {_YQ} rows for {y_estimator!r} "
                         f"on split {split!r}; the table has {have}")
    pts = xs.merge(ys, on="epoch", suffixes=("_x", "_y"))
    out = pd.DataFrame({"epoch": pts["epoch"], "x": pts["value_x"], "y": pts["value_y"]})
    if "mc_error_x" in pts:
        out["x_mc_error"], out["y_mc_error"] = pts["mc_error_x"], pts["mc_error_y"]
    return out.sort_values("epoch").reset_index(drop=True)


def plot_information_plane(df, x_estimator: str = "mixture-dataset", y_estimator: str = "edge", split: str = "train",
                           ax=None, *, cmap: str = "viridis", colorbar: bool = True, connect: bool = True,
                           title: str | None = None, errorbars: bool = True, **scatter_kw):
    """Draw one information plane: one point per epoch, coloured by epoch.

    Parameters
    ----------
    df : DataFrame or path
        Tidy results (``train``'s return value / ``results.csv``) or a run folder.
    x_estimator : str
        Estimator whose ``I(X;Z)`` rows give x (e.g. ``"mixture-dataset"``, ``"binning-30"``, ``"kl"``).
    y_estimator : str
        Estimator whose ``I(Y;Z)`` rows give y (e.g. ``"edge"``, ``"binning-30"``, ``"variational"``).
    split : ``"train"`` or ``"test"``.
    ax : matplotlib Axes, optional
        Axes to draw into (a new figure when ``None``).
    cmap, colorbar, connect, errorbars : appearance (colour map, colour bar, thin line through the
        epochs in order, error bars from ``mc_error`` (Monte-Carlo error) where present).
    title : str, optional
        Defaults to ``"<split>: <x_estimator> / <y_estimator>"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    pts = information_plane_points(df, x_estimator, y_estimator, split)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.6))
    if connect and len(pts) > 1:
        ax.plot(pts["x"], pts["y"], "-", color="0.75", lw=0.8, zorder=1)
    if errorbars and "x_mc_error" in pts:
        xe, ye = pts["x_mc_error"].to_numpy(float), pts["y_mc_error"].to_numpy(float)
        if np.isfinite(xe).any() or np.isfinite(ye).any():
            ax.errorbar(pts["x"], pts["y"], xerr=np.nan_to_num(xe), yerr=np.nan_to_num(ye), fmt="none",
                        ecolor="0.6", elinewidth=0.6, zorder=1)
    kw = {"s": 28, "edgecolors": "k", "linewidths": 0.3, "zorder": 2, **scatter_kw}
    sc = ax.scatter(pts["x"], pts["y"], c=pts["epoch"], cmap=cmap, **kw,
                    label=f"{x_estimator} / {y_estimator}")
    if colorbar:
        from matplotlib.ticker import MaxNLocator

        cb = ax.figure.colorbar(sc, ax=ax)
        cb.set_label("epoch")
        cb.locator = MaxNLocator(integer=True)
        cb.update_ticks()
    ax.set_xlabel(f"{_XQ} [nats]  ({x_estimator})")
    ax.set_ylabel(f"{_YQ} [nats]  ({y_estimator})")
    ax.set_title(title if title is not None else f"{split}: {x_estimator} / {y_estimator}", fontsize="medium")
    return ax


def default_pairs(df) -> list[tuple[str, str]]:
    """The (x_estimator, y_estimator) pairs a results table supports, in a sensible order:
    mixture modes and ``kl`` with the best available I(Y;Z) estimator, then every binning count with
    itself (as in the paper)."""
    df = _as_frame(df)
    xs = list(dict.fromkeys(df.loc[df["quantity"] == _XQ, "estimator"]))
    ys = set(df.loc[df["quantity"] == _YQ, "estimator"])
    y_pref = [e for e in ("edge", "variational", "knn") if e in ys]
    pairs = []
    for x in xs:
        if x.startswith("binning-"):
            if x in ys:
                pairs.append((x, x))
        elif y_pref:
            pairs.append((x, y_pref[0] if x != "kl" or "variational" not in ys else "variational"))
    pairs.sort(key=lambda p: (p[0].startswith("binning"), p[0]))
    return pairs


def plot_planes_grid(df, pairs: Sequence[tuple[str, str]] | None = None, splits: Sequence[str] = ("train", "test"),
                     *, cmap: str = "viridis", panel_size: tuple[float, float] = (4.2, 3.4), suptitle: str | None = None):
    """Several information planes side by side: one column per (x, y) estimator pair, one row per split.

    Parameters
    ----------
    df : DataFrame or path
        Tidy results or a run folder.
    pairs : sequence of (x_estimator, y_estimator), optional
        Defaults to :func:`default_pairs` (e.g. mixture vs. binning-n).
    splits : splits to show as rows (those absent from the table are skipped).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    df = _as_frame(df)
    pairs = list(pairs) if pairs is not None else default_pairs(df)
    if not pairs:
        raise ValueError("the results table holds no I(X;Z)/I(Y;Z) pair to plot (was the IP tracked?)")
    splits = [s for s in splits if (df["split"] == s).any()]
    if not splits:
        raise ValueError("none of the requested splits is in the results table")
    fig, axes = plt.subplots(len(splits), len(pairs), squeeze=False,
                             figsize=(panel_size[0] * len(pairs), panel_size[1] * len(splits)),
                             constrained_layout=True)
    for i, split in enumerate(splits):
        for j, (xe, ye) in enumerate(pairs):
            ax = axes[i, j]
            try:
                plot_information_plane(df, xe, ye, split, ax=ax, cmap=cmap, colorbar=(j == len(pairs) - 1))
            except ValueError as exc:
                ax.text(0.5, 0.5, str(exc)[:80], ha="center", va="center", fontsize="x-small", wrap=True)
                ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_training_curves(df, ax=None, *, quantity: str = "accuracy"):
    """Train/test ``quantity`` (``"accuracy"`` or ``"loss"``) per epoch from the ``eval``/``eval-mc``/``optim``
    rows. Returns the Axes."""
    import matplotlib.pyplot as plt

    df = _as_frame(df)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    sel = df[(df["quantity"] == quantity) & df["estimator"].isin(["eval", "eval-mc", "optim"])]
    for (est, split), g in sel.groupby(["estimator", "split"]):
        g = g.sort_values("epoch")
        ax.plot(g["epoch"], g["value"], marker=".", label=f"{split} ({est})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(quantity)
    ax.legend(fontsize="small")
    return ax
