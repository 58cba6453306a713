"""Secrets planted under every sensitive name reach neither the snapshot nor any template; look-alikes do.

One GetEnvironment output carries a value under each option sensitive_table lists, and under each secret word of
secret_names in several sections and spellings; snapshot.py saves it (through botocore's Stubber), the migration
reader clones it and CDK synthesizes the stacks. The planted marker must not appear in anything written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import snapshot as snapshot_command
from mwaa_clone.secret_names import SECRET_PHRASES, SECRET_WORDS
from mwaa_clone.sensitive_options import MASKED
from mwaa_clone.sensitive_table import SENSITIVE_OPTIONS
from mwaa_migration.migration import MigrationFileError, load_migration
from stacks.migration_app import add_migrations, new_app
from tests.synth_app import resources_of_type
from tests.test_source_check import get_environment_response

PLANTED = "pl4nted"  # every secret value below starts with it: one search finds any of them
# Written out, not read from secret_names: a word dropped there must fail here.
NAMES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credentials",
    "credential",
    "dsn",
    "private_key",
    "access_key",
    "basic_auth",
)
SECTIONS = ("plugin", "vault", "my_provider")


def _planted_keys() -> list[str]:
    keys = set(SENSITIVE_OPTIONS)
    keys |= {key.upper() for key in sorted(SENSITIVE_OPTIONS)[::4]}  # a hand-saved output keeps the user's case
    for index, name in enumerate(NAMES):
        section = SECTIONS[index % len(SECTIONS)]
        keys |= {
            f"{section}.{name}",
            f"{section}.my_{name}_value",
            f"custom.{name}.v2",  # a dot inside the option name separates words too
            f"{section.title()}.Some_{name.upper()}",
        }
    # Airflow 3.3 reads each secrets-backend kwarg from an option of its own, and masks them all.
    keys |= {"secrets.backend_kwarg__role_id", "workers.secrets_backend_kwarg__client_id"}
    return sorted(keys)


PLANTED_KEYS = _planted_keys()
# Look-alikes, kept as they are: paths, choices, Airflow's own non-sensitive options, and references to where
# a secret lives (Airflow reads <option>_secret / _cmd), or a backend kwarg that names a prefix.
NON_SECRETS = {
    "webserver.web_server_ssl_key": "/usr/local/airflow/ssl/server.key",
    "webserver.web_server_ssl_cert": "/usr/local/airflow/ssl/server.crt",
    "api.auth_backends": "airflow.api.auth.backend.session",
    "webserver.auth_rate_limited": "True",
    "custom.tokenizer_path": "/usr/local/airflow/models/tokenizer.json",
    "core.dags_folder": "/usr/local/airflow/dags",
    "logging.secret_mask_adapter": "plugins.masking.adapter",
    "api_auth.jwt_private_key_path": "/usr/local/airflow/jwt.pem",
    "smtp.smtp_password_secret": "smtp-password",
    "plugin.api_key_cmd": "cat /usr/local/airflow/api-key",
    "secrets.backend_kwarg__connections_prefix": "airflow/connections",
}
# The file vouches for one name-matched option: its value is written, not the source's.
FILE_SETS = ("vault.my_credentials_value", "not-a-secret: a role name")


def planted_options() -> dict[str, str]:
    options = {key: f"{PLANTED}-{index:03d}-V4lue" for index, key in enumerate(PLANTED_KEYS)}
    # A table entry whose JSON names more than prefixes: a credential in it.
    options["secrets.backend_kwargs"] = json.dumps({"connections_prefix": "airflow/c", "token": f"{PLANTED}-json"})
    return options


def source_response() -> dict[str, Any]:
    fixture = get_environment_response()["Environment"]["AirflowConfigurationOptions"]
    fixture.pop("secrets.backend_kwargs")
    return get_environment_response(AirflowConfigurationOptions={**fixture, **NON_SECRETS, **planted_options()})


def migration_text(*, drop: bool) -> str:
    # The lowercase keys can be dropped by name; the mixed-case ones MWAA refuses anyway, so the clone drops them.
    dropped = [key for key in PLANTED_KEYS if key == key.lower() and key != FILE_SETS[0]]
    drop_options = f"drop_options = {json.dumps(dropped)}" if drop else ""
    return f"""\
[source]
kind = "mwaa"
environment_name = "orders"
execution_role_arn = "arn:aws:iam::111122223333:role/service-role/AmazonMWAA-orders"

[target]
environment_name = "orders-new"
airflow_version = "2.11.2"
{drop_options}

[target.airflow_configuration_options]
"{FILE_SETS[0]}" = "{FILE_SETS[1]}"
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migration folder after `snapshot.py --migration planted.toml` against the planted source."""
    folder = tmp_path_factory.mktemp("planted")
    (folder / "planted.toml").write_text(migration_text(drop=True))
    client = boto3.client("mwaa", region_name="eu-west-1")
    with Stubber(client) as stubber, pytest.MonkeyPatch.context() as patch:
        stubber.add_response("get_environment", source_response(), {"Name": "orders"})
        patch.setattr(snapshot_command, "client_factory", lambda region: client)
        assert snapshot_command.main(["--migration", str(folder / "planted.toml")]) == 0
        stubber.assert_no_pending_responses()
    return folder


def test_the_planted_set_covers_every_name() -> None:
    assert set(SENSITIVE_OPTIONS) <= set(PLANTED_KEYS)
    assert {*SECRET_WORDS, *("_".join(phrase) for phrase in SECRET_PHRASES)} <= set(NAMES)
    assert len(PLANTED_KEYS) > 4 * len(NAMES)
    assert FILE_SETS[0] in PLANTED_KEYS


def test_snapshot_py_masks_every_planted_value_and_keeps_the_rest(saved: Path) -> None:
    text = (saved / "planted.source.json").read_text()

    assert PLANTED not in text
    options = json.loads(text)["Environment"]["AirflowConfigurationOptions"]
    assert {key for key, value in options.items() if value == MASKED} == set(PLANTED_KEYS)
    assert {key: options[key] for key in NON_SECRETS} == NON_SECRETS


def test_a_hand_saved_planted_output_stops_synth_naming_every_planted_option(tmp_path: Path) -> None:
    document = json.loads(json.dumps(source_response(), default=str))
    (tmp_path / "planted.source.json").write_text(json.dumps(document))
    (tmp_path / "planted.toml").write_text(migration_text(drop=True))

    with pytest.raises(MigrationFileError) as caught:
        load_migration(tmp_path / "planted.toml")

    message = str(caught.value)
    assert PLANTED not in message
    named = message.split("holds the values of sensitive options (", 1)[1].split(")", 1)[0].split(", ")
    assert named == PLANTED_KEYS


def test_masked_options_left_in_stop_synth_without_a_value(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "planted.source.json").write_text((saved / "planted.source.json").read_text())
    (tmp_path / "planted.toml").write_text(migration_text(drop=False))

    with pytest.raises(MigrationFileError) as caught:
        load_migration(tmp_path / "planted.toml")

    message = str(caught.value)
    assert "may hold a secret" in message
    assert PLANTED not in message and MASKED not in message


def test_no_planted_value_reaches_any_synthesized_file(saved: Path, tmp_path: Path) -> None:
    migration = load_migration(saved / "planted.toml")
    app = new_app(str(tmp_path / "cdk.out"))
    (built,) = add_migrations(app, [migration])
    assembly = app.synth()

    written = [path for path in Path(assembly.directory).rglob("*") if path.is_file()]
    assert any(path.name.endswith(".template.json") for path in written)
    assert [path.name for path in written if PLANTED in path.read_text(errors="replace")] == []
    template = assembly.get_stack_by_name(built.new_environment.stack_name).template
    (environment,) = resources_of_type(template, "AWS::MWAA::Environment").values()
    options = environment["Properties"]["AirflowConfigurationOptions"]
    assert {key: options[key] for key in NON_SECRETS} == NON_SECRETS
    assert options[FILE_SETS[0]] == FILE_SETS[1]
    assert MASKED not in json.dumps(template)
    assert not set(options) & set(PLANTED_KEYS) - {FILE_SETS[0]}
