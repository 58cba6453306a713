"""REST-import benchmark (a script, not a test): mwaa_cutover.rest_import against a real Airflow 3.0.6.

Run from the repository root with `.venv/bin/python -m benchmarks.import_benchmark` once `make airflow-envs` has
built the 3.0.6 virtualenv and installed PostgreSQL's server. About a minute and a half.

A throwaway PostgreSQL cluster (tests/pg_cluster.py) holds the target's database; tests/airflow3_server.py's
Airflow3Server runs the api-server and the dag-processor, with one `@daily` DAG (catchup) on the target, paused.
The archive is synthetic, written in the export's format (manifest.json, gzip JSON-lines parts with byte counts and
sha256, `secrets/` for variables and connections): N variables, connections and pools, and RUNS finished runs of the
daily DAG ending yesterday, all inside the import window (`runs_since` = the first one's day).

Three ways of writing the same entities, each timed (wall clock) and counted (HTTP requests):
  importer  rest_import.import_archive through UrlTransport: bulk PATCH per chunk; per run a POST and a PATCH (its
            final state), plus the anchor's backfill conversion (run_import.py).
  naive     the fair per-entity REST baseline: one POST per variable, connection and pool; per run a POST and a
            PATCH (the API creates a run queued, so its final state takes a second call). Manual runs only: it
            doesn't place the DAG's next run (the importer's anchor does).
  guide     the AWS guide's import DAG: Airflow's ORM on the metadata database, one session, no API call (variables,
            connections and pools here; not possible on an Airflow 3 target, whose tasks can't reach the database).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mwaa_cutover.airflow_api import UrlTransport
from mwaa_cutover.archive import LocalArchive
from mwaa_cutover.rest_import import ImportOptions, import_archive
from tests.airflow3_server import STARTUP_SECONDS, Airflow3Server
from tests.pg_cluster import Cluster
from tests.synthetic_archive import bulk_entities, write_archive

REPO_ROOT = Path(__file__).resolve().parent.parent

DAG_ID = "bench_daily"
NAIVE_DAG_ID = "bench_naive"
KINDS = {"variables": "variable", "connections": "connection", "pools": "pool"}
ORM_IMPORT = """
import json, sys, time
from airflow.models import Connection, Pool, Variable
from airflow.utils.session import create_session
number = int(sys.argv[1])
seconds = {}
for entity in ("variable", "connection", "pool"):
    started = time.monotonic()
    with create_session() as session:
        for i in range(number):
            if entity == "variable":
                item = Variable(key=f"guide_var_{i}", val=f"value {i}")
            elif entity == "connection":
                item = Connection(conn_id=f"guide_conn_{i}", conn_type="http", host="h", password=f"p{i}")
            else:
                item = Pool(pool=f"guide_pool_{i}", slots=1, include_deferred=False)
            session.add(item)
    seconds[entity] = time.monotonic() - started
print(json.dumps(seconds))
"""


class Measured:
    """UrlTransport with requests and seconds counted per entity type (by route)."""

    def __init__(self, inner: UrlTransport) -> None:
        self.inner = inner
        self.api_version = inner.api_version
        self.description = inner.description
        self.calls = 0
        self.by_kind: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        kind = KINDS.get(path.split("/")[1], "dag_run")
        before, started = self.inner.calls, time.monotonic()
        try:
            return self.inner.request(method, path, query=query, body=body)
        finally:
            self.by_kind[kind] += self.inner.calls - before
            self.seconds[kind] += time.monotonic() - started
            self.calls = self.inner.calls


def daily_runs(today: datetime.datetime, number: int) -> list[dict[str, Any]]:
    """Finished runs of the daily DAG; the last interval ends yesterday (the backfill API refuses future dates)."""
    rows = []
    for n in range(number + 1, 1, -1):
        logical = today - datetime.timedelta(days=n)
        rows.append(
            {
                "dag_id": DAG_ID,
                "run_id": f"scheduled__{logical.isoformat()}",
                "run_type": "scheduled",
                "state": "failed" if n % 17 == 0 else "success",
                "execution_date": logical.isoformat(),
                "data_interval_start": logical.isoformat(),
                "data_interval_end": (logical + datetime.timedelta(days=1)).isoformat(),
                "conf": None,
            }
        )
    return rows


def naive(api: UrlTransport, number: int, runs: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """One request per entity (two per run): (calls, seconds) per entity type."""
    out: dict[str, tuple[int, float]] = {}
    requests: dict[str, list[tuple[str, str, Any]]] = {
        "variable": [("POST", "/variables", {"key": f"naive_var_{i}", "value": f"value {i}"}) for i in range(number)],
        "connection": [
            (
                "POST",
                "/connections",
                {"connection_id": f"naive_conn_{i}", "conn_type": "http", "host": "h", "password": f"p{i}"},
            )
            for i in range(number)
        ],
        "pool": [("POST", "/pools", {"name": f"naive_pool_{i}", "slots": 1}) for i in range(number)],
    }
    run_requests = []
    for run in runs:
        run_id = "naive_" + run["execution_date"][:10]
        body = {
            "dag_run_id": run_id,
            "logical_date": run["execution_date"],
            "data_interval_start": run["data_interval_start"],
            "data_interval_end": run["data_interval_end"],
        }
        run_requests.append(("POST", f"/dags/{NAIVE_DAG_ID}/dagRuns", body))
        run_requests.append(("PATCH", f"/dags/{NAIVE_DAG_ID}/dagRuns/{run_id}", {"state": run["state"]}))
    requests["dag_run"] = run_requests
    for kind, batch in requests.items():
        before, started = api.calls, time.monotonic()
        for method, path, body in batch:
            for attempt in range(20):
                try:
                    api.request(method, path, body=body)
                    break
                except Exception as error:  # the PATCH right after its POST may 404 (commit after the answer)
                    if getattr(error, "status", None) != 404 or attempt == 19:
                        raise
                    time.sleep(0.05)
        out[kind] = (api.calls - before, time.monotonic() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1000, help="variables, connections and pools each")
    parser.add_argument("--runs", type=int, default=200, help="finished runs of the daily DAG")
    args = parser.parse_args()
    today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - datetime.timedelta(days=args.runs + 10)).isoformat()
    runs = daily_runs(today, args.runs)
    cluster = Cluster()
    cluster.start()
    try:
        with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
            root = Path(scratch)
            server = Airflow3Server(home=root / "airflow", database_url=cluster.create_database("bench"))
            try:
                for dag_id in (DAG_ID, NAIVE_DAG_ID):
                    server.write_dag(dag_id=dag_id, schedule="@daily", start=start)
                started = time.monotonic()
                server.run("db", "migrate")
                server.start_api()
                server.start("dag-processor", "dag-processor")

                def parsed() -> bool:
                    rows = server.sql("SELECT dag_id FROM dag WHERE last_parsed_time IS NOT NULL")
                    return {row["dag_id"] for row in rows} >= {DAG_ID, NAIVE_DAG_ID}

                server.wait_for("the DAG files parsed", parsed, timeout=STARTUP_SECONDS)
                print(f"target up in {time.monotonic() - started:.0f} s", file=sys.stderr)
                write_archive(root / "archive", {**bulk_entities(args.entities), "dag_run": runs})
                report(server, root / "archive", args.entities, runs, today)
            finally:
                server.stop_all()
    finally:
        cluster.stop()


def report(
    server: Airflow3Server, path: Path, number: int, runs: list[dict[str, Any]], today: datetime.datetime
) -> None:
    api = Measured(UrlTransport(base_url=server.base_url, api_version="v2", token=server.token()))
    since = datetime.datetime.fromisoformat(runs[0]["execution_date"])
    options = ImportOptions(now=today + datetime.timedelta(hours=12), runs_since=since)
    started = time.monotonic()
    result = import_archive(transport=api, archive=LocalArchive(path), options=options)
    total = time.monotonic() - started
    assert result.cursor is None and not result.refused and not result.unguaranteed, result.to_json()
    for kind in ("variable", "connection", "pool"):
        assert result.counts[kind]["created"] == number, (kind, result.counts)
    assert result.counts["dag_run"]["created"] == len(runs), result.counts
    print(f"importer: {result.calls} calls in {total:.1f} s", file=sys.stderr)

    plain = UrlTransport(base_url=server.base_url, api_version="v2", token=server.token())
    baseline = naive(plain, number, runs)
    print("naive REST baseline done", file=sys.stderr)
    guide = server.python(ORM_IMPORT, str(number))

    per = 1000 / number
    lines = [
        f"Airflow 3.0.6 (api-server on PostgreSQL), {number} each of variables, connections and pools, "
        f"{len(runs)} finished runs of one daily DAG.",
        "",
        "| entity | importer: calls | items per call | seconds | naive REST (1 per entity): calls | seconds "
        "| guide's import (ORM, one session): calls | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in (("variable", "variables"), ("connection", "connections"), ("pool", "pools")):
        calls = api.by_kind[kind]
        lines.append(
            f"| {label} (per 1,000) | {calls * per:.0f} | {number / calls:.0f} | {api.seconds[kind] * per:.2f} "
            f"| {baseline[kind][0] * per:.0f} | {baseline[kind][1] * per:.2f} | 0 | {guide[kind] * per:.2f} |"
        )
    run_calls = api.by_kind["dag_run"]
    lines.append(
        f"| dag runs (per run) | {run_calls / len(runs):.2f} | {len(runs) / run_calls:.2f} "
        f"| {api.seconds['dag_run'] / len(runs):.3f} | {baseline['dag_run'][0] / len(runs):.2f} "
        f"| {baseline['dag_run'][1] / len(runs):.3f} | n/a | n/a |"
    )
    lines += [
        "",
        f"Importer: {result.calls} calls in all ({run_calls} for runs: a listing of the target's DAGs and of the "
        "DAG's runs, 2 per run, 5 more for the anchor that places the next scheduled run). Naive REST: one POST per "
        "entity, a POST and a PATCH per run (manual runs: the DAG's next run is not placed). The guide's import "
        "writes the database through Airflow's ORM with no API call; on Airflow 3 tasks can't reach the database, "
        "so it has no equivalent there (runs not measured: 3.0.6's DagRun needs the DAG's serialized version).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
