"""The 3.x importer against a real Airflow 3.0.6 (api-server, dag-processor, and the scheduler for continuity), on an
archive the real export wrote from a real Airflow 2.10.3 database; everything read back through Airflow's models.

The tests share one target and run in file order: the first import, read-backs, a repeat, on_existing modes, the
sliced import (which resets the target and must end where the first import did), and last the scheduler.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.airflow3_server import Airflow3Server, airflow3
from tests.import_source import (
    DAILY,
    DAILY_FAILED_DAYS_AGO,
    LONG,
    MANUAL,
    MISSING,
    NAIVE,
    REPO_ROOT,
    SourceArchive,
    import_postgres,
    source_archive,
)

CUTOVER_DIR = REPO_ROOT / "lambda" / "cutover"
if str(CUTOVER_DIR) not in sys.path:  # until tests/conftest.py puts it there
    sys.path.insert(0, str(CUTOVER_DIR))

from airflow_api import ApiError, UrlTransport  # noqa: E402
from archive import LocalArchive, read_run_ids  # noqa: E402
from rest_import import CHUNK_ENTITIES, ImportOptions, ImportResult, import_archive  # noqa: E402
from row_mapping import SourceRun, new_run_id, select_runs  # noqa: E402

__all__ = ["airflow3", "import_postgres", "source_archive"]  # fixtures, imported for pytest

DAY = datetime.timedelta(days=1)

READ_BACK = """
import json
from airflow.models import Connection, DagRun, Pool, Variable
from airflow.utils.session import create_session
with create_session() as s:
    variables = {v.key: {"val": v.val, "description": v.description} for v in s.query(Variable)}
    connections = {
        c.conn_id: {f: getattr(c, f) for f in
                    ("conn_type", "host", "login", "password", "schema", "port", "extra", "description")}
        for c in s.query(Connection)
    }
    pools = {p.pool: {"slots": p.slots, "description": p.description, "include_deferred": p.include_deferred}
             for p in s.query(Pool)}
    runs = sorted(
        ({"dag_id": r.dag_id, "run_id": r.run_id, "run_type": r.run_type, "state": r.state,
          "logical_date": r.logical_date.isoformat(), "data_interval_start": r.data_interval_start.isoformat(),
          "data_interval_end": r.data_interval_end.isoformat(), "conf": r.conf, "note": r.note}
         for r in s.query(DagRun)),
        key=lambda r: (r["dag_id"], r["logical_date"]),
    )
print(json.dumps({"variables": variables, "connections": connections, "pools": pools, "runs": runs}))
"""

RESET = """
from sqlalchemy import delete
from airflow.models import Connection, DagRun, Pool, Variable
from airflow.models.backfill import Backfill, BackfillDagRun
from airflow.utils.session import create_session
with create_session() as s:
    for model in (BackfillDagRun, DagRun, Backfill, Variable, Connection):
        s.execute(delete(model))
    s.execute(delete(Pool).where(Pool.pool != "default_pool"))
    s.query(Pool).filter(Pool.pool == "default_pool").update({"slots": 128, "description": "Default pool"})
print("{}")
"""


def _source_run(dag_id: str, run_id: str, run_type: str, day: int, state: str = "success") -> SourceRun:
    start = datetime.datetime(2026, 11, day, tzinfo=datetime.UTC)
    return SourceRun(dag_id, run_id, run_type, state, start, start, start + DAY, {})


def test_new_run_ids_fit_the_mwaa_path_and_avoid_reserved_prefixes() -> None:
    manual = _source_run("etl", "manual__2026-11-20T00:00:00+00:00", "manual", 20)
    custom = _source_run("etl", "nightly-fix.1", "manual", 20)
    scheduled = _source_run("etl", "scheduled__2026-11-20T00:00:00+00:00", "scheduled", 20)
    assert new_run_id(custom) == "nightly-fix.1"  # kept: URL-safe, a manual run may carry it, and it fits
    assert new_run_id(manual) == "imported__20261120T000000Z"  # ':' and '+' are not sent in an MWAA path
    assert new_run_id(scheduled) == "imported__20261120T000000Z"  # 'scheduled__' is refused for a manual run
    medium = _source_run("d" * 30, "scheduled__x", "scheduled", 20)
    assert new_run_id(medium) == "i20261120T000000Z"
    assert len(f"/dags/{'d' * 30}/dagRuns/i20261120T000000Z") <= 64
    assert new_run_id(_source_run("d" * 40, "scheduled__x", "scheduled", 20)) is None


def test_the_window_keeps_each_dags_latest_run_and_last_finished_scheduled_run() -> None:
    runs = [
        _source_run("a", "scheduled__1", "scheduled", 1),
        _source_run("a", "scheduled__2", "scheduled", 2),
        _source_run("a", "manual__3", "manual", 3),
        _source_run("a", "scheduled__4", "scheduled", 4, state="running"),
        _source_run("b", "manual__1", "manual", 1),
    ]
    selected = select_runs(runs, since=datetime.datetime(2026, 11, 10, tzinfo=datetime.UTC))
    # Nothing in the window: a's last finished scheduled run (what its scheduler resumes after) and its latest run
    # (running: reported, not imported); b's latest run.
    assert [run.run_id for run in selected["a"]] == ["scheduled__2", "scheduled__4"]
    assert [run.run_id for run in selected["b"]] == ["manual__1"]


class CountingTransport:
    """A UrlTransport that also counts its calls per entity (by route), for the benchmark figures."""

    def __init__(self, inner: UrlTransport) -> None:
        self.inner = inner
        self.api_version = inner.api_version
        self.description = inner.description
        self.by_route: Counter[str] = Counter()
        self.calls = 0

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        before = self.inner.calls
        try:
            return self.inner.request(method, path, query=query, body=body)
        finally:
            route = path.split("/")[1]
            kind = {"variables": "variable", "pools": "pool", "connections": "connection"}.get(route, "dag_run")
            self.by_route[kind] += self.inner.calls - before
            self.calls = self.inner.calls


def transport(server: Airflow3Server) -> CountingTransport:
    return CountingTransport(UrlTransport(base_url=server.base_url, api_version="v2", token=server.token()))


def copy_archive(source: SourceArchive, root: Path) -> Path:
    target = root / "archive"
    shutil.copytree(source.path, target)
    return target


def now_for(source: SourceArchive) -> datetime.datetime:
    # The window's "now": the day's start plus a fixed 12 hours, so which runs fall in it doesn't depend on the clock.
    return source.today + datetime.timedelta(hours=12)


def read_back(server: Airflow3Server) -> dict[str, Any]:
    """The target's entities and runs, through Airflow's models (the twin DAG's own test run left out)."""
    result: dict[str, Any] = server.python(READ_BACK)
    result["runs"] = [run for run in result["runs"] if run["dag_id"] != NAIVE]
    return result


def iso(value: str) -> str:
    return datetime.datetime.fromisoformat(value).isoformat()


def expected_runs(source: SourceArchive, dag_id: str) -> list[dict[str, Any]]:
    """What the target must hold for one DAG: the window's finished runs, as the importer maps them."""
    since = now_for(source) - 7 * DAY
    runs = [run for run in source.dag(dag_id)["runs"] if datetime.datetime.fromisoformat(run["logical_date"]) >= since]
    scheduled = [run for run in runs if run["run_type"] == "scheduled"]
    anchor = max(scheduled, key=lambda run: run["logical_date"]) if scheduled else None
    out = []
    for run in runs:
        if run["state"] not in ("success", "failed"):
            continue
        logical = datetime.datetime.fromisoformat(run["logical_date"])
        # 2.x ids have ':' and '+': renamed (the old id is in the note and the map).
        new_id = "imported__" + logical.strftime("%Y%m%dT%H%M%SZ")
        out.append(
            {
                "dag_id": dag_id,
                "run_id": new_id,
                "run_type": "backfill" if run is anchor else "manual",
                "state": run["state"],
                "logical_date": iso(run["logical_date"]),
                "data_interval_start": iso(run["data_interval_start"]),
                "data_interval_end": iso(run["data_interval_end"]),
                "conf": run["conf"],
                "note": "old_run_id=" + run["run_id"],
            }
        )
    return sorted(out, key=lambda run: run["logical_date"])


@pytest.fixture(scope="module")
def first_import(
    airflow3: Airflow3Server, source_archive: SourceArchive, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    archive_path = copy_archive(source_archive, tmp_path_factory.mktemp("first"))
    api = transport(airflow3)
    started = time.monotonic()
    result = import_archive(
        transport=api, archive=LocalArchive(archive_path), options=ImportOptions(now=now_for(source_archive))
    )
    return {
        "result": result,
        "seconds": time.monotonic() - started,
        "by_route": dict(api.by_route),
        "state": read_back(airflow3),
        "run_ids": read_run_ids(LocalArchive(archive_path)),
        "archive": archive_path,
    }


def test_entities_read_back_equal_through_airflows_models(
    first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    state = first_import["state"]
    spec = source_archive.spec
    assert state["variables"] == {
        v["key"]: {"val": v["val"], "description": v["description"]} for v in spec["variables"]
    }
    # Every field, the password and the extra included, as the 2.10.3 source held them.
    fields = ("conn_type", "host", "login", "password", "schema", "port", "extra", "description")
    assert state["connections"] == {c["conn_id"]: {f: c.get(f) for f in fields} for c in spec["connections"]}
    expected_pools = {p["name"]: {k: p[k] for k in ("slots", "description", "include_deferred")} for p in spec["pools"]}
    expected_pools["default_pool"] = {"slots": 128, "description": "Default pool", "include_deferred": False}
    assert state["pools"] == expected_pools
    counts = first_import["result"].counts
    assert counts["variable"] == {"created": 3, "updated": 0, "skipped": 0, "refused": 0}
    assert counts["connection"] == {"created": 2, "updated": 0, "skipped": 0, "refused": 0}
    # default_pool exists on every target: overwritten with the source's.
    assert counts["pool"] == {"created": 2, "updated": 1, "skipped": 0, "refused": 0}


def test_runs_read_back_with_state_dates_conf_and_note(
    first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    runs = first_import["state"]["runs"]
    for dag_id in (DAILY, MANUAL):
        assert [run for run in runs if run["dag_id"] == dag_id] == expected_runs(source_archive, dag_id), dag_id
    daily = [run for run in runs if run["dag_id"] == DAILY]
    # The window (7 days before now) holds 5 daily intervals (one failed on the source) and a manual run.
    assert len(daily) == 6
    assert sum(run["state"] == "failed" for run in daily) == sum(1 for n in DAILY_FAILED_DAYS_AGO if n <= 6) == 1
    assert [run["run_type"] for run in daily].count("backfill") == 1
    assert {run["dag_id"] for run in runs} == {DAILY, MANUAL}
    # Calls: GET /dags once, one listing per DAG, 2 per run (POST, PATCH), 5 more for each DAG's anchor (GET, POST
    # /backfills, GET, PATCH, PUT cancel); a few more only when the api-server's commit lags (see run_import).
    imported = len(runs)
    calls = first_import["by_route"]["dag_run"]
    least = 1 + 2 + 2 * imported + 5
    assert least <= calls <= least + imported  # the extra: waits and retries, more when the machine is busy
    print(f"\nruns: {imported} imported in {calls} calls ({calls / imported:.2f} per run)")
    # The old -> new map, for the log copy.
    run_ids = first_import["run_ids"]
    assert run_ids[DAILY] == {run["note"].removeprefix("old_run_id="): run["run_id"] for run in daily}
    assert set(run_ids) == {DAILY, MANUAL}


def test_what_cant_be_guaranteed_is_named(first_import: dict[str, Any], source_archive: SourceArchive) -> None:
    result: ImportResult = first_import["result"]
    reasons = {item["dag_id"]: item["reason"] for item in result.unguaranteed}
    assert set(reasons) == {MISSING, LONG}
    assert reasons[MISSING].startswith("not on the target")
    assert "64-character path" in reasons[LONG]
    refused = {(item["entity"], item["key"]) for item in result.refused}
    running = next(run for run in source_archive.dag(MANUAL)["runs"] if run["state"] == "running")
    assert refused == {("dag_run", MISSING), ("dag_run", LONG), ("dag_run", f"{MANUAL}/{running['run_id']}")}
    assert result.cursor is None
    # No secret in what the import returns.
    text = result.to_json()
    for secret in ("pa55-w0rd!", "extra-secret", "s3cr3t-value", "plain value"):
        assert secret not in text


def test_next_dagrun_is_the_interval_after_the_last_imported_one(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    # The source's last interval of the daily DAG is [today-2, today-1), run at today-1: on the target (Airflow 3's
    # @daily is a CronTriggerTimetable) the next run must fire at today 00:00 — not today-1 (a re-run), not later (a
    # gap), not the start date (a backfill of what the window left out).
    today = source_archive.today
    api = transport(airflow3)

    def next_dagrun() -> Any:
        dag = api.request("GET", f"/dags/{DAILY}")
        return dag["next_dagrun_logical_date"] if dag["next_dagrun_logical_date"] != _z(today - 30 * DAY) else None

    value = airflow3.wait_for("the dag-processor to re-parse", next_dagrun, timeout=60)
    dag = api.request("GET", f"/dags/{DAILY}")
    assert value == _z(today)
    assert dag["next_dagrun_run_after"] == _z(today)
    assert dag["is_paused"] is True


def _z(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_why_the_source_interval_is_kept(airflow3: Airflow3Server, source_archive: SourceArchive) -> None:
    """Evidence for run_import's mapping, on the daily DAG's twin: the backfill API alone gives its run the target
    timetable's own interval ([D, D] on Airflow 3's @daily), so the next run fires at D+1, when the source already
    ran [D, D+1): a re-run. The importer keeps the source's interval, and the next run fires at D+2 (test above)."""
    api = transport(airflow3)
    day = source_archive.today - 2 * DAY
    body = {"dag_id": NAIVE, "from_date": _z(day), "to_date": _z(day), "max_active_runs": 1}
    backfill = api.request("POST", "/backfills", body=body)

    def the_run() -> Any:
        runs = api.request("GET", f"/dags/{NAIVE}/dagRuns", query={"run_type": "backfill"})["dag_runs"]
        return runs[0] if runs else None

    run = airflow3.wait_for("the backfill's run", the_run, timeout=30)
    path = f"/dags/{NAIVE}/dagRuns/{run['dag_run_id']}"

    def marked() -> bool:
        try:
            api.request("PATCH", path, body={"state": "success"})
        except ApiError as error:  # the backfill's commit may not show yet
            assert error.status == 404
            return False
        return True

    airflow3.wait_for("the run marked", marked, timeout=30, interval=0.2)
    api.request("PUT", f"/backfills/{backfill['id']}/cancel")
    assert (run["data_interval_start"], run["data_interval_end"]) == (_z(day), _z(day))

    def next_dagrun() -> Any:
        dag = api.request("GET", f"/dags/{NAIVE}")
        return dag["next_dagrun_logical_date"] if dag["next_dagrun_logical_date"] != _z(day - 28 * DAY) else None

    assert airflow3.wait_for("the dag-processor to re-parse", next_dagrun, timeout=60) == _z(day + DAY)


def test_a_repeat_changes_nothing_and_duplicates_nothing(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    result = import_archive(
        transport=transport(airflow3),
        archive=LocalArchive(first_import["archive"]),
        options=ImportOptions(now=now_for(source_archive)),
    )
    assert read_back(airflow3) == first_import["state"]
    runs = first_import["result"].counts["dag_run"]
    assert result.counts["dag_run"] == {
        "created": 0,
        "updated": 0,
        "skipped": runs["created"],
        "refused": runs["refused"],
    }
    # Overwrite mode writes the same values again: nothing new is created.
    assert all(result.counts[entity]["created"] == 0 for entity in ("variable", "pool", "connection"))
    assert result.unguaranteed == first_import["result"].unguaranteed


def test_an_unpaused_dag_gets_no_runs_and_is_named(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    api = transport(airflow3)
    api.request("PATCH", f"/dags/{MANUAL}", query={"update_mask": "is_paused"}, body={"is_paused": False})
    try:
        result = import_archive(
            transport=api,
            archive=LocalArchive(first_import["archive"]),
            options=ImportOptions(now=now_for(source_archive)),
        )
    finally:
        api.request("PATCH", f"/dags/{MANUAL}", query={"update_mask": "is_paused"}, body={"is_paused": True})
    reasons = {item["dag_id"]: item["reason"] for item in result.unguaranteed}
    assert reasons[MANUAL].startswith("unpaused on the target")
    assert {"entity": "dag_run", "key": MANUAL, "reason": "4 runs not imported"} in result.refused
    assert read_back(airflow3) == first_import["state"]


def test_on_existing_skip_fail_and_overwrite(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    api = transport(airflow3)
    stale = {"key": "imp_plain", "value": "stale from a rehearsal", "description": None}
    api.request("PATCH", "/variables", body={"actions": [{"action": "update", "entities": [stale]}]})
    archive = LocalArchive(first_import["archive"])
    now = now_for(source_archive)

    skipped = import_archive(transport=api, archive=archive, options=ImportOptions(now=now, on_existing="skip"))
    assert read_back(airflow3)["variables"]["imp_plain"]["val"] == "stale from a rehearsal"
    assert skipped.counts["variable"] == {"created": 0, "updated": 0, "skipped": 3, "refused": 0}

    failed = import_archive(transport=api, archive=archive, options=ImportOptions(now=now, on_existing="fail"))
    assert read_back(airflow3)["variables"]["imp_plain"]["val"] == "stale from a rehearsal"
    assert {"entity": "variable", "key": "imp_plain", "reason": "exists on the target (on_existing=fail)"} in (
        failed.refused
    )
    assert failed.counts["connection"]["refused"] == 2

    overwritten = import_archive(transport=api, archive=archive, options=ImportOptions(now=now))
    assert overwritten.counts["variable"] == {"created": 0, "updated": 3, "skipped": 0, "refused": 0}
    assert read_back(airflow3) == first_import["state"]


def test_sliced_import_ends_where_one_import_does(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive, tmp_path: Path
) -> None:
    airflow3.python(RESET)
    assert read_back(airflow3)["runs"] == []
    archive = LocalArchive(copy_archive(source_archive, tmp_path))
    api = transport(airflow3)
    ticks = [0.0]

    def clock() -> float:
        # Every look at the clock is one tick: a deadline 3 ticks away stops the import every few calls.
        ticks[0] += 1
        return ticks[0]

    cursor: dict[str, Any] | None = None
    slices = 0
    while True:
        slices += 1
        result = import_archive(
            transport=api,
            archive=archive,
            options=ImportOptions(now=now_for(source_archive)),
            cursor=json.loads(json.dumps(cursor)) if cursor else None,  # as a Lambda would carry it
            deadline=ticks[0] + 3,
            clock=clock,
        )
        cursor = result.cursor
        if cursor is None:
            break
        assert slices < 200
    single: ImportResult = first_import["result"]
    assert slices > 5
    assert result.counts == single.counts, result.refused
    assert sorted(result.refused, key=str) == sorted(single.refused, key=str)
    assert result.unguaranteed == single.unguaranteed
    assert read_back(airflow3) == first_import["state"]
    assert read_run_ids(archive) == first_import["run_ids"]


def test_bulk_calls_per_thousand(airflow3: Airflow3Server, tmp_path: Path) -> None:
    """Calls per 1,000 variables, connections and pools (bulk: at least 100 entities per call)."""
    number = 1000
    rows: dict[str, list[dict[str, Any]]] = {
        "variable": [{"key": f"bench_var_{i}", "val": f"value {i}", "description": None} for i in range(number)],
        "connection": [
            {"conn_id": f"bench_conn_{i}", "conn_type": "http", "host": "h", "password": f"p{i}", "extra": "{}"}
            for i in range(number)
        ],
        "slot_pool": [{"pool": f"bench_pool_{i}", "slots": 1, "description": None} for i in range(number)],
    }
    root = tmp_path / "bench"
    write_archive(root, rows)
    api = transport(airflow3)
    started = time.monotonic()
    result = import_archive(
        transport=api, archive=LocalArchive(root), options=ImportOptions(now=datetime.datetime.now(datetime.UTC))
    )
    seconds = time.monotonic() - started
    for entity in ("variable", "connection", "pool"):
        assert result.counts[entity]["created"] == number, entity
        assert api.by_route[entity] == -(-number // CHUNK_ENTITIES), entity
    print(f"\nbulk import of {number} each: {dict(api.by_route)} calls in {seconds:.1f} s")
    state = read_back(airflow3)
    assert state["connections"]["bench_conn_999"]["password"] == "p999"
    assert state["variables"]["bench_var_0"]["val"] == "value 0"


def write_archive(root: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """A minimal archive in the export's layout (what archive.py checks: sizes, checksums, row counts)."""
    manifest: dict[str, Any] = {
        "format": 1,
        "migration": "bench",
        "export_id": "bench",
        "source": {"airflow_version": "2.10.3", "alembic_revision": "5f2621c13b39", "dialect": "postgresql"},
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:00:01+00:00",
        "since": None,
        "tables": {},
        "secrets": {},
        "paused": [],
        "warnings": [],
    }
    for name, items in rows.items():
        section = "secrets" if name in ("variable", "connection") else "tables"
        key = f"secrets/{name}.jsonl.gz" if section == "secrets" else f"tables/{name}/part-00000.jsonl.gz"
        data = gzip.compress("".join(json.dumps(item) + "\n" for item in items).encode())
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        part = {"key": key, "rows": len(items), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        columns = dict.fromkeys(items[0], "VARCHAR")
        manifest[section][name] = {"rows": len(items), "columns": columns, "parts": [part]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_the_scheduler_resumes_exactly_after_the_last_imported_interval(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    """The issue's "Done when": unpaused with a real scheduler, the daily DAG gets exactly the next run (today's),
    and nothing for the source's last interval again nor for the 15 intervals the import window left out."""
    api = transport(airflow3)
    before = {run["run_id"] for run in read_back(airflow3)["runs"] if run["dag_id"] == DAILY}
    api.request("PATCH", f"/dags/{DAILY}", query={"update_mask": "is_paused"}, body={"is_paused": False})
    airflow3.start("scheduler", "scheduler")
    try:

        def new_runs() -> list[dict[str, Any]]:
            runs = read_back(airflow3)["runs"]
            return [run for run in runs if run["dag_id"] == DAILY and run["run_id"] not in before]

        airflow3.wait_for("the scheduler's first run", new_runs, timeout=120)
        # A few more scheduler loops: anything else it meant to create would show now.
        time.sleep(8)
        created = new_runs()
    finally:
        api.request("PATCH", f"/dags/{DAILY}", query={"update_mask": "is_paused"}, body={"is_paused": True})
        airflow3.stop("scheduler")
    today = source_archive.today.isoformat()
    assert [(run["run_type"], run["logical_date"]) for run in created] == [("scheduled", today)]
    assert created[0]["data_interval_end"] == today
    assert (
        len({run["logical_date"] for run in read_back(airflow3)["runs"] if run["dag_id"] == DAILY}) == len(before) + 1
    )
