"""Ingest: landing zone → validated lake + quarantine, batch by batch, nothing lost.

For each contract table found under the landing root (a folder ``<table>/``, hive-partitioned
or not, or a single file ``<table>.parquet``), every file is read in bounded batches, each batch
is validated against the contract (:func:`oms.validate.validate_frame`), valid rows stream into
a scratch dataset and the others into the quarantine zone with a reason per row. Primary keys
are tracked across batches and files (64-bit hashes), so a duplicate in a later file is caught
too; an order line is checked against the landed orders and the lake's orders of its month.

The landed rows are then merged into the lake (:mod:`pipelines.ingest_merge`): new keys are
added, known keys upserted by the contract's rule, untouched month partitions carried over
by hard link. All tables of the run are published as **one lake version** under the lake's
lock (:class:`oms.versions.Transaction`); an unreadable file, a missing column, an exception
or a ``kill -9`` leaves the previous version. Quarantined rows are kept per run
(``<quarantine>/<table>/run-<id>/``) and become visible only once the run's version is
published. History is dropped only with ``replace=True`` (``--replace``), refused for an
empty landing. Files in the landing that are not contract tables are reported as skipped.

Over 400 lines because the report types, footer preflight, batch gathering and the run
itself belong together; merging and order lookups already live in ``ingest_merge`` and
``ingest_parents``.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oms.contract import TABLES, get_table
from oms.faults import checkpoint
from oms.lake import (
    DatasetWriter,
    FileInfo,
    LakeError,
    _fs_and_path,
    exists,
    inspect_file,
    is_file,
    iter_file_batches,
    list_files,
    remove,
    table_uri,
)
from oms.validate import (
    ROW,
    ContractError,
    KeyIndex,
    quarantine_columns,
    reason_counts,
    validate_frame,
)
from oms.versions import Transaction
from pipelines.ingest_merge import merge_table
from pipelines.ingest_parents import (
    QUARANTINE_RUN,
    OrderKeys,
    settle_quarantine,
    skipped_files,
)

DEFAULT_BATCH_ROWS = 250_000


@dataclass
class TableReport:
    """What happened to one table.

    Attributes:
        table: Contract table name.
        source: Where it was read from.
        files: Parquet files read.
        empty_files: Files with no rows (or zero bytes), reported rather than failed on.
        rows_in: Rows read.
        rows_valid: Rows written to the lake.
        rows_quarantined: Rows written to the quarantine zone.
        reasons: Quarantined rows per reason (a row breaking two rules counts under both).
        ignored_columns: Input columns that are not in the contract (not written).
        seconds: Wall time to read and validate the table.
        merge_seconds: Wall time to merge it into the new lake version.
        lake_uri: Where the valid rows went.
        quarantine_uri: Where the quarantined rows went.
        inserted: Valid rows with a key new to the lake.
        updated: Valid rows that replaced the lake's row with the same key.
        stale: Valid rows not applied: the lake's row is at a later version.
        lake_rows: Rows of the table in the published version.
        partitions_rewritten: Month partitions rewritten (upserted or new).
        partitions_linked: Month partitions carried over unchanged.
        partitions_appended: Month partitions that got the landed rows as one more file.
    """

    table: str
    source: str
    files: int = 0
    empty_files: int = 0
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    merge_seconds: float = 0.0
    lake_uri: str = ""
    quarantine_uri: str = ""
    inserted: int = 0
    updated: int = 0
    stale: int = 0
    lake_rows: int = 0
    partitions_rewritten: int = 0
    partitions_linked: int = 0
    partitions_appended: int = 0

    def check(self) -> None:
        """Raise if a row went missing (rows in must equal valid + quarantined)."""
        if self.rows_in != self.rows_valid + self.rows_quarantined:
            raise RuntimeError(
                f"{self.table}: {self.rows_in} rows in but {self.rows_valid} valid + "
                f"{self.rows_quarantined} quarantined: rows were lost"
            )


@dataclass
class IngestReport:
    """Per-table results of one ingest run."""

    landing: str
    lake: str
    quarantine: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: int = 0
    replace: bool = False

    @property
    def rows_in(self) -> int:
        """Rows read over all tables."""
        return sum(t.rows_in for t in self.tables.values())

    @property
    def rows_valid(self) -> int:
        """Rows written to the lake over all tables."""
        return sum(t.rows_valid for t in self.tables.values())

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined over all tables."""
        return sum(t.rows_quarantined for t in self.tables.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per table, for printing or logging."""
        return pd.DataFrame([
            {
                "table": t.table, "files": t.files, "empty_files": t.empty_files,
                "rows_in": t.rows_in, "rows_valid": t.rows_valid,
                "rows_quarantined": t.rows_quarantined, "inserted": t.inserted,
                "updated": t.updated, "stale": t.stale, "lake_rows": t.lake_rows,
                "seconds": round(t.seconds, 2), "ignored_columns": ", ".join(t.ignored_columns),
            }
            for t in self.tables.values()
        ])


def find_sources(landing: str, tables: list[str] | None = None) -> dict[str, str]:
    """Locate each contract table under the landing root.

    A table is ``<landing>/<table>`` (folder or file) or ``<landing>/<table>.parquet``. If
    ``landing`` is itself one table's file or (hive-partitioned) folder, name that one table.

    Raises:
        LakeError: The landing path does not exist, a named table is absent, or none is found.
        KeyError: A named table is not in the contract.
    """
    wanted = [get_table(t).name for t in tables] if tables else list(TABLES)
    if not exists(landing):
        raise LakeError(f"landing path {landing} does not exist")
    if is_file(landing):
        if len(wanted) != 1:
            raise LakeError(f"{landing} is a single file: name the one table it holds (--table)")
        return {wanted[0]: str(landing)}
    found = {}
    for name in wanted:
        for candidate in (table_uri(landing, name), table_uri(landing, f"{name}.parquet")):
            if exists(candidate):
                found[name] = candidate
                break
        else:
            if tables and len(wanted) == 1 and list_files(landing):
                found[name] = str(landing)  # the folder is the table's own dataset
            elif tables:
                raise LakeError(
                    f"no {name!r} table under {landing}: looked for {name}/ and {name}.parquet"
                )
    if not found:
        raise LakeError(f"no contract table under {landing}: expected one of {list(TABLES)}")
    return found


def preflight(table: str, source: str) -> list[FileInfo]:
    """Check every file's footer: readable parquet with every required column.

    Raises:
        LakeError: A file is not valid parquet (named).
        ContractError: A file lacks required columns (file and columns named).
    """
    spec = get_table(table)
    infos = []
    for path in list_files(source):
        info = inspect_file(path, uri=source)
        missing = [c for c in spec.column_names if c not in (info.columns or spec.column_names)]
        if missing:
            raise ContractError(f"{path}: missing required column(s) {missing} for table {table!r}")
        infos.append(info)
    return infos


def _quarantine_schema(table: str) -> pa.Schema:
    return pa.schema([pa.field(c, pa.int64() if c == ROW else pa.string())
                      for c in quarantine_columns(table)])


def _quarantine_frame(q: pd.DataFrame, table: str) -> pd.DataFrame:
    """Fixed columns and dtypes, so every quarantine part file has the same schema."""
    cols = quarantine_columns(table)
    out = q.reindex(columns=cols)
    return out.astype({c: "Int64" if c == ROW else "string" for c in cols})


def ingest_table(
    table: str,
    source: str,
    valid_uri: str,
    quarantine_uri: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    now: pd.Timestamp | None = None,
    on_rows: Callable[[int], None] | None = None,
    infos: list[FileInfo] | None = None,
    seen: KeyIndex | None = None,
    parent_exists: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> TableReport:
    """Validate one table's files: valid rows to ``valid_uri``, the others to ``quarantine_uri``.

    Both datasets are written atomically (a failure leaves neither). The valid rows are not
    in the lake yet: :func:`ingest` merges them into the next lake version.

    Args:
        table: Contract table name.
        source: Folder or file holding the table's parquet.
        valid_uri: Dataset for the valid rows (partitioned like the lake).
        quarantine_uri: Dataset for the rejected rows, with a reason per row.
        batch_rows: Rows per batch (bounds memory).
        now: Reference time for "not in the future" rules (default: now, UTC).
        on_rows: Called with the row count of each batch (progress reporting).
        infos: The files' footers if already checked by :func:`preflight`.
        seen: Primary-key index of this run's valid rows (filled in; orders' index is what
            order lines are checked against).
        parent_exists: For order lines: whether each line's order exists.

    Returns:
        The table's report (checked: rows in = valid + quarantined).
    """
    started = time.perf_counter()
    spec = get_table(table)
    infos = infos if infos is not None else preflight(table, source)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    rep = TableReport(
        table=table, source=source, files=len(infos),
        empty_files=sum(1 for i in infos if i.rows == 0), quarantine_uri=quarantine_uri,
    )
    seen = seen if seen is not None else KeyIndex()
    with ExitStack() as stack:
        lw = stack.enter_context(DatasetWriter(valid_uri, table=table))
        qw = stack.enter_context(DatasetWriter(quarantine_uri, schema=_quarantine_schema(table)))
        reasons = Counter()
        for batch, sources, rows in _batches(infos, spec.column_names, batch_rows, source):
            res = validate_frame(batch, spec, source=sources, now=now, row_offset=rows,
                                 seen=seen, parent_exists=parent_exists)
            lw.write(res.valid)
            qw.write(_quarantine_frame(res.quarantine, table))
            reasons.update(reason_counts(res.quarantine))
            rep.rows_in += len(batch)
            rep.rows_valid += len(res.valid)
            rep.rows_quarantined += len(res.quarantine)
            if on_rows is not None:
                on_rows(len(batch))
            # pandera's cached accessor makes each validated frame a reference cycle; collect
            # the young generations now (~10 ms) or dead batches pile up to gigabytes of RSS
            del res, batch
            gc.collect(1)
        rep.check()
    return _finish_table_report(rep, reasons, infos, spec.column_names, started)


def _finish_table_report(rep: TableReport, reasons: Counter, infos: list[FileInfo],
                         columns: list[str], started: float) -> TableReport:
    """Reasons (most common first), columns the contract ignores, and the wall time."""
    rep.reasons = dict(reasons.most_common())
    extras = (c for i in infos for c in i.columns or [] if c not in columns)
    rep.ignored_columns = list(dict.fromkeys(extras))
    rep.seconds = time.perf_counter() - started
    return rep


def _batches(
    infos: list[FileInfo], columns: list[str], batch_rows: int, source: str
) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    """``(batch, source file per row, row number per row)``, at most ``batch_rows`` rows each.

    Consecutive small files with the same column types are gathered into one batch:
    validation has a per-batch cost, and partitioned landings hold many small files.
    """
    buf: list[tuple[pd.DataFrame, str, int]] = []
    size = 0
    for info in infos:
        offset = 0
        for frame in iter_file_batches(info.path, batch_rows, columns, uri=source):
            if buf and (size + len(frame) > batch_rows
                        or not frame.dtypes.equals(buf[0][0].dtypes)):
                yield _gather(buf)
                buf, size = [], 0
            buf.append((frame, info.path, offset))
            size += len(frame)
            offset += len(frame)
    if buf:
        yield _gather(buf)


def _gather(buf: list[tuple[pd.DataFrame, str, int]]) -> tuple[pd.DataFrame, np.ndarray,
                                                                np.ndarray]:
    frames = [f for f, _, _ in buf]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    sources = np.empty(len(frame), dtype=object)
    start = 0
    for f, path, _ in buf:  # one shared str per file (np.full would copy it per row)
        sources[start:start + len(f)] = path
        start += len(f)
    rows = np.concatenate([np.arange(start, start + len(f)) for f, _, start in buf])
    return frame, sources, rows


def ingest(
    landing: str,
    lake: str,
    quarantine: str,
    tables: list[str] | None = None,
    progress: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    now: pd.Timestamp | None = None,
    replace: bool = False,
) -> IngestReport:
    """Validate every contract table under ``landing`` and publish it into ``lake``.

    Args:
        landing: Landing root (local path or URI), or a single parquet file with one ``tables``.
        lake: Lake root (versioned: the run is published as one new version).
        quarantine: Quarantine root for rows that break the contract (with ``_reason``).
        tables: Tables to ingest (default: every contract table present).
        progress: Show a progress bar (rows, per table).
        batch_rows: Rows per batch (bounds memory on big inputs).
        now: Reference time for "not in the future" rules (default: now, UTC).
        replace: Replace each landed table's history with the landing instead of upserting
            (refused when a landed table has no rows).

    Returns:
        Per-table report; for each table rows_in == rows_valid + rows_quarantined.

    Raises:
        LakeError: A path does not exist, a file is not readable parquet (named), ``replace``
            with an empty landing, or the lake is locked by another run past the timeout.
        ContractError: A file lacks a required column (file and column named).
    """
    sources = find_sources(landing, tables)
    # check every footer of every table before writing anything
    plans = {name: preflight(name, src) for name, src in sources.items()}
    empty = [n for n, infos in plans.items() if sum(i.rows for i in infos) == 0]
    if replace and empty:
        raise LakeError(f"--replace refused: the landing of {empty} has no rows, and replacing "
                        "would empty the table; ingest without --replace to keep it")
    report = IngestReport(landing=str(landing), lake=str(lake), quarantine=str(quarantine),
                          skipped=[] if is_file(landing) else skipped_files(landing, sources),
                          replace=replace)
    with Transaction(lake, run="ingest") as txn:
        settle_quarantine(quarantine, txn.base)
        staged: dict[str, str] = {}
        try:
            _validate_all(txn, sources, plans, quarantine, report, staged, progress,
                          batch_rows, now)
            checkpoint("ingest:validated")
            _merge_all(txn, sources, report, replace)
            checkpoint("ingest:merged")
            report.version = txn.commit()["version"]
        except BaseException:
            for uri in staged.values():
                remove(uri)
            raise
        _publish_quarantine(report, staged)
    for name, r in report.tables.items():
        r.lake_uri = table_uri(lake, name)
        if r.rows_in == 0:
            report.notes.append(f"{name}: the landing has no rows; the lake's table is unchanged "
                                f"({r.lake_rows:,} rows)")
    return report


def _merge_all(txn: Transaction, sources: dict[str, str], report: IngestReport,
               replace: bool) -> None:
    """Merge each table's staged valid rows into the run's new lake version (timed)."""
    for name in sources:
        t0 = time.perf_counter()
        _apply(report.tables[name], merge_table(
            txn, name, txn.scratch(name), report.tables[name].rows_valid, replace))
        report.tables[name].merge_seconds = time.perf_counter() - t0


def _publish_quarantine(report: IngestReport, staged: dict[str, str]) -> None:
    """The run's version is published: make its staged quarantine folders visible."""
    for name, uri in staged.items():
        if exists(uri):
            fs, src = _fs_and_path(uri)
            fs.move(src, _fs_and_path(report.tables[name].quarantine_uri)[1])
        checkpoint("ingest:quarantine")


def _validate_all(txn: Transaction, sources: dict[str, str], plans: dict[str, list[FileInfo]],
                  quarantine: str, report: IngestReport, staged: dict[str, str],
                  progress: bool, batch_rows: int, now: pd.Timestamp | None) -> None:
    """Validate each table into the run's scratch space and a staged quarantine folder."""
    bar = _progress(progress)
    order_index = KeyIndex()
    with bar:
        for name, src in sources.items():
            total = sum(i.rows for i in plans[name])
            task = bar.add_task(f"ingest {name}", total=total) if progress else None

            def advance(n: int, task=task) -> None:
                if task is not None:
                    bar.advance(task, n)

            run_dir = table_uri(quarantine, name)
            staged[name] = f"{run_dir}/.{QUARANTINE_RUN}{txn.run_id}"
            parents = OrderKeys(order_index, txn.base_path("orders")) \
                if name == "order_lines" else None
            rep = ingest_table(
                name, src, txn.scratch(name), staged[name], batch_rows=batch_rows, now=now,
                on_rows=advance, infos=plans[name],
                seen=order_index if name == "orders" else None, parent_exists=parents)
            rep.quarantine_uri = f"{run_dir}/{QUARANTINE_RUN}{txn.run_id}"
            report.tables[name] = rep


def _apply(rep: TableReport, counts) -> None:
    rep.inserted, rep.updated, rep.stale = counts.inserted, counts.updated, counts.stale
    rep.lake_rows = counts.lake_rows
    rep.partitions_rewritten = counts.partitions_rewritten
    rep.partitions_linked = counts.partitions_linked
    rep.partitions_appended = counts.partitions_appended


def _progress(enabled: bool) -> Progress | _NoBar:
    """A rich progress bar, or a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
