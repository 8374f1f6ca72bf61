# Every target creates the virtual environment it needs when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAYER_REQUIREMENTS := $(wildcard layers/*/requirements.txt)
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt $(LAYER_REQUIREMENTS) | cksum | cut -d' ' -f1)

.PHONY: run test proof lint bench openapi schemas clean

$(STAMP): requirements-dev.txt $(LAYER_REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## make run: the whole K2K backend on this machine (moto + API gateway + event pollers) with demo data
run: $(STAMP)
	$(PY) -m infra.localcloud

## make test: template lint, then unit, component, e2e and reliability tests
test: $(STAMP)
	$(VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(PY) -m pytest -q

## make proof: the proof suites at full size (make test runs each small): the tenant and role matrix, fuzzing, the
## stateful order test and the fault matrix (docs/guarantees.md, "The proof suites"); .ci/run runs it after test and lint
proof: $(STAMP)
	$(PY) -m pytest -q -m proof

## make lint: ruff and mypy
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy layers/k2k/python/k2k functions infra

## make bench: DynamoDB request counts and import throughput
bench: $(STAMP)
	$(PY) -m bench

## make openapi / schemas: regenerate the committed API document and event schemas
openapi: $(STAMP)
	$(PY) -m infra.openapi

schemas: $(STAMP)
	$(PY) -m infra.schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
