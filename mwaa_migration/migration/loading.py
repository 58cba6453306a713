"""The migration files: which ones a synth or a command selects, each read once into its frozen configuration.

A file is checked as a whole before any construct is built (migration_reader: every problem named by its key path
with the allowed values), its source snapshot read, and the new environment planned from it
(mwaa_migration.environment.environment_plan), so a file that loads is one the app can build. Nothing here
touches AWS.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mwaa_clone import clone_rules
from mwaa_migration.environment.environment_plan import plan_environment
from mwaa_migration.migration.migration_config import MIGRATIONS_DIR, MigrationConfig, MigrationFileError
from mwaa_migration.migration.migration_reader import parse_migration

DEFAULT_MIGRATION = "example"


# ---------------------------------------------------------------------------------------------------------------
# Locating migration files


def resolve_migration_paths(selector: str | None, migrations_dir: Path = MIGRATIONS_DIR) -> list[Path]:
    """`-c migration=` value to files: a name under migrations/, a path to a .toml file, or `all`."""
    if not selector:
        selector = DEFAULT_MIGRATION
    if selector == "all":
        paths = sorted(migrations_dir.glob("*.toml"))
        if not paths:
            raise MigrationFileError(migrations_dir, ["migration=all: no .toml files in this folder"])
        return paths
    candidate = Path(selector)
    if candidate.suffix == ".toml":
        if not candidate.is_file():
            raise MigrationFileError(candidate, ["migration: no such file"])
        return [candidate.resolve()]
    by_name = migrations_dir / f"{selector}.toml"
    if not by_name.is_file():
        available = ", ".join(p.stem for p in sorted(migrations_dir.glob("*.toml"))) or "none"
        raise MigrationFileError(
            by_name,
            [
                f"migration: no migration named {selector!r}; "
                f"allowed: all, a path to a .toml file, or one of: {available}"
            ],
        )
    return [by_name.resolve()]


def load_migrations(selector: str | None, migrations_dir: Path = MIGRATIONS_DIR) -> list[MigrationConfig]:
    """Load and validate every selected file; refuse two migrations that would create the same environment."""
    configs = [load_migration(path) for path in resolve_migration_paths(selector, migrations_dir)]
    seen: dict[str, Path] = {}
    for config in configs:
        other = seen.setdefault(config.target.environment_name, config.path)
        if other != config.path:
            raise MigrationFileError(
                config.path,
                [
                    f"target.environment_name: {config.target.environment_name!r} is also the target of {other.name}; "
                    "each migration needs its own environment name"
                ],
            )
    _check_dag_syncs_apart(configs)
    _check_one_export_dag_per_folder(configs)
    return configs


def _check_one_export_dag_per_folder(configs: list[MigrationConfig]) -> None:
    """The export DAG has one name and one DAG id: two migrations can't both put it into one old environment."""
    seen: dict[tuple[str, str], Path] = {}
    for config in configs:
        target = config.environment.export_dag if config.environment else None
        if target is None:
            continue
        other = seen.setdefault((target.bucket, target.key), config.path)
        if other != config.path:
            raise MigrationFileError(
                config.path,
                [
                    f"export.deploy_dag: {other.name} already deploys the export DAG to s3://{target.bucket}/"
                    f"{target.key}; set [export] deploy_dag = false in one of them (both can use its exports)"
                ],
            )


def _check_dag_syncs_apart(configs: list[MigrationConfig]) -> None:
    """Two migrations syncing DAGs into one existing bucket, one prefix inside the other, would each prune the
    other's files on every deploy."""
    synced: list[tuple[str, str, Path]] = []
    for config in configs:
        bucket = config.target.source_bucket_arn
        if bucket is None or config.workflows.dags is None:
            continue
        prefix = config.target.dag_prefix
        for other_bucket, other_prefix, other_path in synced:
            if bucket == other_bucket and (prefix.startswith(other_prefix) or other_prefix.startswith(prefix)):
                raise MigrationFileError(
                    config.path,
                    [
                        f"workflows.dags: {other_path.name} also syncs DAGs into {bucket} under {other_prefix!r}, "
                        f"overlapping {prefix!r}, and each deploy would delete the other's files; give each "
                        "migration a target.dag_s3_path of its own"
                    ],
                )
        synced.append((bucket, prefix, config.path))


def load_migration(path: Path, *, source_document: Mapping[str, Any] | None = None) -> MigrationConfig:
    """One file, read, checked and planned; `source_document` replaces its committed snapshot (plan.py)."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise MigrationFileError(path, [f"not valid TOML: {error}"]) from None
    except OSError as error:
        raise MigrationFileError(path, [f"cannot be read: {error.strerror}"]) from None
    config = parse_migration(raw, path, source_document=source_document)
    try:
        return replace(config, environment=plan_environment(config))
    except clone_rules.CloneRefused as error:
        raise MigrationFileError(path, [str(error)]) from None
