"""The files of a run folder: their names, the completeness check and the readers.

A run folder written by :func:`ipdrop.training.train` (directly, through a study or through a sweep) holds

``config.json``
    ``{"config": <TrainConfig as a dict>, ...}``, written first.
``results.csv``
    The tidy results table (one row per epoch, split, estimator and quantity; MI in nats).
``checkpoint.pt``
    Model, optimiser and RNG state after the last finished epoch (a killed run resumes from it).
``run.json``
    ``{"status": "complete", ...}``, written last: a folder with it is a finished run.
``params.json``
    Only in sweep runs: the run's sweep parameters (``{"params": {...}, "base_params": {...}}``).

This module is the one place that spells these names; it imports nothing from the rest of the package
except :mod:`ipdrop._io`, so every layer may use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from . import _io

__all__ = [
    "CONFIG_FILE",
    "RESULTS_FILE",
    "CHECKPOINT_FILE",
    "RUN_FILE",
    "PARAMS_FILE",
    "is_complete",
    "read_run_info",
    "read_config",
    "read_params",
    "read_results",
]

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.csv"
CHECKPOINT_FILE = "checkpoint.pt"
RUN_FILE = "run.json"
PARAMS_FILE = "params.json"

#: the estimate's Monte-Carlo error column: ``mc_error`` (new name) or ``stderr`` (old name)
ERROR_COLUMNS = ("mc_error", "stderr")


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The content of ``run_dir/run.json``; ``{}`` when it is missing or not (yet) valid JSON."""
    info = _io.read_json_or_none(Path(run_dir) / RUN_FILE)
    return info if isinstance(info, dict) else {}


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir/run.json`` exists and says ``"status": "complete"``."""
    return read_run_info(run_dir).get("status") == "complete"


def read_config(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The training configuration stored in ``run_dir/config.json`` (the ``"config"`` entry, or the whole
    object for a file without one); None when the file is missing or unreadable."""
    stored = _io.read_json_or_none(Path(run_dir) / CONFIG_FILE)
    if not isinstance(stored, dict):
        return None
    cfg = stored.get("config", stored)
    return dict(cfg) if isinstance(cfg, dict) else None


def read_params(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The raw content of a sweep run's ``params.json`` (``{"params": ..., "base_params": ...}``), or None."""
    stored = _io.read_json_or_none(Path(run_dir) / PARAMS_FILE)
    return stored if isinstance(stored, dict) else None


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a run's results table: ``path`` is a run folder or a ``results.csv`` file.

    Columns keep the file's order; ``epoch`` becomes int64, ``n``/``d`` nullable Int64, ``value`` and the
    error column (``mc_error`` or ``stderr``) float64.

    Raises
    ------
    FileNotFoundError
        When the folder holds no ``results.csv`` (not a run folder, or no epoch has finished yet).
    """
    import pandas as pd

    p = Path(path)
    table = p / RESULTS_FILE if p.is_dir() else p
    if not table.is_file():
        raise FileNotFoundError(f"{table}: no results table (not a run folder, or no epoch has finished yet)")
    try:
        df = pd.read_csv(table)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas ParserError / EmptyDataError are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{table} is not a readable results table ({first})") from None
    missing = [c for c in ("epoch", "split", "estimator", "quantity", "value") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{table} is not an ipdrop results table: columns {missing} are missing (found {list(df.columns)[:10]})"
        )
    if "epoch" in df:
        df["epoch"] = df["epoch"].astype("int64")
    for c in ("n", "d"):
        if c in df:
            df[c] = df[c].astype("Int64")
    for c in ("value", *ERROR_COLUMNS):
        if c in df:
            df[c] = df[c].astype("float64")
    return df


# --------------------------------------------------------------------------- stored representations

#: folder of a run that keeps the IP representations per epoch (``epoch-XXXX.npz``; never committed)
REPS_DIR = "reps"
_FIELDS = ("z", "y", "logits", "alpha", "kl")


def _reps_file(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / REPS_DIR / f"epoch-{int(epoch):04d}.npz"


def save_representations(run_dir: str | os.PathLike, epoch: int, data: Mapping[str, Any]) -> Path:
    """Write one epoch's IP arrays (``{split: SplitData}``) to ``RUN/reps/epoch-XXXX.npz`` atomically.

    The noiseless representation is stored as float32 (the network's own precision, so nothing is
    lost), labels as int64, KL values as float64.
    """
    arrays: dict[str, np.ndarray] = {}
    for split, sd in data.items():
        for f in _FIELDS:
            v = getattr(sd, f, None)
            if v is None:
                continue
            v = np.asarray(v)
            if f in ("z", "logits", "alpha"):
                v = v.astype(np.float32)
            arrays[f"{split}_{f}"] = v
    path = _reps_file(Path(run_dir), epoch)
    with _io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path
