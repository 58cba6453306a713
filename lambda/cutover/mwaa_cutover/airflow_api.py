"""Airflow's REST API, through MWAA's InvokeRestApi or a plain URL, with retries and a request count.

InvokeRestApi, as the botocore model (mwaa 2020-07-01) and AWS's docs give it:
- `Path` is relative to the API root (`/api/v1` on Airflow 2, `/api/v2` on 3): the model's own example is
  `/dags/123456/clearTaskInstances`, the Kotlin SDK's sample lists variables with `/variables`, and awslabs/mcp's
  MWAA server calls `/dags`. 1 to 64 characters (RestApiPath, max 64); query parameters go in `QueryParameters`
  (a JSON document), not in the path.
- Airflow's answer comes back as `RestApiStatusCode` and `RestApiResponse`; an Airflow error (4xx, 5xx) raises
  `RestApiClientException` / `RestApiServerException` with the same two fields (modeled error shapes).
- MWAA's user guide (access-mwaa-apache-airflow-rest-api): a call is ended after 10 s "and an error is raised",
  without naming it; responses are at most 6 MB. So a 504 from either exception, and botocore's read timeout,
  are reported as a timeout (and retried: callers keep their writes idempotent).
Build the boto3 client with `Config(retries={"total_max_attempts": 1})` (one call, no retry: botocore's `max_attempts`
counts retries after the first call) so the retries and `calls` here are the only ones.

Nothing here logs or raises a request body: bodies carry connection passwords and variable values.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, Protocol

MWAA_PATH_LIMIT = 64
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "InternalServerException"})
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
DETAIL_CHARS = 500
# Request fields whose values are secret: blanked out of any error text that happens to echo them.
SECRET_FIELDS = frozenset({"password", "extra", "value", "val"})
TIMEOUT_NOTE = "timed out (InvokeRestApi ends a call after 10 s)"

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An Airflow API call that failed; `detail` is Airflow's own "detail"/"title", never a request body."""

    def __init__(self, *, status: int, method: str, path: str, detail: str, attempts: int = 1) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.detail = detail
        self.attempts = attempts
        where = f"{method} {path}"
        status_text = f"HTTP {status}" if status else "no HTTP status"
        tries = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{where}: {status_text}: {detail}{tries}")


class PathTooLong(ApiError):  # noqa: N818 (the name other modules import)
    """MWAA's InvokeRestApi takes a Path of at most 64 characters; raised before any call."""


class Transport(Protocol):
    api_version: str
    description: str
    calls: int

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any: ...


class _RetryError(Exception):
    """One attempt failed in a way worth another: its status and detail (for the final error)."""

    def __init__(self, status: int, detail: str, wait: float = 0.0) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.wait = wait


def _secret_strings(body: Any, secret: bool = False) -> list[str]:
    if isinstance(body, dict):
        return [s for key, value in body.items() for s in _secret_strings(value, secret or key in SECRET_FIELDS)]
    if isinstance(body, list):
        return [s for item in body for s in _secret_strings(item, secret)]
    if secret and body is not None and not isinstance(body, bool):
        text = body if isinstance(body, str) else json.dumps(body)
        return [text] if len(text) >= 3 else []
    return []


def error_detail(payload: Any, body: Any = None) -> str:
    """Airflow's error text: v1's `title`/`detail`, v2's `detail` (a string, a validation list, or an object),
    shortened, with anything from the request's secret fields blanked (validation errors echo their input)."""
    if isinstance(payload, dict):
        detail = payload.get("detail")
        if isinstance(detail, list):
            detail = "; ".join(
                "{}: {}".format(".".join(str(p) for p in item.get("loc", [])), item.get("msg", ""))
                if isinstance(item, dict)
                else str(item)
                for item in detail
            )
        elif isinstance(detail, dict):
            detail = ": ".join(str(detail[k]) for k in ("reason", "orig_error", "message") if detail.get(k))
        title = payload.get("title")
        parts = [str(part) for part in (title, detail) if part]
        if not parts and payload.get("error"):
            parts = [str(payload["error"])]
        text = ": ".join(parts) or "no detail"
    elif isinstance(payload, str) and payload.strip():
        text = payload.strip()
    else:
        text = "no detail"
    for secret in sorted(_secret_strings(body), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


class _Retrying:
    """The retry loop both transports share: exponential back-off, at most `max_attempts` requests."""

    description = "Airflow API"

    def __init__(self, *, sleep: Callable[[float], None], max_attempts: int) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.calls = 0

    def _with_retries(self, method: str, path: str, attempt: Callable[[], Any]) -> Any:
        delay = FIRST_DELAY
        for number in range(1, self.max_attempts + 1):
            self.calls += 1
            try:
                return attempt()
            except _RetryError as retry:
                if number == self.max_attempts:
                    raise ApiError(
                        status=retry.status, method=method, path=path, detail=retry.detail, attempts=number
                    ) from None
                wait = min(max(delay, retry.wait), MAX_DELAY)
                log.warning(
                    "%s %s on %s: %s; retrying in %.1fs (attempt %d of %d)",
                    *(method, path, self.description, retry.detail, wait, number, self.max_attempts),
                )
                self.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


class MwaaTransport(_Retrying):
    def __init__(
        self,
        *,
        client: Any,
        environment_name: str,
        api_version: str,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 6,
    ) -> None:
        super().__init__(sleep=sleep, max_attempts=max_attempts)
        if api_version not in ("v1", "v2"):
            raise ValueError("api_version must be v1 (Airflow 2) or v2 (Airflow 3)")
        self.client = client
        self.environment_name = environment_name
        self.api_version = api_version
        self.description = f"MWAA environment {environment_name}"

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path}")
        if len(path) > MWAA_PATH_LIMIT:
            raise PathTooLong(
                status=0,
                method=method,
                path=path,
                detail=f"the path has {len(path)} characters; InvokeRestApi takes at most {MWAA_PATH_LIMIT}",
            )
        kwargs: dict[str, Any] = {"Name": self.environment_name, "Path": path, "Method": method}
        params = {key: value for key, value in (query or {}).items() if value is not None}
        if params:
            kwargs["QueryParameters"] = params
        if body is not None:
            kwargs["Body"] = body
        return self._with_retries(method, path, lambda: self._attempt(method, path, kwargs, body))

    def _attempt(self, method: str, path: str, kwargs: dict[str, Any], body: Any) -> Any:
        try:
            response = self.client.invoke_rest_api(**kwargs)
        except Exception as error:
            self._failed(error, method, path, body)
        status = int(response.get("RestApiStatusCode") or 200)
        if status >= 400:  # not seen in practice: errors come as exceptions; handled the same way anyway
            self._airflow_error(status, response.get("RestApiResponse"), method, path, body)
        return response.get("RestApiResponse")

    def _failed(self, error: Exception, method: str, path: str, body: Any) -> NoReturn:
        response = getattr(error, "response", None)
        if not isinstance(response, dict):
            name = type(error).__name__
            if "Timeout" in name:  # botocore's ReadTimeoutError / ConnectTimeoutError
                raise _RetryError(0, f"{TIMEOUT_NOTE}: {name}") from None
            if "Connection" in name:  # EndpointConnectionError, ConnectionClosedError
                raise _RetryError(0, f"no connection to MWAA: {name}") from None
            raise error
        code = str(response.get("Error", {}).get("Code", ""))
        http_status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in ("RestApiClientException", "RestApiServerException"):
            status = int(response.get("RestApiStatusCode") or http_status)
            self._airflow_error(status, response.get("RestApiResponse"), method, path, body)
        message = str(response.get("Error", {}).get("Message") or "")
        detail = error_detail(f"{code}: {message}" if message else code, body)
        if code in RETRY_CODES or http_status in RETRY_STATUSES:
            raise _RetryError(http_status, detail) from None
        raise ApiError(status=http_status, method=method, path=path, detail=detail) from None

    def _airflow_error(self, status: int, payload: Any, method: str, path: str, body: Any) -> NoReturn:
        detail = error_detail(payload, body)
        if status == 504:
            detail = f"{TIMEOUT_NOTE}: {detail}"
        if status in RETRY_STATUSES:
            raise _RetryError(status, detail)
        raise ApiError(status=status, method=method, path=path, detail=detail)


def encode_query(query: Mapping[str, Any] | None) -> str:
    """`a=1&state=failed&state=success`: lists as repeated keys, booleans as Airflow writes them, None left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None:
                continue
            pairs.append((key, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return urllib.parse.urlencode(pairs)


class UrlTransport(_Retrying):
    def __init__(
        self,
        *,
        base_url: str,
        api_version: str | None = None,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 6,
    ) -> None:
        super().__init__(sleep=sleep, max_attempts=max_attempts)
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("base_url must be an http:// or https:// URL")
        if api_version not in (None, "v1", "v2"):
            raise ValueError("api_version must be v1 (Airflow 2), v2 (Airflow 3) or None (detect)")
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.base_url = base_url.rstrip("/")
        self.description = self.base_url
        self.timeout = timeout
        self._token = token
        self._user = user
        self._password = password
        self._fetched_token: str | None = None
        self.airflow_version: str | None = None
        self.api_version = api_version or self._detect()

    # --- HTTP --------------------------------------------------------------------------------------------------

    def _open(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """One HTTP exchange: (status, body, Retry-After); raises _RetryError for what is worth another attempt."""
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http/https only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (checked scheme)
                return int(response.status), response.read(), ""
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), error.read(), error.headers.get("Retry-After", "") or ""
        except TimeoutError:
            raise _RetryError(0, f"timed out after {self.timeout:g} s") from None
        except (urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise _RetryError(0, f"no connection to {self.base_url}: {type(reason).__name__}") from None

    def _exchange(self, method: str, path: str, url: str, body: Any, auth: bool) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers.update(self._auth_header())
        status, raw, retry_after = self._open(method, url, data, headers)
        if status == 401 and auth and self._user is not None and self.api_version == "v2" and self._fetched_token:
            # The token expired: one new one, then the same request again (counted as a call).
            self._fetched_token = None
            headers.update(self._auth_header())
            self.calls += 1
            status, raw, retry_after = self._open(method, url, data, headers)
        payload = _parse(raw)
        if status >= 400:
            detail = "an answer that is not JSON" if payload is _NOT_JSON else error_detail(payload, body)
            if status in RETRY_STATUSES:
                wait = float(retry_after) if retry_after.isdigit() else 0.0
                raise _RetryError(status, detail, wait)
            raise ApiError(status=status, method=method, path=path, detail=detail)
        if payload is _NOT_JSON:
            raise ApiError(status=status, method=method, path=path, detail="the response is not JSON")
        return payload

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path}")
        url = f"{self.base_url}/api/{self.api_version}{path}"
        encoded = encode_query(query)
        if encoded:
            url += "?" + encoded
        return self._with_retries(method, path, lambda: self._exchange(method, path, url, body, True))

    # --- Authentication ----------------------------------------------------------------------------------------

    def _auth_header(self) -> dict[str, str]:
        if self._token is not None:
            return {"Authorization": f"Bearer {self._token}"}
        if self._user is None or self._password is None:
            return {}
        if self.api_version == "v1":
            pair = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
            return {"Authorization": f"Basic {pair}"}
        if self._fetched_token is None:
            self._fetched_token = self._fetch_token()
        return {"Authorization": f"Bearer {self._fetched_token}"}

    def _fetch_token(self) -> str:
        """Airflow 3's simple auth manager: POST /auth/token {"username", "password"} -> 201 {"access_token"}
        (airflow/api_fastapi/auth/managers/simple/routes/login.py, mounted under /auth in api_fastapi/app.py)."""
        url = f"{self.base_url}/auth/token"
        body = {"username": self._user, "password": self._password}
        answer = self._with_retries(
            "POST", "/auth/token", lambda: self._exchange("POST", "/auth/token", url, body, False)
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError(status=0, method="POST", path="/auth/token", detail="no access_token in the answer")
        return token

    def _detect(self) -> str:
        """v2 when /api/v2/version answers (Airflow 3), else v1; both are public in Airflow's own API."""
        for version in ("v2", "v1"):
            path = f"/api/{version}/version"
            try:
                answer = self._public_get(path)
            except ApiError as error:
                if error.status == 404:
                    continue
                raise
            if isinstance(answer, dict) and isinstance(answer.get("version"), str):
                self.airflow_version = answer["version"]
            return version
        raise ApiError(status=404, method="GET", path="/api/v1/version", detail=f"no Airflow API at {self.base_url}")

    def _public_get(self, path: str) -> Any:
        url = self.base_url + path
        return self._with_retries("GET", path, lambda: self._exchange("GET", path, url, None, False))


_NOT_JSON = object()


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON


def credentials_from_environment(environ: Mapping[str, str]) -> dict[str, str | None]:
    """`token`, `user` and `password` for UrlTransport: AIRFLOW_API_TOKEN, or AIRFLOW_API_USER with
    AIRFLOW_API_PASSWORD (never a command-line flag, which other users of the machine could read)."""
    token = environ.get("AIRFLOW_API_TOKEN") or None
    if token is not None:
        return {"token": token, "user": None, "password": None}
    user = environ.get("AIRFLOW_API_USER") or None
    password = environ.get("AIRFLOW_API_PASSWORD") or None
    if (user is None) != (password is None):
        missing = "AIRFLOW_API_PASSWORD" if password is None else "AIRFLOW_API_USER"
        raise ValueError(f"{missing} is not set: AIRFLOW_API_USER and AIRFLOW_API_PASSWORD go together")
    return {"token": None, "user": user, "password": password}
