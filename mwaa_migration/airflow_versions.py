"""Airflow versions this app knows about, kept in one place so adding a new MWAA release is one edit."""

from __future__ import annotations

# The Airflow versions MWAA offers for new environments (late 2026), each with the Python version MWAA runs for
# it, which decides the constraints file requirements.txt must name.
# Source: Amazon MWAA User Guide, "Apache Airflow versions on Amazon Managed Workflows for Apache Airflow",
# table "Apache Airflow versions" (https://docs.aws.amazon.com/mwaa/latest/userguide/airflow-versions.html),
# columns "Apache Airflow constraints" and "Python version".
MWAA_PYTHON_VERSIONS: dict[str, str] = {
    "2.7.2": "3.11",
    "2.8.1": "3.11",
    "2.9.2": "3.11",
    "2.10.1": "3.11",
    "2.10.3": "3.11",
    "2.11.0": "3.12",
    "2.11.2": "3.12",
    "3.0.6": "3.12",
    "3.2.1": "3.12",
    "3.3.1": "3.12",
}

# A new environment can only be created on one of these.
MWAA_TARGET_VERSIONS: tuple[str, ...] = tuple(MWAA_PYTHON_VERSIONS)


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key for a dotted Airflow version ("2.10.3" sorts after "2.9.2")."""
    return tuple(int(part) for part in version.split("."))


def mwaa_python_version(airflow_version: str) -> str:
    """The Python version ("3.12") MWAA runs for an Airflow version; ValueError if MWAA doesn't offer it."""
    try:
        return MWAA_PYTHON_VERSIONS[airflow_version]
    except KeyError:
        known = ", ".join(sorted(MWAA_PYTHON_VERSIONS, key=version_key))
        raise ValueError(
            f"Airflow {airflow_version!r} is not a version Amazon MWAA offers; expected one of: {known}"
        ) from None


def constraints_url(airflow_version: str) -> str:
    """Airflow's published constraints file for this version on the Python MWAA runs for it."""
    python = mwaa_python_version(airflow_version)
    return f"https://raw.githubusercontent.com/apache/airflow/constraints-{airflow_version}/constraints-{python}.txt"


def airflow_major(airflow_version: str) -> int:
    """Major version (2 or 3) of a version MWAA offers; ValueError otherwise."""
    mwaa_python_version(airflow_version)  # validates the version
    return version_key(airflow_version)[0]
