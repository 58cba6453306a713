"""What `cutover.py` acts on, from the migration file and the flags: the archive and the Airflow API to call.

Names, bucket and prefix come from the migration file; the flags override them. No flag carries a secret: a URL
target's credentials come from AIRFLOW_API_TOKEN, or AIRFLOW_API_USER and AIRFLOW_API_PASSWORD.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config

from mwaa_cutover import airflow_api, archive, cutover_input
from mwaa_cutover.bucket_keys import export_prefix, export_root, report_key
from mwaa_migration.cutover.names import bucket_name
from mwaa_migration.migration import MigrationConfig


class SetupError(Exception):
    """A one-line reason the command can't start; names the flag or the key."""


@dataclass(frozen=True)
class Target:
    transport: airflow_api.Transport
    # "v1" (Airflow 2: the import DAG does the import) or "v2" (Airflow 3: the REST importer does).
    api_version: str
    description: str


def parse_day(text: str, flag: str) -> datetime.datetime:
    """The state machine's own reading of `runs_since` (a day at midnight UTC, or a time with its offset)."""
    parsed = cutover_input.parse_since(text)
    if parsed is None:
        raise SetupError(f"{flag}: {text!r} is not a date in the form YYYY-MM-DD")
    return parsed


def open_archive(migration: MigrationConfig, location: str | None, *, session: Any) -> archive.Archive:
    """`location` (a folder or s3://bucket/prefix/) or the newest complete export in the migration bucket."""
    if location is not None:
        s3 = session.client("s3") if location.startswith("s3://") else None
        return archive.open_archive(location, s3_client=s3)
    account = session.client("sts").get_caller_identity()["Account"]
    region = session.region_name
    if not region:
        raise SetupError("no AWS region: set AWS_REGION (the region the migration's stacks are in) or pass --archive")
    bucket = bucket_name(migration.name, account=account, region=region)
    s3 = session.client("s3")
    export_id = archive.latest_complete_export(s3, bucket=bucket, prefix=export_root(migration.name))
    if export_id is None:
        raise SetupError(
            f"s3://{bucket}/{export_root(migration.name)} has no complete export (no manifest.json): "
            "run the export first, or pass --archive"
        )
    return archive.open_archive(f"s3://{bucket}/{export_prefix(migration.name, export_id)}", s3_client=s3)


def check_url(airflow_url: str) -> None:
    if not airflow_url.startswith(("http://", "https://")):
        raise SetupError(f"--airflow-url {airflow_url}: must start with http:// or https://")


def target(migration: MigrationConfig, *, environment: str | None, airflow_url: str | None, session: Any) -> Target:
    if airflow_url is not None:
        try:
            credentials = airflow_api.credentials_from_environment(os.environ)
        except ValueError as error:
            raise SetupError(str(error)) from None
        if credentials["token"] is None and credentials["user"] is None:
            # Refused here rather than sent without: an api-server that lets anonymous calls through (Airflow 3's
            # simple auth manager with all_admins) would otherwise be imported into without anyone saying who.
            raise SetupError(
                "--airflow-url needs credentials from the environment: set AIRFLOW_API_TOKEN, or AIRFLOW_API_USER "
                "and AIRFLOW_API_PASSWORD (no flag carries them)"
            )
        check_url(airflow_url)
        url = airflow_api.UrlTransport(
            base_url=airflow_url,
            token=credentials["token"],
            user=credentials["user"],
            password=credentials["password"],
        )
        return Target(transport=url, api_version=url.api_version, description=airflow_url)
    name = environment or migration.target.environment_name
    major = int(migration.target.airflow_version.split(".")[0])
    api_version = "v2" if major >= 3 else "v1"
    # The transport retries throttling itself; boto3's own retries would multiply its attempts (`max_attempts`
    # counts retries after the first call, `total_max_attempts` calls: one).
    mwaa = session.client("mwaa", config=Config(retries={"total_max_attempts": 1}))
    mwaa_transport = airflow_api.MwaaTransport(client=mwaa, environment_name=name, api_version=api_version)
    return Target(transport=mwaa_transport, api_version=api_version, description=f"MWAA environment {name}")


def save_report(migration: MigrationConfig, source: archive.Archive, report: dict[str, Any], *, local_dir: Path) -> str:
    """`reports/<name>/<export id>/report.json`: in the migration bucket for an S3 archive, else under local_dir."""
    relative = report_key(migration.name, report["export_id"])
    body = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if isinstance(source, archive.S3Archive):
        source.client.put_object(Bucket=source.bucket, Key=relative, Body=body, ContentType="application/json")
        return f"s3://{source.bucket}/{relative}"
    path = local_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return str(path)
