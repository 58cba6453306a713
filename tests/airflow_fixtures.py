"""The real-Airflow tests' shared session fixtures and helpers, registered once through tests/conftest.py's
`pytest_plugins`: a fixture a test module imports is registered again for that module, and a session fixture is then
built once per importing module. From here each is built once per session (once per worker under pytest-xdist).

One PostgreSQL cluster (what MWAA runs on) holds every test database: the export's seeded sources, the import
tests' 2.10.3 source, the 2.11.2 targets and the Airflow 3.0.6 target, each its own database.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mwaa_cutover.archive import LocalArchive, read_run_ids
from mwaa_cutover.rest_import import ImportOptions, import_archive
from tests import airflow_harness
from tests.airflow3_server import Airflow3Server, read_back, serve, transport
from tests.import_source import DAILY, LONG, MANUAL, NAIVE, SOURCE_VERSION, SourceArchive, build_spec
from tests.import_source import HARNESS as SOURCE_HARNESS
from tests.pg_cluster import Cluster

REPO_ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(airflow_harness.__file__).resolve()
# The newest 2.x MWAA offers, and the oldest 2.x tested: 2.0.2 to 2.2.5 also install on Python 3.11 (with the same
# pendulum and Flask-Session pins) but the seed uses mapped tasks (2.3+); 2.4.3 is the oldest verified end to end.
AIRFLOW_VERSIONS = ["2.10.3", "2.4.3"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def new_fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class AirflowEnv:
    """One Airflow version's virtualenv, pointed at one database."""

    def __init__(self, version: str, url: str, home: Path, fernet_key: str) -> None:
        self.version = version
        self.python = REPO_ROOT / f".venv-airflow-{version}" / "bin" / "python"
        if not self.python.exists():
            raise RuntimeError(f"{self.python} is missing: run `make airflow-envs`")
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{self.python.parent}:{os.environ['PATH']}",
            "HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            # Before 2.3 the option lived in [core].
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "PYTHONWARNINGS": "ignore",
        }

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603
            [*command], env=self.env, capture_output=True, text=True, check=False, cwd=REPO_ROOT, timeout=600
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def migrate(self) -> None:
        airflow = str(self.python.parent / "airflow")
        # `db migrate` since 2.7; `db upgrade` before.
        help_text = self.run(airflow, "db", "--help").stdout
        self.run(airflow, "db", "migrate" if re.search(r"^\s+migrate\s", help_text, re.M) else "upgrade")

    def harness(self, *args: str) -> Any:
        done = self.run(str(self.python), str(HARNESS), *args)
        # Airflow may log to stdout; the harness's answer is the last line.
        return json.loads(done.stdout.strip().splitlines()[-1])["result"]


def migrated_env(cluster: Cluster, version: str, name: str, root: Path, key: str) -> AirflowEnv:
    """A new database `<name>_<version>` in the cluster, migrated by that version's Airflow."""
    database = re.sub(r"\W", "_", f"{name}_{version}")
    env = AirflowEnv(version, cluster.create_database(database), root / database, key)
    env.migrate()
    return env


def check_parts(root: Path, manifest: dict[str, Any]) -> None:
    """Every part the manifest lists is there, with its size, checksum and row count."""
    for section in ("tables", "secrets"):
        for table, entry in manifest[section].items():
            assert entry["parts"], table
            assert entry["rows"] == sum(part["rows"] for part in entry["parts"])
            for part in entry["parts"]:
                data = (root / part["key"]).read_bytes()
                assert len(data) == part["bytes"], part["key"]
                assert hashlib.sha256(data).hexdigest() == part["sha256"], part["key"]
                assert len(read_jsonl(root / part["key"])) == part["rows"], part["key"]
    listed = {part["key"] for s in ("tables", "secrets") for e in manifest[s].values() for part in e["parts"]}
    written = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert written == listed | {"manifest.json"}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = Cluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def fernet_key() -> str:
    return new_fernet_key()


@pytest.fixture(scope="session", params=AIRFLOW_VERSIONS)
def seeded(
    request: pytest.FixtureRequest, postgres: Cluster, fernet_key: str, tmp_path_factory: pytest.TempPathFactory
) -> AirflowEnv:
    env = migrated_env(postgres, request.param, "seeded", tmp_path_factory.mktemp("airflow"), fernet_key)
    env.harness("seed")
    return env


@pytest.fixture(scope="session")
def sqlite_seeded(fernet_key: str, tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    """The same seed on SQLite (a self-managed source's database)."""
    root = tmp_path_factory.mktemp("sqlite")
    env = AirflowEnv("2.10.3", f"sqlite:///{root / 'airflow.db'}", root / "home", fernet_key)
    env.migrate()
    env.harness("seed")
    return env


@pytest.fixture(scope="session")
def source_archive(postgres: Cluster, tmp_path_factory: pytest.TempPathFactory) -> SourceArchive:
    """The import tests' source (tests/import_source.py): seeded in 2.10.3 and exported by the real export."""
    root = tmp_path_factory.mktemp("import-source")
    today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spec = build_spec(today)
    spec_path = root / "spec.json"
    spec_path.write_text(json.dumps(spec))
    url = postgres.create_database("import_source")
    env = AirflowEnv(SOURCE_VERSION, url, root / "home", new_fernet_key())
    env.migrate()
    out = root / "archive"
    command = (str(env.python), str(SOURCE_HARNESS), "seed-and-export", "--spec", str(spec_path))
    done = env.run(*command, "--out", str(out))
    result = json.loads(done.stdout.strip().splitlines()[-1])["result"]
    return SourceArchive(path=out, spec=spec, manifest=result["manifest"], today=today)


@pytest.fixture(scope="session")
def airflow3(
    postgres: Cluster, source_archive: SourceArchive, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Airflow3Server]:
    """Airflow 3.0.6 on its own database in the shared cluster, serving the source's DAGs (tests/airflow3_server.py)."""
    home = tmp_path_factory.mktemp("airflow3")
    server = Airflow3Server(home=home, database_url=postgres.create_database("airflow3"))
    try:
        # On the target only: the daily DAG's twin on a trigger timetable (Airflow 3.0's default, kept by a target
        # whose create_cron_data_intervals is False), for the test that shows what the backfill API alone does there
        # and that the importer's route resumes it right (tests/test_rest_import_runs.py).
        server.write_dag(dag_id=NAIVE, schedule="@daily", start=source_archive.dag(DAILY)["start_date"], trigger=True)
        serve(server, source_archive, [DAILY, MANUAL, LONG, NAIVE])
        yield server
    finally:
        server.stop_all()


@pytest.fixture(scope="session")
def first_import(
    airflow3: Airflow3Server, source_archive: SourceArchive, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The REST importer's first import of the source archive into the 3.0.6 target, and the target read back after
    it. Session-wide: the tests/test_rest_import_*.py files share the one target, and each leaves it as this found
    it (the scheduler's test, last, excepted)."""
    archive_path = source_archive.copy(tmp_path_factory.mktemp("first"))
    api = transport(airflow3)
    started = time.monotonic()
    result = import_archive(
        transport=api, archive=LocalArchive(archive_path), options=ImportOptions(now=source_archive.now())
    )
    return {
        "result": result,
        "seconds": time.monotonic() - started,
        "by_route": dict(api.by_route),
        "errors": dict(api.errors),
        "state": read_back(airflow3),
        "run_ids": read_run_ids(LocalArchive(archive_path)),
        "archive": archive_path,
    }
