"""`verify_import` against a real Airflow 3.0.6 after the REST import of an archive the real export wrote from a real
2.10.3 database: a clean import verifies with equal counts; each way of breaking the target afterwards (through the
REST API) shows up by name under `missing` or `different`, and no value ever appears in the report.

The target is shared by the session's modules: every break is undone in a `finally`, and what this module's import
added is removed at its end (`restored`), so the REST-import tests' counts don't depend on whether this ran first.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mwaa_cutover.airflow_api import ApiError, UrlTransport
from mwaa_cutover.archive import LocalArchive, read_manifest, read_run_ids
from mwaa_cutover.rest_import import ImportOptions, import_archive
from mwaa_cutover.verify import verify_import
from tests.airflow3_server import Airflow3Server
from tests.import_source import DAILY, MANUAL, SourceArchive

DAY = datetime.timedelta(days=1)

SNAPSHOT = """
import json, sys
from airflow.models import Connection, DagRun, Pool, Variable
from airflow.models.backfill import Backfill
from airflow.utils.session import create_session
dags = json.loads(sys.argv[1])
with create_session() as s:
    default = s.query(Pool).filter(Pool.pool == "default_pool").one()
    print(json.dumps({
        "variables": [v.key for v in s.query(Variable)],
        "connections": [c.conn_id for c in s.query(Connection)],
        "pools": [p.pool for p in s.query(Pool)],
        "runs": [r.id for r in s.query(DagRun).filter(DagRun.dag_id.in_(dags))],
        "backfills": [b.id for b in s.query(Backfill).filter(Backfill.dag_id.in_(dags))],
        "default_pool": {"slots": default.slots, "description": default.description,
                         "include_deferred": default.include_deferred},
    }))
"""

STORED_VALUE = """
import json, sys
from airflow.models import Variable
from airflow.utils.session import create_session
with create_session() as s:
    print(json.dumps(s.query(Variable).filter(Variable.key == sys.argv[1]).one().val))
"""

CLEAR_PASSWORD = """
import sys
from airflow.models import Connection
from airflow.utils.session import create_session
with create_session() as s:
    s.query(Connection).filter(Connection.conn_id == sys.argv[1]).one()._password = None
print("{}")
"""

# Removes what was added since the snapshot, among the source's own keys and DAGs only.
RESTORE = """
import json, sys
from sqlalchemy import delete
from airflow.models import Connection, DagRun, Pool, Variable
from airflow.models.backfill import Backfill, BackfillDagRun
from airflow.utils.session import create_session
before, keys = json.loads(sys.argv[1]), json.loads(sys.argv[2])
with create_session() as s:
    runs = [r.id for r in s.query(DagRun).filter(DagRun.dag_id.in_(keys["dags"]), DagRun.id.notin_(before["runs"]))]
    ours = s.query(Backfill).filter(Backfill.dag_id.in_(keys["dags"]), Backfill.id.notin_(before["backfills"]))
    backfills = [b.id for b in ours]
    s.execute(delete(BackfillDagRun).where(BackfillDagRun.backfill_id.in_(backfills)))
    s.execute(delete(BackfillDagRun).where(BackfillDagRun.dag_run_id.in_(runs)))
    s.execute(delete(DagRun).where(DagRun.id.in_(runs)))
    s.execute(delete(Backfill).where(Backfill.id.in_(backfills)))
    added = [k for k in keys["variables"] if k not in before["variables"]]
    s.execute(delete(Variable).where(Variable.key.in_(added)))
    added = [k for k in keys["connections"] if k not in before["connections"]]
    s.execute(delete(Connection).where(Connection.conn_id.in_(added)))
    added = [k for k in keys["pools"] if k not in before["pools"]]
    s.execute(delete(Pool).where(Pool.pool.in_(added)))
    s.query(Pool).filter(Pool.pool == "default_pool").update(before["default_pool"])
print("{}")
"""


def source_keys(source: SourceArchive) -> dict[str, list[str]]:
    spec = source.spec
    return {
        "variables": [v["key"] for v in spec["variables"]],
        "connections": [c["conn_id"] for c in spec["connections"]],
        "pools": [p["name"] for p in spec["pools"]],
        "dags": [d["dag_id"] for d in spec["dags"]],
    }


@contextlib.contextmanager
def restored(server: Airflow3Server, source: SourceArchive) -> Iterator[None]:
    """Leave the target as it was: whatever an import of `source` added inside the block is removed after it."""
    keys = source_keys(source)
    before = server.python(SNAPSHOT, json.dumps(keys["dags"]))
    try:
        yield
    finally:
        server.python(RESTORE, json.dumps(before), json.dumps(keys))


def secret_values(source: SourceArchive) -> list[str]:
    """Every value the source seeded that must never appear in a report or an output: variable values, connection
    passwords, extras and the extras' values."""
    values = [str(v["val"]) for v in source.spec["variables"]]
    for connection in source.spec["connections"]:
        for field in ("password", "extra"):
            if connection.get(field):
                values.append(str(connection[field]))
        if connection.get("extra"):
            values.extend(str(value) for value in json.loads(connection["extra"]).values())
    assert {"pa55-w0rd!", "extra-secret", "s3cr3t-value", "plain value"} <= set(values)
    return values


def assert_no_values(text: str, source: SourceArchive) -> None:
    for value in secret_values(source):
        assert value not in text, f"a seeded value appears: {value[:3]}..."


def api(server: Airflow3Server) -> UrlTransport:
    return UrlTransport(base_url=server.base_url, api_version="v2", token=server.token())


def shown(server: Airflow3Server, path: str) -> dict[str, Any] | None:
    """What a GET answers now; None for a 404."""
    try:
        answer: dict[str, Any] = api(server).request("GET", path)
    except ApiError as error:
        assert error.status == 404, error
        return None
    return answer


def settle(server: Airflow3Server, path: str, check: Callable[[dict[str, Any] | None], bool]) -> None:
    """Wait until a GET shows the previous write: 3.0.6's api-server commits after it has answered (run_import.py,
    `_visible`), so a verify started right after a write could read the row as it was."""
    server.wait_for(f"{path} to show the change", lambda: check(shown(server, path)), timeout=30, interval=0.1)


def copy_archive(source: SourceArchive, root: Path) -> Path:
    target = root / "archive"
    shutil.copytree(source.path, target)
    return target


@pytest.fixture(scope="module")
def imported(
    airflow3: Airflow3Server, source_archive: SourceArchive, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A copy of the source archive, imported into the target (its run-ids.json written by the import)."""
    path = copy_archive(source_archive, tmp_path_factory.mktemp("verify"))
    with restored(airflow3, source_archive):
        now = source_archive.today + datetime.timedelta(hours=12)
        result = import_archive(transport=api(airflow3), archive=LocalArchive(path), options=ImportOptions(now=now))
        assert result.cursor is None
        assert all(counts["refused"] == 0 for entity, counts in result.counts.items() if entity != "dag_run")
        yield path


def verify(server: Airflow3Server, path: Path, source: SourceArchive) -> dict[str, Any]:
    archive = LocalArchive(path)
    report = verify_import(transport=api(server), archive=archive, manifest=read_manifest(archive))
    assert_no_values(json.dumps(report), source)
    return report


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["entity"]: check for check in report["checks"]}


def problems(report: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Only the checks that found something: {entity: {"missing": [...], "different": [...]}}."""
    return {
        check["entity"]: {"missing": check["missing"], "different": check["different"]}
        for check in report["checks"]
        if check["missing_count"] or check["different_count"]
    }


def test_a_clean_import_verifies_with_equal_counts(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    report = verify(airflow3, imported, source_archive)
    assert report["ok"] is True, problems(report)
    assert report["export_id"] == source_archive.manifest["export_id"]
    assert report["target"] == airflow3.base_url
    by_entity = checks(report)
    run_ids = read_run_ids(LocalArchive(imported))
    expected = {
        "variables": len(source_archive.spec["variables"]),
        "connections": len(source_archive.spec["connections"]),
        "pools": len(source_archive.spec["pools"]) + 1,  # the source's default_pool too
        "dag runs": sum(len(mapping) for mapping in run_ids.values()),
    }
    assert set(run_ids) == {DAILY, MANUAL}
    assert expected["dag runs"] == 9  # 6 of the daily DAG's, 3 finished manual runs
    for entity, count in expected.items():
        check = by_entity[entity]
        assert (check["archive"], check["matching"]) == (count, count), entity
        assert check["target"] >= count, entity  # other tests' entities may be there too
        assert (check["missing_count"], check["different_count"]) == (0, 0), entity
    # imp_api_secret: the API shows "***" for a key with "secret" in it; it matches by presence.
    assert by_entity["variables"]["redacted"] == 1


@contextlib.contextmanager
def variable_changed(server: Airflow3Server, source: SourceArchive, key: str, value: str | None) -> Iterator[None]:
    """The variable set to `value` (None: deleted) inside the block, and back to the source's afterwards."""
    transport = api(server)
    original = next(v for v in source.spec["variables"] if v["key"] == key)
    path = f"/variables/{key}"
    if value is None:
        transport.request("DELETE", path)
        settle(server, path, lambda found: found is None)
    else:
        transport.request("PATCH", path, body={"key": key, "value": value})
        settled(server, key, value)
    try:
        yield
    finally:
        entity = {"key": key, "value": original["val"], "description": original["description"]}
        actions = [{"action": "create", "entities": [entity], "action_on_existence": "overwrite"}]
        transport.request("PATCH", "/variables", body={"actions": actions})
        settled(server, key, original["val"])


def settled(server: Airflow3Server, key: str, value: str) -> None:
    """Wait until the variable's new value shows; one the API redacts is read through Airflow's models instead."""
    path = f"/variables/{key}"
    settle(server, path, lambda found: found is not None and found["value"] in (value, "***"))
    if (shown(server, path) or {}).get("value") == "***":
        server.wait_for(f"{key}'s value stored", lambda: server.python(STORED_VALUE, key) == value, timeout=30)


def test_a_deleted_variable_is_missing(airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive) -> None:
    with variable_changed(airflow3, source_archive, "imp_plain", None):
        report = verify(airflow3, imported, source_archive)
    assert report["ok"] is False
    assert problems(report) == {"variables": {"missing": ["imp_plain"], "different": []}}
    variables = checks(report)["variables"]
    assert (variables["missing_count"], variables["matching"], variables["archive"]) == (1, 2, 3)
    assert verify(airflow3, imported, source_archive)["ok"] is True  # restored


def test_a_changed_variable_is_different(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    with variable_changed(airflow3, source_archive, "imp_json", json.dumps({"a": [1, 2], "b": False})):
        report = verify(airflow3, imported, source_archive)
    assert problems(report) == {"variables": {"missing": [], "different": ["imp_json"]}}
    assert checks(report)["variables"]["different_count"] == 1


def test_a_redacted_variable_matches_by_presence_only(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    # The API never shows its value, so another value still matches (what verify can't see, it doesn't claim)...
    with variable_changed(airflow3, source_archive, "imp_api_secret", "another value"):
        report = verify(airflow3, imported, source_archive)
    assert report["ok"] is True, problems(report)
    assert checks(report)["variables"]["redacted"] == 1
    # ... but its absence is seen.
    with variable_changed(airflow3, source_archive, "imp_api_secret", None):
        report = verify(airflow3, imported, source_archive)
    assert problems(report) == {"variables": {"missing": ["imp_api_secret"], "different": []}}
    assert checks(report)["variables"]["redacted"] == 0


def test_a_pool_with_other_slots_is_different(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    transport = api(airflow3)
    original = next(p for p in source_archive.spec["pools"] if p["name"] == "imp_pool_a")
    path = "/pools/imp_pool_a"

    def set_slots(slots: int) -> None:
        transport.request("PATCH", path, query={"update_mask": "slots"}, body={"slots": slots})
        settle(airflow3, path, lambda found: found is not None and found["slots"] == slots)

    set_slots(7)
    try:
        report = verify(airflow3, imported, source_archive)
    finally:
        set_slots(original["slots"])
    assert problems(report) == {"pools": {"missing": [], "different": ["imp_pool_a"]}}
    pools = checks(report)["pools"]
    assert (pools["different_count"], pools["matching"], pools["archive"]) == (1, 2, 3)


def test_a_connection_without_its_password_is_different(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    # Through Airflow's models: the REST API can't remove a password (3.0.6's Connection.set_password ignores None,
    # so PATCH {"password": null} keeps it).
    transport = api(airflow3)
    original = next(c for c in source_archive.spec["connections"] if c["conn_id"] == "imp_pg")
    path = "/connections/imp_pg"
    airflow3.python(CLEAR_PASSWORD, "imp_pg")
    try:
        assert (shown(airflow3, path) or {}).get("password") is None  # really gone, not just redacted
        report = verify(airflow3, imported, source_archive)
    finally:
        body = {"connection_id": "imp_pg", "conn_type": original["conn_type"], "password": original["password"]}
        transport.request("PATCH", path, query={"update_mask": "password"}, body=body)
        settle(airflow3, path, lambda found: found is not None and found["password"] is not None)
    assert problems(report) == {"connections": {"missing": [], "different": ["imp_pg"]}}
    assert checks(report)["connections"]["different_count"] == 1
    assert verify(airflow3, imported, source_archive)["ok"] is True  # restored


def test_a_deleted_connection_is_missing(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    transport = api(airflow3)
    original = next(c for c in source_archive.spec["connections"] if c["conn_id"] == "imp_http")
    path = "/connections/imp_http"
    transport.request("DELETE", path)
    settle(airflow3, path, lambda found: found is None)
    try:
        report = verify(airflow3, imported, source_archive)
    finally:
        body = {"connection_id": "imp_http", "conn_type": original["conn_type"], "host": original["host"]}
        transport.request("POST", "/connections", body=body)
        settle(airflow3, path, lambda found: found is not None)
    assert problems(report) == {"connections": {"missing": ["imp_http"], "different": []}}


def test_a_run_marked_failed_is_different(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    # The daily DAG's run of 5 days ago: a success on the source, not the anchor (the converted backfill run).
    logical = (source_archive.today - 5 * DAY).isoformat()
    old = next(run["run_id"] for run in source_archive.dag(DAILY)["runs"] if run["logical_date"] == logical)
    assert next(r["state"] for r in source_archive.dag(DAILY)["runs"] if r["run_id"] == old) == "success"
    new = read_run_ids(LocalArchive(imported))[DAILY][old]
    transport = api(airflow3)
    path = f"/dags/{DAILY}/dagRuns/{new}"

    def set_state(state: str) -> None:
        transport.request("PATCH", path, body={"state": state})
        settle(airflow3, path, lambda found: found is not None and found["state"] == state)

    set_state("failed")
    try:
        report = verify(airflow3, imported, source_archive)
    finally:
        set_state("success")
    assert problems(report) == {"dag runs": {"missing": [], "different": [f"{DAILY}/{old}"]}}
    runs = checks(report)["dag runs"]
    assert (runs["different_count"], runs["matching"], runs["archive"]) == (1, 8, 9)
    assert verify(airflow3, imported, source_archive)["ok"] is True  # restored


def test_everything_broken_at_once_is_counted_per_entity(
    airflow3: Airflow3Server, imported: Path, source_archive: SourceArchive
) -> None:
    with (
        variable_changed(airflow3, source_archive, "imp_plain", None),
        variable_changed(airflow3, source_archive, "imp_json", "[]"),
    ):
        report = verify(airflow3, imported, source_archive)
    assert report["ok"] is False
    variables = checks(report)["variables"]
    assert (variables["missing"], variables["different"]) == (["imp_plain"], ["imp_json"])
    assert (variables["missing_count"], variables["different_count"], variables["matching"]) == (1, 1, 1)
    assert set(problems(report)) == {"variables"}
