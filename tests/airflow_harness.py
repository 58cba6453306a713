"""Run inside an Airflow virtualenv (not the test one): seed a metadata database through Airflow's own models, read
it back independently of the export, and run the export with test writers. Prints one JSON document on stdout.

The database and the Fernet key come from the environment, the way Airflow reads them (`AIRFLOW__...`).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import importlib.util
import inspect
import json
import pathlib
import pickle
import sys
from typing import Any, BinaryIO

EXPORT_FILE = pathlib.Path(__file__).resolve().parent.parent / "migration_dags" / "export_metadata.py"
UTC = datetime.UTC
RUN_DATES = [datetime.datetime(2026, month, 1, tzinfo=UTC) for month in (1, 2, 3)]
SEED_DAG = "seeded_etl"
SEED_PAUSED_DAG = "seeded_paused"
VARIABLES = {"plain_var": "plain value", "json_var": {"nested": [1, 2, 3], "flag": True}}
CONNECTION: dict[str, Any] = {
    "conn_id": "warehouse",
    "conn_type": "postgres",
    "host": "db.example.internal",
    "login": "etl",
    "password": "pa55-w0rd!",
    "schema": "dw",
    "port": 5432,
    "extra": {"sslmode": "require", "token": "extra-secret"},
}
POOLS = {"etl_pool": 4, "reports_pool": 2}
RUN_CONF = {"window": "2026-01", "retries": 2, "tags": ["a", "b"]}
XCOM_VALUE = {"rows": 12, "path": "s3://somewhere/out.csv"}
FLAKY_TRIES = 2


def load_export_module() -> Any:
    spec = importlib.util.spec_from_file_location("export_metadata_under_test", EXPORT_FILE)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Tests don't wait for the back-off.
    module.RETRY_DELAY_SECONDS = 0.0
    return module


def build_dags() -> list[Any]:
    from airflow import DAG  # type: ignore[import-not-found, unused-ignore]

    try:
        from airflow.operators.empty import EmptyOperator  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # before 2.3
        from airflow.operators.dummy import DummyOperator as EmptyOperator  # type: ignore[import-not-found, unused-ignore]
    from airflow.operators.python import PythonOperator  # type: ignore[import-not-found, unused-ignore]

    start = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    etl = DAG(SEED_DAG, start_date=start, schedule_interval=None, catchup=False)
    extract = EmptyOperator(task_id="extract", dag=etl)
    # A mapped task over a literal: its three instances exist from the run's creation on.
    mapped = PythonOperator.partial(task_id="load", python_callable=print, dag=etl).expand(op_args=[[1], [2], [3]])
    extract >> mapped
    paused = DAG(SEED_PAUSED_DAG, start_date=start, schedule_interval=None, catchup=False)
    EmptyOperator(task_id="noop", dag=paused)
    return [etl, paused]


def seed() -> dict[str, Any]:
    from airflow.models import DagModel, DagRun, Log, Pool, SlaMiss, XCom  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.types import DagRunType  # type: ignore[import-not-found, unused-ignore]

    dags = build_dags()
    for dag in dags:
        dag.sync_to_db()
    for key, value in VARIABLES.items():
        Variable.set(key, value, serialize_json=not isinstance(value, str))
    with create_session() as session:
        fields = dict(CONNECTION)
        fields["extra"] = json.dumps(fields["extra"])
        session.add(Connection(**fields))
        for name, slots in POOLS.items():
            pool = Pool(pool=name, slots=slots, description="seeded " + name)
            if hasattr(Pool, "include_deferred"):  # 2.7+, not null
                pool.include_deferred = False
            session.add(pool)
        session.query(DagModel).filter(DagModel.dag_id == SEED_PAUSED_DAG).update({"is_paused": True})
        session.query(DagModel).filter(DagModel.dag_id == SEED_DAG).update({"is_paused": False})
    etl = dags[0]
    tries = 0
    for date in RUN_DATES:
        kwargs: dict[str, Any] = {
            "run_id": "manual__" + date.isoformat(),
            "execution_date": date,
            "state": "success",
            "run_type": DagRunType.MANUAL,
            "conf": RUN_CONF,
            "data_interval": (date, date),
            "external_trigger": True,
        }
        if "triggered_by" in inspect.signature(etl.create_dagrun).parameters:
            from airflow.utils.types import DagRunTriggeredByType  # type: ignore[import-not-found, unused-ignore]

            kwargs["triggered_by"] = DagRunTriggeredByType.TEST
        run = etl.create_dagrun(**kwargs)
        with create_session() as session:
            run = session.query(DagRun).filter(DagRun.run_id == run.run_id).one()
            for ti in run.get_task_instances(session=session):
                ti.start_date = date
                ti.end_date = date + datetime.timedelta(minutes=5)
                ti.duration = 300.0
                if ti.task_id == "extract":
                    tries += record_tries(ti, session)
                ti.state = "success"
                session.merge(ti)
            XCom.set(
                key="result", value=XCOM_VALUE, task_id="extract", dag_id=SEED_DAG, run_id=run.run_id, session=session
            )
            session.add(Log(event="seeded", dag_id=SEED_DAG, task_id="extract", execution_date=date))
            session.add(SlaMiss(task_id="extract", dag_id=SEED_DAG, execution_date=date, notification_sent=False))
    return {"try_history_rows": tries}


def record_tries(ti: Any, session: Any) -> int:
    """Two failed tries before the successful third, in whichever try history the version has."""
    try:
        from airflow.models.taskinstancehistory import (  # type: ignore[import-not-found, unused-ignore]
            TaskInstanceHistory,
        )
    except ImportError:
        TaskInstanceHistory = None  # noqa: N806
    from airflow.models.taskfail import TaskFail  # type: ignore[import-not-found, unused-ignore]

    for attempt in (1, 2):
        ti.try_number = attempt
        ti.state = "failed"
        session.add(TaskFail(ti))
        if TaskInstanceHistory is not None:
            TaskInstanceHistory.record_ti(ti, session=session)
    ti.try_number = 3
    session.flush()
    return 2


def normalize(value: Any) -> Any:
    """The archive's encoding, written independently of the export's code."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (bytes, memoryview)):
        raw = bytes(value)
        if raw[:1] == b"\x80":
            return json.loads(json.dumps(pickle.loads(raw)))  # noqa: S301 (the test's own database)
        return base64.b64encode(raw).decode()
    return value


def dump(tables: list[str]) -> dict[str, Any]:
    """Each table's rows in primary-key order, read with plain SQL."""
    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]

    inspector = sa.inspect(settings.engine)
    present = set(inspector.get_table_names())
    out: dict[str, Any] = {}
    with settings.engine.connect() as connection:
        for table in tables:
            if table not in present:
                continue
            key = inspector.get_pk_constraint(table)["constrained_columns"]
            columns = "*"
            if table == "dag":
                columns = "dag_id, is_paused, is_active"
            order = ", ".join(key)
            result = connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY {order}"))  # noqa: S608
            names = list(result.keys())
            out[table] = [{n: normalize(v) for n, v in zip(names, row, strict=True)} for row in result]
    return out


class RecordingWriter:
    """The export's LocalWriter, recording the order of the keys it writes."""

    def __init__(self, base: Any, fail_prefix: str | None, flaky: bool) -> None:
        self.base = base
        self.order: list[str] = []
        self.attempts: dict[str, int] = {}
        self.fail_prefix = fail_prefix
        self.flaky = flaky
        self.description = base.description

    def put(self, key: str, body: BinaryIO, size: int, secret: bool) -> None:
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.fail_prefix and key.startswith(self.fail_prefix):
            raise OSError("injected failure")
        if self.flaky and self.attempts[key] < FLAKY_TRIES:
            raise OSError("injected transient failure")
        self.base.put(key, body, size, secret)
        self.order.append(key)

    def exists(self, key: str) -> bool:
        return bool(self.base.exists(key))


def export(out: str, since: str | None, tables: str | None, fail_prefix: str | None, flaky: bool) -> dict[str, Any]:
    from airflow import settings

    module = load_export_module()
    writer = RecordingWriter(module.LocalWriter(out), fail_prefix, flaky)
    exporter = module.Exporter(
        settings.engine,
        writer,
        module.airflow_fernet(),
        "test-export",
        "harness",
        tables=tables.split(",") if tables else None,
        since=module.parse_since(since),
    )
    try:
        manifest = exporter.run()
    except module.ExportError as error:
        return {"error": str(error), "order": writer.order, "attempts": writer.attempts}
    return {"manifest": manifest, "order": writer.order, "attempts": writer.attempts}


def dag_check(out: str) -> dict[str, Any]:
    """The file as Airflow's DagBag loads it, and one run of its task callable with a local writer."""
    from airflow.models.dagbag import DagBag  # type: ignore[import-not-found, unused-ignore]

    bag = DagBag(dag_folder=str(EXPORT_FILE), include_examples=False)
    dag = bag.dags.get("mwaa_migration_export")
    module = load_export_module()
    module.MIGRATION_BUCKET = "test-bucket"
    module.MIGRATION_NAME = "harness"
    written: list[str] = []

    def local_writer(bucket: str, prefix: str) -> Any:
        written.append(f"s3://{bucket}/{prefix}")
        return module.LocalWriter(str(pathlib.Path(out) / prefix))

    module.make_s3_writer = local_writer

    class FakeRun:
        def __init__(self) -> None:
            self.conf = {"export_id": "cutover-1", "tables": ["variable", "dag_run"]}

    location = module.run_from_dag(dag_run=FakeRun())
    return {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dags),
        "is_paused_upon_creation": getattr(dag, "is_paused_upon_creation", None),
        "schedule_interval": repr(getattr(dag, "schedule_interval", "missing")),
        "catchup": getattr(dag, "catchup", None),
        "task_ids": sorted(dag.task_ids) if dag else [],
        "written": written,
        "location": location,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed", "dump", "export", "dag"])
    parser.add_argument("--out")
    parser.add_argument("--since")
    parser.add_argument("--tables")
    parser.add_argument("--fail-prefix")
    parser.add_argument("--flaky", action="store_true")
    args = parser.parse_args()
    if args.command == "seed":
        result = seed()
    elif args.command == "dump":
        result = dump(args.tables.split(","))
    elif args.command == "export":
        result = export(args.out, args.since, args.tables, args.fail_prefix, args.flaky)
    else:
        result = dag_check(args.out)
    sys.stdout.write("\n" + json.dumps({"result": result}, default=str) + "\n")


if __name__ == "__main__":
    main()
