"""Write access to the export prefix of the migration bucket, for whatever runs the export DAG (guide step 3)."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.acknowledgments import acknowledge_wildcard_resource
from mwaa_cutover.bucket_keys import ANY, export_root, manifest_key


class ExportWriteAccess(Construct):
    """A managed policy: attached to the old execution role for an MWAA source; for a self-managed source, left
    for the user to attach to whatever identity runs the export."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        migration_name: str,
        old_execution_role_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        export_prefix = export_root(migration_name)
        export_objects = bucket.arn_for_objects(export_prefix + ANY)
        manifests = bucket.arn_for_objects(manifest_key(migration_name, ANY))
        statements = [
            iam.PolicyStatement(
                sid="WriteMetadataExport",
                # The guide grants s3:PutObject*; the export only uploads objects, so no tagging or ACL calls.
                actions=["s3:PutObject"],
                resources=[export_objects],
            ),
            iam.PolicyStatement(
                sid="CheckExportComplete",
                # The export refuses to start where a manifest says an export with that id is already complete.
                actions=["s3:GetObject"],
                resources=[manifests],
            ),
            iam.PolicyStatement(
                sid="EncryptMetadataExport",
                # GenerateDataKey encrypts each upload; Decrypt is needed to complete multipart uploads.
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            ),
        ]
        roles = []
        if old_execution_role_arn is not None:
            roles.append(iam.Role.from_role_arn(self, "OldExecutionRole", old_execution_role_arn, mutable=True))
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Write Airflow metadata exports to {export_prefix} of the migration bucket",
            statements=statements,
            roles=roles,
        )
        acknowledge_wildcard_resource(
            self.policy,
            manifests,
            "The export reads only the manifest of the export id it is about to write, to refuse rewriting a "
            "complete export; the wildcard is the export id.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            export_objects,
            "The export DAG writes one object per metadata table under this migration's export prefix; "
            "the wildcard is the object key, not the bucket or the action.",
        )
