"""The migration's own DAGs, each put into an environment's DAG folder by one custom resource: the export DAG into
the old environment (guide step 3), the migration DAGs' zip (the import DAG, the task-log DAG and their support
package) into the new one (step 4). One object each, written and removed only by this migration, never over a file
someone else wrote; the export DAG's one key never updates the old environment."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets

from constructs import Construct
from constructs.provider_handler import provider_handler
from mwaa_migration.assets import EXPORT_DAG_DEPLOY_DIR, MIGRATION_DAGS_DIR
from mwaa_migration.environment.environment_plan import EXPORT_DAG_NAME
from mwaa_migration.migration_dags_zip import ZIP_NAME, build_migration_dags_zip

SERVICE_TIMEOUT = Duration.minutes(5)


@dataclass(frozen=True)
class MigrationDag:
    """One of the app's DAG objects and how its deployment names itself: a file as it is, or built at synth."""

    name: str  # the object name in the DAG folder
    label: str  # construct and statement names: ExportDag, MigrationDags
    resource_type: str
    description: str  # the deploying function's
    environment: str  # whose source bucket, for the function's reasons
    if_taken: str  # appended to "rename or remove that file" when another file has the name
    file: Path | None = None
    build: Callable[[], bytes] | None = None  # reproducible bytes, staged from the assembly folder

    def staged_file(self, scope: Construct) -> Path:
        """The file CDK stages: `file`, or what `build` makes, named by its content in the assembly folder (the
        same content gives the same file and asset hash)."""
        if self.file is not None:
            return self.file
        assert self.build is not None, "a MigrationDag has a file or a build"
        content = self.build()
        stage = Stage.of(scope)
        assert stage is not None  # every construct of an app is in one
        path = Path(
            stage.asset_outdir, "migration-dags-build", f"{hashlib.sha256(content).hexdigest()}{Path(self.name).suffix}"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path


EXPORT_DAG = MigrationDag(
    file=MIGRATION_DAGS_DIR / "export_metadata.py",
    name=EXPORT_DAG_NAME,
    label="ExportDag",
    resource_type="Custom::MwaaExportDag",
    description="Puts the metadata export DAG into the old MWAA environment's DAG folder",
    environment="the old environment's source bucket",
    if_taken=", or set [export] deploy_dag = false and add the export DAG yourself",
)
MIGRATION_DAGS = MigrationDag(
    build=build_migration_dags_zip,
    name=ZIP_NAME,
    label="MigrationDags",
    resource_type="Custom::MwaaMigrationDags",
    description="Puts the migration DAGs (import, task-log copy) into the new MWAA environment's DAG folder",
    environment="the new environment's source bucket",
    # The new environment is the app's: there is no opt-out, the import and the log copy always need their DAGs.
    if_taken="",
)


class MigrationDagDeployment(Construct):
    """`dag` at `key` in `bucket`, with its placeholders filled: the migration bucket and name, and `placeholders`
    (values may be tokens, resolved by CloudFormation before the function fills them in): in a file's text, or in
    the settings entry of a zip."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dag: MigrationDag,
        bucket: s3.IBucket,
        key: str,
        migration_bucket: str,
        migration_name: str,
        placeholders: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        asset = s3_assets.Asset(self, f"{dag.label}Asset", path=str(dag.staged_file(self)))
        handler = provider_handler(
            self,
            code_dir=EXPORT_DAG_DEPLOY_DIR,
            handler="mwaa_export_dag_deploy.export_dag_handler.on_event",
            description=dag.description,
            role_description=f"Writes and removes s3://{bucket.bucket_name}/{key} only",
            invoke_sid=f"Invoke{dag.label}Deployment",
            permissions=[
                iam.PolicyStatement(
                    sid=f"ReadStaged{dag.label}",
                    actions=["s3:GetObject"],
                    resources=[asset.bucket.arn_for_objects(asset.s3_object_key)],
                ),
                iam.PolicyStatement(
                    sid=f"Write{dag.label}Only",
                    # GetObject also allows the HeadObject that checks whose file it is before any write.
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[bucket.arn_for_objects(key)],
                ),
            ],
            outside_vpc_reason=f"Calls only S3 (the CDK asset bucket and {dag.environment}).",
            timeout=Duration.seconds(60),
            memory_size=256,
        )
        properties: dict[str, object] = {
            "StagedBucket": asset.s3_bucket_name,
            "StagedKey": asset.s3_object_key,
            "Bucket": bucket.bucket_name,
            "Key": key,
            "MigrationBucket": migration_bucket,
            "MigrationName": migration_name,
        }
        if placeholders:
            properties["Placeholders"] = dict(sorted(placeholders.items()))
        if dag.if_taken:
            properties["IfTaken"] = dag.if_taken
        self.resource = handler.custom_resource(
            self,
            "Resource",
            resource_type=dag.resource_type,
            service_timeout=SERVICE_TIMEOUT,
            properties=properties,
        )
