"""The routing observation layout: one ordered spec (name → slice) for every reader.

The environment assembles its observation from named parts in this order; the DQN's greedy
prior and shared residual head read the same parts back by name, so no reader hard-codes an
offset. Every value is scaled into [0, 1] (then clipped):

==============  ======  =========================================================
name            size    value
==============  ======  =========================================================
value           1       order value ÷ ``value_scale``
tier            1       customer tier index ÷ 3 (bronze 0 … platinum 1)
promised_hours  1       promised hours ÷ ``hours_scale``
hour            1       hour of day ÷ 24
promo           1       promotion intensity
qty             1       units ordered ÷ ``stock_scale``
weather         5       one-hot weather (``oms.contract.WEATHER``)
dist            W       distance to each warehouse ÷ ``max_dist_km``
cost            W       shipping cost ÷ the env's ``cost_scale``
load            W       orders already assigned today ÷ capacity
stock           W       units of the order's SKU on hand ÷ ``stock_scale``
up              W       1 if the warehouse is running
hours           W       delivery hours now (with queue delay) ÷ (``HOURS_FACTOR`` × hours_scale)
on_time         W       1 if that delivery keeps the promise
==============  ======  =========================================================

With ``extended=True`` (the hard scenarios, :class:`envs.scenarios.Scenario`) two order
fields follow the order block and six per-warehouse fields follow the warehouse blocks:

==============  ======  =========================================================
day             1       period ÷ (periods − 1)
to_repl         1       days until the next stock arrival ÷ the replenishment cycle
open            W       1 if the warehouse may take the order (the action mask)
backlog         W       orders carried over from earlier days ÷ capacity
cover           W       stock of the SKU ÷ (expected demand for it near the warehouse
                        until the next arrival + 1), ÷ 2
hi_cover        W       the same against gold/platinum demand only, ÷ 4
today           W       expected further orders near the warehouse today ÷ the
                        capacity it has left today, ÷ 2
price           W       bid price of the order's SKU and the warehouse's capacity
                        (:mod:`envs.bidprice`) ÷ ``PRICE_SCALE``
==============  ======  =========================================================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from oms.contract import WEATHER

ORDER_FIELDS: tuple[tuple[str, int], ...] = (
    ("value", 1), ("tier", 1), ("promised_hours", 1), ("hour", 1), ("promo", 1), ("qty", 1),
    ("weather", len(WEATHER)),
)
WAREHOUSE_FIELDS: tuple[str, ...] = ("dist", "cost", "load", "stock", "up", "hours", "on_time")
EXTENDED_ORDER_FIELDS: tuple[tuple[str, int], ...] = (("day", 1), ("to_repl", 1))
EXTENDED_WAREHOUSE_FIELDS: tuple[str, ...] = ("open", "backlog", "cover", "hi_cover", "today",
                                              "price")
PRICE_SCALE = 2.0  # the price block is the bid price ÷ 2 (reward units)
HOURS_FACTOR = 2.0  # the hours block is divided by 2 × hours_scale (late deliveries fit in 1)


@dataclass(frozen=True)
class ObservationSpec:
    """Observation layout for ``n_warehouses`` (``extended``: the hard scenarios)."""

    n_warehouses: int
    extended: bool = False

    @property
    def order_fields(self) -> tuple[tuple[str, int], ...]:
        """(name, size) of the order block."""
        return ORDER_FIELDS + (EXTENDED_ORDER_FIELDS if self.extended else ())

    @property
    def warehouse_fields(self) -> tuple[str, ...]:
        """Names of the per-warehouse blocks, in order."""
        return WAREHOUSE_FIELDS + (EXTENDED_WAREHOUSE_FIELDS if self.extended else ())

    @property
    def fields(self) -> tuple[tuple[str, int], ...]:
        """(name, size) in observation order."""
        return self.order_fields + tuple((n, self.n_warehouses) for n in self.warehouse_fields)

    @functools.cached_property
    def slices(self) -> dict[str, slice]:
        """Name → slice of the flat observation (computed once per spec)."""
        out, start = {}, 0
        for name, size in self.fields:
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def order_size(self) -> int:
        """Length of the order block (everything before the per-warehouse blocks)."""
        return sum(size for _, size in self.order_fields)

    @functools.cached_property
    def size(self) -> int:
        """Length of the observation."""
        return sum(size for _, size in self.fields)

    def assemble(self, parts: dict[str, Any]) -> np.ndarray:
        """The observation (float32, clipped to [0, 1]) from a value per field name.

        Called once per environment step: each part is written into its slice of one
        preallocated array (no per-part temporaries).
        """
        out = np.empty(self.size, dtype=np.float64)
        try:
            for name, where in self.slices.items():
                out[where] = parts[name]
        except KeyError:
            missing = [n for n, _ in self.fields if n not in parts]
            raise ValueError(f"observation parts missing: {missing}") from None
        np.clip(out, 0.0, 1.0, out=out)
        return out.astype(np.float32)

    def read(self, obs: Any, name: str) -> Any:
        """Field ``name`` of a batch of observations, shape (N, size of the field)."""
        return obs[:, self.slices[name]]

    def warehouse_blocks(self, obs: Any) -> Any:
        """Per-warehouse fields of a batch as (N, W, len(warehouse_fields)) (numpy or torch)."""
        k = len(self.warehouse_fields)
        return obs[:, self.order_size:].reshape(-1, k, self.n_warehouses).swapaxes(1, 2)
