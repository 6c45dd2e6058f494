"""Inventory policy per SKU × warehouse from forecast quantiles, its baselines and a replay.

``InventoryPolicy().fit(history).predict(forecast, items)`` gives reorder point, safety
stock, order-up-to level, EOQ, ABC/XYZ classes, days of cover, stock-out probability within
the lead time, excess stock and the order to place now; ``simulate`` replays any (s, S)
policy day by day with lost sales.
"""

from models.inventory.baselines import base_stock_level, rule_of_thumb_level, turnover
from models.inventory.classify import abc_classes, weekly_cv, xyz_classes
from models.inventory.formulas import (
    InventoryInputError,
    eoq,
    normal_reorder_point,
    normal_safety_stock,
    z_value,
)
from models.inventory.leadtime import daily_samples, period_demand, quantile_knots
from models.inventory.policy import InventoryPolicy, reorder_levels
from models.inventory.simulate import SimResult, simulate

__all__ = [
    "InventoryInputError",
    "InventoryPolicy",
    "SimResult",
    "abc_classes",
    "base_stock_level",
    "daily_samples",
    "eoq",
    "normal_reorder_point",
    "normal_safety_stock",
    "period_demand",
    "quantile_knots",
    "reorder_levels",
    "rule_of_thumb_level",
    "simulate",
    "turnover",
    "weekly_cv",
    "xyz_classes",
    "z_value",
]
