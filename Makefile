# oms-ml — two commands: `make demo` (set up + run the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= small

.PHONY: setup demo test lint bench clean check-java docs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found; oms-ml needs Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	$(BIN)/python -m pip check
	touch $@

check-java:
	@scripts/check_java.sh

demo: setup check-java
	$(BIN)/oms-ml demo --scale $(SCALE)

test: setup check-java
	@scripts/check_browser.sh
	$(BIN)/ruff check .
	OMS_ML_REQUIRE_BROWSER=1 $(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .

docs: setup
	$(BIN)/oms-ml contract docs

bench: setup check-java
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) data/landing data/lake data/quarantine data/outputs data/mlflow.db data/mlartifacts
