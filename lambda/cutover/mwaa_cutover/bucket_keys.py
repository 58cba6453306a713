"""The migration bucket's key layout: what each migration keeps where, written out here and nowhere else.

    exports/<migration>/<export id>/                 an export: an archive (archive.py has its files' names)
    cutover/<migration>/pause-states.json            the old environment's pause states, before the first freeze
    cutover/<migration>/unpaused.json                when the new environment was first unpaused
    cutover/<migration>/history/<recorded at>/       both, once a rollback has restored the pause states
    cutover/<migration>/import/<export id>/<start>.json   an execution's REST import cursor and result
    reports/<migration>/<export id>/report.json      the verification report

Only exports/ expires (the bucket's lifecycle rule); the cut-over's records stay. The cut-over's Lambdas take their
keys from here (this package is their asset, all they can import), and so do the stacks' and constructs' policies
(a pattern passes ANY for an id or a time) and the operator commands. The migration DAGs run inside Airflow and
import none of this: the export DAG writes exports/<migration>/<export id>/ itself.
"""

from __future__ import annotations

import datetime

from mwaa_cutover.archive import MANIFEST_KEY, RUN_IDS_KEY, SECRETS_DIR, TABLES_DIR

# In a policy's pattern: any export id, table, time or name.
ANY = "*"
# Times in keys, UTC to the second: they sort as they happened.
KEY_TIME = "%Y%m%dT%H%M%SZ"


def export_root(migration: str) -> str:
    """Every export of the migration, one folder per export id; the old environment may write only here."""
    return f"exports/{migration}/"


def export_prefix(migration: str, export_id: str) -> str:
    return f"{export_root(migration)}{export_id}/"


def manifest_key(migration: str, export_id: str) -> str:
    """Written last by the export: an export without one is incomplete."""
    return export_prefix(migration, export_id) + MANIFEST_KEY


def run_ids_key(migration: str, export_id: str) -> str:
    return export_prefix(migration, export_id) + RUN_IDS_KEY


def table_parts(migration: str, export_id: str) -> str:
    """The prefix of every table's parts (tables/<table>/part-NNNNN.jsonl.gz)."""
    return export_prefix(migration, export_id) + TABLES_DIR


def secret_parts(migration: str, export_id: str) -> str:
    """The prefix of the decrypted variables' and connections' parts, deleted after a verified cut-over import."""
    return export_prefix(migration, export_id) + SECRETS_DIR


def record_key(migration: str) -> str:
    """The old environment's pause states, written once before the first freeze."""
    return f"cutover/{migration}/pause-states.json"


def marker_key(migration: str) -> str:
    """When the new environment was first unpaused: the rollback's "since"."""
    return f"cutover/{migration}/unpaused.json"


def history_root(migration: str) -> str:
    return f"cutover/{migration}/history/"


def history_prefix(migration: str, recorded_at: datetime.datetime) -> str:
    """Where a rollback moves the record and the marker, by the record's time."""
    return f"{history_root(migration)}{recorded_at.strftime(KEY_TIME)}/"


def import_root(migration: str) -> str:
    return f"cutover/{migration}/import/"


def cursor_key(migration: str, export_id: str, started_at: datetime.datetime) -> str:
    """Per export AND execution (by its start): where the export is the operator's, a later execution may name the
    same export id (with other on_existing or runs_since); it imports again (the import is idempotent) instead of
    finding a finished cursor. The slices of one execution share the key, so they resume."""
    return f"{import_root(migration)}{export_id}/{started_at.strftime(KEY_TIME)}.json"


def report_root(migration: str) -> str:
    return f"reports/{migration}/"


def report_key(migration: str, export_id: str) -> str:
    return f"{report_root(migration)}{export_id}/report.json"
