"""Chapters 3-5 (paper Sec. 5, App. A.8, Figs. 1, 5-7, 11-15): information planes of trained networks.

Every number and figure of ``notebooks/03_mnist.md``, ``04_cifar10.md`` and ``05_beta.md`` comes from here.

A :class:`Study` is a named, ordered set of training configurations (:class:`~ipdrop.training.TrainConfig`)
with a few extra columns per run (e.g. the paper's beta). :meth:`Study.run` trains them one after the other
with :func:`ipdrop.training.train` and returns one tidy table: the columns of ``results.csv``
(``epoch, split, estimator, quantity, value, mc_error, n, d``) preceded by ``run`` and the study's extra columns.

The chapter builders return the studies of the book. Their defaults are the quick profile of the chapter
notebooks (the notebook's ``parameters`` cell; ``tests/test_defaults.py`` keeps the two equal); the paper's
settings are the overrides in ``params/paper.yaml``.

* :func:`mnist_study` - LeNet with Gaussian and with information dropout, the FC network 784-512-128-32-10
  with Gaussian dropout of several variances (Figs. 1, 5, 11, 12, 14, 15);
* :func:`cifar10_study` - ResNet18 with the 128-unit bottleneck and Gaussian dropout (Figs. 6, 13);
* :func:`beta_study` - the fullCNN with information dropout for several beta and widths (Fig. 7).

Summaries (:func:`ip_summary`, :func:`accuracy_summary`, :func:`compression_table`, from
:mod:`ipdrop.analysis`) turn a table into the numbers a chapter reports: maximum, final value and drop of
I(X;Z) per estimator, with the verdict of the one compression rule :func:`ipdrop.analysis.compression`.
Figure functions (from :mod:`ipdrop.plotting`) draw information planes per run (:func:`plot_study_planes`),
the binning sweep of Fig. 14 (:func:`plot_binning_sweep`), the beta comparison of Fig. 7
(:func:`plot_beta_planes`) and accuracy curves (:func:`plot_accuracy`).

**The beta convention.** The paper trained information dropout with the code of Achille & Soatto (2018),
whose loss is ``CE + beta * KL / N_train`` (KL summed over units and averaged over the batch, divided by the
size of the full training set, "to make beta comparable to variational dropout"). :class:`TrainConfig`
uses that convention (``beta`` and ``kl_dataset_size``), so ``ipdrop train --beta 3`` is the paper's beta = 3;
the builders pass ``kl_dataset_size`` explicitly because the quick profile trains on subsets.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis import (
    accuracy_summary,
    beta_checks,
    beta_summary,
    binning_pairs,
    chapter_pairs,
    compression,
    compression_table,
    failed_estimates,
    final_values,
    ip_summary,
)
from ..plotting import plot_accuracy, plot_beta_planes, plot_binning_sweep, plot_run_planes, plot_study_planes
from ..training import TrainConfig, train

__all__ = [
    "Study",
    "run_study",
    "mnist_study",
    "cifar10_study",
    "beta_study",
    "GAUSSIAN_ESTIMATORS",
    "INFORMATION_ESTIMATORS",
    # summaries (ipdrop.analysis)
    "ip_summary",
    "accuracy_summary",
    "compression_table",
    "final_values",
    "beta_summary",
    "beta_checks",
    "failed_estimates",
    "chapter_pairs",
    "binning_pairs",
    "compression",
    # figures (ipdrop.plotting)
    "plot_study_planes",
    "plot_binning_sweep",
    "plot_beta_planes",
    "plot_accuracy",
    "plot_run_planes",
]

#: estimators tracked for Gaussian dropout: both views of the mixture estimator as separate entries (so that a
#: held-out failure - e.g. a softplus unit that underflowed to an exact 0 - does not also drop the dataset view),
#: binning, and three I(Y;Z) estimators (EDGE as in the paper, k-NN and H(Y) - CE as cross-checks)
GAUSSIAN_ESTIMATORS = ("mixture-dataset", "mixture-heldout", "binning", "edge", "knn", "variational")
#: estimators tracked for information dropout: the closed-form KL bound on I(X;Z), binning, and I(Y;Z) by the
#: variational bound (as in the paper) with EDGE / k-NN as cross-checks
INFORMATION_ESTIMATORS = ("kl", "binning", "edge", "knn", "variational")


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

    def settings(
        self,
        fields: Sequence[str] = (
            "model",
            "width",
            "dropout",
            "variance",
            "beta",
            "max_alpha",
            "epochs",
            "n_train",
            "batch_size",
            "lr",
            "ip_n_train",
            "ip_n_test",
        ),
    ):
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

    def run(
        self,
        out_root: str | Path | None = None,
        *,
        progress: bool = False,
        resume: bool = True,
        capture_warnings: bool = False,
    ):
        """Train every configuration; see :func:`run_study`."""
        return run_study(self, out_root, progress=progress, resume=resume, capture_warnings=capture_warnings)


def run_study(
    study: Study,
    out_root: str | Path | None = None,
    *,
    progress: bool = False,
    resume: bool = True,
    capture_warnings: bool = False,
):
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


def _safe_dirname(label: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
    return keep.strip("_") or "run"


# --------------------------------------------------------------------------- chapter builders


def _common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins, eval_batch_size):
    return dict(
        seed=seed,
        device=device,
        num_threads=num_threads,
        epochs=epochs,
        ip_epochs=ip_epochs,
        subset=subset,
        mc_samples=mc_samples,
        n_noise=n_noise,
        n_bins=tuple(n_bins),
        eval_batch_size=eval_batch_size,
    )


def mnist_study(
    *,
    lenet_variance: float = 0.2,
    fc_variances: Sequence[float] = (0.2,),
    info_beta: float = 3.0,
    info_max_alpha: float = 0.7,
    kl_dataset_size: int = 60000,
    epochs: int = 6,
    n_train: int | None = None,
    subset: str = "embedded",
    batch_size: int = 32,
    lr_lenet: float = 0.05,
    lr_fc: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    ip_epochs: Any = "all",
    ip_n_train: int = 1000,
    ip_n_test: int = 1000,
    n_bins: Sequence[int] = (10, 30, 100, 300),
    n_noise: int = 10,
    mc_samples: int = 1,
    include: Sequence[str] = ("lenet-gaussian", "lenet-information", "fc"),
    seed: int = 0,
    device: str = "auto",
    num_threads: int | None = None,
    eval_batch_size: int = 1000,
) -> Study:
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
    base = dict(
        dataset="mnist",
        batch_size=batch_size,
        momentum=momentum,
        weight_decay=weight_decay,
        schedule=schedule,
        n_train=n_train,
        ip_n_train=ip_n_train,
        ip_n_test=ip_n_test,
        **_common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins, eval_batch_size),
    )
    configs, meta = {}, {}
    if "lenet-gaussian" in include:
        label = f"LeNet, Gaussian s2={lenet_variance:g}"
        configs[label] = TrainConfig(
            model="lenet",
            dropout="gaussian",
            variance=lenet_variance,
            lr=lr_lenet,
            estimators=GAUSSIAN_ESTIMATORS,
            **base,
        )
        meta[label] = {"network": "LeNet", "dropout_kind": "gaussian", "variance": float(lenet_variance)}
    if "lenet-information" in include:
        label = "LeNet, information"
        configs[label] = TrainConfig(
            model="lenet",
            dropout="information",
            max_alpha=info_max_alpha,
            beta=info_beta,
            kl_dataset_size=kl_dataset_size,
            lr=lr_lenet,
            estimators=INFORMATION_ESTIMATORS,
            **base,
        )
        meta[label] = {"network": "LeNet", "dropout_kind": "information", "beta": float(info_beta)}
    if "fc" in include:
        for v in fc_variances:
            label = f"FC, Gaussian s2={v:g}"
            configs[label] = TrainConfig(
                model="fc", dropout="gaussian", variance=v, lr=lr_fc, estimators=GAUSSIAN_ESTIMATORS, **base
            )
            meta[label] = {"network": "FC", "dropout_kind": "gaussian", "variance": float(v)}
    return Study("MNIST", configs, meta)


def cifar10_study(
    *,
    variance: float = 0.4,
    width: float = 0.125,
    epochs: int = 4,
    n_train: int | None = None,
    subset: str = "embedded",
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    schedule: str = "cosine",
    augment: bool | None = False,
    ip_epochs: Any = "all",
    ip_n_train: int = 500,
    ip_n_test: int = 500,
    n_bins: Sequence[int] = (10, 30, 100),
    n_noise: int = 10,
    mc_samples: int = 1,
    seed: int = 0,
    device: str = "auto",
    num_threads: int | None = None,
    eval_batch_size: int = 1000,
) -> Study:
    """The CIFAR-10 study (paper Figs. 6, 13): ResNet18 (stage widths times ``width``) with the 128-unit
    softplus bottleneck and Gaussian dropout of variance ``variance`` on it. One run,
    ``"ResNet18 x<width>, Gaussian s2=<v>"``."""
    label = f"ResNet18 x{width:g}, Gaussian s2={variance:g}"
    cfg = TrainConfig(
        model="resnet18",
        dataset="cifar10",
        dropout="gaussian",
        variance=variance,
        width=width,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        schedule=schedule,
        augment=augment,
        n_train=n_train,
        ip_n_train=ip_n_train,
        ip_n_test=ip_n_test,
        estimators=GAUSSIAN_ESTIMATORS,
        **_common(seed, device, num_threads, epochs, ip_epochs, subset, mc_samples, n_noise, n_bins, eval_batch_size),
    )
    return Study(
        "CIFAR-10", {label: cfg}, {label: {"network": "ResNet18", "width": float(width), "variance": float(variance)}}
    )


def beta_study(
    *,
    betas: Sequence[float] = (0.1, 1.0, 20.0),
    widths: Mapping[str, float] | Sequence[float] = (0.125, 0.03125),
    max_alpha: float = 0.95,
    kl_dataset_size: int = 50000,
    epochs: int = 3,
    n_train: int | None = 1000,
    subset: str = "embedded",
    batch_size: int = 100,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "step",
    milestones: Sequence[int] = (40, 80, 120),
    gamma: float = 0.1,
    augment: bool | None = False,
    ip_epochs: Any = "all",
    ip_n_train: int = 500,
    ip_n_test: int = 500,
    estimators: Sequence[str] = ("kl", "variational"),
    n_bins: Sequence[int] = (30,),
    mc_samples: int = 1,
    seed: int = 0,
    device: str = "auto",
    num_threads: int | None = None,
    eval_batch_size: int = 500,
) -> Study:
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
            configs[label] = TrainConfig(
                model="fullcnn",
                dataset="cifar10",
                dropout="information",
                max_alpha=max_alpha,
                beta=b,
                kl_dataset_size=kl_dataset_size,
                width=w,
                batch_size=batch_size,
                lr=lr,
                momentum=momentum,
                weight_decay=weight_decay,
                schedule=schedule,
                milestones=tuple(milestones),
                gamma=gamma,
                augment=augment,
                n_train=n_train,
                ip_n_train=ip_n_train,
                ip_n_test=ip_n_test,
                estimators=tuple(estimators),
                **common,
            )
            meta[label] = {"size": size, "width": w, "beta": b}
    return Study("beta", configs, meta)
