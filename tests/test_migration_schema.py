"""migration.schema.json: generated from the models, current, and what an editor validates the files with."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mwaa_migration.migration.migration_file import SCHEMA_FILE, render_schema
from tests.synth_app import REPO_ROOT, migration_paths

SCHEMA = json.loads(SCHEMA_FILE.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def test_the_committed_schema_is_the_models_run_make_schema_if_not() -> None:
    assert SCHEMA_FILE.read_text() == render_schema()


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", migration_paths(), ids=lambda path: path.stem)
def test_every_migration_file_passes_the_schema(path: Path) -> None:
    errors = [error.message for error in VALIDATOR.iter_errors(tomllib.loads(path.read_text()))]
    assert errors == []


def test_the_examples_point_their_editor_at_the_schema() -> None:
    for name in ("example.toml", "example-self-managed.toml"):
        path = REPO_ROOT / "migrations" / name
        first = path.read_text().splitlines()[0]
        assert first == "#:schema ../migration.schema.json"
        assert (path.parent / first.split()[1]).resolve() == SCHEMA_FILE


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"target": {"max_worker": 2}}, "Additional properties are not allowed ('max_worker' was unexpected)"),
        ({"target": {"environment_class": "mw1.huge"}}, "'mw1.huge' is not one of"),
        ({"target": {"min_workers": 0}}, "0 is less than the minimum of 1"),
        ({"target": {"network": {"subnet_ids": ["subnet-x"], "vpc_id": "vpc-0a1b2c3d"}}}, "does not match"),
        ({"target": {"dag_s3_path": "/dags"}}, "'/dags' does not match"),
        ({"target": {"tags": {"aws:team": "x"}}}, "should not be valid"),
        ({"target": {"airflow_configuration_options": {"timezone": "utc"}}}, "'timezone' does not match"),
        ({"target": {"airflow_configuration_options": {"core.x": ""}}}, "'' does not match"),
    ],
)
def test_an_editor_flags_what_synth_refuses(change: dict[str, dict[str, object]], expected: str) -> None:
    document = tomllib.loads((REPO_ROOT / "migrations" / "example.toml").read_text())
    for table, values in change.items():
        document[table].update(values)

    messages = [error.message for error in VALIDATOR.iter_errors(document)]

    assert any(expected in message for message in messages), messages
