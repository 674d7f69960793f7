"""Information-plane plots from the tidy results table of :func:`ipdrop.training.train` / the tracker.

The table has the columns ``epoch, split, estimator, quantity, value`` (values in nats); a point of an
information plane is one epoch: x = I(X;Z) of ``x_estimator``, y = I(Y;Z) of ``y_estimator``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["information_plane_points", "plot_information_plane", "plot_planes_grid", "plot_training_curves",
           "default_pairs",
           # the book's style (one entry point) and its helpers
           "style", "STYLE_RC", "PAGE_WIDTH", "figsize", "estimator_label", "ESTIMATOR_LABELS", "ip_axis_labels",
           "label_entropy", "ip_reference_lines", "epoch_colorbar", "run_title", "table"]

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


# =========================================================================== the book's plotting style
# One entry point for every figure of the book and of ``ipdrop plot``: ``style()`` sets the rcParams (use it
# once per notebook, or as ``with style(): ...``); the helpers below name the estimator on each axis, draw
# the ceilings log N and H(Y), give colour bars integer epochs, size figures to the page, title a figure from
# its run's config, and render tables as compact HTML.

#: width (inches) of a figure spanning the book's text column; at the style's 100 dpi it is shown unscaled
PAGE_WIDTH = 8.0

#: rcParams of the book's style (see :func:`style`)
STYLE_RC = {
    "figure.figsize": (PAGE_WIDTH, PAGE_WIDTH * 0.42),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 9.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "lines.markersize": 4,
}

#: human-readable names of the estimators of the results table (see :func:`estimator_label`)
ESTIMATOR_LABELS = {
    "mixture-dataset": "mixture (dataset view)",
    "mixture-heldout": "mixture (held-out view)",
    "mixture-paper": "mixture (Alg. 1 as published)",
    "mixture": "mixture",
    "edge": "EDGE",
    "knn": "k-NN",
    "variational": "variational, H(Y) − CE",
    "kl": "KL term (information dropout)",
    "doe": "DoE (Gaussian)",
    "doe-l": "DoE (logistic)",
    "mine": "MINE",
    "exact": "exact",
}


class style:
    """Apply the book's plotting style (:data:`STYLE_RC`, updated by ``overrides``).

    ``plotting.style()`` sets it for the rest of the session (call it once in a notebook's setup cell);
    ``with plotting.style(): ...`` restores the previous rcParams on exit. Keyword names are rcParams keys
    with dots written as ``__`` (``style(font__size=12)``) or pass ``rc={"font.size": 12}``.
    """

    def __init__(self, rc: dict | None = None, **overrides):
        import matplotlib as mpl

        self._saved = mpl.rcParams.copy()
        params = {**STYLE_RC, **(rc or {}), **{k.replace("__", "."): v for k, v in overrides.items()}}
        unknown = sorted(k for k in params if k not in mpl.rcParams)
        if unknown:
            raise ValueError(f"style(): unknown rcParams {unknown}")
        mpl.rcParams.update(params)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        import matplotlib as mpl

        mpl.rcParams.update(self._saved)
        return False


def figsize(ncols: int = 1, nrows: int = 1, *, aspect: float = 0.8, width: float | None = None) -> tuple[float, float]:
    """(width, height) in inches for ``nrows`` x ``ncols`` panels spanning the page width.

    ``aspect`` is a panel's height / width; ``width`` defaults to :data:`PAGE_WIDTH`. Give it to
    ``plt.subplots(..., figsize=figsize(3, 2))`` so that grids shrink their panels instead of overflowing.
    """
    if int(ncols) < 1 or int(nrows) < 1:
        raise ValueError(f"figsize(): ncols and nrows must be >= 1; got ncols={ncols}, nrows={nrows}")
    if not aspect > 0:
        raise ValueError(f"figsize(): aspect must be > 0; got {aspect}")
    w = float(width if width is not None else PAGE_WIDTH)
    return w, w / int(ncols) * float(aspect) * int(nrows)


def estimator_label(name: str) -> str:
    """A readable name of a results-table estimator: ``"mixture-dataset"`` -> ``"mixture (dataset view)"``,
    ``"binning-30"`` -> ``"binning, 30 bins"``; unknown names are returned as they are."""
    name = str(name)
    if name in ESTIMATOR_LABELS:
        return ESTIMATOR_LABELS[name]
    if name.startswith("binning-") and name[len("binning-"):].isdigit():
        return f"binning, {int(name[len('binning-'):])} bins"
    return name


def ip_axis_labels(ax, x_estimator: str | None = None, y_estimator: str | None = None, *, unit: str = "nats"):
    """Label an information-plane axis with the quantity, the unit and the estimator, e.g.
    ``"I(X;Z) [nats], mixture (dataset view)"``. An estimator of ``None`` leaves that axis's label without
    one. Returns ``ax``."""
    ax.set_xlabel(f"{_XQ} [{unit}]" + (f", {estimator_label(x_estimator)}" if x_estimator else ""))
    ax.set_ylabel(f"{_YQ} [{unit}]" + (f", {estimator_label(y_estimator)}" if y_estimator else ""))
    return ax


def label_entropy(labels) -> float:
    """Empirical entropy H(Y) of integer class labels, in nats (log 10 for 10 balanced classes)."""
    y = np.asarray(labels).ravel()
    if y.size == 0:
        raise ValueError("label_entropy(): labels are empty")
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def ip_reference_lines(ax, *, n_samples: int | None = None, labels=None, h_y: float | None = None,
                       color: str = "0.35", linestyle: str = "--", linewidth: float = 0.9, annotate: bool = True):
    """Draw the ceilings of an information plane: x = log N (I(X;Z) of X uniform on N inputs) and
    y = H(Y) (from ``h_y`` or from the ``labels``); both in nats.

    The lines also keep the axes from zooming into noise: a panel always shows how far its values are from
    the ceiling. Returns ``{"log_n": Line2D, "h_y": Line2D}`` with the lines drawn.
    """
    if labels is not None and h_y is not None:
        raise ValueError("ip_reference_lines(): give labels or h_y, not both")
    if labels is not None:
        h_y = label_entropy(labels)
    kw = dict(color=color, linestyle=linestyle, linewidth=linewidth, zorder=0.5)
    out = {}
    if n_samples is not None:
        if int(n_samples) < 1:
            raise ValueError(f"ip_reference_lines(): n_samples must be >= 1; got {n_samples}")
        x = float(np.log(int(n_samples)))
        out["log_n"] = ax.axvline(x, **kw, label=f"log N = {x:.2f} (N = {int(n_samples):,})")
        if annotate:
            ax.annotate("log N", (x, 1), xycoords=("data", "axes fraction"), xytext=(-2, -2),
                        textcoords="offset points", ha="right", va="top", fontsize="x-small", color=color)
    if h_y is not None:
        if not np.isfinite(h_y) or h_y < 0:
            raise ValueError(f"ip_reference_lines(): h_y must be a finite entropy >= 0; got {h_y}")
        out["h_y"] = ax.axhline(float(h_y), **kw, label=f"H(Y) = {float(h_y):.2f}")
        if annotate:
            ax.annotate("H(Y)", (0, float(h_y)), xycoords=("axes fraction", "data"), xytext=(2, 2),
                        textcoords="offset points", ha="left", va="bottom", fontsize="x-small", color=color)
    return out


def epoch_colorbar(mappable, ax=None, *, label: str = "epoch", max_ticks: int = 8, **kwargs):
    """A colour bar for epochs with integer ticks only (never 0.5, 1.5).

    Up to ``max_ticks`` distinct epochs get one tick each; more get at most ``max_ticks`` integer ticks.
    ``ax`` (Axes or list of Axes) is where the bar takes its space from. Returns the Colorbar.
    """
    from matplotlib.ticker import FixedLocator, MaxNLocator, StrMethodFormatter

    target = ax if ax is not None else mappable.axes
    first = np.ravel(np.asarray(target, dtype=object))[0] if isinstance(target, (list, tuple, np.ndarray)) else target
    cb = first.figure.colorbar(mappable, ax=target, **kwargs)
    cb.set_label(label)
    data = mappable.get_array()
    vals = np.unique(np.asarray(data)[np.isfinite(np.asarray(data, float))]) if data is not None else np.array([])
    if 0 < len(vals) <= max_ticks and np.allclose(vals, np.round(vals)):
        cb.locator = FixedLocator(np.round(vals))
    else:
        cb.locator = MaxNLocator(nbins=max_ticks, integer=True)
    cb.formatter = StrMethodFormatter("{x:.0f}")
    cb.update_ticks()
    return cb


def run_title(config) -> str:
    """A figure title from a run's ``config.json`` (or its ``"config"`` part): model, data set, dropout and
    its parameter, training-set size N, seed. E.g. ``"FC on MNIST · Gaussian dropout, Var(D) = 0.444 ·
    N = 60,000 · seed 0"``."""
    if not isinstance(config, dict):
        raise ValueError(f"run_title(): expected the run's config dict; got {type(config).__name__}")
    cfg = config.get("config", config)
    resolved = config.get("resolved", {}) if "config" in config else {}
    models = {"fc": "FC", "lenet": "LeNet", "resnet18": "ResNet18", "fullcnn": "fullCNN"}
    datasets = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
    parts = [f"{models.get(cfg.get('model'), cfg.get('model', '?'))} on "
             f"{datasets.get(cfg.get('dataset'), cfg.get('dataset', '?'))}"]
    dropout = cfg.get("dropout")
    if dropout == "gaussian":
        parts.append(f"Gaussian dropout, Var(D) = {float(cfg['variance']):.3g}" if cfg.get("variance") is not None
                     else "Gaussian dropout")
    elif dropout == "information":
        parts.append(f"information dropout, β = {cfg['beta']:g}" if cfg.get("beta") is not None
                     else "information dropout")
    elif dropout is None:
        parts.append("no dropout")
    else:
        parts.append(f"{dropout} dropout")
    n = resolved.get("n_train", cfg.get("n_train"))
    if n is not None:
        parts.append(f"N = {int(n):,}")
    if cfg.get("seed") is not None:
        parts.append(f"seed {cfg['seed']}")
    return " · ".join(parts)


def _format_number(x, digits: int) -> str:
    """One table cell: ``digits`` significant digits for floats, every digit for integers, ``—`` for NaN."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if np.isnan(x):
        return "—"
    if np.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{max(digits - 1, 0)}e}"
    decimals = max(digits - 1 - int(np.floor(np.log10(abs(x)))), 0)
    return f"{x:.{decimals}f}"


def table(df, caption: str | None = None, *, digits: int = 3, formats: dict | None = None,
          index: bool = False, font_size: str = "0.85em"):
    """A results table as a compact HTML table (a pandas ``Styler``) for the book, instead of
    ``print(df.to_string())``.

    Parameters
    ----------
    df : DataFrame
    caption : str, optional
        Shown above the table.
    digits : int
        Significant digits of floats (3: ``8.52``, ``0.0123``, ``123``); integers keep every digit with
        thousands separators; |x| < 0.001 in scientific notation; NaN as ``—``; booleans as yes/no.
    formats : dict, optional
        Per-column format strings (``{"accuracy": "{:.1%}"}``) or callables, overriding ``digits``.
    index : bool
        Show the index (default: hidden; ``reset_index()`` first to keep it as columns).
    font_size : CSS size of the table text; headers wrap instead of widening the table.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displayed as HTML by Jupyter (the last expression of a cell); ``.to_html()`` gives the markup.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"table(): expected a DataFrame; got {type(df).__name__}")
    if not isinstance(digits, (int, np.integer)) or digits < 1:
        raise ValueError(f"table(): digits must be an integer >= 1; got {digits!r}")
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(df.columns))
    if unknown:
        raise ValueError(f"table(): formats name column(s) {unknown} that the table lacks")
    def cell(v):
        if v is None or isinstance(v, (int, float, np.number, bool, np.bool_)):
            return _format_number(v, digits)
        return "—" if v is pd.NA or v is pd.NaT else str(v)

    styler = df.style.format(cell)
    for col, fmt in formats.items():
        styler = styler.format(fmt, subset=[col], na_rep="—")
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    styler = styler.set_table_styles([
        {"selector": "", "props": [("font-size", font_size), ("border-collapse", "collapse"), ("width", "auto"),
                                    ("margin", "0.5em 0")]},
        {"selector": "caption", "props": [("caption-side", "top"), ("text-align", "left"), ("font-weight", "bold"),
                                           ("padding-bottom", "0.3em")]},
        {"selector": "th", "props": [("white-space", "normal"), ("padding", "0.2em 0.5em"), ("text-align", "center"),
                                      ("border-bottom", "1px solid #999"), ("vertical-align", "bottom")]},
        {"selector": "td", "props": [("padding", "0.15em 0.5em"), ("white-space", "nowrap")]},
    ], overwrite=True)
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right", "font-variant-numeric": "tabular-nums"})
    return styler
