"""snapshot.py against botocore's MWAA model (Stubber): what it writes is what synth reads, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import snapshot as snapshot_command
from mwaa_migration.migration import MigrationFileError, load_migration
from tests.test_source_check import SECRET, get_environment_response

MIGRATION = """\
[source]
kind = "mwaa"
environment_name = "orders"
execution_role_arn = "arn:aws:iam::111122223333:role/service-role/AmazonMWAA-orders"
region = "eu-west-1"

[target]
environment_name = "orders-v3"
airflow_version = "3.0.6"
drop_options = ["sentry.sentry_dsn"]
"""


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client("mwaa", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.activate()
    regions: list[Any] = []

    def factory(region: str | None) -> Any:
        regions.append(region)
        return client

    monkeypatch.setattr(snapshot_command, "client_factory", factory)
    stubber.regions = regions  # type: ignore[attr-defined]
    return stubber


def test_saves_a_masked_snapshot_that_synth_loads(
    stubbed: Stubber, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = get_environment_response()["Environment"]["AirflowConfigurationOptions"]
    response = get_environment_response(AirflowConfigurationOptions={**options, "sentry.sentry_dsn": SECRET})
    stubbed.add_response("get_environment", response, {"Name": "orders"})
    path = tmp_path / "orders.toml"
    path.write_text(MIGRATION)

    assert snapshot_command.main(["--migration", str(path)]) == 0

    stubbed.assert_no_pending_responses()
    assert stubbed.regions == ["eu-west-1"]  # type: ignore[attr-defined]
    written = (tmp_path / "orders.source.json").read_text()
    assert SECRET not in written
    assert json.loads(written)["Environment"]["AirflowConfigurationOptions"]["sentry.sentry_dsn"] == (
        "<masked by snapshot.py>"
    )
    assert json.loads(written)["Environment"]["CreatedAt"] == "2024-12-09T10:27:51+00:00"
    out = capsys.readouterr().out
    assert "masked 1 sensitive option(s): sentry.sentry_dsn" in out and SECRET not in out
    config = load_migration(path)
    assert config.environment is not None
    assert "sentry.sentry_dsn" not in config.environment.settings["AirflowConfigurationOptions"]


def test_a_hand_saved_output_with_a_secret_stops_synth(tmp_path: Path) -> None:
    document = json.loads(json.dumps(get_environment_response(), default=str))
    document["Environment"]["AirflowConfigurationOptions"]["sentry.sentry_dsn"] = SECRET
    (tmp_path / "orders.source.json").write_text(json.dumps(document))
    path = tmp_path / "orders.toml"
    path.write_text(MIGRATION)

    with pytest.raises(MigrationFileError) as caught:
        load_migration(path)

    message = str(caught.value)
    assert "holds the values of sensitive options (sentry.sentry_dsn)" in message
    # Outside migrations/, --migration takes the file's path.
    assert f"re-save it with `python snapshot.py --migration {path}`" in message
    assert SECRET not in message


def test_an_api_error_is_one_line(stubbed: Stubber, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stubbed.add_client_error("get_environment", service_error_code="ResourceNotFoundException", http_status_code=404)
    path = tmp_path / "orders.toml"
    path.write_text(MIGRATION)

    assert snapshot_command.main(["--migration", str(path)]) == 1

    assert capsys.readouterr().err == (
        "snapshot: GetEnvironment 'orders' failed: ResourceNotFoundException; check the name, region and credentials\n"
    )
    assert not (tmp_path / "orders.source.json").exists()


def test_a_missing_snapshot_says_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "orders.toml"
    path.write_text(MIGRATION)

    with pytest.raises(MigrationFileError) as caught:
        load_migration(path)

    assert caught.value.problems == [
        f"source.snapshot: {tmp_path / 'orders.source.json'} does not exist; save it with `python snapshot.py "
        f"--migration {path}` (it masks sensitive option values)"
    ]


def test_a_snapshot_in_a_new_folder_is_written_there(
    stubbed: Stubber, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("get_environment", get_environment_response(), {"Name": "orders"})
    path = tmp_path / "orders.toml"
    path.write_text(
        MIGRATION.replace('region = "eu-west-1"', 'region = "eu-west-1"\nsnapshot = "snapshots/orders.json"')
    )

    assert snapshot_command.main(["--migration", str(path)]) == 0

    assert capsys.readouterr().out == f"wrote {tmp_path / 'snapshots' / 'orders.json'}\n"
    assert load_migration(path).source.snapshot == tmp_path / "snapshots" / "orders.json"
