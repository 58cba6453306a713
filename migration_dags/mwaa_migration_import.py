"""The import DAG `mwaa_migration_import`: the migration archive into this Airflow 2.x environment (guide step 4).

A DAG file of the migration DAGs' zip (mwaa_migration_dags.zip, which the new-environment stack puts into the DAG
folder); its code is mwaa_migration_support.metadata_import, beside it in the zip. Paused on creation, manual
trigger only, one run at a time: task `import_metadata`. `conf`: `export_id` (default: the newest complete
export), `on_existing` (overwrite | skip | fail). On an Airflow 3 target the task does nothing (the REST importer
imports there), so the DAG loads and runs on every target. Task logs are the task-log DAG's
(`mwaa_migration_task_logs`): trigger it after this one, once the run-id map is written.
"""

from __future__ import annotations

from airflow import DAG  # type: ignore[import-not-found, unused-ignore]
from mwaa_migration_support import dags, metadata_import

DAG_ID = "mwaa_migration_import"

dag = DAG(
    DAG_ID,
    description="Import the migration archive into this environment (manual runs only)",
    start_date=dags.START_DATE,
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    tags=dags.TAGS,
    **dags.no_schedule(),
)
dags.python_operator()(task_id="import_metadata", python_callable=metadata_import.import_task, dag=dag)
