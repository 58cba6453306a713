"""The cut-over state machine's steps: each takes the state's event and a Runtime (clients, names, clock), calls the
pure modules, and returns counts and ids only (Step Functions keeps every result in the execution's history).

An exception's class name becomes the step's error name, so the machine (and `cutover.py`) can tell them apart;
its message names DAGs, keys and counts, never a value. Every step can run again with the same event and change
nothing more: that is what makes a failed execution safe to start again.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any, Protocol

import dag_runs
import export_files
import freeze as freezing
import pause_states
import rollback as rolling_back
import unpause as unpausing
from airflow_api import Transport
from archive import ArchiveError, S3Archive, latest_complete_export, read_manifest
from cutover_input import machine_export_id, parse_time, validate
from dag_pausing import LISTED, pause_all
from rest_import import ImportOptions, import_archive
from verify import verify_import

IMPORT_DAG = "mwaa_migration_import"


class Runtime(Protocol):
    migration: str
    bucket: str
    operator_export: bool  # the source's freeze and export are the operator's
    old_environment: str
    new_environment: str
    new_api_version: str
    state_machine_arn: str

    def old(self) -> Transport: ...
    def new(self) -> Transport: ...
    def s3(self) -> Any: ...
    def sfn(self) -> Any: ...
    def mwaa(self) -> Any: ...
    def now(self) -> datetime.datetime: ...
    def deadline(self) -> float: ...
    def monotonic(self) -> float: ...


class OverlapError(Exception):
    """Another execution of this migration's state machine is running."""


class EnvironmentNotAvailableError(Exception):
    """The new environment is not AVAILABLE: nothing is imported into it, nothing is frozen for it."""


class DrainRefusedError(Exception):
    """Runs still busy on the old environment after the drain's timeout, without force; names the DAGs."""


class WaitTimeoutError(Exception):
    """A DAG run of the migration's own, or the operator's export, took longer than wait_timeout_seconds."""


class VerificationError(Exception):
    """The import doesn't match the archive; the report says where; `force: true` goes on."""


class ImportRefusedError(Exception):
    """A cut-over's import refused entities or can't guarantee some DAGs' continuity; names them; `force: true` goes
    on (and the unpause step still keeps those DAGs paused on the new environment)."""


def _elapsed(runtime: Runtime, since: str) -> float:
    return (runtime.now() - parse_time(since)).total_seconds()


def guard(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """First state: checks the input, refuses to overlap another execution, and (for a rehearsal or a cut-over)
    a new environment that isn't AVAILABLE. Returns the state every later step reads: {"input": {...}}."""
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
    waited = _elapsed(runtime, event["drain_started"])
    verdict = freezing.drain_verdict(status, timed_out=waited >= timeout, force=bool(event["input"]["force"]))
    if verdict == "refuse":
        raise DrainRefusedError(freezing.refusal(status, timeout_seconds=timeout))
    return {**status, "verdict": verdict, "waited_seconds": int(waited)}


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
    if _elapsed(runtime, started_at) > timeout:
        raise WaitTimeoutError(
            f"{dag_id}: run {run_id} on {transport.description} still {state} after {timeout} s; it goes on: "
            "start the execution again to wait for it"
        )
    return {"done": False, "export_id": export_id, "run_id": run_id, "state": state, "started_at": started_at}


def export_dag(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """The export DAG on the OLD environment, with this execution's export id; done when its manifest is there."""
    export_id = str(event["export_id"])

    def manifest() -> dict[str, Any]:
        found = export_files.wait_for_manifest(
            runtime.s3(), bucket=runtime.bucket, migration=runtime.migration, export_id=export_id
        )
        if not found["present"]:
            raise ArchiveError(f"the export run succeeded but exports/{runtime.migration}/{export_id}/ has no manifest")
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
    export_id = values["export_id"] or latest_complete_export(s3, bucket=runtime.bucket, migration=runtime.migration)
    found: dict[str, Any] = {"present": False, "export_id": export_id}
    if export_id is not None:
        found = export_files.wait_for_manifest(
            s3, bucket=runtime.bucket, migration=runtime.migration, export_id=export_id
        )
    if found["present"] and values["export_id"] is None and values["mode"] == "cutover":
        archive = S3Archive(
            bucket=runtime.bucket, prefix=export_files.export_prefix(runtime.migration, export_id or ""), client=s3
        )
        started = read_manifest(archive).get("started_at")
        if not isinstance(started, str) or parse_time(started) < parse_time(values["started_at"]):
            found = {"present": False, "export_id": None, "newest_is_older": export_id}
    if not found["present"] and _elapsed(runtime, values["started_at"]) > int(values["wait_timeout_seconds"]):
        raise WaitTimeoutError(
            f"no complete export{' ' + values['export_id'] if values['export_id'] else ''} under "
            f"exports/{runtime.migration}/ after {values['wait_timeout_seconds']} s: export, then start again"
        )
    return {"done": bool(found["present"]), **found}


def _cursor_key(runtime: Runtime, export_id: str, started_at: str) -> str:
    """Per export AND execution: where the export is the operator's, a later execution may name the same export id
    (with other on_existing or runs_since); it imports again (the import is idempotent) instead of finding a
    finished cursor. The slices of one execution share the key, so they resume."""
    started = parse_time(started_at).strftime("%Y%m%dT%H%M%SZ")
    return f"cutover/{runtime.migration}/import/{export_id}/{started}.json"


def _held_back(result: dict[str, Any]) -> dict[str, str]:
    """The DAGs an import result names, with why: its unguaranteed DAGs and the DAGs of its refused runs (a refused
    run's key is `<dag id>/<run id>`, or the DAG id when none of its runs was imported; DAG ids have no `/`)."""
    reasons: dict[str, str] = {}
    for item in result["refused"]:
        if item["entity"] == "dag_run":
            dag_id = item["key"].split("/", 1)[0]
            reasons.setdefault(dag_id, f"runs refused by the import: {item['reason']}")
    for item in result["unguaranteed"]:
        reasons.setdefault(item["dag_id"], f"continuity not guaranteed: {item['reason']}")
    return reasons


def _named(ids: list[str]) -> str:
    """A count and the first ids: `3 (a, b, c)`."""
    return f"{len(ids)} ({', '.join(ids[:LISTED])}{', …' if len(ids) > LISTED else ''})" if ids else "0"


def import_slice(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """One slice of the REST import (Airflow 3 target) until the Lambda's deadline; its cursor and tally are kept in
    the bucket (see _cursor_key), so the state carries counts only. A slice after the import finished changes
    nothing. A finished cut-over import that refused anything, or can't guarantee a DAG, stops the cut-over
    (ImportRefusedError) unless `force`."""
    values, export_id = event["input"], str(event["export_id"])
    s3 = runtime.s3()
    key = _cursor_key(runtime, export_id, values["started_at"])
    kept = pause_states.read_json(s3, bucket=runtime.bucket, key=key)
    if kept is None or kept["result"]["cursor"] is not None:
        archive = S3Archive(
            bucket=runtime.bucket, prefix=export_files.export_prefix(runtime.migration, export_id), client=s3
        )
        since = values["runs_since"]
        options = ImportOptions(
            now=parse_time(values["started_at"]),
            on_existing=values["on_existing"],
            runs_since=parse_time(since) if since else None,
        )
        cursor = kept["result"]["cursor"] if kept else None
        result = import_archive(
            transport=runtime.new(),
            archive=archive,
            options=options,
            cursor=cursor,
            deadline=runtime.deadline(),
            clock=runtime.monotonic,
        )
        slices = (kept or {}).get("slices", 0) + 1
        kept = {"format": pause_states.FORMAT, "export_id": export_id, "slices": slices, "result": result.to_dict()}
        body = json.dumps(kept, sort_keys=True).encode("utf-8")
        s3.put_object(Bucket=runtime.bucket, Key=key, Body=body, ContentType="application/json")
    result = kept["result"]
    refused = sorted(f"{item['entity']}/{item['key']}" for item in result["refused"])
    unguaranteed = sorted(item["dag_id"] for item in result["unguaranteed"])
    if result["cursor"] is None and (refused or unguaranteed) and values["mode"] == "cutover" and not values["force"]:
        raise ImportRefusedError(
            f"the import of export {export_id} refused {_named(refused)} entries and can't guarantee "
            f"{_named(unguaranteed)} DAGs' continuity; s3://{runtime.bucket}/{key} has the reasons. Nothing was "
            "unpaused. Fix and start again, or start with force: true to go on (those DAGs then stay paused on the new "
            "environment)"
        )
    return {
        "done": result["cursor"] is None,
        "export_id": export_id,
        "slices": kept["slices"],
        "counts": result["counts"],
        "refused_count": len(result["refused"]),
        "refused": refused[:LISTED],
        "unguaranteed_count": len(result["unguaranteed"]),
        "unguaranteed": unguaranteed[:LISTED],
        "calls": result["calls"],
    }


def import_dag(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """The import DAG on the NEW environment: the whole import on an Airflow 2 target, the task-log copy on any."""
    values = event["input"]
    conf = {
        "export_id": event["export_id"],
        "on_existing": values["on_existing"],
        "log_days": values["log_days"],
        "log_states": values["log_states"],
    }
    # Its run is this execution's own (see _cursor_key): a later execution on the same export id imports again.
    return _dag_run(
        event, runtime, transport=runtime.new(), dag_id=IMPORT_DAG, conf=conf, when_done=dict,
        execution=values["started_at"],
    )  # fmt: skip


def verify(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Compares the new environment with the archive; the report goes to reports/<migration>/<export id>/report.json.
    A cut-over stops here when it doesn't match, unless `force`."""
    values, export_id = event["input"], str(event["export_id"])
    s3 = runtime.s3()
    archive = S3Archive(
        bucket=runtime.bucket, prefix=export_files.export_prefix(runtime.migration, export_id), client=s3
    )
    report = verify_import(transport=runtime.new(), archive=archive, manifest=read_manifest(archive))
    key = f"reports/{runtime.migration}/{export_id}/report.json"
    body = json.dumps(report, indent=1, sort_keys=True).encode("utf-8")
    s3.put_object(Bucket=runtime.bucket, Key=key, Body=body, ContentType="application/json")
    where = f"s3://{runtime.bucket}/{key}"
    checks = [
        {name: check[name] for name in ("entity", "archive", "target", "matching", "missing_count", "different_count")}
        for check in report["checks"]
    ]
    if not report["ok"] and values["mode"] == "cutover" and not values["force"]:
        problems = ", ".join(
            f"{c['entity']}: {c['missing_count']} missing, {c['different_count']} different"
            for c in checks
            if c["missing_count"] or c["different_count"]
        )
        raise VerificationError(
            f"the new environment doesn't match export {export_id} ({problems}); the report is {where}. Nothing was "
            "unpaused. Fix and start again, or start with force: true"
        )
    return {"ok": report["ok"], "report": where, "checks": checks}


def delete_secrets(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    export_id = str(event["export_id"])
    s3 = runtime.s3()
    prefix = export_files.export_prefix(runtime.migration, export_id)
    manifest = read_manifest(S3Archive(bucket=runtime.bucket, prefix=prefix, client=s3))
    return export_files.delete_secrets(s3, bucket=runtime.bucket, prefix=prefix, manifest=manifest)


def unpause(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Unpauses the recorded active DAGs on the new environment, except, on an Airflow 3 target, those this
    execution's import named (refused runs, unguaranteed): even with `force` they stay paused, named in
    `kept_paused` with the reason, for the operator to look at."""
    values, s3 = event["input"], runtime.s3()
    held: dict[str, str] = {}
    if runtime.new_api_version == "v2":
        key = _cursor_key(runtime, str(values["export_id"]), values["started_at"])
        kept = pause_states.read_json(s3, bucket=runtime.bucket, key=key)
        if kept is None or kept["result"]["cursor"] is not None:
            raise pause_states.RecordError(
                f"s3://{runtime.bucket}/{key}: no finished import by this execution, so nothing was unpaused"
            )
        held = _held_back(kept["result"])
    result = unpausing.unpause_new(
        runtime.new(),
        runtime.old(),
        s3,
        bucket=runtime.bucket,
        migration=runtime.migration,
        now=runtime.now().isoformat(),
        exclude={*unpausing.MIGRATION_DAGS, *held},
    )
    kept_paused = [{"dag_id": dag_id, "reason": held[dag_id]} for dag_id in sorted(held)]
    return {**result, "kept_paused": kept_paused[:LISTED], "kept_paused_count": len(kept_paused)}


def rollback(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Pauses the new environment and gives the old one its recorded states back. Where the freeze was the
    operator's, the machine has no record and can't reach the old environment: it pauses the new one only."""
    force = bool(event["input"]["force"])
    if runtime.operator_export:
        paused = pause_all(runtime.new())
        return {"new": {"dags": paused["dags"], "patched": paused["patched"]}, "old": "the operator's to restore"}
    return rolling_back.rollback(
        runtime.new(), runtime.old(), runtime.s3(), bucket=runtime.bucket, migration=runtime.migration, force=force
    )


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
