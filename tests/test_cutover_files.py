"""The cut-over's S3 steps (mwaa_cutover.export_files) against moto: export id, manifest wait, secrets deletion."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mwaa_cutover.archive import ArchiveError
from mwaa_cutover.bucket_keys import export_prefix
from mwaa_cutover.export_files import delete_secrets, new_export_id, wait_for_manifest
from tests.moto_bucket import versioned_bucket

BUCKET = "mwaa-migration-m1-123456789012-us-east-1"
EXPORT_ID = "20261128T151500Z-cutover"
PREFIX = export_prefix("m1", EXPORT_ID)


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


def part(key: str, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    data = gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    return {"key": key, "rows": len(rows), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, data


def manifest(parts: dict[str, dict[str, Any]], *, export_id: str = EXPORT_ID) -> dict[str, Any]:
    return {
        "format": 1, "migration": "m1", "export_id": export_id, "source": {"airflow_version": "2.10.3"},
        "started_at": "2026-11-28T15:15:00Z", "finished_at": "2026-11-28T15:16:00Z", "since": None,
        "paused": [], "warnings": ["w"],
        "tables": {"dag_run": {"rows": 1, "columns": {"dag_id": "str"}, "parts": [parts["tables"]]}},
        "secrets": {"variable": {"rows": 2, "columns": {"key": "str", "val": "str"}, "parts": [parts["variable"]]},
                    "connection": {"rows": 1, "columns": {"conn_id": "str"}, "parts": [parts["connection"]]}},
    }  # fmt: skip


def export(s3: Any, *, versions: int = 1, export_id: str = EXPORT_ID) -> dict[str, Any]:
    contents = {
        "tables": part("tables/dag_run/part-00000.jsonl.gz", [{"dag_id": "a"}]),
        "variable": part("secrets/variable.jsonl.gz", [{"key": "k", "val": "v1"}, {"key": "k2", "val": "v2"}]),
        "connection": part("secrets/connection.jsonl.gz", [{"conn_id": "c", "password": "p"}]),
    }
    for _ in range(versions):  # a rehearsal overwritten, say: each key keeps older versions
        for entry, data in contents.values():
            s3.put_object(Bucket=BUCKET, Key=PREFIX + entry["key"], Body=data)
    document = manifest({name: entry for name, (entry, _data) in contents.items()}, export_id=export_id)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "manifest.json", Body=json.dumps(document).encode())
    return document


def versions(s3: Any, prefix: str) -> list[str]:
    page = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in (*page.get("Versions", []), *page.get("DeleteMarkers", [])))


def test_new_export_id_sorts_by_time_among_the_export_dags_own_ids() -> None:
    now = datetime.datetime(2026, 11, 28, 16, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert new_export_id(now) == "20261128T151500Z-cutover"
    ids = ["20261201T000000Z", new_export_id(now), "20261128T151459Z", "20261128T151500Z"]
    assert sorted(ids) == ["20261128T151459Z", "20261128T151500Z", "20261128T151500Z-cutover", "20261201T000000Z"]
    with pytest.raises(ValueError, match="timezone-aware"):
        new_export_id(datetime.datetime(2026, 11, 28))


def test_wait_for_manifest(s3: Any) -> None:
    assert wait_for_manifest(s3, bucket=BUCKET, migration="m1", export_id=EXPORT_ID) == {
        "present": False, "export_id": EXPORT_ID}  # fmt: skip
    export(s3)
    assert wait_for_manifest(s3, bucket=BUCKET, migration="m1", export_id=EXPORT_ID) == {
        "present": True, "export_id": EXPORT_ID, "tables": 1, "rows": 1, "secrets": 3, "warnings": 1}  # fmt: skip


def test_wait_for_manifest_refuses_another_exports_manifest(s3: Any) -> None:
    export(s3, export_id="20261128T000000Z")
    with pytest.raises(ArchiveError, match="another migration or export id"):
        wait_for_manifest(s3, bucket=BUCKET, migration="m1", export_id=EXPORT_ID)


def test_delete_secrets_deletes_every_version_and_is_idempotent(s3: Any) -> None:
    document = export(s3, versions=2)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "secrets/variable.jsonl.gz.keep", Body=b"not in the manifest")
    assert len(versions(s3, PREFIX + "secrets/")) == 5

    result = delete_secrets(s3, bucket=BUCKET, prefix=PREFIX, manifest=document)
    assert result == {"keys": 2, "versions_deleted": 4}
    assert versions(s3, PREFIX + "secrets/") == [PREFIX + "secrets/variable.jsonl.gz.keep"]
    assert versions(s3, PREFIX + "tables/") == [PREFIX + "tables/dag_run/part-00000.jsonl.gz"] * 2
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key=PREFIX + "secrets/variable.jsonl.gz")

    assert delete_secrets(s3, bucket=BUCKET, prefix=PREFIX, manifest=document) == {"keys": 2, "versions_deleted": 0}
