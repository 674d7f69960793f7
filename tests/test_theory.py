import numpy as np
import pytest

from ipdrop.chapters import theory


def test_example34_level_probabilities_and_partial_sums():
    log_f = theory.example34_sample_log_f(200_000, seed=0)
    xp = -log_f
    level = np.floor(np.log2(xp)).astype(int)
    assert level.min() >= 1
    # P(level = k) = 2^-k; binomial standard error at N=2e5 is < 1.2e-3, test at 5e-3
    for k in (1, 2, 3, 4):
        assert abs(np.mean(level == k) - 2.0**-k) < 5e-3
    # within a level X' is uniform on [2^k, 2^(k+1)): conditional mean 1.5 * 2^k
    assert abs(xp[level == 1].mean() - 3.0) < 0.02
    np.testing.assert_allclose(theory.example34_partial_sums(4), [-1.5, -3.0, -4.5, -6.0])


def test_example34_sampled_mean_drifts_down():
    sizes = np.array([100, 10_000, 1_000_000])
    means = theory.example34_sampled_means(sizes, n_repeats=10, seed=1)
    med = np.median(means, axis=0)
    # the median estimate keeps decreasing, about -1.5 log2(N): from N=1e2 to 1e6 that is ~ -20 (allow half)
    assert med[1] < med[0] and med[2] < med[1]
    assert med[2] - med[0] < -10


def test_seeded_and_validated():
    a = theory.example34_sample_log_f(10, seed=3)
    assert np.array_equal(a, theory.example34_sample_log_f(10, seed=3))
    with pytest.raises(ValueError):
        theory.example34_sample_log_f(0)
    with pytest.raises(ValueError):
        theory.running_mean_at(np.ones(5), [0, 3])
