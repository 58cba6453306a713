"""Lambda entry points of the cut-over state machine: one per function (`cutover_handler.<step>`), each building
the clients its step needs from the function's environment and running cutover_steps.<step>.

Each function has its own role, so a step can only call what that role allows, whatever event it is given.
The handler logs the step's name and its result's keys, never the result (the execution history has it).
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config

from mwaa_cutover.airflow_api import MwaaTransport, Transport
from mwaa_cutover.cutover_steps import STEPS
from mwaa_cutover.polling import SLICE_MARGIN_SECONDS, SLICE_SECONDS

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)


class EnvironmentRuntime:
    """The Runtime of cutover_steps, from the function's environment variables (set by the cut-over stack)."""

    def __init__(self, environ: Mapping[str, str], *, remaining_ms: Callable[[], int]) -> None:
        self.migration = environ["MIGRATION"]
        self.bucket = environ["MIGRATION_BUCKET"]
        self.operator_export = environ["OPERATOR_EXPORT"] == "true"
        self.old_environment = environ.get("OLD_ENVIRONMENT", "")
        self.old_region = environ.get("OLD_REGION", "")
        self.new_environment = environ["NEW_ENVIRONMENT"]
        self.new_api_version = environ["NEW_API_VERSION"]
        self.state_machine_arn = environ["STATE_MACHINE_ARN"]
        self._remaining_ms = remaining_ms
        self._started = time.monotonic()

    def _mwaa(self, region: str | None) -> Any:
        # MwaaTransport retries itself, with backoff that knows Airflow's answers: botocore's own retries off. Its
        # `max_attempts` counts retries after the first call; `total_max_attempts` counts calls: one, no retry.
        return boto3.client("mwaa", region_name=region or None, config=Config(retries={"total_max_attempts": 1}))

    def old(self) -> Transport:
        return MwaaTransport(
            client=self._mwaa(self.old_region), environment_name=self.old_environment, api_version="v1"
        )

    def new(self) -> Transport:
        return MwaaTransport(
            client=self._mwaa(None), environment_name=self.new_environment, api_version=self.new_api_version
        )

    def s3(self) -> Any:
        return boto3.client("s3")

    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def mwaa(self) -> Any:
        return boto3.client("mwaa")

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def deadline(self) -> float:
        budget = min(SLICE_SECONDS, self._remaining_ms() / 1000 - SLICE_MARGIN_SECONDS)
        return time.monotonic() + max(budget, 30.0)


def _entry(step: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    run = STEPS[step]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runtime = EnvironmentRuntime(os.environ, remaining_ms=context.get_remaining_time_in_millis)
        result = run(event, runtime)
        LOG.info("cut-over step %s done: %s", step, ", ".join(sorted(result)))
        return result

    handler.__name__ = step
    return handler


guard = _entry("guard")
record = _entry("record")
freeze = _entry("freeze")
drain = _entry("drain")
export_dag = _entry("export_dag")
manifest_wait = _entry("manifest_wait")
import_slice = _entry("import_slice")
import_dag = _entry("import_dag")
verify = _entry("verify")
delete_secrets = _entry("delete_secrets")
unpause = _entry("unpause")
rollback = _entry("rollback")
