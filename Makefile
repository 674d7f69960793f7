# ipdrop: one venv, two commands.  `make book` builds the HTML, `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
NB ?=
PARAMS ?=
BOOK_NB := book/nb
# notebooks always render figures inline (an inherited MPLBACKEND=Agg would drop their outputs)
NBENV := MPLBACKEND=module://matplotlib_inline.backend_inline
JB := $(VENV)/bin/jupyter-book build book/ --toc "$(CURDIR)/_toc.yml" --path-output book -W --keep-going
NBVAL := $(NBENV) $(PY) -m pytest --nbval $(BOOK_NB) --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

.PHONY: venv book notebooks book-html test test-unit test-notebooks test-book run bench clean

# The venv is created when missing and reused otherwise; the stamp tracks pyproject.toml.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[book,test,bench,sweep]"
	@touch $@

venv: $(VENV)/.installed

# Execute every notebook (papermill, profile $(PROFILE)) into book/nb/, then render the HTML.
notebooks: venv
	$(NBENV) $(PY) scripts/run_notebooks.py --profile $(PROFILE) --out $(BOOK_NB) $(if $(NB),--nb $(NB)) $(PARAMS)

book-html: venv
	$(JB)
	@echo "HTML: $(CURDIR)/book/_build/html/index.html"

book: notebooks book-html

# One notebook with parameters into runs/nb/<notebook>/<params>/, e.g.
#   make run NB=theory PARAMS="-p seed 1"
run: venv
	@test -n "$(NB)" || { echo "usage: make run NB=<notebook> PARAMS=\"-p name value ...\""; exit 2; }
	$(NBENV) $(PY) scripts/run_notebooks.py --profile $(PROFILE) --nb $(NB) $(PARAMS)

# Unit tests, then nbval re-executes the committed quick-profile notebooks and compares their outputs,
# then the book is built from those stored outputs (warnings are errors): a broken book fails the tests.
test: venv
	$(MAKE) test-unit test-notebooks test-book

test-unit: venv
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider

test-notebooks: venv
	$(NBVAL) -q

test-book: venv
	rm -rf book/_build
	$(JB)
	@test -f book/_build/html/index.html

bench: venv
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f; done

clean:
	rm -rf book/_build runs/nb
