"""ABC classes by revenue and XYZ classes by demand variability (the value × velocity matrix)."""

from __future__ import annotations

import numpy as np
import pandas as pd

ABC_CUTS = (0.80, 0.95)  # cumulative revenue share closing classes A and B
XYZ_CUTS = (0.5, 1.0)  # coefficient of variation of weekly demand closing X and Y


def abc_classes(revenue: pd.Series, cuts: tuple[float, float] = ABC_CUTS) -> pd.Series:
    """A/B/C by cumulative revenue share: A up to 80 %, B up to 95 %, C the rest.

    An item is in the class in which its cumulative share *starts*, so the top seller is
    always A even if it alone makes more than 80 % of revenue.
    """
    rev = pd.to_numeric(revenue, errors="coerce").fillna(0.0).clip(lower=0)
    if rev.empty:
        return pd.Series([], dtype=object, index=rev.index)
    order = rev.sort_values(ascending=False, kind="stable")
    total = float(order.sum())
    start = (order.cumsum() - order) / total if total > 0 else pd.Series(1.0, index=order.index)
    cls = np.where(start < cuts[0], "A", np.where(start < cuts[1], "B", "C"))
    return pd.Series(cls, index=order.index).reindex(rev.index)


def weekly_cv(history: pd.DataFrame) -> pd.Series:
    """Coefficient of variation of weekly demand per ``unique_id`` (NaN without demand).

    Weekly buckets instead of days: daily CVs of intermittent items are dominated by zeros.
    """
    h = history[["unique_id", "ds", "y"]].copy()
    h["week"] = pd.to_datetime(h["ds"]).dt.to_period("W")
    w = h.groupby(["unique_id", "week"], sort=False)["y"].sum()
    g = w.groupby(level=0, sort=False)
    mean, std = g.mean(), g.std(ddof=0)
    return (std / mean.where(mean > 0)).rename("cv")


def xyz_classes(cv: pd.Series, cuts: tuple[float, float] = XYZ_CUTS) -> pd.Series:
    """X (CV < 0.5, steady), Y (< 1.0, variable), Z (erratic or no demand)."""
    c = pd.to_numeric(cv, errors="coerce")
    out = np.where(c < cuts[0], "X", np.where(c < cuts[1], "Y", "Z"))
    return pd.Series(out, index=cv.index)
