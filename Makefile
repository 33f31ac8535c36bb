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

.DEFAULT_GOAL := help
.PHONY: help reproduce data tables test lint clean distclean

##@ Main targets

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

reproduce: tables ## rebuild the raw file, analytic sample and every exhibit

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

##@ EXHIBITS

tables: $(DESCRIPTIVE_TABLES) ## Tables 1-2 and the sample flow

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
