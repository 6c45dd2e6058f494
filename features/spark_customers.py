"""Spark twin of :mod:`features.customers`: the same customer features, computed by Spark.

Definitions are those of :mod:`features.customers`. The RFM ntile is computed without
collapsing all customers into one partition (which ``NTILE() OVER (PARTITION BY tenant)``
would do for a single tenant): the sort key is cut into ~64 ranges by approximate quantiles
(a monotone, deterministic bucket), rows are numbered inside each tenant × range in parallel,
and each range's offset comes from a tiny table of per-range counts. The result is exactly
the global rank, hence exactly pandas' ntile; only ties of one key value share a partition.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.customers import (
    CHANNEL_COLUMNS,
    FEATURE_COLUMNS,
    RFM_KEYS,
    LabelWindowError,
    as_cutoff_day,
    unsupported_columns,
)
from features.spark_demand import as_day, require_columns
from oms.contract import CHANNELS

_ORDER_NEEDS = ("tenant_id", "order_id", "customer_id", "is_guest", "order_date", "channel",
                "total_amount", "support_contacts", "is_late", "delivery_hours")


def ntile_from_rank(rank: Column, n: Column, n_bins: int) -> Column:
    """SQL ``NTILE(n_bins)`` from a 0-based ``rank`` among ``n`` rows (same formula as pandas)."""
    q = F.floor(n / n_bins)
    rem = n - q * n_bins
    threshold = rem * (q + 1)
    big = F.floor(rank / (q + 1))
    small = rem + F.floor((rank - threshold) / F.greatest(q, F.lit(1)))
    return (F.when(rank < threshold, big).otherwise(small) + 1).cast("long")


def _ntile(df: DataFrame, key: str, bounds: list[float], n_bins: int, out: str) -> DataFrame:
    """Add ``out`` = ntile of ``key`` (ascending, ties by customer_id) within each tenant."""
    arr = F.array(*[F.lit(float(b)) for b in bounds]) if bounds else F.array().cast("array<double>")
    df = df.withColumn("_b", F.size(F.filter(arr, lambda b: b < F.col(key))))
    local = Window.partitionBy("tenant_id", "_b").orderBy(key, "customer_id")
    df = df.withColumn("_local", F.row_number().over(local) - 1)
    counts = df.groupBy("tenant_id", "_b").count()
    before = Window.partitionBy("tenant_id").orderBy("_b").rowsBetween(
        Window.unboundedPreceding, -1)
    counts = counts.select(
        "tenant_id", "_b",
        F.coalesce(F.sum("count").over(before), F.lit(0)).alias("_off"),
        F.sum("count").over(Window.partitionBy("tenant_id")).alias("_n"),
    )
    df = df.join(F.broadcast(counts), ["tenant_id", "_b"])
    score = ntile_from_rank(F.col("_off") + F.col("_local"), F.col("_n"), n_bins)
    return df.withColumn(out, score).drop("_b", "_local", "_off", "_n")


def rfm_scores(rfm: DataFrame, n_bins: int = 5, buckets: int = 64) -> DataFrame:
    """Spark twin of :func:`features.customers.rfm_scores` (identical scores).

    Args:
        rfm: Spark frame with ``tenant_id, customer_id, recency_days, frequency, monetary``.
        n_bins: Number of tiles.
        buckets: Key ranges the ranking is spread over (parallelism, not the result).
    """
    require_columns(rfm, ["tenant_id", "customer_id", "recency_days", "frequency", "monetary"],
                    "rfm")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    keys = {col: (F.col(col) if asc else -F.col(col)).cast("double") for col, _, asc in RFM_KEYS}
    df = rfm.withColumns({f"_k_{c}": k for c, k in keys.items()})
    probs = [i / buckets for i in range(1, buckets)]
    cols = [f"_k_{c}" for c in keys]
    quantiles = df.approxQuantile(cols, probs, 0.001) if probs else [[] for _ in cols]
    for (col, score, _), q in zip(RFM_KEYS, quantiles, strict=True):
        df = _ntile(df, f"_k_{col}", sorted(set(q)), n_bins, score)
    return df.drop(*cols)


def _relevant(orders: DataFrame, events: DataFrame | None, c: dt.date,
              until: dt.date) -> DataFrame:
    """Orders of known customers up to ``until`` with per-order flags.

    ``h`` marks history rows (on or before the cutoff); later rows only feed the label, so
    one scan of the orders serves features and label alike.
    """
    cut = F.lit(c)
    known = ~F.coalesce(F.col("is_guest"), F.lit(False)) & F.col("customer_id").isNotNull()
    o = orders.filter(known & (as_day("order_date") <= F.lit(until))).select(
        "tenant_id", "order_id", "customer_id", as_day("order_date").alias("ds"), "channel",
        F.rint(F.col("total_amount").cast("double") * 100.0).alias("cents"),
        F.coalesce(F.col("support_contacts"), F.lit(0)).alias("support"),
        "is_late", F.col("delivery_hours").cast("double").alias("hours"),
        *(["status"] if events is None and "status" in orders.columns else []),
    ).withColumn("h", F.col("ds") <= cut)
    if events is None:
        ret = (F.col("status") == "returned") if "status" in orders.columns else F.lit(False)
        o = o.withColumn("ret", F.coalesce(ret, F.lit(False)).cast("int"))
    else:
        require_columns(events, ["tenant_id", "order_id", "event_type", "event_date"],
                        "order_events")
        returned = (events.filter((F.col("event_type") == "Returned")
                                  & (as_day("event_date") <= cut))
                    .select("tenant_id", "order_id").distinct().withColumn("ret", F.lit(1)))
        o = o.join(returned, ["tenant_id", "order_id"], "left").fillna(0, ["ret"])
    after = (F.datediff("ds", cut) + F.col("hours") / 24.0) > 1.0
    late_known = F.col("is_late").isNotNull() & ~F.coalesce(after, F.lit(False))
    who = ["tenant_id", "customer_id"]
    w = Window.partitionBy(*who).orderBy("ds", "order_id")
    n_hist = F.sum(F.col("h").cast("int")).over(Window.partitionBy(*who))
    return o.withColumns({
        "late_known": late_known.cast("int"),
        "late_n": (late_known & F.col("is_late")).cast("int"),
        # history rows sort before later ones, so lag() only sees history for them
        "gap": F.datediff("ds", F.lag("ds").over(w)).cast("double"),
        "k": n_hist - F.row_number().over(w),  # 0 = last history order
    })


def _aggregates(rel: DataFrame, c: dt.date) -> DataFrame:
    """One row per customer with history: RFM values, gaps, rates, shares and ``_active``."""
    cut = F.lit(c)
    h = F.col("h")

    def hist_sum(col: Column) -> Column:
        return F.sum(F.when(h, col))

    agg = rel.groupBy("tenant_id", "customer_id").agg(
        F.datediff(cut, F.max(F.when(h, F.col("ds")))).cast("long").alias("recency_days"),
        hist_sum(F.lit(1)).cast("long").alias("frequency"),
        (hist_sum(F.col("cents")) / 100.0).alias("monetary"),
        hist_sum(F.col("ret")).alias("_ret"),
        hist_sum(F.col("support")).cast("long").alias("support_contacts"),
        hist_sum(F.col("late_known")).alias("_lk"),
        hist_sum(F.col("late_n")).alias("_ln"),
        F.datediff(cut, F.min("ds")).cast("long").alias("tenure_days"),
        *[hist_sum((F.col("channel") == ch).cast("int")).alias(f"_ch_{ch}") for ch in CHANNELS],
        *[F.max(F.when(h & (F.col("k") == k), F.col("gap"))).alias(f"gap_{k + 1}")
          for k in range(3)],
        F.max((~h).cast("int")).alias("_active"),
    ).filter(F.col("frequency") > 0)
    freq = F.col("frequency").cast("double")
    cols = {
        "avg_order_value": F.col("monetary") / freq,
        "return_rate": F.col("_ret") / freq,
        "late_rate": F.when(F.col("_lk") > 0, F.col("_ln") / F.col("_lk")),
    }
    cols |= {name: F.coalesce(F.col(f"_ch_{ch}"), F.lit(0)) / freq
             for ch, name in zip(CHANNELS, CHANNEL_COLUMNS, strict=True)}
    return agg.withColumns(cols).drop("_ret", "_lk", "_ln", *[f"_ch_{ch}" for ch in CHANNELS])


def _check_label_window(orders: DataFrame, c: dt.date, horizon_days: int,
                        end: dt.date | None = None) -> None:
    if end is None:
        end = orders.agg(F.max(as_day("order_date")).alias("end")).first()["end"]
    need = c + dt.timedelta(days=horizon_days)
    if end is None or end < need:
        last = "no orders" if end is None else f"the last order day is {end}"
        raise LabelWindowError(
            f"cannot label churn at cutoff {c} with horizon {horizon_days} days: the data must "
            f"reach {need} but {last}; pick an earlier cutoff or pass label=False"
        )


def customer_features(
    orders: DataFrame,
    order_events: DataFrame | None,
    cutoff,
    horizon_days: int = 90,
    order_lines: DataFrame | None = None,
    label: bool = True,
    *,
    last_day: dt.date | None = None,
) -> DataFrame:
    """Spark twin of :func:`features.customers.customer_features` (same columns and values).

    The per-customer aggregate is persisted (it is small and read twice: for the RFM
    quantile boundaries and for the result).

    Args:
        orders: Spark frame of contract ``orders``.
        order_events: Spark frame of ``order_events`` (``Returned`` events are used) or None.
        cutoff: Calendar day the features are computed at.
        horizon_days: Churn horizon: churned = no order in (cutoff, cutoff + horizon].
        order_lines: Accepted for line-level features; not used yet.
        label: Compute ``churned``; needs orders up to cutoff + horizon.
        last_day: The last order day, if the caller already knows it: saves the scan that
            checks the label window.
    """
    del order_lines
    require_columns(orders, _ORDER_NEEDS, "orders")
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    c = as_cutoff_day(cutoff).date()
    if label:
        _check_label_window(orders, c, horizon_days, last_day)
    until = c + dt.timedelta(days=horizon_days) if label else c
    feats = _aggregates(_relevant(orders, order_events, c, until), c).persist()
    out = rfm_scores(feats)
    known = orders.agg(F.max(F.col("support_contacts").isNotNull().cast("int")).alias("s"),
                       F.max(F.col("channel").isNotNull().cast("int")).alias("c")).first()
    unknown = unsupported_columns(bool(known["s"]), bool(known["c"]))
    if unknown:  # the source lacks the column: unknown for everyone, as in pandas
        out = out.withColumns({col: F.lit(None).cast("double") for col in unknown})
    if label:
        out = out.withColumn("churned", (1 - F.col("_active")).cast("long"))
    return out.select(*FEATURE_COLUMNS, *(["churned"] if label else []))
