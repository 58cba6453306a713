"""Pause states through Airflow's REST API: list every DAG, pause them all in bulk, (un)pause chosen ones by name.

What the routes do, read from Airflow's source (v1: `api_connexion/endpoints/dag_endpoint.py`, 2.4.3 and 2.11.2;
v2: `api_fastapi/core_api/routes/public/dags.py`, 3.0.6):
- `GET /dags` pages with `limit`/`offset` (v1 caps `limit` at `[api] maximum_page_limit`, default 100; v2 has no cap)
  and lists active DAGs only unless told otherwise: v1 `only_active=false`, v2 `exclude_stale=false`. v1 orders by
  dag_id; 2.4.3 has no `paused` filter, so pause states are always filtered here, not by the server.
- `PATCH /dags` sets `is_paused` on every DAG whose id matches `dag_id_pattern` as `ILIKE '%<pattern>%'` (so `_`
  matches any one character and a pattern matches every id containing it); `~` means every DAG. The pattern is
  required: v1 rejects a request without it and v2 would search for ids containing "None". It updates one page
  (`limit`, `offset`) and answers with that page and `total_entries` (counted before the update). v1 orders the page
  by dag_id; v2 doesn't order it at all, but has the `paused` filter, so v2 pages through "still unpaused" at offset 0.
- `PATCH /dags/{dag_id}` with `update_mask=is_paused` sets one DAG; MWAA's InvokeRestApi takes a Path of at most 64
  characters, so a dag_id over 58 characters can't be named in a path: then the bulk route with the id as its
  pattern does it, when every other DAG the pattern matches may take the same state; otherwise it is reported.
Query flags are sent as the strings "true"/"false": that is how they appear in a URL whatever the transport.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mwaa_cutover.airflow_api import ApiError, PathTooLong, Transport

PAGE = 100
# Problem lists in step results are cut here (the counts stay complete): Step Functions keeps results in its
# history, 256 KB per state.
LISTED = 20
ALL = "~"
# Rounds of "pause every page, then check" before a freeze gives up (a DAG file parsed in between needs one more).
ROUNDS = 3


class PauseError(Exception):
    """DAGs that could not be put in the wanted state; names them (ids only)."""


@dataclass(frozen=True)
class DagState:
    paused: bool
    active: bool


def flag(value: bool) -> str:
    return "true" if value else "false"


def listed(ids: Iterable[str]) -> list[str]:
    """The first LISTED ids, sorted: enough to name the problem in an execution's history."""
    return sorted(ids)[:LISTED]


def _every_dag_query(transport: Transport) -> dict[str, Any]:
    if transport.api_version == "v1":
        return {"only_active": flag(False)}
    return {"exclude_stale": flag(False)}


def _state(item: dict[str, Any], api_version: str) -> DagState:
    active = bool(item.get("is_active", True)) if api_version == "v1" else not item.get("is_stale", False)
    return DagState(paused=bool(item["is_paused"]), active=active)


def list_dags(transport: Transport, *, pattern: str | None = None) -> dict[str, DagState]:
    """Every DAG the environment knows, stale/inactive ones too (they can come back when their file does)."""
    dags: dict[str, DagState] = {}
    offset = 0
    while True:
        query: dict[str, Any] = {"limit": PAGE, "offset": offset, **_every_dag_query(transport)}
        if pattern is not None:
            query["dag_id_pattern"] = pattern
        if transport.api_version == "v2":
            query["order_by"] = "dag_id"
        response = transport.request("GET", "/dags", query=query)
        items = response.get("dags") or []
        for item in items:
            dags[str(item["dag_id"])] = _state(item, transport.api_version)
        offset += len(items)
        if not items or offset >= int(response.get("total_entries", 0)):
            return dags


def _patch_pages(transport: Transport, *, pattern: str, paused: bool) -> int:
    """Sets every DAG matching `pattern` (stale ones too); returns how many the server reported in its pages."""
    query: dict[str, Any] = {"dag_id_pattern": pattern, "update_mask": "is_paused", "limit": PAGE,
                             **_every_dag_query(transport)}  # fmt: skip
    body = {"is_paused": paused}
    patched = 0
    if transport.api_version == "v2":
        # No order: page through the ones still in the other state, always at offset 0.
        query["paused"] = flag(not paused)
        for _ in range(100_000 // PAGE):
            response = transport.request("PATCH", "/dags", query=query, body=body)
            items = response.get("dags") or []
            patched += len(items)
            if not items or len(items) >= int(response.get("total_entries", 0)):
                return patched
        return patched
    offset = 0
    while True:
        response = transport.request("PATCH", "/dags", query={**query, "offset": offset}, body=body)
        items = response.get("dags") or []
        patched += len(items)
        offset += len(items)
        if not items or offset >= int(response.get("total_entries", 0)):
            return patched


def pause_all(transport: Transport) -> dict[str, Any]:
    """Pauses every DAG, stale ones too, in pages of the bulk route; checks by listing, and goes again for a DAG
    that appeared meanwhile. Raises PauseError naming what is still unpaused after ROUNDS rounds."""
    calls = transport.calls
    patched = 0
    unpaused: list[str] = []
    for _ in range(ROUNDS):
        patched += _patch_pages(transport, pattern=ALL, paused=True)
        dags = list_dags(transport)
        unpaused = [dag_id for dag_id, state in dags.items() if not state.paused]
        if not unpaused:
            return {"dags": len(dags), "patched": patched, "calls": transport.calls - calls}
    raise PauseError(
        f"{len(unpaused)} DAGs still unpaused on {transport.description} after {ROUNDS} rounds: "
        + ", ".join(listed(unpaused))
    )


def _set_one(transport: Transport, dag_id: str, *, paused: bool) -> bool:
    """False when the DAG isn't there (404); PathTooLong when its path can't be sent."""
    try:
        transport.request("PATCH", f"/dags/{dag_id}", query={"update_mask": "is_paused"}, body={"is_paused": paused})
    except ApiError as error:
        if error.status == 404 and not isinstance(error, PathTooLong):
            return False
        raise
    return True


def set_paused(
    transport: Transport, dag_ids: Iterable[str], *, paused: bool, tolerate: Collection[str] = ()
) -> dict[str, Any]:
    """Sets each DAG's pause state by name. `tolerate`: DAGs that may take the same state as a side effect (the
    bulk route for an id too long for a path also sets every other DAG its pattern matches).

    Returns {"changed": n, "absent": [ids], "absent_count": n, "unreachable": [ids], "unreachable_count": n}."""
    changed = 0
    absent: list[str] = []
    unreachable: list[str] = []
    for dag_id in dag_ids:
        try:
            done = _set_one(transport, dag_id, paused=paused)
        except PathTooLong:
            done = _set_by_pattern(transport, dag_id, paused=paused, tolerate=tolerate, unreachable=unreachable)
        if done:
            changed += 1
        elif dag_id not in unreachable:
            absent.append(dag_id)
    return {"changed": changed, "absent": listed(absent), "absent_count": len(absent),
            "unreachable": listed(unreachable), "unreachable_count": len(unreachable)}  # fmt: skip


NOTHING_SET: dict[str, Any] = {"changed": 0, "absent": [], "absent_count": 0, "unreachable": [], "unreachable_count": 0}


def add_results(total: Mapping[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """Two set_paused results (or running totals of them, e.g. across slices) as one; lists stay the first LISTED."""
    return {
        "changed": int(total["changed"]) + int(part["changed"]),
        "absent": listed([*total["absent"], *part["absent"]]),
        "absent_count": int(total["absent_count"]) + int(part["absent_count"]),
        "unreachable": listed([*total["unreachable"], *part["unreachable"]]),
        "unreachable_count": int(total["unreachable_count"]) + int(part["unreachable_count"]),
    }


def _set_by_pattern(
    transport: Transport, dag_id: str, *, paused: bool, tolerate: Collection[str], unreachable: list[str]
) -> bool:
    matches = list_dags(transport, pattern=dag_id)
    if dag_id not in matches:
        return False
    others = [other for other, state in matches.items() if other != dag_id]
    if any(matches[other].paused != paused and other not in tolerate for other in others):
        unreachable.append(dag_id)
        return False
    _patch_pages(transport, pattern=dag_id, paused=paused)
    return True


def batch_list(transport: Transport, path: str, field: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pages of a batch list route (POST; filters in the body, so the path stays short for any DAG id). Airflow
    2.4.3's task-instance list ignores the page fields and answers everything at once; the loop ends either way."""
    offset = 0
    while True:
        response = transport.request("POST", path, body={**body, "page_offset": offset, "page_limit": PAGE})
        items = response.get(field) or []
        yield from items
        offset += len(items)
        if not items or offset >= int(response.get("total_entries", 0)):
            return
