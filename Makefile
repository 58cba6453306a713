# Two commands on a fresh clone: `make synth` and `make test`. Each installs only what is missing.
PYTHON ?= python3
# The virtualenv's folder: `make VENV=<folder> venv-runtime` builds synth's environment in another (runtime-env).
VENV := .venv
BIN := $(VENV)/bin
MIGRATION ?= example

# Offline and quiet: no credentials lookup on EC2 metadata, no version or notice checks.
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_VERSION_CHECK := 1
# jsii warns on every start that Node 20 (what this machine has) is end of life; the value lists major versions.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: synth test lint typecheck unit benchmark schema clean airflow-envs runtime-env venv-runtime diagram sensitive-table

# The export and import tests' Airflow installs (one virtualenv each, from a pinned freeze) and PostgreSQL's server.
AIRFLOW_VERSIONS := 2.10.3 2.4.3 2.11.2 3.0.6
AIRFLOW_ENVS := $(foreach version,$(AIRFLOW_VERSIONS),.venv-airflow-$(version)/.installed)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# requirements.txt, then the project itself, editable (pyproject.toml): mwaa_migration and each Lambda asset's
# package, which the CLIs, stacks and tests import by name. No build isolation: setuptools comes pinned from
# requirements.txt, so nothing is fetched for the build. `make synth`, the dev install and .venv-runtime all come here.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: $(VENV)/.runtime node_modules/.installed
	npx cdk synth --no-notices --quiet -c migration=$(MIGRATION)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy .

.venv-airflow-%/.installed: tests/airflow/requirements-%.txt tests/airflow/setup_env.sh
	tests/airflow/setup_env.sh $*

airflow-envs: $(AIRFLOW_ENVS)
	@tests/airflow/ensure_postgresql.sh

# What `make synth` installs (requirements.txt alone), built by its own rule in a folder of its own: the operator
# commands' test runs them there, as a user would, so nothing they import may come from the dev set only. Made
# afresh when requirements.txt changes, as on a new clone: a package taken out of it must be gone here too.
RUNTIME_VENV := .venv-runtime
runtime-env:
	@if [ $(RUNTIME_VENV)/.runtime -ot requirements.txt ]; then rm -rf $(RUNTIME_VENV); fi
	@$(MAKE) --no-print-directory VENV=$(RUNTIME_VENV) venv-runtime

# $(VENV)/.runtime for the VENV given; its recipe keeps an up-to-date run silent.
venv-runtime: $(VENV)/.runtime
	@:

# The Airflow and provider wheels tools/derive_sensitive_options.py reads (about 145 MB, a minute the first time;
# what is there already is kept). tests/test_sensitive_table.py fails without them.
WHEELS := .cache/wheels/.downloaded

$(WHEELS): tools/derive_sensitive_options.py mwaa_migration/airflow_versions.py | $(VENV)/.dev
	$(BIN)/python -m tools.derive_sensitive_options --download
	touch $@

# lambda/clone_settings/mwaa_clone/sensitive_table.py from those wheels; tests/test_sensitive_table.py fails while it
# is stale.
sensitive-table: $(WHEELS)
	$(BIN)/python -m tools.derive_sensitive_options

unit: $(VENV)/.dev node_modules/.installed airflow-envs runtime-env $(WHEELS)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

# The migration file's JSON schema, from the pydantic models; editors read it through `#:schema`.
schema: $(VENV)/.runtime
	$(BIN)/python -c 'from mwaa_migration.migration.migration_file import write_schema; write_schema()'

# docs/architecture.md from the synthesized example; tests/test_diagram.py fails while it is stale.
diagram: $(VENV)/.runtime
	$(BIN)/python -m mwaa_migration.diagram

benchmark: $(VENV)/.dev
	$(BIN)/python benchmarks/synth_benchmark.py

clean:
	rm -rf cdk.out $(VENV) $(RUNTIME_VENV) node_modules
