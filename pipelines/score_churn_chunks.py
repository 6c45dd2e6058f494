"""Churn scoring in customer chunks: the scores of ``score_frame`` in bounded memory.

``score_frame`` (``pipelines/score_churn.py``) works on whole pandas tables. On a ``large``
lake (9M orders, 23M order lines, 43M order events, 786k customers) its frames of Python
strings and merges of every order line grew past 20 GB. This path gives the same rows:

* **read** only the columns scoring uses, as Arrow (``pipelines/score_churn_arrow.py``:
  tenant pushed into the scan, ``Returned`` events only, order and customer ids as integer
  codes);
* **per customer, in chunks**: customers are split by a hash of their code; each chunk's
  orders and order lines (found through the order code) become pandas frames and go through
  the same functions as the whole-table path — ``customer_features``, ``derived_features``,
  ``summary_data`` and the exclusion rules; the customer codes in what a chunk returns are
  turned back into ids;
* **population-level, once**, on the per-customer results: RFM ntiles within tenant
  (``rfm_scores``), whether the source has support contacts / channels at all, the BG/NBD
  fit behind ``p_alive``, the CLV fits, the co-occurrence recommender (built from integer
  customer × SKU counts, the same matrices as ``CoOccurrenceRecommender.fit``) and the
  model's probabilities (one call with every customer's features).

``tests/test_score_churn_chunks.py`` checks it equals ``score_frame`` with tiny chunks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.customers import CHANNEL_COLUMNS, FEATURE_COLUMNS, customer_features, rfm_scores
from models.churn.features import KEYS, derived_features
from models.clv import BetaGeoFitter, summary_data
from pipelines.score_churn_arrow import (
    ArrowChurnTables,
    decode,
    decode_ids,
    load_arrow_tables,  # noqa: F401 - re-exported: the scorer and tests import it here
    order_dates,
    to_frame,
)
from pipelines.score_churn_recommender import RecommenderCounts, purchase_counts
from pipelines.train_churn import ChurnTables

log = logging.getLogger(__name__)

#: Customers per chunk (memory grows with it; the result does not depend on it).
CHUNK_CUSTOMERS = 60_000
#: Default number of worker processes for the chunks (``OMS_ML_SCORE_WORKERS`` overrides).
WORKERS = 2


def default_workers() -> int:
    """``OMS_ML_SCORE_WORKERS`` or :data:`WORKERS`, at most the machine's cores."""
    import os

    n = int(os.environ.get("OMS_ML_SCORE_WORKERS", WORKERS))
    return max(1, min(n, os.cpu_count() or 1))
_SCORE = ("r_score", "f_score", "m_score")
_PARTS = ("universe", "excluded", "base", "extra", "bg_summary", "clv_summary")


# ----------------------------------------------------------------------------- chunks
def _customer_hash(ids: pa.ChunkedArray) -> np.ndarray:
    """A stable uint64 hash of each ``customer_id`` (0 for a missing one)."""
    enc = pc.dictionary_encode(ids).combine_chunks()
    words = pd.util.hash_array(np.asarray(enc.dictionary.to_pylist(), dtype=object))
    idx = enc.indices.to_numpy(zero_copy_only=False)
    out = np.zeros(len(idx), np.uint64)
    ok = ~np.isnan(idx) if idx.dtype.kind == "f" else np.ones(len(idx), bool)
    out[ok] = words[idx[ok].astype(np.int64)]
    return out


@dataclass
class Chunks:
    """Which chunk every order, line and customers-table row belongs to (-1: none)."""

    n: int
    orders: np.ndarray
    lines: np.ndarray | None
    customers: np.ndarray | None


def plan_chunks(tables: ArrowChurnTables, chunk_customers: int = CHUNK_CUSTOMERS) -> Chunks:
    """Split customers into chunks of about ``chunk_customers`` by a hash of their id."""
    if chunk_customers < 1:
        raise ValueError(f"chunk_customers must be >= 1, got {chunk_customers}")
    o = tables.orders
    known = pc.is_valid(o["customer_id"]).to_numpy(zero_copy_only=False)
    n_customers = max(pc.count_distinct(o["customer_id"]).as_py(), 1)
    if tables.customers is not None:
        n_customers = max(n_customers, tables.customers.num_rows)
    n = max(1, math.ceil(n_customers / chunk_customers))
    orders = np.where(known, (_customer_hash(o["customer_id"]) % np.uint64(n)).astype(np.int64),
                      -1)
    lines = None
    if tables.order_lines is not None:  # order codes (_order_codes): a line's order's chunk
        codes = o["order_id"].to_numpy()
        chunk_of = np.full(int(codes.max(initial=-1)) + 2, -1, np.int64)
        known, first = np.unique(codes, return_index=True)
        chunk_of[known] = orders[first]  # an order key's first row, as index_in found it
        lines = chunk_of[tables.order_lines["order_id"].to_numpy()]  # code -1: the last -1
    customers = None
    if tables.customers is not None:
        c = tables.customers["customer_id"]
        ok = pc.is_valid(c).to_numpy(zero_copy_only=False)
        customers = np.where(ok, (_customer_hash(c) % np.uint64(n)).astype(np.int64), -1)
    return Chunks(n, orders, lines, customers)


@dataclass
class Chunk:
    """One chunk's pandas tables and each order's / customers-table row's global position."""

    tables: ChurnTables
    order_pos: np.ndarray
    customer_pos: np.ndarray | None


def _pieces(tables: ArrowChurnTables, plan: Chunks) -> Iterator[tuple]:
    """Each chunk's Arrow rows (cheap to send to a worker process) and their positions."""
    n_orders = tables.orders.num_rows
    # one buffer per column: taking rows from many small chunks is several times slower
    tables.orders = tables.orders.combine_chunks()
    if tables.order_lines is not None:
        tables.order_lines = tables.order_lines.combine_chunks()
    for k in range(plan.n):
        rows = np.flatnonzero(plan.orders == k)
        lines = None
        if tables.order_lines is not None:
            lines = tables.order_lines.take(np.flatnonzero(plan.lines == k))
        cust, cpos = None, None
        if tables.customers is not None:
            cpos = np.flatnonzero(plan.customers == k)
            cust = tables.customers.take(cpos)
            cpos = cpos + n_orders
        yield tables.orders.take(rows), lines, cust, rows, cpos


def _chunk(piece: tuple, events: pd.DataFrame | None) -> Chunk:
    orders, lines, cust, rows, cpos = piece
    return Chunk(ChurnTables(to_frame(orders), events,
                             None if lines is None else to_frame(lines),
                             None if cust is None else to_frame(cust)), rows, cpos)


def iter_chunks(tables: ArrowChurnTables, plan: Chunks) -> Iterator[Chunk]:
    """Each chunk's orders, lines and customers as pandas frames (the lake's dtypes)."""
    for piece in _pieces(tables, plan):
        yield _chunk(piece, tables.order_events)


# ----------------------------------------------------------------------------- scoring
def _universe(chunk: Chunk) -> pd.DataFrame:
    """The chunk's customers (as ``customer_universe``) with their first global position."""
    o = chunk.tables.orders
    known = o["customer_id"].notna()
    if "is_guest" in o:
        known &= ~o["is_guest"].astype("boolean").fillna(False)
    frames = [o.loc[known, KEYS].assign(_pos=chunk.order_pos[known.to_numpy(dtype=bool)])]
    if chunk.tables.customers is not None and not chunk.tables.customers.empty:
        frames.append(chunk.tables.customers[KEYS].assign(_pos=chunk.customer_pos))
    u = pd.concat(frames)
    u[KEYS] = u[KEYS].astype(str)
    return u.drop_duplicates(KEYS).reset_index(drop=True)


def chunk_parts(chunk: Chunk, cut: pd.Timestamp, has: tuple[bool, bool]) -> dict:
    """Per-customer features, summaries, exclusions and purchase counts of one chunk."""
    from pipelines.score_churn import exclusions, recommender_purchases

    t = chunk.tables
    uni = _universe(chunk)
    out: dict = {"universe": uni[KEYS], "excluded": exclusions(t, cut).merge(uni, on=KEYS,
                                                                            how="left")}
    if t.orders.empty:
        return out
    base = customer_features(t.orders, t.order_events, cut, label=False)
    if has[0] and base["support_contacts"].isna().all():  # the chunk alone has none
        base["support_contacts"] = np.int64(0)
    if has[1] and base[list(CHANNEL_COLUMNS)].isna().all().all():
        base[list(CHANNEL_COLUMNS)] = 0.0
    placed = t.orders.assign(status="placed") if "status" in t.orders else t.orders
    return out | {"base": base, "extra": derived_features(t.orders, cut, t.order_lines),
                  "bg_summary": summary_data(placed, cut),
                  "clv_summary": summary_data(t.orders, cut),
                  "counts": purchase_counts(recommender_purchases(t, cut))}


def decode_counts(counts: tuple | None, tables: ArrowChurnTables) -> tuple | None:
    """:func:`purchase_counts` of a chunk with its tenant, customer and SKU codes as ids."""
    if counts is None:
        return counts
    tenants, customers, items, cells = counts
    item_tenants, skus = items.get_level_values(0), items.get_level_values(1)
    if tables.tenant_ids is not None:
        tenants = decode(tenants, tables.tenant_ids)
        item_tenants = decode(item_tenants, tables.tenant_ids)
    if tables.sku_ids is not None:
        skus = decode(skus, tables.sku_ids)
    items = pd.MultiIndex.from_arrays([item_tenants, skus], names=items.names)
    if tables.customer_ids is not None:
        customers = decode(customers, tables.customer_ids)
    return tenants, customers, items, cells


_EVENTS: list[pd.DataFrame | None] = [None]


def _init_worker(events: pd.DataFrame | None) -> None:
    _EVENTS[0] = events


def _work(piece: tuple, cut: pd.Timestamp, has: tuple[bool, bool]) -> dict:
    """In a worker process: one chunk's :func:`chunk_parts`."""
    return chunk_parts(_chunk(piece, _EVENTS[0]), cut, has)


def _all_parts(tables: ArrowChurnTables, plan: Chunks, cut: pd.Timestamp, workers: int,
               progress=None) -> Iterator[dict]:
    """Every chunk's parts in chunk order; ``workers`` > 1 computes them in processes."""
    has = _source_has(tables.orders)
    if workers <= 1 or plan.n == 1:
        for i, chunk in enumerate(iter_chunks(tables, plan)):
            yield chunk_parts(chunk, cut, has)
            if progress:
                progress(i + 1, plan.n)
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(tables.order_events,)) as pool:
        pending: deque = deque()
        done = 0
        for piece in _pieces(tables, plan):
            pending.append(pool.submit(_work, piece, cut, has))
            if len(pending) > workers:  # bounded: at most workers + 1 chunks in flight
                done += 1
                yield pending.popleft().result()
                if progress:
                    progress(done, plan.n)
        while pending:
            done += 1
            yield pending.popleft().result()
            if progress:
                progress(done, plan.n)


def _concat(frames: list[pd.DataFrame], sort: bool = False) -> pd.DataFrame:
    """Concatenate the non-empty frames (an empty one's object columns would widen dtypes)."""
    full = [f for f in frames if len(f)] or frames[:1]
    if not full:
        return pd.DataFrame(columns=KEYS)
    out = pd.concat(full, ignore_index=True)
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True) if sort else out


def _bg_features(summary: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """``clv_features`` of ``models.churn.features`` from the whole population's summary."""
    s = summary
    if s.empty:
        return pd.DataFrame(columns=[*KEYS, "p_alive", "bg_expected_90d"])
    args = (s["frequency"], s["recency"], s["T"])
    try:
        bg = BetaGeoFitter().fit(*args)
    except ValueError as e:  # not identified (no repeat buyers yet): unknown, not invented
        log.info("BG/NBD features unavailable at %s: %s", cut.date(), e)
        return s[KEYS].assign(p_alive=np.nan, bg_expected_90d=np.nan)
    s["p_alive"] = bg.conditional_probability_alive(*args)
    s["bg_expected_90d"] = bg.conditional_expected_number_of_purchases_up_to_time(90, *args)
    return s[[*KEYS, "p_alive", "bg_expected_90d"]]


def _features(parts: dict[str, list[pd.DataFrame]], cut: pd.Timestamp) -> pd.DataFrame:
    """``churn_features(..., label=False)`` of every customer from the chunks' parts."""
    base = _concat(parts["base"], sort=True)
    if len(base):
        base = rfm_scores(base.drop(columns=list(_SCORE)))[list(FEATURE_COLUMNS)]
    extra = _concat(parts["extra"])
    bg = _bg_features(_concat(parts["bg_summary"], sort=True), cut)
    for f in (base, extra, bg):
        for c in KEYS:
            f[c] = f[c].astype(str)
    out = base.merge(extra, on=KEYS, how="left").merge(bg, on=KEYS, how="left")
    out["cutoff"] = cut
    return out


def _source_has(orders: pa.Table) -> tuple[bool, bool]:
    """Whether any order has support contacts / a channel (else those features are NaN)."""
    def any_valid(c: str) -> bool:
        return c in orders.column_names and bool(pc.any(pc.is_valid(orders[c])).as_py())

    return any_valid("support_contacts"), any_valid("channel")


def score_frame_chunked(tables: ArrowChurnTables, model, cutoff=None, config=None,
                        model_version: str = "", chunk_customers: int = CHUNK_CUSTOMERS,
                        progress=None, workers: int | None = None, release: bool = False):
    """``score_frame`` computed customer chunk by customer chunk (the same result).

    Args:
        tables: From :func:`load_arrow_tables`.
        model: A fitted ``ChurnClassifier`` or a loaded ``churn_classifier`` pyfunc.
        cutoff: Scoring day (default: the last order day).
        config: Retention thresholds and coupon terms.
        model_version: Registry version recorded with each row.
        chunk_customers: About how many customers each chunk holds.
        progress: Called with ``(chunk number, number of chunks)`` after each chunk.
        workers: Processes computing chunks (default :func:`default_workers`); 1 = here.
        release: Drop ``tables``' contents once the chunks are done (less memory while the
            population-level steps run; ``tables`` is then empty).

    Returns:
        A ``pipelines.score_churn.ScoreResult``.
    """
    from pipelines.score_churn import check_cutoff, finish_scores

    cut = check_cutoff(order_dates(tables), cutoff)
    plan = plan_chunks(tables, chunk_customers)
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in _PARTS}
    rec = RecommenderCounts()
    codes = ArrowChurnTables(pa.table({}), customer_ids=tables.customer_ids,
                             tenant_ids=tables.tenant_ids,
                             sku_ids=tables.sku_ids)  # kept when tables are released
    for got in _all_parts(tables, plan, cut, default_workers() if workers is None else workers,
                          progress):
        for name in _PARTS:
            parts[name] += [decode_ids(got[name], codes)] if name in got else []
        rec.add_counts(decode_counts(got.get("counts"), codes))
    del plan
    if release:  # the per-customer parts are all that is needed from here on
        tables.orders = tables.order_lines = tables.customers = tables.order_events = None
        pa.default_memory_pool().release_unused()  # give the freed Arrow buffers back
    excluded = _concat(parts["excluded"]).sort_values("_pos", kind="stable")
    excluded = excluded.drop(columns="_pos").reset_index(drop=True)
    feats = _features(parts, cut)
    clv = _concat(parts["clv_summary"], sort=True)
    universe = _concat(parts["universe"])
    del parts
    return finish_scores(cut, feats, excluded, model, config, model_version,
                         clv_summary=lambda: clv, recommender=rec.build,
                         universe=lambda: universe)
