"""The cut-over state machine's steps: each takes the state's event and a Runtime (clients, names, clock), calls the
pure modules, and returns counts and ids only (Step Functions keeps every result in the execution's history).

An exception's class name becomes the step's error name, so the machine (and `cutover.py`) can tell them apart;
its message names DAGs, keys and counts, never a value. Every step can run again with the same event and change
nothing more: that is what makes a failed execution safe to start again.

This module has the first steps (guard, record, freeze, drain) and the table of all of them; the others are in
wait_steps (the machine's own DAG runs, the operator's export), import_steps (import, verify, delete secrets) and
pause_steps (unpause, rollback).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mwaa_cutover import freeze as freezing
from mwaa_cutover import pause_states
from mwaa_cutover.airflow_api import ApiError, Transport
from mwaa_cutover.cutover_input import machine_export_id, parse_time, validate
from mwaa_cutover.dag_pausing import LISTED
from mwaa_cutover.import_steps import delete_secrets, import_slice, verify
from mwaa_cutover.pause_steps import rollback, unpause
from mwaa_cutover.polling import next_wait
from mwaa_cutover.step_runtime import Runtime, elapsed
from mwaa_cutover.wait_steps import export_dag, import_dag, manifest_wait


class OverlapError(Exception):
    """Another execution of this migration's state machine is running."""


class EnvironmentNotAvailableError(Exception):
    """The new environment is not AVAILABLE: nothing is imported into it, nothing is frozen for it."""


class OldEnvironmentUnreachableError(Exception):
    """The old environment doesn't answer InvokeRestApi (an older environment needs an update first, or the role or
    the environment is at fault); found in the first state, before anything is recorded, paused or exported."""


class NewEnvironmentUnreachableError(Exception):
    """The new environment is AVAILABLE but doesn't answer InvokeRestApi; found before anything changed."""


class DrainRefusedError(Exception):
    """Runs still busy on the old environment after the drain's timeout, without force; names the DAGs."""


def _refusal(transport: Transport) -> ApiError | None:
    """One cheap read (the first DAG) through the transport: the error it answers with, None when it answers."""
    try:
        transport.request("GET", "/dags", query={"limit": 1})
    except ApiError as error:
        return error
    return None


def _check_reachable(runtime: Runtime, mode: str) -> None:
    """The old environment (where the machine reaches it: any mode, since rollback restores it) and, for a rehearsal
    or a cut-over, the new one answer InvokeRestApi as Viewer. Otherwise the execution would fail after it changed
    something: a cut-over with the old environment frozen, a rollback with the new one paused."""
    if not runtime.operator_export:
        error = _refusal(runtime.old())
        if error is not None:
            name = runtime.old_environment
            raise OldEnvironmentUnreachableError(
                f"the old environment {name} doesn't answer MWAA's InvokeRestApi ({error}); nothing was changed on "
                "either environment. If the error says to update the environment (older environments need one "
                f"update before InvokeRestApi works), update it with its current settings (`aws mwaa "
                f"update-environment --name {name}`), wait until it is AVAILABLE and start the {mode} again. "
                f"Otherwise check that the guard function's role may call airflow:InvokeRestApi on role/{name}/Viewer "
                "and that the environment is AVAILABLE"
            )
    if mode in ("rehearsal", "cutover"):
        error = _refusal(runtime.new())
        if error is not None:
            name = runtime.new_environment
            raise NewEnvironmentUnreachableError(
                f"the new environment {name} doesn't answer MWAA's InvokeRestApi ({error}); nothing was changed on "
                f"either environment. Check that the guard function's role may call airflow:InvokeRestApi on "
                f"role/{name}/Viewer, then start the {mode} again"
            )


def guard(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """First state: checks the input, refuses to overlap another execution and (for a rehearsal or a cut-over) a
    new environment that isn't AVAILABLE, and reads one DAG on each environment the execution will reach, so one
    that doesn't answer InvokeRestApi stops it before anything changed. Returns the state every later step reads:
    {"input": {...}}."""
    values = validate(event.get("execution"), operator_export=runtime.operator_export)
    others: list[str] = []
    paginator = runtime.sfn().get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=runtime.state_machine_arn, statusFilter="RUNNING"):
        others += [item["name"] for item in page["executions"] if item["executionArn"] != event["execution_arn"]]
    if others:
        raise OverlapError(
            f"{len(others)} other executions of this migration are running ({', '.join(sorted(others)[:LISTED])}): "
            "wait for them to end or stop them, then start again"
        )
    mode = values["mode"]
    if mode in ("rehearsal", "cutover"):
        status = runtime.mwaa().get_environment(Name=runtime.new_environment)["Environment"]["Status"]
        if status != "AVAILABLE":
            raise EnvironmentNotAvailableError(
                f"the new environment {runtime.new_environment} is {status}, not AVAILABLE: start the {mode} "
                "again once it is"
            )
    _check_reachable(runtime, mode)
    started = parse_time(event["started_at"])
    export_id = values["export_id"]
    if mode != "rollback" and not runtime.operator_export:
        export_id = machine_export_id(mode, started)
    return {
        "input": {
            **values,
            "export_id": export_id,
            "started_at": started.isoformat(),
            "operator_export": runtime.operator_export,
            "target_api": runtime.new_api_version,
        }
    }


def record(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    return pause_states.record_pause_states(
        runtime.old(),
        runtime.s3(),
        bucket=runtime.bucket,
        migration=runtime.migration,
        recorded_at=runtime.now().isoformat(),
        environment=runtime.old_environment,
    )


def freeze(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    return freezing.freeze(runtime.old())


def drain(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """One look at what still runs on the old environment; `drain_started` is when the drain loop was entered."""
    timeout = int(event["input"]["drain_timeout_seconds"])
    status = freezing.drain_status(runtime.old())
    waited = elapsed(runtime, event["drain_started"])
    verdict = freezing.drain_verdict(status, timed_out=waited >= timeout, force=bool(event["input"]["force"]))
    if verdict == "refuse":
        raise DrainRefusedError(freezing.refusal(status, timeout_seconds=timeout))
    return {**status, "verdict": verdict, "waited_seconds": int(waited), "next_wait_seconds": next_wait(waited)}


STEPS: dict[str, Callable[[dict[str, Any], Runtime], dict[str, Any]]] = {
    "guard": guard,
    "record": record,
    "freeze": freeze,
    "drain": drain,
    "export_dag": export_dag,
    "manifest_wait": manifest_wait,
    "import_slice": import_slice,
    "import_dag": import_dag,
    "verify": verify,
    "delete_secrets": delete_secrets,
    "unpause": unpause,
    "rollback": rollback,
}
