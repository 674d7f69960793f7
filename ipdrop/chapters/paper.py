"""Driver of the paper-settings parts of chapters 03-05 and of the claims chapter: the results store.

The paper-scale runs are trained and estimated by ``ipdrop reproduce params/paper_runs/<experiment>.yaml``
(see :mod:`ipdrop.runstore`) and stored in ``results/<experiment>/<run>/``. Nothing here trains: the
functions read the store, so the chapters render the paper-scale results in CI in seconds.

What a verdict rests on (:func:`compression_verdicts`): the drop of I(X;Z) from its peak to the end of
training must exceed every one of

* an absolute floor and a fraction of the peak (small numerical changes never flip it),
* twice the Monte-Carlo error of the two estimates (noise draws),
* the spread of the drop across seeds (the seeds a setting has in the store),
* the N-drift of the drop: the same drop computed on half the representations (``<estimator>@<N/2>`` rows)
  differs from the full-N drop by the change of the estimator's finite-N bias over the same epochs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _io, analysis, runstore

__all__ = [
    "store_root",
    "params_root",
    "experiments",
    "stored_runs",
    "load_experiment",
    "run_settings",
    "deviations",
    "store_status",
    "compression_verdicts",
    "verdict_table",
    "verdict_counts",
    "experiment_facts",
    "paper_pairs",
    "with_size",
    "run_labels",
    "missing_message",
    "figure",
    "store_table",
    "GAUSSIAN_VIEWS",
    "CONFIG_COLUMNS",
    "VIEW_NAMES",
    "view_label",
]

#: config fields copied onto every row of an experiment's table
CONFIG_COLUMNS = (
    "model",
    "dropout",
    "variance",
    "beta",
    "width",
    "seed",
    "epochs",
    "n_train",
    "ip_n_train",
    "ip_n_test",
)
#: the three views of the dropout estimator of I(X;Z): Alg. 1 as published first (the paper's number)
GAUSSIAN_VIEWS = ("mixture-paper", "mixture-dataset", "mixture-heldout")

#: what each estimator name of the store means, for axes, tables and prose
VIEW_NAMES = {
    "mixture-dataset": "ours, dataset view (X uniform on the sample, <= log N)",
    "mixture-heldout": "ours, held-out view (population estimate, biased up)",
    "mixture-paper": "ours, Alg. 1 as published (first 1,000 rows as centres)",
    "kl": "information dropout, KL bound (eq. 7)",
    "edge": "EDGE",
    "knn": "k-NN (Ross)",
    "variational": "variational, H(Y) - CE",
}


def view_label(estimator: str) -> str:
    """A reader's name of an estimator row (``binning-30`` -> "binning, 30 bins (noiseless f(X))")."""
    base, _, n = estimator.partition("@")
    if base.startswith("binning-ref-"):
        label = f"binning, {base.rsplit('-', 1)[1]} edges (noisy Z, as the paper's code)"
    elif base.startswith("binning-"):
        label = f"binning, {base.rsplit('-', 1)[1]} bins (noiseless f(X))"
    else:
        label = VIEW_NAMES.get(base, base)
    return f"{label}, N = {n}" if n else label


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def store_root(root: str | os.PathLike | None = None) -> Path:
    """The results store: ``root``, else ``$IPDROP_RESULTS``, else ``results/`` of this checkout."""
    if root is not None:
        return Path(root)
    env = os.environ.get("IPDROP_RESULTS")
    return Path(env) if env else _repo_root() / "results"


def params_root() -> Path:
    """``params/paper_runs/`` of this checkout (one params file per experiment)."""
    return _repo_root() / "params" / "paper_runs"


def experiments(root: str | os.PathLike | None = None) -> list[str]:
    """Experiments with a params file (sorted)."""
    return sorted(p.stem for p in params_root().glob("*.yaml"))


def stored_runs(experiment: str, root: str | os.PathLike | None = None) -> list[str]:
    """Runs of ``experiment`` present in the store, in the params file's order."""
    spec = runstore.read_params_file(params_root() / f"{experiment}.yaml")
    d = store_root(root) / experiment
    return [name for name in spec["configs"] if (d / name / "results.csv").is_file()]


def store_status(root: str | os.PathLike | None = None, *, experiments: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per experiment: runs planned, runs stored, runs missing, the regeneration command.

    ``experiments`` limits the table to those experiments (default: every params file).
    """
    rows = []
    names = globals()["experiments"](root) if experiments is None else list(experiments)
    unknown = sorted(set(names) - set(globals()["experiments"](root)))
    if unknown:
        raise ValueError(f"store_status(): no params file for experiment(s) {unknown} in {params_root()}")
    for exp in names:
        spec = runstore.read_params_file(params_root() / f"{exp}.yaml")
        have = stored_runs(exp, root)
        rows.append(
            {
                "experiment": exp,
                "description": spec.get("description", ""),
                "planned": len(spec["configs"]),
                "stored": len(have),
                "missing": ", ".join(n for n in spec["configs"] if n not in have) or "-",
                "command": f"ipdrop reproduce params/paper_runs/{exp}.yaml --out results/{exp}",
            }
        )
    return pd.DataFrame(rows)


def load_experiment(experiment: str, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every stored run of ``experiment`` as one tidy table with ``run`` and :data:`CONFIG_COLUMNS`.

    Empty (with the columns) when no run is stored yet.
    """
    d = store_root(root) / experiment
    frames = []
    for name in stored_runs(experiment, root):
        t = runstore.load_table(d / name)
        cfg = _io.read_json(d / name / "config.json").get("config", {})
        t.insert(0, "run", name)
        for i, c in enumerate(CONFIG_COLUMNS):
            t.insert(1 + i, c, cfg.get(c))
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=["run", *CONFIG_COLUMNS, "epoch", "split", "estimator", "quantity", "value"])
    return pd.concat(frames, ignore_index=True)


def run_settings(experiment: str, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per stored run: its settings, final accuracies (%) and wall times (minutes) from provenance."""
    d = store_root(root) / experiment
    rows = []
    for name in stored_runs(experiment, root):
        cfg = _io.read_json(d / name / "config.json").get("config", {})
        prov = _io.read_json_or_none(d / name / "provenance.json") or {}
        t = runstore.load_table(d / name)
        last = t[(t.epoch == t.epoch.max()) & (t.estimator == "eval") & (t.quantity == "accuracy")]
        acc = {f"{s} acc %": round(100 * float(v), 1) for s, v in zip(last.split, last.value)}
        wall = prov.get("wall_time_s") or {}
        rows.append(
            {
                "run": name,
                **{c: _applies(cfg, c) for c in ("model", "dropout", "variance", "beta", "width", "seed")},
                "epochs": int(t.epoch.max()),
                **acc,
                "training min": _minutes(wall.get("training")),
                "estimation min": _minutes(wall.get("estimation")),
                "cpu": prov.get("cpu"),
                "threads": prov.get("threads_training"),
            }
        )
    return pd.DataFrame(rows)


def _applies(cfg: dict, key: str):
    """A config value where it applies to the run: no ``beta`` for Gaussian dropout, no ``variance`` for
    information dropout."""
    info = cfg.get("dropout") == "information"
    if (key == "beta" and not info) or (key == "variance" and info):
        return None
    return cfg.get(key)


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / 60.0, 1)


def deviations(experiment: str) -> pd.DataFrame:
    """The params file's table of deviations from the paper (parameter, paper, here, why)."""
    spec = runstore.read_params_file(params_root() / f"{experiment}.yaml")

    def text(v) -> str:  # 0.4444444444444444 -> 0.4444: a table cell, not a float repr
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = [
        {"parameter": k, "paper": text(v.get("paper")), "here": text(v.get("here")), "why": v.get("why", "")}
        for k, v in (spec.get("deviations") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["parameter", "paper", "here", "why"])


# --------------------------------------------------------------------------- verdicts


def _curves(df: pd.DataFrame, estimator: str, split: str, quantity: str = "I(X;Z)"):
    """(epochs, values[seed, epoch], errors[seed, epoch]) of one estimator, one row per run."""
    sel = df[(df.estimator == estimator) & (df.split == split) & (df.quantity == quantity)]
    if sel.empty:
        return None
    err = analysis.error_column(sel)
    epochs = np.sort(sel.epoch.unique())
    runs = list(dict.fromkeys(sel.run))
    vals = np.full((len(runs), len(epochs)), np.nan)
    errs = np.full_like(vals, np.nan)
    pos = {e: i for i, e in enumerate(epochs)}
    for r, g in sel.groupby("run", sort=False):
        i = runs.index(r)
        for e, v, s in zip(g.epoch, g.value, g[err] if err else [np.nan] * len(g)):
            vals[i, pos[e]] = v
            errs[i, pos[e]] = s if s is not None else np.nan
    return epochs, vals, errs


def compression_verdicts(
    df: pd.DataFrame,
    estimators: Sequence[str],
    *,
    by: Sequence[str] = ("variance",),
    splits: Sequence[str] = ("train", "test"),
    from_epoch: int = 2,
    **rule: Any,
) -> pd.DataFrame:
    """The compression verdict per setting (``by``), split and estimator, over the stored seeds.

    Uses :func:`ipdrop.analysis.compression` (its floor, relative and Monte-Carlo terms and the seed spread)
    and adds the N-drift: when ``<estimator>@<n>`` rows exist, the drop is recomputed on them and
    ``|drop(N) - drop(n)|`` joins the threshold. Columns: the ``by`` keys, ``split``, ``estimator``,
    ``seeds``, ``peak``, ``epoch_peak``, ``final``, ``drop``, ``mc_error``, ``seed_spread``, ``n_drift``,
    ``threshold``, ``verdict`` ("compresses" / "no compression" / "rises").
    """
    rows: list[dict[str, Any]] = []
    if df.empty:
        return pd.DataFrame(rows)
    for key, g in df.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for split in splits:
            for est in estimators:
                c = _curves(g, est, split)
                if c is None:
                    continue
                res = analysis.compression(*c, from_epoch=from_epoch, **rule)
                if res is None:
                    continue
                drift = 0.0
                subs = sorted({e for e in g.estimator.unique() if e.startswith(est + "@")})
                for sub in subs:
                    cs = _curves(g, sub, split)
                    rs = analysis.compression(*cs, from_epoch=from_epoch, **rule) if cs else None
                    if rs is not None:
                        drift = max(drift, abs(res.drop - rs.drop))
                thr = max(res.threshold, drift)
                if res.drop > thr:
                    verdict = "compresses"
                elif res.final - res.peak > -thr and _rises(c, from_epoch, thr):
                    verdict = "rises"
                else:
                    verdict = "no compression"
                rows.append(
                    {
                        **dict(zip(by, key)),
                        "split": split,
                        "estimator": est,
                        "seeds": res.n_seeds,
                        "peak": res.peak,
                        "epoch_peak": res.epoch_peak,
                        "final": res.final,
                        "drop": res.drop,
                        "mc_error": res.mc_error,
                        "seed_spread": res.spread,
                        "n_drift": drift if subs else math.nan,
                        "threshold": thr,
                        "verdict": verdict,
                    }
                )
    return pd.DataFrame(rows)


def _rises(curves, from_epoch: int, thr: float) -> bool:
    """Whether the (seed-mean) curve ends above its value at ``from_epoch`` by more than ``thr``."""
    epochs, vals, _ = curves
    mean = np.nanmean(vals, axis=0)
    ok = np.isfinite(mean) & (epochs >= from_epoch)
    if ok.sum() < 2:
        return False
    m = mean[ok]
    return bool(m[-1] - m[0] > thr)


def verdict_table(verdicts: pd.DataFrame, *, by: Sequence[str] = ("variance",), decimals: int = 2) -> pd.DataFrame:
    """The verdicts of :func:`compression_verdicts` as one row per setting and estimator, train and test side by
    side: ``seeds``, then per split the ``drop``, the ``threshold`` it must exceed and the ``verdict``
    (nats, rounded to ``decimals``); the estimator is named as on the figures' axes
    (:func:`ipdrop.plotting.short_label`)."""
    if verdicts.empty:
        return pd.DataFrame(columns=[*by, "estimator", "seeds"])
    keys = [*by, "estimator"]
    out = None
    for split, g in verdicts.groupby("split", sort=False):
        part = g[[*keys, "seeds", "drop", "threshold", "verdict"]].copy()
        part["drop"] = part["drop"].round(decimals)
        part["threshold"] = part["threshold"].round(decimals)
        part = part.rename(columns={c: f"{split}: {c}" for c in ("drop", "threshold", "verdict")})
        if out is None:
            out = part
        else:
            out = out.merge(part.drop(columns="seeds"), on=keys, how="outer", sort=False)
    assert out is not None
    order = {e: i for i, e in enumerate(dict.fromkeys(verdicts["estimator"]))}
    out = out.sort_values([*by, "estimator"], key=lambda c: c.map(order) if c.name == "estimator" else c)
    from ..plotting import short_label

    out["estimator"] = out["estimator"].map(short_label)
    return out.reset_index(drop=True)


def verdict_counts(verdicts: pd.DataFrame, estimators: Sequence[str] | None = None) -> dict[str, int]:
    """``{"compresses": k, "no compression": m, "rises": r, "total": n}`` over the rows of
    :func:`compression_verdicts` (optionally only ``estimators``), for numbers in the prose."""
    v = verdicts if estimators is None or verdicts.empty else verdicts[verdicts["estimator"].isin(list(estimators))]
    counts = {k: 0 for k in ("compresses", "no compression", "rises")}
    if not v.empty:
        for k, n in v["verdict"].value_counts().items():
            counts[str(k)] = int(n)
    counts["total"] = int(len(v))
    return counts


def experiment_facts(experiment: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The settings of an experiment's params file that the chapters state, for ``glue``: epochs, the optimiser's
    settings (``lr``, ``momentum``, ``weight_decay``, ``batch_size``, ``schedule``, ``augment``), IP subset sizes,
    how often representations are kept and estimated, noise draws, bin counts, the N-drift size, runs planned and
    stored."""
    spec = runstore.read_params_file(params_root() / f"{experiment}.yaml")
    base = spec.get("base") or {}
    est = spec.get("estimate") or {}

    def every(v):
        if isinstance(v, str) and v.startswith("every:"):
            return int(v.split(":", 1)[1])
        return None if v in (None, "all") else v

    return {
        "experiment": experiment,
        "epochs": base.get("epochs"),
        **{k: base.get(k) for k in ("lr", "momentum", "weight_decay", "batch_size", "schedule", "augment")},
        "ip_n_train": base.get("ip_n_train"),
        "ip_n_test": base.get("ip_n_test"),
        "reps_every": every(base.get("ip_epochs")) or 1,
        "estimate_every": every(est.get("epochs")) or every(base.get("ip_epochs")) or 1,
        "n_noise": est.get("n_noise"),
        "n_bins": list(est.get("n_bins") or []),
        "drift_sizes": list(est.get("sizes") or []),
        "planned": len(spec["configs"]),
        "stored": len(stored_runs(experiment, root)),
        "command": f"ipdrop reproduce params/paper_runs/{experiment}.yaml --out results/{experiment}",
    }


def paper_pairs(
    dropout: str = "gaussian",
    *,
    y_estimator: str | None = None,
    binning: str | None = "binning-ref-3",
    binned_labels: bool = False,
):
    """The (x, y) estimator pairs of the paper's figure for a dropout kind: for Gaussian dropout the three views of
    the dropout estimator (:data:`GAUSSIAN_VIEWS`) against ``y_estimator`` (default EDGE, the paper's choice), for
    information dropout the KL term against ``y_estimator`` (default the variational bound); then ``binning`` on
    both axes (the paper's code: 3 edges on the noisy Z for MNIST, 10 for CIFAR-10; ``None``: no binning panel).
    ``binned_labels``: the binning panel's y is I(Y_binned;Z), the labels binned with the same edges, as the paper's
    code computes it (a third element of the pair, see :func:`ipdrop.plotting.plot_paper_planes`)."""
    if dropout == "gaussian":
        y = y_estimator or "edge"
        pairs: list[tuple[str, ...]] = [(x, y) for x in GAUSSIAN_VIEWS]
    elif dropout == "information":
        pairs = [("kl", y_estimator or "variational")]
    else:
        raise ValueError(f"paper_pairs(): dropout must be 'gaussian' or 'information'; got {dropout!r}")
    if binning:
        pairs.append((binning, binning, "I(Y_binned;Z)") if binned_labels else (binning, binning))
    return pairs


def planned_widths(experiment: str = "fullcnn_beta") -> dict[str, float]:
    """Run name -> network width of the runs planned in the experiment's params file (empty when the file is
    missing or names no width)."""
    path = params_root() / f"{experiment}.yaml"
    if not path.is_file():
        return {}
    spec = runstore.read_params_file(path)
    return {name: float(cfg["width"]) for name, cfg in spec["configs"].items() if cfg.get("width") is not None}


def with_size(df: pd.DataFrame, experiment: str = "fullcnn_beta") -> pd.DataFrame:
    """``df`` with a ``size`` column from ``width``: "full" for the largest width planned in the experiment's
    params file, "small" for the others (the beta study's two networks). The widths come from the params file, so
    a store holding only the small runs does not call them "full"; without a params file, the table's largest
    width is "full"."""
    if "width" not in df.columns:
        raise ValueError("with_size(): the table has no width column")
    out = df.copy()
    w = pd.to_numeric(out["width"], errors="coerce")
    planned = planned_widths(experiment)
    full = max(planned.values()) if planned else w.max()
    out["size"] = np.where(np.isclose(w, full), "full", "small") if len(w) else []
    return out


def run_labels(df: pd.DataFrame, keys: Sequence[str] = ("variance", "seed")) -> dict[str, str]:
    """Legend labels of the runs of a table: ``{run: "Var(D) = 0.2, seed 0"}`` from the ``keys`` columns."""
    names = {
        "variance": "Var(D) = {:g}",
        "seed": "seed {}",
        "beta": "β = {:g}",
        "width": "width ×{:g}",
        "dropout": "{} dropout",
        "model": "{}",
    }
    out: dict[str, str] = {}
    if df.empty:
        return out
    first = df.drop_duplicates("run")
    for _, r in first.iterrows():
        parts = [
            names.get(k, k + " {}").format(r[k])
            for k in keys
            if k in r and r[k] is not None and not (isinstance(r[k], float) and math.isnan(r[k]))
        ]
        out[r["run"]] = ", ".join(parts) or str(r["run"])
    return out


def missing_message(experiment: str, runs: Sequence[str] | None = None) -> str:
    """What a figure would show and how to make it: the runs missing from the store and the command."""
    what = f"runs {', '.join(runs)} of " if runs else ""
    return (
        f"Not in the results store yet: {what}{experiment}.\n"
        f"Make them with: ipdrop reproduce params/paper_runs/{experiment}.yaml --out results/{experiment}"
    )


def figure(df: pd.DataFrame, draw, *args, experiment: str, runs: Sequence[str] | None = None, **kwargs):
    """``draw(df, *args, **kwargs)`` (a figure function of :mod:`ipdrop.plotting`), or, when ``df`` holds no
    stored run, a placeholder figure that names the missing runs and the command that makes them."""
    from .. import plotting

    if df.empty:
        return plotting.placeholder_figure(missing_message(experiment, runs))
    return draw(df, *args, **kwargs)


class MissingRuns(str):
    """A sentence in place of a table whose runs are not in the store: shown as Markdown by Jupyter and the
    book (``_repr_markdown_``), as itself in plain text."""

    def _repr_markdown_(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return str(self)


def store_table(df: pd.DataFrame, caption: str, *, experiment: str, runs: Sequence[str] | None = None, **kwargs):
    """``plotting.table(df, caption, **kwargs)`` of a table read from the store, or, when ``df`` has no row (no run
    of ``experiment`` stored yet), a :class:`MissingRuns` sentence that names the table, the missing runs and the
    command that makes them (the placeholder of :func:`figure` for tables)."""
    from .. import plotting

    if df.empty:
        what = f"runs {', '.join(runs)} of " if runs else ""
        return MissingRuns(
            f"*{caption}*: not in the results store yet ({what}`{experiment}`). Make it with "
            f"`ipdrop reproduce params/paper_runs/{experiment}.yaml --out results/{experiment}`."
        )
    return plotting.table(df, caption, **kwargs)
