"""What the new environment gets, decided at synth: the clone of the committed snapshot (MWAA source) or MWAA's
defaults (self-managed source), the migration file's values on top. Every value is a literal, typed as
CreateEnvironment types it; the stack writes them as they are, and plan.py explains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mwaa_clone import clone_rules, mwaa_limits, source_check
from mwaa_migration.environment.clone_overrides import (
    LOG_MODULE_PROPERTIES,
    clone_overrides,
    marker_tags,
    module_logging,
)
from mwaa_migration.environment.plan_types import DeployRule, EnvironmentPlan, ExportDagTarget
from mwaa_migration.environment.secrets_access import secret_reads

if TYPE_CHECKING:
    from mwaa_migration.migration.migration_config import MigrationConfig, TargetConfig

SCALAR_SETTINGS = ("EnvironmentClass", *mwaa_limits.SIZING_FIELDS, "WebserverAccessMode", "EndpointManagement")
EXPORT_DAG_NAME = "mwaa_migration_export.py"


def plan_environment(migration: MigrationConfig) -> EnvironmentPlan:
    """The new environment's settings, or clone_rules.CloneRefused with one line naming the file key to edit."""
    source, target = migration.source, migration.target
    if source.kind == "mwaa":
        assert source.environment is not None and source.environment_name and source.region  # by the file check
        request = clone_rules.CloneRequest(
            source_environment_name=source.environment_name,
            source_region=source.region,
            target_airflow_version=target.airflow_version,
            overrides=clone_overrides(target, migration.name),
        )
        result = clone_rules.clone_settings(source.environment, request)
        settings, warnings = result.settings, [*result.warnings, *_role_warnings(target)]
        fingerprints: Mapping[str, str] | None = source_check.fingerprints(source.environment)
    else:
        warnings = []
        assert source.airflow_version is not None  # required for a self-managed source by the file check
        settings = _self_managed_settings(target, migration.name, source.airflow_version, warnings)
        fingerprints = None
    reads = secret_reads(settings["AirflowConfigurationOptions"], warnings)
    rules = deploy_rules(migration, settings.get("KmsKey"))
    export_dag = export_dag_target(migration, warnings)
    return EnvironmentPlan(settings, tuple(warnings), tuple(reads), fingerprints, rules, export_dag)


def export_dag_target(migration: MigrationConfig, warnings: list[str]) -> ExportDagTarget | None:
    """The old environment's DAG folder, when the export DAG is to be deployed there."""
    environment = migration.source.environment
    if environment is None or not migration.export.deploy_dag:
        return None
    version = str(environment.get("AirflowVersion", ""))
    if not version.startswith("2."):
        warnings.append(
            f"[export]: the export DAG runs on Airflow 2 sources only; on the source's Airflow {version} tasks can't "
            "reach the metadata database, so no export DAG is deployed and the export isn't available yet."
        )
        return None
    bucket_arn, dag_path = environment.get("SourceBucketArn"), environment.get("DagS3Path")
    if not isinstance(bucket_arn, str) or ":::" not in bucket_arn or not isinstance(dag_path, str):
        raise mwaa_limits.CloneRefused(
            "the snapshot has no SourceBucketArn or DagS3Path for the export DAG; re-save it with snapshot.py, or "
            "set [export] deploy_dag = false"
        )
    folder = dag_path.strip("/")
    if any(character in folder for character in "*?$"):
        # They are IAM policy wildcards and variables: the deployment's one-key grant would match other keys.
        raise mwaa_limits.CloneRefused(
            f"the source's DagS3Path {dag_path!r} has *, ? or $, which would widen the export DAG deployment's "
            "one-key permission; set [export] deploy_dag = false and add the export DAG yourself"
        )
    return ExportDagTarget(bucket_arn.split(":::", 1)[1], f"{folder}/{EXPORT_DAG_NAME}" if folder else EXPORT_DAG_NAME)


def deploy_rules(migration: MigrationConfig, kms_key: str | None) -> tuple[DeployRule, ...]:
    """Where the stack may be deployed; CloneRefused when no region satisfies every rule."""
    source, target = migration.source, migration.target
    rules: list[DeployRule] = []
    if source.kind == "mwaa" and source.region is not None:
        if target.network is None:
            why = (
                f"The network is cloned from the source, whose subnets and security groups are in {source.region}: "
                "deploy there, or set [target.network] in the migration file."
            )
            rules.append(DeployRule("AWS::Region", source.region, True, why))
        if source.environment_name == target.environment_name:
            why = (
                f"{target.environment_name} is the source's name in {source.region}, and MWAA names are unique per "
                "region: deploy to another region or pick a new target.environment_name."
            )
            rules.append(DeployRule("AWS::Region", source.region, False, why))
        rules.extend(account_rules(migration))
    if kms_key is not None:
        why = f"The environment's KMS key {kms_key} must be in the region the environment is deployed to."
        rules.append(DeployRule("AWS::Region", kms_key.split(":")[3], True, why))
    _refuse_contradictions(rules)
    return tuple(rules)


def account_rules(migration: MigrationConfig) -> tuple[DeployRule, ...]:
    """An MWAA source's account, for every stack that touches the old environment: the new environment's, and the
    migration bucket's (it attaches a policy to the old role by name and writes into the old DAG folder)."""
    source = migration.source
    if source.kind != "mwaa" or source.account is None:
        return ()
    why = (
        f"source.execution_role_arn and the source environment are in account {source.account}; deploy the "
        "migration into that account."
    )
    return (DeployRule("AWS::AccountId", source.account, True, why),)


def _refuse_contradictions(rules: list[DeployRule]) -> None:
    regions = [rule for rule in rules if rule.pseudo == "AWS::Region"]
    required = {rule.value for rule in regions if rule.equal}
    forbidden = {rule.value for rule in regions if not rule.equal}
    if len(required) > 1 or required & forbidden:
        reasons = " ".join(rule.why for rule in regions)
        raise mwaa_limits.CloneRefused(f"no region can satisfy every deploy rule: {reasons}")


def _self_managed_settings(
    target: TargetConfig, migration_name: str, source_version: str, warnings: list[str]
) -> dict[str, Any]:
    """MWAA's defaults where the file is silent: there is no environment to clone."""
    defaults = clone_rules.default_settings(target.environment_class, target.airflow_version)
    overrides = clone_overrides(target, migration_name)
    settings: dict[str, Any] = {name: overrides.get(name, defaults[name]) for name in SCALAR_SETTINGS}
    if target.weekly_maintenance_window_start is not None:
        settings["WeeklyMaintenanceWindowStart"] = target.weekly_maintenance_window_start
    settings["NetworkConfiguration"] = overrides["NetworkConfiguration"]  # required for this kind
    chosen_logging = {LOG_MODULE_PROPERTIES[module]: module_logging(level) for module, level in target.logging.items()}
    settings["LoggingConfiguration"] = {**defaults["LoggingConfiguration"], **chosen_logging}
    chosen = target.airflow_configuration_options
    # The source's airflow.cfg is unknown here: Airflow 2's defaults are what its DAGs were scheduled with.
    kept = clone_rules.airflow_2_scheduling_defaults(source_version, target.airflow_version, chosen, warnings)
    settings["AirflowConfigurationOptions"] = clone_rules.final_options(kept, chosen, warnings)
    settings["Tags"] = marker_tags(target, migration_name)
    if target.kms_key not in (None, mwaa_limits.AWS_OWNED_KEY):
        settings["KmsKey"] = target.kms_key
    return settings


def _role_warnings(target: TargetConfig) -> list[str]:
    if target.execution_role_arn is not None or target.execution_role_policy_arns:
        return []
    return [
        "ExecutionRoleArn: the stack creates the new execution role with what MWAA itself needs and the secrets "
        "backend's prefixes; the old role's own permissions (what the DAGs call) are not carried. Reuse the old "
        "role with target.execution_role_arn, or list managed policies in target.execution_role_policy_arns."
    ]
