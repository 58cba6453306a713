"""The operator commands as a user runs them after the README's set-up: in `.venv-runtime`, which `make test` builds
with `make synth`'s own rule from requirements.txt alone, so an import only the dev set provides fails here.

Each command runs as a subprocess with fake credentials and every AWS endpoint pointed at a local stand-in
(tests/mwaa_standin.py, one per command): snapshot.py gets a GetEnvironment answer with secrets planted in it, and
each cutover.py sub-command goes as far as its first call of its own, which is refused, and must say so in one line.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mwaa_migration.cutover.names import bucket_name
from tests.mwaa_standin import ACCOUNT, DENIED, AwsStandIn, Request
from tests.synthetic_archive import bulk_entities, write_archive

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_VENV = REPO_ROOT / ".venv-runtime"
RUNTIME_PYTHON = RUNTIME_VENV / "bin" / "python"
REGION = "us-east-1"
MASKED = "<masked by snapshot.py>"
PLANTED = {"smtp.smtp_password": "planted-smtp-password", "core.fernet_key": "planted-fernet-key"}
EXAMPLE_SNAPSHOT = REPO_ROOT / "migrations" / "example.source.json"
SUBCOMMANDS = ("import", "verify", "run", "status")
STS = "sts POST / GetCallerIdentity"
MWAA_TARGET = "airflow POST /restapi/analytics-v3"  # InvokeRestApi on the example's target environment

# Each command line as typed (split on spaces); {workdir} (a copy of example.toml, an export archive) and {url} (its
# stand-in) are filled in when it runs.
COMMANDS: dict[str, str] = {
    "snapshot": "snapshot.py --migration {workdir}/example.toml",
    "plan": "plan.py --migration example",
    "preflight": "preflight.py --migration example",
    "cutover --help": "cutover.py --help",
    **{f"{name} --help": f"cutover.py {name} --help" for name in SUBCOMMANDS},
    "import": "cutover.py import --migration example",
    "import --archive": "cutover.py import --migration example --archive {workdir}/archive",
    "verify": "cutover.py verify --migration example",
    "verify --airflow-url": "cutover.py verify --migration example --archive {workdir}/archive --airflow-url {url}",
    "run": "cutover.py run --migration example --mode rehearsal",
    "status": "cutover.py status --migration example",
    "run --runs-since 2026-13-01": "cutover.py run --migration example --mode rehearsal --runs-since 2026-13-01",
    "run --mode nonsense": "cutover.py run --migration example --mode nonsense",
}


@dataclass(frozen=True)
class Reached:
    """A cut-over command that stops at a refused call: its exit status, the calls it made, the error it names."""

    code: int
    calls: tuple[str, ...]
    error: str


BUCKET = bucket_name("example", account=ACCOUNT, region=REGION)
NO_EXPORTS = f"error: AWS: An error occurred (AccessDenied) when calling the ListObjectsV2 operation: {DENIED}"
NO_EXECUTIONS = (
    f"error: AWS: An error occurred (AccessDeniedException) when calling the ListExecutions operation: {DENIED}"
)
REACHED = {
    # No archive named: the newest export in the migration bucket, whose name needs the account.
    "import": Reached(2, (STS, f"s3 GET /{BUCKET}"), NO_EXPORTS),
    # The REST importer counts each refused entity and goes on; starting the task-log DAG is what fails.
    "import --archive": Reached(
        1,
        (MWAA_TARGET,) * 4,
        f"error: POST /dags/mwaa_migration_task_logs/dagRuns: HTTP 403: AccessDeniedException: {DENIED}",
    ),
    "verify": Reached(2, (STS, f"s3 GET /{BUCKET}"), NO_EXPORTS),
    "verify --airflow-url": Reached(
        1, ("airflow-url GET /api/v2/version",), "error: GET /api/v2/version: HTTP 403: Forbidden"
    ),
    # run looks for an execution already running before it starts one.
    "run": Reached(2, (STS, "states POST / AWSStepFunctions.ListExecutions"), NO_EXECUTIONS),
    "status": Reached(2, (STS, "states POST / AWSStepFunctions.ListExecutions"), NO_EXECUTIONS),
}


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    requests: list[Request]


def call(request: Request) -> str:
    """`service METHOD path target`, the query string left out; an unsigned request is the --airflow-url one."""
    path = request.path.partition("?")[0]
    return " ".join(part for part in (request.service or "airflow-url", request.method, path, request.target) if part)


def source_environment() -> dict[str, Any]:
    """The example's source as MWAA sends it: its timestamps as times, its secrets not yet masked."""
    environment: dict[str, Any] = json.loads(EXAMPLE_SNAPSHOT.read_text())["Environment"]
    environment["CreatedAt"] = datetime.datetime.fromisoformat(environment["CreatedAt"])
    environment["LastUpdate"]["CreatedAt"] = datetime.datetime.fromisoformat(environment["LastUpdate"]["CreatedAt"])
    environment["AirflowConfigurationOptions"].update(PLANTED)
    return environment


def command_environment(standin_url: str, home: Path) -> dict[str, str]:
    """A user's shell with fake credentials and no AWS configuration: nothing from this one leaks in."""
    endpoints = ("AWS_ENDPOINT_URL", *(f"AWS_ENDPOINT_URL_{service}" for service in ("MWAA", "S3", "SFN", "STS")))
    return {
        # The system's path only: ruff and everything else must come from the runtime environment itself.
        "PATH": os.defpath,
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **dict.fromkeys(endpoints, standin_url),
        # MWAA's operations put `api.` or `env.` before the endpoint's host, which 127.0.0.1 can't take.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        # Only --airflow-url reads it.
        "AIRFLOW_API_TOKEN": "standin-token",
    }


def run_command(line: str, workdir: Path) -> Outcome:
    standin = AwsStandIn(environments={"analytics": source_environment()})
    with standin.serving():
        argv = [arg.format(workdir=workdir, url=standin.url) for arg in line.split()]
        done = subprocess.run(  # noqa: S603 - the runtime environment's interpreter and our own scripts
            [str(RUNTIME_PYTHON), str(REPO_ROOT / argv[0]), *argv[1:]],
            cwd=workdir,
            env=command_environment(standin.url, workdir),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Outcome(done.returncode, done.stdout, done.stderr, standin.take())


def check_runtime_environment() -> None:
    """Fails, never skips: without it, what the README's set-up leaves out would go unseen."""
    stamp = RUNTIME_VENV / ".runtime"
    if not stamp.is_file():
        pytest.fail(f"{RUNTIME_VENV} is missing: `make runtime-env` builds it (`make test` does)", pytrace=False)
    if stamp.stat().st_mtime < (REPO_ROOT / "requirements.txt").stat().st_mtime:
        pytest.fail(f"{RUNTIME_VENV} is older than requirements.txt: `make runtime-env` rebuilds it", pytrace=False)
    if list(RUNTIME_VENV.glob("lib/python*/site-packages/pytest")):
        pytest.fail(f"{RUNTIME_VENV} has the dev set installed; it must be requirements.txt alone", pytrace=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commands' working folder: a copy of example.toml (snapshot.py writes beside it) and a small export."""
    folder = tmp_path_factory.mktemp("operator")
    shutil.copy(REPO_ROOT / "migrations" / "example.toml", folder / "example.toml")
    (folder / "archive").mkdir()
    write_archive(folder / "archive", bulk_entities(1))
    return folder


@pytest.fixture(scope="module")
def outcomes(workdir: Path) -> Mapping[str, Outcome]:
    """Every command's outcome, run side by side (each with its own stand-in) to keep the module quick."""
    check_runtime_environment()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_command, line, workdir) for name, line in COMMANDS.items()}
        return {name: future.result() for name, future in futures.items()}


def assert_no_traceback(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.stdout + outcome.stderr, outcome.stderr
    assert "ModuleNotFoundError" not in outcome.stdout + outcome.stderr, outcome.stderr


def test_snapshot_saves_the_source_with_its_secrets_masked(outcomes: Mapping[str, Outcome], workdir: Path) -> None:
    outcome = outcomes["snapshot"]
    assert_no_traceback(outcome)
    assert outcome.code == 0, outcome.stderr
    assert outcome.requests == [Request("airflow", "GET", "/environments/analytics", "")]
    written = workdir / "example.source.json"  # beside the migration file it was given
    written_line, masked_line = outcome.stdout.splitlines()
    assert written_line == f"wrote {written}"
    assert masked_line.startswith("masked 2 sensitive option(s): core.fernet_key, smtp.smtp_password;")
    text = written.read_text()
    assert not any(secret in text or secret in outcome.stdout for secret in PLANTED.values())
    document = json.loads(text)
    assert document["Environment"]["Name"] == "analytics"
    # What the example snapshot holds, its timestamps read back the same, and the second secret masked too.
    expected = json.loads(EXAMPLE_SNAPSHOT.read_text())
    expected["Environment"]["AirflowConfigurationOptions"]["core.fernet_key"] = MASKED
    assert document == expected


def test_plan_prints_its_json_report(outcomes: Mapping[str, Outcome]) -> None:
    outcome = outcomes["plan"]
    assert_no_traceback(outcome)
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert sorted(report) == ["changes", "settings", "warnings"]
    assert report["settings"]["Name"] == "analytics-v3" and report["changes"]
    assert outcome.requests == []  # from the committed snapshot, with no AWS call


def test_preflight_prints_its_report(outcomes: Mapping[str, Outcome]) -> None:
    outcome = outcomes["preflight"]
    assert_no_traceback(outcome)
    assert outcome.code == 0, (outcome.stdout, outcome.stderr)
    assert outcome.stdout.startswith("pre-flight example: "), outcome.stdout
    assert outcome.requests == []


def test_cutover_help_lists_every_subcommand(outcomes: Mapping[str, Outcome]) -> None:
    outcome = outcomes["cutover --help"]
    assert_no_traceback(outcome)
    assert outcome.code == 0, outcome.stderr
    listed = re.search(r"\{([a-z,]+)\}", outcome.stdout.splitlines()[0])
    assert listed is not None, outcome.stdout
    # A sub-command added to cutover.py needs its cases here.
    assert tuple(listed.group(1).split(",")) == SUBCOMMANDS
    assert set(REACHED) >= set(SUBCOMMANDS)


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(outcomes: Mapping[str, Outcome], name: str) -> None:
    outcome = outcomes[f"{name} --help"]
    assert_no_traceback(outcome)
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.startswith(f"usage: cutover.py {name} ")
    assert outcome.requests == []


@pytest.mark.parametrize("name", sorted(REACHED))
def test_each_subcommand_reaches_its_first_call_and_says_why_it_stopped(
    outcomes: Mapping[str, Outcome], name: str
) -> None:
    outcome, reached = outcomes[name], REACHED[name]
    assert_no_traceback(outcome)
    assert outcome.code == reached.code, (outcome.stdout, outcome.stderr)
    assert tuple(call(request) for request in outcome.requests) == reached.calls
    lines = outcome.stderr.splitlines()
    # Progress lines may come first; the error is one line, the last.
    assert [line for line in lines if "error" in line.lower()] == [reached.error], outcome.stderr
    assert lines[-1] == reached.error


def test_a_bad_value_is_one_line_before_any_call(outcomes: Mapping[str, Outcome]) -> None:
    outcome = outcomes["run --runs-since 2026-13-01"]
    assert_no_traceback(outcome)
    assert outcome.code == 2
    assert outcome.stderr == (
        "error: runs_since: must be null, a date (YYYY-MM-DD) or an ISO-8601 time with an offset\n"
    )
    assert outcome.requests == []


def test_a_bad_choice_is_argparses_usage_and_one_error_line(outcomes: Mapping[str, Outcome]) -> None:
    outcome = outcomes["run --mode nonsense"]
    assert_no_traceback(outcome)
    assert outcome.code == 2
    lines = outcome.stderr.splitlines()
    assert lines[0].startswith("usage: cutover.py run ")
    assert [line for line in lines if "error" in line] == [lines[-1]]
    assert lines[-1].startswith("cutover.py run: error: argument --mode: invalid choice: 'nonsense'")
    assert outcome.requests == []
