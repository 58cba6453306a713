"""An in-memory Airflow REST API (the routes the cut-over uses) for one or two environments, and an invariant check.

`FakeAirflow` answers like Airflow's own handlers do, read from their source (2.4.3/2.11.2 `api_connexion`, 3.0.6
`api_fastapi`): `dag_id_pattern` is `ILIKE '%<pattern>%'` (`_` matches any character, `~` everything), list and
bulk PATCH see active DAGs only unless `only_active=false` (v1) / `exclude_stale=false` (v2), v1 caps `limit` at 100
and orders by dag_id, v2's bulk PATCH doesn't order its page (here: reverse order, so relying on offsets shows),
v1 bulk PATCH requires the pattern, v2 without one searches for "None", 2.4.3's task-instance batch list ignores
paging. It is a test double for the cut-over's own logic; the REST importer is tested against real Airflow.

`mwaa_transport()` puts a real boto3 `mwaa` client (botocore validates every request against the service model)
and helper A's `MwaaTransport` in front of it, answering through botocore's `before-send` event.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from mwaa_cutover.airflow_api import MWAA_PATH_LIMIT, ApiError, MwaaTransport, PathTooLong


@dataclasses.dataclass
class FakeDag:
    paused: bool = True
    active: bool = True


@dataclasses.dataclass
class FakeRun:
    dag_id: str
    run_id: str
    state: str
    start_date: str | None = None


@dataclasses.dataclass
class FakeTask:
    dag_id: str
    run_id: str
    task_id: str
    state: str
    map_index: int = -1


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def ilike(pattern: str, dag_id: str) -> bool:
    """SQL `dag_id ILIKE '%<pattern>%'`, with Airflow's `~` alias for `%`."""
    pattern = "%" if pattern == "~" else pattern
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in f"%{pattern}%")
    return re.fullmatch(regex, dag_id, flags=re.IGNORECASE | re.DOTALL) is not None


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeAirflow:
    """One environment: DAGs with pause states, runs and task instances, behind the REST routes the cut-over uses."""

    def __init__(self, *, name: str, api_version: str, max_page: int | None = None, old_ti_list: bool = False):
        self.name = name
        self.api_version = api_version
        self.max_page = max_page if max_page is not None else (100 if api_version == "v1" else None)
        self.old_ti_list = old_ti_list  # Airflow 2.4.3: the task-instance batch list answers everything at once
        self.dags: dict[str, FakeDag] = {}
        self.runs: list[FakeRun] = []
        self.tasks: list[FakeTask] = []
        self.requests: list[tuple[str, str]] = []

    # --- test set-up and assertions ---------------------------------------------------------------------------

    def add(self, dag_id: str, *, paused: bool = True, active: bool = True) -> None:
        self.dags[dag_id] = FakeDag(paused=paused, active=active)

    def states(self) -> dict[str, bool]:
        return {dag_id: dag.paused for dag_id, dag in self.dags.items()}

    def run(self, dag_id: str, run_id: str, *, state: str, start_date: str | None = None) -> None:
        """A run the scheduler made: only an unpaused DAG gets one (that is what pausing is for)."""
        assert not self.dags[dag_id].paused, f"{self.name}: {dag_id} is paused, its scheduler makes no run"
        self.runs.append(FakeRun(dag_id, run_id, state, start_date))

    # --- the API ----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Mapping[str, Any], body: Any) -> Any:
        self.requests.append((method, path))
        parts = path.strip("/").split("/")
        if parts == ["dags"] and method == "GET":
            return self._list(query)
        if parts == ["dags"] and method == "PATCH":
            return self._patch_many(query, body)
        if len(parts) == 2 and parts[0] == "dags" and method in ("PATCH", "GET"):
            return self._one(method, parts[1], query, body)
        if parts == ["dags", "~", "dagRuns", "list"] and method == "POST":
            return self._run_list(body)
        if parts == ["dags", "~", "dagRuns", "~", "taskInstances", "list"] and method == "POST":
            return self._task_list(body)
        if len(parts) == 3 and parts[2] == "dagRuns" and method == "POST":
            return self._trigger(parts[1], body)
        if len(parts) == 4 and parts[2] == "dagRuns" and method == "GET":
            return self._run(parts[1], parts[3])
        raise HttpError(404, f"no route {method} {path}")

    def _item(self, dag_id: str) -> dict[str, Any]:
        dag = self.dags[dag_id]
        item: dict[str, Any] = {"dag_id": dag_id, "is_paused": dag.paused}
        if self.api_version == "v1":
            item["is_active"] = dag.active
        else:
            item["is_stale"] = not dag.active
        return item

    def _limit(self, query: Mapping[str, Any]) -> int:
        default = 100 if self.api_version == "v1" else 50
        limit = int(query.get("limit", default))
        return min(limit, self.max_page) if self.max_page else limit

    def _matching(self, query: Mapping[str, Any], pattern: str | None) -> list[str]:
        if self.api_version == "v1":
            every = not _truthy(query.get("only_active"), True)
        else:
            every = not _truthy(query.get("exclude_stale"), True)
        ids = sorted(d for d, dag in self.dags.items() if every or dag.active)
        if pattern is not None:
            ids = [d for d in ids if ilike(pattern, d)]
        if self.api_version == "v2" and query.get("paused") is not None:  # 2.4.3 has no `paused`: ignored on v1
            wanted = _truthy(query["paused"], False)
            ids = [d for d in ids if self.dags[d].paused == wanted]
        return ids

    def _list(self, query: Mapping[str, Any]) -> Any:
        ids = self._matching(query, query.get("dag_id_pattern"))
        offset = int(query.get("offset", 0))
        page = ids[offset : offset + self._limit(query)]
        return {"dags": [self._item(d) for d in page], "total_entries": len(ids)}

    def _patch_many(self, query: Mapping[str, Any], body: Any) -> Any:
        pattern = query.get("dag_id_pattern")
        if pattern is None:
            if self.api_version == "v1":
                raise HttpError(400, "Missing query parameter 'dag_id_pattern'")
            pattern = "None"  # v2's QueryDagIdPatternSearchWithNone: ILIKE '%None%'
        if query.get("update_mask") not in (None, "is_paused", ["is_paused"]):
            raise HttpError(400, "Only `is_paused` field can be updated through the REST API")
        ids = self._matching(query, pattern)
        total = len(ids)
        if self.api_version == "v2":
            ids = list(reversed(ids))  # no ORDER BY on the server: any order may come back
        offset = int(query.get("offset", 0))
        page = ids[offset : offset + self._limit(query)]
        answer = {"dags": [self._item(d) for d in page], "total_entries": total}
        for dag_id in page:
            self.dags[dag_id].paused = bool(body["is_paused"])
        return answer

    def _one(self, method: str, dag_id: str, query: Mapping[str, Any], body: Any) -> Any:
        if dag_id not in self.dags:
            raise HttpError(404, f"Dag with id: '{dag_id}' not found")
        if method == "PATCH":
            if self.api_version == "v1" and query.get("update_mask") not in ("is_paused", ["is_paused"]):
                raise HttpError(400, "this fake expects update_mask=is_paused, as the cut-over sends")
            self.dags[dag_id].paused = bool(body["is_paused"])
        return self._item(dag_id)

    def _page(self, items: list[dict[str, Any]], body: Mapping[str, Any], field: str, paging: bool) -> Any:
        offset, limit = int(body.get("page_offset", 0)), int(body.get("page_limit", 100))
        page = items[offset : offset + limit] if paging else items
        return {field: page, "total_entries": len(items)}

    def _run_list(self, body: Mapping[str, Any]) -> Any:
        allowed = {"states", "start_date_gte", "dag_ids", "page_offset", "page_limit", "order_by"}
        if self.api_version == "v2" and set(body) - allowed:
            raise HttpError(422, f"extra fields: {sorted(set(body) - allowed)}")
        runs = [r for r in self.runs if not body.get("states") or r.state in body["states"]]
        if body.get("dag_ids"):
            runs = [r for r in runs if r.dag_id in body["dag_ids"]]
        if body.get("start_date_gte"):
            since = _time(body["start_date_gte"])
            runs = [r for r in runs if r.start_date and _time(r.start_date) >= since]
        items = [{"dag_id": r.dag_id, "dag_run_id": r.run_id, "state": r.state} for r in runs]
        return self._page(items, body, "dag_runs", True)

    def _task_list(self, body: Mapping[str, Any]) -> Any:
        tasks = [t for t in self.tasks if not body.get("state") or t.state in body["state"]]
        items = [{"dag_id": t.dag_id, "dag_run_id": t.run_id, "task_id": t.task_id, "map_index": t.map_index,
                  "state": t.state} for t in tasks]  # fmt: skip
        return self._page(items, body, "task_instances", not self.old_ti_list)

    def _trigger(self, dag_id: str, body: Any) -> Any:
        if dag_id not in self.dags:
            raise HttpError(404, f"DAG with dag_id: '{dag_id}' not found")
        if any(r.dag_id == dag_id and r.run_id == body["dag_run_id"] for r in self.runs):
            raise HttpError(409, "DAGRun already exists")
        self.runs.append(FakeRun(dag_id, body["dag_run_id"], "queued"))
        return {"dag_id": dag_id, "dag_run_id": body["dag_run_id"], "state": "queued"}

    def _run(self, dag_id: str, run_id: str) -> Any:
        for r in self.runs:
            if r.dag_id == dag_id and r.run_id == run_id:
                return {"dag_id": dag_id, "dag_run_id": run_id, "state": r.state}
        raise HttpError(404, "DAGRun not found")


class FakeTransport:
    """The Transport protocol straight onto a FakeAirflow, with MWAA's 64-character path limit (or none)."""

    def __init__(self, env: FakeAirflow, *, path_limit: int | None = MWAA_PATH_LIMIT,
                 after: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.env = env
        self.api_version = env.api_version
        self.description = f"fake {env.name}"
        self.calls = 0
        self.path_limit = path_limit
        self.after = after

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        if self.path_limit is not None and len(path) > self.path_limit:
            raise PathTooLong(status=0, method=method, path=path, detail="path too long")
        self.calls += 1
        try:
            return self.env.handle(method, path, dict(query or {}), json.loads(json.dumps(body)))
        except HttpError as error:
            raise ApiError(status=error.status, method=method, path=path, detail=error.detail) from None
        finally:
            if self.after is not None:
                self.after()


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs: Any) -> Any:
        yield self.data


def mwaa_transport(env: FakeAirflow, *, after: Callable[[], None] | None = None) -> MwaaTransport:
    """helper A's MwaaTransport on a real boto3 `mwaa` client, whose HTTP exchange this answers from `env`."""
    client = boto3.client("mwaa", region_name="us-east-1")

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        sent = json.loads(request.body)
        try:
            payload = env.handle(sent["Method"], sent["Path"], sent.get("QueryParameters") or {}, sent.get("Body"))
            status, headers = 200, HTTPHeaders()
            document: dict[str, Any] = {"RestApiStatusCode": 200, "RestApiResponse": payload}
        except HttpError as error:
            kind = "RestApiServerException" if error.status >= 500 else "RestApiClientException"
            status, headers = 400, HTTPHeaders()
            headers["x-amzn-ErrorType"] = kind
            document = {"RestApiStatusCode": error.status, "RestApiResponse": {"detail": error.detail}}
        finally:
            if after is not None:
                after()
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(document).encode()))

    client.meta.events.register("before-send.mwaa.InvokeRestApi", answer)  # type: ignore[arg-type]
    return MwaaTransport(client=client, environment_name=env.name, api_version=env.api_version, sleep=lambda _s: None)


class TwoEnvironments:
    """The old (Airflow 2, v1) and new (Airflow 3, v2) environments of a migration; every request through their
    transports is followed by assert_never_unpaused_on_both()."""

    def __init__(self, *, old_version: str = "v1", new_version: str = "v2", mwaa: bool = False) -> None:
        self.old = FakeAirflow(name="old", api_version=old_version)
        self.new = FakeAirflow(name="new", api_version=new_version)
        make = mwaa_transport if mwaa else FakeTransport
        self.old_api: Any = make(self.old, after=self.assert_never_unpaused_on_both)
        self.new_api: Any = make(self.new, after=self.assert_never_unpaused_on_both)
        self.checks = 0

    def add(self, dag_id: str, *, paused: bool, on_new: bool = True, active: bool = True) -> None:
        """A DAG of the users' on the old environment, and (deployed paused, as the new environment creates them)
        on the new one."""
        self.old.add(dag_id, paused=paused, active=active)
        if on_new:
            self.new.add(dag_id, paused=True)

    def unpaused_on_both(self) -> list[str]:
        return sorted(
            dag_id
            for dag_id, dag in self.old.dags.items()
            if not dag.paused and dag_id in self.new.dags and not self.new.dags[dag_id].paused
        )

    def assert_never_unpaused_on_both(self) -> None:
        self.checks += 1
        both = self.unpaused_on_both()
        assert not both, f"unpaused on both environments: {both}"
