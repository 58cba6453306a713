"""The REST transports: InvokeRestApi against botocore's Stubber (which checks each request against the real MWAA
model), and the URL transport against a small scripted HTTP server (auth, retries, detection, errors)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from mwaa_cutover.airflow_api import (
    ApiError,
    MwaaTransport,
    PathTooLong,
    Transport,
    UrlTransport,
    credentials_from_environment,
    encode_query,
)

ENV = "new-env"
PASSWORD = "pa55-w0rd!"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mwaa() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("mwaa", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def mwaa_transport(client: Any, sleeps: Sleeps, max_attempts: int = 6) -> MwaaTransport:
    return MwaaTransport(client=client, environment_name=ENV, api_version="v2", sleep=sleeps, max_attempts=max_attempts)


def airflow_error(stub: Stubber, code: str, status: int, payload: Any) -> None:
    stub.add_client_error(
        "invoke_rest_api",
        service_error_code=code,
        http_status_code=400,
        modeled_fields={"RestApiStatusCode": status, "RestApiResponse": payload},
    )


# --- MWAA ------------------------------------------------------------------------------------------------------


def test_mwaa_request_shapes(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    sleeps = Sleeps()
    transport: Transport = mwaa_transport(client, sleeps)
    listed = {"variables": [{"key": "a"}], "total_entries": 1}
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": listed},
        {"Name": ENV, "Path": "/variables", "Method": "GET", "QueryParameters": {"limit": 100, "offset": 0}},
    )
    body = {
        "actions": [{"action": "create", "entities": [{"key": "a", "value": "v"}], "action_on_existence": "overwrite"}]
    }
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"create": {"success": ["a"], "errors": []}}},
        {"Name": ENV, "Path": "/variables", "Method": "PATCH", "Body": body},
    )
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 204},
        {"Name": ENV, "Path": "/variables/a", "Method": "DELETE"},
    )
    assert transport.request("GET", "/variables", query={"limit": 100, "offset": 0, "unset": None}) == listed
    assert transport.request("PATCH", "/variables", body=body) == {"create": {"success": ["a"], "errors": []}}
    assert transport.request("DELETE", "/variables/a") is None
    assert transport.calls == 3
    assert transport.api_version == "v2"
    assert transport.description == f"MWAA environment {ENV}"
    assert sleeps == []


def test_mwaa_path_over_64_characters_is_refused_before_any_call(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    transport = mwaa_transport(client, Sleeps())
    longest = "/dags/" + "d" * 40 + "/dagRuns/" + "r" * 9
    assert len(longest) == 64
    stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": {"ok": True}})
    with pytest.raises(PathTooLong) as raised:
        transport.request("GET", longest + "x")
    assert raised.value.path == longest + "x"
    assert str(raised.value).endswith("the path has 65 characters; InvokeRestApi takes at most 64")
    assert transport.calls == 0
    # The queued answer is still there for the next, allowed call (64 characters: the limit itself).
    assert transport.request("GET", longest) == {"ok": True}
    assert transport.calls == 1


@pytest.mark.parametrize(
    ("status", "payload", "detail"),
    [
        (
            404,
            {"detail": "The Variable with key: `nope` was not found", "status": 404, "title": "Variable not found"},
            "Variable not found: The Variable with key: `nope` was not found",
        ),
        (
            409,
            {"detail": "Connection with connection_id: `warehouse` already exists"},
            "Connection with connection_id: `warehouse` already exists",
        ),
    ],
)
def test_mwaa_airflow_client_errors_become_api_errors(
    mwaa: tuple[Any, Stubber], status: int, payload: dict[str, Any], detail: str
) -> None:
    client, stub = mwaa
    sleeps = Sleeps()
    transport = mwaa_transport(client, sleeps)
    airflow_error(stub, "RestApiClientException", status, payload)
    with pytest.raises(ApiError) as raised:
        transport.request("GET", "/variables/nope")
    error = raised.value
    assert (error.status, error.method, error.path, error.detail) == (status, "GET", "/variables/nope", detail)
    assert str(error) == f"GET /variables/nope: HTTP {status}: {detail}"
    assert transport.calls == 1
    assert sleeps == []


def test_mwaa_throttling_is_retried_with_backoff(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    sleeps = Sleeps()
    transport = mwaa_transport(client, sleeps)
    # By its code, whatever HTTP status carries it.
    stub.add_client_error("invoke_rest_api", "ThrottlingException", "Rate exceeded", 400)
    airflow_error(stub, "RestApiClientException", 429, {"detail": "Too many requests"})
    stub.add_client_error("invoke_rest_api", "InternalServerException", "An internal error has occurred", 500)
    airflow_error(stub, "RestApiServerException", 503, {"title": "Service Unavailable"})
    stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": {"version": "3.0.6"}})
    assert transport.request("GET", "/version") == {"version": "3.0.6"}
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert transport.calls == 5


def test_mwaa_gives_up_after_max_attempts(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    sleeps = Sleeps()
    transport = mwaa_transport(client, sleeps, max_attempts=3)
    for _ in range(3):
        stub.add_client_error("invoke_rest_api", "ThrottlingException", "Rate exceeded", 429)
    with pytest.raises(ApiError) as raised:
        transport.request("PATCH", "/pools", body={"actions": []})
    assert raised.value.attempts == 3
    assert raised.value.status == 429
    assert str(raised.value) == "PATCH /pools: HTTP 429: ThrottlingException: Rate exceeded (gave up after 3 attempts)"
    assert sleeps == [1.0, 2.0]
    assert transport.calls == 3


def test_mwaa_timeout_is_named(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    transport = mwaa_transport(client, Sleeps(), max_attempts=2)
    for _ in range(2):
        airflow_error(stub, "RestApiServerException", 504, {"message": "Endpoint request timed out"})
    with pytest.raises(ApiError) as raised:
        transport.request("GET", "/dags")
    assert raised.value.status == 504
    assert raised.value.detail.startswith("timed out (InvokeRestApi ends a call after 10 s)")
    assert raised.value.attempts == 2


class TimingOutClient:
    """botocore's own read timeout, then an answer: what a slow webserver looks like from the client side."""

    def __init__(self, timeouts: int) -> None:
        self.timeouts = timeouts
        self.requests: list[dict[str, Any]] = []

    def invoke_rest_api(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        if len(self.requests) <= self.timeouts:
            raise ReadTimeoutError(endpoint_url="https://env.airflow.us-east-1.amazonaws.com/restapi/new-env")
        return {"RestApiStatusCode": 200, "RestApiResponse": {"dags": []}}


def test_mwaa_client_side_timeout_is_retried_and_named() -> None:
    sleeps = Sleeps()
    recovered = MwaaTransport(client=TimingOutClient(1), environment_name=ENV, api_version="v1", sleep=sleeps)
    assert recovered.request("GET", "/dags") == {"dags": []}
    assert (recovered.calls, sleeps) == (2, [1.0])
    stuck = MwaaTransport(
        client=TimingOutClient(9), environment_name=ENV, api_version="v1", sleep=Sleeps(), max_attempts=2
    )
    with pytest.raises(ApiError) as raised:
        stuck.request("GET", "/dags")
    assert str(raised.value) == (
        "GET /dags: no HTTP status: timed out (InvokeRestApi ends a call after 10 s): ReadTimeoutError "
        "(gave up after 2 attempts)"
    )


def test_mwaa_server_error_is_not_retried(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    sleeps = Sleeps()
    transport = mwaa_transport(client, sleeps)
    airflow_error(stub, "RestApiServerException", 500, {"detail": "Internal Server Error"})
    with pytest.raises(ApiError) as raised:
        transport.request("POST", "/dags/etl/dagRuns", body={"dag_run_id": "x"})
    assert (raised.value.status, raised.value.detail) == (500, "Internal Server Error")
    assert transport.calls == 1
    assert sleeps == []


def test_mwaa_access_denied_is_not_retried(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    transport = mwaa_transport(client, Sleeps())
    stub.add_client_error("invoke_rest_api", "AccessDeniedException", "not authorized to airflow:InvokeRestApi", 403)
    with pytest.raises(ApiError) as raised:
        transport.request("GET", "/dags")
    assert raised.value.status == 403
    assert raised.value.detail == "AccessDeniedException: not authorized to airflow:InvokeRestApi"
    assert transport.calls == 1


def test_mwaa_errors_never_carry_the_request_body(mwaa: tuple[Any, Stubber]) -> None:
    client, stub = mwaa
    transport = mwaa_transport(client, Sleeps())
    body = {"actions": [{"action": "create", "entities": [{"connection_id": "w", "password": PASSWORD}]}]}
    # FastAPI's validation errors echo the offending input.
    echoed = [
        {
            "type": "extra_forbidden",
            "loc": ["body", "actions", 0, "entities", 0, "pasword"],
            "msg": "Extra inputs are not permitted",
            "input": PASSWORD,
        }
    ]
    airflow_error(stub, "RestApiClientException", 422, {"detail": echoed})
    airflow_error(stub, "RestApiClientException", 400, {"detail": f"bad value {PASSWORD!r} for password"})
    for _ in range(2):
        with pytest.raises(ApiError) as raised:
            transport.request("PATCH", "/connections", body=body)
        assert PASSWORD not in str(raised.value)
        assert PASSWORD not in raised.value.detail
    assert raised.value.detail == "bad value '<redacted>' for password"


def test_mwaa_api_version_is_checked() -> None:
    with pytest.raises(ValueError, match="api_version must be v1"):
        MwaaTransport(client=None, environment_name=ENV, api_version="v3")


# --- URL -------------------------------------------------------------------------------------------------------


class Seen:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


Answer = tuple[int, Any, dict[str, str]]


class Airflowish:
    """A scripted HTTP server: `route(seen) -> (status, JSON body or None, headers)`; records every request."""

    def __init__(self, route: Callable[[Seen], Answer]) -> None:
        self.route = route
        self.seen: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                owner.seen.append(seen)
                status, payload, headers = owner.route(seen)
                data = (
                    payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Seen], Answer]], Airflowish]]:
    servers: list[Airflowish] = []

    def start(route: Callable[[Seen], Answer]) -> Airflowish:
        servers.append(Airflowish(route))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def airflow3(extra: Callable[[Seen], Answer | None] = lambda seen: None) -> Callable[[Seen], Answer]:
    def route(seen: Seen) -> Answer:
        if seen.path == "/api/v2/version":
            return 200, {"version": "3.0.6", "git_version": None}, {}
        answer = extra(seen)
        return answer if answer is not None else (404, {"detail": "Not Found"}, {})

    return route


def test_url_detects_airflow_3(serve: Any) -> None:
    server = serve(airflow3())
    transport = UrlTransport(base_url=server.url + "/", token="t")
    assert (transport.api_version, transport.airflow_version) == ("v2", "3.0.6")
    assert [s.path for s in server.seen] == ["/api/v2/version"]
    assert transport.calls == 1


def test_url_detects_airflow_2_and_uses_basic_auth(serve: Any) -> None:
    def route(seen: Seen) -> Answer:
        if seen.path == "/api/v1/version":
            return 200, {"version": "2.10.3", "git_version": None}, {}
        if seen.path == "/api/v1/pools?limit=100":
            return 200, {"pools": [], "total_entries": 0}, {}
        return 404, {"detail": None, "status": 404, "title": "Not Found", "type": "about:blank"}, {}

    server = serve(route)
    transport = UrlTransport(base_url=server.url, user="admin", password=PASSWORD)
    assert (transport.api_version, transport.airflow_version) == ("v1", "2.10.3")
    assert transport.request("GET", "/pools", query={"limit": 100}) == {"pools": [], "total_entries": 0}
    assert [s.path for s in server.seen] == ["/api/v2/version", "/api/v1/version", "/api/v1/pools?limit=100"]
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert server.seen[-1].headers["Authorization"] == expected
    assert "Authorization" not in server.seen[0].headers  # the version endpoints are public
    assert transport.calls == 3


def test_url_bearer_token(serve: Any) -> None:
    server = serve(airflow3(lambda seen: (200, {"dags": []}, {}) if seen.path == "/api/v2/dags" else None))
    transport: Transport = UrlTransport(base_url=server.url, api_version="v2", token="tok-123")
    assert transport.request("GET", "/dags") == {"dags": []}
    assert [(s.method, s.path, s.headers["Authorization"]) for s in server.seen] == [
        ("GET", "/api/v2/dags", "Bearer tok-123")
    ]


def test_url_fetches_a_token_on_airflow_3_and_fetches_again_on_401(serve: Any) -> None:
    issued: list[str] = []
    valid: set[str] = set()

    def extra(seen: Seen) -> Answer | None:
        if seen.method == "POST" and seen.path == "/auth/token":
            assert json.loads(seen.body) == {"username": "admin", "password": PASSWORD}
            issued.append(f"jwt-{len(issued) + 1}")
            valid.add(issued[-1])
            return 201, {"access_token": issued[-1]}, {}
        if seen.path == "/api/v2/variables":
            token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in valid:
                return 401, {"detail": "Invalid JWT token"}, {}
            valid.discard("jwt-1")  # the first token expires after one use
            return 200, {"variables": [], "total_entries": 0}, {}
        return None

    server = serve(airflow3(extra))
    transport = UrlTransport(base_url=server.url, user="admin", password=PASSWORD)
    assert transport.request("GET", "/variables") == {"variables": [], "total_entries": 0}
    assert transport.request("GET", "/variables") == {"variables": [], "total_entries": 0}
    assert issued == ["jwt-1", "jwt-2"]
    assert [(s.method, s.path, s.headers.get("Authorization")) for s in server.seen] == [
        ("GET", "/api/v2/version", None),
        ("POST", "/auth/token", None),
        ("GET", "/api/v2/variables", "Bearer jwt-1"),
        ("GET", "/api/v2/variables", "Bearer jwt-1"),
        ("POST", "/auth/token", None),
        ("GET", "/api/v2/variables", "Bearer jwt-2"),
    ]
    assert transport.calls == len(server.seen)
    assert server.seen[1].headers["Content-Type"] == "application/json"


def test_url_retries_503_and_429_honouring_retry_after(serve: Any) -> None:
    answers: list[Answer] = [
        (503, {"detail": "unavailable"}, {}),
        (429, {"detail": "slow down"}, {"Retry-After": "7"}),
        (200, {"ok": True}, {}),
    ]
    server = serve(airflow3(lambda seen: answers.pop(0) if seen.path == "/api/v2/pools" else None))
    sleeps = Sleeps()
    transport = UrlTransport(base_url=server.url, api_version="v2", token="t", sleep=sleeps)
    assert transport.request("PATCH", "/pools", body={"actions": []}) == {"ok": True}
    assert sleeps == [1.0, 7.0]
    assert transport.calls == 3
    assert [json.loads(s.body) for s in server.seen] == [{"actions": []}] * 3


def test_url_gives_up_after_max_attempts(serve: Any) -> None:
    server = serve(airflow3(lambda seen: (502, None, {})))
    sleeps = Sleeps()
    transport = UrlTransport(base_url=server.url, api_version="v2", token="t", sleep=sleeps, max_attempts=4)
    with pytest.raises(ApiError) as raised:
        transport.request("GET", "/dags")
    assert str(raised.value) == "GET /dags: HTTP 502: no detail (gave up after 4 attempts)"
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(server.seen) == 4


def test_url_query_parameters(serve: Any) -> None:
    server = serve(airflow3(lambda seen: (200, {"dag_runs": []}, {})))
    transport = UrlTransport(base_url=server.url, api_version="v2", token="t")
    query = {"state": ["failed", "success"], "limit": 100, "paused": True, "dag_id_pattern": "etl_%", "skip": None}
    transport.request("GET", "/dags/~/dagRuns", query=query)
    assert (
        server.seen[0].path
        == "/api/v2/dags/~/dagRuns?state=failed&state=success&limit=100&paused=true&dag_id_pattern=etl_%25"
    )
    assert encode_query(None) == ""


@pytest.mark.parametrize(
    ("status", "payload", "detail"),
    [
        (404, {"detail": "The Variable with key: `x` was not found"}, "The Variable with key: `x` was not found"),
        (
            404,
            {"detail": "Variable not found", "status": 404, "title": "Not Found", "type": "about:blank"},
            "Not Found: Variable not found",
        ),
        (
            409,
            {
                "detail": {
                    "reason": "Unique constraint violation",
                    "statement": "INSERT ...",
                    "orig_error": "UNIQUE constraint failed: slot_pool.pool",
                    "message": "Serious error",
                }
            },
            "Unique constraint violation: UNIQUE constraint failed: slot_pool.pool: Serious error",
        ),
        (
            422,
            {
                "detail": [
                    {
                        "type": "missing",
                        "loc": ["body", "slots"],
                        "msg": "Field required",
                        "input": {"password": PASSWORD},
                    }
                ]
            },
            "body.slots: Field required",
        ),
        (403, None, "no detail"),
    ],
)
def test_url_error_mapping(serve: Any, status: int, payload: Any, detail: str) -> None:
    server = serve(airflow3(lambda seen: (status, payload, {})))
    transport = UrlTransport(base_url=server.url, api_version="v2", token="t")
    with pytest.raises(ApiError) as raised:
        transport.request("POST", "/pools", body={"name": "p", "password": PASSWORD})
    assert (raised.value.status, raised.value.detail) == (status, detail)
    assert PASSWORD not in str(raised.value)
    assert transport.calls == 1


def test_url_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    transport = UrlTransport(
        base_url=f"http://127.0.0.1:{port}", api_version="v1", token="t", sleep=sleeps, max_attempts=2
    )
    with pytest.raises(ApiError) as raised:
        transport.request("GET", "/dags")
    assert raised.value.status == 0
    assert raised.value.detail == f"no connection to http://127.0.0.1:{port}: ConnectionRefusedError"
    assert sleeps == [1.0]


def test_url_not_json_and_empty_answers(serve: Any) -> None:
    def extra(seen: Seen) -> Answer | None:
        return {
            "/api/v2/variables/a": (204, None, {}),
            "/api/v2/string": (200, "a JSON string", {}),
            "/api/v2/html": (200, b"<html>login</html>", {}),
            "/api/v2/proxy": (400, b"<html>Bad Gateway</html>", {}),
        }.get(seen.path)

    server = serve(airflow3(extra))
    transport = UrlTransport(base_url=server.url, api_version="v2", token="t")
    assert transport.request("DELETE", "/variables/a") is None
    assert transport.request("GET", "/string") == "a JSON string"
    with pytest.raises(ApiError, match=r"^GET /html: HTTP 200: the response is not JSON$"):
        transport.request("GET", "/html")
    with pytest.raises(ApiError, match=r"^GET /proxy: HTTP 400: an answer that is not JSON$"):
        transport.request("GET", "/proxy")


def test_url_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        UrlTransport(base_url="file:///etc/passwd", api_version="v2")
    with pytest.raises(ValueError, match="user and password go together"):
        UrlTransport(base_url="http://localhost:8080", api_version="v2", user="admin")


def test_credentials_from_environment() -> None:
    assert credentials_from_environment({}) == {"token": None, "user": None, "password": None}
    assert credentials_from_environment({"AIRFLOW_API_TOKEN": "t", "AIRFLOW_API_USER": "u"}) == {
        "token": "t",
        "user": None,
        "password": None,
    }
    assert credentials_from_environment({"AIRFLOW_API_USER": "u", "AIRFLOW_API_PASSWORD": "p"}) == {
        "token": None,
        "user": "u",
        "password": "p",
    }
    with pytest.raises(ValueError, match=r"^AIRFLOW_API_PASSWORD is not set"):
        credentials_from_environment({"AIRFLOW_API_USER": "u"})
