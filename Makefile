# Set-up is part of every target: a fresh machine with Python 3.11 and make
# needs nothing else. The virtual environment is rebuilt when pyproject.toml
# or requirements.lock change.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_FLAGS := --quiet --disable-pip-version-check --only-binary=:all:

.PHONY: install test serve train bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade "pip>=24"
	$(BIN)/python -m pip install $(PIP_FLAGS) -c requirements.lock -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

serve: $(STAMP)
	$(BIN)/jpsi-serve

# Rebuilds every shipped artifact set with its fixed seed: the surrogate
# (artifacts/surrogate), then the explanation background and anomaly model.
train: $(STAMP)
	$(BIN)/jpsi-train all

bench: $(STAMP)
	$(BIN)/python bench/exact.py
	$(BIN)/python bench/surrogate_vs_exact.py
	$(BIN)/python bench/anomaly.py
	$(BIN)/python bench/explain.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check physics runtime service training jpsi_client scoring tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
