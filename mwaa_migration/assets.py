"""Where the Lambda assets and the migration's own DAGs are: the one module that knows their folders.

Each Lambda asset is a folder uploaded as it is (`lambda_.Code.from_asset`, no bundling) that holds one package:
the runtime has the folder on its path and imports the handler as `<package>.<module>`, and the CLIs, stacks and
tests import the same package, installed from pyproject.toml (whose package-dir maps each package to its folder
here; tests/test_stacks.py checks the two agree).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = REPO_ROOT / "lambda"

# The cut-over state machine's steps (mwaa_cutover), also what `cutover.py` imports and verifies with.
CUTOVER_DIR = LAMBDA_DIR / "cutover"
# The clone rules, run at synth, and the deploy-time source check (mwaa_clone).
CLONE_SETTINGS_DIR = LAMBDA_DIR / "clone_settings"
# The workflow deployment: DAGs, requirements, plugins and startup script into the source bucket.
WORKFLOW_DEPLOY_DIR = LAMBDA_DIR / "deploy_workflows"
# The export DAG and the migration DAGs' zip into their DAG folders.
EXPORT_DAG_DEPLOY_DIR = LAMBDA_DIR / "deploy_export_dag"
# What runs inside Airflow, not a Lambda asset: the export DAG as one file, the rest as the migration DAGs' zip.
MIGRATION_DAGS_DIR = REPO_ROOT / "migration_dags"

# The package in each Lambda asset folder.
ASSET_PACKAGES = {
    CUTOVER_DIR: "mwaa_cutover",
    CLONE_SETTINGS_DIR: "mwaa_clone",
    WORKFLOW_DEPLOY_DIR: "mwaa_workflow_deploy",
    EXPORT_DAG_DEPLOY_DIR: "mwaa_export_dag_deploy",
}


def package_dir(asset_dir: Path) -> Path:
    """The package's folder in a Lambda asset folder: lambda/cutover/mwaa_cutover, ..."""
    return asset_dir / ASSET_PACKAGES[asset_dir]
