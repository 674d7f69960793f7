"""One source of defaults: each notebook's `parameters` cell. Profiles (params/*.yaml) hold only overrides, and
the chapter drivers' defaults equal the notebook's values for the arguments they share."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))
PROFILES = sorted((ROOT / "params").glob("*.yaml"))
#: keys a profile may repeat: `profile` labels the executed notebook (tests/test_book.py looks for it)
LABELS = {"profile"}


def notebook_defaults(md: Path) -> dict:
    for cell in jupytext.read(md).cells:
        if "parameters" in cell.metadata.get("tags", []):
            return {
                t.id: ast.literal_eval(node.value)
                for node in ast.parse(cell.source).body
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
    raise AssertionError(f"{md.name} has no cell tagged `parameters`")


def profile_problems(cfg: dict) -> list[str]:
    """Keys of a profile that are no parameter of a notebook, or that repeat its default."""
    problems = []
    for md in NOTEBOOKS:
        defaults = notebook_defaults(md)
        for section in ("_all", md.stem):
            for key, value in (cfg.get(section) or {}).items():
                if key not in defaults:
                    problems.append(f"{section}.{key}: not a parameter of {md.name}")
                elif key not in LABELS and value == defaults[key]:
                    problems.append(f"{section}.{key} = {value!r} repeats the default of {md.name}")
    return sorted(set(problems))


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_profiles_hold_only_overrides(profile):
    problems = profile_problems(yaml.safe_load(profile.read_text()) or {})
    assert not problems, f"{profile.name}: " + "; ".join(problems)


def test_the_check_sees_repeated_defaults_and_unknown_keys():
    cfg = {"_all": {"profile": "quick", "seed": 0}, "03_mnist": {"epochs": 6, "lr_fc": 0.2, "epochz": 3}}
    assert profile_problems(cfg) == [
        "03_mnist.epochs = 6 repeats the default of 03_mnist.md",
        "03_mnist.epochz: not a parameter of 03_mnist.md",
        *[f"_all.seed = 0 repeats the default of {md.name}" for md in NOTEBOOKS],
    ]


#: driver arguments whose library default differs from the notebook on purpose:
#: num_threads None leaves torch's thread count alone; the notebooks pin 1 thread for reproducible timings
DRIVER_EXCEPTIONS = {"num_threads"}


@pytest.mark.parametrize(
    "stem,builder", [("03_mnist", "mnist_study"), ("04_cifar10", "cifar10_study"), ("05_beta", "beta_study")]
)
def test_chapter_driver_defaults_are_the_notebook_defaults(stem, builder):
    from ipdrop.chapters import planes

    defaults = notebook_defaults(ROOT / "notebooks" / f"{stem}.md")
    # the builder's own keywords and the run settings it takes as **run (planes.RUN_DEFAULTS)
    params = {k: p.default for k, p in inspect.signature(getattr(planes, builder)).parameters.items()}
    params.update(planes.RUN_DEFAULTS[builder])
    shared = [k for k in defaults if k in params and k not in DRIVER_EXCEPTIONS]
    assert len(shared) >= 8  # the check compares something
    for k in shared:
        d = params[k]
        assert (list(d) if isinstance(d, tuple) else d) == defaults[k], f"{builder}({k}=...) vs {stem}.md"
