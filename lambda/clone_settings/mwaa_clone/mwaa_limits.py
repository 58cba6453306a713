"""What MWAA accepts in a new environment's settings: CreateEnvironment in the MWAA API reference, botocore's MWAA
model and the AWS::MWAA::Environment schema. Shared by the clone, the migration file's checks and plan.py.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType
from typing import Final

from mwaa_clone.config_translation import parse_version


class CloneRefused(Exception):  # noqa: N818 - the name is the contract plan.py and the stack code use
    """The clone can't produce valid settings; str() is one line that says what to do."""


ENVIRONMENT_CLASSES: Final = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
WEBSERVER_ACCESS_MODES: Final = ("PRIVATE_ONLY", "PUBLIC_ONLY", "PUBLIC_AND_PRIVATE")
ENDPOINT_MANAGEMENT: Final = ("SERVICE", "CUSTOMER")
LOG_LEVELS: Final = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_MODULES: Final = ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
SIZING_FIELDS: Final = ("MinWorkers", "MaxWorkers", "Schedulers", "MinWebservers", "MaxWebservers")
CHOICE_FIELDS: Final = ("WebserverAccessMode", "WeeklyMaintenanceWindowStart", "EndpointManagement")

ALLOWED_CHOICES: Final = MappingProxyType(
    {
        "EnvironmentClass": ENVIRONMENT_CLASSES,
        "WebserverAccessMode": WEBSERVER_ACCESS_MODES,
        "EndpointManagement": ENDPOINT_MANAGEMENT,
    }
)
MAINTENANCE_WINDOW_RE: Final = re.compile(r"(MON|TUE|WED|THU|FRI|SAT|SUN):([01]\d|2[0-3]):(00|30)")
CONFIG_KEY_RE: Final = re.compile(r"[a-z]+([a-z0-9._]*[a-z0-9_]+)?")
SUBNET_ID_RE: Final = re.compile(r"subnet-[a-zA-Z0-9\-._]+")
SECURITY_GROUP_ID_RE: Final = re.compile(r"sg-[a-zA-Z0-9\-._]+")
ENVIRONMENT_NAME_RE: Final = re.compile(r"[a-zA-Z][0-9a-zA-Z_-]{0,79}")
REGION_RE: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
CONFIG_KEY_MAX: Final = 64
CONFIG_VALUE_MAX: Final = 65536
TAG_KEY_MAX: Final = 128
TAG_VALUE_MAX: Final = 256
MAX_TAGS: Final = 50
MAX_SCHEDULERS: Final = 5
MAX_WEBSERVERS: Final = 5
# PUBLIC_AND_PRIVATE exists only from Airflow 3.2 (WebserverAccessMode in the MWAA API reference).
PUBLIC_AND_PRIVATE_SINCE: Final = (3, 2, 0, 0)

# Used when the source doesn't report a field. Sources: the MWAA API reference for CreateEnvironment
# (Schedulers, MinWebservers and MaxWebservers default to 2, or 1 on mw1.micro; Airflow 1 runs 1 scheduler;
# EnvironmentClass mw1.small); the Terraform aws_mwaa_environment docs for what the API applies when a field
# is left out (MinWorkers 1, MaxWorkers 10, WebserverAccessMode PRIVATE_ONLY, task logs on at INFO and the
# other modules off); mw1.micro runs one combined scheduler and worker, so its worker counts are 1.
DEFAULT_ENVIRONMENT_CLASS: Final = "mw1.small"
DEFAULT_CHOICES: Final = MappingProxyType({"WebserverAccessMode": "PRIVATE_ONLY", "EndpointManagement": "SERVICE"})
DEFAULT_MAX_WORKERS: Final = 10
DEFAULT_LOG_LEVEL: Final = "INFO"
DEFAULT_LOGS_ENABLED: Final = frozenset({"TaskLogs"})
# MWAA documents no fixed default window (it assigns one), so the clone picks one and says so.
DEFAULT_MAINTENANCE_WINDOW: Final = "SUN:03:00"

# Where each setting lives in the migration file, so a refusal can name the key to edit.
FILE_KEYS: Final = MappingProxyType(
    {
        "EnvironmentClass": "target.environment_class",
        "MinWorkers": "target.min_workers",
        "MaxWorkers": "target.max_workers",
        "Schedulers": "target.schedulers",
        "MinWebservers": "target.min_webservers",
        "MaxWebservers": "target.max_webservers",
        "WebserverAccessMode": "target.webserver_access_mode",
        "WeeklyMaintenanceWindowStart": "target.weekly_maintenance_window_start",
        "EndpointManagement": "target.endpoint_management",
        "SubnetIds": "target.network.subnet_ids",
        "SecurityGroupIds": "target.network.security_group_ids",
        "DagProcessingLogs": "target.logging.dag_processing",
        "SchedulerLogs": "target.logging.scheduler",
        "TaskLogs": "target.logging.task",
        "WebserverLogs": "target.logging.webserver",
        "WorkerLogs": "target.logging.worker",
        "AirflowConfigurationOptions": "[target.airflow_configuration_options]",
        "Tags": "[target.tags]",
        "KmsKey": "target.kms_key",
        "DropOptions": "target.drop_options",
    }
)

KMS_KEY_ARN_RE: Final = re.compile(
    r"arn:aws(-[a-z]+)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# The migration file's word for "no customer key" (KmsKey left out), to stop a source's customer key carrying over.
AWS_OWNED_KEY: Final = "aws-owned"
# A new environment's DAGs must start paused: the old environment still runs them until the cut-over.
PAUSED_OPTION: Final = "core.dags_are_paused_at_creation"
# Airflow 3 runs a cron schedule as a trigger timetable (logical date = the run's time) unless this is True, which
# keeps Airflow 2's data intervals: a migrated DAG's {{ ds }} and interval then mean what they meant, and the
# importer's runs (which keep their source intervals) are followed by the very next interval.
CRON_INTERVALS_OPTION: Final = "scheduler.create_cron_data_intervals"
# Airflow 2 catches up every interval a DAG missed unless the DAG says catchup=False; Airflow 3's default runs only
# the latest one. A DAG relying on the default would skip every interval that fell due during the cut-over.
CATCHUP_OPTION: Final = "scheduler.catchup_by_default"
# Scheduling defaults Airflow 3 changed, kept at Airflow 2's value on a move from 2 to 3 unless the source or the
# file sets them: the option, Airflow 2's value, and what Airflow 3's default would do to migrated DAGs.
AIRFLOW_2_SCHEDULING_DEFAULTS: Final = {
    CRON_INTERVALS_OPTION: (
        "True",
        "so cron schedules keep Airflow 2's data intervals (Airflow 3's default runs them as trigger timetables, "
        "logical date at the run's time)",
    ),
    CATCHUP_OPTION: (
        "True",
        "so a DAG that doesn't set catchup still runs every interval it missed, those of the cut-over included "
        "(Airflow 3's default runs only the latest)",
    ),
}
# MWAA sets each worker's Celery concurrency from its environment class; a value tuned for the source's class would
# overload a smaller worker (or waste a larger one), so it is only cloned onto the same class.
WORKER_AUTOSCALE_OPTION: Final = "celery.worker_autoscale"
# In GetEnvironment, not settable through AWS::MWAA::Environment: carried over only by hand.
NOT_SETTABLE: Final = ("Teams", "IdentityCenterConfiguration")


def accepted_range(low: int, high: int | None) -> str:
    """A count MWAA accepts, in words: "exactly 1", "2 to 5", or "at least 1" when only a quota caps it."""
    if high is None:
        return f"at least {low}"
    return f"exactly {low}" if low == high else f"{low} to {high}"


def access_mode_problem(mode: str, target_airflow_version: str) -> str | None:
    """Why MWAA would reject this WebserverAccessMode for the target version, or None."""
    if mode == "PUBLIC_AND_PRIVATE" and parse_version(target_airflow_version) < PUBLIC_AND_PRIVATE_SINCE:
        return (
            f"PUBLIC_AND_PRIVATE needs Airflow 3.2 or later and the target is {target_airflow_version}; "
            "use PRIVATE_ONLY or PUBLIC_ONLY"
        )
    return None


def option_problem(key: str, value: str) -> str | None:
    """Why MWAA would reject this configuration option, or None. Never quotes the value: it may be secret."""
    if len(key) > CONFIG_KEY_MAX or not CONFIG_KEY_RE.fullmatch(key):
        return f"the key must be lowercase section.option, at most {CONFIG_KEY_MAX} characters"
    if not 1 <= len(value) <= CONFIG_VALUE_MAX or not all(" " <= ch <= "~" for ch in value):
        return f"the value must be 1 to {CONFIG_VALUE_MAX} printable ASCII characters"
    return None


def tag_problem(key: str, value: str) -> str | None:
    """Why MWAA would reject this tag, or None (TagKey and TagValue in the MWAA API reference)."""
    if key.lower().startswith("aws:"):
        return "keys starting with aws: are reserved by AWS; rename it"
    if not 1 <= len(key) <= TAG_KEY_MAX or not _is_tag_text(key):
        return f"the key must be 1 to {TAG_KEY_MAX} letters, digits, spaces or _ . : / = + - @"
    if not 1 <= len(value) <= TAG_VALUE_MAX or not _is_tag_text(value):
        return f"the value must be 1 to {TAG_VALUE_MAX} letters, digits, spaces or _ . : / = + - @"
    return None


_TAG_PUNCTUATION: Final = frozenset("_.:/=+-@")


def _is_tag_text(text: str) -> bool:
    # The API's pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]*: Unicode letters, separators, numbers and that punctuation.
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text)
