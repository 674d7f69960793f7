"""Parameter sweeps over seeds, dropout variances, beta, ... on one machine or a Dask cluster.

A sweep runs one *target* once per parameter combination, each run in its own
folder below ``out_root`` named after its parameters (sorted keys, e.g.
``seed=0,variance=0.2``). Targets:

``"train"``
    :func:`ipdrop.training.run` (parameters are :class:`ipdrop.training.TrainConfig` fields).
``"notebook:NAME"``
    papermill over ``notebooks/NAME.md`` (jupytext MyST) with the run's parameters;
    the executed notebook lands in the run folder.
``"module:function"`` or a Python callable
    any importable ``f(params: dict, out_dir: pathlib.Path)``.

A run counts as complete once ``run.json`` in its folder says
``{"status": "complete"}`` (written last, atomically, by the training code or by
the sweep after the target returns; for ``train``, ``results.csv`` must also match the
checksum recorded there, else the sweep refuses to start, naming the file). Complete runs are skipped, so a sweep
interrupted by Ctrl-C, a crash or a wall-time limit is resumed by running the
same command again; incomplete runs are redone. A run that raises writes
``error.log`` (traceback + captured output) into its folder, is listed in the
:class:`SweepReport`, and does not stop the other runs.

Executors
---------
``"local"`` (default)
    one fresh process per run (``forkserver`` context, safe with torch; the server preloads
    ipdrop and torch, so a run process starts in milliseconds), at most ``workers`` at a time;
    each gets ``max(1, cores // workers)`` torch threads (``workers x threads <= cores``).
    A run whose process dies (OOM killer, segfault) fails alone, with an ``error.log`` saying how
    it died; the other runs go on. SIGINT/SIGTERM (Ctrl-C) stop the sweep within seconds: queued
    runs are not started, running ones get SIGTERM (SIGKILL after 5 s) and keep their last
    checkpoint; every run's true status (``complete``, ``skipped``, ``failed``, ``interrupted``,
    ``not started``) goes to ``sweep_report.json``. Run processes die with the sweep process, even
    when it is SIGKILLed (``PR_SET_PDEATHSIG`` on Linux and a pipe to the sweep they watch).
``"dask"``
    :mod:`dask.distributed`. ``scheduler=None`` starts a ``LocalCluster``;
    ``scheduler="tcp://host:8786"`` connects to a running scheduler; ``scheduler``
    may also be a ``Client`` or any cluster object, e.g. from dask-jobqueue::

        from dask_jobqueue import SLURMCluster
        cluster = SLURMCluster(cores=8, memory="16GB", walltime="02:00:00")
        cluster.scale(jobs=4)
        run_sweep("train", grid, "sweeps/var", executor="dask", scheduler=cluster)

    or from the command line ``--executor dask --scheduler slurm --workers 4
    --cluster-option cores=8 memory=16GB walltime=02:00:00`` (``pbs`` likewise;
    needs ``pip install dask-jobqueue``). Remote workers need ipdrop installed and
    ``out_root`` on a file system they share with the caller.
``"serial"``
    runs in the calling process, one after the other (debugging).

The local and Dask executors start fresh Python processes, so a *script* that
calls :func:`run_sweep` needs the usual ``if __name__ == "__main__":`` guard.

Files
-----
``out_root/sweep.json``
    target, shared parameters and every run (name and parameters) swept into the folder.
``out_root/sweep_report.json``
    the last call's :class:`SweepReport` (status, seconds, error of every run).
``out_root/<run>/params.json``
    the run's parameters (written when it finishes); ``run.json``: the completion marker;
    ``.sweep.log``: its captured stdout/stderr/logging; ``error.log``: only after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import functools
import hashlib
import importlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _io

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SweepReport",
    "SweepInterrupted",
    "RunRecord",
    "run_sweep",
    "parse_grid",
    "expand_grid",
    "load_params_file",
    "run_name",
    "is_complete",
    "resolve_target",
    "make_jobqueue_cluster",
    "add_cli",
]

#: keys that only change *how* a run executes, not its results; ignored when a
#: finished run's stored parameters are compared with the requested ones.
EXECUTION_KEYS = frozenset({"device", "num_threads", "progress"})

#: captured stdout/stderr/logging of a run, inside its folder
LOG_FILE = ".sweep.log"

#: seconds running runs get to stop after SIGINT/SIGTERM before they are killed
_STOP_GRACE_S = 5.0
#: exit status of a run process that noticed the sweep process is gone
_ORPHAN_EXIT = 70
#: statuses of a :class:`RunRecord`
STATUSES = ("complete", "skipped", "failed", "interrupted", "not started")

_MAX_NAME = 150
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._+\-=,]")
_LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------- grid parsing
def _parse_scalar(text: str):
    """Parse one grid value: int, float, bool, None, else the stripped string."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _parse_values(key: str, text: str) -> list:
    values: list = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty value in grid entry {key}={text!r}")
        m = re.fullmatch(r"([+-]?\d+)\.\.([+-]?\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise ValueError(f"empty range {part!r} for {key!r}: the end {b} is below the start {a}")
            values.extend(range(a, b + 1))
        elif ".." in part:
            raise ValueError(f"bad range {part!r} for {key!r}: ranges 'a..b' take inclusive integers, e.g. seed=0..4")
        else:
            values.append(_parse_scalar(part))
    return values


def parse_grid(entries: Iterable[str] | str) -> dict[str, list]:
    """Parse command-line grid entries into a ``{name: [values]}`` dict.

    Parameters
    ----------
    entries : iterable of str or str
        Entries ``name=values`` where values are a comma list (``variance=0.2,0.4``),
        an inclusive integer range (``seed=0..4``) or a mix (``seed=0..2,7``).
        Values are parsed as int, float, bool (``true``/``false``), ``none`` or string.
        A single string is split on whitespace.

    Returns
    -------
    dict
        Parameter name -> list of values, in the order given.

    Examples
    --------
    >>> parse_grid(["seed=0..2", "variance=0.2,0.4"])
    {'seed': [0, 1, 2], 'variance': [0.2, 0.4]}
    """
    if isinstance(entries, str):
        entries = entries.split()
    grid: dict[str, list] = {}
    for entry in entries:
        if "=" not in entry:
            raise ValueError(f"bad grid entry {entry!r}: expected name=values, e.g. seed=0..4 or variance=0.2,0.4")
        key, _, text = entry.partition("=")
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"bad parameter name {key!r} in grid entry {entry!r}")
        if key in grid:
            raise ValueError(f"parameter {key!r} appears twice in the grid")
        if not text.strip():
            raise ValueError(f"grid entry {entry!r} has no values")
        grid[key] = _parse_values(key, text)
    return grid


def expand_grid(grid: Mapping[str, Sequence]) -> list[dict]:
    """Cartesian product of a ``{name: values}`` grid as a list of parameter dicts.

    The first key varies slowest. Scalars are treated as one-element lists.
    """
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a mapping name -> values, got {type(grid).__name__}")
    keys = list(grid)
    if not keys:
        raise ValueError("the sweep grid is empty: give at least one parameter with values, e.g. seed=0..4")
    lists = []
    for k in keys:
        v = grid[k]
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
            v = [v]
        v = list(v)
        if not v:
            raise ValueError(f"grid parameter {k!r} has no values")
        lists.append(v)
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def load_params_file(path: str | os.PathLike) -> list[dict]:
    """Read the runs of a sweep from a YAML (or JSON) file.

    The file holds either a list of parameter dicts (one per run), or a mapping
    with optional keys ``grid`` (name -> list of values, or a string like
    ``"seed=0..4 variance=0.2,0.4"``), ``runs`` (list of dicts, appended) and
    ``base`` (parameters shared by every run, merged under each run).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"params file {str(path)!r} does not exist")
    with open(path) as fh:
        data = yaml.safe_load(fh)
    if isinstance(data, list):
        runs = data
        base: dict = {}
    elif isinstance(data, Mapping):
        unknown = set(data) - {"grid", "runs", "base"}
        if unknown:
            raise ValueError(
                f"params file {str(path)!r}: unknown top-level keys {sorted(unknown)}; "
                "use a list of dicts or a mapping with 'grid', 'runs' and/or 'base'"
            )
        grid = data.get("grid") or {}
        if isinstance(grid, str):
            grid = parse_grid(grid)
        runs = (expand_grid(grid) if grid else []) + list(data.get("runs") or [])
        base = dict(data.get("base") or {})
    else:
        raise ValueError(f"params file {str(path)!r} must hold a list of parameter dicts, got {type(data).__name__}")
    out = []
    for i, r in enumerate(runs):
        if not isinstance(r, Mapping):
            raise ValueError(f"params file {str(path)!r}: entry {i} is {r!r}, expected a dict of parameters")
        out.append({**base, **r})
    return out


# --------------------------------------------------------------------------- naming / markers
def _plain(value):
    """numpy scalars -> Python scalars; leaves everything else."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def _format_value(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form; '1.0' stays distinct from the int 1
    if isinstance(value, (list, tuple)):
        return "+".join(_format_value(v) for v in value)
    return str(value)


def run_name(params: Mapping[str, Any]) -> str:
    """Stable, filesystem-safe folder name for one run: ``k1=v1,k2=v2`` with sorted keys.

    Characters outside ``[A-Za-z0-9._+-=,]`` become ``_``; names longer than 150
    characters are cut and suffixed with a hash of the full parameters.
    """
    if not params:
        return "default"
    parts = [f"{k}={_format_value(params[k])}" for k in sorted(params)]
    name = _SAFE_CHARS.sub("_", ",".join(parts))
    if name.startswith("."):
        name = "_" + name[1:]
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(json.dumps(_jsonable(dict(params)), sort_keys=True).encode()).hexdigest()[:12]
        name = name[: _MAX_NAME - 13] + "~" + digest
    return name


def _jsonable(obj):
    obj = _plain(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _atomic_write_text(path: Path, text: str) -> None:
    _io.write_text(path, text)


def _write_json(path: Path, obj) -> None:
    _io.write_json(path, _jsonable(obj))


_read_json = _io.read_json_or_none


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir/run.json`` exists and says ``"status": "complete"``."""
    info = _read_json(Path(run_dir) / "run.json")
    return isinstance(info, dict) and info.get("status") == "complete"


# --------------------------------------------------------------------------- targets
@dataclasses.dataclass(frozen=True)
class _Target:
    """A picklable description of what one run executes."""

    kind: str  # "train" | "notebook" | "callable"
    spec: str  # "train", notebook path, or "module:qualname"
    func: Callable | None = None  # a callable given directly (pickled by reference)

    @property
    def label(self) -> str:
        return {"train": "train", "notebook": f"notebook:{self.spec}"}.get(self.kind, self.spec)

    def load(self) -> Callable:
        if self.kind == "train":
            from .training import run

            return functools.partial(run, progress=False)
        if self.kind == "notebook":
            return lambda params, out_dir: _run_notebook(Path(self.spec), params, out_dir)
        if self.func is not None:
            return self.func
        return _import_callable(self.spec)

    def canonical(self, params: Mapping) -> dict:
        """Parameters in a comparable form (for ``train``: the validated config, so 'a' == ['a'])."""
        if self.kind == "train":
            from .training import TrainConfig

            with contextlib.suppress(ValueError, TypeError):
                return _jsonable(TrainConfig.from_dict(dict(params)).to_dict())
        return _jsonable(dict(params))

    def complete(self, run_dir: Path) -> bool:
        if not is_complete(run_dir):
            return False
        if self.kind == "notebook":
            return (run_dir / (Path(self.spec).stem + ".ipynb")).is_file()
        return True


def _import_callable(spec: str) -> Callable:
    module_name, _, qualname = spec.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"bad target {spec!r}: expected 'train', 'notebook:NAME' or 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"target {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"target {spec!r}: module {module_name!r} has no attribute {qualname!r}") from None
    if not callable(obj):
        raise ValueError(f"target {spec!r} is not callable")
    return obj


def _find_notebook(name: str, notebooks_dir=None) -> Path:
    cand = Path(name)
    tried = []
    if cand.suffix in (".md", ".ipynb", ".py"):
        tried.append(cand)
        if cand.is_file():
            return cand.resolve()
    dirs = (
        [Path(notebooks_dir)]
        if notebooks_dir is not None
        else [Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    )
    for d in dirs:
        for suffix in ("", ".md", ".ipynb"):
            p = d / (name + suffix)
            tried.append(p)
            if p.is_file():
                return p.resolve()
    raise ValueError(f"notebook {name!r} not found; tried: {', '.join(str(t) for t in tried)}")


def resolve_target(target: str | Callable[..., Any], notebooks_dir: str | os.PathLike | None = None) -> _Target:
    """Turn a target spec into a picklable target.

    Parameters
    ----------
    target : str or callable
        ``"train"``, ``"notebook:NAME"`` (``notebooks/NAME.md``, or a path to a
        ``.md``/``.ipynb`` file), ``"module:function"``, or a callable
        ``f(params, out_dir)`` defined at module level (so it can be pickled).
    notebooks_dir : path, optional
        Where ``notebook:NAME`` is looked up (default ``./notebooks``, then the
        repository's ``notebooks/``).
    """
    if callable(target):
        name = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        return _Target("callable", name, target)
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"bad target {target!r}: expected 'train', 'notebook:NAME', 'module:function' or a callable")
    target = target.strip()
    if target == "train":
        return _Target("train", "train")
    if target.startswith("notebook:"):
        name = target[len("notebook:") :]
        if not name:
            raise ValueError("bad target 'notebook:': give a notebook name, e.g. notebook:01_binning")
        return _Target("notebook", str(_find_notebook(name, notebooks_dir)))
    _import_callable(target)  # fail early with a clear message
    return _Target("callable", target)


def _notebook_as_ipynb(path: Path, dest: Path) -> Path:
    """Write ``path`` (jupytext md/py or ipynb) as an .ipynb at ``dest``."""
    import jupytext

    nb = jupytext.read(str(path))
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    jupytext.write(nb, str(dest), fmt="ipynb")
    return dest


def _notebook_parameters(path: Path) -> dict:
    """Names and defaults of the ``parameters`` cell of a notebook."""
    import tempfile

    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        ipynb = _notebook_as_ipynb(path, Path(tmp) / (path.stem + ".ipynb"))
        params = papermill.inspect_notebook(str(ipynb))
    return {k: v.get("default") for k, v in params.items()}


def _run_notebook(path: Path, params: dict, out_dir: Path) -> None:
    import papermill

    out_dir = Path(out_dir)
    source = _notebook_as_ipynb(path, out_dir / f".{path.stem}.input.ipynb")
    names = _notebook_parameters(path)
    params = dict(params)
    if "out_dir" in names and "out_dir" not in params:
        params["out_dir"] = str(out_dir)
    try:
        papermill.execute_notebook(
            str(source),
            str(out_dir / f"{path.stem}.ipynb"),
            parameters=params,
            cwd=str(out_dir),
            progress_bar=False,
            kernel_name="python3",
        )
    finally:
        source.unlink(missing_ok=True)


def _validate_params(target: _Target, runs: list[dict], names: list[str] | None = None) -> None:
    """Raise ValueError naming any unknown/invalid parameter before anything runs."""
    if target.kind == "train":
        from .training import TrainConfig

        for i, params in enumerate(runs):
            try:
                TrainConfig.from_dict(dict(params))
            except (ValueError, TypeError) as exc:
                name = names[i] if names else run_name(params)
                raise ValueError(f"invalid parameters for run {name!r}: {exc}") from exc
    elif target.kind == "notebook":
        known = _notebook_parameters(Path(target.spec))
        given: set[str] = set().union(*(r.keys() for r in runs)) if runs else set()
        unknown = sorted(given - set(known))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for notebook {Path(target.spec).name}; "
                f"its parameters cell defines {sorted(known)}"
            )


# --------------------------------------------------------------------------- one run (in a worker)
def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _set_threads(num_threads: int | None) -> None:
    if not num_threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "IPDROP_SWEEP_THREADS"):
        os.environ[var] = str(num_threads)  # IPDROP_SWEEP_THREADS: training's default for num_threads=None
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(num_threads)


class _ThreadStream(io.TextIOBase):
    """A sys.stdout/sys.stderr stand-in that writes to a per-thread stream, else to the original.

    Lets concurrent runs in one process (Dask thread workers) each capture their own output.
    """

    def __init__(self, default):
        self._default = default
        self._local = threading.local()

    def _target(self):
        return getattr(self._local, "stream", None) or self._default

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        return self._target().flush()

    def isatty(self):
        return False

    def fileno(self):
        return self._target().fileno()

    def __getattr__(self, name):
        return getattr(self._target(), name)


_PROXY_LOCK = threading.Lock()


def _thread_proxy(name: str) -> _ThreadStream:
    with _PROXY_LOCK:
        current = getattr(sys, name)
        if not isinstance(current, _ThreadStream):
            current = _ThreadStream(current)
            setattr(sys, name, current)
        return current


@contextlib.contextmanager
def _capture_output(fh):
    """Send this run's stdout, stderr and log records (of this thread only) to ``fh``."""
    handler = logging.StreamHandler(fh)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    tid = threading.get_ident()
    handler.addFilter(lambda record: record.thread == tid)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        if threading.current_thread() is threading.main_thread():
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                yield
        else:  # a worker thread (Dask): other threads may be running runs of their own
            proxies = [_thread_proxy("stdout"), _thread_proxy("stderr")]
            for p in proxies:
                p._local.stream = fh
            try:
                yield
            finally:
                for p in proxies:
                    p._local.stream = None
    finally:
        root.removeHandler(handler)


def _tail(path: Path, n_chars: int = 20000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-n_chars:]


def _execute_run(
    target: _Target, params: dict, out_dir: str, num_threads: int | str | None = "auto", stored: dict | None = None
) -> dict:
    """Run one target in its folder; never raises for a failing target (returns a record)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG_FILE  # hidden: ipdrop.training refuses to start in a folder with other files
    err_path = out / "error.log"
    err_path.unlink(missing_ok=True)
    threads: int | None = None
    if num_threads == "auto":  # Dask worker: share this machine's cores among the worker's threads
        with contextlib.suppress(Exception):
            from distributed import get_worker

            threads = max(1, _available_cores() // max(1, get_worker().state.nthreads))
    elif num_threads is not None:
        threads = int(num_threads)
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "name": out.name,
        "params": params,
        "out_dir": str(out),
        "status": "complete",
        "error": None,
        "log": None,
        "host": os.uname().nodename if hasattr(os, "uname") else "",
    }
    try:
        with open(log_path, "w") as log_fh, _capture_output(log_fh):
            fn = target.load()
            _set_threads(threads)
            fn(dict(params), out)
        if stored is not None:
            _write_json(out / "params.json", stored)
        if not is_complete(out):
            _write_json(
                out / "run.json",
                {
                    "status": "complete",
                    "target": target.label,
                    "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                },
            )
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the run stops; a train run keeps its last checkpoint
        record.update(
            status="interrupted",
            error=f"interrupted ({exc or 'SIGINT'}); resumes when the sweep is run again",
            log=str(log_path),
        )
    except Exception as exc:  # a failing run must not stop the sweep
        tb = traceback.format_exc()
        _atomic_write_text(
            err_path,
            f"run {out.name} failed ({type(exc).__name__}: {exc})\n\n{tb}\n"
            f"----- captured output ({log_path.name}) -----\n{_tail(log_path)}",
        )
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", log=str(err_path))
    record["seconds"] = time.perf_counter() - t0
    return record


# --------------------------------------------------------------------------- report
@dataclasses.dataclass
class RunRecord:
    """Outcome of one run of a sweep.

    ``status`` is ``"complete"`` (ran now), ``"skipped"`` (complete before),
    ``"failed"`` (see ``log``: the ``error.log`` with traceback and output, or why its process died),
    ``"interrupted"`` (was running when the sweep was stopped; resumes from its last checkpoint when
    the sweep runs again) or ``"not started"`` (queued when the sweep was stopped).
    """

    name: str
    params: dict
    out_dir: str
    status: str
    error: str | None = None
    log: str | None = None
    seconds: float | None = None


@dataclasses.dataclass
class SweepReport:
    """What a sweep did: one :class:`RunRecord` per run, in grid order."""

    out_root: str
    target: str
    executor: str
    runs: list[RunRecord]
    seconds: float = 0.0
    interrupted: bool = False

    def _with(self, *status) -> list[RunRecord]:
        return [r for r in self.runs if r.status in status]

    @property
    def completed(self) -> list[RunRecord]:
        """Runs that finished in this sweep call."""
        return self._with("complete")

    @property
    def skipped(self) -> list[RunRecord]:
        """Runs already complete before this call."""
        return self._with("skipped")

    @property
    def failed(self) -> list[RunRecord]:
        """Runs that raised (each with its ``error.log``)."""
        return self._with("failed")

    @property
    def interrupted_runs(self) -> list[RunRecord]:
        """Runs stopped while running (they resume from their checkpoints on the next call)."""
        return self._with("interrupted")

    @property
    def not_started(self) -> list[RunRecord]:
        """Runs still queued when the sweep was stopped."""
        return self._with("not started")

    @property
    def cancelled(self) -> list[RunRecord]:
        """Runs that did not finish because the sweep was stopped (interrupted or not started)."""
        return self._with("interrupted", "not started")

    @property
    def ok(self) -> bool:
        """True when every run is complete (now or before)."""
        return all(r.status in ("complete", "skipped") for r in self.runs)

    def to_frame(self) -> pd.DataFrame:
        """One row per run: name, status, seconds, error, log and the parameters as columns."""
        import pandas as pd

        rows = [
            {"name": r.name, "status": r.status, "seconds": r.seconds, "error": r.error, "log": r.log, **r.params}
            for r in self.runs
        ]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        lines = [
            f"sweep {self.target} -> {self.out_root} ({self.executor}): {len(self.runs)} runs, "
            f"{len(self.completed)} completed, {len(self.skipped)} skipped (already complete), "
            f"{len(self.failed)} failed, {len(self.interrupted_runs)} interrupted, "
            f"{len(self.not_started)} not started, {self.seconds:.1f} s"
            + (" [interrupted]" if self.interrupted else "")
        ]
        for r in self.failed:
            lines.append(f"  FAILED {r.name}: {r.error}\n         log: {r.log}")
        for r in self.interrupted_runs:
            lines.append(f"  INTERRUPTED {r.name} (resumes from its checkpoint when the sweep runs again)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (SIGINT/SIGTERM, Ctrl-C); ``report`` holds every run's true status."""

    def __init__(self, message: str = "sweep interrupted", report: SweepReport | None = None):
        super().__init__(message)
        self.report = report


# --------------------------------------------------------------------------- executors
def _connect_dask(scheduler, workers, num_threads, timeout, cluster_options, n_runs=1 << 30):
    """Return (client, owned_objects, threads_per_run)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is in the [sweep] extra
        raise ImportError("executor='dask' needs dask.distributed: pip install 'ipdrop[sweep]'") from exc
    owned: list = []
    if scheduler is None or scheduler == "local":
        n = min(workers or _available_cores(), n_runs)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        owned.append(cluster)
        client = Client(cluster)
        owned.insert(0, client)
        return client, owned, num_threads or max(1, _available_cores() // n)
    if isinstance(scheduler, Client):
        return scheduler, owned, num_threads or "auto"
    if isinstance(scheduler, str) and scheduler in ("slurm", "pbs", "sge", "lsf"):
        cluster = make_jobqueue_cluster(scheduler, **(cluster_options or {}))
        cluster.scale(jobs=workers or 1)
        owned.append(cluster)
        scheduler = cluster
    if not isinstance(scheduler, str):  # a cluster object (LocalCluster, SLURMCluster, ...)
        client = Client(scheduler)
        owned.insert(0, client)
        return client, owned, num_threads or "auto"
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({exc}); "
            "start one with `dask scheduler` / `dask worker`, or use scheduler=None for a LocalCluster"
        ) from None
    owned.insert(0, client)
    return client, owned, num_threads or "auto"


def make_jobqueue_cluster(kind: str = "slurm", **kwargs: Any) -> Any:
    """Create a dask-jobqueue cluster (``SLURMCluster``, ``PBSCluster``, ...).

    Parameters
    ----------
    kind : {"slurm", "pbs", "sge", "lsf"}
    **kwargs
        Passed to the cluster class, e.g. ``cores=8, memory="16GB",
        walltime="02:00:00", queue="gpu", account="myproj"``.

    Scale it yourself (``cluster.scale(jobs=4)``) and pass it as ``scheduler``
    to :func:`run_sweep`. Needs ``pip install dask-jobqueue`` (extra ``[cluster]``).
    """
    classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
    if kind not in classes:
        raise ValueError(f"unknown cluster kind {kind!r}; choose one of {sorted(classes)}")
    try:
        import dask_jobqueue
    except ImportError:
        raise ImportError(
            f"scheduler={kind!r} needs dask-jobqueue, which is not installed: "
            "pip install dask-jobqueue  (or pip install 'ipdrop[cluster]')"
        ) from None
    return getattr(dask_jobqueue, classes[kind])(**kwargs)


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # the fork server imports these once; each run process then starts in milliseconds instead of
        # importing torch anew (~4 s on a loaded 2-core machine). Ignored once the server runs.
        ctx.set_forkserver_preload(["ipdrop.training", "ipdrop.sweep"])
        return ctx
    return multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------- the sweep
def _normalise_runs(grid_or_runs) -> list[dict]:
    if isinstance(grid_or_runs, (str, os.PathLike)):
        p = Path(grid_or_runs)
        if p.suffix in (".yaml", ".yml", ".json"):
            return load_params_file(p)
        return expand_grid(parse_grid(str(grid_or_runs)))
    if isinstance(grid_or_runs, Mapping):
        return expand_grid(grid_or_runs)
    if isinstance(grid_or_runs, Iterable):
        runs = list(grid_or_runs)
        for i, r in enumerate(runs):
            if not isinstance(r, Mapping):
                raise ValueError(f"run {i} is {r!r}; expected a dict of parameters")
        return [dict(r) for r in runs]
    raise ValueError(
        f"expected a grid dict, a list of parameter dicts or a params file, got {type(grid_or_runs).__name__}"
    )


def _differences(a: Mapping, b: Mapping) -> list[str]:
    keys = (set(a) | set(b)) - EXECUTION_KEYS
    return sorted(k for k in keys if a.get(k, "<unset>") != b.get(k, "<unset>"))


def run_sweep(
    target: str | Callable[..., Any],
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | str | os.PathLike,
    out_root: str | os.PathLike,
    executor: str = "local",
    workers: int | None = None,
    scheduler: Any = None,
    base_params: Mapping | None = None,
    progress: bool = True,
    *,
    threads_per_run: int | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    dask_timeout: float = 5.0,
    cluster_options: Mapping | None = None,
) -> SweepReport:
    """Run ``target`` once per parameter combination, skipping runs already complete.

    Parameters
    ----------
    target : str or callable
        ``"train"``, ``"notebook:NAME"``, ``"module:function"`` or a module-level
        callable ``f(params, out_dir)``; see :func:`resolve_target`.
    grid : dict, list of dict, or path
        ``{name: [values]}`` (Cartesian product, e.g. from :func:`parse_grid`), a
        list of parameter dicts, or a YAML/JSON params file (:func:`load_params_file`).
    out_root : path
        Each run goes to ``out_root/<run_name(params)>``; folder names use the
        grid parameters only, ``base_params`` are shared by all runs.
    executor : {"local", "dask", "serial"}
        Local process pool (default), Dask distributed, or in-process one by one.
    workers : int, optional
        Number of worker processes (local, Dask LocalCluster) or jobs (jobqueue);
        default: the number of available cores (capped by the number of runs).
    scheduler : None, "local", str address, "slurm"/"pbs", Client or cluster
        Dask only. ``None``/``"local"``: a new LocalCluster; ``"tcp://host:8786"``:
        an existing scheduler (unreachable -> ValueError after ``dask_timeout`` s).
    base_params : dict, optional
        Parameters shared by every run (grid values override them).
    progress : bool
        Show a tqdm bar over runs.
    threads_per_run : int, optional
        Torch/OpenMP threads per run; default ``max(1, cores // workers)``.
    notebooks_dir : path, optional
        Where ``notebook:NAME`` targets are looked up.
    cluster_options : dict, optional
        Keyword arguments for :func:`make_jobqueue_cluster` when ``scheduler`` is
        ``"slurm"``/``"pbs"``.

    Returns
    -------
    SweepReport
        Also written to ``out_root/sweep_report.json``.

    Raises
    ------
    ValueError
        Empty grid, unknown parameter names (checked against ``TrainConfig`` or
        the notebook's parameters cell before anything runs), duplicate runs,
        a finished run folder holding different parameters, an unknown executor
        or an unreachable Dask scheduler.
    SweepInterrupted
        (a ``KeyboardInterrupt``) after SIGINT/SIGTERM: queued runs are not started, running ones
        are stopped (SIGTERM, then SIGKILL after 5 s) and keep their last checkpoint, finished runs
        are kept; ``exc.report`` holds every run's status. Run the sweep again to resume.
    """
    if executor not in ("local", "dask", "serial"):
        raise ValueError(f"unknown executor {executor!r}; choose 'local', 'dask' or 'serial'")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError("scheduler is only used with executor='dask'")
    tgt = resolve_target(target, notebooks_dir)
    if executor != "serial" and tgt.func is not None:
        try:
            pickle.dumps(tgt)
        except Exception as exc:
            raise ValueError(
                f"target {tgt.label} cannot be sent to worker processes ({exc}); use a "
                "module-level function, or executor='serial'"
            ) from None
    base = {k: _plain(v) for k, v in dict(base_params or {}).items()}
    points = [{k: _plain(v) for k, v in p.items()} for p in _normalise_runs(grid)]
    if not points:
        raise ValueError("the sweep grid is empty: give at least one parameter combination")
    full = [{**base, **p} for p in points]
    names = [run_name(p) for p in points]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise ValueError(f"runs {seen[n]} and {i} get the same folder {n!r} (duplicate parameters?)")
        seen[n] = i
    _validate_params(tgt, full, names)

    root = Path(out_root).absolute()  # workers (maybe on other hosts, shared FS) get absolute paths
    records: list[RunRecord] = []
    todo: list[int] = []
    for i, (p, n) in enumerate(zip(points, names)):
        d = root / n
        rec = RunRecord(n, p, str(d), "not started")
        if tgt.complete(d):
            if tgt.kind == "train":
                from .training import verify_results

                verify_results(d)  # ResultsIntegrityError (a ValueError) naming the damaged table
            stored = _read_json(d / "params.json")
            if isinstance(stored, dict) and "params" in stored:
                old = {**stored.get("base_params", {}), **stored["params"]}
                diff = _differences(tgt.canonical(old), tgt.canonical(full[i]))
                if diff:
                    raise ValueError(
                        f"run folder {str(d)!r} is complete but was made with different values of {diff} "
                        f"({ {k: old.get(k) for k in diff} } vs { {k: full[i].get(k) for k in diff} }); "
                        "use another out_root or delete that folder"
                    )
            rec.status = "skipped"
        else:
            todo.append(i)
        records.append(rec)

    root.mkdir(parents=True, exist_ok=True)
    report = SweepReport(str(root), tgt.label, executor, records)
    _write_manifest(root, tgt.label, base, names, points)
    t0 = time.perf_counter()
    started_wall = time.time()
    n_workers = max(1, min(workers or _available_cores(), max(1, len(todo))))

    def stored_for(i):
        return {"params": points[i], "base_params": base, "target": tgt.label}

    def finish(i, result: dict):
        rec = records[i]
        rec.status, rec.error, rec.log, rec.seconds = (
            result["status"],
            result.get("error"),
            result.get("log"),
            result.get("seconds"),
        )

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"sweep {tgt.label}", unit="run")

    def tick():
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=len(report.failed))

    try:
        if not todo:
            pass
        elif executor == "serial":
            for i in todo:
                finish(i, _execute_run(tgt, full[i], records[i].out_dir, threads_per_run, stored_for(i)))
                tick()
                if records[i].status == "interrupted":
                    raise SweepInterrupted("sweep interrupted")
        elif executor == "local":
            _run_local(
                tgt,
                full,
                records,
                todo,
                n_workers,
                threads_per_run or max(1, _available_cores() // n_workers),
                stored_for,
                finish,
                tick,
            )
        else:
            _run_dask(
                tgt,
                full,
                records,
                todo,
                workers,
                scheduler,
                threads_per_run,
                dask_timeout,
                cluster_options,
                stored_for,
                finish,
                tick,
            )
    except KeyboardInterrupt as exc:
        report.interrupted = True
        if isinstance(exc, SweepInterrupted):
            exc.report = report
            raise
        raise SweepInterrupted(str(exc) or "sweep interrupted", report) from None
    finally:
        if bar is not None:
            bar.close()
        for rec in records:  # runs that finished while the sweep was being interrupted
            if rec.status in ("not started", "interrupted") and tgt.complete(Path(rec.out_dir)):
                rec.status = "complete"
            elif rec.status == "not started" and _started_since(Path(rec.out_dir), started_wall):
                rec.status = "interrupted"  # e.g. a Dask task that was running when the sweep stopped
        report.seconds = time.perf_counter() - t0
        with contextlib.suppress(OSError):
            _write_json(
                root / "sweep_report.json",
                {
                    "target": report.target,
                    "executor": executor,
                    "seconds": report.seconds,
                    "interrupted": report.interrupted,
                    "runs": [dataclasses.asdict(r) for r in records],
                },
            )
    return report


def _started_since(run_dir: Path, since: float) -> bool:
    """True when the run's captured-output log was opened by this sweep (it started running)."""
    try:
        return (run_dir / LOG_FILE).stat().st_mtime >= since - 1.0
    except OSError:
        return False


def _write_manifest(root: Path, label: str, base: dict, names: list[str], points: list[dict]) -> None:
    """``out_root/sweep.json``: target, base parameters and every run ever swept into this folder."""
    old = _read_json(root / "sweep.json")
    runs = {}
    if isinstance(old, dict) and isinstance(old.get("runs"), list):
        runs = {r["name"]: r for r in old["runs"] if isinstance(r, dict) and "name" in r}
    for n, p in zip(names, points):
        runs[n] = {"name": n, "params": p}
    keys = sorted(set().union(*(r["params"].keys() for r in runs.values())))
    _write_json(
        root / "sweep.json", {"target": label, "base_params": base, "grid_keys": keys, "runs": list(runs.values())}
    )


class _StopRequest:
    """SIGINT/SIGTERM handlers of the sweep process while the local executor runs (main thread only)."""

    def __init__(self):
        self.count = 0
        self.signal = None
        self._old = {}

    def _handle(self, signum, frame):
        self.count += 1
        self.signal = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _run_local(tgt, full, records, todo, n_workers, threads, stored_for, finish, tick, grace=_STOP_GRACE_S):
    """One fresh process per run, at most ``n_workers`` at a time.

    A run whose process dies (OOM killer, segfault, SIGKILL) fails alone; the others go on. On SIGINT or
    SIGTERM, queued runs are not started, running ones get SIGTERM (they stop, keeping their last
    checkpoint) and after ``grace`` seconds SIGKILL; then :class:`SweepInterrupted` is raised. Run
    processes die with the sweep: each watches a pipe to it (EOF = the sweep is gone) and, on Linux,
    asks the kernel for SIGKILL when its parent dies.
    """
    from multiprocessing.connection import wait

    ctx = _mp_context()
    pending = list(todo)
    running: dict[int, tuple] = {}  # i -> (process, connection, [result or None])
    stopped_by = None

    def start(i):
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_child_main,
            name=f"ipdrop-run-{records[i].name}",
            args=(child_end, tgt, full[i], records[i].out_dir, threads, stored_for(i)),
        )
        proc.start()
        child_end.close()
        running[i] = (proc, parent_end, [None])

    def collect(i, proc, conn, box):
        """Read the result if one arrived; True once the process has ended."""
        with contextlib.suppress(EOFError, OSError):
            while box[0] is None and conn.poll():
                box[0] = conn.recv()
        return proc.exitcode is not None

    def settle(i, interrupted=False):
        proc, conn, box = running.pop(i)
        proc.join()
        collect(i, proc, conn, box)
        conn.close()
        if box[0] is not None:
            finish(i, box[0])
        elif interrupted:
            finish(
                i,
                {
                    "status": "interrupted",
                    "error": f"stopped ({stopped_by}); resumes when the sweep is run again",
                    "log": str(Path(records[i].out_dir) / LOG_FILE),
                },
            )
        else:
            finish(i, _crashed(records[i], proc.exitcode))
        tick()

    with _StopRequest() as stop:
        try:
            while (pending or running) and not stop.count:
                while pending and len(running) < n_workers and not stop.count:
                    start(pending.pop(0))
                waitables = [x for proc, conn, _ in running.values() for x in (proc.sentinel, conn)]
                wait(waitables, timeout=0.5)
                for i, (proc, conn, box) in list(running.items()):
                    if collect(i, proc, conn, box):
                        settle(i)
        except BaseException:
            stop.count += 1
            stop.signal = stop.signal or "error in the sweep process"
            raise
        finally:
            if stop.count:
                stopped_by = stop.signal
                for i in pending:
                    finish(i, {"status": "not started"})
                pending.clear()
                for proc, _, _ in running.values():
                    with contextlib.suppress(OSError):
                        os.kill(proc.pid, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while running and time.monotonic() < deadline and stop.count < 2:
                    waitables = [x for proc, conn, _ in running.values() for x in (proc.sentinel, conn)]
                    wait(waitables, timeout=0.2)
                    for i, (proc, conn, box) in list(running.items()):
                        if collect(i, proc, conn, box):
                            settle(i, interrupted=True)
                for i, (proc, _conn, _box) in list(running.items()):  # grace over, or a second Ctrl-C
                    with contextlib.suppress(OSError):
                        proc.kill()
                    settle(i, interrupted=True)
    if stopped_by is not None and stop.signal is not None and stop.signal.startswith("SIG"):
        raise SweepInterrupted(f"sweep stopped by {stop.signal}")


def _child_main(conn, target, params, out_dir, threads, stored) -> None:
    """Entry point of one run's process: die with the sweep, stop cleanly on SIGTERM, report back."""
    _die_with_parent(conn)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    _set_threads(threads)
    result = _execute_run(target, params, out_dir, threads, stored)
    with contextlib.suppress(OSError):
        conn.send(result)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _die_with_parent(conn) -> None:
    """End this process when the sweep process ends, however it ends (even SIGKILL).

    Two guards: on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (the kernel kills us when the process that
    started us exits), and a daemon thread blocked on ``conn``, the pipe whose other end only the sweep
    process holds: end of file there means the sweep is gone, whoever our parent is.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1

    def watch():
        try:
            while True:
                conn.recv_bytes()  # the sweep never sends; returns only at EOF (raises EOFError)
        except (EOFError, OSError):
            pass
        os._exit(_ORPHAN_EXIT)

    threading.Thread(target=watch, name="ipdrop-parent-watch", daemon=True).start()


def _crashed(rec: RunRecord, cause) -> dict:
    """Record of a run whose process died without reporting (``cause``: its exit code, or an exception)."""
    out = Path(rec.out_dir)
    err = out / "error.log"
    if isinstance(cause, int):
        if cause < 0:
            try:
                name = signal.Signals(-cause).name
            except ValueError:
                name = str(-cause)
            why = f"killed by signal {name}" + (
                " (out of memory? the OOM killer sends SIGKILL)" if cause == -signal.SIGKILL else ""
            )
        else:
            why = f"exited with status {cause} without reporting"
    else:
        why = f"{type(cause).__name__}: {cause}"
    with contextlib.suppress(OSError):
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(
            err,
            f"run {rec.name}: its worker process died ({why})\n\n"
            f"----- captured output ({LOG_FILE}) -----\n{_tail(out / LOG_FILE)}",
        )
    return {"status": "failed", "error": f"worker process died: {why}", "log": str(err)}


def _run_dask(
    tgt, full, records, todo, workers, scheduler, threads, timeout, cluster_options, stored_for, finish, tick
):
    from dask.distributed import as_completed

    client, owned, threads = _connect_dask(scheduler, workers, threads, timeout, cluster_options, len(todo))
    futures = []
    try:
        index = {}
        for i in todo:
            fut = client.submit(
                _execute_run,
                tgt,
                full[i],
                records[i].out_dir,
                threads,
                stored_for(i),
                pure=False,
                key=f"ipdrop-run-{records[i].name}-{os.getpid()}-{time.time_ns()}",
            )
            index[fut.key] = i
            futures.append(fut)
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                finish(i, fut.result())
            except Exception as exc:  # worker lost, unpicklable result, ...
                finish(i, _crashed(records[i], exc))
            tick()
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        raise
    finally:
        for obj in owned:
            with contextlib.suppress(Exception):
                obj.close()


# --------------------------------------------------------------------------- CLI
def _kv_list(entries, what) -> dict:
    out = {}
    for e in entries or []:
        if "=" not in e:
            raise ValueError(f"bad {what} {e!r}: expected name=value")
        k, _, v = e.partition("=")
        out[k.strip()] = [_parse_scalar(p) for p in v.split(",")] if "," in v else _parse_scalar(v)
    return out


def add_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``ipdrop sweep`` on an argparse ``subparsers`` object; returns the subparser."""
    p = subparsers.add_parser(
        "sweep",
        help="run a target over a grid of parameters (seeds, variances, beta, ...)",
        description="Run TARGET once per parameter combination; each run in OUT/<name=value,...>/. "
        "Complete runs are skipped, so re-running the command resumes an interrupted sweep.",
        epilog="example: ipdrop sweep train --grid seed=0..4 variance=0.2,0.4 --set epochs=1 --out sweeps/var",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target",
        nargs="?",
        default="train",
        help="'train' (default), 'notebook:NAME' (notebooks/NAME.md) or 'module:function'",
    )
    p.add_argument(
        "--grid",
        nargs="+",
        action="extend",
        metavar="NAME=VALUES",
        default=[],
        help="grid entries: ranges a..b (inclusive ints) and/or comma lists, e.g. seed=0..4 variance=0.2,0.4",
    )
    p.add_argument("--params-file", metavar="YAML", help="YAML list of parameter dicts (or a mapping grid/runs/base)")
    p.add_argument(
        "--set",
        nargs="+",
        action="extend",
        metavar="NAME=VALUE",
        default=[],
        dest="base",
        help="parameters shared by all runs, e.g. epochs=1 n_train=300",
    )
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="sweep root folder")
    p.add_argument("--executor", choices=["local", "dask", "serial"], default="local")
    p.add_argument(
        "--workers",
        "-j",
        type=int,
        default=None,
        help="worker processes (local / Dask LocalCluster) or jobs (slurm/pbs); default: cores",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="Dask: 'local' (default), 'tcp://host:8786', or 'slurm'/'pbs' (needs dask-jobqueue)",
    )
    p.add_argument(
        "--cluster-option",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help="dask-jobqueue cluster options, e.g. cores=8 memory=16GB walltime=02:00:00",
    )
    p.add_argument("--threads-per-run", type=int, default=None, help="torch threads per run (default cores//workers)")
    p.add_argument("--notebooks-dir", default=None, help="where notebook:NAME is looked up (default ./notebooks)")
    p.add_argument(
        "--aggregate",
        action="store_true",
        help="afterwards write OUT/sweep_results.csv (all runs, tidy) and OUT/compression.csv",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_main)
    return p


def _cli_main(args) -> int:
    try:
        runs: list[dict] = []
        if args.grid:
            runs += expand_grid(parse_grid(args.grid))
        if args.params_file:
            runs += load_params_file(args.params_file)
        if not args.grid and not args.params_file:
            raise ValueError("nothing to sweep: give --grid NAME=VALUES ... and/or --params-file FILE")
        report = run_sweep(
            args.target,
            runs,
            args.out,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler if args.executor == "dask" else None,
            base_params=_kv_list(args.base, "--set entry"),
            progress=not args.no_progress,
            threads_per_run=args.threads_per_run,
            notebooks_dir=args.notebooks_dir,
            cluster_options=_kv_list(args.cluster_option, "--cluster-option"),
        )
    except (ValueError, ImportError, OSError) as exc:
        print(f"ipdrop sweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        rep = getattr(exc, "report", None)
        if rep is not None:
            print(rep.summary())
        print(
            "ipdrop sweep: interrupted; completed runs are kept, interrupted ones resume from their "
            "checkpoints: run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(report.summary())
    if args.aggregate:
        from .analysis import compression_summary, load_sweep

        try:
            df = load_sweep(args.out)
            df.to_csv(Path(args.out) / "sweep_results.csv", index=False)
            compression_summary(df).to_csv(Path(args.out) / "compression.csv", index=False)
            print(f"wrote {Path(args.out) / 'sweep_results.csv'} and {Path(args.out) / 'compression.csv'}")
        except ValueError as exc:
            print(f"ipdrop sweep: cannot aggregate: {exc}", file=sys.stderr)
            return 1
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m ipdrop.sweep ...``), same as ``ipdrop sweep``."""
    parser = argparse.ArgumentParser(prog="ipdrop")
    sub = parser.add_subparsers(dest="command", required=True)
    add_cli(sub)
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    status = args.func(args)
    if status == 130 and argv is None:
        from ._io import exit_now

        exit_now(status)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
