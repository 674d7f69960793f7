# ipdrop: one venv, two commands.  `make book` builds the HTML, `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
NB ?=
PARAMS ?=
# Every Python command that computes runs under the pinned CPU numerics (scripts/pin_cpu.py: AVX2 kernels in torch,
# MKL, oneDNN, OpenBLAS and numpy, overriding the host's values), so the committed references reproduce bit for bit
# on any x86-64 machine with AVX2. conftest.py and scripts/run_notebooks.py pin them too when called directly.
PINNED := $(PY) scripts/pin_cpu.py --exec
# notebooks always render figures inline (an inherited MPLBACKEND=Agg would drop their outputs)
NBENV := MPLBACKEND=module://matplotlib_inline.backend_inline
# The quick profile without overrides writes the committed references in book/; anything else builds its own book
# under runs/book/ and never touches them.
ifeq ($(PROFILE)$(strip $(PARAMS)),quick)
BOOK_DIR := book
else
BOOK_DIR := runs/book/$(PROFILE)$(if $(strip $(PARAMS)),-$(shell printf '%s' '$(strip $(PARAMS))' | tr -c 'A-Za-z0-9.=_-' '_'))
endif
# the design card's command: book/_config.yml and book/_toc.yml link to the top-level files; HTML in book/_build/html
JB = $(VENV)/bin/jupyter-book build $(BOOK_DIR)/ -W --keep-going
# the design card's command as typed, with the venv first on PATH: `pytest --nbval book/nb` gets the kernel, the
# sanitizer and the pinning from conftest.py
NBVAL := PATH="$(abspath $(VENV))/bin:$$PATH" pytest --nbval book/nb -p no:cacheprovider

.PHONY: venv book notebooks book-html test lint test-slow test-unit test-notebooks test-book run bench clean

# The venv is created when missing and reused otherwise; the stamp tracks pyproject.toml.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[book,test,bench,sweep]"
	@touch $@

venv: $(VENV)/.installed

# Execute every notebook (papermill, profile $(PROFILE)) into $(BOOK_DIR)/nb/, then render the HTML.
notebooks: venv
ifneq ($(BOOK_DIR),book)
	mkdir -p $(BOOK_DIR)
	cp book/intro.md _config.yml _toc.yml $(BOOK_DIR)/
endif
	$(NBENV) $(PINNED) $(PY) scripts/run_notebooks.py --profile $(PROFILE) --out $(BOOK_DIR)/nb $(if $(NB),--nb $(NB)) $(PARAMS)

book-html: venv
	$(PINNED) $(PY) scripts/environment_report.py
	$(JB)
	@echo "HTML: $(CURDIR)/$(BOOK_DIR)/_build/html/index.html"

book: notebooks book-html

# One notebook with parameters into runs/nb/<notebook>/<params>/, e.g.
#   make run NB=theory PARAMS="-p seed 1"
run: venv
	@test -n "$(NB)" || { echo "usage: make run NB=<notebook> PARAMS=\"-p name value ...\""; exit 2; }
	$(NBENV) $(PINNED) $(PY) scripts/run_notebooks.py --profile $(PROFILE) --nb $(NB) $(PARAMS)

# Unit tests, then nbval re-executes the committed quick-profile notebooks and compares their outputs (glued key
# figures within tests/glue_tolerances.yaml), then the book is built from those stored outputs (warnings are
# errors): a broken book fails the tests.
test: venv
	$(MAKE) lint test-unit test-notebooks test-book

# ruff (lint + format check, configured in pyproject.toml) and mypy on the package (files and exclusions in pyproject.toml)
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test-unit: venv
	$(PINNED) $(PY) -m pytest tests -q -p no:cacheprovider

# the slow tests of the library's core (exact entropies by nested quadrature) and of the card's papermill command
test-slow: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PINNED) $(PY) -m pytest tests/test_toy.py tests/test_book.py --run-slow -m slow -q -p no:cacheprovider

test-notebooks: venv
	$(NBVAL) -q

test-book: venv
	rm -rf book/_build
	$(VENV)/bin/jupyter-book build book/ -W --keep-going
	@test -f book/_build/html/index.html
	$(PY) scripts/check_offline_html.py book/_build/html

bench: venv
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PINNED) $(PY) $$f; done

clean:
	rm -rf book/_build runs/nb runs/book
