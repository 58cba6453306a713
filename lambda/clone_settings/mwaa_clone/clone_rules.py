"""Pure rules that turn a source MWAA environment (a GetEnvironment snapshot) into the new environment's settings.

No AWS calls and no I/O: synth and plan.py run exactly this code on the committed snapshot, so the template a
reviewer reads is what plan.py explains. Whatever can't become a valid setting raises CloneRefused with one line
that says what to do; whatever is adapted on the way (defaults, clamps, translations, drops) becomes a warning.
What MWAA accepts is in mwaa_limits, the request in clone_request; both are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mwaa_clone.clone_request import CloneRequest as CloneRequest  # the clone's input: part of its interface
from mwaa_clone.clone_request import parse_overrides
from mwaa_clone.config_translation import parse_version, translate_options
from mwaa_clone.mwaa_limits import (
    AIRFLOW_2_SCHEDULING_DEFAULTS,
    ALLOWED_CHOICES,
    AWS_OWNED_KEY,
    DEFAULT_CHOICES,
    DEFAULT_ENVIRONMENT_CLASS,
    DEFAULT_LOG_LEVEL,
    DEFAULT_LOGS_ENABLED,
    DEFAULT_MAINTENANCE_WINDOW,
    DEFAULT_MAX_WORKERS,
    ENVIRONMENT_CLASSES,
    FILE_KEYS,
    KMS_KEY_ARN_RE,
    LOG_LEVELS,
    LOG_MODULES,
    MAINTENANCE_WINDOW_RE,
    MAX_SCHEDULERS,
    MAX_TAGS,
    MAX_WEBSERVERS,
    NOT_SETTABLE,
    PAUSED_OPTION,
    SECURITY_GROUP_ID_RE,
    SIZING_FIELDS,
    SUBNET_ID_RE,
    WORKER_AUTOSCALE_OPTION,
    accepted_range,
    access_mode_problem,
    option_problem,
    tag_problem,
)
from mwaa_clone.mwaa_limits import CloneRefused as CloneRefused  # raised by the clone: part of its interface
from mwaa_clone.sensitive_options import MARKED, NAMED, Reason, secret_reason


@dataclass(frozen=True)
class CloneResult:
    settings: dict[str, Any]
    warnings: list[str]


def clone_settings(environment: Mapping[str, Any], request: CloneRequest) -> CloneResult:
    """The new environment's settings from GetEnvironment()['Environment'], translated, overrides on top."""
    source_version, target_version = _check_source(environment, request)
    # Parsed again so a CloneRequest built by hand (plan.py, tests) gets the same checks as the properties.
    overrides = parse_overrides(request.overrides)
    warnings: list[str] = []

    environment_class = _environment_class(environment, overrides, warnings)
    where = f"{environment_class} on Airflow {request.target_airflow_version}"
    bounds = _sizing_bounds(environment_class, target_version)
    settings: dict[str, Any] = {"EnvironmentClass": environment_class}
    settings.update(_sizing(environment, overrides, bounds, where, warnings))
    for name in ("WebserverAccessMode", "EndpointManagement"):
        settings[name] = _choice(environment, overrides, name, warnings)
    access_problem = access_mode_problem(settings["WebserverAccessMode"], request.target_airflow_version)
    if access_problem:
        raise CloneRefused(f"{FILE_KEYS['WebserverAccessMode']}: {access_problem}")
    settings["WeeklyMaintenanceWindowStart"] = _maintenance_window(environment, overrides, warnings)
    settings["NetworkConfiguration"] = _network(environment, overrides)
    settings["LoggingConfiguration"] = _logging(environment, overrides, warnings)
    settings["AirflowConfigurationOptions"] = _options(
        environment, overrides, source_version, request, warnings, environment_class=environment_class
    )
    tags = _tags(environment, overrides, warnings)
    if tags:  # MWAA's TagMap needs at least one entry: no tags means leaving the field out
        settings["Tags"] = tags
    kms_key = _kms_key(environment, overrides, warnings)
    if kms_key is not None:
        settings["KmsKey"] = kms_key
    for name in NOT_SETTABLE:
        if environment.get(name):
            warnings.append(
                f"The source has {name}, which CloudFormation can't set on AWS::MWAA::Environment; "
                f"set it on the new environment after the deploy (aws mwaa update-environment --{_cli(name)})."
            )
    return CloneResult(settings=settings, warnings=warnings)


def _cli(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _kms_key(environment: Mapping[str, Any], overrides: Mapping[str, Any], warnings: list[str]) -> str | None:
    """The file's key, else the source's customer key (the new environment's data stays under it), else none."""
    if "KmsKey" in overrides:
        chosen = str(overrides["KmsKey"])
        return None if chosen == AWS_OWNED_KEY else chosen
    source = environment.get("KmsKey")
    if not source:
        return None
    if not isinstance(source, str) or not KMS_KEY_ARN_RE.fullmatch(source):
        raise CloneRefused(
            f"the source's KmsKey {source!r} is not a key ARN, which the execution role's policy needs; set "
            f"{FILE_KEYS['KmsKey']} to the key's ARN, or to {AWS_OWNED_KEY!r}"
        )
    warnings.append(
        f"KmsKey: the new environment keeps the source's customer key {source}; its key policy must let the new "
        f"execution role and CloudWatch Logs use it (README). Set {FILE_KEYS['KmsKey']} = {AWS_OWNED_KEY!r} "
        "to use an AWS-owned key instead."
    )
    return source


def _check_source(environment: Mapping[str, Any], request: CloneRequest) -> tuple[str, tuple[int, ...]]:
    """Refuse what no override can fix; return the source's Airflow version and the target's, parsed."""
    name = request.source_environment_name
    status = environment.get("Status")
    if status != "AVAILABLE":
        raise CloneRefused(
            f"the source environment {name!r} is {status or 'in an unknown state'}, not AVAILABLE; "
            "deploy again when `aws mwaa get-environment` reports AVAILABLE"
        )
    version = environment.get("AirflowVersion")
    source = _comparable_version(version)
    if not isinstance(version, str) or source is None:
        raise CloneRefused(
            f"the source environment {name!r} reports no usable AirflowVersion ({version!r}); "
            "check source.environment_name and source.region"
        )
    target = _comparable_version(request.target_airflow_version)
    if target is None:
        raise CloneRefused(f"target.airflow_version {request.target_airflow_version!r} is not a version like 2.10.3")
    if target < source:
        raise CloneRefused(
            f"target.airflow_version {request.target_airflow_version} is older than the source's {version}: "
            "MWAA can't downgrade and Airflow's metadata database can't move to an older schema, "
            f"so pick {version} or newer"
        )
    return version, target


def _comparable_version(version: object) -> tuple[int, ...] | None:
    if not isinstance(version, str):
        return None
    try:
        parsed = parse_version(version)
    except ValueError:
        return None
    return parsed + (0,) * (4 - len(parsed))  # so 2.10 and 2.10.0 compare equal


# --- class, counts and choices -------------------------------------------------------------------------------


def _environment_class(environment: Mapping[str, Any], overrides: Mapping[str, Any], warnings: list[str]) -> str:
    if "EnvironmentClass" in overrides:
        return str(overrides["EnvironmentClass"])
    value = environment.get("EnvironmentClass")
    if value is None:
        warnings.append(f"The source reports no EnvironmentClass; using {DEFAULT_ENVIRONMENT_CLASS}, MWAA's default.")
        return DEFAULT_ENVIRONMENT_CLASS
    if value not in ENVIRONMENT_CLASSES:
        raise CloneRefused(
            f"the source's EnvironmentClass {value!r} is not one of {', '.join(ENVIRONMENT_CLASSES)}; "
            f"set {FILE_KEYS['EnvironmentClass']} in the migration file"
        )
    return str(value)


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int | None  # None: no documented upper limit (the worker maximum is a service quota)


def _sizing_bounds(environment_class: str, target_version: tuple[int, ...]) -> dict[str, _Bounds]:
    micro = environment_class == "mw1.micro"
    workers = _Bounds(1, 1 if micro else None)
    schedulers = _Bounds(1, 1) if micro or target_version[0] < 2 else _Bounds(2, MAX_SCHEDULERS)
    webservers = _Bounds(1, 1) if micro else _Bounds(2, MAX_WEBSERVERS)
    return {
        "MinWorkers": workers,
        "MaxWorkers": workers,
        "Schedulers": schedulers,
        "MinWebservers": webservers,
        "MaxWebservers": webservers,
    }


def sizing_bounds(environment_class: str, target_airflow_version: str) -> dict[str, tuple[int, int | None]]:
    """What MWAA accepts for each count on this class and version: (lowest, highest), highest None for a quota."""
    bounds = _sizing_bounds(environment_class, parse_version(target_airflow_version))
    return {name: (bound.low, bound.high) for name, bound in bounds.items()}


def _sizing_defaults(bounds: Mapping[str, _Bounds]) -> dict[str, int]:
    # MWAA's default is each count's lower bound, except MaxWorkers: 10, or 1 where that's the ceiling.
    defaults = {name: bounds[name].low for name in SIZING_FIELDS}
    defaults["MaxWorkers"] = min(DEFAULT_MAX_WORKERS, bounds["MaxWorkers"].high or DEFAULT_MAX_WORKERS)
    return defaults


def default_settings(environment_class: str | None, target_airflow_version: str) -> dict[str, Any]:
    """MWAA's defaults for a new environment, in CreateEnvironment field names: what the clone fills in for a
    field the source lacks, and what a self-managed migration gets where the migration file is silent."""
    environment_class = environment_class or DEFAULT_ENVIRONMENT_CLASS
    return {
        "EnvironmentClass": environment_class,
        **_sizing_defaults(_sizing_bounds(environment_class, parse_version(target_airflow_version))),
        **DEFAULT_CHOICES,
        "LoggingConfiguration": {
            module: {"Enabled": module in DEFAULT_LOGS_ENABLED, "LogLevel": DEFAULT_LOG_LEVEL} for module in LOG_MODULES
        },
    }


def _sizing(
    environment: Mapping[str, Any],
    overrides: Mapping[str, Any],
    bounds: Mapping[str, _Bounds],
    where: str,
    warnings: list[str],
) -> dict[str, int]:
    """Worker, scheduler and web server counts that MWAA accepts for the target class and version.

    A count the migration file sets is the user's decision, so it's refused if invalid. A cloned count was
    valid for the source, so it's moved into the target's range with a warning (a 1.10 source's single
    scheduler, say).
    """
    defaults = _sizing_defaults(bounds)
    values: dict[str, int] = {}
    for name in SIZING_FIELDS:
        if name in overrides:
            values[name] = _check_override_bounds(name, overrides[name], bounds[name], where)
            continue
        value = environment.get(name)
        if value is None:
            values[name] = defaults[name]
            warnings.append(f"The source reports no {name}; using {defaults[name]}, MWAA's default for {where}.")
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise CloneRefused(
                f"the source's {name} {value!r} is not a whole number; set {FILE_KEYS[name]} in the migration file"
            )
        values[name] = _clamp(name, value, bounds[name], where, warnings)
    for low, high in (("MinWorkers", "MaxWorkers"), ("MinWebservers", "MaxWebservers")):
        _order_pair(low, high, values, overrides, warnings)
    return values


def _check_override_bounds(name: str, value: int, bounds: _Bounds, where: str) -> int:
    if value >= bounds.low and (bounds.high is None or value <= bounds.high):
        return value
    accepted = accepted_range(bounds.low, bounds.high)
    raise CloneRefused(f"{FILE_KEYS[name]} = {value} is not valid for {where}; MWAA accepts {accepted}")


def _clamp(name: str, value: int, bounds: _Bounds, where: str, warnings: list[str]) -> int:
    clamped = max(value, bounds.low)
    if bounds.high is not None:
        clamped = min(clamped, bounds.high)
    if clamped != value:
        warnings.append(
            f"The source's {name} is {value}, which {where} doesn't accept; using {clamped}. "
            f"Set {FILE_KEYS[name]} in the migration file to choose another value."
        )
    return clamped


def _order_pair(low: str, high: str, values: dict[str, int], overrides: Mapping[str, Any], warnings: list[str]) -> None:
    if values[low] <= values[high]:
        return
    if low in overrides and high in overrides:
        raise CloneRefused(
            f"{FILE_KEYS[low]} = {values[low]} is more than {FILE_KEYS[high]} = {values[high]}; min must be <= max"
        )
    # Keep what the migration file chose and move the other one to meet it.
    if high in overrides:
        warnings.append(f"Lowered {low} from {values[low]} to {values[high]} to fit {FILE_KEYS[high]}.")
        values[low] = values[high]
    else:
        warnings.append(f"Raised {high} from {values[high]} to {values[low]} so it isn't below {low}.")
        values[high] = values[low]


def _choice(environment: Mapping[str, Any], overrides: Mapping[str, Any], name: str, warnings: list[str]) -> str:
    if name in overrides:
        return str(overrides[name])
    value = environment.get(name)
    if value is None:
        warnings.append(f"The source reports no {name}; using {DEFAULT_CHOICES[name]}, MWAA's default.")
        return DEFAULT_CHOICES[name]
    allowed = ALLOWED_CHOICES[name]
    if value not in allowed:
        raise CloneRefused(
            f"the source's {name} {value!r} is not one of {', '.join(allowed)}; "
            f"set {FILE_KEYS[name]} in the migration file"
        )
    return str(value)


def _maintenance_window(environment: Mapping[str, Any], overrides: Mapping[str, Any], warnings: list[str]) -> str:
    if "WeeklyMaintenanceWindowStart" in overrides:
        return str(overrides["WeeklyMaintenanceWindowStart"])
    value = environment.get("WeeklyMaintenanceWindowStart")
    if isinstance(value, str) and MAINTENANCE_WINDOW_RE.fullmatch(value):
        return value
    reason = "reports no WeeklyMaintenanceWindowStart" if value is None else f"has an unusable window {value!r}"
    warnings.append(
        f"The source {reason}; using {DEFAULT_MAINTENANCE_WINDOW} (UTC). "
        f"Set {FILE_KEYS['WeeklyMaintenanceWindowStart']} in the migration file to choose another."
    )
    return DEFAULT_MAINTENANCE_WINDOW


# --- network and logging -------------------------------------------------------------------------------------


def _network(environment: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, list[str]]:
    """The file's IDs, else the source's. Whether the deploy region can use cloned ones is a template rule
    (environment_plan.deploy_rules): synth doesn't know where the stack goes."""
    chosen: Mapping[str, Any] = overrides.get("NetworkConfiguration", {})
    source = environment.get("NetworkConfiguration")
    source_network: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    network: dict[str, list[str]] = {}
    for name, pattern, low, high in (
        ("SubnetIds", SUBNET_ID_RE, 2, 2),
        ("SecurityGroupIds", SECURITY_GROUP_ID_RE, 1, 5),
    ):
        key = FILE_KEYS[name]
        if name in chosen:
            ids, origin = list(chosen[name]), key
        else:
            ids, origin = _id_list(source_network.get(name)), f"the source's {name}"
            if not ids:
                raise CloneRefused(f"the source reports no {name}; set {key} in the migration file")
        _check_ids(ids, pattern, (low, high), origin, key)
        network[name] = ids
    return network


def _id_list(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _check_ids(ids: list[str], pattern: re.Pattern[str], count: tuple[int, int], origin: str, key: str) -> None:
    low, high = count
    needed = accepted_range(low, high)
    if not low <= len(ids) <= high:
        raise CloneRefused(f"{origin} lists {len(ids)} IDs and MWAA needs {needed}; set {key} in the migration file")
    bad = [item for item in ids if len(item) > 1024 or not pattern.fullmatch(item)]
    if bad:
        raise CloneRefused(
            f"{origin} has IDs MWAA won't accept ({', '.join(map(repr, bad))}); set {key} in the migration file"
        )
    if len(set(ids)) != len(ids):
        raise CloneRefused(f"{origin} repeats an ID; set {key} in the migration file to {needed} different IDs")


def _logging(
    environment: Mapping[str, Any], overrides: Mapping[str, Any], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """Enabled and LogLevel per module; the log group ARNs are the old environment's, MWAA makes new ones."""
    source = environment.get("LoggingConfiguration")
    source_logging: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    chosen: Mapping[str, Mapping[str, Any]] = overrides.get("LoggingConfiguration", {})
    logging: dict[str, dict[str, Any]] = {}
    for module in LOG_MODULES:
        cloned = source_logging.get(module)
        module_source: Mapping[str, Any] = cloned if isinstance(cloned, Mapping) else {}
        module_override = chosen.get(module, {})
        enabled = module_override.get("Enabled", module_source.get("Enabled"))
        level = module_override.get("LogLevel", module_source.get("LogLevel"))
        if not isinstance(enabled, bool) or level not in LOG_LEVELS:
            enabled = enabled if isinstance(enabled, bool) else module in DEFAULT_LOGS_ENABLED
            level = level if level in LOG_LEVELS else DEFAULT_LOG_LEVEL
            state = f"on at {level}" if enabled else f"off (level {level})"
            warnings.append(f"The source's {module} setting is incomplete; using {state}, MWAA's default.")
        logging[module] = {"Enabled": enabled, "LogLevel": level}
    return logging


# --- configuration options and tags --------------------------------------------------------------------------


def _options(
    environment: Mapping[str, Any],
    overrides: Mapping[str, Any],
    source_version: str,
    request: CloneRequest,
    warnings: list[str],
    *,
    environment_class: str,
) -> dict[str, str]:
    raw = environment.get("AirflowConfigurationOptions")
    source: Mapping[Any, Any] = raw if isinstance(raw, Mapping) else {}
    usable = {key: value for key, value in source.items() if isinstance(key, str) and isinstance(value, str)}
    # Dropped by the snapshot's name (what the user reads there) before translation, or by the translated name.
    drops = set(overrides.get("DropOptions", ()))
    for key in sorted(drops):
        if key in usable:
            warnings.append(f"Dropped the source's option {key} as {FILE_KEYS['DropOptions']} asks.")
    usable = {key: value for key, value in usable.items() if key not in drops}
    try:
        translated = translate_options(usable, source_version, request.target_airflow_version)
    except ValueError as error:
        raise CloneRefused(f"the source's options can't be translated: {_one_line(str(error))}") from None
    warnings.extend(translated.warnings)
    for key in sorted(drops - set(source)):
        if key in translated.options:
            warnings.append(f"Dropped the option {key} (translated) as {FILE_KEYS['DropOptions']} asks.")
        else:
            warnings.append(f"{FILE_KEYS['DropOptions']} lists {key}, which the source doesn't have: nothing dropped.")
    cloned: dict[str, str] = {}
    for key, value in sorted(translated.options.items()):
        if key in drops:
            continue
        problem = option_problem(key, value)
        if problem:
            warnings.append(
                f"Dropped the source's option {key[:80]!r}: {problem}. "
                f"Set it in {FILE_KEYS['AirflowConfigurationOptions']} if the new environment needs it."
            )
            continue
        cloned[key] = value
    chosen = overrides.get("AirflowConfigurationOptions", {})
    # A source that reports no class runs on MWAA's default one.
    source_class = environment.get("EnvironmentClass") or DEFAULT_ENVIRONMENT_CLASS
    if source_class != environment_class and WORKER_AUTOSCALE_OPTION in cloned.keys() - chosen.keys():
        warnings.append(
            f"Dropped the source's option {WORKER_AUTOSCALE_OPTION} = {cloned.pop(WORKER_AUTOSCALE_OPTION)}: it was "
            f"set for {source_class} workers, and the new environment is {environment_class}, so MWAA's default for "
            f"that class applies; set it in {FILE_KEYS['AirflowConfigurationOptions']} to choose."
        )
    cloned.update(
        airflow_2_scheduling_defaults(source_version, request.target_airflow_version, {**cloned, **chosen}, warnings)
    )
    return final_options(cloned, chosen, warnings)


def airflow_2_scheduling_defaults(
    source_version: str, target_version: str, options: Mapping[str, str], warnings: list[str]
) -> dict[str, str]:
    """On a move from Airflow 2 to 3: Airflow 2's value of each scheduling default Airflow 3 changed, with a warning,
    for those `options` (the source's and the file's) don't set. Nothing within one major version."""
    if not _major(source_version) < 3 <= _major(target_version):
        return {}
    kept: dict[str, str] = {}
    for option, (value, why) in AIRFLOW_2_SCHEDULING_DEFAULTS.items():
        if option in options:
            continue
        kept[option] = value
        warnings.append(
            f"{option}: {value} on the new environment, {why}; set it in {FILE_KEYS['AirflowConfigurationOptions']} "
            "to choose."
        )
    return kept


def _major(version: str) -> int:
    return int(version.split(".", 1)[0])


def final_options(cloned: Mapping[str, str], chosen: Mapping[str, str], warnings: list[str]) -> dict[str, str]:
    """The file's options over the cloned ones; refuse a secret; DAGs start paused unless the file says so.

    An option Airflow marks sensitive is refused from either side; one only named like a secret is refused when
    cloned (its value may be one, or snapshot.py's mask) and written when the file sets it (the user's word).
    """
    options = {**cloned, **chosen}
    for key in sorted(options):
        # A cloned value may be a real secret or snapshot.py's mask: either way a template would show it.
        reason = secret_reason(key, options[key])
        # A name that only looks like a secret's, set in the file: the user's word that its value is none.
        if reason is None or (reason == NAMED and key in chosen):
            continue
        raise CloneRefused(secret_refusal(key, reason, from_file=key in chosen))
    if PAUSED_OPTION in chosen:
        if chosen[PAUSED_OPTION].strip().lower() != "true":
            warnings.append(
                f"{PAUSED_OPTION} = {chosen[PAUSED_OPTION]} is set in the migration file: DAGs start running on the "
                "new environment as soon as it is up, while the old environment still runs them."
            )
        return dict(sorted(options.items()))
    if options.get(PAUSED_OPTION, "True").strip().lower() != "true":
        warnings.append(
            f"{PAUSED_OPTION}: True on the new environment (the source has {options[PAUSED_OPTION]}), so no DAG "
            "runs on both environments; the cut-over unpauses them."
        )
    options[PAUSED_OPTION] = "True"
    return dict(sorted(options.items()))


def secret_refusal(key: str, reason: Reason, *, from_file: bool) -> str:
    """Why synth stops for this option and what to do: one line naming the option, never its value."""
    file_options, drop_options = FILE_KEYS["AirflowConfigurationOptions"], FILE_KEYS["DropOptions"]
    if reason == MARKED:
        origin = file_options if from_file else "the source"
        remedy = "remove it from the file" if from_file else f"add it to {drop_options}"
        return (
            f"{key} (from {origin}) may hold a secret: Airflow marks it sensitive, so neither the clone nor the "
            "migration file may write it into a template. Keep the value in the secrets backend (Airflow reads "
            f"{key}_secret from there) or in a connection, and {remedy}"
        )
    # Only a cloned option gets here: the file's value of a name-matched option is written as it stands.
    return (
        f"{key} (from the source) may hold a secret: its name says so, and a template must not carry one. If it "
        f"is a secret, keep it in a connection or the secrets backend and add {key} to {drop_options}; if you "
        f"know it is not, set its value in {file_options}, which is written as it stands"
    )


def _tags(environment: Mapping[str, Any], overrides: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    raw = environment.get("Tags")
    source: Mapping[Any, Any] = raw if isinstance(raw, Mapping) else {}
    cloned: dict[str, str] = {}
    for key, value in sorted(source.items(), key=lambda item: str(item[0])):
        # aws: tags belong to whoever set them (CloudFormation tags the new environment itself).
        if not isinstance(key, str) or key.lower().startswith("aws:"):
            continue
        problem = tag_problem(key, value) if isinstance(value, str) else "the value is not a string"
        if problem:
            warnings.append(
                f"Dropped the source's tag {key[:80]!r}: {problem}. Set it in {FILE_KEYS['Tags']} if needed."
            )
            continue
        cloned[key] = value
    merged: dict[str, str] = {**cloned, **overrides.get("Tags", {})}
    if len(merged) > MAX_TAGS:
        raise CloneRefused(
            f"the source's tags and {FILE_KEYS['Tags']} add up to {len(merged)} and MWAA allows {MAX_TAGS}; "
            "remove tags on the source environment or from the migration file"
        )
    return merged


def _one_line(text: str) -> str:
    return " ".join(text.split())
