"""Versioned lake roots: a whole run's tables published as one version, under a lock.

Layout of a versioned root (the lake, the feature outputs)::

    <root>/_current                 pointer: JSON naming the current snapshot (replaced atomically)
    <root>/_snapshots/<version>/    one complete snapshot: <table>/[month=YYYY-MM/]part-*.parquet
    <root>/_staging/<run>/          the snapshot a running job is building (never read)
    <root>/_lock                    fcntl lock file: one writer at a time

A run stages every table it writes under ``_staging/<run>``; tables and month partitions it
does not touch are *hard-linked* from the current snapshot (cost: one link per file, no bytes
copied), so each snapshot is a complete, plain hive-partitioned folder that pandas, pyarrow and
Spark read as they read any parquet folder. Publishing is: rename the staging folder into
``_snapshots``, write the new pointer to a temporary file, ``os.replace`` it over ``_current``.
Readers resolve ``_current`` once and read an immutable folder, so they see the old version or
the new one, never a mix. A killed run leaves only a staging folder (or an unreferenced
snapshot), which the next run removes under the lock. The newest ``keep`` snapshots are kept
(older ones are garbage-collected; hard links keep shared files alive).

The lock is ``fcntl.flock`` on ``_lock``: the kernel releases it when the holder dies, so a
crashed run never blocks the next one. On object stores (``s3://``...) there is no rename or
hard link: files are copied and the lock is a local file keyed by the URI (one machine).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

from oms.faults import checkpoint

POINTER = "_current"
SNAPSHOTS = "_snapshots"
STAGING = "_staging"
LOCK = "_lock"
FORMAT = 1


class LakeError(RuntimeError):
    """A dataset could not be read or written; the message names the path."""


class LockTimeoutError(LakeError):
    """Another run holds the lake's lock and did not release it in time."""


def _fs(root: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    root = str(root).removeprefix("file://")
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), str(Path(root).resolve())


def _local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def read_pointer(root: str | os.PathLike) -> dict | None:
    """The current version's pointer (a dict), or ``None`` for a plain (unversioned) root."""
    fs, path = _fs(root)
    if fs.get_file_info(f"{path}/{POINTER}").type != pafs.FileType.File:
        return None
    try:
        with fs.open_input_stream(f"{path}/{POINTER}") as f:
            ptr = json.loads(f.read())
        ptr["snapshot"], ptr["tables"], ptr["version"]  # noqa: B018 - the required keys
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LakeError(f"the version pointer {path}/{POINTER} is unreadable ({e}); restore it "
                        f"or point it at a folder under {path}/{SNAPSHOTS}") from e
    return ptr


def is_versioned(root: str | os.PathLike) -> bool:
    """Whether ``root`` has a version pointer."""
    fs, path = _fs(root)
    return fs.get_file_info(f"{path}/{POINTER}").type == pafs.FileType.File


def snapshot_root(root: str | os.PathLike) -> str:
    """Folder of the current snapshot of ``root`` (``root`` itself if it is not versioned).

    Resolve once per job and read every table under the result: all tables then come from
    the same version even if a new one is published meanwhile.
    """
    ptr = read_pointer(root)
    if ptr is None:
        return str(root)
    return f"{str(root).rstrip('/')}/{ptr['snapshot']}"


def resolve_table(root: str | os.PathLike, table: str) -> str:
    """Path of ``table`` in the current version of ``root`` (``root/table`` if unversioned)."""
    return f"{snapshot_root(root).rstrip('/')}/{table}"


@contextlib.contextmanager
def lake_lock(root: str | os.PathLike, timeout: float | None = None,
              what: str = "a run") -> Iterator[None]:
    """Hold the exclusive lock of a lake root; wait up to ``timeout`` seconds for it.

    Raises:
        LockTimeoutError: Another process held the lock for the whole timeout (the message
            names it, from what the holder wrote into the lock file).
    """
    from oms.settings import get_settings

    timeout = get_settings().lock_timeout if timeout is None else timeout
    fs, path = _fs(root)
    if _local(fs):
        Path(path).mkdir(parents=True, exist_ok=True)
        lock_path = Path(path) / LOCK
    else:
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:16]
        lock_path = Path(tempfile.gettempdir()) / f"oms-ml-lock-{digest}"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = lock_path.read_text(errors="replace").strip() or "unknown"
                    raise LockTimeoutError(
                        f"{root} is locked by another run ({holder}); waited {timeout:g} s. "
                        "Wait for it to finish, or raise OMS_ML_LOCK_TIMEOUT. (A crashed run "
                        "releases the lock by itself.)") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, (f"pid {os.getpid()} on {socket.gethostname()}, {what}, since "
                      f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC").encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _link_tree(fs: pafs.FileSystem, src: str, dst: str) -> int:
    """Hard-link (locally) or copy every file under ``src`` to the same place under ``dst``."""
    info = fs.get_file_info(src)
    if info.type == pafs.FileType.NotFound:
        return 0
    files = [info] if info.type == pafs.FileType.File else [
        i for i in fs.get_file_info(pafs.FileSelector(src, recursive=True))
        if i.type == pafs.FileType.File]
    for i in files:
        target = dst if i.path == src else f"{dst}/{i.path[len(src):].lstrip('/')}"
        parent = target.rsplit("/", 1)[0]
        if _local(fs):
            os.makedirs(parent, exist_ok=True)
            os.link(i.path, target)
        else:
            fs.create_dir(parent, recursive=True)
            fs.copy_file(i.path, target)
    return len(files)


class Transaction:
    """Build the next version of a lake root and publish it atomically (or not at all).

    Use as a context manager; the lock is held for the whole block, the new version is
    published when the block exits without an exception, and discarded otherwise::

        with Transaction(lake, run="ingest") as txn:
            write_table(orders, txn.path("orders"), table="orders")
            txn.carry("customers")          # unchanged: hard links to the current snapshot

    Tables of the current version that the run neither writes nor drops are carried over
    automatically at commit.

    Args:
        root: The lake (or output) root.
        run: What the run is (recorded in the pointer and the lock file).
        keep: Snapshots to keep (default: the ``keep_versions`` setting, at least 1).
        timeout: Seconds to wait for the lock (default: the ``lock_timeout`` setting).
    """

    def __init__(self, root: str | os.PathLike, run: str = "run", keep: int | None = None,
                 timeout: float | None = None) -> None:
        from oms.settings import get_settings

        self.root = str(root).rstrip("/")
        self.fs, self.rpath = _fs(self.root)
        self.run = run
        self.keep = max(1, keep if keep is not None else get_settings().keep_versions)
        self.timeout = timeout
        self.run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.staging = f"{self.rpath}/{STAGING}/{self.run_id}"
        self.base: dict | None = None
        self.written: set[str] = set()
        self.dropped: set[str] = set()
        self.committed = False
        self._lock: contextlib.AbstractContextManager | None = None

    # --- reading the version the run builds on -----------------------------------------
    def base_path(self, table: str) -> str | None:
        """Where ``table`` is in the version this run builds on (``None``: no such table)."""
        if self.base is not None:
            if table not in self.base["tables"]:
                return None
            p = f"{self.rpath}/{self.base['snapshot']}/{table}"
        else:
            p = f"{self.rpath}/{table}"  # a plain (pre-versioning) lake
        return p if self.fs.get_file_info(p).type != pafs.FileType.NotFound else None

    def base_tables(self) -> list[str]:
        """Tables of the version this run builds on."""
        if self.base is not None:
            return list(self.base["tables"])
        if self.fs.get_file_info(self.rpath).type == pafs.FileType.NotFound:
            return []
        return sorted(i.base_name for i in self.fs.get_file_info(pafs.FileSelector(self.rpath))
                      if i.type == pafs.FileType.Directory
                      and not i.base_name.startswith((".", "_")))

    # --- writing the new version ----------------------------------------------------------
    def path(self, table: str) -> str:
        """Folder to write ``table`` of the new version into (marks it as written)."""
        self.written.add(table)
        self.dropped.discard(table)
        return f"{self.staging}/{table}"

    def carry(self, table: str, relative: str = "") -> int:
        """Link ``table`` (or one sub-path of it, e.g. ``month=2024-01``) from the base version."""
        base = self.base_path(table)
        if base is None:
            return 0
        self.written.add(table)
        suffix = f"/{relative}" if relative else ""
        return _link_tree(self.fs, base + suffix, f"{self.staging}/{table}{suffix}")

    def scratch(self, name: str) -> str:
        """A scratch folder for this run (hidden from readers, deleted at commit or abort)."""
        return f"{self.staging}.scratch/{name}"

    def drop(self, table: str) -> None:
        """Leave ``table`` out of the new version."""
        self.dropped.add(table)
        self.written.discard(table)

    # --- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> Transaction:
        self._lock = lake_lock(self.root, self.timeout, what=self.run)
        self._lock.__enter__()
        try:
            self.fs.create_dir(self.rpath, recursive=True)
            self.base = read_pointer(self.root)
            self.cleanup()
            self.fs.create_dir(self.staging, recursive=True)
        except BaseException:
            self._lock.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self.committed:
                self.commit()
            elif exc_type is not None and not self.committed:
                self._delete(self.staging)
            self._delete(f"{self.staging}.scratch")
            if not self._children(f"{self.rpath}/{STAGING}"):
                self._delete(f"{self.rpath}/{STAGING}")
        finally:
            assert self._lock is not None
            self._lock.__exit__(exc_type, exc, tb)

    def commit(self) -> dict:
        """Publish the staged snapshot as the current version; returns the new pointer."""
        for table in self.base_tables():
            if table not in self.written and table not in self.dropped:
                self.carry(table)
        version = (self.base["version"] + 1) if self.base else 1
        name = f"{SNAPSHOTS}/v{version:06d}-{self.run_id}"
        tables = sorted(t for t in self.written
                        if self.fs.get_file_info(f"{self.staging}/{t}").type
                        != pafs.FileType.NotFound)
        history = ([*self.base.get("history", []), self.base["run_id"]] if self.base else [])
        pointer = {"format": FORMAT, "version": version, "snapshot": name, "tables": tables,
                   "run": self.run, "run_id": self.run_id, "history": history[-50:],
                   "committed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        checkpoint("publish:staged")
        self.fs.create_dir(f"{self.rpath}/{SNAPSHOTS}", recursive=True)
        self.fs.move(self.staging, f"{self.rpath}/{name}")
        checkpoint("publish:renamed")
        tmp = f"{self.rpath}/.{POINTER}.tmp-{self.run_id}"
        with self.fs.open_output_stream(tmp) as f:
            f.write(json.dumps(pointer, indent=1).encode())
        if _local(self.fs):
            fd = os.open(tmp, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        checkpoint("publish:pointer-written")
        self.fs.move(tmp, f"{self.rpath}/{POINTER}")  # os.replace locally: atomic
        self.committed = True
        checkpoint("publish:switched")
        self.base = pointer
        self.collect_garbage()
        self.cleanup(staging=False)  # plain folders of a pre-versioning lake, now shadowed
        checkpoint("publish:gc")
        return pointer

    def cleanup(self, staging: bool = True) -> list[str]:
        """Remove what killed runs left: staging folders, unpublished snapshots, temp pointers.

        Called under the lock (so nothing here belongs to a live run). Plain table folders of
        a lake converted to versions are removed once the pointer covers them.
        """
        removed = []
        if staging:
            for i in self._children(f"{self.rpath}/{STAGING}"):
                removed.append(i.path)
            self._delete(f"{self.rpath}/{STAGING}")
        current = self.base["snapshot"].rsplit("/", 1)[1] if self.base else None
        for i in self._children(f"{self.rpath}/{SNAPSHOTS}"):
            if current is None or i.base_name > current:  # renamed, never pointed to
                self._delete(i.path)
                removed.append(i.path)
        for i in self._children(self.rpath):
            if i.base_name.startswith(f".{POINTER}.tmp-"):
                self.fs.delete_file(i.path)
                removed.append(i.path)
            elif (self.base and i.type == pafs.FileType.Directory
                  and i.base_name in self.base["tables"]):
                self._delete(i.path)  # a plain table shadowed by the pointer
                removed.append(i.path)
        return removed

    def collect_garbage(self) -> list[str]:
        """Delete snapshots older than the newest ``keep`` (the current one is always kept)."""
        snaps = sorted(i.path for i in self._children(f"{self.rpath}/{SNAPSHOTS}")
                       if i.type == pafs.FileType.Directory)
        current = f"{self.rpath}/{self.base['snapshot']}" if self.base else None
        old = [p for p in snaps if p <= (current or "")][:-self.keep]
        for p in old:
            self._delete(p)
        return old

    def _children(self, path: str) -> list[pafs.FileInfo]:
        if self.fs.get_file_info(path).type != pafs.FileType.Directory:
            return []
        return self.fs.get_file_info(pafs.FileSelector(path))

    def _delete(self, path: str) -> None:
        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            if _local(self.fs):
                shutil.rmtree(path, ignore_errors=True)
            else:
                self.fs.delete_dir(path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(path)


def versions(root: str | os.PathLike) -> list[str]:
    """Snapshot folder names kept under ``root`` (oldest first)."""
    fs, path = _fs(root)
    sel = f"{path}/{SNAPSHOTS}"
    if fs.get_file_info(sel).type != pafs.FileType.Directory:
        return []
    return sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(sel)))


__all__ = ["LakeError", "LockTimeoutError", "Transaction", "is_versioned", "lake_lock",
           "read_pointer",
           "resolve_table", "snapshot_root", "versions"]
