"""The migration DAGs' zip as the tests import it: built once per test process (mwaa_migration/migration_dags_zip.py)
into a temporary folder and put on sys.path, so `mwaa_migration_support.*` comes from the zip, through zipimport,
as Airflow imports it (with the archive reader the build copies in). The settings are the template's; tests that
run a task fill a copy in as the deployment does (`filled_unit`)."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

from mwaa_migration.migration_dags_zip import ZIP_NAME, build_migration_dags_zip

_FOLDER = Path(tempfile.mkdtemp(prefix="migration-dags-"))
atexit.register(shutil.rmtree, _FOLDER, True)
UNIT_ZIP = _FOLDER / ZIP_NAME
UNIT_ZIP.write_bytes(build_migration_dags_zip())
if str(UNIT_ZIP) not in sys.path:
    sys.path.insert(0, str(UNIT_ZIP))


def filled_unit(
    folder: Path,
    *,
    bucket: str = "test-bucket",
    migration: str = "harness",
    source_group: str = "",
    source_region: str = "",
    target_group: str = "airflow-new-Task",
) -> Path:
    """The zip with its settings filled in by the deployment's own code, at `folder`/mwaa_migration_dags.zip."""
    from mwaa_export_dag_deploy.export_dag_deploy import MigrationDagRequest, render_zip

    request = MigrationDagRequest(
        staged_bucket="staged",
        staged_key="staged.zip",
        bucket="source",
        key=f"dags/{ZIP_NAME}",
        migration_bucket=bucket,
        migration_name=migration,
        placeholders=(
            ("__MWAA_SOURCE_REGION__", source_region),
            ("__MWAA_SOURCE_TASK_LOG_GROUP__", source_group),
            ("__MWAA_TARGET_TASK_LOG_GROUP__", target_group),
        ),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ZIP_NAME
    path.write_bytes(render_zip(UNIT_ZIP.read_bytes(), request))
    return path
