"""The paper's toy problem for validating the Gaussian-dropout MI estimator, with exact ground truth.

X ~ N(0, I_n), f(x) = 2x + 0.5 (elementwise), Z = f(X) * D with D ~ N(1, sigma^2 I) independent of X.
Convention (everywhere in ipdrop): ``variance`` = Var(D) = sigma^2, so Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2).

The coordinates (X_i, Z_i) are i.i.d., so I(X;Z) = n * I_1 with I_1 = h(Z_1) - h(Z_1 | X_1):

* h(Z_1 | X_1) = E[log|f(X_1)|] + 1/2 log(2 pi e sigma^2) (closed form up to a 1-D integral with an
  integrable log singularity at x = -1/4, where f vanishes; computed with adaptive quadrature split there);
* h(Z_1) from the density of the product Z_1 = U D, U = f(X_1) ~ N(1/2, 4):
  p(z) = int p_D(d) p_U(z/d) / |d| dd. The kernel N(z; f(x), sigma^2 f(x)^2) is singular where f(x)=0,
  so we substitute d = +-e^t, which turns the inner integral into the smooth, rapidly decaying
  p(z) = sum_{s=+-1} int N(s e^t; 1, sigma^2) N(z / (s e^t); 1/2, 4) dt (adaptive ``quad_vec``, vectorised
  over z), and integrate -p log p over z = +-e^u (p has a log singularity at z = 0) with a fine trapezoid
  rule in u (the integrand is analytic, so the rule converges geometrically: steps 0.004 and 0.04
  agree to 1e-15). Agreement with a fully independent nested scalar ``quad`` is ~1e-13 nats (slow test).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from ._base import Seed, check_int, check_positive, make_rng

if TYPE_CHECKING:
    import torch

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor", float)

__all__ = [
    "f",
    "sample",
    "exact_mi",
    "exact_entropies",
    "exact_conditional_entropy_1d",
    "exact_entropy_1d",
    "density_1d",
]

SLOPE = 2.0
OFFSET = 0.5


def f(x: ArrayT) -> ArrayT:
    """The toy's deterministic map f(x) = 2x + 0.5 (elementwise; numpy or torch input)."""
    return SLOPE * x + OFFSET


def sample(n: int, dim: int, seed: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` inputs X ~ N(0, I_dim); return ``(x, f(x))``, both ``(n, dim)`` float64 arrays.

    ``f(x)`` are the noiseless representations to pass to :class:`ipdrop.estimators.GaussianDropoutMI`.
    """
    n = check_int(n, "n", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    x = make_rng(seed).standard_normal((n, dim))
    return x, f(x)


def _npdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)


def density_1d(z: ArrayLike, variance: float, *, epsabs: float = 1e-13) -> np.ndarray:
    """Exact density p(z) of one coordinate Z_1 = f(X_1) D_1 (``variance`` = Var(D) = sigma^2), z != 0.

    Uses p(z) = sum_{s=+-1} int N(s e^t; 1, sigma^2) N(z/(s e^t); 1/2, 4) dt, adaptively integrated
    (``scipy.integrate.quad_vec``, vectorised over ``z``). p has an integrable log singularity at z = 0.
    """
    from scipy.integrate import quad_vec

    variance = check_positive(variance, "variance")
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    if np.any(z == 0):
        raise ValueError("density_1d: p(z) is infinite at z = 0 (log singularity)")
    sigma = math.sqrt(variance)
    var_u = SLOPE**2
    t_hi = math.log(1.0 + 40.0 * sigma)
    t_lo = math.log(np.min(np.abs(z))) - math.log(OFFSET + 40.0 * SLOPE)

    def integrand(t):
        d = math.exp(t)
        return _npdf(d, 1.0, variance) * _npdf(z / d, OFFSET, var_u) + _npdf(-d, 1.0, variance) * _npdf(
            -z / d, OFFSET, var_u
        )

    pts = [0.0] if t_lo < 0.0 < t_hi else None
    val, _ = quad_vec(integrand, t_lo, t_hi, epsabs=epsabs, epsrel=1e-10, points=pts, limit=4000)
    return val


@functools.lru_cache(maxsize=64)
def exact_conditional_entropy_1d(variance: float) -> float:
    """h(Z_1 | X_1) = E[log|2 X + 1/2|] + 1/2 log(2 pi e sigma^2), X ~ N(0,1), ``variance`` = sigma^2 = Var(D)."""
    from scipy.integrate import quad

    variance = check_positive(variance, "variance")
    c = OFFSET / SLOPE  # log|2x + .5| = log 2 + log|x + 1/4|, singular at x = -1/4

    def g(x):
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * math.log(abs(x + c))

    left, _ = quad(g, -np.inf, -c, epsabs=1e-13, epsrel=1e-12, limit=500)
    right, _ = quad(g, -c, np.inf, epsabs=1e-13, epsrel=1e-12, limit=500)
    e_log = math.log(SLOPE) + left + right
    return e_log + 0.5 * math.log(2 * math.pi * math.e * variance)


@functools.lru_cache(maxsize=64)
def exact_entropy_1d(variance: float, *, step: float = 0.02) -> float:
    """h(Z_1) of one coordinate, by quadrature (see the module docstring); ``variance`` = sigma^2 = Var(D)."""
    variance = check_positive(variance, "variance")
    sigma = math.sqrt(variance)
    u_hi = math.log((OFFSET + 12 * SLOPE) * (1 + 12 * sigma))
    u = np.arange(-40.0, u_hi + step, step)
    z = np.exp(u)
    total = 0.0
    for sign in (1.0, -1.0):
        p = density_1d(sign * z, variance)
        # -p log p * |dz/du|; p > 0 everywhere but may underflow in the far tail
        with np.errstate(divide="ignore", invalid="ignore"):
            integrand = np.where(p > 0, -p * np.log(p), 0.0) * z
        total += float(np.trapezoid(integrand, u))
    return total


def exact_entropies(dim: int, variance: float) -> tuple[float, float]:
    """Exact ``(h_z, h_z_given_x)`` = (h(Z), h(Z|X)) in nats for the toy in ``dim`` dimensions.

    ``variance`` = Var(D) = sigma^2 (Z_i | X=x ~ N(f_i(x), sigma^2 f_i(x)^2)); coordinates are
    independent, so both are ``dim`` times the one-dimensional values.
    """
    dim = check_int(dim, "dim", minimum=1)
    variance = check_positive(variance, "variance")
    return dim * exact_entropy_1d(variance), dim * exact_conditional_entropy_1d(variance)


def exact_mi(dim: int, variance: float) -> float:
    """Exact I(X;Z) = h(Z) - h(Z|X) in nats for the toy (X ~ N(0, I_dim), f(x) = 2x + 0.5,
    D ~ N(1, ``variance``)); equals ``dim`` times the one-dimensional value."""
    hz, hzx = exact_entropies(dim, variance)
    return hz - hzx
