"""The task-log copy (mwaa_migration_support/task_logs.py of the migration DAGs' zip) against moto's CloudWatch Logs.

moto doesn't enforce PutLogEvents' limits, so the target client is wrapped and every call is checked here: at most
1,048,576 bytes (message UTF-8 bytes + 26 each), 10,000 events, in timestamp order, spanning less than 24 hours.
moto pages DescribeLogStreams by 50 and GetLogEvents by 10,000 events, so > 50 streams and a > 10,000-event stream
exercise both paginations.
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.logs.models import logs_backends
from mwaa_migration_support.task_logs import LogCopyError, _logs_compile_template, _logs_render, copy_task_logs

from tests.migration_dags_unit import UNIT_ZIP

MODULE = Path(__file__).resolve().parent.parent / "migration_dags" / "mwaa_migration_support" / "task_logs.py"
OLD, NEW = "airflow-old-Task", "airflow-new-Task"
# The defaults, as Airflow's own configuration returns them (2.4.3 to 2.11.2, and 3.0.6).
TEMPLATE_2 = (
    "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}/task_id={{ ti.task_id }}/"
    "{% if ti.map_index >= 0 %}map_index={{ ti.map_index }}/{% endif %}attempt={{ try_number }}.log"
)
TEMPLATE_3 = TEMPLATE_2.replace("{{ try_number }}", "{{ try_number|default(ti.try_number) }}")
NOW = datetime.datetime.now(datetime.UTC)
HOUR_MS = 3600 * 1000
ACCOUNT_ID = "123456789012"  # moto's default account


def ms(value: datetime.datetime) -> int:
    return int(value.timestamp() * 1000)


class CheckedLogs:
    """The target client, every PutLogEvents checked against the API's limits and recorded."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.batches: list[list[dict[str, Any]]] = []
        self.fail_puts: list[ClientError] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_log_events(self, **kwargs: Any) -> Any:
        if self.fail_puts:
            raise self.fail_puts.pop(0)
        events = kwargs["logEvents"]
        stamps = [event["timestamp"] for event in events]
        assert 0 < len(events) <= 10_000
        assert sum(len(event["message"].encode("utf-8")) + 26 for event in events) <= 1_048_576
        assert stamps == sorted(stamps)
        assert stamps[-1] - stamps[0] < 24 * HOUR_MS
        assert stamps[0] >= ms(NOW - datetime.timedelta(days=14))
        self.batches.append(events)
        return self.client.put_log_events(**kwargs)


@pytest.fixture
def logs() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=OLD)
        client.create_log_group(logGroupName=NEW)
        yield client


def write(client: Any, stream: str, events: list[tuple[int, str]]) -> None:
    client.create_log_stream(logGroupName=OLD, logStreamName=stream)
    if events and events[0][0] < ms(NOW - datetime.timedelta(days=14)):
        # moto's PutLogEvents drops what the real one would: older events go in below the API, as they once did.
        backend = logs_backends[ACCOUNT_ID]["us-east-1"]
        backend.groups[OLD].streams[stream].put_log_events([{"timestamp": t, "message": m} for t, m in events])
        return
    for start in range(0, len(events), 5000):
        chunk = events[start : start + 5000]
        client.put_log_events(
            logGroupName=OLD, logStreamName=stream, logEvents=[{"timestamp": t, "message": m} for t, m in chunk]
        )


def read(client: Any, group: str, stream: str) -> list[tuple[int, str]]:
    events: list[tuple[int, str]] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        page = client.get_log_events(**kwargs)
        events += [(event["timestamp"], event["message"]) for event in page["events"]]
        if page["nextForwardToken"] == kwargs.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextForwardToken"]


def stream_names(client: Any, group: str) -> list[str]:
    paginator = client.get_paginator("describe_log_streams")
    return [s["logStreamName"] for page in paginator.paginate(logGroupName=group) for s in page["logStreams"]]


def ti(
    dag: str, run: str, task: str, *, map_index: int = -1, state: str = "success", age_days: float = 1
) -> dict[str, Any]:
    start = (NOW - datetime.timedelta(days=age_days)).isoformat()
    return {
        "dag_id": dag,
        "task_id": task,
        "run_id": run,
        "map_index": map_index,
        "try_number": 1,
        "state": state,
        "start_date": start,
        "end_date": start,
    }


def source_name(dag: str, run: str, task: str, attempt: int, map_index: int = -1) -> str:
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return f"dag_id={dag}/run_id={run}/task_id={task}/{mapped}attempt={attempt}.log".replace(":", "_")


def lines(count: int, start: int, *, size: int = 120, step: int = 10) -> list[tuple[int, str]]:
    return [(start + i * step, f"[{i:06d}] " + "x" * (size - 9)) for i in range(count)]


def copy(
    logs: Any, target: Any, tis: list[dict[str, Any]], run_ids: dict[str, dict[str, str]], **kwargs: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {"days": None, "states": None, "target_template": TEMPLATE_2}
    options.update(kwargs)
    return copy_task_logs(
        source_client=logs,
        target_client=target,
        source_group=OLD,
        target_group=NEW,
        task_instances=tis,
        run_ids=run_ids,
        now=NOW,
        sleep=lambda seconds: None,
        **options,
    )


def test_every_page_mapped_tasks_retries_and_limits(logs: Any) -> None:
    """60 task instances (> 50 streams: two DescribeLogStreams pages), mapped ones, retries, a 12,000-event stream
    (two GetLogEvents pages, two 10,000-event batches at most), 4 MiB of large events (the 1 MiB split) and a
    30-hour sensor (the 24-hour split); copied under new run ids with ':' sanitised, content equal."""
    base = ms(NOW - datetime.timedelta(days=2))
    old_run, new_run = "scheduled__2026-01-01T00:00:00+00:00", "backfill__2026-01-01T00:00:00+00:00"
    tis, expected = [], {}
    for task in range(20):
        for attempt in (1, 2, 3) if task < 5 else (1,):
            name = source_name("etl", old_run, f"t{task:02d}", attempt)
            write(logs, name, lines(30, base + attempt * 1000))
            expected[name] = source_name("etl", new_run, f"t{task:02d}", attempt)
        tis.append(ti("etl", old_run, f"t{task:02d}"))
    for index in range(40):
        name = source_name("fan", "manual__x:1", "each", 1, map_index=index)
        write(logs, name, lines(5, base))
        expected[name] = source_name("fan", "new_manual", "each", 1, map_index=index)
        tis.append(ti("fan", "manual__x:1", "each", map_index=index))
    big = source_name("etl", old_run, "big", 1)
    write(logs, big, lines(12_000, base, size=40, step=1))
    huge = source_name("etl", old_run, "huge", 1)
    write(logs, huge, lines(40, base, size=100_000))
    sensor = source_name("etl", old_run, "sensor", 1)
    write(logs, sensor, lines(31, base - 30 * HOUR_MS, step=HOUR_MS))
    for task_id, name in (("big", big), ("huge", huge), ("sensor", sensor)):
        tis.append(ti("etl", old_run, task_id))
        expected[name] = source_name("etl", new_run, task_id, 1)
    target = CheckedLogs(logs)
    summary = copy(logs, target, tis, {"etl": {old_run: new_run}, "fan": {"manual__x:1": "new_manual"}})

    assert summary["streams_found"] == len(expected) == 73
    assert summary["describe_log_streams_pages"] == 2
    assert summary["streams_copied"] == len(expected)
    assert summary["streams_failed"] == summary["events_too_old"] == 0
    assert summary["unmatched"] == {}
    for name, target_name in expected.items():
        assert read(logs, NEW, target_name) == read(logs, OLD, name), name
    total = sum(len(read(logs, OLD, name)) for name in expected)
    assert summary["events_copied"] == sum(len(batch) for batch in target.batches) == total
    big_batches = [b for b in target.batches if len(b[0]["message"]) == 40]
    assert [len(b) for b in big_batches] == [10_000, 2_000]
    huge_batches = [b for b in target.batches if len(b[0]["message"]) > 90_000]
    assert len(huge_batches) == 4 and sum(map(len, huge_batches)) == 40  # 10 of 100 kB a MiB
    sensor_batches = [b for b in target.batches if b[-1]["timestamp"] - b[0]["timestamp"] >= 20 * HOUR_MS]
    assert [len(b) for b in sensor_batches] == [24]  # 24 hourly events, then the remaining 7 in a new batch
    # Every byte counted as the API counts it; calls per MiB at most the per-stream minimum plus the splits above.
    assert summary["bytes_copied"] == sum(len(e["message"]) + 26 for b in target.batches for e in b)
    assert summary["put_log_events_calls"] == len(target.batches) == len(expected) + 1 + 3 + 1


def test_selection_by_days_and_states_and_run_mapping(logs: Any) -> None:
    base = ms(NOW - datetime.timedelta(hours=5))
    tis = [
        ti("d", "r_recent", "ok"),
        ti("d", "r_recent", "failed_one", state="failed"),
        ti("d", "r_old", "ok", age_days=10),
        ti("d", "r_not_imported", "ok", state="failed"),
    ]
    for row in tis:
        write(logs, source_name("d", row["run_id"], row["task_id"], 1), lines(3, base))
    summary = copy(logs, CheckedLogs(logs), tis, {"d": {"r_recent": "n_recent", "r_old": "n_old"}}, days=3,
                   states={"failed"}, target_template=TEMPLATE_3)  # fmt: skip
    assert stream_names(logs, NEW) == [source_name("d", "n_recent", "failed_one", 1)]
    assert summary["task_instances_selected"] == 2
    assert summary["streams_not_selected"] == 2
    assert summary["streams_run_not_imported"] == 1
    assert summary["examples"]["run_not_imported"] == [source_name("d", "r_not_imported", "ok", 1)]


def test_too_old_events_and_retention_are_reported(logs: Any) -> None:
    now_ms = ms(NOW)
    straddling = source_name("d", "r", "straddle", 1)
    write(logs, straddling, [(now_ms - 20 * 24 * HOUR_MS, "old"), (now_ms - 2 * HOUR_MS, "new")])
    # moto refuses events older than 14 days; this stream's events are written a little younger, then aged by the
    # target group's 7-day retention: the copy must count them as too old (a whole stream, not read).
    retained = source_name("d", "r", "week_old", 1)
    write(logs, retained, lines(4, now_ms - 10 * 24 * HOUR_MS))
    logs.put_retention_policy(logGroupName=NEW, retentionInDays=7)
    tis = [ti("d", "r", "straddle"), ti("d", "r", "week_old")]
    summary = copy(logs, CheckedLogs(logs), tis, {"d": {"r": "r"}})
    assert summary["target_retention_days"] == 7
    assert summary["events_too_old"] == 1 and summary["events_copied"] == 1
    assert summary["streams_too_old"] == 1 and summary["examples"]["too_old"] == [retained]
    assert read(logs, NEW, straddling) == [(now_ms - 2 * HOUR_MS, "new")]


def test_unmatched_names_are_reported_never_guessed(logs: Any) -> None:
    base = ms(NOW - datetime.timedelta(hours=1))
    names = {
        "scheduler/2026-01-01/some.log": "unrecognised_name",
        "d/t/2026-01-01T00_00_00+00_00/1.log": "legacy_template",
        source_name("d", "gone", "t", 1): "run_not_in_archive",
        source_name("d", "a:b", "t", 1): "ambiguous_run_id",
    }
    for name in names:
        write(logs, name, lines(2, base))
    tis = [ti("d", "a:b", "t"), ti("d", "a_b", "t")]
    summary = copy(logs, CheckedLogs(logs), tis, {"d": {"a:b": "x", "a_b": "y"}})
    assert summary["unmatched"] == dict.fromkeys(names.values(), 1)
    assert {reason: summary["examples"][reason] for reason in names.values()} == {r: [n] for n, r in names.items()}
    assert stream_names(logs, NEW) == [] and summary["put_log_events_calls"] == 0


def test_rerun_duplicates_nothing_and_resumes_a_partial_copy(logs: Any) -> None:
    base = ms(NOW - datetime.timedelta(days=1))
    # Runs of equal timestamps, so a partial copy can stop inside one.
    events = [(base + (i // 7) * 1000, f"line {i}") for i in range(25_000)]
    name = source_name("d", "r", "t", 1)
    write(logs, name, events)
    partial = source_name("d", "r", "t2", 1)
    write(logs, partial, events[:300])
    tis = [ti("d", "r", "t"), ti("d", "r", "t2")]
    run_ids = {"d": {"r": "r"}}
    logs.create_log_stream(logGroupName=NEW, logStreamName=partial)
    logs.put_log_events(  # an interrupted earlier copy: the first 200 events, ending inside a timestamp's run
        logGroupName=NEW, logStreamName=partial, logEvents=[{"timestamp": t, "message": m} for t, m in events[:200]]
    )
    first = copy(logs, CheckedLogs(logs), tis, run_ids)
    assert read(logs, NEW, name) == events and read(logs, NEW, partial) == events[:300]
    assert first["events_copied"] == 25_000 + 100 and first["events_already_present"] == 200 - 7 * (200 // 7)
    target = CheckedLogs(logs)
    second = copy(logs, target, tis, run_ids)
    assert target.batches == [] and second["events_copied"] == 0
    assert second["streams_already_copied"] == 2
    assert read(logs, NEW, name) == events and read(logs, NEW, partial) == events[:300]


def test_throttling_retried_other_errors_name_the_stream_not_the_content(logs: Any) -> None:
    base = ms(NOW - datetime.timedelta(hours=1))
    tis = [ti("d", "r", "a"), ti("d", "r", "b")]
    for row in tis:
        write(logs, source_name("d", "r", row["task_id"], 1), [(base, "SECRET-CONTENT")])

    def error(code: str) -> ClientError:
        message = "Value 'SECRET-CONTENT' at 'logEvents.1.member.message' failed to satisfy constraint"
        return ClientError({"Error": {"Code": code, "Message": message}}, "PutLogEvents")

    target = CheckedLogs(logs)
    target.fail_puts = [error("ThrottlingException"), error("ThrottlingException"), error("InvalidParameterException")]
    sleeps: list[float] = []
    summary = copy_task_logs(
        source_client=logs, target_client=target, source_group=OLD, target_group=NEW, task_instances=tis,
        run_ids={"d": {"r": "r"}}, target_template=TEMPLATE_2, days=None, states=None, now=NOW, sleep=sleeps.append,
    )  # fmt: skip
    assert sleeps == [0.5, 1.0] and summary["throttled_retries"] == 2
    assert summary["streams_failed"] == 1 and summary["streams_copied"] == 1
    [failure] = summary["failed"]
    assert failure["stream"] == source_name("d", "r", "a", 1) and "InvalidParameterException" in failure["error"]
    assert "SECRET" not in repr(summary)
    target.fail_puts = [error("AccessDeniedException")]
    with pytest.raises(LogCopyError) as raised:
        copy(logs, target, tis, {"d": {"r": "r"}})
    assert "AccessDeniedException" in str(raised.value) and "SECRET" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_missing_target_group_and_unsupported_templates_are_refused(logs: Any) -> None:
    with pytest.raises(LogCopyError, match="target log group airflow-new-Task does not exist"):
        logs.delete_log_group(logGroupName=NEW)
        copy(logs, logs, [], {})
    for template in ("{{ ti.dag_id }}/{{ ts }}/{{ try_number }}.log", "{% if x %}a{% endif %}", "{{ ti.dag_id }"):
        with pytest.raises(LogCopyError, match="unsupported log_filename_template") as raised:
            _logs_compile_template(template)
        assert repr(template) in str(raised.value)


@pytest.mark.parametrize("template", [TEMPLATE_2, TEMPLATE_3])
def test_default_templates_render_like_airflow(template: str) -> None:
    parts = _logs_compile_template(template)
    fields = {"dag_id": "d", "task_id": "t", "run_id": "r:1", "try_number": 2}
    assert _logs_render(parts, {**fields, "map_index": -1}) == "dag_id=d/run_id=r:1/task_id=t/attempt=2.log"
    assert _logs_render(parts, {**fields, "map_index": 0}) == "dag_id=d/run_id=r:1/task_id=t/map_index=0/attempt=2.log"


def test_the_log_copy_is_a_plain_module_outside_airflow() -> None:
    """The tests and the benchmark import the copy from the migration DAGs' zip in a virtualenv without Airflow:
    nothing at module level of the support package needs Airflow, and no DAG is built there (the DAG file is
    mwaa_migration_task_logs.py, at the zip's root)."""
    import mwaa_migration_support.task_logs as module

    assert importlib.util.find_spec("airflow") is None
    assert Path(str(module.__file__)) == UNIT_ZIP / "mwaa_migration_support" / "task_logs.py", "from the zip"
    assert not hasattr(module, "dag")
    ast.parse(MODULE.read_text(), feature_version=(3, 8))
