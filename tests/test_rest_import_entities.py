"""The 3.x importer's variables, pools and connections against the real Airflow 3.0.6 target (tests/airflow3_server.py),
from an archive the real export wrote from a real Airflow 2.10.3 database (tests/import_source.py), read back through
Airflow's models: equal to the source, a repeat changes nothing, and the on_existing modes.

The target is shared with tests/test_rest_import_calls.py and tests/test_rest_import_runs.py (the `first_import`
fixture, tests/airflow_fixtures.py); each test here leaves it as the first import left it.
"""

from __future__ import annotations

from typing import Any

from mwaa_cutover.archive import LocalArchive
from mwaa_cutover.rest_import import ImportOptions, import_archive
from tests.airflow3_server import Airflow3Server, read_back, transport
from tests.import_source import SourceArchive


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


def test_a_repeat_changes_nothing_and_duplicates_nothing(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    result = import_archive(
        transport=transport(airflow3),
        archive=LocalArchive(first_import["archive"]),
        options=ImportOptions(now=source_archive.now()),
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


def test_on_existing_skip_fail_and_overwrite(
    airflow3: Airflow3Server, first_import: dict[str, Any], source_archive: SourceArchive
) -> None:
    api = transport(airflow3)
    stale = {"key": "imp_plain", "value": "stale from a rehearsal", "description": None}
    api.request("PATCH", "/variables", body={"actions": [{"action": "update", "entities": [stale]}]})
    archive = LocalArchive(first_import["archive"])
    now = source_archive.now()

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
