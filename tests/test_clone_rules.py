"""The clone's pure rules, driven by saved `aws mwaa get-environment` outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from clone_rules import (
    ATTRIBUTE_NAMES,
    CFN_RESPONSE_LIMIT,
    CloneRefused,
    CloneRequest,
    CloneResult,
    check_response_size,
    clone_settings,
    encode_attributes,
    encoded_size,
    physical_resource_id,
    response_body,
)
from config_translation import translate_options

from tests.clone_fixtures import CLONED_FIELDS, load_environment

SECRET = "postgresql://admin:s3cr3t-Pa55w0rd@db.internal:5432/app"


def make_request(environment: Mapping[str, Any], target_version: str, **changes: Any) -> CloneRequest:
    region = str(environment["Arn"]).split(":")[3]
    fields: dict[str, Any] = {
        "source_environment_name": environment["Name"],
        "source_region": region,
        "target_environment_name": f"{environment['Name']}-v3",
        "target_region": region,
        "target_airflow_version": target_version,
        "overrides": {},
    }
    fields.update(changes)
    return CloneRequest(**fields)


def clone(version: str, target: str, overrides: Mapping[str, Any] | None = None, **env_changes: Any) -> CloneResult:
    environment = load_environment(version)
    for key, value in env_changes.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return clone_settings(environment, make_request(environment, target, overrides=dict(overrides or {})))


def refusal(version: str, target: str, overrides: Mapping[str, Any] | None = None, **env_changes: Any) -> str:
    with pytest.raises(CloneRefused) as caught:
        clone(version, target, overrides, **env_changes)
    message = str(caught.value)
    assert "\n" not in message, "a refusal is one line: CloudFormation shows it as the failure reason"
    return message


# --- what is cloned and what never is ------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "target"), [("1.10.12", "2.10.3"), ("2.10.3", "3.0.6"), ("3.0.6", "3.0.6")])
def test_only_the_cloned_fields_come_out(version: str, target: str) -> None:
    settings = clone(version, target).settings

    assert set(settings) == CLONED_FIELDS
    for module in settings["LoggingConfiguration"].values():
        assert set(module) == {"Enabled", "LogLevel"}, "CloudWatchLogGroupArn is the old environment's"
    assert set(settings["NetworkConfiguration"]) == {"SubnetIds", "SecurityGroupIds"}


def test_a_2x_source_is_copied_as_is() -> None:
    source = load_environment("2.10.3")
    result = clone("2.10.3", "2.11.0")

    for name in ("EnvironmentClass", "MinWorkers", "MaxWorkers", "Schedulers", "MinWebservers", "MaxWebservers"):
        assert result.settings[name] == source[name]
    assert result.settings["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert result.settings["WeeklyMaintenanceWindowStart"] == "TUE:02:00"
    assert result.settings["EndpointManagement"] == "SERVICE"
    assert result.settings["NetworkConfiguration"] == source["NetworkConfiguration"]
    assert result.settings["LoggingConfiguration"]["WebserverLogs"] == {"Enabled": True, "LogLevel": "WARNING"}


def test_teams_and_identity_center_are_never_cloned() -> None:
    source = load_environment("3.0.6")
    assert "Teams" in source and "IdentityCenterConfiguration" in source

    settings = clone("3.0.6", "3.0.6").settings

    assert "Teams" not in settings and "IdentityCenterConfiguration" not in settings
    assert settings["EndpointManagement"] == "CUSTOMER"


# --- defaults for what older sources don't report ------------------------------------------------------------


def test_a_1_10_source_gets_documented_defaults_with_warnings() -> None:
    result = clone("1.10.12", "2.10.3")

    assert result.settings["Schedulers"] == 2
    assert result.settings["MinWebservers"] == 2
    assert result.settings["MaxWebservers"] == 2
    assert result.settings["EndpointManagement"] == "SERVICE"
    for name in ("Schedulers", "MinWebservers", "MaxWebservers", "EndpointManagement"):
        assert any(f"no {name}" in warning for warning in result.warnings), name


def test_a_1_10_single_scheduler_is_raised_to_the_2x_minimum() -> None:
    result = clone("1.10.12", "2.10.3", Schedulers=1)

    assert result.settings["Schedulers"] == 2
    assert any("Schedulers is 1" in warning and "target.schedulers" in warning for warning in result.warnings)


def test_a_source_without_class_or_access_mode_gets_the_defaults() -> None:
    result = clone("2.10.3", "3.0.6", EnvironmentClass=None, WebserverAccessMode=None)

    assert result.settings["EnvironmentClass"] == "mw1.small"
    assert result.settings["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert sum("MWAA's default" in warning for warning in result.warnings) == 2


def test_a_missing_maintenance_window_gets_a_fixed_choice_and_a_warning() -> None:
    result = clone("2.10.3", "3.0.6", WeeklyMaintenanceWindowStart=None)

    assert result.settings["WeeklyMaintenanceWindowStart"] == "SUN:03:00"
    assert any("target.weekly_maintenance_window_start" in warning for warning in result.warnings)


def test_missing_logging_falls_back_to_task_logs_only() -> None:
    result = clone("2.10.3", "3.0.6", LoggingConfiguration=None)

    logging = result.settings["LoggingConfiguration"]
    assert logging["TaskLogs"] == {"Enabled": True, "LogLevel": "INFO"}
    for module in ("DagProcessingLogs", "SchedulerLogs", "WebserverLogs", "WorkerLogs"):
        assert logging[module] == {"Enabled": False, "LogLevel": "INFO"}
    assert sum("incomplete" in warning for warning in result.warnings) == 5


def test_micro_class_moves_cloned_counts_to_one() -> None:
    result = clone("2.10.3", "3.0.6", {"EnvironmentClass": "mw1.micro"})

    for name in ("MinWorkers", "MaxWorkers", "Schedulers", "MinWebservers", "MaxWebservers"):
        assert result.settings[name] == 1, name
    assert any("MaxWorkers is 20" in warning for warning in result.warnings)


# --- overrides ---------------------------------------------------------------------------------------------


def test_overrides_win_over_the_source() -> None:
    overrides = {
        "EnvironmentClass": "mw1.xlarge",
        "MinWorkers": 3,
        "MaxWorkers": 25,
        "Schedulers": 4,
        "MinWebservers": 3,
        "MaxWebservers": 4,
        "WebserverAccessMode": "PUBLIC_ONLY",
        "WeeklyMaintenanceWindowStart": "SAT:23:30",
        "NetworkConfiguration": {"SecurityGroupIds": ["sg-0123456789abcdef0"]},
        "LoggingConfiguration": {"WorkerLogs": {"Enabled": False}, "TaskLogs": {"LogLevel": "DEBUG"}},
    }
    source = load_environment("2.10.3")

    settings = clone("2.10.3", "3.0.6", overrides).settings

    for name in ("EnvironmentClass", "MinWorkers", "MaxWorkers", "Schedulers", "MinWebservers", "MaxWebservers"):
        assert settings[name] == overrides[name]
    assert settings["WebserverAccessMode"] == "PUBLIC_ONLY"
    assert settings["WeeklyMaintenanceWindowStart"] == "SAT:23:30"
    assert settings["NetworkConfiguration"] == {
        "SubnetIds": source["NetworkConfiguration"]["SubnetIds"],
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }
    # A module override changes only what it names; the rest of the module is cloned.
    assert settings["LoggingConfiguration"]["WorkerLogs"] == {"Enabled": False, "LogLevel": "INFO"}
    assert settings["LoggingConfiguration"]["TaskLogs"] == {"Enabled": True, "LogLevel": "DEBUG"}


def test_an_overridden_max_below_the_cloned_min_lowers_the_min() -> None:
    result = clone("2.10.3", "3.0.6", {"MaxWorkers": 1})

    assert (result.settings["MinWorkers"], result.settings["MaxWorkers"]) == (1, 1)
    assert any("Lowered MinWorkers from 2 to 1" in warning for warning in result.warnings)


def test_an_overridden_min_above_the_cloned_max_raises_the_max() -> None:
    result = clone("3.0.6", "3.0.6", {"MinWebservers": 4})

    assert (result.settings["MinWebservers"], result.settings["MaxWebservers"]) == (4, 4)
    assert any("Raised MaxWebservers from 2 to 4" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"Schedulers": 6}, "target.schedulers = 6 is not valid for mw1.large on Airflow 3.0.6; MWAA accepts 2 to 5"),
        ({"Schedulers": 1}, "target.schedulers = 1 is not valid"),
        ({"EnvironmentClass": "mw1.micro", "MaxWebservers": 2}, "target.max_webservers = 2 is not valid for mw1.micro"),
        (
            {"MinWorkers": 0},
            "target.min_workers = 0 is not valid for mw1.large on Airflow 3.0.6; MWAA accepts at least 1",
        ),
        ({"MinWorkers": 5, "MaxWorkers": 3}, "target.min_workers = 5 is more than target.max_workers = 3"),
        (
            {"WebserverAccessMode": "PUBLIC_AND_PRIVATE"},
            "target.webserver_access_mode: PUBLIC_AND_PRIVATE needs Airflow 3.2",
        ),
        (
            {"NetworkConfiguration": {"SubnetIds": ["subnet-0123456789abcdef0"]}},
            "target.network.subnet_ids lists 1 IDs and MWAA needs exactly 2",
        ),
        (
            {"NetworkConfiguration": {"SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef0"]}},
            "target.network.subnet_ids repeats an ID",
        ),
        (
            {"NetworkConfiguration": {"SecurityGroupIds": []}},
            "target.network.security_group_ids lists 0 IDs and MWAA needs 1 to 5",
        ),
        (
            {"NetworkConfiguration": {"SecurityGroupIds": ["group-1"]}},
            "target.network.security_group_ids has IDs MWAA won't accept ('group-1')",
        ),
    ],
)
def test_invalid_overrides_are_refused_naming_the_file_key(overrides: dict[str, Any], expected: str) -> None:
    assert expected in refusal("2.10.3", "3.0.6", overrides)


def test_option_overrides_are_merged_over_the_translated_options() -> None:
    overrides = {"AirflowConfigurationOptions": {"core.default_timezone": "europe/dublin", "core.parallelism": "64"}}

    options = clone("2.10.3", "3.0.6", overrides).settings["AirflowConfigurationOptions"]

    assert options["core.default_timezone"] == "europe/dublin"
    assert options["core.parallelism"] == "64"
    assert options["celery.worker_autoscale"] == "20,20", "untouched cloned options stay"


def test_tag_overrides_are_merged_and_aws_tags_dropped() -> None:
    tags = clone("1.10.12", "2.10.3", {"Tags": {"team": "platform", "migration": "analytics"}}).settings["Tags"]

    assert tags == {"cost-center": "cc-4821", "team": "platform", "migration": "analytics"}


def test_no_tags_leaves_the_field_out_and_the_attribute_empty() -> None:
    settings = clone("3.0.6", "3.0.6", Tags={"aws:cloudformation:stack-name": "reporting"}).settings

    assert "Tags" not in settings, "MWAA's TagMap needs at least one entry"
    assert encode_attributes(settings)["Tags"] == "{}"


# --- translation wiring ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "target"), [("1.10.12", "2.10.3"), ("2.10.3", "3.0.6"), ("1.10.12", "3.0.6")])
def test_options_are_the_translated_source_options(version: str, target: str) -> None:
    source = load_environment(version)
    expected = translate_options(source["AirflowConfigurationOptions"], version, target)

    result = clone(version, target)

    assert result.settings["AirflowConfigurationOptions"] == expected.options
    assert all(warning in result.warnings for warning in expected.warnings)


def test_1_10_to_2x_swaps_the_secrets_backend_and_renames_options() -> None:
    options = clone("1.10.12", "2.10.3").settings["AirflowConfigurationOptions"]

    assert options["secrets.backend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert options["core.max_active_tasks_per_dag"] == "16"
    assert "core.dag_concurrency" not in options


def test_1_10_to_3x_crosses_both_majors() -> None:
    options = clone("1.10.12", "3.0.6").settings["AirflowConfigurationOptions"]

    assert options["dag_processor.parsing_processes"] == "2"
    assert "scheduler.max_threads" not in options and "scheduler.parsing_processes" not in options


def test_2x_to_3x_moves_webserver_options_to_api() -> None:
    result = clone("2.10.3", "3.0.6")

    options = result.settings["AirflowConfigurationOptions"]
    assert options["api.expose_config"] == "False"
    assert "webserver.session_lifetime_days" not in options
    assert any("webserver.session_lifetime_days" in warning for warning in result.warnings)


def test_invalid_cloned_options_and_tags_are_dropped_without_their_values() -> None:
    options = {"core.default_timezone": "utc", "Core.Bad-Key": SECRET, "core.tab": f"a\t{SECRET}"}
    tags = {"team": "x", "bad\ttag": SECRET, "empty": ""}

    result = clone("3.0.6", "3.0.6", AirflowConfigurationOptions=options, Tags=tags)

    assert result.settings["AirflowConfigurationOptions"] == {"core.default_timezone": "utc"}
    assert result.settings["Tags"] == {"team": "x"}
    assert sum("Dropped" in warning for warning in result.warnings) == 4
    assert not any(SECRET in warning for warning in result.warnings)


# --- refusals ------------------------------------------------------------------------------------------------


def test_a_source_that_is_not_available_is_refused() -> None:
    message = refusal("2.10.3", "3.0.6", Status="UPDATING")

    assert message == (
        "the source environment 'orders' is UPDATING, not AVAILABLE; "
        "deploy again when `aws mwaa get-environment` reports AVAILABLE"
    )


def test_a_downgrade_is_refused_with_the_reason() -> None:
    message = refusal("3.0.6", "2.11.0")

    assert "older than the source's 3.0.6" in message
    assert "MWAA can't downgrade" in message and "metadata database" in message
    assert message.endswith("so pick 3.0.6 or newer")


def test_the_source_name_in_the_same_region_is_refused() -> None:
    environment = load_environment("2.10.3")
    request = make_request(environment, "3.0.6", target_environment_name="orders")

    with pytest.raises(CloneRefused, match="MWAA names are unique per region; pick a new name"):
        clone_settings(environment, request)


def test_the_source_name_in_another_region_is_allowed() -> None:
    environment = load_environment("2.10.3")
    overrides = {"NetworkConfiguration": {"SubnetIds": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}}
    request = make_request(environment, "3.0.6", target_environment_name="orders", target_region="eu-central-1")

    result = clone_settings(environment, CloneRequest(**{**request.__dict__, "overrides": overrides}))

    assert result.settings["NetworkConfiguration"]["SubnetIds"] == overrides["NetworkConfiguration"]["SubnetIds"]
    assert any("security groups are in eu-west-1" in warning for warning in result.warnings)


def test_cloned_subnets_are_refused_in_another_region() -> None:
    environment = load_environment("2.10.3")
    request = make_request(environment, "3.0.6", target_region="eu-central-1")

    with pytest.raises(CloneRefused, match="subnets are in eu-west-1 and the target is in eu-central-1"):
        clone_settings(environment, request)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"EnvironmentClass": "mw2.enormous"}, "set target.environment_class in the migration file"),
        ({"NetworkConfiguration": None}, "the source reports no SubnetIds; set target.network.subnet_ids"),
        ({"AirflowVersion": "latest"}, "reports no usable AirflowVersion ('latest')"),
        ({"Status": None}, "is in an unknown state, not AVAILABLE"),
        ({"MinWorkers": "two"}, "the source's MinWorkers 'two' is not a whole number"),
    ],
)
def test_unusable_source_fields_are_refused(changes: dict[str, Any], expected: str) -> None:
    assert expected in refusal("2.10.3", "3.0.6", **changes)


def test_more_than_50_tags_are_refused() -> None:
    tags = {f"tag{i}": "x" for i in range(49)}

    message = refusal("3.0.6", "3.0.6", {"Tags": {"one": "1", "two": "2"}}, Tags=tags)

    assert "add up to 51 and MWAA allows 50" in message


# --- the request ---------------------------------------------------------------------------------------------


def cfn_properties(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:clone-provider-onEvent",
        "SourceEnvironmentName": "analytics",
        "SourceRegion": "us-east-1",
        "TargetEnvironmentName": "analytics-v3",
        "TargetRegion": "us-east-1",
        "TargetAirflowVersion": "3.0.6",
        "Overrides": json.dumps({"MaxWorkers": 20, "LoggingConfiguration": {"TaskLogs": {"Enabled": True}}}),
    }
    props.update(changes)
    return props


def test_properties_parse_into_a_request() -> None:
    request = CloneRequest.from_properties(cfn_properties())

    assert request.source_environment_name == "analytics"
    assert request.target_airflow_version == "3.0.6"
    assert dict(request.overrides) == {"MaxWorkers": 20, "LoggingConfiguration": {"TaskLogs": {"Enabled": True}}}
    assert physical_resource_id(request) == "clone-settings/us-east-1/analytics"


def test_stringified_numbers_and_booleans_are_accepted() -> None:
    overrides = {"MaxWorkers": "20", "LoggingConfiguration": {"TaskLogs": {"Enabled": "false"}}}

    request = CloneRequest.from_properties(cfn_properties(Overrides=overrides))

    assert dict(request.overrides) == {"MaxWorkers": 20, "LoggingConfiguration": {"TaskLogs": {"Enabled": False}}}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SourceEnvironmentName": ""}, "SourceEnvironmentName is missing or empty"),
        ({"SourceRegion": "US East"}, "SourceRegion = 'US East' is not valid"),
        ({"TargetAirflowVersion": "three"}, "TargetAirflowVersion 'three' is not a version such as 2.10.3"),
        ({"Overrides": "{not json"}, "the Overrides property is not valid JSON"),
        ({"Overrides": "[]"}, "must be a JSON object"),
        ({"Overrides": '{"KmsKey": "x"}'}, "unknown field 'KmsKey'"),
        ({"Overrides": '{"MaxWorkers": 2.5}'}, "target.max_workers must be a whole number, got 2.5"),
        ({"Overrides": '{"EnvironmentClass": "mw1.huge"}'}, "target.environment_class = 'mw1.huge' is not allowed"),
        ({"Overrides": '{"WeeklyMaintenanceWindowStart": "SUN:03:15"}'}, "MM 00 or 30"),
        ({"Overrides": '{"LoggingConfiguration": {"TaskLogs": {"LogLevel": "LOUD"}}}'}, "target.logging.task"),
        ({"Overrides": '{"AirflowConfigurationOptions": {"Core.X": "1"}}'}, '"Core.X": the key must be lowercase'),
        ({"Overrides": '{"AirflowConfigurationOptions": {"core.x": ""}}'}, "printable ASCII"),
        ({"Overrides": '{"Tags": {"aws:owner": "me"}}'}, "reserved by AWS"),
        ({"Overrides": '{"Tags": {"owner": ""}}'}, "the value must be 1 to 256"),
    ],
)
def test_bad_properties_are_refused(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(CloneRefused) as caught:
        CloneRequest.from_properties(cfn_properties(**changes))

    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


# --- attributes ----------------------------------------------------------------------------------------------


def test_attributes_are_strings_for_getatt() -> None:
    attributes = encode_attributes(clone("1.10.12", "2.10.3").settings)

    assert tuple(attributes) == ATTRIBUTE_NAMES
    assert attributes["EnvironmentClass"] == "mw1.medium"
    assert attributes["MaxWorkers"] == "10"
    assert attributes["SubnetIds"] == "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
    assert attributes["SecurityGroupIds"] == "sg-0a1b2c3d4e5f60718"
    assert attributes["WebserverLogsEnabled"] == "false"
    assert attributes["WorkerLogsLevel"] == "ERROR"
    assert attributes["Tags"] == '{"cost-center":"cc-4821","team":"data-platform"}'
    options = attributes["AirflowConfigurationOptions"]
    assert options.startswith('{"core.default_timezone":"utc","core.load_examples":"False",')
    assert json.loads(options) == clone("1.10.12", "2.10.3").settings["AirflowConfigurationOptions"]


def test_the_response_size_is_the_framework_body_on_the_wire() -> None:
    settings = clone("2.10.3", "3.0.6").settings
    data = encode_attributes(settings)
    body = response_body(data, physical_id="clone-settings/eu-west-1/orders")

    size = check_response_size(settings, body)

    assert size == len(json.dumps(body, separators=(",", ":")).encode())
    assert set(body) == {
        "Status",
        "Reason",
        "StackId",
        "RequestId",
        "PhysicalResourceId",
        "LogicalResourceId",
        "NoEcho",
        "Data",
    }


def test_a_response_over_4096_bytes_is_refused_naming_the_largest_entries() -> None:
    options = {
        "secrets.backend_kwargs": "x" * 1500,
        "smtp.smtp_mail_from": "y" * 900,
        "core.default_timezone": "utc",
    }
    settings = clone("2.10.3", "3.0.6", {"AirflowConfigurationOptions": options}).settings
    body = response_body(encode_attributes(settings), physical_id="clone-settings/eu-west-1/orders")
    assert encoded_size(body) > CFN_RESPONSE_LIMIT

    with pytest.raises(CloneRefused) as caught:
        check_response_size(settings, body)

    message = str(caught.value)
    assert "\n" not in message
    assert f"is {encoded_size(body)} bytes, over CloudFormation's 4096-byte limit" in message
    assert (
        "the largest are option secrets.backend_kwargs (1532 bytes), option smtp.smtp_mail_from (929 bytes)" in message
    )
    assert "Secrets Manager" in message
    assert "x" * 20 not in message, "values never appear in a refusal"
