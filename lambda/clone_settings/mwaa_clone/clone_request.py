"""The clone's request: which source, which target, and what the migration file sets, parsed into typed overrides."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from mwaa_clone.mwaa_limits import (
    ALLOWED_CHOICES,
    AWS_OWNED_KEY,
    CHOICE_FIELDS,
    FILE_KEYS,
    KMS_KEY_ARN_RE,
    LOG_LEVELS,
    LOG_MODULES,
    MAINTENANCE_WINDOW_RE,
    SIZING_FIELDS,
    CloneRefused,
    option_problem,
    tag_problem,
)


@dataclass(frozen=True)
class CloneRequest:
    source_environment_name: str
    source_region: str
    target_airflow_version: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


def parse_overrides(raw: object) -> dict[str, Any]:
    """What the migration file sets (a mapping, or its JSON) as typed values, or CloneRefused."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise CloneRefused(f"the overrides are not valid JSON ({error})") from None
    if not isinstance(raw, Mapping):
        raise CloneRefused("the overrides must be a mapping")
    overrides: dict[str, Any] = {}
    for key, value in raw.items():
        parser = _OVERRIDE_PARSERS.get(key)
        if parser is None:
            raise CloneRefused(f"the overrides have an unknown field {key!r}; allowed: {', '.join(_OVERRIDE_PARSERS)}")
        overrides[key] = parser(key, value)
    return overrides


def _override_int(key: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CloneRefused(f"{FILE_KEYS[key]} must be a whole number, got {value!r}")


def _override_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise CloneRefused(f"{key} must be true or false, got {value!r}")


def _override_str(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise CloneRefused(f"{FILE_KEYS[key]} must be a string, got {value!r}")
    return value


def _override_choice(key: str, value: object) -> str:
    text = _override_str(key, value)
    allowed = ALLOWED_CHOICES.get(key)
    if allowed is not None and text not in allowed:
        raise CloneRefused(f"{FILE_KEYS[key]} = {text!r} is not allowed; use one of: {', '.join(allowed)}")
    if key == "WeeklyMaintenanceWindowStart" and not MAINTENANCE_WINDOW_RE.fullmatch(text):
        raise CloneRefused(
            f"{FILE_KEYS[key]} = {text!r} is not valid; use DAY:HH:MM in UTC, MM 00 or 30, such as SUN:03:30"
        )
    return text


def _override_kms_key(key: str, value: object) -> str:
    text = _override_str(key, value)
    if text != AWS_OWNED_KEY and not KMS_KEY_ARN_RE.fullmatch(text):
        raise CloneRefused(f"{FILE_KEYS[key]} = {text!r} is not a KMS key ARN or {AWS_OWNED_KEY!r}")
    return text


def _override_drops(key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CloneRefused(f"{FILE_KEYS[key]} must be a list of option names such as smtp.smtp_password")
    return list(value)


def _override_network(key: str, value: object) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not set(value) <= {"SubnetIds", "SecurityGroupIds"}:
        raise CloneRefused("the NetworkConfiguration override may hold only SubnetIds and SecurityGroupIds")
    network: dict[str, list[str]] = {}
    for name, ids in value.items():
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise CloneRefused(f"{FILE_KEYS[name]} must be a list of strings")
        network[name] = list(ids)
    return network


def _override_logging(key: str, value: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not set(value) <= set(LOG_MODULES):
        raise CloneRefused(f"the LoggingConfiguration override may hold only {', '.join(LOG_MODULES)}")
    logging: dict[str, dict[str, Any]] = {}
    for module, settings in value.items():
        if not isinstance(settings, Mapping) or not set(settings) <= {"Enabled", "LogLevel"}:
            raise CloneRefused(f"{FILE_KEYS[module]}: the override may hold only Enabled and LogLevel")
        parsed: dict[str, Any] = {}
        if "Enabled" in settings:
            parsed["Enabled"] = _override_bool(f"{module}.Enabled", settings["Enabled"])
        if "LogLevel" in settings:
            level = settings["LogLevel"]
            if level not in LOG_LEVELS:
                raise CloneRefused(
                    f"{FILE_KEYS[module]} = {level!r} is not allowed; use DISABLED or one of: {', '.join(LOG_LEVELS)}"
                )
            parsed["LogLevel"] = level
        logging[module] = parsed
    return logging


def _override_string_map(key: str, value: object, problem_of: Callable[[str, str], str | None]) -> dict[str, str]:
    """Options or tags: strings to strings, each entry one MWAA accepts (`problem_of` says why not)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CloneRefused(f"{FILE_KEYS[key]} must map strings to strings")
    for name, text in value.items():
        problem = problem_of(name, text)
        if problem:
            raise CloneRefused(f'{FILE_KEYS[key]} "{name}": {problem}')
    return dict(value)


_OVERRIDE_PARSERS: Final[Mapping[str, Callable[[str, object], object]]] = MappingProxyType(
    {
        "EnvironmentClass": _override_choice,
        **dict.fromkeys(SIZING_FIELDS, _override_int),
        **dict.fromkeys(CHOICE_FIELDS, _override_choice),
        "NetworkConfiguration": _override_network,
        "LoggingConfiguration": _override_logging,
        # Late-bound: the problem checks are defined below, with the rest of the options and tags rules.
        "AirflowConfigurationOptions": lambda key, value: _override_string_map(key, value, option_problem),
        "Tags": lambda key, value: _override_string_map(key, value, tag_problem),
        "KmsKey": _override_kms_key,
        "DropOptions": _override_drops,
    }
)
