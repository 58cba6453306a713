"""Rows of a 2.x archive as Airflow 3 REST API v2 entities: variables, pools, connections and DAG runs.

Pure functions. Nothing here returns or logs a secret value: refusal reasons name the key and the problem only.
The field names are 3.0.6's request bodies (airflow/api_fastapi/core_api/datamodels/{variables,pools,connections,
dag_run}.py): VariableBody {key, value, description}, PoolBody {name, slots, description, include_deferred},
ConnectionBody {connection_id, conn_type, description, host, login, schema, port, password, extra (a string)},
TriggerDAGRunPostBody {dag_run_id, logical_date, data_interval_start, data_interval_end, run_after, conf, note}.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mwaa_cutover.airflow_api import MWAA_PATH_LIMIT

# 3.0.6: ID_LEN (250) for variable keys, PoolBody.pool max_length 256, ConnectionBody.connection_id's pattern.
VARIABLE_KEY_MAX = 250
POOL_NAME_MAX = 256
CONNECTION_ID = re.compile(r"^[\w.-]{1,200}$")
# An old run id is kept only when made of URL-unreserved characters (a subset of [scheduler] allowed_run_id_pattern's
# default): it travels in InvokeRestApi's Path, whose handling of ':' and '+' (2.x ids have both) isn't documented.
KEPT_RUN_ID = re.compile(r"^[A-Za-z0-9_.~-]+$")
# DagRunType.from_run_id: an id with one of these prefixes is taken for that type, and a manual run can't use it.
RESERVED_PREFIXES = ("scheduled__", "backfill__", "asset_triggered__")
IMPORTED_PREFIX = "imported__"
FINAL_STATES = frozenset({"success", "failed"})
AUTOMATED_TYPES = frozenset({"scheduled", "backfill"})
NOTE_PREFIX = "old_run_id="


@dataclass(frozen=True)
class Refusal:
    key: str
    reason: str


def variable_entity(row: Mapping[str, Any]) -> dict[str, Any] | Refusal:
    key = row.get("key")
    if not isinstance(key, str) or not key:
        return Refusal(str(key), "no key")
    if len(key) > VARIABLE_KEY_MAX:
        return Refusal(key, f"key longer than {VARIABLE_KEY_MAX} characters")
    value = row.get("val")
    if not isinstance(value, str):
        return Refusal(key, "no value in the archive's secrets/variable")
    # The stored text as is (a JSON variable stays its JSON text): 3.0.6's bulk create serialises only a dict or list.
    return {"key": key, "value": value, "description": row.get("description")}


def pool_entity(row: Mapping[str, Any]) -> dict[str, Any] | Refusal:
    name = row.get("pool")
    if not isinstance(name, str) or not name:
        return Refusal(str(name), "no pool name")
    if len(name) > POOL_NAME_MAX:
        return Refusal(name, f"name longer than {POOL_NAME_MAX} characters")
    slots = row.get("slots")
    if not isinstance(slots, int) or isinstance(slots, bool):
        return Refusal(name, "slots is not a whole number")
    return {
        "name": name,
        "slots": slots,
        "description": row.get("description"),
        # Before 2.7 the column doesn't exist: Airflow's own default.
        "include_deferred": bool(row.get("include_deferred") or False),
    }


def connection_entity(row: Mapping[str, Any]) -> dict[str, Any] | Refusal:
    conn_id = row.get("conn_id")
    if not isinstance(conn_id, str) or not CONNECTION_ID.match(conn_id):
        return Refusal(str(conn_id), "connection id must match ^[\\w.-]+$ and have at most 200 characters")
    conn_type = row.get("conn_type")
    if not isinstance(conn_type, str) or not conn_type:
        return Refusal(conn_id, "no conn_type")
    port = row.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
        return Refusal(conn_id, "port is not a whole number")
    extra = row.get("extra")
    if extra is not None and not isinstance(extra, str):
        return Refusal(conn_id, "extra is not text")
    return {
        "connection_id": conn_id,
        "conn_type": conn_type,
        "description": row.get("description"),
        "host": row.get("host"),
        "login": row.get("login"),
        "schema": row.get("schema"),
        "port": port,
        "password": row.get("password"),
        "extra": extra,
    }


def entity_key(entity: Mapping[str, Any]) -> str:
    for field in ("key", "name", "connection_id"):
        if field in entity:
            return str(entity[field])
    raise KeyError("no key field")


# --- DAG runs --------------------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)


def iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SourceRun:
    dag_id: str
    run_id: str
    run_type: str
    state: str
    logical_date: datetime.datetime
    interval_start: datetime.datetime | None
    interval_end: datetime.datetime | None
    conf: Any

    @property
    def automated(self) -> bool:
        return self.run_type in AUTOMATED_TYPES

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def key(self) -> str:
        return f"{self.dag_id}/{self.run_id}"


def source_run(row: Mapping[str, Any]) -> SourceRun | None:
    """A 2.x `dag_run` row (`execution_date`; 3.x archives would have `logical_date`); None without a date."""
    logical = parse_time(row.get("logical_date", row.get("execution_date")))
    if logical is None or not row.get("dag_id") or not row.get("run_id"):
        return None
    return SourceRun(
        dag_id=str(row["dag_id"]),
        run_id=str(row["run_id"]),
        run_type=str(row.get("run_type") or "manual"),
        state=str(row.get("state") or ""),
        logical_date=logical,
        interval_start=parse_time(row.get("data_interval_start")),
        interval_end=parse_time(row.get("data_interval_end")),
        conf=row.get("conf"),
    )


def select_runs(runs: Iterable[SourceRun], since: datetime.datetime) -> dict[str, list[SourceRun]]:
    """Per DAG, in logical-date order: the runs at or after `since`, the DAG's latest run, and its latest finished
    scheduled or backfill run (the one the target's scheduler resumes after, wherever the window starts)."""
    by_dag: dict[str, dict[str, SourceRun]] = {}
    latest: dict[str, SourceRun] = {}
    anchor: dict[str, SourceRun] = {}
    for run in runs:
        chosen = by_dag.setdefault(run.dag_id, {})
        if run.logical_date >= since:
            chosen[run.run_id] = run
        if run.dag_id not in latest or run.logical_date > latest[run.dag_id].logical_date:
            latest[run.dag_id] = run
        newer = run.dag_id not in anchor or run.logical_date > anchor[run.dag_id].logical_date
        if run.automated and run.final and newer:
            anchor[run.dag_id] = run
    for extra in (*latest.values(), *anchor.values()):
        by_dag[extra.dag_id][extra.run_id] = extra
    return {
        dag_id: sorted(chosen.values(), key=lambda run: (run.logical_date, run.run_id))
        for dag_id, chosen in sorted(by_dag.items())
        if chosen
    }


def anchor_of(runs: Iterable[SourceRun]) -> SourceRun | None:
    """The latest finished scheduled or backfill run: imported as a backfill run, it is what the target's scheduler
    computes the next run from."""
    candidates = [run for run in runs if run.automated and run.final]
    return max(candidates, key=lambda run: run.logical_date) if candidates else None


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/dagRuns/{run_id}"


def _compact(moment: datetime.datetime) -> str:
    text = moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    return text + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"


def new_run_id(run: SourceRun) -> str | None:
    """The run's id on the target, the same on every transport (so a rehearsal and the cut-over agree): the old id
    when a manual run may carry it, it is URL-safe and `/dags/{dag_id}/dagRuns/{run_id}` fits InvokeRestApi's
    64-character Path, else `imported__<logical date>` or `i<logical date>` (unique per DAG: 2.x keeps one run per
    logical date). The old id is always in the note and in run-ids.json.
    None when not even the shortest fits: the DAG's id is too long for its runs to be updated through MWAA."""
    budget = MWAA_PATH_LIMIT - len(run_path(run.dag_id, ""))
    candidates = [IMPORTED_PREFIX + _compact(run.logical_date), "i" + _compact(run.logical_date)]
    if KEPT_RUN_ID.match(run.run_id) and not run.run_id.startswith(RESERVED_PREFIXES):
        candidates.insert(0, run.run_id)
    return next((candidate for candidate in candidates if len(candidate) <= budget), None)


def run_body(run: SourceRun, new_id: str) -> dict[str, Any] | Refusal:
    """POST /dags/{dag_id}/dagRuns: the source's logical date and data interval unchanged, the conf, and the old id in
    the note. Why the interval is kept as is: see run_import's module docstring."""
    conf = run.conf if run.conf is not None else {}
    if not isinstance(conf, dict):
        return Refusal(run.key, "conf is not a JSON object (Airflow 3 takes only objects)")
    body: dict[str, Any] = {
        "dag_run_id": new_id,
        "logical_date": iso(run.logical_date),
        "conf": conf,
        "note": NOTE_PREFIX + run.run_id,
    }
    if run.interval_start is not None and run.interval_end is not None:
        body["data_interval_start"] = iso(run.interval_start)
        body["data_interval_end"] = iso(run.interval_end)
        body["run_after"] = iso(run.interval_end)
    else:
        body["run_after"] = iso(run.logical_date)
    return body
