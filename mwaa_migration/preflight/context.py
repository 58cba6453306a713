"""Task context keys and template variables that Airflow 3 removed, what to write instead, and where Jinja
templates use them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mwaa_migration.preflight.findings import Finding

# Keys of Airflow 2.10.3's task context that Airflow 3's context no longer has. Derived (not remembered) by
# comparing two releases' own definitions:
#   apache-airflow 2.10.3: airflow/utils/context.py, KNOWN_CONTEXT_KEYS (the same keys as `Context` in context.pyi)
#   apache-airflow-task-sdk 1.0.6 (the SDK apache-airflow-core 3.0.6 pairs with, `apache-airflow-core>=3.0.6,<3.1`):
#     airflow/sdk/definitions/context.py, the `Context` TypedDict
# 2.10.3 minus 1.0.6 gives exactly these; 1.0.6 adds start_date, task_reschedule_count, triggering_asset_events.
REMOVED_CONTEXT_KEYS: tuple[str, ...] = (
    "conf",
    "execution_date",
    "next_ds",
    "next_ds_nodash",
    "next_execution_date",
    "prev_ds",
    "prev_ds_nodash",
    "prev_execution_date",
    "prev_execution_date_success",
    "tomorrow_ds",
    "tomorrow_ds_nodash",
    "triggering_dataset_events",
    "yesterday_ds",
    "yesterday_ds_nodash",
)


@dataclass(frozen=True)
class Replacement:
    """What to write instead of a removed key: in a template, in Python (`{ctx}` is the context variable), or as a
    task-function parameter. None where Airflow 3 has no equivalent, and `note` says what to do then."""

    template: str | None = None
    python: str | None = None
    parameter: str | None = None
    note: str = ""


# Airflow 2.10.3's own deprecation table (airflow/utils/context.py, Context._DEPRECATION_REPLACEMENTS) names
# logical_date, data_interval_end and prev_data_interval_start_success; the day arithmetic is how 2.10.3 computed
# yesterday_ds and tomorrow_ds (logical_date -/+ one day, airflow/models/taskinstance.py).
_NO_PREVIOUS_SCHEDULE = (
    "nothing replaces it exactly: `prev_data_interval_start_success` is the last successful run's, and the "
    "previous schedule's date has to be derived from `data_interval_start` and the schedule"
)
REPLACEMENTS: Mapping[str, Replacement] = {
    "conf": Replacement(
        note="nothing replaces it: pass the value in through `params` or a Variable, or read it in Python with "
        "`from airflow.configuration import conf`"
    ),
    "execution_date": Replacement("logical_date", '{ctx}["logical_date"]', "logical_date"),
    "next_ds": Replacement("data_interval_end | ds", '{ctx}["data_interval_end"].strftime("%Y-%m-%d")'),
    "next_ds_nodash": Replacement("data_interval_end | ds_nodash", '{ctx}["data_interval_end"].strftime("%Y%m%d")'),
    "next_execution_date": Replacement("data_interval_end", '{ctx}["data_interval_end"]', "data_interval_end"),
    "prev_ds": Replacement(note=_NO_PREVIOUS_SCHEDULE),
    "prev_ds_nodash": Replacement(note=_NO_PREVIOUS_SCHEDULE),
    "prev_execution_date": Replacement(note=_NO_PREVIOUS_SCHEDULE),
    "prev_execution_date_success": Replacement(
        "prev_data_interval_start_success",
        '{ctx}["prev_data_interval_start_success"]',
        "prev_data_interval_start_success",
    ),
    "tomorrow_ds": Replacement(
        "macros.ds_add(ds, 1)", '({ctx}["logical_date"] + timedelta(days=1)).strftime("%Y-%m-%d")'
    ),
    "tomorrow_ds_nodash": Replacement(
        "(logical_date + macros.timedelta(days=1)) | ds_nodash",
        '({ctx}["logical_date"] + timedelta(days=1)).strftime("%Y%m%d")',
    ),
    "triggering_dataset_events": Replacement(
        "triggering_asset_events", '{ctx}["triggering_asset_events"]', "triggering_asset_events"
    ),
    "yesterday_ds": Replacement(
        "macros.ds_add(ds, -1)", '({ctx}["logical_date"] - timedelta(days=1)).strftime("%Y-%m-%d")'
    ),
    "yesterday_ds_nodash": Replacement(
        "(logical_date - macros.timedelta(days=1)) | ds_nodash",
        '({ctx}["logical_date"] - timedelta(days=1)).strftime("%Y%m%d")',
    ),
}


def template_advice(key: str) -> str:
    """CTX001's message for a removed key used in a Jinja template."""
    replacement = REPLACEMENTS[key]
    advice = f"write `{{{{ {replacement.template} }}}}` instead" if replacement.template else replacement.note
    return f"template variable `{key}` was removed in Airflow 3.0, so rendering fails: {advice}"


def lookup_advice(key: str, context: str) -> str:
    """CTX002's message for `context["key"]` or `context.get("key")`, `context` being the variable's name."""
    replacement = REPLACEMENTS[key]
    advice = f"use `{replacement.python.format(ctx=context)}` instead" if replacement.python else replacement.note
    return f"`{key}` was removed from the task context in Airflow 3.0: {advice}"


def parameter_advice(key: str, function: str) -> str:
    """CTX003's message for a task function that takes a removed key as a parameter."""
    replacement = REPLACEMENTS[key]
    if replacement.parameter:
        advice = f"take `{replacement.parameter}` instead"
    elif replacement.python:
        advice = f"take `**context` and use `{replacement.python.format(ctx='context')}`"
    else:
        advice = replacement.note
    return f"task function {function} takes `{key}`, which Airflow 3.0 no longer passes: {advice}"


# `{{ expression }}` and `{% statement %}` blocks; `{# comments #}` are never rendered.
_JINJA_BLOCK = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.DOTALL)
_JINJA_STRING = re.compile(r"'[^'\\]*(?:\\.[^'\\]*)*'|\"[^\"\\]*(?:\\.[^\"\\]*)*\"")
# A variable: a name that is not an attribute (`dag_run.conf`) nor a keyword argument (`f(conf=1)`).
_JINJA_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?!\w)(?!\s*=(?!=))")
_REMOVED = frozenset(REMOVED_CONTEXT_KEYS)


def template_variables(text: str) -> Iterator[tuple[int, str]]:
    """(offset in text, key) for each removed key a Jinja block in `text` reads as a variable."""
    for block in _JINJA_BLOCK.finditer(text):
        group = 1 if block.group(1) is not None else 2
        # Blank out quoted strings, keeping offsets: `{{ "execution_date" }}` is text, not the variable.
        body = _JINJA_STRING.sub(lambda string: " " * len(string.group()), block.group(group))
        for name in _JINJA_NAME.finditer(body):
            if name.group() in _REMOVED:
                yield block.start(group) + name.start(), name.group()


# Files operators render as templates when a templated field names them (`bash_command="load.sh"`,
# `sql="report.sql"`); a DAG folder often keeps them next to the DAGs.
TEMPLATE_SUFFIXES = frozenset({".sql", ".hql", ".sh", ".bash", ".j2", ".jinja", ".jinja2"})


def check_template_file(path: Path, text: str) -> list[Finding]:
    """CTX001 for a template file: each removed variable, on its line."""
    return [
        Finding("error", path, text.count("\n", 0, offset) + 1, "CTX001", template_advice(key))
        for offset, key in template_variables(text)
    ]
