"""Guide step 4 as synthesized: the new role's read of the export and of the old task logs, secrets only on an
Airflow 2 target. Policies are checked by evaluating them (actions, resource globs, conditions) for the calls the
import makes, allowed and refused. The import DAG's deployment: tests/test_import_dag_stacks.py."""

from __future__ import annotations

import datetime
import fnmatch
import json
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from moto import mock_aws
from mwaa_migration_support.task_logs import copy_task_logs

from tests.synth_app import SynthesizedApp, logical_id

ACCOUNT, REGION = "111122223333", "us-east-1"
EXPORT = "20250101T000000Z"  # an export id
AIRFLOW_3_TARGET, AIRFLOW_2_TARGET = "example", "byo-kms"  # both MWAA sources, 3.0.6 and 2.11.0 targets


# --- Evaluating the synthesized policies ---------------------------------------------------------------------


def resolve(value: Any, refs: Mapping[str, str] | None = None) -> Any:
    """The intrinsics these templates use, in account 111122223333 and us-east-1; `refs` names the stack's own."""
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, **(refs or {})}
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(resolve(items, refs))
    if "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
    if "Ref" in value:
        return pseudo[value["Ref"]]
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{resource}.{attribute}>"  # another resource's: matches none of the ARNs the tests ask about
    if "Fn::GetStackOutput" in value:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/migration-key"  # the migration bucket's key, cross-stack
    return {key: resolve(item, refs) for key, item in value.items()}


def allowed(statements: list[dict[str, Any]], action: str, resource: str, context: Mapping[str, str] = {}) -> bool:
    """IAM's Allow for these policies (no wildcard actions, no NotAction): action, resource glob, and every
    StringEquals / StringLike condition met by the request context."""
    for statement in statements:
        if statement["Effect"] != "Allow" or "Resource" not in statement:
            continue
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        if action not in actions or not any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources):
            continue
        met = True
        for operator, keys in statement.get("Condition", {}).items():
            assert operator in ("StringEquals", "StringLike"), operator
            for key, expected in keys.items():
                values = [expected] if isinstance(expected, str) else expected
                if operator == "StringEquals":
                    met = met and context.get(key) in values
                else:
                    met = met and key in context and any(fnmatch.fnmatchcase(context[key], v) for v in values)
        if met:
            return True
    return False


def read_statements(synthesized: SynthesizedApp, name: str) -> list[dict[str, Any]]:
    stack = synthesized.stacks[name].new_environment
    policy = stack.node.find_child("MigrationReadAccess").node.find_child("Policy")
    statements: list[dict[str, Any]] = synthesized.template(stack)["Resources"][logical_id(policy)]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    return statements


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::mwaa-migration-{name}-{ACCOUNT}-{REGION}"


def archive_key(name: str, key: str) -> str:
    return f"{bucket_arn(name)}/exports/{name}/{EXPORT}/{key}"


VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/migration-key"


# --- The read policy, statement by statement -----------------------------------------------------------------


def test_an_airflow_3_target_reads_tables_manifest_and_run_ids_but_never_secrets(synthesized: SynthesizedApp) -> None:
    statements = {s.pop("Sid"): resolve(s) for s in read_statements(synthesized, AIRFLOW_3_TARGET)}
    prefix = f"{bucket_arn('example')}/exports/example/*"
    assert statements == {
        "ReadMetadataExport": {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": [f"{prefix}/manifest.json", f"{prefix}/run-ids.json", f"{prefix}/tables/*"],
        },
        "FindLatestExport": {
            "Action": "s3:ListBucket",
            "Condition": {"StringEquals": {"s3:prefix": "exports/example/"}},
            "Effect": "Allow",
            "Resource": bucket_arn("example"),
        },
        "DecryptMetadataExport": {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": VIA_S3},
            "Effect": "Allow",
            "Resource": KEY,
        },
        "ListOldTaskLogStreams": {
            "Action": "logs:DescribeLogStreams",
            "Effect": "Allow",
            "Resource": "arn:aws:logs:us-east-1:111122223333:log-group:airflow-analytics-Task:*",
        },
        "ReadOldTaskLogEvents": {
            "Action": "logs:GetLogEvents",
            "Effect": "Allow",
            "Resource": "arn:aws:logs:us-east-1:111122223333:log-group:airflow-analytics-Task:log-stream:*",
        },
    }
    assert "secrets" not in json.dumps(statements)


def test_an_airflow_2_target_also_reads_secrets_and_writes_the_run_id_map(synthesized: SynthesizedApp) -> None:
    statements = {s["Sid"]: resolve(s) for s in read_statements(synthesized, AIRFLOW_2_TARGET)}
    prefix = f"{bucket_arn('byo-kms')}/exports/byo-kms/*"
    assert list(statements) == [
        "ReadMetadataExport",
        "FindLatestExport",
        "ReadExportedSecrets",
        "WriteRunIdMap",
        "DecryptMetadataExport",
        "ListOldTaskLogStreams",
        "ReadOldTaskLogEvents",
    ]
    assert statements["ReadExportedSecrets"]["Action"] == "s3:GetObject"
    assert statements["ReadExportedSecrets"]["Resource"] == f"{prefix}/secrets/*"
    assert statements["WriteRunIdMap"]["Action"] == "s3:PutObject"
    assert statements["WriteRunIdMap"]["Resource"] == f"{prefix}/run-ids.json"
    # GenerateDataKey only for that put, through S3 only.
    assert statements["DecryptMetadataExport"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statements["DecryptMetadataExport"]["Condition"] == {"StringEquals": VIA_S3}
    # The old logs are in the source's region and account.
    assert statements["ListOldTaskLogStreams"]["Resource"] == (
        "arn:aws:logs:eu-west-1:111122223333:log-group:airflow-reporting-Task:*"
    )


@pytest.mark.parametrize(("name", "airflow_2"), [(AIRFLOW_3_TARGET, False), (AIRFLOW_2_TARGET, True)])
def test_the_read_policy_allows_the_imports_calls_and_refuses_the_rest(
    synthesized: SynthesizedApp, name: str, airflow_2: bool
) -> None:
    statements = resolve(read_statements(synthesized, name))
    bucket = bucket_arn(name)

    def get(key: str) -> bool:
        return allowed(statements, "s3:GetObject", archive_key(name, key))

    for key in (
        "manifest.json",
        "run-ids.json",
        "tables/dag_run/part-00000.jsonl.gz",
        "tables/log/part-00012.jsonl.gz",
    ):
        assert get(key), key
    for key in ("secrets/variable.jsonl.gz", "secrets/connection.jsonl.gz", "secrets/connection-00001.jsonl.gz"):
        assert get(key) is airflow_2, key
    assert allowed(statements, "s3:PutObject", archive_key(name, "run-ids.json")) is airflow_2
    assert allowed(statements, "kms:GenerateDataKey", KEY, VIA_S3) is airflow_2
    assert allowed(statements, "kms:Decrypt", KEY, VIA_S3)
    # Listing: the export ids of this migration only.
    assert allowed(statements, "s3:ListBucket", bucket, {"s3:prefix": f"exports/{name}/"})
    for prefix in ("", "exports/", f"exports/{name}/{EXPORT}/secrets/", "exports/other/", "cutover/"):
        assert not allowed(statements, "s3:ListBucket", bucket, {"s3:prefix": prefix}), prefix
    # Nothing of another migration, nothing outside exports/, no writes but the run-id map, no KMS outside S3.
    assert not allowed(statements, "s3:GetObject", f"{bucket}/exports/other/{EXPORT}/manifest.json")
    assert not allowed(statements, "s3:GetObject", f"{bucket}/cutover/{name}/pause-states.json")
    assert not allowed(statements, "s3:GetObject", f"{bucket}/reports/{name}/report.json")
    for key in ("manifest.json", "tables/log/part-00000.jsonl.gz", "secrets/variable.jsonl.gz"):
        assert not allowed(statements, "s3:PutObject", archive_key(name, key)), key
    assert not allowed(statements, "kms:Decrypt", KEY, {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"})


def test_the_old_task_logs_are_the_task_group_only(synthesized: SynthesizedApp) -> None:
    statements = resolve(read_statements(synthesized, AIRFLOW_3_TARGET))
    group = "arn:aws:logs:us-east-1:111122223333:log-group:airflow-analytics-Task"
    # DescribeLogStreams is checked against the group's ARN with ":*", GetLogEvents against each stream's.
    assert allowed(statements, "logs:DescribeLogStreams", f"{group}:*")
    stream = f"{group}:log-stream:dag_id=etl/run_id=scheduled__2025-01-01T00:00:00+00:00/task_id=load/attempt=1.log"
    assert allowed(statements, "logs:GetLogEvents", stream)
    for other in ("Scheduler", "Worker", "DAGProcessing", "WebServer"):
        assert not allowed(statements, "logs:GetLogEvents", stream.replace("-Task:", f"-{other}:")), other
    assert not allowed(statements, "logs:GetLogEvents", stream.replace("us-east-1", "us-west-2"))
    assert not allowed(statements, "logs:PutLogEvents", stream)
    # The new environment's own task logs are the execution role's (WriteEnvironmentLogs).
    assert not allowed(statements, "logs:DescribeLogStreams", f"{group.replace('analytics', 'analytics-v3')}:*")


def test_a_self_managed_source_gets_no_log_access(synthesized: SynthesizedApp) -> None:
    for name in ("example-self-managed", "micro-kms"):
        sids = [s["Sid"] for s in read_statements(synthesized, name)]
        expected = ["ReadMetadataExport", "FindLatestExport", "ReadExportedSecrets", "WriteRunIdMap"]
        assert sids == [*expected, "DecryptMetadataExport"], name


def test_the_execution_role_may_write_the_new_task_logs_the_copy_writes(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks[AIRFLOW_3_TARGET].new_environment
    policy = stack.node.find_child("ExecutionRole").node.find_child("Policy")
    template = synthesized.template(stack)
    statements = resolve(template["Resources"][logical_id(policy)]["Properties"]["PolicyDocument"]["Statement"])
    group = "arn:aws:logs:us-east-1:111122223333:log-group:airflow-analytics-v3-Task"
    stream = f"{group}:log-stream:dag_id=etl/run_id=manual__1/task_id=load/attempt=1.log"
    for action, resource in (
        ("logs:CreateLogStream", f"{group}:log-stream:"),
        ("logs:DescribeLogStreams", f"{group}:*"),
        ("logs:PutLogEvents", stream),
        ("logs:DescribeLogGroups", "arn:aws:logs:us-east-1:111122223333:log-group:*"),
    ):
        assert allowed(statements, action, resource), action
    assert not allowed(statements, "logs:PutLogEvents", stream.replace("analytics-v3", "analytics"))


def test_the_read_policys_wildcards_are_acknowledged_one_by_one(synthesized: SynthesizedApp) -> None:
    report = synthesized.validation_report()
    (solutions,) = (plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions")
    acknowledged = sorted(
        violation["ruleName"].removeprefix("AwsSolutions-IAM5[Resource::").removesuffix("]")
        for violation in solutions["suppressedViolations"]
        if violation["violatingConstructs"][0]["constructPath"]
        == "byo-kms-new-environment/MigrationReadAccess/Policy/Resource"
    )
    bucket = "arn:<AWS::Partition>:s3:::mwaa-migration-byo-kms-<AWS::AccountId>-<AWS::Region>/exports/byo-kms/*"
    logs = "arn:<AWS::Partition>:logs:eu-west-1:111122223333:log-group:airflow-reporting-Task"
    assert acknowledged == sorted(
        [
            f"{bucket}/tables/*",
            f"{bucket}/manifest.json",
            f"{bucket}/run-ids.json",
            f"{bucket}/secrets/*",
            f"{logs}:*",
            f"{logs}:log-stream:*",
        ]
    )


def test_the_roles_allow_every_call_the_log_copy_makes(synthesized: SynthesizedApp) -> None:
    """The task-log copy (mwaa_migration_support/task_logs.py, the task-log DAG's) run twice (a copy, then a resuming
    re-run) against moto, each call checked against the new role's two policies: the read policy (old group) and the
    execution policy (new group)."""
    stack = synthesized.stacks[AIRFLOW_3_TARGET].new_environment
    execution = stack.node.find_child("ExecutionRole").node.find_child("Policy")
    template = synthesized.template(stack)
    statements = resolve(
        [
            *read_statements(synthesized, AIRFLOW_3_TARGET),
            *template["Resources"][logical_id(execution)]["Properties"]["PolicyDocument"]["Statement"],
        ]
    )
    old, new = "airflow-analytics-Task", "airflow-analytics-v3-Task"
    now = datetime.datetime.now(datetime.UTC)
    stream = "dag_id=etl/run_id=scheduled__1/task_id=load/attempt=1.log"
    calls: list[tuple[str, dict[str, Any]]] = []
    with mock_aws():
        source, target = (boto3.client("logs", region_name=REGION) for _ in range(2))
        for client in (source, target):
            client.meta.events.register(
                "before-parameter-build.logs.*", lambda model, params, **_: calls.append((model.name, params))
            )
        source.create_log_group(logGroupName=old)
        source.create_log_group(logGroupName=new)
        source.create_log_stream(logGroupName=old, logStreamName=stream)
        start = int((now - datetime.timedelta(hours=1)).timestamp() * 1000)
        events = [{"timestamp": start + i, "message": f"line {i}"} for i in range(5)]
        source.put_log_events(logGroupName=old, logStreamName=stream, logEvents=events)
        calls.clear()
        row = {"dag_id": "etl", "task_id": "load", "run_id": "scheduled__1", "map_index": -1, "try_number": 1}
        row |= {"state": "success", "start_date": now.isoformat(), "end_date": now.isoformat()}
        for _ in range(2):
            summary = copy_task_logs(
                source_client=source,
                target_client=target,
                source_group=old,
                target_group=new,
                task_instances=[row],
                run_ids={"etl": {"scheduled__1": "scheduled__1"}},
                target_template=stream.replace("etl", "{{ ti.dag_id }}"),
                days=None,
                states=None,
                now=now,
                sleep=lambda seconds: None,
            )
            assert summary["streams_failed"] == 0

    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    needed = set()
    for operation, params in calls:
        group, name = params.get("logGroupName", ""), params.get("logStreamName", "")
        resource = f"{logs}{group}:*" if operation == "DescribeLogStreams" else f"{logs}{group}:log-stream:{name}"
        needed.add((f"logs:{operation}", group, "*" if operation == "DescribeLogGroups" else resource))
    assert {(action, group) for action, group, _ in needed} >= {
        ("logs:DescribeLogStreams", old),
        ("logs:GetLogEvents", old),
        ("logs:CreateLogStream", new),
        ("logs:PutLogEvents", new),
        ("logs:GetLogEvents", new),
    }
    assert [call for call in sorted(needed) if not allowed(statements, call[0], call[2])] == []
