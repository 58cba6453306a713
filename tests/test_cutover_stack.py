"""The cut-over stack's template: each function's role holds exactly its step's statements, the machine's definition
has the states each kind of migration needs, and cfn-lint and cdk-nag find nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file

from mwaa_migration.assets import CUTOVER_DIR, package_dir
from tests.synth_app import SynthesizedApp, resources_of_type
from tests.test_state_machine_walk import definition_of

MIGRATIONS = ["example", "byo-kms", "example-self-managed", "micro-kms"]


def flat(value: Any) -> str:
    """A resolved CloudFormation value as text: Refs and GetAtts by name, joins concatenated."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            return "".join(flat(item) for item in value["Fn::Join"][1])
        if "Ref" in value:
            return "${" + str(value["Ref"]) + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        if "Fn::ImportValue" in value:
            return "${Import}"
    if isinstance(value, list):
        return ",".join(flat(item) for item in value)
    return str(value)


def role_statements(template: dict[str, Any]) -> dict[str, dict[str, tuple[list[str], list[str], Any]]]:
    """{step: {sid: (actions, resources, condition)}} for every cut-over function, through its role's policies."""
    policies = resources_of_type(template, "AWS::IAM::ManagedPolicy")
    steps = {}
    for function in resources_of_type(template, "AWS::Lambda::Function").values():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        step = function["Properties"]["Handler"].removeprefix("mwaa_cutover.cutover_handler.")
        attached = [p for p in policies.values() if {"Ref": role} in p["Properties"]["Roles"]]
        assert len(attached) == 1, step
        statements = attached[0]["Properties"]["PolicyDocument"]["Statement"]
        steps[step] = {
            s["Sid"]: (
                sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"]),
                sorted(flat(r) for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])),
                s.get("Condition"),
            )
            for s in statements
        }
    return steps


def test_each_step_may_call_only_what_it_needs_on_one_airflow_role_per_environment(synthesized: SynthesizedApp) -> None:
    template = synthesized.template(synthesized.stacks["example"].cutover)
    steps = role_statements(template)
    assert sorted(steps) == sorted(
        [
            "guard",
            "record",
            "freeze",
            "drain",
            "export_dag",
            "import_slice",
            "import_dag",
            "verify",
            "delete_secrets",
            "unpause",
            "rollback",
        ]
    )
    old = "arn:${AWS::Partition}:airflow:us-east-1:111122223333:role/analytics/"
    new = "arn:${AWS::Partition}:airflow:${AWS::Region}:${AWS::AccountId}:role/analytics-v3/"
    bucket = "arn:${AWS::Partition}:s3:::mwaa-migration-example-${AWS::AccountId}-${AWS::Region}"
    invoke = ["airflow:InvokeRestApi"]
    assert steps["freeze"]["PauseOld"] == (invoke, [old + "User"], None)
    assert steps["drain"]["ListOldRuns"] == (invoke, [old + "Viewer"], None)
    assert steps["record"]["ListOldDags"] == (invoke, [old + "Viewer"], None)
    assert steps["record"]["WriteOnceRecord"] == (
        ["s3:GetObject", "s3:PutObject"],
        [bucket + "/cutover/example/pause-states.json"],
        None,
    )
    assert steps["export_dag"]["TriggerExportDag"] == (invoke, [old + "User"], None)
    assert steps["import_slice"]["ImportIntoNew"] == (invoke, [new + "Op"], None)
    assert steps["import_dag"]["TriggerImportDag"] == (invoke, [new + "User"], None)
    assert steps["verify"]["ReadNewMetadata"] == (invoke, [new + "Op"], None)
    assert steps["unpause"]["CheckOldPaused"] == (invoke, [old + "Viewer"], None)
    assert steps["unpause"]["UnpauseNew"] == (invoke, [new + "User"], None)
    assert steps["rollback"]["RestoreOld"] == (invoke, [old + "User"], None)
    assert steps["rollback"]["PauseNew"] == (invoke, [new + "User"], None)
    # A restored record and its marker move to history/: a copy there, then a delete of exactly those two keys.
    records = [bucket + "/cutover/example/pause-states.json", bucket + "/cutover/example/unpaused.json"]
    assert steps["rollback"]["ArchiveRecords"] == (["s3:PutObject"], [bucket + "/cutover/example/history/*"], None)
    assert steps["rollback"]["RetireRecords"] == (["s3:DeleteObject"], records, None)
    # On an Airflow 3 target the unpause reads the import's result, to keep the DAGs it named paused.
    assert steps["unpause"]["ReadImportResult"] == (["s3:GetObject"], [bucket + "/cutover/example/import/*"], None)
    assert (
        "ReadImportResult"
        not in role_statements(synthesized.template(synthesized.stacks["byo-kms"].cutover))["unpause"]
    )
    assert steps["guard"]["NoOverlap"] == (
        ["states:ListExecutions"],
        ["arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:mwaa-migration-example-cutover"],
        None,
    )
    assert steps["guard"]["NewEnvironmentStatus"][1] == [
        "arn:${AWS::Partition}:airflow:${AWS::Region}:${AWS::AccountId}:environment/analytics-v3"
    ]
    assert steps["delete_secrets"]["DeleteSecretVersions"] == (
        ["s3:DeleteObjectVersion"],
        [bucket + "/exports/example/*/secrets/*"],
        None,
    )
    assert steps["delete_secrets"]["ListSecretVersions"][2] == {
        "StringLike": {"s3:prefix": ["exports/example/*/secrets/*"]}
    }
    # Only the steps that import or verify read secrets/, and nothing but the cut-over's own prefixes is named.
    readers = {step for step, sids in steps.items() for sid in sids.values() if any("/secrets/" in r for r in sid[1])}
    assert readers == {"import_slice", "verify", "delete_secrets"}
    for step, sids in steps.items():
        assert set(sids) >= {"WriteOwnLogs"}
        for sid, (actions, resources, _condition) in sids.items():
            assert all("*" not in action for action in actions), (step, sid)
            for resource in resources:
                assert resource != "*", (step, sid)
                if resource.startswith(bucket + "/"):
                    assert resource[len(bucket) + 1 :].split("/")[:2] in (
                        ["exports", "example"],
                        ["cutover", "example"],
                        ["reports", "example"],
                    ), resource
            if any(a.startswith("kms:") for a in actions):
                assert flat(_condition["StringEquals"]["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
    # One Airflow role per environment and step.
    for step, sids in steps.items():
        roles = [r for sid in sids.values() if sid[0] == invoke for r in sid[1]]
        assert len({r.rsplit("/", 2)[1] for r in roles}) == len(roles), step


def test_a_source_the_machine_cant_reach_gets_no_role_on_it(synthesized: SynthesizedApp) -> None:
    steps = role_statements(synthesized.template(synthesized.stacks["example-self-managed"].cutover))
    assert sorted(steps) == sorted(["guard", "manifest_wait", "import_dag", "verify", "delete_secrets", "rollback"])
    assert not any(
        "airflow:InvokeRestApi" in sid[0] and "role/etl-mwaa/" not in sid[1][0]
        for sids in steps.values()
        for sid in sids.values()
    )
    assert steps["manifest_wait"]["FindNewestExport"][2] == {
        "StringLike": {"s3:prefix": ["exports/example-self-managed/", "exports/example-self-managed/*/manifest.json"]}
    }


def test_the_state_machine_is_named_for_its_migration_and_its_arn_is_an_output(synthesized: SynthesizedApp) -> None:
    for name in MIGRATIONS:
        template = synthesized.template(synthesized.stacks[name].cutover)
        (machine,) = resources_of_type(template, "AWS::StepFunctions::StateMachine").values()
        assert machine["Properties"]["StateMachineName"] == f"mwaa-migration-{name}-cutover"
        assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
        assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
        assert "StateMachineArn" in template["Outputs"]
        (policy,) = [
            p
            for p in resources_of_type(template, "AWS::IAM::ManagedPolicy").values()
            if p["Properties"]["Roles"] == [{"Ref": machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]}]
        ]
        invoke = policy["Properties"]["PolicyDocument"]["Statement"][0]
        functions = resources_of_type(template, "AWS::Lambda::Function")
        assert sorted(r["Fn::GetAtt"][0] for r in invoke["Resource"]) == sorted(functions)
        for function in functions.values():
            assert function["Properties"]["Runtime"].startswith("python3.")


@pytest.mark.parametrize(
    ("name", "present", "absent"),
    [
        (
            "example",
            {
                "RecordPauseStates",
                "FreezeOld",
                "Drain",
                "ExportStart",
                "ImportSlice",
                "TaskLogDagStart",
                "Verify",
                "DeleteSecrets",
                "UnpauseNew",
                "Rollback",
            },
            # Airflow 3: the REST import, then the task-log DAG; the import DAG has nothing to do there.
            {"ManifestCheck", "ImportDagStart"},
        ),
        (
            "byo-kms",
            {"Drain", "ExportStart", "ImportDagStart", "TaskLogDagStart", "UnpauseNew"},
            {"ImportSlice", "ManifestCheck"},
        ),
        (
            "example-self-managed",
            {"ManifestCheck", "ImportDagStart", "TaskLogDagStart", "Verify", "DeleteSecrets", "Rollback"},
            {"RecordPauseStates", "FreezeOld", "Drain", "ExportStart", "UnpauseNew", "ImportSlice"},
        ),
        (
            "micro-kms",
            {"ManifestCheck", "ImportDagStart", "TaskLogDagStart"},
            {"ImportSlice", "FreezeOld", "UnpauseNew"},
        ),
    ],
)
def test_the_definition_has_the_states_its_migration_needs(
    synthesized: SynthesizedApp, name: str, present: set[str], absent: set[str]
) -> None:
    definition, handlers = definition_of(synthesized.template(synthesized.stacks[name].cutover))
    states = definition["States"]
    assert definition["StartAt"] == "Guard" and present <= set(states) and not absent & set(states)
    for state in states.values():
        if state["Type"] == "Task":
            assert state["Resource"] in handlers  # every Task is one of the stack's own functions
        if state["Type"] == "Wait":  # as long as the step before said (tests/test_cutover_history.py)
            assert "Seconds" not in state and state["SecondsPath"].endswith(".next_wait_seconds")
    # Every state is reachable from Guard.
    seen, todo = set(), ["Guard"]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        state = states[current]
        todo += [c["Next"] for c in state.get("Choices", [])] + [state[k] for k in ("Next", "Default") if k in state]
    assert seen == set(states)


def test_cfn_lint_and_cdk_nag_find_nothing_in_the_cutover_stacks(synthesized: SynthesizedApp) -> None:
    findings = {}
    for name in MIGRATIONS:
        path = synthesized.template_path(synthesized.stacks[name].cutover)
        findings[name] = [str(match) for match in lint_file(path)]
    assert findings == {name: [] for name in MIGRATIONS}
    report = synthesized.validation_report()
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == []
        ours = [v for v in plugin["suppressedViolations"] if "-cutover/" in json.dumps(v)]
        assert ours, "no acknowledged finding in the cut-over stacks: the report's shape changed?"
        for suppressed in ours:
            assert suppressed["acknowledgedId"] == f"{plugin['pluginName']}::{suppressed['ruleName']}"
            assert len(suppressed["reason"]) > 40


def _files(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_the_lambda_asset_is_the_cutover_folder_without_bytecode(synthesized: SynthesizedApp) -> None:
    handler = package_dir(CUTOVER_DIR).relative_to(CUTOVER_DIR) / "cutover_handler.py"
    assets = [p for p in Path(synthesized.assembly.directory).glob("asset.*") if (p / handler).exists()]
    assert assets
    for asset in assets:
        assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.pyc"))
        assert _files(asset) == _files(CUTOVER_DIR)
