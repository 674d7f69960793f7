"""Information-plane plots from the tidy results table of :func:`ipdrop.training.train` / the tracker.

Every figure of the book is drawn here; the chapter drivers (:mod:`ipdrop.chapters`) compute and call these.
The table has the columns ``epoch, split, estimator, quantity, value`` (values in nats); a point of an
information plane is one epoch: x = I(X;Z) of ``x_estimator``, y = I(Y;Z) of ``y_estimator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import analysis as _analysis

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.cm import ScalarMappable
    from matplotlib.colorbar import Colorbar
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from pandas.io.formats.style import Styler

__all__ = [
    "information_plane_points",
    "plot_information_plane",
    "plot_planes_grid",
    "plot_training_curves",
    "default_pairs",
    "run_title",
    # chapters 1-2 (theory, estimator)
    "example34_plot",
    "bernoulli_gaussian_figure",
    "relu_log_figure",
    "toy_conditional_entropy_figure",
    "toy_entropy_figure",
    "toy_mi_figure",
    # chapters 3-5 (information planes of trained networks)
    "plot_study_planes",
    "plot_run_planes",
    "plot_binning_sweep",
    "plot_beta_planes",
    "plot_accuracy",
    # chapter 6 (sweeps)
    "plot_mean_planes",
    # chapter 7 (reliability)
    "reliability_toy_figure",
    "reliability_run_figure",
    "reliability_binning_figure",
    # chapters 3-5, paper settings (the results store)
    "plot_paper_planes",
    "plot_paper_beta",
    "plot_paper_accuracy",
    "placeholder_figure",
    "plotted_points",
    "glue_figure",
    "short_label",
    "SHORT_LABELS",
    # the book's style (one entry point) and its helpers
    "style",
    "STYLE_RC",
    "PAGE_WIDTH",
    "figsize",
    "estimator_label",
    "ESTIMATOR_LABELS",
    "ip_axis_labels",
    "label_entropy",
    "ip_reference_lines",
    "epoch_colorbar",
    "table",
]

_XQ, _YQ = _analysis.XQ, _analysis.YQ


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


def information_plane_points(
    df: pd.DataFrame, x_estimator: str, y_estimator: str, split: str = "train", *, y_quantity: str = _YQ
) -> pd.DataFrame:
    """DataFrame with columns ``epoch, x, y`` (and ``x_mc_error``, ``y_mc_error``, the Monte-Carlo errors).

    One row per epoch at which both estimates exist. ``y_quantity`` is the quantity on y (default I(Y;Z);
    ``"I(Y_binned;Z)"``: the label binned with the representation's edges, as the paper's code does for
    ``binning-ref-<n>``).
    """
    import pandas as pd

    df = _as_frame(df)
    sel = df[df["split"] == split]

    def pick(est, q):
        s = sel[(sel["estimator"] == est) & (sel["quantity"] == q)]
        cols = ["epoch", "value"] + (["mc_error"] if "mc_error" in s else [])
        return s[cols].groupby("epoch", as_index=False).mean(numeric_only=True)

    xs, ys = pick(x_estimator, _XQ), pick(y_estimator, y_quantity)
    if xs.empty or ys.empty:
        have = sorted(set(zip(sel["estimator"], sel["quantity"])))
        raise ValueError(
            f"no {_XQ} rows for estimator {x_estimator!r} or no {y_quantity} rows for {y_estimator!r} "
            f"on split {split!r}; the table has {have}"
        )
    pts = xs.merge(ys, on="epoch", suffixes=("_x", "_y"))
    out = pd.DataFrame({"epoch": pts["epoch"], "x": pts["value_x"], "y": pts["value_y"]})
    if "mc_error_x" in pts:
        out["x_mc_error"], out["y_mc_error"] = pts["mc_error_x"], pts["mc_error_y"]
    return out.sort_values("epoch").reset_index(drop=True)


def plot_information_plane(
    df: pd.DataFrame,
    x_estimator: str = "mixture-dataset",
    y_estimator: str = "edge",
    split: str = "train",
    ax: Axes | None = None,
    *,
    cmap: str = "viridis",
    colorbar: bool = True,
    connect: bool = True,
    title: str | None = None,
    errorbars: bool = True,
    **scatter_kw: Any,
) -> Axes:
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
            ax.errorbar(
                pts["x"],
                pts["y"],
                xerr=np.nan_to_num(xe),
                yerr=np.nan_to_num(ye),
                fmt="none",
                ecolor="0.6",
                elinewidth=0.6,
                zorder=1,
            )
    kw = {"s": 28, "edgecolors": "k", "linewidths": 0.3, "zorder": 2, **scatter_kw}
    sc = ax.scatter(pts["x"], pts["y"], c=pts["epoch"], cmap=cmap, **kw, label=f"{x_estimator} / {y_estimator}")
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


def default_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
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


def plot_planes_grid(
    df: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] | None = None,
    splits: Sequence[str] = ("train", "test"),
    *,
    cmap: str = "viridis",
    panel_size: tuple[float, float] = (4.2, 3.4),
    suptitle: str | None = None,
) -> Figure:
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
    fig, axes = plt.subplots(
        len(splits),
        len(pairs),
        squeeze=False,
        figsize=(panel_size[0] * len(pairs), panel_size[1] * len(splits)),
        constrained_layout=True,
    )
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


def plot_training_curves(df: pd.DataFrame, ax: Axes | None = None, *, quantity: str = "accuracy") -> Axes:
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


def run_title(config: Any) -> str:
    """A figure title from a run's configuration (a :class:`~ipdrop.training.TrainConfig` or its dict, as in
    ``config.json``): network and data, the dropout and its strength, and the N of the IP subsets, e.g.
    ``"fc on mnist, Gaussian dropout Var(D) = 0.2, IP on N = 1000 train / 1000 test inputs"``."""
    if hasattr(config, "to_dict"):
        cfg = config.to_dict()
    elif isinstance(config, Mapping):
        cfg = dict(config)
        if isinstance(cfg.get("config"), Mapping):  # a whole config.json
            cfg = dict(cfg["config"])
    else:
        raise ValueError(f"run_title() takes a TrainConfig or a config dict (config.json); got {type(config).__name__}")
    head = f"{cfg.get('model', '?')}"
    if cfg.get("width") not in (None, 1, 1.0):
        head += f" x{cfg['width']:g}"
    head += f" on {cfg.get('dataset', '?')}"
    kind = cfg.get("dropout")
    if kind == "gaussian":
        drop = f"Gaussian dropout Var(D) = {cfg.get('variance'):g}"
    elif kind == "bernoulli" and cfg.get("drop_rate") is not None:
        drop = f"Bernoulli dropout p = {float(cfg['drop_rate']):.3g}"
    elif kind == "bernoulli":
        # configs without drop_rate: the trainer drops with p = variance / (1 + variance), i.e. Var(D) = p / (1 - p)
        v = float(cfg["variance"])
        drop = f"Bernoulli dropout p = {v / (1 + v):.3g} (Var(D) = {v:g})"
    elif kind == "information":
        drop = f"information dropout beta = {cfg.get('beta'):g}, max alpha = {cfg.get('max_alpha'):g}"
    else:
        drop = "no dropout"
    parts = [head, drop]
    if cfg.get("ip_n_train") is not None:
        parts.append(f"IP on N = {cfg['ip_n_train']} train / {cfg.get('ip_n_test')} test inputs")
    return ", ".join(parts)


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
    base, _, n_sub = name.partition("@")
    if n_sub:
        return f"{estimator_label(base)}, N = {n_sub}"
    if name.startswith("binning-ref-") and name[len("binning-ref-") :].isdigit():
        return f"binning, {int(name[len('binning-ref-') :])} edges, noisy Z"
    if name.startswith("binning-") and name[len("binning-") :].isdigit():
        return f"binning, {int(name[len('binning-') :])} bins"
    return name


def ip_axis_labels(
    ax: Axes, x_estimator: str | None = None, y_estimator: str | None = None, *, unit: str = "nats"
) -> Axes:
    """Label an information-plane axis with the quantity, the unit and the estimator, e.g.
    ``"I(X;Z) [nats], mixture (dataset view)"``. An estimator of ``None`` leaves that axis's label without
    one. Returns ``ax``."""
    ax.set_xlabel(f"{_XQ} [{unit}]" + (f", {estimator_label(x_estimator)}" if x_estimator else ""))
    ax.set_ylabel(f"{_YQ} [{unit}]" + (f", {estimator_label(y_estimator)}" if y_estimator else ""))
    return ax


def label_entropy(labels: ArrayLike) -> float:
    """Empirical entropy H(Y) of integer class labels, in nats (log 10 for 10 balanced classes)."""
    y = np.asarray(labels).ravel()
    if y.size == 0:
        raise ValueError("label_entropy(): labels are empty")
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def ip_reference_lines(
    ax: Axes,
    *,
    n_samples: int | None = None,
    labels: ArrayLike | None = None,
    h_y: float | None = None,
    color: str = "0.35",
    linestyle: str = "--",
    linewidth: float = 0.9,
    annotate: bool = True,
) -> dict[str, Line2D]:
    """Draw the ceilings of an information plane: x = log N (I(X;Z) of X uniform on N inputs) and
    y = H(Y) (from ``h_y`` or from the ``labels``); both in nats.

    The lines also keep the axes from zooming into noise: a panel always shows how far its values are from
    the ceiling. Returns ``{"log_n": Line2D, "h_y": Line2D}`` with the lines drawn.
    """
    if labels is not None and h_y is not None:
        raise ValueError("ip_reference_lines(): give labels or h_y, not both")
    if labels is not None:
        h_y = label_entropy(labels)
    kw: dict[str, Any] = dict(color=color, linestyle=linestyle, linewidth=linewidth, zorder=0.5)
    out: dict[str, Line2D] = {}
    if n_samples is not None:
        if int(n_samples) < 1:
            raise ValueError(f"ip_reference_lines(): n_samples must be >= 1; got {n_samples}")
        x = float(np.log(int(n_samples)))
        out["log_n"] = ax.axvline(x, **kw, label=f"log N = {x:.2f} (N = {int(n_samples):,})")
        if annotate:
            ax.annotate(
                "log N",
                (x, 1),
                xycoords=("data", "axes fraction"),
                xytext=(-2, -2),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize="x-small",
                color=color,
            )
    if h_y is not None:
        if not np.isfinite(h_y) or h_y < 0:
            raise ValueError(f"ip_reference_lines(): h_y must be a finite entropy >= 0; got {h_y}")
        out["h_y"] = ax.axhline(float(h_y), **kw, label=f"H(Y) = {float(h_y):.2f}")
        if annotate:
            ax.annotate(
                "H(Y)",
                (0, float(h_y)),
                xycoords=("axes fraction", "data"),
                xytext=(2, 2),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize="x-small",
                color=color,
            )
    return out


def epoch_colorbar(
    mappable: ScalarMappable,
    ax: Axes | Sequence[Axes] | None = None,
    *,
    label: str = "epoch",
    max_ticks: int = 8,
    **kwargs: Any,
) -> Colorbar:
    """A colour bar for epochs with integer ticks only (never 0.5, 1.5).

    Up to ``max_ticks`` distinct epochs get one tick each; more get at most ``max_ticks`` integer ticks.
    ``ax`` (Axes or list of Axes) is where the bar takes its space from. Returns the Colorbar.
    """
    from matplotlib.ticker import FixedLocator, MaxNLocator, StrMethodFormatter

    target: Any = ax if ax is not None else getattr(mappable, "axes", None)  # an artist's own axes
    first: Any = (
        np.ravel(np.asarray(target, dtype=object))[0] if isinstance(target, (list, tuple, np.ndarray)) else target
    )
    cb = first.figure.colorbar(mappable, ax=target, **kwargs)
    cb.set_label(label)
    data = mappable.get_array()
    vals = np.unique(np.asarray(data)[np.isfinite(np.asarray(data, float))]) if data is not None else np.array([])
    if 0 < len(vals) <= max_ticks and np.allclose(vals, np.round(vals)):
        cb.locator = FixedLocator(np.round(vals).tolist())
    else:
        cb.locator = MaxNLocator(nbins=max_ticks, integer=True)
    cb.formatter = StrMethodFormatter("{x:.0f}")
    cb.update_ticks()
    return cb


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
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{max(digits - 1, 0)}e}"
    decimals = max(digits - 1 - int(np.floor(np.log10(abs(x)))), 0)
    return f"{x:.{decimals}f}"


def table(
    df: pd.DataFrame,
    caption: str | None = None,
    *,
    digits: int = 3,
    formats: dict | None = None,
    index: bool = False,
    font_size: str = "0.8em",
) -> Styler:
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
    # a uuid from the content (pandas draws a random one): the same table gives the same HTML in every run, so
    # that executed notebooks compare equal (nbval) and the references do not change without reason
    import hashlib

    styler = styler.set_uuid(hashlib.sha1((df.to_csv() + str(caption)).encode()).hexdigest()[:8])
    for col, fmt in formats.items():
        styler = styler.format(fmt, subset=[col], na_rep="—")
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    styler = styler.set_table_styles(
        [
            {
                "selector": "",
                "props": [
                    ("font-size", font_size),
                    ("border-collapse", "collapse"),
                    ("width", "auto"),
                    ("margin", "0.5em 0"),
                ],
            },
            {
                "selector": "caption",
                "props": [
                    ("caption-side", "top"),
                    ("text-align", "left"),
                    ("font-weight", "bold"),
                    ("padding-bottom", "0.3em"),
                ],
            },
            {
                "selector": "th",
                "props": [
                    ("white-space", "normal"),
                    ("padding", "0.2em 0.35em"),
                    ("text-align", "center"),
                    ("border-bottom", "1px solid #999"),
                    ("vertical-align", "bottom"),
                ],
            },
            # text wraps (a long claim or path never pushes columns out of the page); numbers stay on one line
            {
                "selector": "td",
                "props": [("padding", "0.15em 0.35em"), ("white-space", "normal"), ("vertical-align", "top")],
            },
        ],
        overwrite=True,
    )
    if numeric:
        styler = styler.set_properties(
            subset=numeric, **{"text-align": "right", "font-variant-numeric": "tabular-nums", "white-space": "nowrap"}
        )
    return styler


# =========================================================================== chapters 1-2: theory and estimator
# (moved from ipdrop.figures)


def example34_plot(partial: np.ndarray, sizes: ArrayLike, means: np.ndarray) -> tuple[Figure, pd.DataFrame]:
    """Example 3.4: exact partial sums of E[log f(X)] (left) and sample estimates against N (right).

    ``partial`` from :func:`ipdrop.chapters.theory.example34_partial_sums`, ``means`` (streams x sizes) from
    :func:`ipdrop.chapters.theory.example34_sampled_means` at ``sizes``. Returns ``(fig, summary)`` where
    ``summary`` holds the plotted numbers (for printing in the notebook).
    """
    import matplotlib.pyplot as plt

    sizes = np.asarray(sizes)
    n_levels, n_repeats = len(partial), len(means)
    lo, med, hi = np.percentile(means, [10, 50, 90], axis=0)

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    k = np.arange(1, n_levels + 1)
    a.plot(k, partial, "o-", ms=3, label=r"$\sum_{n\leq K} \mathbb{E}[\log f(X);\ \mathrm{level}\ n] = -1.5K$")
    a.set_xlabel("number of levels K in the partial sum")
    a.set_ylabel(r"partial sum of $\mathbb{E}[\log|f(X)|]$ [nats]")
    a.set_title("exact series: diverges to $-\\infty$")
    a.legend(fontsize=8)
    b.fill_between(sizes, lo, hi, alpha=0.3, label=f"10–90% of {n_repeats} sample streams")
    b.plot(sizes, med, "o-", ms=3, label="median sample mean")
    b.plot(sizes, -1.5 * np.log2(sizes), "k--", lw=1, label=r"$-1.5\,\log_2 N$ (levels reached)")
    b.set_xscale("log")
    b.set_xlabel("number of samples N")
    b.set_ylabel(r"sample mean of $\log|f(X)|$ [nats]")
    b.set_title("sampled estimate: never settles")
    b.legend(fontsize=8)
    summary = {"sizes": sizes, "median": med, "p10": lo, "p90": hi, "partial_sums": partial}
    return fig, summary


def _band(ax, x, lo, hi, color, label=None, alpha=0.25):
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=label)


def bernoulli_gaussian_figure(df: pd.DataFrame) -> Figure:
    """Thm 3.1 vs Thm 3.3: I(X;Z) estimates against N for binary (binning, several bin counts) and Gaussian
    dropout (mixture, dataset and held-out views), with the log N ceiling. ``df`` from
    :func:`ipdrop.chapters.theory.bernoulli_vs_gaussian`. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    bern = df[df.dropout == "bernoulli"]
    bins = sorted(bern.n_bins.unique())
    cmap = plt.get_cmap("Blues")
    for k, b in enumerate(bins):
        s = bern[bern.n_bins == b].sort_values("n")
        ax.plot(
            s.n,
            s.value,
            "o-",
            ms=3,
            color=cmap(0.4 + 0.6 * k / max(1, len(bins) - 1)),
            label=f"binary dropout: binning, {b} bins",
        )
    gauss = df[df.dropout == "gaussian"]
    err = _analysis.error_column(gauss) or "stderr"
    for est, color in zip(sorted(gauss.estimator.unique()), ("tab:orange", "tab:red")):
        s = gauss[gauss.estimator == est].sort_values("n")
        ax.plot(s.n, s.value, "s-", ms=3, color=color, label=f"Gaussian dropout: {est}")
        _band(ax, s.n, s.value - 1.96 * s[err], s.value + 1.96 * s[err], color)
    n = np.sort(df.n.unique())
    ax.plot(n, np.log(n), "k--", lw=1, label=r"$\log N$ (ceiling for X uniform on the sample)")
    ax.set_xscale("log")
    ax.set_xlabel("number of samples N")
    ax.set_ylabel(r"estimate of $I(X;Z)$ [nats]")
    ax.set_title("binary dropout: estimates follow log N; Gaussian dropout: they settle")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def relu_log_figure(
    df: pd.DataFrame, ex34_sizes: ArrayLike | None = None, ex34_means: np.ndarray | None = None
) -> tuple[Figure, pd.DataFrame]:
    """Prop. 3.5: sample means of log f_i(X) (over f_i(X) > 0) of a random ReLU network settle as N grows.

    Left: per unit, the median over repeats with the 10-90% band, and for the first stream the
    +-1.96 standard-error band. Right: width of the 10-90% band against N (log-log) for the ReLU units, and,
    when ``ex34_means`` (repeats x sizes, :func:`ipdrop.chapters.theory.example34_sampled_means`) is given, for
    Example 3.4, with an N^(-1/2) reference. ``df`` from :func:`ipdrop.chapters.theory.relu_log_activation`.
    Returns ``(fig, summary)`` with the plotted per-unit numbers as a DataFrame.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    colors = plt.get_cmap("tab10")
    err = _analysis.error_column(df) or "stderr"
    rows = []
    for i in sorted(df.unit.unique()):
        s = df[df.unit == i]
        g = s.groupby("n").mean_log
        n = np.asarray(g.median().index)
        med, lo, hi = g.median().values, g.quantile(0.1).values, g.quantile(0.9).values
        a.plot(n, med, "o-", ms=3, color=colors(i), label=f"unit {i}: median over streams")
        _band(a, n, lo, hi, colors(i))
        first = s[s.repeat == s.repeat.min()].sort_values("n")
        a.plot(first.n, first.mean_log - 1.96 * first[err], ":", color=colors(i), lw=1)
        a.plot(first.n, first.mean_log + 1.96 * first[err], ":", color=colors(i), lw=1)
        b.plot(n, hi - lo, "o-", ms=3, color=colors(i), label=f"ReLU unit {i}")
        rows += [dict(unit=i, n=int(nn), median=m, p10=q10, p90=q90) for nn, m, q10, q90 in zip(n, med, lo, hi)]
    a.set_xscale("log")
    a.set_xlabel("number of samples N")
    a.set_ylabel(r"mean of $\log f_i(X)$ over $f_i(X)>0$ [nats]")
    a.set_title("ReLU net, X uniform on $[0,1]^n$: the estimate settles")
    a.plot([], [], "k:", lw=1, label=r"one stream $\pm 1.96$ s.e.")
    a.legend(fontsize=7)
    if ex34_means is not None:
        lo34, hi34 = np.percentile(ex34_means, [10, 90], axis=0)
        b.plot(ex34_sizes, hi34 - lo34, "k^-", ms=3, label="Example 3.4 (log f(X) = -X')")
    n_all = np.sort(df.n.unique()).astype(float)
    ref = df[df.n == n_all[0]].groupby("unit").mean_log.agg(lambda v: np.subtract(*np.percentile(v, [90, 10]))).mean()
    b.plot(n_all, ref * np.sqrt(n_all[0] / n_all), "k--", lw=1, label=r"$\propto N^{-1/2}$")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("number of samples N")
    b.set_ylabel("width of the 10–90% band [nats]")
    b.set_title("spread across independent streams")
    b.legend(fontsize=7)
    return fig, pd.DataFrame(rows)


def toy_conditional_entropy_figure(df: pd.DataFrame) -> Figure:
    """Fig. 2/9: MC estimate of h(Z|X) against N for several dimensions (median over repeats, 10-90% band),
    one panel per variance, exact values dashed. ``df`` from
    :func:`ipdrop.chapters.estimator.toy_conditional_entropy`."""
    import matplotlib.pyplot as plt

    variances = sorted(df.variance.unique())
    fig, axes = plt.subplots(
        1, len(variances), figsize=(5 * len(variances), 3.8), constrained_layout=True, squeeze=False
    )
    colors = plt.get_cmap("viridis")
    dims = sorted(df.dim.unique())
    for ax, var in zip(axes[0], variances):
        for k, d in enumerate(dims):
            s = df[(df.variance == var) & (df.dim == d)]
            g = s.groupby("n").estimate
            n = np.asarray(g.median().index)
            c = colors(k / max(1, len(dims) - 1) * 0.9)
            ax.plot(n, g.median(), "o-", ms=3, color=c, label=f"dim {d}")
            _band(ax, n, g.quantile(0.1), g.quantile(0.9), c, alpha=0.2)
            ax.axhline(s.exact.iloc[0], color=c, ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("number of input samples N")
        ax.set_ylabel(r"estimate of $h(Z\mid X)$ [nats]")
        ax.set_title(rf"$\sigma^2 = {var:g}$ (dashed: exact)")
        ax.legend(fontsize=7, ncol=2)
    return fig


def toy_entropy_figure(df: pd.DataFrame) -> Figure:
    """Fig. 3/8: h(Z) by the mixture (dataset and held-out views) against the Gaussian upper bound and the
    exact value, as the dimension grows. ``df`` from :func:`ipdrop.chapters.estimator.toy_entropy_vs_dim`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    styles = {
        "exact h(Z)": ("k-", 2),
        "Gaussian upper bound": ("C3^-", 1.5),
        "mixture (dataset)": ("C0o-", 1.5),
        "mixture (heldout)": ("C1s-", 1.5),
        "exact h(Z|X)": ("k:", 1),
    }
    for q, (st, lw) in styles.items():
        s = df[df.quantity == q].sort_values("dim")
        if len(s):
            ax.plot(s.dim, s.value, st, lw=lw, ms=4, label=q)
    ax.set_xlabel("dimension n of X and Z")
    ax.set_ylabel(r"$h(Z)$ [nats]")
    ax.set_title(r"$h(Z)$ on the toy problem")
    ax.legend(fontsize=8)
    return fig


def toy_mi_figure(df: pd.DataFrame) -> Figure:
    """Fig. 4/10: I(X;Z) against the dimension by every estimator, with the exact value and log N.

    Left: the mixture estimator (dataset and held-out views), EDGE and DoE; right: binning by number of bins and
    by bin width. ``df`` from :func:`ipdrop.chapters.estimator.toy_mi_vs_dim`."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True, sharey=True)
    ex = df.groupby("dim").exact.first()
    for ax in (a, b):
        ax.plot(ex.index, ex.values, "k-", lw=2, label="exact (quadrature)")
        ax.axhline(df.log_n.iloc[0], color="k", ls="--", lw=1, label=r"$\log N$")
        ax.set_xlabel("dimension n of X and Z")
    marks = {"ours (dataset)": "C0o-", "ours (heldout)": "C1s-", "edge": "C2D-", "doe": "C3^-", "doe.l": "C4v-"}
    for est, st in marks.items():
        s = df[df.estimator == est].sort_values("dim")
        if len(s):
            a.plot(s.dim, s.value, st, ms=4, label=est)
    a.set_ylabel(r"estimate of $I(X;Z)$ [nats]")
    a.set_title("mixture (ours), EDGE, DoE")
    a.legend(fontsize=8)
    for est, cmap, st in (("binning (bins)", "Blues", "o-"), ("binning (width)", "Oranges", "s--")):
        s = df[df.estimator == est]
        settings = list(dict.fromkeys(s.setting))
        for k, setting in enumerate(settings):
            t = s[s.setting == setting].sort_values("dim")
            b.plot(
                t.dim,
                t.value,
                st,
                ms=4,
                color=plt.get_cmap(cmap)(0.45 + 0.55 * k / max(1, len(settings) - 1)),
                label=f"binning, {setting}",
            )
    b.set_title("binning (X uniform on the sample)")
    b.legend(fontsize=8)
    return fig


# =========================================================================== chapters 3-5: trained networks
# (moved from ipdrop.studies)


def _sub(df, run):
    return df[df["run"] == run] if "run" in df.columns and run is not None else df


def plot_study_planes(
    df: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    runs: Sequence[str] | None = None,
    split: str = "train",
    panel_size: tuple[float, float] = (3.9, 3.1),
    suptitle: str | None = None,
) -> Figure:
    """Grid of information planes: one row per run, one column per ``(x_estimator, y_estimator)`` pair.

    Points are epochs coloured by epoch (:func:`ipdrop.plotting.plot_information_plane`). A pair that a
    run lacks (e.g. ``mixture-*`` for information dropout) leaves an empty panel with a note.
    ``pairs`` may also be a mapping ``run -> pairs`` for per-run pairs (same number of columns).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    _analysis._check_table(df)
    if runs is None:
        runs = (
            list(df["run"].cat.categories if hasattr(df["run"], "cat") else dict.fromkeys(df["run"]))
            if "run" in df.columns
            else [None]  # type: ignore[list-item]  # None: the table holds one run
        )
    per_run = pairs if isinstance(pairs, Mapping) else {r: list(pairs) for r in runs}
    ncol = max(len(per_run.get(r, [])) for r in runs)
    if ncol == 0:
        raise ValueError("pairs must name at least one (x_estimator, y_estimator) pair")
    fig, axes = plt.subplots(
        len(runs),
        ncol,
        squeeze=False,
        constrained_layout=True,
        figsize=(panel_size[0] * ncol, panel_size[1] * len(runs)),
    )
    for i, run in enumerate(runs):
        sub = _sub(df, run)
        prs = list(per_run.get(run, []))
        for j in range(ncol):
            ax = axes[i, j]
            if j >= len(prs):
                ax.set_axis_off()
                continue
            xe, ye = prs[j]
            title = f"{run}\n{xe} / {ye}" if run is not None else f"{xe} / {ye}"
            try:
                plot_information_plane(sub, xe, ye, split, ax=ax, title=title, colorbar=(j == len(prs) - 1))
            except ValueError:
                ax.text(
                    0.5,
                    0.5,
                    f"{xe} / {ye}\nnot tracked for this run",
                    ha="center",
                    va="center",
                    fontsize="small",
                    transform=ax.transAxes,
                )
                ax.set_axis_off()
            ax.title.set_fontsize("small")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_run_planes(
    df: pd.DataFrame,
    run: str | None,
    pairs: Sequence[tuple[str, str]],
    *,
    splits: Sequence[str] = ("train", "test"),
    panel_size: tuple[float, float] = (3.9, 3.1),
) -> Figure:
    """Information planes of one run: one row per split, one column per ``(x_estimator, y_estimator)`` pair
    (e.g. Figs. 6 and 13 side by side); :func:`ipdrop.plotting.plot_planes_grid` on the run's rows.
    Returns the Figure."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must name at least one (x_estimator, y_estimator) pair")
    fig = plot_planes_grid(
        _sub(df, run), pairs, splits, panel_size=panel_size, suptitle=None if run is None else str(run)
    )
    for ax in fig.axes:
        ax.title.set_fontsize("small")
    return fig


def plot_binning_sweep(
    df: pd.DataFrame,
    run: str | None = None,
    *,
    splits: Sequence[str] = ("train", "test"),
    panel_size: tuple[float, float] = (3.6, 3.0),
) -> Figure:
    """Fig. 14: the binning information plane for every tracked bin count (columns) and split (rows), with
    the ceiling log N (N = number of samples the estimate used) drawn as a dashed line."""
    sub = _sub(df, run)
    pairs = _analysis.binning_pairs(sub)
    if not pairs:
        raise ValueError("the table holds no binning estimates")
    splits = [s for s in splits if (sub["split"] == s).any()]
    fig = plot_planes_grid(
        sub,
        pairs,
        splits,
        panel_size=panel_size,
        suptitle=None if run is None else f"{run}: binning estimates (dashed: log N)",
    )
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax, (split, (xe, _)) in zip(panels, [(sp, pr) for sp in splits for pr in pairs]):
        ax.set_title(f"{split}: {xe.replace('binning-', '')} bins", fontsize="small")
        n = sub[(sub["estimator"] == xe) & (sub["split"] == split)]["n"].dropna()
        if len(n):
            ax.axvline(math.log(int(n.iloc[0])), ls="--", color="0.4", lw=0.8)
    return fig


def _epoch_trajectory(ax, pts, *, cmap, norm, marker: str, size: float, lw: float = 0.8, label: str | None = None):
    """One run's path on an information plane: a grey line through its epochs and the points coloured by epoch
    (``pts``: columns x, y, epoch). Returns the scatter (for colour bars and gids)."""
    ax.plot(pts["x"], pts["y"], "-", color="0.7", lw=lw, zorder=1)
    return ax.scatter(
        pts["x"],
        pts["y"],
        c=pts["epoch"],
        cmap=cmap,
        norm=norm,
        marker=marker,
        s=size,
        edgecolors="k",
        linewidths=0.3,
        zorder=2,
        label=label,
    )


def plot_beta_planes(
    df: pd.DataFrame,
    *,
    x_estimator: str = "kl",
    y_estimator: str = "variational",
    split: str = "train",
    panel_size: tuple[float, float] = (4.6, 3.6),
    cmap: str = "viridis",
) -> Figure:
    """Fig. 7: one panel per network size; every beta is a line through its epochs (marker per beta, points
    coloured by epoch, label at the last epoch). Needs the extra columns ``size`` and ``beta``
    (:func:`ipdrop.chapters.planes.beta_study`). The x axis is logarithmic when the values span more than a
    factor 20."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    _analysis._check_table(df, ("run", "size", "beta", "epoch", "split", "estimator", "quantity", "value"))
    sizes = list(dict.fromkeys(df["size"]))
    betas = sorted(dict.fromkeys(df["beta"].astype(float)))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    norm = Normalize(vmin=float(df["epoch"].min()), vmax=float(df["epoch"].max()))
    fig, axes = plt.subplots(
        1, len(sizes), squeeze=False, constrained_layout=True, figsize=(panel_size[0] * len(sizes), panel_size[1])
    )
    sc = None
    for ax, size in zip(axes[0], sizes):
        xs = []
        for k, b in enumerate(betas):
            sub = df[(df["size"] == size) & (df["beta"].astype(float) == b)]
            if sub.empty:
                continue
            pts = information_plane_points(sub, x_estimator, y_estimator, split)
            xs += list(pts["x"])
            sc = _epoch_trajectory(
                ax, pts, cmap=cmap, norm=norm, marker=markers[k % len(markers)], size=30, label=f"beta={b:g}"
            )
            ax.annotate(
                f"beta={b:g}",
                (pts["x"].iloc[-1], pts["y"].iloc[-1]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
            )
        pos = np.asarray([v for v in xs if np.isfinite(v) and v > 0])
        if len(pos) and pos.max() / pos.min() > 20:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{size} network ({split})", fontsize="medium")
        ax.set_xlabel(f"{_XQ} [nats]  ({x_estimator})")
        ax.set_ylabel(f"{_YQ} [nats]  ({y_estimator})")
        ax.legend(fontsize="x-small", loc="lower right")
    if sc is not None:
        cb = fig.colorbar(sc, ax=list(axes[0]))
        cb.set_label("epoch")
    return fig


def plot_accuracy(df: pd.DataFrame, *, split: str = "test", estimator: str = "eval", ax: Axes | None = None) -> Axes:
    """Accuracy (%) per epoch, one line per run. Returns the Axes."""
    import matplotlib.pyplot as plt

    _analysis._check_table(df)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.2))
    sel = df[(df["quantity"] == "accuracy") & (df["split"] == split) & (df["estimator"] == estimator)]
    if sel.empty:
        raise ValueError(f"no accuracy rows for split {split!r} and estimator {estimator!r}")
    groups = sel.groupby("run", observed=True, sort=True) if "run" in sel.columns else [(None, sel)]
    for run, g in groups:
        g = g.sort_values("epoch")
        ax.plot(g["epoch"], 100 * g["value"], marker=".", label=str(run) if run is not None else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{split} accuracy [%] ({estimator})")
    if "run" in sel.columns:
        ax.legend(fontsize="x-small")
    return ax


# =========================================================================== chapter 6: sweeps
# (moved from ipdrop.aggregate)


def plot_mean_planes(
    df: pd.DataFrame,
    by: str | None = None,
    *,
    x_estimator: str | None = None,
    y_estimator: str | None = None,
    split: str | None = "train",
    layer: Any = None,
    over: str = "seed",
    band: str = "ci",
    level: float = 0.95,
    cmap: str = "viridis",
    axes: Sequence[Axes] | np.ndarray | None = None,
    panel_size: tuple[float, float] = (4.0, 3.6),
) -> Figure:
    """Mean information planes across seeds, one panel per value of ``by``, on shared axes.

    Each point is one epoch at (mean I(X;Z), mean I(Y;Z)) across ``over``
    (seeds), with error bars in both coordinates, coloured by epoch; the points of
    one setting are joined in epoch order.

    Parameters
    ----------
    df : DataFrame
        Tidy table from :func:`ipdrop.analysis.load_sweep` (rows with quantities ``I(X;Z)`` and ``I(Y;Z)``).
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
    _analysis._check_columns(df, ["quantity", "epoch", "value", over], "plot_mean_planes")
    params = [c for c in _analysis.param_columns(df) if c != over]
    if by is not None and by not in params:
        raise ValueError(f"by={by!r} is not a sweep parameter of the table; parameters: {params}")
    if split is not None and "split" in df.columns:
        df = _analysis.pick_one(df, "split", split, "the plane")
    if "layer" in df.columns:
        df = _analysis.pick_one(df, "layer", layer, "the plane")
    parts = {}
    for q, est in (("I(X;Z)", x_estimator), ("I(Y;Z)", y_estimator)):
        sub = df[df["quantity"] == q]
        if sub.empty:
            raise ValueError(f"the table has no {q} rows (quantities: {sorted(df['quantity'].unique())})")
        sub = _analysis.pick_one(sub, "estimator", est, q)
        m = _analysis.mean_planes(sub, by=params, over=over, level=level)
        parts[q] = m.drop(columns=[c for c in ("estimator", "quantity") if c in m.columns])
    keys = params + ["epoch"]
    plane = parts["I(X;Z)"].merge(
        parts["I(Y;Z)"], on=[k for k in keys if k in parts["I(X;Z)"].columns], suffixes=("_x", "_y")
    )
    if plane.empty:
        raise ValueError("I(X;Z) and I(Y;Z) share no (setting, epoch); nothing to plot")
    err = "ci" if band == "ci" else "std"
    panels = [None] if by is None else sorted(plane[by].dropna().unique().tolist())
    fig: Any
    if axes is None:
        fig, grid = plt.subplots(
            1,
            len(panels),
            figsize=(panel_size[0] * len(panels), panel_size[1]),
            sharex=True,
            sharey=True,
            squeeze=False,
            constrained_layout=True,
        )
        panel_axes: list[Axes] = list(grid[0])
    else:
        panel_axes = list(np.atleast_1d(np.asarray(axes, dtype=object)))
        if len(panel_axes) != len(panels):
            raise ValueError(f"{len(panel_axes)} axes given for {len(panels)} panels")
        fig = panel_axes[0].figure
    norm = colors.Normalize(
        vmin=float(plane["epoch"].min()), vmax=max(float(plane["epoch"].max()), float(plane["epoch"].min()) + 1e-9)
    )
    colormap = plt.get_cmap(cmap)
    line_keys = [p for p in params if p != by and plane[p].nunique(dropna=False) > 1]
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P"]
    band_label = f"{int(level * 100)}% CI" if band == "ci" else "± 1 std"
    for ax, panel in zip(panel_axes, panels):
        sub = plane if panel is None else plane[plane[by] == panel]
        groups = sub.groupby(line_keys, dropna=False, sort=True) if line_keys else [((), sub)]
        for j, (gkey, g) in enumerate(groups):
            g = g.sort_values("epoch")
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            n_seeds = int(min(g["n_x"].min(), g["n_y"].min()))
            label = ", ".join(f"{k}={v}" for k, v in zip(line_keys, gkey)) or "mean"
            label += f" (n={n_seeds} {over}s, {band_label})"
            ax.plot(
                g["mean_x"],
                g["mean_y"],
                styles[j % len(styles)],
                color="0.5",
                lw=1,
                zorder=1,
                marker=markers[j % len(markers)],
                markersize=0,
                label=None,
            )
            ax.plot(
                [],
                [],
                styles[j % len(styles)],
                color="0.4",
                lw=1,
                marker=markers[j % len(markers)],
                markerfacecolor="0.8",
                markeredgecolor="k",
                label=label,
            )  # legend entry only
            xerr = np.nan_to_num(g[f"{err}_x"].to_numpy(dtype=float))
            yerr = np.nan_to_num(g[f"{err}_y"].to_numpy(dtype=float))
            for ex, ey, x, y, ep in zip(xerr, yerr, g["mean_x"], g["mean_y"], g["epoch"]):
                ax.errorbar(
                    x,
                    y,
                    xerr=ex,
                    yerr=ey,
                    fmt="none",
                    ecolor=colormap(norm(ep)),
                    elinewidth=1,
                    capsize=2,
                    alpha=0.8,
                    zorder=2,
                )
            ax.scatter(
                g["mean_x"],
                g["mean_y"],
                c=g["epoch"],
                cmap=colormap,
                norm=norm,
                s=28,
                marker=markers[j % len(markers)],
                edgecolors="k",
                linewidths=0.4,
                zorder=3,
            )
        ax.set_xlabel(f"{_XQ} [nats]" + (f", {estimator_label(x_estimator)}" if x_estimator else ""))
        if panel is not None:
            ax.set_title(f"{by} = {panel}")
        ax.legend(fontsize="small", loc="best")
        ax.grid(alpha=0.3)
    panel_axes[0].set_ylabel(f"{_YQ} [nats]" + (f", {estimator_label(y_estimator)}" if y_estimator else ""))
    sm = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    sm.set_array(np.sort(plane["epoch"].unique()))
    epoch_colorbar(sm, ax=panel_axes)  # integer epochs only
    return fig


# =========================================================================== chapter 7: reliability (beyond the paper)

_VIEW_STYLE = {"dataset": ("C0", "o"), "heldout": ("C1", "s"), "paper": ("C2", "^")}


def _log_n_curve(ax, sizes, color="0.35"):
    """The ceiling log N of the dataset view and of binning, as a curve over the N axis (log-scaled, ticks at
    the sizes used)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    n = np.asarray(sorted(set(int(s) for s in sizes)), float)
    grid = np.geomspace(n.min(), n.max(), 50) if n.size > 1 else n
    ax.plot(grid, np.log(grid), ls="--", color=color, lw=0.9, zorder=0.5, label="log N")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(np.asarray(n, dtype=float).tolist()))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{int(v / 1000)}k" if v >= 1000 and v % 1000 == 0 else f"{int(v)}" for v in n])


def reliability_toy_figure(df: pd.DataFrame, dim: int) -> Figure:
    """Toy at one layer size: the exact I(X;Z) against the dataset, held-out and Alg. 1 views as N grows, one
    panel per variance (log-scaled y: the views differ by orders of magnitude), error bars = 2 x MC error, with
    log N. ``df`` from :func:`ipdrop.chapters.reliability.toy_views_vs_n`."""
    import matplotlib.pyplot as plt

    sub = df[df["dim"] == dim]
    if sub.empty:
        raise ValueError(f"reliability_toy_figure(): no rows with dim = {dim}; dims: {sorted(df['dim'].unique())}")
    variances = sorted(sub["variance"].unique())
    fig, axes = plt.subplots(
        1, len(variances), figsize=figsize(len(variances), aspect=0.75), squeeze=False, sharey=True
    )
    for ax, var in zip(axes[0], variances):
        s = sub[sub["variance"] == var]
        for view, (c, m) in _VIEW_STYLE.items():
            t = s[s["view"] == view].sort_values("n")
            if len(t):
                ax.errorbar(
                    t["n"],
                    t["estimate"],
                    yerr=2 * t["mc_error"].fillna(0),
                    color=c,
                    marker=m,
                    ms=4,
                    capsize=2,
                    label=estimator_label(f"mixture-{view}"),
                )
        exact = float(s["exact"].iloc[0])
        ax.axhline(exact, color="k", lw=1.6, label="exact I(X;Z)")
        _log_n_curve(ax, s["n"])
        ax.set_yscale("log")
        ax.set_xlabel("N (inputs)")
        ax.set_title(f"d = {dim}, Var(D) = {var:g}: exact {exact:.1f} nats")
    axes[0][0].set_ylabel(f"{_XQ} [nats]")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


def _seed_summary(df):
    g = df.groupby(["estimator", "epoch", "n"])
    out = g["value"].agg(["mean", "std"]).reset_index()
    mc = g["mc_error"].apply(lambda e: float(np.sqrt(np.nansum(np.square(e)))) / max(len(e), 1)).reset_index(drop=True)
    out["mc_error"] = mc.to_numpy()
    return out


def reliability_run_figure(
    df: pd.DataFrame,
    estimators: Sequence[str] = ("mixture-dataset", "mixture-heldout", "mixture-paper"),
    *,
    title: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Stored representations: each estimator against N (one panel per estimator), one line per epoch (colour),
    mean over seeds with error bars = seed spread (std) and a thin inner bar = 2 x the MC error of the mean;
    log N dashed. ``df`` from :func:`ipdrop.chapters.reliability.run_reliability_table`."""
    import matplotlib.pyplot as plt
    from matplotlib import colors

    ests = [e for e in estimators if e in set(df["estimator"])]
    if not ests:
        raise ValueError(f"reliability_run_figure(): none of {list(estimators)} in the table")
    m = _seed_summary(df[df["estimator"].isin(ests)])
    epochs = sorted(m["epoch"].unique())
    norm = colors.Normalize(vmin=min(epochs), vmax=max(max(epochs), min(epochs) + 1))
    cm = plt.get_cmap(cmap)
    fig, axes = plt.subplots(1, len(ests), figsize=figsize(len(ests), aspect=0.9), squeeze=False)
    for ax, est in zip(axes[0], ests):
        s = m[m["estimator"] == est]
        for ep in epochs:
            t = s[s["epoch"] == ep].sort_values("n")
            c = cm(norm(ep))
            ax.errorbar(t["n"], t["mean"], yerr=t["std"].fillna(0), color=c, marker="o", ms=3.5, capsize=2, lw=1.2)
            ax.errorbar(t["n"], t["mean"], yerr=2 * t["mc_error"].fillna(0), color=c, fmt="none", elinewidth=2.5)
        _log_n_curve(ax, s["n"])
        ax.set_xlabel("N (inputs)")
        ax.set_title(estimator_label(est))
    axes[0][0].set_ylabel(f"{_XQ} [nats]")
    axes[0][0].legend(loc="best")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cm)
    sm.set_array(np.asarray(epochs, float))
    epoch_colorbar(sm, ax=list(axes[0]))
    if title:
        fig.suptitle(title)
    return fig


def reliability_binning_figure(df: pd.DataFrame, *, epoch: int | None = None, title: str | None = None) -> Figure:
    """Binning against N at one epoch (default the last): binning of the noiseless f(X) (left) and the reference
    code's binning of one noisy draw (right), one line per bin count, mean over seeds +- std, with log N.
    ``df`` from :func:`ipdrop.chapters.reliability.run_reliability_table`."""
    import matplotlib.pyplot as plt

    if epoch is None:
        epoch = int(df["epoch"].max())
    d = df[df["epoch"] == epoch]
    if d.empty:
        raise ValueError(f"reliability_binning_figure(): no rows at epoch {epoch}")
    kinds = (("binning-", "noiseless f(X) binned"), ("binning-ref-", "reference code: noisy f(X)·D binned"))
    fig, axes = plt.subplots(1, 2, figsize=figsize(2, aspect=0.8), squeeze=False, sharey=True)
    for ax, (prefix, label) in zip(axes[0], kinds):
        names = [e for e in d["estimator"].unique() if e.startswith(prefix) and e[len(prefix) :].isdigit()]
        names.sort(key=lambda e: int(e[len(prefix) :]))
        m = _seed_summary(d[d["estimator"].isin(names)])
        for k, est in enumerate(names):
            t = m[m["estimator"] == est].sort_values("n")
            ax.errorbar(
                t["n"],
                t["mean"],
                yerr=t["std"].fillna(0),
                marker="o",
                ms=3.5,
                capsize=2,
                color=plt.get_cmap("plasma")(0.1 + 0.75 * k / max(1, len(names) - 1)),
                label=f"{int(est[len(prefix) :])} bins",
            )
        _log_n_curve(ax, d["n"])
        ax.set_xlabel("N (inputs)")
        ax.set_title(f"{label}, epoch {epoch}")
    axes[0][0].set_ylabel(f"{_XQ} [nats]")
    axes[0][0].legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


# =========================================================================== paper settings (chapters 3-5)
# Figures of the paper-settings parts of chapters 3-5: they read the results store (ipdrop.chapters.paper) and
# draw the paper's figures on the paper's axes. Every run (seed) of a setting is overlaid with its own marker,
# epochs share one colour scale with an integer colour bar, panels with the same estimator share their axis, the
# reference lines log N and H(Y) are drawn, and an axis never zooms into a range narrower than ``min_span`` nats
# (so estimator noise does not look like movement).

#: markers of the runs (seeds) overlaid in one panel
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: panel titles of the splits
SPLIT_TITLES = {"train": "training set", "test": "test set (MC dropout)"}


def _runs_of(df) -> list:
    if "run" not in df.columns:
        return [None]
    if hasattr(df["run"], "cat"):
        return [r for r in df["run"].cat.categories if (df["run"] == r).any()]
    return list(dict.fromkeys(df["run"]))


def _ensure_span(ax, axis: str, min_span: float) -> None:
    """Widen an axis around its centre to at least ``min_span`` (log axes are left alone)."""
    if not min_span or (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log":
        return
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    if hi - lo < min_span:
        mid = 0.5 * (lo + hi)
        (ax.set_xlim if axis == "x" else ax.set_ylim)(mid - 0.5 * min_span, mid + 0.5 * min_span)


#: short axis names for narrow panels (the dropout estimator's views, the KL term)
SHORT_LABELS = {
    "mixture-paper": "ours, Alg. 1 as published",
    "mixture-dataset": "ours, dataset view",
    "mixture-heldout": "ours, held-out view",
    "variational": "variational, H(Y) − CE",
    "kl": "KL term",
}


def short_label(name: str) -> str:
    """A short axis name of an estimator (:data:`SHORT_LABELS`, else :func:`estimator_label`)."""
    return SHORT_LABELS.get(str(name), estimator_label(name))


def _two_line(quantity: str, estimator: str, label=None) -> str:
    return f"{quantity} [nats]\n{(label or short_label)(estimator)}"


def plotted_points(ax: Axes) -> dict:
    """The points a panel of :func:`plot_paper_planes` / :func:`plot_paper_beta` shows: ``{label: (N, 2) array}``
    (label = the run, or ``beta=<b>``), in epoch order. For tests and for reading a figure back."""
    out = {}
    for c in ax.collections:
        gid = c.get_gid()
        if gid and gid.startswith("points:"):
            out[gid[len("points:") :]] = np.asarray(c.get_offsets(), dtype=float)
    return out


def plot_paper_planes(
    df: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    splits: Sequence[str] = ("train", "test"),
    runs: Sequence[str] | None = None,
    run_labels: Mapping[str, str] | None = None,
    h_y: float | None = math.log(10),
    min_span: float = 0.5,
    cmap: str = "viridis",
    aspect: float = 1.0,
    width: float | None = None,
    suptitle: str | None = None,
    label: Callable[[str], str] | None = None,
    min_epoch: int = 0,
) -> Figure:
    """Information planes at the paper's settings: one row per split, one column per ``(x, y)`` estimator pair,
    every run (seed) of ``df`` overlaid with its own marker.

    Parameters
    ----------
    df : DataFrame
        Tidy table with a ``run`` column (:func:`ipdrop.chapters.paper.load_experiment` filtered to one setting,
        or a study of :mod:`ipdrop.chapters.planes`).
    pairs : sequence of (x_estimator, y_estimator) or (x_estimator, y_estimator, y_quantity)
        E.g. ``[("mixture-paper", "edge"), ("mixture-dataset", "edge"), ("binning-ref-3", "binning-ref-3")]``;
        a third element names the quantity on y (default ``"I(Y;Z)"``, e.g. ``"I(Y_binned;Z)"``).
    splits : rows (splits absent from the table are skipped).
    runs : runs to overlay (default: all); ``run_labels`` maps them to legend labels.
    h_y : the H(Y) reference line on I(Y;Z) axes (default log 10; ``None``: none). log N is taken from the ``n``
        column of the x estimator's rows.
    min_span : smallest range (nats) an axis shows.
    label : callable estimator -> axis name (default :func:`short_label`).
    min_epoch : leave out earlier epochs (1: without the untrained network, whose point would set the axes).

    Returns
    -------
    matplotlib.figure.Figure
        Axis labels name the quantity and the estimator; one integer epoch colour bar; the legend (runs) below.
        :func:`plotted_points` reads the plotted points back from a panel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    _analysis._check_table(df)
    yqs = [str(p[2]) if len(p) > 2 else _YQ for p in pairs]
    pairs = [(str(p[0]), str(p[1])) for p in pairs]
    if not pairs:
        raise ValueError("plot_paper_planes(): pairs must name at least one (x_estimator, y_estimator) pair")
    splits = [s for s in splits if (df["split"] == s).any()]
    if not splits:
        raise ValueError("plot_paper_planes(): none of the requested splits is in the table")
    runs = list(runs) if runs is not None else _runs_of(df)
    labels = {r: (run_labels or {}).get(r, str(r)) for r in runs}
    mi = df[df["quantity"].isin([_XQ, *yqs])]
    ests = {e for p in pairs for e in p}
    mi = mi[mi["epoch"] >= min_epoch]
    ep = mi.loc[mi["estimator"].isin(ests), "epoch"]
    if ep.empty:
        raise ValueError(f"plot_paper_planes(): the table has no I(X;Z)/I(Y;Z) rows of {sorted(ests)}")
    norm = Normalize(vmin=float(ep.min()), vmax=max(float(ep.max()), float(ep.min()) + 1))
    nrow, ncol = len(splits), len(pairs)
    fig, axes = plt.subplots(
        nrow, ncol, squeeze=False, figsize=figsize(ncol, nrow, aspect=aspect, width=width), layout="constrained"
    )
    # shared axes: the same x estimator shares x, the same y estimator shares y
    first_x: dict = {}
    first_y: dict = {}
    for i in range(nrow):
        for j, (xe, ye) in enumerate(pairs):
            ax = axes[i, j]
            if xe in first_x:
                ax.sharex(first_x[xe])
            else:
                first_x[xe] = ax
            if (ye, yqs[j]) in first_y:
                ax.sharey(first_y[(ye, yqs[j])])
            else:
                first_y[(ye, yqs[j])] = ax
    sc = None
    for i, split in enumerate(splits):
        for j, (xe, ye) in enumerate(pairs):
            ax = axes[i, j]
            drawn = 0
            for k, run in enumerate(runs):
                sub = _sub(df, run)
                try:
                    pts = information_plane_points(sub, xe, ye, split, y_quantity=yqs[j])
                except ValueError:
                    continue
                pts = pts[pts["epoch"] >= min_epoch]
                if pts.empty:
                    continue
                sc = _epoch_trajectory(
                    ax, pts, cmap=cmap, norm=norm, marker=RUN_MARKERS[k % len(RUN_MARKERS)], size=24, lw=0.7
                )
                sc.set_gid(f"points:{run}")
                drawn += 1
            if not drawn:  # no axes to read (a 0..1 frame would look like data): the pair's name, wrapped
                import textwrap

                ax.set_axis_off()
                ax.set_title(SPLIT_TITLES.get(split, split), fontsize="small")
                ax.text(
                    0.5,
                    0.5,
                    textwrap.fill(f"{estimator_label(xe)} / {estimator_label(ye)}", 18) + "\n\nnot stored yet",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="0.35",
                    transform=ax.transAxes,
                )
                continue
            rows = mi[(mi["estimator"] == xe) & (mi["split"] == split)]
            ns = rows["n"].dropna().tolist() if "n" in rows.columns else []
            ref_y = h_y if yqs[j] == _YQ else None
            ip_reference_lines(ax, n_samples=int(ns[0]) if ns else None, h_y=ref_y)
            ax.set_title(SPLIT_TITLES.get(split, split), fontsize="small")
            if i == nrow - 1:
                ax.set_xlabel(_two_line(_XQ, xe, label), fontsize="small")
            if j == 0 or pairs[j - 1][1] != ye or yqs[j - 1] != yqs[j]:
                ax.set_ylabel(_two_line(yqs[j], ye, label), fontsize="small")
    for ax in axes.ravel():
        _ensure_span(ax, "x", min_span)
        _ensure_span(ax, "y", min_span)
    if sc is not None:
        epoch_colorbar(sc, ax=list(axes.ravel()), max_ticks=8)
    if len(runs) > 1:
        handles = [
            Line2D(
                [],
                [],
                ls="none",
                marker=RUN_MARKERS[k % len(RUN_MARKERS)],
                markerfacecolor="0.8",
                markeredgecolor="k",
                label=labels[r],
            )
            for k, r in enumerate(runs)
        ]
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize="small", frameon=False
        )
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_paper_beta(
    df: pd.DataFrame,
    *,
    x_estimator: str = "kl",
    y_estimator: str = "variational",
    splits: Sequence[str] = ("train", "test"),
    size_column: str = "size",
    beta_column: str = "beta",
    h_y: float | None = math.log(10),
    min_span: float = 0.5,
    cmap: str = "viridis",
    aspect: float = 0.6,
    width: float | None = None,
) -> Figure:
    """Fig. 7 at the paper's settings: one column per network size, one row per split; every beta is a line
    through its epochs (marker per beta, points coloured by epoch). The x axis is logarithmic when the values of
    a panel span more than a factor 20. Needs the columns ``size`` and ``beta``. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    _analysis._check_table(df, ("run", size_column, beta_column, "epoch", "split", "estimator", "quantity", "value"))
    sizes = list(dict.fromkeys(df[size_column]))
    betas = sorted({float(b) for b in df[beta_column].dropna()})
    splits = [s for s in splits if (df["split"] == s).any()]
    if not sizes or not betas or not splits:
        raise ValueError("plot_paper_beta(): the table has no (size, beta, split) to plot")
    norm = Normalize(vmin=float(df["epoch"].min()), vmax=max(float(df["epoch"].max()), float(df["epoch"].min()) + 1))
    fig, axes = plt.subplots(
        len(splits),
        len(sizes),
        squeeze=False,
        sharey=True,
        layout="constrained",
        figsize=figsize(len(sizes), len(splits), aspect=aspect, width=width),
    )
    sc = None
    for i, split in enumerate(splits):
        for j, size in enumerate(sizes):
            ax = axes[i, j]
            xs = []
            for k, b in enumerate(betas):
                sub = df[(df[size_column] == size) & (df[beta_column].astype(float) == b)]
                if sub.empty:
                    continue
                try:
                    pts = information_plane_points(sub, x_estimator, y_estimator, split)
                except ValueError:
                    continue
                xs += list(pts["x"])
                sc = _epoch_trajectory(ax, pts, cmap=cmap, norm=norm, marker=RUN_MARKERS[k % len(RUN_MARKERS)], size=28)
                sc.set_gid(f"points:beta={b:g}")
            pos = np.asarray([v for v in xs if np.isfinite(v) and v > 0])
            if len(pos) and pos.max() / pos.min() > 20:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ip_reference_lines(ax, h_y=h_y)
            ax.set_title(f"{size} network, {SPLIT_TITLES.get(split, split)}", fontsize="small")
            ax.set_xlabel(_two_line(_XQ, x_estimator), fontsize="small")
            if j == 0:
                ax.set_ylabel(_two_line(_YQ, y_estimator), fontsize="small")
            _ensure_span(ax, "x", min_span)
    _ensure_span(axes[0, 0], "y", min_span)
    if sc is not None:
        epoch_colorbar(sc, ax=list(axes.ravel()), max_ticks=8)
    handles = [
        Line2D(
            [],
            [],
            ls="none",
            marker=RUN_MARKERS[k % len(RUN_MARKERS)],
            markerfacecolor="0.8",
            markeredgecolor="k",
            label=f"β = {b:g}",
        )
        for k, b in enumerate(betas)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small", frameon=False)
    return fig


def plot_paper_accuracy(
    df: pd.DataFrame,
    *,
    runs: Sequence[str] | None = None,
    run_labels: Mapping[str, str] | None = None,
    estimator: str = "eval",
    aspect: float = 0.6,
    width: float | None = None,
) -> Figure:
    """Accuracy (%) per epoch of stored runs: training subset and test set side by side on a shared y axis, one
    line per run, the legend below. Returns the Figure."""
    import matplotlib.pyplot as plt

    _analysis._check_table(df)
    acc = df[(df["quantity"] == "accuracy") & (df["estimator"] == estimator)]
    if acc.empty:
        raise ValueError(f"plot_paper_accuracy(): no accuracy rows of estimator {estimator!r}")
    runs = list(runs) if runs is not None else _runs_of(acc)
    splits = [s for s in ("train", "test") if (acc["split"] == s).any()]
    fig, axes = plt.subplots(
        1,
        len(splits),
        squeeze=False,
        sharey=True,
        layout="constrained",
        figsize=figsize(len(splits), 1, aspect=aspect, width=width),
    )
    for ax, split in zip(axes[0], splits):
        for k, run in enumerate(runs):
            g = _sub(acc, run)
            g = g[g["split"] == split].sort_values("epoch")
            if g.empty:
                continue
            (line,) = ax.plot(
                g["epoch"],
                100 * g["value"],
                "-",
                marker=RUN_MARKERS[k % len(RUN_MARKERS)],
                markersize=3,
                lw=1,
                label=(run_labels or {}).get(run, str(run)),
            )
            line.set_gid(f"points:{run}")
        ax.set_title("test set" if split == "test" else "training subset (IP)", fontsize="small")
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel(f"accuracy [%] ({'dropout off' if estimator == 'eval' else estimator})")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if len(handles) > 1:
        fig.legend(
            handles, labels, loc="outside lower center", ncol=min(len(handles), 4), fontsize="small", frameon=False
        )
    return fig


def placeholder_figure(message: str, *, aspect: float = 0.18, width: float | None = None) -> Figure:
    """A small figure that says what is missing (e.g. a run not in the results store and the command that makes
    it), so that a chapter's numbered figure exists whatever the store holds. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize(1, 1, aspect=aspect, width=width))
    # an Axes (switched off) holds the text: IPython renders no image of a figure without Axes
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        str(message),
        ha="center",
        va="center",
        wrap=True,
        fontsize="small",
        color="0.3",
        transform=ax.transAxes,
    )
    fig.set_gid("placeholder")
    return fig


def glue_figure(name: str, fig: Figure) -> None:
    """Glue a figure for a numbered ``{glue:figure}`` (myst-nb) and close it, so that it is shown only where the
    chapter places it."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
