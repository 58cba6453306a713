"""The migration archive, read by the importer (its writer is migration_dags/export_metadata.py, whose docstring
describes the layout): a local folder or an S3 prefix, a manifest written last, gzipped JSON-lines parts.

Every part is checked against the manifest (size, SHA-256, row count) before any of its rows is handed out, so an
import never acts on half of a damaged part. Errors name the key and the problem, never a value from a row.
"""

from __future__ import annotations

import abc
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

FORMAT = 1
# The archive's files, relative to its root (an export's prefix in the migration bucket, or a folder).
MANIFEST_KEY = "manifest.json"
RUN_IDS_KEY = "run-ids.json"
TABLES_DIR = "tables/"  # tables/<table>/part-NNNNN.jsonl.gz
SECRETS_DIR = "secrets/"  # the variables' and connections' parts, decrypted
# S3's answers for a key that isn't there: 403 too, for a role that may not list the bucket (ours may not).
_ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "403", "AccessDenied", "Forbidden"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_READ_CHUNK = 1 << 20
DAMAGED = "the archive is damaged or was edited; export again"


class ArchiveError(Exception):
    """A reason the archive can't be read or trusted; names the key and the problem, never a value."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ArchiveError(f"{key!r} is not a key inside the archive")
    return key


class Archive(abc.ABC):
    """One export: objects under relative keys such as `tables/dag_run/part-00000.jsonl.gz`."""

    description: str = "archive"

    @abc.abstractmethod
    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it isn't there."""

    @abc.abstractmethod
    def write(self, key: str, body: bytes) -> None:
        """Create or replace one object, whole."""


class LocalArchive(Archive):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.description = f"{self.root}/"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        # The rename makes the object appear whole, as the export's writer does.
        partial.replace(path)


class S3Archive(Archive):
    def __init__(self, *, bucket: str, prefix: str, client: Any) -> None:
        if not bucket:
            raise ArchiveError("an S3 archive needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.description = f"s3://{bucket}/{self.prefix}"

    def read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + _check_key(key))
        except Exception as error:
            code = _error_code(error)
            if code in _ABSENT_CODES:
                return None
            raise ArchiveError(
                f"reading {key} from {self.description} failed: {code or type(error).__name__}"
            ) from error
        body: bytes = response["Body"].read()
        return body

    def write(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + _check_key(key), Body=body)
        except Exception as error:
            code = _error_code(error)
            raise ArchiveError(f"writing {key} to {self.description} failed: {code or type(error).__name__}") from error


def _error_code(error: BaseException) -> str:
    """botocore's error code (or HTTP status) of a ClientError; empty for anything else."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def open_archive(location: str, *, s3_client: Any = None) -> Archive:
    """`s3://bucket/prefix/` or a local folder."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Archive(bucket=bucket, prefix=prefix, client=s3_client)
    return LocalArchive(location)


# --- The manifest ----------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(manifest: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in manifest:
        raise ArchiveError(f"manifest.json: `{key}` is missing; {DAMAGED}")
    value = manifest[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ArchiveError(f"manifest.json: `{key}` must be {what}; {DAMAGED}")
    return value


def _check_entry(section: str, name: str, entry: Any) -> None:
    where = f"manifest.json: {section}.{name}"
    if not isinstance(entry, dict):
        raise ArchiveError(f"{where} must be an object; {DAMAGED}")
    if not _is_int(entry.get("rows")) or entry["rows"] < 0:
        raise ArchiveError(f"{where}.rows must be a count; {DAMAGED}")
    if not isinstance(entry.get("columns"), dict):
        raise ArchiveError(f"{where}.columns must be an object; {DAMAGED}")
    if "binary" in entry and not isinstance(entry["binary"], dict):
        raise ArchiveError(f"{where}.binary must be an object; {DAMAGED}")
    parts = entry.get("parts")
    if not isinstance(parts, list):
        raise ArchiveError(f"{where}.parts must be a list; {DAMAGED}")
    # A part may only live where its section keeps parts: a manifest can't point the reader elsewhere.
    home = f"{TABLES_DIR}{name}/" if section == "tables" else SECRETS_DIR
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        if not isinstance(part, dict):
            raise ArchiveError(f"{at} must be an object; {DAMAGED}")
        key = part.get("key")
        if not isinstance(key, str) or not key.startswith(home):
            raise ArchiveError(f"{at}.key must be a key under {home}; {DAMAGED}")
        _check_key(key)
        for field in ("rows", "bytes"):
            if not _is_int(part.get(field)) or part[field] < 0:
                raise ArchiveError(f"{at}.{field} must be a count; {DAMAGED}")
        if not isinstance(part.get("sha256"), str) or not _SHA256.fullmatch(part["sha256"]):
            raise ArchiveError(f"{at}.sha256 must be 64 lowercase hex digits; {DAMAGED}")
    if sum(part["rows"] for part in parts) != entry["rows"]:
        raise ArchiveError(f"{where}: its parts' rows don't add up to its rows; {DAMAGED}")


def read_manifest(archive: Archive) -> dict[str, Any]:
    """The manifest, its shape checked; ArchiveError when it is absent (an export still running or that failed)."""
    raw = archive.read(MANIFEST_KEY)
    if raw is None:
        raise ArchiveError(
            f"manifest.json is missing: the export is incomplete or still running ({archive.description})"
        )
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ArchiveError(f"manifest.json is not JSON; {DAMAGED}") from None
    if not isinstance(manifest, dict):
        raise ArchiveError(f"manifest.json must be a JSON object; {DAMAGED}")
    found = manifest.get("format")
    if found != FORMAT or not _is_int(found):
        raise ArchiveError(
            f"manifest.json: format {found!r} is not supported: this importer reads format {FORMAT}; "
            "use the importer released with the exporter that wrote it"
        )
    for key in ("migration", "export_id", "started_at", "finished_at"):
        _require(manifest, key, str, "a string")
    _require(manifest, "source", dict, "an object")
    if manifest.get("since") is not None and not isinstance(manifest["since"], str):
        raise ArchiveError(f"manifest.json: `since` must be a string or null; {DAMAGED}")
    for key in ("paused", "warnings"):
        values = _require(manifest, key, list, "a list of strings")
        if not all(isinstance(value, str) for value in values):
            raise ArchiveError(f"manifest.json: `{key}` must be a list of strings; {DAMAGED}")
    for section in ("tables", "secrets"):
        entries = _require(manifest, section, dict, "an object")
        for name, entry in entries.items():
            _check_entry(section, name, entry)
    unknown = set(manifest["secrets"]) - {"variable", "connection"}
    if unknown:
        raise ArchiveError(f"manifest.json: secrets has unknown entries {sorted(unknown)}; {DAMAGED}")
    return manifest


# --- Rows ------------------------------------------------------------------------------------------------------


def _count_lines(key: str, data: bytes) -> int:
    """Lines in a gzipped part, decompressed a chunk at a time (nothing kept)."""
    lines = 0
    last = b"\n"
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(_READ_CHUNK):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error):
        raise ArchiveError(f"{key}: not a readable gzip file; {DAMAGED}") from None
    return lines if last == b"\n" else lines + 1


def _part_rows(archive: Archive, part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    key = part["key"]
    data = archive.read(key)
    if data is None:
        raise ArchiveError(f"{key}: missing, though manifest.json lists it: the archive is incomplete; export again")
    if len(data) != part["bytes"]:
        raise ArchiveError(f"{key}: {len(data)} bytes, manifest.json says {part['bytes']}; {DAMAGED}")
    if hashlib.sha256(data).hexdigest() != part["sha256"]:
        raise ArchiveError(f"{key}: sha256 differs from the manifest: {DAMAGED}")
    lines = _count_lines(key, data)
    if lines != part["rows"]:
        raise ArchiveError(f"{key}: {lines} rows, manifest.json says {part['rows']}; {DAMAGED}")
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        for number, line in enumerate(stream, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                raise ArchiveError(f"{key}: line {number} is not JSON; {DAMAGED}") from None
            if not isinstance(row, dict):
                raise ArchiveError(f"{key}: line {number} is not a JSON object; {DAMAGED}")
            yield row


def _section_rows(archive: Archive, manifest: Mapping[str, Any], section: str, name: str) -> Iterator[dict[str, Any]]:
    entry = manifest.get(section, {}).get(name)
    if entry is None:
        return
    for part in entry["parts"]:
        yield from _part_rows(archive, part)


def iter_rows(archive: Archive, manifest: Mapping[str, Any], table: str) -> Iterator[dict[str, Any]]:
    """A table's rows, part after part; nothing for a table the manifest lacks."""
    return _section_rows(archive, manifest, "tables", table)


def iter_secret_rows(
    archive: Archive, manifest: Mapping[str, Any], name: Literal["variable", "connection"]
) -> Iterator[dict[str, Any]]:
    """Variables with `val`, or connections with `password` and `extra`, decrypted (`secrets/`)."""
    if name not in ("variable", "connection"):
        raise ValueError(f"no secret table {name!r}: variable or connection")
    return _section_rows(archive, manifest, "secrets", name)


# --- Run ids ---------------------------------------------------------------------------------------------------


def _check_run_ids(run_ids: Any) -> dict[str, dict[str, str]]:
    if not isinstance(run_ids, dict) or not all(
        isinstance(dag_id, str)
        and isinstance(runs, dict)
        and all(isinstance(old, str) and isinstance(new, str) for old, new in runs.items())
        for dag_id, runs in run_ids.items()
    ):
        raise ArchiveError("run-ids.json: `dags` must map DAG ids to {old run id: new run id}")
    return run_ids


def read_run_ids(archive: Archive) -> dict[str, dict[str, str]]:
    """The importer's old -> new run id map per DAG; {} before the first import."""
    raw = archive.read(RUN_IDS_KEY)
    if raw is None:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise ArchiveError("run-ids.json is not JSON; delete it and import again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ArchiveError(f"run-ids.json: format must be {FORMAT}")
    return _check_run_ids(document.get("dags"))


def write_run_ids(archive: Archive, run_ids: dict[str, dict[str, str]]) -> None:
    document = {"format": FORMAT, "dags": _check_run_ids(run_ids)}
    archive.write(RUN_IDS_KEY, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))


# --- Finding the export ----------------------------------------------------------------------------------------


def latest_complete_export(client: Any, *, bucket: str, prefix: str) -> str | None:
    """The newest export id under `prefix` (a migration's exports, bucket_keys.export_root) that has a
    manifest.json; None when there is none.

    Assumes export ids sort by time as strings: the export's default id is the UTC time (`20261128T134500Z`), and
    an id the cut-over chooses must keep that order. Exports without a manifest (failed or still running) are
    skipped. Only ListObjectsV2 is used, which the import role may call on `exports/<migration>/`.
    """
    ids: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
    while True:
        page = client.list_objects_v2(**kwargs)
        for common in page.get("CommonPrefixes", []):
            export_id = common["Prefix"][len(prefix) :].rstrip("/")
            if export_id:
                ids.append(export_id)
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    for export_id in sorted(ids, reverse=True):
        manifest = f"{prefix}{export_id}/{MANIFEST_KEY}"
        found = client.list_objects_v2(Bucket=bucket, Prefix=manifest, MaxKeys=1)
        if any(item["Key"] == manifest for item in found.get("Contents", [])):
            return export_id
    return None
