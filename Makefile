# Two commands set everything up on a fresh Debian machine with Python 3.11:
#   make demo   end-to-end on the real Pose2Sim sample capture (fetched from PyPI), outputs in demo_out/
#   make test   lint (ruff, import-linter's layer contract) + tests (pytest)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lift3d-installed
# Debian packages lift3d needs at run time: libusb (import open3d), libGL (OpenCV), EGL + Mesa's software
# driver for Open3D's headless rendering (Visualizer(visible=False) falls back to an EGL offscreen context).
DEB_PACKAGES := libusb-1.0-0 libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri libgomp1

.PHONY: demo test lint pytest system-deps clean

demo: $(STAMP)
	$(BIN)/lift3d demo --out demo_out

test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check lift3d tests benchmarks experiments
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

$(STAMP): pyproject.toml | system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[test,video]'
	@touch $@

# Installs the missing Debian libraries when root; otherwise stops with the exact command to run.
system-deps:
	@missing=""; \
	for pkg in $(DEB_PACKAGES); do \
	  dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "lift3d needs Debian packages:$$missing. Run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
