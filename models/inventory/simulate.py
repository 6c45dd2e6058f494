"""Day-by-day replay of an inventory policy against a demand history (lost sales).

One day, for every series at once: (1) receive the orders due today; (2) serve demand from
stock, unmet demand is lost and counted; (3) record the end-of-day stock; (4) on review days,
if the inventory position (stock + on order) is at or below ``s``, order ``S - position``;
the order arrives at the start of day ``t + L + 1`` (placed after closing, ``L`` full days in
transit), so one decision must cover ``L + R`` days of demand for a review period ``R``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.inventory.formulas import InventoryInputError


@dataclass
class SimResult:
    """Per-series outcome of a replay (arrays of shape (n_series,) unless noted)."""

    demand: np.ndarray
    sold: np.ndarray
    stockout_days: np.ndarray
    avg_on_hand: np.ndarray
    orders: np.ndarray
    on_hand: np.ndarray  # (n_series, days) end-of-day stock

    @property
    def fill_rate(self) -> np.ndarray:
        """Units sold / units demanded (1 where there was no demand)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.demand > 0, self.sold / self.demand, 1.0)


def simulate(demand: np.ndarray, lead_time: np.ndarray, s: np.ndarray, S: np.ndarray,
             review: np.ndarray, on_hand0: np.ndarray,
             adjust: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None
             ) -> SimResult:
    """Replay a lost-sales (s, S) policy with parameters that may change every day.

    Args:
        demand: (n, T) daily demand.
        lead_time: (n,) lead time in days (>= 0).
        s: (n, T) reorder point in force at the end of each day.
        S: (n, T) order-up-to level in force at the end of each day (>= ``s``).
        review: (n, T) or (T,) boolean, True where the policy may order at the day's end.
        on_hand0: (n,) stock at the start of the first day.
        adjust: Optional ``f(t, stock_trace, sales_trace) -> (n,)`` multiplier of ``s`` and
            ``S`` on day ``t``, from the traces up to and including ``t`` (e.g. the rule of
            thumb's × 0.8 for slow movers, which depends on the simulated stock).
    """
    demand = np.asarray(demand, dtype=float)
    n, T = demand.shape
    lead = np.asarray(lead_time, dtype=int)
    if lead.shape != (n,) or np.any(lead < 0):
        raise InventoryInputError("lead_time must be one non-negative integer per series")
    review = np.broadcast_to(np.asarray(review, dtype=bool), (n, T))
    pipeline = np.zeros((n, T + int(lead.max(initial=0)) + 2))
    stock = np.asarray(on_hand0, dtype=float).copy()
    sold = np.zeros(n)
    out_days = np.zeros(n)
    orders = np.zeros(n)
    trace = np.zeros((n, T))
    sales = np.zeros((n, T))
    rows = np.arange(n)
    for t in range(T):
        stock += pipeline[:, t]
        sale = np.minimum(stock, demand[:, t])
        sold += sale
        sales[:, t] = sale
        out_days += demand[:, t] > sale + 1e-9
        stock -= sale
        trace[:, t] = stock
        position = stock + pipeline[:, t + 1:].sum(axis=1)
        m = adjust(t, trace[:, :t + 1], sales[:, :t + 1]) if adjust is not None else 1.0
        lo, up = s[:, t] * m, S[:, t] * m
        place = review[:, t] & (position <= lo) & (up > position)
        qty = np.where(place, np.ceil(up - position), 0.0)
        pipeline[rows, t + lead + 1] += qty
        orders += place
    return SimResult(demand=demand.sum(axis=1), sold=sold, stockout_days=out_days,
                     avg_on_hand=trace.mean(axis=1), orders=orders, on_hand=trace)
