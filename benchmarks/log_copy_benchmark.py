"""Task-log copy benchmark (a script, not a test): the copy in the migration DAGs' zip
(mwaa_migration_support/task_logs.py) against moto.

Run from the repository root with `.venv/bin/python -m benchmarks.log_copy_benchmark [--streams 200] [--events
200000]`.

The source group gets N streams and M events of realistic sizes (seeded, so every run is the same): stream lengths
skewed like real task logs (most short, a few long), lines of 60 to 300 bytes, 1 % tracebacks of 2 to 8 kB and a
few 100 kB dumps, all within the last two days. Two copies are measured, each into its own target group:
  copy   copy_task_logs (every page read, batches up to the limits, names in the target's template)
  guide  the AWS guide's import DAG (import_data.py): per stream one GetLogEvents (startFromHead, no token: the
         first page only, which CloudWatch caps at 1 MB / 10,000 events; moto has no byte cap, so the page is cut
         here at 1,048,576 bytes counted as PutLogEvents counts them, the guide's most favourable reading), one
         CreateLogStream and one PutLogEvents with that page. Its sleep(2) per task instance is left out of the time.
Reported: events and MiB copied, events lost, events/s (wall clock, moto in process: it measures the copy's own
overhead and call count, not AWS latency), PutLogEvents calls per MiB copied (goal <= 1.1) and the floor a copy
can reach (a batch can't hold two streams: per stream, the most of bytes/1 MiB and events/10,000, rounded up).
"""

from __future__ import annotations

import argparse
import datetime
import math
import random
import sys
import time
from typing import Any

import boto3
from moto import mock_aws
from moto.logs.models import logs_backends

from tests.migration_dags_unit import UNIT_ZIP

assert str(UNIT_ZIP) in sys.path  # the migration DAGs' zip, built for this run: the copy is imported from it
from mwaa_migration_support.task_logs import copy_task_logs  # noqa: E402

OLD, NEW, GUIDE = "airflow-old-Task", "airflow-new-Task", "airflow-guide-Task"
ACCOUNT_ID, REGION = "123456789012", "us-east-1"
MIB = 1_048_576
TEMPLATE = (
    "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}/task_id={{ ti.task_id }}/"
    "{% if ti.map_index >= 0 %}map_index={{ ti.map_index }}/{% endif %}attempt={{ try_number }}.log"
)


class Counting:
    """A client that counts PutLogEvents calls and the bytes they carry (message UTF-8 + 26 an event)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.puts = 0
        self.bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_log_events(self, **kwargs: Any) -> Any:
        self.puts += 1
        self.bytes += sum(len(e["message"].encode("utf-8")) + 26 for e in kwargs["logEvents"])
        return self.client.put_log_events(**kwargs)


def message(rng: random.Random, index: int) -> str:
    roll = rng.random()
    if roll < 0.0005:
        size = 100_000
    elif roll < 0.01:
        size = rng.randint(2_000, 8_000)
    else:
        size = rng.randint(60, 300)
    head = f"[2026-11-28, 13:45:00 UTC] {{taskinstance.py:{index % 3000}}} INFO - "
    return (head + "x" * size)[:size]


def seed(client: Any, *, streams: int, events: int, now: datetime.datetime) -> tuple[list[dict[str, Any]], int]:
    """Source streams written below moto's API (fast, and exactly the given events); returns task_instance rows."""
    rng = random.Random(20261128)  # noqa: S311  (sizes for a benchmark, not secrets)
    weights = [1 / (i + 1) ** 0.9 for i in range(streams)]
    counts = [max(1, int(events * w / sum(weights))) for w in weights]
    counts[0] += events - sum(counts)
    group = logs_backends[ACCOUNT_ID][REGION].groups[OLD]
    start = int((now - datetime.timedelta(days=2)).timestamp() * 1000)
    rows, total_bytes = [], 0
    for number, count in enumerate(counts):
        run_id = f"scheduled__2026-11-{1 + number % 28:02d}T00:00:00+00:00"
        task_id = f"task_{number:03d}"
        name = f"dag_id=bench/run_id={run_id}/task_id={task_id}/attempt=1.log".replace(":", "_")
        client.create_log_stream(logGroupName=OLD, logStreamName=name)
        step = max(1, (36 * 3600 * 1000) // count // 4)
        batch: list[Any] = [{"timestamp": start + n * step, "message": message(rng, n)} for n in range(count)]
        total_bytes += sum(len(e["message"]) + 26 for e in batch)
        group.streams[name].put_log_events(batch)
        rows.append({"dag_id": "bench", "task_id": task_id, "run_id": run_id, "map_index": -1, "state": "success",
                     "start_date": now.isoformat(), "end_date": now.isoformat(), "try_number": 1})  # fmt: skip
    return rows, total_bytes


def floor_calls(client: Any) -> int:
    calls = 0
    streams: dict[str, Any] = logs_backends[ACCOUNT_ID][REGION].groups[OLD].streams
    for stream in streams.values():
        size = sum(len(str(e.message).encode("utf-8")) + 26 for e in stream.events)
        calls += max(math.ceil(size / MIB), math.ceil(len(stream.events) / 10_000))
    return calls


def guide_copy(client: Counting) -> tuple[int, int]:
    """The guide's loop, one stream at a time; returns (events read, events accepted)."""
    read = accepted = 0
    for page in client.get_paginator("describe_log_streams").paginate(logGroupName=OLD):
        for stream in page["logStreams"]:
            name = stream["logStreamName"]
            events = client.get_log_events(logGroupName=OLD, logStreamName=name, startFromHead=True)["events"]
            first, size = [], 0
            for event in events:  # CloudWatch's 1 MB response cap, which moto doesn't apply
                size += len(event["message"].encode("utf-8")) + 26
                if size > MIB:
                    break
                first.append({"timestamp": event["timestamp"], "message": event["message"]})
            read += len(first)
            client.create_log_stream(logGroupName=GUIDE, logStreamName=name)
            client.put_log_events(logGroupName=GUIDE, logStreamName=name, logEvents=first)
            if first[-1]["timestamp"] - first[0]["timestamp"] < 24 * 3600 * 1000:
                accepted += len(first)  # a longer span fails the whole call on AWS
    return read, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[200, 20], help="one case per number")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    for streams in args.streams:
        case(streams=streams, events=args.events)


def case(*, streams: int, events: int) -> None:
    now = datetime.datetime.now(datetime.UTC)
    with mock_aws():
        logs = boto3.client("logs", region_name=REGION)
        for group in (OLD, NEW, GUIDE):
            logs.create_log_group(logGroupName=group)
        rows, total_bytes = seed(logs, streams=streams, events=events, now=now)
        floor = floor_calls(logs)

        ours = Counting(logs)
        began = time.perf_counter()
        summary = copy_task_logs(
            source_client=logs, target_client=ours, source_group=OLD, target_group=NEW, task_instances=rows,
            run_ids={"bench": {r["run_id"]: r["run_id"] for r in rows}}, target_template=TEMPLATE, days=None,
            states=None, now=now,
        )  # fmt: skip
        ours_seconds = time.perf_counter() - began

        guide = Counting(logs)
        began = time.perf_counter()
        _, guide_events = guide_copy(guide)
        guide_seconds = time.perf_counter() - began

    def row(name: str, copied: int, client: Counting, seconds: float) -> str:
        mib = client.bytes / MIB
        lost = events - copied
        return (
            f"| {name} | {copied:,} | {mib:.1f} | {lost:,} ({lost / events:.0%}) | {copied / seconds:,.0f} "
            f"| {client.puts:,} | {client.puts / mib:.2f} | {client.puts / floor:.2f} |"
        )

    print(f"\n### {streams} streams, {events:,} events, {total_bytes / MIB:.1f} MiB (message bytes + 26 each); "
          f"floor: {floor} PutLogEvents calls ({floor / (total_bytes / MIB):.2f} per MiB)\n")  # fmt: skip
    print("| copy | events copied | MiB copied | events lost | events/s | PutLogEvents | calls/MiB | calls/floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(row("copy_task_logs", summary["events_copied"], ours, ours_seconds))
    print(row("guide (1 page per stream)", guide_events, guide, guide_seconds))
    print(f"\ncopy_task_logs: {summary['get_log_events_pages']} GetLogEvents pages, "
          f"{summary['describe_log_streams_pages']} DescribeLogStreams pages; the guide also sleeps 2 s per task "
          f"instance ({2 * len(rows)} s here, not timed).")  # fmt: skip


if __name__ == "__main__":
    main()
