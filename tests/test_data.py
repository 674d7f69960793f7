import os
from pathlib import Path

import numpy as np
import pytest

from ipdrop import data

FULL = {
    "mnist": dict(
        train=60000,
        test=10000,
        shape=(28, 28),
        train_counts=[5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        first_train=[5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    ),
    "cifar10": dict(
        train=50000, test=10000, shape=(32, 32, 3), train_counts=[5000] * 10, first_train=[6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    ),
}
HAVE_FULL = bool(os.environ.get(data.ENV_VAR)) and all(
    (Path(os.environ.get(data.ENV_VAR, "")) / f"{n}.npz").exists() for n in FULL
)


@pytest.mark.parametrize("name,n_train,n_test", [("mnist", 5000, 1000), ("cifar10", 2000, 500)])
def test_embedded_subsets(name, n_train, n_test):
    ds = data.load(name, subset="embedded")
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (n_train, *FULL[name]["shape"])
    assert ds.x_test.shape == (n_test, *FULL[name]["shape"])
    assert ds.y_train.dtype == np.int64
    # class-balanced
    assert np.all(np.bincount(ds.y_train, minlength=10) == n_train // 10)
    assert np.all(np.bincount(ds.y_test, minlength=10) == n_test // 10)


def test_embedded_size_budget():
    total = sum(data.embedded_path(n).stat().st_size for n in data.DATASETS)
    assert total < 10_000_000


@pytest.mark.skipif(
    not HAVE_FULL, reason=f"full datasets not provided: set {data.ENV_VAR} to a folder with mnist.npz and cifar10.npz"
)
@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_full_datasets(name):
    ds = data.load(name, download=False)
    spec = FULL[name]
    assert ds.x_train.shape == (spec["train"], *spec["shape"]) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (spec["test"], *spec["shape"])
    assert list(np.bincount(ds.y_train, minlength=10)) == spec["train_counts"]
    assert list(ds.y_train[:10]) == spec["first_train"]


@pytest.mark.skipif(not HAVE_FULL, reason=f"full datasets not provided: set {data.ENV_VAR}")
def test_embedded_subset_is_from_full():
    full = data.load("mnist", download=False)
    with np.load(data.embedded_path("mnist")) as f:
        assert np.array_equal(full.x_train[f["train_index"]], f["x_train"])
        assert np.array_equal(full.y_test[f["test_index"]], f["y_test"])


def test_missing_data_error_names_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=data.ENV_VAR) as exc:
        data.load("mnist", download=False)
    assert "download" in str(exc.value)


def test_bad_names():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="subset"):
        data.load("mnist", subset="tiny")


def test_to_tensor_shapes_and_normalisation():
    ds = data.load("mnist", subset="embedded")
    t = data.to_tensor(ds.x_train[:500], "mnist")
    assert tuple(t.shape) == (500, 1, 28, 28)
    # normalised with the full-set statistics: the mean of a 500-image sample is near 0 (within 0.1)
    assert abs(float(t.mean())) < 0.1
    c = data.to_tensor(data.load("cifar10", subset="embedded").x_test[:4], "cifar10")
    assert tuple(c.shape) == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="uint8"):
        data.to_tensor(np.zeros((2, 28, 28), dtype=np.float32), "mnist")
