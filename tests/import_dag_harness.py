"""Run inside an Airflow virtualenv (not the test one): import an archive with the migration DAGs' zip (its
mwaa_migration_support.metadata_import, from the zip the test built and passes as --unit), read the result back
through Airflow's own models, change target rows for the on_existing tests, and load the zip as Airflow's DagBag
does (--dags-folder). Prints one JSON document on stdout (its last line). The database and the Fernet key come from
the environment (`AIRFLOW__...`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
import time
from typing import Any

# The seed's constants and its plain-SQL dump.
import airflow_harness  # type: ignore[import-not-found, unused-ignore]  # same folder, run as a script

HERE = pathlib.Path(__file__).resolve().parent

UTC = datetime.UTC
DAG_IDS = ("mwaa_migration_import", "mwaa_migration_task_logs")


def load_unit(unit: str) -> tuple[Any, Any]:
    """metadata_import and the archive reader, from the zip (as Airflow imports them: the zip on sys.path)."""
    sys.path.insert(0, unit)
    from mwaa_migration_support import exports, metadata_import

    return metadata_import, exports.archive


def run_import(unit: str, archive: str, on_existing: str, batch: int) -> dict[str, Any]:
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]

    module, reader_module = load_unit(unit)
    messages: list[str] = []
    try:
        reader = reader_module.LocalArchive(archive)
        importer = module.Importer(
            reader=reader,
            manifest=reader_module.read_manifest(reader),
            engine=settings.engine,
            session_factory=create_session,
            on_existing=on_existing,
            batch_rows=batch,
            progress=messages.append,
        )
        summary: dict[str, Any] = importer.run()
    except (module.MetadataImportError, reader_module.ArchiveError) as error:
        return {"error": str(error), "progress": messages}
    summary["progress"] = messages
    return summary


def iso(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return value


def readback() -> dict[str, Any]:
    """What Airflow's models give back (values decrypted with this Airflow's Fernet key)."""
    from airflow.models import DagRun, Pool, SlaMiss, TaskInstance, XCom  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.taskfail import TaskFail  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]

    try:  # 2.10+
        from airflow.models.taskinstancehistory import (  # type: ignore[import-not-found, unused-ignore]
            TaskInstanceHistory,
        )
    except ImportError:
        TaskInstanceHistory = None  # noqa: N806
    out: dict[str, Any] = {}
    with create_session() as session:
        out["variables"] = {
            v.key: {
                "value": Variable.get(v.key),
                "description": v.description,
                "is_encrypted": v.is_encrypted,
                "stored_is_plain": v._val == Variable.get(v.key),
            }
            for v in session.query(Variable).order_by(Variable.key)
        }
        out["connections"] = {
            c.conn_id: {
                "conn_type": c.conn_type,
                "host": c.host,
                "login": c.login,
                "schema": c.schema,
                "port": c.port,
                "password": c.password,
                "extra": json.loads(c.extra) if c.extra else None,
                "is_encrypted": c.is_encrypted,
                "is_extra_encrypted": c.is_extra_encrypted,
                "stored_password_is_plain": c._password == c.password,
                "stored_extra_is_plain": c._extra == c.extra,
            }
            for c in session.query(Connection).order_by(Connection.conn_id)
        }
        out["pools"] = {
            p.pool: {
                "slots": p.slots,
                "description": p.description,
                "include_deferred": getattr(p, "include_deferred", None),
            }
            for p in session.query(Pool).order_by(Pool.pool)
        }
        run_fields = [
            "dag_id",
            "run_id",
            "run_type",
            "state",
            "conf",
            "execution_date",
            "start_date",
            "end_date",
            "queued_at",
            "data_interval_start",
            "data_interval_end",
            "external_trigger",
            "clear_number",
            "creating_job_id",
            "log_template_id",
        ]
        out["dag_runs"] = [
            {f: iso(getattr(r, f, None)) for f in run_fields}
            for r in session.query(DagRun).order_by(DagRun.dag_id, DagRun.run_id)
        ]
        ti_fields = [
            "dag_id",
            "task_id",
            "run_id",
            "map_index",
            "state",
            "try_number",
            "max_tries",
            "start_date",
            "end_date",
            "duration",
            "hostname",
            "unixname",
            "operator",
            "pool",
            "pool_slots",
            "queue",
            "priority_weight",
            "executor_config",
            "queued_dttm",
            "job_id",
        ]
        out["task_instances"] = [
            {f: iso(getattr(t, f)) for f in ti_fields}
            for t in session.query(TaskInstance).order_by(
                TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index
            )
        ]
        history_fields = [
            "dag_id",
            "task_id",
            "run_id",
            "map_index",
            "try_number",
            "state",
            "start_date",
            "end_date",
            "duration",
        ]
        out["task_instance_history"] = (
            [
                {f: iso(getattr(h, f)) for f in history_fields}
                for h in session.query(TaskInstanceHistory).order_by(
                    TaskInstanceHistory.run_id, TaskInstanceHistory.task_id, TaskInstanceHistory.try_number
                )
            ]
            if TaskInstanceHistory is not None
            else []
        )
        fail_fields = ["dag_id", "task_id", "run_id", "map_index", "start_date", "end_date", "duration"]
        out["task_fail"] = [
            {f: iso(getattr(h, f)) for f in fail_fields}
            for h in session.query(TaskFail).order_by(TaskFail.run_id, TaskFail.task_id, TaskFail.id)
        ]
        out["xcom"] = [
            {
                "dag_id": x.dag_id,
                "run_id": x.run_id,
                "task_id": x.task_id,
                "key": x.key,
                "value": x.value,  # deserialized on load (BaseXCom.init_on_load)
                "run_matches": x.dag_run_id
                == session.query(DagRun.id).filter(DagRun.dag_id == x.dag_id, DagRun.run_id == x.run_id).scalar(),
            }
            for x in session.query(XCom).order_by(XCom.dag_id, XCom.run_id, XCom.task_id, XCom.key)
        ]
        out["sla_miss"] = session.query(SlaMiss).count()
    return out


def tamper() -> dict[str, Any]:
    """Change one entry of each kind on the target, as a stale rehearsal copy would differ."""
    from airflow.models import DagRun, Pool, TaskInstance  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]

    with create_session() as session:
        session.query(Variable).filter(Variable.key == "plain_var").one().set_val("stale value")
        session.query(Connection).filter(Connection.conn_id == "warehouse").one().password = "stale-password"
        session.query(Pool).filter(Pool.pool == "etl_pool").update({"slots": 99})
        run = session.query(DagRun).order_by(DagRun.execution_date).first()
        run.state = "failed"
        session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id, TaskInstance.task_id == "extract").update(
            {"duration": 1.5}, synchronize_session=False
        )
        return {"run_id": run.run_id}


def clash() -> dict[str, Any]:
    """A run of the target's own at the first seeded logical date, under another run id."""
    from airflow.models import DagRun  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.types import DagRunType  # type: ignore[import-not-found, unused-ignore]

    date = airflow_harness.RUN_DATES[0]
    with create_session() as session:
        session.add(
            DagRun(
                dag_id=airflow_harness.SEED_DAG,
                run_id="target_own__" + date.isoformat(),
                execution_date=date,
                run_type=DagRunType.MANUAL,
                state="success",
                external_trigger=True,
            )
        )
    return {"run_id": "target_own__" + date.isoformat()}


def dag_load(folder: str) -> dict[str, Any]:
    """A DAG folder holding the zip, as Airflow's DagBag loads it (the DAG processor's and the workers' loader)."""
    from airflow.models.dagbag import DagBag  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.file import list_py_file_paths  # type: ignore[import-not-found, unused-ignore]

    bag = DagBag(dag_folder=folder, include_examples=False)
    (unit,) = pathlib.Path(folder).glob("*.zip")
    # What a worker loads to run a task: the DAG's own file location, inside the zip.
    by_fileloc = {
        dag_id: sorted(DagBag(dag_folder=dag.fileloc, include_examples=False).dags) for dag_id, dag in bag.dags.items()
    }
    # Every module Airflow imported from the zip under a top-level name: only DAG files are imported as such.
    from_zip = sorted(
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None) or "").startswith(str(unit) + "/") and "." not in name
    )
    return {
        "files": [str(pathlib.Path(path).relative_to(folder)) for path in list_py_file_paths(folder, safe_mode=True)],
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dags),
        "top_level_modules_from_zip": from_zip,
        "dags": {
            dag_id: {
                "fileloc": str(pathlib.Path(dag.fileloc).relative_to(folder)),
                "found_from_fileloc": by_fileloc[dag_id],
                "is_paused_upon_creation": getattr(dag, "is_paused_upon_creation", None),
                "schedule": repr(getattr(dag, "schedule_interval", getattr(dag, "schedule", "missing"))),
                "catchup": getattr(dag, "catchup", None),
                "max_active_runs": getattr(dag, "max_active_runs", None),
                "tags": sorted(dag.tags),
                "task_ids": sorted(dag.task_ids),
            }
            for dag_id, dag in bag.dags.items()
        },
    }


class FakeRun:
    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf


def dag_check(folder: str, root: str, export_id: str) -> dict[str, Any]:
    """The DAGs as loaded, and one run of their task callables (as loaded) reading a local archive laid out as the
    bucket; the zip's settings are filled in (bucket test-bucket, migration harness, a self-managed source)."""
    loaded = dag_load(folder)
    from airflow.models.dagbag import DagBag  # type: ignore[import-not-found, unused-ignore]
    from mwaa_migration_support import exports, metadata_import, task_logs

    settings = exports.load_settings()
    opened: list[str] = []

    def local_export(conf: dict[str, Any], *_: Any) -> Any:
        opened.append(str(conf.get("export_id")))
        return exports.archive.LocalArchive(str(pathlib.Path(root) / "exports" / settings.migration_name / export_id))

    for module in (metadata_import, task_logs):
        module.__dict__["open_export"] = local_export  # the S3 archive's seam: here a local folder
    bag = DagBag(dag_folder=folder, include_examples=False)
    conf = {"export_id": export_id, "on_existing": "overwrite", "log_days": 3}
    summary = bag.dags[DAG_IDS[0]].get_task("import_metadata").python_callable(dag_run=FakeRun(conf))
    copied = bag.dags[DAG_IDS[1]].get_task("copy_task_logs").python_callable(dag_run=FakeRun(conf))
    return {
        **loaded,
        "settings": settings._asdict(),
        "opened": opened,
        "counts": summary["counts"],
        "log_copy": copied,
    }


def dag_check_3(folder: str) -> dict[str, Any]:
    """Airflow 3: both DAGs load; the import task returns before it reads any conf or archive, and the log copy of a
    self-managed source copies nothing."""
    loaded = dag_load(folder)
    from airflow.models.dagbag import DagBag  # type: ignore[import-not-found, unused-ignore]

    bag = DagBag(dag_folder=folder, include_examples=False)
    return {
        **loaded,
        "import": bag.dags[DAG_IDS[0]].get_task("import_metadata").python_callable(dag_run=None),
        "log_copy": bag.dags[DAG_IDS[1]].get_task("copy_task_logs").python_callable(dag_run=FakeRun({})),
    }


def bulk(runs: int, tasks: int) -> dict[str, Any]:
    """A bigger history, inserted with plain SQL (the seed's models are too slow for thousands of runs)."""
    import pickle

    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]

    engine = settings.engine
    meta = sa.MetaData()
    dag_run = sa.Table("dag_run", meta, autoload_with=engine)
    ti = sa.Table("task_instance", meta, autoload_with=engine)
    history = (
        sa.Table("task_instance_history", meta, autoload_with=engine)
        if "task_instance_history" in (sa.inspect(engine).get_table_names())
        else None
    )
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    conf = pickle.dumps({"bulk": True})
    started = time.monotonic()
    with engine.begin() as connection:
        for first in range(0, runs, 500):
            run_rows, ti_rows, history_rows = [], [], []
            for n in range(first, min(first + 500, runs)):
                date = start + datetime.timedelta(hours=n)
                run_id = f"scheduled__{date.isoformat()}"
                run_rows.append(
                    {
                        "dag_id": "bulk_dag",
                        "run_id": run_id,
                        "execution_date": date,
                        "start_date": date,
                        "end_date": date + datetime.timedelta(minutes=10),
                        "state": "success",
                        "run_type": "scheduled",
                        "external_trigger": False,
                        "conf": conf,
                        "data_interval_start": date,
                        "data_interval_end": date + datetime.timedelta(hours=1),
                        "clear_number": 0,
                    }
                )
                for t in range(tasks):
                    row = {
                        "dag_id": "bulk_dag",
                        "task_id": f"task_{t:02d}",
                        "run_id": run_id,
                        "map_index": -1,
                        "start_date": date,
                        "end_date": date + datetime.timedelta(minutes=1),
                        "duration": 60.0,
                        "state": "success",
                        "try_number": 2,
                        "max_tries": 2,
                        "hostname": "worker-1",
                        "unixname": "airflow",
                        "pool": "default_pool",
                        "pool_slots": 1,
                        "queue": "default",
                        "priority_weight": 1,
                        "operator": "BashOperator",
                    }
                    ti_rows.append(row)
                    if history is not None:
                        history_rows.append({**row, "try_number": 1, "state": "failed"})
            connection.execute(dag_run.insert(), run_rows)
            connection.execute(ti.insert(), ti_rows)
            if history_rows and history is not None:
                connection.execute(history.insert(), history_rows)
    return {"runs": runs, "task_instances": runs * tasks, "seconds": round(time.monotonic() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["import", "readback", "dump", "tamper", "clash", "dag", "dag3", "bulk"])
    parser.add_argument("--unit", help="the migration DAGs' zip")
    parser.add_argument("--dags-folder", help="a DAG folder holding the (filled-in) zip")
    parser.add_argument("--archive")
    parser.add_argument("--on-existing", default="overwrite")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--tables")
    parser.add_argument("--export-id")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    result: Any
    if args.command == "import":
        result = run_import(args.unit, args.archive, args.on_existing, args.batch)
    elif args.command == "readback":
        result = readback()
    elif args.command == "dump":
        result = airflow_harness.dump(args.tables.split(","))
    elif args.command == "tamper":
        result = tamper()
    elif args.command == "clash":
        result = clash()
    elif args.command == "dag":
        result = dag_check(args.dags_folder, args.archive, args.export_id)
    elif args.command == "dag3":
        result = dag_check_3(args.dags_folder)
    else:
        result = bulk(args.runs, args.tasks)
    sys.stdout.write("\n" + json.dumps({"result": result}, default=str) + "\n")


if __name__ == "__main__":
    main()
