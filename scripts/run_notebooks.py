"""Execute the book's notebooks with papermill under a profile, with optional parameter overrides.

    python scripts/run_notebooks.py --profile quick --out book/nb            # all notebooks (make book)
    python scripts/run_notebooks.py --nb toy -p variance 0.4 -p seed 1      # one notebook (make run)

Notebooks are jupytext MyST files in notebooks/. Parameters: params/<profile>.yaml (`_all` plus the
notebook's own section), then each `-p name value` (YAML-parsed). Without --out, a run lands in
runs/nb/<notebook>/<profile=...,name=value,...>/<notebook>.ipynb. Outputs are written atomically.

The kernels run under the pinned CPU numerics (scripts/pin_cpu.py) with inline figures. The committed references
(book/nb/) are written only by the quick profile without overrides, on the CPU (CUDA hidden); cell ids are derived
from the notebook name and cell index and per-run metadata is dropped, and a notebook whose outputs did not change
(up to tests/nbval_sanitize.cfg: timings, addresses) is not rewritten, so `make book` leaves `git status` clean.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
REFERENCES = ROOT / "book" / "nb"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
INLINE = "module://matplotlib_inline.backend_inline"


def _pin_cpu():
    spec = importlib.util.spec_from_file_location("_ipdrop_pin_cpu", Path(__file__).with_name("pin_cpu.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.apply()


_pin_cpu()  # before anything loads numpy/torch; the kernels inherit the environment

import yaml  # noqa: E402


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
        raise SystemExit(
            f"unknown profile {profile!r}: {path} does not exist "
            f"(available: {', '.join(p.stem for p in PARAMS.glob('*.yaml'))})"
        )
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
            return {
                t.id
                for node in tree.body
                if isinstance(node, (ast.Assign, ast.AnnAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)
            }
    raise SystemExit("notebook has no cell tagged `parameters`")


def sanitize_patterns(path: Path = SANITIZE) -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of the nbval sanitizer (an INI-like file of `regex:` / `replace:` sections)."""
    pats, regex = [], None
    for line in path.read_text().splitlines():
        if line.startswith("regex:"):
            regex = line[len("regex:") :].strip()
        elif line.startswith("replace:") and regex is not None:
            pats.append((re.compile(regex), line[len("replace:") :].strip()))
            regex = None
    return pats


def normalize(nb, stem: str) -> None:
    """Deterministic cell ids (<notebook>-<index>), no per-run metadata (timestamps, durations), consecutive
    outputs of one stream merged (how the kernel's stdout arrives in pieces varies from run to run), and
    papermill's injected-parameters cell tagged ``remove-cell`` (the book shows the chapter's own parameters
    cell only; the injected values stay in the .ipynb for nbval and tests)."""
    nb.metadata.pop("papermill", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{i}"
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]  # the book shows one parameters cell: the chapter's
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" in cell:
            merged = []
            for out in cell["outputs"]:
                prev = merged[-1] if merged else None
                if (
                    prev is not None
                    and out.get("output_type") == "stream" == prev.get("output_type")
                    and out.get("name") == prev.get("name")
                ):
                    prev["text"] = "".join(prev["text"]) + "".join(out["text"])
                else:
                    merged.append(out)
            cell["outputs"] = merged


def comparable(nb, patterns) -> dict:
    """The notebook as a plain dict with sanitized output text: equal when only timings/addresses changed."""

    def clean(v):
        if isinstance(v, str):
            for rx, rep in patterns:
                v = rx.sub(rep, v)
            return v
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    d = json.loads(json.dumps(nb))
    for cell in d["cells"]:
        cell["outputs"] = clean(cell.get("outputs", []))
    return d


def execute(md: Path, out: Path, params: dict, timeout: int | None, progress: bool) -> tuple[float, bool]:
    """Run one notebook into `out`; return (seconds, whether `out` was (re)written)."""
    import jupytext
    import nbformat
    import papermill as pm

    nb = jupytext.read(md)
    unknown = sorted(set(params) - declared_parameters(nb))
    if unknown:
        raise SystemExit(
            f"{md.name}: unknown parameter(s) {unknown}; the parameters cell declares {sorted(declared_parameters(nb))}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    normalize(nb, md.stem)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{md.stem}.ipynb"
        jupytext.write(nb, src)
        partial = out.with_name(f".{out.stem}.partial.ipynb")
        t0 = time.perf_counter()
        pm.execute_notebook(
            str(src),
            str(partial),
            parameters=params,
            kernel_name="python3",
            cwd=str(ROOT),
            progress_bar=progress,
            execution_timeout=timeout,
            report_mode=False,
        )
        elapsed = time.perf_counter() - t0
    nbf = nbformat.read(partial, as_version=4)
    normalize(nbf, md.stem)
    if out.exists():
        patterns = sanitize_patterns()
        if comparable(nbf, patterns) == comparable(nbformat.read(out, as_version=4), patterns):
            partial.unlink()
            return elapsed, False
    nbformat.write(nbf, partial)
    os.replace(partial, out)
    return elapsed, True


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
    references = args.out is not None and Path(args.out).resolve() == REFERENCES
    if references:
        if args.profile != "quick" or overrides:
            raise SystemExit(
                f"--out {args.out}: the committed references are the quick profile without overrides; "
                f"write profile {args.profile!r} {overrides or ''} elsewhere (default: runs/nb/)"
            )
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # references are CPU results (GPU kernels give other bits)
    os.environ["MPLBACKEND"] = INLINE  # an inherited MPLBACKEND=Agg would drop the figures
    for md in find_notebooks(args.nb):
        params = {**profile_params(args.profile, md.stem), **overrides}
        if args.out:
            out = Path(args.out) / f"{md.stem}.ipynb"
        else:
            out = ROOT / "runs" / "nb" / md.stem / folder_name(params) / f"{md.stem}.ipynb"
        print(
            f"[run_notebooks] {md.name} -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} with {params}",
            flush=True,
        )
        elapsed, written = execute(md, out, params, args.timeout, not args.no_progress)
        print(
            f"[run_notebooks] {md.stem}: {elapsed:.0f} s{'' if written else ', outputs unchanged: file kept'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
