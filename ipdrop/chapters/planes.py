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

The paper-settings parts of the chapters read the results store through the same driver: :func:`store_status`,
:func:`load_experiment`, :func:`run_settings`, :func:`compression_verdicts`, :func:`verdict_table`,
:func:`store_table`, :func:`figure` and the rest are those of :mod:`ipdrop.chapters.paper` (the store reader
that the claims chapter shares), so a chapter notebook imports this one driver.

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
    COMPRESSION_DEFAULTS,
    FINE_BINS,
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
from ..models import stage_widths
from ..plotting import plot_accuracy, plot_beta_planes, plot_binning_sweep, plot_run_planes, plot_study_planes
from ..training import TrainConfig, train
from .paper import (
    GAUSSIAN_VIEWS,
    compression_verdicts,
    deviations,
    experiment_facts,
    figure,
    load_experiment,
    paper_pairs,
    run_labels,
    run_settings,
    store_status,
    store_table,
    verdict_counts,
    verdict_table,
    with_size,
)

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
    # the paper-settings parts: the results store (ipdrop.chapters.paper)
    "store_status",
    "load_experiment",
    "run_settings",
    "deviations",
    "experiment_facts",
    "compression_verdicts",
    "verdict_table",
    "verdict_counts",
    "store_table",
    "paper_pairs",
    "with_size",
    "run_labels",
    "figure",
    "GAUSSIAN_VIEWS",
    # numbers the chapters state
    "COMPRESSION_DEFAULTS",
    "FINE_BINS",
    "RUN_DEFAULTS",
    "builder_settings",
    "stage_widths",
    "training_images",
    "saturated_bins",
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


def training_images(study: Study) -> dict[str, int]:
    """The number of training images each run of ``study`` trains on: ``n_train``, else the size of its
    ``subset`` of the dataset (the embedded subsets are read from the package; the full sets have fixed sizes)."""
    from .. import data

    full = {"mnist": 60000, "cifar10": 50000}
    out = {}
    for label, cfg in study.configs.items():
        if cfg.n_train is not None:
            out[label] = int(cfg.n_train)
        elif cfg.subset == "embedded":
            out[label] = int(len(data.load(cfg.dataset, subset="embedded").y_train))
        else:
            out[label] = full[cfg.dataset]
    return out


def saturated_bins(df, split: str = "train", tol: float | None = None) -> int | None:
    """The smallest bin count whose binning estimate of I(X;Z) (noiseless ``binning-<bins>`` rows) ends within
    ``tol`` nats of log N in every run of a study table (N: the ``n`` column, the IP subset's size); ``None`` when
    no bin count does. ``tol`` defaults to the compression rule's floor (``COMPRESSION_DEFAULTS["min_drop"]``):
    a binning curve that close to its ceiling cannot show compression by the rule."""
    import math

    tol = COMPRESSION_DEFAULTS["min_drop"] if tol is None else float(tol)
    sel = df[(df["split"] == split) & (df["quantity"] == "I(X;Z)") & df["estimator"].str.fullmatch(r"binning-\d+")]
    last = sel[sel["epoch"] == sel.groupby(["run", "estimator"], observed=True)["epoch"].transform("max")]
    gap = (last["n"].map(math.log) - last["value"]).groupby(last["estimator"]).max()
    ok = sorted(int(e.rsplit("-", 1)[1]) for e, g in gap.items() if g <= tol)
    return ok[0] if ok else None


def _safe_dirname(label: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
    return keep.strip("_") or "run"


# --------------------------------------------------------------------------- chapter builders


#: The run settings every builder takes as keyword arguments (``**run``): :class:`~ipdrop.training.TrainConfig`
#: fields shared by every run of a study. Each builder's defaults (its chapter's quick profile, the notebook's
#: ``parameters`` cell; ``tests/test_defaults.py`` keeps them equal) are in :data:`RUN_DEFAULTS`.
_RUN_BASE: dict[str, Any] = dict(
    n_train=None,
    subset="embedded",
    momentum=0.9,
    weight_decay=0.0,
    schedule="cosine",
    ip_epochs="all",
    n_noise=10,
    mc_samples=1,
    seed=0,
    device="auto",
    num_threads=None,
    eval_batch_size=1000,
)
#: the default run settings of each builder (the keywords ``**run`` accepts, see :func:`builder_settings`)
RUN_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist_study": {
        **_RUN_BASE,
        **dict(epochs=6, batch_size=32, ip_n_train=1000, ip_n_test=1000, n_bins=(10, 30, 100, 300)),
    },
    "cifar10_study": {
        **_RUN_BASE,
        **dict(epochs=4, batch_size=64, lr=0.05, weight_decay=5e-4, augment=False, ip_n_train=500, ip_n_test=500),
        "n_bins": (10, 30, 100),
    },
    "beta_study": {
        **{k: v for k, v in _RUN_BASE.items() if k != "n_noise"},  # information dropout draws no noise samples
        **dict(epochs=3, n_train=1000, batch_size=100, lr=0.05, schedule="step", milestones=(40, 80, 120)),
        **dict(gamma=0.1, augment=False, ip_n_train=500, ip_n_test=500, eval_batch_size=500),
        # the paper's estimators: kl for I(X;Z), variational for I(Y;Z) (binning, EDGE and k-NN are slow on the
        # 16x16xC feature map)
        "estimators": ("kl", "variational"),
        "n_bins": (30,),
    },
}
_TUPLES = ("n_bins", "milestones", "estimators")


def builder_settings(builder: str, run: Mapping[str, Any]) -> dict[str, Any]:
    """The run settings of ``builder`` (a key of :data:`RUN_DEFAULTS`): its defaults updated with ``run``.

    Raises ``TypeError`` naming the keywords the builder does not take, as Python does for a signature.
    """
    if builder not in RUN_DEFAULTS:
        raise ValueError(f"builder_settings(): builder must be one of {sorted(RUN_DEFAULTS)}; got {builder!r}")
    defaults = RUN_DEFAULTS[builder]
    bad = sorted(set(run) - set(defaults))
    if bad:
        raise TypeError(f"{builder}() got unexpected keyword argument(s) {bad}; it takes {sorted(defaults)}")
    out = {**defaults, **run}
    for k in _TUPLES:
        if k in out:
            out[k] = tuple(out[k])
    return out


def mnist_study(
    *,
    lenet_variance: float = 0.2,
    fc_variances: Sequence[float] = (0.2,),
    info_beta: float = 3.0,
    info_max_alpha: float = 0.7,
    kl_dataset_size: int = 60000,
    lr_lenet: float = 0.05,
    lr_fc: float = 0.1,
    include: Sequence[str] = ("lenet-gaussian", "lenet-information", "fc"),
    **run: Any,
) -> Study:
    """The MNIST study (paper Figs. 1, 5, 11, 12, 14, 15).

    Runs (labels): ``"LeNet, Gaussian s2=<v>"`` (dropout on the 84-unit layer, variance ``lenet_variance``),
    ``"LeNet, information"`` (information dropout, ``max_alpha``, beta in the paper's convention, see the
    module docstring), and ``"FC, Gaussian s2=<v>"`` for each of ``fc_variances`` (784-512-128-32-10 softplus,
    dropout on the 32-unit layer). ``include`` picks among ``"lenet-gaussian"``, ``"lenet-information"`` and
    ``"fc"``. ``**run``: the :class:`~ipdrop.training.TrainConfig` fields shared by every run, defaults in
    ``RUN_DEFAULTS["mnist_study"]`` (``lr_lenet`` / ``lr_fc`` per network).
    """
    include = tuple(include)
    bad = sorted(set(include) - {"lenet-gaussian", "lenet-information", "fc"})
    if bad or not include:
        raise ValueError(f"include takes 'lenet-gaussian', 'lenet-information', 'fc'; got {list(include)}")
    base = dict(dataset="mnist", **builder_settings("mnist_study", run))
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


def cifar10_study(*, variance: float = 0.4, width: float = 0.125, **run: Any) -> Study:
    """The CIFAR-10 study (paper Figs. 6, 13): ResNet18 (stage widths times ``width``) with the 128-unit
    softplus bottleneck and Gaussian dropout of variance ``variance`` on it. One run,
    ``"ResNet18 x<width>, Gaussian s2=<v>"``. ``**run``: the :class:`~ipdrop.training.TrainConfig` fields of the
    run, defaults in ``RUN_DEFAULTS["cifar10_study"]``."""
    label = f"ResNet18 x{width:g}, Gaussian s2={variance:g}"
    cfg = TrainConfig(
        model="resnet18",
        dataset="cifar10",
        dropout="gaussian",
        variance=variance,
        width=width,
        estimators=GAUSSIAN_ESTIMATORS,
        **builder_settings("cifar10_study", run),
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
    **run: Any,
) -> Study:
    """The beta study (paper Fig. 7): fullCNN with information dropout after the third convolution.

    One run per (width, beta), labelled ``"<size> (x<width>), beta=<b>"``. ``widths`` is a sequence of
    filter fractions (sizes named "full" for the largest and "small" for the others) or a mapping
    ``name -> fraction``. ``betas`` are in the paper's convention (loss ``CE + beta KL / kl_dataset_size``;
    see the module docstring). Paper: SGD with momentum, batch 100, lr 0.05 times 0.1 after epochs 40, 80
    and 120, 200 epochs, max alpha 0.95, widths 1.0 and 0.25. Extra columns: ``beta`` (paper convention),
    ``width``, ``size``. ``**run``: the :class:`~ipdrop.training.TrainConfig` fields shared by every run,
    defaults in ``RUN_DEFAULTS["beta_study"]``.
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
    common = builder_settings("beta_study", run)
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
                **common,
            )
            meta[label] = {"size": size, "width": w, "beta": b}
    return Study("beta", configs, meta)
