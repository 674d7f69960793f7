"""Small drivers for the information-plane chapters (paper Sec. 5, App. A.8, Figs. 1, 5-7, 11-15).

A :class:`Study` is a named, ordered set of training configurations (:class:`~ipdrop.training.TrainConfig`)
with a few extra columns per run (e.g. the paper's beta). :meth:`Study.run` trains them one after the other
with :func:`ipdrop.training.train` and returns one tidy table: the columns of ``results.csv``
(``epoch, split, estimator, quantity, value, mc_error, n, d``) preceded by ``run`` and the study's extra columns.

The chapter builders return the studies of the book:

* :func:`mnist_study` - LeNet with Gaussian and with information dropout, the FC network 784-512-128-32-10
  with Gaussian dropout of several variances (Figs. 1, 5, 11, 12, 14, 15);
* :func:`cifar10_study` - ResNet18 with the 128-unit bottleneck and Gaussian dropout (Figs. 6, 13);
* :func:`beta_study` - the fullCNN with information dropout for several beta and widths (Fig. 7).

Summaries (:func:`ip_summary`, :func:`accuracy_summary`, :func:`compression_table`) turn a table into the
numbers a chapter reports: maximum, final value and drop of I(X;Z) per estimator, with a yes/no verdict
computed from explicit thresholds. Figure helpers draw information planes per run (:func:`plot_study_planes`),
the binning sweep of Fig. 14 (:func:`plot_binning_sweep`), the beta comparison of Fig. 7
(:func:`plot_beta_planes`) and accuracy curves (:func:`plot_accuracy`).

**The beta convention.** The paper trained information dropout with the code of Achille & Soatto (2018),
whose loss is ``CE + beta * KL / N_train`` (KL summed over units and averaged over the batch, divided by the
size of the full training set, "to make beta comparable to variational dropout"). :class:`TrainConfig`
uses that convention (``beta`` and ``kl_dataset_size``), so ``ipdrop train --beta 3`` is the paper's beta = 3;
the builders pass ``kl_dataset_size`` explicitly because the quick profile trains on subsets.
"""
from __future__ import annotations

import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ._base import check_int, check_positive
from .training import TrainConfig, train

__all__ = [
    "Study", "run_study", "mnist_study", "cifar10_study", "beta_study", "GAUSSIAN_ESTIMATORS",
    "INFORMATION_ESTIMATORS", "ip_summary", "accuracy_summary", "compression_table", "final_values",
    "plot_study_planes", "plot_binning_sweep", "plot_beta_planes", "plot_accuracy", "binning_pairs",
    "failed_estimates", "chapter_pairs", "plot_run_planes", "beta_summary", "beta_checks",
]

#: estimators tracked for Gaussian dropout: both views of the mixture estimator as separate entries (so that a
#: held-out failure - e.g. a softplus unit that underflowed to an exact 0 - does not also drop the dataset view),
#: binning, and three I(Y;Z) estimators (EDGE as in the paper, k-NN and H(Y) - CE as cross-checks)
GAUSSIAN_ESTIMATORS = ("mixture-dataset", "mixture-heldout", "binning", "edge", "knn", "variational")
#: estimators tracked for information dropout: the closed-form KL bound on I(X;Z), binning, and I(Y;Z) by the
#: variational bound (as in the paper) with EDGE / k-NN as cross-checks
INFORMATION_ESTIMATORS = ("kl", "binning", "edge", "knn", "variational")
_XQ, _YQ = "I(X;Z)", "I(Y;Z)"


# --------------------------------------------------------------------------- the study

@dataclass(frozen=True)
class Study:
    """Named training configurations run one after the other.

    Parameters
    ----------
    name : str
        Label of the study (used in titles).
    configs : mapping ``run label -> TrainConfig``
        In the order they run and are plotted.
    meta : mapping ``run label -> dict``, optional
        Extra per-run columns added to the results (e.g. ``{"beta": 20.0, "size": "small"}``).
    """

    name: str
    configs: Mapping[str, TrainConfig]
    meta: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.configs, Mapping) or not self.configs:
            raise ValueError("configs must be a non-empty mapping of run label -> TrainConfig")
        configs = {}
        for label, cfg in self.configs.items():
            if not isinstance(label, str) or not label:
                raise ValueError(f"run labels must be non-empty strings; got {label!r}")
            configs[label] = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)
        unknown = sorted(set(self.meta) - set(configs))
        if unknown:
            raise ValueError(f"meta names run(s) {unknown} that are not in configs {list(configs)}")
        object.__setattr__(self, "configs", configs)
        object.__setattr__(self, "meta", {k: dict(v) for k, v in self.meta.items()})

    @property
    def runs(self) -> list[str]:
        """Run labels in order."""
        return list(self.configs)

    def meta_columns(self) -> list[str]:
        """Names of the extra columns, in first-seen order."""
        return list(dict.fromkeys(k for m in self.meta.values() for k in m))

    def settings(self, fields: Sequence[str] = ("model", "width", "dropout", "variance", "beta", "max_alpha", "epochs",
                                                 "n_train", "batch_size", "lr", "ip_n_train", "ip_n_test")):
        """One row per run: the chosen :class:`TrainConfig` fields, then the extra columns.

        Fields that do not apply to a run are left empty: ``variance`` for information dropout, ``beta`` and
        ``max_alpha`` for Gaussian / Bernoulli dropout.
        """
        import pandas as pd

        rows = []
        for label, cfg in self.configs.items():
            row = {"run": label}
            d = cfg.to_dict()
            meta = self.meta.get(label, {})
            info = cfg.dropout == "information"
            for f in fields:
                v = d[f]
                if (f == "variance" and info) or (f in ("beta", "max_alpha") and not info):
                    v = None
                row[f] = v
            row.update({k: v for k, v in meta.items() if k not in row or row[k] is None})
            rows.append(row)
        return pd.DataFrame(rows).set_index("run")

    def run(self, out_root: str | Path | None = None, *, progress: bool = False, resume: bool = True,
            capture_warnings: bool = False):
        """Train every configuration; see :func:`run_study`."""
        return run_study(self, out_root, progress=progress, resume=resume, capture_warnings=capture_warnings)


def run_study(study: Study, out_root: str | Path | None = None, *, progress: bool = False, resume: bool = True,
              capture_warnings: bool = False):
    """Train the runs of ``study`` one after the other and return one tidy table.

    Parameters
    ----------
    study : Study
    out_root : path, optional
        Each run goes into ``out_root/<run label>`` (a finished run there is reused when ``resume``).
        ``None``: a fresh temporary folder, deleted afterwards (every call really trains).
    progress : bool
        tqdm bars of the trainer.
    resume : bool
        Passed to :func:`ipdrop.training.train`.
    capture_warnings : bool
        Record the ``RuntimeWarning`` s of the runs (e.g. an estimator that failed at one epoch and left no
        rows) in ``df.attrs["warnings"]`` as ``(run, message)`` pairs instead of showing them; see
        :func:`failed_estimates`.

    Returns
    -------
    pandas.DataFrame
        ``run``, the study's extra columns, then the columns of ``results.csv``. ``df.attrs["wall_time_s"]``
        maps each run to the seconds its ``train`` call took.
    """
    import warnings

    import pandas as pd

    if not isinstance(study, Study):
        raise ValueError(f"study must be a Study; got {type(study).__name__}")
    tmp = None
    if out_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="ipdrop-study-")
        root = Path(tmp.name)
    else:
        root = Path(out_root)
    frames, times, caught = [], {}, []
    extra = study.meta_columns()
    try:
        for label, cfg in study.configs.items():
            t0 = time.perf_counter()
            if capture_warnings:
                with warnings.catch_warnings(record=True) as rec:
                    warnings.simplefilter("always", RuntimeWarning)
                    df = train(cfg, root / _safe_dirname(label), progress=progress, resume=resume)
                for w in rec:
                    if issubclass(w.category, RuntimeWarning):
                        caught.append((label, str(w.message)))
                    else:  # pragma: no cover - shown as usual
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            else:
                df = train(cfg, root / _safe_dirname(label), progress=progress, resume=resume)
            times[label] = time.perf_counter() - t0
            df = df.copy()
            meta = study.meta.get(label, {})
            for i, col in enumerate(extra):
                df.insert(i, col, meta.get(col))
            df.insert(0, "run", label)
            frames.append(df)
    finally:
        if tmp is not None:
            tmp.cleanup()
    out = pd.concat(frames, ignore_index=True)
    out["run"] = pd.Categorical(out["run"], categories=study.runs, ordered=True)
    out.attrs["wall_time_s"] = times
    out.attrs["warnings"] = caught
    return out


_FAIL_RE = re.compile(r"estimator '([^']+)' failed at epoch (\d+), split '([^']+)': (.*)", re.S)


def failed_estimates(df):
    """Estimates that failed and left no rows, from ``df.attrs["warnings"]`` (``capture_warnings=True``).

    Returns a DataFrame with columns ``run, estimator, split, epoch, reason`` (first 120 characters of the
    message), empty when nothing failed.
    """
    import pandas as pd

    rows = []
    for run, msg in df.attrs.get("warnings", []):
        m = _FAIL_RE.match(msg)
        if m:
            rows.append({"run": run, "estimator": m.group(1), "split": m.group(3), "epoch": int(m.group(2)),
                         "reason": m.group(4)[:120]})
    return pd.DataFrame(rows, columns=["run", "estimator", "split", "epoch", "reason"])


def chapter_pairs(df, n_bins: int = 30) -> dict[str, list[tuple[str, str]]]:
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


def _safe_dirname(label: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
    return keep.strip("_") or "run"


# --------------------------------------------------------------------------- chapter builders

def _common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins, eval_batch_size):
    return dict(seed=seed, device=device, num_threads=num_threads, epochs=epochs, ip_epochs=ip_epochs,
                subset=subset, mc_samples=mc_samples, n_noise=n_noise, n_bins=tuple(n_bins),
                eval_batch_size=eval_batch_size)




def mnist_study(*, lenet_variance: float = 0.2, fc_variances: Sequence[float] = (0.2, 0.4), info_beta: float = 3.0,
                info_max_alpha: float = 0.7, kl_dataset_size: int = 60000, epochs: int = 5,
                n_train: int | None = None, subset: str = "embedded", batch_size: int = 32, lr_lenet: float = 0.05,
                lr_fc: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0, schedule: str = "cosine",
                ip_epochs: Any = "all", ip_n_train: int = 1000, ip_n_test: int = 1000,
                n_bins: Sequence[int] = (10, 30, 100), n_noise: int = 10, mc_samples: int = 1,
                include: Sequence[str] = ("lenet-gaussian", "lenet-information", "fc"), seed: int = 0,
                device: str = "auto", num_threads: int | None = None, eval_batch_size: int = 1000) -> Study:
    """The MNIST study (paper Figs. 1, 5, 11, 12, 14, 15).

    Runs (labels): ``"LeNet, Gaussian s2=<v>"`` (dropout on the 84-unit layer, variance ``lenet_variance``),
    ``"LeNet, information"`` (information dropout, ``max_alpha``, beta in the paper's convention, see the
    module docstring), and ``"FC, Gaussian s2=<v>"`` for each of ``fc_variances`` (784-512-128-32-10 softplus,
    dropout on the 32-unit layer). ``include`` picks among ``"lenet-gaussian"``, ``"lenet-information"`` and
    ``"fc"``. All other parameters are :class:`~ipdrop.training.TrainConfig` fields shared by every run
    (``lr_lenet`` / ``lr_fc`` per network).
    """
    include = tuple(include)
    bad = sorted(set(include) - {"lenet-gaussian", "lenet-information", "fc"})
    if bad or not include:
        raise ValueError(f"include takes 'lenet-gaussian', 'lenet-information', 'fc'; got {list(include)}")
    base = dict(dataset="mnist", batch_size=batch_size, momentum=momentum, weight_decay=weight_decay,
                schedule=schedule, n_train=n_train, ip_n_train=ip_n_train, ip_n_test=ip_n_test,
                **_common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins,
                          eval_batch_size))
    configs, meta = {}, {}
    if "lenet-gaussian" in include:
        label = f"LeNet, Gaussian s2={lenet_variance:g}"
        configs[label] = TrainConfig(model="lenet", dropout="gaussian", variance=lenet_variance, lr=lr_lenet,
                                     estimators=GAUSSIAN_ESTIMATORS, **base)
        meta[label] = {"network": "LeNet", "dropout_kind": "gaussian", "variance": float(lenet_variance)}
    if "lenet-information" in include:
        label = "LeNet, information"
        configs[label] = TrainConfig(model="lenet", dropout="information", max_alpha=info_max_alpha,
                                     beta=info_beta, kl_dataset_size=kl_dataset_size, lr=lr_lenet,
                                     estimators=INFORMATION_ESTIMATORS, **base)
        meta[label] = {"network": "LeNet", "dropout_kind": "information", "beta": float(info_beta)}
    if "fc" in include:
        for v in fc_variances:
            label = f"FC, Gaussian s2={v:g}"
            configs[label] = TrainConfig(model="fc", dropout="gaussian", variance=v, lr=lr_fc,
                                         estimators=GAUSSIAN_ESTIMATORS, **base)
            meta[label] = {"network": "FC", "dropout_kind": "gaussian", "variance": float(v)}
    return Study("MNIST", configs, meta)


def cifar10_study(*, variance: float = 0.4, width: float = 1.0, epochs: int = 5, n_train: int | None = None,
                  subset: str = "embedded", batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9,
                  weight_decay: float = 5e-4, schedule: str = "cosine", augment: bool | None = None,
                  ip_epochs: Any = "all", ip_n_train: int = 1000, ip_n_test: int = 1000,
                  n_bins: Sequence[int] = (10, 30, 100), n_noise: int = 10, mc_samples: int = 1, seed: int = 0,
                  device: str = "auto", num_threads: int | None = None, eval_batch_size: int = 1000) -> Study:
    """The CIFAR-10 study (paper Figs. 6, 13): ResNet18 (stage widths times ``width``) with the 128-unit
    softplus bottleneck and Gaussian dropout of variance ``variance`` on it. One run,
    ``"ResNet18 x<width>, Gaussian s2=<v>"``."""
    label = f"ResNet18 x{width:g}, Gaussian s2={variance:g}"
    cfg = TrainConfig(model="resnet18", dataset="cifar10", dropout="gaussian", variance=variance, width=width,
                      batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      schedule=schedule, augment=augment, n_train=n_train, ip_n_train=ip_n_train,
                      ip_n_test=ip_n_test, estimators=GAUSSIAN_ESTIMATORS,
                      **_common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins,
                                eval_batch_size))
    return Study("CIFAR-10", {label: cfg},
                 {label: {"network": "ResNet18", "width": float(width), "variance": float(variance)}})


def beta_study(*, betas: Sequence[float] = (0.1, 1.0, 20.0), widths: Mapping[str, float] | Sequence[float] = (1.0, 0.25),
               max_alpha: float = 0.95, kl_dataset_size: int = 50000, epochs: int = 200,
               n_train: int | None = None, subset: str = "embedded", batch_size: int = 100, lr: float = 0.05,
               momentum: float = 0.9, weight_decay: float = 0.0, schedule: str = "step",
               milestones: Sequence[int] = (40, 80, 120), gamma: float = 0.1, augment: bool | None = None,
               ip_epochs: Any = "all", ip_n_train: int = 1000, ip_n_test: int = 1000,
               estimators: Sequence[str] = ("kl", "variational"), n_bins: Sequence[int] = (30,),
               mc_samples: int = 1, seed: int = 0, device: str = "auto", num_threads: int | None = None,
               eval_batch_size: int = 500) -> Study:
    """The beta study (paper Fig. 7): fullCNN with information dropout after the third convolution.

    One run per (width, beta), labelled ``"<size> (x<width>), beta=<b>"``. ``widths`` is a sequence of
    filter fractions (sizes named "full" for the largest and "small" for the others) or a mapping
    ``name -> fraction``. ``betas`` are in the paper's convention (loss ``CE + beta KL / kl_dataset_size``;
    see the module docstring). Paper: SGD with momentum, batch 100, lr 0.05 times 0.1 after epochs 40, 80
    and 120, 200 epochs, max alpha 0.95, widths 1.0 and 0.25. Extra columns: ``beta`` (paper convention),
    ``width``, ``size``. The default estimators are the paper's: ``kl`` for I(X;Z) and ``variational``
    for I(Y;Z) (binning, EDGE and k-NN are slow on the 16x16xC feature map).
    """
    if isinstance(widths, Mapping):
        named = {str(k): float(v) for k, v in widths.items()}
    else:
        ws = [float(w) for w in widths]
        if not ws:
            raise ValueError("widths must not be empty")
        top = max(ws)
        named = {}
        for w in ws:
            name = "full" if w == top else "small"
            if name in named:
                name = f"{name} {w:g}"
            named[name] = w
    betas = [float(b) for b in betas]
    if not betas:
        raise ValueError("betas must not be empty")
    common = _common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, 1, n_bins, eval_batch_size)
    common.pop("n_noise")
    configs, meta = {}, {}
    for size, w in named.items():
        for b in betas:
            label = f"{size} (x{w:g}), beta={b:g}"
            configs[label] = TrainConfig(model="fullcnn", dataset="cifar10", dropout="information",
                                         max_alpha=max_alpha, beta=b, kl_dataset_size=kl_dataset_size, width=w,
                                         batch_size=batch_size, lr=lr, momentum=momentum,
                                         weight_decay=weight_decay, schedule=schedule,
                                         milestones=tuple(milestones), gamma=gamma, augment=augment,
                                         n_train=n_train, ip_n_train=ip_n_train, ip_n_test=ip_n_test,
                                         estimators=tuple(estimators), **common)
            meta[label] = {"size": size, "width": w, "beta": b}
    return Study("beta", configs, meta)


# --------------------------------------------------------------------------- summaries

def _check_table(df, cols=("epoch", "split", "estimator", "quantity", "value")):
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a results DataFrame; got {type(df).__name__}")
    missing = sorted(set(cols) - set(df.columns))
    if missing:
        raise ValueError(f"results table lacks the column(s) {missing}")


def _run_keys(df) -> list[str]:
    return ["run"] if "run" in df.columns else []


def ip_summary(df, quantity: str = _XQ, *, estimators: Sequence[str] | None = None, splits: Sequence[str] | None = None,
               from_epoch: int = 1, min_drop: float = 0.1, rel_drop: float = 0.02, se_factor: float = 2.0):
    """Maximum, final value and drop of an MI quantity per run, split and estimator, with a verdict.

    Parameters
    ----------
    df : DataFrame
        Tidy results (from :func:`run_study` or :func:`~ipdrop.training.train`).
    quantity : str
        ``"I(X;Z)"`` (default) or ``"I(Y;Z)"``.
    estimators, splits : optional filters.
    from_epoch : int
        The maximum is taken over epochs ``>= from_epoch`` (default 1: after the first training epoch, so
        that the value of the random network at epoch 0 does not count as a "fitting phase"). ``init`` reports
        the value at the first tracked epoch separately.
    min_drop, rel_drop, se_factor : float
        ``compressed`` is ``drop > max(min_drop, rel_drop * |max|, se_factor * sqrt(se_max^2 + se_final^2))``
        (nats; se = the ``mc_error`` column, the Monte-Carlo error, only where the estimator reports one).

    Returns
    -------
    DataFrame
        ``run`` (when present), ``split``, ``estimator``, ``n_epochs`` (epochs with an estimate), ``init``,
        ``max``, ``epoch_max``, ``final``, ``epoch_final``, ``drop`` (= max - final, >= 0), ``threshold``,
        ``compressed`` (bool). Rows sorted as the input's runs, then split, then estimator.
    """
    import pandas as pd

    _check_table(df)
    from_epoch = check_int(from_epoch, "from_epoch", minimum=0)
    sub = df[df["quantity"] == quantity]
    if estimators is not None:
        sub = sub[sub["estimator"].isin(list(estimators))]
    if splits is not None:
        sub = sub[sub["split"].isin(list(splits))]
    keys = _run_keys(df) + ["split", "estimator"]
    rows = []
    for key, g in sub.groupby(keys, sort=True, observed=True):
        g = g[np.isfinite(g["value"].astype(float))].sort_values("epoch", kind="stable")
        if g.empty:
            continue
        later = g[g["epoch"] >= from_epoch]
        if later.empty:
            continue
        i = int(np.argmax(later["value"].to_numpy(float)))
        vmax, emax = float(later["value"].iloc[i]), int(later["epoch"].iloc[i])
        vfin, efin = float(g["value"].iloc[-1]), int(g["epoch"].iloc[-1])
        # the Monte-Carlo error (never the spread over inputs, which is not an error of the estimate's noise)
        se = later["mc_error"].astype(float).to_numpy() if "mc_error" in later else np.full(len(later), np.nan)
        se_max, se_fin = se[i], se[-1]
        se_term = se_factor * math.hypot(se_max, se_fin) if np.isfinite(se_max) and np.isfinite(se_fin) else 0.0
        thr = max(min_drop, rel_drop * abs(vmax), se_term)
        drop = vmax - vfin
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), "n_epochs": int(len(g)),
                     "init": float(g["value"].iloc[0]), "max": vmax, "epoch_max": emax, "final": vfin,
                     "epoch_final": efin, "drop": drop, "threshold": thr, "compressed": bool(drop > thr)})
    cols = keys + ["n_epochs", "init", "max", "epoch_max", "final", "epoch_final", "drop", "threshold", "compressed"]
    return pd.DataFrame(rows, columns=cols)


def accuracy_summary(df, *, percent: bool = True):
    """Final accuracies per run (in %, or fractions with ``percent=False``).

    Columns: ``run`` (when present), ``epochs``, ``test`` (whole test set, dropout off), ``test_mc``
    (Monte-Carlo dropout, when tracked), ``train`` (the fixed IP training subset, dropout off),
    ``train_optim`` (running mean over the last epoch's mini-batches, dropout active) and ``best_test``.
    """
    import pandas as pd

    _check_table(df)
    acc = df[df["quantity"] == "accuracy"]
    keys = _run_keys(df)
    groups = acc.groupby(keys, sort=True, observed=True) if keys else [((), acc)]
    scale = 100.0 if percent else 1.0
    rows = []
    for key, g in groups:
        last = int(g["epoch"].max())

        def pick(split, est, epoch=last):
            s = g[(g["split"] == split) & (g["estimator"] == est) & (g["epoch"] == epoch)]["value"]
            return float(s.iloc[0]) * scale if len(s) else np.nan

        test_curve = g[(g["split"] == "test") & (g["estimator"] == "eval")]["value"]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,))) if keys else {}
        row.update({"epochs": last, "test": pick("test", "eval"), "test_mc": pick("test", "eval-mc"),
                    "train": pick("train", "eval"), "train_optim": pick("train", "optim"),
                    "best_test": float(test_curve.max()) * scale if len(test_curve) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def final_values(df, quantity: str = _YQ, *, split: str = "train"):
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


def compression_table(df, *, estimators: Sequence[str] | None = None, splits: Sequence[str] = ("train", "test"),
                      decimals: int = 2, **kwargs):
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
    cols = keys + ["split", "estimator", "test acc %", "init", "max", "epoch_max", "final", "drop", "threshold",
                   "compressed"]
    return out[cols].set_index(keys + ["split", "estimator"])


def beta_summary(df, *, x_estimator: str = "kl", split: str = "train", **kwargs):
    """Fig. 7 in numbers: one row per run of :func:`beta_study` with ``size``, ``beta``, the final test /
    train accuracy (%), and for I(X;Z) (``x_estimator`` on ``split``) the value after the first epoch
    (``first``), the maximum (epochs >= 1), the final value, the drop, ``compressed`` (see :func:`ip_summary`,
    ``kwargs`` go there) and ``trend`` over training: ``"rises"`` / ``"falls"`` when the final value is above /
    below the epoch-1 value by more than the compression threshold, else ``"flat"``."""
    import pandas as pd

    _check_table(df, ("run", "size", "beta", "epoch", "split", "estimator", "quantity", "value"))
    s = ip_summary(df, estimators=[x_estimator], splits=[split], **kwargs)
    a = accuracy_summary(df)
    meta = df[["run", "size", "beta"]].drop_duplicates("run")
    sub = df[(df["estimator"] == x_estimator) & (df["quantity"] == _XQ) & (df["split"] == split)]
    first = sub[sub["epoch"] >= 1].sort_values("epoch").groupby("run", observed=True)["value"].first()
    rows = []
    for _, r in s.iterrows():
        f = float(first.get(r["run"], np.nan))
        diff = r["final"] - f
        trend = "rises" if diff > r["threshold"] else "falls" if -diff > r["threshold"] else "flat"
        m = meta[meta["run"] == r["run"]].iloc[0]
        acc = a[a["run"] == r["run"]].iloc[0]
        rows.append({"run": r["run"], "size": m["size"], "beta": float(m["beta"]), "test acc %": acc["test"],
                     "train acc %": acc["train"], "first": f, "max": r["max"], "final": r["final"], "drop": r["drop"],
                     "compressed": bool(r["compressed"]), "trend": trend})
    return pd.DataFrame(rows)


def beta_checks(summary):
    """The paper's Fig. 7 statements, computed from :func:`beta_summary` per network size.

    Returns a DataFrame indexed by ``size`` with ``xz_decreases_with_beta`` (final I(X;Z) strictly decreasing
    in beta), ``test_cost`` and ``train_cost`` (accuracy of the smallest beta minus that of the largest,
    percentage points; paper: about 5 and 10 for beta = 20), ``compressed_small_beta`` /
    ``compressed_large_beta`` (the verdict for the smallest / largest beta) and ``trend_small_beta``.
    """
    import pandas as pd

    rows = []
    for size, g in summary.groupby("size", sort=False):
        g = g.sort_values("beta")
        finals = g["final"].to_numpy(float)
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append({"size": size, "betas": ", ".join(f"{b:g}" for b in g["beta"]),
                     "xz_decreases_with_beta": bool(len(finals) > 1 and np.all(np.diff(finals) < 0)),
                     "test_cost": float(lo["test acc %"] - hi["test acc %"]),
                     "train_cost": float(lo["train acc %"] - hi["train acc %"]),
                     "compressed_small_beta": bool(lo["compressed"]), "compressed_large_beta": bool(hi["compressed"]),
                     "trend_small_beta": lo["trend"]})
    return pd.DataFrame(rows).set_index("size")


# --------------------------------------------------------------------------- figures

def binning_pairs(df) -> list[tuple[str, str]]:
    """``(binning-n, binning-n)`` pairs present in the table, by increasing bin count."""
    _check_table(df)
    names = {e for e in df["estimator"].unique() if isinstance(e, str) and e.startswith("binning-")}
    return [(e, e) for e in sorted(names, key=lambda e: int(e.split("-", 1)[1]))]


def _sub(df, run):
    return df[df["run"] == run] if "run" in df.columns and run is not None else df


def plot_study_planes(df, pairs: Sequence[tuple[str, str]], *, runs: Sequence[str] | None = None,
                      split: str = "train", panel_size: tuple[float, float] = (3.9, 3.1), suptitle: str | None = None):
    """Grid of information planes: one row per run, one column per ``(x_estimator, y_estimator)`` pair.

    Points are epochs coloured by epoch (:func:`ipdrop.plotting.plot_information_plane`). A pair that a
    run lacks (e.g. ``mixture-*`` for information dropout) leaves an empty panel with a note.
    ``pairs`` may also be a mapping ``run -> pairs`` for per-run pairs (same number of columns).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .plotting import plot_information_plane

    _check_table(df)
    if runs is None:
        runs = list(df["run"].cat.categories if hasattr(df["run"], "cat") else dict.fromkeys(df["run"])) \
            if "run" in df.columns else [None]
    per_run = pairs if isinstance(pairs, Mapping) else {r: list(pairs) for r in runs}
    ncol = max(len(per_run.get(r, [])) for r in runs)
    if ncol == 0:
        raise ValueError("pairs must name at least one (x_estimator, y_estimator) pair")
    fig, axes = plt.subplots(len(runs), ncol, squeeze=False, constrained_layout=True,
                             figsize=(panel_size[0] * ncol, panel_size[1] * len(runs)))
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
                ax.text(0.5, 0.5, f"{xe} / {ye}\nnot tracked for this run", ha="center", va="center",
                        fontsize="small", transform=ax.transAxes)
                ax.set_axis_off()
            ax.title.set_fontsize("small")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_run_planes(df, run: str | None, pairs: Sequence[tuple[str, str]], *, splits: Sequence[str] = ("train", "test"),
                    panel_size: tuple[float, float] = (3.9, 3.1)):
    """Information planes of one run: one row per split, one column per ``(x_estimator, y_estimator)`` pair
    (e.g. Figs. 6 and 13 side by side); :func:`ipdrop.plotting.plot_planes_grid` on the run's rows.
    Returns the Figure."""
    from .plotting import plot_planes_grid

    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must name at least one (x_estimator, y_estimator) pair")
    fig = plot_planes_grid(_sub(df, run), pairs, splits, panel_size=panel_size,
                           suptitle=None if run is None else str(run))
    for ax in fig.axes:
        ax.title.set_fontsize("small")
    return fig


def plot_binning_sweep(df, run: str | None = None, *, splits: Sequence[str] = ("train", "test"),
                       panel_size: tuple[float, float] = (3.6, 3.0)):
    """Fig. 14: the binning information plane for every tracked bin count (columns) and split (rows), with
    the ceiling log N (N = number of samples the estimate used) drawn as a dashed line."""
    from .plotting import plot_planes_grid

    sub = _sub(df, run)
    pairs = binning_pairs(sub)
    if not pairs:
        raise ValueError("the table holds no binning estimates")
    splits = [s for s in splits if (sub["split"] == s).any()]
    fig = plot_planes_grid(sub, pairs, splits, panel_size=panel_size,
                           suptitle=None if run is None else f"{run}: binning estimates (dashed: log N)")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax, (split, (xe, _)) in zip(panels, [(sp, pr) for sp in splits for pr in pairs]):
        ax.set_title(f"{split}: {xe.replace('binning-', '')} bins", fontsize="small")
        n = sub[(sub["estimator"] == xe) & (sub["split"] == split)]["n"].dropna()
        if len(n):
            ax.axvline(math.log(int(n.iloc[0])), ls="--", color="0.4", lw=0.8)
    return fig


def plot_beta_planes(df, *, x_estimator: str = "kl", y_estimator: str = "variational", split: str = "train",
                     panel_size: tuple[float, float] = (4.6, 3.6), cmap: str = "viridis"):
    """Fig. 7: one panel per network size; every beta is a line through its epochs (marker per beta, points
    coloured by epoch, label at the last epoch). Needs the extra columns ``size`` and ``beta``
    (:func:`beta_study`). The x axis is logarithmic when the values span more than a factor 20."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    from .plotting import information_plane_points

    _check_table(df, ("run", "size", "beta", "epoch", "split", "estimator", "quantity", "value"))
    sizes = list(dict.fromkeys(df["size"]))
    betas = sorted(dict.fromkeys(df["beta"].astype(float)))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    norm = Normalize(vmin=float(df["epoch"].min()), vmax=float(df["epoch"].max()))
    fig, axes = plt.subplots(1, len(sizes), squeeze=False, constrained_layout=True,
                             figsize=(panel_size[0] * len(sizes), panel_size[1]))
    sc = None
    for ax, size in zip(axes[0], sizes):
        xs = []
        for k, b in enumerate(betas):
            sub = df[(df["size"] == size) & (df["beta"].astype(float) == b)]
            if sub.empty:
                continue
            pts = information_plane_points(sub, x_estimator, y_estimator, split)
            xs += list(pts["x"])
            ax.plot(pts["x"], pts["y"], "-", color="0.7", lw=0.8, zorder=1)
            sc = ax.scatter(pts["x"], pts["y"], c=pts["epoch"], cmap=cmap, norm=norm, marker=markers[k % len(markers)],
                            s=30, edgecolors="k", linewidths=0.3, zorder=2, label=f"beta={b:g}")
            ax.annotate(f"beta={b:g}", (pts["x"].iloc[-1], pts["y"].iloc[-1]), textcoords="offset points",
                        xytext=(4, 4), fontsize="x-small")
        xs = np.asarray([v for v in xs if np.isfinite(v) and v > 0])
        if len(xs) and xs.max() / xs.min() > 20:
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


def plot_accuracy(df, *, split: str = "test", estimator: str = "eval", ax=None):
    """Accuracy (%) per epoch, one line per run. Returns the Axes."""
    import matplotlib.pyplot as plt

    _check_table(df)
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
