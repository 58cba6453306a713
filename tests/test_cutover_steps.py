"""The cut-over's steps (mwaa_cutover: pause_states, freeze, unpause, rollback) on in-memory environments.

Both environments sit behind helper A's MwaaTransport on a real boto3 `mwaa` client (tests/fake_airflow.py), so
each request also passes botocore's model validation and MWAA's 64-character path limit; every request is
followed by the "never unpaused on both environments" check. S3 is moto's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mwaa_cutover.bucket_keys import marker_key, record_key
from mwaa_cutover.dag_pausing import PauseError, list_dags, pause_all, set_paused
from mwaa_cutover.freeze import EXPORT_DAG, drain_status, drain_verdict, freeze, refusal
from mwaa_cutover.pause_states import RecordError, cutover_since, read_pause_states, record_pause_states, write_once
from mwaa_cutover.rollback import RollbackRefusedError, rollback, rollback_check
from mwaa_cutover.unpause import InvariantError, unpause_new
from tests.fake_airflow import FakeAirflow, FakeRun, FakeTask, FakeTransport, TwoEnvironments, ilike, mwaa_transport
from tests.moto_bucket import versioned_bucket

BUCKET = "mwaa-migration-m1-123456789012-us-east-1"
MIGRATION = "m1"
IMPORT_DAG = "mwaa_migration_import"
T0 = "2026-11-28T15:00:00+00:00"
T1 = "2026-11-28T16:00:00+00:00"


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


@pytest.fixture
def envs() -> TwoEnvironments:
    """Old (Airflow 2, v1) and new (Airflow 3, v2): a..e are the users' DAGs, c paused by its users, d inactive
    (its file gone) though unpaused, the export DAG on old, the import DAG on new; f only on old."""
    two = TwoEnvironments(mwaa=True)
    for dag_id in ("a", "b", "e"):
        two.add(dag_id, paused=False)
    two.add("c", paused=True)
    two.add("d", paused=False, active=False)
    two.add("f", paused=False, on_new=False)
    two.old.add(EXPORT_DAG, paused=True)
    two.new.add(IMPORT_DAG, paused=True)
    two.new.add("g_new_only", paused=True)
    return two


def record(envs: TwoEnvironments, s3: Any, at: str = T0) -> dict[str, Any]:
    return record_pause_states(envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, recorded_at=at, environment="old")


def stored(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


# --- The pause-states record -------------------------------------------------------------------------------------


def test_record_is_written_once_and_a_restart_reads_it(envs: TwoEnvironments, s3: Any) -> None:
    first = record(envs, s3)
    assert first == {"created": True, "recorded_at": T0, "dags": 7, "paused": 2, "active_unpaused": 4, "inactive": 1}
    saved = stored(s3, record_key(MIGRATION))
    document = json.loads(saved)
    assert document["dags"] == envs.old.states()
    assert document["inactive"] == ["d"]
    assert (document["migration"], document["environment"], document["api_version"]) == (MIGRATION, "old", "v1")

    # The execution failed after the freeze; the restarted one must keep the users' states, not the frozen ones.
    freeze(envs.old_api)
    calls = envs.old_api.calls
    again = record(envs, s3, at=T1)
    assert again == {**first, "created": False}
    assert envs.old_api.calls == calls, "a restart reads the record; it doesn't list the frozen environment"
    assert stored(s3, record_key(MIGRATION)) == saved
    assert read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)["dags"]["a"] is False


def test_moto_honours_if_none_match_and_write_once_keeps_the_first(s3: Any) -> None:
    # The write-once record rests on S3's conditional PutObject; moto 5.2.5 answers it with 412 as S3 does.
    s3.put_object(Bucket=BUCKET, Key="k.json", Body=b"{}", IfNoneMatch="*")
    with pytest.raises(s3.exceptions.ClientError) as raised:
        s3.put_object(Bucket=BUCKET, Key="k.json", Body=b"[]", IfNoneMatch="*")
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    first = {"format": 1, "migration": MIGRATION, "n": 1}
    assert write_once(s3, bucket=BUCKET, key="w.json", document=first) == (first, True)
    assert write_once(s3, bucket=BUCKET, key="w.json", document={**first, "n": 2}) == (first, False)


def test_a_record_of_another_migration_or_none_is_refused(envs: TwoEnvironments, s3: Any) -> None:
    with pytest.raises(RecordError, match="missing"):
        read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)
    record(envs, s3)
    body = json.loads(stored(s3, record_key(MIGRATION)))
    s3.put_object(Bucket=BUCKET, Key=record_key("m2"), Body=json.dumps(body).encode())
    with pytest.raises(RecordError, match="belongs to migration 'm1'"):
        read_pause_states(s3, bucket=BUCKET, migration="m2")


# --- Freeze ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("export_paused", [True, False])
def test_freeze_pauses_everything_but_leaves_the_export_dag_as_it_was(version: str, export_paused: bool) -> None:
    old = FakeAirflow(name="old", api_version=version)
    for number in range(250):  # three pages of the bulk route
        old.add(f"dag_{number:03d}", paused=number % 3 == 0, active=number % 50 != 7)
    old.add(EXPORT_DAG, paused=export_paused)
    api = mwaa_transport(old)
    result = freeze(api)
    assert {d: p for d, p in old.states().items() if d != EXPORT_DAG} == {d: True for d in old.dags if d != EXPORT_DAG}
    assert old.dags[EXPORT_DAG].paused is export_paused
    assert result["dags"] == 251
    assert result["newly_paused"] == sum(1 for n in range(250) if n % 3)
    assert result["kept"] == [EXPORT_DAG]
    bulk = [r for r in old.requests if r == ("PATCH", "/dags")]
    # v1 pages through all 251 by offset; v2 through the 166 (or 167) still unpaused, always at offset 0.
    assert len(bulk) == (3 if version == "v1" else 2)
    assert freeze(api)["newly_paused"] == 0  # a restarted execution freezes again harmlessly


def test_pause_all_names_a_dag_it_cannot_pause() -> None:
    class Stubborn(FakeAirflow):
        def _patch_many(self, query: Any, body: Any) -> Any:
            answer = super()._patch_many(query, body)
            self.dags["not_editable"].paused = False  # e.g. the API role may not edit it
            return answer

    old = Stubborn(name="old", api_version="v1")
    old.add("not_editable", paused=False)
    old.add("other", paused=False)
    with pytest.raises(PauseError, match=r"1 DAGs still unpaused.*not_editable"):
        pause_all(FakeTransport(old))


def test_ilike_is_sql_ilike() -> None:
    assert ilike("~", "anything")
    assert ilike("a_c", "xxABCyy")
    assert not ilike("a_c", "ac")
    assert ilike("a.c", "A.C")
    assert not ilike("a.c", "abc")


def test_a_dag_id_too_long_for_a_path_is_set_through_its_pattern_or_reported() -> None:
    long_id = "etl_" + "x" * 60  # "/dags/" + 64 characters: over InvokeRestApi's 64
    env = FakeAirflow(name="new", api_version="v2")
    env.add(long_id, paused=True)
    env.add("short", paused=True)
    api = mwaa_transport(env)
    assert set_paused(api, [long_id, "short", "gone"], paused=False)["changed"] == 2
    assert not env.dags[long_id].paused and not env.dags["short"].paused

    # `_` in a pattern matches any character: this DAG is matched too, and it must stay paused.
    env.add(long_id.replace("_", "-") + "_v2", paused=True)
    env.dags[long_id].paused = True
    result = set_paused(api, [long_id], paused=False)
    assert result["unreachable"] == [long_id] and result["changed"] == 0
    assert all(dag.paused for dag in env.dags.values() if dag is not env.dags["short"])
    # ... unless it is to be unpaused as well.
    assert set_paused(api, [long_id], paused=False, tolerate={long_id.replace("_", "-") + "_v2"})["changed"] == 1
    assert not any(dag.paused for dag in env.dags.values())


# --- Drain -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("old_ti_list", [False, True], ids=["paged", "2.4.3-unpaged"])
def test_drain_counts_runs_and_task_instances_but_not_the_export_dag(old_ti_list: bool) -> None:
    old = FakeAirflow(name="old", api_version="v1", old_ti_list=old_ti_list)
    old.runs += [FakeRun("a", "r1", "running"), FakeRun("b", "r1", "queued"), FakeRun("c", "r1", "success"),
                 FakeRun(EXPORT_DAG, "e1", "running")]  # fmt: skip
    moving = ["running", "queued", "deferred"]
    waiting = ["scheduled", "up_for_retry", "up_for_reschedule"]
    for number, state in enumerate(moving + waiting + ["success", "failed", "skipped", "upstream_failed"]):
        old.tasks.append(FakeTask("a", "r1", f"t{number}", state))
    old.tasks.append(FakeTask(EXPORT_DAG, "e1", "export", "running"))
    for number in range(150):  # more than a page
        old.tasks.append(FakeTask(f"dag_{number:03d}", "r", "t", "deferred", map_index=number))
    status = drain_status(mwaa_transport(old))
    assert status["runs"] == 2
    assert status["task_instances"] == 6 + 150
    assert status["busy"] == 158
    assert status["moving"] == 3 + 150
    assert status["states"]["task deferred"] == 151 and status["states"]["run queued"] == 1
    assert status["dag_count"] == 152 and len(status["dags"]) == 20 and EXPORT_DAG not in status["dags"]
    assert drain_verdict(status, timed_out=False, force=False) == "wait"
    assert drain_verdict(status, timed_out=True, force=True) == "force"
    assert drain_verdict(status, timed_out=True, force=False) == "refuse"
    assert "152 DAGs: a, b, dag_000" in refusal(status, timeout_seconds=900)
    assert "and 132 more" in refusal(status, timeout_seconds=900)

    old.runs.clear()
    old.tasks = [t for t in old.tasks if t.dag_id == EXPORT_DAG]  # only the export DAG is still busy
    quiet = drain_status(mwaa_transport(old))
    assert quiet["busy"] == 0 and quiet["dags"] == []
    assert drain_verdict(quiet, timed_out=False, force=False) == "done"


# --- Unpause on the new environment ------------------------------------------------------------------------------


def test_unpause_new_unpauses_exactly_the_recorded_active_dags(envs: TwoEnvironments, s3: Any) -> None:
    record(envs, s3)
    freeze(envs.old_api)
    envs.new.dags.pop("e")  # recorded active on old, never deployed to the new environment
    result = unpause_new(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, now=T1)
    unpaused = sorted(d for d, dag in envs.new.dags.items() if not dag.paused)
    assert unpaused == ["a", "b"]  # not c (paused by its users), d (inactive), the import DAG or g_new_only
    assert result["wanted"] == 4 and result["unpaused"] == 2 and result["already"] == 0
    assert (result["absent"], result["absent_count"]) == (["e", "f"], 2)
    assert result["new_only"] == 2 and result["checked_on_old"] == 4
    assert cutover_since(s3, bucket=BUCKET, migration=MIGRATION) == T1

    again = unpause_new(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, now="2026-12-01T00:00:00Z")
    assert again["unpaused"] == 0 and again["already"] == 2
    assert json.loads(stored(s3, marker_key(MIGRATION)))["unpaused_at"] == T1  # the first unpause stays the "since"
    assert envs.checks == envs.old_api.calls + envs.new_api.calls  # the invariant was checked after every request


def test_unpause_new_refuses_while_a_dag_is_unpaused_on_the_old_environment(envs: TwoEnvironments, s3: Any) -> None:
    record(envs, s3)
    freeze(envs.old_api)
    envs.old.dags["b"].paused = False  # someone unpaused it again in the old UI
    before = envs.new.states()
    with pytest.raises(InvariantError, match=r"1 DAGs are unpaused on the old environment.*: b\."):
        unpause_new(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, now=T1)
    assert envs.new.states() == before
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key=marker_key(MIGRATION))


# --- Rollback ----------------------------------------------------------------------------------------------------


def cut_over(envs: TwoEnvironments, s3: Any) -> None:
    record(envs, s3)
    freeze(envs.old_api)
    unpause_new(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, now=T1)


def test_rollback_refuses_without_force_when_the_new_side_ran_and_restores_the_record(
    envs: TwoEnvironments, s3: Any
) -> None:
    cut_over(envs, s3)
    envs.new.runs.append(FakeRun("a", "imported_1", "success", "2026-11-28T16:30:00+00:00"))  # the importer's
    envs.new.runs.append(FakeRun(IMPORT_DAG, "mwaa-migration-1", "success", "2026-11-28T16:30:00+00:00"))
    envs.new.runs.append(FakeRun("b", "old_manual", "success", "2026-11-20T00:00:00+00:00"))  # before the cut-over
    envs.new.run("a", "scheduled__2026-11-28", state="success", start_date="2026-11-28T17:00:00+00:00")
    envs.new.run("b", "scheduled__2026-11-28", state="running", start_date="2026-11-28T17:05:00+00:00")
    imported = {"a": ["imported_1"]}

    check = rollback_check(envs.new_api, since=T1, imported=imported)
    assert (check["runs"], check["completed"], check["running"]) == (2, 1, 1)
    assert check["listed"] == ["a/scheduled__2026-11-28", "b/scheduled__2026-11-28"]

    old_before = envs.old.states()
    with pytest.raises(RollbackRefusedError, match=r"ran 2 runs.*a/scheduled__2026-11-28, b/scheduled__2026-11-28"):
        rollback(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, imported=imported)
    assert all(dag.paused for dag in envs.new.dags.values()), "the new side is paused first, refused or not"
    assert envs.old.states() == old_before

    recorded = read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)["dags"]
    result = rollback(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION, imported=imported, force=True)
    assert {d: envs.old.dags[d].paused for d in recorded} == recorded  # exactly the recorded states
    assert all(dag.paused for dag in envs.new.dags.values())
    assert result["forced"] is True and result["runs_since"]["runs"] == 2
    assert result["unpaused"] == 5 and result["paused"] == 0  # a, b, d, e, f (the export DAG was paused already)


class DeleteFailsOnce:
    """moto's S3 client, except that the first DeleteObject fails: a rollback killed between copy and delete."""

    def __init__(self, s3: Any) -> None:
        self.s3, self.failed = s3, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def delete_object(self, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise TimeoutError("killed")
        return self.s3.delete_object(**kwargs)


def test_rollback_without_new_runs_needs_no_force_restarts_and_moves_the_records_to_history(
    envs: TwoEnvironments, s3: Any
) -> None:
    cut_over(envs, s3)
    envs.old.dags["c"].paused = False  # recorded paused: the rollback pauses it again
    record_body, marker_body = stored(s3, record_key(MIGRATION)), stored(s3, marker_key(MIGRATION))
    recorded = read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)["dags"]
    with pytest.raises(TimeoutError):
        rollback(envs.new_api, envs.old_api, DeleteFailsOnce(s3), bucket=BUCKET, migration=MIGRATION)
    assert {d: envs.old.dags[d].paused for d in recorded} == recorded
    again = rollback(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION)  # started again
    assert again["forced"] is False
    assert (again["paused"], again["unpaused"], again["unchanged"]) == (0, 0, 6)  # 7 recorded, the export DAG aside
    assert {d: envs.old.dags[d].paused for d in recorded} == recorded
    history = "cutover/m1/history/20261128T150000Z/"
    assert again["history"] == history
    assert stored(s3, history + "pause-states.json") == record_body
    assert stored(s3, history + "unpaused.json") == marker_body
    with pytest.raises(RecordError, match="is missing"):
        read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="cutover/m1/u").get("KeyCount") == 0
    # The next cut-over records afresh: IfNoneMatch takes a key whose current version is a delete marker as absent.
    envs.old.dags["a"].paused = True
    fresh = record(envs, s3, at=T1)
    assert fresh["created"] is True and fresh["recorded_at"] == T1
    assert read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)["dags"]["a"] is True


def test_rollback_before_any_unpause_counts_runs_since_the_record(envs: TwoEnvironments, s3: Any) -> None:
    record(envs, s3)
    freeze(envs.old_api)
    assert cutover_since(s3, bucket=BUCKET, migration=MIGRATION) == T0
    envs.new.runs.append(FakeRun("a", "manual__x", "success", "2026-11-28T15:30:00+00:00"))  # operator's own run
    with pytest.raises(RollbackRefusedError, match="a/manual__x"):
        rollback(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=MIGRATION)


def test_list_dags_sees_stale_dags_on_both_versions() -> None:
    for version in ("v1", "v2"):
        env = FakeAirflow(name="x", api_version=version)
        env.add("live", paused=False)
        env.add("stale", paused=False, active=False)
        states = list_dags(mwaa_transport(env))
        assert (states["live"].active, states["stale"].active) == (True, False)
