"""Information-plane tracking: collect a dropout layer's representations, estimate MI, keep a tidy table.

:class:`InformationPlaneTracker` follows torchmetrics' ``MetricTracker``: ``increment(epoch)`` starts a
step, ``update(...)`` appends representations (detached and moved to the CPU), ``compute()`` returns the
estimates of the current step and ``compute_all()`` the tidy table of every step. It works in any
training loop; :func:`ipdrop.training.train` uses it for the paper's networks.

The table is *tidy*: one row per step (``epoch``) x ``split`` x ``estimator`` x ``quantity``, with
columns ``epoch, split, estimator, quantity, value, mc_error, n, d``. Values are in nats. ``mc_error`` is the
Monte-Carlo standard error of ``value`` over the estimator's own random draws (the mixture estimator: the
dropout noise, inputs fixed) where the estimator measures one; empty otherwise.

Built-in estimators (the names accepted in ``estimators=``)
-----------------------------------------------------------
``"mixture"``
    Gaussian-dropout mixture estimator of I(X;Z) = h(Z) - h(Z|X) (the paper's Alg. 1) in the modes
    ``dataset`` and ``heldout``; rows ``estimator="mixture-<mode>"`` with quantities ``I(X;Z)``,
    ``h(Z)``, ``h(Z|X)``. ``"mixture-<mode>"`` selects one mode (e.g. ``"mixture-paper"``), ``"mixture-all"``
    the three (dataset, held-out, Alg. 1), all from one pass over the same noise. Needs the Gaussian
    dropout variance (see "Where the variance comes from" below).
``"binning"``
    Binning of the *noiseless* representation f(X) for I(X;Z) and I(Y;Z) (labels kept as classes), once
    per entry of ``n_bins`` (``n_bins`` equal-width bins over the layer's range); rows
    ``estimator="binning-<n>"``. ``"binning-<n>"`` selects one bin count.
``"binning-ref"``
    Binning as the paper's code runs it: one seeded noisy draw Z = f(X) * D, D ~ N(1, ``variance``), per
    input, edges ``linspace(min, max, n)`` over the layer (n edges, n - 1 bins), ``numpy.digitize``; once
    per entry of ``n_bins`` (read as the reference's ``num_of_bins``); rows ``estimator="binning-ref-<n>"``
    with quantities ``I(X;Z)``, ``I(Y;Z)`` (labels kept as classes) and ``I(Y_binned;Z)`` (labels
    digitized with the same edges, as the reference does). ``"binning-ref-<n>"`` selects one count.
    Needs the Gaussian dropout variance.
``"knn"`` (the recommended I(Y;Z) estimator), ``"edge"`` (the paper's choice)
    I(Y;Z) with the k-NN estimator of Ross (2014, ties handled) and with EDGE, for discrete labels, on the
    *noisy* representation when ``update`` was given ``z_noisy`` (a sample of Z), else on the noiseless
    one. Against closed forms (Gaussian class mixtures, ``tests/test_edge_knn.py``) the k-NN estimator is
    the better behaved: 4 classes, d = 8, truth 0.917 nats: k-NN 0.89-0.93, EDGE 0.71 (N = 2,000);
    10 classes, d = 16, truth 1.738: k-NN 1.60 (N = 2,000) / 1.63 (N = 5,000), EDGE 0.94-1.00. Both are
    biased down in high dimension (10 classes, d = 32, truth 1.341: k-NN 0.97-1.06, EDGE 0.71-0.76).
``"variational"``
    I(Y;Z) >= H(Y) - CE (needs ``logits``; a lower bound, Barber & Agakov).
``"kl"``
    Information dropout: I(X;Z) <= E_x KL(p(z|x) || p(z)), the mean of the per-sample KL passed
    as ``kl`` (the layer's ``last_kl``).

Where the variance comes from
-----------------------------
The tracker reads Var(D) from the layer it tracks (``layer=`` or :meth:`InformationPlaneTracker.track_layer`):
a :class:`~ipdrop.dropout.GaussianDropout` (or any module with a numeric ``variance`` attribute) gives its
``variance``, read again at every ``compute``, so the estimators always see the layer's current value.
``variance=`` is for estimates without a layer (representations loaded from a run folder, arrays from
elsewhere); given together with a layer it must equal the layer's value (a ``ValueError`` otherwise: an
estimate under another variance would describe noise the layer does not add).

Layers without one Var(D) give none: :class:`~ipdrop.dropout.InformationDropout` multiplies by log-normal
noise exp(alpha(x) * n) whose scale alpha(x) is learned, per sample and per unit, so no single variance
describes it. Its estimators get the scales per sample instead (``update(alpha=layer.last_alpha)``, in
:attr:`SplitData.alpha` for custom callables) and I(X;Z) is the ``"kl"`` bound from the layer's per-sample KL;
``"mixture"`` and ``"binning-ref"`` (Gaussian noise of one variance) are refused for it, as for binary and
no dropout.

Names are resolved through :data:`ESTIMATOR_FACTORIES` (name -> factory building the estimate function).
Any callable ``fn(data: SplitData) -> iterable of dict`` may be given instead of a name; each dict holds
at least ``estimator``, ``quantity`` and ``value`` (``mc_error``, ``n``, ``d`` optional). An
:class:`~ipdrop.MIResult` is accepted too, with ``estimator``/``quantity`` taken from it.
"""

from __future__ import annotations

import math
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._base import MIEstimator, MIResult, as_labels, check_int, check_positive, resolve_device
from .estimators import (
    EDGE,
    GaussianDropoutMI,
    KNNLabelMI,
    binning_mi_xz,
    binning_mi_yz,
    binning_ref_mi_xz,
    binning_ref_mi_yz,
    variational_iyz_from_logits,
)
from .estimators._binning import reference_noisy

if TYPE_CHECKING:
    import pandas
    from torch import nn

__all__ = [
    "InformationPlaneTracker",
    "SplitData",
    "RESULT_COLUMNS",
    "parse_estimators",
    "KNOWN_ESTIMATORS",
    "ESTIMATOR_FACTORIES",
]

RESULT_COLUMNS = ("epoch", "split", "estimator", "quantity", "value", "mc_error", "n", "d")
_MIXTURE_MODES_DEFAULT = ("dataset", "heldout")
#: the estimators that model Gaussian dropout noise of one variance Var(D)
_NEED_VARIANCE = ("mixture", "binning-ref")
_VARIANCE_HINT = "track a GaussianDropout layer (layer=...) or, without a layer, pass variance=..."
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class SplitData:
    """Everything collected for one step and one split, as NumPy arrays (rows = samples).

    ``z`` is the flattened noiseless representation f(x) ``(n, d)`` (float64); ``z_noisy`` one noisy
    sample of Z per input (or ``None``); ``y`` integer labels ``(n,)``; ``alpha`` the information-dropout
    noise scales ``(n, d)``; ``kl`` per-sample KL ``(n,)``; ``logits`` ``(n, n_classes)``.
    """

    epoch: int
    split: str
    z: np.ndarray
    y: np.ndarray
    z_noisy: np.ndarray | None = None
    alpha: np.ndarray | None = None
    kl: np.ndarray | None = None
    logits: np.ndarray | None = None
    seed: int = 0


# --------------------------------------------------------------------------- estimator adaptors


def _num(v) -> float | None:
    if v is None:
        return None
    if isinstance(v, MIResult):
        v = v.value
    v = float(v)
    return v


def _row(estimator: str, quantity: str, value, mc_error=None, n=None, d=None) -> dict:
    return {
        "estimator": estimator,
        "quantity": quantity,
        "value": _num(value),
        "mc_error": _num(mc_error),
        "n": n,
        "d": d,
    }


class _Mixture:
    """The Gaussian-dropout mixture views of I(X;Z), all requested views from ONE estimator pass.

    Rows ``mixture-<view>`` with ``I(X;Z)``, ``h(Z)``, ``h(Z|X)``; ``mc_error`` is the Monte-Carlo error over
    the dropout noise (``h(Z|X)`` is closed form: 0). ``zero_patterns`` comes from the tracker (False for
    softplus layers, whose exact zeros are float underflow).
    """

    def __init__(self, mode: str | None, tracker: InformationPlaneTracker):
        self.modes = (
            _MIXTURE_MODES_DEFAULT if mode is None else ("dataset", "heldout", "paper") if mode == "all" else (mode,)
        )
        self.t = tracker

    def __call__(self, data: SplitData):
        cls = GaussianDropoutMI
        variance = self.t.variance
        if variance is None:
            raise ValueError(f"the mixture estimator needs the Gaussian dropout variance; {_VARIANCE_HINT}")
        n, d = data.z.shape
        one = len(self.modes) == 1
        # the tracker shows one bar over its estimators; no nested bar inside the mixture scorer
        est = cls(
            variance=variance,
            n_noise=self.t.n_noise,
            mode=self.modes[0] if one else "all",
            n_centers=min(1000, n),
            seed=data.seed,
            device=self.t.device,
            progress=False,
            zero_patterns=bool(getattr(self.t, "zero_patterns", True)),
        )
        res = est.estimate(data.z)
        got = {self.modes[0]: res} if one else res
        for mode in self.modes:
            if mode not in got:
                raise ValueError(res.errors.get(mode, f"mixture view {mode!r} was not computed"))
            r = got[mode]
            name = f"mixture-{mode}"
            yield _row(name, "I(X;Z)", r.value, r.mc_error, n, d)
            yield _row(name, "h(Z)", r.h_z, r.details.get("h_z_mc_error"), n, d)
            yield _row(name, "h(Z|X)", r.h_z_given_x, 0.0, n, d)  # closed form: no MC error


class _Binning:
    """Binning of the noiseless representation: rows ``binning-<n>``, I(X;Z) and I(Y;Z)."""

    def __init__(self, n_bins: Sequence[int]):
        self.n_bins = tuple(n_bins)

    def __call__(self, data: SplitData):
        n, d = data.z.shape
        for b in self.n_bins:
            yield _row(f"binning-{b}", "I(X;Z)", binning_mi_xz(data.z, n_bins=b), n=n, d=d)
            yield _row(f"binning-{b}", "I(Y;Z)", binning_mi_yz(data.z, data.y, n_bins=b), n=n, d=d)


class _BinningRef:
    """Binning as the paper's code runs it (see the module docstring): rows ``binning-ref-<n>``."""

    def __init__(self, num_of_bins: Sequence[int], tracker: InformationPlaneTracker):
        self.num_of_bins = tuple(num_of_bins)
        self.t = tracker

    def __call__(self, data: SplitData):
        variance = self.t.variance
        if variance is None:
            raise ValueError(
                "the 'binning-ref' estimator bins a noisy draw f(x) * D as the paper's code does and "
                f"needs the Gaussian dropout variance; {_VARIANCE_HINT}"
            )
        n, d = data.z.shape
        z = reference_noisy(data.z, variance, seed=data.seed)  # one draw per input, shared by all counts
        for b in self.num_of_bins:
            name = f"binning-ref-{b}"
            yield _row(name, "I(X;Z)", binning_ref_mi_xz(z, b), n=n, d=d)
            yield _row(name, "I(Y;Z)", binning_ref_mi_yz(z, data.y, b), n=n, d=d)
            yield _row(name, "I(Y_binned;Z)", binning_ref_mi_yz(z, data.y, b, bin_labels=True), n=n, d=d)


class _LabelMI:
    """I(Y;Z) from an estimator built per step by ``make(seed)`` (EDGE, k-NN), on the noisy Z when given."""

    def __init__(self, name: str, make: Callable[[int], MIEstimator]):
        self.name, self.make = name, make

    def __call__(self, data: SplitData):
        z = data.z_noisy if data.z_noisy is not None else data.z
        r = self.make(data.seed).estimate(z, data.y)
        n, d = z.shape
        yield _row(self.name, "I(Y;Z)", r, getattr(r, "mc_error", None), n, d)


def _variational(data: SplitData):
    if data.logits is None:
        raise ValueError("the variational I(Y;Z) estimate needs logits; pass logits= to update()")
    r = variational_iyz_from_logits(data.logits, data.y)
    yield _row("variational", "I(Y;Z)", r.value, r.mc_error, len(data.y), data.z.shape[1])


def _kl(data: SplitData):
    if data.kl is None:
        raise ValueError("the 'kl' estimate (information dropout) needs per-sample KL values; pass kl= to update()")
    kl = data.kl.astype(np.float64)
    # the mean of given per-sample KLs involves no random draw: no Monte-Carlo error
    yield _row("kl", "I(X;Z)", float(kl.mean()), None, len(kl), data.z.shape[1])


def _counts(tracker: InformationPlaneTracker, arg: str | None) -> tuple[int, ...]:
    return tracker.n_bins if arg is None else (int(arg),)


#: Estimator name -> factory ``(tracker, argument or None) -> fn(SplitData) -> rows``. The argument is the
#: part after the name in ``"<name>-<argument>"`` (a mixture mode, a bin count).
ESTIMATOR_FACTORIES: dict[str, Callable[[InformationPlaneTracker, str | None], Callable[[SplitData], Iterable]]] = {
    "mixture": lambda t, arg: _Mixture(arg, t),
    "binning": lambda t, arg: _Binning(_counts(t, arg)),
    "binning-ref": lambda t, arg: _BinningRef(_counts(t, arg), t),
    "knn": lambda t, arg: _LabelMI("knn", lambda seed: KNNLabelMI()),  # deterministic: no seed
    "edge": lambda t, arg: _LabelMI("edge", lambda seed: EDGE(seed=seed)),
    "variational": lambda t, arg: _variational,
    "kl": lambda t, arg: _kl,
}
KNOWN_ESTIMATORS = tuple(ESTIMATOR_FACTORIES)
#: names that take an argument, with its pattern
_ARGUMENTS = {
    "mixture": (r"[a-z]+", "'mixture-<mode>' (e.g. 'mixture-dataset')"),
    "binning-ref": (r"[1-9][0-9]*", "'binning-ref-<num_of_bins>' (e.g. 'binning-ref-30')"),
    "binning": (r"[1-9][0-9]*", "'binning-<n_bins>' (e.g. 'binning-30')"),
}


def _split_name(name: str) -> tuple[str, str | None]:
    """``"binning-ref-30"`` -> ``("binning-ref", "30")``; raises ``ValueError`` for unknown names."""
    if name in ESTIMATOR_FACTORIES:
        return name, None
    for base, (pattern, spelling) in _ARGUMENTS.items():  # longest base first ("binning-ref" before "binning")
        if name.startswith(base + "-"):
            arg = name[len(base) + 1 :]
            if base == "binning" and arg.startswith("ref"):
                continue
            if not re.fullmatch(pattern, arg):
                raise ValueError(f"bad {base} estimator name {name!r}; use {base!r} or {spelling}")
            if base.startswith("binning") and int(arg) < 2:
                raise ValueError(f"bad {base} estimator name {name!r}: the count must be >= 2")
            return base, arg
    raise ValueError(
        f"unknown estimator {name!r}; choose from {', '.join(KNOWN_ESTIMATORS)} "
        "(or 'mixture-<mode>', 'binning-<n_bins>', 'binning-ref-<num_of_bins>')"
    )


def parse_estimators(names: Iterable[str | Callable]) -> list[str | Callable]:
    """Validate estimator names (see the module docstring); return them as a list.

    Raises ``ValueError`` naming the unknown entry.
    """
    out: list[str | Callable] = []
    for name in names:
        if callable(name):
            out.append(name)
            continue
        if not isinstance(name, str):
            raise ValueError(f"estimator entries must be names or callables; got {name!r}")
        _split_name(name)
        out.append(name)
    return out


def _stable_seed(*parts) -> int:
    """A seed that depends only on ``parts`` (not on Python's salted ``hash``)."""
    key = "|".join(map(str, parts)).encode()
    return int(np.random.SeedSequence([zlib.crc32(key)]).generate_state(1, dtype=np.uint32)[0])


# --------------------------------------------------------------------------- the tracker


class InformationPlaneTracker:
    """Collect representations of a dropout layer per step and estimate the information plane.

    Parameters
    ----------
    estimators : sequence of str or callable
        Names from :data:`KNOWN_ESTIMATORS` (see the module docstring) or callables
        ``fn(SplitData) -> iterable of dict``. Default: binning and the k-NN label estimator.
    layer : torch.nn.Module, optional
        The dropout layer whose representations are tracked. Its ``variance`` (Var(D) of a
        :class:`~ipdrop.dropout.GaussianDropout`) is what ``"mixture"`` and ``"binning-ref"`` use, read at
        every ``compute``; see "Where the variance comes from" in the module docstring. ``update`` still takes
        the arrays (e.g. ``layer.last_noiseless``).
    variance : float, optional
        Var(D) for estimates without a layer (stored representations). With ``layer`` it must equal the
        layer's variance. ``"mixture"`` and ``"binning-ref"`` need one of the two.
    n_noise : int
        Noise draws per input for the mixture estimator.
    n_bins : sequence of int
        Bin counts for ``"binning"`` (and the reference's ``num_of_bins`` for ``"binning-ref"``).
    seed : int
        Base seed; the estimators of step ``epoch``, split ``split`` get a seed derived from
        ``(seed, epoch, split)``, so results do not depend on what ran before.
    device : str
        Device for the mixture estimator (``"auto"``: CUDA when available).
    progress : bool
        A tqdm progress bar over the estimates of a step.
    max_samples : int, optional
        Keep at most this many samples per split and step (the first ones); ``None`` keeps all.
    activation : {None, "relu", "softplus", "identity"}
        Activation of the tracked layer. For ``"mixture"``: exact zeros are structural zero patterns only for
        "relu" (and None, unknown); for "softplus"/"identity" they are float underflow and are floored
        (``GaussianDropoutMI(zero_patterns=False)``). :func:`ipdrop.training.train` sets ``zero_patterns`` from
        the model itself.
    on_error : {"raise", "warn"}
        What a failing estimator does: raise, or emit a ``RuntimeWarning`` and contribute no rows
        (e.g. the held-out mixture on ReLU features whose zero patterns are all distinct).

    Examples
    --------
    >>> tracker = InformationPlaneTracker(["mixture", "binning", "edge"], layer=model.dropout)
    >>> for epoch in range(3):
    ...     train_one_epoch(model)
    ...     tracker.increment(epoch)
    ...     model.eval()
    ...     for x, y in loader:
    ...         logits = model(x)
    ...         tracker.update(model.dropout.last_noiseless, y, split="train", logits=logits)
    >>> df = tracker.compute_all()
    """

    def __init__(
        self,
        estimators: Sequence[str | Callable] = ("binning", "knn"),
        *,
        layer: nn.Module | None = None,
        variance: float | None = None,
        n_noise: int = 10,
        n_bins: Sequence[int] = (30,),
        seed: int = 0,
        device: str = "cpu",
        progress: bool = False,
        max_samples: int | None = None,
        on_error: str = "raise",
        activation: str | None = None,
    ) -> None:
        # validated here (a tracker is never cloned; errors should surface at construction)
        if isinstance(estimators, str):
            estimators = (estimators,)
        self.estimators = tuple(parse_estimators(estimators))
        if not self.estimators:
            raise ValueError("estimators must name at least one estimator")
        self._variance = None if variance is None else check_positive(variance, "variance")
        self.layer: nn.Module | None = None
        if layer is not None:
            self.track_layer(layer)
        elif self._variance is None and self._need_variance():
            base = self._need_variance()[0]
            raise ValueError(f"the {base!r} estimator needs the Gaussian dropout variance; {_VARIANCE_HINT}")
        self.n_noise = check_int(n_noise, "n_noise")
        if isinstance(n_bins, (int, np.integer)):
            n_bins = (int(n_bins),)
        self.n_bins = tuple(check_int(b, "n_bins", minimum=2) for b in n_bins)
        self.seed = check_int(seed, "seed", minimum=0)
        self.device = str(resolve_device(device))
        self.progress = bool(progress)
        self.max_samples = None if max_samples is None else check_int(max_samples, "max_samples")
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn'; got {on_error!r}")
        self.on_error = on_error
        if activation not in (None, "relu", "softplus", "identity"):
            raise ValueError(f"activation must be None, 'relu', 'softplus' or 'identity'; got {activation!r}")
        self.activation = activation
        # exact zeros are structural only where the layer can produce them (ReLU; None: unknown, kept exact)
        self.zero_patterns = activation in (None, "relu")
        self._fns = []
        for e in self.estimators:
            if callable(e):
                self._fns.append(e)
            else:
                base, arg = _split_name(e)
                self._fns.append(ESTIMATOR_FACTORIES[base](self, arg))
        self.reset()

    # -- torchmetrics-like API ---------------------------------------------------------------
    def reset(self) -> None:
        """Forget every step, buffer and result."""
        self._epochs: list[int] = []
        self._buffers: dict[str, dict[str, list]] = {}
        self._results: dict[int, list[dict]] = {}

    @property
    def n_steps(self) -> int:
        """Number of steps started with :meth:`increment`."""
        return len(self._epochs)

    @property
    def epoch(self) -> int:
        """The current step's epoch label."""
        if not self._epochs:
            raise RuntimeError("no step yet: call increment() before update()/compute()")
        return self._epochs[-1]

    def increment(self, epoch: int | None = None) -> None:
        """Start a new step labelled ``epoch`` (default: the number of steps so far).

        Buffers of the previous step are computed (if not yet) and then freed.
        """
        if epoch is None:
            epoch = len(self._epochs)
        epoch = check_int(epoch, "epoch", minimum=0)
        if epoch in self._epochs:
            raise ValueError(f"step {epoch} was already tracked; epochs must be distinct")
        if self._epochs and self._buffers:
            self.compute()
        self._buffers = {}
        self._epochs.append(epoch)

    def update(
        self,
        z_noiseless: ArrayLike,
        y: ArrayLike,
        split: str = "train",
        *,
        z_noisy: ArrayLike | None = None,
        alpha: ArrayLike | None = None,
        kl: ArrayLike | None = None,
        logits: ArrayLike | None = None,
    ) -> None:
        """Append one batch of the current step.

        Parameters
        ----------
        z_noiseless : tensor or array ``(B, ...)``
            The noiseless representation f(x) entering the dropout noise (flattened to ``(B, d)``).
        y : integer labels ``(B,)``.
        split : ``"train"`` or ``"test"``.
        z_noisy : optional noisy sample of Z, same shape as ``z_noiseless``.
        alpha : optional information-dropout noise scales, same shape.
        kl : optional per-sample KL ``(B,)`` (information dropout).
        logits : optional ``(B, n_classes)`` network outputs (for ``"variational"``).
        """
        if not self._epochs:
            raise RuntimeError("call increment(epoch) before update(): no tracking step has been started")
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}; got {split!r}")
        z = _to_numpy(z_noiseless, "z_noiseless")
        b = z.shape[0]
        z = z.reshape(b, -1)
        yb = as_labels(_to_numpy(y, "y"), "y", n=b)
        parts = {"z": z, "y": yb}
        for key, v in (("z_noisy", z_noisy), ("alpha", alpha), ("logits", logits)):
            if v is not None:
                a = _to_numpy(v, key)
                if a.shape[0] != b:
                    raise ValueError(f"{key} has {a.shape[0]} rows but z_noiseless has {b}")
                parts[key] = a.reshape(b, -1)
        if kl is not None:
            a = _to_numpy(kl, "kl").reshape(-1)
            if a.shape[0] != b:
                raise ValueError(f"kl has {a.shape[0]} entries but z_noiseless has {b} rows")
            parts["kl"] = a
        buf = self._buffers.setdefault(split, {})
        if buf and set(buf) != set(parts):
            raise ValueError(
                f"inconsistent update: this step's {split!r} batches so far had {sorted(buf)}, "
                f"this one has {sorted(parts)}"
            )
        for k, v in parts.items():
            buf.setdefault(k, []).append(v)
        self._results.pop(self.epoch, None)  # new data invalidates a cached result

    def _split_data(self, split: str) -> SplitData:
        buf = self._buffers[split]
        arrays = {k: np.concatenate(v, axis=0) for k, v in buf.items()}
        if self.max_samples is not None:
            arrays = {k: v[: self.max_samples] for k, v in arrays.items()}
        arrays["z"] = arrays["z"].astype(np.float64)
        if "z_noisy" in arrays:
            arrays["z_noisy"] = arrays["z_noisy"].astype(np.float64)
        return SplitData(epoch=self.epoch, split=split, seed=_stable_seed(self.seed, self.epoch, split), **arrays)

    def _need_variance(self) -> list[str]:
        """The estimators of this tracker that need Var(D) (their base names)."""
        bases = (_split_name(e)[0] for e in self.estimators if isinstance(e, str))
        return [b for b in bases if b in _NEED_VARIANCE]

    @staticmethod
    def _layer_variance(layer: object) -> float | None:
        v = getattr(layer, "variance", None)
        return None if v is None else check_positive(v, f"{type(layer).__name__}.variance")

    @property
    def variance(self) -> float | None:
        """Var(D) the estimators use: the tracked layer's (read now), else the ``variance`` given, else None."""
        if self.layer is not None:
            return self._layer_variance(self.layer)
        return self._variance

    def track_layer(self, layer: nn.Module) -> None:
        """Follow ``layer``: the estimators take Var(D) from it (see "Where the variance comes from").

        Raises ``ValueError`` when an estimator needs a variance the layer does not have (information,
        binary or no dropout), or when the ``variance`` given to the constructor differs from the layer's.
        """
        v = self._layer_variance(layer)
        name = type(layer).__name__
        if v is None:
            need = self._need_variance()
            if need:
                why = (
                    "its noise exp(alpha(x) * n) has a learned scale per sample and unit, not one Var(D); "
                    "use 'kl' for I(X;Z)"
                    if hasattr(layer, "last_alpha")  # information dropout (see ipdrop.dropout)
                    else "it adds no Gaussian noise"
                )
                raise ValueError(
                    f"the tracked layer ({name}) has no Gaussian dropout variance, which the {need[0]!r} "
                    f"estimator needs: {why}"
                )
            if self._variance is not None:
                raise ValueError(
                    f"variance={self._variance!r} was given, but the tracked layer ({name}) has no Gaussian "
                    "dropout variance: the estimates would describe noise the layer does not add; leave variance out"
                )
        elif self._variance is not None and not math.isclose(v, self._variance, rel_tol=1e-12, abs_tol=0.0):
            raise ValueError(
                f"variance={self._variance!r} differs from the tracked layer's variance {v!r} ({name}); "
                "the estimators read the layer's: leave variance out"
            )
        self.layer = layer

    def current_data(self) -> dict[str, SplitData]:
        """The current step's collected arrays, one :class:`SplitData` per split that received data."""
        _ = self.epoch  # raises when no step was started
        return {split: self._split_data(split) for split in _SPLITS if split in self._buffers}

    def compute(self) -> pandas.DataFrame:
        """Estimates for the current step as a tidy DataFrame (cached until the next ``update``)."""
        epoch = self.epoch
        if epoch not in self._results:
            if not self._buffers:
                raise RuntimeError(f"step {epoch} has no data: call update() before compute()")
            rows = []
            jobs = [
                (split, name, fn)
                for split in _SPLITS
                if split in self._buffers
                for name, fn in zip(self.estimators, self._fns)
            ]
            if self.progress:
                from tqdm.auto import tqdm

                jobs = tqdm(jobs, desc=f"IP estimates, epoch {epoch}", leave=False)
            cache: dict[str, SplitData] = {}
            for split, name, fn in jobs:
                if split not in cache:
                    cache.clear()  # one split's arrays at a time
                    cache[split] = self._split_data(split)
                data = cache[split]
                produced = []  # rows yielded before a failure are kept (e.g. the dataset view of
                try:  # the mixture when its held-out view meets an unseen zero pattern)
                    for r in fn(data):
                        produced.append(r)
                except (ValueError, np.linalg.LinAlgError) as exc:
                    if self.on_error == "raise":
                        raise
                    warnings.warn(
                        f"estimator {name!r} failed at epoch {epoch}, split {split!r}: {exc}; "
                        f"{'no rows' if not produced else 'only the rows before the failure'} "
                        "recorded",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                for r in produced:
                    if isinstance(r, MIResult):
                        r = _row(r.estimator, r.quantity, r.value, r.mc_error, r.n, r.d)
                    r = dict(r)
                    missing = {"estimator", "quantity", "value"} - set(r)
                    if missing:
                        raise ValueError(f"estimator {fn!r} returned a row without {sorted(missing)}")
                    rows.append(
                        {
                            "epoch": epoch,
                            "split": split,
                            "mc_error": None,
                            "n": data.z.shape[0],
                            "d": data.z.shape[1],
                            **{k: v for k, v in r.items() if v is not None or k == "mc_error"},
                        }
                    )
            self._results[epoch] = rows
        return _frame(self._results[epoch])

    def compute_all(self) -> pandas.DataFrame:
        """Tidy DataFrame of every step (computing the current one if needed)."""
        if self._epochs and self._buffers and self.epoch not in self._results:
            self.compute()
        rows = [r for e in self._epochs for r in self._results.get(e, [])]
        return _frame(rows)

    def __repr__(self) -> str:
        return (
            f"InformationPlaneTracker(estimators={list(self.estimators)!r}, variance={self.variance!r}, "
            f"n_noise={self.n_noise}, n_bins={self.n_bins}, seed={self.seed}, steps={self.n_steps})"
        )


def _to_numpy(v, name: str) -> np.ndarray:
    if hasattr(v, "detach"):  # torch tensor: detach, to CPU; half precision -> float32
        v = v.detach().cpu()
        if v.dtype.is_floating_point and v.element_size() < 4:
            v = v.float()
        v = v.numpy()
    a = np.asarray(v)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a batch dimension; got a scalar")
    return a


def _frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    for c in RESULT_COLUMNS:
        if c not in df:
            df[c] = None
    extra = [c for c in df.columns if c not in RESULT_COLUMNS]
    return df[list(RESULT_COLUMNS) + extra]
