"""The 3.x importer's DAG runs against the real Airflow 3.0.6 target (tests/airflow3_server.py): the window, the runs
read back with their states, dates, conf and notes, the DAGs it can't guarantee named, and continuity: the next run
the dag-processor computes and the real scheduler creates is the interval after the last imported one.

The target is shared with tests/test_rest_import_calls.py and tests/test_rest_import_entities.py (the `first_import`
fixture, tests/airflow_fixtures.py). The scheduler's test comes last: it leaves the daily DAG one run further on.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from mwaa_cutover.airflow_api import ApiError
from mwaa_cutover.archive import LocalArchive
from mwaa_cutover.rest_import import ImportOptions, ImportResult, import_archive
from mwaa_cutover.row_mapping import SourceRun, new_run_id, select_runs
from mwaa_cutover.run_import import RunImporter, Tally, list_target_dags, plan_dag
from tests.airflow3_server import Airflow3Server, read_back, transport
from tests.import_source import DAILY, DAILY_FAILED_DAYS_AGO, LONG, MANUAL, MISSING, NAIVE, SourceArchive

DAY = datetime.timedelta(days=1)


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


def iso(value: str) -> str:
    return datetime.datetime.fromisoformat(value).isoformat()


def expected_runs(source: SourceArchive, dag_id: str) -> list[dict[str, Any]]:
    """What the target must hold for one DAG: the window's finished runs, as the importer maps them."""
    since = source.now() - 7 * DAY
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
    # The source's last interval of the daily DAG is [today-2, today-1), run at today-1. On the target (its @daily a
    # CronDataIntervalTimetable, as the clone configures it) the next run must be the interval [today-1, today), run
    # at today: not [today-2, today-1) again (a re-run), not later (a gap), not the start date (a backfill of what the
    # window left out).
    today = source_archive.today
    api = transport(airflow3)
    dag = airflow3.wait_for("the dag-processor to re-parse", lambda: _next_dagrun(api, DAILY, today - 30 * DAY), 60)
    assert _next_run(dag) == (_z(today - DAY), _z(today - DAY), _z(today), _z(today))
    assert dag["is_paused"] is True


def _z(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_run(dag: dict[str, Any]) -> tuple[str, str, str, str]:
    """A DAG's next run as the target computed it: logical date, data interval, and when it is due."""
    return (
        dag["next_dagrun_logical_date"],
        dag["next_dagrun_data_interval_start"],
        dag["next_dagrun_data_interval_end"],
        dag["next_dagrun_run_after"],
    )


def _next_dagrun(api: Any, dag_id: str, *not_at: datetime.datetime) -> dict[str, Any] | None:
    """The DAG, once its next run is at none of `not_at` (what it was before the dag-processor re-parsed it)."""
    dag: dict[str, Any] = api.request("GET", f"/dags/{dag_id}")
    return dag if dag["next_dagrun_logical_date"] not in (None, *map(_z, not_at)) else None


def test_why_the_source_interval_is_kept(airflow3: Airflow3Server, source_archive: SourceArchive) -> None:
    """Evidence for run_import's mapping on a trigger timetable (Airflow 3.0's default; a target whose
    create_cron_data_intervals is False), on the daily DAG's twin, whose file names CronTriggerTimetable("@daily"):
    the backfill API alone gives its run the target timetable's own interval ([D, D]), so the next run fires at D+1,
    when the source already ran [D, D+1) at D+1: a re-run. The importer's route, given the source's last run of the
    daily DAG (a 2.x @daily: [D, D+1)), keeps that interval, and the next run fires at D+2."""
    api = transport(airflow3)
    last = max(
        (run for run in source_archive.dag(DAILY)["runs"] if run["run_type"] == "scheduled"),
        key=lambda run: run["logical_date"],
    )
    day = datetime.datetime.fromisoformat(last["logical_date"])
    assert day == source_archive.today - 2 * DAY
    assert datetime.datetime.fromisoformat(last["data_interval_end"]) == day + DAY  # Airflow 2's data interval
    body = {"dag_id": NAIVE, "from_date": _z(day), "to_date": _z(day), "max_active_runs": 1}
    backfill = api.request("POST", "/backfills", body=body)

    def the_run() -> Any:
        runs = api.request("GET", f"/dags/{NAIVE}/dagRuns", query={"run_type": "backfill"})["dag_runs"]
        return runs[0] if runs else None

    run = airflow3.wait_for("the backfill's run", the_run, timeout=30, interval=0.2)
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
    start = day - 28 * DAY
    dag = airflow3.wait_for("the dag-processor to re-parse", lambda: _next_dagrun(api, NAIVE, start), 60, 0.5)
    assert _next_run(dag) == (_z(day + DAY), _z(day + DAY), _z(day + DAY), _z(day + DAY))  # a re-run of [D, D+1)

    # The importer's route for the same source run, on the same DAG.
    # Until the import, the dag-processor may put next_dagrun back at the start date.
    api.request("DELETE", path)

    def naive_runs() -> list[tuple[str, str, str, str]]:
        runs = api.request("GET", f"/dags/{NAIVE}/dagRuns")["dag_runs"]
        return [(r["run_type"], r["logical_date"], r["data_interval_start"], r["data_interval_end"]) for r in runs]

    # The api-server may commit a write after answering it: the importer's listing must not see the deleted run.
    airflow3.wait_for("the deleted run gone", lambda: naive_runs() == [], timeout=10, interval=0.1)
    source = SourceRun(NAIVE, last["run_id"], "scheduled", last["state"], day, day, day + DAY, {})
    plan, reason = plan_dag(NAIVE, [source], list_target_dags(api).get(NAIVE))
    assert (plan.anchor, reason) == (source.run_id, None)
    tally = Tally()
    RunImporter(transport=api, tally=tally, run_ids={}, on_existing="overwrite").import_dag(plan, 0, lambda: True)
    assert (tally.refused, tally.unguaranteed) == ([], [])
    imported = [("backfill", _z(day), _z(day), _z(day + DAY))]
    with contextlib.suppress(AssertionError):  # the last write's commit may lag its answer: the assert says
        airflow3.wait_for("the imported run", lambda: naive_runs() == imported, timeout=10, interval=0.1)
    assert naive_runs() == imported
    dag = airflow3.wait_for(
        "the dag-processor to re-parse", lambda: _next_dagrun(api, NAIVE, start, day + DAY), 60, 0.5
    )
    assert _next_run(dag) == (_z(day + 2 * DAY), _z(day + 2 * DAY), _z(day + 2 * DAY), _z(day + 2 * DAY))


def test_an_unpaused_dag_gets_no_runs_and_is_named(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    api = transport(airflow3)
    api.request("PATCH", f"/dags/{MANUAL}", query={"update_mask": "is_paused"}, body={"is_paused": False})
    try:
        result = import_archive(
            transport=api,
            archive=LocalArchive(first_import["archive"]),
            options=ImportOptions(now=source_archive.now()),
        )
    finally:
        api.request("PATCH", f"/dags/{MANUAL}", query={"update_mask": "is_paused"}, body={"is_paused": True})
    reasons = {item["dag_id"]: item["reason"] for item in result.unguaranteed}
    assert reasons[MANUAL].startswith("unpaused on the target")
    assert {"entity": "dag_run", "key": MANUAL, "reason": "4 runs not imported"} in result.refused
    assert read_back(airflow3) == first_import["state"]


def test_the_scheduler_resumes_exactly_after_the_last_imported_interval(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    """The issue's "Done when": unpaused with a real scheduler, the daily DAG gets exactly the next run, the interval
    [today-1, today) due at today, and nothing for the source's last interval again nor for the 15 intervals the
    import window left out."""
    today = source_archive.today
    api = transport(airflow3)

    def daily_runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = api.request("GET", f"/dags/{DAILY}/dagRuns", query={"limit": 100})["dag_runs"]
        return found

    before = {run["dag_run_id"] for run in daily_runs()}
    assert len(before) == len([run for run in first_import["state"]["runs"] if run["dag_id"] == DAILY])
    api.request("PATCH", f"/dags/{DAILY}", query={"update_mask": "is_paused"}, body={"is_paused": False})
    airflow3.start("scheduler", "scheduler")
    try:

        def settled() -> list[dict[str, Any]]:
            # The scheduler creates a DAG's due runs one per loop, moving next_dagrun on after each: once a run is
            # created and next_dagrun is due only tomorrow, it has created every run it will today.
            created = [run for run in daily_runs() if run["dag_run_id"] not in before]
            dag = api.request("GET", f"/dags/{DAILY}")
            return created if created and dag["next_dagrun_run_after"] == _z(today + DAY) else []

        created = airflow3.wait_for("the scheduler's first run and next_dagrun past it", settled, 120, 0.5)
        dag = api.request("GET", f"/dags/{DAILY}")
    finally:
        api.request("PATCH", f"/dags/{DAILY}", query={"update_mask": "is_paused"}, body={"is_paused": True})
        airflow3.stop("scheduler")
    made = [
        (run["run_type"], run["logical_date"], run["data_interval_start"], run["data_interval_end"]) for run in created
    ]
    assert made == [("scheduled", _z(today - DAY), _z(today - DAY), _z(today))]
    assert created[0]["run_after"] == _z(today)
    assert _next_run(dag) == (_z(today), _z(today), _z(today + DAY), _z(today + DAY))
    after = daily_runs()
    assert len(after) == len(before) + 1
    assert len({run["logical_date"] for run in after}) == len(after)
