# Folio: `make run` installs and starts the app; `make test` installs and runs every test tier.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export RAGAS_DO_NOT_TRACK := true
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-dev system-deps run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, alone: it must be the CPU build 2.13.0 (anything else pulls GBs of CUDA).
$(VENV)/.installed: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev system-deps

# Debian packages the browser and PostgreSQL tests need (installed only when missing).
system-deps:
	./scripts/install-system-deps.sh

run: install
	$(BIN)/python app.py

# Every tier that can run here: unit, slow (real models and PDFs), browser; gpu where CUDA is.
# The PostgreSQL tests fail (instead of skipping) when the server cannot run.
test: install-dev
	FOLIO_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -m "not gpu" --durations=15

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not browser and not gpu"

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
