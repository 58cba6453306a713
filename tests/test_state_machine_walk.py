"""Walks the synthesized cut-over state machine of each kind of migration, mode by mode, with every Task answered by
the real step function (mwaa_cutover.cutover_steps) against two fake environments and moto's S3; after every
request and every state, no DAG may be unpaused on both environments."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mwaa_cutover.bucket_keys import record_key
from mwaa_cutover.pause_states import read_pause_states
from tests.cutover_world import World, definition_built
from tests.fake_airflow import FakeRun, FakeTask
from tests.moto_bucket import versioned_bucket
from tests.synth_app import SynthesizedApp, resources_of_type

BUCKET = "mwaa-migration-bucket"
USERS_DAGS = {"etl_a": False, "etl_b": False, "etl_c": True, "report": False}  # dag id: paused on the old one


def definition_of(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The ASL with each function's GetAtt replaced by `fn:<logical id>`, and those to their handlers."""
    (machine,) = resources_of_type(template, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else f"fn:{part['Fn::GetAtt'][0]}" for part in parts)
    handlers = {
        f"fn:{logical}": resource["Properties"]["Handler"]
        for logical, resource in resources_of_type(template, "AWS::Lambda::Function").items()
    }
    return json.loads(text), handlers


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


def world_for(synthesized: SynthesizedApp, s3: Any, name: str) -> World:
    stacks = synthesized.stacks[name]
    definition, handlers = definition_of(synthesized.template(stacks.cutover))
    target_api = "v2" if stacks.migration.target.airflow_version.startswith("3") else "v1"
    world = World(
        definition,
        handlers,
        migration=name,
        bucket=BUCKET,
        s3=s3,
        target_api=target_api,
        operator_export=stacks.migration.source.kind == "self-managed",
    )
    return populated(world)


def populated(world: World) -> World:
    for dag_id, paused in USERS_DAGS.items():
        world.envs.add(dag_id, paused=paused)
    world.envs.old.add("mwaa_migration_export", paused=True)
    world.envs.new.add("mwaa_migration_import", paused=True)
    world.envs.new.add("mwaa_migration_task_logs", paused=True)
    return world


def busy(world: World, *, until: int | None) -> None:
    """A run of etl_a still going on the old environment, done at tick `until` (None: never)."""
    world.envs.old.runs.append(FakeRun("etl_a", "scheduled__1", "running"))
    world.envs.old.tasks.append(FakeTask("etl_a", "scheduled__1", "load", "running"))
    world.busy_until = until


def secrets_left(s3: Any, name: str) -> int:
    page = s3.list_object_versions(Bucket=BUCKET, Prefix=f"exports/{name}/")
    return sum(1 for item in page.get("Versions", []) if "/secrets/" in item["Key"])


@pytest.mark.parametrize("name", ["example", "byo-kms"])
def test_cut_over_freezes_drains_exports_imports_verifies_and_unpauses(
    synthesized: SynthesizedApp, s3: Any, name: str
) -> None:
    world = world_for(synthesized, s3, name)
    busy(world, until=2)
    status, output, execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    assert world.envs.old.states() == dict.fromkeys([*USERS_DAGS, "mwaa_migration_export"], True)
    assert world.envs.new.states() == {**USERS_DAGS, "mwaa_migration_import": True, "mwaa_migration_task_logs": True}
    assert output["verify"]["ok"] and output["unpause"]["unpaused"] == 3
    assert output["drain"]["verdict"] == "done" and execution.visited.count("DrainWait") == 2
    assert secrets_left(s3, name) == 0
    assert read_pause_states(s3, bucket=BUCKET, migration=name)["dags"]["etl_a"] is False
    if name == "example":  # Airflow 3 target: the REST import, in slices
        assert output["import"]["done"] and output["import"]["slices"] > 1
        assert output["import"]["counts"]["variable"]["created"] == 2
    else:
        assert "ImportSlice" not in execution.visited
    report = s3.get_object(Bucket=BUCKET, Key=f"reports/{name}/{output['input']['export_id']}/report.json")
    assert json.loads(report["Body"].read())["ok"] is True
    # Counts and ids only in what the machine keeps: no variable or connection value anywhere in its output.
    assert "s3cret" not in json.dumps(output) and "pw" not in json.dumps(output["verify"])
    assert world.envs.checks > 50


def test_a_drain_that_times_out_fails_naming_the_busy_dags_and_unpauses_nothing(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    busy(world, until=None)
    status, error, execution = world.execute({"mode": "cutover", "drain_timeout_seconds": 300})
    assert status == "FAILED" and error.error == "DrainRefusedError"
    assert "etl_a" in error.cause and "force: true" in error.cause
    assert execution.visited[-1] == "Drain" and "ExportStart" not in execution.visited
    assert all(world.envs.new.states().values())  # nothing unpaused on the new environment


def test_force_goes_on_past_the_drain_timeout_and_a_restart_keeps_the_first_record(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    busy(world, until=None)
    status, _error, _execution = world.execute({"mode": "cutover", "drain_timeout_seconds": 300})
    assert status == "FAILED"
    first = read_pause_states(s3, bucket=BUCKET, migration="example")
    # The old environment is frozen now; the restarted execution must not record that as the users' choice.
    assert all(world.envs.old.states().values())
    status, output, _execution = world.execute({"mode": "cutover", "drain_timeout_seconds": 300, "force": True})
    assert status == "SUCCEEDED", output
    assert output["record"]["created"] is False and output["drain"]["verdict"] == "force"
    assert read_pause_states(s3, bucket=BUCKET, migration="example") == first
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=record_key("example"))["Versions"]
    assert len(versions) == 1
    assert [d for d, paused in world.envs.new.states().items() if not paused] == ["etl_a", "etl_b", "report"]


def test_rollback_refuses_over_the_new_environments_runs_without_force_and_restores_with_it(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    status, _output, _execution = world.execute({"mode": "cutover", "unpause": True})
    assert status == "SUCCEEDED"
    world.now += datetime.timedelta(hours=1)
    world.envs.new.run("etl_b", "scheduled__new", state="success", start_date=world.now.isoformat())
    status, error, _execution = world.execute({"mode": "rollback"})
    assert status == "FAILED" and error.error == "RollbackRefusedError" and "etl_b/scheduled__new" in error.cause
    assert all(world.envs.new.states().values()) and all(world.envs.old.states().values())
    status, output, _execution = world.execute({"mode": "rollback", "force": True})
    assert status == "SUCCEEDED" and output["rollback"]["forced"] is True
    assert world.envs.old.states() == {**USERS_DAGS, "mwaa_migration_export": True}
    assert all(world.envs.new.states().values())


@pytest.mark.parametrize("name", ["example", "byo-kms"])
def test_a_rehearsal_leaves_the_old_environment_as_it_was(synthesized: SynthesizedApp, s3: Any, name: str) -> None:
    world = world_for(synthesized, s3, name)
    before = world.envs.old.states()
    status, output, execution = world.execute({"mode": "rehearsal"})
    assert status == "SUCCEEDED", output
    assert world.envs.old.states() == before
    assert [run.dag_id for run in world.envs.old.runs] == ["mwaa_migration_export"]
    assert all(world.envs.new.states().values())  # every DAG still paused on the new environment
    assert output["verify"]["ok"] and "record" not in output and "unpause" not in output
    assert output["input"]["export_id"].endswith("-rehearsal") and secrets_left(s3, name) == 2
    assert not any(step in execution.visited for step in ("RecordPauseStates", "FreezeOld", "DeleteSecrets"))
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"cutover/{name}/pause-states.json").get("KeyCount") == 0


def test_an_operator_export_is_waited_for_and_the_old_environment_never_called(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example-self-managed")
    world.operator_exports_at = 3
    status, output, execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    assert execution.visited.count("ManifestWait") == 3 and output["export"]["done"]
    assert output["verify"]["ok"] and "unpause" not in output  # unpausing is the operator's: nothing to check it by
    assert all(world.envs.new.states().values()) and world.envs.old.requests == []


def test_an_older_export_is_not_taken_for_the_operators_cut_over_export(synthesized: SynthesizedApp, s3: Any) -> None:
    world = world_for(synthesized, s3, "example-self-managed")
    world.now -= datetime.timedelta(days=1)
    world.write_export("20261127T150000Z")  # yesterday's, before the operator's freeze
    world.now += datetime.timedelta(days=1)
    status, error, execution = world.execute({"mode": "cutover", "wait_timeout_seconds": 600})
    assert status == "FAILED" and error.error == "WaitTimeoutError"
    assert "ImportDagStart" not in execution.visited


@pytest.mark.parametrize(
    ("change", "error_name", "words"),
    [
        ({"mode": "switch"}, "InputError", "mode: must be one of rehearsal, cutover, rollback"),
        ({"mode": "cutover", "force": "yes"}, "InputError", "force: must be true or false"),
        ({"mode": "cutover", "export_id": "x"}, "InputError", "export_id: must be null"),
        ({"mode": "cutover", "colour": 1}, "InputError", "unknown fields colour"),
    ],
)
def test_bad_input_fails_in_the_first_state_naming_the_field(
    synthesized: SynthesizedApp, s3: Any, change: dict[str, Any], error_name: str, words: str
) -> None:
    world = world_for(synthesized, s3, "example")
    status, error, execution = world.execute(change)
    assert status == "FAILED" and error.error == error_name and words in error.cause
    assert execution.visited == ["Guard"] and world.envs.old.requests == []


def test_a_second_execution_or_an_unavailable_environment_stops_before_anything(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    world.running_elsewhere = ["other-run"]
    status, error, _execution = world.execute({"mode": "cutover"})
    assert status == "FAILED" and error.error == "OverlapError" and "other-run" in error.cause
    world.running_elsewhere = []
    world.new_status = "UPDATING"
    status, error, _execution = world.execute({"mode": "cutover"})
    assert status == "FAILED" and error.error == "EnvironmentNotAvailableError" and "UPDATING" in error.cause
    assert world.envs.old.requests == [] and world.envs.new.requests == []


def unpaused(env: Any) -> list[str]:
    return sorted(dag_id for dag_id, paused in env.states().items() if not paused)


def a_run_the_import_refuses(world: World) -> None:
    """The archive has a run of etl_a that was still running on the old environment (a drain forced past it): the
    import refuses it (only finished runs are imported)."""
    world.dag_runs = [
        {
            "dag_id": "etl_a",
            "run_id": "scheduled__2026-11-27T00:00:00+00:00",
            "run_type": "scheduled",
            "state": "running",
            "execution_date": "2026-11-27T00:00:00+00:00",
            "data_interval_start": "2026-11-27T00:00:00+00:00",
            "data_interval_end": "2026-11-28T00:00:00+00:00",
            "conf": None,
        }
    ]


def test_a_cut_over_whose_import_refuses_a_run_stops_before_unpausing(synthesized: SynthesizedApp, s3: Any) -> None:
    world = world_for(synthesized, s3, "example")
    a_run_the_import_refuses(world)
    status, error, execution = world.execute({"mode": "cutover"})
    assert status == "FAILED" and error.error == "ImportRefusedError", error
    assert "refused 1 (dag_run/etl_a/scheduled__2026-11-27T00:00:00+00:00) entries" in error.cause
    assert "force: true" in error.cause
    assert execution.visited[-1] == "ImportSlice" and "UnpauseNew" not in execution.visited
    assert unpaused(world.envs.new) == []


def test_with_force_the_cut_over_goes_on_but_keeps_the_refused_dag_paused_and_names_it(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    a_run_the_import_refuses(world)
    status, output, execution = world.execute({"mode": "cutover", "force": True})
    assert status == "SUCCEEDED", output
    assert output["import"]["refused_count"] == 1 and "UnpauseNew" in execution.visited
    assert unpaused(world.envs.new) == ["etl_b", "report"]  # etl_a was active on the old one, and stays paused
    (kept,) = output["unpause"]["kept_paused"]
    assert kept["dag_id"] == "etl_a" and kept["reason"].startswith("runs refused by the import: running on the source")
    assert output["unpause"]["kept_paused_count"] == 1


def test_a_second_cut_over_after_a_rollback_records_the_pause_states_afresh(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    status, output, _execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    first = read_pause_states(s3, bucket=BUCKET, migration="example")
    world.now += datetime.timedelta(hours=1)
    status, output, _execution = world.execute({"mode": "rollback", "force": True})
    assert status == "SUCCEEDED", output
    history = "cutover/example/history/20261128T150000Z/"  # the first record's time
    assert output["rollback"]["history"] == history
    kept = s3.get_object(Bucket=BUCKET, Key=history + "pause-states.json")["Body"].read()
    assert json.loads(kept) == first
    # A week back on the old environment: its team pauses etl_a and ships etl_d, active.
    world.now += datetime.timedelta(days=7)
    world.envs.old.dags["etl_a"].paused = True
    world.envs.add("etl_d", paused=False)
    status, output, _execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    assert output["record"]["created"] is True
    assert read_pause_states(s3, bucket=BUCKET, migration="example")["recorded_at"] > first["recorded_at"]
    assert unpaused(world.envs.new) == ["etl_b", "etl_d", "report"]
    assert all(world.envs.old.states().values())


def test_a_later_execution_on_the_operators_same_export_imports_it_again(s3: Any) -> None:
    """An Airflow 3 target whose source the machine can't reach (no shipped migration is one): the export and its id
    are the operator's, so two executions may name the same one; the second must import, not find the first's
    finished cursor and import DAG run."""
    definition, handlers = definition_built(machine_exports=False, rest_import=True)
    world = populated(
        World(definition, handlers, migration="ops", bucket=BUCKET, s3=s3, target_api="v2", operator_export=True)
    )
    world.write_export("20261128T140000Z")
    status, output, _execution = world.execute({"mode": "rehearsal", "export_id": "20261128T140000Z"})
    assert status == "SUCCEEDED", output
    assert output["import"]["counts"]["variable"]["created"] == 2
    world.entities["/variables"]["region"]["value"] = "us"  # changed on the new environment since
    world.now += datetime.timedelta(hours=1)
    again = {"mode": "rehearsal", "export_id": "20261128T140000Z", "on_existing": "overwrite"}
    status, output, _execution = world.execute(again)
    assert status == "SUCCEEDED", output
    assert output["verify"]["ok"] and world.entities["/variables"]["region"]["value"] == "eu"
    assert output["import"]["counts"]["variable"] == {"created": 0, "updated": 2, "skipped": 0, "refused": 0}
    # Each execution copies the logs again with a run of its own; on Airflow 3 the import DAG has nothing to do.
    assert not [run for run in world.envs.new.runs if run.dag_id == "mwaa_migration_import"]
    copies = [run.run_id for run in world.envs.new.runs if run.dag_id == "mwaa_migration_task_logs"]
    assert len(set(copies)) == 2 and all(len(f"/dags/mwaa_migration_task_logs/dagRuns/{r}") <= 64 for r in copies)
    cursors = s3.list_objects_v2(Bucket=BUCKET, Prefix="cutover/ops/import/20261128T140000Z/")
    assert cursors["KeyCount"] == 2  # one per execution; each execution's slices share one
