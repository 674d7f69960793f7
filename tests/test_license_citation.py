"""LICENSE and CITATION.cff agree with the package, the shipped data and the bibliography.

(Schema validation: `cffconvert --validate -i CITATION.cff` with cffconvert 2.0.0 in a separate venv, as its
pins clash with the book's; these checks keep the facts consistent.)
"""

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_mit_and_names_every_shipped_dataset_with_its_licence():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and PYPROJECT["license"] == "MIT"
    shipped = sorted(p.name for p in (ROOT / "ipdrop" / "_data").glob("*.npz"))
    assert shipped, "no shipped data subsets found"
    for name in shipped:
        assert f"ipdrop/_data/{name}" in text, f"LICENSE does not state the licence of {name}"
    assert "CC BY-SA 3.0" in text and "Learning Multiple Layers of Features from Tiny Images" in text


def test_citation_cff_matches_package_and_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == PYPROJECT["version"] and cff["license"] == PYPROJECT["license"]
    assert cff["authors"] and all("name" in a or "family-names" in a for a in cff["authors"])
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2023
    assert [a["family-names"] for a in paper["authors"]] == ["Adilova", "Geiger", "Fischer"]
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entry = re.search(r"@inproceedings\{adilova2023,(.*?)\n\}", bib, re.S).group(1)
    assert paper["title"] in entry
    assert paper["url"] in entry
    ids = {i["value"] for i in paper["identifiers"]}
    assert "arXiv:2303.00596" in ids and "2303.00596" in entry
