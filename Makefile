# Two commands on a fresh machine: `make demo` and `make test`; `make up` runs the live local stack.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test up topology topology-down install lint bench clean browser
# the browser tests drive Debian's chromium (Playwright's own browser download cannot work here)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pos-sync demo

# the live local stack: sandbox with live sales, linked accounts, the API and dagster dev (Ctrl-C stops it)
up: $(STAMP)
	$(VENV)/bin/pos-sync dev

# Dagster's multi-process deployment on PostgreSQL (code server, daemon, webserver, API: docs/deploy.md);
# the three databases are created on TOPOLOGY_PG when missing. Ctrl-C or `make topology-down` stops it.
TOPOLOGY_PG ?= postgresql://postgres@127.0.0.1:5432
topology: $(STAMP)
	DAGSTER_PG_URL=$${DAGSTER_PG_URL:-$(TOPOLOGY_PG)/pos_dagster} \
	POS_DATABASE_URL=$${POS_DATABASE_URL:-$(TOPOLOGY_PG)/pos_app} \
	POS_WAREHOUSE_URL=$${POS_WAREHOUSE_URL:-$(TOPOLOGY_PG)/pos_warehouse} \
	$(VENV)/bin/pos-sync topology up --create-databases

topology-down: $(STAMP)
	$(VENV)/bin/pos-sync topology down

browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }

# the suite on TEST_WORKERS processes (pytest-xdist; a test file stays on one worker, so its
# module fixtures are built once): most tests wait on a sandbox, a broker or a database. Two, not
# three: on a shared 2-core AMD host three workers took 700, 796, 820 and 875 s against 826 s on
# two, and the fourth run's load let the topology test's kill land after the raw step it aimed at
TEST_WORKERS ?= 2

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .pos-sync .pytest_cache
