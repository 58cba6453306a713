"""The migration file: read once with tomllib, validated as a whole, returned as one typed, frozen model.

Every problem found is collected (not just the first), and each names its key path and what is allowed, so a
user fixes the whole file in one pass. Nothing here touches AWS: it runs before any construct is built.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mwaa_migration import snapshot
from mwaa_migration.airflow_versions import MWAA_TARGET_VERSIONS, version_key
from mwaa_migration.clone_lambda import clone_rules, mwaa_limits

if TYPE_CHECKING:
    from mwaa_migration.environment_plan import EnvironmentPlan

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
DEFAULT_MIGRATION = "example"

# What MWAA accepts comes from the clone's rules, which check the same settings at deploy time: a file that
# passes here is not refused there.
ENVIRONMENT_CLASSES = mwaa_limits.ENVIRONMENT_CLASSES
WEBSERVER_ACCESS_MODES = mwaa_limits.WEBSERVER_ACCESS_MODES
ENDPOINT_MANAGEMENT = mwaa_limits.ENDPOINT_MANAGEMENT
LOG_SETTINGS = ("DISABLED", *mwaa_limits.LOG_LEVELS)
MAX_SCHEDULERS = mwaa_limits.MAX_SCHEDULERS
MAX_WEBSERVERS = mwaa_limits.MAX_WEBSERVERS
MAX_TAGS = mwaa_limits.MAX_TAGS

SOURCE_KINDS = ("mwaa", "self-managed")
WORKER_REPLACEMENT_STRATEGIES = ("FORCED", "GRACEFUL")
LOG_MODULES = ("dag_processing", "scheduler", "task", "webserver", "worker")
# The worker maximum is a service quota, 25 by default; larger values need a quota increase first.
MAX_WORKERS_LIMIT = 25

ENVIRONMENT_NAME_RE = mwaa_limits.ENVIRONMENT_NAME_RE
ROLE_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+$")
BUCKET_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:s3:::[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
KMS_KEY_ARN_RE = re.compile(
    r"^arn:aws(-[a-z]+)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SUBNET_RE = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_RE = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
VPC_RE = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
AIRFLOW_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
# The name prefixes stack names and the migration bucket's name, which S3 limits to 63 lowercase characters.
MIGRATION_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
S3_RELATIVE_PATH_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:iam::(\d{12}|aws):policy/[a-zA-Z_0-9+=,.@\-/]+$")
OPTION_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9._]*[a-z0-9_]$")
# A role may have at most 10 managed policies attached by default; the app attaches two of its own.
MAX_EXTRA_POLICIES = 8

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
        return f"exports/{self.name}/"


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
    return configs


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


def load_migration(path: Path) -> MigrationConfig:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise MigrationFileError(path, [f"not valid TOML: {error}"]) from None
    except OSError as error:
        raise MigrationFileError(path, [f"cannot be read: {error.strerror}"]) from None
    config = parse_migration(raw, path)
    # Imported here: the plan module reads this module's types.
    from mwaa_migration.environment_plan import plan_environment

    try:
        return replace(config, environment=plan_environment(config))
    except clone_rules.CloneRefused as error:
        raise MigrationFileError(path, [str(error)]) from None


# ---------------------------------------------------------------------------------------------------------------
# Validation


class _Reader:
    """Reads typed values out of the raw TOML tables, recording a problem instead of raising."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def table(
        self, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], *, required: bool = False
    ) -> dict[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1])
        if value is None or value == {}:
            if required:
                self.problem(key, f"missing table [{key}]")
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be a table [{key}], got {_describe(value)}")
            return {}
        self.unknown_keys(value, key, allowed)
        return value

    def unknown_keys(self, table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in table:
            if name not in allowed:
                self.problem(f"{key}.{name}", f"unknown key; allowed keys in [{key}]: {', '.join(allowed)}")

    def string(
        self,
        table: Mapping[str, Any],
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        allowed: tuple[str, ...] | None = None,
        expected: str = "",
        required: bool = False,
    ) -> str | None:
        value = table.get(path.rsplit(".", 1)[-1])
        if value is None:
            if required:
                self.problem(path, f"required; {expected or _one_of(allowed)}")
            return None
        if not isinstance(value, str):
            self.problem(path, f"must be a string ({expected or _one_of(allowed)}), got {_describe(value)}")
            return None
        if allowed is not None and value not in allowed:
            self.problem(path, f"{value!r} is not allowed; {_one_of(allowed)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(path, f"{value!r} is not valid; expected {expected}")
            return None
        return value

    def integer(self, table: Mapping[str, Any], path: str, low: int, high: int) -> int | None:
        value = table.get(path.rsplit(".", 1)[-1])
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}, got {_describe(value)}")
            return None
        return value

    def string_list(
        self,
        table: Mapping[str, Any],
        path: str,
        pattern: re.Pattern[str],
        expected: str,
        low: int,
        high: int,
    ) -> tuple[str, ...] | None:
        value = table.get(path.rsplit(".", 1)[-1])
        if value is None:
            return None
        count = mwaa_limits.accepted_range(low, high)
        if not isinstance(value, list) or not low <= len(value) <= high:
            self.problem(path, f"must be a list of {count} {expected}, got {_describe(value)}")
            return None
        bad = [item for item in value if not isinstance(item, str) or not pattern.fullmatch(item)]
        if bad:
            self.problem(path, f"{', '.join(repr(item) for item in bad)} not valid; expected {expected}")
            return None
        if len(set(value)) != len(value):
            self.problem(path, "must not repeat an ID")
            return None
        return tuple(value)


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"{type(value).__name__} {value!r}"


def _one_of(allowed: tuple[str, ...] | None) -> str:
    return "one of: " + ", ".join(allowed) if allowed else ""


SOURCE_KEYS = ("kind", "environment_name", "execution_role_arn", "region", "airflow_version", "snapshot")
TARGET_SCALAR_KEYS = (
    "environment_name",
    "airflow_version",
    "environment_class",
    "min_workers",
    "max_workers",
    "schedulers",
    "min_webservers",
    "max_webservers",
    "webserver_access_mode",
    "weekly_maintenance_window_start",
    "endpoint_management",
    "worker_replacement_strategy",
    "kms_key",
    "execution_role_arn",
    "source_bucket_arn",
    "dag_s3_path",
    "plugins_s3_path",
    "requirements_s3_path",
    "startup_script_s3_path",
    "drop_options",
    "execution_role_policy_arns",
)
TARGET_TABLES = ("network", "logging", "airflow_configuration_options", "tags")
NETWORK_KEYS = ("subnet_ids", "security_group_ids", "vpc_id")
MIGRATION_BUCKET_KEYS = ("retention_days",)
WORKFLOW_KEYS = ("dags", "requirements", "plugins", "startup_script", "allow_existing_bucket")
TOP_LEVEL_KEYS = ("source", "target", "migration_bucket", "workflows")
# Where a deployed file goes in the source bucket when the file doesn't name the target path.
DEFAULT_S3_PATHS = {
    "requirements": "requirements.txt",
    "plugins": "plugins.zip",
    "startup_script": "startup.sh",
}

NAME_RULE = "1 to 80 characters matching ^[a-zA-Z][0-9a-zA-Z_-]*$"
ROLE_ARN_RULE = "an IAM role ARN such as arn:aws:iam::111122223333:role/service-role/my-role"


def parse_migration(raw: Mapping[str, Any], path: Path) -> MigrationConfig:
    """Validate the raw TOML document as a whole; raise MigrationFileError listing every problem."""
    reader = _Reader()
    name = path.stem
    if not MIGRATION_NAME_RE.fullmatch(name):
        reader.problem(
            "file name",
            f"{name!r} must be 1 to 20 lowercase letters, digits or '-', starting with a letter "
            "(it prefixes the stack names and the migration bucket's name)",
        )
    reader.unknown_keys(raw, "(top level)", TOP_LEVEL_KEYS)

    source = _parse_source(reader, reader.table(raw, "source", SOURCE_KEYS, required=True), path)
    target = _parse_target(reader, reader.table(raw, "target", TARGET_SCALAR_KEYS + TARGET_TABLES, required=True))
    bucket_table = reader.table(raw, "migration_bucket", MIGRATION_BUCKET_KEYS)
    retention = reader.integer(bucket_table, "migration_bucket.retention_days", 1, 3650)
    migration_bucket = MigrationBucketConfig(retention_days=retention or MigrationBucketConfig.retention_days)
    workflows = _parse_workflows(reader, reader.table(raw, "workflows", WORKFLOW_KEYS), path.parent)

    if target is not None:
        _check_against_mwaa(reader, target, source.kind if source else None)
    if source is not None and target is not None:
        network_given = isinstance(raw.get("target"), dict) and "network" in raw["target"]
        _check_migration_rules(reader, source, target, network_given=network_given)
    if target is not None:
        _check_workflow_targets(reader, workflows, target)
        target = _with_deployed_paths(target, workflows)
    if reader.problems or source is None or target is None:
        raise MigrationFileError(path, reader.problems)
    return MigrationConfig(
        name=name, path=path, source=source, target=target, migration_bucket=migration_bucket, workflows=workflows
    )


def _parse_source(reader: _Reader, table: Mapping[str, Any], path: Path) -> SourceConfig | None:
    if not table:
        return None
    kind = reader.string(table, "source.kind", allowed=SOURCE_KINDS, required=True)
    if kind == "mwaa":
        for key in ("airflow_version",):
            if key in table:
                reader.problem(f"source.{key}", 'only for kind = "self-managed"; an MWAA source has its snapshot')
        source = SourceConfig(
            kind="mwaa",
            environment_name=reader.string(
                table,
                "source.environment_name",
                pattern=ENVIRONMENT_NAME_RE,
                expected=NAME_RULE,
                required=True,
            ),
            execution_role_arn=reader.string(
                table, "source.execution_role_arn", pattern=ROLE_ARN_RE, expected=ROLE_ARN_RULE, required=True
            ),
            region=reader.string(table, "source.region", pattern=REGION_RE, expected="an AWS region such as us-east-1"),
        )
        return _with_snapshot(reader, table, path, source)
    if kind == "self-managed":
        for key in ("environment_name", "execution_role_arn", "region", "snapshot"):
            if key in table:
                reader.problem(f"source.{key}", 'only for kind = "mwaa"; remove it for a self-managed source')
        version = reader.string(
            table,
            "source.airflow_version",
            pattern=AIRFLOW_VERSION_RE,
            expected="the Airflow version you run now, such as 1.10.12 or 2.5.1",
            required=True,
        )
        return SourceConfig(kind="self-managed", airflow_version=version)
    return None


def _with_snapshot(reader: _Reader, table: Mapping[str, Any], path: Path, source: SourceConfig) -> SourceConfig:
    """Read the source's committed snapshot; its ARN gives the source's region and account."""
    named = reader.string(table, "source.snapshot", expected="a path to the saved GetEnvironment output")
    if named is not None and Path(named).is_absolute():
        reader.problem("source.snapshot", f"{named!r} must be relative to the migration file, so it works in any clone")
        return source
    location = (path.parent / named).resolve() if named else snapshot.default_snapshot_path(path)
    if source.environment_name is None:
        return source
    try:
        environment = snapshot.read_snapshot(
            location, environment_name=source.environment_name, migration_name=path.stem
        )
    except snapshot.SnapshotError as error:
        reader.problem("source.snapshot", str(error))
        return source
    region, account = snapshot.arn_region_and_account(environment)
    if source.region is not None and source.region != region:
        reader.problem("source.region", f"{source.region!r}, but the snapshot's environment is in {region}")
    if source.account is not None and source.account != account:
        reader.problem(
            "source.execution_role_arn",
            f"is in account {source.account}, but the snapshot's environment is in {account}; the old role is the "
            "old environment's execution role",
        )
    return replace(source, region=region, snapshot=location, environment=environment)


def _parse_target(reader: _Reader, table: Mapping[str, Any]) -> TargetConfig | None:
    if not table:
        return None
    s = reader.string
    name = s(table, "target.environment_name", pattern=ENVIRONMENT_NAME_RE, expected=NAME_RULE, required=True)
    version = s(table, "target.airflow_version", allowed=MWAA_TARGET_VERSIONS, required=True)

    def relative_path(key: str, suffix: str) -> str | None:
        expected = f"a path inside the bucket ending in {suffix}, without a leading '/'"
        value = s(table, f"target.{key}", pattern=S3_RELATIVE_PATH_RE, expected=expected)
        if value is not None and (value.startswith("/") or not value.endswith(suffix)):
            reader.problem(f"target.{key}", f"{value!r} is not valid; expected {expected}")
            return None
        return value

    dag_s3_path = s(
        table,
        "target.dag_s3_path",
        pattern=S3_RELATIVE_PATH_RE,
        expected="a folder inside the bucket, such as dags",
    )
    if dag_s3_path is not None and dag_s3_path.startswith("/"):
        reader.problem("target.dag_s3_path", f"{dag_s3_path!r} must not start with '/'")
        dag_s3_path = None

    config = TargetConfig(
        environment_name=name or "",
        airflow_version=version or "",
        environment_class=s(table, "target.environment_class", allowed=ENVIRONMENT_CLASSES),
        min_workers=reader.integer(table, "target.min_workers", 1, MAX_WORKERS_LIMIT),
        max_workers=reader.integer(table, "target.max_workers", 1, MAX_WORKERS_LIMIT),
        schedulers=reader.integer(table, "target.schedulers", 1, MAX_SCHEDULERS),
        min_webservers=reader.integer(table, "target.min_webservers", 1, MAX_WEBSERVERS),
        max_webservers=reader.integer(table, "target.max_webservers", 1, MAX_WEBSERVERS),
        webserver_access_mode=s(table, "target.webserver_access_mode", allowed=WEBSERVER_ACCESS_MODES),
        weekly_maintenance_window_start=s(
            table,
            "target.weekly_maintenance_window_start",
            pattern=mwaa_limits.MAINTENANCE_WINDOW_RE,
            expected="DAY:HH:MM in UTC, DAY one of MON..SUN, HH 00-23, MM 00 or 30, such as SUN:03:30",
        ),
        endpoint_management=s(table, "target.endpoint_management", allowed=ENDPOINT_MANAGEMENT),
        worker_replacement_strategy=s(
            table, "target.worker_replacement_strategy", allowed=WORKER_REPLACEMENT_STRATEGIES
        ),
        kms_key=_kms_key(reader, table),
        execution_role_arn=s(table, "target.execution_role_arn", pattern=ROLE_ARN_RE, expected=ROLE_ARN_RULE),
        source_bucket_arn=s(
            table,
            "target.source_bucket_arn",
            pattern=BUCKET_ARN_RE,
            expected="an S3 bucket ARN such as arn:aws:s3:::my-bucket",
        ),
        dag_s3_path=dag_s3_path or "dags",
        plugins_s3_path=relative_path("plugins_s3_path", ".zip"),
        requirements_s3_path=relative_path("requirements_s3_path", ".txt"),
        startup_script_s3_path=relative_path("startup_script_s3_path", ".sh"),
        network=_parse_network(reader, reader.table(table, "target.network", NETWORK_KEYS)),
        logging=_parse_logging(reader, reader.table(table, "target.logging", LOG_MODULES)),
        airflow_configuration_options=_parse_options(reader, table.get("airflow_configuration_options")),
        tags=_parse_tags(reader, table.get("tags")),
        drop_options=reader.string_list(
            table, "target.drop_options", OPTION_NAME_RE, "option names such as smtp.smtp_password", 1, 500
        )
        or (),
        execution_role_policy_arns=reader.string_list(
            table,
            "target.execution_role_policy_arns",
            POLICY_ARN_RE,
            "managed policy ARNs such as arn:aws:iam::111122223333:policy/dag-access",
            1,
            MAX_EXTRA_POLICIES,
        )
        or (),
    )
    return config if name and version else None


def _kms_key(reader: _Reader, table: Mapping[str, Any]) -> str | None:
    value = reader.string(
        table,
        "target.kms_key",
        expected=f"a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<uuid> (an alias can't scope an "
        f"IAM policy), or {mwaa_limits.AWS_OWNED_KEY!r}",
    )
    if value is None or value == mwaa_limits.AWS_OWNED_KEY or KMS_KEY_ARN_RE.fullmatch(value):
        return value
    reader.problem(
        "target.kms_key",
        f"{value!r} is not valid; expected a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<uuid> "
        f"(an alias can't scope an IAM policy), or {mwaa_limits.AWS_OWNED_KEY!r}",
    )
    return None


def _parse_network(reader: _Reader, table: Mapping[str, Any]) -> NetworkConfig | None:
    if not table:
        return None
    subnets = reader.string_list(
        table,
        "target.network.subnet_ids",
        SUBNET_RE,
        "private subnet IDs (subnet-...) in two Availability Zones",
        2,
        2,
    )
    if subnets is None and "subnet_ids" not in table:
        reader.problem("target.network.subnet_ids", "required in [target.network]: exactly 2 private subnet IDs")
    groups = reader.string_list(
        table, "target.network.security_group_ids", SECURITY_GROUP_RE, "security group IDs (sg-...)", 1, 5
    )
    vpc_id = reader.string(
        table, "target.network.vpc_id", pattern=VPC_RE, expected="a VPC ID such as vpc-0123456789abcdef0"
    )
    if groups and vpc_id:
        reader.problem("target.network.vpc_id", "only used to create a security group; remove it or security_group_ids")
    if "security_group_ids" not in table and "vpc_id" not in table:
        reader.problem(
            "target.network.vpc_id",
            "required when security_group_ids is omitted: the app creates a security group in this VPC",
        )
    if subnets is None:
        return None
    return NetworkConfig(subnet_ids=subnets, security_group_ids=groups or (), vpc_id=vpc_id)


def _parse_logging(reader: _Reader, table: Mapping[str, Any]) -> dict[str, str]:
    levels: dict[str, str] = {}
    for module in LOG_MODULES:
        value = reader.string(table, f"target.logging.{module}", allowed=LOG_SETTINGS)
        if value is not None:
            levels[module] = value
    return levels


def _string_map(
    reader: _Reader, raw: object, path: str, problem_of: Callable[[str, str], str | None]
) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.problem(path, f"must be a table [{path}], got {_describe(raw)}")
        return {}
    result: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            # A dotted bare key (core.x = ...) parses as a nested table; MWAA wants the quoted "core.x" form.
            reader.problem(f"{path}.{key}", f'must be a string; quote dotted keys, like "{key}.option" = "value"')
            continue
        if not isinstance(value, str):
            reader.problem(f'{path}."{key}"', f'must be a string (quote it: "{value}"), got {_describe(value)}')
            continue
        problem = problem_of(key, value)
        if problem:
            reader.problem(f'{path}."{key}"', problem)
        else:
            result[key] = value
    return result


def _option_problem(key: str, value: str) -> str | None:
    problem = mwaa_limits.option_problem(key, value)
    if problem is None and "." not in key:
        return "the key must be lowercase section.option, with the section"
    return problem


def _parse_options(reader: _Reader, raw: object) -> dict[str, str]:
    return _string_map(reader, raw, "target.airflow_configuration_options", _option_problem)


def _parse_tags(reader: _Reader, raw: object) -> dict[str, str]:
    tags = _string_map(reader, raw, "target.tags", mwaa_limits.tag_problem)
    # One tag is reserved for the app's own marker on the environment.
    if len(tags) > MAX_TAGS - 1:
        reader.problem("target.tags", f"at most {MAX_TAGS - 1} tags (MWAA allows {MAX_TAGS}; the app adds one)")
    return tags


SIZING_KEYS = {
    "min_workers": "MinWorkers",
    "max_workers": "MaxWorkers",
    "schedulers": "Schedulers",
    "min_webservers": "MinWebservers",
    "max_webservers": "MaxWebservers",
}


def _check_against_mwaa(reader: _Reader, target: TargetConfig, source_kind: SourceKind | None) -> None:
    for low_key, high_key in (("min_workers", "max_workers"), ("min_webservers", "max_webservers")):
        low, high = getattr(target, low_key), getattr(target, high_key)
        if low is not None and high is not None and low > high:
            reader.problem(f"target.{low_key}", f"{low} is more than target.{high_key} = {high}; min must be <= max")
    mode = target.webserver_access_mode
    if mode is not None and target.airflow_version in MWAA_TARGET_VERSIONS:
        problem = mwaa_limits.access_mode_problem(mode, target.airflow_version)
        if problem:
            reader.problem("target.webserver_access_mode", problem)
    # Counts depend on the class; an MWAA source's class is only known at deploy time unless the file sets it.
    environment_class = target.environment_class
    if environment_class is None and source_kind == "self-managed":
        environment_class = mwaa_limits.DEFAULT_ENVIRONMENT_CLASS
    if environment_class is None or target.airflow_version not in MWAA_TARGET_VERSIONS:
        return
    bounds = clone_rules.sizing_bounds(environment_class, target.airflow_version)
    for key, field_name in SIZING_KEYS.items():
        value = getattr(target, key)
        low, high = bounds[field_name]
        if value is None or (value >= low and (high is None or value <= high)):
            continue
        accepted = mwaa_limits.accepted_range(low, high)
        reader.problem(
            f"target.{key}", f"{environment_class} on Airflow {target.airflow_version} accepts {accepted}; got {value}"
        )


def _check_migration_rules(reader: _Reader, source: SourceConfig, target: TargetConfig, *, network_given: bool) -> None:
    if source.kind == "mwaa" and source.environment_name == target.environment_name and not network_given:
        reader.problem(
            "target.environment_name",
            f"{target.environment_name!r} is the source's name, and the cloned network keeps the new environment in "
            f"the source's region {source.region}, where MWAA names are unique: pick a new name (such as the old "
            "name with a version suffix), or set [target.network] to deploy into another region",
        )
    if target.drop_options and source.kind != "mwaa":
        reader.problem("target.drop_options", "only for an MWAA source, whose options are cloned")
    if target.execution_role_policy_arns and target.execution_role_arn is not None:
        reader.problem(
            "target.execution_role_policy_arns",
            "only for a role the stack creates; attach the policies to target.execution_role_arn yourself",
        )
    if source.kind == "self-managed":
        if not network_given:
            reader.problem(
                "target.network",
                "required for a self-managed source (there is no MWAA environment to copy it from): "
                "subnet_ids, and security_group_ids or vpc_id",
            )
        if (
            source.airflow_version
            and target.airflow_version
            and version_key(target.airflow_version) < version_key(source.airflow_version)
        ):
            newer = [v for v in MWAA_TARGET_VERSIONS if version_key(v) >= version_key(source.airflow_version)]
            reader.problem(
                "target.airflow_version",
                f"{target.airflow_version} is older than the source's {source.airflow_version}; Airflow's metadata "
                "can't be moved to an older version. "
                + (f"Pick one of: {', '.join(newer)}" if newer else "MWAA offers no version that new yet"),
            )


def _parse_workflows(reader: _Reader, table: Mapping[str, Any], base: Path) -> WorkflowsConfig:
    def local_path(key: str, kind: str, accepts: Callable[[Path], bool]) -> Path | None:
        value = reader.string(table, f"workflows.{key}", expected=f"a path to {kind}, relative to the migration file")
        if value is None:
            return None
        if Path(value).is_absolute():
            reader.problem(
                f"workflows.{key}", f"{value!r} must be relative to the migration file, so it works in any clone"
            )
            return None
        resolved = (base / value).resolve()
        if not accepts(resolved):
            reader.problem(f"workflows.{key}", f"{value!r} is not {kind} (looked for {resolved})")
            return None
        return resolved

    allow = table.get("allow_existing_bucket", False)
    if not isinstance(allow, bool):
        reader.problem("workflows.allow_existing_bucket", f"must be true or false, got {_describe(allow)}")
        allow = False
    return WorkflowsConfig(
        dags=local_path("dags", "a DAG folder", Path.is_dir),
        requirements=local_path("requirements", "a requirements file", Path.is_file),
        plugins=local_path(
            "plugins",
            "a plugins folder or a .zip file",
            lambda found: found.is_dir() or (found.is_file() and found.suffix == ".zip"),
        ),
        startup_script=local_path("startup_script", "a startup script file", Path.is_file),
        allow_existing_bucket=allow,
    )


def _check_workflow_targets(reader: _Reader, workflows: WorkflowsConfig, target: TargetConfig) -> None:
    deployed = [key for key in ("dags", *DEFAULT_S3_PATHS) if getattr(workflows, key) is not None]
    if target.source_bucket_arn is not None and deployed and not workflows.allow_existing_bucket:
        effect = "overwrites those objects"
        if workflows.dags is not None:
            effect += f" and deletes every object under {target.dag_prefix!r} that workflows.dags does not have"
        reader.problem(
            "workflows",
            f"target.source_bucket_arn names an existing bucket, and deploying {', '.join(deployed)} there "
            f"{effect}; set workflows.allow_existing_bucket = true to accept that, or remove "
            "target.source_bucket_arn to deploy into a bucket the stack creates",
        )
    if workflows.allow_existing_bucket and target.source_bucket_arn is None:
        reader.problem(
            "workflows.allow_existing_bucket",
            "only with target.source_bucket_arn; without it the workflows go to a bucket the stack creates",
        )
    if target.source_bucket_arn is None:
        for key, default in DEFAULT_S3_PATHS.items():
            named = getattr(target, f"{key}_s3_path")
            if named is not None and getattr(workflows, key) is None:
                reader.problem(
                    f"target.{key}_s3_path",
                    f"{named!r} would be in the bucket the stack creates, where nothing writes it, and the "
                    f"environment would fail to find it: set workflows.{key} to deploy a file there (default path "
                    f"{default}), or remove target.{key}_s3_path",
                )
    if workflows.dags is None:
        return
    prefix = target.dag_prefix
    for key in DEFAULT_S3_PATHS:
        s3_path = getattr(target, f"{key}_s3_path") or DEFAULT_S3_PATHS[key]
        if getattr(workflows, key) is not None and s3_path.startswith(prefix):
            reader.problem(
                f"target.{key}_s3_path",
                f"{s3_path!r} is under target.dag_s3_path {prefix!r}, where deploying workflows.dags deletes what "
                "the DAG folder does not have; put it outside that folder",
            )


def _with_deployed_paths(target: TargetConfig, workflows: WorkflowsConfig) -> TargetConfig:
    """A deployed file's S3 path: the one the file names, else the default; the environment is given it."""

    def path(key: str) -> str | None:
        named: str | None = getattr(target, f"{key}_s3_path")
        return named or (DEFAULT_S3_PATHS[key] if getattr(workflows, key) is not None else None)

    return replace(
        target,
        requirements_s3_path=path("requirements"),
        plugins_s3_path=path("plugins"),
        startup_script_s3_path=path("startup_script"),
    )
