"""The encrypted bucket the old environment exports its Airflow metadata to (guide step 3)."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.secure_bucket import Expiry, SecureBucket, access_logs_bucket
from mwaa_migration.cutover.names import bucket_name


class MigrationBucket(Construct):
    """Customer-managed KMS key (rotated) and an SSE-KMS bucket whose exports expire after `retention_days`.

    Exports can hold connections and variables, so the key and both buckets outlive the stack. Only the exports
    under `export_prefix` expire: the cut-over's own records beside them (pause states, import cursors, reports)
    are what a rollback needs, however long after the export it comes.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, migration_name: str, export_prefix: str, retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the Airflow metadata exported for an MWAA migration",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        access_logs = access_logs_bucket(self, "AccessLogs")
        self.bucket = SecureBucket(
            self,
            "Exports",
            encryption_key=self.key,
            access_logs=access_logs,
            access_logs_prefix="migration-bucket/",
            expire=Expiry(prefix=export_prefix, after=Duration.days(retention_days)),
            bucket_name=migration_bucket_name(migration_name),
            # Nothing is written into it while its stack is created: the export comes later.
            filled_during_create=False,
            no_replication_reason="Holds a one-off export that the old environment can re-create at any time; "
            "a replica would be one more copy of connections and variables to protect.",
        ).bucket


def migration_bucket_name(migration_name: str) -> str:
    """Deterministic, so the new-environment stack names the bucket without a cross-stack export."""
    return bucket_name(migration_name, account=Aws.ACCOUNT_ID, region=Aws.REGION)
