"""Property: any GetEnvironment output botocore's model allows clones to a valid CreateEnvironment, or is refused.

Environments are generated from botocore's MWAA output shape, member by member (Teams,
IdentityCenterConfiguration and every other field included), with realistic values mixed in where the rules
branch (versions, status, class, option keys, aws: tags). The settings are then checked against the
CreateEnvironment input shape: with botocore's own ParamValidator (types, required members, minimums), with
a stricter walk of the same shape (map sizes, maximums, enums, patterns, which botocore leaves to the
service), and against the limits the MWAA API reference documents beyond the model (scheduler and web server
ranges, min <= max, no aws: tags).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC
from typing import Any, cast

from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mwaa_clone.clone_request import parse_overrides
from mwaa_clone.clone_rules import CloneRefused, CloneRequest, clone_settings
from mwaa_clone.mwaa_limits import SIZING_FIELDS
from tests.clone_fixtures import (
    CLONED_FIELDS,
    CREATE_ENVIRONMENT_SHAPE,
    GET_ENVIRONMENT_OUTPUT_SHAPE,
    MWAA_MODEL,
    assert_valid_create_environment,
)

ENVIRONMENT_SHAPE = cast(StructureShape, GET_ENVIRONMENT_OUTPUT_SHAPE.members["Environment"])
CREATE_SHAPE = CREATE_ENVIRONMENT_SHAPE

AIRFLOW_VERSIONS = ("1.10.12", "2.0.2", "2.2.2", "2.4.3", "2.5.1", "2.6.3", "2.7.2", "2.8.1", "2.9.2", "2.10.3")
TARGET_VERSIONS = ("2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "2.11.0", "3.0.6", "3.2.1")
REAL_OPTION_KEYS = (
    "core.dag_concurrency",
    "core.default_timezone",
    "scheduler.max_threads",
    "scheduler.dag_dir_list_interval",
    "secrets.backend",
    "webserver.expose_config",
    "webserver.session_lifetime_days",
    "core.hostname",
)
# Required by CreateEnvironment but decided by the stack, not the clone.
STACK_FIELDS = {
    "Name": "orders-v3",
    "ExecutionRoleArn": "arn:aws:iam::111122223333:role/service-role/AmazonMWAA-orders-v3",
    "SourceBucketArn": "arn:aws:s3:::airflow-orders-v3-111122223333",
    "DagS3Path": "dags",
}
STRING_CAP = 40  # for free text: long enough to hit every branch, short enough to stay fast
SIZING_COUNTS = ("Schedulers", "MinWebservers", "MaxWebservers")


# --- strategies from the model ---------------------------------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """About nine draws in ten from `usual`: odd values reach every refusal, usual ones reach a clone."""
    return st.sampled_from((True,) * 9 + (False,)).flatmap(lambda usual_one: usual if usual_one else rare)


def _tag_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # TagKey/TagValue use \p{L}\p{Z}\p{N}, which Python's re lacks: draw from those Unicode categories directly.
    alphabet = st.characters(categories=("L", "Z", "N"), codec="utf-8") | st.sampled_from("_.:/=+-@")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def _regex_core(pattern: str) -> str | None:
    """The pattern's fixed part as a full-match regex, or None where Python's re can't express it."""
    core = pattern.removeprefix("^").removesuffix("$").removeprefix(".*").removesuffix(".*")
    return None if "|" in core.replace("(MON|TUE|WED|THU|FRI|SAT|SUN)", "") or "\\p{" in core else core


def strings(shape: StringShape) -> st.SearchStrategy[str]:
    low = int(shape.metadata.get("min", 0))
    high = int(shape.metadata.get("max", 1024))
    if shape.enum:
        return st.sampled_from(shape.enum)
    if shape.name == "TagKey":
        return mostly(_tag_text(1, 16), _tag_text(1, 16).map(lambda text: f"aws:{text}"))
    if shape.name == "TagValue":
        return _tag_text(1, 16)
    anything = st.text(min_size=low, max_size=min(high, STRING_CAP))
    pattern = shape.metadata.get("pattern")
    core = _regex_core(pattern) if pattern else None
    if core is None:
        return anything
    matching = st.from_regex(core, fullmatch=True).filter(lambda text: low <= len(text) <= high)
    return mostly(matching, anything)


def values_for(shape: Shape) -> st.SearchStrategy[Any]:
    """Values botocore's ParamValidator accepts for the shape: types, required members, minimums."""
    metadata = shape.metadata
    if isinstance(shape, StructureShape):
        required = set(metadata.get("required", []))
        members = {key: values_for(member) for key, member in shape.members.items()}
        return st.fixed_dictionaries(
            {key: value for key, value in members.items() if key in required},
            optional={key: value for key, value in members.items() if key not in required},
        )
    if isinstance(shape, ListShape):
        low = int(metadata.get("min", 0))
        return st.lists(values_for(shape.member), min_size=low, max_size=min(int(metadata.get("max", 4)), 6))
    if isinstance(shape, MapShape):
        low = int(metadata.get("min", 0))
        keys = SPECIAL_KEYS.get(shape.name, values_for(shape.key))
        return st.dictionaries(keys, values_for(shape.value), min_size=low, max_size=max(low, 6))
    if isinstance(shape, StringShape):
        return strings(shape)
    if shape.type_name == "integer":
        return st.integers(min_value=int(metadata.get("min", -3)), max_value=int(metadata.get("max", 30)))
    if shape.type_name == "boolean":
        return st.booleans()
    if shape.type_name == "timestamp":
        return st.datetimes(timezones=st.just(UTC))
    raise AssertionError(f"no strategy for {shape.type_name} shape {shape.name}")


SPECIAL_KEYS = {
    # Option keys the translation tables know, so renames and removals run too.
    "AirflowConfigurationOptions": mostly(
        st.sampled_from(REAL_OPTION_KEYS), values_for(MWAA_MODEL.shape_for("ConfigKey"))
    ),
    # TeamNameString needs 3 characters or more, which its pattern alone rarely gives.
    "TeamMap": st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,49}", fullmatch=True),
}

# Where the rules branch first (status, version, class), a realistic value usually replaces the drawn one.
REALISTIC = st.fixed_dictionaries(
    {
        "Status": st.just("AVAILABLE"),
        "AirflowVersion": st.sampled_from(AIRFLOW_VERSIONS),
        "EnvironmentClass": st.sampled_from(("mw1.small", "mw1.medium", "mw1.large", "mw1.micro")),
        "NetworkConfiguration": st.fixed_dictionaries(
            {
                "SubnetIds": st.lists(
                    values_for(MWAA_MODEL.shape_for("SubnetId")), min_size=2, max_size=2, unique=True
                ),
                "SecurityGroupIds": st.lists(
                    values_for(MWAA_MODEL.shape_for("SecurityGroupId")), min_size=1, max_size=5, unique=True
                ),
            }
        ),
    },
)
DRAWN = values_for(ENVIRONMENT_SHAPE)
ENVIRONMENTS = mostly(st.tuples(DRAWN, REALISTIC).map(lambda pair: {**pair[0], **pair[1]}), DRAWN)

LOG_MODULES = ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
OPTION_KEYS = st.sampled_from(REAL_OPTION_KEYS)
ANY_OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "EnvironmentClass": mostly(st.sampled_from(("mw1.micro", "mw1.small", "mw1.xlarge")), st.just("mw9.huge")),
        **{name: mostly(st.integers(1, 25), st.integers(-1, 40)) for name in ("MinWorkers", "MaxWorkers")},
        **{name: mostly(st.integers(1, 5), st.integers(0, 7)) for name in SIZING_COUNTS},
        "WebserverAccessMode": st.sampled_from(("PRIVATE_ONLY", "PUBLIC_ONLY", "PUBLIC_AND_PRIVATE")),
        "WeeklyMaintenanceWindowStart": mostly(st.sampled_from(("MON:00:00", "SUN:23:30")), st.just("SUN:3:00")),
        "EndpointManagement": st.sampled_from(("SERVICE", "CUSTOMER")),
        "NetworkConfiguration": st.fixed_dictionaries(
            {},
            optional={
                "SubnetIds": st.lists(st.from_regex(r"subnet-[0-9a-f]{8}", fullmatch=True), min_size=2, max_size=2),
                "SecurityGroupIds": st.lists(st.from_regex(r"sg-[0-9a-f]{8}", fullmatch=True), min_size=1, max_size=5),
            },
        ),
        "LoggingConfiguration": st.fixed_dictionaries(
            {},
            optional={
                module: st.fixed_dictionaries(
                    {}, optional={"Enabled": st.booleans(), "LogLevel": mostly(st.just("DEBUG"), st.just("LOUD"))}
                )
                for module in LOG_MODULES
            },
        ),
        "AirflowConfigurationOptions": st.dictionaries(
            mostly(OPTION_KEYS, st.just("Core.Bad")), mostly(st.text("abc 123", min_size=1), st.just("")), max_size=3
        ),
        "Tags": st.dictionaries(mostly(_tag_text(1, 8), st.just("aws:x")), _tag_text(1, 8), max_size=3),
    },
)
REQUESTS = st.fixed_dictionaries(
    {
        "ServiceToken": st.just("arn:aws:lambda:eu-west-1:111122223333:function:clone-onEvent"),
        "SourceEnvironmentName": st.just("orders"),
        "SourceRegion": st.just("eu-west-1"),
        "TargetAirflowVersion": st.sampled_from(TARGET_VERSIONS),
        "Overrides": st.one_of(st.just({}), ANY_OVERRIDES).map(json.dumps),
    }
)


# --- a stricter check of CreateEnvironment's shape --------------------------------------------------------------


def strict_problems(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Sizes, enums and patterns (full match): most of these botocore's ParamValidator leaves to the service."""
    metadata = shape.metadata
    problems: list[str] = []
    if isinstance(shape, StructureShape):
        for key, item in value.items():
            problems += strict_problems(item, shape.members[key], f"{path}.{key}")
        return problems
    size = len(value) if isinstance(value, (str, list, dict)) else value
    # botocore checks minimums, but not on maps (an empty TagMap passes it); check both bounds everywhere.
    if "min" in metadata and size < metadata["min"]:
        problems.append(f"{path}: {size} under min {metadata['min']}")
    if "max" in metadata and size > metadata["max"]:
        problems.append(f"{path}: {size} over max {metadata['max']}")
    if isinstance(shape, ListShape):
        for index, item in enumerate(value):
            problems += strict_problems(item, shape.member, f"{path}[{index}]")
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            problems += strict_problems(key, shape.key, f"{path} key {key!r}")
            problems += strict_problems(item, shape.value, f"{path}.{key}")
    elif isinstance(shape, StringShape):
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in enum")
        pattern = metadata.get("pattern")
        if pattern and not _matches(pattern, value):
            problems.append(f"{path}: {value!r} doesn't match {pattern}")
    return problems


def _matches(pattern: str, text: str) -> bool:
    if "\\p{" in pattern:
        # Only the tag patterns use Unicode classes; check their definition by category.
        assert pattern == r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", pattern
        return all(ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LZN" for ch in text)
    return re.fullmatch(pattern, text) is not None


def assert_valid_create_request(settings_: Mapping[str, Any], target_version: str) -> None:
    params = {**STACK_FIELDS, "AirflowVersion": target_version, **settings_}
    assert_valid_create_environment(params)
    assert strict_problems(params, CREATE_SHAPE) == []


def assert_documented_limits(settings_: Mapping[str, Any]) -> None:
    """What the MWAA API reference and the AWS::MWAA::Environment schema add to botocore's shape."""
    assert settings_["EnvironmentClass"] in (
        "mw1.micro",
        "mw1.small",
        "mw1.medium",
        "mw1.large",
        "mw1.xlarge",
        "mw1.2xlarge",
    )
    assert 1 <= settings_["MinWorkers"] <= settings_["MaxWorkers"]
    assert 1 <= settings_["MinWebservers"] <= settings_["MaxWebservers"] <= 5
    assert 1 <= settings_["Schedulers"] <= 5
    if settings_["EnvironmentClass"] == "mw1.micro":
        assert settings_["MaxWorkers"] == settings_["Schedulers"] == settings_["MaxWebservers"] == 1
    else:
        assert settings_["Schedulers"] >= 2 and settings_["MinWebservers"] >= 2
    for ids in settings_["NetworkConfiguration"].values():
        assert len(set(ids)) == len(ids)
    assert not any(key.lower().startswith("aws:") for key in settings_.get("Tags", {})), "aws: is reserved"


def assert_typed_literals(settings_: Mapping[str, Any]) -> None:
    """What synth writes into the template as it is: the provider schema's types, never strings for numbers."""
    for name in SIZING_FIELDS:
        assert type(settings_[name]) is int, name
    for module in settings_["LoggingConfiguration"].values():
        assert type(module["Enabled"]) is bool
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in settings_["AirflowConfigurationOptions"].items())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in settings_.get("Tags", {}).items())


def request_from(props: Mapping[str, str]) -> CloneRequest:
    return CloneRequest(
        source_environment_name=props["SourceEnvironmentName"],
        source_region=props["SourceRegion"],
        target_airflow_version=props["TargetAirflowVersion"],
        overrides=parse_overrides(props["Overrides"]),
    )


def _kind(message: str) -> str:
    """The refusal without its specifics, so Hypothesis's statistics group alike refusals."""
    return " ".join(re.sub(r"'[^']*'|\d+", "_", message).split()[:7])


# --- the property ------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(environment=ENVIRONMENTS, props=REQUESTS)
def test_any_environment_clones_to_a_valid_request_or_is_refused(
    environment: dict[str, Any], props: dict[str, str]
) -> None:
    try:
        request = request_from(props)
        result = clone_settings(environment, request)
    except CloneRefused as refusal:
        message = str(refusal)
        assert message and "\n" not in message
        event("refused: " + _kind(message))
        return
    event("cloned")

    assert set(result.settings) <= CLONED_FIELDS
    assert set(result.settings) >= CLONED_FIELDS - {"Tags", "KmsKey"}, "every required setting has a value"
    assert_valid_create_request(result.settings, request.target_airflow_version)
    assert_documented_limits(result.settings)
    assert_typed_literals(result.settings)
    assert all(isinstance(warning, str) and "\n" not in warning for warning in result.warnings)


def test_generated_environments_are_ones_botocore_accepts_and_cover_every_member() -> None:
    seen: set[str] = set()

    # A guard for the generator: every draw passes the check the Stubber applies to a response, and together
    # the draws use every member of the shape (Teams and IdentityCenterConfiguration included).
    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(environment=DRAWN)
    def check(environment: dict[str, Any]) -> None:
        report = ParamValidator().validate(environment, ENVIRONMENT_SHAPE)
        assert not report.has_errors(), report.generate_report()
        seen.update(environment)

    check()
    assert seen == set(ENVIRONMENT_SHAPE.members)
