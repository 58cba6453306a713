"""`dag_runs.run_to_completion` (how the cut-over runs the migration's own DAGs) against a real Airflow 3.0.6 with its
scheduler, on a DAG of this module's own; and its InvokeRestApi calls against botocore's Stubber (every path within
MWAA's 64 characters for the app's DAG ids, what a timeout and a failed run do).

The DAG is this module's alone (the session's target is shared): it is written into the DAG folder, paused on
creation like the app's DAGs, only the scheduler this module starts ever runs it, and it is deleted at the end.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mwaa_cutover.airflow_api import MWAA_PATH_LIMIT, MwaaTransport, UrlTransport
from mwaa_cutover.dag_runs import DagRunError, run_id_for, run_to_completion
from mwaa_cutover.unpause import MIGRATION_DAGS
from tests.airflow3_server import Airflow3Server

DAG_ID = "k_dag_runs_probe"
ENV = "analytics-v3"


class Recording:
    """The real transport, with every request it made (method, path, body) kept in order."""

    def __init__(self, inner: UrlTransport) -> None:
        self.inner = inner
        self.api_version = inner.api_version
        self.description = inner.description
        self.calls = 0
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        try:
            return self.inner.request(method, path, query=query, body=body)
        finally:
            self.calls = self.inner.calls

    def pauses(self) -> list[bool]:
        """The is_paused values this DAG was set to, in order."""
        return [
            body["is_paused"] for method, path, body in self.requests if (method, path) == ("PATCH", f"/dags/{DAG_ID}")
        ]


def recording(server: Airflow3Server) -> Recording:
    return Recording(UrlTransport(base_url=server.base_url, api_version="v2", token=server.token()))


@pytest.fixture(scope="module")
def probe_dag(airflow3: Airflow3Server) -> Iterator[str]:
    """The DAG, parsed and paused, with the scheduler running for this module."""
    start = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)).replace(microsecond=0)
    airflow3.write_dag(dag_id=DAG_ID, schedule=None, start=start.isoformat())
    airflow3.wait_for(f"{DAG_ID} parsed", lambda: airflow3.dag_model(DAG_ID).get("last_parsed_time"), timeout=120)
    assert airflow3.dag_model(DAG_ID)["is_paused"] in (True, 1)
    airflow3.start("scheduler", "scheduler")
    try:
        yield DAG_ID
    finally:
        airflow3.stop("scheduler")
        # Nothing of it stays on the shared target: its manual run has no logical date, which other modules' read-backs
        # don't expect. The file first, so the dag-processor doesn't bring the DAG back.
        (airflow3.dags / f"{DAG_ID}.py").unlink()
        api = UrlTransport(base_url=airflow3.base_url, api_version="v2", token=airflow3.token())
        api.request("DELETE", f"/dags/{DAG_ID}")

        def gone() -> bool:
            query = "SELECT count(*) AS n FROM dag_run WHERE dag_id = :dag_id"
            return airflow3.sql(query, dag_id=DAG_ID)[0]["n"] == 0 and not airflow3.dag_model(DAG_ID)

        airflow3.wait_for(f"{DAG_ID} deleted", gone, timeout=30)


@pytest.fixture(scope="module")
def first_run(airflow3: Airflow3Server, probe_dag: str) -> dict[str, Any]:
    transport = recording(airflow3)
    messages: list[str] = []
    run_id = run_id_for("20261128T120000Z-test-dag-runs")
    state = run_to_completion(
        transport, probe_dag, run_id=run_id, conf={"by": "test"}, timeout=180, poll_seconds=1, progress=messages.append
    )
    return {"state": state, "run_id": run_id, "transport": transport, "messages": messages}


def test_the_run_is_triggered_unpaused_while_it_runs_and_paused_after(
    airflow3: Airflow3Server, probe_dag: str, first_run: dict[str, Any]
) -> None:
    assert first_run["state"] == "success"
    transport: Recording = first_run["transport"]
    run_id = first_run["run_id"]
    # Triggered first, with its conf and no logical date of its own (a manual run), then unpaused, paused last.
    method, path, body = transport.requests[0]
    assert (method, path) == ("POST", f"/dags/{probe_dag}/dagRuns")
    assert body == {"dag_run_id": run_id, "conf": {"by": "test"}, "logical_date": None}
    assert transport.pauses() == [False, True]
    assert transport.requests[-1][:2] == ("PATCH", f"/dags/{probe_dag}")
    assert first_run["messages"][0] == f"{probe_dag}: run {run_id} triggered"
    assert first_run["messages"][-1] == f"{probe_dag}: run {run_id} success"
    # What the target holds: the DAG paused again, the run finished with its task actually run by the scheduler.
    api = transport.inner
    assert api.request("GET", f"/dags/{probe_dag}")["is_paused"] is True
    run = api.request("GET", f"/dags/{probe_dag}/dagRuns/{run_id}")
    assert (run["state"], run["run_type"], run["conf"]) == ("success", "manual", {"by": "test"})
    tasks = api.request("GET", f"/dags/{probe_dag}/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert [(task["task_id"], task["state"]) for task in tasks] == [("work", "success")]


def test_the_same_run_id_again_finds_the_same_run(
    airflow3: Airflow3Server, probe_dag: str, first_run: dict[str, Any]
) -> None:
    transport = recording(airflow3)
    messages: list[str] = []
    run_id = first_run["run_id"]
    state = run_to_completion(
        transport, probe_dag, run_id=run_id, conf={"by": "test"}, timeout=60, poll_seconds=1, progress=messages.append
    )
    assert state == "success"
    assert messages[0] == f"{probe_dag}: run {run_id} already exists"
    # Final already: never unpaused, only paused (again) at the end.
    assert transport.pauses() == [True]
    runs = transport.inner.request("GET", f"/dags/{probe_dag}/dagRuns")
    assert runs["total_entries"] == 1
    assert [run["dag_run_id"] for run in runs["dag_runs"]] == [run_id]


def test_a_missing_dag_raises_naming_it(airflow3: Airflow3Server) -> None:
    transport = recording(airflow3)
    with pytest.raises(DagRunError, match="DAG k_not_deployed is not on the environment"):
        run_to_completion(transport, "k_not_deployed", run_id=run_id_for("x"), conf={}, timeout=5, poll_seconds=1)
    assert [request[:2] for request in transport.requests] == [("POST", "/dags/k_not_deployed/dagRuns")]


# --- InvokeRestApi ---------------------------------------------------------------------------------------------------


@pytest.fixture
def mwaa() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("mwaa", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def expect(stub: Stubber, method: str, path: str, answer: Any, **params: Any) -> None:
    assert len(path) <= MWAA_PATH_LIMIT, path
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": answer},
        {"Name": ENV, "Path": path, "Method": method, **params},
    )


@pytest.mark.parametrize("api_version", ["v1", "v2"])
@pytest.mark.parametrize("dag_id", MIGRATION_DAGS)
def test_every_path_fits_invoke_rest_api(mwaa: tuple[Any, Stubber], dag_id: str, api_version: str) -> None:
    client, stub = mwaa
    # Export ids are timestamps with a suffix; the CLI derives its run id from the import DAG's conf (any length).
    for export_id in ("20261128T151500Z-cutover", '{"copy_logs": true, "export_id": "' + "x" * 200 + '"}'):
        run_id = run_id_for(export_id)
        runs = f"/dags/{dag_id}/dagRuns"
        trigger: dict[str, Any] = {"dag_run_id": run_id, "conf": {"export_id": export_id}}
        if api_version == "v2":
            trigger["logical_date"] = None
        expect(stub, "POST", runs, {"dag_run_id": run_id, "state": "queued"}, Body=trigger)
        expect(stub, "GET", f"{runs}/{run_id}", {"state": "queued"})
        unpause = {"QueryParameters": {"update_mask": "is_paused"}}
        expect(stub, "PATCH", f"/dags/{dag_id}", {"is_paused": False}, Body={"is_paused": False}, **unpause)
        expect(stub, "GET", f"{runs}/{run_id}", {"state": "running"})
        expect(stub, "GET", f"{runs}/{run_id}", {"state": "success"})
        expect(stub, "PATCH", f"/dags/{dag_id}", {"is_paused": True}, Body={"is_paused": True}, **unpause)
        transport = MwaaTransport(client=client, environment_name=ENV, api_version=api_version)
        sleeps: list[float] = []
        state = run_to_completion(
            transport, dag_id, run_id=run_id, conf={"export_id": export_id}, timeout=60, sleep=sleeps.append
        )
        assert state == "success"
        assert len(f"/dags/{dag_id}/dagRuns/{run_id}") <= MWAA_PATH_LIMIT
        assert sleeps == [15.0, 15.0]


def test_a_failed_run_is_returned_and_the_dag_paused_again(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    dag_id, run_id = MIGRATION_DAGS[1], run_id_for("20261128T151500Z")
    expect(stub, "POST", f"/dags/{dag_id}/dagRuns", {"state": "queued"}, Body=ANY)
    expect(stub, "GET", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "running"})
    expect(stub, "PATCH", f"/dags/{dag_id}", {}, Body={"is_paused": False}, QueryParameters=ANY)
    expect(stub, "GET", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
    expect(stub, "PATCH", f"/dags/{dag_id}", {}, Body={"is_paused": True}, QueryParameters=ANY)
    transport = MwaaTransport(client=client, environment_name=ENV, api_version="v2")
    assert run_to_completion(transport, dag_id, run_id=run_id, conf={}, timeout=60, sleep=lambda _: None) == "failed"


def test_a_timeout_names_the_run_and_leaves_it_running(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    dag_id, run_id = MIGRATION_DAGS[1], run_id_for("20261128T151500Z")
    expect(stub, "POST", f"/dags/{dag_id}/dagRuns", {"state": "queued"}, Body=ANY)
    expect(stub, "GET", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "queued"})
    expect(stub, "PATCH", f"/dags/{dag_id}", {}, Body={"is_paused": False}, QueryParameters=ANY)
    for _ in range(2):  # at 15 s and 30 s; at 45 s the timeout (40 s) has passed
        expect(stub, "GET", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "running"})
    ticks = itertools.count(step=15)
    transport = MwaaTransport(client=client, environment_name=ENV, api_version="v2")
    with pytest.raises(DagRunError, match=f"{dag_id}: run {run_id} still running after 40 s"):
        run_to_completion(
            transport, dag_id, run_id=run_id, conf={}, timeout=40, sleep=lambda _: None, clock=lambda: next(ticks)
        )
    # No pause at the end: the run goes on, and starting the step again waits for it.
