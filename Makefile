# hardtool — two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang clang-format
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install apt demo test test-fast fuzz bench lint format clean

install: $(STAMP) apt

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; install Python 3.11 or run 'make PY=/path/to/python3.11'"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and alone: the CPU build, before anything that depends on it
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

apt:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null || missing="$$missing gcc-arm-none-eabi libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || missing="$$missing qemu-system-arm"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	command -v clang-format >/dev/null || missing="$$missing clang-format"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS); \
	  else echo "note: missing toolchain; run: sudo apt-get install -y $(APT_PKGS)"; fi; \
	fi

demo: install
	$(BIN)/python -m hardtool.demo

test: install
	$(BIN)/python -m pytest -q -x --durations=15 tests; rc=$$?; if [ $$rc = 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

# the inner loop: everything but the long end-to-end tests (marked slow)
test-fast: install
	$(BIN)/python -m pytest -q -x -m "not slow" --durations=15 tests; rc=$$?; if [ $$rc = 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

# the full structure-aware fuzz (tests/test_fuzz_graph.py): 1,000 mutants through memplan, 200
# through codegen into host programs built with AddressSanitizer + UBSan and run; `make test` runs a slice
fuzz: install
	HARDTOOL_FUZZ_MEMPLAN=1000 HARDTOOL_FUZZ_CODEGEN=200 $(BIN)/python -m pytest -q -x -s tests/test_fuzz_graph.py

bench: install
	$(BIN)/python -m bench

C_SOURCES = $(shell find firmware tests -name '*.[ch]')

lint: install
	$(BIN)/ruff check hardtool tests bench
	$(BIN)/ruff format --check hardtool tests bench
	clang-format --dry-run --Werror $(C_SOURCES)

format: install
	$(BIN)/ruff format hardtool tests bench
	clang-format -i $(C_SOURCES)

clean:
	rm -rf build .pytest_cache
