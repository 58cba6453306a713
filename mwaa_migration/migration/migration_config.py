"""The migration file's validated, resolved configuration: what every stack, construct and command reads.

Built once per file by migration_reader (the file checked against its schema and across its tables, paths
resolved, the source snapshot read, the new environment planned); frozen from then on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mwaa_cutover.bucket_keys import export_root
from mwaa_migration.environment.plan_types import EnvironmentPlan

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Where a deployed file goes in the source bucket when the file doesn't name the target path.
DEFAULT_S3_PATHS = {
    "requirements": "requirements.txt",
    "plugins": "plugins.zip",
    "startup_script": "startup.sh",
}


SourceKind = Literal["mwaa", "self-managed"]


class MigrationFileError(Exception):
    """Raised with every problem found in one migration file; str() is what the user sees."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem(s) in the migration file:"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class SourceConfig:
    kind: SourceKind
    environment_name: str | None = None
    execution_role_arn: str | None = None
    region: str | None = None  # an MWAA source's: the file's, else its snapshot's
    airflow_version: str | None = None
    snapshot: Path | None = None
    # The snapshot's GetEnvironment()['Environment'], sensitive values masked; MWAA sources only.
    environment: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def account(self) -> str | None:
        """The old environment's account, which is its execution role's account."""
        return self.execution_role_arn.split(":")[4] if self.execution_role_arn else None


@dataclass(frozen=True)
class NetworkConfig:
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str | None = None


@dataclass(frozen=True)
class TargetConfig:
    environment_name: str
    airflow_version: str
    environment_class: str | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    schedulers: int | None = None
    min_webservers: int | None = None
    max_webservers: int | None = None
    webserver_access_mode: str | None = None
    weekly_maintenance_window_start: str | None = None
    endpoint_management: str | None = None
    worker_replacement_strategy: str | None = None
    kms_key: str | None = None
    execution_role_arn: str | None = None
    source_bucket_arn: str | None = None
    dag_s3_path: str = "dags"
    plugins_s3_path: str | None = None
    requirements_s3_path: str | None = None
    startup_script_s3_path: str | None = None
    network: NetworkConfig | None = None
    logging: Mapping[str, str] = field(default_factory=dict)
    airflow_configuration_options: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    drop_options: tuple[str, ...] = ()
    execution_role_policy_arns: tuple[str, ...] = ()

    @property
    def dag_prefix(self) -> str:
        """The S3 key prefix of DagS3Path ("dags" -> "dags/"): what the DAG sync owns and prunes."""
        return self.dag_s3_path.strip("/") + "/"


@dataclass(frozen=True)
class WorkflowsConfig:
    """Local files to deploy into the new environment's source bucket; paths are resolved, and exist."""

    dags: Path | None = None
    requirements: Path | None = None
    plugins: Path | None = None  # a folder the app zips, or a ready .zip file
    startup_script: Path | None = None
    allow_existing_bucket: bool = False

    @property
    def has_files(self) -> bool:
        return any(path is not None for path in (self.dags, self.requirements, self.plugins, self.startup_script))


@dataclass(frozen=True)
class DeployedFile:
    """A file [workflows] deploys: `kind` is its key there, also naming its target.<kind>_s3_path."""

    kind: str  # requirements | plugins | startup_script
    source: Path
    s3_path: str

    @property
    def property_prefix(self) -> str:
        """The environment's property prefix: Requirements, Plugins, StartupScript (+ S3Path, S3ObjectVersion)."""
        return "".join(part.title() for part in self.kind.split("_"))


@dataclass(frozen=True)
class ExportConfig:
    deploy_dag: bool = True  # MWAA source on Airflow 2: the export DAG goes into the old DAG folder


@dataclass(frozen=True)
class MigrationBucketConfig:
    retention_days: int = 30


@dataclass(frozen=True)
class MigrationConfig:
    name: str
    path: Path
    source: SourceConfig
    target: TargetConfig
    migration_bucket: MigrationBucketConfig
    workflows: WorkflowsConfig = field(default_factory=WorkflowsConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    # The new environment's settings, cloned or defaulted, decided once when the file is loaded.
    environment: EnvironmentPlan | None = field(default=None, compare=False)

    @property
    def deployed_files(self) -> list[DeployedFile]:
        """The files [workflows] deploys, each to the S3 path the validation settled on."""
        files = []
        for kind in DEFAULT_S3_PATHS:
            source: Path | None = getattr(self.workflows, kind)
            s3_path: str | None = getattr(self.target, f"{kind}_s3_path")
            if source is not None and s3_path is not None:
                files.append(DeployedFile(kind, source, s3_path))
        return files

    @property
    def export_prefix(self) -> str:
        """Where the old environment's export DAG writes; the only prefix the old role may write to."""
        return export_root(self.name)
