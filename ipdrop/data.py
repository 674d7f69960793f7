"""Datasets: MNIST and CIFAR-10 as uint8 arrays, from a local file, a download, or the embedded subsets.

Where the data comes from, in order (``load(name)``):

1. ``$IPDROP_DATA/{name}.npz`` (or ``root/{name}.npz``) with arrays ``x_train, y_train, x_test, y_test``
   (uint8; MNIST ``(N, 28, 28)``, CIFAR-10 ``(N, 32, 32, 3)`` HWC RGB) - the format of the project's
   shared data folder;
2. a download through torchvision into a cache folder (``$IPDROP_CACHE`` or ``~/.cache/ipdrop``), converted
   to the same ``.npz``, where the internet is reachable;
3. otherwise a ``FileNotFoundError`` that names both ways to provide the data.

``load(name, subset="embedded")`` returns the small class-balanced subsets shipped inside the package
(MNIST 5,000 train + 1,000 test; CIFAR-10 2,000 + 500), built by ``scripts/make_subsets.py`` from the
full files; they need no download and serve the ``quick`` profile. See ``ipdrop/_data/README.md`` for
provenance and licences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ENV_VAR = "IPDROP_DATA"
CACHE_ENV_VAR = "IPDROP_CACHE"
DATASETS = ("mnist", "cifar10")
_EMBEDDED_DIR = Path(__file__).with_name("_data")
_SHAPES = {"mnist": (28, 28), "cifar10": (32, 32, 3)}
# per-channel mean/std of the full training sets in [0, 1] units
_NORMALISATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Dataset:
    """uint8 images and int64 labels for the train and test splits, and where they came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        return 10

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, source={self.source!r})"


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name


def _from_npz(path: Path, name: str, source: str) -> Dataset:
    """Read and validate ``path``; every problem (not a zip, truncated, wrong arrays) is a ValueError naming it."""
    import zipfile
    import zlib

    try:
        if path.stat().st_size == 0:
            raise ValueError("the file is empty")
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single .npy array, not an .npz archive")
            missing = [k for k in _KEYS if k not in f]
            if missing:
                raise ValueError(f"it lacks the array(s) {missing}; expected {list(_KEYS)}")
            arrs = {k: f[k] for k in _KEYS}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        msg = str(exc)
        if "pickled" in msg:  # numpy took it for a pickle: it is no .npy/.npz file
            msg = "not a NumPy .npz archive"
        raise ValueError(
            f"dataset file {path} cannot be read: {msg} ({type(exc).__name__}); expected an .npz "
            f"archive with uint8 arrays {', '.join(_KEYS)} - replace or delete the file"
        ) from None
    for split in ("train", "test"):
        x, y = arrs[f"x_{split}"], arrs[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape[1:] != _SHAPES[name]:
            raise ValueError(
                f"{path}: x_{split} must be uint8 of shape (N, {', '.join(map(str, _SHAPES[name]))}); "
                f"got {x.dtype} {x.shape}"
            )
        if x.shape[0] < 2:
            raise ValueError(f"{path}: x_{split} holds {x.shape[0]} images; need at least 2")
        if y.shape != (x.shape[0],):
            raise ValueError(f"{path}: y_{split} has shape {y.shape}, expected ({x.shape[0]},)")
        check_labels(y, f"{path}: y_{split}")
    return Dataset(
        name, arrs["x_train"], arrs["y_train"].astype(np.int64), arrs["x_test"], arrs["y_test"].astype(np.int64), source
    )


def check_labels(y: np.ndarray, what: str = "labels", n_classes: int = 10) -> None:
    """Raise ValueError unless ``y`` holds integer class labels in ``0 .. n_classes - 1``."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integer class labels; got dtype {y.dtype}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            bad = y[(y < 0) | (y >= n_classes)]
            raise ValueError(
                f"{what} holds labels outside 0..{n_classes - 1} ({len(bad)} of them, e.g. "
                f"{int(bad[0])}; range found {lo}..{hi})"
            )


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _download(name: str, cache: Path) -> Path:
    """Download through torchvision into ``cache`` and convert to ``cache/{name}.npz``."""
    import torchvision

    raw = cache / "raw"
    cls = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    out = {}
    for split, train in (("train", True), ("test", False)):
        ds = cls(str(raw), train=train, download=True)
        x = np.asarray(ds.data, dtype=np.uint8)
        out[f"x_{split}"] = x
        out[f"y_{split}"] = np.asarray(ds.targets, dtype=np.uint8)
    path = cache / f"{name}.npz"
    _atomic_savez(path, **out)
    return path


def embedded_path(name: str) -> Path:
    return _EMBEDDED_DIR / f"{_check_name(name)}_subset.npz"


def load(name: str, subset: str | None = None, root: str | os.PathLike | None = None, download: bool = True) -> Dataset:
    """Load ``"mnist"`` or ``"cifar10"`` as uint8 images and int64 labels.

    Parameters
    ----------
    name : ``"mnist"`` or ``"cifar10"``.
    subset : ``None`` (or ``"full"``) for the full dataset; ``"embedded"`` for the class-balanced subset
        shipped with the package (no file or network needed).
    root : folder holding ``{name}.npz``; defaults to ``$IPDROP_DATA``.
    download : try a torchvision download into the cache when no file is found.
    """
    _check_name(name)
    if subset == "embedded":
        path = embedded_path(name)
        if not path.exists():
            raise FileNotFoundError(f"embedded subset {path} is missing; rebuild it with scripts/make_subsets.py")
        return _from_npz(path, name, f"embedded subset ({path.name})")
    if subset not in (None, "full"):
        raise ValueError(f"subset must be None, 'full' or 'embedded'; got {subset!r}")

    root = root if root is not None else os.environ.get(ENV_VAR)
    if root:
        path = Path(root).expanduser() / f"{name}.npz"
        if path.exists():
            return _from_npz(path, name, str(path))
    cache = Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "ipdrop")).expanduser()
    cached = cache / f"{name}.npz"
    if cached.exists():
        return _from_npz(cached, name, str(cached))
    err = None
    if download:
        try:
            return _from_npz(_download(name, cache), name, f"torchvision download ({cached})")
        except Exception as exc:  # network errors come in many types
            err = exc
    where = f"{root}/{name}.npz" if root else f"${ENV_VAR}/{name}.npz (variable not set)"
    raise FileNotFoundError(
        f"{name} not found at {where} and the torchvision download into {cache} "
        f"{'failed: ' + repr(err) if err else 'is disabled'}. Provide the data one of two ways: set "
        f"{ENV_VAR} to a folder holding {name}.npz (arrays x_train, y_train, x_test, y_test, uint8), or run "
        f"where the internet is reachable so torchvision can download it. For small runs use "
        f"load({name!r}, subset='embedded')."
    )


def to_tensor(x: np.ndarray, name: str) -> torch.Tensor:
    """uint8 images -> float32 NCHW torch tensor, scaled to [0, 1] and normalised per channel."""
    import torch

    _check_name(name)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images; got {x.dtype}")
    t = torch.from_numpy(x).float().div_(255.0)
    if name == "mnist":
        t = t.unsqueeze(1) if t.ndim == 3 else t
    else:
        t = t.permute(0, 3, 1, 2) if t.ndim == 4 and t.shape[-1] == 3 else t
    mean, std = _NORMALISATION[name]
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((t - m) / s).contiguous()


def balanced_subset(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of every class, drawn without replacement with ``seed``."""
    rng = np.random.default_rng(seed)
    idx = []
    for c in np.unique(y):
        pool = np.flatnonzero(y == c)
        if len(pool) < per_class:
            raise ValueError(f"class {c} has {len(pool)} examples, fewer than per_class={per_class}")
        idx.append(rng.choice(pool, size=per_class, replace=False))
    return np.sort(np.concatenate(idx))
