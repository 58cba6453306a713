"""Put one of the migration's own DAG files into an environment's DAG folder, and take it away, without touching
anyone else's file: the export DAG into the old environment, the migration DAGs' zip (the import DAG, the task-log
DAG and their support package) into the new one.

The file is one the app built (`migration_dags/export_metadata.py`, or mwaa_migration_dags.zip from
mwaa_migration/migration_dags_zip.py), staged as a CDK asset, with its `__MWAA_<NAME>__` placeholders filled in: in
the text of a `.py` file; in a zip, in its one settings entry (`mwaa_migration_support/settings.json`), the other
entries copied byte for byte, so the written zip is as reproducible as the staged one. It is written only where no
object of that name exists, marked with object metadata; it is replaced or deleted only while it still carries that
mark and the content this migration wrote, and always with `If-Match` on the ETag just read, so a file someone
changed in between is left alone. Pure but for the S3 client.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Placeholders every migration DAG carries, filled from the MigrationBucket and MigrationName properties.
BUCKET_PLACEHOLDER = "__MWAA_MIGRATION_BUCKET__"
NAME_PLACEHOLDER = "__MWAA_MIGRATION_NAME__"
PLACEHOLDER_RE = re.compile(r"__MWAA_[A-Z0-9_]+__")
# Values land inside Python string literals as plain text: names, regions and ARNs only, never a quote or newline.
SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9._:/-]*")
# The one entry of a zip that holds placeholders (a JSON object of strings): the migration DAGs' settings.
SETTINGS_ENTRY = "mwaa_migration_support/settings.json"
# Object metadata (x-amz-meta-*) that says the app wrote this file, for which migration and with what content.
MARK = "mwaa-migration"
DIGEST = "mwaa-migration-sha256"


class MigrationDagError(Exception):
    """One line: what went wrong and what to do."""


@dataclass(frozen=True)
class MigrationDagRequest:
    staged_bucket: str
    staged_key: str
    bucket: str  # the environment's source bucket
    key: str  # <DagS3Path>/mwaa_migration_export.py, or <DagS3Path>/mwaa_migration_dags.zip
    migration_bucket: str
    migration_name: str
    # Further placeholders of this file and their values, sorted by placeholder; a value may be empty.
    placeholders: tuple[tuple[str, str], ...] = ()
    # Appended to "rename or remove that file" when the key is taken: the file's opt-out, if it has one.
    if_taken: str = ""

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> MigrationDagRequest:
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
                raise MigrationDagError(f"the custom resource property {key} is missing; the stack must set it")
            values[field] = value
        extra = props.get("Placeholders", {})
        if not isinstance(extra, Mapping) or not all(
            isinstance(name, str) and PLACEHOLDER_RE.fullmatch(name) and isinstance(value, str)
            for name, value in extra.items()
        ):
            raise MigrationDagError("the custom resource property Placeholders must map __MWAA_<NAME>__ to strings")
        if_taken = props.get("IfTaken", "")
        return cls(**values, placeholders=tuple(sorted(extra.items())), if_taken=str(if_taken))

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def render(template: bytes, request: MigrationDagRequest) -> bytes:
    """The DAG file (or zip) with this migration's values; refuses a template that lacks a placeholder it is given or
    holds one it isn't, and a value that isn't plain text."""
    if request.key.endswith(".zip"):
        return render_zip(template, request)
    return _render_text(template, request)


def _render_text(template: bytes, request: MigrationDagRequest, what: str = "the staged DAG file") -> bytes:
    text = template.decode("utf-8")
    values = {BUCKET_PLACEHOLDER: request.migration_bucket, NAME_PLACEHOLDER: request.migration_name}
    values.update(request.placeholders)
    for placeholder, value in values.items():
        if placeholder not in text:
            raise MigrationDagError(f"{what} must hold {placeholder}; the app's file is damaged")
        if not SAFE_VALUE_RE.fullmatch(value):
            raise MigrationDagError(f"the value for {placeholder} has characters a DAG file can't take as plain text")
        text = text.replace(placeholder, value)
    left = sorted(set(PLACEHOLDER_RE.findall(text)))
    if left:
        raise MigrationDagError(
            f"{what} holds {', '.join(left)}, which the stack doesn't fill; deploy the app's own stacks"
        )
    return text.encode("utf-8")


def render_zip(template: bytes, request: MigrationDagRequest) -> bytes:
    """The staged zip with its settings entry filled in: every entry in its order, with its name, date and mode,
    the others' bytes unchanged, all stored (uncompressed), so the same staged zip and values give the same bytes."""
    try:
        staged = zipfile.ZipFile(io.BytesIO(template))
        entries = [(info, staged.read(info)) for info in staged.infolist()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise MigrationDagError("the staged migration DAGs are not a readable zip; the app's file is damaged") from None
    if [info.filename for info, _ in entries].count(SETTINGS_ENTRY) != 1:
        raise MigrationDagError(f"the staged zip must hold {SETTINGS_ENTRY} once; the app's file is damaged")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as written:
        for info, data in entries:
            if info.filename == SETTINGS_ENTRY:
                data = _render_text(data, request, f"the staged zip's {SETTINGS_ENTRY}")
                try:
                    json.loads(data)
                except ValueError:
                    raise MigrationDagError(
                        f"{SETTINGS_ENTRY} is not JSON once filled in; the app's file is damaged"
                    ) from None
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.create_system = info.create_system
            copy.external_attr = info.external_attr
            copy.compress_type = zipfile.ZIP_STORED
            written.writestr(copy, data)
    return buffer.getvalue()


def _head(s3: S3Client, request: MigrationDagRequest) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(s3.head_object(Bucket=request.bucket, Key=request.key))
    except ClientError as error:
        # Without s3:ListBucket (which would let the role list the DAG folder), S3 answers a HEAD of a missing key
        # with 403, not 404. The role may read this one key, so a 403 means it isn't there; if the refusal was
        # real (a bucket or key policy), the conditional write that follows fails and says so.
        if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound", "403", "Forbidden"):
            return None
        raise


def _ours(head: Mapping[str, Any], request: MigrationDagRequest) -> bool:
    return bool(head.get("Metadata", {}).get(MARK) == request.migration_name)


def _rendered(s3: S3Client, request: MigrationDagRequest) -> tuple[bytes, str]:
    body = render(s3.get_object(Bucket=request.staged_bucket, Key=request.staged_key)["Body"].read(), request)
    return body, hashlib.sha256(body).hexdigest()


def deploy(s3: S3Client, request: MigrationDagRequest) -> dict[str, str]:
    """Create or Update: write the file, never over one the app didn't write. Returns its ETag and digest."""
    body, digest = _rendered(s3, request)
    metadata = {MARK: request.migration_name, DIGEST: digest}
    head = _head(s3, request)
    if head is not None and not _ours(head, request):
        raise MigrationDagError(
            f"{request.location} already exists and this migration didn't write it; rename or remove that file"
            + request.if_taken
        )
    if head is not None and head.get("Metadata", {}).get(DIGEST) == digest:
        return {"ETag": str(head["ETag"]), "Sha256": digest}  # already this content: nothing to write
    common: dict[str, Any] = {"Bucket": request.bucket, "Key": request.key, "Body": body, "Metadata": metadata}
    common["ContentType"] = "application/zip" if request.key.endswith(".zip") else "text/x-python"
    if head is None:
        written = s3.put_object(**common, IfNoneMatch="*")
    else:
        written = s3.put_object(**common, IfMatch=str(head["ETag"]))
    return {"ETag": str(written["ETag"]), "Sha256": digest}


def remove(s3: S3Client, request: MigrationDagRequest) -> bool:
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
