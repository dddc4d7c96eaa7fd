# The two commands of the README:
#   make course   set up, then open the course in JupyterLab
#   make test     set up, then run every test (unit, notebooks, book build, benchmark smoke test)
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# CPU build of torch from this machine's disk; elsewhere set TORCH_SPEC to the build you want.
TORCH_SPEC ?= torch==2.13.0
export SNNKIT_DATA ?= $(abspath ../shared/data)

.PHONY: setup course test book clean

$(BIN)/snnkit: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps spikingjelly==0.0.0.0.14
	touch $@

setup: $(BIN)/snnkit

# root (containers, hosted images) must say so to Jupyter explicitly
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)

# Debian's Chromium for the browser test (playwright drives it; it downloads no browser)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

course: setup
	$(BIN)/jupyter lab $(ROOT_FLAG) book/

test: setup $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/snnkit toc --check
	$(BIN)/python -m pytest -n 2 -q
	$(BIN)/snnkit book --executed build/executed

book: setup
	$(BIN)/snnkit book

clean:
	rm -rf build book/_build outputs runs
