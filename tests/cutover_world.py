"""A world for walking the synthesized cut-over state machine: the two fake environments (the invariant checked
after every request), moto's S3 as the migration bucket, a clock that Wait states move, a scheduler that runs the
migration's own DAGs when they are unpaused, and the real step functions behind each Task's function ARN."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
from typing import Any

from mwaa_cutover import cutover_steps
from mwaa_cutover.airflow_api import Transport
from tests.asl_interpreter import Execution
from tests.fake_airflow import FakeRun, FakeTask, HttpError, TwoEnvironments

START = datetime.datetime(2026, 11, 28, 15, 0, tzinfo=datetime.UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:mwaa-migration-m-cutover:run-1"
VARIABLES: list[dict[str, Any]] = [{"key": "region", "val": "eu"}, {"key": "api_key", "val": "s3cret"}]
POOLS: list[dict[str, Any]] = [
    {"pool": "default_pool", "slots": 128, "description": "Default pool", "include_deferred": False}
]
CONNECTIONS: list[dict[str, Any]] = [
    {
        "conn_id": "warehouse",
        "conn_type": "postgres",
        "host": "db",
        "login": "etl",
        "schema": "dw",
        "port": 5432,
        "password": "pw",
        "extra": None,
    }
]
ROUTES = {
    "/variables": ("variables", "key"),
    "/pools": ("pools", "name"),
    "/connections": ("connections", "connection_id"),
}


def _part(key: str, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    data = gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    return {"key": key, "rows": len(rows), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, data


def _entry(part: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    return {"rows": part["rows"], "columns": dict.fromkeys(columns, "str"), "parts": [part]}


class FunctionTimeoutError(Exception):
    """A Lambda call that ran past its function's timeout (the world's request_limit)."""


class World:
    def __init__(
        self,
        definition: dict[str, Any],
        handlers: dict[str, str],
        *,
        migration: str,
        bucket: str,
        s3: Any,
        target_api: str,
        operator_export: bool,
    ) -> None:
        self.definition, self.handlers = definition, handlers
        self.migration, self.bucket, self.s3 = migration, bucket, s3
        self.envs = TwoEnvironments(old_version="v1", new_version=target_api)
        self.now = START
        self.ticks = 0
        self.counter = 0.0
        self.operator_export = operator_export
        self.running_elsewhere: list[str] = []
        self.new_status = "AVAILABLE"
        self.busy_until: int | None = None  # the old environment's busy runs finish at this tick (None: never)
        self.operator_exports_at: int | None = None  # tick at which the operator's export lands
        self.confs: dict[tuple[str, str], dict[str, Any]] = {}
        self.entities: dict[str, dict[str, dict[str, Any]]] = {route: {} for route in ROUTES}
        self.steps: list[str] = []
        self.dag_runs: list[dict[str, Any]] = []  # the archive's dag_run rows (none: an export with no runs)
        self.slice_budget = 3  # looks at the clock a sliced step's deadline allows (see Runtime.monotonic)
        # Requests one Lambda call gets through before its function times out (None: no limit), e.g. 300 for a
        # 5-minute function at a second a request.
        self.request_limit: int | None = None
        self.waits: list[float] = []  # each Wait state's seconds, in order
        self.requests_in_call = 0
        for transport in (self.envs.old_api, self.envs.new_api):
            transport.after = self._after_request
        self._serve_entities_and_confs()

    # --- the environments' extra routes: entities on the new one, the conf of triggered runs on both ---------
    def _serve_entities_and_confs(self) -> None:
        for env in (self.envs.old, self.envs.new):
            original = env.handle

            def handle(method: str, path: str, query: Any, body: Any, original: Any = original, env: Any = env) -> Any:
                parts = path.strip("/").split("/")
                if len(parts) == 3 and parts[2] == "dagRuns" and method == "POST":
                    self.confs.setdefault((parts[1], body["dag_run_id"]), body.get("conf") or {})
                if env is self.envs.new and path in ROUTES:
                    return self._entities(method, path, body)
                return original(method, path, query, body)

            env.handle = handle  # type: ignore[method-assign]

    def _entities(self, method: str, path: str, body: Any) -> Any:
        field, key = ROUTES[path]
        store = self.entities[path]
        if method == "GET":
            items = [{k: v for k, v in item.items() if k not in ("password", "extra")} for item in store.values()]
            if path == "/variables":
                items = [{"key": item["key"], "value": item["value"]} for item in store.values()]
            return {field: items, "total_entries": len(items)}
        if method != "PATCH" or self.envs.new.api_version != "v2":
            raise HttpError(405, "not here")
        answer: dict[str, Any] = {}
        for action in body["actions"]:
            done = []
            for entity in action["entities"]:
                exists = entity[key] in store
                if (action["action"] == "update") == exists:
                    store[entity[key]] = dict(entity)
                    done.append(entity[key])
            answer[action["action"]] = {"success": done, "errors": []}
        return answer

    # --- the archive, as the export DAG (or the operator) writes it ---------------------------------------------
    def write_export(self, export_id: str) -> None:
        prefix = f"exports/{self.migration}/{export_id}/"
        pools, variables, connections = (
            _part("tables/slot_pool/part-00000.jsonl.gz", POOLS),
            _part("secrets/variable.jsonl.gz", VARIABLES),
            _part("secrets/connection.jsonl.gz", CONNECTIONS),
        )
        tables = {"slot_pool": _entry(pools[0], ["pool", "slots", "description", "include_deferred"])}
        parts = [pools, variables, connections]
        if self.dag_runs:
            runs = _part("tables/dag_run/part-00000.jsonl.gz", self.dag_runs)
            tables["dag_run"] = _entry(runs[0], list(self.dag_runs[0]))
            parts.append(runs)
        for entry, data in parts:
            self.s3.put_object(Bucket=self.bucket, Key=prefix + entry["key"], Body=data)
        manifest = {
            "format": 1,
            "migration": self.migration,
            "export_id": export_id,
            "source": {"airflow_version": "2.10.3"},
            "started_at": self.now.isoformat(),
            "finished_at": self.now.isoformat(),
            "since": None,
            "paused": [],
            "warnings": [],
            "tables": tables,
            "secrets": {
                "variable": _entry(variables[0], ["key", "val"]),
                "connection": _entry(connections[0], list(CONNECTIONS[0])),
            },
        }
        self.s3.put_object(Bucket=self.bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())

    def orm_import(self) -> None:
        """What the import DAG does on an Airflow 2 target: the archive's entities into the database."""
        for row in VARIABLES:
            self.entities["/variables"][row["key"]] = {"key": row["key"], "value": row["val"]}
        for row in POOLS:
            self.entities["/pools"][row["pool"]] = {
                "name": row["pool"],
                "slots": row["slots"],
                "description": row["description"],
            }
        for row in CONNECTIONS:
            self.entities["/connections"][row["conn_id"]] = {
                "connection_id": row["conn_id"],
                **{k: row[k] for k in ("conn_type", "host", "login", "schema", "port")},
            }

    # --- time passing: what happens while the machine waits ----------------------------------------------------
    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += datetime.timedelta(seconds=seconds)
        self.ticks += 1
        old, new = self.envs.old, self.envs.new
        if self.busy_until is not None and self.ticks >= self.busy_until:
            items: list[FakeRun | FakeTask] = [*old.runs, *old.tasks]
            for item in items:
                if item.dag_id != "mwaa_migration_export" and item.state in ("running", "queued", "deferred"):
                    item.state = "success"
        if self.operator_exports_at is not None and self.ticks == self.operator_exports_at:
            self.write_export(self.now.strftime("%Y%m%dT%H%M%SZ"))
        own = ((old, "mwaa_migration_export"), (new, "mwaa_migration_import"), (new, "mwaa_migration_task_logs"))
        for env, dag_id in own:
            for run in env.runs:
                if run.dag_id == dag_id and run.state == "queued" and not env.dags[dag_id].paused:
                    if dag_id == "mwaa_migration_export":
                        self.write_export(self.confs[(dag_id, run.run_id)]["export_id"])
                    elif dag_id == "mwaa_migration_import" and new.api_version == "v1":
                        self.orm_import()
                    run.state = "success"

    # --- the machine --------------------------------------------------------------------------------------------
    def _after_request(self) -> None:
        self.envs.assert_never_unpaused_on_both()
        self.requests_in_call += 1
        if self.request_limit is not None and self.requests_in_call > self.request_limit:
            raise FunctionTimeoutError(f"the function timed out after {self.request_limit} requests")

    def invoke(self, resource: str, payload: Any) -> Any:
        step = self.handlers[resource].removeprefix("mwaa_cutover.cutover_handler.")
        self.steps.append(step)
        self.requests_in_call = 0
        result = cutover_steps.STEPS[step](payload, Runtime(self))
        return json.loads(json.dumps(result))  # what Lambda hands back: JSON

    def execute(self, execution_input: dict[str, Any]) -> tuple[str, Any, Execution]:
        execution = Execution(
            definition=self.definition,
            invoke=self.invoke,
            clock=lambda: self.now,
            sleep=self.sleep,
            after_state=lambda _name: self.envs.assert_never_unpaused_on_both(),
            execution_id=EXECUTION,
        )
        status, output = execution.run(execution_input)
        return status, output, execution


class _Sfn:
    def __init__(self, world: World) -> None:
        self.world = world

    def get_paginator(self, name: str) -> Any:
        assert name == "list_executions"
        world = self.world

        class Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                assert kwargs["statusFilter"] == "RUNNING"
                mine = [{"executionArn": EXECUTION, "name": "run-1"}]
                others = [{"executionArn": f"{EXECUTION}-{n}", "name": n} for n in world.running_elsewhere]
                return [{"executions": mine + others}]

        return Pages()


class _Mwaa:
    def __init__(self, world: World) -> None:
        self.world = world

    def get_environment(self, *, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        return {"Environment": {"Name": Name, "Status": self.world.new_status}}


class Runtime:
    """cutover_steps.Runtime on the world: the same attributes the Lambda's EnvironmentRuntime has."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.migration = world.migration
        self.bucket = world.bucket
        self.operator_export = world.operator_export
        self.old_environment = "old"
        self.new_environment = "new"
        self.new_api_version = world.envs.new.api_version
        self.state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:mwaa-migration-m-cutover"

    def old(self) -> Transport:
        assert not self.operator_export, "the machine called the old environment, which it can't reach"
        transport: Transport = self.world.envs.old_api
        return transport

    def new(self) -> Transport:
        transport: Transport = self.world.envs.new_api
        return transport

    def s3(self) -> Any:
        return self.world.s3

    def sfn(self) -> Any:
        return _Sfn(self.world)

    def mwaa(self) -> Any:
        return _Mwaa(self.world)

    def now(self) -> datetime.datetime:
        return self.world.now

    def monotonic(self) -> float:
        # Each look at the clock takes a second: an import slice with a 3-second budget stops after a chunk or two.
        self.world.counter += 1
        return self.world.counter

    def deadline(self) -> float:
        return self.world.counter + self.world.slice_budget


def definition_built(*, machine_exports: bool, rest_import: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The ASL build_definition makes for a kind of migration no shipped or test migration file has (a source the
    machine can't reach with an Airflow 3 target), with each step's function ARN mapped to its handler."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_stepfunctions as sfn

    from constructs.cutover_definition import build_definition

    stack = Stack(App(), "WalkDefinition")
    arns = {step: f"arn:aws:lambda:us-east-1:123456789012:function:{step}" for step in cutover_steps.STEPS}
    functions = {step: lambda_.Function.from_function_arn(stack, step, arn) for step, arn in arns.items()}
    chain = build_definition(stack, functions=functions, machine_exports=machine_exports, rest_import=rest_import)
    machine = sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(chain))
    text = stack.resolve(machine.node.default_child.definition_string)  # type: ignore[union-attr]
    definition: dict[str, Any] = json.loads(text if isinstance(text, str) else "".join(text["Fn::Join"][1]))
    return definition, {arn: f"mwaa_cutover.cutover_handler.{step}" for step, arn in arns.items()}
