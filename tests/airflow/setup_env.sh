#!/usr/bin/env bash
# Create .venv-airflow-<version>/ from tests/airflow/requirements-<version>.txt (a full pinned freeze, so --no-deps:
# nothing is resolved again), and check PostgreSQL's server is installed. Make calls it only when the stamp is stale.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="$1"
python="${AIRFLOW_PYTHON:-python3.11}"
venv=".venv-airflow-${version}"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "tests/airflow/requirements-${version}.txt"
# Fails here, not in a test, if the set doesn't import.
"$venv/bin/python" -c "import importlib.metadata as m, psycopg2, sqlalchemy; assert m.version(\"apache-airflow\") == \"$version\""
touch "$venv/.installed"
