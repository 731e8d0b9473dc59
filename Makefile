# Lightweight Image Server: one way to do each common task.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install everything (runtime + tests + lint)

run: install  ## install, then run the server in the foreground (granian)
	$(BIN)/python server.py

serve: run  ## same as run

test: install  ## install, then run the whole test suite
	$(BIN)/python -m pytest

SCRIPTS := persistent_run.sh run_with_progress.sh unload_directory.sh setup_ngrok.sh scripts/common.sh scripts/install_n8n.sh \
	scripts/install_mcp_inspector.sh

lint: install  ## ruff check, ruff format --check, shellcheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	shellcheck -x $(SCRIPTS)

fmt: install  ## fix lint and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

wheel: install  ## build the wheel into dist/ (install it with pipx, uv tool or pip; issue 17)
	rm -f dist/lightweight_image_server-*.whl
	$(BIN)/uv build --wheel --out-dir dist

bench: install  ## ours vs nginx, caddy, Flask, http.server on loopback (~12 min; apt-gets nginx, caddy, wrk)
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

bench-smoke: install  ## the same benchmark, tiny (CI-sized, well under 30 s, no apt-get)
	$(BIN)/python -m bench --smoke

.PHONY: help install run serve test lint fmt wheel bench bench-smoke
