"""An S3 bucket with the protections every bucket of this app needs, so they are written once."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.acknowledgments import acknowledge


@dataclass(frozen=True)
class Expiry:
    """Objects under `prefix` expire `after` their creation; the rest of the bucket never does."""

    prefix: str
    after: Duration


class SecureBucket(Construct):
    """Versioned, TLS-only, no public access, owner-enforced, retained on stack deletion.

    With `encryption_key` the bucket uses SSE-KMS with S3 Bucket Keys; without one it uses SSE-S3, which is what
    an S3 server-access-log destination requires. `access_logs` receives this bucket's server access logs.
    The reasons are this bucket's answers to the NIST 800-53 findings it does not remediate.

    `filled_during_create`: the bucket gets objects while its stack is still being created (deployed files, access
    logs, which S3 delivers late). CloudFormation deletes only empty buckets, so such a bucket is always retained,
    also when the first create rolls back (else the rollback ends in ROLLBACK_FAILED); it must be auto-named, so a
    retry creates a fresh one. Any other bucket is removed with a failed first create and retained after.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None = None,
        access_logs: s3.IBucket | None = None,
        access_logs_prefix: str | None = None,
        expire: Expiry | None = None,
        bucket_name: str | None = None,
        filled_during_create: bool,
        no_replication_reason: str,
        sse_s3_reason: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if filled_during_create and bucket_name is not None:
            raise ValueError("a bucket retained on a failed create must be auto-named, or the retry can't create it")
        lifecycle_rules = [
            s3.LifecycleRule(id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(1))
        ]
        if expire is not None:
            lifecycle_rules.append(
                s3.LifecycleRule(
                    id="ExpireExports",
                    prefix=expire.prefix,
                    expiration=expire.after,
                    noncurrent_version_expiration=Duration.days(1),
                )
            )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=encryption_key,
            bucket_key_enabled=encryption_key is not None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=access_logs_prefix,
            lifecycle_rules=lifecycle_rules,
            bucket_name=bucket_name,
            removal_policy=RemovalPolicy.RETAIN if filled_during_create else RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        acknowledge(self.bucket, "NIST.800.53.R5-S3BucketReplicationEnabled", no_replication_reason)
        if encryption_key is None:
            if sse_s3_reason is None:
                raise ValueError("a bucket without a KMS key needs sse_s3_reason")
            acknowledge(self.bucket, "NIST.800.53.R5-S3DefaultEncryptionKMS", sse_s3_reason)


def access_logs_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """A destination for other buckets' server access logs."""
    return SecureBucket(
        scope,
        construct_id,
        filled_during_create=True,
        no_replication_reason="Server access logs of this app's buckets; losing a region loses the buckets "
        "they describe.",
        sse_s3_reason="S3 server access logging delivers only to buckets encrypted with SSE-S3.",
    ).bucket
