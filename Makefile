# distillwatch: the two commands are `make demo` and `make test`.
# Both install what they need into ./.venv first (Python >= 3.11 required).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install system-deps demo test test-fast clean help

help:
	@echo "make demo       embedded broker + worker + simulator + live alert view (Ctrl-C stops)"
	@echo "make test       install everything and run the whole test suite"
	@echo "make test-fast  the suite without the integration tests (no broker)"
	@echo "make install    create $(VENV) and install the project with its test and eval extras"
	@echo "make system-deps  apt-install Prometheus, Alertmanager and Chromium for the integration tests"
	@echo "make clean      remove $(VENV) and local state"

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard detectors/*.py detectors/*.pxd)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "distillwatch needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,eval]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/distillwatch demo

system-deps:
	@bash scripts/install-system-deps.sh

test: install system-deps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration"

clean:
	rm -rf $(VENV) .distillwatch-data .pytest_cache build *.egg-info detectors/*.c detectors/*.so detectors/_build.py
