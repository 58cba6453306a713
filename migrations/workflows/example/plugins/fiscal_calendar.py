"""Example plugin: a template macro, which Airflow 3 still loads from plugins (operators belong in the DAGs)."""

from __future__ import annotations

from datetime import date

from airflow.plugins_manager import AirflowPlugin


def fiscal_quarter(day: date) -> str:
    """The fiscal quarter of a date, for a fiscal year starting in February: {{ macros.fiscal.fiscal_quarter(ds) }}."""
    quarter = ((day.month - 2) % 12) // 3 + 1
    year = day.year + 1 if day.month >= 2 else day.year
    return f"FY{year}-Q{quarter}"


class FiscalCalendarPlugin(AirflowPlugin):
    name = "fiscal"
    macros = [fiscal_quarter]
