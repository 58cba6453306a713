"""Metadata-export benchmark (a script, not a test): migration_dags/export_metadata.py against a real PostgreSQL.

Run from the repository root with `.venv/bin/python -m benchmarks.export_benchmark` once `make airflow-envs` has
built the Airflow 2.10.3 virtualenv and installed PostgreSQL's server.

A throwaway PostgreSQL cluster (tests/pg_cluster.py) gets Airflow 2.10.3's schema (`airflow db migrate`) and, per
size, N task_instance rows (and the dag_run rows they belong to) made with `generate_series`. Each case then runs
in a fresh process of the Airflow virtualenv, timed (wall clock) and measured (peak RSS, from wait4's rusage):
  export  export_metadata.py --out DIR --tables task_instance
  anchor  mwaa-dr's backup of task_instance (its local storage), installed from PyPI into a temporary folder;
          when that can't be installed or run, the floor instead: SELECT * with fetchall() into gzipped JSON lines
  copy    COPY (SELECT * FROM task_instance ORDER BY its key) TO STDOUT through psycopg2's copy_expert, gzipped
The goal: the export's peak RSS grows at most 10 % from the smallest to the largest size, and its rows/s are at
least the anchor's and at least half of COPY's.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tests.pg_cluster import Cluster

REPO_ROOT = Path(__file__).resolve().parent.parent

AIRFLOW_VERSION = "2.10.3"
AIRFLOW_VENV = REPO_ROOT / f".venv-airflow-{AIRFLOW_VERSION}"
EXPORT_FILE = REPO_ROOT / "migration_dags" / "export_metadata.py"
SIZES = (100_000, 1_000_000)
DATABASE = "export_bench"
MWAA_DR = "mwaa-dr==2.2.0"
MWAA_DR_INSTALL_SECONDS = 600
CASE_TIMEOUT_SECONDS = 1800
RSS_GROWTH_BUDGET = 0.10
TASKS_PER_RUN = 50
DAGS = 10

# One row per (run, task), every column filled the way a finished Airflow 2.10 task leaves it; executor_config is
# the pickle Airflow writes for the default `{}` (so the export's unpickling path runs on every row).
SEED_SQL = """
BEGIN;
INSERT INTO dag_run (dag_id, queued_at, execution_date, start_date, end_date, state, run_id, creating_job_id,
                     external_trigger, run_type, conf, data_interval_start, data_interval_end,
                     last_scheduling_decision, dag_hash, log_template_id, updated_at, clear_number)
SELECT 'bench_dag_' || lpad((i % {dags})::text, 2, '0'),
       d, d, d + interval '1 second', d + interval '10 minutes', 'success',
       'scheduled__' || to_char(d AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00', i,
       false, 'scheduled', NULL, d - interval '1 hour', d, d + interval '10 minutes',
       md5(i::text)::varchar(32), NULL, d + interval '10 minutes', 0
FROM generate_series(1, {runs}) AS i,
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute') AS t(d);
INSERT INTO task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration, state, try_number,
                           max_tries, hostname, unixname, job_id, pool, pool_slots, queue, priority_weight,
                           operator, custom_operator_name, queued_dttm, queued_by_job_id, pid, executor,
                           executor_config, updated_at, rendered_map_index, external_executor_id, trigger_id,
                           trigger_timeout, next_method, next_kwargs, task_display_name)
SELECT 'task_' || lpad(k::text, 3, '0'), r.dag_id, r.run_id, -1,
       r.execution_date + k * interval '1 second', r.execution_date + k * interval '1 second' + interval '42 seconds',
       42.125, 'success', 1, 0, 'worker-' || (k % 8) || '.airflow.internal', 'airflow', r.id * {tasks} + k,
       'default_pool', 1, 'default', {tasks} - k, 'PythonOperator', '@task', r.execution_date, r.id, 10000 + k,
       NULL, '\\x80047d942e'::bytea, r.execution_date + interval '10 minutes', NULL, md5(r.run_id || k), NULL,
       NULL, NULL, NULL, 'task_' || lpad(k::text, 3, '0')
FROM dag_run AS r, generate_series(1, {tasks}) AS k;
COMMIT;
"""

MWAA_DR_BACKUP = """
import os, sys
from mwaa_dr.framework.model.dependency_model import DependencyModel
from mwaa_dr.v_2_10.dr_factory import DRFactory_2_10
os.makedirs(os.path.join(os.environ["AIRFLOW_HOME"], "dags", sys.argv[1]), exist_ok=True)
factory = DRFactory_2_10(dag_id="bench_backup", path_prefix=sys.argv[1], storage_type="LOCAL_FS")
factory.task_instance(DependencyModel()).backup()
"""

FLOOR_EXPORT = """
import datetime, gzip, json, sys
import sqlalchemy as sa
from airflow.configuration import conf
engine = sa.create_engine(conf.get("database", "sql_alchemy_conn"))
with engine.connect() as connection:
    result = connection.execute(sa.text("SELECT * FROM task_instance ORDER BY dag_id, task_id, run_id, map_index"))
    keys = list(result.keys())
    rows = result.fetchall()
def plain(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value
with gzip.open(sys.argv[1], "wt", encoding="utf-8", compresslevel=6) as out:
    for row in rows:
        out.write(json.dumps({k: plain(v) for k, v in zip(keys, row)}) + "\\n")
"""

COPY_EXPORT = """
import gzip, sys
import psycopg2
from airflow.configuration import conf
from sqlalchemy.engine.url import make_url
url = make_url(conf.get("database", "sql_alchemy_conn"))
connection = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
sql = "COPY (SELECT * FROM task_instance ORDER BY dag_id, task_id, run_id, map_index) TO STDOUT"
with gzip.open(sys.argv[1], "wb", compresslevel=6) as out, connection.cursor() as cursor:
    cursor.copy_expert(sql, out)
connection.close()
"""


@dataclass
class Measure:
    case: str
    rows: int
    seconds: float
    peak_rss_mb: float


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so the cluster stops and the temporary folders go."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


class Bench:
    def __init__(self, cluster: Cluster, work: Path) -> None:
        self.cluster = cluster
        self.work = work
        self.python = AIRFLOW_VENV / "bin" / "python"
        if not self.python.exists():
            raise SystemExit(f"{self.python} is missing: run `make airflow-envs`")
        home = work / "airflow-home"
        (home / "dags").mkdir(parents=True)
        self.home = home
        self.url = ""
        self.env: dict[str, str] = {}
        self.mwaa_dr_path: Path | None = None
        self.anchor_note = ""

    def setup(self) -> None:
        self.url = self.cluster.create_database(DATABASE)
        self.env = {
            "PATH": f"{self.python.parent}:{os.environ['PATH']}",
            "HOME": str(self.home),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.url,
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "PYTHONWARNINGS": "ignore",
        }
        self.run_checked([str(self.python.parent / "airflow"), "db", "migrate"], "airflow db migrate")

    def run_checked(self, command: list[str], what: str, timeout: float = CASE_TIMEOUT_SECONDS) -> str:
        done = subprocess.run(  # noqa: S603
            command, env=self.env, capture_output=True, text=True, check=False, cwd=self.work, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def psql(self, sql: str) -> str:
        connect = ["-h", "127.0.0.1", "-p", str(self.cluster.port), "-U", "postgres", "-d", DATABASE]
        return self.cluster._run("psql", *connect, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)

    def seed(self, rows: int) -> None:
        if rows % TASKS_PER_RUN:
            raise SystemExit(f"sizes must be multiples of {TASKS_PER_RUN}")
        self.psql("TRUNCATE task_instance, dag_run CASCADE")
        started = time.perf_counter()
        self.psql(SEED_SQL.format(runs=rows // TASKS_PER_RUN, tasks=TASKS_PER_RUN, dags=DAGS))
        # Hint bits set and statistics fresh: no case pays for the first read of the new rows.
        self.psql("VACUUM (ANALYZE) dag_run")
        self.psql("VACUUM (ANALYZE) task_instance")
        count = int(self.psql("SELECT count(*) FROM task_instance").strip())
        if count != rows:
            raise RuntimeError(f"seeded {count} task_instance rows, wanted {rows}")
        size = self.psql("SELECT pg_size_pretty(pg_total_relation_size('task_instance'))").strip()
        sys.stderr.write(f"seeded {rows} rows ({size} with indexes) in {time.perf_counter() - started:.1f}s\n")

    def measure(self, case: str, command: list[str], rows: int) -> Measure:
        """One fresh process: wall time and its own peak RSS (wait4's rusage, not the children's maximum so far)."""
        log = self.work / f"{case}-{rows}.log"
        with log.open("wb") as output:
            started = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT, cwd=self.work
            )
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:
                process.kill()
                process.wait()
                raise
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{case} at {rows} rows failed ({process.returncode}):\n{tail}")
        # Linux reports ru_maxrss in KiB.
        return Measure(case, rows, seconds, usage.ru_maxrss / 1024)

    def export(self, rows: int) -> Measure:
        out = self.work / f"export-{rows}"
        command = [str(self.python), str(EXPORT_FILE), "--out", str(out), "--tables", "task_instance"]
        command += ["--export-id", f"bench-{rows}", "--migration", "benchmark"]
        result = self.measure("export", command, rows)
        manifest = json.loads((out / "manifest.json").read_text())
        exported = manifest["tables"]["task_instance"]["rows"]
        if exported != rows:
            raise RuntimeError(f"the export wrote {exported} task_instance rows, wanted {rows}")
        shutil.rmtree(out)
        return result

    def install_mwaa_dr(self) -> None:
        target = self.work / "mwaa-dr"
        command = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += ["--no-input", "--target", str(target), MWAA_DR]
        try:
            self.run_checked(command, f"pip install {MWAA_DR}", timeout=MWAA_DR_INSTALL_SECONDS)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            self.anchor_note = f"{MWAA_DR} could not be installed ({str(error).splitlines()[0]}): floor instead"
            return
        self.mwaa_dr_path = target

    def anchor(self, rows: int) -> Measure:
        if self.mwaa_dr_path is not None:
            try:
                return self._mwaa_dr(rows)
            except RuntimeError as error:
                self.anchor_note = f"mwaa-dr's backup failed here ({str(error).splitlines()[0]}): floor instead"
                self.mwaa_dr_path = None
        out = self.work / f"floor-{rows}.jsonl.gz"
        result = self.measure("floor", [str(self.python), "-c", FLOOR_EXPORT, str(out)], rows)
        _check_lines(out, rows, "floor")
        out.unlink()
        return result

    def _mwaa_dr(self, rows: int) -> Measure:
        assert self.mwaa_dr_path is not None
        prefix = f"mwaa-dr-{rows}"
        env = self.env
        self.env = {**env, "PYTHONPATH": str(self.mwaa_dr_path)}
        try:
            result = self.measure("mwaa-dr", [str(self.python), "-c", MWAA_DR_BACKUP, prefix], rows)
        finally:
            self.env = env
        out = self.home / "dags" / prefix / "task_instance.csv"
        _check_lines(out, rows, "mwaa-dr")
        shutil.rmtree(out.parent)
        return result

    def copy(self, rows: int) -> Measure:
        out = self.work / f"copy-{rows}.tsv.gz"
        result = self.measure("copy", [str(self.python), "-c", COPY_EXPORT, str(out)], rows)
        _check_lines(out, rows, "copy")
        out.unlink()
        return result


def _check_lines(path: Path, rows: int, case: str) -> None:
    """The output holds one line per row (no column of the seeded rows has a newline)."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines = 0
    with opener(path, "rb") as data:
        while chunk := data.read(1 << 20):
            lines += chunk.count(b"\n")
    if lines != rows:
        raise RuntimeError(f"{case} wrote {lines} lines, wanted {rows}")


def report(results: list[Measure], sizes: list[int], notes: list[str]) -> None:
    print(f"{'case':<8} {'N':>10} {'seconds':>9} {'rows/s':>10} {'peak RSS MB':>12}")
    for m in results:
        print(f"{m.case:<8} {m.rows:>10,} {m.seconds:>9.2f} {m.rows / m.seconds:>10,.0f} {m.peak_rss_mb:>12.1f}")
    print()
    small, large = min(sizes), max(sizes)
    by_key = {(m.case, m.rows): m for m in results}
    cases = list(dict.fromkeys(m.case for m in results))
    print(f"peak RSS growth from {small:,} to {large:,} rows:")
    for case in cases:
        first, last = by_key.get((case, small)), by_key.get((case, large))
        if first and last:
            growth = last.peak_rss_mb / first.peak_rss_mb - 1
            print(f"  {case:<8} {first.peak_rss_mb:8.1f} -> {last.peak_rss_mb:8.1f} MB  {growth:+7.1%}")
    print()
    print("goals at the largest size:")
    export, copy = by_key.get(("export", large)), by_key.get(("copy", large))
    anchor = next((by_key[(c, large)] for c in ("mwaa-dr", "floor") if (c, large) in by_key), None)
    first_export = by_key.get(("export", small))
    if export and first_export:
        growth = export.peak_rss_mb / first_export.peak_rss_mb - 1
        verdict = "met" if growth <= RSS_GROWTH_BUDGET else "MISSED"
        print(f"  export peak RSS growth {growth:+.1%} <= {RSS_GROWTH_BUDGET:+.0%}: {verdict}")
    if export and anchor:
        ratio = (export.rows / export.seconds) / (anchor.rows / anchor.seconds)
        print(f"  export rows/s / {anchor.case} rows/s = {ratio:.2f} (>= 1.00): {'met' if ratio >= 1 else 'MISSED'}")
    if export and copy:
        ratio = (export.rows / export.seconds) / (copy.rows / copy.seconds)
        print(f"  export rows/s / copy rows/s = {ratio:.2f} (>= 0.50): {'met' if ratio >= 0.5 else 'MISSED'}")
    for note in notes:
        print(f"note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="comma-separated row counts")
    parser.add_argument("--anchor", choices=["auto", "floor"], default="auto", help="floor: skip mwaa-dr")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)

    results: list[Measure] = []
    notes: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="mwaa-export-bench-"))
    cluster: Cluster | None = None
    try:
        cluster = Cluster()
        cluster.start()
        bench = Bench(cluster, work)
        bench.setup()
        if args.anchor == "auto":
            bench.install_mwaa_dr()
        else:
            bench.anchor_note = "mwaa-dr skipped (--anchor floor)"
        for rows in sizes:
            bench.seed(rows)
            for run in (bench.export, bench.anchor, bench.copy):
                measure = run(rows)
                sys.stderr.write(f"{measure.case} {rows}: {measure.seconds:.2f}s, {measure.peak_rss_mb:.1f} MB\n")
                results.append(measure)
        if bench.anchor_note:
            notes.append(bench.anchor_note)
        elif bench.mwaa_dr_path is not None:
            notes.append(
                f"anchor: {MWAA_DR}'s DRFactory_2_10 task_instance backup, local storage (pipe-separated CSV, "
                "not compressed, unordered, its own column list and state filter)"
            )
    finally:
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report(results, sizes, notes)


if __name__ == "__main__":
    main()
