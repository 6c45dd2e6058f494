"""The two baseline policies the recommended policy is measured against.

* **Rule of thumb** (the design documents' rule in use today): recommended stock = predicted
  sales × 1.2, and × 0.8 on top when stock turnover is below 0.5. "Predicted sales" is the
  point forecast over the period the stock must cover (lead time + review period); turnover
  is sales over the last 30 days divided by the average stock on hand over them.
* **Base stock** (textbook, no forecaster): order up to ``μ P + z σ sqrt(P)`` every review,
  with μ and σ the mean and standard deviation of recent daily demand (normal approximation).
"""

from __future__ import annotations

import numpy as np

from models.inventory.formulas import normal_reorder_point

UPLIFT = 1.2
SLOW_FACTOR = 0.8
SLOW_TURNOVER = 0.5


def rule_of_thumb_level(predicted_sales: np.ndarray | float, turnover: np.ndarray | float,
                        uplift: float = UPLIFT, slow_factor: float = SLOW_FACTOR,
                        slow_turnover: float = SLOW_TURNOVER) -> np.ndarray:
    """Recommended stock of the rule: ``1.2 × predicted``, ``× 0.8`` if turnover < 0.5.

    Args:
        predicted_sales: Point forecast of sales over the covered period (units).
        turnover: Sales / average stock over the last 30 days (NaN = unknown = not slow).
        uplift: Multiplier on predicted sales (1.2).
        slow_factor: Extra multiplier for slow movers (0.8).
        slow_turnover: Turnover below which an item is a slow mover (0.5).
    """
    pred = np.clip(np.asarray(predicted_sales, dtype=float), 0, None)
    slow = np.nan_to_num(np.asarray(turnover, dtype=float), nan=np.inf) < slow_turnover
    return pred * uplift * np.where(slow, slow_factor, 1.0)


def base_stock_level(mean_daily: np.ndarray | float, std_daily: np.ndarray | float,
                     protection_days: np.ndarray | float, service_level: float) -> np.ndarray:
    """Order-up-to level of the plain base-stock policy (normal approximation, rounded up)."""
    return np.ceil(normal_reorder_point(mean_daily, std_daily, protection_days, service_level))


def turnover(sales_30d: np.ndarray | float, avg_on_hand_30d: np.ndarray | float) -> np.ndarray:
    """30-day turnover ``sales / average stock``; NaN when there was no stock (unknown)."""
    s = np.asarray(sales_30d, dtype=float)
    a = np.asarray(avg_on_hand_30d, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, s / a, np.nan)
