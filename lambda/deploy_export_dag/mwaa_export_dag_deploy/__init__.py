"""The migration's own DAGs into their DAG folders: the export DAG into the old environment's, the import DAG into
the new one's (the thin export_dag_handler over export_dag_deploy). One asset, lambda/deploy_export_dag/."""
