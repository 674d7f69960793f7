"""Difference-of-entropies (DoE) estimator of McAllester & Stratos (AISTATS 2020).

DoE estimates I(X;Y) = h(Y) - h(Y|X) as the difference of two *cross-entropies*, each an upper bound on the
corresponding entropy, obtained from two learned density models:

* a marginal model q(y) (one density per coordinate, fitted parameters), giving CE_q(Y) >= h(Y);
* a conditional model q(y|x) whose parameters are the output of a small MLP of x, giving CE_q(Y|X) >= h(Y|X).

Both models are trained jointly by minimising CE_q(Y) + CE_q(Y|X) on a training split; the estimate is
CE_q(Y) - CE_q(Y|X) evaluated on a held-out split. Because it is the difference of two upper bounds, DoE is
**neither an upper nor a lower bound** on I(X;Y): it is exact when both model families contain the true
densities, and it can err in either direction otherwise (McAllester & Stratos argue this is the price for
avoiding the O(log N) ceiling of every distribution-free lower bound).

Two parametrisations, named as in the paper's Fig. 4:

* ``"gaussian"`` (estimator name ``"doe"``): diagonal Gaussian q(y) and q(y|x);
* ``"logistic"`` (``"doe.l"``): a logistic density per coordinate (scale = exp(log_scale)).

With ``n_components > 1`` each coordinate gets a mixture of that many components of the family (the reference code
uses one). Defaults follow the reference implementation (github.com/karlstratos/doe: one tanh hidden layer of width
100, Adam, gradient-norm clipping at 1, batches of 128 in its README runs); its learning-rate grid was
{1e-2, 3e-3, 1e-3, 3e-4}; we default to 3e-3 with cosine decay to 0 over ``steps`` = 2000 (the decay is ours: with a
constant rate the SGD noise at the end inflates CE_q(Y|X) more than CE_q(Y) and biased the estimate low by
~0.05-0.1 nats in our runs on 5 Gaussian pairs).
``x`` and ``y`` are standardised with training-split statistics (an affine map of y shifts both cross-entropies by
the same log-scale, so the estimate is unchanged; the reported entropies are converted back to the original units).
"""
from __future__ import annotations

import math

import numpy as np

from .._base import (
    MIEstimator,
    MIResult,
    as_2d_float,
    check_consistent_length,
    check_int,
    check_positive,
    make_rng,
    resolve_device,
    torch_generator,
)

__all__ = ["DoE", "doe_mi"]

_FAMILIES = {"gaussian": "doe", "logistic": "doe.l"}
_ACTIVATIONS = ("tanh", "relu", "elu")
_LOG_SCALE_RANGE = (-12.0, 6.0)  # clamp for numerical safety (standardised units)
_MIN_SAMPLES = 10


# --------------------------------------------------------------------------- shared helpers (also used by MINE)

def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def _check_fraction(value, name):
    v = check_positive(value, name)
    if not v < 1:
        raise ValueError(f"{name} must lie in (0, 1); got {value!r}")
    return v


def _prepare_xy(x, y, test_size, rng, *, name_x="x", name_y="y"):
    """Validate, split into train/test (random permutation from ``rng``) and return standardisation stats."""
    x = as_2d_float(x, name_x, min_samples=_MIN_SAMPLES)
    y = as_2d_float(y, name_y, min_samples=_MIN_SAMPLES)
    n = check_consistent_length(x, y, names=[name_x, name_y])
    test_size = _check_fraction(test_size, "test_size")
    n_test = int(round(test_size * n))
    n_train = n - n_test
    if n_test < 2 or n_train < 2:
        raise ValueError(
            f"too few samples for a train/test split: n={n}, test_size={test_size} gives "
            f"{n_train} training and {n_test} test samples (need >= 2 each)"
        )
    perm = rng.permutation(n)
    tr, te = perm[:n_train], perm[n_train:]
    return x[tr], y[tr], x[te], y[te]


def _standardizer(a, name, *, allow_constant):
    mu = a.mean(axis=0)
    sd = a.std(axis=0)
    const = sd <= 1e-12 * np.maximum(1.0, np.abs(mu))
    if np.any(const):
        if not allow_constant:
            j = int(np.flatnonzero(const)[0])
            raise ValueError(
                f"{name} column {j} is constant on the training split; its differential entropy is -inf "
                "and the estimate is undefined"
            )
        sd = np.where(const, 1.0, sd)
    return mu, sd


def _activation(name):
    import torch.nn as nn

    return {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}[name]()


def _build_mlp(d_in, hidden, layers, d_out, activation, generator):
    """MLP ``d_in -> [hidden]*layers -> d_out`` initialised from ``generator`` (global RNG untouched).

    Weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the scale of PyTorch's default Linear init.
    """
    import torch
    import torch.nn as nn

    mods = []
    widths = [d_in] + [hidden] * layers
    for a, b in zip(widths[:-1], widths[1:]):
        mods += [nn.utils.skip_init(nn.Linear, a, b, dtype=torch.float32), _activation(activation)]
    mods.append(nn.utils.skip_init(nn.Linear, widths[-1], d_out, dtype=torch.float32))
    net = nn.Sequential(*mods)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                nn.init.uniform_(m.weight, -bound, bound, generator=generator)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return net


def _check_common(hidden, layers, lr, steps, batch_size, clip, eval_every, activation):
    hidden = check_int(hidden, "hidden", minimum=1)
    layers = check_int(layers, "layers", minimum=0)
    lr = check_positive(lr, "lr")
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    clip = None if clip is None else check_positive(clip, "clip")
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    _check_choice(activation, "activation", _ACTIVATIONS)
    return hidden, layers, lr, steps, batch_size, clip, eval_every


# --------------------------------------------------------------------------- densities

def _component_log_density(y, loc, log_scale, family):
    """Per-coordinate, per-component log-density. ``y`` (B,1,d); loc/log_scale (B,K,d) or (K,d)."""
    import torch.nn.functional as F

    log_scale = log_scale.clamp(*_LOG_SCALE_RANGE)
    z = (y - loc) * (-log_scale).exp()
    if family == "gaussian":
        return -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)
    # logistic: p(y) = e^{-z} / (s (1 + e^{-z})^2)
    return -z - 2.0 * F.softplus(-z) - log_scale


def _log_density(y, loc, log_scale, logits, family):
    """log q(y) summed over coordinates, shape (B,). Mixture over axis 1 when K > 1."""
    import torch

    lp = _component_log_density(y[:, None, :], loc, log_scale, family)
    if lp.shape[-2] == 1:
        return lp[..., 0, :].sum(-1)
    logw = torch.log_softmax(logits, dim=-2)
    return torch.logsumexp(logw + lp, dim=-2).sum(-1)


def _make_doe_modules(d_x, d_y, family, n_components, hidden, layers, activation, y_train_std, generator):
    import torch
    import torch.nn as nn

    K = n_components

    class Marginal(nn.Module):
        def __init__(self):
            super().__init__()
            if K == 1:
                loc = torch.zeros(1, d_y)
            else:  # start the components at evenly spaced training quantiles
                qs = np.quantile(y_train_std, (np.arange(K) + 0.5) / K, axis=0)
                loc = torch.as_tensor(qs, dtype=torch.float32)
            s0 = 1.0 / K if family == "gaussian" else math.sqrt(3.0) / math.pi / K
            self.loc = nn.Parameter(loc)
            self.log_scale = nn.Parameter(torch.full((K, d_y), math.log(s0)))
            self.logits = nn.Parameter(torch.zeros(K, d_y))

        def forward(self, y):
            return -_log_density(y, self.loc, self.log_scale, self.logits, family)

    class Conditional(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _build_mlp(d_x, hidden, layers, 3 * K * d_y, activation, generator)

        def forward(self, x, y):
            out = self.net(x).view(x.shape[0], 3, K, d_y)
            return -_log_density(y, out[:, 0], out[:, 1], out[:, 2], family)

    return Marginal(), Conditional()


# --------------------------------------------------------------------------- estimator

class DoE(MIEstimator):
    """Difference-of-entropies estimator I(X;Y) ~ CE_q(Y) - CE_q(Y|X) (McAllester & Stratos, 2020).

    Not a bound: the difference of two cross-entropy upper bounds (see module docstring).

    Parameters
    ----------
    parametrization : ``"gaussian"`` (estimator name ``"doe"``) or ``"logistic"`` (``"doe.l"``).
    n_components : components per coordinate (1 = a single Gaussian/logistic, as in the reference code).
    hidden, layers, activation : width, number of hidden layers and activation of the conditional MLP.
    lr : Adam learning rate.
    lr_decay : cosine-anneal the learning rate to 0 over ``steps`` (reduces the SGD noise that otherwise inflates
        both cross-entropies at the end of training; the reference code used a constant rate).
    steps : number of training steps (minibatches).
    batch_size : minibatch size (clipped to the training-split size).
    clip : gradient-norm clip (``None`` disables it).
    test_size : fraction of samples held out for the estimate.
    eval_every : held-out estimate recorded in ``details["curve"]`` every this many steps.
    seed : int, ``numpy.random.Generator`` or ``None``; fixes the split, the initialisation and the minibatches.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    progress : show a tqdm progress bar.
    """

    name = "doe"

    def __init__(
        self,
        parametrization: str = "gaussian",
        *,
        n_components: int = 1,
        hidden: int = 100,
        layers: int = 1,
        activation: str = "tanh",
        lr: float = 3e-3,
        lr_decay: bool = True,
        steps: int = 2000,
        batch_size: int = 128,
        clip: float | None = 1.0,
        test_size: float = 0.5,
        eval_every: int = 100,
        seed=None,
        device="auto",
        progress: bool = False,
    ):
        self.parametrization = parametrization
        self.n_components = n_components
        self.hidden = hidden
        self.layers = layers
        self.activation = activation
        self.lr = lr
        self.lr_decay = lr_decay
        self.steps = steps
        self.batch_size = batch_size
        self.clip = clip
        self.test_size = test_size
        self.eval_every = eval_every
        self.seed = seed
        self.device = device
        self.progress = progress

    def estimate(self, x, y) -> MIResult:
        """Train on a split of ``(x, y)`` and return the held-out DoE estimate of I(X;Y) in nats.

        ``x`` is ``(n, d_x)``, ``y`` is ``(n, d_y)`` (1-D inputs are single columns), both continuous.
        ``details`` holds ``h_y`` and ``h_y_given_x`` (held-out cross-entropies, original units), ``curve``
        (list of ``(step, held-out estimate)``), ``train_loss`` (list of ``(step, CE_q(Y) + CE_q(Y|X))`` on
        minibatches), ``n_train``/``n_test`` and the parameters.
        """
        import torch
        from tqdm.auto import tqdm

        family = _check_choice(self.parametrization, "parametrization", tuple(_FAMILIES))
        K = check_int(self.n_components, "n_components", minimum=1)
        hidden, layers, lr, steps, batch_size, clip, eval_every = _check_common(
            self.hidden, self.layers, self.lr, self.steps, self.batch_size, self.clip, self.eval_every,
            self.activation,
        )
        device = resolve_device(self.device)
        rng = make_rng(self.seed)
        xtr, ytr, xte, yte = _prepare_xy(x, y, self.test_size, rng)
        mx, sx = _standardizer(xtr, "x", allow_constant=True)
        my, sy = _standardizer(ytr, "y", allow_constant=False)
        xtr, xte = (xtr - mx) / sx, (xte - mx) / sx
        ytr, yte = (ytr - my) / sy, (yte - my) / sy
        n_train, n_test, d_x, d_y = len(xtr), len(xte), xtr.shape[1], ytr.shape[1]
        batch_size = min(batch_size, n_train)
        log_jac = float(np.sum(np.log(sy)))  # h(Y) in original units = h(standardised Y) + sum log sd

        gen = torch_generator(rng, "cpu")
        marg, cond = _make_doe_modules(d_x, d_y, family, K, hidden, layers, self.activation, ytr, gen)
        marg.to(device)
        cond.to(device)
        params = list(marg.parameters()) + list(cond.parameters())
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if self.lr_decay else None

        def t(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        Xtr, Ytr, Xte, Yte = t(xtr), t(ytr), t(xte), t(yte)

        @torch.no_grad()
        def held_out():
            hy = torch.cat([marg(Yte[i:i + 65536]) for i in range(0, n_test, 65536)]).double()
            hyx = torch.cat([cond(Xte[i:i + 65536], Yte[i:i + 65536]) for i in range(0, n_test, 65536)]).double()
            return hy.cpu().numpy(), hyx.cpu().numpy()

        curve, train_loss = [], []
        for step in tqdm(range(1, steps + 1), disable=not self.progress, desc=_FAMILIES[family]):
            idx = torch.randint(0, n_train, (batch_size,), generator=gen).to(device)
            xb, yb = Xtr[idx], Ytr[idx]
            loss = marg(yb).mean() + cond(xb, yb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            if sched is not None:
                sched.step()
            if step % eval_every == 0 or step == steps:
                hy, hyx = held_out()
                curve.append((step, float(np.mean(hy - hyx))))
                train_loss.append((step, float(loss.detach()) + 2 * log_jac))
        if not np.isfinite(curve[-1][1]):
            raise FloatingPointError("DoE training diverged (non-finite held-out estimate); lower lr or raise clip")

        hy, hyx = held_out()
        pointwise = hy - hyx
        value = float(pointwise.mean())
        stderr = float(pointwise.std(ddof=1) / math.sqrt(n_test))
        name = _FAMILIES[family]
        return MIResult(
            value=value,
            estimator=name,
            quantity="I(X;Y) = CE_q(Y) - CE_q(Y|X) on held-out data (difference of two upper bounds; not a bound)",
            n=n_train + n_test,
            d=d_y,
            stderr=stderr,
            details={
                "h_y": float(hy.mean()) + log_jac,
                "h_y_given_x": float(hyx.mean()) + log_jac,
                "curve": curve,
                "train_loss": train_loss,
                "n_train": n_train,
                "n_test": n_test,
                "batch_size": batch_size,
                **{k: v for k, v in self.get_params().items() if k not in ("seed", "progress")},
                "device": str(device),
            },
        )


def doe_mi(x, y, parametrization: str = "gaussian", **kwargs) -> MIResult:
    """Functional form of :class:`DoE`: ``DoE(parametrization, **kwargs).estimate(x, y)``."""
    return DoE(parametrization, **kwargs).estimate(x, y)
