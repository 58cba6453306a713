"""Shared test setup: offline, credential-free, and the Lambda code importable by module name."""

from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

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

# The Lambdas' modules are top-level in their assets; these put them on sys.path, so tests import them the same
# way the runtime does. Imported after the environment is set: the construct module loads jsii.
from constructs.migration_dag_deployment import EXPORT_DAG_DEPLOY_DIR  # noqa: E402
from constructs.workflow_deployment import WORKFLOW_DEPLOY_DIR  # noqa: E402
from mwaa_migration.clone_lambda import CLONE_SETTINGS_DIR  # noqa: E402
from mwaa_migration.cutover_lambda import CUTOVER_DIR  # noqa: E402

for _handler_dir in (WORKFLOW_DEPLOY_DIR, EXPORT_DAG_DEPLOY_DIR, CUTOVER_DIR):
    if str(_handler_dir) not in sys.path:
        sys.path.insert(0, str(_handler_dir))


import pytest  # noqa: E402

# Puts the migration DAGs' zip on sys.path (built once): tests import mwaa_migration_support.* from it, as Airflow does.
import tests.migration_dags_unit  # noqa: E402, F401
from tests.synth_app import EXAMPLE_WORKFLOWS, SynthesizedApp, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    # Bytecode in the handlers' and the example DAGs' folders, whatever PYTHONDONTWRITEBYTECODE says, so the
    # assets' exclusion of it is exercised by every synth the tests make.
    compileall.compile_dir(CLONE_SETTINGS_DIR, quiet=1)
    compileall.compile_dir(WORKFLOW_DEPLOY_DIR, quiet=1)
    compileall.compile_dir(EXPORT_DAG_DEPLOY_DIR, quiet=1)
    compileall.compile_dir(CUTOVER_DIR, quiet=1)
    compileall.compile_dir(EXAMPLE_WORKFLOWS / "dags", quiet=1)
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


# The real-Airflow session fixtures (one PostgreSQL cluster, the seeded sources, the Airflow 3 target), registered
# once here so each is built once per session, not once per test module that imports it.
pytest_plugins = ["tests.airflow_fixtures"]
