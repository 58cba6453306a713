"""The cut-over state machine's execution input: checked whole in its first state, defaults filled in.

Every problem names the field and what it may be, and never echoes a value that isn't one of the allowed ones (an
input is kept in the execution's history; a stray secret pasted into it shouldn't also land in an error message).
`cutover.py` validates with the same function before it starts an execution.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

MODES = ("rehearsal", "cutover", "rollback")
ON_EXISTING = ("overwrite", "skip", "fail")
DEFAULTS: dict[str, Any] = {
    "mode": None,
    "force": False,
    "unpause": True,
    "drain_timeout_seconds": 3600,
    "runs_since": None,
    "on_existing": "overwrite",
    "log_days": None,
    "log_states": None,
    # Only where the export is the operator's (self-managed source, MWAA below 2.4.3): which export to import;
    # null: the newest complete one (for a cut-over: the newest that started after this execution).
    "export_id": None,
    # How long the machine waits for each DAG run of its own (export, import) or for the operator's export, and
    # how long the REST import may take.
    "wait_timeout_seconds": 86400,
}
# Waits of at most two days: far beyond any freeze window, and enough for a rehearsal's full export
# and import; with the polling schedule (polling.py) longer ones could take an execution past Step Functions'
# 25,000 history events (tests/test_cutover_history.py counts the longest execution at these limits).
LIMITS = {"drain_timeout_seconds": (0, 86400), "log_days": (1, 3650), "wait_timeout_seconds": (60, 172800)}
# The export DAG's own rule for ids (migration_dags/export_metadata.py, EXPORT_ID_PATTERN): it becomes an S3 prefix.
EXPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
LOG_STATE = re.compile(r"[a-z_]{1,40}")
SUFFIXES = {"rehearsal": "-rehearsal", "cutover": "-cutover"}


class InputError(Exception):
    """The execution input is not one the machine takes; names every field at fault and the allowed values."""


def _bool(problems: list[str], name: str, value: Any) -> None:
    if not isinstance(value, bool):
        problems.append(f"{name}: must be true or false")


def _integer(problems: list[str], name: str, value: Any, *, nullable: bool) -> None:
    low, high = LIMITS[name]
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{name}: must be a whole number from {low} to {high}" + (" or null" if nullable else ""))


def parse_since(value: str) -> datetime.datetime | None:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO-8601 time with an offset; None when it's neither."""
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if len(value) != len("YYYY-MM-DD"):
            return None  # a time without an offset would be read in some unknown zone
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def validate(raw: Any, *, operator_export: bool) -> dict[str, Any]:
    """The input with defaults filled in and `runs_since` normalised to ISO-8601 UTC; InputError listing every
    problem otherwise. `operator_export`: the source's export is the operator's (then `export_id` may be given)."""
    if not isinstance(raw, Mapping):
        raise InputError('the execution input must be a JSON object, e.g. {"mode": "rehearsal"}')
    problems: list[str] = []
    unknown = sorted(str(key) for key in raw if key not in DEFAULTS)
    if unknown:
        problems.append(f"unknown fields {', '.join(unknown)}: allowed are {', '.join(DEFAULTS)}")
    values = {**DEFAULTS, **{key: value for key, value in raw.items() if key in DEFAULTS}}
    if values["mode"] not in MODES:
        problems.append(f"mode: must be one of {', '.join(MODES)}")
    for name in ("force", "unpause"):
        _bool(problems, name, values[name])
    _integer(problems, "drain_timeout_seconds", values["drain_timeout_seconds"], nullable=False)
    _integer(problems, "wait_timeout_seconds", values["wait_timeout_seconds"], nullable=False)
    _integer(problems, "log_days", values["log_days"], nullable=True)
    if values["on_existing"] not in ON_EXISTING:
        problems.append(f"on_existing: must be one of {', '.join(ON_EXISTING)}")
    since = values["runs_since"]
    if since is not None:
        parsed = parse_since(since) if isinstance(since, str) else None
        if parsed is None:
            problems.append("runs_since: must be null, a date (YYYY-MM-DD) or an ISO-8601 time with an offset")
        else:
            values["runs_since"] = parsed.isoformat()
    states = values["log_states"]
    if states is not None and (
        not isinstance(states, list)
        or not states
        or not all(isinstance(s, str) and LOG_STATE.fullmatch(s) for s in states)
    ):
        problems.append('log_states: must be null or a non-empty list of task states, e.g. ["success", "failed"]')
    export_id = values["export_id"]
    if export_id is not None:
        if not operator_export:
            problems.append("export_id: must be null: this source is exported by the machine, with an id of its own")
        elif not isinstance(export_id, str) or not EXPORT_ID.fullmatch(export_id) or ".." in export_id:
            problems.append("export_id: must be null or an export id (letters, digits, '.', '_', '-'; up to 100)")
    if problems:
        raise InputError("; ".join(problems))
    return values


def machine_export_id(mode: str, started_at: datetime.datetime) -> str:
    """The id of the export this execution makes: the UTC start time first, so ids sort by time across modes
    (the export DAG's own ids are the bare time, and `latest_complete_export` takes the greatest)."""
    return started_at.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ") + SUFFIXES[mode]


def parse_time(value: str) -> datetime.datetime:
    """An ISO-8601 time as Step Functions writes it ($$.Execution.StartTime, $$.State.EnteredTime)."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time without an offset")
    return parsed.astimezone(datetime.UTC)
