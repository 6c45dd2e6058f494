"""Incremental ingest: which landing files are new since a tenant's last successful run.

A tenant's landing zone is ``<landing>/<tenant>/`` when that folder exists (one export folder
per tenant), else the landing root itself (the single-tenant layout ``oms-ml generate`` writes
by default). For each tenant a small JSON state file (``<data_dir>/state/landing-<tenant>.json``,
written atomically) records every landing file it has ingested with its size, modification
time and SHA-256 of its content. :func:`ingest_new_partitions` hashes the landing (re-hashing
only files whose size or time changed), links the new or changed contract-table files into a
scratch folder with the same layout, checks each file's footer (a file that is not parquet or
lacks a required column is quarantined whole, with its reason, and the rest proceeds), runs
:func:`pipelines.ingest.ingest` on that folder (which upserts and publishes one lake version
atomically) and only then records the files. A run killed before the record leaves the files
"new": the next run ingests them again, and the upsert keeps one row per key.

The state is tied to the lake it describes: when that lake has no published version (a new or
wiped lake), the recorded files are ignored and everything is ingested again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from oms.contract import TABLES
from oms.lake import LakeError
from oms.tenancy import TENANT_PATTERN, validate_tenant
from oms.versions import read_pointer

STATE_VERSION = 1
_SKIP_DIRS = {"_truth", "risk", "_import_rejects"}


@dataclass
class IngestDelta:
    """What an incremental ingest found and did for one tenant.

    Attributes:
        tenant: Tenant id.
        landing: The tenant's landing folder.
        new_files: Landing files (relative paths) new or changed since the last run.
        bad_files: Files quarantined whole (not parquet or missing columns), with the reason.
        report: The ingest report (None when nothing new was ingested).
        lake_version: The lake version after the run (None for an unversioned lake).
        reason: Why nothing was ingested, if so.
    """

    tenant: str
    landing: str
    new_files: list[str] = field(default_factory=list)
    bad_files: dict[str, str] = field(default_factory=dict)
    report: object | None = None
    lake_version: int | None = None
    reason: str = ""


def state_dir() -> Path:
    """Folder of the per-tenant state files: ``<data_dir>/state``."""
    from oms.settings import get_settings

    return get_settings().data_dir / "state"


def state_path(tenant: str, kind: str = "landing") -> Path:
    """The state file of ``tenant`` (``kind``: ``landing`` or ``daily``)."""
    return state_dir() / f"{kind}-{validate_tenant(tenant)}.json"


def read_state(path: Path) -> dict:
    """A state file's content, or ``{}`` when absent or unreadable (then everything is new)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == STATE_VERSION else {}


def write_state(path: Path, data: dict) -> None:
    """Write a state file atomically (temporary file, fsync, ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"format": STATE_VERSION, **data}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def tenant_landing(landing: str, tenant: str) -> str:
    """``<landing>/<tenant>`` if that folder exists, else the landing root."""
    sub = Path(str(landing).removeprefix("file://")) / validate_tenant(tenant)
    return str(sub) if sub.is_dir() else str(landing)


def discover_tenants(landing: str, lake: str) -> list[str]:
    """Tenants with a landing folder ``<landing>/<tenant>/`` or rows in the lake's orders."""
    found: set[str] = set()
    root = Path(str(landing).removeprefix("file://"))
    if root.is_dir():
        for p in root.iterdir():
            if (p.is_dir() and TENANT_PATTERN.fullmatch(p.name) and p.name not in TABLES
                    and p.name not in _SKIP_DIRS and any((p / t).exists() for t in TABLES)):
                found.add(p.name)
        if (root / "orders").exists():
            found |= _tenant_ids(str(root))
    if read_pointer(lake) is not None:
        found |= _tenant_ids(lake)
    return sorted(t for t in found if TENANT_PATTERN.fullmatch(t))


def _tenant_ids(root: str) -> set[str]:
    """Distinct ``tenant_id`` values of ``root``'s orders (one column read)."""
    import pyarrow.compute as pc

    from pipelines.features import read_arrow

    try:
        col = read_arrow(root, "orders", ["tenant_id"], required=False)
    except LakeError:
        return set()
    if col is None or col.num_rows == 0:
        return set()
    return {str(v) for v in pc.unique(col["tenant_id"].cast("string")).to_pylist() if v}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_table_file(rel: str) -> bool:
    first = rel.split("/", 1)[0]
    return first in TABLES or (first.endswith(".parquet") and first[:-8] in TABLES)


def scan_landing(root: str, known: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every contract-table parquet file under ``root``: ``{relative path: size, mtime, sha}``.

    Files whose size and modification time match ``known`` keep their recorded hash (a daily
    run hashes only what changed); hidden files and folders are ignored.
    """
    base = Path(str(root).removeprefix("file://"))
    known = known or {}
    out: dict[str, dict] = {}
    for path in sorted(base.rglob("*.parquet")):
        rel = path.relative_to(base).as_posix()
        if any(part.startswith((".", "_")) for part in rel.split("/")) or not _is_table_file(rel):
            continue
        st = path.stat()
        rec = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        old = known.get(rel)
        if old and old.get("size") == rec["size"] and old.get("mtime_ns") == rec["mtime_ns"]:
            rec["sha256"] = old["sha256"]
        else:
            rec["sha256"] = _sha256(path)
        out[rel] = rec
    return out


def new_files(current: dict[str, dict], recorded: dict[str, dict]) -> list[str]:
    """Relative paths whose content hash is new or differs from the recorded one."""
    return [rel for rel, rec in current.items()
            if recorded.get(rel, {}).get("sha256") != rec["sha256"]]


def delta_key(tenant: str, lake: str, files: dict[str, dict], rels: list[str]) -> str:
    """A cache key over the new files' content hashes (never over data frames)."""
    h = hashlib.sha256(f"{tenant}\0{lake}".encode())
    for rel in sorted(rels):
        h.update(f"\0{rel}\0{files[rel]['sha256']}".encode())
    return h.hexdigest()[:32]


def _stage(root: str, rels: list[str], stage: Path) -> None:
    """Hard-link (or copy) ``rels`` from ``root`` into ``stage`` with the same layout."""
    base = Path(str(root).removeprefix("file://"))
    for rel in rels:
        dest = stage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base / rel, dest)
        except OSError:
            shutil.copy2(base / rel, dest)


def _check_footers(root: str, rels: list[str]) -> dict[str, str]:
    """Files that cannot be ingested at all (unreadable parquet, missing columns), with why."""
    from oms.validate import ContractError
    from pipelines.ingest import preflight

    base = Path(str(root).removeprefix("file://"))
    bad = {}
    for rel in rels:
        first = rel.split("/", 1)[0]
        table = first[:-8] if first.endswith(".parquet") else first
        try:
            preflight(table, str(base / rel))
        except (LakeError, ContractError) as e:
            bad[rel] = str(e)
    return bad


def _quarantine_files(root: str, bad: dict[str, str], quarantine: str, tenant: str) -> None:
    """Copy whole unusable files to ``<quarantine>/_files/<tenant>/`` with a reason file."""
    base = Path(str(root).removeprefix("file://"))
    dest = Path(str(quarantine).removeprefix("file://")) / "_files" / tenant
    for rel, reason in bad.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base / rel, target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")


def ingest_new_partitions(tenant: str, landing: str, lake: str, quarantine: str,
                          progress: bool = False) -> IngestDelta:
    """Ingest only the landing files of ``tenant`` that are new since its last run.

    Args:
        tenant: Tenant id (validated).
        landing: Landing root (the tenant's folder under it is used if present).
        lake: Lake root.
        quarantine: Quarantine root (row-level rejects from ingest, whole bad files here).
        progress: Show ingest's progress bar.

    Returns:
        What was new, what was quarantined whole, and the ingest report (None if nothing new).
    """
    from pipelines.ingest import ingest

    tenant = validate_tenant(tenant)
    root = tenant_landing(landing, tenant)
    spath = state_path(tenant)
    state = read_state(spath)
    if state.get("lake") != str(lake) or read_pointer(lake) is None:
        state = {}  # another or a wiped lake: what was recorded is not in it
    files = scan_landing(root, state.get("files"))
    delta = IngestDelta(tenant, root, new_files(files, state.get("files", {})))
    if not delta.new_files:
        delta.reason = f"no new landing files since {state.get('updated_at', 'the last run')}"
        delta.lake_version = _version(lake)
        return delta
    delta.bad_files = _check_footers(root, delta.new_files)
    if delta.bad_files:
        _quarantine_files(root, delta.bad_files, quarantine, tenant)
    good = [r for r in delta.new_files if r not in delta.bad_files]
    if good:
        stage = Path(str(lake).removeprefix("file://")).parent / ".landing-stage" / (
            f"{tenant}-{uuid.uuid4().hex[:8]}")
        try:
            _stage(root, good, stage)
            delta.report = ingest(str(stage), lake, quarantine, progress=progress)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    else:
        delta.reason = "every new landing file was quarantined whole"
    delta.lake_version = _version(lake)
    write_state(spath, {"lake": str(lake), "landing": root, "files": files,
                        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return delta


def _version(lake: str) -> int | None:
    ptr = read_pointer(lake)
    return None if ptr is None else int(ptr["version"])
