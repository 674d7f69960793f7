"""Compare the figures a chapter `glue`s (myst_nb.glue) with those of a reference notebook, with tolerances.

Each chapter glues its key figures (accuracies, key MI values) with `glue(name, value, display=False)`; the values
are plain Python literals (numbers, or dicts/lists of them). The tolerances live in tests/glue_tolerances.yaml:
an ordered list of `{pattern: <fnmatch glob on the name>, abs: <absolute>, rel: <relative>}`; the first pattern
that matches a name applies to every number in its value (|new - ref| <= abs + rel * |ref|); strings, booleans
and names matched by no pattern must be equal.

    python scripts/glue_check.py REFERENCE.ipynb NEW.ipynb
    # e.g. REFERENCE = book/nb/03_mnist.ipynb, NEW = runs/nb/03_mnist/.../03_mnist.ipynb

`make test` applies the same check to every glued output while nbval re-executes the references (conftest.py).
"""

from __future__ import annotations

import ast
import fnmatch
import math
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOLERANCES = ROOT / "tests" / "glue_tolerances.yaml"
GLUE_PREFIX = "application/papermill.record/"


def load_rules(path: Path = TOLERANCES) -> list[dict]:
    rules = yaml.safe_load(Path(path).read_text()) or []
    for r in rules:
        if not isinstance(r, dict) or "pattern" not in r or not set(r) <= {"pattern", "abs", "rel", "ignore", "why"}:
            raise ValueError(
                f"{path}: each rule needs `pattern` and optionally `abs`, `rel`, `ignore`, `why`; got {r!r}"
            )
    return rules


def glued_outputs(outputs) -> tuple[dict[str, str], list]:
    """Split cell outputs into {glue name: text/plain repr} and the other outputs."""
    glued, rest = {}, []
    for out in outputs:
        name = (out.get("metadata") or {}).get("scrapbook", {}).get("name")
        data = out.get("data") or {}
        if name is not None and out.get("output_type") in ("display_data", "execute_result"):
            glued[name] = data.get(GLUE_PREFIX + "text/plain", data.get("text/plain", ""))
        else:
            rest.append(out)
    return glued, rest


def glued_values(nb) -> dict[str, str]:
    """Every glued name of an executed notebook (nbformat node) and its text/plain repr."""
    values = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            values.update(glued_outputs(cell.get("outputs", []))[0])
    return values


def _rule(name: str, rules: list[dict]) -> dict:
    return next((r for r in rules if fnmatch.fnmatchcase(name, r["pattern"])), {"pattern": "(none)"})


def _compare(new, ref, rule, where) -> list[str]:
    if rule.get("ignore"):  # e.g. wall times: shown to the reader, never a regression signal
        return []
    if isinstance(ref, dict) and isinstance(new, dict):
        if set(ref) != set(new):
            return [f"{where}: keys {sorted(map(str, new))} != reference keys {sorted(map(str, ref))}"]
        return [p for k in ref for p in _compare(new[k], ref[k], rule, f"{where}[{k!r}]")]
    if isinstance(ref, (list, tuple)) and isinstance(new, (list, tuple)):
        if len(ref) != len(new):
            return [f"{where}: {len(new)} entries != {len(ref)} in the reference"]
        return [p for i, (a, b) in enumerate(zip(new, ref)) for p in _compare(a, b, rule, f"{where}[{i}]")]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (new, ref))
    if numbers and ("abs" in rule or "rel" in rule):
        if math.isnan(ref) and math.isnan(new):
            return []
        tol = rule.get("abs", 0.0) + rule.get("rel", 0.0) * abs(ref)
        if abs(new - ref) <= tol:
            return []
        return [
            f"{where}: {new!r} vs reference {ref!r}, |difference| {abs(new - ref):.4g} > tolerance {tol:.4g} "
            f"(rule {rule['pattern']!r}: abs {rule.get('abs', 0)}, rel {rule.get('rel', 0)})"
        ]
    if new != ref:
        return [f"{where}: {new!r} != reference {ref!r} (rule {rule['pattern']!r}: exact)"]
    return []


def compare_glued(new: dict[str, str], ref: dict[str, str], rules: list[dict]) -> list[str]:
    """Problems (empty list: all agree) between two {name: text/plain repr} maps."""
    problems = [f"glued {n!r} is missing (reference: {ref[n]})" for n in ref if n not in new]
    problems += [f"glued {n!r} is new (not in the reference)" for n in new if n not in ref]
    for name in (n for n in ref if n in new):
        try:
            a, b = ast.literal_eval(new[name]), ast.literal_eval(ref[name])
        except (ValueError, SyntaxError):
            a, b = new[name], ref[name]
        problems += _compare(a, b, _rule(name, rules), name)
    return problems


def main(argv=None) -> int:
    import nbformat

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ref, new = (glued_values(nbformat.read(p, as_version=4)) for p in args)
    if not ref:
        print(f"{args[0]}: no glued values", file=sys.stderr)
        return 1
    problems = compare_glued(new, ref, load_rules())
    for p in problems:
        print(p)
    print(f"{len(ref)} glued values, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
