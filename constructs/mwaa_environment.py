"""The new AWS::MWAA::Environment, retained when the stack is deleted: once it runs, it is production."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_mwaa as mwaa

from constructs import Construct, IDependable


@dataclass(frozen=True, kw_only=True)
class ModuleLogging:
    enabled: bool
    level: str


@dataclass(frozen=True, kw_only=True)
class EnvironmentSettings:
    """Every writable property of the environment: literals typed as the provider schema types them, except
    ARNs, IDs and S3 versions of resources in the stack, which are Ref/GetAtt tokens."""

    name: str
    airflow_version: str
    execution_role_arn: str
    source_bucket_arn: str
    dag_s3_path: str
    environment_class: str
    min_workers: int
    max_workers: int
    schedulers: int
    min_webservers: int
    max_webservers: int
    webserver_access_mode: str
    endpoint_management: str
    weekly_maintenance_window_start: str | None
    worker_replacement_strategy: str | None
    kms_key: str | None
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    logging: Mapping[str, ModuleLogging]  # keyed by the migration file's module names
    airflow_configuration_options: Mapping[str, str]
    tags: Mapping[str, str]
    plugins_s3_path: str | None = None
    requirements_s3_path: str | None = None
    startup_script_s3_path: str | None = None
    # S3 version IDs of deployed files (deploy-time tokens): a new version is what makes MWAA apply a change.
    plugins_s3_object_version: str | None = None
    requirements_s3_object_version: str | None = None
    startup_script_s3_object_version: str | None = None


class MwaaEnvironment(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        depends_on: Sequence[IDependable] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        s = settings
        # The file's module names are the properties' names without "_logs" (task -> task_logs).
        logging_config = {
            f"{module}_logs": mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(
                enabled=logging.enabled, log_level=logging.level
            )
            for module, logging in s.logging.items()
        }
        self.environment = mwaa.CfnEnvironment(
            self,
            "Resource",
            name=s.name,
            airflow_version=s.airflow_version,
            execution_role_arn=s.execution_role_arn,
            source_bucket_arn=s.source_bucket_arn,
            dag_s3_path=s.dag_s3_path,
            environment_class=s.environment_class,
            min_workers=s.min_workers,
            max_workers=s.max_workers,
            schedulers=s.schedulers,
            min_webservers=s.min_webservers,
            max_webservers=s.max_webservers,
            webserver_access_mode=s.webserver_access_mode,
            endpoint_management=s.endpoint_management,
            weekly_maintenance_window_start=s.weekly_maintenance_window_start,
            worker_replacement_strategy=s.worker_replacement_strategy,
            kms_key=s.kms_key,
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                subnet_ids=list(s.subnet_ids), security_group_ids=list(s.security_group_ids)
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(**logging_config),
            airflow_configuration_options=dict(s.airflow_configuration_options) or None,
            tags=dict(s.tags),
            plugins_s3_path=s.plugins_s3_path,
            requirements_s3_path=s.requirements_s3_path,
            startup_script_s3_path=s.startup_script_s3_path,
            plugins_s3_object_version=s.plugins_s3_object_version,
            requirements_s3_object_version=s.requirements_s3_object_version,
            startup_script_s3_object_version=s.startup_script_s3_object_version,
        )
        self.environment.apply_removal_policy(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
        for dependency in depends_on:
            # What must exist first: the role's policies (MWAA validates the role at creation), the DAGs.
            self.environment.node.add_dependency(dependency)
