"""Run inside the Airflow 2.10.3 virtualenv: seed the source database the import tests start from, through Airflow's
own models, then export it with the real export (tests/airflow_harness.py's export). Prints one JSON document.

What it seeds is described by a JSON spec on the command line (tests/import_source.py writes it), so the test side
knows every value without importing Airflow.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

import airflow_harness  # type: ignore[import-not-found, unused-ignore]  # same folder, run as a script

UTC = datetime.UTC


def _dag(dag_id: str, schedule: str | None, start: datetime.datetime) -> Any:
    from airflow import DAG  # type: ignore[import-not-found, unused-ignore]
    from airflow.operators.empty import EmptyOperator  # type: ignore[import-not-found, unused-ignore]

    dag = DAG(dag_id, start_date=start, schedule=schedule, catchup=schedule is not None)
    EmptyOperator(task_id="work", dag=dag)
    return dag


def seed(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow.models import DagModel, Pool  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]
    from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.types import DagRunType  # type: ignore[import-not-found, unused-ignore]

    for variable in spec["variables"]:
        Variable.set(variable["key"], variable["val"], description=variable["description"])
    with create_session() as session:
        for connection in spec["connections"]:
            session.add(Connection(**connection))
        for pool in spec["pools"]:
            session.add(
                Pool(
                    pool=pool["name"],
                    slots=pool["slots"],
                    description=pool["description"],
                    include_deferred=pool["include_deferred"],
                )
            )
    created = 0
    for dag_spec in spec["dags"]:
        start = datetime.datetime.fromisoformat(dag_spec["start_date"])
        dag = _dag(dag_spec["dag_id"], dag_spec["schedule"], start)
        dag.sync_to_db()
        with create_session() as session:
            session.query(DagModel).filter(DagModel.dag_id == dag.dag_id).update({"is_paused": dag_spec["paused"]})
        for run in dag_spec["runs"]:
            logical = datetime.datetime.fromisoformat(run["logical_date"])
            interval = (
                datetime.datetime.fromisoformat(run["data_interval_start"]),
                datetime.datetime.fromisoformat(run["data_interval_end"]),
            )
            dag.create_dagrun(
                run_id=run["run_id"],
                execution_date=logical,
                data_interval=interval,
                state=run["state"],
                run_type=DagRunType(run["run_type"]),
                conf=run["conf"],
                external_trigger=run["run_type"] == "manual",
            )
            created += 1
    return {"runs": created}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed-and-export"])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as handle:  # noqa: PTH123 - plain script, no pathlib needed
        spec = json.load(handle)
    seeded = seed(spec)
    exported = airflow_harness.export(args.out, None, None, None, False)
    if "error" in exported:
        raise SystemExit(exported["error"])
    result = {"seeded": seeded, "manifest": exported["manifest"]}
    sys.stdout.write("\n" + json.dumps({"result": result}, default=str) + "\n")


if __name__ == "__main__":
    main()
