"""A local stand-in of the AWS endpoints the operator commands call, for running them as subprocesses offline.

One threaded HTTP server on 127.0.0.1 that the commands reach through `AWS_ENDPOINT_URL_*`. It records every
request and answers MWAA `GetEnvironment` for the environments it is given and STS `GetCallerIdentity` (so a
command gets past the account lookup to its own service's call); anything else gets an AccessDenied in the
calling service's own protocol, which botocore parses into the ClientError a real account would raise. A request
without a SigV4 signature is an Airflow API call (`--airflow-url`): it gets Airflow's 403.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "111122223333"
# The service a request is for: the signing name in its SigV4 credential scope.
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
DENIED = "the local stand-in answers only GetEnvironment and GetCallerIdentity"
# The services' answers to what the stand-in doesn't serve, in each one's protocol (botocore's service models).
_XML_ERROR_QUERY = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    f"<Code>AccessDenied</Code><Message>{DENIED}</Message></Error><RequestId>standin</RequestId></ErrorResponse>"
)
_XML_ERROR_REST = f"<Error><Code>AccessDenied</Code><Message>{DENIED}</Message><RequestId>standin</RequestId></Error>"


@dataclass(frozen=True)
class Request:
    service: str  # SigV4 signing name: airflow (MWAA), s3, states (Step Functions), sts; "" when unsigned
    method: str
    path: str  # with its query string
    target: str  # X-Amz-Target (JSON protocol) or Action (query protocol); "" for a REST call


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    error_type: str = ""


def _json(value: Any) -> bytes:
    # REST-JSON and JSON send timestamps as epoch seconds.
    def encode(item: Any) -> Any:
        if isinstance(item, datetime.datetime):
            return item.timestamp()
        raise TypeError(f"not JSON: {type(item).__name__}")

    return json.dumps(value, default=encode).encode("utf-8")


class AwsStandIn:
    def __init__(self, *, environments: Mapping[str, Mapping[str, Any]]) -> None:
        """`environments`: GetEnvironment's Environment object by name, datetimes where MWAA sends timestamps."""
        self.environments = dict(environments)
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[AwsStandIn]:
        thread = threading.Thread(target=self._server.serve_forever, name="aws-standin", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()

    def take(self) -> list[Request]:
        """The requests since the last take, in arrival order."""
        with self._lock:
            taken, self._requests = self._requests, []
        return taken

    def answer(self, request: Request) -> _Answer:
        if request.service == "airflow" and request.method == "GET":
            name = urllib.parse.unquote(urllib.parse.urlsplit(request.path).path.removeprefix("/environments/"))
            if name in self.environments:
                return _Answer(200, "application/json", _json({"Environment": self.environments[name]}))
        if request.service == "sts" and request.target == "GetCallerIdentity":
            return _Answer(200, "text/xml", _caller_identity())
        return _denied(request.service)

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as botocore's connection pool expects; every answer has a Content-Length.
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scope = _SCOPE.search(self.headers.get("Authorization", ""))
                target = self.headers.get("X-Amz-Target", "")
                if not target and body.startswith(b"Action="):
                    target = urllib.parse.parse_qs(body.decode("utf-8")).get("Action", [""])[0]
                request = Request(scope.group(1) if scope else "", self.command, self.path, target)
                standin._record(request)
                answer = standin.answer(request)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("x-amzn-RequestId", "standin")
                if answer.error_type:
                    self.send_header("x-amzn-ErrorType", answer.error_type)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the recorded requests are the log

        return Handler


def _caller_identity() -> bytes:
    return (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        f"<Arn>arn:aws:iam::{ACCOUNT}:user/operator</Arn><UserId>AIDASTANDIN</UserId><Account>{ACCOUNT}</Account>"
        "</GetCallerIdentityResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()


def _denied(service: str) -> _Answer:
    if service == "sts":  # query
        return _Answer(403, "text/xml", _XML_ERROR_QUERY.encode())
    if service == "s3":  # rest-xml
        return _Answer(403, "application/xml", _XML_ERROR_REST.encode())
    if service == "states":  # json 1.0
        return _Answer(400, "application/x-amz-json-1.0", _json({"__type": "AccessDeniedException", "message": DENIED}))
    if service:  # rest-json (MWAA)
        return _Answer(403, "application/json", _json({"Message": DENIED}), "AccessDeniedException")
    return _Answer(403, "application/json", _json({"detail": "Forbidden"}))  # Airflow's API
