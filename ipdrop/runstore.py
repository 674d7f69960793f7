"""Stored representations, estimation after training, and the results store of paper-scale runs.

Training and estimation are decoupled so that an estimator fix never costs a new 200-epoch run:

1. :func:`ipdrop.training.train` with ``save_representations=True`` keeps, at every IP epoch, the noiseless
   representations of the fixed IP subsets (labels, logits and, for information dropout, alpha and the
   per-sample KL) in ``RUN/reps/epoch-XXXX.npz`` (:func:`save_representations`). These files are large and
   never committed.
2. :func:`estimate_run` (``ipdrop estimate RUN``) recomputes or adds estimator rows from them and writes
   ``RUN/estimates.csv`` plus ``RUN/estimates.json`` (settings, versions, wall time). It resumes: epochs
   already estimated with the same settings are skipped.
3. :func:`export_run` copies the small files of a finished run (``config.json``, ``run.json``,
   ``results.csv``, ``estimates.csv``, ``estimates.json``) and a ``provenance.json`` (CPU, threads, git
   commit, wall time per phase) into the results store, e.g. ``results/fc_mnist/var0.2-seed0/``.

:func:`reproduce` (``ipdrop reproduce PARAMS_FILE``) runs the three steps for every run of an experiment's
params file (``params/paper_runs/*.yaml``), skipping what is finished. :func:`load_table` reads a run
folder or a stored run as one tidy table (estimates override training-time rows of the same estimator).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from . import _io
from ._rundir import REPS_DIR, _reps_file, save_representations

__all__ = [
    "save_representations",
    "load_representations",
    "representation_epochs",
    "estimate_run",
    "load_table",
    "export_run",
    "read_params_file",
    "reproduce",
    "provenance",
    "REPS_DIR",
    "STORED_FILES",
    "check_stored_run",
]

_EST_CSV, _EST_JSON, _PROV_JSON = "estimates.csv", "estimates.json", "provenance.json"
STORED_FILES = ("config.json", "run.json", "results.csv", _EST_CSV, _EST_JSON, _PROV_JSON)
_SPLITS = ("train", "test")


# --------------------------------------------------------------------------- representations


def representation_epochs(run_dir: str | os.PathLike) -> list[int]:
    """Epochs whose representations are stored in ``RUN/reps/`` (sorted)."""
    d = Path(run_dir) / REPS_DIR
    if not d.is_dir():
        return []
    out = []
    for p in d.glob("epoch-*.npz"):
        stem = p.stem.split("-", 1)[1]
        if stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def load_representations(run_dir: str | os.PathLike, epoch: int) -> dict[str, dict[str, np.ndarray]]:
    """``{split: {field: array}}`` of one stored epoch (fields among z, y, logits, alpha, kl)."""
    path = _reps_file(Path(run_dir), epoch)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stored representations for epoch {epoch}")
    try:
        with np.load(path) as npz:
            out: dict[str, dict[str, np.ndarray]] = {}
            for key in npz.files:
                split, field = key.split("_", 1)
                out.setdefault(split, {})[field] = npz[key]
    except Exception as exc:  # BadZipFile, EOFError, pickled data, truncated arrays
        raise ValueError(f"{path}: unreadable representation file ({type(exc).__name__}: {exc})") from None
    return out


# --------------------------------------------------------------------------- estimation after training


def _read_config(run_dir: Path) -> dict:
    cfg = run_dir / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{cfg}: not an ipdrop run folder (no config.json)")
    try:
        return _io.read_json(cfg)
    except ValueError as exc:
        raise ValueError(f"{cfg}: unreadable ({exc})") from None


def _default_estimators(config: Mapping[str, Any]) -> tuple[str, ...]:
    dropout = config.get("dropout")
    if dropout == "gaussian":
        return ("mixture-all", "binning", "binning-ref", "edge", "knn", "variational")
    if dropout == "information":
        return ("kl", "binning", "edge", "knn", "variational")
    return ("binning", "edge", "knn", "variational")


def estimate_run(
    run_dir: str | os.PathLike,
    estimators: Sequence[str] | None = None,
    *,
    n_noise: int = 10,
    n_bins: Sequence[int] = (3, 10, 30, 100),
    epochs: Iterable[int] | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    sizes: Sequence[int] = (),
    size_estimators: Sequence[str] = ("mixture",),
    progress: bool = True,
) -> pd.DataFrame:
    """Estimate the information plane of a run from its stored representations.

    Parameters
    ----------
    run_dir : a run folder trained with ``save_representations=True``.
    estimators : tracker estimator names (see :mod:`ipdrop.tracker`); ``None``: every estimator that
        applies to the run's dropout.
    n_noise, n_bins : passed to the tracker.
    epochs : only these stored epochs, or ``"every:K"`` (the stored epochs divisible by K and the last one);
        default: all.
    seed : base seed of the estimators (default: the run's seed).
    sizes : extra subsample sizes N' (smaller than the IP subsets): ``size_estimators`` also run on the first
        N' representations of each split, with rows named ``<estimator>@<N'>``. The drift of an estimate with
        N is what shows its finite-N bias (a compression verdict must exceed it).

    Returns
    -------
    pandas.DataFrame
        The rows of ``RUN/estimates.csv`` (all estimated epochs).
    """
    import pandas as pd

    from .tracker import RESULT_COLUMNS, InformationPlaneTracker

    run = Path(run_dir)
    cfg_all = _read_config(run)
    config = cfg_all.get("config", {})
    stored = representation_epochs(run)
    if not stored:
        raise FileNotFoundError(f"{run / REPS_DIR}: no stored representations (train with save_representations=True)")
    if isinstance(epochs, str):  # "every:K": the stored epochs divisible by K, and the last one
        k = epochs.split(":", 1)[1] if epochs.startswith("every:") else ""
        if not k.isdigit() or int(k) < 1:
            raise ValueError(f"epochs must be a list of epochs or 'every:K'; got {epochs!r}")
        epochs = [e for e in stored if e % int(k) == 0] + [stored[-1]]
    want = stored if epochs is None else sorted(set(int(e) for e in epochs))
    missing = sorted(set(want) - set(stored))
    if missing:
        raise ValueError(f"{run}: no stored representations for epochs {missing}; stored: {stored[0]}..{stored[-1]}")
    names = tuple(estimators) if estimators else _default_estimators(config)
    seed = int(config.get("seed", 0)) if seed is None else int(seed)
    variance = config.get("variance") if config.get("dropout") == "gaussian" else None
    sizes = sorted({int(n) for n in sizes}, reverse=True)
    # the N-drift rows need an estimator that applies to this run (the mixture views need Gaussian dropout)
    size_estimators = [e for e in size_estimators if not (e.startswith("mixture") and variance is None)]
    if not size_estimators:
        sizes = []
    settings = {
        "estimators": list(names),
        "n_noise": int(n_noise),
        "n_bins": [int(b) for b in n_bins],
        "seed": seed,
        "variance": variance,
    }
    if sizes:
        settings.update(sizes=sizes, size_estimators=list(size_estimators))
    tracker_kw: dict[str, Any] = dict(
        variance=variance,
        n_noise=n_noise,
        n_bins=tuple(n_bins),
        seed=seed,
        device=device,
        progress=False,
        on_error="warn",
    )
    tracker_kw.update(_activation_kwargs(cfg_all))
    tracker = InformationPlaneTracker(names, **tracker_kw)
    sub_trackers = {n: InformationPlaneTracker(tuple(size_estimators), max_samples=n, **tracker_kw) for n in sizes}

    est_csv, est_json = run / _EST_CSV, run / _EST_JSON
    info = _io.read_json_or_none(est_json) or {}
    old = pd.read_csv(est_csv) if est_csv.is_file() and info else pd.DataFrame(columns=list(RESULT_COLUMNS))
    produced_names = _row_names(names, n_bins) + [f"{n}@" for n in _row_names(size_estimators, n_bins)]
    if info.get("settings") == settings:
        done = set(info.get("epochs_done", []))
    else:  # other settings: the rows of these estimators are recomputed, other estimators' rows stay
        done = set()
        if len(old):
            old = old[~old["estimator"].map(lambda e: _matches(e, produced_names))]
    todo = [e for e in want if e not in done]
    t0 = time.perf_counter()
    wall = float(info.get("wall_time_s", 0.0)) if done else 0.0
    frames = [old] if len(old) else []
    bar = todo
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(todo, desc=f"estimate {run.name}")
    for epoch in bar:
        reps = load_representations(run, epoch)
        tracker.increment(epoch)
        for split in _SPLITS:
            if split not in reps:
                continue
            a = reps[split]
            tracker.update(a["z"], a["y"], split=split, alpha=a.get("alpha"), kl=a.get("kl"), logits=a.get("logits"))
        rows = tracker.compute()
        frames.append(rows)
        for n_sub, sub in sub_trackers.items():
            sub.increment(epoch)
            for split in _SPLITS:
                if split in reps:
                    a = reps[split]
                    sub.update(
                        a["z"], a["y"], split=split, alpha=a.get("alpha"), kl=a.get("kl"), logits=a.get("logits")
                    )
            part = sub.compute()
            part["estimator"] = part["estimator"].astype(str) + f"@{n_sub}"
            frames.append(part)
            sub.reset()
        done.add(epoch)
        df = _sorted(pd.concat(frames, ignore_index=True))
        frames = [df]
        _io.write_csv(est_csv, df)
        _io.write_json(
            est_json,
            {
                "settings": settings,
                "epochs_done": sorted(done),
                "wall_time_s": wall + time.perf_counter() - t0,
                "versions": _versions(),
                "threads": _threads(),
                "git_commit": _git_commit(),
                "updated": _now(),
            },
        )
        tracker.reset()
    if not todo and not est_csv.is_file():
        raise RuntimeError(f"{run}: nothing estimated")
    return pd.read_csv(est_csv)


def _activation_kwargs(cfg_all: Mapping[str, Any]) -> dict:
    """Tracker keyword arguments that depend on the network (e.g. its activation), when supported."""
    import inspect

    from .tracker import InformationPlaneTracker

    params = inspect.signature(InformationPlaneTracker).parameters
    if "activation" in params:
        act = (cfg_all.get("resolved") or {}).get("activation") or "softplus"  # every paper network uses softplus
        return {"activation": act}
    return {}


def _row_names(names: Sequence[str], n_bins: Sequence[int]) -> list[str]:
    """Prefixes of the estimator names that the tracker writes for ``names``."""
    out = []
    for n in names:
        if n in ("mixture", "mixture-all"):
            out.append("mixture-")
        elif n == "binning":
            out += [f"binning-{b}" for b in n_bins]
        elif n == "binning-ref":
            out += [f"binning-ref-{b}" for b in n_bins]
        else:
            out.append(n)
    return out


def _matches(estimator: str, names: Sequence[str]) -> bool:
    """Whether a row's estimator is one that ``names`` produce (``x-`` prefixes, ``x@`` any subsample size)."""
    for n in names:
        if n.endswith("@"):
            base = n[:-1]
            if "@" in estimator and _matches(estimator.split("@", 1)[0], [base]):
                return True
        elif estimator == n or (n.endswith("-") and estimator.startswith(n)):
            return True
    return False


def _sorted(df):
    order = {"train": 0, "test": 1}
    df = df.assign(_s=df["split"].map(order).fillna(2))
    return (
        df.sort_values(["epoch", "_s", "estimator", "quantity"], kind="stable")
        .drop(columns="_s")
        .reset_index(drop=True)
    )


def load_table(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One tidy table of a run folder or a stored run: ``results.csv`` plus ``estimates.csv``.

    Rows of ``estimates.csv`` replace training-time rows with the same epoch, split, estimator and
    quantity.
    """
    import pandas as pd

    run = Path(run_dir)
    res = run / "results.csv"
    if not res.is_file():
        raise FileNotFoundError(f"{res}: missing")
    try:
        df = pd.read_csv(res)
    except Exception as exc:
        raise ValueError(f"{res}: unreadable table ({exc})") from None
    est = run / _EST_CSV
    if est.is_file():
        try:
            e = pd.read_csv(est)
        except Exception as exc:
            raise ValueError(f"{est}: unreadable table ({exc})") from None
        key = ["epoch", "split", "estimator", "quantity"]
        df = pd.concat([df, e], ignore_index=True).drop_duplicates(subset=key, keep="last")
        df = _sorted(df)
    return df


# --------------------------------------------------------------------------- provenance and the store


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    from .training import _git_commit as g

    return g()


def _versions() -> dict:
    from .training import _versions as v

    return v()


def _threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except Exception:  # pragma: no cover
        return -1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_model() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover
        pass
    return None


def provenance(run_dir: str | os.PathLike, *, params_file: str | None = None, run_name: str | None = None) -> dict:
    """What produced a run: hardware, threads, versions, git commit, wall time per phase."""
    run = Path(run_dir)
    cfg = _read_config(run)
    run_info = _io.read_json_or_none(run / "run.json") or {}
    est_info = _io.read_json_or_none(run / _EST_JSON) or {}
    return {
        "params_file": params_file,
        "run": run_name or run.name,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpu_model() if str(run_info.get("device", "cpu")).startswith("cuda") else None,
        "device": run_info.get("device"),
        "threads_training": (cfg.get("config") or {}).get("num_threads"),
        "threads_estimation": est_info.get("threads"),
        "versions": cfg.get("versions"),
        "git_commit": cfg.get("git_commit"),  # the code that trained the run
        "git_commit_estimation": est_info.get("git_commit"),
        "git_commit_export": _git_commit(),
        "wall_time_s": {"training": run_info.get("wall_time_s"), "estimation": est_info.get("wall_time_s")},
        # a run resumed from a checkpoint that did not carry the earlier processes' time reports only the last one's
        "training_resumed_from_epoch": run_info.get("resumed_from_epoch"),
        "training_wall_time_complete": bool(
            run_info.get("wall_time_complete", run_info.get("resumed_from_epoch") is None)
        ),
        "exported": _now(),
    }


def export_run(
    run_dir: str | os.PathLike,
    store_dir: str | os.PathLike,
    *,
    params_file: str | None = None,
    run_name: str | None = None,
) -> Path:
    """Copy the small files of a finished, estimated run into ``store_dir`` with its provenance.

    No checkpoint and no representation file is copied. The copy is made in a temporary folder next to
    ``store_dir`` and renamed into place, so a store folder is always complete.
    """
    run, dest = Path(run_dir), Path(store_dir)
    info = _io.read_json_or_none(run / "run.json") or {}
    if info.get("status") != "complete":
        raise ValueError(f"{run}: the run has not finished (no complete run.json); nothing exported")
    if not (run / _EST_CSV).is_file():
        raise ValueError(f"{run}: no {_EST_CSV}; run 'ipdrop estimate {run}' first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for name in STORED_FILES[:-1]:
        src = run / name
        if src.is_file():
            shutil.copyfile(src, tmp / name)
    _io.write_json(tmp / _PROV_JSON, provenance(run, params_file=params_file, run_name=run_name or dest.name))
    for p in tmp.iterdir():
        os.chmod(p, 0o644)
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            shutil.rmtree(old)
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old)
    else:
        tmp.rename(dest)
    return dest


# --------------------------------------------------------------------------- experiments from params files


def read_params_file(path: str | os.PathLike) -> dict:
    """An experiment's params file: ``experiment``, ``base`` (TrainConfig fields), ``runs``
    (name -> overrides) and ``estimate`` (keyword arguments of :func:`estimate_run`).

    Returns the parsed mapping with ``configs``: name -> full TrainConfig dict (validated).
    """
    import yaml

    from .training import TrainConfig

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: params file not found")
    try:
        spec = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("runs"), dict) or not spec["runs"]:
        raise ValueError(f"{p}: needs a mapping with 'base' and a non-empty 'runs' mapping")
    unknown = sorted(set(spec) - {"experiment", "description", "base", "runs", "estimate", "deviations"})
    if unknown:
        raise ValueError(f"{p}: unknown top-level keys {unknown}")
    base = dict(spec.get("base") or {})
    configs = {}
    for name, over in spec["runs"].items():
        try:
            configs[str(name)] = TrainConfig.from_dict({**base, **(over or {})}).to_dict()
        except ValueError as exc:
            raise ValueError(f"{p}: run {name!r}: {exc}") from None
    spec["configs"] = configs
    spec.setdefault("experiment", p.stem)
    spec.setdefault("estimate", {})
    return spec


def check_stored_run(stored: str | os.PathLike, params_file: str | os.PathLike) -> list[str]:
    """Problems of one stored run against its params file (empty list: consistent, with provenance)."""
    stored = Path(stored)
    problems = []
    spec = read_params_file(params_file)
    name = stored.name
    if name not in spec["configs"]:
        return [f"{stored}: run {name!r} is not in {params_file}"]
    for f in STORED_FILES:
        if not (stored / f).is_file():
            problems.append(f"{stored}: missing {f}")
    if problems:
        return problems
    from .training import config_differences

    cfg = _io.read_json(stored / "config.json").get("config") or {}
    want = json.loads(json.dumps(spec["configs"][name]))
    diff = config_differences(cfg, want)
    if diff:
        problems.append(f"{stored}: config.json differs from {params_file} in {diff}")
    prov = _io.read_json(stored / _PROV_JSON)
    for key in ("cpu", "versions", "git_commit", "wall_time_s", "threads_training"):
        if prov.get(key) in (None, "", {}):
            problems.append(f"{stored}: provenance.json lacks {key}")
    est = _io.read_json(stored / _EST_JSON)
    want_est = spec.get("estimate") or {}
    for k in ("estimators", "n_noise", "n_bins"):
        if k in want_est and est.get("settings", {}).get(k) != want_est[k]:
            problems.append(
                f"{stored}: estimates.json {k}={est.get('settings', {}).get(k)!r} differs from "
                f"{params_file} ({want_est[k]!r})"
            )
    run_info = _io.read_json(stored / "run.json")
    if run_info.get("status") != "complete":
        problems.append(f"{stored}: run.json does not say complete")
    return problems


def reproduce(
    params_file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    work: str | os.PathLike | None = None,
    runs: Sequence[str] | None = None,
    stages: Sequence[str] = ("train", "estimate", "export"),
    progress: bool = True,
) -> dict[str, str]:
    """Train, estimate and export every run of an experiment's params file; skip what is finished.

    ``work`` holds the run folders with checkpoints and representations (default: ``runs/paper/<name>``);
    ``out`` is the results store folder of the experiment (e.g. ``results/fc_mnist``). Returns
    ``{run: status}``.
    """
    from .training import train

    spec = read_params_file(params_file)
    work = Path(work) if work is not None else Path("runs") / "paper" / spec["experiment"]
    names = list(spec["configs"]) if not runs else list(runs)
    unknown = sorted(set(names) - set(spec["configs"]))
    if unknown:
        raise ValueError(f"{params_file}: no runs named {unknown}; known: {sorted(spec['configs'])}")
    status = {}
    for name in names:
        run_dir = work / name
        threads = spec["configs"][name].get("num_threads")
        if threads:  # estimation runs under the run's thread budget too
            import torch

            torch.set_num_threads(int(threads))
        if "train" in stages:
            train(spec["configs"][name], run_dir, progress=progress)
        if "estimate" in stages:
            estimate_run(run_dir, progress=progress, **spec["estimate"])
        if "export" in stages:
            export_run(run_dir, Path(out) / name, params_file=str(params_file), run_name=name)
        status[name] = "done"
    return status
