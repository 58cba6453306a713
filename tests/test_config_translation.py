"""Tests for mwaa_clone.config_translation."""

from __future__ import annotations

import re

import pytest

from mwaa_clone.config_translation import (
    _REMOVED,
    _REMOVED_IF,
    _RENAMED,
    _SECTIONS_RENAMED,
    TranslationResult,
    parse_version,
    translate_options,
)

MWAA_KEY = re.compile(r"^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$")
SECRETS_MANAGER_V1 = "airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend"
SECRETS_MANAGER_V2 = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
PARAMETER_STORE_V1 = "airflow.contrib.secrets.aws_systems_manager.SystemsManagerParameterStoreBackend"
PARAMETER_STORE_V2 = "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend"


def test_1_10_to_2_10_renames_keys_and_keeps_values() -> None:
    result = translate_options(
        {
            "core.dag_concurrency": "16",
            "scheduler.max_threads": "4",
            "core.remote_logging": "True",
            "scheduler.statsd_on": "True",
            "admin.hide_sensitive_variable_fields": "False",
            "webserver.dag_default_view": "graph",
            # Renamed in 1.10.4, so a 1.10.12 source already had the new name available: left alone.
            "core.non_pooled_task_slot_count": "128",
        },
        "1.10.12",
        "2.10.3",
    )

    assert result.options == {
        "core.max_active_tasks_per_dag": "16",
        "scheduler.parsing_processes": "4",
        "logging.remote_logging": "True",
        "metrics.statsd_on": "True",
        "core.hide_sensitive_var_conn_fields": "False",
        "webserver.dag_default_view": "graph",
        "core.non_pooled_task_slot_count": "128",
    }
    assert result.warnings == [
        "scheduler.max_threads renamed to scheduler.parsing_processes (Airflow 1.10.14)",
        "core.remote_logging renamed to logging.remote_logging (Airflow 2.0.0)",
        "scheduler.statsd_on renamed to metrics.statsd_on (Airflow 2.0.0)",
        "admin.hide_sensitive_variable_fields renamed to core.hide_sensitive_var_conn_fields (Airflow 2.1.0)",
        "core.dag_concurrency renamed to core.max_active_tasks_per_dag (Airflow 2.2.0)",
    ]


def test_2_10_to_3_0_renames_removes_and_leaves_default_changes_alone() -> None:
    result = translate_options(
        {
            "core.dag_concurrency": "16",
            "scheduler.parsing_processes": "2",
            "scheduler.dag_dir_list_interval": "300",
            "webserver.base_url": "https://airflow.example.com",
            "webserver.web_server_port": "8080",
            "core.check_slas": "False",
            "scheduler.catchup_by_default": "True",
            "core.default_timezone": "utc",
        },
        "2.10.3",
        "3.0.6",
    )

    assert result.options == {
        "core.max_active_tasks_per_dag": "16",
        "dag_processor.parsing_processes": "2",
        "dag_processor.refresh_interval": "300",
        "api.base_url": "https://airflow.example.com",
        "api.port": "8080",
        "scheduler.catchup_by_default": "True",
        "core.default_timezone": "utc",
    }
    assert result.warnings == [
        "core.dag_concurrency renamed to core.max_active_tasks_per_dag (Airflow 3.0.0)",
        "scheduler.dag_dir_list_interval renamed to dag_processor.refresh_interval (Airflow 3.0.0)",
        "scheduler.parsing_processes renamed to dag_processor.parsing_processes (Airflow 3.0.0)",
        "webserver.base_url renamed to api.base_url (Airflow 3.0.0)",
        "webserver.web_server_port renamed to api.port (Airflow 3.0.0)",
        "core.check_slas dropped: removed in Airflow 3.0.0: the SLA feature is gone",
    ]


def test_1_10_to_3_0_chains_every_step() -> None:
    result = translate_options(
        {"scheduler.max_threads": "4", "scheduler.statsd_allow_list": "scheduler,executor"},
        "1.10.12",
        "3.0.6",
    )

    assert result.options == {
        "dag_processor.parsing_processes": "4",
        "metrics.metrics_allow_list": "scheduler,executor",
    }
    assert result.warnings == [
        "scheduler.max_threads renamed to scheduler.parsing_processes (Airflow 1.10.14)",
        "scheduler.statsd_allow_list renamed to metrics.statsd_allow_list (Airflow 2.0.0)",
        "metrics.statsd_allow_list renamed to metrics.metrics_allow_list (Airflow 2.6.0)",
        "scheduler.parsing_processes renamed to dag_processor.parsing_processes (Airflow 3.0.0)",
    ]


def test_3_0_rename_then_removal_in_the_same_release() -> None:
    # core.load_default_connections moved to [database] in 2.3 and [database] dropped it in 3.0.
    result = translate_options({"core.load_default_connections": "False"}, "2.2.2", "3.0.6")

    assert result.options == {}
    assert result.warnings == [
        "core.load_default_connections renamed to database.load_default_connections (Airflow 2.3.0)",
        "database.load_default_connections dropped: removed in Airflow 3.0.0",
    ]


def test_removed_keys_are_dropped_with_the_reason() -> None:
    result = translate_options(
        {"smtp.smtp_password": "hunter2", "webserver.x_frame_enabled": "True", "core.parallelism": "32"},
        "2.10.3",
        "3.0.6",
    )

    assert result.options == {"core.parallelism": "32"}
    assert result.warnings == [
        "smtp.smtp_password dropped: removed in Airflow 3.0.0: use the smtp_default connection",
        "webserver.x_frame_enabled dropped: removed in Airflow 3.0.0",
    ]


def test_session_lifetime_days_is_not_carried_into_a_minutes_option() -> None:
    result = translate_options({"webserver.session_lifetime_days": "30"}, "2.10.3", "3.0.6")

    assert result.options == {}
    assert result.warnings == [
        "webserver.session_lifetime_days dropped: removed in Airflow 3.0.0: "
        "it counted days; set fab.session_lifetime_minutes instead"
    ]


def test_conditional_removal_only_drops_the_old_default() -> None:
    old_default = "{{ ti.dag_id }}/{{ ti.task_id }}/{{ ts }}/{{ try_number }}.log"
    dropped = translate_options({"logging.log_filename_template": old_default}, "2.10.3", "3.0.6")
    custom = "{{ ti.dag_id }}/{{ ti.run_id }}/{{ try_number }}.log"
    kept = translate_options({"logging.log_filename_template": custom}, "2.10.3", "3.0.6")

    assert dropped == TranslationResult(
        options={},
        warnings=[
            "logging.log_filename_template dropped: removed in Airflow 3.0.0 "
            "because it held an Airflow 2 default template"
        ],
    )
    assert kept == TranslationResult(options={"logging.log_filename_template": custom}, warnings=[])


def test_old_and_new_name_both_set_keeps_the_new_value() -> None:
    result = translate_options({"core.dag_concurrency": "8", "core.max_active_tasks_per_dag": "32"}, "2.0.2", "2.10.3")

    assert result.options == {"core.max_active_tasks_per_dag": "32"}
    assert result.warnings == [
        "core.dag_concurrency dropped: core.max_active_tasks_per_dag is also set and wins (renamed in Airflow 2.2.0)"
    ]


def test_old_names_that_land_on_one_new_name_in_one_release() -> None:
    result = translate_options(
        {
            # 2.x still tolerated the deprecated name next to the current one; 3.0 maps both.
            "scheduler.max_threads": "1",
            "scheduler.parsing_processes": "2",
            # Chained inside 3.0: scheduler.statsd_allow_list -> metrics.statsd_allow_list -> ...
            "scheduler.statsd_allow_list": "old",
            "metrics.statsd_allow_list": "newer",
        },
        "2.10.3",
        "3.0.6",
    )

    assert result.options == {"dag_processor.parsing_processes": "2", "metrics.metrics_allow_list": "newer"}
    assert result.warnings == [
        "metrics.statsd_allow_list renamed to metrics.metrics_allow_list (Airflow 3.0.0)",
        "scheduler.max_threads dropped: scheduler.parsing_processes also becomes "
        "dag_processor.parsing_processes and wins",
        "scheduler.parsing_processes renamed to dag_processor.parsing_processes (Airflow 3.0.0)",
        "scheduler.statsd_allow_list renamed to metrics.statsd_allow_list (Airflow 3.0.0)",
        "metrics.statsd_allow_list dropped: metrics.metrics_allow_list is also set and wins (renamed in Airflow 3.0.0)",
    ]


def test_section_rename_moves_every_option_and_refuses_overlong_keys() -> None:
    long_option = "o" * 50  # fits under [kubernetes] (61 chars), not under [kubernetes_executor] (70)
    result = translate_options({"kubernetes.namespace": "airflow", f"kubernetes.{long_option}": "x"}, "2.4.3", "2.5.1")

    assert result.options == {"kubernetes_executor.namespace": "airflow"}
    assert result.warnings == [
        "kubernetes.namespace renamed to kubernetes_executor.namespace (Airflow 2.5.0)",
        f"kubernetes.{long_option} dropped: its Airflow 2.5.0 name kubernetes_executor.{long_option} "
        "is not a valid MWAA key",
    ]


@pytest.mark.parametrize(
    ("v1_path", "v2_path"),
    [(SECRETS_MANAGER_V1, SECRETS_MANAGER_V2), (PARAMETER_STORE_V1, PARAMETER_STORE_V2)],
)
def test_v1_secrets_backend_is_rewritten(v1_path: str, v2_path: str) -> None:
    kwargs = '{"connections_prefix": "airflow/connections"}'
    result = translate_options({"secrets.backend": v1_path, "secrets.backend_kwargs": kwargs}, "1.10.12", "2.10.3")

    assert result.options == {"secrets.backend": v2_path, "secrets.backend_kwargs": kwargs}
    assert result.warnings == [
        "secrets.backend rewritten from the Airflow 1.10 airflow.contrib class path to the Amazon provider's class"
    ]
    assert not any(v1_path in warning or v2_path in warning for warning in result.warnings)


def test_secrets_backend_rewrite_starts_at_airflow_2() -> None:
    options = {"secrets.backend": SECRETS_MANAGER_V1}

    assert translate_options(options, "1.10.12", "2.0.0").options == {"secrets.backend": SECRETS_MANAGER_V2}
    assert translate_options(options, "1.10.12", "1.10.15") == TranslationResult(options=options, warnings=[])


def test_other_secrets_backends_are_left_alone() -> None:
    custom = "my_company.secrets.VaultBackend"
    result = translate_options({"secrets.backend": custom}, "1.10.12", "2.10.3")

    assert result == TranslationResult(options={"secrets.backend": custom}, warnings=[])


def test_same_version_changes_nothing() -> None:
    options = {"scheduler.max_threads": "4", "secrets.backend": SECRETS_MANAGER_V1}
    result = translate_options(options, "2.10.3", "2.10.3")

    assert result == TranslationResult(options=options, warnings=[])
    assert result.options is not options


def test_patch_upgrade_with_nothing_crossed_changes_nothing() -> None:
    options = {"scheduler.parsing_processes": "2", "core.dag_concurrency": "16"}
    result = translate_options(options, "2.10.1", "2.10.3")

    assert result == TranslationResult(options=options, warnings=[])
    assert list(result.options) == ["core.dag_concurrency", "scheduler.parsing_processes"]


def test_change_applies_only_when_its_release_is_crossed() -> None:
    # 2.2.0 introduced max_active_tasks_per_dag: a 2.2.0 source is already past it. 2.3.0 introduced
    # [database]: a 2.3.0 target is at it, so that move applies.
    result = translate_options({"core.dag_concurrency": "16", "core.sql_alchemy_pool_size": "5"}, "2.2.0", "2.3.0")

    assert result == TranslationResult(
        options={"core.dag_concurrency": "16", "database.sql_alchemy_pool_size": "5"},
        warnings=["core.sql_alchemy_pool_size renamed to database.sql_alchemy_pool_size (Airflow 2.3.0)"],
    )


def test_downgrade_is_refused() -> None:
    with pytest.raises(ValueError, match=r"from Airflow 3\.0\.6 down to 2\.10\.3"):
        translate_options({"core.parallelism": "32"}, "3.0.6", "2.10.3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2.10.3", (2, 10, 3)), ("1.10.12", (1, 10, 12)), ("3.0.6", (3, 0, 6)), ("2.10", (2, 10))],
)
def test_parse_version(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2",
        "v2.10.3",
        "2.10.3rc1",
        "2.10.x",
        " 2.10.3",
        "2..3",
        "2.10.3.",
        "1.2.3.4.5",
        "\u0662.\u0661\u0660.\u0663",
    ],
)
def test_bad_version_strings_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid Airflow version"):
        parse_version(bad)
    with pytest.raises(ValueError, match="invalid Airflow version"):
        translate_options({}, bad, "3.0.6")
    with pytest.raises(ValueError, match="invalid Airflow version"):
        translate_options({}, "2.10.3", bad)


def _every_known_key() -> list[str]:
    keys = {key for table in (_RENAMED, _REMOVED, _REMOVED_IF) for step in table.values() for key in step}
    keys |= {f"{section}.namespace" for step in _SECTIONS_RENAMED.values() for section in step}
    keys.add("secrets.backend")
    return sorted(keys)


@pytest.mark.parametrize(("source", "target"), [("1.10.12", "2.10.3"), ("1.10.12", "3.0.6"), ("2.10.3", "3.0.6")])
def test_warnings_never_contain_values_and_keys_stay_valid(source: str, target: str) -> None:
    options = {key: f"Value-{index:03d}-Secret" for index, key in enumerate(_every_known_key())}
    options["secrets.backend"] = SECRETS_MANAGER_V1
    result = translate_options(options, source, target)

    assert result.warnings  # the sweep really exercised the tables
    for warning in result.warnings:
        assert "Value-" not in warning
        assert SECRETS_MANAGER_V1 not in warning
        assert SECRETS_MANAGER_V2 not in warning
    for key in result.options:
        assert MWAA_KEY.fullmatch(key) is not None
        assert len(key) <= 64
    # Every value that survives is one we were given (or the provider backend path), never invented.
    assert set(result.options.values()) <= {*options.values(), SECRETS_MANAGER_V2}


def test_every_table_target_is_a_valid_mwaa_key() -> None:
    for step in _RENAMED.values():
        for old, new in step.items():
            assert MWAA_KEY.fullmatch(old) is not None, old
            assert MWAA_KEY.fullmatch(new) is not None and len(new) <= 64, new


def test_output_and_warnings_do_not_depend_on_input_order() -> None:
    options = {
        "webserver.navbar_color": "#fff",
        "scheduler.max_threads": "1",
        "core.dag_concurrency": "2",
        "core.max_active_tasks_per_dag": "3",
        "smtp.smtp_user": "4",
        "core.default_timezone": "utc",
    }
    forward = translate_options(options, "1.10.12", "3.0.6")
    backward = translate_options(dict(reversed(list(options.items()))), "1.10.12", "3.0.6")

    assert forward == backward
    assert list(forward.options) == list(backward.options) == sorted(forward.options)
