# tunesmith: the project's vocabulary. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# GPU=1 installs tensorflow[and-cuda] instead of tensorflow-cpu.
EXTRAS := $(if $(GPU),gpu,cpu),dev
STAMP := $(VENV)/.installed-$(if $(GPU),gpu,cpu)
# DVC must never phone home: the only network the project uses is the package registries.
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED := 0
# stage commands in dvc.yaml say `python`: the one in .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help install repro test lint bench dag clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)  ## create .venv and install tunesmith with its pinned dependencies (GPU=1 for CUDA)

repro: install  ## run the whole DVC pipeline on the default (bundled) corpora
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || git init --quiet
	@test -d .dvc || $(BIN)/dvc init --quiet
	$(BIN)/dvc repro

test: install  ## run the test suite
	$(BIN)/python -m pytest

lint: install  ## ruff over the code
	$(BIN)/ruff check src stages tests bench

bench: install  ## run the benchmarks (prints tables)
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_train_memory.py --vocab-dir data/vocab/essen

dag: install  ## show the pipeline graph
	$(BIN)/dvc dag

clean-venv:  ## remove .venv
	rm -rf $(VENV)
