"""The cut-over's import steps: the REST import into an Airflow 3 target in slices, the verification of the new
environment against the export, and the deletion of the export's decrypted secrets once verified."""

from __future__ import annotations

import json
from typing import Any

from mwaa_cutover import export_files, pause_states
from mwaa_cutover.archive import S3Archive, read_manifest
from mwaa_cutover.bucket_keys import cursor_key, export_prefix, report_key
from mwaa_cutover.cutover_input import parse_time
from mwaa_cutover.dag_pausing import LISTED
from mwaa_cutover.polling import SLICE_SECONDS, import_slices
from mwaa_cutover.rest_import import ImportOptions, import_archive
from mwaa_cutover.step_runtime import Runtime
from mwaa_cutover.verify import verify_import


class VerificationError(Exception):
    """The import doesn't match the archive; the report says where; `force: true` goes on."""


class ImportTimeoutError(Exception):
    """The REST import is not done after the slices wait_timeout_seconds allows (polling.import_slices)."""


class ImportRefusedError(Exception):
    """A cut-over's import refused entities or can't guarantee some DAGs' continuity; names them; `force: true` goes
    on (and the unpause step still keeps those DAGs paused on the new environment)."""


def held_back(result: dict[str, Any]) -> dict[str, str]:
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
    the bucket (see bucket_keys.cursor_key), so the state carries counts only. A slice after the import finished changes
    nothing. A finished cut-over import that refused anything, or can't guarantee a DAG, stops the cut-over
    (ImportRefusedError) unless `force`; an import still going after import_slices() slices stops it whatever
    `force` says (ImportTimeoutError), which bounds the machine's loop."""
    values, export_id = event["input"], str(event["export_id"])
    s3 = runtime.s3()
    key = cursor_key(runtime.migration, export_id, parse_time(values["started_at"]))
    kept = pause_states.read_json(s3, bucket=runtime.bucket, key=key)
    if kept is None or kept["result"]["cursor"] is not None:
        archive = S3Archive(bucket=runtime.bucket, prefix=export_prefix(runtime.migration, export_id), client=s3)
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
        timeout = int(values["wait_timeout_seconds"])
        if kept["result"]["cursor"] is not None and slices >= import_slices(timeout):
            raise ImportTimeoutError(
                f"the import of export {export_id} is not done after {slices} slices of up to "
                f"{SLICE_SECONDS // 60} minutes, all that wait_timeout_seconds {timeout} allows; its cursor is "
                f"s3://{runtime.bucket}/{key}. Nothing was unpaused. Start again with a larger wait_timeout_seconds"
            )
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


def verify(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Compares the new environment with the archive; the report goes to reports/<migration>/<export id>/report.json.
    A cut-over stops here when it doesn't match, unless `force`."""
    values, export_id = event["input"], str(event["export_id"])
    s3 = runtime.s3()
    archive = S3Archive(bucket=runtime.bucket, prefix=export_prefix(runtime.migration, export_id), client=s3)
    report = verify_import(transport=runtime.new(), archive=archive, manifest=read_manifest(archive))
    key = report_key(runtime.migration, export_id)
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
    prefix = export_prefix(runtime.migration, export_id)
    manifest = read_manifest(S3Archive(bucket=runtime.bucket, prefix=prefix, client=s3))
    return export_files.delete_secrets(s3, bucket=runtime.bucket, prefix=prefix, manifest=manifest)
