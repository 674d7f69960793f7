"""The book reads offline and its bibliography is complete.

* scripts/check_offline_html.py finds every resource a page would fetch from the network (unit tests on
  small HTML/CSS snippets), and the built book, when there is one (`make book-html`), has none.
* MathJax comes from the sphinx-mathjax-offline package, not a CDN.
* Every {cite} key used in book/*.md and notebooks/*.md is an entry of book/references.bib.
"""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "book" / "_build" / "html"
BIB = ROOT / "book" / "references.bib"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


offline = _load("check_offline_html")


# --------------------------------------------------------------------------- the scanner


@pytest.mark.parametrize(
    "url, external",
    [
        ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js", True),
        ("http://example.org/a.css", True),
        ("//cdn.example.org/x.js", True),
        ("_static/mathjax/tex-chtml.js", False),
        ("../_static/x.css", False),
        ("data:image/png;base64,AAAA", False),
        ("#section", False),
    ],
)
def test_is_external(url, external):
    assert offline.is_external(url) is external


def test_scan_html_flags_fetched_resources_and_ignores_links():
    html = """<html><head>
      <script src="https://cdn.example.org/mathjax/tex-chtml.js"></script>
      <script src="_static/local.js"></script>
      <link rel="stylesheet" href="//fonts.example.org/font.css">
      <link rel="canonical" href="https://example.org/book/intro.html">
      <style>@import "https://fonts.example.org/x.css"; body { background: url(img/local.png); }</style>
      </head><body>
      <a href="https://arxiv.org/abs/2303.00596">arXiv</a>
      <img src="https://example.org/logo.png"><img src="_images/fig.png" srcset="a.png 1x, https://x.org/b.png 2x">
      <div style="background-image: url('https://example.org/bg.png')"></div>
      </body></html>"""
    found, mathjax = offline.scan_html(html)
    urls = sorted(u for _, u in found)
    assert urls == sorted(
        [
            "https://cdn.example.org/mathjax/tex-chtml.js",
            "//fonts.example.org/font.css",
            "https://fonts.example.org/x.css",
            "https://example.org/logo.png",
            "https://x.org/b.png",
            "https://example.org/bg.png",
        ]
    )
    assert mathjax == ["https://cdn.example.org/mathjax/tex-chtml.js"]


def test_check_reports_math_without_mathjax_and_css_urls(tmp_path):
    (tmp_path / "index.html").write_text(
        '<script src="_static/mathjax/tex-chtml.js"></script><span class="math notranslate nohighlight">\\(x\\)</span>'
    )
    (tmp_path / "page.html").write_text('<span class="math notranslate nohighlight">\\(y\\)</span>')
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "theme.css").write_text("@font-face { src: url(https://fonts.example.org/f.woff2); }")
    findings = list(offline.check(tmp_path))
    assert [(f.file, f.what) for f in findings] == [
        ("page.html", "math without MathJax"),
        ("_static/theme.css", "css url"),
    ]
    assert offline.main([str(tmp_path)]) == 1
    (tmp_path / "page.html").write_text("<p>no math</p>")
    (tmp_path / "_static" / "theme.css").write_text("body { background: url(../img/x.png); }")
    assert offline.main([str(tmp_path)]) == 0


def test_main_without_a_build_exits_2(tmp_path):
    assert offline.main([str(tmp_path / "missing")]) == 2


# --------------------------------------------------------------------------- configuration and the built book


def test_mathjax_is_bundled_not_fetched():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in cfg["sphinx"]["extra_extensions"]
    assert "mathjax_path" not in cfg["sphinx"].get("config", {}), "a mathjax_path would override the bundle"
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    assert spec is not None, "pip install sphinx-mathjax-offline (the `book` extra)"
    assert (Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.skipif(not (BUILD / "index.html").is_file(), reason="no built book (make book-html)")
def test_built_book_loads_no_external_resource():
    findings = list(offline.check(BUILD))
    assert not findings, "external resources in the built book:\n" + "\n".join(map(str, findings))
    assert (BUILD / "_static" / "mathjax" / "tex-chtml.js").is_file()


# --------------------------------------------------------------------------- bibliography

_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
_ENTRY = re.compile(r"^@(\w+)\{([^,\s]+),", re.M)


def bib_entries():
    text = BIB.read_text(encoding="utf-8")
    return {key: kind.lower() for kind, key in _ENTRY.findall(text)}, text


def cited_keys():
    keys = {}
    for path in sorted([*ROOT.glob("book/*.md"), *ROOT.glob("notebooks/*.md")]):
        for group in _CITE.findall(path.read_text(encoding="utf-8")):
            for key in group.split(","):
                keys.setdefault(key.strip(), path.relative_to(ROOT).as_posix())
    return keys


def test_every_cited_key_is_in_the_bibliography():
    entries, _ = bib_entries()
    missing = {k: where for k, where in cited_keys().items() if k not in entries}
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_bibliography_entries_are_complete_and_unique():
    entries, text = bib_entries()
    assert len(_ENTRY.findall(text)) == len(entries), "duplicate keys in references.bib"
    pybtex = pytest.importorskip("pybtex.database")
    db = pybtex.parse_file(str(BIB))
    for key, entry in db.entries.items():
        assert entry.persons.get("author"), f"{key}: no author"
        for field in ("title", "year"):
            assert entry.fields.get(field), f"{key}: no {field}"
    paper = db.entries["adilova2023"]
    assert paper.fields["eprint"] == "2303.00596"
    assert "openreview.net/forum?id=bQB6qozaBw" in paper.fields["url"]


def test_intro_cites_and_links_the_paper():
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    assert "adilova2023" in cited_keys() and "{cite:p}`adilova2023`" in intro
    assert "https://openreview.net/forum?id=bQB6qozaBw" in intro and "https://arxiv.org/abs/2303.00596" in intro
    assert "{bibliography}" in (ROOT / "book" / "references.md").read_text(encoding="utf-8")


def test_references_page_keeps_citation_list():
    # `:list: bullet`/`enumerated` makes sphinxcontrib-bibtex drop the citation targets: every {cite} then
    # fails with "could not find bibtex key" (a -W build error)
    text = (ROOT / "book" / "references.md").read_text(encoding="utf-8")
    assert ":list:" not in text


# --------------------------------------------------------------------------- math rendered in a browser, offline

browse = _load("browse_offline")


def test_math_problem_detects_raw_latex():
    src = '<span class="math notranslate nohighlight">\\(x\\)</span>'
    assert browse.math_problem(src, src) == "1 formula(s), none typeset by MathJax (raw LaTeX shown)"
    assert browse.math_problem(src, src.replace("\\(x\\)", "<mjx-container>x</mjx-container>")) is None
    assert browse.math_problem("<p>no math</p>", "<p>no math</p>") is None


@pytest.mark.slow
@pytest.mark.skipif(
    not (BUILD / "index.html").is_file() or browse.find_browser() is None, reason="needs a built book and Chromium"
)
def test_intro_math_renders_offline_in_chromium():
    assert browse.main([str(BUILD), "--pages", "intro"]) == 0
