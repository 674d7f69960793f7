"""Repository-wide pytest configuration: `pytest tests`, `make test` and `pytest --nbval book/nb` typed as is.

1. Pins the CPU numerics (scripts/pin_cpu.py) before anything loads torch or numpy, overriding the host's values;
   notebook kernels are subprocesses and inherit them.
2. With --nbval: the kernel is the current Python environment (`--nbval-current-env`), outputs pass through
   tests/nbval_sanitize.cfg (timings, addresses, progress bars), figures render inline, and CUDA is hidden
   (the references are CPU results). Options given on the command line win.
3. Figures a chapter glues (myst_nb.glue) are compared with the reference's within the tolerances of
   tests/glue_tolerances.yaml, not as exact text (scripts/glue_check.py).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_ipdrop_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_load("pin_cpu").apply()


def pytest_configure(config):
    opt = config.option
    if not (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
        return
    if not getattr(opt, "nbval_kernel_name", None):
        opt.nbval_current_env = True
    if getattr(opt, "nbval_sanitize_with", None) is None:
        opt.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run the tests marked slow (skipped by default)"
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--run-slow"):
        skip = pytest.mark.skip(reason="slow: run with --run-slow")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)
    cells = [it for it in items if type(it).__name__ == "IPyNbCell"]
    if not cells:
        return
    glue = _load("glue_check")
    rules = glue.load_rules()
    for item in cells:
        item.compare_outputs = _glue_aware(item, item.compare_outputs, glue, rules)


def _glue_aware(item, compare, glue, rules):
    def compare_outputs(test, ref, skip_compare=None):
        new, test_rest = glue.glued_outputs(test)
        old, ref_rest = glue.glued_outputs(ref)
        ok = compare(test_rest, ref_rest, skip_compare)
        problems = glue.compare_glued(new, old, rules)
        if problems:
            item.comparison_traceback.append(
                "glued figures outside their tolerances (tests/glue_tolerances.yaml):\n  " + "\n  ".join(problems)
            )
        return ok and not problems

    return compare_outputs
