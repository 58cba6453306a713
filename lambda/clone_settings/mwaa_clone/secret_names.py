"""Whether a configuration option's name says it carries a secret: for the options Airflow doesn't document.

Plugins and providers outside sensitive_table read options of their own (`<section>.api_key`, `vault.credentials`,
`<x>_dsn`) that no `sensitive` flag covers. Their names are matched word by word (split on `_` and `.`), never as
substrings, so `tokenizer_path`, `auth_backends` or `secrets.backend` are not taken for secrets. Pure: no I/O;
tools/derive_sensitive_options.py uses it too, to list the documented options that match but aren't sensitive.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Final

# One word is enough.
SECRET_WORDS: Final = frozenset(
    {"password", "passwd", "passphrase", "secret", "token", "apikey", "credential", "credentials", "dsn"}
)
# Only together: a lone `key` is mostly a path (web_server_ssl_key) and a lone `auth` a choice (auth_backends).
SECRET_PHRASES: Final = frozenset({("api", "key"), ("private", "key"), ("access", "key"), ("basic", "auth")})
_SEPARATORS: Final = re.compile(r"[._]+")


def option_words(key: str) -> list[str]:
    """The words of the option's name, without its section: `Vault.My_API_Key` -> [my, api, key]."""
    option = key.lower().split(".", 1)[-1]
    return [word for word in _SEPARATORS.split(option) if word]


def name_says_secret(key: str) -> bool:
    """Whether `section.option` names a secret by a word of its option name (the section is not read)."""
    words = option_words(key)
    return any(word in SECRET_WORDS for word in words) or any(pair in SECRET_PHRASES for pair in pairwise(words))
