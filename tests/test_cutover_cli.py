"""`cutover.py import` and `cutover.py verify` as an operator runs them (subprocesses, in a scratch working directory),
against the real Airflow 3.0.6 api-server with the archive the real export wrote from a real 2.10.3 database: the
migration `example` targets 3.0.6, so `import` takes the REST path. The token comes from AIRFLOW_API_TOKEN, never a
flag; `--no-logs` because the task-log copy needs CloudWatch (the task-log DAG's job, tested elsewhere).

What the import adds to the shared target is removed at the module's end (tests/test_verify.py, `restored`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mwaa_cutover.archive import LocalArchive, iter_rows, read_manifest
from tests.airflow3_server import Airflow3Server
from tests.import_source import DAILY, LONG, MANUAL, MISSING, SourceArchive
from tests.test_verify import assert_no_values, copy_archive, restored, variable_changed

REPO_ROOT = Path(__file__).resolve().parent.parent
CUTOVER = REPO_ROOT / "cutover.py"
FINAL = ("success", "failed")


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python cutover.py ...` with no Airflow credentials in its environment but those in `env`."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_API_")}
    environ.update(env or {})
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(CUTOVER), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def keep_runs(path: Path, keep: Any) -> None:
    """Rewrite the archive's dag_run table with the rows `keep` accepts (one part; sizes and checksum updated)."""
    archive = LocalArchive(path)
    manifest = read_manifest(archive)
    rows = [row for row in iter_rows(archive, manifest, "dag_run") if keep(row)]
    entry = manifest["tables"]["dag_run"]
    for part in entry["parts"]:
        (path / part["key"]).unlink()
    key = "tables/dag_run/part-00000.jsonl.gz"
    data = gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    (path / key).write_bytes(data)
    part = {"key": key, "rows": len(rows), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    entry.update(rows=len(rows), parts=[part])
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def target(airflow3: Airflow3Server, source_archive: SourceArchive) -> Iterator[Airflow3Server]:
    with restored(airflow3, source_archive):
        yield airflow3


@pytest.fixture(scope="module")
def token(target: Airflow3Server) -> dict[str, str]:
    return {"AIRFLOW_API_TOKEN": target.token()}


@pytest.fixture(scope="module")
def clean_archive(source_archive: SourceArchive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source archive without what the target can't take (a DAG it doesn't have, one whose id is too long for
    MWAA's path, a run still running on the source): an import of it refuses nothing."""
    path = copy_archive(source_archive, tmp_path_factory.mktemp("cli-clean"))
    keep_runs(path, lambda row: row["dag_id"] in (DAILY, MANUAL) and row["state"] in FINAL)
    return path


@pytest.fixture(scope="module")
def imported(
    target: Airflow3Server, token: dict[str, str], clean_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    cwd = tmp_path_factory.mktemp("cli-import")
    args = ("--migration", "example", "--archive", str(clean_archive), "--airflow-url", target.base_url)
    return cli("import", *args, "--no-logs", cwd=cwd, env=token)


def test_import_prints_a_summary_and_exits_0(
    imported: subprocess.CompletedProcess[str], source_archive: SourceArchive, target: Airflow3Server
) -> None:
    assert imported.returncode == 0, (imported.stdout, imported.stderr)
    lines = imported.stdout.splitlines()
    assert lines[0].split() == ["entity", "created", "updated", "skipped", "refused"]
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in lines[2:6]}
    assert set(rows) == {"variable", "pool", "connection", "dag_run"}
    # Whatever an earlier import of the same archive left, each entity is written or skipped, none refused.
    assert rows["variable"][3] == 0 and sum(rows["variable"][:3]) == len(source_archive.spec["variables"])
    assert rows["connection"][3] == 0 and sum(rows["connection"][:3]) == len(source_archive.spec["connections"])
    assert rows["pool"][3] == 0 and sum(rows["pool"][:3]) == len(source_archive.spec["pools"]) + 1
    assert rows["dag_run"][3] == 0 and sum(rows["dag_run"][:3]) == 9
    assert lines[6].endswith(" API calls")
    assert "refused" not in "\n".join(lines[7:])
    # Progress goes to stderr, apart from the summary: what is imported from where, then each stage.
    export_id = source_archive.manifest["export_id"]
    assert imported.stderr.splitlines()[0].startswith(f"import {export_id} from ")
    assert imported.stderr.splitlines()[0].endswith(f" into {target.base_url}")
    for stage in ("variable", "pool", "connection", "dag_run"):
        assert any(line.startswith(f"{stage} [") for line in imported.stderr.splitlines()), stage
    assert_no_values(imported.stdout + imported.stderr, source_archive)


def test_verify_writes_the_report_under_reports(
    imported: subprocess.CompletedProcess[str],
    target: Airflow3Server,
    token: dict[str, str],
    clean_archive: Path,
    source_archive: SourceArchive,
    tmp_path: Path,
) -> None:
    assert imported.returncode == 0
    args = ("--migration", "example", "--archive", str(clean_archive), "--airflow-url", target.base_url)
    done = cli("verify", *args, cwd=tmp_path, env=token)
    assert done.returncode == 0, (done.stdout, done.stderr)
    report_path = tmp_path / "reports" / "example" / source_archive.manifest["export_id"] / "report.json"
    assert done.stdout.splitlines()[-1] == f"report: {report_path}"
    assert done.stdout.splitlines()[0].split() == ["entity", "archive", "target", "matching", "missing", "different"]
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert {check["entity"]: check["matching"] for check in report["checks"]} == {
        "variables": 3,
        "pools": 3,
        "connections": 2,
        "dag runs": 9,
    }
    assert any(line.startswith("verify") for line in done.stderr.splitlines())
    assert_no_values(done.stdout + done.stderr + report_path.read_text(), source_archive)


def test_a_refused_entity_exits_1_naming_it(
    imported: subprocess.CompletedProcess[str],
    target: Airflow3Server,
    token: dict[str, str],
    clean_archive: Path,
    source_archive: SourceArchive,
    tmp_path: Path,
) -> None:
    assert imported.returncode == 0
    args = ("--migration", "example", "--archive", str(clean_archive), "--airflow-url", target.base_url)
    with variable_changed(target, source_archive, "imp_plain", "stale from a rehearsal"):
        done = cli("import", *args, "--no-logs", "--on-existing", "fail", cwd=tmp_path, env=token)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "refused: variable imp_plain: exists on the target (on_existing=fail)" in done.stdout.splitlines()
        # Left as it was on the target; verify names it too.
        verified = cli("verify", *args, cwd=tmp_path, env=token)
    assert verified.returncode == 1, (verified.stdout, verified.stderr)
    assert "variables different: imp_plain" in verified.stdout.splitlines()
    assert_no_values(done.stdout + done.stderr + verified.stdout, source_archive)


def test_what_the_target_cant_take_exits_1_naming_it(
    imported: subprocess.CompletedProcess[str],
    target: Airflow3Server,
    token: dict[str, str],
    source_archive: SourceArchive,
    tmp_path: Path,
) -> None:
    """The whole source archive: a DAG the target doesn't have, one whose id can't fit MWAA's path, a running run."""
    assert imported.returncode == 0
    path = copy_archive(source_archive, tmp_path)
    args = ("--migration", "example", "--archive", str(path), "--airflow-url", target.base_url)
    done = cli("import", *args, "--no-logs", cwd=tmp_path, env=token)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    prefix = "not guaranteed to resume after its last imported run: "
    assert any(line.startswith(f"{prefix}{MISSING}: not on the target") for line in lines), lines
    assert any(line.startswith(f"{prefix}{LONG}: its id has") for line in lines), lines
    running = next(run for run in source_archive.dag(MANUAL)["runs"] if run["state"] == "running")
    assert f"refused: dag_run {MANUAL}/{running['run_id']}: running on the source, not finished: not imported" in lines


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    dead = ("--airflow-url", "http://127.0.0.1:9", "--archive", str(tmp_path))
    token = {"AIRFLOW_API_TOKEN": "unused"}
    # Checked before anything is read or called (the URL is a closed port: calling it would retry for a minute).
    line = one_line_error(
        cli("import", "--migration", "example", *dead, "--runs-since", "2026-13-01", cwd=tmp_path, env=token), 2
    )
    assert line == "error: --runs-since: '2026-13-01' is not a date in the form YYYY-MM-DD"
    line = one_line_error(cli("import", "--migration", "no_such_migration", *dead, cwd=tmp_path, env=token), 2)
    assert "no migration named 'no_such_migration'" in line
    assert "example" in line  # what there is
    # An archive folder without a manifest: an incomplete export is never imported.
    line = one_line_error(cli("verify", "--migration", "example", *dead, cwd=tmp_path, env=token), 2)
    assert "manifest.json" in line
    # A cut-over is of one migration; a URL that isn't HTTP is refused before anything is read.
    line = one_line_error(cli("verify", "--migration", "all", *dead, cwd=tmp_path, env=token), 2)
    assert line == "error: --migration all: name one migration (a cut-over is one at a time)"
    ftp = ("--airflow-url", "ftp://127.0.0.1", "--archive", str(tmp_path))
    line = one_line_error(cli("verify", "--migration", "example", *ftp, cwd=tmp_path, env=token), 2)
    assert line == "error: --airflow-url ftp://127.0.0.1: must start with http:// or https://"


def test_no_credentials_is_a_clear_error(tmp_path: Path, clean_archive: Path, target: Airflow3Server) -> None:
    args = ("--migration", "example", "--archive", str(clean_archive), "--airflow-url", target.base_url)
    line = one_line_error(cli("import", *args, "--no-logs", cwd=tmp_path), 2)
    assert "AIRFLOW_API_TOKEN" in line and "AIRFLOW_API_USER" in line
    line = one_line_error(cli("verify", *args, cwd=tmp_path, env={"AIRFLOW_API_USER": "admin"}), 2)
    assert "AIRFLOW_API_PASSWORD is not set" in line
    # A token the api-server doesn't accept: its answer, named, as the last line (after the first progress line).
    done = cli("verify", *args, cwd=tmp_path, env={"AIRFLOW_API_TOKEN": "not-a-token"})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: GET /variables: HTTP 403: Invalid JWT token"
    assert not (tmp_path / "reports").exists()
