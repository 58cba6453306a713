"""The import tests' source: a real Airflow 2.10.3 metadata database on PostgreSQL, seeded through Airflow's models
(tests/import_source_harness.py) and exported by the real export into an archive folder (the `source_archive`
fixture, tests/airflow_fixtures.py). This module holds what it seeds and the names the tests refer to.

Dates are relative to the day the session starts (UTC midnight), because the target's backfill API refuses future
dates and the scheduler compares with the real clock: the daily DAG's last source interval ends yesterday, so on the
target exactly one run is due after the import (the interval [yesterday, today), due at today's midnight, on the
CronDataIntervalTimetable the deployed target gives `@daily`).
"""

from __future__ import annotations

import datetime
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UTC = datetime.UTC
SOURCE_VERSION = "2.10.3"
HARNESS = Path(__file__).resolve().parent / "import_source_harness.py"
DAILY = "imp_daily"
MANUAL = "imp_manual"
MISSING = "imp_missing"  # on the source only
NAIVE = "imp_naive"  # on the target only
LONG = "imp_" + "long_dag_id_" * 4  # 52 characters: no run path of it fits InvokeRestApi's 64
DAILY_RUNS = 20
DAILY_FAILED_DAYS_AGO = (6, 12)


@dataclass(frozen=True)
class SourceArchive:
    path: Path
    spec: dict[str, Any]
    manifest: dict[str, Any]
    today: datetime.datetime

    def dag(self, dag_id: str) -> dict[str, Any]:
        return next(dag for dag in self.spec["dags"] if dag["dag_id"] == dag_id)

    def now(self) -> datetime.datetime:
        """The import window's "now": the day's start plus a fixed 12 hours, so which runs fall in it doesn't depend
        on the clock."""
        return self.today + datetime.timedelta(hours=12)

    def copy(self, root: Path) -> Path:
        """A copy of the archive under `root`: an import writes run-ids.json into it."""
        target = root / "archive"
        shutil.copytree(self.path, target)
        return target


def _run(
    run_type: str,
    logical: datetime.datetime,
    state: str,
    *,
    interval: datetime.timedelta | None = None,
    conf: dict[str, Any] | None = None,
) -> dict[str, Any]:
    end = logical + interval if interval else logical
    return {
        "run_id": f"{run_type}__{logical.isoformat()}",
        "run_type": run_type,
        "logical_date": logical.isoformat(),
        "data_interval_start": logical.isoformat(),
        "data_interval_end": end.isoformat(),
        "state": state,
        "conf": conf or {},
    }


def build_spec(today: datetime.datetime) -> dict[str, Any]:
    day = datetime.timedelta(days=1)
    start = today - 30 * day
    # Daily intervals [D, D+1) for D = today-21 .. today-2: the last one ended yesterday at midnight.
    daily_runs = [
        _run("scheduled", today - n * day, "failed" if n in DAILY_FAILED_DAYS_AGO else "success", interval=day)
        for n in range(DAILY_RUNS + 1, 1, -1)
    ]
    daily_runs.append(_run("manual", today - 3 * day + datetime.timedelta(hours=12), "success", conf={"by": "hand"}))
    manual_runs = [
        _run("manual", today - 20 * day + datetime.timedelta(hours=10), "success", conf={"old": True}),
        _run("manual", today - 5 * day + datetime.timedelta(hours=10), "success", conf={"batch": 1, "tags": ["a"]}),
        _run("manual", today - 3 * day + datetime.timedelta(hours=10), "failed", conf={"batch": 2}),
        _run("manual", today - 1 * day + datetime.timedelta(hours=10), "success", conf={}),
        _run("manual", today - datetime.timedelta(hours=1), "running", conf={"batch": 3}),
    ]
    return {
        "variables": [
            {"key": "imp_plain", "val": "plain value", "description": None},
            {"key": "imp_json", "val": json.dumps({"a": [1, 2], "b": True}), "description": "a JSON variable"},
            {"key": "imp_api_secret", "val": "s3cr3t-value", "description": None},
        ],
        "connections": [
            {
                "conn_id": "imp_pg",
                "conn_type": "postgres",
                "host": "db.example.internal",
                "login": "etl",
                "password": "pa55-w0rd!",
                "schema": "dw",
                "port": 5432,
                "extra": json.dumps({"sslmode": "require", "token": "extra-secret"}),
                "description": "the warehouse",
            },
            {"conn_id": "imp_http", "conn_type": "http", "host": "api.example.com"},
        ],
        "pools": [
            {"name": "imp_pool_a", "slots": 3, "description": "pool a", "include_deferred": True},
            {"name": "imp_pool_b", "slots": 1, "description": None, "include_deferred": False},
        ],
        "dags": [
            {
                "dag_id": DAILY,
                "schedule": "@daily",
                "start_date": start.isoformat(),
                "paused": False,
                "runs": daily_runs,
            },
            {"dag_id": MANUAL, "schedule": None, "start_date": start.isoformat(), "paused": True, "runs": manual_runs},
            {
                "dag_id": MISSING,
                "schedule": "@daily",
                "start_date": start.isoformat(),
                "paused": False,
                "runs": [_run("scheduled", today - n * day, "success", interval=day) for n in (3, 2)],
            },
            {
                "dag_id": LONG,
                "schedule": "@daily",
                "start_date": start.isoformat(),
                "paused": False,
                "runs": [_run("scheduled", today - 2 * day, "success", interval=day)],
            },
        ],
    }
