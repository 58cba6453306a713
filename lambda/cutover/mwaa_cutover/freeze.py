"""Freezing the old environment: pause every DAG but the migration's own, then watch what is still running.

A paused DAG's scheduler work stops (Airflow 2.x and 3.x skip paused DAGs when they examine runs and queue task
instances, `DagRun.next_dagruns_to_examine` / `_executable_task_instances_to_queued`), but task instances already
queued or running finish, deferred ones wait for their trigger, and a run whose remaining tasks were never queued
stays `running` until the DAG is unpaused. So the drain doesn't always reach zero: the state machine waits up to
its timeout and then stops, listing the DAGs; `force` goes on with those runs exported in their current state.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.dag_pausing import PauseError, batch_list, list_dags, listed, pause_all, set_paused

EXPORT_DAG = "mwaa_migration_export"
RUN_STATES = ("queued", "running")
# Task states that still do work or will once the DAG runs again; `restarting` is a cleared running task.
TASK_STATES = ("running", "queued", "deferred", "scheduled", "up_for_retry", "up_for_reschedule", "restarting")
# Of these, the states that move on while the DAG is paused (the executor or the triggerer has them).
MOVING_TASK_STATES = frozenset({"running", "queued", "deferred", "restarting"})


def freeze(old: Transport, *, keep: Collection[str] = (EXPORT_DAG,)) -> dict[str, Any]:
    """Cut-over, after record_pause_states and before the drain (and again on a restarted execution: it is
    idempotent): pauses every DAG on the OLD environment, stale ones too, with the bulk route, then gives each
    `keep` DAG back the state it had just before (the export DAG is paused and unpaused by its own step).

    Returns {"dags", "newly_paused", "patched", "kept": [ids present], "calls"}; raises PauseError naming DAGs
    still unpaused, or a `keep` DAG whose state couldn't be given back."""
    calls = old.calls
    before = list_dags(old)
    result = pause_all(old)
    give_back = [dag_id for dag_id in keep if dag_id in before and not before[dag_id].paused]
    restored = set_paused(old, give_back, paused=False, tolerate=())
    if restored["unreachable_count"] or restored["absent_count"]:
        raise PauseError(
            f"could not unpause again on {old.description}: {', '.join(restored['unreachable'] + restored['absent'])}"
        )
    newly = [d for d, state in before.items() if not state.paused and d not in keep]
    return {
        "dags": result["dags"],
        "newly_paused": len(newly),
        "patched": result["patched"],
        "kept": sorted(d for d in keep if d in before),
        "calls": old.calls - calls,
    }


def busy_runs(transport: Transport, *, exclude: Collection[str]) -> list[dict[str, Any]]:
    """Runs queued or running, outside `exclude`: [{dag_id, run_id, state}]. `/dags/~/dagRuns/list` exists in
    v1 (Airflow 2.0+, `states`, `page_offset`, `page_limit`) and v2 (same fields)."""
    body = {"states": list(RUN_STATES)}
    return [
        {"dag_id": item["dag_id"], "run_id": item["dag_run_id"], "state": item["state"]}
        for item in batch_list(transport, "/dags/~/dagRuns/list", "dag_runs", body)
        if item["dag_id"] not in exclude
    ]


def busy_task_instances(transport: Transport, *, exclude: Collection[str]) -> list[dict[str, Any]]:
    """Task instances in TASK_STATES outside `exclude`, each once: [{dag_id, run_id, task_id, map_index, state}].
    `/dags/~/dagRuns/~/taskInstances/list` with `state` exists in v1 (2.4.3+ list every one of these states) and v2."""
    seen: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    body = {"state": list(TASK_STATES)}
    for item in batch_list(transport, "/dags/~/dagRuns/~/taskInstances/list", "task_instances", body):
        if item["dag_id"] in exclude:
            continue
        key = (item["dag_id"], item["dag_run_id"], item["task_id"], int(item.get("map_index", -1)))
        seen[key] = {"dag_id": key[0], "run_id": key[1], "task_id": key[2], "map_index": key[3],
                     "state": item["state"]}  # fmt: skip
    return list(seen.values())


def drain_status(old: Transport, *, exclude: Collection[str] = (EXPORT_DAG,)) -> dict[str, Any]:
    """Cut-over, after freeze, in a loop with a Wait until `busy` is 0 or the drain's timeout; then the machine
    fails listing `dags` unless `force`. Returns {"busy": runs + task instances, "runs", "task_instances",
    "moving": task instances that progress while paused, "states": {state: count}, "dags": [first 20 ids],
    "dag_count"}."""
    runs = busy_runs(old, exclude=exclude)
    tasks = busy_task_instances(old, exclude=exclude)
    states: dict[str, int] = {}
    for item in (*runs, *tasks):
        name = ("run " if "task_id" not in item else "task ") + str(item["state"])
        states[name] = states.get(name, 0) + 1
    dags = {item["dag_id"] for item in (*runs, *tasks)}
    return {
        "busy": len(runs) + len(tasks),
        "runs": len(runs),
        "task_instances": len(tasks),
        "moving": sum(1 for item in tasks if item["state"] in MOVING_TASK_STATES),
        "states": dict(sorted(states.items())),
        "dags": listed(dags),
        "dag_count": len(dags),
    }


def drain_verdict(status: dict[str, Any], *, timed_out: bool, force: bool) -> str:
    """What the machine does with a drain_status: "done", "wait", "force" (timed out, going on) or "refuse"."""
    if status["busy"] == 0:
        return "done"
    if not timed_out:
        return "wait"
    return "force" if force else "refuse"


def refusal(status: dict[str, Any], *, timeout_seconds: float) -> str:
    """The failure message when the drain timed out without force: names the DAGs (ids only)."""
    more = status["dag_count"] - len(status["dags"])
    names = ", ".join(status["dags"]) + (f" and {more} more" if more > 0 else "")
    return (
        f"{status['busy']} runs/task instances still busy on the old environment after {timeout_seconds:.0f} s "
        f"({status['runs']} runs, {status['task_instances']} task instances) in {status['dag_count']} DAGs: "
        f"{names}. Wait and start again, or start with force: true (they are exported as they are)."
    )
