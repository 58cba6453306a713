"""The cut-over's steps that wait: the machine's own DAG runs (the export DAG on the old environment, the import and
task-log DAGs on the new one), each a start and then a status until it is done, and the operator's export (its
manifest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mwaa_cutover import dag_runs, export_files
from mwaa_cutover import freeze as freezing
from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.archive import ArchiveError, S3Archive, latest_complete_export, read_manifest
from mwaa_cutover.bucket_keys import export_prefix, export_root
from mwaa_cutover.cutover_input import parse_time
from mwaa_cutover.polling import next_wait
from mwaa_cutover.step_runtime import Runtime, elapsed

IMPORT_DAG = "mwaa_migration_import"
TASK_LOGS_DAG = "mwaa_migration_task_logs"


class WaitTimeoutError(Exception):
    """A DAG run of the migration's own, or the operator's export, took longer than wait_timeout_seconds."""


def _dag_run(
    event: dict[str, Any],
    runtime: Runtime,
    *,
    transport: Transport,
    dag_id: str,
    conf: dict[str, Any],
    when_done: Callable[[], dict[str, Any]],
    execution: str = "",
) -> dict[str, Any]:
    """start: `dag_runs.start`; status: `dag_runs.settle` (the DAG is paused again once the run is final). The run
    id is derived from the export id (and `execution`), so a repeated step finds its run instead of a second one."""
    export_id = str(event["export_id"])
    run_id = dag_runs.run_id_for(export_id, execution)
    if event["action"] == "start":
        created, state = dag_runs.start(transport, dag_id, run_id=run_id, conf=conf)
        started_at = runtime.now().isoformat()
        return {
            "done": False,
            "export_id": export_id,
            "run_id": run_id,
            "created": created,
            "state": state,
            "started_at": started_at,
            "next_wait_seconds": next_wait(0),
        }
    started_at = str(event["started_at"])
    state = dag_runs.settle(transport, dag_id, run_id)
    if state in dag_runs.FINAL_STATES:
        if state != "success":
            raise dag_runs.DagRunError(
                f"{dag_id}: run {run_id} on {transport.description} ended {state}; its task logs say why. "
                "Start the execution again once it is fixed"
            )
        return {"done": True, "export_id": export_id, "run_id": run_id, "state": state, **when_done()}
    timeout = int(event["input"]["wait_timeout_seconds"])
    waited = elapsed(runtime, started_at)
    if waited > timeout:
        raise WaitTimeoutError(
            f"{dag_id}: run {run_id} on {transport.description} still {state} after {timeout} s; it goes on: "
            "start the execution again to wait for it"
        )
    return {
        "done": False,
        "export_id": export_id,
        "run_id": run_id,
        "state": state,
        "started_at": started_at,
        "next_wait_seconds": next_wait(waited),
    }


def export_dag(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """The export DAG on the OLD environment, with this execution's export id; done when its manifest is there."""
    export_id = str(event["export_id"])

    def manifest() -> dict[str, Any]:
        found = export_files.wait_for_manifest(
            runtime.s3(), bucket=runtime.bucket, migration=runtime.migration, export_id=export_id
        )
        if not found["present"]:
            raise ArchiveError(
                f"the export run succeeded but {export_prefix(runtime.migration, export_id)} has no manifest"
            )
        return {key: value for key, value in found.items() if key != "export_id"}

    return _dag_run(
        event,
        runtime,
        transport=runtime.old(),
        dag_id=freezing.EXPORT_DAG,
        conf={"export_id": export_id},
        when_done=manifest,
    )


def manifest_wait(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """The operator's export (self-managed source, or MWAA below 2.4.3): the input's export id, else the newest
    complete export, which for a cut-over must have started after this execution did (an older one would miss
    what ran before the operator's freeze)."""
    values = event["input"]
    s3 = runtime.s3()
    export_id = values["export_id"] or latest_complete_export(
        s3, bucket=runtime.bucket, prefix=export_root(runtime.migration)
    )
    found: dict[str, Any] = {"present": False, "export_id": export_id}
    if export_id is not None:
        found = export_files.wait_for_manifest(
            s3, bucket=runtime.bucket, migration=runtime.migration, export_id=export_id
        )
    if found["present"] and values["export_id"] is None and values["mode"] == "cutover":
        archive = S3Archive(bucket=runtime.bucket, prefix=export_prefix(runtime.migration, export_id or ""), client=s3)
        started = read_manifest(archive).get("started_at")
        if not isinstance(started, str) or parse_time(started) < parse_time(values["started_at"]):
            found = {"present": False, "export_id": None, "newest_is_older": export_id}
    waited = elapsed(runtime, values["started_at"])
    if not found["present"] and waited > int(values["wait_timeout_seconds"]):
        raise WaitTimeoutError(
            f"no complete export{' ' + values['export_id'] if values['export_id'] else ''} under "
            f"{export_root(runtime.migration)} after {values['wait_timeout_seconds']} s: export, then start again"
        )
    return {"done": bool(found["present"]), **found, "next_wait_seconds": next_wait(waited)}


def import_dag(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """A DAG of the migration's own on the NEW environment: the import DAG (the whole import on an Airflow 2
    target), or with `"dag": "task_logs"` the task-log DAG (the old task logs, on every target, after the import:
    it names the new streams from the import's run-id map). One function for both: the same Airflow role triggers
    them."""
    values = event["input"]
    conf: dict[str, Any] = {"export_id": event["export_id"]}
    if event.get("dag") == "task_logs":
        dag_id = TASK_LOGS_DAG
        conf |= {name: values[name] for name in ("log_days", "log_states") if values[name] is not None}
    else:
        dag_id = IMPORT_DAG
        conf["on_existing"] = values["on_existing"]
    # Its run is this execution's own (see bucket_keys.cursor_key): a later execution on the same export id
    # imports again.
    return _dag_run(
        event, runtime, transport=runtime.new(), dag_id=dag_id, conf=conf, when_done=dict,
        execution=values["started_at"],
    )  # fmt: skip
