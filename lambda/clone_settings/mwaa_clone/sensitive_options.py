"""Which Airflow configuration options hold secrets, and the marker that stands in for their values.

An option is sensitive when Airflow or a provider MWAA installs marks it so (sensitive_table, derived from their
wheels by tools/derive_sensitive_options.py, with the older names Airflow still reads for them), or, for an option
Airflow doesn't document, when a word of its name says it carries a secret (secret_names: `api_key`,
`credentials`, `passwd`, `<x>_dsn`, ...). A snapshot (snapshot.py) replaces these values with MASKED before it is
written, so they never reach git; synth refuses to write any of them into a template, except a name-matched one
the migration file sets (the user's word that it is no secret); the deploy-time source check masks the live
values the same way before it compares them. Pure: no I/O, no AWS calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from mwaa_clone.secret_names import name_says_secret
from mwaa_clone.sensitive_table import NOT_SENSITIVE_OPTIONS, SENSITIVE_OPTIONS

MASKED: Final = "<masked by snapshot.py>"

# Why an option is taken for a secret: Airflow (or a provider) marks it sensitive, or only its name says so.
Reason = Literal["marked", "named"]
MARKED: Final = "marked"
NAMED: Final = "named"

# Airflow reads a sensitive option from `<option>_secret` (a name in the secrets backend) or `<option>_cmd` (a
# command's output): those values say where the secret is, not what it is.
REFERENCE_SUFFIXES: Final = ("_secret", "_cmd")

# The secrets backends' kwargs are marked sensitive because they may carry credentials; the usual ones only
# name where secrets live (the Amazon provider's SecretsManagerBackend and SystemsManagerParameterStoreBackend).
BACKEND_KWARGS: Final = frozenset({"secrets.backend_kwargs", "workers.secrets_backend_kwargs"})
# Airflow 3.3 also reads each kwarg on its own from AIRFLOW__SECRETS__BACKEND_KWARG__<NAME> (and the workers'
# SECRETS_BACKEND_KWARG__), the variable an option `secrets.backend_kwarg__<name>` becomes, and masks them all.
BACKEND_KWARG_PREFIXES: Final = ("secrets.backend_kwarg__", "workers.secrets_backend_kwarg__")
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


def sensitive_reason(key: str) -> Reason | None:
    """Why an option of this name may hold a secret, whatever its value; None when it can't."""
    key = key.lower()
    for suffix in REFERENCE_SUFFIXES:
        if key.endswith(suffix) and sensitive_reason(key.removesuffix(suffix)) is not None:
            return None
    if key in SENSITIVE_OPTIONS:
        return MARKED
    for prefix in BACKEND_KWARG_PREFIXES:
        if key.startswith(prefix):
            return None if key.removeprefix(prefix) in NON_SECRET_BACKEND_KWARGS else MARKED
    # Airflow's own flag decides for the options it documents (a path like api_auth.jwt_private_key_path).
    if key not in NOT_SENSITIVE_OPTIONS and name_says_secret(key):
        return NAMED
    return None


def secret_reason(key: str, value: str) -> Reason | None:
    """Why this option's value is taken for a secret, or None: by name, except backend kwargs naming prefixes."""
    reason = sensitive_reason(key)
    if reason is None or (key.lower() in BACKEND_KWARGS and _names_only(value)):
        return None
    return reason


def is_sensitive(key: str, value: str) -> bool:
    """Whether this option's value is a secret: by name, except backend kwargs that only name prefixes."""
    return secret_reason(key, value) is not None


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
