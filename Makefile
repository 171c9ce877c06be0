# Two entry points: `make demo` and `make test`. Both create .venv, install the package with
# its extras (the build hook bundles js/ into cave_widgets/static/), then do their one job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUNDLE := cave_widgets/static/index.js
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: demo test test-fast lint serve clean

$(STAMP): pyproject.toml js/package.json js/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "cave_widgets needs Python 3.10 or newer ($(PYTHON) is older); set PYTHON=..."; exit 1; }
	@command -v npm >/dev/null || { echo "Node.js and npm are needed to bundle the front end"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Rebundle when front-end sources change after the install (the editable install keeps
# whatever bundle it built). Every file under js/src counts, in whatever subfolder.
$(BUNDLE): $(shell find js/src -type f) | $(STAMP)
	cd js && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

demo: $(STAMP) $(BUNDLE)
	$(BIN)/cave-widgets build-demo --scale default
	CAVE_WIDGETS_DEMO_SCALE=default $(BIN)/jupyter lab $(ROOT_FLAG) notebooks/quickstart.ipynb

test: $(STAMP) $(BUNDLE) lint
	$(BIN)/python -m pytest

# The unit tier: no server, no browser; seconds. Run it while you work.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check .

serve: $(STAMP) $(BUNDLE)
	$(BIN)/cave-widgets serve --demo

clean:
	rm -rf $(VENV) js/node_modules $(BUNDLE) build dist
