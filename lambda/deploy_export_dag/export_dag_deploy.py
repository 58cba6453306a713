"""Put the export DAG into the old environment's DAG folder, and take it away, without touching anyone else's file.

The file is the app's `migration_dags/export_metadata.py`, staged as a CDK asset, with the migration bucket and
name filled in. It is written only where no object of that name exists, marked with object metadata; it is
replaced or deleted only while it still carries that mark and the content this migration wrote, and always with
`If-Match` on the ETag just read, so a file someone changed in between is left alone. Pure but for the S3 client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Placeholders the file carries, which the deployment replaces with the migration's own values.
BUCKET_PLACEHOLDER = "__MWAA_MIGRATION_BUCKET__"
NAME_PLACEHOLDER = "__MWAA_MIGRATION_NAME__"
# Object metadata (x-amz-meta-*) that says the app wrote this file, for which migration and with what content.
MARK = "mwaa-migration"
DIGEST = "mwaa-migration-sha256"


class ExportDagError(Exception):
    """One line: what went wrong and what to do."""


@dataclass(frozen=True)
class ExportDagRequest:
    staged_bucket: str
    staged_key: str
    bucket: str  # the old environment's source bucket
    key: str  # <DagS3Path>/mwaa_migration_export.py
    migration_bucket: str
    migration_name: str

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> ExportDagRequest:
        values = {}
        for field, key in (
            ("staged_bucket", "StagedBucket"),
            ("staged_key", "StagedKey"),
            ("bucket", "Bucket"),
            ("key", "Key"),
            ("migration_bucket", "MigrationBucket"),
            ("migration_name", "MigrationName"),
        ):
            value = props.get(key)
            if not isinstance(value, str) or not value:
                raise ExportDagError(f"the custom resource property {key} is missing; the stack must set it")
            values[field] = value
        return cls(**values)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def render(template: bytes, request: ExportDagRequest) -> bytes:
    """The DAG file with this migration's bucket and name; refuses a template without both placeholders."""
    text = template.decode("utf-8")
    for placeholder in (BUCKET_PLACEHOLDER, NAME_PLACEHOLDER):
        if text.count(placeholder) != 1:
            raise ExportDagError(f"the staged export DAG must hold {placeholder} once; the app's file is damaged")
    rendered = text.replace(BUCKET_PLACEHOLDER, request.migration_bucket).replace(
        NAME_PLACEHOLDER, request.migration_name
    )
    return rendered.encode("utf-8")


def _head(s3: S3Client, request: ExportDagRequest) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(s3.head_object(Bucket=request.bucket, Key=request.key))
    except ClientError as error:
        # Without s3:ListBucket (which would let the role list the old DAG folder), S3 answers a HEAD of a missing
        # key with 403, not 404. The role may read this one key, so a 403 means it isn't there; if the refusal was
        # real (a bucket or key policy), the conditional write that follows fails and says so.
        if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound", "403", "Forbidden"):
            return None
        raise


def _ours(head: Mapping[str, Any], request: ExportDagRequest) -> bool:
    return bool(head.get("Metadata", {}).get(MARK) == request.migration_name)


def _rendered(s3: S3Client, request: ExportDagRequest) -> tuple[bytes, str]:
    body = render(s3.get_object(Bucket=request.staged_bucket, Key=request.staged_key)["Body"].read(), request)
    return body, hashlib.sha256(body).hexdigest()


def deploy(s3: S3Client, request: ExportDagRequest) -> dict[str, str]:
    """Create or Update: write the file, never over one the app didn't write. Returns its ETag and digest."""
    body, digest = _rendered(s3, request)
    metadata = {MARK: request.migration_name, DIGEST: digest}
    head = _head(s3, request)
    if head is not None and not _ours(head, request):
        raise ExportDagError(
            f"{request.location} already exists and this migration didn't write it; rename or remove that file, "
            "or set [export] deploy_dag = false and add the export DAG yourself"
        )
    if head is not None and head.get("Metadata", {}).get(DIGEST) == digest:
        return {"ETag": str(head["ETag"]), "Sha256": digest}  # already this content: nothing to write
    common: dict[str, Any] = {"Bucket": request.bucket, "Key": request.key, "Body": body, "Metadata": metadata}
    if head is None:
        written = s3.put_object(**common, ContentType="text/x-python", IfNoneMatch="*")
    else:
        written = s3.put_object(**common, ContentType="text/x-python", IfMatch=str(head["ETag"]))
    return {"ETag": str(written["ETag"]), "Sha256": digest}


def remove(s3: S3Client, request: ExportDagRequest) -> bool:
    """Delete: remove the file only while it is the one these properties wrote. True if removed."""
    head = _head(s3, request)
    if head is None or not _ours(head, request):
        return False
    if head.get("Metadata", {}).get(DIGEST) != _rendered(s3, request)[1]:
        return False  # another content than this resource's: changed since, by someone or something else
    from botocore.exceptions import ClientError

    try:
        s3.delete_object(Bucket=request.bucket, Key=request.key, IfMatch=str(head["ETag"]))
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) == "PreconditionFailed":
            return False  # changed since the HEAD: someone else's now
        raise
    return True
