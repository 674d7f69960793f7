"""Shared result type, estimator interface and input validation.

This module imports nothing from the rest of the package (so every other module
can import it without cycles).

Conventions used everywhere in ipdrop
-------------------------------------
* Mutual information and entropies are in **nats** (natural logarithm).
* ``variance`` is always Var(D) = sigma^2 of the multiplicative Gaussian dropout
  noise D ~ N(1, sigma^2), so that Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2).
* Randomness comes from an explicit ``seed`` (an int) or a ``numpy.random.Generator``;
  no function touches global random state.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import torch

#: what ``seed=`` takes: a non-negative int, a ``numpy.random.Generator`` or None (fresh entropy)
Seed: TypeAlias = "int | np.random.Generator | None"

VARIANCE_CONVENTION = "variance = Var(D) = sigma^2, D ~ N(1, sigma^2); Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2)"


@dataclass(frozen=True, kw_only=True)
class MIResult:
    """One mutual-information (or entropy) estimate, in nats.

    Attributes
    ----------
    value : the estimate in nats.
    estimator : short name of the estimator that produced it (e.g. ``"edge"``).
    quantity : what the number is, in words, e.g. ``"I(X;Z), X uniform on the sample (<= log N)"``.
    n : number of samples used.
    d : dimension of the representation, when meaningful.
    stderr : the estimator's own spread-based standard error of ``value`` when it has one (e.g. the
        spread of per-input terms over sqrt(N), an ensemble spread); estimator-specific, *not* a
        Monte-Carlo error. ``details`` says what it is.
    mc_error : Monte-Carlo standard error of ``value`` over the estimator's own random draws (e.g. the
        dropout noise with inputs and centres fixed), when the estimator measures it; ``None`` otherwise.
    details : everything else (parameters, training curves, bounds).
    """

    value: float
    estimator: str
    quantity: str = ""
    n: int = 0
    d: int | None = None
    stderr: float | None = None
    mc_error: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)

    def as_dict(self) -> dict[str, Any]:
        """Flat dict (for tidy tables): the fields, with ``details`` entries that are scalars."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "details"}
        for k, v in self.details.items():
            if isinstance(v, (numbers.Number, str, bool)) or v is None:
                out.setdefault(k, v)
        return out


class MIEstimator:
    """Common interface: parameters in ``__init__`` (stored as given, no logic), then
    ``estimate(x, y=None) -> MIResult``. ``x`` is ``(n_samples, dim_x)``; ``y`` is
    ``(n_samples, dim_y)`` or integer labels ``(n_samples,)`` depending on the estimator.
    An estimator that needs ``y`` raises ``ValueError`` when it is missing, one that cannot use it raises
    ``ValueError`` when it is given (never silently ignores it). Randomised estimators take ``seed=0`` by
    default; those that can run on a GPU take ``device="auto"``.
    """

    name: str = "estimator"

    def estimate(self, x: Any, y: Any = None) -> MIResult:  # pragma: no cover - interface
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------- validation


def as_2d_float(x: Any, name: str = "x", *, min_samples: int = 2, dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array ``(n_samples, dim)``; 1-D input becomes one column.

    Raises ``ValueError`` naming ``name`` for non-finite values, wrong dimensionality or too few samples.
    """
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype == object:
        raise ValueError(f"{name} must be numeric, got an object array")
    a = a.astype(dtype, copy=False)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, dim); got shape {a.shape}")
    if a.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples; got {a.shape[0]}")
    if a.shape[1] < 1:
        raise ValueError(f"{name} has zero features; shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return a


def as_labels(y: Any, name: str = "y", *, n: int | None = None) -> np.ndarray:
    """Return integer class labels as a 1-D int64 array; reject non-integer or non-finite values."""
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D integer labels; got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains non-finite values; labels must be integers")
        if not np.all(a == np.round(a)):
            raise ValueError(
                f"{name} must hold integer class labels; got non-integer values such as {a[a != np.round(a)][0]!r}"
            )
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class labels; got dtype {a.dtype}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"Found inputs with inconsistent numbers of samples: [{n}, {a.shape[0]}] ({name})")
    return a.astype(np.int64)


def check_consistent_length(*arrays: Any, names: Any = None) -> int:
    """Raise ``ValueError`` when the arrays do not share their first dimension; return it."""
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        label = f" ({', '.join(names)})" if names else ""
        raise ValueError(f"Found inputs with inconsistent numbers of samples: {lengths}{label}")
    return lengths[0]


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is finite and > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        op = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {op}; got {value!r}")
    return v


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum`` (integral floats such as ``3.0`` are accepted).

    Raises ``ValueError`` naming ``name`` otherwise (strings, bools, non-integral floats, too small).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__})")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return v


class TrainingDivergedError(ValueError, FloatingPointError):
    """A trained estimator's optimiser diverged (non-finite or exploding loss); the message names ``lr``.

    A ``ValueError`` (the learning rate is a bad parameter for the data) and, for compatibility, a
    ``FloatingPointError``.
    """


def make_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """``numpy.random.Generator`` from an int seed >= 0, a Generator (returned as is) or None (fresh entropy).

    Anything else (a string, a float, a negative int, a bool) raises ``ValueError`` naming ``name``.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(_check_seed_int(seed, name))


def torch_generator(seed: Any, device: Any = "cpu", name: str = "seed") -> torch.Generator:
    """``torch.Generator`` on ``device`` seeded with the int ``seed`` (or drawn from a numpy Generator, or fresh
    entropy for ``None``); invalid seeds raise ``ValueError`` naming ``name``."""
    import torch

    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**63 - 1))
    elif seed is None:
        seed = int(np.random.default_rng().integers(0, 2**63 - 1))
    else:
        seed = _check_seed_int(seed, name)
    g = torch.Generator(device=str(device))
    g.manual_seed(seed)
    return g


def _check_seed_int(seed: Any, name: str) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)) or int(seed) < 0:
        raise ValueError(
            f"{name} must be a non-negative int, None or numpy.random.Generator; got {seed!r} ({type(seed).__name__})"
        )
    return int(seed)


def resolve_device(device: Any = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; otherwise ``torch.device(device)``."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (a torch device); got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev
