"""Lake I/O: read and write contract tables as (hive-partitioned) parquet datasets.

Writes are atomic at the dataset level: files go to a hidden temporary folder beside the
target, which is renamed into place only when every chunk has been written. A crash or an
exception mid-write leaves the previous dataset (or nothing) — never a half-written one.

Any local path or pyarrow/fsspec URI (``s3://``, ``gs://``, ``hdfs://``) works; on object
stores the final "rename" is a copy, so atomicity there is best effort.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from oms.contract import PARTITION_COLUMN, TableSpec, get_table


class LakeError(RuntimeError):
    """A dataset could not be read or written; the message names the path."""


def _fs_and_path(uri: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    uri = str(uri)
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), str(Path(uri).resolve())


def table_uri(root: str | os.PathLike, table: str) -> str:
    """URI of one table under a lake root."""
    root = str(root)
    return f"{root.rstrip('/')}/{table}"


def exists(uri: str | os.PathLike) -> bool:
    """Whether a file or folder exists at ``uri``."""
    fs, path = _fs_and_path(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _with_partition(df: pd.DataFrame, spec: TableSpec | None) -> pd.DataFrame:
    if spec is None or spec.partition_date is None:
        return df
    dates = pd.to_datetime(df[spec.partition_date])
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)  # wall-clock month, as strftime gave
    # format each distinct month once: per-row strftime costs ~3 µs/row (minutes at 10M+ rows)
    months = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    uniq, inv = np.unique(months, return_inverse=True)
    labels = np.array([None if np.isnat(u) else str(u) for u in uniq], dtype=object)
    return df.assign(**{PARTITION_COLUMN: labels[inv.reshape(-1)]})


def _to_arrow(df: pd.DataFrame, spec: TableSpec | None) -> pa.Table:
    if spec is None:
        return pa.Table.from_pandas(df, preserve_index=False)
    schema = spec.arrow_schema()
    extra = [c for c in df.columns if c not in schema.names]
    if extra:
        schema = pa.schema(
            list(schema) + [pa.field(c, pa.Schema.from_pandas(df[[c]], preserve_index=False)
                                     .field(c).type) for c in extra]
        )
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


class DatasetWriter:
    """Stream chunks into a parquet dataset and publish it atomically.

    Use as a context manager; the dataset appears at ``uri`` only when the block exits
    without an exception::

        with DatasetWriter(uri, table="orders") as w:
            for chunk in chunks:
                w.write(chunk)

    Args:
        uri: Target dataset folder (replaced on commit).
        table: Contract table name, used for the arrow schema and date partitioning.
            ``None`` writes the frame as-is, unpartitioned.
    """

    def __init__(self, uri: str | os.PathLike, table: str | None = None) -> None:
        self.uri = str(uri)
        self.spec = get_table(table) if table else None
        self.fs, self.path = _fs_and_path(self.uri)
        parent, name = self.path.rsplit("/", 1)
        self.tmp_path = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
        self.rows = 0
        self._chunk = 0
        self._open = False

    def __enter__(self) -> DatasetWriter:
        self.fs.create_dir(self.tmp_path, recursive=True)
        self._open = True
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Write one chunk (a DataFrame in contract columns) into the temporary dataset."""
        if not self._open:
            raise LakeError("DatasetWriter.write called outside its `with` block")
        if df.empty:
            return
        frame = _with_partition(df, self.spec)
        if self.spec is not None and self.spec.partition_date is not None:
            for month, part in frame.groupby(PARTITION_COLUMN, sort=True):
                d = f"{self.tmp_path}/{PARTITION_COLUMN}={month}"
                self.fs.create_dir(d, recursive=True)
                table = _to_arrow(part.drop(columns=[PARTITION_COLUMN]), self.spec)
                pq.write_table(table, f"{d}/part-{self._chunk:05d}.parquet", filesystem=self.fs)
        else:
            pq.write_table(
                _to_arrow(frame, self.spec),
                f"{self.tmp_path}/part-{self._chunk:05d}.parquet",
                filesystem=self.fs,
            )
        self._chunk += 1
        self.rows += len(df)

    def commit(self) -> None:
        """Replace the target with the temporary dataset."""
        if self._chunk == 0 and self.spec is not None:
            # an empty dataset still carries its schema, so readers see the columns
            pq.write_table(
                self.spec.arrow_schema().empty_table(),
                f"{self.tmp_path}/part-00000.parquet",
                filesystem=self.fs,
            )
        old = None
        if self.fs.get_file_info(self.path).type != pafs.FileType.NotFound:
            old = f"{self.tmp_path}.old"
            self.fs.move(self.path, old)
        self.fs.move(self.tmp_path, self.path)
        if old:
            self.fs.delete_dir(old)
        self._open = False

    def abort(self) -> None:
        """Remove the temporary dataset; the target is untouched."""
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.delete_dir(self.tmp_path)
        self._open = False

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_table(df: pd.DataFrame, uri: str | os.PathLike, table: str | None = None) -> int:
    """Atomically write a whole frame as a dataset at ``uri``; returns rows written."""
    with DatasetWriter(uri, table=table) as w:
        w.write(df)
    return w.rows


def write_frame(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Atomically write one frame as a single parquet file (temp file + rename)."""
    fs, p = _fs_and_path(path)
    parent = p.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = f"{p}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp, filesystem=fs)
        fs.move(tmp, p)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.delete_file(tmp)
        raise


def _dataset(uri: str | os.PathLike) -> ds.Dataset:
    fs, path = _fs_and_path(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise LakeError(f"no dataset at {uri}: the path does not exist")
    try:
        return ds.dataset(
            path,
            filesystem=fs,
            format="parquet",
            partitioning="hive",
            exclude_invalid_files=False,
            ignore_prefixes=[".", "_"],
        )
    except (pa.ArrowInvalid, OSError) as e:
        raise LakeError(f"cannot read parquet at {uri}: {e}") from e


def list_files(uri: str | os.PathLike) -> list[str]:
    """Parquet files of a dataset (or the file itself)."""
    return list(_dataset(uri).files)


def read_table(
    uri: str | os.PathLike,
    columns: list[str] | None = None,
    filter: ds.Expression | None = None,  # noqa: A002 - pyarrow's own name
) -> pd.DataFrame:
    """Read a dataset (folder, hive-partitioned or not) or a single parquet file.

    Raises:
        LakeError: The path does not exist or a file is not valid parquet (named in the message).
    """
    dataset = _dataset(uri)
    try:
        table = dataset.to_table(columns=columns, filter=filter)
    except (pa.ArrowInvalid, OSError) as e:
        raise LakeError(f"cannot read parquet at {uri}: {e}") from e
    df = table.to_pandas()
    if PARTITION_COLUMN in df.columns and (columns is None or PARTITION_COLUMN not in columns):
        df = df.drop(columns=[PARTITION_COLUMN])
    return df


def iter_batches(
    uri: str | os.PathLike, batch_rows: int = 1_000_000
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(file, frame)`` per parquet file, in batches — bounded memory for big datasets.

    Raises:
        LakeError: A file cannot be read; the message names it.
    """
    fs, _ = _fs_and_path(uri)
    for f in list_files(uri):
        try:
            pf = pq.ParquetFile(f, filesystem=fs) if "://" not in f else pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=batch_rows):
                yield f, batch.to_pandas()
        except (pa.ArrowInvalid, OSError) as e:
            raise LakeError(f"cannot read parquet file {f}: {e}") from e


def remove(uri: str | os.PathLike) -> None:
    """Delete a dataset folder if it exists."""
    fs, path = _fs_and_path(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)


def local_path(uri: str | os.PathLike) -> Path:
    """Local filesystem path of a URI (for plots and reports); errors for remote URIs."""
    if "://" in str(uri) and not str(uri).startswith("file://"):
        raise LakeError(f"{uri} is not a local path")
    return Path(str(uri).removeprefix("file://"))


__all__ = [
    "DatasetWriter",
    "LakeError",
    "exists",
    "iter_batches",
    "list_files",
    "local_path",
    "read_table",
    "remove",
    "shutil",
    "table_uri",
    "write_frame",
    "write_table",
]
