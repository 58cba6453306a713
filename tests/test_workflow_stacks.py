"""The workflow deployment as synthesized: what is staged, where it goes, who may do what, and how each deployed
file's S3 version reaches the environment."""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import FileSystem
from moto import mock_aws

from constructs import IConstruct
from constructs.workflow_deployment import DAGS_RESOURCE_TYPE, FILE_RESOURCE_TYPE
from mwaa_migration.plugins_zip import WORKFLOW_EXCLUDES, build_plugins_zip
from mwaa_workflow_deploy import workflow_handler
from tests.synth_app import EXAMPLE_WORKFLOWS, REPO_ROOT, SynthesizedApp, logical_id, resources_of_type

REPORTING_WORKFLOWS = REPO_ROOT / "tests" / "fixtures" / "workflows" / "reporting"
ASSET_BUCKET = {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}
EXISTING_BUCKET_ARN = "arn:aws:s3:::existing-airflow-bucket"


def template(synthesized: SynthesizedApp, name: str) -> dict[str, Any]:
    return synthesized.template(synthesized.stacks[name].new_environment)


def child_id(synthesized: SynthesizedApp, name: str, *path: str) -> str:
    """Logical ID of a construct under the new-environment stack of migration `name`."""
    construct: IConstruct = synthesized.stacks[name].new_environment
    for child in path:
        construct = construct.node.find_child(child)
    return logical_id(construct)


def source_bucket_id(synthesized: SynthesizedApp) -> str:
    return child_id(synthesized, "example", "SourceBucket", "Bucket")


def staged_source(synthesized: SynthesizedApp, name: str, staged_key: str) -> Path:
    """The file or folder in the assembly that CDK publishes to `staged_key` in its asset bucket."""
    stack = synthesized.stacks[name].new_environment
    assembly = Path(synthesized.assembly.directory)
    manifest = json.loads((assembly / f"{stack.artifact_id}.assets.json").read_text())
    for asset in manifest["files"].values():
        if any(d["objectKey"] == staged_key for d in asset["destinations"].values()):
            return assembly / str(asset["source"]["path"])
    raise AssertionError(f"no asset is published to {staged_key}")


def object_arn(bucket_arn: dict[str, Any], key: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [bucket_arn, f"/{key}"]]}


def staged_arn(staged_key: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", ASSET_BUCKET, f"/{staged_key}"]]}


def handler_statements(synthesized: SynthesizedApp, name: str) -> list[dict[str, Any]]:
    policy = template(synthesized, name)["Resources"][child_id(synthesized, name, "Workflows", "HandlerPolicy")]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


# --- The example: every kind of file, into the bucket the stack creates -----------------------------------------


def test_each_file_is_its_own_resource_and_its_version_is_pinned(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "example")
    bucket_id = source_bucket_id(synthesized)
    files = {
        r["Properties"]["Key"]: (key, r["Properties"]) for key, r in resources_of_type(t, FILE_RESOURCE_TYPE).items()
    }
    assert sorted(files) == ["plugins.zip", "requirements.txt", "startup.sh"]
    props = synthesized.environment("example")["Properties"]
    for path_property, version_property, key in (
        ("RequirementsS3Path", "RequirementsS3ObjectVersion", "requirements.txt"),
        ("PluginsS3Path", "PluginsS3ObjectVersion", "plugins.zip"),
        ("StartupScriptS3Path", "StartupScriptS3ObjectVersion", "startup.sh"),
    ):
        logical_id, properties = files[key]
        assert props[path_property] == key
        # The version the deployment wrote, so a changed file updates the environment and an unchanged one can't.
        assert props[version_property] == {"Fn::GetAtt": [logical_id, "VersionId"]}
        assert properties["Kind"] == "File"
        assert properties["Bucket"] == {"Ref": bucket_id}
        assert properties["StagedBucket"] == ASSET_BUCKET
        assert properties["ServiceTimeout"] == "600"


def test_the_staged_files_are_the_example_files(synthesized: SynthesizedApp) -> None:
    files = {
        r["Properties"]["Key"]: r["Properties"]["StagedKey"]
        for r in resources_of_type(template(synthesized, "example"), FILE_RESOURCE_TYPE).values()
    }
    for key, local in (("requirements.txt", "requirements.txt"), ("startup.sh", "startup.sh")):
        assert (
            staged_source(synthesized, "example", files[key]).read_bytes() == (EXAMPLE_WORKFLOWS / local).read_bytes()
        )
    # The plugins folder, zipped reproducibly: the staged bytes are exactly the app's zip of the folder.
    staged_zip = staged_source(synthesized, "example", files["plugins.zip"]).read_bytes()
    assert staged_zip == build_plugins_zip(EXAMPLE_WORKFLOWS / "plugins")


def test_dag_folder_syncs_under_the_dag_path_and_excludes_caches(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "example")
    ((dag_folder_id, dags),) = resources_of_type(t, DAGS_RESOURCE_TYPE).items()
    props = dags["Properties"]
    assert props["Kind"] == "Dags"
    environment = synthesized.environment("example")
    assert props["Prefix"] == environment["Properties"]["DagS3Path"] + "/"
    assert props["Bucket"] == {"Ref": source_bucket_id(synthesized)}
    # The environment starts with its DAGs in place.
    assert dag_folder_id in environment["DependsOn"]
    staged = staged_source(synthesized, "example", props["StagedKey"])
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*")) == ["example_dag.py"]
    assert list((EXAMPLE_WORKFLOWS / "dags").glob("__pycache__/*.pyc")), "nothing to exclude: this proves nothing"


def test_deployment_role_reads_only_its_staged_files_and_writes_only_its_keys(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "example")
    staged_keys = sorted(
        r["Properties"]["StagedKey"]
        for r in [
            *resources_of_type(t, FILE_RESOURCE_TYPE).values(),
            *resources_of_type(t, DAGS_RESOURCE_TYPE).values(),
        ]
    )
    bucket_arn = {"Fn::GetAtt": [source_bucket_id(synthesized), "Arn"]}
    statements = {statement.pop("Sid"): statement for statement in handler_statements(synthesized, "example")}
    read = statements.pop("ReadStagedWorkflowFiles")
    assert read == {"Action": "s3:GetObject", "Effect": "Allow", "Resource": read["Resource"]}
    assert sorted(read["Resource"], key=json.dumps) == sorted(map(staged_arn, staged_keys), key=json.dumps)
    assert statements.pop("WriteWorkflowFiles") == {
        "Action": "s3:PutObject",
        "Effect": "Allow",
        "Resource": [object_arn(bucket_arn, key) for key in ("plugins.zip", "requirements.txt", "startup.sh")],
    }
    assert statements.pop("ListDagFolder") == {
        "Action": "s3:ListBucket",
        "Condition": {"StringLike": {"s3:prefix": ["dags/*"]}},
        "Effect": "Allow",
        "Resource": bucket_arn,
    }
    assert statements.pop("SyncDagFolder") == {
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Effect": "Allow",
        "Resource": object_arn(bucket_arn, "dags/*"),
    }
    assert statements.pop("WriteOwnLogs")["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements == {}


def test_deployments_wait_for_their_permissions(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "example")
    deployments = [
        *resources_of_type(t, FILE_RESOURCE_TYPE).values(),
        *resources_of_type(t, DAGS_RESOURCE_TYPE).values(),
    ]
    for resource in deployments:
        assert sorted(resource["DependsOn"]) == sorted(
            child_id(synthesized, "example", "Workflows", policy) for policy in ("HandlerPolicy", "ProviderPolicy")
        )


def test_the_dag_prune_acknowledgment_names_the_dag_path_only(synthesized: SynthesizedApp) -> None:
    report = synthesized.validation_report()
    (solutions,) = (plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions")
    stacks = ("example-new-environment/", "byo-kms-new-environment/")
    rules = sorted(
        (violation["ruleName"], violation["violatingConstructs"][0]["constructPath"])
        for violation in solutions["suppressedViolations"]
        if "/Workflows/" in violation["violatingConstructs"][0]["constructPath"]
        and violation["violatingConstructs"][0]["constructPath"].startswith(stacks)
    )
    bucket_id = source_bucket_id(synthesized)
    assert rules == [
        (
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/dags/*]",
            "example-new-environment/Workflows/HandlerPolicy/Resource",
        ),
        (
            f"AwsSolutions-IAM5[Resource::{EXISTING_BUCKET_ARN}/airflow/dags/*]",
            "byo-kms-new-environment/Workflows/HandlerPolicy/Resource",
        ),
    ]


# --- An existing bucket, the file's own paths, a ready plugins.zip -----------------------------------------------


def test_existing_bucket_gets_the_files_at_the_files_own_paths(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "byo-kms")
    files = {r["Properties"]["Key"]: r["Properties"] for r in resources_of_type(t, FILE_RESOURCE_TYPE).values()}
    assert sorted(files) == ["plugins/plugins.zip", "requirements/requirements.txt"]
    assert {props["Bucket"] for props in files.values()} == {"existing-airflow-bucket"}
    # A ready plugins.zip is deployed as it is.
    staged = staged_source(synthesized, "byo-kms", files["plugins/plugins.zip"]["StagedKey"])
    assert staged.read_bytes() == (REPORTING_WORKFLOWS / "plugins.zip").read_bytes()
    props = synthesized.environment("byo-kms")["Properties"]
    assert "StartupScriptS3Path" not in props and "StartupScriptS3ObjectVersion" not in props
    (dags,) = resources_of_type(t, DAGS_RESOURCE_TYPE).values()
    assert dags["Properties"]["Prefix"] == "airflow/dags/"
    assert props["DagS3Path"] == "airflow/dags"
    statements = {statement["Sid"]: statement for statement in handler_statements(synthesized, "byo-kms")}
    assert statements["SyncDagFolder"]["Resource"] == f"{EXISTING_BUCKET_ARN}/airflow/dags/*"
    assert statements["ListDagFolder"]["Condition"] == {"StringLike": {"s3:prefix": ["airflow/dags/*"]}}
    assert statements["WriteWorkflowFiles"]["Resource"] == [
        f"{EXISTING_BUCKET_ARN}/plugins/plugins.zip",
        f"{EXISTING_BUCKET_ARN}/requirements/requirements.txt",
    ]


@pytest.mark.parametrize("name", ["example-self-managed", "micro-kms"])
def test_no_workflows_deploy_nothing(synthesized: SynthesizedApp, name: str) -> None:
    t = template(synthesized, name)
    assert not resources_of_type(t, FILE_RESOURCE_TYPE) and not resources_of_type(t, DAGS_RESOURCE_TYPE)
    assert not [key for key in t["Resources"] if key.startswith("Workflows")]
    assert not [prop for prop in synthesized.environment(name)["Properties"] if prop.endswith("S3ObjectVersion")]


# --- Determinism: the staged key only changes when content does ---------------------------------------------------


def test_dag_folder_hash_survives_a_touch_and_follows_content(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "etl.py").write_text("# etl\n")
    before = FileSystem.fingerprint(str(folder), exclude=list(WORKFLOW_EXCLUDES))
    os.utime(folder / "etl.py", (1_000_000_000, 1_000_000_000))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "etl.cpython-312.pyc").write_bytes(b"\0")
    assert FileSystem.fingerprint(str(folder), exclude=list(WORKFLOW_EXCLUDES)) == before
    (folder / "etl.py").write_text("# etl, changed\n")
    assert FileSystem.fingerprint(str(folder), exclude=list(WORKFLOW_EXCLUDES)) != before


# --- The synthesized policy allows every call the handler makes ---------------------------------------------------

ACCOUNT, REGION = "111122223333", "us-east-1"


def resolve(value: Any) -> Any:
    """The few intrinsics the deployment's policy and properties use, with this account and region."""
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(resolve(items))
    if "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return {key: resolve(item) for key, item in value.items()}


def allowed(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]) -> bool:
    """IAM's Allow for policies without wildcard actions: the action, a resource glob, StringLike conditions."""
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        conditions = statement.get("Condition", {}).get("StringLike", {})
        if (
            action in actions
            and any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources)
            and all(
                key in context and any(fnmatch.fnmatchcase(context[key], p) for p in patterns)
                for key, patterns in conditions.items()
            )
        ):
            return True
    return False


def test_the_role_allows_every_call_the_handler_makes(synthesized: SynthesizedApp) -> None:
    t = template(synthesized, "byo-kms")
    statements = resolve(handler_statements(synthesized, "byo-kms"))
    deployments = [
        resolve(r["Properties"])
        for r in [
            *resources_of_type(t, FILE_RESOURCE_TYPE).values(),
            *resources_of_type(t, DAGS_RESOURCE_TYPE).values(),
        ]
    ]
    calls: list[tuple[str, dict[str, Any]]] = []
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.meta.events.register(
            "before-parameter-build.s3.*", lambda model, params, **_: calls.append((model.name, params))
        )
        for bucket in {d["StagedBucket"] for d in deployments} | {d["Bucket"] for d in deployments}:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for deployment in deployments:
            body = (REPORTING_WORKFLOWS / "plugins.zip").read_bytes() if deployment["Kind"] == "Dags" else b"x"
            s3.put_object(Bucket=deployment["StagedBucket"], Key=deployment["StagedKey"], Body=body)
        s3.put_object(Bucket="existing-airflow-bucket", Key="airflow/dags/stale.py", Body=b"")
        calls.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(workflow_handler, "client_factory", lambda: s3)
            for deployment in deployments:
                workflow_handler.on_event({"RequestType": "Create", "ResourceProperties": deployment}, None)

    needed: list[tuple[str, str, dict[str, str]]] = []
    for operation, params in calls:
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation == "ListObjectsV2":
            needed.append(("s3:ListBucket", bucket, {"s3:prefix": params.get("Prefix", "")}))
        elif operation == "DeleteObjects":
            needed += [("s3:DeleteObject", f"{bucket}/{o['Key']}", {}) for o in params["Delete"]["Objects"]]
        else:
            needed.append((f"s3:{operation}", f"{bucket}/{params['Key']}", {}))
    assert {action for action, _, _ in needed} == {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"}
    assert [call for call in needed if not allowed(statements, *call)] == []
    # And the policy is not merely permissive: a key beside the deployed ones is refused.
    assert not allowed(statements, "s3:PutObject", "arn:aws:s3:::existing-airflow-bucket/requirements.txt", {})
    assert not allowed(statements, "s3:ListBucket", "arn:aws:s3:::existing-airflow-bucket", {"s3:prefix": ""})
