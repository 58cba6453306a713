"""Guide steps 1 and 4: the new MWAA environment, its role, bucket and network, and its read of the export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct, IDependable
from constructs.environment_security_group import EnvironmentSecurityGroup
from constructs.execution_role import MwaaExecutionRole
from constructs.migration_bucket import migration_bucket_name
from constructs.migration_read_access import MigrationReadAccess
from constructs.mwaa_environment import (
    EnvironmentSettings,
    ModuleLogging,
    MwaaEnvironment,
)
from constructs.secure_bucket import SecureBucket, access_logs_bucket
from constructs.settings_clone import SourceSettingsClone
from constructs.workflow_deployment import WorkflowDeployment
from mwaa_migration.clone_lambda import clone_rules
from mwaa_migration.clone_overrides import LOG_MODULE_PROPERTIES, clone_overrides, marker_tags, module_logging
from mwaa_migration.config import LOG_MODULES, MigrationConfig, TargetConfig


class NewEnvironmentStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        migration: MigrationConfig,
        migration_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source, target = migration.source, migration.target
        # What the environment waits for: its role's policies (MWAA checks the role at creation), and its DAGs.
        depends_on: list[IDependable] = []

        if target.source_bucket_arn is not None:
            source_bucket = s3.Bucket.from_bucket_arn(self, "SourceBucket", target.source_bucket_arn)
        else:
            source_bucket = SecureBucket(
                self,
                "SourceBucket",
                access_logs=access_logs_bucket(self, "SourceBucketAccessLogs"),
                access_logs_prefix="source-bucket/",
                no_replication_reason="Holds DAGs, plugins and requirements that are deployed from version "
                "control, which is their copy.",
                sse_s3_reason="Holds code, not data; a customer key here would be a second key the environment "
                "and every deployer need grants on, for no data it protects.",
            ).bucket

        role: iam.IRole
        if target.execution_role_arn is not None:
            role = iam.Role.from_role_arn(self, "ExecutionRole", target.execution_role_arn, mutable=True)
        else:
            execution_role = MwaaExecutionRole(
                self,
                "ExecutionRole",
                environment_name=target.environment_name,
                source_bucket=source_bucket,
                kms_key_arn=target.kms_key,
            )
            role = execution_role.role
            depends_on.append(execution_role.policy)

        read_access = MigrationReadAccess(
            self,
            "MigrationReadAccess",
            role=role,
            bucket=s3.Bucket.from_bucket_name(self, "MigrationBucket", migration_bucket_name(migration.name)),
            key=migration_key,
            old_environment_name=source.environment_name,
            old_region=source.region,
            old_account=source.account,
        )
        depends_on.append(read_access.policy)

        created_group: str | None = None
        if target.network is not None and not target.network.security_group_ids:
            assert target.network.vpc_id is not None  # guaranteed by the migration-file validation
            created_group = EnvironmentSecurityGroup(
                self, "SecurityGroup", vpc_id=target.network.vpc_id, environment_name=target.environment_name
            ).security_group_id

        clone: SourceSettingsClone | None = None
        if source.kind == "mwaa":
            assert source.environment_name is not None
            clone = SourceSettingsClone(
                self,
                "CloneSourceSettings",
                source_environment_name=source.environment_name,
                source_region=source.region or Aws.REGION,
                target_environment_name=target.environment_name,
                target_airflow_version=target.airflow_version,
                overrides=clone_overrides(target, migration.name),
            )

        deployed_versions: dict[str, str] = {}
        if migration.workflows.has_files:
            deployment = WorkflowDeployment(
                self,
                "Workflows",
                bucket=source_bucket,
                dag_folder=migration.workflows.dags,
                dag_prefix=target.dag_prefix,
                files=migration.deployed_files,
            )
            deployed_versions = deployment.versions
            if deployment.dags is not None:
                # The first scheduler start finds the DAGs in place.
                depends_on.append(deployment.dags)

        settings = resolve_settings(
            target,
            migration_name=migration.name,
            clone=clone,
            execution_role_arn=role.role_arn,
            source_bucket_arn=source_bucket.bucket_arn,
            created_security_group=created_group,
            deployed_versions=deployed_versions,
        )
        environment = MwaaEnvironment(self, "Environment", settings=settings, depends_on=depends_on).environment

        CfnOutput(self, "EnvironmentName", value=target.environment_name, description="New MWAA environment")
        CfnOutput(self, "EnvironmentArn", value=environment.attr_arn, description="New MWAA environment ARN")
        CfnOutput(
            self,
            "SourceBucketName",
            value=source_bucket.bucket_name,
            description="DAGs, plugins, requirements",
        )
        CfnOutput(self, "ExecutionRoleArn", value=role.role_arn, description="New environment's execution role")
        CfnOutput(self, "WebserverUrl", value=environment.attr_webserver_url, description="Airflow UI host")


def resolve_settings(
    target: TargetConfig,
    *,
    migration_name: str,
    clone: SourceSettingsClone | None,
    execution_role_arn: str,
    source_bucket_arn: str,
    created_security_group: str | None,
    deployed_versions: Mapping[str, str],
) -> EnvironmentSettings:
    """Each property: the file's value if set, else the clone's (MWAA source), else MWAA's default, which the
    clone's own rules define. `deployed_versions` are the S3 versions of the files [workflows] deployed, by kind."""
    defaults = clone_rules.default_settings(target.environment_class, target.airflow_version)

    def pick(field: str, attribute: str, *, number: bool = False) -> Any:
        value = getattr(target, field)
        if value is not None:
            return value
        if clone is None:
            return defaults[attribute]
        return clone.number(attribute) if number else clone.string(attribute)

    if target.network is not None:
        subnets: list[str] = list(target.network.subnet_ids)
        groups = list(target.network.security_group_ids) or [created_security_group or ""]
    else:
        # Only an MWAA source may omit the network (the file validation refuses it otherwise).
        assert clone is not None
        subnets = Fn.split(",", clone.string("SubnetIds"), 2)
        groups = Fn.split(",", clone.string("SecurityGroupIds"))

    logging: dict[str, ModuleLogging] = {}
    for module in LOG_MODULES:
        setting = target.logging.get(module)
        prop = LOG_MODULE_PROPERTIES[module]
        if setting is None and clone is not None:
            logging[module] = ModuleLogging(enabled=clone.flag(f"{prop}Enabled"), level=clone.string(f"{prop}Level"))
            continue
        chosen = module_logging(setting) if setting else defaults["LoggingConfiguration"][prop]
        logging[module] = ModuleLogging(enabled=chosen["Enabled"], level=chosen["LogLevel"])

    # Maps are merged by the clone (source's, translated, then the file's); without a clone, the file's alone.
    options: Any = clone.string("AirflowConfigurationOptions") if clone else dict(target.airflow_configuration_options)
    tags: Any = clone.string("Tags") if clone else marker_tags(target, migration_name)

    return EnvironmentSettings(
        name=target.environment_name,
        airflow_version=target.airflow_version,
        execution_role_arn=execution_role_arn,
        source_bucket_arn=source_bucket_arn,
        dag_s3_path=target.dag_s3_path,
        environment_class=pick("environment_class", "EnvironmentClass"),
        min_workers=pick("min_workers", "MinWorkers", number=True),
        max_workers=pick("max_workers", "MaxWorkers", number=True),
        schedulers=pick("schedulers", "Schedulers", number=True),
        min_webservers=pick("min_webservers", "MinWebservers", number=True),
        max_webservers=pick("max_webservers", "MaxWebservers", number=True),
        webserver_access_mode=pick("webserver_access_mode", "WebserverAccessMode"),
        endpoint_management=pick("endpoint_management", "EndpointManagement"),
        weekly_maintenance_window_start=target.weekly_maintenance_window_start
        or (clone.string("WeeklyMaintenanceWindowStart") if clone else None),
        worker_replacement_strategy=target.worker_replacement_strategy,
        kms_key=target.kms_key,
        subnet_ids=subnets,
        security_group_ids=groups,
        logging=logging,
        airflow_configuration_options=options or None,
        tags=tags,
        plugins_s3_path=target.plugins_s3_path,
        requirements_s3_path=target.requirements_s3_path,
        startup_script_s3_path=target.startup_script_s3_path,
        requirements_s3_object_version=deployed_versions.get("requirements"),
        plugins_s3_object_version=deployed_versions.get("plugins"),
        startup_script_s3_object_version=deployed_versions.get("startup_script"),
    )
