"""What the new execution role reads for the secrets backend, derived from the cloned options."""

from __future__ import annotations

import json

import pytest

from mwaa_migration.environment.secrets_access import PARAMETER_STORE, SECRETS_MANAGER, SecretReads, secret_reads


def reads(backend: str, kwargs: object = None, key: str = "secrets") -> tuple[list[SecretReads], list[str]]:
    options = {f"{key}.backend" if key == "secrets" else "workers.secrets_backend": backend}
    if kwargs is not None:
        kwargs_key = "secrets.backend_kwargs" if key == "secrets" else "workers.secrets_backend_kwargs"
        options[kwargs_key] = kwargs if isinstance(kwargs, str) else json.dumps(kwargs)
    warnings: list[str] = []
    return secret_reads(options, warnings), warnings


def test_secrets_manager_defaults_are_the_providers() -> None:
    found, warnings = reads(SECRETS_MANAGER)

    assert found == [
        SecretReads(
            "secretsmanager",
            None,
            ("secret:airflow/connections/*", "secret:airflow/variables/*", "secret:airflow/config/*"),
        )
    ]
    assert warnings == []


def test_parameter_store_drops_the_leading_slash_of_each_prefix() -> None:
    found, _ = reads(PARAMETER_STORE, {"connections_prefix": "/prod/conn/", "variables_prefix": "vars"})

    assert found == [
        SecretReads("ssm", None, ("parameter/prod/conn/*", "parameter/vars/*", "parameter/airflow/config/*"))
    ]


def test_a_custom_separator_region_and_turned_off_lookups() -> None:
    kwargs = {
        "connections_prefix": "af_conn",
        "sep": "_",
        "variables_prefix": None,
        "config_prefix": "",
        "region_name": "eu-west-1",
    }

    found, _ = reads(SECRETS_MANAGER, kwargs)

    assert found == [SecretReads("secretsmanager", "eu-west-1", ("secret:af_conn_*",))]


def test_airflow_3_workers_backend_is_read_too() -> None:
    found, _ = reads(SECRETS_MANAGER, {"connections_prefix": "w/conn"}, key="workers")

    assert found[0].resources[0] == "secret:w/conn/*"


@pytest.mark.parametrize(
    ("backend", "kwargs", "warning"),
    [
        ("my.company.VaultBackend", None, "is my.company.VaultBackend, not one of the Amazon provider's backends"),
        (SECRETS_MANAGER, "{not json", "secrets.backend_kwargs is not a JSON object"),
    ],
)
def test_what_cant_be_derived_is_a_warning(backend: str, kwargs: str | None, warning: str) -> None:
    _, warnings = reads(backend, kwargs)

    assert any(warning in each for each in warnings), warnings
