"""What chunked churn scoring reads: the lake's tables as compact Arrow, ids as integer codes.

Only the columns scoring uses are read, with the tenant pushed into the scan; order events
are pre-filtered to ``Returned`` (the only events churn features read); low-cardinality text
columns stay dictionary-encoded until a chunk needs them. ``order_id`` and ``customer_id``
become int64 codes in every table: scoring only groups and joins on them, and integers do that
many times faster than Python strings; so does ``tenant_id`` (one code per tenant).
``order_id`` codes are never decoded (no output holds an order id); tenant and customer codes
are turned back into ids by :func:`decode_ids` in the parts each chunk returns
(``pipelines/score_churn_chunks.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from oms.lake import LakeError, _dataset, table_uri

log = logging.getLogger(__name__)

ORDER_COLUMNS = ("tenant_id", "order_id", "customer_id", "is_guest", "order_date", "channel",
                 "status", "total_amount", "support_contacts", "is_late", "delivery_hours")
LINE_COLUMNS = ("tenant_id", "order_id", "sku", "quantity", "line_amount", "is_product")
EVENT_COLUMNS = ("tenant_id", "order_id", "event_type", "event_date")
CUSTOMER_COLUMNS = ("tenant_id", "customer_id")
_DICTIONARY = ("tenant_id", "channel", "status", "sku")


@dataclass
class ArrowChurnTables:
    """The lake tables churn scoring reads, as Arrow (``order_events``: Returned only)."""

    orders: pa.Table
    order_events: pd.DataFrame | None = None
    order_lines: pa.Table | None = None
    customers: pa.Table | None = None
    #: The customer id of each ``customer_id`` code (None: ids are not coded).
    customer_ids: np.ndarray | None = None
    #: The tenant id of each ``tenant_id`` code (None: ids are not coded).
    tenant_ids: np.ndarray | None = None
    #: The SKU of each ``order_lines.sku`` code, sorted (None: SKUs are not coded).
    sku_ids: np.ndarray | None = None


def _read(lake: str, name: str, columns: tuple[str, ...], flt: ds.Expression | None,
          required: bool) -> pa.Table | None:
    """Only ``columns`` (those the table has) of one lake table, text dictionary-encoded."""
    uri = table_uri(lake, name)
    try:
        dataset = _dataset(uri)
        cols = [c for c in columns if c in dataset.schema.names]
        table = dataset.to_table(columns=cols, filter=flt)
    except LakeError:
        if required:
            raise
        log.info("no %s table in %s; continuing without it", name, lake)
        return None
    for c in _DICTIONARY:
        if c in table.column_names:
            table = table.set_column(table.column_names.index(c), c,
                                     pc.dictionary_encode(table[c]))
    return table


def load_arrow_tables(lake: str, tenant_id: str | None = None) -> ArrowChurnTables:
    """Read what churn scoring needs from the lake (projected, filtered, compact).

    ``order_id`` and ``customer_id`` become integer codes (:func:`_order_codes`,
    :func:`_customer_codes`; see the module docstring).
    """
    tenant = ds.field("tenant_id") == tenant_id if tenant_id else None
    returned = ds.field("event_type") == "Returned"
    events = _read(lake, "order_events", EVENT_COLUMNS,
                   returned if tenant is None else tenant & returned, False)
    orders, lines, events = _order_codes(_read(lake, "orders", ORDER_COLUMNS, tenant, True),
                                         _read(lake, "order_lines", LINE_COLUMNS, tenant, False),
                                         events)
    lines, skus = _sku_codes(lines)
    orders, customers, ids = _customer_codes(
        orders, _read(lake, "customers", CUSTOMER_COLUMNS, tenant, False))
    tenants, (orders, lines, events, customers) = _tenant_codes(orders, lines, events,
                                                                customers)
    pa.default_memory_pool().release_unused()  # the id strings replaced by codes
    return ArrowChurnTables(orders, None if events is None else to_frame(events), lines,
                            customers, ids, tenants, skus)


def _sku_codes(lines: pa.Table | None) -> tuple[pa.Table | None, np.ndarray | None]:
    """``order_lines.sku`` as int64 codes numbered in SKU string order (nulls stay null).

    Chunk features only count and group SKUs, so codes numbered in the strings' own order
    give the same groups in the same order as the strings (and the same float sums), without
    millions of Python strings per chunk. Only the recommender needs the names back
    (:func:`pipelines.score_churn_chunks.decode_counts`).
    """
    if lines is None or "sku" not in lines.column_names:
        return lines, None
    col = lines["sku"]
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    chunks = col.chunks or [pa.array([], col.type)]
    values = pc.unique(pa.chunked_array([c.dictionary for c in chunks], col.type.value_type))
    # arrow sorts strings by UTF-8 bytes = code-point order, as Python and pandas do
    names = values.drop_null().take(pc.array_sort_indices(values.drop_null()))
    codes = [pc.cast(pc.index_in(c.dictionary, value_set=names), pa.int64()).take(c.indices)
             for c in chunks]
    return (_with(lines, "sku", pa.chunked_array(codes, pa.int64())),
            np.asarray(names.to_pylist(), dtype=object))


def _tenant_codes(*tables: pa.Table | None) -> tuple[np.ndarray, list[pa.Table | None]]:
    """Every table's ``tenant_id`` as an int64 code of one sorted list of tenant ids."""
    names = sorted({v for t in tables if t is not None
                    for v in pc.unique(pc.cast(t["tenant_id"], pa.string())).to_pylist()
                    if v is not None})
    value_set = pa.array(names, pa.string())
    out = [None if t is None else _with(t, "tenant_id", pc.cast(
        pc.index_in(pc.cast(t["tenant_id"], pa.string()), value_set=value_set), pa.int64()))
        for t in tables]
    return np.asarray(names, dtype=object), out


def _customer_codes(orders: pa.Table, customers: pa.Table | None
                    ) -> tuple[pa.Table, pa.Table | None, np.ndarray]:
    """Both tables' ``customer_id`` as int64 codes of one dictionary (nulls stay null).

    Codes of equal ids are equal across tenants; the ``tenant_id`` column still tells the
    tenants' customers apart, as it does for the ids themselves.
    """
    cols = [orders["customer_id"], *([] if customers is None else [customers["customer_id"]])]
    ids = pa.chunked_array([c for col in cols for c in pc.cast(col, pa.string()).chunks],
                           pa.string())
    enc = pc.dictionary_encode(ids.combine_chunks())
    codes = pc.cast(enc.indices, pa.int64())
    n = orders.num_rows
    orders = _with(orders, "customer_id", codes.slice(0, n))
    if customers is not None:
        customers = _with(customers, "customer_id", codes.slice(n))
    return orders, customers, np.asarray(enc.dictionary.to_pylist(), dtype=object)


def decode(values, ids: np.ndarray) -> np.ndarray:
    """Codes (int, float or their text) turned back into the ids they stand for."""
    codes = _int_codes(values)
    if codes is None:
        num = pd.to_numeric(pd.Series(values, dtype=object), errors="raise")
        if num.isna().any():
            raise ValueError("a scored part holds a customer or tenant without an id")
        codes = num.to_numpy().astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= len(ids)):
        raise ValueError(f"id codes outside 0..{len(ids) - 1}: the scored part does not "
                         "belong to these tables")
    return ids[codes]


def _int_codes(values) -> np.ndarray | None:
    """``values`` as int64 codes when they are integers or their plain text (else None).

    The chunk parts hold codes as integers, or as text where a step turned ids into strings
    (``astype(str)``); Arrow parses that text in C++, far faster than ``pd.to_numeric`` on
    Python strings. Anything else (floats, missing values) takes the general path.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind not in "OU":
        return None
    try:
        codes = pc.cast(pa.array(arr, pa.string()), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # "1.0", NaN: not plain integer text
        return None
    return None if codes.null_count else codes.to_numpy()


def decode_ids(frame: pd.DataFrame | None, tables: ArrowChurnTables) -> pd.DataFrame | None:
    """``frame`` with its ``tenant_id`` and ``customer_id`` codes turned into ids."""
    if frame is None or not len(frame):
        return frame
    out = {c: decode(frame[c], ids) for c, ids in (("tenant_id", tables.tenant_ids),
                                                  ("customer_id", tables.customer_ids))
           if ids is not None and c in frame}
    return frame.assign(**out) if out else frame


def _order_codes(orders: pa.Table, *others: pa.Table | None) -> tuple[pa.Table | None, ...]:
    """Every table's ``order_id`` as an int64 code of its order key (-1: no such order).

    The key is ``order_id`` (with ``tenant_id`` when tenants are mixed), so equal codes mean
    exactly the rows that the string join would pair.
    """
    mixed = pc.count_distinct(pc.cast(orders["tenant_id"], pa.string())).as_py() > 1
    key = _key(orders, mixed)
    enc = pc.dictionary_encode(key.combine_chunks() if isinstance(key, pa.ChunkedArray)
                               else key)
    out = [_with(orders, "order_id", pc.cast(enc.indices, pa.int64()))]
    for t in others:
        if t is None:
            out.append(None)
            continue
        code = pc.fill_null(pc.cast(pc.index_in(_key(t, mixed), value_set=enc.dictionary),
                                    pa.int64()), -1)
        out.append(_with(t, "order_id", code))
    return tuple(out)


def _with(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


#: Id columns :func:`load_arrow_tables` turns into integer codes.
CODED = ("tenant_id", "order_id", "customer_id", "sku")


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame with the dtypes ``oms.lake.read_table`` gives (dictionaries decoded).

    Id columns holding integer codes (:data:`CODED`) stay integers (``Int64`` where a code
    is missing): the files' pandas metadata still calls them strings, and following it would
    turn every code into a Python string that each group-by and join then hashes again.
    """
    coded = [c for c in CODED if c in table.column_names
             and pa.types.is_integer(table.schema.field(c).type)]
    rest = table.drop_columns(coded)
    types = [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
             for f in rest.schema]
    frame = rest.cast(pa.schema(types, metadata=rest.schema.metadata)).to_pandas(
        coerce_temporal_nanoseconds=True)
    for c in coded:
        col = table[c]
        frame[c] = (col.to_numpy() if not col.null_count else
                    col.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array)
    return frame[table.column_names]


def order_dates(tables: ArrowChurnTables) -> pd.DataFrame:
    """Just ``order_date`` of every order (for the data range and the cutoff check)."""
    return to_frame(tables.orders.select(["order_date"]))


def _key(table: pa.Table, mixed: bool) -> pa.ChunkedArray:
    """The order key: ``order_id``, or ``tenant_id`` + ``order_id`` when tenants are mixed."""
    if not mixed:
        return table["order_id"]
    return pc.binary_join_element_wise(pc.cast(table["tenant_id"], pa.string()),
                                       pc.cast(table["order_id"], pa.string()), "\x1f")


