# Replication pipeline for Wang, Liang, Zhang, Hou (2022) BMJ Open 12:e060551.
# `make reproduce` rebuilds every exhibit from the seed; `make test` runs the checks.
# Both create (or reuse) the virtual environment in .venv first.

SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SEED   ?= 20140501

RAW      := data/raw/cmds2014_synthetic.dta
ANALYTIC := data/derived/analytic.parquet
TABLES   := outputs/tables
FLOW     := $(TABLES)/sample_flow.csv
DESCRIPTIVE_TABLES := $(TABLES)/table1.csv $(TABLES)/table2.csv
CELLS    := outputs/estimates/paper_cells.csv
MODEL_TABLES := $(TABLES)/table3.csv $(TABLES)/table4.csv
FIGURES  := $(addprefix outputs/figures/,$(addsuffix .png,figure1_noreimb_reasons \
              figure2_hometown_by_scope figure_forest_published_vs_replicated))
REPORT   := outputs/replication_report.md

.DEFAULT_GOAL := help
.PHONY: help reproduce data estimates tables figures report test lint clean distclean

##@ Main targets

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

reproduce: tables figures report ## rebuild the raw file, samples, estimates, exhibits

test: $(VENV)/.installed ## run the test suite (tests/)
	$(PY) -m pytest -q -n 2 --dist loadfile

##@ DATA

data: $(ANALYTIC) ## the synthetic raw survey and the analytic sample

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

$(RAW): $(VENV)/.installed $(wildcard analysis/synth/*.py) data/codebook/variables.csv \
        data/codebook/value_labels.csv $(wildcard data/published/*.csv)
	$(PY) -m analysis generate --seed $(SEED) --out $@

$(ANALYTIC) $(FLOW) &: $(RAW) analysis/clean.py analysis/validate.py analysis/flow.py \
        $(wildcard data/codebook/*.csv)
	$(PY) -m analysis clean --raw $(RAW)

##@ MODELS

estimates: $(CELLS) ## fit the two-part models of Tables 3-4

$(CELLS) &: $(ANALYTIC) analysis/estimates.py analysis/specs.py \
        $(wildcard analysis/twopart/*.py)
	$(PY) -m analysis estimate

##@ EXHIBITS

tables: $(DESCRIPTIVE_TABLES) $(MODEL_TABLES) ## Tables 1-4 and the sample flow

figures: $(FIGURES) ## Figures 1-2 and the forest plot

report: $(REPORT) ## the published-versus-replicated report

$(MODEL_TABLES) $(FIGURES) &: $(CELLS) $(ANALYTIC) analysis/tables.py analysis/figures.py
	$(PY) -m analysis exhibits

$(REPORT) &: $(CELLS) $(DESCRIPTIVE_TABLES) $(MODEL_TABLES) analysis/report.py \
        data/published/inconsistencies.csv
	$(PY) -m analysis report

$(DESCRIPTIVE_TABLES) &: $(ANALYTIC) analysis/descriptives.py analysis/render.py \
        analysis/stat_tests.py
	$(PY) -m analysis describe

##@ CHECKS

lint: $(VENV)/.installed ## ruff on the package
	$(VENV)/bin/ruff check analysis tests bench

##@ CLEAN

clean: ## remove generated data and outputs (keeps the environment)
	rm -rf data/raw/*.dta data/derived/*.parquet outputs/figures outputs/estimates \
	  outputs/logs

distclean: clean ## also remove the virtual environment
	rm -rf $(VENV)
