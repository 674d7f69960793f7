"""The fast paths of the mixture scorer (issue 13): worker threads, the skipped stage 1, numpy gathers.

Reference: the Gaussian-mixture log-density in closed form, log p(z) = logsumexp_j log N(z; mu_j, diag sigma^2 mu_j^2)
- log M, each component's normal log-density summed directly over its coordinates (no GEMM expansion, no screening).
Tolerance 1e-12 relative: the screened kernel keeps every term within 50 nats of the row maximum exactly in float64
(difference form, <= 2 ulps per standardised difference, k squares summed: <= (k + 2) 2^-53 = 1.5e-14 relative for
k = 128); each dropped term is < e^-50 times the maximum, so all of them change p by < M e^-50 = 2e-19 relatively
(M <= 600 here); the float64 logsumexp adds ~1e-15. |log p| is 1e1-1e3, so 1e-12 relative is float64 rounding only.
variance = Var(D) = sigma^2 everywhere.
"""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from ipdrop.estimators._dropout_mi import GaussianDropoutMI
from ipdrop.estimators._mixture import _MixtureScorer, mixture_logpdf

CPU = torch.device("cpu")


def _closed_form(z, c, v, exclude=None, prefix=None):
    """log sum_j N(z; mu_j, diag v mu_j^2) over all centres (or without ``exclude[r]``, or the first ``prefix``)."""
    s2 = v * c * c  # per-component variances sigma^2 mu_j^2
    terms = -0.5 * (np.log(2 * math.pi * s2).sum(1)[None] + ((z[:, None, :] - c[None]) ** 2 / s2[None]).sum(2))
    if exclude is not None:
        terms[np.arange(len(z)), exclude] = -np.inf
    if prefix is not None:
        terms = terms[:, :prefix]
    return logsumexp(terms, axis=1)


def _draws(c, idx, n_noise, v, seed):
    rng = np.random.default_rng(seed)
    own = np.repeat(idx, n_noise)
    return c[own] * (1 + math.sqrt(v) * rng.normal(size=(len(own), c.shape[1]))), own


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("method", ["screened", "dense"])
def test_worker_threads_give_identical_values(method, two_threads):
    # the chunks of a group run in 2 worker threads; every per-group decision is taken on the first chunk, so the
    # values are bit-identical to the 1-thread run (and equal the closed form to float64 rounding)
    rng = np.random.default_rng(0)
    c = np.logaddexp(0.0, rng.normal(size=(500, 48)))
    z, own = _draws(c, np.arange(60), 5, 0.2, seed=1)
    kw = dict(method=method, max_candidate_fraction=1.0)  # screened: every chunk screened, even with heavy overlap
    sc2 = _MixtureScorer(c, 0.2, CPU, torch.float64, **kw)
    two, two_p = sc2.score(z, own, chunk_size=40, prefix=200)
    assert sc2.stats["workers"] == 2 and sc2.stats["screened_chunks" if method == "screened" else "dense_chunks"] == 8
    assert torch.get_num_threads() == 2  # restored after the worker section
    torch.set_num_threads(1)
    one, one_p = _MixtureScorer(c, 0.2, CPU, torch.float64, **kw).score(z, own, chunk_size=40, prefix=200)
    assert np.array_equal(one, two) and np.array_equal(one_p, two_p)
    own_p = np.where(own < 200, own, -1)
    np.testing.assert_allclose(two, _closed_form(z, c, 0.2, own), rtol=1e-12, atol=0)
    np.testing.assert_allclose(two_p, _closed_form(z, c, 0.2, own_p, prefix=200), rtol=1e-12, atol=0)


@pytest.mark.parametrize("exclude, stage1", [(False, True), (True, False)])
def test_stage1_decision_and_skipped_stage1_are_exact(exclude, stage1):
    # d = 128 draws of the mixture itself: half of the coordinates already rule out all but ~1e-4 of the terms when a
    # row's own centre is in the mixture (stage 1 kept); leave-one-out, the row maximum is ~40 nats lower and stage 1
    # keeps ~15%: the group's first chunk decides to skip it, the later chunks run the full-width GEMM at once
    rng = np.random.default_rng(3)
    c = np.logaddexp(0.0, rng.normal(size=(600, 128)))
    z, own = _draws(c, rng.integers(0, 600, size=64), 2, 0.2, seed=4)
    ex = own if exclude else None
    sc = _MixtureScorer(c, 0.2, CPU, torch.float64, method="screened")
    got = sc.score(z, ex, chunk_size=32)
    assert sc._stage1[0] is stage1 and sc.stats["screened_chunks"] == 4 and sc.stats["dense_chunks"] == 0
    np.testing.assert_allclose(got, _closed_form(z, c, 0.2, ex), rtol=1e-12, atol=0)


def test_estimator_all_views_match_closed_form_with_threads(two_threads):
    # the record's shape in small: 10 draws per input, the three views from one pass in 2 worker threads, against
    # the closed-form mixture on the same noise (drawn from the seed as the estimator does: one block < 256 inputs)
    v, n, d, n_noise, n_centers = 0.2, 120, 32, 10, 40
    f = np.logaddexp(0.0, np.random.default_rng(5).normal(size=(n, d)))
    res = GaussianDropoutMI(v, n_noise=n_noise, mode="all", n_centers=n_centers, chunk_size=128, device="cpu").estimate(
        f
    )
    eps = torch.randn((n, n_noise, d), generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    z = (f[:, None, :] * (1 + math.sqrt(v) * eps)).reshape(-1, d)
    own = np.repeat(np.arange(n), n_noise)
    logq = norm.logpdf(z, loc=f[own], scale=math.sqrt(v) * f[own]).sum(1)
    h_z = {
        "dataset": -(_closed_form(z, f, v) - math.log(n)).mean(),
        "heldout": -(_closed_form(z, f, v, own) - math.log(n - 1)).mean(),
        "paper": -(_closed_form(z, f, v, prefix=n_centers) - math.log(n_centers)).mean(),
    }
    for mode, h in h_z.items():
        assert res[mode].h_z == pytest.approx(h, rel=1e-12)
    # the paired dataset value mean[log q(z|x_j) - log p_hat(z)] = mean log q + h(Z)
    assert res["dataset"].value == pytest.approx(float(logq.mean()) + h_z["dataset"], rel=1e-12)


def test_mixture_logpdf_default_equals_dense_reference_at_scale_of_the_benchmark_shape():
    # the default (screened) against the dense float64 path at the benchmark's dimension, smaller N: the dense GEMM
    # expansion loses up to ~1e-13 relative to cancellation, hence 1e-10 (as in test_dropout_mi)
    rng = np.random.default_rng(7)
    c = np.logaddexp(0.0, rng.normal(size=(800, 128)))
    z, _ = _draws(c, rng.integers(0, 800, size=300), 1, 0.2, seed=8)
    np.testing.assert_allclose(mixture_logpdf(z, c, 0.2), mixture_logpdf(z, c, 0.2, method="dense"), rtol=1e-10, atol=0)


def test_worker_threads_run_one_torch_thread_each(two_threads, monkeypatch):
    # torch.set_num_threads acts on the calling thread's OpenMP setting: each worker thread must set its own, else
    # its GEMMs run on the default OpenMP thread count (oversubscription, and GEMM rounding that depends on T)
    import threading

    ran, set_to_one = set(), set()
    orig_chunk, orig_set = _MixtureScorer._chunk, torch.set_num_threads

    def spy_chunk(self, *args, **kwargs):
        ran.add(threading.get_ident())
        assert torch.get_num_threads() == 1
        return orig_chunk(self, *args, **kwargs)

    def spy_set(nt):
        if nt == 1:
            set_to_one.add(threading.get_ident())
        orig_set(nt)

    monkeypatch.setattr(_MixtureScorer, "_chunk", spy_chunk)
    monkeypatch.setattr(torch, "set_num_threads", spy_set)
    c = np.logaddexp(0.0, np.random.default_rng(9).normal(size=(300, 16)))
    _MixtureScorer(c, 0.2, CPU, torch.float64, method="dense").score(c * 1.1, None, chunk_size=30)
    assert len(ran) >= 2 and ran <= set_to_one  # every thread that scored a chunk had set one torch thread
    assert torch.get_num_threads() == 2


def test_work_buffers_are_pooled_between_calls_and_capped(monkeypatch):
    # a call gives its work buffers back to the module pool and the next call (a new scorer too) reuses them instead
    # of page-faulting fresh ones; values are the same whichever buffers a call gets (a smaller later call works in
    # views of the larger pooled buffers, a set above the byte cap is freed, not kept)
    from ipdrop.estimators import _mixture

    _mixture.free_work_buffers()
    rng = np.random.default_rng(3)
    c = np.logaddexp(0.0, rng.normal(size=(400, 40)))
    z, own = _draws(c, np.arange(30), 4, 0.2, seed=4)
    want = _closed_form(z, c, 0.2, own)
    kw = dict(method="screened", max_candidate_fraction=1.0)
    first = _MixtureScorer(c, 0.2, CPU, torch.float64, **kw).score(z, own, chunk_size=50)
    assert len(_mixture._pool) == 1 and _mixture._pool[0]["g32"].numel() >= 50 * 400
    ptr = _mixture._pool[0]["g32"].data_ptr()
    sc = _MixtureScorer(c, 0.2, CPU, torch.float64, **kw)
    second = sc.score(z[:70], own[:70], chunk_size=30)  # smaller chunks: views of the pooled buffers
    assert _mixture._pool[0]["g32"].data_ptr() == ptr and sc._bufs == {}
    np.testing.assert_array_equal(second, first[:70])
    np.testing.assert_allclose(first, want, rtol=1e-12, atol=0)
    assert _mixture.free_work_buffers() > 0 and _mixture._pool == []
    monkeypatch.setattr(_mixture, "_POOL_MAX_BYTES", 1000)  # every set is above the cap: freed at the end of a call
    third = _MixtureScorer(c, 0.2, CPU, torch.float64, **kw).score(z, own, chunk_size=50)
    assert _mixture._pool == [] and np.array_equal(third, first)
    # a pooled buffer of another dtype or device is not used as is: the dense float64 path reallocates its own
    monkeypatch.setattr(_mixture, "_POOL_MAX_BYTES", 512 * 2**20)
    _mixture._pool.append({"logc": torch.zeros(10**6, dtype=torch.float32)})
    dense = mixture_logpdf(z, c, 0.2, exclude_self=own, method="dense", chunk_size=50)
    np.testing.assert_allclose(dense, want - math.log(len(c) - 1), rtol=1e-12, atol=0)
    _mixture.free_work_buffers()
