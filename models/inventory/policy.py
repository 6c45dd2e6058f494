"""The recommended inventory policy per SKU × warehouse, from forecast quantiles.

The shipped policy is periodic review, order up to (R, S) (:mod:`models.inventory.review`):
each series is reviewed every ``R`` days, ``R`` = its EOQ cycle (EOQ / mean daily demand)
rounded to days and capped at ``max_review_days`` (or a fixed ``review_days``); at a review
it orders ``S - position`` when stock + on order is below ``S``. The default cap,
:data:`models.inventory.review.SHIPPED_MAX_REVIEW_DAYS` = 1, was chosen on the validation
quarter of the policy backtest (``bench/inventory.py``: among caps 1, 2, 3 and 7 days only
R = 1 held at least 15 % less stock than the ×1.2 rule at a 95 % fill), so by default the
policy is a daily order-up-to level: the least stock, but an order on most days (ordering
cost above the rule's; see ``bench/results/inventory.md``). A longer cap trades stock for
fewer orders (cap 7 had the lowest total cost but more stock than the rule).

Service level means **fill rate** by default (``service_type="fill_rate"``): the share of
demand served from stock, i.e. expected units short per review cycle at most
``(1 - target) × R × mean``. ``service_type="cycle"`` switches to the cycle service level:
the probability that demand over the protection period (lead time + review period) does not
exceed ``S``. Both are read off samples of protection-period demand: from the direct
lead-time-demand quantiles of :class:`models.inventory.quantile_gbm.LeadTimeDemandGBM` when
``predict`` gets a ``period_forecast`` (method ``period_quantiles``), else from the daily
forecaster's quantiles (:mod:`models.inventory.leadtime`, method ``quantiles``); a normal
approximation from history is used only for series whose forecast has no intervals or that
have no forecast at all (method ``normal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.inventory import leadtime
from models.inventory.classify import abc_classes, weekly_cv, xyz_classes
from models.inventory.formulas import InventoryInputError, check_service_level
from models.inventory.review import SHIPPED_MAX_REVIEW_DAYS
from models.inventory.rows import (
    OUTPUT_COLUMNS,
    item_problems,
    prepare_items,
    series_row,
)

RECENT_DAYS = 91  # history window for demand statistics (one quarter)


class InventoryPolicy:
    """Reorder point, order-up-to level and order quantity per series (sklearn-style).

    Args:
        service_level: Target service level in (0, 1).
        service_type: ``fill_rate`` (default) or ``cycle`` (see the module docstring).
        ordering_cost: Fixed cost per purchase order line (currency units, > 0).
        holding_rate: Yearly holding cost as a share of unit cost (> 0; 0.25 = 25 %/year).
        review_days: Days between reviews for every series; ``None`` (default) = each
            series' EOQ cycle rounded to days, capped at ``max_review_days``.
        default_lead_time: Lead time used, with an exception noted, where none is known.
        max_review_days: Cap on the EOQ-derived review period (days).
        n_samples: Monte Carlo samples of lead-time demand.
        rho: Day-to-day dependence of forecast errors (see :mod:`models.inventory.leadtime`).
        seed: Random seed of the samples.
    """

    def __init__(self, service_level: float = 0.95, service_type: str = "fill_rate",
                 ordering_cost: float = 10.0,
                 holding_rate: float = 0.25, review_days: int | None = None,
                 default_lead_time: int = 7,
                 max_review_days: int = SHIPPED_MAX_REVIEW_DAYS, n_samples: int = 2000,
                 rho: float = 0.25,
                 seed: int = 0) -> None:
        self.service_level = service_level
        self.service_type = service_type
        self.ordering_cost = ordering_cost
        self.holding_rate = holding_rate
        self.review_days = review_days
        self.default_lead_time = default_lead_time
        self.max_review_days = max_review_days
        self.n_samples = n_samples
        self.rho = rho
        self.seed = seed

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn contract, so ``sklearn.clone`` works)."""
        return {k: getattr(self, k) for k in (
            "service_level", "service_type", "ordering_cost", "holding_rate", "review_days",
            "default_lead_time", "max_review_days", "n_samples", "rho", "seed")}

    def set_params(self, **params: Any) -> InventoryPolicy:
        """Set constructor parameters."""
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"InventoryPolicy has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def _check_params(self) -> None:
        check_service_level(self.service_level)
        if self.service_type not in ("fill_rate", "cycle"):
            raise InventoryInputError(f"service_type must be 'fill_rate' or 'cycle', got "
                                      f"{self.service_type!r}")
        if not float(self.ordering_cost) > 0 or not float(self.holding_rate) > 0:
            raise InventoryInputError("ordering_cost and holding_rate must be > 0")
        if self.review_days is not None and int(self.review_days) < 1:
            raise InventoryInputError(f"review_days must be >= 1, got {self.review_days}")
        if int(self.max_review_days) < 1:
            raise InventoryInputError(f"max_review_days must be >= 1, got "
                                      f"{self.max_review_days}")

    def fit(self, history: pd.DataFrame) -> InventoryPolicy:
        """Learn demand statistics per series from ``unique_id, ds, y`` (daily units).

        Sets ``stats_`` (mean, std over the last quarter, units over the last year, weekly CV,
        XYZ class) indexed by ``unique_id``.
        """
        self._check_params()
        missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
        if missing:
            raise InventoryInputError(f"history is missing column(s) {missing}")
        h = history[["unique_id", "ds", "y"]].copy()
        h["unique_id"] = h["unique_id"].astype(str)
        h["ds"] = pd.to_datetime(h["ds"])
        h["y"] = pd.to_numeric(h["y"], errors="coerce")
        if h["y"].isna().any() or (h["y"] < 0).any():
            raise InventoryInputError("history y must be numeric and >= 0")
        end = h["ds"].max()
        recent = h[h["ds"] > end - pd.Timedelta(days=RECENT_DAYS)]
        year = h[h["ds"] > end - pd.Timedelta(days=365)]
        stats = pd.DataFrame({
            "mean": recent.groupby("unique_id")["y"].mean(),
            "std": recent.groupby("unique_id")["y"].std(ddof=0),
            "units_year": year.groupby("unique_id")["y"].sum(),
            "cv": weekly_cv(year),
        })
        stats["xyz"] = xyz_classes(stats["cv"])
        self.stats_ = stats.fillna({"mean": 0.0, "std": 0.0, "units_year": 0.0})
        self.ids_ = pd.Index(stats.index)
        return self

    def predict(self, forecast: pd.DataFrame, items: pd.DataFrame,
                period_forecast: pd.DataFrame | None = None,
                as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """One recommendation row per item, in item order; exceptions are listed, not dropped.

        Args:
            forecast: Long format ``unique_id, ds, yhat`` (+ ``yhat-lo-L``/``yhat-hi-L``),
                starting the day after the stock count (daily; charts, lead-time risk).
            items: ``unique_id, on_hand, lead_time_days, unit_cost`` and optionally
                ``on_order, unit_price, service_level, sku, warehouse_id`` (see
                :data:`models.inventory.rows.ITEM_COLUMNS`).
            period_forecast: Optional quantiles of demand over each series' protection
                period (:meth:`LeadTimeDemandGBM.predict` with the periods of
                :meth:`protection_days`); used for S where its ``period_days`` match.
            as_of: Decision date (end of day), for the review calendar; default: today.

        Returns:
            :data:`models.inventory.rows.OUTPUT_COLUMNS`; ``exception`` says what was wrong
            or assumed for a row (empty when nothing).
        """
        if not hasattr(self, "stats_"):
            raise RuntimeError("InventoryPolicy is not fitted yet; call fit(history) first")
        self._check_params()
        items = prepare_items(items, self)
        fc = _forecast_by_id(forecast)
        period = _forecast_by_id(period_forecast, daily=False)
        as_of = pd.Timestamp(as_of if as_of is not None else pd.Timestamp.now()).normalize()
        rows = []
        for item in items.itertuples(index=False):
            notes = item_problems(item, self.stats_, fc)
            rows.append(series_row(item, self._samples(item, fc), self, notes,
                                   self._period_samples(item, period), as_of))
        out = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
        out["revenue"] = out["units_year"] * out["unit_price"].where(out["unit_price"] > 0, 0)
        out["abc"] = abc_classes(out["revenue"])
        return out

    def protection_days(self, items: pd.DataFrame) -> pd.Series:
        """Protection period ``L + R`` per ``unique_id`` (for a period forecaster)."""
        if not hasattr(self, "stats_"):
            raise RuntimeError("InventoryPolicy is not fitted yet; call fit(history) first")
        it = prepare_items(items, self)
        return pd.Series(it["protection_days"].astype(int).to_numpy(), index=it["unique_id"])

    def _samples(self, item: Any, fc: dict[str, pd.DataFrame]) -> tuple[np.ndarray, str] | None:
        """Daily demand samples and the method used, or None without data to sample from."""
        days = int(item.protection_days)
        g = fc.get(item.unique_id)
        if g is not None and len(g) >= days and leadtime.has_quantiles(g):
            return leadtime.daily_samples(g, self.n_samples, self.rho, self.seed), "quantiles"
        if item.unique_id in self.stats_.index:
            st = self.stats_.loc[item.unique_id]
            mean = float(g["yhat"].mean()) if g is not None and len(g) else float(st["mean"])
            return leadtime.normal_daily_samples(mean, float(st["std"]), max(days, 1),
                                                 self.n_samples, self.seed), "normal"
        return None

    def _period_samples(self, item: Any, period: dict[str, pd.DataFrame]) -> np.ndarray | None:
        g = period.get(item.unique_id)
        if g is None or int(g["period_days"].iat[0]) != int(item.protection_days):
            return None
        return leadtime.daily_samples(g.iloc[[0]], self.n_samples, 0.0, self.seed)[:, 0]

def _forecast_by_id(forecast: pd.DataFrame | None, daily: bool = True
                    ) -> dict[str, pd.DataFrame]:
    if forecast is None or len(forecast) == 0:
        return {}
    need = ("unique_id", "ds", "yhat") if daily else ("unique_id", "period_days", "yhat")
    missing = [c for c in need if c not in forecast.columns]
    if missing:
        raise InventoryInputError(f"forecast is missing column(s) {missing}")
    f = forecast.assign(unique_id=forecast["unique_id"].astype(str))
    if daily:
        f = f.sort_values(["unique_id", "ds"], kind="stable")
    return {str(k): g.reset_index(drop=True) for k, g in f.groupby("unique_id", sort=False)}


def reorder_levels(daily: np.ndarray, protection_days: int, service_levels: Sequence[float],
                   service_type: str = "fill_rate", batch: float = 1.0) -> np.ndarray:
    """Reorder points for several service levels from the same daily demand samples."""
    total = leadtime.period_demand(daily, protection_days)
    return np.array([leadtime.reorder_point(total, check_service_level(s), service_type, batch)
                     for s in service_levels])
