"""The new execution role's read access to the exported metadata and to the old task logs (guide step 4)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.acknowledgments import acknowledge_wildcard_resource


class MigrationReadAccess(Construct):
    """Lets the import DAG list and read the migration bucket and, for an MWAA source, copy task logs from the
    old environment's `airflow-<old name>-*` log groups. A self-managed source has no such log groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        bucket: s3.IBucket,
        key: kms.IKey,
        old_environment_name: str | None,
        old_region: str | None,
        old_account: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        statements = [
            iam.PolicyStatement(
                sid="ReadMetadataExport",
                actions=["s3:GetObject", "s3:ListBucket"],
                resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="DecryptMetadataExport",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            ),
        ]
        old_log_groups: str | None = None
        if old_environment_name is not None:
            old_log_groups = Stack.of(self).format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"airflow-{old_environment_name}-*",
                region=old_region,
                account=old_account,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            statements.append(
                iam.PolicyStatement(
                    sid="ReadOldTaskLogs",
                    actions=["logs:DescribeLogStreams", "logs:GetLogEvents"],
                    resources=[old_log_groups],
                )
            )
        self.policy = iam.ManagedPolicy(self, "Policy", statements=statements, roles=[role])
        acknowledge_wildcard_resource(
            self.policy,
            bucket.arn_for_objects("*"),
            "The import DAG reads every table file of the export; the bucket holds nothing else.",
        )
        if old_log_groups is not None:
            acknowledge_wildcard_resource(
                self.policy,
                old_log_groups,
                "The import DAG copies task logs from the old environment's log groups, "
                "all named airflow-<old environment>-<module>.",
            )
