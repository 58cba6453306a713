"""The migration DAGs (the import DAG and the task-log DAG, one zip) as synthesized and deployed: into the new DAG
folder with every migration, the zip's settings filled in with the migration's values, both DAGs paused, and never
pruned by the workflows DAG sync. The deployment and the sync run as CloudFormation drives them, against moto's S3,
on the very properties and staged files the synth produced."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from constructs.migration_dag_deployment import MIGRATION_DAGS
from constructs.workflow_deployment import DAGS_RESOURCE_TYPE
from mwaa_export_dag_deploy import export_dag_handler
from mwaa_export_dag_deploy.export_dag_deploy import PLACEHOLDER_RE
from mwaa_migration.migration_dags_zip import DAG_FILES, SETTINGS_ENTRY, build_migration_dags_zip
from mwaa_workflow_deploy import workflow_handler
from mwaa_workflow_deploy.workflow_deploy import DeploymentError, plan_dag_sync
from tests.synth_app import SynthesizedApp, logical_id, resources_of_type
from tests.test_import_access import ACCOUNT, AIRFLOW_2_TARGET, AIRFLOW_3_TARGET, REGION, resolve
from tests.test_workflow_stacks import staged_source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# --- The migration DAGs: where, filled in with what, paused -----------------------------------------------------


def migration_dags(synthesized: SynthesizedApp, name: str) -> tuple[str, dict[str, Any]]:
    ((resource_id, resource),) = resources_of_type(
        synthesized.template(synthesized.stacks[name].new_environment), MIGRATION_DAGS.resource_type
    ).items()
    return resource_id, resource


def source_bucket_refs(synthesized: SynthesizedApp, name: str) -> dict[str, str]:
    """The created source bucket's Ref, as a bucket name moto can create."""
    stack = synthesized.stacks[name].new_environment
    created = stack.node.find_child("SourceBucket").node.try_find_child("Bucket")  # absent: a named bucket
    return {logical_id(created): f"{name}-source-bucket"} if created is not None else {}


EXPECTED_VALUES = {
    # name: (source task log group, source region, target task log group, DAG key)
    "example": ("airflow-analytics-Task", "us-east-1", "airflow-analytics-v3-Task", "dags/mwaa_migration_dags.zip"),
    "byo-kms": (
        "airflow-reporting-Task",
        "eu-west-1",
        "airflow-reporting-Task",
        "airflow/dags/mwaa_migration_dags.zip",
    ),
    "example-self-managed": ("", "", "airflow-etl-mwaa-Task", "dags/mwaa_migration_dags.zip"),
    "micro-kms": ("", "", "airflow-tiny-Task", "dags/mwaa_migration_dags.zip"),
}


def zip_entries(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as unit:
        return {name: unit.read(name) for name in unit.namelist()}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        client: S3Client = boto3.client("s3", region_name=REGION)
        monkeypatch.setattr(export_dag_handler, "client_factory", lambda: client)
        monkeypatch.setattr(workflow_handler, "client_factory", lambda: client)
        yield client


def stage(s3: S3Client, synthesized: SynthesizedApp, name: str, properties: Mapping[str, Any]) -> None:
    """Publish a resource's asset the way cdk-assets does: a file as it is, a folder as a zip."""
    for bucket in (properties["StagedBucket"], properties["Bucket"]):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    staged = staged_source(synthesized, name, properties["StagedKey"])
    if staged.is_dir():
        body = io.BytesIO()
        with zipfile.ZipFile(body, "w") as archive:
            for path in sorted(staged.rglob("*")):
                archive.write(path, path.relative_to(staged).as_posix())
        s3.put_object(Bucket=properties["StagedBucket"], Key=properties["StagedKey"], Body=body.getvalue())
    else:
        s3.put_object(Bucket=properties["StagedBucket"], Key=properties["StagedKey"], Body=staged.read_bytes())


def cfn_event(request_type: str, properties: Mapping[str, Any], physical_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"RequestType": request_type, "LogicalResourceId": "X", "ResourceProperties": properties}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


@pytest.mark.parametrize("name", sorted(EXPECTED_VALUES))
def test_the_migration_dags_are_deployed_filled_in_with_the_migrations_values(
    synthesized: SynthesizedApp, s3: S3Client, name: str
) -> None:
    _, resource = migration_dags(synthesized, name)
    properties = resolve(resource["Properties"], source_bucket_refs(synthesized, name))
    source_group, source_region, target_group, key = EXPECTED_VALUES[name]
    assert properties["Key"] == key
    stage(s3, synthesized, name, properties)

    export_dag_handler.on_event(cfn_event("Create", properties), None)

    entries = zip_entries(s3.get_object(Bucket=properties["Bucket"], Key=key)["Body"].read())
    settings = entries[SETTINGS_ENTRY]
    assert PLACEHOLDER_RE.findall(settings.decode()) == []
    values = json.loads(settings)
    assert values == {
        "migration_bucket": f"mwaa-migration-{name}-{ACCOUNT}-{REGION}",
        "migration_name": name,
        "source_task_log_group": source_group,
        "source_region": source_region,
        "target_task_log_group": target_group,
    }
    # Only the placeholders changed: the rest is the app's zip, byte for byte, entry for entry.
    staged = zip_entries(build_migration_dags_zip())
    assert list(entries) == list(staged)
    assert {n: b for n, b in entries.items() if n != SETTINGS_ENTRY} == {
        n: b for n, b in staged.items() if n != SETTINGS_ENTRY
    }
    template = staged[SETTINGS_ENTRY]
    for placeholder, value in (
        ("__MWAA_MIGRATION_BUCKET__", values["migration_bucket"]),
        ("__MWAA_MIGRATION_NAME__", name),
        ("__MWAA_SOURCE_TASK_LOG_GROUP__", source_group),
        ("__MWAA_SOURCE_REGION__", source_region),
        ("__MWAA_TARGET_TASK_LOG_GROUP__", target_group),
    ):
        template = template.replace(placeholder.encode(), value.encode())
    assert settings == template


def test_the_staged_zip_is_the_apps_build(synthesized: SynthesizedApp) -> None:
    _, resource = migration_dags(synthesized, AIRFLOW_3_TARGET)
    staged = staged_source(synthesized, AIRFLOW_3_TARGET, resource["Properties"]["StagedKey"])
    assert staged.read_bytes() == build_migration_dags_zip()


@pytest.mark.parametrize("name", sorted(EXPECTED_VALUES))
def test_the_migration_dags_start_paused_and_the_environment_waits_for_them(
    synthesized: SynthesizedApp, name: str
) -> None:
    resource_id, _ = migration_dags(synthesized, name)
    environment = synthesized.environment(name)
    assert resource_id in environment["DependsOn"]
    assert environment["Properties"]["AirflowConfigurationOptions"]["core.dags_are_paused_at_creation"] == "True"
    # And each DAG file itself, whatever the option: is_paused_upon_creation=True in its DAG(...).
    entries = zip_entries(build_migration_dags_zip())
    for dag_file in DAG_FILES:
        dag_calls = [
            node
            for node in ast.walk(ast.parse(entries[dag_file]))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DAG"
        ]
        assert len(dag_calls) == 1, dag_file
        paused = {kw.arg: kw.value for kw in dag_calls[0].keywords}["is_paused_upon_creation"]
        assert isinstance(paused, ast.Constant) and paused.value is True, dag_file


def test_the_migration_dags_deployment_may_write_its_one_key_only(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks[AIRFLOW_2_TARGET].new_environment
    policy = stack.node.find_child("MigrationDags").node.find_child("HandlerPolicy")
    statements = synthesized.template(stack)["Resources"][logical_id(policy)]["Properties"]["PolicyDocument"]
    by_sid = {s["Sid"]: resolve(s) for s in statements["Statement"]}
    assert set(by_sid) == {"ReadStagedMigrationDags", "WriteMigrationDagsOnly", "WriteOwnLogs"}
    assert by_sid["WriteMigrationDagsOnly"]["Action"] == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert (
        by_sid["WriteMigrationDagsOnly"]["Resource"]
        == "arn:aws:s3:::existing-airflow-bucket/airflow/dags/mwaa_migration_dags.zip"
    )


# --- The DAG sync never prunes the migration DAGs --------------------------------------------------------------


@pytest.mark.parametrize("name", [AIRFLOW_3_TARGET, AIRFLOW_2_TARGET])
def test_a_workflows_sync_never_deletes_the_migration_dags(
    synthesized: SynthesizedApp, s3: S3Client, name: str
) -> None:
    refs = source_bucket_refs(synthesized, name)
    _, dag_resource = migration_dags(synthesized, name)
    (folder_resource,) = resources_of_type(
        synthesized.template(synthesized.stacks[name].new_environment), DAGS_RESOURCE_TYPE
    ).values()
    dag, folder = resolve(dag_resource["Properties"], refs), resolve(folder_resource["Properties"], refs)
    assert folder["Keep"] == [dag["Key"]]
    stage(s3, synthesized, name, dag)
    stage(s3, synthesized, name, folder)
    bucket, key = dag["Bucket"], dag["Key"]

    # The folder first, then the migration DAGs, then the folder again with a file gone: an update that prunes.
    workflow_handler.on_event(cfn_event("Create", folder), None)
    export_dag_handler.on_event(cfn_event("Create", dag), None)
    written = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    s3.put_object(Bucket=bucket, Key=folder["Prefix"] + "stale_dag.py", Body=b"# removed from the folder since\n")
    response = workflow_handler.on_event(cfn_event("Update", folder, f"s3://{bucket}/{folder['Prefix']}"), None)

    assert response["Data"]["Deleted"] == "1", "the sync pruned the stale file..."
    assert s3.head_object(Bucket=bucket, Key=key)["VersionId"] == written, "...and left the migration DAGs as they were"

    # Without Keep the same sync would have pruned it: the property is what protects the file.
    unprotected = {prop: value for prop, value in folder.items() if prop != "Keep"}
    workflow_handler.on_event(cfn_event("Update", unprotected, f"s3://{bucket}/{folder['Prefix']}"), None)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)


def test_a_dag_folder_holding_the_migration_dags_name_is_refused() -> None:
    with pytest.raises(DeploymentError) as caught:
        plan_dag_sync({"mwaa_migration_dags.zip": b"mine"}, {}, "dags/", keep=["dags/mwaa_migration_dags.zip"])
    assert str(caught.value) == (
        "the DAG folder holds mwaa_migration_dags.zip, a name the migration deploys its own file under; "
        "rename or remove that file in the folder"
    )
    sync = plan_dag_sync(
        {"etl.py": b"# etl\n"},
        {"dags/mwaa_migration_dags.zip": '"x"', "dags/old.py": '"y"'},
        "dags/",
        keep=["dags/mwaa_migration_dags.zip"],
    )
    assert sync.deletions == ("dags/old.py",)


def test_keep_must_name_keys_under_the_prefix(s3: S3Client) -> None:
    properties = {"Kind": "Dags", "StagedBucket": "a", "StagedKey": "b", "Bucket": "c", "Prefix": "dags/"}
    with pytest.raises(DeploymentError, match="Keep must list keys under 'dags/'"):
        workflow_handler.on_event(cfn_event("Create", {**properties, "Keep": ["plugins/x.py"]}), None)


def test_without_workflows_the_migration_dags_still_go_in(synthesized: SynthesizedApp) -> None:
    for name in ("example-self-managed", "micro-kms"):
        template = synthesized.template(synthesized.stacks[name].new_environment)
        assert not resources_of_type(template, DAGS_RESOURCE_TYPE)
        _, resource = migration_dags(synthesized, name)
        assert resource["Properties"]["Key"] == "dags/mwaa_migration_dags.zip"


def test_the_migration_dags_location_is_an_output(synthesized: SynthesizedApp) -> None:
    outputs = synthesized.template(synthesized.stacks[AIRFLOW_2_TARGET].new_environment)["Outputs"]
    assert outputs["MigrationDagsLocation"]["Value"] == (
        "s3://existing-airflow-bucket/airflow/dags/mwaa_migration_dags.zip"
    )
