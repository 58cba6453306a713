"""The clone's pure rules, driven by saved `aws mwaa get-environment` outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mwaa_clone.clone_rules import CloneRefused, CloneRequest, CloneResult, clone_settings
from mwaa_clone.config_translation import translate_options
from mwaa_clone.mwaa_limits import AIRFLOW_2_SCHEDULING_DEFAULTS
from tests.clone_fixtures import CLONED_FIELDS, load_environment

SECRET = "postgresql://admin:s3cr3t-Pa55w0rd@db.internal:5432/app"
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def make_request(environment: Mapping[str, Any], target_version: str, **changes: Any) -> CloneRequest:
    region = str(environment["Arn"]).split(":")[3]
    fields: dict[str, Any] = {
        "source_environment_name": environment["Name"],
        "source_region": region,
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
    source = load_environment(version)
    settings = clone(version, target).settings

    # KmsKey only when the source is on a customer key, which the new environment keeps.
    assert set(settings) == CLONED_FIELDS - ({"KmsKey"} if "KmsKey" not in source else set())
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


def test_no_tags_leaves_the_field_out() -> None:
    settings = clone("3.0.6", "3.0.6", Tags={"aws:cloudformation:stack-name": "reporting"}).settings

    assert "Tags" not in settings, "MWAA's TagMap needs at least one entry"


# --- translation wiring ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "target"), [("1.10.12", "2.10.3"), ("2.10.3", "3.0.6"), ("1.10.12", "3.0.6")])
def test_options_are_the_translated_source_options(version: str, target: str) -> None:
    source = load_environment(version)
    expected = translate_options(source["AirflowConfigurationOptions"], version, target)

    result = clone(version, target)

    # The clone adds options of its own: DAGs start paused on the new environment, and a move to Airflow 3 keeps
    # Airflow 2's scheduling defaults where the source doesn't set them.
    added = {"core.dags_are_paused_at_creation": "True"}
    if target.startswith("3.") and not version.startswith("3."):
        for option, (value, _why) in AIRFLOW_2_SCHEDULING_DEFAULTS.items():
            added.setdefault(option, expected.options.get(option, value))
    assert result.settings["AirflowConfigurationOptions"] == {**expected.options, **added}
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

    assert result.settings["AirflowConfigurationOptions"] == {
        "core.dags_are_paused_at_creation": "True",
        "core.default_timezone": "utc",
    }
    assert result.settings["Tags"] == {"team": "x"}
    assert sum("Dropped" in warning for warning in result.warnings) == 4
    assert not any(SECRET in warning for warning in result.warnings)


# --- what synth must never write, and what keeps a DAG from running twice --------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "smtp.smtp_password",
        "webserver.secret_key",
        "database.sql_alchemy_conn",
        "core.sql_alchemy_conn",  # the name Airflow 2.0-2.2 used, which Airflow still reads
        "database.sql_alchemy_conn_async",  # marked sensitive from Airflow 3.3
    ],
)
def test_a_cloned_secret_is_refused_naming_where_to_move_it(key: str) -> None:
    message = refusal("2.10.3", "2.11.0", AirflowConfigurationOptions={key: SECRET})

    assert message == (
        f"{key} (from the source) may hold a secret: Airflow marks it sensitive, so neither the clone nor the "
        "migration file may write it into a template. Keep the value in the secrets backend (Airflow reads "
        f"{key}_secret from there) or in a connection, and add it to target.drop_options"
    )


@pytest.mark.parametrize("key", ["custom.api_token", "vault.credentials", "plugin.my_api_key", "sentry.extra_dsn"])
def test_a_cloned_option_named_like_a_secret_is_refused_saying_the_file_may_set_it(key: str) -> None:
    message = refusal("2.10.3", "2.11.0", AirflowConfigurationOptions={key: SECRET})

    assert message == (
        f"{key} (from the source) may hold a secret: its name says so, and a template must not carry one. If it is "
        f"a secret, keep it in a connection or the secrets backend and add {key} to target.drop_options; if you know "
        "it is not, set its value in [target.airflow_configuration_options], which is written as it stands"
    )


def test_the_file_sets_an_option_named_like_a_secret_over_its_masked_clone() -> None:
    # What the message above offers: the snapshot holds the mask, the file the value the user vouches for.
    options = {"plugin.my_api_key": "<masked by snapshot.py>", "vault.credentials": "<masked by snapshot.py>"}
    chosen = {"plugin.my_api_key": "public-demo-key", "vault.credentials": "/etc/vault/role"}

    result = clone("2.10.3", "2.11.0", {"AirflowConfigurationOptions": chosen}, AirflowConfigurationOptions=options)

    cloned = result.settings["AirflowConfigurationOptions"]
    assert {key: cloned[key] for key in chosen} == chosen


def test_a_secret_in_the_file_is_refused_naming_the_file() -> None:
    message = refusal("2.10.3", "2.11.0", {"AirflowConfigurationOptions": {"smtp.smtp_password": SECRET}})

    assert message.startswith("smtp.smtp_password (from [target.airflow_configuration_options]) may hold a secret")
    assert message.endswith("and remove it from the file")
    assert SECRET not in message


def test_a_secret_reference_and_names_only_backend_kwargs_are_cloned() -> None:
    options = {
        "smtp.smtp_password_secret": "smtp-password",
        "secrets.backend_kwargs": '{"connections_prefix": "af/conn", "sep": "/"}',
    }

    cloned = clone("2.10.3", "2.11.0", AirflowConfigurationOptions=options).settings["AirflowConfigurationOptions"]

    assert {key: cloned[key] for key in options} == options


def test_backend_kwargs_with_credentials_are_a_secret() -> None:
    options = {"secrets.backend_kwargs": f'{{"connections_prefix": "af", "aws_secret_access_key": "{SECRET}"}}'}

    assert refusal("2.10.3", "2.11.0", AirflowConfigurationOptions=options).startswith("secrets.backend_kwargs")


def test_drop_options_leaves_cloned_options_out_with_a_warning() -> None:
    options = {"smtp.smtp_password": "<masked by snapshot.py>", "core.default_timezone": "utc"}

    result = clone(
        "2.10.3",
        "2.11.0",
        {"DropOptions": ["smtp.smtp_password", "core.not_there"]},
        AirflowConfigurationOptions=options,
    )

    assert "smtp.smtp_password" not in result.settings["AirflowConfigurationOptions"]
    assert "Dropped the source's option smtp.smtp_password as target.drop_options asks." in result.warnings
    assert "target.drop_options lists core.not_there, which the source doesn't have: nothing dropped." in (
        result.warnings
    )


def test_dags_start_paused_whatever_the_source_says() -> None:
    options = {"core.dags_are_paused_at_creation": "False"}

    result = clone("2.10.3", "2.11.0", AirflowConfigurationOptions=options)

    assert result.settings["AirflowConfigurationOptions"]["core.dags_are_paused_at_creation"] == "True"
    assert any(w.startswith("core.dags_are_paused_at_creation: True on the new environment") for w in result.warnings)


@pytest.mark.parametrize("key", ["scheduler.create_cron_data_intervals", "scheduler.catchup_by_default"])
def test_a_move_to_airflow_3_keeps_airflow_2s_scheduling_defaults_unless_set(key: str) -> None:
    """Airflow 3 changed both defaults (True on 2.x, False on 3.x: core 3.0.6's config.yml): without them a DAG
    relying on catch-up skips the intervals that fell due during the cut-over, and cron DAGs shift an interval."""
    moved = clone("2.10.3", "3.3.1")
    assert moved.settings["AirflowConfigurationOptions"][key] == "True"
    assert sum(w.startswith(f"{key}: True on the new environment") for w in moved.warnings) == 1

    chosen = clone("2.10.3", "3.0.6", {"AirflowConfigurationOptions": {key: "False"}})
    assert chosen.settings["AirflowConfigurationOptions"][key] == "False"
    assert not any(w.startswith(key) for w in chosen.warnings)

    options = {**load_environment("2.10.3")["AirflowConfigurationOptions"], key: "False"}
    from_source = clone("2.10.3", "3.0.6", AirflowConfigurationOptions=options)
    assert from_source.settings["AirflowConfigurationOptions"][key] == "False"
    assert not any(w.startswith(key) for w in from_source.warnings)

    # Within Airflow 2 the default is already True: nothing is added.
    assert key not in clone("2.10.3", "2.11.0").settings["AirflowConfigurationOptions"]


def test_worker_concurrency_is_cloned_only_onto_the_same_class() -> None:
    key, large = "celery.worker_autoscale", {"celery.worker_autoscale": "20,20"}

    same = clone("2.10.3", "3.0.6", EnvironmentClass="mw1.large", AirflowConfigurationOptions=large)
    smaller = clone(
        "2.10.3", "3.0.6", {"EnvironmentClass": "mw1.medium"}, EnvironmentClass="mw1.large",
        AirflowConfigurationOptions=large,
    )  # fmt: skip
    chosen = clone(
        "2.10.3", "3.0.6", {"EnvironmentClass": "mw1.medium", "AirflowConfigurationOptions": {key: "8,4"}},
        EnvironmentClass="mw1.large", AirflowConfigurationOptions=large,
    )  # fmt: skip

    assert same.settings["AirflowConfigurationOptions"][key] == "20,20"
    assert not any(key in warning for warning in same.warnings)
    assert key not in smaller.settings["AirflowConfigurationOptions"]
    assert (
        f"Dropped the source's option {key} = 20,20: it was set for mw1.large workers, and the new environment is "
        "mw1.medium, so MWAA's default for that class applies; set it in [target.airflow_configuration_options] to "
        "choose." in smaller.warnings
    )
    assert chosen.settings["AirflowConfigurationOptions"][key] == "8,4"
    assert not any(key in warning for warning in chosen.warnings)


def test_the_file_may_unpause_with_a_warning() -> None:
    result = clone("2.10.3", "2.11.0", {"AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "False"}})

    assert result.settings["AirflowConfigurationOptions"]["core.dags_are_paused_at_creation"] == "False"
    assert any("DAGs start running on the new environment" in warning for warning in result.warnings)


def test_a_customer_key_is_kept_with_a_warning_unless_the_file_says_otherwise() -> None:
    source_key = load_environment("2.10.3")["KmsKey"]

    kept = clone("2.10.3", "3.0.6")
    owned = clone("2.10.3", "3.0.6", {"KmsKey": "aws-owned"})
    other = clone("2.10.3", "3.0.6", {"KmsKey": KMS_ARN})

    assert kept.settings["KmsKey"] == source_key
    assert any(
        warning.startswith(f"KmsKey: the new environment keeps the source's customer key {source_key}")
        for warning in kept.warnings
    )
    assert "KmsKey" not in owned.settings
    assert other.settings["KmsKey"] == KMS_ARN


def test_a_source_key_that_is_not_an_arn_is_refused() -> None:
    message = refusal("2.10.3", "3.0.6", KmsKey="alias/airflow")

    assert message.startswith("the source's KmsKey 'alias/airflow' is not a key ARN")
    assert "target.kms_key" in message


def test_teams_and_identity_center_are_named_in_warnings() -> None:
    result = clone("3.0.6", "3.0.6")

    assert any(w.startswith("The source has Teams, which CloudFormation can't set") for w in result.warnings)
    assert any(w.startswith("The source has IdentityCenterConfiguration") for w in result.warnings)


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
