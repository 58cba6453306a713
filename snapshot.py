#!/usr/bin/env python3
"""Save the source environment's snapshot that synth clones from, with sensitive option values masked.

    python snapshot.py --migration <name or path.toml> [--region REGION]

Calls `GetEnvironment` once with your AWS credentials (the source's region: source.region, else --region, else
your configured region) and writes source.snapshot (default <file stem>.source.json beside the migration file).
Review the diff and commit it: the next synth clones from it, and the deploy checks the source still matches it.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mwaa_clone import sensitive_options
from mwaa_migration import aws_session
from mwaa_migration.migration import MigrationFileError, resolve_migration_paths, snapshot

if TYPE_CHECKING:
    from mypy_boto3_mwaa import MWAAClient


def _client(region: str | None) -> MWAAClient:
    return aws_session.session(region).client("mwaa")


# The seam tests replace with a Stubber-backed client.
client_factory: Callable[[str | None], MWAAClient] = _client


class SnapshotCommandError(Exception):
    """One line: what went wrong and what to do."""


def _source_table(path: Path) -> dict[str, Any]:
    # Only [source] is read: the snapshot is what makes the rest of the file loadable.
    try:
        source = tomllib.loads(path.read_text(encoding="utf-8")).get("source")
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SnapshotCommandError(f"{path}: can't be read as TOML ({error})") from None
    if not isinstance(source, dict) or source.get("kind") != "mwaa" or not source.get("environment_name"):
        raise SnapshotCommandError(f'{path}: needs [source] kind = "mwaa" with environment_name; nothing to snapshot')
    return source


def save(migration_path: Path, region: str | None) -> tuple[Path, list[str]]:
    """Write the snapshot; return its path and the options that were masked."""
    source = _source_table(migration_path)
    name = str(source["environment_name"])
    named = source.get("snapshot")
    if isinstance(named, str) and Path(named).is_absolute():
        raise SnapshotCommandError(f"source.snapshot {named!r} must be relative to the migration file")
    target = migration_path.parent / named if isinstance(named, str) else snapshot.default_snapshot_path(migration_path)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        environment = client_factory(source.get("region") or region).get_environment(Name=name)["Environment"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        raise SnapshotCommandError(
            f"GetEnvironment {name!r} failed: {code}; check the name, region and credentials"
        ) from None
    except BotoCoreError as error:
        raise SnapshotCommandError(f"GetEnvironment {name!r} failed: {error}") from None
    document = snapshot.snapshot_document(environment)
    masked = sorted(
        key
        for key, value in document["Environment"].get("AirflowConfigurationOptions", {}).items()
        if value == sensitive_options.MASKED
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(snapshot.render(document), encoding="utf-8")
    except OSError as error:
        raise SnapshotCommandError(f"can't write {target}: {error.strerror}") from None
    return target, masked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
    parser.add_argument("--region", help="the source's region when the file doesn't set source.region")
    args = parser.parse_args(argv)
    try:
        (path,) = resolve_migration_paths(args.migration)
        written, masked = save(path, args.region)
    except MigrationFileError as error:
        print(error, file=sys.stderr)
        return 2
    except SnapshotCommandError as error:
        print(f"snapshot: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    if masked:
        print(
            f"masked {len(masked)} sensitive option(s): {', '.join(masked)}; list them in target.drop_options "
            "and keep their values in the secrets backend or a connection (one only named like a secret, whose "
            "value you know is none, can be set in [target.airflow_configuration_options] instead)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
