"""Copies a migration's workflow files from CDK's staged assets into the environment's source bucket.

Two kinds of request, one per custom resource:
- `File`: one object (requirements.txt, plugins.zip, a startup script) copied to one key. Its S3 version ID
  is returned, and the environment pins that version: a new version is what makes MWAA apply the change.
- `Dags`: the DAG folder, staged by CDK as a zip, synced under the DAG prefix. Unchanged objects are not
  rewritten, and objects the folder no longer has are deleted (a delete marker in a versioned bucket), except the
  keys in `Keep`, which another deployment owns (the migration DAGs' zip): never written, never deleted.

Everything is in memory: these are code files, and the Lambda's /tmp would only add a copy.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# DeleteObjects takes at most 1,000 keys per call.
DELETE_BATCH = 1000


class DeploymentError(Exception):
    """A one-line reason the deployment can't go on; the custom resource fails with it."""


@dataclass(frozen=True)
class StagedObject:
    bucket: str
    key: str


@dataclass(frozen=True)
class FileRequest:
    staged: StagedObject
    bucket: str
    key: str


@dataclass(frozen=True)
class DagsRequest:
    staged: StagedObject
    bucket: str
    prefix: str  # ends with "/"
    keep: tuple[str, ...] = ()  # keys under the prefix the sync leaves alone


def _required(properties: Mapping[str, Any], name: str) -> str:
    value = properties.get(name)
    if not isinstance(value, str) or not value:
        raise DeploymentError(f"property {name} is missing; the stack always sets it, so redeploy from this app")
    return value


def request_from_properties(properties: Mapping[str, Any]) -> FileRequest | DagsRequest:
    staged = StagedObject(_required(properties, "StagedBucket"), _required(properties, "StagedKey"))
    kind = properties.get("Kind")
    if kind == "File":
        return FileRequest(staged, _required(properties, "Bucket"), _required(properties, "Key"))
    if kind == "Dags":
        prefix = _required(properties, "Prefix")
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise DeploymentError(f"Prefix {prefix!r} must be a folder such as dags/ (no leading '/', a trailing '/')")
        keep = properties.get("Keep", [])
        if not isinstance(keep, list) or not all(isinstance(key, str) and key.startswith(prefix) for key in keep):
            raise DeploymentError(f"Keep must list keys under {prefix!r}; redeploy from this app")
        return DagsRequest(staged, _required(properties, "Bucket"), prefix, tuple(keep))
    raise DeploymentError(f"unknown Kind {kind!r}; expected File or Dags")


def physical_resource_id(request: FileRequest | DagsRequest) -> str:
    """The S3 location the resource writes: a new location is a new resource, an old one is left as it is."""
    where = request.key if isinstance(request, FileRequest) else request.prefix
    return f"s3://{request.bucket}/{where}"


def _read_staged(s3: S3Client, staged: StagedObject) -> bytes:
    return s3.get_object(Bucket=staged.bucket, Key=staged.key)["Body"].read()


def deploy_file(s3: S3Client, request: FileRequest) -> dict[str, str]:
    """Copy one staged file; returns {"VersionId": ...} of the object written."""
    body = _read_staged(s3, request.staged)
    written = s3.put_object(Bucket=request.bucket, Key=request.key, Body=body)
    version = written.get("VersionId")
    if not version or version == "null":
        raise DeploymentError(
            f"bucket {request.bucket} returned no version for {request.key}: MWAA needs versioning on its source "
            "bucket; enable it (aws s3api put-bucket-versioning) and deploy again"
        )
    return {"VersionId": version}


def dag_files(archive: bytes) -> dict[str, bytes]:
    """Relative path -> content of every file in the staged DAG folder (directories are implied by paths)."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(archive)) as staged:
        for info in staged.infolist():
            name = info.filename.replace("\\", "/")
            if info.is_dir() or name.endswith("/"):
                continue
            if name.startswith("/") or ".." in name.split("/"):
                raise DeploymentError(f"the staged DAG folder holds {name!r}, a path outside the folder")
            files[name] = staged.read(info)
    return files


def etag_of(content: bytes) -> str:
    """The ETag S3 gives a single-part upload without SSE-KMS: the quoted MD5 of the content. Not security:
    it only spares rewriting an unchanged DAG (which would make MWAA sync it again)."""
    return f'"{hashlib.md5(content, usedforsecurity=False).hexdigest()}"'


@dataclass(frozen=True)
class DagSync:
    uploads: tuple[str, ...]  # keys to write
    deletions: tuple[str, ...]  # keys to delete
    unchanged: int


def plan_dag_sync(
    files: Mapping[str, bytes], existing: Mapping[str, str], prefix: str, keep: Iterable[str] = ()
) -> DagSync:
    """What to write and delete so the prefix holds exactly `files` besides `keep`; `existing` is key -> ETag
    under it."""
    wanted = {prefix + name: content for name, content in files.items()}
    kept = set(keep)
    clash = sorted(kept & set(wanted))
    if clash:
        raise DeploymentError(
            f"the DAG folder holds {clash[0].removeprefix(prefix)}, a name the migration deploys its own file "
            "under; rename or remove that file in the folder"
        )
    uploads = sorted(key for key, content in wanted.items() if existing.get(key) != etag_of(content))
    # A key ending in "/" is a console folder marker, not a file; it is left alone.
    deletions = sorted(key for key in existing if key not in wanted and key not in kept and not key.endswith("/"))
    return DagSync(tuple(uploads), tuple(deletions), len(wanted) - len(uploads))


def _existing_objects(s3: S3Client, bucket: str, prefix: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update({item["Key"]: item.get("ETag", "") for item in page.get("Contents", [])})
    return found


def _batches(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def deploy_dags(s3: S3Client, request: DagsRequest) -> dict[str, int]:
    """Sync the DAG folder under the prefix; returns counts of the files and of what changed."""
    files = dag_files(_read_staged(s3, request.staged))
    sync = plan_dag_sync(files, _existing_objects(s3, request.bucket, request.prefix), request.prefix, request.keep)
    for key in sync.uploads:
        s3.put_object(Bucket=request.bucket, Key=key, Body=files[key.removeprefix(request.prefix)])
    for batch in _batches(sync.deletions, DELETE_BATCH):
        result = s3.delete_objects(
            Bucket=request.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = result.get("Errors", [])
        if errors:
            first = errors[0]
            raise DeploymentError(
                f"could not delete {len(errors)} stale DAG object(s) from {request.bucket}, first "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
    return {"Files": len(files), "Uploaded": len(sync.uploads), "Deleted": len(sync.deletions)}
