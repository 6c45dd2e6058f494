"""Feature pipeline: lake tables → daily volume, SKU demand panel, customer features.

``build_features(lake, out, engine="pandas"|"spark")`` reads only the columns it needs,
computes the three feature sets with the chosen engine and publishes them as **one version**
of the output root ``out`` (``out/daily_volume``, ``out/sku_demand``, ``out/customer_features``
resolve to the current snapshot; see :mod:`oms.versions`). Every lake table is read from one
pinned lake version, so a concurrent ingest never mixes two versions into one feature run.
The pandas path reads strings as dictionaries (categoricals) and replaces order ids with
integer codes in arrow, so 20M order lines fit in a few GB; the Spark path runs wherever
``OMS_ML_SPARK_MASTER`` points (``local[*]``, a cluster, or Spark Connect).

Memory (pandas, ``large``: 23M order lines): order lines are aggregated file by file into
daily SKU units (never all in memory), Arrow columns are freed while converting, and the SKU
panel is written one row group at a time; peak RSS 2.3 GB instead of 5.2 GB, with
byte-identical files (``bench/flows.py``).

Length: over 400 lines because both engines share the reading, cutoff and one-version
publishing code here; splitting the two paths apart would duplicate it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from oms.faults import checkpoint
from oms.lake import DatasetWriter, LakeError, exists, snapshot_root, table_uri, write_table
from oms.versions import Transaction

OUTPUTS = ("daily_volume", "sku_demand", "customer_features")
ORDER_COLUMNS = ["tenant_id", "order_id", "customer_id", "is_guest", "order_date", "channel",
                 "status", "total_amount", "support_contacts", "is_late", "delivery_hours"]
LINE_COLUMNS = ["tenant_id", "sku", "quantity", "is_product", "order_date"]
EVENT_COLUMNS = ["tenant_id", "order_id", "event_type", "event_date"]
CONTEXT_COLUMNS = ["tenant_id", "date", "region", "is_holiday", "promotion_name",
                   "promotion_intensity", "weather", "temperature_c"]
# low-cardinality strings: parquet's own per-file dictionaries are cheap to keep
_DICT = ["tenant_id", "channel", "status", "sku", "region", "weather", "event_type",
         "promotion_name"]
# high-cardinality strings: unifying one dictionary per file costs more than encoding once
_ENCODE = ["customer_id"]
ROW_GROUP = 1024 * 1024  # pyarrow's default (maximum) rows per parquet row group


@dataclass
class FeatureReport:
    """What ``build_features`` read and wrote.

    Attributes:
        engine: ``pandas`` or ``spark``.
        lake: Lake the tables were read from.
        out: Folder the feature datasets were written under.
        cutoff: Customer-feature cutoff day (ISO date).
        horizon_days: Churn horizon.
        labelled: Whether ``churned`` was computed (the data reached cutoff + horizon).
        rows_in: Rows read per lake table.
        rows_out: Rows written per feature dataset.
        paths: URI of each feature dataset.
        seconds: Wall time.
    """

    engine: str
    lake: str
    out: str
    cutoff: str
    horizon_days: int
    labelled: bool
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _dataset(lake: str, table: str, required: bool = True) -> ds.Dataset | None:
    uri = table_uri(lake, table)
    if not exists(uri):
        if required:
            raise LakeError(f"no {table} table at {uri}; run `oms-ml ingest` first")
        return None
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=_DICT))
    try:
        return ds.dataset(uri, format=fmt, partitioning="hive", ignore_prefixes=[".", "_"])
    except (pa.ArrowInvalid, OSError) as e:
        raise LakeError(f"cannot read parquet at {uri}: {e}") from e


def read_arrow(lake: str, table: str, columns: list[str], required: bool = True,
                filter: ds.Expression | None = None) -> pa.Table | None:  # noqa: A002
    """``columns`` of a lake table as Arrow (None if optional and absent); clear LakeErrors."""
    dataset = _dataset(lake, table, required)
    if dataset is None:
        return None
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise LakeError(f"{table_uri(lake, table)} lacks column(s) {missing}")
    try:
        return dataset.to_table(columns=columns, filter=filter)
    except (pa.ArrowInvalid, OSError) as e:
        raise LakeError(f"cannot read parquet at {table_uri(lake, table)}: {e}") from e


def to_pandas(table: pa.Table, release: bool = False) -> pd.DataFrame:
    """Arrow → pandas: ns dates, categoricals for strings that repeat, nullable booleans.

    ``release=True`` frees each Arrow column as soon as it is converted (the caller must
    not use ``table`` afterwards): the two copies of a big table never coexist.
    """
    table = _encode(table)
    frame = table.to_pandas(coerce_temporal_nanoseconds=True, split_blocks=release,
                            self_destruct=release,
                            types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    del table
    if release:
        pa.default_memory_pool().release_unused()
    return frame


def _encode(table: pa.Table) -> pa.Table:
    """Dictionary-encode the high-cardinality string columns (:data:`_ENCODE`) once."""
    for name in _ENCODE:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.dictionary_encode(table[name].combine_chunks()))
    return table


def _single_tenant(*tables: pa.Table) -> bool:
    tenants = set()
    for t in tables:
        tenants |= set(pc.unique(pc.cast(t["tenant_id"], pa.string())).to_pylist())
    return len(tenants) <= 1


def _order_codes(orders: pa.Table, events: pa.Table | None) -> tuple[pa.Table, pa.Table | None]:
    """Replace ``order_id`` strings with int64 codes shared by orders and events.

    Millions of distinct order-id strings would cost GBs as Python objects; only equality
    between the two tables matters. Orders are numbered by row; the (few) distinct event
    order ids form the hash set the orders are probed against, so the big side is never
    inserted into a hash table. Ids are qualified by tenant when there is more than one.
    """
    order_pos = orders.schema.get_field_index("order_id")
    # the files' pandas metadata says order_id is a string: dropped, or to_pandas would turn
    # the codes back into millions of Python strings
    new_orders = orders.set_column(order_pos, "order_id", pa.array(
        np.arange(len(orders), dtype=np.int64))).replace_schema_metadata(None)
    if events is None:
        return new_orders, None

    def key(t: pa.Table) -> pa.ChunkedArray:
        ids = pc.cast(t["order_id"], pa.string())
        if single:
            return ids
        return pc.binary_join_element_wise(pc.cast(t["tenant_id"], pa.string()), ids, "\x00")

    single = _single_tenant(orders, events)
    event_key = key(events)
    wanted = pc.unique(event_key)
    hit = pc.index_in(key(orders), value_set=wanted).to_numpy(zero_copy_only=False)
    found = ~np.isnan(hit) if hit.dtype.kind == "f" else np.ones(len(hit), bool)
    row_of = np.full(len(wanted), -1, np.int64)
    row_of[hit[found].astype(np.int64)] = np.flatnonzero(found)
    which = pc.index_in(event_key, value_set=wanted).to_numpy(zero_copy_only=False)
    event_codes = row_of[np.nan_to_num(which, nan=0).astype(np.int64)] if len(which) else \
        np.empty(0, np.int64)
    events = events.set_column(events.schema.get_field_index("order_id"), "order_id",
                               pa.array(event_codes)).replace_schema_metadata(None)
    return new_orders, events


def default_cutoff(last_day: pd.Timestamp, first_day: pd.Timestamp,
                   horizon_days: int) -> tuple[pd.Timestamp, bool]:
    """Cutoff = last order day − horizon (so the label is known); without room, the last day."""
    cutoff = last_day - pd.Timedelta(days=horizon_days)
    if cutoff < first_day:
        return last_day, False
    return cutoff, True


def _resolve_cutoff(cutoff, label: bool | None, first: pd.Timestamp, last: pd.Timestamp,
                    horizon_days: int) -> tuple[pd.Timestamp, bool]:
    from features.customers import as_cutoff_day

    if cutoff is None:
        cut, fits = default_cutoff(last, first, horizon_days)
    else:
        cut = as_cutoff_day(cutoff)
        fits = cut + pd.Timedelta(days=horizon_days) <= last
    if label is None:
        return cut, fits
    return cut, label  # an explicit label=True on a short window raises in the feature code


def _pandas_features(lake: str, cutoff, horizon_days: int, label: bool | None,
                     top_n: int | None, progress, tenant: str | None = None
                     ) -> tuple[dict[str, pd.DataFrame], dict, tuple]:
    from features.customers import customer_features
    from features.demand import daily_order_volume, sku_panel_from_units

    mine = None if tenant is None else ds.field("tenant_id") == tenant
    orders = read_arrow(lake, "orders", ORDER_COLUMNS, filter=mine)
    if len(orders) == 0:
        raise LakeError(f"the orders table at {table_uri(lake, 'orders')} is empty")
    dates = pc.min_max(orders["order_date"])
    first, last = (pd.Timestamp(dates["min"].as_py()), pd.Timestamp(dates["max"].as_py()))
    cut, labelled = _resolve_cutoff(cutoff, label, first, last, horizon_days)
    events = read_arrow(lake, "order_events", EVENT_COLUMNS, required=False,
                         filter=_and(mine, (ds.field("event_type") == "Returned")
                                     & (ds.field("event_date") <= pa.scalar(
                                         cut.to_pydatetime(), pa.timestamp("us")))))
    ctx = read_arrow(lake, "daily_context", CONTEXT_COLUMNS, required=False, filter=mine)
    ctx_pd = to_pandas(ctx) if ctx is not None else None
    rows_in = {"orders": len(orders), "daily_context": 0 if ctx is None else len(ctx)}
    rows_in["order_events(Returned)"] = 0 if events is None else len(events)
    orders, events = _order_codes(orders, events)
    orders = _encode(orders)  # the only reference, so converting can free it column by column
    orders_pd = to_pandas(orders, release=True)
    del orders
    progress("daily volume")
    out = {"daily_volume": daily_order_volume(orders_pd, ctx_pd)}
    progress("customer features")
    out["customer_features"] = customer_features(
        orders_pd, to_pandas(events) if events is not None else None, cut, horizon_days,
        label=labelled)
    del orders_pd
    progress("SKU demand panel")
    units, end, rows_in["order_lines"] = _sku_units(lake, mine)
    out["sku_demand"] = sku_panel_from_units(units, end, ctx_pd, top_n=top_n)
    return out, rows_in, (cut, labelled)


def _sku_units(lake: str, filter: ds.Expression | None = None  # noqa: A002
               ) -> tuple[pd.DataFrame, int | None, int]:
    """Daily SKU units aggregated file by file, so the order lines are never all in memory.

    Returns:
        The combined :func:`features.demand.daily_sku_units`, the last line day and the
        number of lines read.
    """
    from features.demand import concat_units, daily_sku_units

    dataset = _dataset(lake, "order_lines")
    missing = [c for c in LINE_COLUMNS if c not in dataset.schema.names]
    if missing:
        raise LakeError(f"{table_uri(lake, 'order_lines')} lacks column(s) {missing}")
    parts, n = [], 0
    try:
        for fragment in dataset.get_fragments(filter=filter):
            chunk = fragment.to_table(columns=LINE_COLUMNS, schema=dataset.schema,
                                      filter=filter)
            n += len(chunk)
            parts.append(daily_sku_units(to_pandas(chunk, release=True)))
            del chunk
    except (pa.ArrowInvalid, OSError) as e:
        raise LakeError(f"cannot read parquet at {table_uri(lake, 'order_lines')}: {e}") from e
    units, end = concat_units(parts)
    return units, end, n


def _and(a: ds.Expression | None, b: ds.Expression) -> ds.Expression:
    return b if a is None else a & b


def _spark_read(spark, lake: str, table: str, columns: list[str], required: bool = True,
                tenant: str | None = None):
    uri = table_uri(lake, table)
    if not exists(uri):
        if required:
            raise LakeError(f"no {table} table at {uri}; run `oms-ml ingest` first")
        return None
    df = spark.read.option("pathGlobFilter", "*.parquet").parquet(uri)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LakeError(f"{uri} lacks column(s) {missing}")
    if tenant is not None:
        df = df.filter(df["tenant_id"] == tenant)
    return df.select(*columns)


def _spark_features(spark, lake: str, cutoff, horizon_days: int, label: bool | None,
                    top_n: int | None, tenant: str | None = None) -> tuple[dict, dict, tuple]:
    from pyspark.sql import functions as F

    from features import spark_customers, spark_demand

    orders = _spark_read(spark, lake, "orders", ORDER_COLUMNS, tenant=tenant)
    events = _spark_read(spark, lake, "order_events", EVENT_COLUMNS, False, tenant)
    ctx = _spark_read(spark, lake, "daily_context", CONTEXT_COLUMNS, False, tenant)
    lines = _spark_read(spark, lake, "order_lines", LINE_COLUMNS, tenant=tenant)
    row = orders.agg(F.min(F.to_date("order_date")).alias("first"),
                     F.max(F.to_date("order_date")).alias("last"),
                     F.count(F.lit(1)).alias("n")).first()
    if row["n"] == 0:
        raise LakeError(f"the orders table at {table_uri(lake, 'orders')} is empty")
    cut, labelled = _resolve_cutoff(cutoff, label, pd.Timestamp(row["first"]),
                                    pd.Timestamp(row["last"]), horizon_days)
    if events is not None:
        events = events.filter(F.col("event_type") == "Returned")
    out = {
        "daily_volume": spark_demand.daily_order_volume(orders, ctx).coalesce(1),
        "customer_features": spark_customers.customer_features(
            orders, events, cut, horizon_days, label=labelled, last_day=row["last"]),
        "sku_demand": spark_demand.sku_demand_panel(lines, ctx, top_n=top_n),
    }
    rows_in = {"orders": row["n"], "order_lines": _count_rows(table_uri(lake, "order_lines"))}
    return out, rows_in, (cut, labelled)


def _write_spark(df, uri: str) -> None:
    """Let Spark write into a hidden temporary folder, then publish it atomically."""
    writer = DatasetWriter(uri)
    writer.__enter__()
    try:
        scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
        df.write.mode("overwrite").parquet(scheme + writer.tmp_path)
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def write_frame(df: pd.DataFrame, uri: str) -> int:
    """Atomically write a feature frame as one parquet file, ``ROW_GROUP`` rows at a time.

    Converting a 14M-row frame to Arrow in one go holds both copies; row group by row group
    the file is the same (pyarrow's default row groups are ``ROW_GROUP`` rows) with only one
    group's Arrow copy alive. Returns the rows written.
    """
    if len(df) <= ROW_GROUP:
        return write_table(df, uri)
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    with DatasetWriter(uri) as w:
        with pq.ParquetWriter(f"{w.tmp_path}/part-00000.parquet", schema,
                              filesystem=w.fs) as writer:
            for start in range(0, len(df), ROW_GROUP):
                writer.write_table(pa.Table.from_pandas(
                    df.iloc[start:start + ROW_GROUP], schema=schema, preserve_index=False))
        w.rows = len(df)
    return w.rows


def _count_rows(uri: str) -> int:
    return ds.dataset(uri, format="parquet", ignore_prefixes=[".", "_"]).count_rows()


def build_features(
    lake: str,
    out: str,
    engine: Literal["pandas", "spark"] = "pandas",
    cutoff: str | dt.date | pd.Timestamp | None = None,
    horizon_days: int = 90,
    label: bool | None = None,
    top_n: int | None = None,
    spark=None,
    progress: bool | Callable[[str], None] = False,
    tenant: str | None = None,
) -> FeatureReport:
    """Compute the three feature sets from the lake and publish them as one version of ``out``.

    Args:
        lake: Lake root with ``orders``, ``order_lines`` and optionally ``order_events`` and
            ``daily_context``.
        out: Folder to write ``daily_volume``, ``sku_demand`` and ``customer_features`` into.
        engine: ``pandas`` (in-process) or ``spark`` (master from settings).
        cutoff: Customer-feature cutoff day; default: last order day − ``horizon_days``.
        horizon_days: Churn horizon in days.
        label: Compute ``churned``: None = when the data reaches cutoff + horizon; True =
            always (a clear error if the data is too short); False = never.
        top_n: Keep only the N SKUs with most units in the SKU panel (None = all).
        spark: An existing SparkSession (default: ``features.spark.get_spark()``).
        progress: Report each step: a callable receives a line per step (e.g. a console's
            ``print``); True logs it at INFO; False is silent.
        tenant: Only this tenant's rows (default: every tenant in the lake).

    Returns:
        A :class:`FeatureReport`.

    Raises:
        LakeError: A required table is missing, unreadable or lacks a column.
        ValueError: Unknown engine or bad parameters.
    """
    if engine not in ("pandas", "spark"):
        raise ValueError(f"engine must be 'pandas' or 'spark', got {engine!r}")
    t0 = time.perf_counter()
    say = _progress(progress, engine)
    lake = snapshot_root(lake)  # every table from the same lake version
    if engine == "pandas":
        frames, rows_in, (cut, labelled) = _pandas_features(lake, cutoff, horizon_days, label,
                                                            top_n, say, tenant)
        checkpoint("features:computed")
        say("writing")
        with Transaction(out, run="features/pandas") as txn:
            rows_out = {name: write_frame(frames.pop(name), txn.path(name)) for name in OUTPUTS}
            checkpoint("features:written")
    else:
        rows_in, rows_out, (cut, labelled) = _spark_publish(spark, lake, out, cutoff,
                                                            horizon_days, label, top_n, say,
                                                            tenant)
    paths = {name: table_uri(out, name) for name in OUTPUTS}
    return FeatureReport(
        engine=engine, lake=str(lake), out=str(out), cutoff=str(cut.date()),
        horizon_days=horizon_days, labelled=bool(labelled), rows_in=rows_in,
        rows_out=rows_out, paths=paths, seconds=round(time.perf_counter() - t0, 3),
    )


def _spark_publish(spark, lake: str, out: str, cutoff, horizon_days: int, label: bool | None,
                   top_n: int | None, say: Callable[[str], None], tenant: str | None = None
                   ) -> tuple[dict, dict, tuple]:
    """Compute the feature sets on Spark and publish them as one version of ``out``."""
    from features.spark import get_spark

    session = spark or get_spark()
    frames, rows_in, cut_labelled = _spark_features(session, lake, cutoff, horizon_days, label,
                                                    top_n, tenant)
    with Transaction(out, run="features/spark") as txn:
        for name in OUTPUTS:
            say(f"computing and writing {name}")
            _write_spark(frames[name], txn.path(name))
        rows_out = {name: _count_rows(txn.path(name)) for name in OUTPUTS}
    return rows_in, rows_out, cut_labelled


def _progress(progress: bool | Callable[[str], None], engine: str) -> Callable[[str], None]:
    """A step reporter: the caller's callable, the module's logger, or nothing."""
    start = time.perf_counter()
    sink = progress if callable(progress) else logging.getLogger(__name__).info

    def say(step: str) -> None:
        if progress:
            sink(f"[features/{engine} {time.perf_counter() - start:7.1f}s] {step}")

    return say
