# `make demo` and `make test` do all the set-up on a fresh clone: only python3, pip and make needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labelwise-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench,torch,dask,report]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labelwise audit --noise 0.05 -o labelwise-out

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/label_issues.py
	$(BIN)/python benchmarks/real_label_errors.py
	$(BIN)/python benchmarks/multilabel_issues.py
	$(BIN)/python benchmarks/regression_issues.py
	$(BIN)/python benchmarks/outliers_duplicates.py
	$(BIN)/python benchmarks/aggregation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache labelwise-out
