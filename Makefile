# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)
# test processes for the spread part of `make test`: more than the 2 cores, since many tests wait on servers
TEST_PROCESSES ?= 3

.PHONY: run simulators lint docs docs-check test test-fast migrate demo bench screenshots requirements translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

# --no-compile: pip would byte-compile every module of every package (half the install's time, most of them never
# imported); a module is compiled when first imported instead, and the tests keep its bytecode (see below)
$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $(VENV)/.runtime $@

instance/dev.env: | $(VENV)/.runtime
	mkdir -p instance
	$(BIN)/python -m receiver.devenv > $@.tmp && mv $@.tmp $@

## make run: the service and its worker on the embedded defaults (SQLite, archives in instance/);
## with `make simulators` running (start it first), processor requests go to the simulators
run: migrate
	@echo "ops console: http://127.0.0.1:8000/ops/ (sign in with the admin token: grep ADMIN_TOKEN instance/dev.env); callbacks: http://127.0.0.1:8000/webhooks/messagebird/personal-data"
	@if [ -f instance/simulators.env ]; then echo "processor requests go to the simulators (instance/simulators.env)"; \
	else echo "processor requests: no provider configured; to send them to the simulators, run \`make simulators\` in another terminal, then this again"; fi
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho --env instance/dev.env$$([ -f instance/simulators.env ] && echo ,instance/simulators.env) --procfile Procfile start --port 8000 web worker

## make simulators: MessageBird's and VoodooSMS's simulators on 127.0.0.1:8081 and :8082, for `make run` (start them first)
simulators: $(VENV)/.dev instance/dev.env
	$(BIN)/python -m simulators.local --instance instance

## make lint: the code's checks (pyproject.toml): ruff's lint and import order, ruff's format, mypy (strict for
## verification/ and deadlines/, the defaults elsewhere) and the layering contracts (import-linter); and the docs site
## built strictly (make docs-check)
lint: $(VENV)/.dev docs-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make docs: the docs site (mkdocs.yml, the pages in docs/) built into site/; `.venv/bin/mkdocs serve` serves it while you edit
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## make docs-check: the docs site built with --strict into a temporary folder, about 2 s: a page left out of the nav
## or a link to a missing page or anchor fails it
docs-check: $(VENV)/.dev
	@site=$$(mktemp -d); NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $$site; status=$$?; rm -rf $$site; exit $$status

# the suite starts hundreds of Python processes (gunicorn, workers, commands): they compile the service's and the
# libraries' modules once into __pycache__ and load them from there, even where the environment asks for no bytecode
test test-fast lint: export PYTHONDONTWRITEBYTECODE :=

## make test: the whole suite and the checks of `make lint` (installs the test tools first): every test but those
## marked timing spread over the cores, the checks running beside them (their output follows the tests'); then,
## when both have passed, the timing tests one at a time (they measure time)
test: $(VENV)/.dev
	@checks_log=$$(mktemp); $(MAKE) --no-print-directory lint > $$checks_log 2>&1 & checks=$$!; \
	$(BIN)/python -m pytest --numprocesses $(TEST_PROCESSES) --dist worksteal -m "not timing"; tests=$$?; \
	wait $$checks; lint=$$?; echo "make lint:"; cat $$checks_log; rm -f $$checks_log; \
	if [ $$lint -ne 0 ]; then echo "make test: the checks of make lint failed (above)"; exit $$lint; fi; \
	exit $$tests
	$(BIN)/python -m pytest -m timing

## make test-fast: the checks of `make lint`, then the suite without the real-process and fault-injection tests (marked slow)
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

migrate: $(VENV)/.runtime instance/dev.env
	$(BIN)/python -m receiver.devenv --complete instance/dev.env
	mkdir -p instance/archives
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho --env instance/dev.env run flask --app wsgi db upgrade

## make demo: the service against the MessageBird and VoodooSMS simulators, in a temporary folder; prints the records
demo: $(VENV)/.dev
	$(BIN)/python -m simulators.demo

## make screenshots: the ops console's main pages and the subject's answer page, from the browser (Debian's chromium), into docs/screenshots/
## (made smaller by pngquant when it is installed: apt-get install pngquant)
screenshots: $(VENV)/.dev
	REQUIRE_SERVICES=1 CONSOLE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/receiver/web/console/test_screenshots.py \
		tests/receiver/answers/test_in_the_browser.py
	@if command -v pngquant >/dev/null 2>&1; then pngquant --force --skip-if-larger --strip --ext .png --quality 70-95 docs/screenshots/*.png || [ $$? -ge 98 ]; else echo "pngquant not installed: the PNGs are left as the browser wrote them"; fi

requirements: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

## make translations: the subject's texts extracted into messages.pot, each language's messages.po compiled to .mo
translations: $(VENV)/.runtime
	$(BIN)/pybabel extract -F receiver/translations/babel.cfg -k N_ -k translate:2 --no-location --sort-output \
		--omit-header -o receiver/translations/messages.pot .
	$(BIN)/pybabel update -i receiver/translations/messages.pot -d receiver/translations -D messages \
		--width 120 --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -d receiver/translations -D messages --statistics

## make bench: every benchmark (about 6 minutes); each prints ratios against a baseline run beside it (the audit
## chain's, absolute times of sealing and verifying)
bench: $(VENV)/.dev
	$(BIN)/python bench/verify_bench.py
	$(BIN)/python bench/archive_bench.py
	$(BIN)/python bench/callback_bench.py
	$(BIN)/python bench/audit_bench.py
	$(BIN)/python bench/request_cost.py

clean:
	rm -rf $(VENV) instance site .pytest_cache .hypothesis .mypy_cache .ruff_cache
