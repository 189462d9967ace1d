# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-fast migrate demo bench requirements clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $(VENV)/.runtime $@

instance/dev.env: | $(VENV)/.runtime
	mkdir -p instance
	$(BIN)/python -m receiver.devenv > $@.tmp && mv $@.tmp $@

## make run: the service and its worker on the embedded defaults (SQLite, archives in instance/)
run: migrate
	@echo "admin token: grep ADMIN_TOKEN instance/dev.env; callbacks: http://127.0.0.1:8000/webhooks/messagebird/personal-data"
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho --env instance/dev.env --procfile Procfile start --port 8000 web worker

## make test: the layering contracts (import-linter), then the whole suite (installs the test tools first):
## every test but the fault-injection ones spread over the cores, then those one at a time (they measure time)
test: $(VENV)/.dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --numprocesses auto --ignore tests/faults
	$(BIN)/python -m pytest tests/faults

## make test-fast: the suite without the real-process and fault-injection tests (marked slow)
test-fast: $(VENV)/.dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not slow"

migrate: $(VENV)/.runtime instance/dev.env
	mkdir -p instance/archives
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho --env instance/dev.env run flask --app wsgi db upgrade

## make demo: the service against the MessageBird and VoodooSMS simulators, in a temporary folder; prints the records
demo: $(VENV)/.dev
	$(BIN)/python -m simulators.demo

requirements: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

## make bench: every benchmark (about 5 minutes); each prints ratios against a baseline run beside it
bench: $(VENV)/.dev
	$(BIN)/python bench/verify_bench.py
	$(BIN)/python bench/archive_bench.py
	$(BIN)/python bench/callback_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
