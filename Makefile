# tunesmith: the project's vocabulary. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# GPU=1 installs requirements/gpu.lock: the CPU set plus CUDA for the same `tensorflow`.
KIND := $(if $(GPU),gpu,cpu)
LOCK := requirements/$(KIND).lock
STAMP := $(VENV)/.installed-$(KIND)
# `make lock` runs uv from a venv of its own (never .venv); its version fixes the lock's format
UV_VENV := .venv-lock
UV_VERSION := 0.13.9
UV := $(UV_VENV)/bin/uv
# DVC must never phone home: the only network the project uses is the package registries.
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED := 0
# stage commands in dvc.yaml say `python`: the one in .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help install lock system-deps repro noise benchmark test test-fast lint bench dag compare clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The lock's exact versions, every file checked against its hash; whatever the venv holds beyond
# the lock (the other kind's packages, an old tensorflow-cpu) is uninstalled first, so a CPU venv
# becomes a clean GPU venv with GPU=1 and back. Then tunesmith itself, editable, without deps.
# uv (the pinned one of `make lock`, in .venv-lock) installs the same hashed set as pip would, in
# a fraction of the time (parallel downloads, its own cache, files linked from there); pip stays
# in .venv for tools/sync_venv.py and `pip check`.
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python tools/sync_venv.py $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes --no-deps --compile-bytecode -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m pip check
	rm -f $(VENV)/.installed-*
	touch $@

# uv itself, at the version that fixes the lock's format, from the package registry
$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)

install: $(STAMP) system-deps  ## create .venv and install tunesmith from requirements/cpu.lock (GPU=1: gpu.lock, with CUDA)

# One command after any change to pyproject.toml's dependencies (also after merging branches that
# add some): versions already in a lock are kept where the ranges allow, new ones resolved; one
# universal lock per kind (Linux x86-64 and arm64, macOS, Windows markers), with hashes.
LOCK_FLAGS := --quiet --universal --generate-hashes --python-version 3.11 --extra dev --extra benchmark
lock: | $(UV)  ## rewrite requirements/cpu.lock and gpu.lock from pyproject.toml (uv, in .venv-lock)
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/cpu.lock
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) --extra gpu -o requirements/gpu.lock

# FluidSynth + a General MIDI soundfont (audio), Chromium (the report's browser test), lame (mp3).
# Installed only where missing and apt is usable; without them audio falls back to
# pretty_midi's synthesis and the browser test is skipped, with a note saying so.
SYSTEM_TOOLS := /usr/bin/fluidsynth /usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/bin/chromium /usr/bin/lame
system-deps:  ## install fluidsynth, a GM soundfont, chromium and lame with apt where missing
	@missing=""; for f in $(SYSTEM_TOOLS); do test -e $$f || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages for:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      fluidsynth fluid-soundfont-gm chromium lame >/dev/null) || echo "note: apt-get failed; audio falls back to pretty_midi"; \
	  else echo "note: missing$$missing (no root apt); audio falls back to pretty_midi's synthesis"; fi; \
	fi

# DVC deletes a stage's outputs before its command runs, and a track's name is part of every
# output path (data/raw/<name>): names are checked before DVC reads params.yaml (`..` would be data/)
CHECK_TRACKS = $(BIN)/python -m tunesmith.config.tracks_check

# REPRO_JOBS tracks at a time, each track's chain in a queued experiment's copy of the workspace, then
# the report (tools/repro.py); REPRO_JOBS=1 is plain `dvc repro`. Each train stage uses repro.threads
# threads however many run, so a model does not depend on REPRO_JOBS.
REPRO_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
repro: install  ## run the whole DVC pipeline on the default (bundled) corpora, REPRO_JOBS tracks at a time
	@$(CHECK_TRACKS) params.yaml
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || git init --quiet
	@test -d .dvc || $(BIN)/dvc init --quiet
	$(BIN)/python tools/repro.py --jobs $(REPRO_JOBS)

# noise/dvc.yaml, apart from the default graph: k seeds per track are k times the training time
# NOISE_JOBS seeds train at a time, each in a queued experiment's copy of the workspace (tools/noise.py);
# each seed uses noise.threads threads however many run, so its figures do not depend on NOISE_JOBS.
NOISE_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
noise: install  ## train each track's recipe with every seed of noise.seeds, NOISE_JOBS at a time: data/metrics/<c>/seeds.json (mean, sd, n)
	@$(CHECK_TRACKS) params.yaml
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || git init --quiet
	@test -d .dvc || $(BIN)/dvc init --quiet
	$(BIN)/python tools/noise.py --jobs $(NOISE_JOBS)
	@# publish: the report and compare read data/metrics/<c>/seeds.json, a plain file in git (noise/dvc.yaml says why)
	@for f in data/seeds/*/seeds.json; do c=$$(basename $$(dirname $$f)); cp $$f data/metrics/$$c/seeds.json; \
	  echo "published data/metrics/$$c/seeds.json"; done

# scipy (loadmat), the `benchmark` extra, is in both locks: `install` brings it.
# BL_DIR: the folder holding the four published .mat files (sets fetch.bl_*.local_dir, as a dvc experiment).
# benchmark/ is a DVC project of its own (benchmark/.dvc), so the root's `dvc repro` and `dvc status` never see it.
BL_SETS := bl_nottingham bl_jsb bl_piano bl_musedata
benchmark: install  ## the four polyphonic benchmarks and their table (downloads the pinned .mat files; BL_DIR=/path/to/mdata uses a local copy)
	@$(CHECK_TRACKS) benchmark/params.yaml
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || git init --quiet
	@test -d benchmark/.dvc || (cd benchmark && $(abspath $(BIN))/dvc init --subdir --quiet)
	cd benchmark && $(if $(BL_DIR),$(abspath $(BIN))/dvc exp run bl_table $(foreach b,$(BL_SETS),-S params.yaml:fetch.$(b).source=local -S params.yaml:fetch.$(b).local_dir=$(abspath $(BL_DIR))),$(abspath $(BIN))/dvc repro bl_table)
	@cat benchmark/data/table.md

# pytest-xdist: one worker more than there are cores (many tests wait on the processes they start: DVC's
# queue workers, git, a browser; the extra worker runs meanwhile), each module whole on one worker (its
# module fixtures built once), the longest modules first (tests/conftest.py orders them)
PYTEST_JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST_XDIST := -n $(PYTEST_JOBS) --dist loadfile --no-loadscope-reorder
# Bytecode caches on, whatever the environment says (PYTHONDONTWRITEBYTECODE=1 on the development
# machine and its CI): the suite starts ~100 Python processes, and without the caches each worker
# rewrote every test module's asserts and each stage recompiled tunesmith (pytest 333 s against 357 s,
# 630 CPU-s against 682). __pycache__ is in .gitignore and .dvcignore, so git and DVC never see them.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest
test: install  ## run the test suite (PYTEST_JOBS=0: in one process)
	$(PYTEST) $(PYTEST_XDIST)

test-fast: install  ## the quick subset (about a minute): pytest -m "not slow" (tests/conftest.py marks the slow modules)
	$(PYTEST) $(PYTEST_XDIST) -m "not slow"

lint: install  ## ruff over the code
	$(BIN)/ruff check src stages tests bench tools

bench: install  ## run the benchmarks (prints tables)
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_train_memory.py --vocab-dir data/vocab/essen

# REV reaches the shell as a variable, never as text of the command line: a branch may be named
# `fix;id>pwned;x`, and tunesmith refuses a revision with characters git names do not need
REV ?= main
export REV
compare: install  ## compare with a revision (compare/report.md, index.html): make compare REV=main [FETCH=1]
	$(BIN)/tunesmith compare --rev "$$REV" --out compare $(if $(FETCH),--fetch)

dag: install  ## show the pipeline graph
	$(BIN)/dvc dag

clean-venv:  ## remove .venv (and .venv-lock)
	rm -rf $(VENV) $(UV_VENV)
