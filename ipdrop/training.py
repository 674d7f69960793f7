"""Training of the paper's networks with information-plane tracking, checkpoints and resume.

:func:`train` runs one configuration (a frozen :class:`TrainConfig`) and writes, into ``out_dir``:

``config.json``
    every parameter (``"config"``), what it resolved to (device, estimators, IP epochs), package
    versions and the seed. Written first; a folder whose ``config.json`` differs is another run and is
    never overwritten (:class:`RunConflictError`).
``results.csv``
    the tidy table (rewritten atomically after every epoch), one row per
    ``epoch x split x estimator x quantity`` with columns :data:`RESULT_COLUMNS`
    (``epoch, split, estimator, quantity, value, mc_error, n, d``). MI values are in nats.
    Besides the MI rows (estimators ``mixture-dataset``, ``mixture-heldout``, ``binning-<n>``,
    ``edge``, ``knn``, ``variational``, ``kl``; quantities ``I(X;Z)``, ``I(Y;Z)``, ``h(Z)``, ``h(Z|X)``)
    it holds, for *every* epoch (0 = before training):

    * ``estimator="eval"``: ``quantity`` ``loss`` / ``accuracy`` with dropout off (standard inference),
      ``split="test"`` on the whole test set, ``split="train"`` on the fixed IP training subset;
    * ``estimator="eval-mc"``: the same with Monte-Carlo dropout (``mc_samples`` noisy passes, softmax
      averaged; paper App. A.8), for models with a noisy dropout layer;
    * ``estimator="optim"``, ``split="train"``: running mean of the training loss / accuracy over the
      epoch's mini-batches (dropout active), and ``quantity="lr"``, the learning rate used.
``checkpoint.pt``
    the latest state (model, optimizer, scheduler, epoch, the shuffling generator and the torch / numpy /
    python RNG states, the rows so far), saved atomically after every epoch.
``run.json``
    ``{"status": "complete", ...}`` with wall times, the SHA-256 (``results_sha256``) and row count
    (``results_rows``) of ``results.csv``, written last. A folder with it is a finished run: :func:`train`
    then returns its table after checking it against that checksum (:class:`ResultsIntegrityError` when
    the table was edited or damaged; damaged numbers are never returned).

Every file problem (a truncated ``checkpoint.pt``, a garbled table, a bad dataset file) raises a
``ValueError`` naming the file; temporary files of a killed write are removed when the run restarts.
``num_threads`` and ``device`` (:data:`EXECUTION_ONLY`) may differ when a run is resumed.

A killed run restarts from ``checkpoint.pt`` and ends with exactly the table (and weights) of an
uninterrupted run with the same seed (on the CPU; CUDA kernels may be non-deterministic).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from .dropout import IPDropout

from . import _io
from ._base import check_int, check_positive, resolve_device
from .tracker import RESULT_COLUMNS, InformationPlaneTracker, parse_estimators

__all__ = [
    "TrainConfig",
    "train",
    "run",
    "RunConflictError",
    "ResultsIntegrityError",
    "load_results",
    "verify_results",
    "default_num_threads",
    "RESULT_COLUMNS",
    "MODELS",
    "DATASETS",
    "DROPOUTS",
    "SCHEDULES",
]

MODELS = ("lenet", "fc", "resnet18", "fullcnn")
DATASETS = ("mnist", "cifar10")
DROPOUTS = ("gaussian", "information", "bernoulli", None)
SCHEDULES = ("cosine", "step", "constant")
SUBSETS = ("embedded", "full")
_DEFAULT_ESTIMATORS = {
    "gaussian": ("mixture", "binning", "edge", "knn", "variational"),
    "information": ("kl", "binning", "edge", "knn", "variational"),
    "bernoulli": ("binning", "edge", "knn", "variational"),
    None: ("binning", "edge", "knn", "variational"),
}
_CONFIG_FILE, _RESULTS_FILE, _CKPT_FILE, _RUN_FILE = "config.json", "results.csv", "checkpoint.pt", "run.json"


class RunConflictError(ValueError):
    """``out_dir`` holds a different run (or files that are not an ipdrop run)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Every setting of one training run (validated on construction; all keyword arguments).

    Parameters
    ----------
    model : {"lenet", "fc", "resnet18", "fullcnn"}
    dataset : {"mnist", "cifar10"}
    dropout : {"gaussian", "information", "bernoulli", None}
        Kind of the tracked dropout layer.
    variance : float
        Var(D) of Gaussian dropout (D ~ N(1, variance)). Unused otherwise.
    drop_rate : float, optional
        Bernoulli dropout: the probability p of dropping a unit (0 <= p < 1; inverted dropout, so
        Var(D) = p / (1 - p)). Required for ``dropout="bernoulli"``, refused otherwise.
    max_alpha : float
        Information dropout: largest noise scale alpha (paper: 0.7 MNIST, 0.95 CIFAR fullCNN).
    beta : float
        Information dropout: weight of the KL term in the paper's convention (Achille & Soatto's code, used
        by the paper): ``loss = CE + beta * mean_batch(KL) / kl_dataset_size`` (>= 0), with the per-sample
        KL summed over units. The paper's MNIST runs use beta = 3 with 60,000 training images; Fig. 7 uses
        beta in 0.1..20 with 50,000 CIFAR-10 images.
    kl_dataset_size : int, optional
        The N_train that divides the KL term; ``None``: the number of training images this run uses.
    width : float, optional
        Width multiplier of the network (e.g. 0.25 for the small fullCNN); ``None``: 1.
    epochs, batch_size, lr, momentum, weight_decay : SGD with momentum.
    schedule : {"cosine", "step", "constant"}
        Cosine annealing to 0 over ``epochs``; or the learning rate times ``gamma`` at each of
        ``milestones`` (paper's beta study: 40, 80, 120 and 0.1); or constant.
    subset : {"embedded", "full"}
        The small subset shipped with the package, or the full dataset (``$IPDROP_DATA``).
    n_train : int, optional
        Train on a seeded random subset of this many training images (``None``: all).
    augment : bool, optional
        Random crop (4 px padding) + horizontal flip; ``None`` = on for CIFAR-10, off for MNIST.
    ip_epochs : "all", "none", "last", "every:K" or sequence of int
        Epochs at which the information plane is estimated (0 = before training).
    ip_n_train, ip_n_test : int
        Sizes of the fixed (seeded) training and test subsets used for the IP.
    estimators : sequence of str, optional
        See :mod:`ipdrop.tracker`; ``None`` picks the ones that apply to ``dropout``.
    n_noise : int
        Noise draws per input of the mixture estimator.
    n_bins : sequence of int
        Bin counts of the binning estimator.
    save_representations : bool
        Keep, at every IP epoch, the noiseless representations of the IP subsets (with labels, logits
        and, for information dropout, alpha and the KL) in ``reps/epoch-XXXX.npz`` inside the run folder,
        so that ``ipdrop estimate`` can recompute or add estimates later without retraining.
    mc_samples : int
        Noisy forward passes averaged by Monte-Carlo dropout evaluation.
    eval_batch_size : int
        Batch size of evaluation passes.
    seed : int
        Seeds the weights, the data order, the dropout noise and the estimators.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    num_threads : int, optional
        ``torch.set_num_threads`` during the run (restored afterwards).
    """

    model: str = "fc"
    dataset: str = "mnist"
    dropout: str | None = "gaussian"
    variance: float = 0.2
    drop_rate: float | None = None
    max_alpha: float = 0.7
    beta: float = 1.0
    kl_dataset_size: int | None = None
    width: float | None = None
    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[int, ...] = (40, 80, 120)
    gamma: float = 0.1
    subset: str = "embedded"
    n_train: int | None = None
    augment: bool | None = None
    ip_epochs: Any = "all"
    ip_n_train: int = 1000
    ip_n_test: int = 1000
    estimators: tuple[str, ...] | None = None
    n_noise: int = 10
    n_bins: tuple[int, ...] = (30,)
    save_representations: bool = False
    mc_samples: int = 1
    eval_batch_size: int = 1000
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        def setf(name, value):
            object.__setattr__(self, name, value)

        def choice(name, options):
            v = getattr(self, name)
            if isinstance(v, str):
                v = v.lower()
                if name == "dropout" and v in ("none", "null", ""):
                    v = None
                setf(name, v)
            if v not in options:
                raise ValueError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(str(o) for o in options)}"
                )

        choice("model", MODELS)
        choice("dataset", DATASETS)
        choice("dropout", DROPOUTS)
        choice("schedule", SCHEDULES)
        choice("subset", SUBSETS)
        setf("variance", check_positive(self.variance, "variance"))
        setf("max_alpha", check_positive(self.max_alpha, "max_alpha"))
        if self.dropout == "bernoulli":
            if self.drop_rate is None:
                raise ValueError(
                    "Bernoulli dropout needs drop_rate (the probability of dropping a unit, e.g. 0.5); "
                    "variance is Var(D) of Gaussian dropout"
                )
            rate = check_positive(self.drop_rate, "drop_rate", allow_zero=True)
            if rate >= 1:
                raise ValueError(f"drop_rate must be in [0, 1); got {self.drop_rate!r}")
            setf("drop_rate", rate)
        elif self.drop_rate is not None:
            raise ValueError(f"drop_rate applies to Bernoulli dropout only; dropout={self.dropout!r}")
        setf("beta", check_positive(self.beta, "beta", allow_zero=True))
        if self.kl_dataset_size is not None:
            setf("kl_dataset_size", check_int(self.kl_dataset_size, "kl_dataset_size"))
        if not isinstance(self.save_representations, bool):
            raise ValueError(f"save_representations must be true or false; got {self.save_representations!r}")
        if self.width is not None:
            setf("width", check_positive(self.width, "width"))
        setf("epochs", check_int(self.epochs, "epochs", minimum=0))
        setf("batch_size", check_int(self.batch_size, "batch_size", minimum=2))
        setf("lr", check_positive(self.lr, "lr"))
        setf("momentum", check_positive(self.momentum, "momentum", allow_zero=True))
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        setf("weight_decay", check_positive(self.weight_decay, "weight_decay", allow_zero=True))
        setf(
            "milestones",
            tuple(check_int(_intish(m), "milestones", minimum=1) for m in _as_seq(self.milestones, "milestones")),
        )
        setf("gamma", check_positive(self.gamma, "gamma"))
        if self.n_train is not None:
            setf("n_train", check_int(self.n_train, "n_train", minimum=2))
        if self.augment is not None and not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true, false or None; got {self.augment!r}")
        setf("ip_n_train", check_int(self.ip_n_train, "ip_n_train", minimum=2))
        setf("ip_n_test", check_int(self.ip_n_test, "ip_n_test", minimum=2))
        setf("n_noise", check_int(self.n_noise, "n_noise"))
        setf("n_bins", tuple(check_int(_intish(b), "n_bins", minimum=2) for b in _as_seq(self.n_bins, "n_bins")))
        if not self.n_bins:
            raise ValueError("n_bins must hold at least one bin count")
        setf("mc_samples", check_int(self.mc_samples, "mc_samples"))
        setf("eval_batch_size", check_int(self.eval_batch_size, "eval_batch_size"))
        setf("seed", check_int(self.seed, "seed", minimum=0))
        if self.num_threads is not None:
            setf("num_threads", check_int(self.num_threads, "num_threads"))
        _check_device(self.device)
        # ip_epochs: normalise to a string spec or a sorted tuple of ints
        ip = "none" if self.ip_epochs is None else self.ip_epochs  # None: e.g. `--set ip_epochs=none`
        if isinstance(ip, str):
            ip = ip.strip().lower()
            if ip not in ("all", "none", "last") and not ip.startswith("every:"):
                if all(p.strip().isdigit() for p in ip.split(",")):
                    ip = tuple(int(p) for p in ip.split(","))
                else:
                    raise ValueError(f"ip_epochs must be 'all', 'none', 'last', 'every:K' or epoch numbers; got {ip!r}")
            if isinstance(ip, str) and ip.startswith("every:"):
                k = ip.split(":", 1)[1]
                if not k.isdigit() or int(k) < 1:
                    raise ValueError(f"ip_epochs 'every:K' needs an integer K >= 1; got {ip!r}")
        if not isinstance(ip, str):
            ip = tuple(sorted({check_int(_intish(e), "ip_epochs", minimum=0) for e in _as_seq(ip, "ip_epochs")}))
            late = [e for e in ip if e > self.epochs]
            if late:
                raise ValueError(f"ip_epochs {late} lie beyond epochs={self.epochs}")
        setf("ip_epochs", ip)
        if self.estimators is not None:
            est = _as_seq(self.estimators, "estimators")
            if not all(isinstance(e, str) for e in est):
                raise ValueError(
                    "TrainConfig.estimators takes estimator names (str); use InformationPlaneTracker "
                    "directly for custom estimator callables"
                )
            est = tuple(parse_estimators(est))
            if not est:
                raise ValueError("estimators must not be empty (use ip_epochs='none' to switch IP tracking off)")
            for base in ("mixture", "binning-ref"):
                if any(e.startswith(base) for e in est) and self.dropout != "gaussian":
                    raise ValueError(f"the {base} estimator needs Gaussian dropout; dropout={self.dropout!r}")
            if "kl" in est and self.dropout != "information":
                raise ValueError(f"the 'kl' estimator needs information dropout; dropout={self.dropout!r}")
            setf("estimators", est)

    # -- conversions ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> TrainConfig:
        """Build from a plain dict (e.g. parsed YAML/JSON); unknown keys raise ``ValueError``."""
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a mapping; got {type(params).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; valid: {sorted(names)}")
        return cls(**dict(params))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    # -- resolved values -----------------------------------------------------------------------
    @property
    def resolved_estimators(self) -> tuple[str, ...]:
        return self.estimators if self.estimators is not None else _DEFAULT_ESTIMATORS[self.dropout]

    @property
    def resolved_augment(self) -> bool:
        return self.augment if self.augment is not None else self.dataset == "cifar10"

    def resolved_ip_epochs(self) -> tuple[int, ...]:
        ip = self.ip_epochs
        if ip == "all":
            return tuple(range(self.epochs + 1))
        if ip == "none":
            return ()
        if ip == "last":
            return (self.epochs,)
        if isinstance(ip, str):
            k = int(ip.split(":", 1)[1])
            return tuple(e for e in range(self.epochs + 1) if e % k == 0 or e == self.epochs)
        return tuple(ip)


_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _check_device(device) -> None:
    """ValueError unless ``device`` is 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N' (checked before anything runs)."""
    if not isinstance(device, str) or not _DEVICE_RE.fullmatch(device.strip().lower()):
        raise ValueError(f"unknown device {device!r}; choose 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def _intish(v):
    """'12' -> 12 (values parsed from text); anything else unchanged (check_int judges it)."""
    return int(v) if isinstance(v, str) and v.strip().isdigit() else v


def _as_seq(v, name):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),)
    if isinstance(v, str):
        return tuple(p.strip() for p in v.split(",") if p.strip())
    try:
        return tuple(v)
    except TypeError:
        raise ValueError(f"{name} must be a sequence; got {v!r}") from None


# --------------------------------------------------------------------------- helpers


def _git_commit() -> str | None:
    """The commit of the ipdrop checkout running this (``$IPDROP_GIT_COMMIT`` for a copied tree), or None."""
    if os.environ.get("IPDROP_GIT_COMMIT"):
        return os.environ["IPDROP_GIT_COMMIT"]
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("ipdrop", "torch", "numpy", "scipy", "pandas"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover
            out[mod] = "unavailable"
    return out


@contextlib.contextmanager
def _torch_session(config: TrainConfig, device):
    """Own the global torch/numpy/python RNG and a few torch switches for the run; restore them after."""
    import torch

    saved = _rng_state(device)
    saved_threads = torch.get_num_threads()
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        torch.set_num_threads(config.num_threads if config.num_threads is not None else default_num_threads())
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        yield
    finally:
        _set_rng_state(saved, device)
        torch.set_num_threads(saved_threads)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn


#: set by sweep workers (``ipdrop.sweep``) to the torch threads each run of the sweep may use
SWEEP_THREADS_ENV = "IPDROP_SWEEP_THREADS"


def default_num_threads() -> int:
    """Torch threads of a run whose ``num_threads`` is None: never more threads than cores.

    Under a sweep worker, the share the sweep gave it (``$IPDROP_SWEEP_THREADS``, so that workers x threads
    <= cores); otherwise ``min(cores available to this process, torch's default)``. OpenMP oversubscription
    is costly: on a loaded 2-core machine, 2 threads/process made FC epochs 5-18 s instead of 0.23-0.31 s.
    """
    import torch

    env = os.environ.get(SWEEP_THREADS_ENV, "")
    if env.strip().isdigit() and int(env) >= 1:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, torch.get_num_threads()))


def _rng_state(device) -> dict:
    import torch

    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, device) -> None:
    import torch

    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def _load_data(config: TrainConfig):
    from . import data as _data

    ds = _data.load(config.dataset, subset="embedded" if config.subset == "embedded" else None)
    return ds


def _subset_indices(n: int, k: int | None, seed: int, stream: int) -> np.ndarray:
    """Sorted seeded random subset of ``range(n)`` of size ``min(k, n)`` (all when ``k`` is None)."""
    if k is None or k >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(n, size=k, replace=False))


def _augment(x, gen):
    """Random crop with 4-pixel zero padding and random horizontal flip, drawn from ``gen`` (CPU)."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    pad = 4
    xp = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (b, h)
    cols = dx[:, None] + torch.arange(w)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(x.device)  # (b, w)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def _model_kwargs(config: TrainConfig) -> dict:
    kw: dict[str, Any] = {"dropout": config.dropout}
    if config.dropout == "gaussian":
        kw["variance"] = config.variance
    elif config.dropout == "bernoulli":
        kw["p"] = config.drop_rate
    if config.dropout == "information":
        kw["max_alpha"] = config.max_alpha
    if config.width is not None:
        kw["width"] = config.width
    return kw


def _layer_can_output_zero(model) -> bool:
    """True when the tracked dropout layer's input comes through a ReLU (exact zeros are then structural).

    The paper's networks (FC, LeNet, ResNet bottleneck, fullCNN) use softplus by default: False.
    """
    import torch.nn as nn

    stage = getattr(model, "stage", None)
    if stage is None:
        return True  # unknown architecture: keep exact zeros structural (the conservative, exact choice)
    mods = list(stage.main.modules()) + list(stage.drop.modules())
    if any(isinstance(m, nn.ReLU) for m in mods):
        return True
    act = getattr(stage.drop, "activation", None)  # information dropout owns its activation
    return act == "relu"


def _tracked_layer(model: nn.Module) -> IPDropout:
    """The dropout layer a network built by :func:`ipdrop.models.build_model` exposes as ``model.dropout``: the
    layer whose representations the trainer tracks (``TypeError`` for a model without one)."""
    from .dropout import IPDropout

    layer = getattr(model, "dropout", None)
    if not isinstance(layer, IPDropout):
        raise TypeError(
            f"{type(model).__name__}.dropout must be an ipdrop dropout layer (ipdrop.dropout.IPDropout); "
            f"got {type(layer).__name__}"
        )
    return layer


def _recorded(layer: IPDropout, name: str) -> torch.Tensor:
    """``layer.<name>`` of the last forward pass; ``RuntimeError`` when the layer did not record it."""
    value = getattr(layer, name, None)
    if value is None:
        raise RuntimeError(
            f"{type(layer).__name__}.{name} is None: the tracked layer must record (layer.record = True)"
        )
    return value


def _make_optim(config: TrainConfig, model):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched: torch.optim.lr_scheduler.LRScheduler
    if config.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(config.epochs, 1))
    elif config.schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(config.milestones), gamma=config.gamma)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def _pbar(iterable, progress: bool, **kw):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def _evaluate(
    model, x, y, *, device, batch_size, mc_samples: int, tracker=None, split=None, ip_index=None, progress=False
):
    """Loss and accuracy of ``model`` in ``eval()`` mode (batch norm frozen).

    ``mc_samples=0``: dropout off. ``mc_samples>=1``: Monte-Carlo dropout, softmax averaged over the
    samples. When ``tracker`` is given, the dropout layer's representations of the rows ``ip_index``
    (of the first MC pass) are passed to ``tracker.update``.
    """
    import torch

    from .dropout import InformationDropout, mc_dropout

    model.eval()
    layer = _tracked_layer(model)
    n = x.shape[0]
    total_loss, correct = 0.0, 0
    want = None
    if tracker is not None:
        want = torch.zeros(n, dtype=torch.bool)
        want[torch.as_tensor(ip_index)] = True
    ctx = mc_dropout(model) if mc_samples > 0 else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        for start in _pbar(range(0, n, batch_size), progress, desc=f"eval {split or ''}", leave=False):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = y[start : start + batch_size].to(device, non_blocking=True)
            reps = max(mc_samples, 1)
            prob = None
            for r in range(reps):
                logits = model(xb)
                if r == 0 and want is not None:
                    sel = want[start : start + batch_size]
                    if sel.any():
                        s = sel.to(xb.device)
                        info = isinstance(layer, InformationDropout)
                        kl = _recorded(layer, "last_kl")[s] if info else None
                        alpha = _recorded(layer, "last_alpha")[s] if info else None
                        noisy = _recorded(layer, "last_output")[s] if mc_samples > 0 else None
                        tracker.update(
                            _recorded(layer, "last_noiseless")[s],
                            yb[s],
                            split=split,
                            z_noisy=noisy,
                            alpha=alpha,
                            kl=kl,
                            logits=logits[s],
                        )
                p = torch.softmax(logits.double(), dim=1)
                prob = p if prob is None else prob + p
            assert prob is not None  # reps >= 1
            prob = prob / reps
            total_loss += float(-torch.log(prob.gather(1, yb[:, None]).clamp_min(1e-300)).sum())
            correct += int((prob.argmax(1) == yb).sum())
    return total_loss / n, correct / n


def _metric_rows(epoch, split, estimator, n, loss, acc):
    return [
        {
            "epoch": epoch,
            "split": split,
            "estimator": estimator,
            "quantity": "loss",
            "value": float(loss),
            "mc_error": None,
            "n": n,
            "d": None,
        },
        {
            "epoch": epoch,
            "split": split,
            "estimator": estimator,
            "quantity": "accuracy",
            "value": float(acc),
            "mc_error": None,
            "n": n,
            "d": None,
        },
    ]


def _frame(rows):
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    df["epoch"] = df["epoch"].astype("int64")
    for c in ("n", "d"):
        df[c] = df[c].astype("Int64")
    df["value"] = df["value"].astype("float64")
    df["mc_error"] = df["mc_error"].astype("float64")
    return df


def load_results(out_dir: str | os.PathLike, *, verify: bool = True) -> pd.DataFrame:
    """Read ``results.csv`` of a run folder as a DataFrame with the dtypes :func:`train` returns.

    With ``verify`` (default), a finished run's table must match the SHA-256 and row count recorded in its
    ``run.json`` (:class:`ResultsIntegrityError` otherwise), so damaged numbers are never reported. Any
    unreadable table raises ``ValueError`` naming the file.
    """
    out = Path(out_dir)
    path = out / _RESULTS_FILE
    if verify:
        verify_results(out)
    return _read_table(path)


class ResultsIntegrityError(ValueError):
    """A finished run's ``results.csv`` differs from what its ``run.json`` recorded (edited or damaged)."""


def _table_fingerprint(path: Path) -> dict:
    return {"results_sha256": _io.sha256_file(path), "results_rows": int(len(_read_table(path)))}


def _read_table(path: Path):
    """``results.csv`` as a typed frame; ValueError naming ``path`` for a missing, garbled or foreign file."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist (the run has not finished an epoch yet?)") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas ParserError / EmptyDataError are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a readable results table ({first})") from None
    if "stderr" in df.columns and "mc_error" not in df.columns:
        # results written before the rename: their "stderr" was the input spread / sqrt(N), not a
        # Monte-Carlo error, so it is not carried over
        df = df.drop(columns=["stderr"]).assign(mc_error=float("nan"))
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path} is not an ipdrop results table: columns {missing} are missing (found {list(df.columns)[:10]})"
        )
    try:
        return _frame(df[list(RESULT_COLUMNS)].to_dict("records")) if len(df) else _frame([])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} holds values of the wrong type ({exc})") from None


def verify_results(out_dir: str | os.PathLike) -> None:
    """Check a finished run's ``results.csv`` against the checksum and row count in its ``run.json``.

    Does nothing for unfinished runs and for runs finished before checksums were recorded.

    Raises
    ------
    ResultsIntegrityError
        The table was changed, truncated or removed after the run finished; the message names the file
        and what differs.
    """
    out = Path(out_dir)
    info = _read_run(out)
    if info.get("status") != "complete" or "results_sha256" not in info:
        return
    path = out / _RESULTS_FILE
    if not path.is_file():
        raise ResultsIntegrityError(
            f"{path} is missing, but {out / _RUN_FILE} says the run finished; "
            "rerun with --no-resume (resume=False) to recompute it"
        )
    found = _io.sha256_file(path)
    if found == info["results_sha256"]:
        return
    what = f"sha256 {found[:12]}... found, {info['results_sha256'][:12]}... recorded"
    try:
        n = len(_read_table(path))
        if n != info.get("results_rows"):
            what += f"; {n} rows found, {info.get('results_rows')} recorded"
    except ValueError as exc:
        what += f"; {exc}"
    raise ResultsIntegrityError(
        f"{path} was changed or damaged after the run finished ({what} in {out / _RUN_FILE}); its numbers are "
        "not trusted. Restore the file, or rerun with --no-resume (resume=False) to recompute the run"
    )


#: TrainConfig fields that change how a run executes, not its results: a run resumed with other values
#: of these is the same run (e.g. ``--num-threads 1`` when resuming).
EXECUTION_ONLY = frozenset({"num_threads", "device"})


def config_differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Fields in which a stored config (``config.json``'s ``"config"``) and a wanted one differ.

    :data:`EXECUTION_ONLY` fields never count. A field the stored config lacks counts as its default value,
    so runs written before a field was added (with the default's meaning) stay the same run.
    """
    defaults = _jsonable({f.name: f.default for f in dataclasses.fields(TrainConfig)})
    stored, wanted = _jsonable(dict(stored)), _jsonable(dict(wanted))
    return sorted(
        k
        for k in set(stored) | set(wanted)
        if k not in EXECUTION_ONLY and stored.get(k, defaults.get(k)) != wanted.get(k, defaults.get(k))
    )


def _check_out_dir(out: Path, config_dict: dict) -> str:
    """'new', 'same' (same config up to :data:`EXECUTION_ONLY` keys) - or raise RunConflictError."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise RunConflictError(f"cannot use {out} as run folder: {parent} exists and is not a folder")
            break
    cfg_file = out / _CONFIG_FILE
    if cfg_file.exists():
        try:
            existing = _io.read_json(cfg_file).get("config")
        except (ValueError, AttributeError, OSError) as exc:
            raise RunConflictError(
                f"{cfg_file} exists but is not a readable ipdrop config ({exc}); choose another out folder"
            ) from None
        if not isinstance(existing, dict):
            raise RunConflictError(f"{cfg_file} exists but holds no ipdrop config; choose another out folder")
        diff = config_differences(existing, config_dict)
        if diff:
            raise RunConflictError(
                f"{out} holds another run (config.json differs in {diff}); "
                "choose another out folder - nothing was overwritten"
            )
        return "same"
    if out.exists():
        if not out.is_dir():
            raise RunConflictError(f"{out} exists and is not a folder")
        if any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise RunConflictError(
                f"{out} is not empty and holds no ipdrop run (no config.json); "
                "choose an empty or new folder - nothing was overwritten"
            )
    return "new"


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=_io._json_default))


# --------------------------------------------------------------------------- the trainer


def train(
    config: TrainConfig | Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
    resume: bool = True,
    on_epoch_end: Callable[[int, Any], None] | None = None,
) -> pd.DataFrame:
    """Train one configuration, estimating the information plane, and write the run folder.

    Parameters
    ----------
    config : TrainConfig or dict
    out_dir : path
        Run folder (created). See the module docstring for what it holds.
    progress : bool
        tqdm bars for epochs, batches and estimation.
    resume : bool
        Continue from ``checkpoint.pt`` when the folder holds this run unfinished, or return the
        table when it is complete. ``False`` restarts the run from scratch in the same folder.
    on_epoch_end : callable ``(epoch, DataFrame) -> None``, optional
        Called after each epoch's checkpoint is saved (epoch 0 = the evaluation before training).

    Returns
    -------
    pandas.DataFrame
        The tidy results table (as in ``results.csv``).

    Raises
    ------
    ValueError
        Bad configuration.
    RunConflictError
        ``out_dir`` holds another run or unrelated files.
    FileNotFoundError
        The dataset is missing.
    """
    import torch

    from . import data as _data
    from .models import build_model

    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    out = Path(out_dir)
    cfg_dict = config.to_dict()
    state = _check_out_dir(out, cfg_dict)
    if state == "same" and resume:
        run_info = _read_run(out)
        if run_info.get("status") == "complete" and (out / _RESULTS_FILE).exists():
            return load_results(out)  # verified against run.json's checksum
        if run_info.get("status") == "complete":
            verify_results(out)  # results.csv gone: refuse rather than silently retrain
    device = resolve_device(config.device)  # raises for unavailable CUDA before anything is written
    ds = _load_data(config)  # raises FileNotFoundError before anything is written
    ip_epochs = set(config.resolved_ip_epochs())
    estimators = config.resolved_estimators

    t_start = time.perf_counter()
    with _torch_session(config, device):
        torch.manual_seed(config.seed)  # the trainer owns the global torch RNG during the run
        model = build_model(config.model, config.dataset, **_model_kwargs(config)).to(device)
        # the estimators read Var(D) from the tracked layer itself (none for information dropout)
        tracker = InformationPlaneTracker(
            estimators,
            layer=_tracked_layer(model),
            n_noise=config.n_noise,
            n_bins=config.n_bins,
            seed=config.seed,
            device=str(device),
            progress=progress,
            on_error="warn",
        )
        # structural zeros in the mixture estimator only where the tracked layer can output exact zeros (ReLU);
        # softplus outputs are > 0, and an exact 0 there is float32 underflow (softplus(-110) == 0)
        tracker.zero_patterns = _layer_can_output_zero(model)
        opt, sched = _make_optim(config, model)
        gen = torch.Generator().manual_seed(config.seed)  # data order and augmentation

        # data as tensors (kept on the CPU; batches move to the device)
        tr_idx = _subset_indices(len(ds.y_train), config.n_train, config.seed, 1)
        x_tr = _data.to_tensor(ds.x_train[tr_idx], config.dataset)
        y_tr = torch.as_tensor(ds.y_train[tr_idx], dtype=torch.long)
        x_te = _data.to_tensor(ds.x_test, config.dataset)
        y_te = torch.as_tensor(ds.y_test, dtype=torch.long)
        ip_tr = _subset_indices(len(y_tr), config.ip_n_train, config.seed, 2)
        ip_te = _subset_indices(len(y_te), config.ip_n_test, config.seed, 3)
        x_ipt, y_ipt = x_tr[ip_tr], y_tr[ip_tr]
        if device.type == "cuda":
            x_tr, y_tr = x_tr.to(device), y_tr.to(device)

        # ---- fresh start or resume
        rows: list[dict] = []
        start_epoch = 0
        ckpt_path = out / _CKPT_FILE
        resumed_from = None
        # wall time and epoch times carried over from the processes that trained the earlier epochs (a resumed run
        # reports its whole training time); None when an older checkpoint did not record them
        prior_wall: float | None = 0.0
        epoch_times: list[float] = []
        _io.remove_stale_tmp(out, (_CKPT_FILE, _RESULTS_FILE, _RUN_FILE, _CONFIG_FILE))  # left by a kill
        if state == "same" and resume and ckpt_path.exists():
            ck = _load_checkpoint(ckpt_path)
            try:
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["optimizer"])
                sched.load_state_dict(ck["scheduler"])
                gen.set_state(ck["generator"])
                rows = list(ck["rows"])
                start_epoch = ck["epoch"] + 1
                resumed_from = ck["epoch"]
                prior_wall = ck.get("wall_time_s")
                epoch_times = list(ck.get("epoch_times_s") or [])
                _set_rng_state(ck["rng"], device)
            except (KeyError, RuntimeError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"checkpoint {ckpt_path} does not fit this run ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it or rerun with "
                    "--no-resume (resume=False) to restart the run"
                ) from None
        else:
            out.mkdir(parents=True, exist_ok=True)
            for name in (_RUN_FILE, _CKPT_FILE, _RESULTS_FILE):
                (out / name).unlink(missing_ok=True)
            _io.write_json(
                out / _CONFIG_FILE,
                {
                    "config": cfg_dict,
                    "resolved": {
                        "device": str(device),
                        "estimators": list(estimators),
                        "ip_epochs": sorted(ip_epochs),
                        "augment": config.resolved_augment,
                        "n_train": int(len(tr_idx)),
                        "n_test": int(len(y_te)),
                        "ip_n_train": int(len(ip_tr)),
                        "ip_n_test": int(len(ip_te)),
                        "data_source": ds.source,
                        "representation_shape": list(getattr(model, "representation_shape", ())),
                    },
                    "seed": config.seed,
                    "versions": _versions(),
                    "git_commit": _git_commit(),
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                },
            )

        noisy = config.dropout is not None
        epochs_bar = _pbar(
            range(start_epoch, config.epochs + 1), progress, desc="epochs", initial=start_epoch, total=config.epochs + 1
        )
        for epoch in epochs_bar:
            t0 = time.perf_counter()
            if epoch > 0:
                rows += _train_epoch(model, opt, config, x_tr, y_tr, gen, device, epoch, progress)
                sched.step()
            # ---- evaluation (every epoch) and information plane (chosen epochs)
            ev = dict(device=device, batch_size=config.eval_batch_size, progress=progress)
            for split, (x, y) in (("train", (x_ipt, y_ipt)), ("test", (x_te, y_te))):
                loss, acc = _evaluate(model, x, y, mc_samples=0, split=split, **ev)
                rows += _metric_rows(epoch, split, "eval", len(y), loss, acc)
            if epoch in ip_epochs:
                tracker.increment(epoch)
            for split, (x, y, ipi) in (("train", (x_ipt, y_ipt, np.arange(len(y_ipt)))), ("test", (x_te, y_te, ip_te))):
                tr = tracker if epoch in ip_epochs else None
                if noisy:
                    loss, acc = _evaluate(
                        model, x, y, mc_samples=config.mc_samples, tracker=tr, split=split, ip_index=ipi, **ev
                    )
                    rows += _metric_rows(epoch, split, "eval-mc", len(y), loss, acc)
                elif tr is not None:
                    _evaluate(
                        model, x[ipi], y[ipi], mc_samples=0, tracker=tr, split=split, ip_index=np.arange(len(ipi)), **ev
                    )
            if epoch in ip_epochs:
                if config.save_representations:
                    from ._rundir import save_representations

                    save_representations(out, epoch, tracker.current_data())
                rows += tracker.compute().to_dict("records")
            _tracked_layer(model).clear()
            # ---- checkpoint (atomic), table, callback
            epoch_times.append(time.perf_counter() - t0)
            _io.torch_save(
                ckpt_path,
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": gen.get_state(),
                    "rng": _rng_state(device),
                    "rows": rows,
                    "config": cfg_dict,
                    "wall_time_s": None if prior_wall is None else prior_wall + time.perf_counter() - t_start,
                    "epoch_times_s": epoch_times,
                },
            )
            df = _frame(rows)
            _io.write_csv(out / _RESULTS_FILE, df)
            if progress and hasattr(epochs_bar, "set_postfix"):
                test_acc = [
                    r["value"]
                    for r in rows
                    if r["epoch"] == epoch
                    and r["split"] == "test"
                    and r["estimator"] == "eval"
                    and r["quantity"] == "accuracy"
                ]
                epochs_bar.set_postfix(test_acc=f"{test_acc[-1]:.4f}" if test_acc else "-")
            if on_epoch_end is not None:
                on_epoch_end(epoch, df)

    df = _frame(rows)
    _io.write_csv(out / _RESULTS_FILE, df)  # (again) in case a crash fell between checkpoint and table
    fingerprint = _table_fingerprint(out / _RESULTS_FILE)
    if fingerprint["results_rows"] != len(df):  # pragma: no cover - the file was changed under us
        raise ResultsIntegrityError(f"{out / _RESULTS_FILE} changed while being written")
    final = {
        r["split"] + "_" + r["estimator"] + "_" + r["quantity"]: r["value"]
        for r in rows
        if r["epoch"] == config.epochs and r["estimator"] in ("eval", "eval-mc")
    }
    _io.write_json(
        out / _RUN_FILE,
        {
            "status": "complete",
            "epochs": config.epochs,
            "resumed_from_epoch": resumed_from,
            # the whole training time over every process that trained the run; when an older checkpoint did not
            # record its share, only this process's time, flagged by wall_time_complete = False
            "wall_time_s": (0.0 if prior_wall is None else prior_wall) + time.perf_counter() - t_start,
            "wall_time_complete": prior_wall is not None,
            "epoch_times_s": epoch_times,
            "device": str(device),
            "final": final,
            **fingerprint,  # checked by load_results / verify_results before the table is trusted again
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return df


def _load_checkpoint(path: Path) -> dict:
    """``torch.load`` of a checkpoint; ValueError naming the file when it is truncated or not a checkpoint."""
    import pickle
    import zipfile

    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        AttributeError,
        ImportError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"checkpoint {path} is damaged or truncated and cannot be loaded ({type(exc).__name__}"
            f"{': ' + first if first else ''}); delete it or rerun with --no-resume (resume=False) "
            "to restart the run from scratch"
        ) from None
    if not isinstance(ck, dict) or not {"model", "optimizer", "epoch", "rows"} <= set(ck):
        raise ValueError(
            f"checkpoint {path} is not an ipdrop training checkpoint; delete it or rerun with "
            "--no-resume (resume=False)"
        )
    return ck


def _train_epoch(model, opt, config, x_tr, y_tr, gen, device, epoch, progress):
    import torch
    import torch.nn.functional as F

    from .dropout import InformationDropout

    model.train()
    layer = model.dropout
    info = isinstance(layer, InformationDropout)
    n = len(y_tr)
    kl_n = config.kl_dataset_size or n  # the paper's convention: CE + beta * KL / N_train
    perm = torch.randperm(n, generator=gen)
    bs = config.batch_size
    starts = [s for s in range(0, n, bs) if n - s >= 2]  # a 1-sample batch would break batch norm
    lr = opt.param_groups[0]["lr"]
    tot_loss, tot_correct, tot_n = 0.0, 0, 0
    for s in _pbar(starts, progress, desc=f"epoch {epoch}", leave=False):
        idx = perm[s : s + bs]
        if x_tr.device.type != "cpu":
            idx = idx.to(x_tr.device)
        xb, yb = x_tr[idx], y_tr[idx]
        if config.resolved_augment:
            xb = _augment(xb, gen)
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        logits = model(xb)
        ce = F.cross_entropy(logits, yb)
        loss = ce + (config.beta / kl_n) * layer.last_kl.mean() if info else ce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        b = len(yb)
        tot_loss += float(loss.detach()) * b
        tot_correct += int((logits.detach().argmax(1) == yb).sum())
        tot_n += b
    rows = _metric_rows(epoch, "train", "optim", tot_n, tot_loss / tot_n, tot_correct / tot_n)
    rows.append(
        {
            "epoch": epoch,
            "split": "train",
            "estimator": "optim",
            "quantity": "lr",
            "value": float(lr),
            "mc_error": None,
            "n": tot_n,
            "d": None,
        }
    )
    return rows


def _read_run(out: Path) -> dict:
    p = out / _RUN_FILE
    if not p.exists():
        return {}
    try:
        return _io.read_json(p)
    except ValueError:
        return {}


def run(params: Mapping[str, Any], out_dir: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """:func:`train` with a plain dict of :class:`TrainConfig` parameters (for sweeps and scripts)."""
    return train(TrainConfig.from_dict(params), out_dir, **kwargs)
