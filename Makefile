# Replication pipeline for Wang, Liang, Zhang, Hou (2022) BMJ Open 12:e060551.
# `make reproduce` rebuilds every exhibit from the seed; `make test` runs the checks.
# Both create (or reuse) the virtual environment in .venv first.
# With real microdata: `make reproduce DATA=/path/to/cmds2014.dta [CODEBOOK=dir]
# [MIN_CELL=10] [ENCODING=gb18030]` writes everything under real/ (git-ignored) instead
# of data/ and outputs/, with disclosure control (docs/real_data.md).
# Runs are keyed on content, not dates: `python -m analysis stamp` hashes the raw file,
# the codebook folder and the parameters before every build and rewrites
# $(RUN)/outputs/logs/inputs.stamp only when they changed; the clean stage depends on
# it. DATA and CODEBOOK reach the recipes through the environment (quoted), never as
# prerequisite names, so paths with spaces or non-ASCII characters work.

SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MASTER_SEED := 20140501
SEED   ?= $(MASTER_SEED)
CODEBOOK ?= data/codebook
MIN_CELL ?= 10
ENCODING ?=
STRICT   ?=

ifdef DATA
  RUN  := real
  RAW  := $(DATA)
  RAW_PREREQ :=
  MODE := --real --min-cell $(MIN_CELL)
  DISCLOSURE_SRC := analysis/disclosure.py
  CLEAR := --clear-on-change
else ifneq ($(SEED),$(MASTER_SEED))
  # another synthetic draw: generated and analysed under runs/ (git-ignored)
  RUN  := runs/seed-$(SEED)
  RAW  := $(RUN)/data/raw/cmds2014_synthetic.dta
  RAW_PREREQ := $(RAW)
  MODE :=
  CLEAR := --clear-on-change
else
  # the provided synthetic survey (committed, checksummed in data/raw/SHA256SUMS)
  RUN  := .
  RAW  := data/raw/cmds2014_synthetic.dta
  RAW_PREREQ := $(RAW)
  MODE :=
  CLEAR :=
endif
CLI := $(PY) -m analysis --root $(RUN)
export REPLICATION_RAW := $(RAW)
export REPLICATION_CODEBOOK := $(CODEBOOK)
export REPLICATION_ENCODING := $(ENCODING)
STAMP := $(RUN)/outputs/logs/inputs.stamp

ANALYTIC := $(RUN)/data/derived/analytic.parquet
TABLES   := $(RUN)/outputs/tables
FLOW     := $(TABLES)/sample_flow.csv
DESCRIPTIVE_TABLES := $(TABLES)/table1.csv $(TABLES)/table2.csv
CELLS    := $(RUN)/outputs/estimates/paper_cells.csv
MODEL_TABLES := $(TABLES)/table3.csv $(TABLES)/table4.csv \
        $(foreach t,table3 table4,$(TABLES)/$(t).md $(TABLES)/$(t).tex) \
        $(TABLES)/table_combined_margins.csv $(TABLES)/table_combined_margins.md
FIGURES  := $(addprefix $(RUN)/outputs/figures/,$(addsuffix .png,figure1_noreimb_reasons \
              figure2_hometown_by_scope figure_forest_published_vs_replicated))
BEYOND   := $(TABLES)/counterfactuals.csv $(TABLES)/robustness_table3.csv \
            $(addprefix $(TABLES)/diagnostics_,$(addsuffix .csv,probit amount ratio))
REPORT   := $(RUN)/outputs/replication_report.md

COMMON_SRC := $(wildcard analysis/*.py) data/codebook/levels.csv $(DISCLOSURE_SRC)
CLEAN_SRC  := $(wildcard analysis/cleaning/*.py)
# Every stage after cleaning reruns when any module it could import changes: a stale
# output is worse than a rerun of a few seconds.
STAGE_SRC  := $(COMMON_SRC) $(CLEAN_SRC) $(wildcard analysis/paper/*.py \
              analysis/exhibits/*.py analysis/beyond/*.py analysis/inference/*.py \
              analysis/inference/bootstrap/*.py analysis/twopart/*.py)

.DEFAULT_GOAL := help
.PHONY: help reproduce synthetic data estimates tables figures beyond report bootstrap \
        montecarlo conventions test lint clean distclean FORCE

##@ Main targets

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

reproduce: tables figures beyond report ## rebuild data, estimates and every exhibit
	@$(CLI) summary $(if $(STRICT),--strict)

test: $(VENV)/.installed ## lint, then the test suite (LAYER=unit|recovery|reference|pipeline: one layer)
	$(VENV)/bin/ruff check analysis tests bench
	$(VENV)/bin/ruff format --check analysis tests bench
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder $(if $(LAYER),-m $(LAYER))

##@ DATA

data: $(ANALYTIC) ## the raw survey and the analytic sample

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

ifndef DATA
ifneq ($(SEED),$(MASTER_SEED))
$(RAW): $(VENV)/.installed $(wildcard analysis/synth/*.py analysis/synth/*/*.py) $(COMMON_SRC) \
        data/codebook/variables.csv data/codebook/value_labels.csv \
        analysis/paper/published.py $(wildcard data/published/*.csv)
	$(CLI) generate --seed $(SEED) --out $@
endif
endif

REGENERATED := data/derived/cmds2014_synthetic_regenerated.dta

synthetic: $(VENV)/.installed ## regenerate the provided survey from MASTER_SEED and compare
	$(PY) -m analysis generate --seed $(MASTER_SEED) --out $(REGENERATED)
	$(PY) -m analysis compare-raw data/raw/cmds2014_synthetic.dta $(REGENERATED)

# The stamp recipe runs on every build (FORCE) but touches the stamp only when the raw
# file, the codebook folder, MIN_CELL, SEED or ENCODING changed in content.
$(STAMP): FORCE $(RAW_PREREQ) | $(VENV)/.installed
	@$(CLI) stamp --raw "$$REPLICATION_RAW" --codebook "$$REPLICATION_CODEBOOK" \
	  --param seed=$(SEED) --param encoding="$$REPLICATION_ENCODING" \
	  --param mode="$(MODE)" $(CLEAR)

FORCE:

$(ANALYTIC) $(FLOW) &: $(VENV)/.installed $(STAMP) $(CLEAN_SRC) $(COMMON_SRC)
	$(CLI) clean --raw "$$REPLICATION_RAW" --codebook "$$REPLICATION_CODEBOOK" \
	  --encoding "$$REPLICATION_ENCODING" $(MODE)

##@ MODELS

estimates: $(CELLS) ## fit the two-part models of Tables 3-4

$(CELLS) &: $(ANALYTIC) $(STAGE_SRC)
	$(CLI) estimate

REPS    ?= 999
WORKERS ?= 1
# SCHEDULER=tcp://host:8786 runs bootstrap and montecarlo on a dask.distributed cluster
SCHEDULER ?=
ON_CLUSTER = $(if $(SCHEDULER),--scheduler $(SCHEDULER))

bootstrap: $(ANALYTIC) ## bootstrap SEs/CIs of every Table 3-4 quantity (REPS=, WORKERS=, SCHEDULER=)
	$(CLI) bootstrap --reps $(REPS) --workers $(WORKERS) $(ON_CLUSTER) $(MODE)
	$(CLI) bootstrap --reps $(REPS) --workers $(WORKERS) --cluster $(ON_CLUSTER) $(MODE)

montecarlo: $(ANALYTIC) ## bias and 95% CI coverage at N = 1,165 by simulation (WORKERS=, SCHEDULER=)
	$(CLI) montecarlo --workers $(WORKERS) $(ON_CLUSTER) $(MODE)

CONV_REPS ?= 19

# Not part of `reproduce`: which SE/AME reading reproduces Tables 3-4 (docs/se_gap.md).
conventions: $(ANALYTIC) ## rank SE/AME readings against Tables 3-4 (CONV_REPS=)
	$(CLI) conventions --reps $(CONV_REPS) --raw "$$REPLICATION_RAW" \
	  --codebook "$$REPLICATION_CODEBOOK" --encoding "$$REPLICATION_ENCODING" $(MODE)

##@ EXHIBITS

tables: $(DESCRIPTIVE_TABLES) $(MODEL_TABLES) ## Tables 1-4 and the sample flow

figures: $(FIGURES) ## Figures 1-2 and the forest plot

beyond: $(BEYOND) ## specification checks, robustness, policy counterfactuals

report: $(REPORT) ## the published-versus-replicated report

$(DESCRIPTIVE_TABLES) &: $(ANALYTIC) $(STAGE_SRC)
	$(CLI) describe $(MODE)

$(MODEL_TABLES) $(FIGURES) &: $(CELLS) $(ANALYTIC) $(STAGE_SRC)
	$(CLI) exhibits $(MODE)

$(BEYOND) &: $(ANALYTIC) $(STAGE_SRC) data/published/table3.csv data/published/table4.csv
	$(CLI) beyond $(MODE)

$(REPORT) &: $(CELLS) $(DESCRIPTIVE_TABLES) $(MODEL_TABLES) $(BEYOND) $(STAGE_SRC) \
        data/published/inconsistencies.csv
	$(CLI) report $(MODE)

##@ CHECKS

lint: $(VENV)/.installed ## ruff (rules and formatting) on the package and tests
	$(VENV)/bin/ruff check analysis tests bench
	$(VENV)/bin/ruff format --check analysis tests bench

##@ CLEAN

clean: ## remove derived data and outputs of the synthetic run (keeps the venv and the provided survey)
	rm -rf data/derived/*.parquet data/derived/*.dta outputs/figures outputs/estimates \
	  outputs/logs runs

distclean: clean ## also remove the virtual environment and real-data outputs
	rm -rf $(VENV) real
