"""Textbook inventory formulas: EOQ, normal safety stock, service-level checks.

EOQ is the one-line Harris formula ``sqrt(2 D S / H)``, kept inline: ``stockpyl`` 1.0.2 resolves
on the project's pins but installs Sphinx 4.5 and about 35 documentation packages as runtime
dependencies, too heavy for a square root. The normal safety stock ``z σ sqrt(P)`` is used
only where a series has no forecast quantiles (see :mod:`models.inventory.leadtime`).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


class InventoryInputError(ValueError):
    """Input the inventory policy cannot use; the message says what is wrong and where."""


def check_service_level(service_level: float) -> float:
    """Return ``service_level`` if it lies strictly inside (0, 1), else raise."""
    try:
        sl = float(service_level)
    except (TypeError, ValueError):
        raise InventoryInputError(f"service level must be a number in (0, 1), got "
                                  f"{service_level!r}") from None
    if not 0.0 < sl < 1.0 or not np.isfinite(sl):
        raise InventoryInputError(f"service level must be in (0, 1) (e.g. 0.95), got {sl}")
    return sl


def eoq(annual_demand: np.ndarray | float, ordering_cost: np.ndarray | float,
        holding_cost: np.ndarray | float) -> np.ndarray:
    """Economic order quantity ``sqrt(2 D S / H)`` (Harris 1913).

    Args:
        annual_demand: D, units per year (>= 0).
        ordering_cost: S, fixed cost per order (> 0).
        holding_cost: H, cost of holding one unit for a year (> 0).

    Raises:
        InventoryInputError: On negative demand or non-positive costs.
    """
    d, s, h = (np.asarray(v, dtype=float) for v in (annual_demand, ordering_cost, holding_cost))
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise InventoryInputError("annual demand must be finite and >= 0")
    if np.any(~(s > 0)) or np.any(~(h > 0)):
        raise InventoryInputError("ordering and holding costs must be > 0 for the EOQ")
    return np.sqrt(2.0 * d * s / h)


def z_value(service_level: float) -> float:
    """Standard normal quantile for a cycle service level (0.95 → 1.645)."""
    return float(norm.ppf(check_service_level(service_level)))


def normal_safety_stock(sigma_daily: np.ndarray | float, protection_days: np.ndarray | float,
                        service_level: float) -> np.ndarray:
    """Safety stock ``z σ sqrt(P)`` for i.i.d. normal daily demand over ``P`` days."""
    sigma = np.asarray(sigma_daily, dtype=float)
    days = np.asarray(protection_days, dtype=float)
    if np.any(sigma < 0) or np.any(days < 0):
        raise InventoryInputError("demand standard deviation and protection days must be >= 0")
    return z_value(service_level) * sigma * np.sqrt(days)


def normal_reorder_point(mean_daily: np.ndarray | float, sigma_daily: np.ndarray | float,
                         protection_days: np.ndarray | float, service_level: float) -> np.ndarray:
    """Reorder point ``μ P + z σ sqrt(P)`` under i.i.d. normal daily demand."""
    mean = np.asarray(mean_daily, dtype=float)
    return mean * np.asarray(protection_days, dtype=float) + normal_safety_stock(
        sigma_daily, protection_days, service_level)
