"""Where a migration's bucket and cut-over machine are and what the machine does, shared by the stacks and
`cutover.py` (which must not load the CDK to find them)."""

from __future__ import annotations

from mwaa_migration.airflow_versions import version_key
from mwaa_migration.migration import MigrationConfig

# MWAA serves Airflow's REST API through InvokeRestApi from this version on.
REST_API_SINCE = "2.4.3"


def bucket_name(migration: str, *, account: str, region: str) -> str:
    """The migration bucket's name: deterministic, so every stack (with the deploy's account and region tokens)
    and `cutover.py` (with the operator's) name it without a cross-stack export or a lookup."""
    return f"mwaa-migration-{migration}-{account}-{region}"


def state_machine_name(migration: str) -> str:
    """Fixed, so its ARN is known before it exists: the guard's ListExecutions and `cutover.py` derive it."""
    return f"mwaa-migration-{migration}-cutover"


def state_machine_arn(migration: str, *, region: str, account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:states:{region}:{account}:stateMachine:{state_machine_name(migration)}"


def machine_exports(migration: MigrationConfig) -> bool:
    """The machine reaches the old environment's REST API (MWAA, Airflow 2.4.3+); otherwise the freeze and the
    export are the operator's."""
    source = migration.source
    if source.kind != "mwaa" or source.environment is None or not source.environment_name:
        return False
    return version_key(str(source.environment.get("AirflowVersion", "0"))) >= version_key(REST_API_SINCE)
