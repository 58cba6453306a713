"""The cut-over's export id, the wait for its manifest, and the deletion of the export's `secrets/` after import."""

from __future__ import annotations

import datetime
from typing import Any

from mwaa_cutover.archive import MANIFEST_KEY, ArchiveError, S3Archive, read_manifest
from mwaa_cutover.bucket_keys import export_prefix

CUTOVER_SUFFIX = "-cutover"
# DeleteObjects takes at most 1,000 keys per call.
DELETE_BATCH = 1000


def new_export_id(now: datetime.datetime) -> str:
    """Cut-over, before triggering the export DAG: `20261128T151500Z-cutover`. The export DAG's own ids are the bare
    UTC time, and `latest_complete_export` takes the greatest id as the newest: a time-first id keeps that order
    across rehearsal and cut-over exports (a `cutover-` prefix would sort after every later rehearsal)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ") + CUTOVER_SUFFIX


def wait_for_manifest(s3: Any, *, bucket: str, migration: str, export_id: str) -> dict[str, Any]:
    """Cut-over, in a loop with a Wait after triggering the export (or, for a self-managed source or one below
    Airflow 2.4.3, while the operator exports): is `manifest.json` there and sound? A prefix without one is an
    unfinished export, never imported. Returns {"present": False} or {"present": True, "export_id", "tables",
    "rows", "secrets", "warnings"} (counts); ArchiveError for a manifest that is there but damaged or not this
    export's."""
    archive = S3Archive(bucket=bucket, prefix=export_prefix(migration, export_id), client=s3)
    if archive.read(MANIFEST_KEY) is None:
        return {"present": False, "export_id": export_id}
    manifest = read_manifest(archive)
    if manifest.get("migration") != migration or manifest.get("export_id") != export_id:
        raise ArchiveError(f"{archive.description}manifest.json names another migration or export id")
    return {
        "present": True,
        "export_id": export_id,
        "tables": len(manifest["tables"]),
        "rows": sum(int(entry["rows"]) for entry in manifest["tables"].values()),
        "secrets": sum(int(entry["rows"]) for entry in manifest.get("secrets", {}).values()),
        "warnings": len(manifest.get("warnings") or []),
    }


def secret_keys(manifest: dict[str, Any]) -> list[str]:
    """The `secrets/` part keys the manifest names, relative to the export's prefix."""
    return sorted({part["key"] for entry in manifest.get("secrets", {}).values() for part in entry["parts"]})


def delete_secrets(s3: Any, *, bucket: str, prefix: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Cut-over, after a verified import: deletes the export's `secrets/` parts the manifest names. The migration
    bucket keeps versions, so a plain delete would only hide them behind a delete marker: every version (and
    marker) of each key is deleted. Idempotent: a second call finds no versions. Needs s3:ListBucketVersions on the
    prefix and s3:DeleteObjectVersion on `secrets/*`.

    Returns {"keys": parts named, "versions_deleted": n}; raises ArchiveError naming keys S3 refused to delete."""
    root = prefix.strip("/") + "/"
    keys = [root + key for key in secret_keys(manifest)]
    versions: list[dict[str, str]] = []
    for key in keys:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        while True:
            page = s3.list_object_versions(**kwargs)
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                if item["Key"] == key:  # Prefix would also match a longer key
                    versions.append({"Key": key, "VersionId": item["VersionId"]})
            if not page.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = page["NextKeyMarker"]
            kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]
    for start in range(0, len(versions), DELETE_BATCH):
        batch = versions[start : start + DELETE_BATCH]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors = [e for e in response.get("Errors", []) if e.get("Code") not in ("NoSuchKey", "NoSuchVersion")]
        if errors:
            named = ", ".join(sorted({f"{e['Key']} ({e.get('Code')})" for e in errors})[:20])
            raise ArchiveError(
                f"S3 refused to delete {len(errors)} versions of secrets in s3://{bucket}/{root}: {named}"
            )
    return {"keys": len(keys), "versions_deleted": len(versions)}
