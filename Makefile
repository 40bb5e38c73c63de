# `make demo` and `make test` do all the set-up on a fresh clone: only python3, pip and make needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labelwise-installed

.PHONY: demo test lint bench bench-venv bench-weak bench-train clean

# snorkel (the weak-supervision anchor) pulls torch: it gets its own git-ignored venv, torch
# first so that pip takes the CPU build.
SNORKEL_VENV := benchmarks/.venv-snorkel
PULEARN_VENV := benchmarks/.venv-pulearn

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench,torch,dask,report]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labelwise audit --noise 0.05 -o labelwise-out

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/label_issues.py
	$(BIN)/python benchmarks/real_label_errors.py
	$(BIN)/python benchmarks/multilabel_issues.py
	$(BIN)/python benchmarks/regression_issues.py
	$(BIN)/python benchmarks/outliers_duplicates.py
	$(BIN)/python benchmarks/aggregation.py
	$(BIN)/python benchmarks/conformal.py
	$(BIN)/python benchmarks/active_relabel.py
	$(BIN)/python benchmarks/scale.py

$(SNORKEL_VENV)/.installed:
	test -x $(SNORKEL_VENV)/bin/python || $(PYTHON) -m venv $(SNORKEL_VENV)
	$(SNORKEL_VENV)/bin/pip install --quiet torch==2.13.0
	$(SNORKEL_VENV)/bin/pip install --quiet snorkel==0.10.0
	touch $@

bench-venv: $(SNORKEL_VENV)/.installed

bench-weak: $(STAMP) bench-venv
	$(BIN)/python benchmarks/weak_supervision.py

$(PULEARN_VENV)/.installed:
	test -x $(PULEARN_VENV)/bin/python || $(PYTHON) -m venv $(PULEARN_VENV)
	$(PULEARN_VENV)/bin/pip install --quiet pulearn==0.2.0
	touch $@

# Training with incomplete labels (issue 6): SPML on six real sets, then PU (against pulearn),
# candidate sets, proportions and noisy labels; about 20 and 15 minutes on 2 cores.
bench-train: $(STAMP) $(PULEARN_VENV)/.installed
	$(BIN)/python benchmarks/spml.py
	$(BIN)/python benchmarks/incomplete_labels.py --pulearn-python $(PULEARN_VENV)/bin/python

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache labelwise-out
