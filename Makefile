# The Cloud: `make run` and `make test` are the two commands; the rest are for developers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMPS  := .stamps
WHEELS  := build/wheels
NATIVE_SOURCES := $(shell find native/crates native/python -type f -not -path '*/target/*' 2>/dev/null) \
                  native/Cargo.toml native/Cargo.lock native/pyproject.toml
# The top-level __init__.py files: the editable install maps each top-level package, so a new
# one (thecloud.sdk, ...) needs the install to run again.
EXT_SOURCES    := setup.py pyproject.toml $(shell find dataplane -name '*.pyx' -o -name '*.pxd' -o -name '*.h') \
                  $(shell find native/ec -type f) native/bpf/fw_maps.h \
                  $(wildcard native/bpf/sys/*.[ch] native/bpf/sys/*.py) \
                  $(wildcard core/thecloud/*/__init__.py dataplane/thecloud/*/__init__.py control/thecloud/*/__init__.py)
PYTEST  := $(PY) -m pytest -p no:cacheprovider

.PHONY: help run test lint bench bootstrap system unit integration native-test clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: bootstrap ## Install what is missing, then serve the control plane on 127.0.0.1
	$(VENV)/bin/thecloud serve

test: bootstrap lint native-test unit integration ## Bootstrap, lint, then every test tier

bootstrap: system $(STAMPS)/venv $(STAMPS)/native $(STAMPS)/ext ## Install everything missing (idempotent)

system: ## Debian packages (a quick no-op when all are installed)
	@bash scripts/bootstrap-system.sh
	@bash scripts/bootstrap-host.sh

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=69" wheel
	$(PY) -m pip install -q "Cython>=3.0" "maturin>=1.5,<2"
	@mkdir -p build
	$(PY) scripts/project_dependencies.py > build/requirements.txt
	$(PY) -m pip install -q -r build/requirements.txt
	touch $@

$(STAMPS)/native: $(STAMPS)/venv $(NATIVE_SOURCES)
	rm -rf $(WHEELS)
	cd native && ../$(VENV)/bin/maturin build --release -q -o ../$(WHEELS)
	$(PY) -m pip install -q --force-reinstall --no-deps $(WHEELS)/thecloud_native-*.whl
	touch $@

$(STAMPS)/ext: $(STAMPS)/native $(EXT_SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

lint: bootstrap ## ruff, mypy, stubtest against the built modules, cargo fmt and clippy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	MYPYPATH=native/python:dataplane $(PY) -m mypy.stubtest --mypy-config-file pyproject.toml \
	    thecloud._native thecloud.dataplane.metrics._hot thecloud.dataplane.ec._ec_cffi \
	    thecloud.dataplane.bpf._bpf_cffi thecloud.dataplane.bpf._compile
	cd native && cargo fmt --check && cargo clippy --release --all-targets -q -- -D warnings

native-test: bootstrap ## Rust tests, and the C codec's tests under AddressSanitizer
	cd native && cargo test --release -q
	@mkdir -p build
	cc -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -Wall -Wextra -Werror \
	    -Inative/ec/include -Inative/ec/src native/ec/src/*.c native/ec/tests/test_ec.c \
	    -o build/test_ec_asan
	build/test_ec_asan

unit: bootstrap ## Tests that need no root and no daemons
	$(PYTEST) -m "not integration"

integration: bootstrap ## Tests against real components (root: kernel, daemons, sockets)
	$(PYTEST) -m integration

bench: bootstrap ## Every benchmark against its anchors (python -m bench NAME for one)
	$(PY) -m bench all

clean: ## Remove build outputs (keeps the virtual environment)
	rm -rf $(STAMPS) build native/target
