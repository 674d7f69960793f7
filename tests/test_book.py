"""The book's sources and its committed, executed reference notebooks agree with each other."""

import ast
import importlib.util
import os
import subprocess
import sys
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
    names = {
        t.id
        for node in ast.parse(parameters_cell(src).source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert {"profile", "seed", "device"} <= names
    executed = ROOT / "book" / "nb" / f"{md.stem}.ipynb"
    assert executed.exists(), f"{executed} missing: run `make book`"
    ref = nbformat.read(executed, as_version=4)
    ref_code = [
        c.source for c in ref.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]
    src_code = [c.source for c in src.cells if c.cell_type == "code"]
    assert ref_code == src_code, f"{executed.name} is stale: re-run `make notebooks NB={md.stem}`"
    injected = [c for c in ref.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'profile = "quick"' in injected[0].source, "reference must be the quick profile"
    assert not any(o.get("output_type") == "error" for c in ref.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_profiles_name_existing_notebooks(profile):
    cfg = yaml.safe_load((ROOT / "params" / f"{profile}.yaml").read_text())
    stems = {p.stem for p in SOURCES}
    assert set(cfg) - {"_all"} <= stems
    assert cfg["_all"]["profile"] == profile


# --- portability: pinned numerics, glued figures, stable references, the card's commands -------------------------

# The figures each chapter glues (myst_nb.glue); documented in the README ("Regression checks"). Keep stable.
GLUE_NAMES = {
    "00_claims": set(),  # its numbers depend on the results store: no regression figure
    "01_theory": {"theory_binning_slope", "theory_gauss_mi"},
    "02_estimator": {"toy_ours_mi"},
    "03_mnist": {"mnist_test_acc", "mnist_ixz"},
    "04_cifar10": {"cifar10_test_acc", "cifar10_ixz"},
    "05_beta": {"beta_test_acc"},
    "06_sweeps": {"sweeps_test_acc"},
    # toy views with fixed seeds (no training) are compared as exact text; the stored-run tables are files
    "07_reliability": set(),
}


def _script(name):
    spec = importlib.util.spec_from_file_location(f"_test_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


glue_check = _script("glue_check")


def test_literal_book_command_finds_the_top_level_config():
    # `jupyter-book build book/` reads book/_config.yml and book/_toc.yml: they must be the top-level files
    for name in ("_config.yml", "_toc.yml"):
        assert (ROOT / "book" / name).resolve() == (ROOT / name).resolve(), f"book/{name} must link to ../{name}"


@pytest.mark.parametrize("md", SOURCES, ids=[p.stem for p in SOURCES])
def test_reference_glues_its_documented_figures_with_a_tolerance(md):
    ref = nbformat.read(ROOT / "book" / "nb" / f"{md.stem}.ipynb", as_version=4)
    glued = glue_check.glued_values(ref)
    # the regression figures; a chapter also glues the numbers of its prose and its figures (issue 16), which
    # nbval does not compare where their cells are tagged nbval-ignore-output
    assert GLUE_NAMES[md.stem] <= set(glued), "update GLUE_NAMES and the README's list together with the chapter"
    rules = glue_check.load_rules()
    for name in GLUE_NAMES[md.stem]:
        text = glued[name]
        value = ast.literal_eval(text)  # plain literals, so that the check can parse them
        assert glue_check._rule(name, rules).get("abs", 0) + glue_check._rule(name, rules).get("rel", 0) > 0, name
        assert value not in ({}, [], None), f"{name} is empty in the reference"


def test_glue_comparison_applies_the_tolerances():
    rules = glue_check.load_rules()
    ref = {"mnist_test_acc": "{'LeNet': 97.8, 'FC': 94.2}", "mnist_ixz": "{'FC': 6.0}", "other": "'a'"}
    ok = {"mnist_test_acc": "{'LeNet': 98.7, 'FC': 93.3}", "mnist_ixz": "{'FC': 6.3}", "other": "'a'"}
    assert glue_check.compare_glued(ok, ref, rules) == []
    bad = {"mnist_test_acc": "{'LeNet': 96.7, 'FC': 94.2}", "mnist_ixz": "{'FC': 5.6}", "other": "'b'"}
    problems = glue_check.compare_glued(bad, ref, rules)
    assert len(problems) == 3 and "LeNet" in problems[0]  # accuracy off by 1.1 points, I(X;Z) by 7%, a string
    assert glue_check.compare_glued({"mnist_ixz": "{'FC': 6.0}"}, ref, rules)[0].startswith("glued 'mnist_test_acc'")
    assert glue_check.compare_glued(dict(ref, mnist_ixz="{'FC': 6.0, 'LeNet': 6.1}"), ref, rules)  # new key


@pytest.mark.parametrize("md", SOURCES, ids=[p.stem for p in SOURCES])
def test_reference_has_stable_ids_and_no_run_metadata(md):
    ref = nbformat.read(ROOT / "book" / "nb" / f"{md.stem}.ipynb", as_version=4)
    assert [c.get("id") for c in ref.cells] == [f"{md.stem}-{i}" for i in range(len(ref.cells))], (
        "cell ids must be <notebook>-<index> (scripts/run_notebooks.py): re-run `make notebooks`"
    )
    assert "papermill" not in ref.metadata
    assert not any("papermill" in c.metadata or "execution" in c.metadata for c in ref.cells)
    for c in ref.cells:
        kinds = [(o.output_type, o.get("name")) for o in c.get("outputs", [])]
        assert all(a != b or a[0] != "stream" for a, b in zip(kinds, kinds[1:])), f"{c.id}: split stream output"


def test_runner_keeps_a_reference_whose_outputs_only_differ_in_timings():
    runner = _script("run_notebooks")
    pats = runner.sanitize_patterns()

    def nb(text):
        cell = nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)])
        cell.id = "x-0"
        return nbformat.v4.new_notebook(cells=[cell])

    assert runner.comparable(nb("training: 77 s\nacc 97.8\n"), pats) == runner.comparable(
        nb("training: 80 s\nacc 97.8\n"), pats
    )
    assert runner.comparable(nb("training: 77 s\nacc 97.8\n"), pats) != runner.comparable(
        nb("training: 77 s\nacc 97.9\n"), pats
    )
    split = nb("log N = 6.21\n")
    split.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="table\n"))
    split.cells[0].id = "random"
    runner.normalize(split, "x")
    assert split.cells[0].id == "x-0"
    assert runner.comparable(split, pats) == runner.comparable(nb("log N = 6.21\ntable\n"), pats)


def test_runner_hides_the_injected_parameters_cell_and_keeps_ids():
    runner = _script("run_notebooks")
    own = nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["injected-parameters"]})
    nb = nbformat.v4.new_notebook(cells=[own, injected])
    runner.normalize(nb, "x")
    runner.normalize(nb, "x")  # idempotent
    assert [c.id for c in nb.cells] == ["x-0", "x-1"]
    assert nb.cells[0].metadata["tags"] == ["parameters"]  # the chapter's own cell stays visible
    assert nb.cells[1].metadata["tags"] == ["injected-parameters", "remove-cell"]


@pytest.mark.parametrize("args", [["--profile", "paper"], ["-p", "seed", "1"]])
def test_runner_never_overwrites_the_references_with_other_settings(args):
    runner = _script("run_notebooks")
    with pytest.raises(SystemExit, match="committed references are the quick profile"):
        runner.main(["--nb", "01_theory", "--out", str(ROOT / "book" / "nb"), *args])


def test_pinned_cpu_numerics_override_the_host_settings():
    pin = _script("pin_cpu")
    for k, v in pin.pinned().items():
        assert os.environ.get(k) == v, f"conftest.py should have set {k}={v}"
    host = dict(
        os.environ,
        ATEN_CPU_CAPABILITY="default",
        MKL_CBWR="COMPATIBLE",
        ONEDNN_MAX_CPU_ISA="SSE41",
        OPENBLAS_CORETYPE="Prescott",
        NPY_DISABLE_CPU_FEATURES="",
    )
    code = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {sorted(pin.STATIC)!r}}}))"
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pin_cpu.py"), "--exec", sys.executable, "-c", code],
        env=host,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert yaml.safe_load(out) == pin.STATIC
    off = dict(host, IPDROP_PIN_CPU="0")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pin_cpu.py"), "--exec", sys.executable, "-c", code],
        env=off,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert yaml.safe_load(out)["ATEN_CPU_CAPABILITY"] == "default"


@pytest.mark.skipif(
    not Path("/proc/cpuinfo").exists() or " avx2" not in Path("/proc/cpuinfo").read_text(),
    reason="needs an x86-64 CPU with AVX2",
)
def test_torch_runs_the_avx2_kernels_under_the_pin():
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pin_cpu.py"), "--exec", sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "AVX2"


# The README's papermill commands, typed as there (the jupytext.toml pairing puts notebooks/X.md at ipynb/X.ipynb),
# on the fastest chapter with small sizes: seed and variance must change what the chapter prints and glues.
PAPERMILL_SMALL = '-p n_repeats 3 -p max_log10_n 3 -y "bg_sizes: [30, 100]" -y "relu_sizes: [10, 100]"'


@pytest.mark.slow
def test_papermill_seed_and_variance_change_the_chapter(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    bindir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    subprocess.run("jupytext --sync notebooks/01_theory.md", shell=True, cwd=ROOT, env=env, check=True)
    runs = {"base": "", "seed": "-p seed 3", "variance": "-p variance 0.2"}
    # the paired file for seed and variance, the one-liner (no paired file) for the baseline
    src = {k: "ipynb/01_theory.ipynb" for k in runs}
    src["base"] = "-"
    stdin = "jupytext --to ipynb -o - notebooks/01_theory.md | "
    # one after the other: kernels started at the same moment can race for their ports ("Kernel died before
    # replying to kernel_info", seen once in CI-like runs here)
    for k, p in runs.items():
        proc = subprocess.run(
            f"{stdin if src[k] == '-' else ''}papermill {src[k]} {tmp_path}/{k}.ipynb {p} "
            f"{PAPERMILL_SMALL} --no-progress-bar",
            shell=True,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"papermill ({k}) failed:\n{proc.stdout[-3000:]}"
    nbs = {k: nbformat.read(tmp_path / f"{k}.ipynb", as_version=4) for k in runs}
    injected = {
        k: next(c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        for k, nb in nbs.items()
    }
    assert "seed = 3" in injected["seed"] and "variance = 0.2" in injected["variance"]
    # the regression figure only: the prose glues other values (text, Markdown) that are not Python literals
    glued = {
        k: {"theory_gauss_mi": ast.literal_eval(glue_check.glued_values(nb)["theory_gauss_mi"])}
        for k, nb in nbs.items()
    }
    base = glued["base"]["theory_gauss_mi"]
    assert glued["seed"]["theory_gauss_mi"] != base, "seed=3 gave the same Gaussian-dropout estimates as seed=0"
    # a smaller noise variance leaves more information: the Gaussian-dropout I(X;Z) estimates rise
    assert all(glued["variance"]["theory_gauss_mi"][v] > base[v] for v in base), (glued["variance"], base)
