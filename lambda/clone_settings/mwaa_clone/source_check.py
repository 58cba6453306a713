"""Deploy-time check that the source environment is still what its committed snapshot says.

Synth clones the settings from the snapshot; the custom resource hands the deploy only fingerprints of what the
clone read (a digest per field, option and tag, of the masked value), so its properties carry no option value.
At deploy the handler fingerprints the live GetEnvironment the same way and names the fields that differ, never
their values. Pure: no I/O, no AWS calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mwaa_clone.mwaa_limits import CHOICE_FIELDS, LOG_MODULES, NOT_SETTABLE, SIZING_FIELDS
from mwaa_clone.sensitive_options import mask_environment

# What the clone reads from GetEnvironment (besides Status, checked on its own).
# Teams and IdentityCenterConfiguration only raise warnings, but a change there changes what the warnings say.
SCALAR_FIELDS: Final = ("AirflowVersion", "EnvironmentClass", *SIZING_FIELDS, *CHOICE_FIELDS, "KmsKey", *NOT_SETTABLE)
MAP_FIELDS: Final = ("AirflowConfigurationOptions", "Tags")


class SourceCheckFailed(Exception):  # noqa: N818 - the handler's one failure, shown as CloudFormation's reason
    """The source can't be used as the snapshot describes it; str() is one line that says what to do."""


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def cloned_values(environment: Mapping[str, Any]) -> dict[str, object]:
    """What the clone reads, one entry per field, module, option and tag, keyed by a path such as
    `AirflowConfigurationOptions.core.x` (the same paths for a GetEnvironment and for the new settings)."""
    values: dict[str, object] = {name: environment.get(name) for name in SCALAR_FIELDS}
    network = _table(environment.get("NetworkConfiguration"))
    for name in ("SubnetIds", "SecurityGroupIds"):
        values[f"NetworkConfiguration.{name}"] = network.get(name)
    logging = _table(environment.get("LoggingConfiguration"))
    for module in LOG_MODULES:
        settings = _table(logging.get(module))
        values[f"LoggingConfiguration.{module}"] = {
            "Enabled": settings.get("Enabled"),
            "LogLevel": settings.get("LogLevel"),
        }
    for field in MAP_FIELDS:
        for key, value in _table(environment.get(field)).items():
            # aws: tags belong to whoever set them (CloudFormation, say); the clone never reads them.
            if not (field == "Tags" and str(key).lower().startswith("aws:")):
                values[f"{field}.{key}"] = value
    return values


def _table(value: object) -> Mapping[str, Any]:
    # A malformed field reads as empty, as the clone reads it (with a warning there).
    return value if isinstance(value, Mapping) else {}


def fingerprints(environment: Mapping[str, Any]) -> dict[str, str]:
    """A digest of each cloned value, sensitive ones masked first: what the template may carry."""
    return {path: _digest(value) for path, value in sorted(cloned_values(mask_environment(environment)).items())}


def differences(expected: Mapping[str, str], live: Mapping[str, str]) -> list[str]:
    """The paths whose fingerprint differs, with `(added)` or `(removed)` where one side lacks the path."""
    changed = []
    for path in sorted(set(expected) | set(live)):
        if path not in expected:
            changed.append(f"{path} (added)")
        elif path not in live:
            changed.append(f"{path} (removed)")
        elif expected[path] != live[path]:
            changed.append(path)
    return changed


@dataclass(frozen=True)
class CheckRequest:
    migration: str
    source_environment_name: str
    source_region: str
    fingerprints: Mapping[str, str]

    @property
    def source_key(self) -> tuple[str, str]:
        return self.source_environment_name, self.source_region

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> CheckRequest:
        """The custom resource's properties; keys other than these (ServiceToken) are ignored."""
        texts = {}
        for key in ("Migration", "SourceEnvironmentName", "SourceRegion"):
            value = props.get(key)
            if not isinstance(value, str) or not value:
                raise SourceCheckFailed(f"the custom resource property {key} is missing; the stack must set it")
            texts[key] = value
        prints = props.get("Fingerprints")
        if not isinstance(prints, Mapping) or not all(isinstance(v, str) for v in prints.values()):
            raise SourceCheckFailed("the custom resource property Fingerprints must map paths to digests")
        return cls(texts["Migration"], texts["SourceEnvironmentName"], texts["SourceRegion"], dict(prints))


def check_source(environment: Mapping[str, Any], request: CheckRequest, previous: CheckRequest | None = None) -> None:
    """Refuse a source that is not AVAILABLE or differs from the snapshot the template was cloned from (or, on an
    Update, from the snapshot it replaces)."""
    name = request.source_environment_name
    refresh = f"python snapshot.py --migration {request.migration}"
    status = environment.get("Status")
    if status != "AVAILABLE":
        raise SourceCheckFailed(
            f"the source environment {name!r} is {status or 'in an unknown state'}, not AVAILABLE; deploy again "
            "when `aws mwaa get-environment` reports AVAILABLE"
        )
    live = fingerprints(environment)
    changed = differences(request.fingerprints, live)
    same_source = previous is not None and previous.source_key == request.source_key
    if changed and not (same_source and previous is not None and not differences(previous.fingerprints, live)):
        shown = ", ".join(changed[:20]) + (f" and {len(changed) - 20} more" if len(changed) > 20 else "")
        raise SourceCheckFailed(
            f"the source environment {name!r} changed since its snapshot was saved ({shown}); refresh it with "
            f"`{refresh}`, review the template diff, and deploy again"
        )
