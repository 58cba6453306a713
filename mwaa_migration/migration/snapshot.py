"""The source snapshot: the `GetEnvironment` output committed beside the migration file, read at synth.

`snapshot.py` writes it with sensitive option values masked; a hand-saved `aws mwaa get-environment` output is
accepted as long as none of its sensitive options carries a value. Nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mwaa_clone import sensitive_options

SNAPSHOT_SUFFIX = ".source.json"


class SnapshotError(Exception):
    """One line naming what is wrong with the snapshot and how to save a good one."""


def default_snapshot_path(migration_path: Path) -> Path:
    """`<file stem>.source.json` beside the migration file."""
    return migration_path.with_name(migration_path.stem + SNAPSHOT_SUFFIX)


def how_to_save(migration: str) -> str:
    """`migration`: what --migration takes for this file (its name under migrations/, else its path)."""
    return f"save it with `python snapshot.py --migration {migration}` (it masks sensitive option values)"


def read_snapshot(path: Path, *, environment_name: str, migration: str) -> dict[str, Any]:
    """The snapshot's Environment object, checked: the right environment, an ARN, no unmasked secret."""
    save = how_to_save(migration)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{path} does not exist; {save}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"{path} is not a readable JSON file ({error}); {save}") from None
    return check_snapshot(document, str(path), environment_name=environment_name, migration=migration)


def check_snapshot(document: object, label: str, *, environment_name: str, migration: str) -> dict[str, Any]:
    """A GetEnvironment output (`label` names where it came from) checked as read_snapshot checks the file's."""
    save = how_to_save(migration)
    environment = document.get("Environment") if isinstance(document, dict) else None
    if not isinstance(environment, dict) or not isinstance(environment.get("Arn"), str):
        raise SnapshotError(f'{label} is not a GetEnvironment output ({{"Environment": {{...}}}}); {save}')
    if environment.get("Name") != environment_name:
        raise SnapshotError(
            f"{label} is environment {environment.get('Name')!r}, and source.environment_name is "
            f"{environment_name!r}; {save}"
        )
    arn = environment["Arn"].split(":")
    if len(arn) < 6 or arn[2] != "airflow" or arn[5] != f"environment/{environment_name}":
        raise SnapshotError(f"{label}: Arn {environment['Arn']!r} is not an MWAA environment ARN; {save}")
    options = environment.get("AirflowConfigurationOptions") or {}
    if not isinstance(options, dict):
        raise SnapshotError(f"{label}: AirflowConfigurationOptions is not an object; {save}")
    exposed = sensitive_options.unmasked_secrets({str(k): str(v) for k, v in options.items()})
    if exposed:
        # Name the options, never their values: this message is printed and may be logged.
        raise SnapshotError(
            f"{label} holds the values of sensitive options ({', '.join(exposed)}), which must not be committed: "
            f"re-save it with `python snapshot.py --migration {migration}`, then rewrite the file's git history "
            "if it was committed"
        )
    return environment


def snapshot_document(environment: Mapping[str, Any]) -> dict[str, Any]:
    """What snapshot.py writes: GetEnvironment's Environment, sensitive values masked, datetimes as ISO text."""
    return {"Environment": _jsonable(sensitive_options.mask_environment(environment))}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def render(document: Mapping[str, Any]) -> str:
    """Stable text for git: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def arn_region_and_account(environment: Mapping[str, Any]) -> tuple[str, str]:
    parts = str(environment["Arn"]).split(":")
    return parts[3], parts[4]
