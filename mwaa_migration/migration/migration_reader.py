"""Reads one migration file's TOML document into its configuration, or every problem in it at once.

The schema (migration_file) checks each value; its errors become one line each, `key.path: message`, with the
allowed values, "did you mean" for a misspelt key and the required keys of a missing table. Then what spans tables:
counts against the environment class, the source kind against the network, workflow paths against the bucket,
and the source snapshot. Nothing here touches AWS.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mwaa_clone import clone_rules, mwaa_limits
from mwaa_migration.airflow_versions import MWAA_TARGET_VERSIONS, version_key
from mwaa_migration.migration import migration_file as schema
from mwaa_migration.migration import snapshot
from mwaa_migration.migration.migration_config import (
    DEFAULT_S3_PATHS,
    MIGRATIONS_DIR,
    ExportConfig,
    MigrationBucketConfig,
    MigrationConfig,
    MigrationFileError,
    NetworkConfig,
    SourceConfig,
    TargetConfig,
    WorkflowsConfig,
)

# The name prefixes stack names and the migration bucket's name, which S3 limits to 63 lowercase characters.
MIGRATION_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
TABLES: dict[str, type[BaseModel]] = {
    "source": schema.Source,
    "target": schema.Target,
    "migration_bucket": schema.MigrationBucket,
    "workflows": schema.Workflows,
    "export": schema.Export,
}
# What a missing key or table must be, where the schema's description alone would say less.
REQUIRED = {
    "source": "kind, then environment_name and execution_role_arn (mwaa) or airflow_version (self-managed)",
    "target": "environment_name and airflow_version",
    "source.kind": schema.one_of(("mwaa", "self-managed")),
    "target.airflow_version": schema.one_of(MWAA_TARGET_VERSIONS),
    "target.network.subnet_ids": "exactly 2 private subnet IDs",
}
SIZING_KEYS = {
    "min_workers": "MinWorkers",
    "max_workers": "MaxWorkers",
    "schedulers": "Schedulers",
    "min_webservers": "MinWebservers",
    "max_webservers": "MaxWebservers",
}


def parse_migration(
    raw: Mapping[str, Any], path: Path, *, source_document: Mapping[str, Any] | None = None
) -> MigrationConfig:
    """Validate the raw TOML document as a whole; raise MigrationFileError listing every problem.
    `source_document`: a GetEnvironment output to clone instead of the committed snapshot (plan.py --source)."""
    problems: list[str] = []
    name = path.stem
    if not MIGRATION_NAME_RE.fullmatch(name):
        problems.append(
            f"file name: {name!r} must be 1 to 20 lowercase letters, digits or '-', starting with a letter "
            "(it prefixes the stack names and the migration bucket's name)"
        )
    context: dict[str, list[str]] = {"problems": []}
    try:
        document = schema.MigrationFile.model_validate(raw, context=context)
    except ValidationError as error:
        problems += [message(detail) for detail in error.errors()]
        tables = _valid_tables(raw)
    else:
        tables = {name: getattr(document, name) for name in TABLES}
    problems += context["problems"]

    source = _source(tables.get("source"), path, problems, source_document)
    target = _target(tables.get("target"))
    before = len(problems)
    workflows = _workflows(tables.get("workflows"), path.parent, problems)
    # A workflow path that is wrong was reported: checking where the files go would only add false problems.
    workflows_known = "workflows" in tables and len(problems) == before
    bucket = tables.get("migration_bucket")
    export = tables.get("export")
    explicit = isinstance(export, schema.Export) and "deploy_dag" in export.model_fields_set and export.deploy_dag
    if explicit and source is not None and source.kind != "mwaa":
        problems.append(
            "export.deploy_dag: only for an MWAA source; add migration_dags/export_metadata.py to your own DAG "
            "folder, or run it as a script (README, step 3)"
        )
    if target is not None:
        _check_against_mwaa(problems, target, source.kind if source else None)
        if workflows_known:
            _check_workflow_targets(problems, workflows, target)
    if source is not None and target is not None:
        _check_migration_rules(problems, source, target)
    if problems or source is None or target is None:
        raise MigrationFileError(path, problems)
    retention = bucket.retention_days if isinstance(bucket, schema.MigrationBucket) else 30
    return MigrationConfig(
        name=name,
        path=path,
        source=source,
        target=_with_deployed_paths(target, workflows),
        migration_bucket=MigrationBucketConfig(retention_days=retention),
        workflows=workflows,
        export=ExportConfig(deploy_dag=export.deploy_dag if isinstance(export, schema.Export) else True),
    )


def _valid_tables(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The tables that are valid on their own, so the checks across them still run when another table is bad."""
    valid = {}
    for name, model in TABLES.items():
        table = raw.get(name, {} if name in ("migration_bucket", "workflows", "export") else None)
        try:
            # A throwaway context: these tables' problems are already reported.
            valid[name] = model.model_validate(table, context={"problems": []})
        except ValidationError:
            continue
    return valid


# --- the schema's errors, in the file's words -------------------------------------------------------------------


def message(detail: ErrorDetails) -> str:
    """One schema error as `key.path: what is wrong; what is allowed`."""
    loc = [str(part) for part in detail["loc"]]
    path = ".".join(loc)
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind == "migration_file":
        key = context.get("key")
        return f"{path}.{key}: {context['message']}" if key else f"{path}: {context['message']}"
    if kind == "extra_forbidden":
        table = ".".join(loc[:-1]) or "(top level)"
        allowed = list(_model_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        # A key with a dot in it was quoted in the file; unquoted, the path would read as a nested table.
        key = f'"{loc[-1]}"' if "." in loc[-1] else loc[-1]
        return f"{table}.{key}: unknown key; {hint}allowed keys in [{table}]: {', '.join(allowed)}"
    if kind == "missing":
        if path in ("source", "target"):
            return f"{path}: missing table [{path}]; it needs {REQUIRED[path]}"
        field = _model_at(loc[:-1]).model_fields[loc[-1]]
        return f"{path}: required; {REQUIRED.get(path) or field.description}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{path}: must be a table [{path}], got {schema.describe(detail['input'])}"
    if kind == "bool_type":
        return f"{path}: must be true or false, got {schema.describe(detail['input'])}"
    return f"{path}: {detail['msg']}"


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = schema.MigrationFile
    for part in loc:
        annotation = model.model_fields[part].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation
    return model


# --- the tables as the app's configuration -----------------------------------------------------------------------


def _source(
    model: schema.Source | None, path: Path, problems: list[str], document: Mapping[str, Any] | None
) -> SourceConfig | None:
    if model is None:
        return None
    source = SourceConfig(
        kind=model.kind,
        environment_name=model.environment_name,
        execution_role_arn=model.execution_role_arn,
        region=model.region,
        airflow_version=model.airflow_version,
    )
    if model.kind != "mwaa" or model.environment_name is None:
        return source
    if model.snapshot is not None and Path(model.snapshot).is_absolute():
        problems.append(
            f"source.snapshot: {model.snapshot!r} must be relative to the migration file, so it works in any clone"
        )
        return source
    location = (path.parent / model.snapshot).resolve() if model.snapshot else snapshot.default_snapshot_path(path)
    # What `--migration` takes for this file, for the message that says how to save its snapshot.
    migration = path.stem if path.resolve().parent == MIGRATIONS_DIR else str(path)
    try:
        if document is not None:
            environment = snapshot.check_snapshot(
                document, "--source", environment_name=model.environment_name, migration=migration
            )
        else:
            environment = snapshot.read_snapshot(location, environment_name=model.environment_name, migration=migration)
    except snapshot.SnapshotError as error:
        problems.append(f"source.snapshot: {error}")
        return source
    region, account = snapshot.arn_region_and_account(environment)
    if source.region is not None and source.region != region:
        problems.append(f"source.region: {source.region!r}, but the snapshot's environment is in {region}")
    if source.account is not None and source.account != account:
        problems.append(
            f"source.execution_role_arn: is in account {source.account}, but the snapshot's environment is in "
            f"{account}; the old role is the old environment's execution role"
        )
    return replace(source, region=region, snapshot=location, environment=environment)


def _target(model: schema.Target | None) -> TargetConfig | None:
    if model is None:
        return None
    fields = model.model_dump(exclude={"network", "logging"})
    network = model.network
    return TargetConfig(
        **fields,
        network=NetworkConfig(network.subnet_ids, network.security_group_ids, network.vpc_id) if network else None,
        logging={module: level for module, level in model.logging.model_dump().items() if level is not None},
    )


def _workflows(model: schema.Workflows | None, base: Path, problems: list[str]) -> WorkflowsConfig:
    if model is None:
        return WorkflowsConfig()

    def local_path(key: str, kind: str, accepts: Callable[[Path], bool]) -> Path | None:
        value: str | None = getattr(model, key)
        if value is None:
            return None
        if Path(value).is_absolute():
            problems.append(
                f"workflows.{key}: {value!r} must be relative to the migration file, so it works in any clone"
            )
            return None
        resolved = (base / value).resolve()
        if not accepts(resolved):
            problems.append(f"workflows.{key}: {value!r} is not {kind} (looked for {resolved})")
            return None
        return resolved

    return WorkflowsConfig(
        dags=local_path("dags", "a DAG folder", Path.is_dir),
        requirements=local_path("requirements", "a requirements file", Path.is_file),
        plugins=local_path(
            "plugins",
            "a plugins folder or a .zip file",
            lambda found: found.is_dir() or (found.is_file() and found.suffix == ".zip"),
        ),
        startup_script=local_path("startup_script", "a startup script file", Path.is_file),
        allow_existing_bucket=model.allow_existing_bucket,
    )


# --- across tables -------------------------------------------------------------------------------------------------


def _check_against_mwaa(problems: list[str], target: TargetConfig, source_kind: str | None) -> None:
    for low_key, high_key in (("min_workers", "max_workers"), ("min_webservers", "max_webservers")):
        low, high = getattr(target, low_key), getattr(target, high_key)
        if low is not None and high is not None and low > high:
            problems.append(f"target.{low_key}: {low} is more than target.{high_key} = {high}; min must be <= max")
    mode = target.webserver_access_mode
    if target.execution_role_policy_arns and target.execution_role_arn is not None:
        problems.append(
            "target.execution_role_policy_arns: only for a role the stack creates; attach the policies to "
            "target.execution_role_arn yourself"
        )
    if mode is not None:
        problem = mwaa_limits.access_mode_problem(mode, target.airflow_version)
        if problem:
            problems.append(f"target.webserver_access_mode: {problem}")
    # Counts depend on the class; an MWAA source's class comes from its snapshot unless the file sets it.
    environment_class = target.environment_class
    if environment_class is None and source_kind == "self-managed":
        environment_class = mwaa_limits.DEFAULT_ENVIRONMENT_CLASS
    if environment_class is None:
        return
    bounds = clone_rules.sizing_bounds(environment_class, target.airflow_version)
    for key, field_name in SIZING_KEYS.items():
        value = getattr(target, key)
        low, high = bounds[field_name]
        if value is None or (value >= low and (high is None or value <= high)):
            continue
        accepted = mwaa_limits.accepted_range(low, high)
        problems.append(
            f"target.{key}: {environment_class} on Airflow {target.airflow_version} accepts {accepted}; got {value}"
        )


def _check_migration_rules(problems: list[str], source: SourceConfig, target: TargetConfig) -> None:
    # Without a region the snapshot couldn't be read, which is reported already.
    same_name = source.environment_name == target.environment_name and source.region is not None
    if source.kind == "mwaa" and same_name and target.network is None:
        problems.append(
            f"target.environment_name: {target.environment_name!r} is the source's name, and the cloned network keeps "
            f"the new environment in the source's region {source.region}, where MWAA names are unique: pick a new "
            "name (such as the old name with a version suffix), or set [target.network] to deploy into another region"
        )
    if target.drop_options and source.kind != "mwaa":
        problems.append("target.drop_options: only for an MWAA source, whose options are cloned")
    if source.kind != "self-managed":
        return
    if target.network is None:
        problems.append(
            "target.network: required for a self-managed source (there is no MWAA environment to copy it from): "
            "subnet_ids, and security_group_ids or vpc_id"
        )
    if source.airflow_version and version_key(target.airflow_version) < version_key(source.airflow_version):
        newer = [v for v in MWAA_TARGET_VERSIONS if version_key(v) >= version_key(source.airflow_version)]
        problems.append(
            f"target.airflow_version: {target.airflow_version} is older than the source's {source.airflow_version}; "
            "Airflow's metadata can't be moved to an older version. "
            + (f"Pick one of: {', '.join(newer)}" if newer else "MWAA offers no version that new yet")
        )


def _check_workflow_targets(problems: list[str], workflows: WorkflowsConfig, target: TargetConfig) -> None:
    deployed = [key for key in ("dags", *DEFAULT_S3_PATHS) if getattr(workflows, key) is not None]
    if target.source_bucket_arn is not None and deployed and not workflows.allow_existing_bucket:
        effect = "overwrites those objects"
        if workflows.dags is not None:
            effect += f" and deletes every object under {target.dag_prefix!r} that workflows.dags does not have"
        problems.append(
            f"workflows: target.source_bucket_arn names an existing bucket, and deploying {', '.join(deployed)} there "
            f"{effect}; set workflows.allow_existing_bucket = true to accept that, or remove "
            "target.source_bucket_arn to deploy into a bucket the stack creates"
        )
    if workflows.allow_existing_bucket and target.source_bucket_arn is None:
        problems.append(
            "workflows.allow_existing_bucket: only with target.source_bucket_arn; without it the workflows go to a "
            "bucket the stack creates"
        )
    for key, default in DEFAULT_S3_PATHS.items():
        named = getattr(target, f"{key}_s3_path")
        if target.source_bucket_arn is None and named is not None and getattr(workflows, key) is None:
            problems.append(
                f"target.{key}_s3_path: {named!r} would be in the bucket the stack creates, where nothing writes it, "
                f"and the environment would fail to find it: set workflows.{key} to deploy a file there (default "
                f"path {default}), or remove target.{key}_s3_path"
            )
        s3_path = named or default
        if workflows.dags is not None and getattr(workflows, key) is not None and s3_path.startswith(target.dag_prefix):
            problems.append(
                f"target.{key}_s3_path: {s3_path!r} is under target.dag_s3_path {target.dag_prefix!r}, where deploying "
                "workflows.dags deletes what the DAG folder does not have; put it outside that folder"
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
