"""RFM customer segments on top of the 1–5 R/F/M scores from ``features.customers``.

Segments (the classic RFM value matrix on recency and frequency):

* ``important_value`` — R ≥ 4 and F ≥ 4: recent and frequent;
* ``important_development`` — R ≥ 4 and F < 4: recent but not yet frequent;
* ``important_retention`` — R < 4 and F ≥ 4: frequent but slipping away;
* ``general`` — everyone else.

The scores themselves (quintile ntiles) are computed by ``features.customers.rfm_scores``;
this module only maps scores to segments and summarises them, so pandas and Spark
(``features.spark_segments``) give the same answer by construction.
"""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)

SEGMENTS = (
    "important_value",
    "important_development",
    "important_retention",
    "general",
)
HIGH_SCORE = 4
SCORE_COLUMNS = ("r_score", "f_score")
SUMMARY_COLUMNS = (
    "tenant_id", "segment", "customers", "revenue", "customer_share", "revenue_share",
    "avg_monetary",
)


def _check_scores(df: pd.DataFrame) -> None:
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"RFM segments need columns {list(SCORE_COLUMNS)}; missing {missing}. "
            "Compute them with features.customers.rfm_scores first."
        )
    for c in SCORE_COLUMNS:
        vals = pd.to_numeric(df[c], errors="coerce")
        bad = vals.isna() | (vals < 1) | (vals > 5)
        if bad.any():
            raise ValueError(
                f"{c} must be an integer score 1..5; {int(bad.sum())} rows are null or out of "
                f"range (first: {df.loc[bad, c].iloc[0]!r})"
            )


def assign_segments(scores: pd.DataFrame) -> pd.DataFrame:
    """Add a ``segment`` column to a frame holding ``r_score`` and ``f_score``.

    Args:
        scores: One row per customer with 1–5 ``r_score`` and ``f_score``.

    Returns:
        A copy with ``segment`` (a categorical over :data:`SEGMENTS`).

    Raises:
        ValueError: Score columns are missing, null or outside 1..5.
    """
    _check_scores(scores)
    r = scores["r_score"].astype(int) >= HIGH_SCORE
    f = scores["f_score"].astype(int) >= HIGH_SCORE
    seg = pd.Series("general", index=scores.index, dtype=object)
    seg[r & f] = "important_value"
    seg[r & ~f] = "important_development"
    seg[~r & f] = "important_retention"
    out = scores.copy()
    out["segment"] = pd.Categorical(seg, categories=list(SEGMENTS))
    return out


def segment_summary(segmented: pd.DataFrame, revenue_col: str = "monetary") -> pd.DataFrame:
    """Customers and revenue per tenant and segment, including empty segments (zero rows).

    Args:
        segmented: Output of :func:`assign_segments` with a revenue column.
        revenue_col: Column summed as segment revenue.

    Returns:
        One row per tenant × segment in :data:`SEGMENTS` order with ``customers``,
        ``revenue``, shares within the tenant and ``avg_monetary`` (NaN when empty).
    """
    if revenue_col not in segmented.columns:
        raise ValueError(f"segment summary needs a {revenue_col!r} column")
    df = segmented.copy()
    if "tenant_id" not in df.columns:
        df["tenant_id"] = "default"
    df["segment"] = df["segment"].astype(str)
    df["tenant_id"] = df["tenant_id"].astype(str)
    agg = df.groupby(["tenant_id", "segment"]).agg(
        customers=("segment", "size"), revenue=(revenue_col, "sum")
    )
    return finish_summary(agg.reset_index())


def finish_summary(agg: pd.DataFrame) -> pd.DataFrame:
    """Complete per-tenant × segment counts and revenue: empty segments, shares, averages.

    Shared by pandas and Spark (which aggregates on the cluster and finishes the tiny
    tenant × segment table here), so both give the same summary.

    Args:
        agg: ``tenant_id, segment, customers, revenue`` for the non-empty segments.

    Returns:
        One row per tenant × segment in :data:`SEGMENTS` order (see :func:`segment_summary`).
    """
    agg = agg.astype({"tenant_id": str, "segment": str})
    tenants = sorted(agg["tenant_id"].unique())
    grid = pd.MultiIndex.from_product([tenants, list(SEGMENTS)], names=["tenant_id", "segment"])
    out = agg.set_index(["tenant_id", "segment"])[["customers", "revenue"]].reindex(grid)
    out = out.fillna({"customers": 0, "revenue": 0.0}).reset_index()
    out["customers"] = out["customers"].astype("int64")
    out["revenue"] = out["revenue"].astype(float)
    tot = out.groupby("tenant_id")[["customers", "revenue"]].transform("sum")
    out["customer_share"] = out["customers"] / tot["customers"].where(tot["customers"] > 0)
    out["revenue_share"] = out["revenue"] / tot["revenue"].where(tot["revenue"] != 0)
    out["avg_monetary"] = out["revenue"] / out["customers"].where(out["customers"] > 0)
    for _, row in out[out["customers"] == 0].iterrows():
        log.info("tenant %s: segment %s is empty", row["tenant_id"], row["segment"])
    return out[list(SUMMARY_COLUMNS)]


def empty_segments(summary: pd.DataFrame) -> list[str]:
    """Human-readable notes naming the empty segments of a summary (for reports)."""
    empty = summary[summary["customers"] == 0]
    return [f"tenant {t}: segment {s} has no customers" for t, s in
            zip(empty["tenant_id"], empty["segment"], strict=True)]
