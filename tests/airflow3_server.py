"""A real Airflow 3.0.6 for the import tests: `airflow api-server` and `airflow dag-processor` for the session, the
scheduler only while a test asks for it (the `airflow3` fixture, tests/airflow_fixtures.py).

Its database is PostgreSQL, as on MWAA: a database of its own in the session's cluster (tests/pg_cluster.py). Airflow
3 builds an asyncpg engine from the sync URL at startup (settings.py, `_get_async_conn_uri_from_sync`), which is why
asyncpg is pinned in tests/airflow/requirements-3.0.6.txt.

Code that reads the target back through Airflow's own models runs in the 3.0.6 virtualenv (`server.python(...)`).
Every process is started in its own process group and stopped with it, so nothing outlives the session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from mwaa_clone.mwaa_limits import AIRFLOW_2_SCHEDULING_DEFAULTS
from mwaa_cutover.airflow_api import ApiError, UrlTransport
from tests.import_source import DAILY, LONG, MANUAL, MISSING, SourceArchive
from tests.pg_cluster import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent

TARGET_VERSION = "3.0.6"
VENV_BIN = REPO_ROOT / f".venv-airflow-{TARGET_VERSION}" / "bin"
STARTUP_SECONDS = 180.0
# The source's DAGs, whose runs an import writes.
SOURCE_DAGS = [DAILY, MANUAL, MISSING, LONG]

DAG_FILE = """from __future__ import annotations

import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

with DAG({dag_id!r}, start_date=datetime.datetime.fromisoformat({start!r}), schedule={schedule}, catchup={catchup!r}):
    EmptyOperator(task_id="work")
"""


# The target's entities, and the runs of the DAGs named in argv[1], through Airflow's models; RESET empties what an
# import writes. Dates may be None: Airflow 3 triggers a run without a logical date.
READ_BACK = """
import json, sys
from airflow.models import Connection, DagRun, Pool, Variable
from airflow.utils.session import create_session
iso = lambda moment: moment.isoformat() if moment else None
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
          "logical_date": iso(r.logical_date), "data_interval_start": iso(r.data_interval_start),
          "data_interval_end": iso(r.data_interval_end), "conf": r.conf, "note": r.note}
         for r in s.query(DagRun).filter(DagRun.dag_id.in_(json.loads(sys.argv[1])))),
        key=lambda r: (r["dag_id"], r["logical_date"] or "", r["run_id"]),
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


class Airflow3Server:
    def __init__(self, *, home: Path, database_url: str) -> None:
        self.home = home
        self.dags = home / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            # One secret for every process, so the scheduler's task tokens are accepted by the api-server.
            "AIRFLOW__API_AUTH__JWT_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # Re-parse quickly: next_dagrun is recomputed when the dag-processor parses the file.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "PYTHONWARNINGS": "ignore",
            # As the app deploys it: the clone keeps Airflow 2's scheduling defaults on every 2 -> 3 migration
            # (mwaa_limits.AIRFLOW_2_SCHEDULING_DEFAULTS), so a cron `schedule` is a CronDataIntervalTimetable here
            # too and catch-up is on. A DAG file can still name CronTriggerTimetable (`write_dag`).
            **{
                "AIRFLOW__" + option.replace(".", "__", 1).upper(): value
                for option, (value, _why) in AIRFLOW_2_SCHEDULING_DEFAULTS.items()
            },
        }
        self._processes: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}

    # -- processes -------------------------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.home,
        )
        if done.returncode != 0:
            raise AssertionError(f"airflow {args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def start(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,
        )
        self._processes[name] = (process, log)

    def stop(self, name: str) -> None:
        process, log = self._processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        finally:
            # Children that ignored SIGTERM (task runners) go with the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            log.close()

    def stop_all(self) -> None:
        for name in list(self._processes):
            self.stop(name)

    def log_tail(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def start_api(self) -> None:
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/version", timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            process, _ = self._processes["api-server"]
            if process.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError("the api-server did not start:\n" + self.log_tail("api-server"))

    def token(self) -> str:
        with urllib.request.urlopen(f"{self.base_url}/auth/token", timeout=10) as answer:  # noqa: S310
            token: str = json.loads(answer.read())["access_token"]
            return token

    # -- Airflow's own models --------------------------------------------------------------------------------------
    def python(self, body: str, *args: str) -> Any:
        """Run `body` in the 3.0.6 virtualenv against this database; its last line of stdout is JSON."""
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [str(VENV_BIN / "python"), "-c", body, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=self.home,
        )
        if done.returncode != 0:
            raise AssertionError(f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def sql(self, query: str, **params: Any) -> list[dict[str, Any]]:
        body = (
            "import json, sys\nimport sqlalchemy as sa\nfrom airflow import settings\nsettings.configure_orm()\n"
            "with settings.engine.connect() as c:\n"
            "    rows = [dict(r._mapping) for r in c.execute(sa.text(sys.argv[1]), json.loads(sys.argv[2]))]\n"
            "print(json.dumps(rows, default=lambda v: v.isoformat() if hasattr(v, 'isoformat') else str(v)))\n"
        )
        rows: list[dict[str, Any]] = self.python(body, query, json.dumps(params))
        return rows

    def dag_model(self, dag_id: str) -> dict[str, Any]:
        rows = self.sql(
            "SELECT dag_id, is_paused, next_dagrun, next_dagrun_data_interval_start, next_dagrun_data_interval_end,"
            " next_dagrun_create_after, last_parsed_time FROM dag WHERE dag_id = :dag_id",
            dag_id=dag_id,
        )
        return rows[0] if rows else {}

    def wait_for(self, what: str, check: Any, timeout: float = 120.0, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(interval)

    def write_dag(self, *, dag_id: str, schedule: str | None, start: str, trigger: bool = False) -> None:
        """A DAG with one task. `schedule` is a cron string (a CronDataIntervalTimetable on this server, Airflow 2's
        semantics) or None; `trigger` declares it as CronTriggerTimetable(schedule, timezone="UTC") in the file,
        Airflow 3.0's default (what a target with create_cron_data_intervals = False makes of a cron string)."""
        if trigger:
            assert schedule is not None
            expression = f"CronTriggerTimetable({schedule!r}, timezone='UTC')"
        else:
            expression = repr(schedule)
        text = DAG_FILE.format(dag_id=dag_id, start=start, schedule=expression, catchup=schedule is not None)
        (self.dags / f"{dag_id}.py").write_text(text)


class CountingTransport:
    """A UrlTransport that also counts its calls per entity (by route), and the HTTP errors it saw, for the
    benchmark figures and the retry evidence."""

    def __init__(self, inner: UrlTransport) -> None:
        self.inner = inner
        self.api_version = inner.api_version
        self.description = inner.description
        self.by_route: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str, int]] = Counter()
        self.calls = 0

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        before = self.inner.calls
        try:
            return self.inner.request(method, path, query=query, body=body)
        except ApiError as error:
            self.errors[(method, path.split("/")[1], error.status)] += 1
            raise
        finally:
            route = path.split("/")[1]
            kind = {"variables": "variable", "pools": "pool", "connections": "connection"}.get(route, "dag_run")
            self.by_route[kind] += self.inner.calls - before
            self.calls = self.inner.calls


def transport(server: Airflow3Server) -> CountingTransport:
    return CountingTransport(UrlTransport(base_url=server.base_url, api_version="v2", token=server.token()))


def read_back(server: Airflow3Server) -> dict[str, Any]:
    """The target's entities and the runs of the source's DAGs, through Airflow's models (runs of DAGs other tests
    write, and of the daily DAG's twin, left out)."""
    result: dict[str, Any] = server.python(READ_BACK, json.dumps(SOURCE_DAGS))
    return result


def serve(server: Airflow3Server, source: SourceArchive, on_target: list[str]) -> None:
    for dag in source.spec["dags"]:
        if dag["dag_id"] in on_target:
            server.write_dag(dag_id=dag["dag_id"], schedule=dag["schedule"], start=dag["start_date"])
    server.run("db", "migrate")
    server.start_api()
    server.start("dag-processor", "dag-processor")

    def parsed() -> bool:
        rows = server.sql("SELECT dag_id FROM dag WHERE last_parsed_time IS NOT NULL")
        return {row["dag_id"] for row in rows} >= set(on_target)

    server.wait_for("the DAG files parsed", parsed, timeout=STARTUP_SECONDS)
