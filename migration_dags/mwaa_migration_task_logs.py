"""The task-log DAG `mwaa_migration_task_logs`: the old environment's task logs into this one (guide step 4).

A DAG file of the migration DAGs' zip (mwaa_migration_dags.zip, which the new-environment stack puts into the DAG
folder); its code is mwaa_migration_support.task_logs, beside it in the zip. It runs on every target (Airflow 2.7+
and 3.x): it reads the archive and CloudWatch Logs, never the metadata database. Paused on creation, manual trigger
only, one run at a time: task `copy_task_logs`. `conf`: `export_id`, `log_days` (default 30), `log_states`
(default: every final state), `copy_logs` (false: nothing). Trigger it after the import (the import DAG on Airflow
2, the REST importer on 3), whose run-id map names the new streams; a re-run resumes each stream.
"""

from __future__ import annotations

from airflow import DAG  # type: ignore[import-not-found, unused-ignore]
from mwaa_migration_support import dags, task_logs

DAG_ID = "mwaa_migration_task_logs"

dag = DAG(
    DAG_ID,
    description="Copy the old environment's task logs for the imported runs (manual runs only)",
    start_date=dags.START_DATE,
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs=1,
    tags=dags.TAGS,
    **dags.no_schedule(),
)
dags.python_operator()(task_id="copy_task_logs", python_callable=task_logs.log_copy_task, dag=dag)
