"""What the migration DAGs share (the import DAG `mwaa_migration_import`, the task-log DAG
`mwaa_migration_task_logs`): modules, not DAG files.

They travel inside the migration DAGs' zip (`mwaa_migration_dags.zip` in the new environment's DAG folder, built by
mwaa_migration/migration_dags_zip.py), under this one prefixed package so no name can clash with a module of the
environment's own. Airflow imports only the zip's top-level `.py` files as DAG files; this package is on their
import path because Airflow puts the zip on sys.path while it loads them.

  exports.py          the deployment's settings (settings.json, filled in by the deployment), finding and opening
                      the export the conf names; `archive.py`, the cut-over's archive reader, copied in by the build
  dags.py             what both DAG files need from Airflow, for every version they load on
  metadata_import.py  the 2.x ORM import
  task_logs.py        the task-log copy
"""
