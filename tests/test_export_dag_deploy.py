"""The migration DAG deployment Lambda against moto's S3, as the export DAG uses it: one file in the old DAG folder,
written only where no other file is, replaced and removed only while it is this migration's (object metadata and
If-Match); the further placeholders of the migration DAGs, and their zip, whose settings entry is filled in."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from mwaa_export_dag_deploy import export_dag_handler
from mwaa_export_dag_deploy.export_dag_deploy import DIGEST, MARK, MigrationDagError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ASSETS = "cdk-hnb659fds-assets-111122223333-us-east-1"
OLD = "airflow-analytics-111122223333-us-east-1"
KEY = "dags/mwaa_migration_export.py"
TEMPLATE = b'MIGRATION_BUCKET = "__MWAA_MIGRATION_BUCKET__"\nMIGRATION_NAME = "__MWAA_MIGRATION_NAME__"\n'


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    with mock_aws():
        client: S3Client = boto3.client("s3", region_name="us-east-1")
        for bucket in (ASSETS, OLD):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=ASSETS, Key="v1.py", Body=TEMPLATE)
        client.put_object(Bucket=ASSETS, Key="v2.py", Body=TEMPLATE + b"# a newer export DAG\n")
        monkeypatch.setattr(export_dag_handler, "client_factory", lambda: client)
        yield client


def props(staged: str = "v1.py", **changes: Any) -> dict[str, Any]:
    return {
        "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:provider",
        "StagedBucket": ASSETS,
        "StagedKey": staged,
        "Bucket": OLD,
        "Key": KEY,
        "MigrationBucket": "mwaa-migration-example-111122223333-us-east-1",
        "MigrationName": "example",
        "IfTaken": ", or set [export] deploy_dag = false and add the export DAG yourself",
        **changes,
    }


def event(request_type: str, properties: dict[str, Any], physical_id: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "RequestType": request_type,
        "LogicalResourceId": "ExportDag",
        "ResourceProperties": properties,
    }
    if physical_id is not None:
        found["PhysicalResourceId"] = physical_id
    return found


def body(s3: S3Client) -> bytes:
    return s3.get_object(Bucket=OLD, Key=KEY)["Body"].read()


def test_create_writes_the_file_with_the_migrations_values_and_its_mark(s3: S3Client) -> None:
    response = export_dag_handler.on_event(event("Create", props()), None)

    assert body(s3) == (
        b'MIGRATION_BUCKET = "mwaa-migration-example-111122223333-us-east-1"\nMIGRATION_NAME = "example"\n'
    )
    metadata = s3.head_object(Bucket=OLD, Key=KEY)["Metadata"]
    assert metadata[MARK] == "example"
    assert response["PhysicalResourceId"] == f"s3://{OLD}/{KEY}"
    assert response["Data"]["Sha256"] == metadata[DIGEST]
    assert [obj["Key"] for obj in s3.list_objects_v2(Bucket=OLD)["Contents"]] == [KEY], "one key, nothing else"


def test_create_never_overwrites_someone_elses_file(s3: S3Client) -> None:
    s3.put_object(Bucket=OLD, Key=KEY, Body=b"# the team's own DAG\n")

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", props()), None)

    assert str(caught.value) == (
        f"s3://{OLD}/{KEY} already exists and this migration didn't write it; rename or remove that file, or set "
        "[export] deploy_dag = false and add the export DAG yourself"
    )
    assert body(s3) == b"# the team's own DAG\n"


def test_update_replaces_its_own_file_in_place_and_a_rollback_writes_the_old_one_back(s3: S3Client) -> None:
    created = export_dag_handler.on_event(event("Create", props()), None)
    updated = export_dag_handler.on_event(event("Update", props("v2.py"), created["PhysicalResourceId"]), None)

    assert body(s3).endswith(b"# a newer export DAG\n")
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"], "in place: no Delete of a replaced one"
    # A later resource fails: CloudFormation sends the old properties back as an Update.
    export_dag_handler.on_event(event("Update", props("v1.py"), updated["PhysicalResourceId"]), None)
    assert (
        body(s3) == b'MIGRATION_BUCKET = "mwaa-migration-example-111122223333-us-east-1"\nMIGRATION_NAME = "example"\n'
    )


def test_a_new_location_writes_there_and_the_old_one_is_removed_after(s3: S3Client) -> None:
    created = export_dag_handler.on_event(event("Create", props()), None)
    moved = export_dag_handler.on_event(
        event("Update", props(Key="airflow/dags/mwaa_migration_export.py"), created["PhysicalResourceId"]), None
    )
    assert moved["PhysicalResourceId"] != created["PhysicalResourceId"]
    # CloudFormation then deletes the replaced physical ID, with the old properties.
    export_dag_handler.on_event(event("Delete", props(), created["PhysicalResourceId"]), None)

    assert [obj["Key"] for obj in s3.list_objects_v2(Bucket=OLD)["Contents"]] == [
        "airflow/dags/mwaa_migration_export.py"
    ]


def test_a_missing_key_answered_with_403_reads_as_absent(s3: S3Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Real S3 says 403, not 404, to a HEAD of a missing key when the caller can't list the bucket (moto says 404).
    from botocore.exceptions import ClientError

    def forbidden(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    monkeypatch.setattr(s3, "head_object", forbidden)

    export_dag_handler.on_event(event("Create", props()), None)
    export_dag_handler.on_event(event("Delete", props(), f"s3://{OLD}/{KEY}"), None)

    assert body(s3).startswith(b'MIGRATION_BUCKET = "mwaa-migration-example'), "written; the delete saw nothing"


def test_an_unchanged_file_is_not_written_again(s3: S3Client) -> None:
    created = export_dag_handler.on_event(event("Create", props()), None)
    etag = s3.head_object(Bucket=OLD, Key=KEY)["ETag"]

    again = export_dag_handler.on_event(event("Update", props(), created["PhysicalResourceId"]), None)

    assert again["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert s3.head_object(Bucket=OLD, Key=KEY)["ETag"] == etag


def test_delete_removes_the_file_it_wrote(s3: S3Client) -> None:
    created = export_dag_handler.on_event(event("Create", props()), None)

    export_dag_handler.on_event(event("Delete", props(), created["PhysicalResourceId"]), None)

    assert "Contents" not in s3.list_objects_v2(Bucket=OLD)


def test_delete_leaves_a_file_that_changed_or_that_isnt_ours(s3: S3Client) -> None:
    created = export_dag_handler.on_event(event("Create", props()), None)
    s3.put_object(Bucket=OLD, Key=KEY, Body=b"# edited by hand\n", Metadata={MARK: "example", DIGEST: "0" * 64})

    export_dag_handler.on_event(event("Delete", props(), created["PhysicalResourceId"]), None)
    assert body(s3) == b"# edited by hand\n"

    s3.put_object(Bucket=OLD, Key=KEY, Body=b"# another migration's\n", Metadata={MARK: "other"})
    export_dag_handler.on_event(event("Delete", props(), f"s3://{OLD}/{KEY}"), None)
    assert body(s3) == b"# another migration's\n"


def test_delete_after_a_create_that_failed_early_makes_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client() -> None:
        raise AssertionError("no AWS call expected")

    monkeypatch.setattr(export_dag_handler, "client_factory", no_client)

    assert export_dag_handler.on_event(event("Delete", {"ServiceToken": "x"}, "pending"), None) == {
        "PhysicalResourceId": "pending"
    }


def test_a_template_without_its_placeholders_is_refused(s3: S3Client) -> None:
    s3.put_object(Bucket=ASSETS, Key="broken.py", Body=b"MIGRATION_BUCKET = 'x'\n")

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", props("broken.py")), None)

    assert str(caught.value) == "the staged DAG file must hold __MWAA_MIGRATION_BUCKET__; the app's file is damaged"


def test_an_s3_error_is_one_line_naming_the_object(s3: S3Client) -> None:
    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", props(Bucket="no-such-bucket")), None)

    assert str(caught.value).startswith("HeadObject failed for s3://no-such-bucket/dags/mwaa_migration_export.py")


# --- Further placeholders (the import DAG's) --------------------------------------------------------------------

IMPORT_TEMPLATE = (
    TEMPLATE + b'SOURCE_TASK_LOG_GROUP = "__MWAA_SOURCE_TASK_LOG_GROUP__"\nREGION = "__MWAA_SOURCE_REGION__"\n'
)
FILLED = (
    b'MIGRATION_BUCKET = "mwaa-migration-example-111122223333-us-east-1"\nMIGRATION_NAME = "example"\n'
    b'SOURCE_TASK_LOG_GROUP = "airflow-analytics-Task"\nREGION = ""\n'
)


def test_further_placeholders_are_filled_in_empty_ones_too(s3: S3Client) -> None:
    s3.put_object(Bucket=ASSETS, Key="import.py", Body=IMPORT_TEMPLATE)
    placeholders = {"__MWAA_SOURCE_TASK_LOG_GROUP__": "airflow-analytics-Task", "__MWAA_SOURCE_REGION__": ""}

    export_dag_handler.on_event(event("Create", props("import.py", Placeholders=placeholders, IfTaken="")), None)

    assert body(s3) == FILLED


def test_the_opt_out_is_only_said_when_there_is_one(s3: S3Client) -> None:
    s3.put_object(Bucket=OLD, Key=KEY, Body=b"# the team's own DAG\n")

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", props(IfTaken="")), None)

    assert str(caught.value).endswith("didn't write it; rename or remove that file")


def test_a_placeholder_the_stack_doesnt_fill_is_refused(s3: S3Client) -> None:
    s3.put_object(Bucket=ASSETS, Key="import.py", Body=IMPORT_TEMPLATE)

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(
            event("Create", props("import.py", Placeholders={"__MWAA_SOURCE_REGION__": "eu-west-1"})), None
        )

    assert str(caught.value) == (
        "the staged DAG file holds __MWAA_SOURCE_TASK_LOG_GROUP__, which the stack doesn't fill; deploy the app's "
        "own stacks"
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=OLD), "nothing half-filled is written"


@pytest.mark.parametrize("value", ['x"; import os #', "a\nb", "a\\b", "a b"])
def test_a_value_that_isnt_plain_text_is_refused(s3: S3Client, value: str) -> None:
    s3.put_object(Bucket=ASSETS, Key="import.py", Body=IMPORT_TEMPLATE)
    placeholders = {"__MWAA_SOURCE_TASK_LOG_GROUP__": value, "__MWAA_SOURCE_REGION__": "us-east-1"}

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", props("import.py", Placeholders=placeholders)), None)

    assert str(caught.value) == (
        "the value for __MWAA_SOURCE_TASK_LOG_GROUP__ has characters a DAG file can't take as plain text"
    )


@pytest.mark.parametrize("placeholders", [["x"], {"REGION": "us-east-1"}, {"__MWAA_SOURCE_REGION__": 1}])
def test_malformed_placeholders_are_refused_before_any_call(
    placeholders: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_client() -> None:
        raise AssertionError("no AWS call expected")

    monkeypatch.setattr(export_dag_handler, "client_factory", no_client)

    with pytest.raises(MigrationDagError, match="Placeholders must map __MWAA_<NAME>__ to strings"):
        export_dag_handler.on_event(event("Create", props(Placeholders=placeholders)), None)


# --- A zip (the migration DAGs): its settings entry filled in, the rest as staged -------------------------------

ZIP_KEY = "dags/mwaa_migration_dags.zip"
SETTINGS = "mwaa_migration_support/settings.json"
SETTINGS_TEMPLATE = (
    b'{"bucket": "__MWAA_MIGRATION_BUCKET__", "name": "__MWAA_MIGRATION_NAME__", '
    b'"group": "__MWAA_SOURCE_TASK_LOG_GROUP__", "region": "__MWAA_SOURCE_REGION__"}'
)
ZIP_PLACEHOLDERS = {"__MWAA_SOURCE_TASK_LOG_GROUP__": "airflow-analytics-Task", "__MWAA_SOURCE_REGION__": ""}


def staged_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def zip_props(staged: str, **changes: Any) -> dict[str, Any]:
    return props(staged, Key=ZIP_KEY, Placeholders=ZIP_PLACEHOLDERS, IfTaken="", **changes)


def test_a_zips_settings_entry_is_filled_in_and_every_other_entry_is_kept_byte_for_byte(s3: S3Client) -> None:
    module = b'BUCKET = "__MWAA_MIGRATION_BUCKET__"  # not a settings entry: left as staged\n'
    s3.put_object(
        Bucket=ASSETS, Key="unit.zip", Body=staged_zip({"dag.py": module, SETTINGS: SETTINGS_TEMPLATE, "z.txt": b"z"})
    )

    created = export_dag_handler.on_event(event("Create", zip_props("unit.zip")), None)

    written = s3.get_object(Bucket=OLD, Key=ZIP_KEY)
    assert written["ContentType"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(written["Body"].read())) as unit:
        assert unit.namelist() == ["dag.py", SETTINGS, "z.txt"]
        assert json.loads(unit.read(SETTINGS)) == {
            "bucket": "mwaa-migration-example-111122223333-us-east-1",
            "name": "example",
            "group": "airflow-analytics-Task",
            "region": "",
        }
        assert unit.read("dag.py") == module and unit.read("z.txt") == b"z"
        assert {(i.date_time, i.external_attr >> 16, i.compress_type) for i in unit.infolist()} == {
            ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_STORED)
        }
    # The same staged zip and values give the same bytes: an update writes nothing, a delete finds it its own.
    etag = s3.head_object(Bucket=OLD, Key=ZIP_KEY)["ETag"]
    again = export_dag_handler.on_event(event("Update", zip_props("unit.zip"), created["PhysicalResourceId"]), None)
    assert again["Data"]["Sha256"] == created["Data"]["Sha256"]
    assert s3.head_object(Bucket=OLD, Key=ZIP_KEY)["ETag"] == etag
    export_dag_handler.on_event(event("Delete", zip_props("unit.zip"), created["PhysicalResourceId"]), None)
    assert "Contents" not in s3.list_objects_v2(Bucket=OLD)


@pytest.mark.parametrize(
    ("staged", "reason"),
    [
        (b"not a zip", "the staged migration DAGs are not a readable zip; the app's file is damaged"),
        (
            staged_zip({"dag.py": b"# no settings\n"}),
            f"the staged zip must hold {SETTINGS} once; the app's file is damaged",
        ),
        (
            staged_zip({SETTINGS: SETTINGS_TEMPLATE.replace(b"__MWAA_SOURCE_REGION__", b"eu-west-1")}),
            f"the staged zip's {SETTINGS} must hold __MWAA_SOURCE_REGION__; the app's file is damaged",
        ),
        (
            staged_zip({SETTINGS: SETTINGS_TEMPLATE + b' "__MWAA_OTHER__"'}),
            f"the staged zip's {SETTINGS} holds __MWAA_OTHER__, which the stack doesn't fill; deploy the app's own "
            "stacks",
        ),
    ],
)
def test_a_zip_that_isnt_the_apps_is_refused_and_nothing_is_written(s3: S3Client, staged: bytes, reason: str) -> None:
    s3.put_object(Bucket=ASSETS, Key="broken.zip", Body=staged)

    with pytest.raises(MigrationDagError) as caught:
        export_dag_handler.on_event(event("Create", zip_props("broken.zip")), None)

    assert str(caught.value) == reason
    assert "Contents" not in s3.list_objects_v2(Bucket=OLD)
