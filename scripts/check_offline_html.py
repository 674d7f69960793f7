#!/usr/bin/env python3
"""Fail when the built book loads anything from the network.

Scans every ``*.html`` under the built site (default ``book/_build/html``) for resources the browser
fetches on its own when the page opens: ``<script src>``, ``<link href>`` (stylesheets, fonts, preloads;
not ``rel="canonical"``/``"alternate"``, which are never fetched), ``<img src>``, ``<iframe src>``,
``<source src>``, ``<video src>``/``poster``, ``<audio src>``, ``<embed src>``, ``<object data>``; and CSS
``@import`` / ``url(...)`` in inline ``<style>`` blocks and in the site's ``*.css`` files. Any absolute
``http(s)://`` or protocol-relative ``//host`` URL there is an error. Ordinary links (``<a href>``) are
fine: a reader clicks them.

Also checks that the pages with math load MathJax from the site itself, e.g. ``_static/mathjax/...``.

Exit status: 0 clean, 1 external resources found (each listed as ``file: tag attr=url``), 2 no built site.

Usage::

    python scripts/check_offline_html.py [BUILD_DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD = ROOT / "book" / "_build" / "html"

#: (tag, attribute) pairs whose URL the browser fetches without a click
FETCHED = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("img", "srcset"),
    ("iframe", "src"),
    ("source", "src"),
    ("source", "srcset"),
    ("video", "src"),
    ("video", "poster"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("input", "src"),
    ("track", "src"),
}
#: <link rel=...> values that do not make the browser fetch anything
NOT_FETCHED_REL = {
    "canonical",
    "alternate",
    "author",
    "license",
    "help",
    "search",
    "index",
    "next",
    "prev",
    "previous",
    "top",
    "up",
    "copyright",
    "bookmark",
    "me",
    "shortlink",
}
_EXTERNAL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//")
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


class Finding(NamedTuple):
    file: str
    what: str
    url: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}={self.url}"


def is_external(url: str) -> bool:
    """True for an absolute http(s)/ftp/... or protocol-relative URL; data: and relative URLs are local."""
    return bool(_EXTERNAL.match(url))


class _Scanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self.mathjax_srcs: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "style":
            self._in_style = True
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels and rels <= NOT_FETCHED_REL:
                return
        if tag == "script" and "mathjax" in a.get("src", "").lower():
            self.mathjax_srcs.append(a["src"])
        for attr, value in a.items():
            if (tag, attr) not in FETCHED:
                continue
            urls = [u.strip().split()[0] for u in value.split(",") if u.strip()] if attr == "srcset" else [value]
            self.found += [(f"<{tag} {attr}", u) for u in urls if is_external(u)]
        style = a.get("style")
        if style:
            self.found += [(f"<{tag} style url", u) for u in _CSS_URL.findall(style) if is_external(u)]

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += [("<style> url", u) for u in _CSS_URL.findall(data) if is_external(u)]


def scan_html(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(external resources as (what, url), MathJax script srcs) of one HTML document."""
    s = _Scanner()
    s.feed(text)
    s.close()
    return s.found, s.mathjax_srcs


def scan_css(text: str) -> list[tuple[str, str]]:
    return [("css url", u) for u in _CSS_URL.findall(text) if is_external(u)]


def _has_math(text: str) -> bool:
    """Sphinx marks every formula with class="math ..." (inline and display)."""
    return 'class="math' in text


def check(build_dir: Path) -> Iterator[Finding]:
    """Every external resource (and every page whose math would need the network) under build_dir."""
    for path in sorted(build_dir.rglob("*.html")):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(build_dir).as_posix()
        found, mathjax = scan_html(text)
        for what, url in found:
            yield Finding(rel, what, url)
        if _has_math(text) and not mathjax:
            yield Finding(rel, "math without MathJax", "(no MathJax script on a page with math)")
    for path in sorted(build_dir.rglob("*.css")):
        rel = path.relative_to(build_dir).as_posix()
        for what, url in scan_css(path.read_text(encoding="utf-8", errors="replace")):
            yield Finding(rel, what, url)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", type=Path, default=DEFAULT_BUILD)
    args = ap.parse_args(argv)
    if not (args.build_dir / "index.html").is_file():
        print(f"{args.build_dir}: no built site (index.html missing); build the book first", file=sys.stderr)
        return 2
    findings = list(check(args.build_dir))
    n_pages = sum(1 for _ in args.build_dir.rglob("*.html"))
    if findings:
        print(f"{len(findings)} external resource(s) in {args.build_dir} (the book must read offline):")
        for f in findings:
            print(f"  {f}")
        return 1
    print(f"offline: {n_pages} page(s) in {args.build_dir} load no external resource")
    return 0


if __name__ == "__main__":
    sys.exit(main())
