"""The cut-over's write-once records in the migration bucket: the old environment's pause states, taken before the
first freeze (`cutover/<migration>/pause-states.json`), and the moment the new environment was first unpaused
(`cutover/<migration>/unpaused.json`, the rollback's "since").

Write-once with S3's conditional PutObject (`IfNoneMatch="*"`: 412 when the key exists): a restarted execution
reads the first record instead of recording the already-frozen environment as if it were the users' choice. Once a
rollback has restored the record, both move to `cutover/<migration>/history/<recorded_at>/`, so the next cut-over
records afresh.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.bucket_keys import history_prefix, marker_key, record_key
from mwaa_cutover.dag_pausing import list_dags

FORMAT = 1
# 412: the key exists. 409: another conditional write to it is in flight; once it lands, the record exists.
_EXISTS_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
# 403 too: without s3:ListBucket, S3 answers 403 for a key that isn't there (as archive.py reads it).
_ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class RecordError(Exception):
    """A record that is missing, damaged, or belongs to another migration; names the key, never a value."""


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def read_json(s3: Any, *, bucket: str, key: str) -> dict[str, Any] | None:
    """The document, or None when the key is absent."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as error:
        if _code(error) in _ABSENT_CODES:
            return None
        raise
    try:
        document = json.loads(response["Body"].read())
    except ValueError:
        raise RecordError(f"s3://{bucket}/{key} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RecordError(f"s3://{bucket}/{key}: format must be {FORMAT}")
    return document


def write_once(
    s3: Any, *, bucket: str, key: str, document: dict[str, Any], again: bool = True
) -> tuple[dict[str, Any], bool]:
    """Writes the document unless the key exists; returns (the stored document, whether this call wrote it)."""
    body = json.dumps(document, indent=1, sort_keys=True).encode("utf-8")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
    except Exception as error:
        if _code(error) not in _EXISTS_CODES:
            raise
        stored = read_json(s3, bucket=bucket, key=key)
        if stored is None and again:  # a 409 whose competing write failed: nothing is there, so write again
            return write_once(s3, bucket=bucket, key=key, document=document, again=False)
        if stored is None:
            raise RecordError(f"s3://{bucket}/{key} exists but can't be read (s3:GetObject denied?)") from None
        return stored, False
    return document, True


def _check_record(record: dict[str, Any], *, bucket: str, migration: str) -> dict[str, Any]:
    where = f"s3://{bucket}/{record_key(migration)}"
    if record.get("migration") != migration:
        raise RecordError(f"{where} belongs to migration {record.get('migration')!r}, not {migration!r}")
    dags = record.get("dags")
    if not isinstance(dags, dict) or not all(isinstance(v, bool) for v in dags.values()):
        raise RecordError(f"{where}: `dags` must map DAG ids to is_paused booleans")
    if not isinstance(record.get("inactive"), list) or not isinstance(record.get("recorded_at"), str):
        raise RecordError(f"{where}: `inactive` (a list) and `recorded_at` (a time) are required")
    return record


def summary(record: dict[str, Any], *, created: bool) -> dict[str, Any]:
    dags: dict[str, bool] = record["dags"]
    inactive = set(record["inactive"])
    return {
        "created": created,
        "recorded_at": record["recorded_at"],
        "dags": len(dags),
        "paused": sum(1 for paused in dags.values() if paused),
        "active_unpaused": sum(1 for dag_id, paused in dags.items() if not paused and dag_id not in inactive),
        "inactive": len(inactive),
    }


def record_pause_states(
    old: Transport, s3: Any, *, bucket: str, migration: str, recorded_at: str, environment: str
) -> dict[str, Any]:
    """Cut-over, first step (before the first freeze): lists every DAG on the OLD environment and records its
    pause state once. A restarted execution finds the record (412) and returns its counts without listing or
    rewriting anything, so the states it keeps are the users' and not those of a half-done freeze.

    Record: {format, migration, recorded_at, environment, api_version, dags: {dag_id: is_paused}, inactive: [ids]}
    (`inactive`: DAGs the environment keeps but doesn't schedule, v1 `is_active` false / v2 `is_stale`; recorded so a
    rollback restores them too, never unpaused on the new environment). Returns summary(): counts, no ids."""
    existing = read_json(s3, bucket=bucket, key=record_key(migration))
    if existing is not None:
        return summary(_check_record(existing, bucket=bucket, migration=migration), created=False)
    dags = list_dags(old)
    document = {
        "format": FORMAT,
        "migration": migration,
        "recorded_at": recorded_at,
        "environment": environment,
        "api_version": old.api_version,
        "dags": {dag_id: state.paused for dag_id, state in sorted(dags.items())},
        "inactive": sorted(dag_id for dag_id, state in dags.items() if not state.active),
    }
    stored, created = write_once(s3, bucket=bucket, key=record_key(migration), document=document)
    return summary(_check_record(stored, bucket=bucket, migration=migration), created=created)


def read_pause_states(s3: Any, *, bucket: str, migration: str) -> dict[str, Any]:
    """The record; RecordError when there is none (no cut-over has frozen the old environment)."""
    record = read_json(s3, bucket=bucket, key=record_key(migration))
    if record is None:
        raise RecordError(
            f"s3://{bucket}/{record_key(migration)} is missing: no cut-over recorded the old environment's pause states"
            " since the last rollback (which moves it under history/)"
        )
    return _check_record(record, bucket=bucket, migration=migration)


def mark_unpaused(s3: Any, *, bucket: str, migration: str, unpaused_at: str) -> str:
    """Records, once, when the new environment's DAGs were first unpaused; returns the stored time."""
    document = {"format": FORMAT, "migration": migration, "unpaused_at": unpaused_at}
    stored, _created = write_once(s3, bucket=bucket, key=marker_key(migration), document=document)
    return str(stored["unpaused_at"])


def cutover_since(s3: Any, *, bucket: str, migration: str) -> str:
    """Since when the new environment may have run DAGs of its own: the first unpause, else the record's time."""
    marker = read_json(s3, bucket=bucket, key=marker_key(migration))
    if marker is not None and isinstance(marker.get("unpaused_at"), str):
        return str(marker["unpaused_at"])
    return str(read_pause_states(s3, bucket=bucket, migration=migration)["recorded_at"])


def archive_records(s3: Any, *, bucket: str, migration: str, recorded_at: str) -> str:
    """After a rollback restored the record: copies the record and the marker (when there is one) under
    history_prefix(), then deletes them, the marker first. A rollback restarted in between finds the record still
    there and does it all again (without the marker it counts runs since the record, which is earlier). The bucket is
    versioned: the delete makes a delete marker the current version, and the next cut-over's write-once PutObject
    (IfNoneMatch) takes the key as absent. Returns the history prefix."""
    moment = datetime.datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(datetime.UTC)
    prefix = history_prefix(migration, moment)
    keys = (record_key(migration), marker_key(migration))
    for key in keys:
        try:
            s3.copy_object(Bucket=bucket, Key=prefix + key.rsplit("/", 1)[1], CopySource={"Bucket": bucket, "Key": key})
        except Exception as error:
            if _code(error) not in _ABSENT_CODES:
                raise
    for key in reversed(keys):
        s3.delete_object(Bucket=bucket, Key=key)
    return prefix
