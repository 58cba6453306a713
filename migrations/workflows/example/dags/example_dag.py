"""Example DAG for the new environment, written against the Airflow 3 Task SDK (airflow.sdk)."""

from __future__ import annotations

import pendulum

from airflow.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "mwaa-migration"],
)
def example_pipeline() -> None:
    """Extract two numbers and log their sum."""

    @task
    def extract() -> dict[str, int]:
        return {"orders": 3, "refunds": 1}

    @task
    def summarize(counts: dict[str, int]) -> int:
        total = sum(counts.values())
        print(f"processed {total} records")
        return total

    summarize(extract())


example_pipeline()
