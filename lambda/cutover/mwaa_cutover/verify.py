"""Compare what the archive holds with what the new environment now has, through the REST API.

Counts and keys, never values: the report is written to the bucket and printed. The API redacts secrets (a
connection's password, sensitive variables and extras come back as "***"), so those are compared by presence. Runs
are checked through the importer's old -> new run id map: every mapped run must exist with the archive's state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.archive import Archive, iter_rows, iter_secret_rows, read_run_ids

REDACTED = "***"
PAGE = 100
# Names listed per problem in the report; the counts are always complete.
LISTED = 20
CONNECTION_FIELDS = ("conn_type", "host", "login", "schema", "port")


def verify_import(
    *,
    transport: Transport,
    archive: Archive,
    manifest: Mapping[str, Any],
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _stage, _done, _total: None)
    checks = []
    say("verify variables", 0, 4)
    checks.append(_variables(transport, archive, manifest))
    say("verify pools", 1, 4)
    checks.append(_pools(transport, archive, manifest))
    say("verify connections", 2, 4)
    checks.append(_connections(transport, archive, manifest))
    say("verify runs", 3, 4)
    checks.append(_runs(transport, archive, manifest))
    say("verify", 4, 4)
    return {
        "format": 1,
        "migration": manifest.get("migration"),
        "export_id": manifest.get("export_id"),
        "target": getattr(transport, "description", ""),
        "ok": all(not check["missing"] and not check["different"] for check in checks),
        "checks": checks,
    }


def _check(entity: str, archive_count: int) -> dict[str, Any]:
    return {
        "entity": entity,
        "archive": archive_count,
        "target": 0,
        "matching": 0,
        "redacted": 0,
        "missing": [],
        "different": [],
        "missing_count": 0,
        "different_count": 0,
    }


def _note(check: dict[str, Any], kind: str, name: str) -> None:
    check[f"{kind}_count"] += 1
    if len(check[kind]) < LISTED:
        check[kind].append(name)


def _pages(transport: Transport, path: str, field: str) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        response = transport.request("GET", path, query={"limit": PAGE, "offset": offset})
        items = response.get(field) or []
        yield from items
        offset += len(items)
        if not items or offset >= int(response.get("total_entries", 0)):
            return


def same_value(archived: Any, shown: Any) -> bool | None:
    """True or False when comparable; None when the API redacted the value (then only its presence counts)."""
    if shown == REDACTED:
        return None
    if archived == shown:
        return True
    try:
        left, right = json.loads(archived), json.loads(shown)
    except (TypeError, ValueError):
        return False
    return _same_json(left, right)


def _same_json(archived: Any, shown: Any) -> bool:
    if shown == REDACTED:
        return True
    if isinstance(archived, dict) and isinstance(shown, dict):
        return archived.keys() == shown.keys() and all(_same_json(archived[k], shown[k]) for k in archived)
    if isinstance(archived, list) and isinstance(shown, list):
        return len(archived) == len(shown) and all(_same_json(a, s) for a, s in zip(archived, shown, strict=True))
    return bool(archived == shown)


def _compare(check: dict[str, Any], key: str, archived: Any, shown: Any) -> None:
    same = same_value(archived, shown)
    if same is None:
        check["redacted"] += 1
        check["matching"] += 1
    elif same:
        check["matching"] += 1
    else:
        _note(check, "different", key)


def _variables(transport: Transport, archive: Archive, manifest: Mapping[str, Any]) -> dict[str, Any]:
    archived = {row["key"]: row.get("val") for row in iter_secret_rows(archive, manifest, "variable")}
    check = _check("variables", len(archived))
    shown = {item["key"]: item.get("value") for item in _pages(transport, "/variables", "variables")}
    check["target"] = len(shown)
    for key in sorted(archived):
        if key not in shown:
            _note(check, "missing", key)
        else:
            _compare(check, key, archived[key], shown[key])
    return check


def _pools(transport: Transport, archive: Archive, manifest: Mapping[str, Any]) -> dict[str, Any]:
    archived = {row["pool"]: row for row in iter_rows(archive, manifest, "slot_pool")}
    check = _check("pools", len(archived))
    shown = {item["name"]: item for item in _pages(transport, "/pools", "pools")}
    check["target"] = len(shown)
    for name in sorted(archived):
        if name not in shown:
            _note(check, "missing", name)
            continue
        row, item = archived[name], shown[name]
        fields = [("slots", "slots"), ("description", "description")]
        if "include_deferred" in row and "include_deferred" in item:
            fields.append(("include_deferred", "include_deferred"))
        if all(row.get(a) == item.get(b) for a, b in fields):
            check["matching"] += 1
        else:
            _note(check, "different", name)
    return check


def _connections(transport: Transport, archive: Archive, manifest: Mapping[str, Any]) -> dict[str, Any]:
    archived = {row["conn_id"]: row for row in iter_secret_rows(archive, manifest, "connection")}
    check = _check("connections", len(archived))
    shown = {item["connection_id"]: item for item in _pages(transport, "/connections", "connections")}
    check["target"] = len(shown)
    for conn_id in sorted(archived):
        if conn_id not in shown:
            _note(check, "missing", conn_id)
            continue
        row, item = archived[conn_id], shown[conn_id]
        same = all(row.get(field) == item.get(field) for field in CONNECTION_FIELDS)
        # Airflow 2's v1 list has no password or extra: those are compared where the API shows them.
        if "password" in item:
            same = same and bool(row.get("password")) == bool(item.get("password"))
        if "extra" in item and (row.get("extra") or item.get("extra")):
            same = same and same_value(row.get("extra"), item.get("extra")) is not False
        if same:
            check["matching"] += 1
        else:
            _note(check, "different", conn_id)
    return check


def _target_runs(transport: Transport, dag_id: str) -> dict[str, str]:
    runs: dict[str, str] = {}
    offset = 0
    while True:
        # The batch route keeps the path short whatever the DAG id's length (MWAA's 64-character limit).
        body = {"dag_ids": [dag_id], "page_offset": offset, "page_limit": PAGE}
        response = transport.request("POST", "/dags/~/dagRuns/list", body=body)
        items = response.get("dag_runs") or []
        runs.update({item["dag_run_id"]: item["state"] for item in items})
        offset += len(items)
        if not items or offset >= int(response.get("total_entries", 0)):
            return runs


def _runs(transport: Transport, archive: Archive, manifest: Mapping[str, Any]) -> dict[str, Any]:
    run_ids = read_run_ids(archive)
    states = {
        (row["dag_id"], row["run_id"]): row.get("state")
        for row in iter_rows(archive, manifest, "dag_run")
        if row["dag_id"] in run_ids
    }
    check = _check("dag runs", sum(len(mapping) for mapping in run_ids.values()))
    for dag_id in sorted(run_ids):
        shown = _target_runs(transport, dag_id)
        check["target"] += len(shown)
        for old, new in sorted(run_ids[dag_id].items()):
            name = f"{dag_id}/{old}"
            if new not in shown:
                _note(check, "missing", name)
            elif shown[new] != states.get((dag_id, old)):
                _note(check, "different", name)
            else:
                check["matching"] += 1
    return check
