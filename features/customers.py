"""Customer features at a cutoff date: RFM, gaps, returns, support, lateness, channel mix, churn.

The Spark twin lives in :mod:`features.spark_customers` and gives the same result.
"""

from __future__ import annotations

import pandas as pd


def rfm_scores(rfm: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Add ``r_score, f_score, m_score`` (1..n_bins, ntile within tenant) to an RFM frame.

    Args:
        rfm: Frame with ``tenant_id, customer_id, recency_days, frequency, monetary``.
        n_bins: Number of tiles.

    Returns:
        A copy of ``rfm`` with the three score columns.
    """
    raise NotImplementedError


def customer_features(
    orders: pd.DataFrame,
    order_events: pd.DataFrame | None,
    cutoff,
    horizon_days: int = 90,
    order_lines: pd.DataFrame | None = None,
    label: bool = True,
) -> pd.DataFrame:
    """One row per known customer with orders on or before ``cutoff``, plus the churn label.

    Args:
        orders: Contract ``orders``.
        order_events: Contract ``order_events`` (Returned events are used) or None.
        cutoff: Calendar day the features are computed at.
        horizon_days: Churn horizon: churned = no order in (cutoff, cutoff + horizon].
        order_lines: Unused for now (accepted for future line-level features).
        label: Compute the ``churned`` label (needs data up to cutoff + horizon).

    Returns:
        One row per customer with RFM values and scores, gaps, rates and the label.
    """
    raise NotImplementedError
