"""The workflow deployment Lambda as CloudFormation drives it, against moto's S3 (versioned buckets, real
version IDs, ETags and paginated listings), plus its pure sync planning."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mwaa_migration.assets import WORKFLOW_DEPLOY_DIR
from mwaa_workflow_deploy import workflow_handler
from mwaa_workflow_deploy.workflow_deploy import (
    DagsRequest,
    DeploymentError,
    StagedObject,
    dag_files,
    etag_of,
    physical_resource_id,
    plan_dag_sync,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ASSETS = "cdk-hnb659fds-assets-111122223333-us-east-1"
SOURCE = "airflow-source-bucket"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    with mock_aws():
        client: S3Client = boto3.client("s3", region_name="us-east-1")
        for bucket in (ASSETS, SOURCE):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
        monkeypatch.setattr(workflow_handler, "client_factory", lambda: client)
        yield client


def stage(s3: S3Client, key: str, body: bytes) -> None:
    s3.put_object(Bucket=ASSETS, Key=key, Body=body)


def staged_folder(files: Mapping[str, bytes]) -> bytes:
    """A directory asset as cdk-assets uploads it: a zip, with directory entries as well as files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for folder in sorted({name.rsplit("/", 1)[0] + "/" for name in files if "/" in name}):
            archive.writestr(folder, b"")
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def event(request_type: str, properties: Mapping[str, Any], physical_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RequestType": request_type,
        "LogicalResourceId": "WorkflowsRequirements0D07B164",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:x", **properties},
    }
    if physical_id:
        body["PhysicalResourceId"] = physical_id
    return body


def file_properties(staged_key: str, key: str = "requirements.txt") -> dict[str, str]:
    return {"Kind": "File", "StagedBucket": ASSETS, "StagedKey": staged_key, "Bucket": SOURCE, "Key": key}


def dag_properties(staged_key: str, prefix: str = "dags/") -> dict[str, str]:
    return {"Kind": "Dags", "StagedBucket": ASSETS, "StagedKey": staged_key, "Bucket": SOURCE, "Prefix": prefix}


def versions(s3: S3Client, key: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=SOURCE, Prefix=key).get("Versions", [])
    return [item["VersionId"] for item in listed if item["Key"] == key]


def keys(s3: S3Client) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=SOURCE).get("Contents", []))


def read(s3: S3Client, key: str) -> bytes:
    return s3.get_object(Bucket=SOURCE, Key=key)["Body"].read()


# --- One file: its S3 version is what the environment pins -----------------------------------------------------


def test_file_create_returns_the_version_it_wrote(s3: S3Client) -> None:
    stage(s3, "aaa.txt", b"apache-airflow-providers-amazon\n")
    response = workflow_handler.on_event(event("Create", file_properties("aaa.txt")), None)
    assert response["PhysicalResourceId"] == f"s3://{SOURCE}/requirements.txt"
    assert response["Data"] == {"VersionId": versions(s3, "requirements.txt")[0]}
    assert read(s3, "requirements.txt") == b"apache-airflow-providers-amazon\n"


def test_file_update_writes_a_new_version_and_keeps_the_old_one(s3: S3Client) -> None:
    stage(s3, "aaa.txt", b"one\n")
    stage(s3, "bbb.txt", b"two\n")
    first = workflow_handler.on_event(event("Create", file_properties("aaa.txt")), None)
    second = workflow_handler.on_event(
        event("Update", file_properties("bbb.txt"), physical_id=first["PhysicalResourceId"]), None
    )
    assert second["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert second["Data"]["VersionId"] != first["Data"]["VersionId"]
    # The old version stays, so a rollback of the environment to it still works.
    assert set(versions(s3, "requirements.txt")) == {first["Data"]["VersionId"], second["Data"]["VersionId"]}
    assert read(s3, "requirements.txt") == b"two\n"


def test_a_bucket_without_versioning_is_refused(s3: S3Client) -> None:
    s3.create_bucket(Bucket="unversioned")
    stage(s3, "aaa.txt", b"x\n")
    properties = {**file_properties("aaa.txt"), "Bucket": "unversioned"}
    with pytest.raises(DeploymentError, match=r"MWAA needs versioning on its source bucket; enable it"):
        workflow_handler.on_event(event("Create", properties), None)


def test_delete_leaves_the_files_the_retained_environment_runs(s3: S3Client, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(s3, "aaa.txt", b"x\n")
    created = workflow_handler.on_event(event("Create", file_properties("aaa.txt")), None)

    def no_client() -> S3Client:
        raise AssertionError("Delete must make no AWS call")

    monkeypatch.setattr(workflow_handler, "client_factory", no_client)
    physical_id = created["PhysicalResourceId"]
    assert workflow_handler.on_event(event("Delete", {}, physical_id=physical_id), None) == {
        "PhysicalResourceId": physical_id
    }
    monkeypatch.undo()
    assert keys(s3) == ["requirements.txt"]


def test_access_denied_says_what_the_role_may_do(monkeypatch: pytest.MonkeyPatch) -> None:
    denied = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(denied)
    stubber.add_client_error("get_object", service_error_code="AccessDenied", service_message="Access Denied")
    monkeypatch.setattr(workflow_handler, "client_factory", lambda: denied)
    with stubber, pytest.raises(DeploymentError) as caught:
        workflow_handler.on_event(event("Create", file_properties("aaa.txt")), None)
    message = str(caught.value)
    assert message.startswith(f"GetObject failed for s3://{SOURCE}/requirements.txt: AccessDenied Access Denied")
    assert "may only read its staged asset and write s3://airflow-source-bucket/requirements.txt" in message


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Kind": "Zip", "StagedBucket": ASSETS, "StagedKey": "k"}, "unknown Kind 'Zip'; expected File or Dags"),
        ({"Kind": "File", "StagedBucket": ASSETS}, "property StagedKey is missing"),
        ({**file_properties("k"), "Key": ""}, "property Key is missing"),
        ({**dag_properties("k"), "Prefix": "dags"}, "Prefix 'dags' must be a folder such as dags/"),
        ({**dag_properties("k"), "Prefix": "/dags/"}, "Prefix '/dags/' must be a folder"),
    ],
)
def test_bad_properties_are_refused_before_any_call(
    properties: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_handler, "client_factory", lambda: pytest.fail("no call before validation"))
    with pytest.raises(DeploymentError, match=message):
        workflow_handler.on_event(event("Create", properties), None)


def test_an_unknown_request_type_is_refused() -> None:
    with pytest.raises(DeploymentError, match="unknown RequestType 'Replace'; expected Create, Update or Delete"):
        workflow_handler.on_event(event("Replace", file_properties("k")), None)


# --- The DAG folder: synced under the prefix, stale files pruned, nothing else touched ---------------------------


def test_dag_folder_create_writes_every_file_under_the_prefix(s3: S3Client) -> None:
    stage(s3, "dags.zip", staged_folder({"etl.py": b"# etl\n", "sql/load.sql": b"select 1;\n", ".airflowignore": b""}))
    response = workflow_handler.on_event(event("Create", dag_properties("dags.zip")), None)
    assert response == {
        "PhysicalResourceId": f"s3://{SOURCE}/dags/",
        "Data": {"Files": "3", "Uploaded": "3", "Deleted": "0"},
    }
    assert keys(s3) == ["dags/.airflowignore", "dags/etl.py", "dags/sql/load.sql"]
    assert read(s3, "dags/sql/load.sql") == b"select 1;\n"


def test_dag_folder_update_prunes_stale_files_and_leaves_unchanged_ones(s3: S3Client) -> None:
    stage(s3, "v1.zip", staged_folder({"keep.py": b"# same\n", "change.py": b"# v1\n", "old.py": b"# gone\n"}))
    stage(s3, "v2.zip", staged_folder({"keep.py": b"# same\n", "change.py": b"# v2\n", "new.py": b"# new\n"}))
    for key in ("requirements.txt", "dagsbackup/x.py", "dags/"):  # outside the prefix, or a folder marker
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"")
    workflow_handler.on_event(event("Create", dag_properties("v1.zip")), None)
    kept_version = versions(s3, "dags/keep.py")

    response = workflow_handler.on_event(
        event("Update", dag_properties("v2.zip"), physical_id=f"s3://{SOURCE}/dags/"), None
    )
    assert response["Data"] == {"Files": "3", "Uploaded": "2", "Deleted": "1"}
    assert keys(s3) == [
        "dags/",
        "dags/change.py",
        "dags/keep.py",
        "dags/new.py",
        "dagsbackup/x.py",
        "requirements.txt",
    ]
    assert read(s3, "dags/change.py") == b"# v2\n"
    # Not rewritten: MWAA has no new object to sync.
    assert versions(s3, "dags/keep.py") == kept_version
    # Pruned with a delete marker: the versioned bucket can still give the file back.
    assert len(versions(s3, "dags/old.py")) == 1


def test_pruning_deletes_in_batches_of_a_thousand(s3: S3Client) -> None:
    for number in range(1001):
        s3.put_object(Bucket=SOURCE, Key=f"dags/stale_{number:04}.py", Body=b"")
    stage(s3, "dags.zip", staged_folder({"only.py": b"# only\n"}))
    response = workflow_handler.on_event(event("Create", dag_properties("dags.zip")), None)
    assert response["Data"] == {"Files": "1", "Uploaded": "1", "Deleted": "1001"}
    assert keys(s3) == ["dags/only.py"]


def test_plan_dag_sync_compares_etags() -> None:
    files = {"a.py": b"a", "b.py": b"b"}
    existing = {"dags/a.py": etag_of(b"a"), "dags/b.py": etag_of(b"old"), "dags/c.py": '"x"', "dags/sub/": '"y"'}
    sync = plan_dag_sync(files, existing, "dags/")
    assert sync.uploads == ("dags/b.py",)
    assert sync.deletions == ("dags/c.py",)
    assert sync.unchanged == 1


def test_etag_is_the_quoted_md5_s3_gives(s3: S3Client) -> None:
    put = s3.put_object(Bucket=SOURCE, Key="probe.py", Body=b"print('hi')\n")
    assert put["ETag"] == etag_of(b"print('hi')\n")


def test_a_staged_folder_with_a_path_outside_it_is_refused() -> None:
    with pytest.raises(DeploymentError, match=r"holds '../escape.py', a path outside the folder"):
        dag_files(staged_folder({"../escape.py": b""}))


def test_physical_id_names_the_location() -> None:
    request = DagsRequest(StagedObject(ASSETS, "k.zip"), SOURCE, "airflow/dags/")
    assert physical_resource_id(request) == f"s3://{SOURCE}/airflow/dags/"


def test_importing_the_handler_loads_no_sdk() -> None:
    # boto3 is imported on the first Create or Update only; Delete and cold starts don't pay for it.
    script = (
        "import sys, mwaa_workflow_deploy.workflow_handler; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", script], cwd=WORKFLOW_DEPLOY_DIR, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
