"""The new execution role's access to the exported metadata and to the old task logs (guide step 4)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.acknowledgments import acknowledge_wildcard_resource
from mwaa_cutover.bucket_keys import ANY, export_root, manifest_key, run_ids_key, secret_parts, table_parts


def task_log_group(environment_name: str) -> str:
    """The CloudWatch Logs group MWAA writes an environment's task logs to."""
    return f"airflow-{environment_name}-Task"


class MigrationReadAccess(Construct):
    """What the migration DAGs (the import DAG and the task-log DAG, `migration_dags/`) need, and no more, attached
    to the new role.

    Every task of the new environment runs with that role, so whatever it may read, any DAG there may read. On an
    Airflow 2 target that is the whole archive, `secrets/` included: the import DAG writes the decrypted values into
    the metadata database, which those tasks can read anyway; it also writes the archive's run-id map. On an Airflow
    3 target the REST importer imports, with the operator's credentials: the role reads tables, manifest and run-id
    map (for the task-log DAG) and never `secrets/`. For an MWAA source the task-log DAG reads the old environment's
    task logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        bucket: s3.IBucket,
        key: kms.IKey,
        migration_name: str,
        imports_secrets: bool,
        old_environment_name: str | None,
        old_region: str | None,
        old_account: str | None,
    ) -> None:
        """`imports_secrets` for an Airflow 2 target, whose import DAG imports the archive itself."""
        super().__init__(scope, construct_id)
        # Each export is exports/<migration>/<export id>/: the first wildcard of each pattern is the export id.
        export_prefix = export_root(migration_name)
        tables = bucket.arn_for_objects(table_parts(migration_name, ANY) + ANY)
        manifests = bucket.arn_for_objects(manifest_key(migration_name, ANY))
        run_ids = bucket.arn_for_objects(run_ids_key(migration_name, ANY))
        secrets = bucket.arn_for_objects(secret_parts(migration_name, ANY) + ANY)
        statements = [
            iam.PolicyStatement(
                sid="ReadMetadataExport", actions=["s3:GetObject"], resources=[tables, manifests, run_ids]
            ),
            iam.PolicyStatement(
                sid="FindLatestExport",
                # The newest complete export is the newest export id under the prefix with a manifest.
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": export_prefix}},
            ),
        ]
        if imports_secrets:
            statements += [
                iam.PolicyStatement(sid="ReadExportedSecrets", actions=["s3:GetObject"], resources=[secrets]),
                iam.PolicyStatement(sid="WriteRunIdMap", actions=["s3:PutObject"], resources=[run_ids]),
            ]
        statements.append(
            iam.PolicyStatement(
                sid="DecryptMetadataExport",
                # GenerateDataKey encrypts the run-id map the import DAG writes.
                actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if imports_secrets else [])],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )
        old_group: str | None = None
        old_streams: str | None = None
        if old_environment_name is not None:
            group = task_log_group(old_environment_name)

            def old_logs(resource_name: str) -> str:
                return Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=resource_name,
                    region=old_region,
                    account=old_account,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )

            # CloudWatch Logs authorizes DescribeLogStreams on the group's ARN with its trailing ":*" (the form
            # DescribeLogGroups returns), and GetLogEvents on each stream's ARN, log-group:<g>:log-stream:<s>.
            old_group, old_streams = old_logs(f"{group}:*"), old_logs(f"{group}:log-stream:*")
            statements += [
                iam.PolicyStatement(
                    sid="ListOldTaskLogStreams", actions=["logs:DescribeLogStreams"], resources=[old_group]
                ),
                iam.PolicyStatement(sid="ReadOldTaskLogEvents", actions=["logs:GetLogEvents"], resources=[old_streams]),
            ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Read the Airflow metadata exports under {export_prefix} and the old task logs",
            statements=statements,
            roles=[role],
        )
        acknowledge_wildcard_resource(
            self.policy,
            tables,
            "The import reads every table part of an export; the wildcards are the export id and the part's key "
            "under tables/, never secrets/.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            manifests,
            "The import reads the manifest of the export it imports, and finds the newest complete one by its "
            "manifest; the wildcard is the export id.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            run_ids,
            "The log copy names streams with the old-to-new run id map of the export it copies for; the wildcard "
            "is the export id.",
        )
        if imports_secrets:
            acknowledge_wildcard_resource(
                self.policy,
                secrets,
                "On an Airflow 2 target the import DAG writes variables and connections into the metadata database, "
                "which its tasks can read anyway; the wildcards are the export id and the secrets part.",
            )
        if old_group is not None and old_streams is not None:
            acknowledge_wildcard_resource(
                self.policy,
                old_group,
                "DescribeLogStreams is authorized on the log group's ARN with CloudWatch Logs' trailing ':*'; the "
                "group is the old environment's task log group only.",
            )
            acknowledge_wildcard_resource(
                self.policy,
                old_streams,
                "The log copy reads every task's log stream of the old environment's task log group, named by "
                "Airflow's log template; the wildcard is the stream name.",
            )
