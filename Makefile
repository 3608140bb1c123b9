# From a fresh clone with Python 3.11+ and make: `make run` runs the product, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT ?= 8000

.PHONY: install run test test-postgres lint format bench mutate

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# The product on the embedded SQLite default: migrate, one real order end to end, then the
# server and a worker until Ctrl-C.
# SITE_URL follows PORT: the links the demo prints and stores (site, status, emails) must name this server.
run: install
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 SITE_URL=http://127.0.0.1:$(PORT) $(PY) manage.py demo --port $(PORT)
	DEBUG=1 SITE_URL=http://127.0.0.1:$(PORT) $(PY) manage.py run_worker & WORKER=$$!; \
	trap 'kill $$WORKER 2>/dev/null; wait $$WORKER 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 SITE_URL=http://127.0.0.1:$(PORT) $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install
	$(PY) -m pytest

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m benchmarks

# Mutation testing of the engine's modules on PostgreSQL, and of the queue on SQLite too (mutation/run.py; not part of CI: ~26 min).
# MUTATE_DATABASE_URL: a database of its own (default postgres://postgres@127.0.0.1:5432/mutate);
# MUTATE_ONLY: mutant globs, e.g. 'orchestration.retry.*'; MUTATE_CHILDREN: parallel mutants (2).
mutate: install
	$(PY) -m mutation.run $(MUTATE_ONLY)
