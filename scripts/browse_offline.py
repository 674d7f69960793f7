#!/usr/bin/env python3
"""Open every page of the built book in headless Chromium with the network unreachable.

For each ``*.html`` page (default build: ``book/_build/html``) Chromium loads the file with every host name
unresolvable and a dead proxy, so nothing can come from the network. The script then

* checks that every page with formulas (``class="math``) had them typeset by MathJax: the DOM after
  loading holds ``<mjx-container>`` elements; a page whose math stayed raw LaTeX is an error;
* with ``--screenshots DIR``, writes one PNG per page (``nb_03_mnist.png`` for ``nb/03_mnist.html``), to
  look at figures and tables by eye.

Needs a Chromium binary (``apt-get install chromium``); exit 2 when none or when there is no built site,
1 when a page's math did not render, 0 otherwise.

Usage::

    python scripts/browse_offline.py [BUILD_DIR] [--screenshots DIR] [--pages intro nb/03_mnist]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD = ROOT / "book" / "_build" / "html"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: pages Sphinx generates that are not the book's content
SKIP = {"genindex.html", "search.html", "index.html"}
OFFLINE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
)


def find_browser(name: str | None = None) -> str | None:
    for cand in [name] if name else BROWSERS:
        path = shutil.which(cand)
        if path:
            return path
    return None


def _run(browser: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [browser, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def rendered_dom(browser: str, page: Path, *, budget_ms: int = 20000, timeout: float = 120) -> str:
    """The page's DOM after its scripts ran (virtual time budget), network unreachable."""
    out = _run(browser, [f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()], timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{browser} failed on {page} (exit {out.returncode}): {out.stderr[-500:]}")
    return out.stdout


def screenshot(
    browser: str,
    page: Path,
    png: Path,
    *,
    width: int = 1280,
    height: int = 3000,
    budget_ms: int = 20000,
    timeout: float = 120,
) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    out = _run(
        browser,
        [
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
        timeout,
    )
    if out.returncode != 0 or not png.is_file():
        raise RuntimeError(f"{browser} could not screenshot {page} (exit {out.returncode}): {out.stderr[-500:]}")


def math_problem(source: str, dom: str) -> str | None:
    """Why a page's math is not rendered, or None when it is (or the page has no math)."""
    n_math = source.count('class="math')
    if n_math == 0:
        return None
    n_typeset = dom.count("<mjx-container")
    if n_typeset == 0:
        return f"{n_math} formula(s), none typeset by MathJax (raw LaTeX shown)"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", type=Path, default=DEFAULT_BUILD)
    ap.add_argument("--screenshots", type=Path, help="folder for one PNG per page")
    ap.add_argument("--pages", nargs="+", help="pages to open, e.g. intro nb/03_mnist (default: all)")
    ap.add_argument("--browser", help=f"Chromium executable (default: the first of {', '.join(BROWSERS)} on PATH)")
    ap.add_argument("--height", type=int, default=3000, help="screenshot height in pixels")
    args = ap.parse_args(argv)

    if not (args.build_dir / "index.html").is_file():
        print(f"{args.build_dir}: no built site (index.html missing); build the book first", file=sys.stderr)
        return 2
    browser = find_browser(args.browser)
    if browser is None:
        print("no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    if args.pages:
        pages = [args.build_dir / f"{p.removesuffix('.html')}.html" for p in args.pages]
        missing = [p for p in pages if not p.is_file()]
        if missing:
            print(f"no such page(s): {[str(p) for p in missing]}", file=sys.stderr)
            return 2
    else:
        pages = sorted(
            p
            for p in args.build_dir.rglob("*.html")
            if p.name not in SKIP and "_static" not in p.parts and "_sources" not in p.parts
        )
    bad = 0
    for page in pages:
        rel = page.relative_to(args.build_dir).as_posix()
        problem = math_problem(page.read_text(encoding="utf-8", errors="replace"), rendered_dom(browser, page))
        status = f"MATH NOT RENDERED: {problem}" if problem else "ok"
        bad += problem is not None
        if args.screenshots:
            png = args.screenshots / (rel.removesuffix(".html").replace("/", "_") + ".png")
            screenshot(browser, page, png, height=args.height)
            status += f"  -> {png}"
        print(f"{rel}: {status}", flush=True)
    print(f"{len(pages)} page(s) opened offline; {bad} with unrendered math")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
