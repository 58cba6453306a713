"""The archive reader against archives the real export writes from a real Airflow 2.10.3 database (SQLite), read
from a folder and from S3 (moto), and against damaged, incomplete and unreadable ones."""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mwaa_cutover import archive
from mwaa_cutover.archive import (
    ArchiveError,
    LocalArchive,
    S3Archive,
    iter_rows,
    iter_secret_rows,
    latest_complete_export,
    open_archive,
    read_manifest,
    read_run_ids,
    write_run_ids,
)
from mwaa_cutover.bucket_keys import export_root
from tests import airflow_harness as harness
from tests.airflow_fixtures import AirflowEnv
from tests.test_export_metadata import COMPARED_TABLES, as_utc, decoded

BUCKET = "mwaa-migration-m1-123456789012-us-east-1"
EXPORT_PREFIX = "exports/m1/20260301T000000Z/"


class Exported:
    def __init__(self, root: Path, manifest: dict[str, Any], dump: dict[str, list[dict[str, Any]]]) -> None:
        self.root = root
        self.manifest = manifest
        self.dump = dump


@pytest.fixture(scope="module")
def exported(sqlite_seeded: AirflowEnv, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("archive") / "export"
    manifest = sqlite_seeded.harness("export", "--out", str(root))["manifest"]
    dump = sqlite_seeded.harness("dump", "--tables", ",".join(COMPARED_TABLES))
    return Exported(root, manifest, dump)


@pytest.fixture
def copy(exported: Exported, tmp_path: Path) -> Path:
    """A copy of the archive a test may damage."""
    target = tmp_path / "copy"
    shutil.copytree(exported.root, target)
    return target


def expected_rows(exported: Exported, table: str) -> list[dict[str, Any]]:
    """The database's rows as the archive encodes them (see test_sqlite_gives_the_same_archive)."""
    columns = exported.manifest["tables"][table]["columns"]
    json_columns = {name for name, kind in columns.items() if "JSON" in kind.upper()}
    rows = exported.dump[table]
    if table == "variable":
        rows = [{k: v for k, v in row.items() if k != "val"} for row in rows]
    return [as_utc(decoded(row, json_columns)) for row in rows]


def test_rows_read_back_equal_the_database(exported: Exported) -> None:
    local = open_archive(str(exported.root))
    assert isinstance(local, LocalArchive)
    manifest = read_manifest(local)
    assert manifest == exported.manifest
    compared = [table for table in COMPARED_TABLES if table in exported.dump]
    assert {"dag_run", "task_instance", "variable", "slot_pool"} <= set(compared)
    for table in compared:
        assert [as_utc(row) for row in iter_rows(local, manifest, table)] == expected_rows(exported, table), table
    assert len(list(iter_rows(local, manifest, "dag_run"))) == len(harness.RUN_DATES)

    variables = {row["key"]: row["val"] for row in iter_secret_rows(local, manifest, "variable")}
    assert variables["plain_var"] == harness.VARIABLES["plain_var"]
    assert json.loads(variables["json_var"]) == harness.VARIABLES["json_var"]
    (connection,) = iter_secret_rows(local, manifest, "connection")
    assert connection["password"] == harness.CONNECTION["password"]
    assert json.loads(connection["extra"]) == harness.CONNECTION["extra"]


def test_a_table_the_manifest_lacks_yields_nothing(exported: Exported) -> None:
    local = LocalArchive(exported.root)
    manifest = read_manifest(local)
    assert "asset" not in manifest["tables"]  # a 3.x table: not in a 2.10 source
    assert list(iter_rows(local, manifest, "asset")) == []
    assert list(iter_rows(local, manifest, "connection")) == []  # connections live in secrets/ only
    with pytest.raises(ValueError, match="no secret table"):
        iter_secret_rows(local, manifest, "pool")  # type: ignore[arg-type]


def upload(client: Any, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=BUCKET, Key=prefix + path.relative_to(root).as_posix(), Body=path.read_bytes())


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_s3_archive_reads_what_the_folder_holds(exported: Exported, s3: Any) -> None:
    upload(s3, exported.root, EXPORT_PREFIX)
    remote = open_archive(f"s3://{BUCKET}/{EXPORT_PREFIX}", s3_client=s3)
    assert isinstance(remote, S3Archive)
    assert remote.description == f"s3://{BUCKET}/{EXPORT_PREFIX}"
    local = LocalArchive(exported.root)
    manifest = read_manifest(remote)
    assert manifest == read_manifest(local)
    for table in manifest["tables"]:
        assert list(iter_rows(remote, manifest, table)) == list(iter_rows(local, manifest, table)), table
    (connection,) = iter_secret_rows(remote, manifest, "connection")
    assert connection["password"] == harness.CONNECTION["password"]
    # A missing key (moto answers NoSuchKey, as S3 does to a role that may list the bucket) is absent.
    assert remote.read("run-ids.json") is None
    assert read_run_ids(remote) == {}
    write_run_ids(remote, {"seeded_etl": {"manual__2026-01-01T00:00:00+00:00": "backfill__2026-01-01"}})
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=EXPORT_PREFIX + "run-ids.json")["Body"].read())
    assert stored == {
        "format": 1,
        "dags": {"seeded_etl": {"manual__2026-01-01T00:00:00+00:00": "backfill__2026-01-01"}},
    }
    assert read_run_ids(remote) == stored["dags"]


def test_403_reads_as_absent_and_other_errors_name_the_key() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    remote = S3Archive(bucket=BUCKET, prefix=EXPORT_PREFIX, client=client)
    with Stubber(client) as stub:
        # What S3 answers for a missing key to a role without s3:ListBucket on it.
        expected = {"Bucket": BUCKET, "Key": EXPORT_PREFIX + "manifest.json"}
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403, expected_params=expected)
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403, expected_params=expected)
        stub.add_client_error("get_object", "InternalError", "We encountered an internal error", 500)
        assert remote.read("manifest.json") is None
        with pytest.raises(ArchiveError, match=r"^manifest.json is missing: the export is incomplete or still running"):
            read_manifest(remote)
        with pytest.raises(ArchiveError, match=r"^reading tables/log/part-00000.jsonl.gz from s3://.*: InternalError$"):
            remote.read("tables/log/part-00000.jsonl.gz")
        stub.assert_no_pending_responses()


def rewrite_manifest(root: Path, change: Any) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def dag_run_part(root: Path) -> tuple[Path, dict[str, Any]]:
    manifest = json.loads((root / "manifest.json").read_text())
    part = manifest["tables"]["dag_run"]["parts"][0]
    return root / part["key"], part


def assert_refused_without_values(root: Path, message: str) -> None:
    local = LocalArchive(root)
    manifest = read_manifest(local)
    rows = iter_rows(local, manifest, "dag_run")
    with pytest.raises(ArchiveError) as raised:
        next(rows)  # the very first row: nothing of a bad part is handed out
    assert str(raised.value) == message
    assert "manual__" not in str(raised.value) and "2026-" not in str(raised.value)


def test_a_part_with_bytes_added_is_refused(copy: Path) -> None:
    path, part = dag_run_part(copy)
    path.write_bytes(path.read_bytes() + b"\0")
    assert_refused_without_values(
        copy,
        f"{part['key']}: {part['bytes'] + 1} bytes, manifest.json says {part['bytes']}; "
        "the archive is damaged or was edited; export again",
    )


def test_a_part_edited_in_place_is_refused(copy: Path) -> None:
    path, part = dag_run_part(copy)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert_refused_without_values(
        copy,
        f"{part['key']}: sha256 differs from the manifest: the archive is damaged or was edited; export again",
    )


def test_a_part_missing_a_row_is_refused(copy: Path) -> None:
    # A consistent forgery of size and checksum: only the row count gives it away.
    path, part = dag_run_part(copy)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    shorter = gzip.compress(b"".join(lines[:-1]))
    path.write_bytes(shorter)

    def forge(manifest: dict[str, Any]) -> None:
        entry = manifest["tables"]["dag_run"]["parts"][0]
        entry.update(bytes=len(shorter), sha256=hashlib.sha256(shorter).hexdigest())

    rewrite_manifest(copy, forge)
    assert_refused_without_values(
        copy,
        f"{part['key']}: {len(lines) - 1} rows, manifest.json says {part['rows']}; "
        "the archive is damaged or was edited; export again",
    )


def test_a_missing_part_is_refused(copy: Path) -> None:
    path, part = dag_run_part(copy)
    path.unlink()
    assert_refused_without_values(
        copy, f"{part['key']}: missing, though manifest.json lists it: the archive is incomplete; export again"
    )


def test_a_missing_manifest_means_an_incomplete_export(copy: Path) -> None:
    (copy / "manifest.json").unlink()
    with pytest.raises(ArchiveError) as raised:
        read_manifest(LocalArchive(copy))
    assert str(raised.value) == f"manifest.json is missing: the export is incomplete or still running ({copy}/)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format=2), "manifest.json: format 2 is not supported: this importer reads format 1"),
        (lambda m: m.update(format=True), "manifest.json: format True is not supported"),
        (lambda m: m.pop("export_id"), "manifest.json: `export_id` is missing"),
        (lambda m: m.update(tables=[]), "manifest.json: `tables` must be an object"),
        (lambda m: m.update(paused=[1]), "manifest.json: `paused` must be a list of strings"),
        (
            lambda m: m["tables"]["dag_run"].update(rows=99),
            "manifest.json: tables.dag_run: its parts' rows don't add up to its rows",
        ),
        (
            lambda m: m["tables"]["dag_run"]["parts"][0].update(key="secrets/connection.jsonl.gz"),
            "manifest.json: tables.dag_run.parts[0].key must be a key under tables/dag_run/",
        ),
        (
            lambda m: m["tables"]["dag_run"]["parts"][0].update(key="tables/dag_run/../../../etc/passwd"),
            "'tables/dag_run/../../../etc/passwd' is not a key inside the archive",
        ),
        (
            lambda m: m["tables"]["log"]["parts"][0].update(sha256="ABC"),
            "manifest.json: tables.log.parts[0].sha256 must be 64 lowercase hex digits",
        ),
        (
            lambda m: m["secrets"]["variable"]["parts"][0].update(bytes="12"),
            "manifest.json: secrets.variable.parts[0].bytes must be a count",
        ),
    ],
)
def test_a_manifest_of_another_shape_is_refused(copy: Path, change: Any, message: str) -> None:
    rewrite_manifest(copy, change)
    with pytest.raises(ArchiveError) as raised:
        read_manifest(LocalArchive(copy))
    assert str(raised.value).startswith(message)


def test_a_manifest_that_is_not_json_is_refused(copy: Path) -> None:
    (copy / "manifest.json").write_text('{"format": 1,')
    with pytest.raises(ArchiveError, match=r"^manifest\.json is not JSON; the archive is damaged"):
        read_manifest(LocalArchive(copy))


def test_keys_stay_inside_the_archive(tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text("{}")
    local = LocalArchive(tmp_path / "archive")
    for key in ("../outside.json", "/etc/passwd", "tables//x", "a\\b", ""):
        with pytest.raises(ArchiveError, match="is not a key inside the archive"):
            local.read(key)


def test_run_ids_round_trip_and_shape(tmp_path: Path) -> None:
    local = LocalArchive(tmp_path)
    assert read_run_ids(local) == {}
    run_ids = {"etl": {"scheduled__2026-01-01T00:00:00+00:00": "backfill__2026-01-01T00:00:00+00:00"}, "empty": {}}
    write_run_ids(local, run_ids)
    assert json.loads((tmp_path / "run-ids.json").read_text()) == {"format": 1, "dags": run_ids}
    assert read_run_ids(local) == run_ids
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(ArchiveError, match=r"run-ids\.json: `dags` must map DAG ids"):
        write_run_ids(local, {"etl": {"old": 5}})  # type: ignore[dict-item]
    (tmp_path / "run-ids.json").write_text('{"format": 2, "dags": {}}')
    with pytest.raises(ArchiveError, match=r"run-ids\.json: format must be 1"):
        read_run_ids(local)


def test_latest_complete_export_skips_exports_without_a_manifest(s3: Any) -> None:
    assert latest_complete_export(s3, bucket=BUCKET, prefix=export_root("m1")) is None
    for export_id, keys in {
        "20260101T000000Z": ["manifest.json", "tables/log/part-00000.jsonl.gz"],
        "20260201T000000Z": ["manifest.json"],
        "20260301T000000Z": ["tables/log/part-00000.jsonl.gz"],  # failed or still running
    }.items():
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=f"exports/m1/{export_id}/{key}", Body=b"{}")
    # Another migration's newer export, and a key whose name merely starts like a manifest's.
    s3.put_object(Bucket=BUCKET, Key="exports/m10/20270101T000000Z/manifest.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="exports/m1/20260401T000000Z/manifest.json.bak", Body=b"{}")
    assert latest_complete_export(s3, bucket=BUCKET, prefix=export_root("m1")) == "20260201T000000Z"
    assert latest_complete_export(s3, bucket=BUCKET, prefix=export_root("m10")) == "20270101T000000Z"
    assert latest_complete_export(s3, bucket=BUCKET, prefix=export_root("m2")) is None


def test_latest_complete_export_reads_every_page() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    listing = {"Bucket": BUCKET, "Prefix": "exports/m1/", "Delimiter": "/"}

    def page(ids: list[str], token: str | None) -> dict[str, Any]:
        answer: dict[str, Any] = {"CommonPrefixes": [{"Prefix": f"exports/m1/{i}/"} for i in ids]}
        answer.update({"IsTruncated": True, "NextContinuationToken": token} if token else {"IsTruncated": False})
        return answer

    def manifest_check(export_id: str, found: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        key = f"exports/m1/{export_id}/manifest.json"
        answer: dict[str, Any] = {"KeyCount": 1, "Contents": [{"Key": key}]} if found else {"KeyCount": 0}
        return answer, {"Bucket": BUCKET, "Prefix": key, "MaxKeys": 1}

    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", page(["20260101T000000Z", "20260301T000000Z"], "t1"), listing)
        stub.add_response("list_objects_v2", page(["20260401T000000Z"], "t2"), {**listing, "ContinuationToken": "t1"})
        stub.add_response("list_objects_v2", page(["20260201T000000Z"], None), {**listing, "ContinuationToken": "t2"})
        # Newest first: the page-2 export has no manifest, the page-1 one does.
        stub.add_response("list_objects_v2", *manifest_check("20260401T000000Z", False))
        stub.add_response("list_objects_v2", *manifest_check("20260301T000000Z", True))
        assert latest_complete_export(client, bucket=BUCKET, prefix=export_root("m1")) == "20260301T000000Z"
        stub.assert_no_pending_responses()


def test_archive_module_needs_nothing_beyond_the_standard_library_and_boto3() -> None:
    tree = ast.parse(Path(archive.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"boto3"} <= sys.stdlib_module_names | {"__future__"}
    assert "boto3" in imported
