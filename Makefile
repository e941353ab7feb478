# bluegreen: make synth, make test. Everything installs itself into .venv (and node_modules for
# the cdktf CLI used by deploy/diff) from pinned files on first use.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := cdktf.out
# One environment (a config/<ENV>.yaml name), or empty for all of them.
ENV    ?=
ENV_ARG = $(if $(ENV),--env $(ENV))
# One service of ENV (a key of its services:), for the tools that act on one; empty: its only one.
SERVICE ?=
SERVICE_ARG = $(if $(SERVICE),--service $(SERVICE))
# cdktf CLI from node_modules, running `python main.py` with the venv's python.
CDKTF  = PATH="$(CURDIR)/$(BIN):$$PATH" BLUEGREEN_ENV=$(ENV) node_modules/.bin/cdktf

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: preflight diff-json snapshot docs diagram bootstrap bench validate plan-local timeline rollback help venv venv-dev pin-images synth check-config test test-fast checkov lint format diff deploy lock clean distclean require-env

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# ---- Python: two hashed locks, one .venv ----
# requirements/synth.txt holds what synthesis and the operator commands need; requirements/dev.txt
# that plus the test, lint and gate tools, pinning every package the two share identically (tests
# check). Each stamp is named after the sha256 of its lock's requirements (comment lines aside), so
# a lock that changed (edited, pulled, another branch checked out) is never taken for installed,
# whatever the files' times say, and a change to comments alone reinstalls nothing.
SYNTH_LOCK  := requirements/synth.txt
DEV_LOCK    := requirements/dev.txt
lock_id      = $(firstword $(shell $(PYTHON) -c 'import hashlib, re, sys; text = re.sub(r"(?m)^\s*\#.*\n", "", open(sys.argv[1]).read()); print(hashlib.sha256(text.encode()).hexdigest()[:16])' $(1) 2>/dev/null) missing)
SYNTH_STAMP := $(VENV)/.synth-$(call lock_id,$(SYNTH_LOCK))
DEV_STAMP   := $(VENV)/.dev-$(call lock_id,$(DEV_LOCK))
STAMPS      := $(wildcard $(VENV)/.synth-* $(VENV)/.dev-*)
# A venv holding exactly the current synthesis set gets the dev set added on top (it only adds
# packages); any other venv is rebuilt, so nothing from an older lock lingers in it.
ADD_TO_SYNTH := $(if $(filter-out $(SYNTH_STAMP),$(STAMPS)),,$(filter $(SYNTH_STAMP),$(STAMPS)))
# Wheels only, each checked against its lock's sha256; --no-deps because each lock is complete (pip
# check proves it after every install). The locks pin pip itself.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps --only-binary :all:

# Python 3.11's venv seeds setuptools from the interpreter; nothing here needs it at run time, so it
# goes, and the venv holds exactly its lock (pip, which the locks pin, upgrades itself on install).
define fresh_venv
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is not Python 3.11"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip uninstall --quiet --yes setuptools
endef

$(SYNTH_STAMP):
	$(fresh_venv)
	$(PIP_INSTALL) -r $(SYNTH_LOCK)
	$(BIN)/python -m pip check
	@touch $@

$(DEV_STAMP):
	$(if $(ADD_TO_SYNTH),,$(fresh_venv))
	$(PIP_INSTALL) -r $(DEV_LOCK)
	$(BIN)/python -m pip check
	@touch $(SYNTH_STAMP) $@

# The current dev set holds the synthesis set (tests check), so it serves synthesis too.
venv: $(if $(wildcard $(DEV_STAMP)),$(DEV_STAMP),$(SYNTH_STAMP)) ## create or update .venv with the synthesis set (requirements/synth.txt)

venv-dev: $(DEV_STAMP) ## create or update .venv with the development set (requirements/dev.txt)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

synth: venv ## synthesize every environment (or ENV=name) into cdktf.out/
	$(BIN)/python main.py $(ENV_ARG) --outdir $(OUT)

check-config: venv ## validate configs only (fast, no synthesis)
	$(BIN)/python main.py $(ENV_ARG) --check

test: venv-dev ## the whole test suite, checkov gate included (what CI runs)
	$(BIN)/python -m pytest

test-fast: venv-dev ## the suite without the slow external-tool tests
	$(BIN)/python -m pytest -m "not slow"

validate: venv ## terraform validate every environment offline (provider from the local mirror)
	$(BIN)/python -m tools.harness.terraform_offline validate $(ENV_ARG)

plan-local: venv ## terraform plan every environment offline, with dummy credentials (no AWS called)
	$(BIN)/python -m tools.harness.terraform_offline plan $(ENV_ARG)

timeline: require-env ## the phases of one release and their worst-case durations, from the synthesized ENV (SERVICE=key)
	$(MAKE) --no-print-directory synth ENV=$(ENV) > /dev/null
	$(BIN)/python -m tools.timeline $(SERVICE_ARG) $(OUT)/stacks/$$($(BIN)/python main.py --env $(ENV) --list-stacks)/cdk.tf.json

preflight: venv require-env ## plan ENV and refuse what AWS refuses mid-apply or what loses data (AWS credentials; ARGS=--offline)
	$(BIN)/python -m tools.preflight --env $(ENV) $(ARGS)

rollback: venv require-env ## stop SERVICE's in-flight deployment with rollback, or redeploy its previous revision (AWS credentials)
	$(BIN)/python -m tools.rollback --env $(ENV) $(SERVICE_ARG) $(ARGS)

checkov: venv-dev ## synthesize, then run the checkov gate over the stacks (fails if checkov cannot read one)
	$(BIN)/python main.py $(ENV_ARG) --outdir $(OUT)
	$(BIN)/python -m tools.checkov_gate $(OUT)/stacks

docs: venv ## regenerate config/schema.json (editor validation) and docs/configuration.md
	$(BIN)/python -m tools.docs

diagram: ## regenerate docs/architecture.md (prod) and docs/architecture-platform.md (several services), Mermaid and .dot; the .png too with Graphviz
	$(MAKE) --no-print-directory synth > /dev/null
	for pair in prod:architecture platform:architecture-platform; do \
	  env=$${pair%%:*}; page=$${pair#*:}; \
	  stack=$(OUT)/stacks/$$($(BIN)/python main.py --env $$env --list-stacks)/cdk.tf.json; \
	  $(BIN)/python -m tools.diagram $$stack > docs/$$page.md; \
	  $(BIN)/python -m tools.diagram --format dot $$stack > docs/$$page.dot; \
	done
	@# The PNG is not committed: its bytes change with the Graphviz version.
	@if command -v dot > /dev/null; then dot -Tpng docs/architecture.dot -o docs/architecture.png && echo "wrote docs/architecture.png"; \
	  else echo "skipped docs/architecture.png: Graphviz (dot) is not installed"; fi

diff-json: require-env ## what changed in ENV's synthesized JSON against snapshots/, resource by resource
	$(MAKE) --no-print-directory synth ENV=$(ENV) > /dev/null
	$(BIN)/python -m tools.diff_json $(OUT)/stacks/$$($(BIN)/python main.py --env $(ENV) --list-stacks)/cdk.tf.json

snapshot: require-env ## rewrite snapshots/<stack>.json from ENV's synthesized JSON (review the git diff)
	$(MAKE) --no-print-directory synth ENV=$(ENV) > /dev/null
	$(BIN)/python -m tools.diff_json --update $(OUT)/stacks/$$($(BIN)/python main.py --env $(ENV) --list-stacks)/cdk.tf.json

lint: venv-dev ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv-dev ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

require-env:
	@test -n "$(ENV)" || { echo "Name an environment: make $(MAKECMDGOALS) ENV=<one of: $$(ls config/*.yaml | xargs -n1 basename | sed 's/.yaml//' | tr '\n' ' ')>"; exit 2; }

diff: venv node_modules/.installed require-env ## cdktf diff ENV=name (needs AWS credentials and terraform on PATH)
	@echo "cdktf diff needs AWS credentials for the account in config/$(ENV).yaml and Terraform on PATH."
	$(CDKTF) diff $$($(BIN)/python main.py --env $(ENV) --list-stacks)

deploy: venv node_modules/.installed require-env ## cdktf deploy ENV=name (needs AWS credentials and terraform on PATH)
	@echo "cdktf deploy needs AWS credentials for the account in config/$(ENV).yaml and Terraform on PATH."
	$(CDKTF) deploy $$($(BIN)/python main.py --env $(ENV) --list-stacks)

bootstrap: venv node_modules/.installed require-env ## create ENV's account state bucket (local state; AWS credentials)
	@echo "cdktf deploy needs AWS credentials for the account in config/$(ENV).yaml and Terraform on PATH."
	PATH="$(CURDIR)/$(BIN):$$PATH" BLUEGREEN_BOOTSTRAP=1 BLUEGREEN_ENV=$(ENV) node_modules/.bin/cdktf deploy \
	  $$($(BIN)/python main.py --env $(ENV) --bootstrap --list-stacks)

# uv (pinned in the dev set) resolves for every platform, on wheels only, keeping each lock's
# current pins unless ARGS says otherwise (ARGS="--upgrade-package NAME"). The synthesis set and the
# image's lock are resolved against the dev lock, so all three agree on every version they share.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --only-binary :all: \
	--generate-hashes --custom-compile-command "make lock" $(ARGS)

lock: venv-dev ## re-resolve the hashed locks (requirements/*.txt, app/requirements.txt) from their .in files; review the diff
	$(UV_COMPILE) requirements/dev.in -o $(DEV_LOCK)
	$(UV_COMPILE) requirements/synth.in --constraint $(DEV_LOCK) -o $(SYNTH_LOCK)
	$(UV_COMPILE) app/requirements.in --constraint $(DEV_LOCK) -o app/requirements.txt

pin-images: venv ## re-resolve each container image tag (Dockerfiles, CI template) to its digest now; needs the registries, review the diff
	$(BIN)/python -m tools.pin_images

clean: ## remove synthesized output and caches
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and node_modules
	rm -rf $(VENV) node_modules

bench: venv ## benchmark validation, synthesis and peak memory (NAIVE=1 adds the provider import comparison)
	$(BIN)/python benchmarks/bench_synth.py $(if $(NAIVE),--naive)
