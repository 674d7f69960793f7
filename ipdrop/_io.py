"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Every writer here writes to a temporary file in the *same* folder as the target (so the final
``os.replace`` is a rename within one file system, which POSIX and Windows make atomic), flushes it to
disk and then replaces the target. On any error the temporary file is removed and the target is left
as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys as _sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = [
    "atomic_path",
    "write_text",
    "write_json",
    "write_csv",
    "torch_save",
    "read_json",
    "remove_stale_tmp",
    "sha256_file",
]


def _file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the process umask (0644 under umask 022)."""
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Write the content to the yielded path inside the ``with`` block. If the block raises, the
    temporary file is deleted and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, _file_mode())  # mkstemp makes 0600 files; run files are ordinary files (0644)
        finally:
            os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:  # make sure the bytes are on disk before the rename
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_tmp(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete temporary files ``.NAME.*.tmp`` that an :func:`atomic_path` write killed mid-way left in ``folder``.

    Only call this when no other process writes these files at the same moment (e.g. when a run starts).
    Returns the paths removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for name in names:
        for p in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the bytes of ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json_or_none(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``, or None when it is missing or not valid JSON (e.g. half-written)."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(path: str | os.PathLike, df: pandas.DataFrame) -> None:
    """Write a pandas DataFrame to ``path`` as CSV (no index) atomically.

    Floats are written with 17 significant digits (``repr`` precision) so that reading the file back
    gives the same numbers bit for bit.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.17g")


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _json_default(o):
    # numpy scalars / arrays, paths, tuples-in-sets and similar
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"object of type {type(o).__name__} is not JSON serialisable")


def exit_now(status: int) -> None:
    """End an interrupted command-line process at once, skipping the interpreter's teardown.

    Everything is already on disk (atomic writes) and every run process has ended; but tearing down an
    interpreter that imported torch takes seconds on a busy machine (measured: 5.3 s for a bare
    ``import torch`` at load 10 on 2 cores), and a user who pressed Ctrl-C wants the prompt back.
    Only used when ``main`` reads the real command line (``argv=None``), never when called from Python.
    """
    for stream in (_sys.stdout, _sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
