"""What the clone tests share: the saved GetEnvironment outputs, the fields a clone may return, and botocore's
MWAA model to check requests and responses against."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import botocore.session
from botocore.model import StructureShape
from botocore.validate import ParamValidator

MWAA_MODEL = botocore.session.get_session().get_service_model("mwaa")
CREATE_ENVIRONMENT_SHAPE = cast(StructureShape, MWAA_MODEL.operation_model("CreateEnvironment").input_shape)
GET_ENVIRONMENT_OUTPUT_SHAPE = cast(StructureShape, MWAA_MODEL.operation_model("GetEnvironment").output_shape)

GET_ENVIRONMENT_DIR = Path(__file__).resolve().parent / "fixtures" / "get_environment"

# The clone rules' "cloned unless the migration file sets them" list (DESIGN.md), in CreateEnvironment names;
# KmsKey only when the source has a customer key.
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
        "KmsKey",
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


def assert_valid_create_environment(params: Mapping[str, Any]) -> None:
    """What botocore's ParamValidator checks of a CreateEnvironment request: types, required members, minimums."""
    report = ParamValidator().validate(params, CREATE_ENVIRONMENT_SHAPE)
    assert not report.has_errors(), report.generate_report()


EXAMPLE_SNAPSHOT = Path(__file__).resolve().parent.parent / "migrations" / "example.source.json"


def write_source_snapshot(migration_path: Path, toml_text: str) -> None:
    """Beside a test's migration file, the snapshot its MWAA source needs: the example's source (an Airflow 2.10.3
    environment in us-east-1, without its masked SMTP password and its tags, so the file's own tags can reach
    MWAA's limit), named as the file's source.environment_name."""
    try:
        source = tomllib.loads(toml_text).get("source", {})
    except tomllib.TOMLDecodeError:
        return
    name = source.get("environment_name") if isinstance(source, dict) else None
    if not isinstance(name, str) or not name:
        return
    environment = json.loads(EXAMPLE_SNAPSHOT.read_text())["Environment"]
    del environment["AirflowConfigurationOptions"]["smtp.smtp_password"]
    del environment["Tags"]
    region = source.get("region") if isinstance(source.get("region"), str) else "us-east-1"
    environment.update(Name=name, Arn=f"arn:aws:airflow:{region}:111122223333:environment/{name}")
    path = migration_path.with_name(migration_path.stem + ".source.json")
    path.write_text(json.dumps({"Environment": environment}, indent=2), encoding="utf-8")
