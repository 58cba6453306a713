"""The migration file's schema as pydantic models: strict types, unknown keys forbidden.

Each constrained value is checked by a validator that raises the message the user reads (migration_reader adds
the key path), so pydantic's own wording never reaches them. Problems that belong to an entry of a map or to a
whole table (what a source kind requires, a network's security group or VPC) go to the validation context, so they
are reported together with the field problems, all at once. The same models give `migration.schema.json`, which
editors use to validate and complete the file. Checks across tables stay in migration_reader, on the validated
model."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from mwaa_clone import mwaa_limits
from mwaa_migration.airflow_versions import MWAA_TARGET_VERSIONS

ROLE_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+$")
BUCKET_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:s3:::[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
KMS_KEY_ARN_RE = re.compile(
    r"^arn:aws(-[a-z]+)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
KMS_KEY_OR_OWNED_RE = re.compile(f"^({KMS_KEY_ARN_RE.pattern[1:-1]}|{mwaa_limits.AWS_OWNED_KEY})$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SUBNET_RE = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_RE = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
VPC_RE = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
AIRFLOW_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
ENVIRONMENT_NAME_RE = re.compile(f"^{mwaa_limits.ENVIRONMENT_NAME_RE.pattern}$")
WINDOW_RE = re.compile(f"^{mwaa_limits.MAINTENANCE_WINDOW_RE.pattern}$")
S3_RELATIVE_PATH_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)?:iam::(\d{12}|aws):policy/[a-zA-Z_0-9+=,.@\-/]+$")
OPTION_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9._]*[a-z0-9_]$")

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "migration.schema.json"
NAME_RULE = "1 to 80 characters matching ^[a-zA-Z][0-9a-zA-Z_-]*$"
ROLE_ARN_RULE = "an IAM role ARN such as arn:aws:iam::111122223333:role/service-role/my-role"
KMS_KEY_RULE = (
    "a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<uuid> (an alias can't scope an IAM policy), "
    f"or {mwaa_limits.AWS_OWNED_KEY!r}"
)
WINDOW_RULE = "DAY:HH:MM in UTC, DAY one of MON..SUN, HH 00-23, MM 00 or 30, such as SUN:03:30"
LOG_SETTINGS = ("DISABLED", *mwaa_limits.LOG_LEVELS)
WORKER_REPLACEMENT_STRATEGIES = ("FORCED", "GRACEFUL")
# The worker maximum is a service quota, 25 by default; larger values need a quota increase first.
MAX_WORKERS_LIMIT = 25
# A role may have 10 managed policies attached by default; the app attaches two of its own.
MAX_EXTRA_POLICIES = 8
# One tag is reserved for the app's own marker on the environment.
MAX_FILE_TAGS = mwaa_limits.MAX_TAGS - 1


def problem(message: str, key: str = "") -> PydanticCustomError:
    """A problem with the value at this location; `key` names an entry under it (a quoted option name)."""
    return PydanticCustomError("migration_file", "{message}", {"message": message, "key": key})


def add_problem(info: ValidationInfo, path: str, message: str) -> None:
    """A problem found while validating a table, reported with the field problems (migration_reader collects them)."""
    if isinstance(info.context, dict):
        info.context.setdefault("problems", []).append(f"{path}: {message}")


def describe(value: object) -> str:
    """A value as the messages show it: its TOML type and, for scalars, the value."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, datetime.date | datetime.time):
        return f"a TOML {type(value).__name__} {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def one_of(allowed: tuple[str, ...]) -> str:
    return "one of: " + ", ".join(allowed)


# --- value types: each checks its value and says what is allowed ---------------------------------------------


def _text_check(expected: str, pattern: re.Pattern[str] | None, allowed: tuple[str, ...]) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, str):
            raise problem(f"must be a string ({expected}), got {describe(value)}")
        if allowed and value not in allowed:
            raise problem(f"{value!r} is not allowed; {expected}")
        if pattern is not None and not pattern.fullmatch(value):
            raise problem(f"{value!r} is not valid; expected {expected}")
        return value

    return check


def _text(expected: str, *, pattern: re.Pattern[str] | None = None, allowed: tuple[str, ...] = ()) -> Any:
    schema: dict[str, Any] = {"enum": list(allowed)} if allowed else {"pattern": pattern.pattern if pattern else ".*"}
    check = _text_check(expected, pattern, allowed)
    return Annotated[str, BeforeValidator(check), Field(description=expected, json_schema_extra=schema)]


def _choice(allowed: tuple[str, ...]) -> Any:
    return _text(one_of(allowed), allowed=allowed)


def _whole(low: int, high: int) -> Any:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise problem(f"must be a whole number from {low} to {high}, got {describe(value)}")
        return value

    schema: dict[str, Any] = {"minimum": low, "maximum": high}
    return Annotated[int, BeforeValidator(check), Field(description=f"{low} to {high}", json_schema_extra=schema)]


def _list(
    pattern: re.Pattern[str], expected: str, low: int, high: int, *, unique: str = "must not repeat an ID"
) -> Any:
    count = mwaa_limits.accepted_range(low, high)

    def check(value: object) -> object:
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise problem(f"must be a list of {count} {expected}, got {describe(value)}")
        bad = [item for item in value if not isinstance(item, str) or not pattern.fullmatch(item)]
        if bad:
            raise problem(f"{', '.join(repr(item) for item in bad)} not valid; expected {expected}")
        if len(set(value)) != len(value):
            raise problem(unique)
        return tuple(value)

    items: dict[str, Any] = {"type": "string", "pattern": pattern.pattern}
    extra: dict[str, Any] = {"uniqueItems": True, "items": items, "type": "array", "minItems": low, "maxItems": high}
    description = f"{count} {expected}"
    return Annotated[tuple[str, ...], BeforeValidator(check), Field(description=description, json_schema_extra=extra)]


def _string_map(
    path: str, problem_of: Callable[[str, str], str | None], description: str, schema: dict[str, Any]
) -> Any:
    """Strings to strings; a bad entry is reported under its quoted key and left out, the others checked too."""

    def check(value: object, info: ValidationInfo) -> object:
        if not isinstance(value, dict):
            raise problem(f"must be a table [{path}], got {describe(value)}")
        kept = {}
        for key, item in value.items():
            if isinstance(item, dict):
                # A dotted bare key (core.x = ...) parses as a nested table; MWAA wants the quoted "core.x" form.
                add_problem(
                    info, f"{path}.{key}", f'must be a string; quote dotted keys, like "{key}.option" = "value"'
                )
            elif not isinstance(item, str):
                shown = str(item).lower() if isinstance(item, bool) else item  # as TOML writes it
                add_problem(info, f'{path}."{key}"', f'must be a string (quote it: "{shown}"), got {describe(item)}')
            elif message := problem_of(key, item):
                add_problem(info, f'{path}."{key}"', message)
            else:
                kept[key] = item
        return kept

    return Annotated[dict[str, str], BeforeValidator(check), Field(description=description, json_schema_extra=schema)]


def _option_problem(key: str, value: str) -> str | None:
    found = mwaa_limits.option_problem(key, value)
    if found is None and "." not in key:
        return "the key must be lowercase section.option, with the section"
    return found


RoleArn = _text(ROLE_ARN_RULE, pattern=ROLE_ARN_RE)
_FOLDER_RULE = "a folder inside the bucket, such as dags"


def _dag_path(value: object) -> object:
    if isinstance(value, str) and value.startswith("/"):
        raise problem(f"{value!r} must not start with '/'")
    return _text_check(_FOLDER_RULE, S3_RELATIVE_PATH_RE, ())(value)


DagPath = Annotated[
    str,
    BeforeValidator(_dag_path),
    Field(
        description=_FOLDER_RULE + ", without a leading '/'",
        json_schema_extra={"pattern": "^(?!/)" + S3_RELATIVE_PATH_RE.pattern[1:]},
    ),
]
EnvironmentName = _text(NAME_RULE, pattern=ENVIRONMENT_NAME_RE)
Region = _text("an AWS region such as us-east-1", pattern=REGION_RE)
RelativeFile = _text("a path relative to the migration file", pattern=re.compile(r"^[^\x00]+$"))
LogSetting = _choice(LOG_SETTINGS)


def _s3_file(suffix: str) -> Any:
    expected = f"a path inside the bucket ending in {suffix}, without a leading '/'"
    return _text(expected, pattern=re.compile(rf"^(?!/)[A-Za-z0-9!_.*'()/-]*{re.escape(suffix)}$"))


class Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- [source] -----------------------------------------------------------------------------------------------------


class Source(Table):
    """The workload being migrated."""

    kind: _choice(("mwaa", "self-managed"))  # type: ignore[valid-type]
    environment_name: EnvironmentName = None  # type: ignore[valid-type]
    execution_role_arn: RoleArn = None  # type: ignore[valid-type]
    region: Region = None  # type: ignore[valid-type]
    airflow_version: _text(  # type: ignore[valid-type]
        "the Airflow version you run now, such as 1.10.12 or 2.5.1", pattern=AIRFLOW_VERSION_RE
    ) = None
    snapshot: RelativeFile = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _by_kind(cls, data: Any, info: ValidationInfo) -> Any:
        """What each kind of source requires and refuses."""
        if not isinstance(data, dict) or data.get("kind") not in ("mwaa", "self-managed"):
            return data
        mwaa = data["kind"] == "mwaa"
        required = ("environment_name", "execution_role_arn") if mwaa else ("airflow_version",)
        refused = ("airflow_version",) if mwaa else ("environment_name", "execution_role_arn", "region", "snapshot")
        why = (
            'only for kind = "self-managed"; an MWAA source has its snapshot'
            if mwaa
            else 'only for kind = "mwaa"; remove it for a self-managed source'
        )
        for key in required:
            if key not in data:
                add_problem(info, f"source.{key}", f"required; {cls.model_fields[key].description}")
        for key in refused:
            if key in data:
                add_problem(info, f"source.{key}", why)
        return data


# --- [target] -----------------------------------------------------------------------------------------------------


class Network(Table):
    """The new environment's network: exactly 2 private subnets, and security groups or a VPC to create one in."""

    subnet_ids: _list(SUBNET_RE, "private subnet IDs (subnet-...) in two Availability Zones", 2, 2)  # type: ignore[valid-type]
    security_group_ids: _list(SECURITY_GROUP_RE, "security group IDs (sg-...)", 1, 5) = ()  # type: ignore[valid-type]
    vpc_id: _text("a VPC ID such as vpc-0123456789abcdef0", pattern=VPC_RE) = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _groups_or_vpc(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        if "security_group_ids" in data and "vpc_id" in data:
            add_problem(
                info, "target.network.vpc_id", "only used to create a security group; remove it or security_group_ids"
            )
        if "security_group_ids" not in data and "vpc_id" not in data:
            add_problem(
                info,
                "target.network.vpc_id",
                "required when security_group_ids is omitted: the app creates a security group in this VPC",
            )
        return data


BucketArn = _text("an S3 bucket ARN such as arn:aws:s3:::my-bucket", pattern=BUCKET_ARN_RE)
DropOptions = _list(
    OPTION_NAME_RE, "option names such as smtp.smtp_password", 1, 500, unique="must not repeat an option"
)
PolicyArns = _list(
    POLICY_ARN_RE,
    "managed policy ARNs such as arn:aws:iam::111122223333:policy/dag-access",
    1,
    MAX_EXTRA_POLICIES,
    unique="must not repeat a policy",
)
# What an editor can check of each entry; the validators above say the same in the file's words.
_OPTIONS_SCHEMA: dict[str, Any] = {
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*\\.[a-z0-9._]*[a-z0-9_]$", "maxLength": mwaa_limits.CONFIG_KEY_MAX},
    "additionalProperties": {"type": "string", "pattern": "^[ -~]+$", "maxLength": mwaa_limits.CONFIG_VALUE_MAX},
}
_TAGS_SCHEMA: dict[str, Any] = {
    "propertyNames": {"minLength": 1, "maxLength": mwaa_limits.TAG_KEY_MAX, "not": {"pattern": "^[aA][wW][sS]:"}},
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": mwaa_limits.TAG_VALUE_MAX},
    "maxProperties": MAX_FILE_TAGS,
}
Options = _string_map(
    "target.airflow_configuration_options",
    _option_problem,
    '"section.option" = "value": merged over the cloned, translated options',
    _OPTIONS_SCHEMA,
)
Tags = _string_map(
    "target.tags",
    mwaa_limits.tag_problem,
    "merged over the cloned tags; the app adds mwaa-migration = <name>",
    _TAGS_SCHEMA,
)


class Logging(Table):
    """Each Airflow module's log level in CloudWatch, or DISABLED."""

    dag_processing: LogSetting = None  # type: ignore[valid-type]
    scheduler: LogSetting = None  # type: ignore[valid-type]
    task: LogSetting = None  # type: ignore[valid-type]
    webserver: LogSetting = None  # type: ignore[valid-type]
    worker: LogSetting = None  # type: ignore[valid-type]


class Target(Table):
    """The new MWAA environment. What is left out is cloned from the source's snapshot, or MWAA's default."""

    environment_name: EnvironmentName  # type: ignore[valid-type]
    airflow_version: _choice(MWAA_TARGET_VERSIONS)  # type: ignore[valid-type]
    environment_class: _choice(mwaa_limits.ENVIRONMENT_CLASSES) = None  # type: ignore[valid-type]
    min_workers: _whole(1, MAX_WORKERS_LIMIT) = None  # type: ignore[valid-type]
    max_workers: _whole(1, MAX_WORKERS_LIMIT) = None  # type: ignore[valid-type]
    schedulers: _whole(1, mwaa_limits.MAX_SCHEDULERS) = None  # type: ignore[valid-type]
    min_webservers: _whole(1, mwaa_limits.MAX_WEBSERVERS) = None  # type: ignore[valid-type]
    max_webservers: _whole(1, mwaa_limits.MAX_WEBSERVERS) = None  # type: ignore[valid-type]
    webserver_access_mode: _choice(mwaa_limits.WEBSERVER_ACCESS_MODES) = None  # type: ignore[valid-type]
    weekly_maintenance_window_start: _text(WINDOW_RULE, pattern=WINDOW_RE) = None  # type: ignore[valid-type]
    endpoint_management: _choice(mwaa_limits.ENDPOINT_MANAGEMENT) = None  # type: ignore[valid-type]
    worker_replacement_strategy: _choice(WORKER_REPLACEMENT_STRATEGIES) = None  # type: ignore[valid-type]
    kms_key: _text(KMS_KEY_RULE, pattern=KMS_KEY_OR_OWNED_RE) = None  # type: ignore[valid-type]
    execution_role_arn: RoleArn = None  # type: ignore[valid-type]
    source_bucket_arn: BucketArn = None  # type: ignore[valid-type]
    dag_s3_path: DagPath = "dags"
    plugins_s3_path: _s3_file(".zip") = None  # type: ignore[valid-type]
    requirements_s3_path: _s3_file(".txt") = None  # type: ignore[valid-type]
    startup_script_s3_path: _s3_file(".sh") = None  # type: ignore[valid-type]
    drop_options: DropOptions = ()  # type: ignore[valid-type]
    execution_role_policy_arns: PolicyArns = ()  # type: ignore[valid-type]
    network: Network = None  # type: ignore[assignment] # a default is never validated: None means not set
    logging: Logging = Field(default_factory=Logging)
    airflow_configuration_options: Options = {}  # type: ignore[valid-type]
    tags: Tags = {}  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _tag_count(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tags"), dict) and len(data["tags"]) > MAX_FILE_TAGS:
            add_problem(
                info,
                "target.tags",
                f"at most {MAX_FILE_TAGS} tags (MWAA allows {mwaa_limits.MAX_TAGS}; the app adds one)",
            )
        return data


# --- [migration_bucket], [workflows] and the file ---------------------------------------------------------------


class MigrationBucket(Table):
    """The encrypted bucket the metadata export is written to."""

    retention_days: _whole(1, 3650) = 30  # type: ignore[valid-type]


def _local(kind: str) -> Any:
    # Absolute paths pass here so that migration_reader can say why they are refused.
    return _text(f"a path to {kind}, relative to the migration file", pattern=re.compile(r"^[^\x00]+$"))


class Workflows(Table):
    """Files deployed into the new environment's source bucket, checked for the target version first."""

    dags: _local("a DAG folder") = None  # type: ignore[valid-type]
    requirements: _local("a requirements file") = None  # type: ignore[valid-type]
    plugins: _local("a plugins folder or a .zip file") = None  # type: ignore[valid-type]
    startup_script: _local("a startup script file") = None  # type: ignore[valid-type]
    allow_existing_bucket: Annotated[
        bool,
        Field(description="deploy into target.source_bucket_arn: overwrites the deployed keys, prunes the DAG path"),
    ] = False


class Export(Table):
    """The metadata export (guide step 3)."""

    deploy_dag: Annotated[
        bool,
        Field(description="MWAA source: put the export DAG into the old environment's DAG folder (one file)"),
    ] = True


class MigrationFile(Table):
    """One migration: an Airflow workload moved to a new Amazon MWAA environment (mwaa-migration)."""

    source: Source
    target: Target
    migration_bucket: MigrationBucket = Field(default_factory=MigrationBucket)
    workflows: Workflows = Field(default_factory=Workflows)
    export: Export = Field(default_factory=Export)

    @model_validator(mode="before")
    @classmethod
    def _empty_tables_are_missing(cls, data: Any) -> Any:
        # `[source]` with nothing under it is as good as no table: say which keys it needs.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (key in ("source", "target") and value == {})}
        return data


TABLE_MODELS: dict[str, type[Table]] = {
    "(top level)": MigrationFile,
    "source": Source,
    "target": Target,
    "target.network": Network,
    "target.logging": Logging,
    "migration_bucket": MigrationBucket,
    "workflows": Workflows,
    "export": Export,
}


def json_schema() -> dict[str, Any]:
    """The file's JSON schema, for editors (`#:schema` at the top of a migration file)."""
    schema = _without_null_defaults(MigrationFile.model_json_schema(mode="validation"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "mwaa-migration file"}


def _without_null_defaults(node: Any) -> Any:
    # TOML has no null: an optional key is one left out, and a "default": null would only confuse an editor.
    if isinstance(node, dict):
        return {key: _without_null_defaults(value) for key, value in node.items() if (key, value) != ("default", None)}
    if isinstance(node, list):
        return [_without_null_defaults(item) for item in node]
    return node


def render_schema() -> str:
    """migration.schema.json as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema() -> None:
    """`make schema`: the committed file from the models; a test checks it is current."""
    SCHEMA_FILE.write_text(render_schema(), encoding="utf-8")
