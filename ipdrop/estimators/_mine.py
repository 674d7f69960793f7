"""MINE: mutual information neural estimation (Belghazi et al., ICML 2018).

A statistics network T(x, y) (an MLP on the concatenation) is trained to maximise the Donsker-Varadhan bound

    I(X;Y) >= DV(T) = E_P[T(X,Y)] - log E_{P_X x P_Y}[exp T(X,Y')],

where the product-of-marginals samples pair each x with the y of an independently drawn index ("shuffled
marginals"). The minibatch gradient of the log term is biased; MINE replaces the denominator of
grad log E[e^T] = E[grad e^T] / E[e^T] by an exponential moving average of the minibatch E[e^T] (rate ``ema_rate``,
0.01 by default, i.e. carry 0.99 as in the reference runs of McAllester & Stratos), which we implement with the
surrogate loss  -mean T(joint) + mean exp(T(marginal)) / EMA  (EMA detached, kept in log space).

The reported value is DV(T) of the final network on a **held-out** split: the joint mean over all held-out pairs
and the log-mean-exp over ``n_marginal`` random off-diagonal held-out pairs (x_i, y_j), i != j. For a network
fixed before seeing the held-out data DV(T) <= I(X;Y); the only upward bias of the plug-in value is the Jensen
bias of the log-mean-exp, O(Var[e^T] / (E[e^T]^2 n_marginal)), negligible for the default 2e5 pairs. ``stderr``
is the delta-method standard error of that plug-in value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._base import (
    MIEstimator,
    MIResult,
    TrainingDivergedError,
    check_int,
    check_positive,
    make_rng,
    resolve_device,
    torch_generator,
)
from ._doe import _EXPLODE_NATS, _build_mlp, _check_common, _check_fraction, _prepare_xy, _require_y, _standardizer

__all__ = ["MINE", "mine_mi"]


class MINE(MIEstimator):
    """MINE lower bound on I(X;Y) with the moving-average gradient correction (Belghazi et al., 2018).

    Parameters
    ----------
    hidden, layers, activation : width, number of hidden layers and activation of the statistics network.
    lr : Adam learning rate.
    steps : number of training steps.
    batch_size : minibatch size (joint and marginal batches each; clipped to the training-split size).
    ema_rate : weight of the newest minibatch in the moving average of E[e^T] (0 < rate <= 1; 1 = no averaging,
        i.e. the biased plain-DV gradient).
    clip : gradient-norm clip (``None`` disables it).
    test_size : fraction of samples held out for the final estimate.
    n_marginal : number of random off-diagonal held-out pairs for the final log-mean-exp term.
    eval_every : held-out estimate recorded in ``details["curve"]`` every this many steps (using a cheaper fixed
        set of ``min(n_marginal, 10 * n_test)`` pairs).
    seed : int (default 0) or ``numpy.random.Generator``; fixes the split, the initialisation, the minibatches and
        the held-out marginal pairs (``None`` draws fresh entropy).
    device, progress : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...; tqdm progress bar.

    Training stops with :class:`ipdrop.TrainingDivergedError` (a ``ValueError``) naming ``lr`` when the loss or the
    held-out bound becomes non-finite or leaves +-1e4 nats (the statistics network's outputs have blown up).
    """

    name = "mine"

    def __init__(
        self,
        *,
        hidden: int = 100,
        layers: int = 1,
        activation: str = "elu",
        lr: float = 1e-3,
        steps: int = 2000,
        batch_size: int = 256,
        ema_rate: float = 0.01,
        clip: float | None = 5.0,
        test_size: float = 0.5,
        n_marginal: int = 200_000,
        eval_every: int = 100,
        seed: int | np.random.Generator | None = 0,
        device: str = "auto",
        progress: bool = False,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.activation = activation
        self.lr = lr
        self.steps = steps
        self.batch_size = batch_size
        self.ema_rate = ema_rate
        self.clip = clip
        self.test_size = test_size
        self.n_marginal = n_marginal
        self.eval_every = eval_every
        self.seed = seed
        self.device = device
        self.progress = progress

    def estimate(self, x: Any, y: Any = None) -> MIResult:
        """Train T on a split of ``(x, y)`` and return the held-out DV lower bound on I(X;Y) in nats.

        ``details`` holds ``curve`` (list of ``(step, held-out DV)``), ``train_curve`` (list of
        ``(step, minibatch DV with the EMA denominator)``), ``joint_term``, ``marginal_term``, ``n_train``/``n_test``.
        ``y`` is required (``ValueError`` when missing).
        """
        import torch
        from tqdm.auto import tqdm

        y = _require_y(y, type(self).__name__)

        hidden, layers, lr, steps, batch_size, clip, eval_every = _check_common(
            self.hidden,
            self.layers,
            self.lr,
            self.steps,
            self.batch_size,
            self.clip,
            self.eval_every,
            self.activation,
        )
        ema_rate = check_positive(self.ema_rate, "ema_rate")
        if ema_rate > 1:
            raise ValueError(f"ema_rate must lie in (0, 1]; got {self.ema_rate!r}")
        n_marginal = check_int(self.n_marginal, "n_marginal", minimum=1)
        _check_fraction(self.test_size, "test_size")
        device = resolve_device(self.device)
        rng = make_rng(self.seed, "seed")
        xtr, ytr, xte, yte = _prepare_xy(x, y, self.test_size, rng)
        mx, sx = _standardizer(xtr, "x", allow_constant=True)
        my, sy = _standardizer(ytr, "y", allow_constant=True)
        xtr, xte = (xtr - mx) / sx, (xte - mx) / sx
        ytr, yte = (ytr - my) / sy, (yte - my) / sy
        n_train, n_test, d_x, d_y = len(xtr), len(xte), xtr.shape[1], ytr.shape[1]
        batch_size = min(batch_size, n_train)

        gen = torch_generator(rng, "cpu")
        net = _build_mlp(d_x + d_y, hidden, layers, 1, self.activation, gen).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def t(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        Xtr, Ytr, Xte, Yte = t(xtr), t(ytr), t(xte), t(yte)

        def T(xb, yb):
            return net(torch.cat([xb, yb], dim=1))[:, 0]

        def off_diagonal_pairs(m):
            i = rng.integers(0, n_test, size=m)
            j = (i + rng.integers(1, n_test, size=m)) % n_test  # uniform over j != i
            return torch.as_tensor(i, device=device), torch.as_tensor(j, device=device)

        @torch.no_grad()
        def evaluate(pairs, chunk=65536):
            tj = torch.cat([T(Xte[a : a + chunk], Yte[a : a + chunk]) for a in range(0, n_test, chunk)]).double()
            i, j = pairs
            tm = torch.cat([T(Xte[i[a : a + chunk]], Yte[j[a : a + chunk]]) for a in range(0, len(i), chunk)]).double()
            lme = torch.logsumexp(tm, 0) - math.log(len(tm))
            # delta method: Var[mean T_joint]/1 + Var[mean e^{T_m}] / (mean e^{T_m})^2
            w = torch.exp(tm - lme)  # e^{T_m} / mean e^{T_m}
            var = tj.var() / len(tj) + w.var() / len(tm)
            return float(tj.mean()), float(lme), float(var.sqrt())

        def check_finite(value, what, step):
            if not np.isfinite(value) or abs(value) > _EXPLODE_NATS:
                raise TrainingDivergedError(
                    f"MINE training diverged at step {step}: {what} = {value:.4g} nats (non-finite or beyond "
                    f"+-{_EXPLODE_NATS:g}); lr={self.lr!r} is too large for this data, lower lr (e.g. {lr / 10:g})"
                )

        curve_pairs = off_diagonal_pairs(min(n_marginal, 10 * n_test))
        log_ema = None
        log_rate, log_carry = math.log(ema_rate), (math.log1p(-ema_rate) if ema_rate < 1 else -math.inf)
        curve, train_curve = [], []
        for step in tqdm(range(1, steps + 1), disable=not self.progress, desc="mine"):
            ij = torch.randint(0, n_train, (batch_size,), generator=gen).to(device)
            im = torch.randint(0, n_train, (batch_size,), generator=gen).to(device)
            tj = T(Xtr[ij], Ytr[ij])
            tm = T(Xtr[ij], Ytr[im])
            lme_batch = torch.logsumexp(tm, 0) - math.log(batch_size)
            lb = float(lme_batch.detach())
            log_ema = lb if log_ema is None else float(np.logaddexp(log_carry + log_ema, log_rate + lb))
            loss = -tj.mean() + torch.exp(lme_batch - log_ema)
            check_finite(float(loss.detach()), "minibatch loss", step)
            check_finite(lb, "minibatch log-mean-exp of T on shuffled pairs", step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            if step % eval_every == 0 or step == steps:
                joint, lme, _ = evaluate(curve_pairs)
                curve.append((step, joint - lme))
                check_finite(curve[-1][1], "held-out DV bound", step)
                train_curve.append((step, float(tj.detach().mean()) - log_ema))
        joint, lme, stderr = evaluate(off_diagonal_pairs(n_marginal))
        check_finite(joint - lme, "held-out DV bound", steps)
        return MIResult(
            value=joint - lme,
            estimator="mine",
            quantity="I(X;Y) >= Donsker-Varadhan bound of the trained statistics network on held-out data",
            n=n_train + n_test,
            d=d_y,
            stderr=stderr,
            details={
                "joint_term": joint,
                "marginal_term": lme,
                "curve": curve,
                "train_curve": train_curve,
                "n_train": n_train,
                "n_test": n_test,
                "batch_size": batch_size,
                **{k: v for k, v in self.get_params().items() if k not in ("seed", "progress")},
                "device": str(device),
            },
        )


def mine_mi(x: Any, y: Any, **kwargs: Any) -> MIResult:
    """Functional form of :class:`MINE`: ``MINE(**kwargs).estimate(x, y)``."""
    return MINE(**kwargs).estimate(x, y)
