# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench install lint typecheck format test unit check integration e2e demo sim clean tools infra-check checkov browser exiftool

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Three lanes (times in README's "Tests and benchmarks"). `make unit`: pure logic only, in
# seconds; no unit test uses schemathesis, hypothesis or anyio, so their pytest plugins stay unloaded.
UNIT_PLUGINS := -p no:schemathesis -p no:hypothesispytest -p no:anyio
unit: install
	$(BIN)/pytest -q $(UNIT_PLUGINS) tests/unit

# Before each commit: lint, types, unit and integration tests without the ones marked slow or
# local_stack (pyproject.toml's markers), in a few minutes. `make test` is what CI runs: everything.
check: lint typecheck
	$(BIN)/pytest -q tests/unit tests/integration -m "not slow and not local_stack"

integration: install
	$(BIN)/pytest tests/integration

e2e: install browser
	$(BIN)/pytest tests/e2e

test: lint typecheck tools checkov browser exiftool
	$(BIN)/pytest

demo: install
	$(BIN)/studio demo

sim: install
	$(BIN)/studio-sim --port 8787

# Headless Chromium for the gallery and review tests (tests/e2e/test_gallery.py, test_review.py):
# Debian's own package, never a browser download (Playwright drives it: no `playwright install`). Installed when missing (apt-get needs root, as on CI); the test finds it at
# /usr/bin/chromium and keeps a screenshot at tests/artifacts/gallery.png.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "make browser: $(CHROMIUM) is still missing: apt-get install chromium (as root)"; exit 1; }

# Debian's exiftool: an independent reader of the IPTC label published images carry
# (tests/unit/test_xmp.py). Installed when missing, like chromium.
exiftool:
	@command -v exiftool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl; }
	@command -v exiftool >/dev/null || { echo "make exiftool: still missing: apt-get install libimage-exiftool-perl (as root)"; exit 1; }

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache demo-output .local-stack tests/artifacts

# Infrastructure tools live in their own venvs: aws-sam-cli pins boto3 exactly and checkov
# downgrades it, so neither may share the project's .venv.
TOOLS_VENV := .venv-tools
TOOLS_BIN := $(TOOLS_VENV)/bin
TOOLS_STAMP := $(TOOLS_VENV)/.installed
CHECKOV_VENV := .venv-checkov
PY313_BIN = $(shell pyenv prefix 3.13.0 2>/dev/null)/bin

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_BIN)/pip install --quiet --upgrade pip
	$(TOOLS_BIN)/pip install --quiet 'aws-sam-cli>=1.170,<2' 'cfn-lint>=1.58,<2' 'statelint>=3.1,<4'
	touch $(TOOLS_STAMP)

# The layer's wheels (for the build host and for arm64), so that infra-check builds offline.
WHEELHOUSE_STAMP := $(TOOLS_VENV)/wheelhouse/.requirements.sha256
$(WHEELHOUSE_STAMP): layers/common/requirements.txt $(TOOLS_STAMP)
	TOOLS_BIN=$(TOOLS_BIN) PY313_BIN=$(PY313_BIN) bash tools/infra_check.sh wheelhouse

tools: $(TOOLS_STAMP) $(WHEELHOUSE_STAMP)

# Offline checks of template.yaml and the ASL: SAM's validator with cfn-lint, a no-Docker
# `sam build` with python3.13 from pyenv, plain cfn-lint, statelint on the substituted ASL.
infra-check:
	TOOLS_BIN=$(TOOLS_BIN) PY313_BIN=$(PY313_BIN) bash tools/infra_check.sh

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.3.30,<4'
	touch $(CHECKOV_VENV)/.installed

# Security scan of template.yaml, run by `make test`; any failed check fails it. No check is
# skipped here: a check that does not fit is skipped in its resource's Metadata, with the reason.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

bench: install
	$(BIN)/python bench/polling.py > /dev/null
	$(BIN)/python bench/finalize.py > /dev/null
	$(BIN)/python bench/coldstart.py > /dev/null
	$(BIN)/python bench/layer_bytecode.py > /dev/null
	$(BIN)/python bench/work_per_product.py > /dev/null
	$(BIN)/python bench/reliability.py > /dev/null
	$(BIN)/python bench/hostile.py > /dev/null
	$(BIN)/python bench/feed_sync.py --record > /dev/null
	$(BIN)/python bench/load.py --products 1000 --rate 5 --record > /dev/null
	$(BIN)/python bench/load.py --catalogue 10000 --rate 5 --until started --timeout 2100 --record > /dev/null
	@echo "results in bench/results/"
