"""What the clone tests share: the saved GetEnvironment outputs and the fields a clone may return."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GET_ENVIRONMENT_DIR = Path(__file__).resolve().parent / "fixtures" / "get_environment"

# The clone rules' "cloned unless the migration file sets them" list (DESIGN.md), in CreateEnvironment names.
CLONED_FIELDS = frozenset(
    {
        "EnvironmentClass",
        "MinWorkers",
        "MaxWorkers",
        "Schedulers",
        "MinWebservers",
        "MaxWebservers",
        "WebserverAccessMode",
        "WeeklyMaintenanceWindowStart",
        "EndpointManagement",
        "NetworkConfiguration",
        "LoggingConfiguration",
        "AirflowConfigurationOptions",
        "Tags",
    }
)


def get_environment_document(version: str) -> dict[str, Any]:
    """The saved `aws mwaa get-environment` output for a source on this Airflow version."""
    document: dict[str, Any] = json.loads((GET_ENVIRONMENT_DIR / f"airflow-{version}.json").read_text())
    return document


def load_environment(version: str) -> dict[str, Any]:
    """GetEnvironment()['Environment'] as the CLI saved it (timestamps stay ISO strings; the rules ignore them)."""
    environment: dict[str, Any] = get_environment_document(version)["Environment"]
    return environment
