"""What the new execution role must read for the secrets backend the environment is configured with.

Derived at synth from `secrets.backend` and `secrets.backend_kwargs` (and Airflow 3's `workers.` pair), with the
Amazon provider's own defaults where the kwargs are silent (SecretsManagerBackend and
SystemsManagerParameterStoreBackend in apache-airflow-providers-amazon 9.x). Pure: the stack turns the result
into IAM statements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

SECRETS_MANAGER = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
PARAMETER_STORE = "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend"
BACKEND_OPTIONS = (
    ("secrets.backend", "secrets.backend_kwargs"),
    ("workers.secrets_backend", "workers.secrets_backend_kwargs"),
)
PREFIX_KWARGS = ("connections_prefix", "variables_prefix", "config_prefix")
DEFAULT_PREFIXES = {
    SECRETS_MANAGER: ("airflow/connections", "airflow/variables", "airflow/config"),
    PARAMETER_STORE: ("/airflow/connections", "/airflow/variables", "/airflow/config"),
}


@dataclass(frozen=True)
class SecretReads:
    service: str  # secretsmanager | ssm
    region: str | None  # None: the environment's own region
    # Resource names under which the backend looks secrets up, e.g. "secret:airflow/connections/*".
    resources: tuple[str, ...]


def secret_reads(options: Mapping[str, str], warnings: list[str]) -> list[SecretReads]:
    """One entry per configured Amazon secrets backend; a warning for a backend the role can't be derived for."""
    reads = []
    for backend_key, kwargs_key in BACKEND_OPTIONS:
        backend = options.get(backend_key, "").strip()
        if not backend:
            continue
        if backend not in DEFAULT_PREFIXES:
            warnings.append(
                f"{backend_key} is {backend}, not one of the Amazon provider's backends: the new role gets no read "
                "for it; list a managed policy in target.execution_role_policy_arns if it needs AWS access."
            )
            continue
        try:
            kwargs = json.loads(options.get(kwargs_key) or "{}")
        except ValueError:
            kwargs = None
        if not isinstance(kwargs, dict):
            warnings.append(f"{kwargs_key} is not a JSON object: the new role reads the backend's default prefixes.")
            kwargs = {}
        reads.append(_reads(backend, kwargs))
    return [read for read in reads if read.resources]


def _reads(backend: str, kwargs: Mapping[str, object]) -> SecretReads:
    secrets_manager = backend == SECRETS_MANAGER
    separator = str(kwargs.get("sep", "/")) if secrets_manager else "/"
    resources = []
    for name, default in zip(PREFIX_KWARGS, DEFAULT_PREFIXES[backend], strict=True):
        prefix = kwargs.get(name, default)
        # null (or empty) turns that kind of lookup off: nothing to read.
        if not isinstance(prefix, str) or not prefix.strip(separator):
            continue
        prefix = prefix.rstrip(separator)
        if secrets_manager:
            resources.append(f"secret:{prefix}{separator}*")
        else:
            # A parameter's ARN drops the leading slash of its name.
            resources.append(f"parameter/{prefix.lstrip('/')}/*")
    region = kwargs.get("region_name")
    return SecretReads(
        service="secretsmanager" if secrets_manager else "ssm",
        region=region if isinstance(region, str) and region else None,
        resources=tuple(dict.fromkeys(resources)),
    )
