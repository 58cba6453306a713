"""The environment plan's types: what the plan decides for one migration, which its resolved configuration carries.

Apart from the planning (environment_plan), so the configuration (mwaa_migration.migration.migration_config) can
name the plan's type without importing the planner, which reads the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_migration.environment.secrets_access import SecretReads


@dataclass(frozen=True)
class DeployRule:
    """What CloudFormation must check before it creates anything: the stack is region- and account-agnostic."""

    pseudo: str  # AWS::Region or AWS::AccountId
    value: str
    equal: bool  # must equal, or must differ
    why: str


@dataclass(frozen=True)
class ExportDagTarget:
    """Where the export DAG goes in the old environment: its source bucket and DAG folder, from the snapshot."""

    bucket: str
    key: str


@dataclass(frozen=True)
class EnvironmentPlan:
    # CreateEnvironment field names; no name, version, role, bucket, paths or versions (the stack's own).
    settings: Mapping[str, Any]
    warnings: tuple[str, ...]
    # What the execution role reads for the configured secrets backend(s).
    secret_reads: tuple[SecretReads, ...] = ()
    # MWAA source: what the deploy-time source check compares with the live environment.
    fingerprints: Mapping[str, str] | None = field(default=None)
    deploy_rules: tuple[DeployRule, ...] = ()
    export_dag: ExportDagTarget | None = None
