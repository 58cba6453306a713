"""sensitive_table.py is what tools/derive_sensitive_options.py derives from the pinned wheels, and how it reads them.

The wheels are fetched by `make .cache/wheels/.downloaded` (a prerequisite of `make unit`): without them the
staleness test fails, it doesn't skip, so a CI run can't pass without having checked the table.
"""

from __future__ import annotations

import textwrap

import pytest

from mwaa_clone.sensitive_table import NOT_SENSITIVE_OPTIONS, SENSITIVE_OPTIONS
from mwaa_migration.airflow_versions import MWAA_PYTHON_VERSIONS
from tools import derive_sensitive_options as derive


def test_the_committed_table_is_what_the_wheels_say() -> None:
    missing = derive.missing_wheels(derive.WHEELS_DIR)
    if missing:
        pytest.fail(
            f"{len(missing)} of the wheels the table is derived from are missing from {derive.WHEELS_DIR} (first: "
            f"{missing[0].requirement}): run `make .cache/wheels/.downloaded` (make unit does), then this test again"
        )
    table = derive.derive(derive.WHEELS_DIR)

    stale = "lambda/clone_settings/mwaa_clone/sensitive_table.py is stale: run `make sensitive-table` and commit it"
    assert sorted(SENSITIVE_OPTIONS ^ table.sensitive) == [], stale
    assert sorted(NOT_SENSITIVE_OPTIONS ^ table.not_sensitive) == [], stale
    assert derive.TABLE_PATH.read_text(encoding="utf-8") == derive.render(table), stale + " (its header)"


def test_every_version_the_app_handles_is_read() -> None:
    read = {wheel.version for wheel in derive.pinned_wheels() if not wheel.distribution.startswith("apache-airflow-p")}
    assert read >= set(MWAA_PYTHON_VERSIONS) | {"2.0.2", "2.2.2", "2.4.3", "2.5.1", "2.6.3"}
    assert derive.airflow_wheel("2.11.2").distribution == "apache-airflow"
    assert derive.airflow_wheel("3.3.1").distribution == "apache-airflow-core"


def test_the_table_holds_what_the_hand_list_missed() -> None:
    assert "database.sql_alchemy_conn_async" in SENSITIVE_OPTIONS  # config.yml, Airflow 3.3
    assert "atlas.password" in SENSITIVE_OPTIONS  # configuration.py's set literal, Airflow 2.0 to 2.3
    assert "core.sql_alchemy_conn" in SENSITIVE_OPTIONS  # the name deprecated_options still reads
    assert "celery_result_backend_transport_options.sentinel_kwargs" in SENSITIVE_OPTIONS  # the celery provider
    assert not SENSITIVE_OPTIONS & NOT_SENSITIVE_OPTIONS


# --- reading the files (pure) ----------------------------------------------------------------------------------


def test_config_yml_in_both_layouts() -> None:
    listed = """
    - name: core
      options:
        - name: fernet_key
          sensitive: true
        - name: dags_folder
    - name: empty
      options: ~
    """
    mapped = """
    database:
      options:
        sql_alchemy_conn_async:
          sensitive: true
        sql_alchemy_pool_size:
          sensitive: false
    """

    assert derive.options_in_config_yml(textwrap.dedent(listed)) == {"core.fernet_key": True, "core.dags_folder": False}
    assert derive.options_in_config_yml(textwrap.dedent(mapped)) == {
        "database.sql_alchemy_conn_async": True,
        "database.sql_alchemy_pool_size": False,
    }


def test_parser_facts_read_literals_anywhere_and_skip_computed_ones() -> None:
    source = textwrap.dedent(
        """
        SENSITIVE_CONFIG_VALUES = {("Core", "fernet_key"), ("atlas", "password")}

        class Parser:
            deprecated_options: dict = {("database", "sql_alchemy_conn"): ("core", "sql_alchemy_conn", "2.3.0")}
            deprecated_sections = {"kubernetes_executor": ("kubernetes", "2.5.0")}

            @property
            def sensitive_config_values(self):
                sensitive_config_values = compute()
                return sensitive_config_values
        """
    )

    facts = derive.parser_facts(source)

    assert facts.sensitive == {"core.fernet_key", "atlas.password"}
    assert facts.old_options == {"database.sql_alchemy_conn": "core.sql_alchemy_conn"}
    assert facts.old_sections == {"kubernetes_executor": "kubernetes"}


def test_provider_info_is_read_without_importing_it() -> None:
    source = textwrap.dedent(
        """
        import this_module_does_not_exist

        def get_provider_info():
            return {
                "package-name": "apache-airflow-providers-x",
                "config": {
                    "x": {"options": {"api_key": {"sensitive": True}, "timeout": {"type": "integer"}}},
                    "x_empty": {"options": {}},
                },
            }
        """
    )

    assert derive.options_in_provider_info(source) == {"x.api_key": True, "x.timeout": False}


def test_older_names_are_followed_through_renames_and_sections() -> None:
    facts = [
        derive.ParserFacts(frozenset(), {"c.new": "b.mid"}, {}),
        derive.ParserFacts(frozenset(), {"b.mid": "a.old"}, {"c": "legacy"}),
    ]

    assert derive.with_older_names({"c.new"}, facts) == {"c.new", "b.mid", "a.old", "legacy.new"}


def test_flagged_by_one_release_is_sensitive_and_look_alikes_are_listed() -> None:
    facts = derive.ParserFacts(frozenset({"smtp.smtp_password"}), {"database.conn": "core.conn"}, {})
    old = derive.WheelFacts({"database.conn": True, "logging.secret_mask_adapter": False}, (facts,))
    new = derive.WheelFacts({"database.conn": False, "smtp.smtp_password": False, "core.dags_folder": False})

    table = derive.table_from([old, new])

    assert table.sensitive == {"database.conn", "core.conn", "smtp.smtp_password"}
    assert table.not_sensitive == {"logging.secret_mask_adapter"}


def test_one_pip_call_takes_one_version_of_a_distribution() -> None:
    wheels = [derive.Wheel("a", "1"), derive.Wheel("a", "2"), derive.Wheel("b", "1"), derive.Wheel("a", "3")]

    batches = derive.download_batches(wheels)

    assert [[wheel.requirement for wheel in batch] for batch in batches] == [["a==1", "b==1"], ["a==2"], ["a==3"]]


def test_the_rendered_module_is_a_sorted_literal_ruff_keeps() -> None:
    table = derive.Table(frozenset({"b.x", "a.y"}), frozenset({"c.secret_path"}))

    text = derive.render(table)

    namespace: dict[str, object] = {}
    exec(compile(text, "sensitive_table.py", "exec"), namespace)  # noqa: S102 - our own rendering
    assert namespace["SENSITIVE_OPTIONS"] == {"a.y", "b.x"}
    assert text.index('"a.y"') < text.index('"b.x"')
    assert max(len(line) for line in text.splitlines()) <= 120
