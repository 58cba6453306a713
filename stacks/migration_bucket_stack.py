"""Guide step 3: where the old environment's metadata export goes, and who may write it."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.deploy_rules import add_deploy_rules
from constructs.export_write_access import ExportWriteAccess
from constructs.migration_bucket import MigrationBucket
from constructs.migration_dag_deployment import EXPORT_DAG, MigrationDagDeployment
from mwaa_migration.environment.environment_plan import account_rules
from mwaa_migration.migration import MigrationConfig


class MigrationBucketStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, migration: MigrationConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The old role's policy is attached by name and the export DAG goes into the old bucket: its account only.
        add_deploy_rules(self, account_rules(migration))
        storage = MigrationBucket(
            self,
            "MigrationBucket",
            migration_name=migration.name,
            export_prefix=migration.export_prefix,
            retention_days=migration.migration_bucket.retention_days,
        )
        self.bucket = storage.bucket
        self.key = storage.key
        self.write_access = ExportWriteAccess(
            self,
            "ExportWriteAccess",
            bucket=storage.bucket,
            key=storage.key,
            migration_name=migration.name,
            old_execution_role_arn=migration.source.execution_role_arn,
        )

        plan = migration.environment
        if plan is not None and plan.export_dag is not None:
            dag = MigrationDagDeployment(
                self,
                "ExportDag",
                dag=EXPORT_DAG,
                bucket=s3.Bucket.from_bucket_name(self, "OldSourceBucket", plan.export_dag.bucket),
                key=plan.export_dag.key,
                migration_bucket=storage.bucket.bucket_name,
                migration_name=migration.name,
            )
            CfnOutput(
                self,
                "ExportDagLocation",
                value=f"s3://{plan.export_dag.bucket}/{plan.export_dag.key}",
                description="The export DAG in the old environment (DAG id mwaa_migration_export, paused)",
            )
            # The DAG may only appear once the old role may write to the bucket (which it already references).
            dag.resource.node.add_dependency(self.write_access.policy)

        CfnOutput(self, "MigrationBucketName", value=storage.bucket.bucket_name, description="Export bucket")
        CfnOutput(self, "ExportPrefix", value=migration.export_prefix, description="Prefix the export DAG writes to")
        CfnOutput(self, "MigrationKeyArn", value=storage.key.key_arn, description="KMS key of the export bucket")
        if migration.source.kind == "self-managed":
            CfnOutput(
                self,
                "ExportPolicyArn",
                value=self.write_access.policy.managed_policy_arn,
                description="Attach to the identity that runs the export on your self-managed Airflow",
            )
