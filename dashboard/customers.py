"""Customers page data: RFM segments, churn-probability distribution, retention actions.

All from the ``churn_*`` outputs of the churn scoring job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.data import NoData, Sources, output

HOW = "the churn scoring job (oms-ml score churn, or the daily batch)"


def segments(src: Sources, tenant: str) -> pd.DataFrame:
    """RFM segments: ``segment, customers, revenue, customer_share, revenue_share``."""
    df = output(src, "churn_segments", tenant, "customer segments", HOW)
    return df.sort_values("revenue", ascending=False, ignore_index=True)


def scores(src: Sources, tenant: str) -> pd.DataFrame:
    """The latest churn scores (one row per scored customer)."""
    return output(src, "churn_scores", tenant, "churn scores", HOW)


def churn_histogram(scored: pd.DataFrame, bins: int = 20) -> pd.DataFrame:
    """Customers per churn-probability bin: ``bin_start, bin_end, customers``.

    Raises:
        NoData: No customer has a probability.
    """
    p = scored["churn_probability"].dropna().astype(float).clip(0, 1)
    if p.empty:
        raise NoData("The churn scores hold no probability.")
    counts, edges = np.histogram(p, bins=bins, range=(0.0, 1.0))
    return pd.DataFrame({"bin_start": edges[:-1].round(3), "bin_end": edges[1:].round(3),
                         "customers": counts})


def retention_actions(scored: pd.DataFrame) -> pd.DataFrame:
    """Planned actions per strategy: customers, coupon budget, mean churn probability."""
    if "strategy" not in scored.columns:
        raise NoData("The churn scores carry no retention strategy (an older scoring run).")
    coupon = (scored["coupon_amount"].fillna(0).astype(float)
              if "coupon_amount" in scored.columns else pd.Series(0.0, index=scored.index))
    out = (scored.assign(coupon=coupon).groupby("strategy", observed=True)
           .agg(customers=("customer_id", "size"), coupon_budget=("coupon", "sum"),
                mean_churn_probability=("churn_probability", "mean"))
           .reset_index().sort_values("customers", ascending=False, ignore_index=True))
    out["mean_churn_probability"] = out["mean_churn_probability"].astype(float).round(3)
    return out
