"""The cut-over's steps in order on two in-memory environments (the invariant checked after every request), and
the exact InvokeRestApi requests of the freeze and the drain against botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mwaa_cutover.airflow_api import MwaaTransport
from mwaa_cutover.dag_pausing import set_paused
from mwaa_cutover.dag_runs import run_id_for, run_to_completion
from mwaa_cutover.freeze import EXPORT_DAG, drain_status, drain_verdict, freeze
from mwaa_cutover.pause_states import read_pause_states, record_pause_states
from mwaa_cutover.rollback import rollback
from mwaa_cutover.unpause import unpause_new
from tests.fake_airflow import FakeRun, FakeTask, TwoEnvironments

BUCKET = "bucket"
MIGRATION = "m1"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def two_environments() -> TwoEnvironments:
    envs = TwoEnvironments(mwaa=True)
    for number in range(120):
        envs.add(f"etl_{number:03d}", paused=number % 4 == 0)
    envs.old.add(EXPORT_DAG, paused=True)
    envs.new.add("mwaa_migration_import", paused=True)
    envs.new.add("mwaa_migration_task_logs", paused=True)
    return envs


def test_cut_over_then_roll_back_never_unpauses_a_dag_on_both(s3: Any) -> None:
    envs = two_environments()
    old, new = envs.old_api, envs.new_api
    envs.old.runs.append(FakeRun("etl_001", "scheduled__1", "running"))
    envs.old.tasks.append(FakeTask("etl_001", "scheduled__1", "load", "running"))

    record_pause_states(old, s3, bucket=BUCKET, migration=MIGRATION, recorded_at="2026-11-28T15:00:00Z",
                        environment="old")  # fmt: skip
    freeze(old)
    status = drain_status(old)
    assert drain_verdict(status, timed_out=False, force=False) == "wait" and status["dags"] == ["etl_001"]
    envs.old.runs[0].state, envs.old.tasks[0].state = "success", "success"  # the running task finished
    assert drain_verdict(drain_status(old), timed_out=False, force=False) == "done"

    def export_finishes(_seconds: float) -> None:
        for run in envs.old.runs:
            if run.dag_id == EXPORT_DAG:
                run.state = "success"

    run_id = run_id_for("20261128T151500Z-cutover")
    state = run_to_completion(old, EXPORT_DAG, run_id=run_id, conf={"export_id": "x"}, timeout=60,
                              poll_seconds=1, sleep=export_finishes)  # fmt: skip
    assert state == "success" and envs.old.dags[EXPORT_DAG].paused

    result = unpause_new(new, old, s3, bucket=BUCKET, migration=MIGRATION, now="2026-11-28T16:00:00Z")
    assert result["unpaused"] == 90  # the 3 in 4 that were active
    envs.new.run("etl_001", "scheduled__2", state="success", start_date="2026-11-28T17:00:00Z")

    recorded = read_pause_states(s3, bucket=BUCKET, migration=MIGRATION)["dags"]
    rollback(new, old, s3, bucket=BUCKET, migration=MIGRATION, force=True)
    assert envs.old.states() == recorded
    assert not any(dag.paused is False for dag in envs.new.dags.values())
    assert envs.checks == old.calls + new.calls > 20


def test_the_invariant_check_catches_the_wrong_order() -> None:
    envs = two_environments()
    with pytest.raises(AssertionError, match=r"unpaused on both environments: \['etl_001'\]"):
        set_paused(envs.new_api, ["etl_001"], paused=False)  # before the old environment was frozen


def answer(stub: Stubber, expected: dict[str, Any], response: Any) -> None:
    stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": response},
                      {"Name": "old", **expected})  # fmt: skip


def test_freeze_requests_on_invoke_rest_api_v1() -> None:
    client = boto3.client("mwaa", region_name="us-east-1")
    dags = [{"dag_id": EXPORT_DAG, "is_paused": False, "is_active": True},
            {"dag_id": "a", "is_paused": False, "is_active": True}]  # fmt: skip
    listing = {"Path": "/dags", "Method": "GET",
               "QueryParameters": {"limit": 100, "offset": 0, "only_active": "false"}}  # fmt: skip
    with Stubber(client) as stub:
        answer(stub, listing, {"dags": dags, "total_entries": 2})
        answer(stub, {"Path": "/dags", "Method": "PATCH", "Body": {"is_paused": True},
                      "QueryParameters": {"dag_id_pattern": "~", "update_mask": "is_paused", "limit": 100,
                                          "only_active": "false", "offset": 0}},
               {"dags": dags, "total_entries": 2})  # fmt: skip
        paused = [{**dag, "is_paused": True} for dag in dags]
        answer(stub, listing, {"dags": paused, "total_entries": 2})
        answer(stub, {"Path": f"/dags/{EXPORT_DAG}", "Method": "PATCH", "Body": {"is_paused": False},
                      "QueryParameters": {"update_mask": "is_paused"}}, paused[0])  # fmt: skip
        result = freeze(MwaaTransport(client=client, environment_name="old", api_version="v1"))
        stub.assert_no_pending_responses()
    assert result == {"dags": 2, "newly_paused": 1, "patched": 2, "kept": [EXPORT_DAG], "calls": 4}


def test_drain_requests_on_invoke_rest_api_v2_and_a_missing_dag() -> None:
    client = boto3.client("mwaa", region_name="us-east-1")
    with Stubber(client) as stub:
        answer(
            stub,
            {
                "Path": "/dags/~/dagRuns/list",
                "Method": "POST",
                "Body": {"states": ["queued", "running"], "page_offset": 0, "page_limit": 100},
            },
            {"dag_runs": [{"dag_id": "a", "dag_run_id": "r", "state": "running"}], "total_entries": 1},
        )
        answer(stub, {"Path": "/dags/~/dagRuns/~/taskInstances/list", "Method": "POST",
                      "Body": {"state": ["running", "queued", "deferred", "scheduled", "up_for_retry",
                                         "up_for_reschedule", "restarting"], "page_offset": 0, "page_limit": 100}},
               {"task_instances": [], "total_entries": 0})  # fmt: skip
        stub.add_client_error(
            "invoke_rest_api", "RestApiClientException", "not found", 400,
            modeled_fields={"RestApiStatusCode": 404, "RestApiResponse": {"detail": "Dag with id: 'gone' not found"}},
        )  # fmt: skip
        api = MwaaTransport(client=client, environment_name="old", api_version="v2")
        assert drain_status(api)["busy"] == 1
        assert set_paused(api, ["gone"], paused=False)["absent"] == ["gone"]
        stub.assert_no_pending_responses()
