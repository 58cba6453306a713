"""The migration file: its schema (migration_file), its reader (migration_reader), the resolved configuration every
stack, construct and command reads (migration_config), selecting and loading files (loading), and the source
snapshot committed beside each file (snapshot).

This is the package's public API: code outside it imports these names from here, not from the modules. The one
exception is mwaa_migration.environment, which the loading calls: it names MigrationConfig and TargetConfig (for
types only) from migration_config, so that no import goes round through this module.
"""

from __future__ import annotations

from mwaa_migration.migration.loading import load_migration, load_migrations, resolve_migration_paths
from mwaa_migration.migration.migration_config import (
    DEFAULT_S3_PATHS,
    MIGRATIONS_DIR,
    DeployedFile,
    ExportConfig,
    MigrationBucketConfig,
    MigrationConfig,
    MigrationFileError,
    NetworkConfig,
    SourceConfig,
    TargetConfig,
    WorkflowsConfig,
)

__all__ = [
    "DEFAULT_S3_PATHS",
    "MIGRATIONS_DIR",
    "DeployedFile",
    "ExportConfig",
    "MigrationBucketConfig",
    "MigrationConfig",
    "MigrationFileError",
    "NetworkConfig",
    "SourceConfig",
    "TargetConfig",
    "WorkflowsConfig",
    "load_migration",
    "load_migrations",
    "resolve_migration_paths",
]
