# Clearing house developer entry points. On a fresh machine with Python >= 3.11:
#   make demo    # creates .venv, installs the project, runs the demo into var/demo
#   make test    # creates .venv, installs the project, runs the test-suite
.DEFAULT_GOAL := help

VENV        := .venv
VENV_PY     := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
# candidates for creating the venv, first one that runs and is >= 3.11 wins
PYTHONS     := python3.11 python3.12 python3.13 python3
PYTEST_ARGS ?=
# a venv whose python no longer runs (e.g. its base interpreter was removed) is rebuilt even when
# the stamp is newer than pyproject.toml
VENV_OK     := $(shell "$(VENV_PY)" -c 'print("ok")' 2>/dev/null)
# if set (by .ci/run), `make test` writes pytest's own exit code into this file
PYTEST_EXIT_FILE ?=

.PHONY: help venv demo test lint bench bench-auth clean FORCE

help:
	@echo "make demo    create .venv if needed and run the demo (output in var/demo)"
	@echo "make test    create .venv if needed and run the test-suite (PYTEST_ARGS='...' to pass options)"
	@echo "make lint    ruff check, ruff format --check, mypy"
	@echo "make bench   run the benchmarks"
	@echo "make bench-auth  authorize+capture against a real multi-worker server (SQLite, PostgreSQL if any)"
	@echo "make clean   remove var/ and the venv stamp (forces a reinstall)"

venv: $(STAMP)

$(STAMP): pyproject.toml $(if $(VENV_OK),,FORCE)
	@set -e; \
	if { [ -e "$(VENV_PY)" ] || [ -L "$(VENV_PY)" ]; } && ! "$(VENV_PY)" -c 'import sys' >/dev/null 2>&1; then \
	  echo "==> $(VENV) is broken (its python does not run); recreating it"; \
	  rm -rf "$(VENV)"; \
	fi; \
	if [ -x "$(VENV_PY)" ]; then \
	  if ! "$(VENV_PY)" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then \
	    echo "error: $(VENV) uses Python $$("$(VENV_PY)" -c 'import platform; print(platform.python_version())'), but >= 3.11 is required; remove $(VENV) and run make again" >&2; \
	    exit 1; \
	  fi; \
	else \
	  py=""; \
	  for cand in $(PYTHONS); do \
	    if command -v "$$cand" >/dev/null 2>&1 && \
	       "$$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then \
	      py="$$cand"; break; \
	    fi; \
	  done; \
	  if [ -z "$$py" ]; then \
	    echo "error: no Python >= 3.11 found (tried: $(PYTHONS)); install Python 3.11 or newer" >&2; \
	    exit 1; \
	  fi; \
	  echo "==> creating $(VENV) with $$py ($$(command -v $$py))"; \
	  if ! "$$py" -m venv "$(VENV)"; then \
	    rm -rf "$(VENV)"; \
	    echo "error: '$$py -m venv' failed; on Debian/Ubuntu install the venv module: apt-get install python3-venv" >&2; \
	    exit 1; \
	  fi; \
	fi
	@echo "==> installing the project and its test tools into $(VENV)"
	$(VENV_PY) -m pip install -q --upgrade pip
	$(VENV_PY) -m pip install -q -e '.[test]'
	@touch $@

demo: venv
	$(VENV)/bin/clearinghouse demo --out var/demo

test: venv
	@echo "==> $(VENV_PY) -m pytest $(PYTEST_ARGS)"
	@rc=0; $(VENV_PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ -n "$(PYTEST_EXIT_FILE)" ]; then echo "$$rc" > "$(PYTEST_EXIT_FILE)"; fi; \
	exit $$rc

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: venv
	$(VENV_PY) -m bench

# BENCH_AUTH_ARGS='--seconds 20 --workers 3' to change the run (python -m bench.auth --help)
BENCH_AUTH_ARGS ?=
bench-auth: venv
	$(VENV_PY) -m bench.auth $(BENCH_AUTH_ARGS)

clean:
	rm -rf var $(STAMP)

FORCE:
