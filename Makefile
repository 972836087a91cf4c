# adar_pyg set-up. Commands for a fresh machine:
#   make run    creates .venv if missing, installs, runs examples/lightgcn_beauty.py
#   make test   same environment, runs the test suite (pytest-xdist, one
#               worker per core; PYTEST_JOBS=0 runs it serially)
#   make lint   ruff (pyflakes + bugbear, settings in pyproject.toml)
# torch is pinned to the CPU build that sits on this machine's disk (pip finds it
# through its find-links); an unpinned torch could pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# pip flags for torch alone, e.g. --index-url https://download.pytorch.org/whl/cpu
TORCH_FLAGS ?=
WHEELS ?= ../shared/wheels
MIRROR ?= ../shared/datasets
ARGS ?=
PYTEST_ARGS ?= -q
# pytest-xdist workers; loadgroup keeps the tests that share an expensive
# module fixture on one worker (tests/conftest.py groups them).
PYTEST_JOBS ?= auto
PYTEST_XDIST = $(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS) --dist loadgroup,)
RUFF ?= ruff==0.17.6
# Optional accelerators (torch-scatter / torch-sparse): prebuilt wheels when
# present, else compiled from source (10+ minutes each).
FIND_LINKS := $(if $(wildcard $(WHEELS)/*.whl),--find-links $(WHEELS),)
EXTRAS ?= test,sparse
PIP = $(VENV)/bin/python -m pip
comma := ,
STAMP = $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
export ADAR_PYG_MIRROR ?= $(if $(wildcard $(MIRROR)),$(abspath $(MIRROR)),)

.PHONY: install run test test-pure lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q "setuptools>=64" wheel
	$(PIP) install -q $(TORCH_FLAGS) "$(TORCH)"
	$(PIP) install -q --no-build-isolation $(FIND_LINKS) -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

run: install
	$(VENV)/bin/python examples/lightgcn_beauty.py $(ARGS)

test: install
	$(VENV)/bin/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# Needs only the venv and ruff (the pin of pyproject's `lint` extra).
lint: | $(VENV)/bin/python
	@$(VENV)/bin/python -m ruff --version 2>/dev/null | grep -qx "$(subst ==, ,$(RUFF))" \
		|| $(PIP) install -q "$(RUFF)"
	$(VENV)/bin/python -m ruff check .

# The pure-PyTorch path: a second environment without torch-scatter/torch-sparse.
test-pure:
	$(MAKE) test VENV=.venv-pure EXTRAS=test

clean:
	rm -rf .venv .venv-pure *.egg-info .pytest_cache
