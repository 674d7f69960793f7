"""Dropout layers whose noise makes I(X;Z) finite, plus binary dropout for contrast.

Every layer here subclasses :class:`IPDropout` and, after each forward pass, keeps
what an information-plane analysis needs (the *contract* relied on by the tracker):

``last_noiseless``
    f(x), the noiseless representation that the noise multiplies, detached, shape ``(B, ...)``
    (``(B, C, H, W)`` for convolutional features).
``last_output``
    z = f(x) * D, the noisy output, detached.
``last_alpha`` (:class:`InformationDropout` only)
    the per-unit noise scale alpha(x), detached, same shape as ``last_noiseless``.
``last_kl`` (:class:`InformationDropout` only)
    per-sample KL(p(z|x) || p(z)) summed over units, shape ``(B,)``, **not** detached: it is
    the regulariser of the information-dropout loss. It is set on every forward, whatever
    ``record`` says.
``record``
    ``True`` (default) keeps the detached tensors above; ``False`` skips storing them.
``mc``
    Monte-Carlo dropout switch. Noise is drawn while ``self.training`` is true, and at
    evaluation **only** when ``mc`` is true (see :func:`mc_dropout`). A model in ``eval()``
    mode with ``mc = False`` is deterministic.
``generator``
    optional ``torch.Generator``; when set, noise is drawn from it (on the generator's
    device, then moved to the input's device), which makes Monte-Carlo evaluation repeatable.
    When ``None`` the global torch RNG on the input's device is used (seeded by the trainer).

Conventions: ``variance`` is Var(D) = sigma^2 of Gaussian dropout D ~ N(1, sigma^2), so that
Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2); a binary drop rate p corresponds to
sigma^2 = p / (1 - p) (Srivastava et al., 2014).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ._base import check_positive
from .estimators._infodropout import F_FLOOR, KL_FORMS, kl_relu_terms, kl_softplus_terms

__all__ = [
    "IPDropout",
    "GaussianDropout",
    "InformationDropout",
    "BernoulliDropout",
    "NoDropout",
    "mc_dropout",
    "set_mc",
    "dropout_layers",
    "information_kl",
]

_ACTIVATIONS = ("softplus", "relu")


def _check_rate(p, name: str = "p") -> float:
    try:
        v = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1); got {p!r}") from None
    if not (0.0 <= v < 1.0) or math.isnan(v):
        raise ValueError(f"{name} must be a drop rate in [0, 1); got {p!r}")
    return v


def _activation(name: str):
    if name == "softplus":
        return F.softplus
    if name == "relu":
        return F.relu
    raise ValueError(f"activation must be one of {_ACTIVATIONS}; got {name!r}")


class IPDropout(nn.Module):
    """Base class of ipdrop's dropout layers: MC switch, recording, optional generator.

    Subclasses implement ``forward`` and call :meth:`_store` with the noiseless
    representation and the output. See the module docstring for the attribute contract.
    """

    def __init__(self) -> None:
        super().__init__()
        self.record: bool = True
        self.mc: bool = False
        self.generator: torch.Generator | None = None
        self.last_noiseless: torch.Tensor | None = None
        self.last_output: torch.Tensor | None = None

    @property
    def noise_active(self) -> bool:
        """True when this forward pass draws noise: in training mode, or in eval with ``mc``."""
        return bool(self.training or self.mc)

    # -- random numbers --------------------------------------------------------------
    def _randn(self, like: torch.Tensor) -> torch.Tensor:
        g = self.generator
        if g is None:
            return torch.randn_like(like)
        return torch.randn(like.shape, generator=g, device=g.device, dtype=like.dtype).to(like.device)

    def _rand(self, like: torch.Tensor) -> torch.Tensor:
        g = self.generator
        if g is None:
            return torch.rand_like(like)
        return torch.rand(like.shape, generator=g, device=g.device, dtype=like.dtype).to(like.device)

    # -- recording -------------------------------------------------------------------
    def _store(self, noiseless: torch.Tensor, output: torch.Tensor) -> None:
        if self.record:
            self.last_noiseless = noiseless.detach()
            self.last_output = output.detach()

    def clear(self) -> None:
        """Drop the stored tensors (e.g. before saving or to free memory)."""
        self.last_noiseless = None
        self.last_output = None

    def __getstate__(self):
        # Records are transient: copies and pickles (copy.deepcopy, torch.save) start without
        # them. This also drops ``last_kl``, a non-leaf tensor that cannot be deep-copied.
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        for k in ("last_noiseless", "last_output", "last_alpha", "last_kl"):
            if k in state:
                state[k] = None
        return state


class NoDropout(IPDropout):
    """Identity layer that records its input: the deterministic-network baseline.

    Used by the models when ``dropout=None`` so that ``model.dropout.last_noiseless``
    is available for binning estimators of deterministic networks.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._store(x, x)
        return x


class GaussianDropout(IPDropout):
    """Multiplicative Gaussian dropout, z = f(x) * D with D ~ N(1, variance) per unit.

    Parameters
    ----------
    variance : float
        Var(D) = sigma^2 > 0. Use :meth:`from_rate` to convert a binary drop rate p
        (sigma^2 = p / (1 - p)).
    mc : bool
        Monte-Carlo mode: draw noise also in ``eval()`` mode. Default ``False``.

    Notes
    -----
    The input of this layer *is* the noiseless representation f(x) (apply the activation
    before it). Noise is off in ``eval()`` unless ``mc`` is true; E[D] = 1, so no rescaling
    is needed at evaluation.
    """

    def __init__(self, variance: float, mc: bool = False) -> None:
        super().__init__()
        self.variance = check_positive(variance, "variance")
        self.mc = bool(mc)

    @classmethod
    def from_rate(cls, p: float, mc: bool = False) -> GaussianDropout:
        """Gaussian dropout matching a binary drop rate ``p`` in (0, 1): variance = p / (1 - p)."""
        p = _check_rate(p)
        if p == 0.0:
            raise ValueError("p = 0 gives variance 0; Gaussian dropout needs a drop rate in (0, 1)")
        return cls(p / (1.0 - p), mc=mc)

    @property
    def std(self) -> float:
        """sigma = sqrt(variance)."""
        return math.sqrt(self.variance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise_active:
            z = x * (1.0 + self.std * self._randn(x))
        else:
            z = x
        self._store(x, z)
        return z

    def extra_repr(self) -> str:
        return f"variance={self.variance:g}, mc={self.mc}"


class BernoulliDropout(IPDropout):
    """Standard (inverted) binary dropout: z = f(x) * B / (1 - p), B ~ Bernoulli(1 - p).

    Binary noise does *not* make I(X;Z) finite (paper, Theorem 3.1); this layer exists for
    the demonstrations of that fact. Same MC switch and recording as the other layers.

    Parameters
    ----------
    p : float
        Drop rate in [0, 1) (``p = 0`` is the identity).
    mc : bool
        Monte-Carlo mode (noise also in ``eval()``).
    """

    def __init__(self, p: float, mc: bool = False) -> None:
        super().__init__()
        self.p = _check_rate(p)
        self.mc = bool(mc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise_active and self.p > 0.0:
            keep = (self._rand(x) >= self.p).to(x.dtype)
            z = x * keep / (1.0 - self.p)
        else:
            z = x
        self._store(x, z)
        return z

    def extra_repr(self) -> str:
        return f"p={self.p:g}, mc={self.mc}"


def _information_kl(
    noiseless: torch.Tensor,
    alpha: torch.Tensor,
    activation: str,
    prior_mean: float,
    prior_std: float,
    log_c: float,
    q: float,
    kl_form: str = "exact",
    f_floor: float = F_FLOOR,
) -> torch.Tensor:
    """Per-unit KL(p(z|x) || p(z)) of information dropout (Achille & Soatto, 2018).

    Delegates to the one implementation in :mod:`ipdrop.estimators._infodropout`
    (:func:`~ipdrop.estimators._infodropout.kl_softplus_terms` / ``kl_relu_terms``), which the
    reporting functions ``infodropout_kl_softplus`` / ``infodropout_mi`` use too:

    softplus, log-normal prior log z ~ N(mu_p, sigma_p^2); p(log z | x) = N(log f(x), alpha^2):
        KL = log(sigma_p / alpha) + (alpha^2 + (log max(f, f_floor) - mu_p)^2) / (2 sigma_p^2) - 1/2
    (``kl_form="exact"``; ``"eq7"`` is the paper's eq. 7 as printed, without the log f term).
    relu, prior = point mass q at 0 + improper log-uniform with density c of log z:
        KL = -log(alpha) - 1/2 log(2 pi e) - log c   where f(x) != 0   (paper eq. 5)
        KL = -log q                                  where f(x) == 0   (paper eq. 6)
    """
    if activation == "softplus":
        return kl_softplus_terms(
            alpha, noiseless, prior_mean=prior_mean, prior_std=prior_std, kl_form=kl_form, f_floor=f_floor
        )
    return kl_relu_terms(alpha, noiseless, log_c=log_c, q=q)


class InformationDropout(IPDropout):
    """Information dropout (Achille & Soatto, 2018) with its own main layer and alpha layer.

    Computes, from the layer input ``x``:

    * f(x) = activation(BN?(W x)), the main path (``self.main``: Linear, or Conv2d when
      ``kind="conv"``, optionally followed by BatchNorm2d);
    * alpha(x) = 0.001 + max_alpha * sigmoid(g(x)) with its own small layer
      ``self.alpha_layer`` (Linear, or a ``kernel_size`` conv with the same stride);
    * z = f(x) * eps, eps = exp(alpha(x) * n), n ~ N(0, 1), i.e. eps ~ logN(0, alpha^2)
      (noise only in training or MC mode; in ``eval()`` the output is f(x));
    * ``last_kl``: per-sample sum over units of KL(p(z|x) || p(z)) (see :func:`_information_kl`),
      not detached, always set, computed in training and evaluation alike.

    Parameters
    ----------
    in_features : int
        Input features (``kind="linear"``) or input channels (``kind="conv"``).
    out_features : int, optional
        Output units/channels; defaults to ``in_features``.
    max_alpha : float
        Upper bound of alpha - 0.001 (paper: 0.7 for MNIST, 0.95 for the CIFAR fullCNN).
    activation : {"softplus", "relu"}
        Activation of the main path; it also selects the prior (log-normal / log-uniform).
    kind : {"linear", "conv"}
    kernel_size, stride : int
        Convolution geometry of both conv layers (padding ``kernel_size // 2``, i.e. "same").
    batch_norm : bool
        BatchNorm2d between the main conv and the activation (``kind="conv"`` only).
    prior_mean, prior_std : float
        Log-normal prior of the softplus case: log z ~ N(prior_mean, prior_std^2).
    c : float, optional
        ReLU case: density of log z under the improper log-uniform prior. ``None`` picks
        c so that KL = -log(alpha / (max_alpha + 0.001)) on active units, i.e. zero at the
        largest allowed alpha, as in Achille & Soatto's code.
    q : float
        ReLU case: prior mass at 0, in (0, 1]; inactive units cost -log q (default 1: 0 nats).
    kl_form : {"exact", "eq7"}
        Softplus case: ``"exact"`` (default) is the exact KL including the (log f - mu)^2 term, as in
        Achille & Soatto's code; ``"eq7"`` is the paper's eq. 7 as printed (posterior log-mean 0).
    f_floor : float
        Softplus case: log f is computed from max(f, f_floor) (default 1e-4, as in the reference code;
        0 disables the clamp). The reporting function :func:`ipdrop.estimators.infodropout_kl_softplus`
        uses the same defaults and the same code, so it reproduces ``last_kl``.
    mc : bool
        Monte-Carlo mode.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int | None = None,
        *,
        max_alpha: float = 0.7,
        activation: str = "softplus",
        kind: str = "linear",
        kernel_size: int = 3,
        stride: int = 1,
        batch_norm: bool = False,
        prior_mean: float = 0.0,
        prior_std: float = 1.0,
        c: float | None = None,
        q: float = 1.0,
        kl_form: str = "exact",
        f_floor: float = F_FLOOR,
        mc: bool = False,
    ) -> None:
        super().__init__()
        if kind not in ("linear", "conv"):
            raise ValueError(f"kind must be 'linear' or 'conv'; got {kind!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}; got {activation!r}")
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        out_features = in_features if out_features is None else out_features
        self.max_alpha = check_positive(max_alpha, "max_alpha")
        self.prior_std = check_positive(prior_std, "prior_std")
        self.prior_mean = float(prior_mean)
        if not math.isfinite(self.prior_mean):
            raise ValueError(f"prior_mean must be finite; got {prior_mean!r}")
        self.q = float(q)
        if not (0.0 < self.q <= 1.0):
            raise ValueError(f"q (prior mass at zero) must be in (0, 1]; got {q!r}")
        if c is None:
            self.log_c = -math.log(self.max_alpha + 0.001) - 0.5 * math.log(2 * math.pi * math.e)
        else:
            self.log_c = math.log(check_positive(c, "c"))
        self.c = c
        if kl_form not in KL_FORMS:
            raise ValueError(f"kl_form must be one of {list(KL_FORMS)}; got {kl_form!r}")
        self.kl_form = kl_form
        self.f_floor = check_positive(f_floor, "f_floor", allow_zero=True)
        self.activation = activation
        self.kind = kind
        self.in_features = in_features
        self.out_features = out_features
        self.mc = bool(mc)
        self.last_alpha: torch.Tensor | None = None
        self.last_kl: torch.Tensor | None = None

        self.main: nn.Module
        self.alpha_layer: nn.Module
        if kind == "linear":
            if batch_norm:
                raise ValueError("batch_norm=True is only supported with kind='conv'")
            self.main = nn.Linear(in_features, out_features)
            self.alpha_layer = nn.Linear(in_features, out_features)
        else:
            pad = kernel_size // 2
            conv = nn.Conv2d(in_features, out_features, kernel_size, stride=stride, padding=pad)
            self.main = nn.Sequential(conv, nn.BatchNorm2d(out_features)) if batch_norm else conv
            self.alpha_layer = nn.Conv2d(in_features, out_features, kernel_size, stride=stride, padding=pad)
        self._act = _activation(activation)

    def alpha(self, x: torch.Tensor) -> torch.Tensor:
        """alpha(x) = 0.001 + max_alpha * sigmoid(g(x)), in [0.001, 0.001 + max_alpha]."""
        return 0.001 + self.max_alpha * torch.sigmoid(self.alpha_layer(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self._act(self.main(x))
        alpha = self.alpha(x)
        kl = _information_kl(
            f, alpha, self.activation, self.prior_mean, self.prior_std, self.log_c, self.q, self.kl_form, self.f_floor
        )
        self.last_kl = kl.flatten(1).sum(dim=1)
        if self.noise_active:
            z = f * torch.exp(alpha * self._randn(f))
        else:
            z = f
        self._store(f, z)
        if self.record:
            self.last_alpha = alpha.detach()
        return z

    def clear(self) -> None:
        super().clear()
        self.last_alpha = None
        self.last_kl = None

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, activation={self.activation!r}, max_alpha={self.max_alpha:g}, mc={self.mc}"


# --------------------------------------------------------------------------- helpers


def dropout_layers(model: nn.Module) -> list[IPDropout]:
    """All :class:`IPDropout` modules of ``model`` (including ``model`` itself), in order."""
    return [m for m in model.modules() if isinstance(m, IPDropout)]


def set_mc(model: nn.Module, enabled: bool = True) -> int:
    """Set ``mc`` on every ipdrop dropout layer of ``model``; return how many were set."""
    layers = dropout_layers(model)
    for m in layers:
        m.mc = bool(enabled)
    return len(layers)


@contextlib.contextmanager
def mc_dropout(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Context manager: Monte-Carlo dropout (noise on in ``eval()``) for every ipdrop
    dropout layer of ``model``; the previous ``mc`` values are restored on exit.

    Batch norm and other layers keep their eval behaviour; only dropout noise is switched.

    Examples
    --------
    >>> model.eval()
    >>> with mc_dropout(model):
    ...     samples = [model(x) for _ in range(10)]   # random
    """
    layers = dropout_layers(model)
    previous = [m.mc for m in layers]
    try:
        for m in layers:
            m.mc = bool(enabled)
        yield model
    finally:
        for m, v in zip(layers, previous):
            m.mc = v


def information_kl(model: nn.Module) -> torch.Tensor | None:
    """Sum of ``last_kl`` (shape ``(B,)``) over the model's information-dropout layers;
    ``None`` when the model has none or no forward pass happened yet."""
    kls = [m.last_kl for m in model.modules() if isinstance(m, InformationDropout) and m.last_kl is not None]
    if not kls:
        return None
    total = kls[0]
    for k in kls[1:]:
        total = total + k
    return total
