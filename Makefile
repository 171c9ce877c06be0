# Two entry points: `make demo` and `make test`. Both create .venv, install the package with
# its extras (the front end is bundled by the build hook), then do their one job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test serve clean

$(STAMP): pyproject.toml js/package.json js/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "cave_widgets needs Python 3.10 or newer ($(PYTHON) is older); set PYTHON=..."; exit 1; }
	@command -v npm >/dev/null || { echo "Node.js and npm are needed to bundle the front end"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/cave-widgets build-demo --scale default
	CAVE_WIDGETS_DEMO_SCALE=default $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/quickstart.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/cave-widgets serve --demo

clean:
	rm -rf $(VENV) js/node_modules cave_widgets/static/*.js build dist
