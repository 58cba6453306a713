"""What every cut-over step is given: the Runtime (clients, names, clock) the Lambda builds from its environment
(cutover_handler.EnvironmentRuntime) and the tests build on their simulator (tests/cutover_world.py)."""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.cutover_input import parse_time


class Runtime(Protocol):
    migration: str
    bucket: str
    operator_export: bool  # the source's freeze and export are the operator's
    old_environment: str
    new_environment: str
    new_api_version: str
    state_machine_arn: str

    def old(self) -> Transport: ...
    def new(self) -> Transport: ...
    def s3(self) -> Any: ...
    def sfn(self) -> Any: ...
    def mwaa(self) -> Any: ...
    def now(self) -> datetime.datetime: ...
    def deadline(self) -> float: ...
    def monotonic(self) -> float: ...


def elapsed(runtime: Runtime, since: str) -> float:
    return (runtime.now() - parse_time(since)).total_seconds()
