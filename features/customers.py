"""Customer features at a cutoff date: RFM, gaps, returns, support, lateness, channel mix, churn.

One row per known (non-guest) customer with at least one order on or before the cutoff day.
The Spark twin lives in :mod:`features.spark_customers` and gives the same result.

Definitions (all leak-free: nothing after the cutoff day is used, except for the label):
    * history = orders with ``order_date <= cutoff``; the label window is
      ``cutoff < order_date <= cutoff + horizon_days``, so every day belongs to exactly one;
    * orders are counted as *placed* (cancelled ones included): an order's ``status`` is its
      latest status, possibly reached after the cutoff, so filtering on it would leak;
    * ``monetary`` is summed in integer cents (``rint(total_amount * 100)``), so pandas and
      Spark agree to the bit and the RFM ranks are identical;
    * ``r_score, f_score, m_score`` are ntiles 1..5 within each tenant, exactly like SQL
      ``NTILE(5) OVER (PARTITION BY tenant_id ORDER BY key, customer_id)``: rows are ranked by
      the key, ties broken by ``customer_id`` ascending, and the first ``n % 5`` tiles get one
      extra row. Recency is ranked descending (r = 5: most recent), frequency and monetary
      ascending (5: most orders / most money);
    * ``gap_1..gap_3`` are the last three inter-order gaps in days (gap_1 the most recent),
      NaN when the customer has fewer orders;
    * ``return_rate`` = history orders with a ``Returned`` event dated on or before the cutoff
      / frequency (without events: orders whose status is ``returned`` — an approximation
      that may see returns after the cutoff);
    * ``late_rate`` = late / orders whose delivery was known at the end of the cutoff day
      (``is_late`` not null and ``order_date + delivery_hours/24 <= cutoff + 1 day``);
      NaN when none was known;
    * what the source lacks stays unknown: when ``support_contacts`` (or ``channel``) is null
      on every order — a purchase-log import has neither — ``support_contacts`` (or every
      ``channel_share_*``) is NaN for everyone instead of a fake 0;
    * ``churned`` = 1 when the customer placed no order in the label window. The data must
      reach ``cutoff + horizon_days`` (else :class:`LabelWindowError`) unless ``label=False``,
      in which case the column is absent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.demand import day_numbers, require_columns
from features.keys import dense_codes
from oms.contract import CHANNELS

RFM_KEYS = (("recency_days", "r_score", False), ("frequency", "f_score", True),
            ("monetary", "m_score", True))
CHANNEL_COLUMNS = tuple(f"channel_share_{c}" for c in CHANNELS)
FEATURE_COLUMNS = (
    "tenant_id", "customer_id", "recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score", "avg_order_value", "gap_1", "gap_2", "gap_3",
    "return_rate", "support_contacts", "late_rate", "tenure_days", *CHANNEL_COLUMNS,
)
_ORDER_NEEDS = ("tenant_id", "order_id", "customer_id", "is_guest", "order_date", "channel",
                "total_amount", "support_contacts", "is_late", "delivery_hours")


# what the per-customer sums read from history orders (a narrow copy of 20M rows, not all)
_HIST_COLUMNS = ("tenant_id", "order_id", "status", "channel", "total_amount",
                 "support_contacts", "is_late", "delivery_hours")


class LabelWindowError(ValueError):
    """The data ends before cutoff + horizon, so the churn label cannot be known."""


def as_cutoff_day(cutoff) -> pd.Timestamp:
    """Normalise a cutoff to a tz-naive midnight Timestamp; a clear error for anything else."""
    try:
        ts = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cutoff {cutoff!r} is not a date") from e
    if ts is pd.NaT:
        raise ValueError("cutoff is missing (NaT)")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    if ts != ts.normalize():
        raise ValueError(f"cutoff must be a calendar day (midnight), got {ts}")
    return ts


def ntile(group: np.ndarray, rank: np.ndarray, n_bins: int) -> np.ndarray:
    """SQL ``NTILE(n_bins)`` from a 0-based position ``rank`` within integer ``group`` codes.

    The first ``n % n_bins`` tiles hold ``n // n_bins + 1`` rows, the others ``n // n_bins``.
    """
    n = np.bincount(group)[group]
    q, rem = n // n_bins, n % n_bins
    threshold = rem * (q + 1)
    big = rank // (q + 1)
    small = rem + (rank - threshold) // np.maximum(q, 1)
    return (np.where(rank < threshold, big, small) + 1).astype(np.int64)


def _rank_within(group: np.ndarray, key: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """0-based position of each row in its group, ordered by ``key`` then ``tiebreak``."""
    order = np.lexsort((tiebreak, key, group))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    pos = np.arange(len(order)) - np.repeat(starts, sizes)
    rank = np.empty(len(order), np.int64)
    rank[order] = pos
    return rank


def _string_rank(values: pd.Series) -> np.ndarray:
    """Position of each value in code-point (= UTF-8 byte, = Spark) string order."""
    if values.isna().any():
        raise ValueError(f"{values.name} has {int(values.isna().sum())} null value(s)")
    if values.dtype == object and values.is_monotonic_increasing:
        return np.arange(len(values))  # already in order (customer_features sorts its output)
    strings = pa.array(np.asarray(values.astype(str), dtype=object), pa.string())
    order = pc.array_sort_indices(strings).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank


def rfm_scores(rfm: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Add ``r_score, f_score, m_score`` (1..n_bins, ntile within tenant) to an RFM frame.

    Ties are broken by ``customer_id`` ascending (see the module docstring), so the scores
    are deterministic and identical to the Spark twin.

    Args:
        rfm: Frame with ``tenant_id, customer_id, recency_days, frequency, monetary``.
        n_bins: Number of tiles (5 for quintiles).

    Returns:
        A copy of ``rfm`` with the three score columns (int64).
    """
    require_columns(rfm, ["tenant_id", "customer_id", "recency_days", "frequency", "monetary"],
                    "rfm")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    out = rfm.copy()
    if out.empty:
        for _, score, _ in RFM_KEYS:
            out[score] = pd.Series(dtype=np.int64)
        return out
    group = pd.factorize(out["tenant_id"])[0]
    tiebreak = _string_rank(out["customer_id"])
    for col, score, ascending in RFM_KEYS:
        key = out[col].to_numpy(float)
        rank = _rank_within(group, key if ascending else -key, tiebreak)
        out[score] = ntile(group, rank, n_bins)
    return out


def sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dense integer codes numbered in string order of the values, and the sorted strings.

    Only the distinct values are sorted (a categorical column is not even hashed), so
    millions of rows never turn into millions of Python strings. Nulls are an error.
    """
    codes, uniques = dense_codes(values, str(values.name))
    labels = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    # arrow sorts strings in C++ by UTF-8 bytes = code-point order, as Python and Spark do
    order = pc.array_sort_indices(pa.array(labels, pa.string())).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], labels[order]


def rfm_values(orders: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Recency, frequency and monetary per known customer at ``cutoff`` (no scores, no label).

    The same values as in :func:`customer_features`, for callers that need only RFM.

    Args:
        orders: Contract ``orders`` (``tenant_id, customer_id, is_guest, order_date,
            total_amount``).
        cutoff: Calendar day; orders on or before it count.

    Returns:
        ``tenant_id, customer_id, recency_days, frequency, monetary``, sorted by customer.
    """
    require_columns(orders, ["tenant_id", "customer_id", "is_guest", "order_date",
                             "total_amount"], "orders")
    c = int(day_numbers(pd.Series([as_cutoff_day(cutoff)]), "cutoff")[0])
    day = day_numbers(orders["order_date"], "orders.order_date")
    mask = ~orders["is_guest"].astype("boolean").fillna(False).to_numpy(bool)
    mask &= orders["customer_id"].notna().to_numpy() & (day <= c)
    code, who = _customer_codes(orders, mask)
    n = len(who)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, code, day[mask])
    cents = np.rint(orders["total_amount"].to_numpy(float)[mask] * 100.0)
    return who.assign(
        recency_days=(c - last).astype(np.int64),
        frequency=np.bincount(code, minlength=n).astype(np.int64),
        monetary=np.bincount(code, weights=cents, minlength=n) / 100.0,
    )


def _customer_codes(orders: pd.DataFrame, mask: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer customer code per masked row and the ``tenant_id, customer_id`` of each code.

    Codes are numbered in ``(tenant_id, customer_id)`` order, so outputs come out sorted.
    """
    t_codes, tenants = sorted_codes(orders["tenant_id"][mask])
    c_codes, customers = sorted_codes(orders["customer_id"][mask])
    if len(tenants) == 1:  # the usual case: customer codes are the codes
        return c_codes, pd.DataFrame({"tenant_id": np.repeat(tenants, len(customers)),
                                      "customer_id": customers})
    width = len(customers) + 1
    codes, pairs = pd.factorize(t_codes * width + c_codes, sort=True)
    who = pd.DataFrame({"tenant_id": tenants[pairs // width],
                        "customer_id": customers[pairs % width]})
    return codes.astype(np.int64), who


def _returned_orders(
    orders: pd.DataFrame, order_events: pd.DataFrame | None, cutoff_day: int
) -> np.ndarray:
    """Bool per order: returned on or before the cutoff day (see the module docstring)."""
    if order_events is None:
        if "status" not in orders.columns:
            return np.zeros(len(orders), bool)
        return (orders["status"].astype(object) == "returned").to_numpy()
    require_columns(order_events, ["tenant_id", "order_id", "event_type", "event_date"],
                    "order_events")
    ev = order_events[(order_events["event_type"].astype(object) == "Returned").to_numpy()]
    ev = ev[day_numbers(ev["event_date"], "order_events.event_date") <= cutoff_day]
    out = np.zeros(len(orders), bool)
    tenants = orders["tenant_id"].to_numpy(dtype=object)
    for tenant, ids in ev.groupby(ev["tenant_id"].astype(object), sort=False)["order_id"]:
        mask = tenants == tenant
        out[mask] = orders["order_id"][mask].isin(ids.unique()).to_numpy()
    return out


def _last_gaps(code: np.ndarray, day: np.ndarray, n_customers: int) -> dict[str, np.ndarray]:
    """The last three inter-order gaps (days) per customer code; NaN where missing."""
    order = np.lexsort((day, code))
    c, d = code[order], day[order].astype(float)
    counts = np.bincount(c, minlength=n_customers)
    last = np.cumsum(counts) - 1
    gaps = {}
    for k in range(3):
        ok = counts >= k + 2
        idx = np.where(ok, last - k, 0)  # 0 - 1 wraps to a valid index, masked
        gaps[f"gap_{k + 1}"] = np.where(ok, d[idx] - d[idx - 1], np.nan)
    return gaps


def _history_aggregates(
    hist: pd.DataFrame, code: np.ndarray, day: np.ndarray, n: int, cutoff_day: int,
    returned: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-customer sums over history orders (one entry per customer code)."""
    freq = np.bincount(code, minlength=n)
    cents = np.rint(hist["total_amount"].to_numpy(float) * 100.0)
    last = np.full(n, np.iinfo(np.int64).min)
    first = np.full(n, np.iinfo(np.int64).max)
    np.maximum.at(last, code, day)
    np.minimum.at(first, code, day)
    late = hist["is_late"].astype("boolean")
    hours = hist["delivery_hours"].to_numpy(float)
    known = late.notna().to_numpy() & ~((day - cutoff_day) + hours / 24.0 > 1.0)
    late_known = np.bincount(code, weights=known, minlength=n)
    late_n = np.bincount(code, weights=known & late.fillna(False).to_numpy(bool), minlength=n)
    monetary = np.bincount(code, weights=cents, minlength=n) / 100.0
    out = {
        "recency_days": (cutoff_day - last).astype(np.int64),
        "frequency": freq.astype(np.int64),
        "monetary": monetary,
        "avg_order_value": monetary / freq,
        "return_rate": np.bincount(code, weights=returned, minlength=n) / freq,
        "support_contacts": np.bincount(
            code, weights=hist["support_contacts"].fillna(0).to_numpy(float), minlength=n
        ).astype(np.int64),
        "late_rate": np.where(late_known > 0, late_n / np.maximum(late_known, 1), np.nan),
        "tenure_days": (cutoff_day - first).astype(np.int64),
    }
    channel = _channel_codes(hist["channel"])
    for i, col in enumerate(CHANNEL_COLUMNS):
        out[col] = np.bincount(code, weights=channel == i, minlength=n) / freq
    return out


def _channel_codes(channel: pd.Series) -> np.ndarray:
    """Index of each row's channel in :data:`CHANNELS` (-1 for anything else)."""
    codes, uniques = pd.factorize(channel)
    lookup = np.array([CHANNELS.index(u) if u in CHANNELS else -1 for u in uniques] + [-1])
    return lookup[codes]


def _check_label_window(cut: pd.Timestamp, c: int, horizon_days: int, end: int | None) -> None:
    """Raise :class:`LabelWindowError` unless the data reach ``cutoff + horizon``."""
    if end is None or end < c + horizon_days:
        last = "no orders" if end is None else f"the last order day is {_day_str(end)}"
        raise LabelWindowError(
            f"cannot label churn at cutoff {cut.date()} with horizon {horizon_days} days: "
            f"the data must reach {_day_str(c + horizon_days)} but {last}; pick an earlier "
            "cutoff or pass label=False"
        )


def customer_features(
    orders: pd.DataFrame,
    order_events: pd.DataFrame | None,
    cutoff,
    horizon_days: int = 90,
    order_lines: pd.DataFrame | None = None,
    label: bool = True,
) -> pd.DataFrame:
    """One row per known customer with orders on or before ``cutoff``, plus the churn label.

    See the module docstring for every definition.

    Args:
        orders: Contract ``orders``.
        order_events: Contract ``order_events`` (``Returned`` events are used) or None.
        cutoff: Calendar day the features are computed at (anything ``pd.Timestamp`` takes).
        horizon_days: Churn horizon: churned = no order in (cutoff, cutoff + horizon].
        order_lines: Accepted for line-level features; not used yet.
        label: Compute ``churned``; needs orders up to cutoff + horizon.

    Returns:
        :data:`FEATURE_COLUMNS` (+ ``churned`` int64 0/1), sorted by tenant and customer.

    Raises:
        LabelWindowError: ``label`` is True and the data ends before cutoff + horizon.
    """
    del order_lines  # reserved: line-level features (category mix) can join here later
    require_columns(orders, _ORDER_NEEDS, "orders")
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    cut = as_cutoff_day(cutoff)
    c = int(day_numbers(pd.Series([cut]), "cutoff")[0])
    day = day_numbers(orders["order_date"], "orders.order_date")
    if label:
        _check_label_window(cut, c, horizon_days, int(day.max()) if len(day) else None)
    known = ~orders["is_guest"].astype("boolean").fillna(False).to_numpy(bool)
    known &= orders["customer_id"].notna().to_numpy()
    relevant = known & (day <= c + (horizon_days if label else 0))
    all_codes, everyone = _customer_codes(orders, relevant)
    in_hist = day[relevant] <= c
    present, code = np.unique(all_codes[in_hist], return_inverse=True)
    who = everyone.iloc[present].reset_index(drop=True)
    hist_rows = np.flatnonzero(relevant)[in_hist]
    hist = _take(orders, hist_rows, _HIST_COLUMNS)
    hist_day = day[hist_rows]
    returned = _returned_orders(hist, order_events, c)
    cols = _history_aggregates(hist, code, hist_day, len(who), c, returned)
    cols |= _last_gaps(code, hist_day, len(who))
    out = rfm_scores(pd.concat([who, pd.DataFrame(cols)], axis=1))[list(FEATURE_COLUMNS)]
    for col in unsupported_columns(orders["support_contacts"].notna().any(),
                                   orders["channel"].notna().any()):
        out[col] = np.nan
    if label:
        active = np.zeros(len(everyone), bool)
        active[all_codes[~in_hist]] = True  # ordered again inside (cutoff, cutoff + horizon]
        out["churned"] = (~active[present]).astype(np.int64)
    return out


def _take(orders: pd.DataFrame, rows: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """``rows`` of only the ``columns`` present (dtypes kept; a copy of just those)."""
    return pd.DataFrame({c: orders[c].array.take(rows)
                         for c in columns if c in orders.columns})


def unsupported_columns(has_support: bool, has_channel: bool) -> list[str]:
    """Feature columns the source cannot support (its column is null on every order)."""
    return ([] if has_support else ["support_contacts"]) + (
        [] if has_channel else list(CHANNEL_COLUMNS))


def _day_str(day: int) -> str:
    return str(np.datetime64(int(day), "D"))
