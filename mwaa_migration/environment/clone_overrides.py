"""What the migration file sets, in CreateEnvironment field names: the clone merges it over the source's settings.

Pure (no aws_cdk import), so plan.py can build exactly what the stack sends the clone without loading jsii.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mwaa_clone import mwaa_limits

if TYPE_CHECKING:
    from mwaa_migration.migration.migration_config import TargetConfig

MARKER_TAG = "mwaa-migration"
# The migration file's logging module names (the keys of [target.logging]) and the API's, in the same order.
LOG_MODULES = ("dag_processing", "scheduler", "task", "webserver", "worker")
LOG_MODULE_PROPERTIES = dict(zip(LOG_MODULES, mwaa_limits.LOG_MODULES, strict=True))


def marker_tags(target: TargetConfig, migration_name: str) -> dict[str, str]:
    # Always at least one tag, so the merged map is never empty, and the environment says where it came from.
    return {MARKER_TAG: migration_name, **target.tags}


def clone_overrides(target: TargetConfig, migration_name: str) -> dict[str, Any]:
    """What the file sets, in CreateEnvironment field names, for the clone to merge over the source's settings."""
    scalar_fields = {
        "EnvironmentClass": target.environment_class,
        "MinWorkers": target.min_workers,
        "MaxWorkers": target.max_workers,
        "Schedulers": target.schedulers,
        "MinWebservers": target.min_webservers,
        "MaxWebservers": target.max_webservers,
        "WebserverAccessMode": target.webserver_access_mode,
        "WeeklyMaintenanceWindowStart": target.weekly_maintenance_window_start,
        "EndpointManagement": target.endpoint_management,
    }
    overrides: dict[str, Any] = {key: value for key, value in scalar_fields.items() if value is not None}
    if target.network is not None:
        network: dict[str, list[str]] = {"SubnetIds": list(target.network.subnet_ids)}
        if target.network.security_group_ids:
            network["SecurityGroupIds"] = list(target.network.security_group_ids)
        overrides["NetworkConfiguration"] = network
    if target.logging:
        overrides["LoggingConfiguration"] = {
            LOG_MODULE_PROPERTIES[module]: module_logging(level) for module, level in target.logging.items()
        }
    if target.airflow_configuration_options:
        overrides["AirflowConfigurationOptions"] = dict(target.airflow_configuration_options)
    overrides["Tags"] = marker_tags(target, migration_name)
    if target.kms_key is not None:
        overrides["KmsKey"] = target.kms_key
    if target.drop_options:
        overrides["DropOptions"] = list(target.drop_options)
    return overrides


def module_logging(setting: str) -> dict[str, Any]:
    if setting == "DISABLED":
        return {"Enabled": False, "LogLevel": "INFO"}
    return {"Enabled": True, "LogLevel": setting}
