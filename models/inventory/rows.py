"""Item checks and the per-series arithmetic of :class:`~models.inventory.policy.InventoryPolicy`.

Bad input never drops a row: each problem becomes a note in the row's ``exception`` column,
and a row whose policy cannot be computed (no history and no forecast, a service level
outside (0, 1), a negative lead time) keeps its identity with empty numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from models.inventory import leadtime
from models.inventory.baselines import rule_of_thumb_level
from models.inventory.formulas import InventoryInputError, eoq
from models.inventory.review import next_review, order_up_to, review_period

RULE_REVIEW_DAYS = 7  # the rule of thumb is applied weekly
ITEM_COLUMNS = ("unique_id", "on_hand", "lead_time_days", "unit_cost")
OPTIONAL_DEFAULTS = {"on_order": 0.0, "unit_price": np.nan, "service_level": np.nan,
                     "sku": None, "warehouse_id": "", "turnover": np.nan}
OUTPUT_COLUMNS = [
    "unique_id", "sku", "warehouse_id", "method", "service_level", "lead_time_days",
    "review_days", "next_review", "protection_days", "mean_daily_demand",
    "lead_time_demand_mean", "safety_stock",
    "reorder_point", "eoq", "order_up_to", "on_hand", "on_order", "inventory_position",
    "days_of_cover", "stockout_probability", "expected_shortage", "value_at_risk",
    "excess_units", "excess_value", "reorder_now", "order_quantity", "order_value",
    "rule_stock", "unit_cost", "unit_price", "units_year", "cv", "xyz", "exception",
]


def prepare_items(items: pd.DataFrame, policy: Any) -> pd.DataFrame:
    """Check required columns, fill optional ones, derive review and protection periods.

    ``review_days`` is the policy's fixed period or, by default, each series' EOQ cycle on
    its fitted mean daily demand (``policy.stats_``), capped at ``policy.max_review_days``.
    """
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise InventoryInputError(f"items are missing column(s) {missing}")
    it = items.copy()
    it["unique_id"] = it["unique_id"].astype(str)
    dup = it["unique_id"].duplicated()
    if dup.any():
        raise InventoryInputError(f"duplicate unique_id(s) in items: "
                                  f"{it.loc[dup, 'unique_id'].head(3).tolist()}")
    for c, v in OPTIONAL_DEFAULTS.items():
        if c not in it.columns:
            it[c] = v
    it["sku"] = it["sku"].fillna(it["unique_id"])
    num = ["on_hand", "on_order", "lead_time_days", "unit_cost", "unit_price", "service_level",
           "turnover"]
    it[num] = it[num].apply(pd.to_numeric, errors="coerce").astype(float)
    it["unit_price"] = it["unit_price"].fillna(it["unit_cost"])
    it["service_level"] = it["service_level"].fillna(float(policy.service_level))
    it["on_order"] = it["on_order"].fillna(0.0)
    it["lead_used"] = it["lead_time_days"].fillna(float(policy.default_lead_time))
    if policy.review_days is not None:
        it["review_days"] = int(policy.review_days)
    else:
        mean = it["unique_id"].map(policy.stats_["mean"]).fillna(0.0).to_numpy(float)
        it["review_days"] = review_period(mean, it["unit_cost"].to_numpy(float),
                                          float(policy.ordering_cost),
                                          float(policy.holding_rate),
                                          int(policy.max_review_days))
    it["protection_days"] = it["lead_used"].clip(lower=0) + it["review_days"]
    it["default_lead"] = int(policy.default_lead_time)
    return it


def item_problems(item: Any, stats: pd.DataFrame, fc: dict[str, pd.DataFrame]) -> list[str]:
    """Human-readable problems of one item (empty list when it is clean)."""
    notes = []
    if item.unique_id not in stats.index:
        notes.append("no sales history")
    if item.unique_id not in fc:
        notes.append("no forecast" + ("" if item.unique_id not in stats.index
                                      else " (normal approximation from history)"))
    elif not leadtime.has_quantiles(fc[item.unique_id]):
        notes.append("forecast has no intervals (normal approximation from history)")
    if not item.unit_cost > 0:
        notes.append(f"unit cost {_fmt(item.unit_cost)} is not > 0 (no EOQ: order one week "
                     "of demand; no values)")
    if not 0 < item.service_level < 1:
        notes.append(f"service level {_fmt(item.service_level)} outside (0, 1)")
    if math.isnan(item.on_hand):
        notes.append("no stock record for this warehouse (0 on hand assumed)")
    elif item.on_hand < 0:
        notes.append(f"negative stock on hand ({_fmt(item.on_hand)})")
    if math.isnan(item.lead_time_days):
        notes.append(f"lead time unknown (default {item.default_lead} days used)")
    elif item.lead_time_days == 0:
        notes.append("lead time is 0 days (orders assumed to arrive the next morning)")
    elif item.lead_time_days < 0:
        notes.append(f"negative lead time ({_fmt(item.lead_time_days)})")
    return notes


def _fmt(v: float) -> str:
    return "missing" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:g}"


def _blank(item: Any, notes: list[str], stats: pd.DataFrame) -> dict[str, Any]:
    row = dict.fromkeys(OUTPUT_COLUMNS, np.nan)
    row.update(unique_id=item.unique_id, sku=item.sku, warehouse_id=item.warehouse_id,
               method="none", service_level=item.service_level,
               review_days=item.review_days,
               lead_time_days=item.lead_time_days, on_hand=item.on_hand,
               on_order=item.on_order, unit_cost=item.unit_cost, unit_price=item.unit_price,
               reorder_now=False, exception="; ".join(notes) or "policy not computed")
    if item.unique_id in stats.index:
        st = stats.loc[item.unique_id]
        row.update(units_year=st["units_year"], cv=st["cv"], xyz=st["xyz"])
    else:
        row.update(units_year=0.0, xyz="Z")
    return row


def series_row(item: Any, sampled: tuple[np.ndarray, str] | None, policy: Any,
               notes: list[str], period: np.ndarray | None = None,
               as_of: pd.Timestamp | None = None) -> dict[str, Any]:
    """The (R, S) policy numbers of one item (see :data:`OUTPUT_COLUMNS`).

    ``period``: samples of demand over the protection period from a period forecaster
    (used for S when given); ``sampled``: daily samples (lead-time risk, fallback for S).
    ``reorder_point`` is ``S - 1``: a review orders when the position is at or below it.
    """
    fatal = ((sampled is None and period is None) or not 0 < item.service_level < 1
             or (item.lead_time_days < 0))
    row = _blank(item, notes, policy.stats_)
    if fatal:
        return row
    lead, R, days = int(item.lead_used), int(item.review_days), int(item.protection_days)
    daily, method = sampled if sampled is not None else (None, "period_quantiles")
    if period is not None:
        total, method = period, "period_quantiles"
        mean = float(total.mean()) / max(days, 1)
    else:
        total = leadtime.period_demand(daily, min(days, daily.shape[1]))
        mean = float(daily.mean())
    if policy.service_type == "cycle":
        up_to = leadtime.reorder_point(total, item.service_level, "cycle")
    else:
        up_to = order_up_to(total, item.service_level, R, days)
    on_hand = 0.0 if math.isnan(item.on_hand) else max(float(item.on_hand), 0.0)
    position = on_hand + float(item.on_order)
    ltd = (leadtime.period_demand(daily, min(lead, daily.shape[1])) if daily is not None
           else total * lead / max(days, 1))
    short = np.clip(ltd - position, 0, None)
    review = next_review(item.unique_id, as_of or pd.Timestamp.now().normalize(), R)
    due = bool(review == (as_of or pd.Timestamp.now().normalize()) and position < up_to)
    order = float(np.ceil(up_to - position)) if due else 0.0
    rule = rule_of_thumb_level(mean * (lead + RULE_REVIEW_DAYS), item.turnover)
    cost = item.unit_cost if item.unit_cost > 0 else np.nan
    row.update(
        method=method, review_days=R, next_review=f"{review:%Y-%m-%d}", protection_days=days,
        mean_daily_demand=mean, lead_time_demand_mean=float(total.mean()),
        safety_stock=up_to - float(total.mean()), reorder_point=up_to - 1,
        eoq=_eoq(mean, item, policy), order_up_to=up_to, on_hand=on_hand,
        inventory_position=position,
        days_of_cover=on_hand / mean if mean > 0 else np.inf,
        stockout_probability=float((ltd > position + 1e-9).mean()),
        expected_shortage=float(short.mean()),
        value_at_risk=float(short.mean()) * max(float(item.unit_price), 0.0),
        excess_units=max(on_hand - up_to, 0.0), excess_value=max(on_hand - up_to, 0.0) * cost,
        reorder_now=due, order_quantity=order, order_value=order * cost,
        rule_stock=float(np.ceil(rule)), exception="; ".join(notes))
    return row


def _eoq(mean: float, item: Any, policy: Any) -> float:
    if not item.unit_cost > 0:
        return np.nan
    return float(eoq(mean * 365, float(policy.ordering_cost),
                     float(policy.holding_rate) * item.unit_cost))
