"""The migration DAGs' zip against real Airflow: an archive exported by the real export from a seeded Airflow 2.10.3
database, imported by the 2.x ORM import (mwaa_migration_support.metadata_import, from the zip) into a fresh Airflow
2.11.2 database with another Fernet key, read back through Airflow's own models; and the zip in a DAG folder as
Airflow 2.11.2 and 3.0.6 load it (tests/import_dag_harness.py, run in the Airflow virtualenvs)."""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mwaa_migration_support import exports, metadata_import

from mwaa_migration.migration_dags_zip import SETTINGS_ENTRY
from tests import airflow_harness as seed
from tests.airflow_fixtures import AirflowEnv, check_parts, migrated_env, new_fernet_key
from tests.migration_dags_unit import UNIT_ZIP, filled_unit
from tests.pg_cluster import Cluster

REPO_ROOT = Path(__file__).resolve().parent.parent
HARNESS = REPO_ROOT / "tests" / "import_dag_harness.py"
DAG_IDS = ["mwaa_migration_import", "mwaa_migration_task_logs"]
TARGET = "2.11.2"
HISTORY = ["dag_runs", "task_instances", "task_instance_history", "task_fail"]
# Values that refer to the source's own rows (jobs, log templates, run ids): the import sets them on the target.
TARGET_OWN = {"dag_runs": ("creating_job_id", "log_template_id"), "task_instances": ("job_id",)}
DUMPED = ["slot_pool", "dag_run", "task_instance", "task_instance_history", "task_fail", "xcom", "sla_miss"]
DUMP_TARGET_OWN = {"id", "creating_job_id", "log_template_id", "job_id", "queued_by_job_id", "dag_run_id"}


def harness(env: AirflowEnv, *args: str) -> Any:
    done = env.run(str(env.python), str(HARNESS), *args)
    return json.loads(done.stdout.strip().splitlines()[-1])["result"]


class Source:
    def __init__(self, env: AirflowEnv, archive: Path) -> None:
        self.env = env
        self.archive = archive
        self.manifest: dict[str, Any] = json.loads((archive / "manifest.json").read_text())
        self.readback: dict[str, Any] = harness(env, "readback")
        self.dump: dict[str, Any] = harness(env, "dump", "--tables", ",".join(DUMPED))


def exported(cluster: Cluster, version: str, root: Path) -> Source:
    env = migrated_env(cluster, version, "import_source", root, new_fernet_key())
    env.harness("seed")
    archive = root / "archive"
    env.harness("export", "--out", str(archive))
    return Source(env, archive)


@pytest.fixture(scope="module")
def source(postgres: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Source:
    return exported(postgres, "2.10.3", tmp_path_factory.mktemp("source"))


@pytest.fixture
def archive(source: Source, tmp_path: Path) -> Path:
    """A copy of the archive per test: the import writes run-ids.json into it."""
    copy = tmp_path / "archive"
    shutil.copytree(source.archive, copy)
    return copy


@pytest.fixture
def target(postgres: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> AirflowEnv:
    """A fresh Airflow 2.11.2 database with its own Fernet key."""
    return migrated_env(postgres, TARGET, "target_" + request.node.name[-40:], tmp_path / "target", new_fernet_key())


def run_import(env: AirflowEnv, archive: Path, on_existing: str = "overwrite", batch: int = 1000) -> Any:
    return harness(
        env, "import", "--unit", str(UNIT_ZIP), "--archive", str(archive), "--on-existing", on_existing,
        "--batch", str(batch),
    )  # fmt: skip


def without(rows: list[dict[str, Any]], fields: tuple[str, ...] | set[str]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in fields} for row in rows]


def assert_same_as_source(found: dict[str, Any], source: Source) -> None:
    expected = source.readback
    assert found["variables"] == expected["variables"]
    assert found["connections"] == expected["connections"]
    assert found["pools"] == expected["pools"]
    for table in HISTORY:
        own = TARGET_OWN.get(table, ())
        assert without(found[table], own) == without(expected[table], own), table
    assert found["xcom"] == expected["xcom"]
    assert found["sla_miss"] == expected["sla_miss"]


def assert_dump_same_as_source(env: AirflowEnv, source: Source) -> None:
    dump = harness(env, "dump", "--tables", ",".join(DUMPED))
    for table in DUMPED:
        # Ordered by primary key: the target's own ids (task_fail, history) may order differently.
        key = lambda row: json.dumps(row, sort_keys=True)  # noqa: E731
        got = sorted(without(dump[table], DUMP_TARGET_OWN), key=key)
        assert got == sorted(without(source.dump[table], DUMP_TARGET_OWN), key=key), table


def test_the_zip_is_python_38_with_the_deployment_placeholders() -> None:
    with zipfile.ZipFile(UNIT_ZIP) as unit:
        modules = {name: unit.read(name).decode() for name in unit.namelist() if name.endswith(".py")}
        settings = json.loads(unit.read(SETTINGS_ENTRY))
    for name, text in modules.items():
        ast.parse(text, filename=name, feature_version=(3, 8))
        assert "datetime.UTC" not in text, name
    assert settings == {
        "migration_bucket": "__MWAA_MIGRATION_BUCKET__",
        "migration_name": "__MWAA_MIGRATION_NAME__",
        "source_task_log_group": "__MWAA_SOURCE_TASK_LOG_GROUP__",
        "source_region": "__MWAA_SOURCE_REGION__",
        "target_task_log_group": "__MWAA_TARGET_TASK_LOG_GROUP__",
    }


def test_import_reads_back_equal_and_a_rerun_changes_nothing(source: Source, archive: Path, target: AirflowEnv) -> None:
    summary = run_import(target, archive)
    counts = summary["counts"]
    assert {name: c["inserted"] for name, c in counts.items()} == {
        "variable": 2,
        "connection": 1,
        "slot_pool": 2,  # default_pool is the target's already, and equal
        "dag_run": 3,
        "task_instance": 12,
        "task_instance_history": 6,
        "task_fail": 6,
        "xcom": 3,
        "sla_miss": 3,
    }
    assert counts["slot_pool"]["unchanged"] == 1
    assert summary["refused"] == []
    assert (
        "runs imported for DAGs this Airflow doesn't know (yet; their files aren't parsed): seeded_etl"
        in (summary["warnings"])
    )
    assert any(w.startswith("tables kept in the archive only: dag,") for w in summary["warnings"])

    found = harness(target, "readback")
    assert_same_as_source(found, source)
    assert_dump_same_as_source(target, source)
    # Decrypted with the target's own key (the harness's environment has no other), stored encrypted.
    assert found["variables"]["plain_var"]["value"] == seed.VARIABLES["plain_var"]
    assert json.loads(found["variables"]["json_var"]["value"]) == seed.VARIABLES["json_var"]
    assert not any(v["stored_is_plain"] for v in found["variables"].values())
    connection = found["connections"]["warehouse"]
    assert connection["password"] == seed.CONNECTION["password"]
    assert connection["extra"] == seed.CONNECTION["extra"]
    assert connection["is_encrypted"] and connection["is_extra_encrypted"]
    assert not connection["stored_password_is_plain"] and not connection["stored_extra_is_plain"]
    # The history as the source had it: run types, conf, tries, durations, mapped instances.
    assert {r["run_type"] for r in found["dag_runs"]} == {"manual"}
    assert all(r["conf"] == seed.RUN_CONF for r in found["dag_runs"])
    extract = [ti for ti in found["task_instances"] if ti["task_id"] == "extract"]
    assert {(ti["try_number"], ti["duration"], ti["state"]) for ti in extract} == {(3, 300.0, "success")}
    assert sorted(ti["map_index"] for ti in found["task_instances"] if ti["task_id"] == "load") == sorted([0, 1, 2] * 3)
    assert sorted({h["try_number"] for h in found["task_instance_history"]}) == [1, 2]
    assert all(x["value"] == seed.XCOM_VALUE and x["run_matches"] for x in found["xcom"])
    # The runs' log names follow the target's log template.
    assert {r["log_template_id"] for r in found["dag_runs"]} != {None}
    run_ids = json.loads((archive / "run-ids.json").read_text())
    assert run_ids == {"format": 1, "dags": {seed.SEED_DAG: {r["run_id"]: r["run_id"] for r in found["dag_runs"]}}}

    dump_before = harness(target, "dump", "--tables", ",".join(DUMPED))
    again = run_import(target, archive)
    for name, c in again["counts"].items():
        assert c["inserted"] == c["updated"] == c["skipped"] == c["refused"] == 0, name
        assert c["unchanged"] == counts[name]["inserted"] + counts[name]["unchanged"], name
    assert harness(target, "dump", "--tables", ",".join(DUMPED)) == dump_before
    assert harness(target, "readback") == found


def test_on_existing_fail_skip_overwrite(source: Source, archive: Path, target: AirflowEnv) -> None:
    run_import(target, archive)
    tampered_run = harness(target, "tamper")["run_id"]
    tampered = harness(target, "readback")

    failed = run_import(target, archive, "fail")
    assert failed["error"].startswith("on_existing=fail: 5 target entries differ from the archive, nothing written: ")
    for key in (
        "variable plain_var",
        "connection warehouse",
        "slot_pool etl_pool",
        f"dag_run {seed.SEED_DAG}/{tampered_run}",
        f"task_instance {seed.SEED_DAG}/extract/{tampered_run}/-1",
    ):
        assert key in failed["error"]
    assert seed.CONNECTION["password"] not in failed["error"] and "stale" not in failed["error"]
    assert harness(target, "readback") == tampered

    skipped = run_import(target, archive, "skip")
    assert {n: c["skipped"] for n, c in skipped["counts"].items() if c["skipped"]} == {
        "variable": 1,
        "connection": 1,
        "slot_pool": 1,
        "dag_run": 1,
        "task_instance": 1,
    }
    assert harness(target, "readback") == tampered

    overwritten = run_import(target, archive, "overwrite")
    assert sum(c["updated"] for c in overwritten["counts"].values()) == 5
    assert_same_as_source(harness(target, "readback"), source)
    # Nothing left to overwrite: `fail` now passes.
    assert "error" not in run_import(target, archive, "fail")


def damage(archive: Path, manifest: dict[str, Any], how: str) -> str:
    part = manifest["tables"]["task_instance"]["parts"][0]
    key: str = part["key"]
    path = archive / key
    body = bytearray(path.read_bytes())
    if how == "flip":
        body[len(body) // 2] ^= 0xFF
        path.write_bytes(bytes(body))
    elif how == "size":
        path.write_bytes(bytes(body[:-1]))
    elif how == "rows":
        # A row fewer, with the manifest's size and checksum made to match: only the row count tells.
        lines = gzip.decompress(bytes(body)).splitlines(keepends=True)[:-1]
        shorter = gzip.compress(b"".join(lines))
        path.write_bytes(shorter)
        part.update(bytes=len(shorter), sha256=hashlib.sha256(shorter).hexdigest())
        (archive / "manifest.json").write_text(json.dumps(manifest))
    else:
        path.unlink()
    return key


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        # The cut-over's archive reader's own words (lambda/cutover/archive.py, copied into the zip).
        ("flip", "sha256 differs from the manifest"),
        ("size", "bytes, manifest.json says"),
        ("rows", "11 rows, manifest.json says 12"),
        ("gone", "missing, though manifest.json lists it"),
    ],
)
def test_a_damaged_part_is_refused_before_anything_is_written(
    source: Source, archive: Path, target: AirflowEnv, how: str, reason: str
) -> None:
    key = damage(archive, json.loads(json.dumps(source.manifest)), how)
    result = run_import(target, archive)
    assert result["error"].startswith(key + ": ")
    assert reason in result["error"]
    found = harness(target, "readback")
    assert found["variables"] == found["connections"] == {}
    assert list(found["pools"]) == ["default_pool"]
    assert found["dag_runs"] == found["task_instances"] == []
    assert not (archive / "run-ids.json").exists()


def test_a_target_run_at_the_same_logical_date_is_refused_by_name(
    source: Source, archive: Path, target: AirflowEnv
) -> None:
    own = harness(target, "clash")["run_id"]
    summary = run_import(target, archive, batch=2)
    clashing = f"manual__{seed.RUN_DATES[0].isoformat()}"
    assert summary["refused"] == [
        f"dag_run {seed.SEED_DAG}/{clashing}: the target has its own run {own} at that logical date"
    ]
    assert summary["counts"]["dag_run"]["refused"] == 1
    # Its task instances (4), tries (2 + 2) and xcom (1) are refused with it; everything else is imported.
    assert summary["counts"]["task_instance"] == {**summary["counts"]["task_instance"], "inserted": 8, "refused": 4}
    assert summary["counts"]["task_instance_history"]["refused"] == 2
    assert summary["counts"]["xcom"]["refused"] == 1
    found = harness(target, "readback")
    assert sorted(r["run_id"] for r in found["dag_runs"]) == sorted(
        [own, *(f"manual__{date.isoformat()}" for date in seed.RUN_DATES[1:])]
    )
    run_ids = json.loads((archive / "run-ids.json").read_text())["dags"][seed.SEED_DAG]
    assert clashing not in run_ids and len(run_ids) == 2


def assert_loaded_as_packaged_dags(result: dict[str, Any]) -> None:
    """Both DAGs from the zip, nothing else parsed as a DAG file, each found again from its own file location."""
    assert result["import_errors"] == {}
    assert result["files"] == ["mwaa_migration_dags.zip"], "the DAG processor's only candidate in the folder"
    assert result["dag_ids"] == DAG_IDS
    # Only the zip's root files were imported as DAG modules; the support package is a package of theirs.
    assert result["top_level_modules_from_zip"] == [
        "mwaa_migration_import",
        "mwaa_migration_support",
        "mwaa_migration_task_logs",
    ]
    for dag_id, task_id in zip(DAG_IDS, ["import_metadata", "copy_task_logs"], strict=True):
        dag = result["dags"][dag_id]
        assert dag["fileloc"] == f"mwaa_migration_dags.zip/{dag_id}.py"
        assert dag["found_from_fileloc"] == DAG_IDS, dag_id
        assert dag["task_ids"] == [task_id]
        assert dag["is_paused_upon_creation"] is True
        assert dag["schedule"] == "None"
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
        assert dag["tags"] == ["mwaa-migration"]


def test_the_zip_loads_in_airflow_2_11_and_its_tasks_run(source: Source, target: AirflowEnv, tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    shutil.copytree(source.archive, root / "exports" / "harness" / "cutover-1")
    folder = filled_unit(tmp_path / "dags").parent
    result = harness(target, "dag", "--dags-folder", str(folder), "--archive", str(root), "--export-id", "cutover-1")
    assert_loaded_as_packaged_dags(result)
    assert result["settings"]["migration_bucket"] == "test-bucket"
    # The import opened the export; the log copy of a self-managed source (empty log group) opens nothing.
    assert result["opened"] == ["cutover-1"]
    assert result["counts"]["task_instance"]["inserted"] == 12
    # A self-managed source (empty log group): nothing to copy.
    assert result["log_copy"] == {}
    assert_same_as_source(harness(target, "readback"), source)


def test_sqlite_target_reads_back_the_same(source: Source, archive: Path, tmp_path: Path) -> None:
    # Dialect independence: the same archive into Airflow 2.11 on SQLite.
    env = AirflowEnv(TARGET, f"sqlite:///{tmp_path / 'airflow.db'}", tmp_path / "home", new_fernet_key())
    env.migrate()
    first = run_import(env, archive)
    assert first["refused"] == []
    assert_same_as_source(harness(env, "readback"), source)
    again = run_import(env, archive)
    assert all(c["inserted"] == c["updated"] == 0 for c in again["counts"].values())


def test_an_older_source_maps_by_column_name(
    postgres: Cluster, target: AirflowEnv, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Airflow 2.4.3's tables lack columns 2.11 has (and it has no task_instance_history): defaults fill them in.
    old = exported(postgres, "2.4.3", tmp_path_factory.mktemp("source243"))
    check_parts(old.archive, old.manifest)
    summary = run_import(target, old.archive)
    assert summary["refused"] == []
    assert "column slot_pool.include_deferred = False: not in the archive, filled" in summary["warnings"]
    assert "task_instance_history" not in summary["counts"]
    found = harness(target, "readback")
    assert found["variables"] == old.readback["variables"]
    assert found["connections"] == old.readback["connections"]
    # Row for row on the columns 2.4.3 has (Airflow's own upgrade keeps try_number's value as is too).
    dump = harness(target, "dump", "--tables", ",".join(DUMPED))
    for table, rows in old.dump.items():
        columns = set(rows[0]) - DUMP_TARGET_OWN if rows else set()
        got = [{k: v for k, v in row.items() if k in columns} for row in dump[table]]
        key = lambda row: json.dumps(row, sort_keys=True)  # noqa: E731
        assert sorted(got, key=key) == sorted(without(rows, DUMP_TARGET_OWN), key=key), table


def test_on_an_airflow_3_target_both_dags_load_and_the_import_task_leaves_the_job_to_the_rest_importer(
    tmp_path: Path,
) -> None:
    # The zip is deployed on every target (the task-log DAG runs everywhere): it must load in Airflow 3 too.
    env = AirflowEnv("3.0.6", f"sqlite:///{tmp_path / 'airflow.db'}", tmp_path / "home", new_fernet_key())
    folder = filled_unit(tmp_path / "dags").parent
    result = harness(env, "dag3", "--dags-folder", str(folder))
    assert_loaded_as_packaged_dags(result)
    assert result["import"] == {}
    assert result["log_copy"] == {}


def test_s3_archive_newest_complete_export_and_only_the_export_prefix_is_listed(source: Source) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="mig-bucket")
        # Two complete exports (the one with the later finished_at wins, whatever the ids' order) and a newer
        # prefix without a manifest (an export under way or failed), which is ignored.
        for export_id, finished in (
            ("20260101T000000Z", "2026-01-01T00:10:00+00:00"),
            ("a-cutover", "2026-02-01T00:00:00+00:00"),
        ):
            for path in source.archive.rglob("*"):
                if path.is_file():
                    body = path.read_bytes()
                    if path.name == "manifest.json":
                        body = json.dumps({**json.loads(body), "finished_at": finished}).encode()
                    key = f"exports/m/{export_id}/{path.relative_to(source.archive)}"
                    client.put_object(Bucket="mig-bucket", Key=key, Body=body)
        client.put_object(
            Bucket="mig-bucket", Key="exports/m/zz-incomplete/tables/dag_run/part-00000.jsonl.gz", Body=b"x"
        )
        client.put_object(Bucket="mig-bucket", Key="exports/other/zzz/manifest.json", Body=b"{}")
        calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register(
            "provide-client-params.s3.*",
            lambda params, model, **_: calls.append((model.name, dict(params))),
        )
        settings = exports.Settings("mig-bucket", "m", "", "", "airflow-new-Task")

        reader = exports.open_export({}, settings, client)
        assert reader.description == "s3://mig-bucket/exports/m/a-cutover/"
        manifest = exports.archive.read_manifest(reader)
        names = [name for name, _ in metadata_import.IMPORTED_TABLES]
        assert metadata_import.verify_archive(reader, manifest, names, True) > 0
        assert reader.read("run-ids.json") is None
        exports.archive.write_run_ids(reader, {"d": {"r": "r"}})
        assert exports.archive.read_run_ids(reader) == {"d": {"r": "r"}}
        # ListObjectsV2 under exports/m/ only; everything else by key.
        listed = [params for name, params in calls if name == "ListObjectsV2"]
        assert listed == [{"Bucket": "mig-bucket", "Prefix": "exports/m/", "Delimiter": "/"}]
        assert {name for name, _ in calls} == {"ListObjectsV2", "GetObject", "PutObject"}

        chosen = exports.open_export({"export_id": "20260101T000000Z"}, settings, client)
        assert chosen.description == "s3://mig-bucket/exports/m/20260101T000000Z/"
        with pytest.raises(exports.ExportError, match="export_id must be"):
            exports.open_export({"export_id": "../x"}, settings, client)
        with pytest.raises(exports.ExportError, match="no complete export under s3://mig-bucket/exports/nothing-here/"):
            exports.open_export({}, settings._replace(migration_name="nothing-here"), client)


def test_an_unfilled_zip_loads_but_its_tasks_refuse_to_run(tmp_path: Path) -> None:
    """The zip as built (not yet deployed): its settings are the template's, so no task finds the export."""
    with pytest.raises(exports.ExportError, match="not filled in by the deployment") as raised:
        exports.load_settings()
    assert "migration_bucket" in str(raised.value)
    with pytest.raises(exports.ExportError, match="not filled in by the deployment"):
        exports.open_export({})  # what both tasks call first
    with zipfile.ZipFile(io.BytesIO(filled_unit(tmp_path).read_bytes())) as unit:
        assert exports.parse_settings(unit.read(SETTINGS_ENTRY)).migration_name == "harness"
