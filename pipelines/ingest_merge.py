"""Merge one ingest run's valid rows into the next lake version: upsert by key, per partition.

Ingest first streams a table's valid rows into a scratch dataset (partitioned by month like
the lake). :func:`merge_table` then builds the table of the new version:

* a month partition the landing does not touch is hard-linked from the current version
  (no bytes read or written), so a day's landing costs time in proportion to that day's
  months, not to the lake;
* a touched partition whose keys the landing does not repeat (the usual day of new orders)
  gets the landed rows as one more file beside its linked files: only its key columns are
  read, nothing is rewritten;
* a touched partition with a repeated key is read, upserted with the landed rows of that
  month by the primary key (``oms.contract.UPSERT_RULE``) and rewritten as one file (which
  also compacts the per-day files);
* unpartitioned (dimension) tables are upserted whole;
* ``replace=True`` publishes the landed rows alone (the explicit ``--replace``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from oms.contract import TableSpec, get_table
from oms.lake import _fs_and_path, _to_arrow, read_table
from oms.validate import key_hashes
from oms.versions import Transaction


@dataclass
class MergeCounts:
    """What an upsert did to one table.

    Attributes:
        inserted: Landed rows with a new key.
        updated: Landed rows that replaced the lake's row with the same key.
        stale: Landed rows not applied because the lake's row is at a later version.
        lake_rows: Rows of the table in the new version.
        partitions_rewritten: Month partitions (or 1 for a whole table) read and rewritten.
        partitions_linked: Month partitions carried over unchanged.
        partitions_appended: Month partitions that got the landed rows as a new file.
    """

    inserted: int = 0
    updated: int = 0
    stale: int = 0
    lake_rows: int = 0
    partitions_rewritten: int = 0
    partitions_linked: int = 0
    partitions_appended: int = 0


def _rank(df: pd.DataFrame, spec: TableSpec) -> np.ndarray:
    if spec.version_column is None:
        return np.zeros(len(df), dtype=np.int64)
    col = df[spec.version_column]
    if spec.version_rank:
        order = {v: i for i, v in enumerate(spec.version_rank)}
        return col.astype(object).map(order).fillna(-1).to_numpy(dtype=np.int64)
    return pd.Series(col).rank(method="dense").fillna(-1).to_numpy(dtype=np.int64)


def upsert(old: pd.DataFrame, new: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame,
                                                                           MergeCounts]:
    """Rows of ``old`` and ``new`` with one row per primary key (the contract's upsert rule).

    The row at the later version wins; at equal versions (or without a version column) the
    landed row (``new``) wins. ``new`` must not repeat a key (ingest quarantines repeats).
    """
    counts = MergeCounts()
    if old.empty:
        counts.inserted = len(new)
        return new.reset_index(drop=True), counts
    keys = list(spec.primary_key)
    both = pd.concat([old, new[old.columns]], ignore_index=True)
    h = key_hashes(both, keys)
    is_new = np.r_[np.zeros(len(old), bool), np.ones(len(new), bool)]
    order = np.lexsort((is_new, _rank(both, spec), h))  # last of each key wins
    hs = h[order]
    last = np.r_[hs[1:] != hs[:-1], True]
    winners = np.sort(order[last])
    old_keys = np.unique(h[:len(old)])
    new_h = h[len(old):]
    in_old = np.isin(new_h, old_keys)
    won = np.zeros(len(both), bool)
    won[winners] = True
    counts.inserted = int((~in_old).sum())
    counts.updated = int((in_old & won[len(old):]).sum())
    counts.stale = int((in_old & ~won[len(old):]).sum())
    return both.iloc[winners].reset_index(drop=True), counts


def _children(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return [i for i in fs.get_file_info(pafs.FileSelector(path))
            if not i.base_name.startswith((".", "_"))]


def _write_one(df: pd.DataFrame, spec: TableSpec, folder: str, fs: pafs.FileSystem) -> None:
    fs.create_dir(folder, recursive=True)
    table = _to_arrow(df, spec) if len(df) else spec.arrow_schema().empty_table()
    pq.write_table(table, f"{folder}/part-00000.parquet", filesystem=fs)


def _move_tree(fs: pafs.FileSystem, src: str, dst: str) -> None:
    fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
    fs.move(src, dst)


def merge_table(txn: Transaction, table: str, incoming: str, rows: int,
                replace: bool = False) -> MergeCounts:
    """Write ``table`` of the new version from the base version and the landed rows.

    Args:
        txn: The open transaction (base version and staging folder).
        table: Contract table name.
        incoming: Scratch dataset of the landed valid rows.
        rows: How many rows it holds.
        replace: Publish the landed rows alone instead of upserting.
    """
    spec = get_table(table)
    fs, _ = _fs_and_path(txn.root)
    base = txn.base_path(table)
    counts = MergeCounts()
    if rows == 0:
        if base is None or replace:  # no rows: publish the table's schema
            _write_one(spec.arrow_schema().empty_table().to_pandas(), spec, txn.path(table), fs)
        else:  # an empty landing never empties a table
            counts.partitions_linked = txn.carry(table) and 1
        return _count(txn, table, counts)
    dest = txn.path(table)
    if replace or base is None:
        _move_tree(fs, incoming, dest)
        counts.inserted = int(_count(txn, table, MergeCounts()).lake_rows)
        counts.partitions_rewritten = len(_children(fs, dest))
        return _count(txn, table, counts)
    if spec.partition_date is None:
        _merge_partition(txn, spec, base, incoming, dest, counts, relative="")
        return _count(txn, table, counts)
    landed = {i.base_name for i in _children(fs, incoming)}
    for part in _children(fs, base):
        if part.base_name not in landed:
            txn.carry(table, part.base_name)
            counts.partitions_linked += 1
    for name in sorted(landed):
        _merge_partition(txn, spec, f"{base}/{name}", f"{incoming}/{name}", f"{dest}/{name}",
                         counts, relative=name)
    return _count(txn, table, counts)


def _merge_partition(txn: Transaction, spec: TableSpec, base: str, incoming: str, dest: str,
                     counts: MergeCounts, relative: str) -> None:
    """Merge one month (or a whole unpartitioned table, ``relative=""``).

    A new month is moved into place; without a repeated key the landed file is added beside
    the linked ones; otherwise the month is upserted and rewritten.
    """
    fs, _ = _fs_and_path(txn.root)
    new = read_table(incoming, table=spec.name)
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        _move_tree(fs, incoming, dest)
        counts.inserted += len(new)
        counts.partitions_rewritten += 1
        return
    keys = list(spec.primary_key)
    if not _may_overlap(fs, base, new, keys) or not _keys_overlap(fs, base, incoming, keys):
        txn.carry(spec.name, relative)
        fs.create_dir(dest, recursive=True)
        for k, f in enumerate(_children(fs, incoming)):
            fs.move(f.path, f"{dest}/part-{txn.run_id}-{k:05d}.parquet")
        counts.inserted += len(new)
        counts.partitions_appended += 1
        return
    merged, c = upsert(read_table(base, table=spec.name), new, spec)
    _write_one(merged, spec, dest, fs)
    counts.inserted += c.inserted
    counts.updated += c.updated
    counts.stale += c.stale
    counts.partitions_rewritten += 1


def _arrow_keys(fs: pafs.FileSystem, folder: str, keys: list[str]) -> pa.Array:
    """The primary keys of the parquet files directly in ``folder``, one string per row."""
    files = [f.path for f in _children(fs, folder) if f.type == pafs.FileType.File and f.size]
    if not files:
        return pa.array([], pa.string())
    t = ds.dataset(files, filesystem=fs, format="parquet").to_table(columns=keys)
    cols = [pc.cast(t[k], pa.string()) for k in keys]
    key = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x1f")
    return key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key


def _keys_overlap(fs: pafs.FileSystem, base: str, incoming: str, keys: list[str]) -> bool:
    """Whether a landed key is already in the partition (arrow hashing, no pandas objects)."""
    old = _arrow_keys(fs, base, keys)
    new = _arrow_keys(fs, incoming, keys)
    if len(old) == 0 or len(new) == 0:
        return False
    return bool(pc.any(pc.is_in(new, value_set=old)).as_py())


def _ranges(fs: pafs.FileSystem, path: str, column: str) -> tuple | None:
    """(min, max) of a column in one parquet file from its footer, or None if unknown."""
    meta = pq.ParquetFile(path, filesystem=fs).metadata
    if meta.num_rows == 0:
        return ()
    idx = meta.schema.to_arrow_schema().get_field_index(column)
    lo = hi = None
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(idx).statistics
        if st is None or not st.has_min_max:
            return None
        lo = st.min if lo is None else min(lo, st.min)
        hi = st.max if hi is None else max(hi, st.max)
    return lo, hi


def _may_overlap(fs: pafs.FileSystem, base: str, new: pd.DataFrame, keys: list[str]) -> bool:
    """Whether a file of ``base`` may hold a landed key, judged from footer min/max only.

    A day of new orders has ids (and dates) beyond every existing file's range, so no data
    is read; when a footer cannot rule a file out, the caller compares the keys themselves.
    """
    bounds = {}
    for k in keys:
        col = new[k].dropna()
        if len(col) and col.nunique() > 0:
            lo, hi = col.min(), col.max()
            bounds[k] = (lo.to_pydatetime() if hasattr(lo, "to_pydatetime") else lo,
                         hi.to_pydatetime() if hasattr(hi, "to_pydatetime") else hi)
    for f in _children(fs, base):
        if f.type != pafs.FileType.File:
            return True
        ruled_out = False
        for k, (lo, hi) in bounds.items():
            r = _ranges(fs, f.path, k)
            if r == ():
                ruled_out = True
                break
            try:
                if r is not None and (hi < r[0] or lo > r[1]):
                    ruled_out = True
                    break
            except TypeError:  # incomparable statistics: cannot rule the file out
                continue
        if not ruled_out:
            return True
    return False


def _count(txn: Transaction, table: str, counts: MergeCounts) -> MergeCounts:
    """Fill ``lake_rows`` from the staged files' footers."""
    fs, _ = _fs_and_path(txn.root)
    path = f"{txn.staging}/{table}"
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    counts.lake_rows = sum(
        pq.ParquetFile(i.path, filesystem=fs).metadata.num_rows
        for i in infos if i.type == pafs.FileType.File and i.size > 0
        and not any(p.startswith((".", "_")) for p in i.path[len(path):].split("/") if p))
    return counts


__all__ = ["MergeCounts", "merge_table", "upsert"]
