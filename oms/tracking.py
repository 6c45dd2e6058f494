"""Check the MLflow tracking store before MLflow touches it (no MLflow import here).

MLflow creates and migrates tables in any SQLite file it is pointed at and answers a corrupt
file with a long SQLAlchemy traceback; a remote server that is down is retried for minutes.
:func:`check_store` answers each case with one line a person can act on:

* a read-only use (forecast, score, evaluate) of a missing, 0-byte or empty SQLite file:
  nothing is registered yet (the file is left untouched, no tables are created);
* a file that is not SQLite, is truncated or malformed: "corrupt MLflow store";
* a SQLite file that holds other tables but no MLflow schema: "not an MLflow store"
  (refused for writes as well: training never adds MLflow tables to someone else's database);
* ``http(s)://`` servers: one request with a timeout; no answer → "tracking server
  unreachable".
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
MLFLOW_TABLES = {"experiments", "runs", "registered_models", "model_versions"}


class TrackingStoreError(RuntimeError):
    """The MLflow store cannot be used; the message says why and what to do."""


class NoStoreError(TrackingStoreError, LookupError):
    """A read-only command found no MLflow store (nothing registered yet)."""


def sqlite_path(uri: str) -> Path | None:
    """The file behind a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri.removeprefix("sqlite:").lstrip("/")
    if path in ("", ":memory:"):
        return None
    return Path("/" + path) if uri.startswith("sqlite:////") else Path(path).resolve()


def _tables(path: Path) -> set[str]:
    """Table names of a SQLite file opened read-only; raises on a corrupt file."""
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise TrackingStoreError(f"corrupt MLflow store {path}: not an SQLite database "
                                 "(restore it from a backup or move it away to start afresh)")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE "
                                               "type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise TrackingStoreError(f"corrupt MLflow store {path}: {e} (restore it from a "
                                 "backup or move it away to start afresh)") from None
    if check and check[0] != "ok":
        raise TrackingStoreError(f"corrupt MLflow store {path}: integrity check says "
                                 f"{check[0]!r} (restore it from a backup or move it away)")
    return names


def check_sqlite(path: Path, read_only: bool) -> None:
    """Refuse a missing/empty store for reads, a corrupt or foreign file always."""
    size = path.stat().st_size if path.is_file() else None
    if path.exists() and not path.is_file():
        raise TrackingStoreError(f"MLflow store {path} is not a file")
    if not size:
        if read_only:
            state = "does not exist" if size is None else "is empty (0 bytes)"
            raise NoStoreError(f"no MLflow store: {path} {state}; nothing is registered yet "
                               "(train a model first, e.g. `oms-ml train forecast`)")
        return
    names = _tables(path)
    if not names:
        if read_only:
            raise NoStoreError(f"no MLflow store: {path} has no tables; nothing is "
                               "registered yet (train a model first)")
        return
    if not MLFLOW_TABLES <= names:
        raise TrackingStoreError(
            f"{path} is an SQLite database but not an MLflow store (tables: "
            f"{', '.join(sorted(names)[:5])}); point OMS_ML_MLFLOW_TRACKING_URI elsewhere")


def check_server(uri: str, timeout: float) -> None:
    """One request to the server's health endpoint; a clear error if there is no answer."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - http(s) only
            return
    except urllib.error.HTTPError:
        return  # the server answered (a proxy or an old server without /health)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TrackingStoreError(f"tracking server unreachable at {uri}: {reason} "
                                 f"(waited at most {timeout:g} s)") from None


def check_store(uri: str, read_only: bool = False, timeout: float = 5.0) -> None:
    """Check the store at ``uri`` before MLflow opens it (see the module docstring).

    Args:
        uri: Tracking URI (``sqlite:///...``, ``http(s)://...``; others are not checked).
        read_only: The caller only reads (load a champion): a missing store is an error and
            must not be created.
        timeout: Seconds to wait for a remote server.

    Raises:
        NoStoreError: Read-only use and there is no store yet.
        TrackingStoreError: Corrupt, foreign or unreachable store.
    """
    path = sqlite_path(uri)
    if path is not None:
        check_sqlite(path, read_only)
    elif uri.startswith(("http://", "https://")):
        check_server(uri, timeout)
