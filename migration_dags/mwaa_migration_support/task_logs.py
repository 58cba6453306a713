"""The task-log copy: the old environment's CloudWatch task logs into the new environment's task log group.

Run by the task-log DAG `mwaa_migration_task_logs` (mwaa_migration_task_logs.py at the root of the migration DAGs'
zip) on every target, Airflow 2.7+ and 3.x: it needs no metadata database (Airflow 3 tasks can't reach it), only the
archive (the cut-over's reader, exports.archive: the task_instance rows and the run-id map the import wrote) and
CloudWatch Logs, with the new execution role. Python 3.8 syntax; nothing beyond what MWAA installs (boto3).

`conf` may give:
  export_id    the export whose runs are copied for (default: the newest complete export under exports/<migration>/)
  log_days     task logs of the last N days (default 30)
  log_states   task instance states whose logs are copied (default: every final state)
  copy_logs    false: copy nothing (default: copy, for an MWAA source)
A self-managed source has no CloudWatch task logs: the task copies nothing and says so.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from typing import Any, Callable, Collection, Iterable, Iterator

from .dags import run_conf
from .exports import Settings, archive, load_settings, open_export

FINAL_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")
DEFAULT_LOG_DAYS = 30
UTC = datetime.timezone.utc

log = logging.getLogger(__name__)

# Stream names. Airflow's CloudWatch handler (apache-airflow-providers-amazon: `CloudwatchTaskHandler._render_filename`
# and `CloudWatchRemoteLogIO`) renders `[logging] log_filename_template` and replaces every ':' with '_', since
# CloudWatch forbids ':' and '*' in stream names. With Airflow >= 2.3's default template a source stream is
# `dag_id=<d>/run_id=<r>/task_id=<t>/[map_index=<m>/]attempt=<n>.log`, with <r> sanitised: it is matched to the
# archive's run ids sanitised the same way (two run ids that sanitise alike are reported as ambiguous, never guessed).
# The target name renders the target's template with the NEW run id (`run_ids[dag_id][old_run_id]`), then the same
# replacement. Names that don't parse, runs the archive lacks and runs that were not imported are counted and listed.
#
# Re-runs resume, never duplicate: when a target stream already exists, its last timestamp T and the number of its
# events at T are read, and the source is read from T on, skipping that many events at T. Events are written in the
# source's order, so the target always holds a prefix of the copyable source events; a crash between two batches
# loses nothing and a finished stream copies nothing ("already copied").
#
# Limits (PutLogEvents): at most 1,048,576 bytes (message UTF-8 bytes + 26 per event) and 10,000 events a call, in
# timestamp order, spanning less than 24 hours. Events older than 14 days, or than the target group's retention, are
# counted as too old and not sent; so are whole streams whose last event is older (those aren't read).


LOG_COPY_MAX_BATCH_BYTES = 1048576
LOG_COPY_EVENT_OVERHEAD = 26
LOG_COPY_MAX_BATCH_EVENTS = 10000
LOG_COPY_MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
LOG_COPY_MAX_AGE_DAYS = 14
LOG_COPY_MAX_STREAM_NAME = 512
# Stream names listed per reason in the summary (the counts are always complete).
LOG_COPY_EXAMPLES = 20
LOG_COPY_RETRY_CODES = frozenset({"ThrottlingException", "ServiceUnavailableException"})
# Errors that would fail every stream the same way: stop at once instead of listing each stream.
LOG_COPY_FATAL_CODES = frozenset({"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"})


class LogCopyError(Exception):
    """Names the operation, the group or stream and AWS's error code; never a log message's content."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


_LOGS_SOURCE_NAME = re.compile(
    r"dag_id=(?P<dag_id>[^/]+)/run_id=(?P<run_id>.+)/task_id=(?P<task_id>[^/]+)/"
    r"(?:map_index=(?P<map_index>-?\d+)/)?attempt=(?P<attempt>\d+)\.log"
)
# Airflow < 2.3's default, `{{ ti.dag_id }}/{{ ti.task_id }}/{{ ts }}/{{ try_number }}.log`: named by logical date,
# which the task_instance rows don't carry; reported apart so the reason is clear.
_LOGS_LEGACY_NAME = re.compile(r"[^/=]+/[^/=]+/\d{4}-\d\d-\d\dT[^/]+/\d+\.log")
_LOGS_TAG = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)
_LOGS_EXPRESSIONS = {
    "ti.dag_id": "dag_id",
    "ti.task_id": "task_id",
    "ti.run_id": "run_id",
    "ti.map_index": "map_index",
    "ti.try_number": "try_number",
    "try_number": "try_number",
    "try_number|default(ti.try_number)": "try_number",
}
_LOGS_CONDITIONS = {"ti.map_index>=0": "mapped"}
_LOGS_SUMMARY_COUNTS = """streams_found streams_copied streams_already_copied streams_nothing_to_copy
    streams_not_selected streams_run_not_imported streams_too_old streams_failed events_copied events_already_present
    events_too_old events_too_large events_rejected_too_new bytes_copied put_log_events_calls
    describe_log_streams_pages get_log_events_pages throttled_retries"""


def _logs_compile_template(template: str) -> list[tuple[str, str, bool]]:
    """(kind, value, only when mapped) parts of the supported subset of Jinja; anything else is refused."""

    def refuse(detail: str) -> LogCopyError:
        return LogCopyError(
            f"unsupported log_filename_template {template!r}: {detail}; supported: "
            "{{ ti.dag_id|task_id|run_id|map_index }}, {{ try_number }} (optionally |default(ti.try_number)) and "
            "{% if ti.map_index >= 0 %}...{% endif %}"
        )

    parts: list[tuple[str, str, bool]] = []
    mapped = False
    position = 0
    for match in _LOGS_TAG.finditer(template):
        if match.start() > position:
            parts.append(("text", template[position : match.start()], mapped))
        position = match.end()
        if match.group(1) is not None:
            field = _LOGS_EXPRESSIONS.get(re.sub(r"\s+", "", match.group(1)))
            if field is None:
                raise refuse(f"expression {match.group(0)!r}")
            parts.append(("field", field, mapped))
            continue
        statement = " ".join(match.group(2).split())
        if statement.startswith("if ") and not mapped:
            if _LOGS_CONDITIONS.get(statement[3:].replace(" ", "")) is None:
                raise refuse(f"condition {match.group(0)!r}")
            mapped = True
        elif statement == "endif" and mapped:
            mapped = False
        else:
            raise refuse(f"statement {match.group(0)!r}")
    if mapped:
        raise refuse("an {% if %} without {% endif %}")
    if position < len(template):
        parts.append(("text", template[position:], False))
    if "{" in "".join(value for kind, value, _ in parts if kind == "text"):
        raise refuse("an unbalanced or unknown tag")
    return parts


def _logs_render(parts: list[tuple[str, str, bool]], fields: dict[str, Any]) -> str:
    pieces = []
    for kind, value, only_mapped in parts:
        if only_mapped and int(fields["map_index"]) < 0:
            continue
        pieces.append(value if kind == "text" else str(fields[value]))
    return "".join(pieces)


def _logs_sanitise(name: str) -> str:
    # What the CloudWatch handler does to every stream name it writes or reads.
    return name.replace(":", "_")


def _logs_parse_time(value: Any) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return _logs_aware(value)
    text = str(value)
    return _logs_aware(datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text))


def _logs_aware(value: datetime.datetime) -> datetime.datetime:
    # The archive's datetimes are UTC; a naive one is read as UTC too.
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)


def _logs_millis(value: datetime.datetime) -> int:
    return int(_logs_aware(value).timestamp() * 1000)


def _logs_error_code(error: BaseException) -> str | None:
    if isinstance(error, LogCopyError):
        return error.code
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class _LogsCopier:
    """One copy: the clients, the cut-off, the counters and the retry policy."""

    def __init__(
        self,
        *,
        source: Any,
        target: Any,
        source_group: str,
        target_group: str,
        sleep: Callable[[float], None],
        max_attempts: int,
    ) -> None:
        self.source = source
        self.target = target
        self.source_group = source_group
        self.target_group = target_group
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.cutoff_ms = 0
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def note(self, reason: str, stream: str) -> None:
        self.add("streams_" + reason)
        listed = self.examples.setdefault(reason, [])
        if len(listed) < LOG_COPY_EXAMPLES:
            listed.append(stream)

    def call(self, operation: str, where: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call, throttling retried with exponential backoff; other errors become a LogCopyError naming
        `where` (a group or stream) and the error code only: a PutLogEvents validation message can quote an event."""
        attempt = 1
        while True:
            try:
                return method(**kwargs)
            except Exception as error:
                code = _logs_error_code(error)
                if code is None:
                    raise
                if code in LOG_COPY_RETRY_CODES and attempt < self.max_attempts:
                    self.add("throttled_retries")
                    self.sleep(min(0.25 * 2**attempt, 20.0))
                    attempt += 1
                    continue
                raise LogCopyError(f"{operation} on {where} failed: {code}", code=code) from None

    def retention_days(self) -> int | None:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupNamePrefix": self.target_group}
            if token:
                kwargs["nextToken"] = token
            page = self.call("DescribeLogGroups", self.target_group, self.target.describe_log_groups, **kwargs)
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == self.target_group:
                    days = group.get("retentionInDays")
                    return int(days) if days else None
            token = page.get("nextToken")
            if not token:
                raise LogCopyError(f"target log group {self.target_group} does not exist", code="NotFound")

    def source_streams(self) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.source_group, "limit": 50}
            if token:
                kwargs["nextToken"] = token
            page = self.call("DescribeLogStreams", self.source_group, self.source.describe_log_streams, **kwargs)
            self.add("describe_log_streams_pages")
            yield from page.get("logStreams", [])
            new_token = page.get("nextToken")
            if not new_token or new_token == token:
                return
            token = new_token

    def events(
        self, client: Any, group: str, stream: str, *, start_time: int | None = None, backward: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every page of GetLogEvents, following the token until it repeats (pages may be empty midway)."""
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": not backward}
        if start_time is not None:
            kwargs["startTime"] = start_time
        if backward:
            kwargs["limit"] = 1
        token_key = "nextBackwardToken" if backward else "nextForwardToken"
        token = None
        while True:
            if token:
                kwargs["nextToken"] = token
            page = self.call("GetLogEvents", group + ":" + stream, client.get_log_events, **kwargs)
            self.add("get_log_events_pages")
            page_events = page.get("events", [])
            yield from (reversed(page_events) if backward else page_events)
            new_token = page.get(token_key)
            if not new_token or new_token == token:
                return
            token = new_token

    def resume_point(self, stream: str) -> tuple[int, int] | None:
        """(last timestamp, events at it) of an existing target stream, None when it is empty."""
        last = next(self.events(self.target, self.target_group, stream, backward=True), None)
        if last is None:
            return None
        last_ts = int(last["timestamp"])
        at_last = sum(
            1
            for event in self.events(self.target, self.target_group, stream, start_time=last_ts)
            if int(event["timestamp"]) == last_ts
        )
        return last_ts, at_last

    def put(self, stream: str, batch: list[dict[str, Any]], size: int) -> None:
        response = self.call(
            "PutLogEvents",
            self.target_group + ":" + stream,
            self.target.put_log_events,
            logGroupName=self.target_group,
            logStreamName=stream,
            logEvents=batch,
        )
        self.add("put_log_events_calls")
        # Indexes per the API reference: tooOld and expired end indexes are exclusive, tooNew's start inclusive.
        rejected = response.get("rejectedLogEventsInfo") or {}
        too_old = max(int(rejected.get("tooOldLogEventEndIndex", 0)), int(rejected.get("expiredLogEventEndIndex", 0)))
        too_new = len(batch) - int(rejected.get("tooNewLogEventStartIndex", len(batch)))
        self.add("events_too_old", too_old)
        self.add("events_rejected_too_new", too_new)
        self.add("events_copied", len(batch) - too_old - too_new)
        self.add("bytes_copied", size)

    def copy_stream(self, source_stream: str, target_stream: str) -> None:
        resume = None
        try:
            self.call(
                "CreateLogStream",
                self.target_group + ":" + target_stream,
                self.target.create_log_stream,
                logGroupName=self.target_group,
                logStreamName=target_stream,
            )
        except LogCopyError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise
            resume = self.resume_point(target_stream)
        skip_at_resume = resume[1] if resume else 0
        batch: list[dict[str, Any]] = []
        size = 0
        copied_before = self.counts.get("events_copied", 0)
        start = resume[0] if resume else None
        for event in self.events(self.source, self.source_group, source_stream, start_time=start):
            timestamp = int(event["timestamp"])
            if resume is not None and timestamp <= resume[0]:
                if timestamp == resume[0] and skip_at_resume > 0:
                    skip_at_resume -= 1
                    self.add("events_already_present")
                    continue
                if timestamp < resume[0]:
                    continue
            if timestamp < self.cutoff_ms:
                self.add("events_too_old")
                continue
            event_size = len(event["message"].encode("utf-8")) + LOG_COPY_EVENT_OVERHEAD
            if event_size > LOG_COPY_MAX_BATCH_BYTES:
                self.add("events_too_large")
                continue
            if batch and (
                size + event_size > LOG_COPY_MAX_BATCH_BYTES
                or len(batch) >= LOG_COPY_MAX_BATCH_EVENTS
                or timestamp - int(batch[0]["timestamp"]) >= LOG_COPY_MAX_BATCH_SPAN_MS
                or timestamp < int(batch[-1]["timestamp"])
            ):
                self.put(target_stream, batch, size)
                batch, size = [], 0
            batch.append({"timestamp": timestamp, "message": event["message"]})
            size += event_size
        if batch:
            self.put(target_stream, batch, size)
        if self.counts.get("events_copied", 0) > copied_before:
            self.add("streams_copied")
        elif resume is not None:
            self.note("already_copied", source_stream)
        else:
            self.add("streams_nothing_to_copy")


def _logs_select(
    task_instances: Iterable[dict[str, Any]],
    *,
    days: int | None,
    states: Collection[str] | None,
    now: datetime.datetime,
) -> tuple[set[tuple[str, str, str, int]], dict[tuple[str, str], str | None]]:
    """The selected task instances as (dag, sanitised run, task, map index), and every run of the archive by
    (dag, sanitised run) -> old run id (None when two run ids sanitise alike). Memory grows with the selection and
    the number of runs, not with the whole task_instance history."""
    since = None if days is None else _logs_aware(now) - datetime.timedelta(days=days)
    selected: set[tuple[str, str, str, int]] = set()
    runs: dict[tuple[str, str], str | None] = {}
    for row in task_instances:
        dag_id, run_id = str(row["dag_id"]), str(row["run_id"])
        run_key = (dag_id, _logs_sanitise(run_id))
        known = runs.get(run_key, run_id)
        runs[run_key] = run_id if known == run_id else None
        if states is not None and row.get("state") not in states:
            continue
        if since is not None:
            started = _logs_parse_time(row.get("start_date"))
            if started is None or started < since:
                continue
        map_index = row.get("map_index")
        selected.add((dag_id, run_key[1], str(row["task_id"]), -1 if map_index is None else int(map_index)))
    return selected, runs


def copy_task_logs(
    *,
    source_client: Any,
    target_client: Any,
    source_group: str,
    target_group: str,
    task_instances: Iterable[dict[str, Any]],
    run_ids: dict[str, dict[str, str]],
    target_template: str,
    days: int | None,
    states: Collection[str] | None,
    now: datetime.datetime,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 8,
) -> dict[str, Any]:
    """Copy the selected task instances' log streams (every attempt) from `source_group` to `target_group`.

    `task_instances`: the archive's task_instance rows; a stream is copied when its task instance started within
    `days` before `now` (None: any time) and its state is in `states` (None: any state). Returns a summary of
    counts and stream names (never log content); per-stream failures are listed in `failed` and the copy goes on,
    so the caller should fail the task when `streams_failed` is not zero. Raises LogCopyError for an unsupported
    template, a missing source or target group, and access errors."""
    parts = _logs_compile_template(target_template)
    copier = _LogsCopier(
        source=source_client,
        target=target_client,
        source_group=source_group,
        target_group=target_group,
        sleep=sleep,
        max_attempts=max_attempts,
    )
    retention = copier.retention_days()
    max_age = LOG_COPY_MAX_AGE_DAYS if retention is None else min(LOG_COPY_MAX_AGE_DAYS, retention)
    copier.cutoff_ms = _logs_millis(now) - max_age * 24 * 3600 * 1000
    selected, runs = _logs_select(task_instances, days=days, states=states, now=now)
    jobs: list[tuple[str, str]] = []
    for stream in copier.source_streams():
        name = str(stream["logStreamName"])
        copier.add("streams_found")
        match = _LOGS_SOURCE_NAME.fullmatch(name)
        if match is None:
            copier.note("legacy_template" if _LOGS_LEGACY_NAME.fullmatch(name) else "unrecognised_name", name)
            continue
        dag_id, run_key = match.group("dag_id"), match.group("run_id")
        if (dag_id, run_key) not in runs:
            copier.note("run_not_in_archive", name)
            continue
        old_run_id = runs[(dag_id, run_key)]
        if old_run_id is None:
            copier.note("ambiguous_run_id", name)
            continue
        map_index = int(match.group("map_index") or -1)
        if (dag_id, run_key, match.group("task_id"), map_index) not in selected:
            copier.add("streams_not_selected")
            continue
        new_run_id = run_ids.get(dag_id, {}).get(old_run_id)
        if new_run_id is None:
            copier.note("run_not_imported", name)
            continue
        last_event = stream.get("lastEventTimestamp")
        if last_event is not None and int(last_event) < copier.cutoff_ms:
            copier.note("too_old", name)
            continue
        fields = {
            "dag_id": dag_id,
            "task_id": match.group("task_id"),
            "run_id": new_run_id,
            "map_index": map_index,
            "try_number": int(match.group("attempt")),
        }
        target_name = _logs_sanitise(_logs_render(parts, fields))
        if not target_name or "*" in target_name or len(target_name) > LOG_COPY_MAX_STREAM_NAME:
            copier.note("invalid_target_name", name)
            continue
        jobs.append((name, target_name))
    if progress is not None:
        progress("{} of {} streams selected for copying".format(len(jobs), copier.counts.get("streams_found", 0)))
    failed: list[dict[str, str]] = []
    for number, (source_name, target_name) in enumerate(jobs, 1):
        try:
            copier.copy_stream(source_name, target_name)
        except LogCopyError as error:
            if error.code in LOG_COPY_FATAL_CODES:
                raise
            copier.add("streams_failed")
            if len(failed) < LOG_COPY_EXAMPLES:
                failed.append({"stream": source_name, "target_stream": target_name, "error": str(error)})
        if progress is not None and (number % 50 == 0 or number == len(jobs)):
            progress("{}/{} streams, {} events copied".format(number, len(jobs), copier.counts.get("events_copied", 0)))
    summary: dict[str, Any] = {
        "source_group": source_group,
        "target_group": target_group,
        "cutoff": datetime.datetime.fromtimestamp(copier.cutoff_ms / 1000.0, datetime.timezone.utc).isoformat(),
        "target_retention_days": retention,
        "task_instances_selected": len(selected),
        "streams_selected": len(jobs),
    }
    # Every counter, zero included, so a summary always has the same keys.
    for key in _LOGS_SUMMARY_COUNTS.split():
        summary[key] = copier.counts.get(key, 0)
    unmatched_reasons = ("unrecognised_name", "legacy_template", "run_not_in_archive", "ambiguous_run_id")
    summary["unmatched"] = {
        reason: copier.counts["streams_" + reason]
        for reason in (*unmatched_reasons, "invalid_target_name")
        if copier.counts.get("streams_" + reason)
    }
    summary["examples"] = copier.examples
    summary["failed"] = failed
    return summary


def run_log_copy(conf: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """The `copy_task_logs` work: the old environment's task log streams into this one's group."""
    settings = settings if settings is not None else load_settings()
    if not settings.source_task_log_group:
        log.info("log copy not configured: the source is self-managed (no CloudWatch task log group)")
        return {}
    if conf.get("copy_logs") is False:
        log.info("log copy not asked for (conf copy_logs: false)")
        return {}
    import boto3  # type: ignore[import-not-found, unused-ignore]
    from airflow.configuration import conf as airflow_conf  # type: ignore[import-not-found, unused-ignore]

    days = int(conf.get("log_days") or DEFAULT_LOG_DAYS)
    states = list(conf.get("log_states") or FINAL_STATES)
    now = datetime.datetime.now(UTC)
    reader = open_export(conf, settings)
    manifest = archive.read_manifest(reader)
    # logging.log_filename_template since 2.0; Airflow 3 reads the same option.
    template = airflow_conf.get("logging", "log_filename_template")
    result: dict[str, Any] = copy_task_logs(
        source_client=boto3.client("logs", region_name=settings.source_region or None),
        target_client=boto3.client("logs"),
        source_group=settings.source_task_log_group,
        target_group=settings.target_task_log_group,
        # Every task instance of the archive, streamed: the copy selects by days and states, and maps all runs.
        task_instances=archive.iter_rows(reader, manifest, "task_instance"),
        run_ids=archive.read_run_ids(reader),
        target_template=template,
        days=days,
        states=states,
        now=now,
        progress=lambda message: log.info("%s", message),
    )
    if result.get("streams_failed"):
        raise LogCopyError(f"task log copy: {result['streams_failed']} streams failed: {result.get('failed')}")
    return result


def log_copy_task(dag_run: Any = None, **_: Any) -> dict[str, Any]:
    """The `copy_task_logs` task."""
    return run_log_copy(run_conf(dag_run))
