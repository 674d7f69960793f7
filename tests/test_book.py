"""The book's sources and its committed, executed reference notebooks agree with each other."""
import ast
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.md"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("file", "root"):
                yield v
            else:
                yield from toc_files(v)
    elif isinstance(node, list):
        for v in node:
            yield from toc_files(v)


def parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged `parameters`"
    return cells[0]


def test_config_is_offline_and_papermill_executed():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["only_build_toc_files"] is True
    assert cfg["execute"]["execute_notebooks"] == "off"


def test_every_toc_entry_exists():
    for f in toc_files(TOC):
        assert any((ROOT / "book" / f"{f}{ext}").exists() for ext in (".md", ".ipynb")), f


@pytest.mark.parametrize("md", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_is_in_book_and_up_to_date(md):
    assert f"nb/{md.stem}" in set(toc_files(TOC)), f"{md.stem} is not listed in _toc.yml"
    src = jupytext.read(md)
    names = {t.id for node in ast.parse(parameters_cell(src).source).body
             if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    assert {"profile", "seed", "device"} <= names
    executed = ROOT / "book" / "nb" / f"{md.stem}.ipynb"
    assert executed.exists(), f"{executed} missing: run `make book`"
    ref = nbformat.read(executed, as_version=4)
    ref_code = [c.source for c in ref.cells if c.cell_type == "code"
                and "injected-parameters" not in c.metadata.get("tags", [])]
    src_code = [c.source for c in src.cells if c.cell_type == "code"]
    assert ref_code == src_code, f"{executed.name} is stale: re-run `make notebooks NB={md.stem}`"
    injected = [c for c in ref.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "profile = \"quick\"" in injected[0].source, "reference must be the quick profile"
    assert not any(o.get("output_type") == "error" for c in ref.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_profiles_name_existing_notebooks(profile):
    cfg = yaml.safe_load((ROOT / "params" / f"{profile}.yaml").read_text())
    stems = {p.stem for p in SOURCES}
    assert set(cfg) - {"_all"} <= stems
    assert cfg["_all"]["profile"] == profile
