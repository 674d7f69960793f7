#!/usr/bin/env python3
"""Write the book's "Environment and compute" appendix (book/environment.md) from data.

Sources, all optional:

* the stored paper-scale runs ``results/<experiment>/<run>/``: ``config.json`` ("versions", "config",
  "resolved"), ``run.json`` ("wall_time_s", "device") and ``provenance.json`` ("cpu", "cpu_count", "gpu",
  "device", "threads_training", "wall_time_s": {"training", "estimation"}, "git_commit", "versions");
* the executed chapters ``book/nb/*.ipynb``: the title (first heading), the kernel's Python version and the
  execution wall time, read from ``metadata.ipdrop.duration_s`` (written by scripts/run_notebooks.py) or
  papermill's ``metadata.papermill.duration``;
* the environment running this script (package versions via importlib.metadata, CPU model, core count).

The output is deterministic for the same inputs and environment (rows sorted, times rounded, no dates), so
rebuilding the book does not dirty git. ``--check`` exits 1 when the file on disk differs from what would be
written (for CI). This script does not import ipdrop: it also runs where the library does not import.

Usage::

    python scripts/environment_report.py                 # writes book/environment.md
    python scripts/environment_report.py --check         # exit 1 if book/environment.md is stale
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: packages whose versions the book build reports, in this order
PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "scikit-learn",
    "jupyter-book",
    "sphinx",
    "myst-nb",
    "sphinxcontrib-bibtex",
    "sphinx-mathjax-offline",
    "jupytext",
    "papermill",
    "nbval",
)

#: versions reported per stored run (keys of config.json's / provenance.json's "versions")
RUN_VERSION_KEYS = ("python", "torch", "numpy")


# --------------------------------------------------------------------------- formatting


def format_duration(seconds: float | None) -> str:
    """A wall time as text with 2-3 significant digits: '45 s', '12.3 min', '3.41 h'; '—' if unknown."""
    if seconds is None:
        return "—"
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if s != s or s < 0:  # NaN or negative: not a wall time
        return "—"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- sources


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _get(d: Mapping | None, *keys, default=None):
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return default
        d = d[k]
    return d


def stored_runs(results_dir: Path) -> list[dict]:
    """One record per ``results/<experiment>/<run>/`` holding a config.json, sorted by (experiment, run)."""
    out = []
    if not results_dir.is_dir():
        return out
    for cfg_path in sorted(results_dir.glob("*/*/config.json")):
        run_dir = cfg_path.parent
        cfg = _read_json(cfg_path) or {}
        run = _read_json(run_dir / "run.json") or {}
        prov = _read_json(run_dir / "provenance.json") or {}
        versions = prov.get("versions") or cfg.get("versions") or {}
        commit = prov.get("git_commit") or cfg.get("git_commit")
        out.append(
            {
                "experiment": run_dir.parent.name,
                "run": run_dir.name,
                "device": prov.get("device") or run.get("device") or _get(cfg, "resolved", "device"),
                "gpu": prov.get("gpu"),
                "cpu": prov.get("cpu"),
                "cpu_count": prov.get("cpu_count"),
                "threads": prov.get("threads_training", _get(cfg, "config", "num_threads")),
                "training_s": _get(prov, "wall_time_s", "training", default=run.get("wall_time_s")),
                "estimation_s": _get(prov, "wall_time_s", "estimation"),
                # a run resumed from a checkpoint that did not carry the earlier processes' time: a lower bound
                "training_complete": bool(prov.get("training_wall_time_complete", run.get("wall_time_complete", True))),
                "commit": str(commit)[:10] if commit else None,
                "versions": {k: versions.get(k) for k in RUN_VERSION_KEYS},
            }
        )
    return out


def _title(nb: Mapping) -> str | None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for line in src.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return None


def chapters(nb_dir: Path) -> list[dict]:
    """One record per executed notebook ``book/nb/*.ipynb``, sorted by file name."""
    out = []
    if not nb_dir.is_dir():
        return out
    for path in sorted(nb_dir.glob("*.ipynb")):
        nb = _read_json(path) or {}
        md = nb.get("metadata", {})
        duration = _get(md, "ipdrop", "duration_s")
        if duration is None:
            duration = _get(md, "papermill", "duration")
        out.append(
            {
                "file": path.name,
                "title": _title(nb) or path.stem,
                "profile": _get(md, "ipdrop", "profile"),
                "python": _get(md, "language_info", "version"),
                "duration_s": duration,
            }
        )
    return out


def package_versions(names: Sequence[str] = PACKAGES) -> list[tuple[str, str]]:
    rows = [("python", platform.python_version())]
    for name in names:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------- the page


def render(
    runs: Sequence[Mapping], chaps: Sequence[Mapping], packages: Sequence[tuple[str, str]], machine: Mapping[str, Any]
) -> str:
    parts = [
        "# Environment and compute",
        "",
        "```{note}",
        "Generated by `scripts/environment_report.py` from the stored runs (`results/*/*/`), the executed",
        "chapters (`book/nb/*.ipynb`) and the environment that built this book. Do not edit by hand: rerun the",
        "script.",
        "```",
        "",
        "## The environment that built this book",
        "",
        markdown_table(["package", "version"], packages),
        "",
        markdown_table(
            ["machine", ""],
            [
                ("CPU", machine.get("cpu")),
                ("logical cores", machine.get("cpu_count")),
                ("operating system", machine.get("system")),
            ],
        ),
        "",
        "## Chapters",
        "",
    ]
    if chaps:
        parts += [
            "Wall time of executing each chapter with papermill (the executing machine as above unless the",
            "chapter was executed elsewhere).",
            "",
            markdown_table(
                ["chapter", "notebook", "profile", "Python", "wall time"],
                [
                    (
                        c["title"],
                        f"`{c['file']}`",
                        c.get("profile"),
                        c.get("python"),
                        format_duration(c.get("duration_s")),
                    )
                    for c in chaps
                ],
            ),
        ]
        if all(c.get("duration_s") is None for c in chaps):
            parts += ["", "The executed notebooks record no wall time."]
    else:
        parts.append("No executed chapters yet (`book/nb/` is empty): run `make notebooks`.")
    parts += ["", "## Stored runs", ""]
    if runs:
        total_train = sum(float(r["training_s"]) for r in runs if _is_number(r.get("training_s")))
        total_est = sum(float(r["estimation_s"]) for r in runs if _is_number(r.get("estimation_s")))
        parts += [
            f"{len(runs)} stored run(s) in `results/`; training {format_duration(total_train)} and estimation "
            f"{format_duration(total_est)} of wall time in all"
            + (
                "; ≥: a run resumed from a checkpoint that did not record the earlier training time (the last"
                " process's time only)."
                if any(not r["training_complete"] for r in runs)
                else "."
            ),
            "",
            markdown_table(
                [
                    "experiment",
                    "run",
                    "device",
                    "CPU",
                    "threads",
                    "training",
                    "estimation",
                    "commit",
                    *RUN_VERSION_KEYS,
                ],
                [
                    (
                        r["experiment"],
                        r["run"],
                        r.get("gpu") or r.get("device"),
                        r.get("cpu"),
                        r.get("threads"),
                        ("" if r["training_complete"] else "≥ ") + format_duration(r.get("training_s")),
                        format_duration(r.get("estimation_s")),
                        f"`{r['commit']}`" if r.get("commit") else None,
                        *(r["versions"].get(k) for k in RUN_VERSION_KEYS),
                    )
                    for r in runs
                ],
            ),
        ]
    else:
        parts.append(
            "No stored runs yet: `results/` holds no `<experiment>/<run>/config.json`. `ipdrop reproduce` writes them."
        )
    return "\n".join(parts) + "\n"


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return x is not None


def build(results_dir: Path, nb_dir: Path) -> str:
    machine = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "system": f"{platform.system()} {platform.machine()}"}
    return render(stored_runs(results_dir), chapters(nb_dir), package_versions(), machine)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "results", help="results store (default: results/)")
    ap.add_argument(
        "--notebooks", type=Path, default=ROOT / "book" / "nb", help="executed chapters (default: book/nb/)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "book" / "environment.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if --out differs from what would be written")
    args = ap.parse_args(argv)
    text = build(args.results, args.notebooks)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != text:
            print(f"{args.out}: stale; run scripts/environment_report.py", file=sys.stderr)
            return 1
        return 0
    write_atomic(args.out, text)
    print(f"[environment_report] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
