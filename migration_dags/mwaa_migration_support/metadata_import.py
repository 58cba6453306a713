"""The 2.x ORM import: the migration archive into this Airflow 2 environment's metadata database (guide step 4).

Run by the import DAG `mwaa_migration_import` (mwaa_migration_import.py at the root of the migration DAGs' zip); on
an Airflow 3 target its task does nothing (the REST importer's job: Airflow 3 tasks can't reach the database). The
task logs are the task-log DAG's (`mwaa_migration_task_logs`, task_logs.py). Python 3.8 syntax; nothing beyond what
MWAA installs with Airflow (SQLAlchemy, boto3).

`conf` may give:
  export_id    the archive to import (default: the newest complete export under exports/<migration>/)
  on_existing  overwrite (default) | skip | fail: what happens to a target row whose key the archive has too and
               whose values differ. Identical rows are left alone, so a re-run writes nothing; `fail` fails the
               task naming the keys before anything is written.

What the import takes (through Airflow's models and SQLAlchemy Core on Airflow's session):
  variables, connections  through the models, so the target's Fernet key encrypts values, passwords and extras
  slot_pool, dag_run, task_instance, task_instance_history, task_fail, xcom, sla_miss   rows mapped by column name
The archive is read with the cut-over's reader (exports.archive): every part is checked (bytes, sha256, rows)
before anything is written, so a damaged archive changes nothing. The old environment's audit `log`, `job` and the
dataset tables stay in the archive (see IMPORTED_TABLES). The run-id map (`run-ids.json`) is written for the log copy.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import pickle
import time
from typing import Any, Callable, Iterator

from .dags import airflow_version, run_conf
from .exports import archive, open_export

BATCH_ROWS = 1000
ON_EXISTING = ("overwrite", "skip", "fail")
# The task-log DAG's conf, which the cut-over and cutover.py passed the import DAG while it copied the logs too.
LOG_COPY_CONF = ("copy_logs", "log_days", "log_states")
# Keys named in a refusal or a `fail`; the rest are counted.
NAMED_KEYS = 20

# Import order (parents first) and each table's natural key. None: no key (task_fail), rows are compared whole
# and counted, so a re-run adds none. The target's own surrogate ids are never taken from the source.
IMPORTED_TABLES = (
    ("slot_pool", ("pool",)),
    ("dag_run", ("dag_id", "run_id")),
    ("task_instance", ("dag_id", "task_id", "run_id", "map_index")),
    ("task_instance_history", ("dag_id", "task_id", "run_id", "map_index", "try_number")),
    ("task_fail", None),
    ("xcom", ("dag_id", "run_id", "task_id", "map_index", "key")),
    ("sla_miss", ("task_id", "dag_id", "execution_date")),
)
RUN_CHILDREN = ("task_instance", "task_instance_history", "task_fail", "xcom")
# Lookup columns of the keyless table (its rows are then compared whole).
KEYLESS_LOOKUP = ("dag_id", "task_id", "run_id", "map_index")
# Values that refer to the source's own rows elsewhere (jobs, triggers, log templates) don't hold on the target:
# set here instead (log_template_id: filled with the target's current template, so the run's log names follow it).
CLEARED_COLUMNS = {
    "dag_run": ("creating_job_id",),
    "task_instance": ("job_id", "queued_by_job_id", "trigger_id"),
    "task_instance_history": ("job_id", "queued_by_job_id", "trigger_id"),
    # The target's own id of the run, looked up by (dag_id, run_id).
    "xcom": ("dag_run_id",),
}
# Python-side defaults of Airflow's models for NOT NULL columns an older source lacks (others: by type).
KNOWN_DEFAULTS = {
    "task_instance.pool_slots": 1,
    "task_instance_history.pool_slots": 1,
    "dag_run.clear_number": 0,
    "slot_pool.include_deferred": False,
}

log = logging.getLogger(__name__)


class MetadataImportError(Exception):
    """A reason the import can't run or finish; names tables and keys, never a secret value."""


# --- Values from the archive to the target's columns -----------------------------------------------------------

UTC = datetime.timezone.utc


def parse_datetime(text: Any) -> Any:
    """ISO text (the archive) or a datetime (a database read, naive on SQLite) as an aware UTC datetime."""
    if text is None:
        return None
    value = text if isinstance(text, datetime.datetime) else datetime.datetime.fromisoformat(str(text))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _column_kind(column: Any) -> str:
    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

    if isinstance(column.type, sa.JSON):
        return "json"
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return "any"
    if python_type is datetime.datetime:
        return "datetime"
    if python_type is bytes:
        return "binary"
    if python_type is str:
        return "text"
    return "any"


def _plain(value: Any) -> Any:
    """A value as JSON would give it back (tuples as lists, datetimes as text), for comparisons."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class Converter:
    """One column: archive value -> value to bind, and target value -> comparable form."""

    def __init__(self, table: str, column: Any, encoding: str | None) -> None:
        self.where = f"{table}.{column.name}"
        self.kind = _column_kind(column)
        # A timestamp without time zone (SQLite, trigger_timeout) gets naive UTC: a driver would otherwise shift an
        # aware value by the session's time zone.
        self.naive = self.kind == "datetime" and not getattr(column.type, "timezone", False)
        # "unpickled" (a pickle on the source, JSON in the archive), "base64", "text", "mixed" or None
        self.encoding = encoding

    def to_target(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            if self.kind == "datetime":
                parsed = parse_datetime(value)
                return parsed.replace(tzinfo=None) if self.naive else parsed
            if self.kind == "binary":
                if self.encoding == "unpickled":
                    # Airflow reads these columns with pickle (dag_run.conf, executor_config): pickled again.
                    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                if self.encoding == "text" or not isinstance(value, str):
                    return json.dumps(value).encode("utf-8") if not isinstance(value, str) else value.encode()
                return base64.b64decode(value)
            if self.kind == "text" and isinstance(value, (dict, list)):
                return json.dumps(value)
        except (ValueError, TypeError) as error:
            # The error's type only: a value may be secret.
            raise MetadataImportError(f"{self.where}: a value that doesn't fit ({type(error).__name__})") from None
        return value

    def comparable(self, value: Any, bound: bool) -> Any:
        """Both sides brought to one form: `bound` values come from to_target, the others from the database."""
        if value is None:
            return None
        if self.kind == "datetime" and isinstance(value, datetime.datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if self.kind == "binary" and self.encoding == "unpickled":
            try:
                # Our own database's pickles, read as Airflow itself reads them.
                return _plain(pickle.loads(bytes(value)))  # noqa: S301
            except Exception:
                return ("unreadable", bytes(value))
        if self.kind == "binary":
            return bytes(value)
        if self.kind == "json":
            return _plain(value)
        return value


# --- The import ------------------------------------------------------------------------------------------------


class TablePlan:
    """How one archive table lands in the target's table."""

    def __init__(self, name: str, key: tuple[str, ...] | None, table: Any, entry: dict[str, Any]) -> None:
        self.name = name
        self.table = table
        source_columns = list(entry.get("columns") or {})
        target_columns = {c.name: c for c in table.columns}
        surrogate = _surrogate(table)
        cleared = CLEARED_COLUMNS.get(name, ())
        self.dropped = [c for c in source_columns if c not in target_columns]
        # The columns taken from the archive (never the target's own id, never references to the source's rows).
        self.columns = [c for c in source_columns if c in target_columns and c != surrogate and c not in cleared]
        self.cleared = [c for c in cleared if c in target_columns]
        self.defaults: dict[str, Any] = {}
        self.filled: list[str] = []
        for column in table.columns:
            if column.name in source_columns or column.name == surrogate or column.nullable:
                continue
            if column.server_default is not None:
                self.filled.append(f"{name}.{column.name} (the database's default)")
                continue
            value = KNOWN_DEFAULTS.get(f"{name}.{column.name}", _type_default(column))
            self.defaults[column.name] = value
            self.filled.append(f"{name}.{column.name} = {value!r}")
        binary = entry.get("binary") or {}
        self.converters = {c: Converter(name, target_columns[c], binary.get(c)) for c in self.columns}
        self.compared = list(self.columns)
        self.key = key
        self.lookup = key if key is not None else tuple(c for c in KEYLESS_LOOKUP if c in self.columns)
        missing = [c for c in self.lookup if c not in self.columns]
        if missing:
            raise MetadataImportError(f"table {name}: the archive lacks its key columns {', '.join(missing)}")

    def bind(self, row: dict[str, Any]) -> dict[str, Any]:
        values = {c: self.converters[c].to_target(row.get(c)) for c in self.columns}
        for column in self.cleared:
            values[column] = None
        values.update(self.defaults)
        return values

    def identity(self, values: dict[str, Any], bound: bool) -> tuple[Any, ...]:
        columns = self.key if self.key is not None else self.compared
        return tuple(self.converters[c].comparable(values.get(c), bound) for c in columns)

    def same(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        for column in self.compared:
            converter = self.converters[column]
            if converter.comparable(new.get(column), True) != converter.comparable(old.get(column), False):
                return False
        return True


def _superset(table: Any, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Any:
    """The rows whose every key column is among the batch's values: a superset of the batch's keys that the key
    index serves (`a IN (..) AND b IN (..)`), where a row-value IN list of a thousand tuples took a quarter of a
    second a batch on PostgreSQL. The archive's key order keeps the superset close to the batch itself."""
    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

    return sa.and_(*[table.c[c].in_(sorted({row[c] for row in rows}, key=repr)) for c in columns])


def _surrogate(table: Any) -> str | None:
    key = list(table.primary_key.columns)
    if len(key) == 1 and key[0].name == "id":
        return "id"
    return None


def _type_default(column: Any) -> Any:
    kind = _column_kind(column)
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is bool:
        return False
    if python_type in (int, float):
        return 0
    if kind == "datetime":
        return datetime.datetime.now(UTC)
    if kind == "json":
        return {}
    return ""


class Counts:
    def __init__(self) -> None:
        self.inserted = self.updated = self.unchanged = self.skipped = self.refused = 0
        self.conflicts: list[str] = []
        self.seconds = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
        }


def _key_text(values: tuple[Any, ...]) -> str:
    return "/".join(str(value) for value in values)


class Importer:
    """The archive into this Airflow's database. `session_factory` is Airflow's create_session (a context manager
    committing on exit): one transaction per batch."""

    def __init__(
        self,
        *,
        reader: archive.Archive,
        manifest: dict[str, Any],
        engine: Any,
        session_factory: Callable[[], Any],
        on_existing: str = "overwrite",
        batch_rows: int = BATCH_ROWS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if on_existing not in ON_EXISTING:
            raise MetadataImportError(f"on_existing must be one of {', '.join(ON_EXISTING)}, not {on_existing!r}")
        self.reader = reader
        self.manifest = manifest
        self.engine = engine
        self.session_factory = session_factory
        self.on_existing = on_existing
        self.batch_rows = batch_rows
        self.progress = progress or (lambda message: log.info("%s", message))
        self.counts: dict[str, Counts] = {}
        self.warnings: list[str] = []
        self.refused: list[str] = []
        # (dag_id, run_id) of the archive's runs the target now has under the same id, and those it refused.
        self.runs: set[tuple[str, str]] = set()
        self.refused_runs: set[tuple[str, str]] = set()
        self.plans: dict[str, TablePlan] = {}

    # Planning -------------------------------------------------------------------------------------------------

    def plan(self) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        present = set(sa.inspect(self.engine).get_table_names())
        for name, key in IMPORTED_TABLES:
            entry = self.manifest["tables"].get(name)
            if entry is None:
                continue
            if name not in present:
                self.warnings.append(f"table {name}: {entry['rows']} rows in the archive, not in this Airflow: left")
                continue
            table = sa.Table(name, sa.MetaData(), autoload_with=self.engine)
            plan = TablePlan(name, key, table, entry)
            for column in plan.dropped:
                self.warnings.append(f"column {name}.{column}: not in this Airflow, dropped")
            for filled in plan.filled:
                self.warnings.append(f"column {filled}: not in the archive, filled")
            self.plans[name] = plan
        if "log_template" in present and "dag_run" in self.plans:
            # The target's current template, as for a run it creates itself: the copied task logs are named by it.
            template = sa.Table("log_template", sa.MetaData(), autoload_with=self.engine)
            with self.engine.connect() as connection:
                newest = connection.execute(sa.select(sa.func.max(template.c.id))).scalar()
            self.plans["dag_run"].defaults["log_template_id"] = newest
        skipped = sorted(set(self.manifest["tables"]) - {name for name, _ in IMPORTED_TABLES} - {"variable"})
        if skipped:
            self.warnings.append("tables kept in the archive only: " + ", ".join(skipped))

    # Entry point ----------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.plan()
        read = verify_archive(self.reader, self.manifest, list(self.plans), secrets=True)
        self.progress(f"archive {self.reader.description}: every part checked ({read} bytes)")
        if self.on_existing == "fail":
            conflicts = self._dry_run()
            if conflicts:
                raise MetadataImportError(
                    f"on_existing=fail: {len(conflicts)} target entries differ from the archive, nothing written: "
                    + ", ".join(conflicts[:NAMED_KEYS])
                    + (" ..." if len(conflicts) > NAMED_KEYS else "")
                )
        self._variables(write=True)
        self._connections(write=True)
        for name in self.plans:
            self._table(name, write=True)
        run_ids: dict[str, dict[str, str]] = {}
        for dag_id, run_id in sorted(self.runs):
            run_ids.setdefault(dag_id, {})[run_id] = run_id
        archive.write_run_ids(self.reader, run_ids)
        self._report_runs()
        return {
            "export_id": self.manifest.get("export_id"),
            "on_existing": self.on_existing,
            "counts": {name: counts.as_dict() for name, counts in self.counts.items()},
            "refused": self.refused,
            "warnings": self.warnings,
            "runs": len(self.runs),
            "seconds": round(time.monotonic() - started, 3),
        }

    def _dry_run(self) -> list[str]:
        self._variables(write=False)
        self._connections(write=False)
        for name in self.plans:
            self._table(name, write=False)
        conflicts = [c for counts in self.counts.values() for c in counts.conflicts]
        self.counts = {}
        self.runs = set()
        self.refused_runs = set()
        self.refused = []
        return conflicts

    # Secrets, through the models ------------------------------------------------------------------------------

    def _batches(self, rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= self.batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    def _decide(self, counts: Counts, what: str, key: str) -> bool:
        """A target entry that differs: True when it is to be overwritten."""
        if self.on_existing == "overwrite":
            counts.updated += 1
            return True
        if self.on_existing == "fail":
            counts.conflicts.append(f"{what} {key}")
        counts.skipped += 1
        return False

    def _variables(self, write: bool) -> None:
        from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]

        counts = self.counts.setdefault("variable", Counts())
        started = time.monotonic()
        for batch in self._batches(archive.iter_secret_rows(self.reader, self.manifest, "variable")):
            with self.session_factory() as session:
                keys = [str(row["key"]) for row in batch]
                existing = {v.key: v for v in session.query(Variable).filter(Variable.key.in_(keys))}
                for row in batch:
                    key = str(row["key"])
                    if row.get("val") is None:
                        self.warnings.append(f"variable {key}: no value in the archive (the source couldn't decrypt)")
                    old = existing.get(key)
                    if old is None:
                        counts.inserted += 1
                        if write:
                            session.add(Variable(key=key, val=row.get("val"), description=row.get("description")))
                        continue
                    try:
                        same = old.val == row.get("val") and old.description == row.get("description")
                    except Exception:
                        same = False  # the target's value doesn't decrypt with its key: replaced
                    if same:
                        counts.unchanged += 1
                    elif self._decide(counts, "variable", key) and write:
                        old.set_val(row.get("val"))
                        old.description = row.get("description")
                if not write:
                    session.rollback()
        counts.seconds += time.monotonic() - started
        self.progress(f"variable: {counts.as_dict()}")

    def _connections(self, write: bool) -> None:
        from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]

        counts = self.counts.setdefault("connection", Counts())
        started = time.monotonic()
        entry = self.manifest["secrets"].get("connection")
        model_columns = {c.name for c in Connection.__table__.columns}
        # password and extra through the model's properties, which encrypt; the flags follow from them.
        fields = [
            c
            for c in list((entry or {}).get("columns") or {})
            if c not in ("id", "conn_id", "is_encrypted", "is_extra_encrypted", "password", "extra")
            and c in model_columns
        ]
        for column in (entry or {}).get("columns") or {}:
            if column not in model_columns:
                self.warnings.append(f"column connection.{column}: not in this Airflow, dropped")
        for batch in self._batches(archive.iter_secret_rows(self.reader, self.manifest, "connection")):
            with self.session_factory() as session:
                ids = [str(row["conn_id"]) for row in batch]
                existing = {c.conn_id: c for c in session.query(Connection).filter(Connection.conn_id.in_(ids))}
                for row in batch:
                    conn_id = str(row["conn_id"])
                    old = existing.get(conn_id)
                    if old is None:
                        counts.inserted += 1
                        if write:
                            new = Connection(conn_id=conn_id)
                            _set_connection(new, row, fields)
                            session.add(new)
                        continue
                    try:
                        same = (
                            all(getattr(old, f) == row.get(f) for f in fields)
                            and old.password == row.get("password")
                            and old.extra == row.get("extra")
                        )
                    except Exception:
                        same = False  # the target's password doesn't decrypt with its key: replaced
                    if same:
                        counts.unchanged += 1
                    elif self._decide(counts, "connection", conn_id) and write:
                        _set_connection(old, row, fields)
                if not write:
                    session.rollback()
        counts.seconds += time.monotonic() - started
        self.progress(f"connection: {counts.as_dict()}")

    # History and pools, through SQLAlchemy Core ---------------------------------------------------------------

    def _table(self, name: str, write: bool) -> None:
        plan = self.plans[name]
        counts = self.counts.setdefault(name, Counts())
        started = time.monotonic()
        done = 0
        for batch in self._batches(archive.iter_rows(self.reader, self.manifest, name)):
            try:
                with self.session_factory() as session:
                    self._batch(session, plan, counts, batch, write)
                    if not write:
                        session.rollback()
            except MetadataImportError:
                raise
            except Exception as error:
                # The database's first line names the constraint; its detail lines may hold values.
                reason = str(getattr(error, "orig", error)).strip().splitlines()[:1]
                raise MetadataImportError(
                    f"table {name}: writing rows {done + 1} to {done + len(batch)} failed: {type(error).__name__} "
                    f"{reason[0] if reason else ''}"
                ) from None
            done += len(batch)
            if write:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.progress(f"{name}: {done} of {self.manifest['tables'][name]['rows']} rows ({rate:.0f} rows/s)")
        counts.seconds += time.monotonic() - started
        if write:
            self.progress(f"{name}: {counts.as_dict()}")

    def _batch(self, session: Any, plan: TablePlan, counts: Counts, batch: list[dict[str, Any]], write: bool) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        table = plan.table
        if plan.name in RUN_CHILDREN:
            kept = [row for row in batch if (row.get("dag_id"), row.get("run_id")) not in self.refused_runs]
            counts.refused += len(batch) - len(kept)
            batch = kept
        rows = [plan.bind(row) for row in batch]
        if plan.name == "dag_run":
            rows = self._refuse_run_clashes(session, plan, counts, rows)
        if not rows:
            return
        found = session.execute(sa.select(table).where(_superset(table, plan.lookup, rows))).mappings().all()
        existing: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for old in found:
            # The superset's extra rows match no identity of the batch and are never looked at.
            existing.setdefault(plan.identity(dict(old), False), []).append(dict(old))
        inserts: list[dict[str, Any]] = []
        for row in rows:
            identity = plan.identity(row, True)
            matches = existing.get(identity)
            if plan.key is None:
                # Keyless: a row equal to one the target has is that row (each target row matched once).
                if matches:
                    matches.pop()
                    counts.unchanged += 1
                else:
                    counts.inserted += 1
                    inserts.append(row)
                continue
            if plan.name == "dag_run":
                self.runs.add((row["dag_id"], row["run_id"]))
            if not matches:
                counts.inserted += 1
                inserts.append(row)
            elif plan.same(row, matches[0]):
                counts.unchanged += 1
            elif self._decide(counts, plan.name, _key_text(identity)) and write:
                where = sa.and_(*[table.c[c] == row[c] for c in plan.key])
                # The archive's columns only: the target's references (its run id, job ids) stay as they are.
                session.execute(table.update().where(where).values({c: row[c] for c in plan.columns}))
        if inserts and write:
            if "dag_run_id" in table.c and plan.name == "xcom":
                self._fill_run_ids(session, inserts)
            session.execute(table.insert(), inserts)

    def _refuse_run_clashes(
        self, session: Any, plan: TablePlan, counts: Counts, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A target run at the same logical date under another run id is the target's own: never replaced."""
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        table = plan.table
        if "execution_date" not in table.c:
            return rows
        query = sa.select(table.c.dag_id, table.c.run_id, table.c.execution_date).where(
            _superset(table, ("dag_id", "execution_date"), rows)
        )
        taken = {(r.dag_id, parse_datetime(r.execution_date)): r.run_id for r in session.execute(query)}
        kept = []
        for row in rows:
            other = taken.get((row["dag_id"], parse_datetime(row["execution_date"])))
            if other is not None and other != row["run_id"]:
                counts.refused += 1
                self.refused_runs.add((row["dag_id"], row["run_id"]))
                self.refused.append(
                    f"dag_run {row['dag_id']}/{row['run_id']}: the target has its own run {other} at that logical date"
                )
                continue
            kept.append(row)
        return kept

    def _fill_run_ids(self, session: Any, rows: list[dict[str, Any]]) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        dag_run = self.plans["dag_run"].table if "dag_run" in self.plans else None
        if dag_run is None:
            dag_run = sa.Table("dag_run", sa.MetaData(), autoload_with=self.engine)
        query = sa.select(dag_run.c.id, dag_run.c.dag_id, dag_run.c.run_id).where(
            _superset(dag_run, ("dag_id", "run_id"), rows)
        )
        ids = {(r.dag_id, r.run_id): r.id for r in session.execute(query)}
        for row in rows:
            row["dag_run_id"] = ids.get((row["dag_id"], row["run_id"]))

    def _report_runs(self) -> None:
        """Runs for DAGs the target doesn't know (imported all the same) and runs that hadn't finished."""
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        dag_ids = {dag_id for dag_id, _ in self.runs}
        if not dag_ids or "dag_run" not in self.plans:
            return
        known: set[str] = set()
        if sa.inspect(self.engine).has_table("dag"):
            dag = sa.Table("dag", sa.MetaData(), autoload_with=self.engine)
            with self.engine.connect() as connection:
                known = {r[0] for r in connection.execute(sa.select(dag.c.dag_id).where(dag.c.dag_id.in_(dag_ids)))}
        unknown = sorted(dag_ids - known)
        if unknown:
            self.warnings.append(
                "runs imported for DAGs this Airflow doesn't know (yet; their files aren't parsed): "
                + ", ".join(unknown)
            )
        unfinished = [
            f"{r.get('dag_id')}/{r.get('run_id')} ({r.get('state')})"
            for r in archive.iter_rows(self.reader, self.manifest, "dag_run")
            if r.get("state") not in ("success", "failed")
        ]
        if unfinished:
            self.warnings.append(
                f"{len(unfinished)} runs had not finished at export time (the scheduler takes them up once their DAG "
                "is unpaused): " + ", ".join(unfinished[:NAMED_KEYS])
            )


def _set_connection(connection: Any, row: dict[str, Any], fields: list[str]) -> None:
    for field in fields:
        setattr(connection, field, row.get(field))
    connection.password = row.get("password")
    connection.extra = row.get("extra")


# --- As a task -------------------------------------------------------------------------------------------------


def verify_archive(reader: archive.Archive, manifest: dict[str, Any], names: list[str], secrets: bool) -> int:
    """Every part the import will read, checked by the archive reader before anything is written; returns the
    bytes read."""
    total = 0
    for name in names:
        total += _drain(archive.iter_rows(reader, manifest, name), manifest["tables"].get(name))
    if secrets:
        total += _drain(archive.iter_secret_rows(reader, manifest, "variable"), manifest["secrets"].get("variable"))
        total += _drain(archive.iter_secret_rows(reader, manifest, "connection"), manifest["secrets"].get("connection"))
    return total


def _drain(rows: Iterator[dict[str, Any]], entry: dict[str, Any] | None) -> int:
    for _ in rows:
        pass
    return sum(int(part["bytes"]) for part in (entry or {}).get("parts", []))


def run_import(reader: archive.Archive, on_existing: str) -> dict[str, Any]:
    """The import on this Airflow's database (its engine and sessions), logging progress and a summary."""
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]

    manifest = archive.read_manifest(reader)
    log.info(
        "importing export %s (Airflow %s, %s) from %s, on_existing=%s",
        manifest.get("export_id"),
        (manifest.get("source") or {}).get("airflow_version"),
        (manifest.get("source") or {}).get("dialect"),
        reader.description,
        on_existing,
    )
    importer = Importer(
        reader=reader,
        manifest=manifest,
        engine=settings.engine,
        session_factory=create_session,
        on_existing=on_existing,
    )
    summary = importer.run()
    for warning in summary["warnings"]:
        log.warning("%s", warning)
    for name, counts in summary["counts"].items():
        log.info("%-22s %s", name, counts)
    if summary["refused"]:
        raise MetadataImportError(
            f"{len(summary['refused'])} rows refused (everything else is imported): "
            + "; ".join(summary["refused"][:NAMED_KEYS])
        )
    return summary


def import_task(dag_run: Any = None, **_: Any) -> dict[str, Any]:
    """The `import_metadata` task."""
    if airflow_version()[0] >= 3:
        log.info("Airflow 3 target: the metadata import is the REST importer's job (cutover.py import); nothing here")
        return {}
    conf = run_conf(dag_run)
    on_existing = str(conf.get("on_existing") or "overwrite")
    if on_existing not in ON_EXISTING:
        raise MetadataImportError(f"conf on_existing must be one of {', '.join(ON_EXISTING)}")
    ignored = sorted(key for key in LOG_COPY_CONF if key in conf)
    if ignored:
        log.warning(
            "conf %s: the task logs are copied by the DAG mwaa_migration_task_logs now, not by this one; trigger it "
            "with the same conf after this run",
            ", ".join(ignored),
        )
    return run_import(open_export(conf), on_existing)
