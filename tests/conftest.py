"""Shared test setup: offline and credential-free. The repository root is on sys.path through pytest's
`pythonpath` (pyproject.toml), for app.py's packages (stacks, constructs) and tests; mwaa_migration and the Lambda
assets' packages are installed (`make` installs the project, editable)."""

from __future__ import annotations

import compileall
import os

# Fake credentials so nothing can reach a real account, and no CDK chatter.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # A comma-separated list of Node major versions whose end-of-life banner jsii should not print.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
)
os.environ.pop("AWS_PROFILE", None)

# Imported after the environment is set: synth_app loads jsii.
import pytest

# Puts the migration DAGs' zip on sys.path (built once): tests import mwaa_migration_support.* from it, as Airflow does.
import tests.migration_dags_unit  # noqa: F401
from mwaa_migration.assets import ASSET_PACKAGES
from tests.synth_app import EXAMPLE_WORKFLOWS, SynthesizedApp, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    # Bytecode in the handlers' and the example DAGs' folders, whatever PYTHONDONTWRITEBYTECODE says, so the
    # assets' exclusion of it is exercised by every synth the tests make.
    for asset_dir in ASSET_PACKAGES:
        compileall.compile_dir(asset_dir, quiet=1)
    compileall.compile_dir(EXAMPLE_WORKFLOWS / "dags", quiet=1)
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


# The real-Airflow session fixtures (one PostgreSQL cluster, the seeded sources, the Airflow 3 target), registered
# once here so each is built once per session, not once per test module that imports it.
pytest_plugins = ["tests.airflow_fixtures"]
