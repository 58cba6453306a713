"""Run one of the migration's own DAGs (export, import) through the REST API: trigger, unpause, wait, pause again.

Every call fits MWAA's 64-character `InvokeRestApi` path for the app's DAG ids with the run ids made here; a run id
is derived from the export id, so starting the same step again finds its run instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from mwaa_cutover.airflow_api import ApiError, Transport

FINAL_STATES = frozenset({"success", "failed"})
RUN_ID_PREFIX = "mwaa-migration-"


class DagRunError(Exception):
    """The DAG run failed, timed out, or the DAG isn't on the environment; names the DAG and the run."""


def run_id_for(export_id: str, execution: str = "") -> str:
    """Short and stable: `/dags/mwaa_migration_export/dagRuns/<run id>` stays within 64 characters. `execution`
    (an execution's start) makes the run one execution's own, where the export id may be reused across executions."""
    key = f"{export_id}@{execution}" if execution else export_id
    return RUN_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def set_paused(transport: Transport, dag_id: str, *, paused: bool) -> None:
    # Airflow 2's v1 API needs the mask; v2 takes it too and ignores nothing else in the body.
    transport.request("PATCH", f"/dags/{dag_id}", query={"update_mask": "is_paused"}, body={"is_paused": paused})


def trigger(transport: Transport, dag_id: str, *, run_id: str, conf: Mapping[str, Any]) -> bool:
    """Creates the run; False when it already exists (a step started again), True when created now."""
    body: dict[str, Any] = {"dag_run_id": run_id, "conf": dict(conf)}
    if transport.api_version == "v2":
        body["logical_date"] = None  # required in v2; None: a manual run with no data interval of its own
    try:
        transport.request("POST", f"/dags/{dag_id}/dagRuns", body=body)
    except ApiError as error:
        if error.status == 409:
            return False
        if error.status == 404:
            raise DagRunError(f"DAG {dag_id} is not on the environment (not deployed or not parsed yet)") from error
        raise
    return True


def run_state(transport: Transport, dag_id: str, run_id: str) -> str:
    response = transport.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
    return str(response["state"])


def start(transport: Transport, dag_id: str, *, run_id: str, conf: Mapping[str, Any]) -> tuple[bool, str]:
    """Triggers (or finds) the run and unpauses the DAG while it isn't final: (created now, its state)."""
    created = trigger(transport, dag_id, run_id=run_id, conf=conf)
    state = run_state(transport, dag_id, run_id)
    if state not in FINAL_STATES:
        set_paused(transport, dag_id, paused=False)
    return created, state


def settle(transport: Transport, dag_id: str, run_id: str) -> str:
    """The run's state; once it is final, the DAG is paused again."""
    state = run_state(transport, dag_id, run_id)
    if state in FINAL_STATES:
        set_paused(transport, dag_id, paused=True)
    return state


def run_to_completion(
    transport: Transport,
    dag_id: str,
    *,
    run_id: str,
    conf: Mapping[str, Any],
    timeout: float,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str], None] | None = None,
) -> str:
    """`start`, then `settle` until the run is final (the state machine makes the same two calls as steps).

    Returns the final state. On a timeout the run goes on (the DAG has no schedule, so staying unpaused starts
    nothing else) and this raises, naming it: starting the step again waits for the same run.
    """
    say = progress or (lambda _message: None)
    created, state = start(transport, dag_id, run_id=run_id, conf=conf)
    say(f"{dag_id}: run {run_id} {'triggered' if created else 'already exists'}")
    started = clock()
    if state in FINAL_STATES:
        set_paused(transport, dag_id, paused=True)  # as `settle` does on every final state
    while state not in FINAL_STATES:
        if clock() - started > timeout:
            raise DagRunError(
                f"{dag_id}: run {run_id} still {state} after {timeout:.0f} s; it goes on running: "
                "start the step again to wait for it"
            )
        say(f"{dag_id}: run {run_id} {state}")
        sleep(poll_seconds)
        state = settle(transport, dag_id, run_id)
    say(f"{dag_id}: run {run_id} {state}")
    return state
