# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make demo   create .venv, install, align a generated population with the LEAD policy
#   make test   install the dev tools, run ruff, mypy --strict, pytest and the policy tests
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
N ?= 10000

.PHONY: demo test install install-dev lint typecheck pytest policy-tests clean chromium

$(BIN)/python:
	@test -n "$(PYTHON)" || (echo "lead-rules needs Python 3.11 or newer on PATH" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

# Spark tests run in local mode; they need pyspark and a Java runtime (17+).
$(VENV)/.installed-spark: pyproject.toml | $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing a Java runtime for the Spark tests"; \
	  (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
	  || echo "no Java runtime could be installed: the Spark tests will be skipped" >&2; }
	touch $@

# The report test renders the HTML audit report in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium for the report test"; \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "Chromium could not be installed: the browser test of the report will be skipped" >&2; }

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/lead-rules demo --n $(N)
	$(BIN)/python -m lead_rules.cli.demo_kinds

lint: install-dev
	$(BIN)/ruff check lead_rules tests $(wildcard benchmarks)

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev $(VENV)/.installed-spark chromium
	$(BIN)/python -m pytest -q

policy-tests: install-dev
	$(BIN)/lead-rules test policies/ --min-coverage 100
	$(BIN)/lead-rules fmt --check policies/

test: lint typecheck pytest policy-tests

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-output
