"""Where this migration's exports are, and the one the conf names: the deployment's settings, and the archive reader.

`settings.json` beside this module is filled in by the deployment (the custom resource that writes the zip into the
DAG folder replaces its `__MWAA_<NAME>__` values with the migration bucket, the migration's name and the task log
groups). A copy that wasn't filled in still loads as DAGs; its tasks refuse to run.

`archive` is the cut-over's archive reader (lambda/cutover/archive.py: S3Archive and LocalArchive, read_manifest,
parts checked by bytes, sha256 and rows before a row is handed out, the run-id map), copied into this package when
the zip is built: one reader for the importers, the verifier and the cut-over, never a second copy in the source.
"""

from __future__ import annotations

import json
import pkgutil
import re
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    # mypy reads the reader from its one source (mwaa_cutover, the cut-over's package) ...
    from mwaa_cutover import archive as archive
else:
    # ... which the build copies into this package (mwaa_migration/migration_dags_zip.py, ARCHIVE_SOURCE).
    from . import archive as archive

SETTINGS_FILE = "settings.json"
# What the deployment replaces; a value still shaped like this was never filled in.
_PLACEHOLDER = re.compile(r"__MWAA_[A-Z0-9_]+__")
# An export id as the export and the cut-over make them (a UTC time, or the cut-over's own id).
EXPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class ExportError(Exception):
    """The export can't be found or opened: names the bucket, the prefix or the conf key, never a value of a row."""


class Settings(NamedTuple):
    """This migration's values, as the deployment wrote them."""

    migration_bucket: str
    migration_name: str
    # Empty for a self-managed source: no CloudWatch task logs to copy.
    source_task_log_group: str
    source_region: str
    target_task_log_group: str


def parse_settings(body: bytes) -> Settings:
    try:
        values = json.loads(body.decode("utf-8"))
    except ValueError:
        raise ExportError(f"{__package__}/{SETTINGS_FILE} is not JSON; deploy the migration's stacks again") from None
    fields = Settings._fields
    if not isinstance(values, dict) or sorted(values) != sorted(fields):
        raise ExportError(f"{__package__}/{SETTINGS_FILE} must hold exactly {', '.join(fields)}")
    if not all(isinstance(values[field], str) for field in fields):
        raise ExportError(f"{__package__}/{SETTINGS_FILE}: every value must be a string")
    unfilled = sorted(field for field in fields if _PLACEHOLDER.fullmatch(values[field]))
    if unfilled:
        raise ExportError(
            f"this copy of the migration DAGs was not filled in by the deployment ({', '.join(unfilled)}): deploy it "
            "with the migration's new-environment stack"
        )
    return Settings(**{field: values[field] for field in fields})


def load_settings() -> Settings:
    """The settings.json inside this package (read through the zip's loader, as Airflow imported it)."""
    body = pkgutil.get_data(__package__ or __name__, SETTINGS_FILE)
    if body is None:
        raise ExportError(f"{__package__}/{SETTINGS_FILE} is missing; deploy the migration's stacks again")
    return parse_settings(body)


def s3_client(region: str | None = None) -> Any:
    import boto3  # type: ignore[import-not-found, unused-ignore]

    return boto3.client("s3", region_name=region) if region else boto3.client("s3")


def export_prefix(migration: str, export_id: str) -> str:
    return f"exports/{migration}/{export_id}/"


def latest_export(client: Any, bucket: str, migration: str) -> str | None:
    """The complete export (one with a manifest) that finished last; prefixes without a manifest are ignored.

    Lists `exports/<migration>/` only (the new role may list nothing else) and reads each candidate's manifest by
    key, through the archive reader."""
    root = f"exports/{migration}/"
    ids: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root, Delimiter="/"):
        ids.extend(item["Prefix"][len(root) :].strip("/") for item in page.get("CommonPrefixes", []))
    best: tuple[str, str] | None = None
    for export_id in ids:
        body = archive.S3Archive(bucket=bucket, prefix=root + export_id, client=client).read(archive.MANIFEST_KEY)
        if body is None:
            continue
        try:
            manifest = json.loads(body.decode("utf-8"))
        except ValueError:
            continue
        finished = str(manifest.get("finished_at") or "") if isinstance(manifest, dict) else ""
        if best is None or (finished, export_id) > best:
            best = (finished, export_id)
    return best[1] if best else None


def open_export(conf: dict[str, Any], settings: Settings | None = None, client: Any = None) -> archive.Archive:
    """The export `conf` names (`export_id`), or the newest complete one, in the migration bucket."""
    settings = settings if settings is not None else load_settings()
    client = client if client is not None else s3_client()
    bucket, migration = settings.migration_bucket, settings.migration_name
    export_id = conf.get("export_id")
    if export_id is None:
        export_id = latest_export(client, bucket, migration)
        if export_id is None:
            raise ExportError(f"no complete export under s3://{bucket}/exports/{migration}/")
    if not isinstance(export_id, str) or not EXPORT_ID.fullmatch(export_id):
        raise ExportError("conf export_id must be an export's id, e.g. 20261128T134500Z")
    return archive.S3Archive(bucket=bucket, prefix=export_prefix(migration, export_id), client=client)
