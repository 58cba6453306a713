"""Which option names are taken for secrets: Airflow's flags for its own options, whole words for the others."""

from __future__ import annotations

import pytest

from mwaa_clone.secret_names import name_says_secret, option_words
from mwaa_clone.sensitive_options import MARKED, NAMED, mask_options, secret_reason, sensitive_reason


@pytest.mark.parametrize(
    "key",
    [
        "plugin.api_key",
        "plugin.apikey",
        "vault.credentials",
        "gcp.credential",
        "ldap.bind_passwd",
        "ssl.key_passphrase",
        "metrics.datadog_dsn",
        "custom.my_api_key",
        "custom.api.key",  # a dot inside the option name separates words too
        "ssh.private_key",
        "s3.aws_access_key_id",
        "flower.basic_auth",
        "Vault.Client_SECRET",
        "slack.bot_token",
    ],
)
def test_a_name_with_a_secret_word_is_a_secret(key: str) -> None:
    assert name_says_secret(key)
    assert sensitive_reason(key) == NAMED


@pytest.mark.parametrize(
    "key",
    [
        "webserver.web_server_ssl_key",  # paths
        "webserver.web_server_ssl_cert",
        "api.auth_backends",
        "api.auth_backend",
        "core.auth_manager",
        "custom.tokenizer_path",
        "secrets.backend",  # a class name; the section is not read
        "secret.backend",
        "core.dags_folder",
        "custom.keyword",
        "custom.passwords_file_owner",  # plural and compound words are other words
        "custom.author",
        "webserver.auth_rate_limited",
    ],
)
def test_a_look_alike_is_not(key: str) -> None:
    assert not name_says_secret(key)
    assert sensitive_reason(key) is None


@pytest.mark.parametrize(
    "key", ["logging.secret_mask_adapter", "logging.min_length_masked_secret", "api_auth.jwt_private_key_path"]
)
def test_airflows_flag_decides_for_the_options_it_documents(key: str) -> None:
    assert name_says_secret(key)
    assert sensitive_reason(key) is None


@pytest.mark.parametrize(
    "key", ["smtp.smtp_password", "SMTP.SMTP_PASSWORD", "database.sql_alchemy_conn_async", "celery.broker_url"]
)
def test_a_marked_option_is_marked_in_any_case(key: str) -> None:
    assert sensitive_reason(key) == MARKED


@pytest.mark.parametrize(
    "key", ["smtp.smtp_password_secret", "smtp.smtp_password_cmd", "plugin.api_key_secret", "vault.credentials_cmd"]
)
def test_a_reference_to_a_secret_is_not_one(key: str) -> None:
    assert sensitive_reason(key) is None


def test_per_key_backend_kwargs_are_secrets_unless_they_name_a_prefix() -> None:
    assert sensitive_reason("secrets.backend_kwarg__role_id") == MARKED
    assert sensitive_reason("workers.secrets_backend_kwarg__token") == MARKED
    assert sensitive_reason("secrets.backend_kwarg__connections_prefix") is None
    assert sensitive_reason("workers.secrets_backend_kwarg__sep") is None


def test_backend_kwargs_naming_prefixes_only_are_kept() -> None:
    kept = '{"connections_prefix": "airflow/connections", "sep": "/"}'
    credentials = '{"connections_prefix": "a", "role_id": "x"}'

    assert secret_reason("secrets.backend_kwargs", kept) is None
    assert secret_reason("secrets.backend_kwargs", credentials) == MARKED
    assert mask_options({"secrets.backend_kwargs": kept, "vault.token": "t"}) == {
        "secrets.backend_kwargs": kept,
        "vault.token": "<masked by snapshot.py>",
    }


def test_words_leave_the_section_out() -> None:
    assert option_words("Vault.My__API.Key") == ["my", "api", "key"]
    assert option_words("nosection_token") == ["nosection", "token"]
