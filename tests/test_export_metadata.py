"""The export DAG file against real Airflow installs and a real PostgreSQL (what MWAA runs on).

The Airflow versions live in their own virtualenvs (`make airflow-envs`); these tests drive them through
subprocesses running tests/airflow_harness.py, which seeds the database with Airflow's own models.
"""

from __future__ import annotations

import ast
import base64
import gzip
import json
import re
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import airflow_harness as harness
from tests.airflow_fixtures import AIRFLOW_VERSIONS, REPO_ROOT, AirflowEnv, check_parts, migrated_env, read_jsonl
from tests.pg_cluster import Cluster

EXPORT_FILE = REPO_ROOT / "migration_dags" / "export_metadata.py"
HISTORY_TABLES = ["task_fail", "task_instance_history"]
COMPARED_TABLES = [
    "variable",
    "slot_pool",
    "dag",
    "dag_run",
    "task_instance",
    *HISTORY_TABLES,
    "xcom",
    "log",
    "sla_miss",
]


@pytest.fixture(scope="session", params=AIRFLOW_VERSIONS)
def empty(
    request: pytest.FixtureRequest, postgres: Cluster, fernet_key: str, tmp_path_factory: pytest.TempPathFactory
) -> AirflowEnv:
    return migrated_env(postgres, request.param, "empty", tmp_path_factory.mktemp("airflow"), fernet_key)


def table_rows(root: Path, manifest: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return [row for part in manifest["tables"][table]["parts"] for row in read_jsonl(root / part["key"])]


def test_export_file_is_python_37() -> None:
    source = EXPORT_FILE.read_text()
    ast.parse(source, feature_version=(3, 7))
    # The deployment substitutes these two lines' tokens as plain text.
    assert 'MIGRATION_BUCKET = "__MWAA_MIGRATION_BUCKET__"\n' in source
    assert 'MIGRATION_NAME = "__MWAA_MIGRATION_NAME__"\n' in source
    # 3.8+ syntax that ast's feature_version doesn't reject: walrus is rejected, these at runtime are not.
    assert "datetime.UTC" not in source
    assert "removeprefix" not in source


def test_archive_matches_database_row_for_row(seeded: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    result = seeded.harness("export", "--out", str(out))
    manifest = result["manifest"]
    assert result["order"][-1] == "manifest.json"
    assert result["order"].count("manifest.json") == 1
    assert json.loads((out / "manifest.json").read_text()) == manifest
    check_parts(out, manifest)

    assert manifest["format"] == 1
    assert manifest["export_id"] == "test-export"
    assert manifest["source"]["airflow_version"] == seeded.version
    assert manifest["source"]["dialect"] == "postgresql"
    assert re.fullmatch(r"[0-9a-f]{12}", manifest["source"]["alembic_revision"])
    assert manifest["paused"] == [harness.SEED_PAUSED_DAG]

    # Row for row against a plain read of the same tables (the dag table: the three columns the export takes).
    dump = seeded.harness("dump", "--tables", ",".join(COMPARED_TABLES))
    for table, rows in dump.items():
        if table == "variable":
            rows = [{k: v for k, v in row.items() if k != "val"} for row in rows]
        assert table_rows(out, manifest, table) == rows, table
        # Columns come from reflection: the manifest names exactly the database's columns.
        assert list(manifest["tables"][table]["columns"]) == list(rows[0]), table
    assert any(table in manifest["tables"] for table in HISTORY_TABLES)

    runs = table_rows(out, manifest, "dag_run")
    assert len(runs) == len(harness.RUN_DATES)
    # dag_run.conf is a pickle on 2.x: unpickled into JSON.
    assert all(run["conf"] == harness.RUN_CONF for run in runs)
    assert manifest["tables"]["dag_run"]["binary"]["conf"] == "unpickled"
    instances = table_rows(out, manifest, "task_instance")
    assert sorted(ti["map_index"] for ti in instances if ti["task_id"] == "load") == sorted([0, 1, 2] * len(runs))
    assert {ti["try_number"] for ti in instances if ti["task_id"] == "extract"} == {3}
    history = sum(manifest["tables"][t]["rows"] for t in HISTORY_TABLES if t in manifest["tables"])
    assert history >= 2 * len(runs)
    xcoms = table_rows(out, manifest, "xcom")
    assert [json.loads(base64.b64decode(x["value"])) for x in xcoms] == [harness.XCOM_VALUE] * len(runs)
    pools = {p["pool"]: p["slots"] for p in table_rows(out, manifest, "slot_pool")}
    assert pools.items() >= harness.POOLS.items()

    # Secrets: decrypted, only under secrets/, private.
    variables = {row["key"]: row["val"] for row in read_jsonl(out / "secrets" / "variable.jsonl.gz")}
    assert variables.keys() == harness.VARIABLES.keys()
    assert variables["plain_var"] == harness.VARIABLES["plain_var"]
    assert json.loads(variables["json_var"]) == harness.VARIABLES["json_var"]
    (connection,) = read_jsonl(out / "secrets" / "connection.jsonl.gz")
    assert connection["password"] == harness.CONNECTION["password"]
    assert json.loads(connection["extra"]) == harness.CONNECTION["extra"]
    assert connection["is_encrypted"] is False
    assert "connection" not in manifest["tables"]
    assert not list((out / "tables").glob("connection*"))
    for path in (out / "tables").rglob("*.gz"):
        assert harness.CONNECTION["password"].encode() not in gzip.decompress(path.read_bytes())
        assert b"plain value" not in gzip.decompress(path.read_bytes())
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (out / "secrets").iterdir()} == {0o600}


def test_empty_database(empty: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    manifest = empty.harness("export", "--out", str(out))["manifest"]
    check_parts(out, manifest)
    assert manifest["tables"]["dag_run"]["rows"] == 0
    assert manifest["tables"]["task_instance"]["rows"] == 0
    assert manifest["secrets"]["connection"]["rows"] == 0
    assert manifest["paused"] == []
    assert any("not in this source's database" in warning for warning in manifest["warnings"])


def test_failed_part_leaves_no_manifest(seeded: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    result = seeded.harness("export", "--out", str(out), "--fail-prefix", "tables/task_instance/")
    assert "tables/task_instance/part-00000.jsonl.gz failed 3 times" in result["error"]
    assert result["attempts"]["tables/task_instance/part-00000.jsonl.gz"] == 3
    assert "manifest.json" not in result["order"]
    assert not (out / "manifest.json").exists()


def test_a_complete_export_is_never_rewritten(seeded: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    first = seeded.harness("export", "--out", str(out))
    manifest_before = (out / "manifest.json").read_bytes()

    again = seeded.harness("export", "--out", str(out))

    assert again["error"] == f"export test-export is already complete in {out}; start a new export id"
    assert again["order"] == []
    assert (out / "manifest.json").read_bytes() == manifest_before
    check_parts(out, first["manifest"])


def test_transient_failures_are_retried(seeded: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    result = seeded.harness("export", "--out", str(out), "--flaky")
    assert set(result["attempts"].values()) == {harness.FLAKY_TRIES}
    check_parts(out, result["manifest"])


def test_since_window(seeded: AirflowEnv, tmp_path: Path) -> None:
    """Everything that belongs to a run comes with its run or not at all: the seed's xcom and SLA misses were all
    written today (their own timestamps), so windowing them by those would bring the older runs' rows without
    their task instances, and a 2.x import would fail on the foreign key."""
    out = tmp_path / "archive"
    tables = "dag_run,task_instance,task_fail,xcom,sla_miss,variable"
    manifest = seeded.harness("export", "--out", str(out), "--since", "2026-02-15", "--tables", tables)["manifest"]
    assert set(manifest["tables"]) == set(tables.split(","))
    assert not [w for w in manifest["warnings"] if "since" in w], manifest["warnings"]
    (run,) = table_rows(out, manifest, "dag_run")
    assert run["execution_date"] == harness.RUN_DATES[-1].isoformat()
    instances = table_rows(out, manifest, "task_instance")
    assert len(instances) == 4
    assert {ti["run_id"] for ti in instances} == {run["run_id"]}
    for name in ("task_fail", "xcom"):
        rows = table_rows(out, manifest, name)
        assert rows and {row["run_id"] for row in rows} == {run["run_id"]}, name
    (miss,) = table_rows(out, manifest, "sla_miss")
    assert miss["execution_date"] == run["execution_date"]
    # Variables have no date: all of them.
    assert manifest["tables"]["variable"]["rows"] == len(harness.VARIABLES)


def test_dag_loads_and_runs_in_airflow(seeded: AirflowEnv, tmp_path: Path) -> None:
    result = seeded.harness("dag", "--out", str(tmp_path))
    assert result["import_errors"] == {}
    assert result["dag_ids"] == ["mwaa_migration_export"]
    assert result["is_paused_upon_creation"] is True
    assert result["schedule_interval"] == "None"
    assert result["catchup"] is False
    assert result["task_ids"] == ["export"]
    assert result["written"] == ["s3://test-bucket/exports/harness/cutover-1/"]
    archive = tmp_path / "exports" / "harness" / "cutover-1"
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["export_id"] == "cutover-1"
    assert set(manifest["tables"]) == {"variable", "dag_run"}
    check_parts(archive, manifest)


def test_script_mode(seeded: AirflowEnv, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    done = seeded.run(str(seeded.python), str(EXPORT_FILE), "--out", str(out), "--export-id", "manual-1")
    assert "task_instance: 12 rows" in done.stderr
    assert "holds decrypted connections and variables" in done.stderr
    assert "export manual-1 complete" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    check_parts(out, manifest)
    assert stat.S_IMODE((out / "secrets" / "connection.jsonl.gz").stat().st_mode) == 0o600
    # An archive goes into a new or empty folder only.
    again = seeded.run(str(seeded.python), str(EXPORT_FILE), "--out", str(out), check=False)
    assert again.returncode == 1
    assert "is not empty" in again.stderr


def test_helper_python_is_not_the_test_python() -> None:
    # The harness runs in Airflow's virtualenvs, never in this one (which has no Airflow).
    assert shutil.which("airflow", path=str(Path(sys.executable).parent)) is None


def test_sqlite_gives_the_same_archive(sqlite_seeded: AirflowEnv, tmp_path: Path) -> None:
    # Dialect independence: a self-managed Airflow on SQLite exports the same rows, through the same code.
    out = tmp_path / "archive"
    manifest = sqlite_seeded.harness("export", "--out", str(out))["manifest"]
    check_parts(out, manifest)
    assert manifest["source"]["dialect"] == "sqlite"
    dump = sqlite_seeded.harness("dump", "--tables", ",".join(COMPARED_TABLES))
    for table, rows in dump.items():
        if table == "variable":
            rows = [{k: v for k, v in row.items() if k != "val"} for row in rows]
        # SQLite keeps datetimes as naive UTC text, which a plain read returns as is; the archive has them as ISO.
        # and JSON columns as their text, which the archive has decoded.
        json_columns = {name for name, kind in manifest["tables"][table]["columns"].items() if "JSON" in kind.upper()}
        expected = [as_utc(decoded(row, json_columns)) for row in rows]
        assert [as_utc(row) for row in table_rows(out, manifest, table)] == expected, table
    (connection,) = read_jsonl(out / "secrets" / "connection.jsonl.gz")
    assert connection["password"] == harness.CONNECTION["password"]


SQLITE_DATETIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?")


def as_utc(row: dict[str, Any]) -> dict[str, Any]:
    """Datetime text, naive (SQLite) or with an offset (the archive), as one aware UTC value."""
    result = {}
    for key, value in row.items():
        if isinstance(value, str) and SQLITE_DATETIME.fullmatch(value):
            parsed = datetime.fromisoformat(value)
            value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
        result[key] = value
    return result


def decoded(row: dict[str, Any], json_columns: set[str]) -> dict[str, Any]:
    return {k: json.loads(v) if k in json_columns and isinstance(v, str) else v for k, v in row.items()}


def test_postgres_timestamp_text_is_written_as_isoformat_writes_it() -> None:
    # Checked in the Airflow virtualenv, where the export file imports; each case against Python's own isoformat.
    cases = {
        "2026-01-01 00:05:00+00": "2026-01-01T00:05:00+00:00",
        "2026-01-01 00:05:00.5+00": "2026-01-01T00:05:00.500000+00:00",
        "2026-11-28 14:11:27.21949+00": "2026-11-28T14:11:27.219490+00:00",
        "2026-11-28 14:11:27.123456": "2026-11-28T14:11:27.123456+00:00",
        "2026-11-28 14:11:27+05:30": "2026-11-28 14:11:27+05:30",
        "infinity": "infinity",
    }
    found = in_airflow(
        "print(json.dumps([m._postgres_timestamp(text) for text in json.loads(sys.argv[1])]))\n",
        json.dumps(list(cases)),
    )
    assert found == list(cases.values())
    for text, iso in list(cases.items())[:4]:
        parsed = datetime.fromisoformat(text.replace("+00", "+00:00") if text.endswith("+00") else text + "+00:00")
        assert parsed.isoformat() == iso


def test_values_a_column_type_didnt_announce_and_nan_become_warnings_not_a_failed_export() -> None:
    # SQLite keeps text in a BLOB column; a float column may hold NaN, which JSON can't: neither stops an export.
    line, problems, kinds = in_airflow(
        "stats = m.TableStats({'blob': 'BLOB', 'duration': 'FLOAT'})\n"
        "encoder = m.RowEncoder(['blob', 'duration'], {'blob': 'binary', 'duration': 'plain'}, stats)\n"
        "writer = m.PartWriter(None, stats, lambda index: 'x', False)\n"
        "line = writer._line(encoder.encode(('kept as text', float('nan'))))\n"
        "print(json.dumps([line, sorted(map(list, stats.problems)), sorted(stats.binary['blob'])]))\n"
    )
    assert json.loads(line) == {"blob": "kept as text", "duration": None}
    assert problems == [["duration", "a number JSON can't hold (nan): null"]]
    assert kinds == ["text"]


def test_conf_values_are_checked_without_a_traceback() -> None:
    accepted, refusals = in_airflow(
        "out = []\n"
        "for call in (lambda: m.check_export_id('ok-1\\n'), lambda: m.check_export_id('a/../b'),\n"
        "             lambda: m.parse_since(5), lambda: m.parse_since('yesterday')):\n"
        "    try:\n"
        "        call(); out.append(None)\n"
        "    except m.ExportError as error:\n"
        "        out.append(str(error))\n"
        "print(json.dumps([m.check_export_id('cutover-1'), out]))\n"
    )
    assert accepted == "cutover-1"
    assert [refusal.split(":")[0] if refusal else None for refusal in refusals] == [
        "export_id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        "export_id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        "since",
        "since",
    ]


def in_airflow(body: str, *args: str) -> Any:
    """Run `body` in the Airflow 2.10.3 virtualenv with the export file loaded as `m`; its last line is JSON."""
    script = (
        "import datetime, importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('export_metadata', {str(EXPORT_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n" + body
    )
    python = REPO_ROOT / ".venv-airflow-2.10.3" / "bin" / "python"
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [str(python), "-c", script, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
