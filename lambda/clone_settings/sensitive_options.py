"""Which Airflow configuration options hold secrets, and the marker that stands in for their values.

A snapshot (snapshot.py) replaces these values with MASKED before it is written, so they never reach git; synth
refuses to write any of them into a template; the deploy-time source check masks the live values the same way
before it compares them. Pure: no I/O, no AWS calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

MASKED: Final = "<masked by snapshot.py>"

# Options Airflow itself marks `sensitive: true`: the union of config.yml in apache-airflow 2.10.3 and
# apache-airflow-core 3.0.6, and of the celery provider's options (3.26.0), which Airflow 3 moved there; and the
# older names of those options that Airflow's deprecated_options still reads (configuration.py, 2.10.3).
AIRFLOW_SENSITIVE: Final = frozenset(
    {
        "api.secret_key",
        "api_auth.jwt_secret",
        "celery.broker_url",
        "celery.flower_basic_auth",
        "celery.result_backend",
        "celery_broker_transport_options.sentinel_kwargs",
        "celery_result_backend_transport_options.sentinel_kwargs",
        "core.asset_manager_kwargs",
        "core.dataset_manager_kwargs",
        "core.fernet_key",
        # Airflow 2.3 moved it to [database]; Airflow still reads the old name, so a 2.0-2.2 source may have it.
        "core.sql_alchemy_conn",
        "core.internal_api_secret_key",
        "database.sql_alchemy_conn",
        "database.sql_alchemy_engine_args",
        "logging.remote_task_handler_kwargs",
        "secrets.backend_kwargs",
        "sentry.sentry_dsn",
        "smtp.smtp_password",
        "webserver.secret_key",
        "workers.secrets_backend_kwargs",
    }
)
SECRET_WORDS: Final = ("password", "secret", "token")
# Airflow reads a sensitive option from `<option>_secret` (a name in the secrets backend) or `<option>_cmd` (a
# command's output): those values say where the secret is, not what it is.
REFERENCE_SUFFIXES: Final = ("_secret", "_cmd")

# The secrets backends' kwargs are marked sensitive because they may carry credentials; the usual ones only
# name where secrets live (the Amazon provider's SecretsManagerBackend and SystemsManagerParameterStoreBackend).
BACKEND_KWARGS: Final = frozenset({"secrets.backend_kwargs", "workers.secrets_backend_kwargs"})
NON_SECRET_BACKEND_KWARGS: Final = frozenset(
    {
        "connections_prefix",
        "variables_prefix",
        "config_prefix",
        "connections_lookup_pattern",
        "variables_lookup_pattern",
        "config_lookup_pattern",
        "sep",
        "region_name",
        "full_url_mode",
        "are_secret_values_urlencoded",
        "extra_conn_words",
    }
)


def is_sensitive_name(key: str) -> bool:
    """Whether an option of this name may hold a secret, whatever its value."""
    key = key.lower()
    for suffix in REFERENCE_SUFFIXES:
        if key.endswith(suffix) and is_sensitive_name(key.removesuffix(suffix)):
            return False
    option = key.split(".", 1)[-1]
    return key in AIRFLOW_SENSITIVE or any(word in option for word in SECRET_WORDS)


def is_sensitive(key: str, value: str) -> bool:
    """Whether this option's value is a secret: by name, except backend kwargs that only name prefixes."""
    if not is_sensitive_name(key):
        return False
    return not (key.lower() in BACKEND_KWARGS and _names_only(value))


def _names_only(value: str) -> bool:
    try:
        kwargs = json.loads(value)
    except ValueError:
        return False
    return isinstance(kwargs, dict) and set(kwargs) <= NON_SECRET_BACKEND_KWARGS


def mask_options(options: Mapping[str, str]) -> dict[str, str]:
    """The options with every sensitive value replaced by MASKED."""
    return {key: MASKED if is_sensitive(key, value) else value for key, value in options.items()}


def mask_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """A GetEnvironment()['Environment'] whose sensitive option values are MASKED; everything else as it was."""
    masked = dict(environment)
    options = environment.get("AirflowConfigurationOptions")
    if isinstance(options, Mapping):
        masked["AirflowConfigurationOptions"] = mask_options({str(key): str(value) for key, value in options.items()})
    return masked


def unmasked_secrets(options: Mapping[str, str]) -> list[str]:
    """The keys of sensitive options whose value is not MASKED, sorted."""
    return sorted(key for key, value in options.items() if value != MASKED and is_sensitive(key, value))
