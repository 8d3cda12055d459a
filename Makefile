# FaceRec: `make run` serves on http://127.0.0.1:8000 (data in ./data); `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install browser run test lint typecheck unit dst lock mutation bench-threshold clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
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

dst: install
	TZ=America/New_York FACEREC_ATTENDANCE__TIMEZONE=America/New_York \
	  $(BIN)/pytest -q -m "not models and not slow and not browser and not shared_data"

# Mutation testing of the core modules (see [tool.mutmut] in pyproject.toml): ~1,550 mutants, 1-2 h on 2 cores.
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc) >/dev/null || true
	$(BIN)/python tests/mutation_report.py

lock: install
	( echo "# Exact versions of every package in the dev environment (pip freeze). Regenerate with \`make lock\`."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e' ) > requirements.lock

bench-threshold: install
	$(BIN)/python bench/lfw_threshold.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
