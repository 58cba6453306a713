"""The export DAG, put into the old environment's DAG folder (guide step 3): one file, written and removed only
by this migration, so adding it never updates the old environment and never touches another file."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets

from constructs import Construct
from constructs.provider_handler import provider_handler

EXPORT_DAG_FILE = Path(__file__).resolve().parent.parent / "migration_dags" / "export_metadata.py"
EXPORT_DAG_DEPLOY_DIR = Path(__file__).resolve().parent.parent / "lambda" / "deploy_export_dag"
RESOURCE_TYPE = "Custom::MwaaExportDag"
SERVICE_TIMEOUT = Duration.minutes(5)


class ExportDagDeployment(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_bucket: str,
        key: str,
        migration_bucket: str,
        migration_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        asset = s3_assets.Asset(self, "ExportDagAsset", path=str(EXPORT_DAG_FILE))
        target = f"arn:{Aws.PARTITION}:s3:::{source_bucket}/{key}"
        handler = provider_handler(
            self,
            code_dir=EXPORT_DAG_DEPLOY_DIR,
            handler="export_dag_handler.on_event",
            description="Puts the metadata export DAG into the old MWAA environment's DAG folder",
            role_description=f"Writes and removes s3://{source_bucket}/{key} only",
            invoke_sid="InvokeExportDagDeployment",
            permissions=[
                iam.PolicyStatement(
                    sid="ReadStagedExportDag",
                    actions=["s3:GetObject"],
                    resources=[asset.bucket.arn_for_objects(asset.s3_object_key)],
                ),
                iam.PolicyStatement(
                    sid="WriteExportDagOnly",
                    # GetObject also allows the HeadObject that checks whose file it is before any write.
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[target],
                ),
            ],
            outside_vpc_reason="Calls only S3 (the CDK asset bucket and the old environment's source bucket).",
            timeout=Duration.seconds(60),
            memory_size=256,
        )
        self.resource = handler.custom_resource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "StagedBucket": asset.s3_bucket_name,
                "StagedKey": asset.s3_object_key,
                "Bucket": source_bucket,
                "Key": key,
                "MigrationBucket": migration_bucket,
                "MigrationName": migration_name,
            },
        )
