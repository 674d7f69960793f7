"""Execute the book's notebooks with papermill under a profile, with optional parameter overrides.

    python scripts/run_notebooks.py --profile quick --out book/nb            # all notebooks (make book)
    python scripts/run_notebooks.py --nb toy -p variance 0.4 -p seed 1      # one notebook (make run)

Notebooks are jupytext MyST files in notebooks/. Parameters: params/<profile>.yaml (`_all` plus the
notebook's own section), then each `-p name value` (YAML-parsed). Without --out, a run lands in
runs/nb/<notebook>/<profile=...,name=value,...>/<notebook>.ipynb. Outputs are written atomically.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"


def find_notebooks(patterns: list[str] | None) -> list[Path]:
    all_nbs = sorted(NOTEBOOKS.glob("*.md"))
    if not patterns:
        return all_nbs
    chosen = []
    for pat in patterns:
        hits = [p for p in all_nbs if pat == p.stem or pat in p.stem]
        if not hits:
            raise SystemExit(f"no notebook matches {pat!r}; available: {', '.join(p.stem for p in all_nbs)}")
        if len(hits) > 1 and not any(pat == p.stem for p in hits):
            raise SystemExit(f"{pat!r} matches several notebooks: {', '.join(p.stem for p in hits)}")
        chosen += [p for p in hits if pat == p.stem] or hits
    return chosen


def profile_params(profile: str, stem: str) -> dict:
    path = PARAMS / f"{profile}.yaml"
    if not path.exists():
        raise SystemExit(f"unknown profile {profile!r}: {path} does not exist "
                         f"(available: {', '.join(p.stem for p in PARAMS.glob('*.yaml'))})")
    cfg = yaml.safe_load(path.read_text()) or {}
    return {**(cfg.get("_all") or {}), **(cfg.get(stem) or {})}


def folder_name(params: dict) -> str:
    def fmt(v):
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return ",".join(f"{k}={fmt(v)}".replace("/", "_").replace(" ", "") for k, v in sorted(params.items()))


def declared_parameters(ipynb) -> set[str]:
    """Names assigned in the cell tagged `parameters`."""
    import ast

    for cell in ipynb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name)}
    raise SystemExit("notebook has no cell tagged `parameters`")


def execute(md: Path, out: Path, params: dict, timeout: int | None, progress: bool,
            profile: str | None = None) -> float:
    import jupytext
    import papermill as pm

    nb = jupytext.read(md)
    unknown = sorted(set(params) - declared_parameters(nb))
    if unknown:
        raise SystemExit(f"{md.name}: unknown parameter(s) {unknown}; the parameters cell declares "
                         f"{sorted(declared_parameters(nb))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{md.stem}.ipynb"
        jupytext.write(nb, src)
        partial = out.with_name(f".{out.stem}.partial.ipynb")
        t0 = time.perf_counter()
        pm.execute_notebook(str(src), str(partial), parameters=params, kernel_name="python3",
                            cwd=str(ROOT), progress_bar=progress, execution_timeout=timeout,
                            report_mode=False)
        elapsed = time.perf_counter() - t0
    # drop per-run timestamps so that re-running an unchanged notebook gives a stable file
    import nbformat

    nbf = nbformat.read(partial, as_version=4)
    nbf.metadata.pop("papermill", None)
    # what scripts/environment_report.py shows per chapter: the profile, and the wall time to 2 significant
    # digits (so that a re-run of an unchanged notebook rarely changes the file)
    nbf.metadata["ipdrop"] = {"profile": profile, "duration_s": float(f"{elapsed:.2g}")}
    for cell in nbf.cells:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nbf, partial)
    os.replace(partial, out)
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--nb", action="append", help="notebook name or part of it (repeatable); default: all")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--out", help="folder for the executed notebooks (default: runs/nb/<nb>/<params>/)")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    overrides = {k: yaml.safe_load(v) for k, v in args.param}
    for md in find_notebooks(args.nb):
        params = {**profile_params(args.profile, md.stem), **overrides}
        if args.out:
            out = Path(args.out) / f"{md.stem}.ipynb"
        else:
            out = ROOT / "runs" / "nb" / md.stem / folder_name(params) / f"{md.stem}.ipynb"
        print(f"[run_notebooks] {md.name} -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
              f"with {params}", flush=True)
        elapsed = execute(md, out, params, args.timeout, not args.no_progress, profile=args.profile)
        print(f"[run_notebooks] {md.stem}: {elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
