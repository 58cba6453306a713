"""Translate MWAA ``AirflowConfigurationOptions`` from one Airflow version to a newer one.

Keys are ``"section.option"``. Every change Airflow made between the two versions is applied in release
order, so 1.10 ``scheduler.max_threads`` ends up as 3.x ``dag_processor.parsing_processes``. Values are
carried over untouched (except the v1 secrets backend class paths) and never appear in warnings, since
they can hold secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# MWAA's own constraint on AirflowConfigurationOptions keys.
_MWAA_KEY = re.compile(r"^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$")
_MWAA_KEY_MAX_LEN = 64
# ASCII digits only: \d would also accept other Unicode digits.
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){1,3}")


@dataclass(frozen=True)
class TranslationResult:
    options: dict[str, str]
    warnings: list[str]


def parse_version(version: str) -> tuple[int, ...]:
    """``"2.10.3"`` -> ``(2, 10, 3)``; anything but 2 to 4 dot-separated numbers is a ValueError."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"invalid Airflow version {version!r}: expected numbers like '2.10.3'")
    return tuple(int(part) for part in version.split("."))


def _moved(old_section: str, new_section: str, *options: str) -> dict[str, str]:
    """Renames for options that keep their name but change section."""
    return {f"{old_section}.{option}": f"{new_section}.{option}" for option in options}


# The metadata-database options Airflow 2.3 moved from [core] to [database]. Both tables list them: 2.x's
# deprecated_options (2.3.0) and 3.0's CONFIGS_CHANGES, which renames any still under [core].
_CORE_TO_DATABASE = (
    "sql_alchemy_conn",
    "sql_engine_encoding",
    "sql_engine_collation_for_ids",
    "sql_alchemy_pool_enabled",
    "sql_alchemy_pool_size",
    "sql_alchemy_max_overflow",
    "sql_alchemy_pool_recycle",
    "sql_alchemy_pool_pre_ping",
    "sql_alchemy_schema",
    "sql_alchemy_connect_args",
    "load_default_connections",
    "max_db_retries",
)
# The StatsD options Airflow 2.0 moved from [scheduler] to [metrics]; 3.0's CONFIGS_CHANGES renames them (and
# statsd_datadog_metrics_tags, added under [scheduler] later) again for any still under [scheduler].
_SCHEDULER_TO_METRICS = (
    "statsd_on",
    "statsd_host",
    "statsd_port",
    "statsd_prefix",
    "statsd_allow_list",
    "stat_name_handler",
    "statsd_datadog_enabled",
    "statsd_datadog_tags",
    "statsd_custom_client_path",
)

# --- Airflow 1.10 -> 2.x -------------------------------------------------------------------------
# AirflowConfigParser.deprecated_options in airflow/configuration.py of Airflow 2.10.3 (identical in
# 2.10.5). Airflow keys it (new_section, new_option) -> (old_section, old_option, since); here it is
# grouped by `since` (the version that introduced the new name) and flipped to old -> new. 59 entries.
# many_to_one_deprecated_options (task_queued_timeout) is left out on purpose: 2.x still reads the old
# options and takes the max, so they are only renamed by the 3.0 table below.
_RENAMED_2X: dict[str, dict[str, str]] = {
    "1.10.4": {"core.non_pooled_task_slot_count": "core.default_pool_task_slot_count"},
    "1.10.14": {"scheduler.max_threads": "scheduler.parsing_processes"},
    "2.0.0": {
        "core.worker_precheck": "celery.worker_precheck",
        **_moved(
            "core",
            "logging",
            "base_log_folder",
            "remote_logging",
            "remote_log_conn_id",
            "remote_base_log_folder",
            "encrypt_s3_logs",
            "logging_level",
            "fab_logging_level",
            "logging_config_class",
            "colored_console_log",
            "colored_log_format",
            "colored_formatter_class",
            "log_format",
            "simple_log_format",
            "task_log_prefix_template",
            "log_filename_template",
            "log_processor_filename_template",
            "dag_processor_manager_log_location",
            "task_log_reader",
        ),
        **_moved("scheduler", "metrics", *_SCHEDULER_TO_METRICS),
    },
    "2.1.0": {
        "celery.default_queue": "operators.default_queue",
        "admin.hide_sensitive_variable_fields": "core.hide_sensitive_var_conn_fields",
        "admin.sensitive_variable_fields": "core.sensitive_var_conn_names",
    },
    "2.2.0": {
        "scheduler.processor_poll_interval": "scheduler.scheduler_idle_sleep_time",
        "core.dag_concurrency": "core.max_active_tasks_per_dag",
        "celery.worker_log_server_port": "logging.worker_log_server_port",
        "api.access_control_allow_origin": "api.access_control_allow_origins",
    },
    "2.3.0": {
        "api.auth_backend": "api.auth_backends",
        **_moved("core", "database", *_CORE_TO_DATABASE),
    },
    "2.5.0": {"scheduler.deactivate_stale_dags_interval": "scheduler.parsing_cleanup_interval"},
    "2.6.0": {
        "metrics.statsd_allow_list": "metrics.metrics_allow_list",
        "metrics.statsd_block_list": "metrics.metrics_block_list",
        "scheduler.statsd_datadog_metrics_tags": "metrics.statsd_datadog_metrics_tags",
        "kubernetes_executor.worker_pods_pending_timeout_check_interval": (
            "scheduler.task_queued_timeout_check_interval"
        ),
    },
    "2.6.1": {"core.interleave_timestamp_parser": "logging.interleave_timestamp_parser"},
    "2.9.0": _moved("webserver", "fab", "update_fab_perms", "auth_rate_limited", "auth_rate_limit"),
}

# AirflowConfigParser.deprecated_sections, same file and version: the whole section was renamed.
_SECTIONS_RENAMED: dict[str, dict[str, str]] = {"2.5.0": {"kubernetes": "kubernetes_executor"}}

# --- Airflow 2.x -> 3.x --------------------------------------------------------------------------
# CONFIGS_CHANGES in airflow-core/src/airflow/cli/commands/config_command.py of Airflow 3.0.6 (the list
# behind `airflow config lint/update`); all of it is dated 3.0.0. Of its 147 entries, 86 renames are
# here, 51 removals and 5 conditional removals further down; the 4 `default_change` entries
# (core.executor, scheduler.catchup_by_default, scheduler.create_cron/delta_data_intervals) and the
# `is_invalid_if` check on core.parallelism are left out because they never rewrite a user's value.
_RENAMED_3X: dict[str, dict[str, str]] = {
    "3.0.0": {
        "admin.hide_sensitive_variable_fields": "core.hide_sensitive_var_conn_fields",
        "admin.sensitive_variable_fields": "core.sensitive_var_conn_names",
        "core.dataset_manager_class": "core.asset_manager_class",
        "core.dataset_manager_kwargs": "core.asset_manager_kwargs",
        "core.worker_precheck": "celery.worker_precheck",
        "core.non_pooled_task_slot_count": "core.default_pool_task_slot_count",
        "core.dag_concurrency": "core.max_active_tasks_per_dag",
        **_moved("core", "database", *_CORE_TO_DATABASE),
        "core.dag_file_processor_timeout": "dag_processor.dag_file_processor_timeout",
        "api.access_control_allow_origin": "api.access_control_allow_origins",
        "api.auth_backend": "fab.auth_backends",
        "api.auth_backends": "fab.auth_backends",
        "metrics.statsd_allow_list": "metrics.metrics_allow_list",
        "metrics.statsd_block_list": "metrics.metrics_block_list",
        **_moved(
            "webserver",
            "fab",
            "update_fab_perms",
            "auth_rate_limited",
            "auth_rate_limit",
            "config_file",
            "session_backend",
            "session_lifetime_minutes",
            "access_denied_message",
            "expose_hostname",
            "navbar_color",
            "navbar_text_color",
            "navbar_hover_color",
            "navbar_text_hover_color",
            "enable_proxy_fix",
            "proxy_fix_x_for",
            "proxy_fix_x_proto",
            "proxy_fix_x_host",
            "proxy_fix_x_port",
            "proxy_fix_x_prefix",
        ),
        "webserver.force_log_out_after": "fab.session_lifetime_minutes",
        **_moved("webserver", "api", "base_url", "secret_key", "workers", "access_logfile", "enable_swagger_ui"),
        "webserver.expose_config": "api.expose_config",
        "webserver.web_server_host": "api.host",
        "webserver.web_server_port": "api.port",
        "webserver.web_server_worker_timeout": "api.worker_timeout",
        "webserver.web_server_ssl_cert": "api.ssl_cert",
        "webserver.web_server_ssl_key": "api.ssl_key",
        "policy.airflow_local_settings": "policy.task_policy",
        "scheduler.processor_poll_interval": "scheduler.scheduler_idle_sleep_time",
        "scheduler.deactivate_stale_dags_interval": "scheduler.parsing_cleanup_interval",
        **_moved("scheduler", "metrics", *_SCHEDULER_TO_METRICS, "statsd_datadog_metrics_tags"),
        "scheduler.max_threads": "dag_processor.parsing_processes",
        **_moved(
            "scheduler",
            "dag_processor",
            "parsing_processes",
            "file_parsing_sort_mode",
            "max_callbacks_per_loop",
            "min_file_process_interval",
            "stale_dag_threshold",
            "print_stats_interval",
        ),
        "scheduler.dag_dir_list_interval": "dag_processor.refresh_interval",
        "scheduler.local_task_job_heartbeat_sec": "scheduler.task_instance_heartbeat_sec",
        "scheduler.scheduler_zombie_task_threshold": "scheduler.task_instance_heartbeat_timeout",
        "scheduler.zombie_detection_interval": "scheduler.task_instance_heartbeat_timeout_detection_interval",
        "scheduler.child_process_log_directory": "logging.dag_processor_child_process_log_directory",
        "celery.stalled_task_timeout": "scheduler.task_queued_timeout",
        "celery.task_adoption_timeout": "scheduler.task_queued_timeout",
        "kubernetes_executor.worker_pods_pending_timeout": "scheduler.task_queued_timeout",
        "celery.default_queue": "operators.default_queue",
        "kubernetes_executor.worker_pods_pending_timeout_check_interval": (
            "scheduler.task_queued_timeout_check_interval"
        ),
        "triggerer.default_capacity": "triggerer.capacity",
    },
    # Not in CONFIGS_CHANGES: AirflowConfigParser.deprecated_options in
    # airflow-core/src/airflow/configuration.py of Airflow 3.0.6, since 3.0.4.
    "3.0.4": {"scheduler.parsing_pre_import_modules": "dag_processor.parsing_pre_import_modules"},
}

# Same CONFIGS_CHANGES: removed options (no renamed_to), key -> short reason from Airflow's suggestion.
_REMOVED: dict[str, dict[str, str]] = {
    "3.0.0": {
        "core.check_slas": "the SLA feature is gone",
        "core.strict_dataset_uri_validation": "asset URIs are now always validated strictly",
        "logging.enable_task_context_logger": "replaced by the Log table",
        "metrics.timer_unit_consistency": "timers are now always in milliseconds",
        "smtp.smtp_user": "use the smtp_default connection",
        "smtp.smtp_password": "use the smtp_default connection",
        **dict.fromkeys(
            (
                "core.dag_default_view",
                "core.dag_orientation",
                "core.task_runner",
                "core.enable_xcom_pickling",
                "core.dag_processor_manager_log_location",
                "core.log_processor_filename_template",
                "logging.dag_processor_manager_log_location",
                "logging.dag_processor_manager_log_stdout",
                "logging.log_processor_filename_template",
                "metrics.metrics_use_pattern_match",
                "traces.otel_task_log_event",
                "operators.allow_illegal_arguments",
                "scheduler.dependency_detector",
                "scheduler.allow_trigger_in_future",
                "database.load_default_connections",
                "webserver.allow_raw_html_descriptions",
                "webserver.cookie_samesite",
                "webserver.x_frame_enabled",
                "webserver.error_logfile",
                "webserver.access_logformat",
                "webserver.web_server_master_timeout",
                "webserver.worker_refresh_batch_size",
                "webserver.worker_refresh_interval",
                "webserver.reload_on_plugin_change",
                "webserver.worker_class",
                "webserver.expose_stacktrace",
                "webserver.log_fetch_delay_sec",
                "webserver.log_auto_tailing_offset",
                "webserver.log_animation_speed",
                "webserver.default_dag_run_display_number",
                "webserver.cookie_secure",
                "webserver.analytics_tool",
                "webserver.analytics_id",
                "webserver.analytics_url",
                "webserver.show_recent_stats_for_completed_runs",
                "webserver.run_internal_api",
                "webserver.caching_hash_method",
                "webserver.show_trigger_form_if_no_params",
                "webserver.num_recent_configurations_for_trigger",
                "webserver.allowed_payload_size",
                "webserver.max_form_memory_size",
                "webserver.max_form_parts",
                "webserver.default_ui_timezone",
                "webserver.navbar_logo_text_color",
            ),
            "",
        ),
        # Deliberate deviation: CONFIGS_CHANGES renames this to fab.session_lifetime_minutes, but the
        # value counts days and the new option counts minutes, so carrying it over would be wrong.
        "webserver.session_lifetime_days": "it counted days; set fab.session_lifetime_minutes instead",
    },
}

# Same CONFIGS_CHANGES: `remove_if_equals` entries, dropped only while they hold Airflow 2's old value.
# key -> (old values, reason).
_REMOVED_IF: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "3.0.0": {
        "core.hostname": ((":",), "the legacy placeholder is no longer supported"),
        "logging.log_filename_template": (
            (
                "{{ ti.dag_id }}/{{ ti.task_id }}/{{ ts }}/{{ try_number }}.log",
                "dag_id={{ ti.dag_id }}/run_id={{ ti.run_id }}/task_id={{ ti.task_id }}/"
                "{% if ti.map_index >= 0 %}map_index={{ ti.map_index }}/{% endif %}"
                "attempt={{ try_number }}.log",
            ),
            "it held an Airflow 2 default template",
        ),
        "email.email_backend": (
            ("airflow.contrib.utils.sendgrid.send_email",),
            "it pointed at the removed airflow.contrib sendgrid backend",
        ),
        "elasticsearch.log_id_template": (
            ("{dag_id}-{task_id}-{logical_date}-{try_number}",),
            "it held the Airflow 2 default template",
        ),
    },
}

# Airflow 2.0 moved the AWS secrets backends from airflow.contrib to the Amazon provider package.
_SECRETS_BACKEND_KEY = "secrets.backend"
_SECRETS_BACKENDS_V1_TO_V2 = {
    "airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend": (
        "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    ),
    "airflow.contrib.secrets.aws_systems_manager.SystemsManagerParameterStoreBackend": (
        "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend"
    ),
}


def _comparable(version: tuple[int, ...]) -> tuple[int, ...]:
    # (2, 10) and (2, 10, 0) must compare equal.
    return version + (0,) * (4 - len(version))


_PROVIDER_SECRETS_SINCE = _comparable(parse_version("2.0.0"))

_RENAMED = {**_RENAMED_2X, **_RENAMED_3X}
_RELEASES = sorted(
    {*_RENAMED, *_SECTIONS_RENAMED, *_REMOVED, *_REMOVED_IF}, key=lambda v: _comparable(parse_version(v))
)


def _option(key: str) -> str:
    return key.partition(".")[2]


def _is_mwaa_key(key: str) -> bool:
    return len(key) <= _MWAA_KEY_MAX_LEN and _MWAA_KEY.fullmatch(key) is not None


def _new_name(key: str, release: str) -> str | None:
    if key in _RENAMED.get(release, {}):
        return _RENAMED[release][key]
    section, dot, option = key.partition(".")
    new_section = _SECTIONS_RENAMED.get(release, {}).get(section)
    return f"{new_section}.{option}" if dot and new_section else None


def _apply_renames(options: dict[str, str], release: str, warnings: list[str]) -> dict[str, str]:
    # One hop per pass: a chain inside one release (scheduler.statsd_allow_list -> metrics.statsd_allow_list
    # -> metrics.metrics_allow_list in 3.0) then meets an already-present newer name and loses to it.
    # The bound only guards against a cycle in the tables.
    for _ in range(len(_RENAMED.get(release, {})) + len(_SECTIONS_RENAMED.get(release, {})) + 1):
        moves = {key: new for key in options if (new := _new_name(key, release)) is not None}
        if not moves:
            return options
        result = {key: value for key, value in options.items() if key not in moves}
        notes: list[tuple[str, str]] = []
        claimed_by: dict[str, str] = {}
        # Several old names can land on one new name: the one that only changes section wins
        # (scheduler.parsing_processes over scheduler.max_threads), then alphabetical order.
        for old in sorted(moves, key=lambda k: (_option(k) != _option(moves[k]), k)):
            new = moves[old]
            if new in result and new not in claimed_by:
                notes.append((old, f"{old} dropped: {new} is also set and wins (renamed in Airflow {release})"))
            elif new in claimed_by:
                notes.append((old, f"{old} dropped: {claimed_by[new]} also becomes {new} and wins"))
            elif not _is_mwaa_key(new):
                notes.append((old, f"{old} dropped: its Airflow {release} name {new} is not a valid MWAA key"))
            else:
                result[new] = options[old]
                claimed_by[new] = old
                notes.append((old, f"{old} renamed to {new} (Airflow {release})"))
        warnings.extend(note for _, note in sorted(notes))
        options = result
    raise RuntimeError(f"rename cycle in the Airflow {release} table")


def _apply_removals(options: dict[str, str], release: str, warnings: list[str]) -> dict[str, str]:
    removed = _REMOVED.get(release, {})
    removed_if = _REMOVED_IF.get(release, {})
    result: dict[str, str] = {}
    for key in sorted(options):
        if key in removed:
            reason = f": {removed[key]}" if removed[key] else ""
            warnings.append(f"{key} dropped: removed in Airflow {release}{reason}")
        elif key in removed_if and options[key].strip() in removed_if[key][0]:
            warnings.append(f"{key} dropped: removed in Airflow {release} because {removed_if[key][1]}")
        else:
            result[key] = options[key]
    return result


def translate_options(options: Mapping[str, str], source_version: str, target_version: str) -> TranslationResult:
    """Rewrite ``options`` from ``source_version`` to ``target_version``.

    Warnings come in the order the changes apply (release by release, keys sorted within each step)
    and name keys only, never values.
    """
    source = _comparable(parse_version(source_version))
    target = _comparable(parse_version(target_version))
    if target < source:
        raise ValueError(f"cannot translate options from Airflow {source_version} down to {target_version}")
    if target == source:
        return TranslationResult(options=dict(options), warnings=[])

    translated = dict(options)
    warnings: list[str] = []
    for release in _RELEASES:
        # A change applies only when this migration crosses the release that introduced it.
        if source < _comparable(parse_version(release)) <= target:
            translated = _apply_renames(translated, release, warnings)
            translated = _apply_removals(translated, release, warnings)

    backend = translated.get(_SECRETS_BACKEND_KEY, "").strip()
    if backend in _SECRETS_BACKENDS_V1_TO_V2 and target >= _PROVIDER_SECRETS_SINCE:
        translated[_SECRETS_BACKEND_KEY] = _SECRETS_BACKENDS_V1_TO_V2[backend]
        warnings.append(
            f"{_SECRETS_BACKEND_KEY} rewritten from the Airflow 1.10 airflow.contrib class path "
            "to the Amazon provider's class"
        )
    return TranslationResult(options=dict(sorted(translated.items())), warnings=warnings)
