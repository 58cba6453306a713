"""The 3.x importer's slices and calls against the real Airflow 3.0.6 target (tests/airflow3_server.py): an import cut
into slices by a deadline ends where one import does, and the bulk entities take one call per hundred.

The target is shared with tests/test_rest_import_entities.py and tests/test_rest_import_runs.py (the `first_import`
fixture, tests/airflow_fixtures.py); each test here leaves it as the first import left it.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

from mwaa_cutover.archive import LocalArchive, read_run_ids
from mwaa_cutover.rest_import import CHUNK_ENTITIES, ImportOptions, ImportResult, import_archive
from tests.airflow3_server import RESET, Airflow3Server, read_back, transport
from tests.import_source import SourceArchive
from tests.synthetic_archive import bulk_entities, write_archive

# What the bulk benchmark wrote, removed again so the shared target holds the first import's state.
BENCH_CLEANUP = """
from airflow.models import Connection, Pool, Variable
from airflow.utils.session import create_session
with create_session() as s:
    for column in (Variable.key, Connection.conn_id, Pool.pool):
        s.query(column.class_).filter(column.startswith("bench_")).delete(synchronize_session=False)
print("{}")
"""


def test_sliced_import_ends_where_one_import_does(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive, tmp_path: Path
) -> None:
    airflow3.python(RESET)
    assert read_back(airflow3)["runs"] == []
    archive = LocalArchive(source_archive.copy(tmp_path))
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
            options=ImportOptions(now=source_archive.now()),
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
    rows = bulk_entities(number)
    root = tmp_path / "bench"
    write_archive(root, rows)
    api = transport(airflow3)
    started = time.monotonic()
    try:
        result = import_archive(
            transport=api, archive=LocalArchive(root), options=ImportOptions(now=datetime.datetime.now(datetime.UTC))
        )
        seconds = time.monotonic() - started
        state = read_back(airflow3)
    finally:
        airflow3.python(BENCH_CLEANUP)
    for entity in ("variable", "connection", "pool"):
        assert result.counts[entity]["created"] == number, entity
        assert api.by_route[entity] == -(-number // CHUNK_ENTITIES), entity
    print(f"\nbulk import of {number} each: {dict(api.by_route)} calls in {seconds:.1f} s")
    assert state["connections"]["bench_conn_999"]["password"] == "p999"
    assert state["variables"]["bench_var_0"]["val"] == "value 0"
