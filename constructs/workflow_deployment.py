"""Deploys a migration's DAGs, requirements.txt, plugins.zip and startup script into the environment's source
bucket, and gives the environment the S3 version of each file it pins."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CustomResource, Duration, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets

from constructs import Construct, IDependable
from constructs.acknowledgments import acknowledge_wildcard_resource
from constructs.provider_handler import provider_handler
from mwaa_migration.assets import WORKFLOW_DEPLOY_DIR
from mwaa_migration.migration import DeployedFile
from mwaa_migration.plugins_zip import WORKFLOW_EXCLUDES, build_plugins_zip

FILE_RESOURCE_TYPE = "Custom::MwaaWorkflowFile"
DAGS_RESOURCE_TYPE = "Custom::MwaaDagFolder"
# The handler's timeout plus the framework's own time, so a failure reaches CloudFormation in minutes.
SERVICE_TIMEOUT = Duration.minutes(10)


class WorkflowDeployment(Construct):
    """One custom resource per file, so a change to one file gives only that file a new version (and an
    unchanged file keeps its version, so the environment isn't updated for it); one for the DAG folder."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        dag_folder: Path | None,
        dag_prefix: str,
        files: Sequence[DeployedFile],
        keep: Sequence[str] = (),
    ) -> None:
        """`files` sources are files, or a folder (plugins) that is zipped reproducibly; `dag_prefix` ends in /;
        `keep` are keys under it that other deployments own (the migration DAGs' zip): the sync never writes or prunes
        them."""
        super().__init__(scope, construct_id)
        staged = {file.kind: self._stage_file(file) for file in files}
        dags_asset = (
            s3_assets.Asset(self, "DagFolderAsset", path=str(dag_folder), exclude=list(WORKFLOW_EXCLUDES))
            if dag_folder
            else None
        )
        assets = [*staged.values(), *([dags_asset] if dags_asset else [])]
        permissions = [
            iam.PolicyStatement(
                sid="ReadStagedWorkflowFiles",
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key) for asset in assets],
            )
        ]
        if files:
            permissions.append(
                iam.PolicyStatement(
                    sid="WriteWorkflowFiles",
                    actions=["s3:PutObject"],
                    resources=[bucket.arn_for_objects(file.s3_path) for file in files],
                )
            )
        dag_objects = bucket.arn_for_objects(dag_prefix + "*")
        if dags_asset:
            permissions += [
                iam.PolicyStatement(
                    sid="ListDagFolder",
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [dag_prefix + "*"]}},
                ),
                iam.PolicyStatement(
                    sid="SyncDagFolder", actions=["s3:PutObject", "s3:DeleteObject"], resources=[dag_objects]
                ),
            ]
        handler = provider_handler(
            self,
            code_dir=WORKFLOW_DEPLOY_DIR,
            handler="mwaa_workflow_deploy.workflow_handler.on_event",
            description="Deploys an MWAA environment's DAGs, requirements, plugins and startup script",
            role_description="Copies staged workflow files into the source bucket: "
            + ", ".join([*(file.s3_path for file in files), *([dag_prefix] if dags_asset else [])]),
            invoke_sid="InvokeWorkflowDeployment",
            permissions=permissions,
            outside_vpc_reason="Calls only S3 (the CDK asset bucket and the source bucket); the environment's "
            "subnets may have no route to S3, and an MWAA source's subnets are only known at deploy time.",
            timeout=Duration.minutes(5),
            memory_size=512,
        )
        if dags_asset:
            acknowledge_wildcard_resource(
                handler.handler_policy,
                dag_objects,
                f"Syncs the DAG folder: it writes and prunes objects whose names come from the folder's files, "
                f"all under {dag_prefix}, the environment's DagS3Path, and nowhere else in the bucket.",
            )

        def deploy(
            construct_id: str, resource_type: str, asset: s3_assets.Asset, **target: str | list[str]
        ) -> CustomResource:
            return handler.custom_resource(
                self,
                construct_id,
                resource_type=resource_type,
                service_timeout=SERVICE_TIMEOUT,
                properties={
                    "StagedBucket": asset.s3_bucket_name,
                    "StagedKey": asset.s3_object_key,
                    "Bucket": bucket.bucket_name,
                    **target,
                },
            )

        # The S3 version each file was written as, by kind (requirements, plugins, startup_script).
        self.versions: dict[str, str] = {
            file.kind: deploy(
                file.property_prefix, FILE_RESOURCE_TYPE, staged[file.kind], Kind="File", Key=file.s3_path
            ).get_att_string("VersionId")
            for file in files
        }
        self.dags: IDependable | None = None
        if dags_asset:
            kept: dict[str, list[str]] = {"Keep": sorted(keep)} if keep else {}
            self.dags = deploy("DagFolder", DAGS_RESOURCE_TYPE, dags_asset, Kind="Dags", Prefix=dag_prefix, **kept)

    def _stage_file(self, file: DeployedFile) -> s3_assets.Asset:
        path = file.source
        if path.is_dir():
            # Named by its content, in the assembly folder: the same plugins give the same file and asset hash.
            content = build_plugins_zip(path)
            stage = Stage.of(self)
            assert stage is not None  # every construct of an app is in one
            path = Path(stage.asset_outdir, "workflow-build", f"{hashlib.sha256(content).hexdigest()}.zip")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return s3_assets.Asset(self, f"{file.property_prefix}Asset", path=str(path))
