"""What both migration DAG files take from Airflow, for every version they load on (a 2.7+ or 3.x target).

Imported at parse time: nothing here reaches the metadata database (Airflow 3 tasks and DAG files can't).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

# Both DAGs: no schedule, manual runs only, one run at a time; their start date is never used for scheduling.
START_DATE = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
TAGS = ["mwaa-migration"]


def airflow_version() -> tuple[int, int]:
    import airflow  # type: ignore[import-not-found, unused-ignore]

    major, minor = (int(part) for part in re.findall(r"\d+", airflow.__version__)[:2])
    return major, minor


def no_schedule() -> dict[str, Any]:
    """`schedule=None`; `schedule` arrived in 2.4 and `schedule_interval` left in 3.0."""
    return {"schedule": None} if airflow_version() >= (2, 4) else {"schedule_interval": None}


def python_operator() -> Any:
    try:  # Airflow 3 (and 2.x with the standard provider)
        from airflow.providers.standard.operators.python import (  # type: ignore[import-not-found, unused-ignore]
            PythonOperator,
        )
    except ImportError:
        from airflow.operators.python import PythonOperator  # type: ignore[import-not-found, unused-ignore]
    return PythonOperator


def run_conf(dag_run: Any) -> dict[str, Any]:
    """The triggering run's conf (`{}` without one)."""
    return dict(getattr(dag_run, "conf", None) or {})
