"""Guide steps 1 and 4: the new MWAA environment, its role, bucket and network, and its read of the export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct, IDependable
from constructs.deploy_rules import add_deploy_rules
from constructs.environment_security_group import EnvironmentSecurityGroup
from constructs.execution_role import MwaaExecutionRole
from constructs.migration_bucket import migration_bucket_name
from constructs.migration_dag_deployment import MIGRATION_DAGS, MigrationDagDeployment
from constructs.migration_read_access import MigrationReadAccess, task_log_group
from constructs.mwaa_environment import EnvironmentSettings, ModuleLogging, MwaaEnvironment
from constructs.secure_bucket import SecureBucket, access_logs_bucket
from constructs.source_check import SourceCheck
from constructs.workflow_deployment import WorkflowDeployment
from mwaa_migration.airflow_versions import airflow_major
from mwaa_migration.environment.clone_overrides import LOG_MODULE_PROPERTIES, LOG_MODULES
from mwaa_migration.environment.plan_types import EnvironmentPlan
from mwaa_migration.migration import MigrationConfig, TargetConfig


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
                # The workflow deployment writes DAGs, requirements and plugins before the environment is created.
                filled_during_create=True,
                no_replication_reason="Holds DAGs, plugins and requirements that are deployed from version "
                "control, which is their copy.",
                sse_s3_reason="Holds code, not data; a customer key here would be a second key the environment "
                "and every deployer need grants on, for no data it protects.",
            ).bucket

        plan = migration.environment
        assert plan is not None  # load_migration plans every migration it returns
        kms_key: str | None = plan.settings.get("KmsKey")
        role: iam.IRole
        if target.execution_role_arn is not None:
            role = iam.Role.from_role_arn(self, "ExecutionRole", target.execution_role_arn, mutable=True)
        else:
            execution_role = MwaaExecutionRole(
                self,
                "ExecutionRole",
                environment_name=target.environment_name,
                source_bucket=source_bucket,
                kms_key_arn=kms_key,
                secret_reads=plan.secret_reads,
                managed_policy_arns=target.execution_role_policy_arns,
            )
            role = execution_role.role
            depends_on.append(execution_role.policy)

        migration_bucket = migration_bucket_name(migration.name)
        read_access = MigrationReadAccess(
            self,
            "MigrationReadAccess",
            role=role,
            bucket=s3.Bucket.from_bucket_name(self, "MigrationBucket", migration_bucket),
            key=migration_key,
            migration_name=migration.name,
            # Airflow 2: the import DAG imports through the ORM; Airflow 3: the REST importer, not the role. The
            # task-log DAG reads the archive and the old task logs on either.
            imports_secrets=airflow_major(target.airflow_version) == 2,
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

        if source.kind == "mwaa":
            assert source.environment_name and source.region and source.account and plan.fingerprints is not None
            check = SourceCheck(
                self,
                "SourceCheck",
                migration_name=migration.name,
                source_environment_name=source.environment_name,
                source_region=source.region,
                source_account=source.account,
                fingerprints=plan.fingerprints,
            )
            # Nothing is created from a snapshot the source no longer matches.
            depends_on.append(check.resource)

        # The migration DAGs (the import DAG and the task-log DAG, one zip) go in with every migration, [workflows]
        # or not: the import and the log copy always need them. They start paused (their files say so, and
        # core.dags_are_paused_at_creation) and run only when triggered.
        migration_dags_key = target.dag_prefix + MIGRATION_DAGS.name
        migration_dags = MigrationDagDeployment(
            self,
            "MigrationDags",
            dag=MIGRATION_DAGS,
            bucket=source_bucket,
            key=migration_dags_key,
            migration_bucket=migration_bucket,
            migration_name=migration.name,
            placeholders={
                "__MWAA_SOURCE_TASK_LOG_GROUP__": (
                    task_log_group(source.environment_name) if source.environment_name else ""
                ),
                "__MWAA_SOURCE_REGION__": source.region or "",
                "__MWAA_TARGET_TASK_LOG_GROUP__": task_log_group(target.environment_name),
            },
        )
        depends_on.append(migration_dags.resource)

        deployed_versions: dict[str, str] = {}
        if migration.workflows.has_files:
            deployment = WorkflowDeployment(
                self,
                "Workflows",
                bucket=source_bucket,
                dag_folder=migration.workflows.dags,
                dag_prefix=target.dag_prefix,
                files=migration.deployed_files,
                # The DAG sync prunes what the folder lacks: never the migration DAGs, which are not the folder's.
                keep=[migration_dags_key],
            )
            deployed_versions = deployment.versions
            if deployment.dags is not None:
                # The first scheduler start finds the DAGs in place.
                depends_on.append(deployment.dags)

        settings = resolve_settings(
            target,
            plan=plan,
            execution_role_arn=role.role_arn,
            source_bucket_arn=source_bucket.bucket_arn,
            created_security_group=created_group,
            deployed_versions=deployed_versions,
        )
        add_deploy_rules(self, plan.deploy_rules)
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
        CfnOutput(
            self,
            "MigrationDagsLocation",
            value=f"s3://{source_bucket.bucket_name}/{migration_dags_key}",
            description="The migration DAGs in the new environment (mwaa_migration_import, mwaa_migration_task_logs; "
            "paused)",
        )
        CfnOutput(self, "WebserverUrl", value=environment.attr_webserver_url, description="Airflow UI host")
        if settings.endpoint_management == "CUSTOMER":
            # With CUSTOMER endpoints, MWAA creates none: these are the services to create VPC endpoints for.
            CfnOutput(
                self,
                "WebserverVpcEndpointService",
                value=environment.attr_webserver_vpc_endpoint_service,
                description="Create an interface VPC endpoint to this service for the Airflow UI and API",
            )
            CfnOutput(
                self,
                "DatabaseVpcEndpointService",
                value=environment.attr_database_vpc_endpoint_service,
                description="Create an interface VPC endpoint to this service for the metadata database",
            )


def resolve_settings(
    target: TargetConfig,
    *,
    plan: EnvironmentPlan,
    execution_role_arn: str,
    source_bucket_arn: str,
    created_security_group: str | None,
    deployed_versions: Mapping[str, str],
) -> EnvironmentSettings:
    """The plan's literal settings (cloned or defaulted, the file's on top) and what the stack itself makes.
    `deployed_versions` are the S3 versions of the files [workflows] deployed, by kind."""
    settings = plan.settings
    network = settings["NetworkConfiguration"]
    # A file network without security groups gets the group the stack creates.
    groups = list(network.get("SecurityGroupIds") or [])
    if target.network is not None:
        groups = list(target.network.security_group_ids) or [created_security_group or ""]
    logging = {
        module: ModuleLogging(
            enabled=settings["LoggingConfiguration"][LOG_MODULE_PROPERTIES[module]]["Enabled"],
            level=settings["LoggingConfiguration"][LOG_MODULE_PROPERTIES[module]]["LogLevel"],
        )
        for module in LOG_MODULES
    }
    return EnvironmentSettings(
        name=target.environment_name,
        airflow_version=target.airflow_version,
        execution_role_arn=execution_role_arn,
        source_bucket_arn=source_bucket_arn,
        dag_s3_path=target.dag_s3_path,
        environment_class=settings["EnvironmentClass"],
        min_workers=settings["MinWorkers"],
        max_workers=settings["MaxWorkers"],
        schedulers=settings["Schedulers"],
        min_webservers=settings["MinWebservers"],
        max_webservers=settings["MaxWebservers"],
        webserver_access_mode=settings["WebserverAccessMode"],
        endpoint_management=settings["EndpointManagement"],
        weekly_maintenance_window_start=settings.get("WeeklyMaintenanceWindowStart"),
        worker_replacement_strategy=target.worker_replacement_strategy,
        kms_key=settings.get("KmsKey"),
        subnet_ids=list(network["SubnetIds"]),
        security_group_ids=groups,
        logging=logging,
        airflow_configuration_options=settings["AirflowConfigurationOptions"],
        tags=settings.get("Tags", {}),
        plugins_s3_path=target.plugins_s3_path,
        requirements_s3_path=target.requirements_s3_path,
        startup_script_s3_path=target.startup_script_s3_path,
        requirements_s3_object_version=deployed_versions.get("requirements"),
        plugins_s3_object_version=deployed_versions.get("plugins"),
        startup_script_s3_object_version=deployed_versions.get("startup_script"),
    )
