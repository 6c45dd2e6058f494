"""Weekly stock snapshots per warehouse × top SKU: depleted by shipments, replenished (s, S).

Only the ``scale.inventory_skus`` most popular SKUs are tracked, so the table stays bounded
at ``weeks × warehouses × inventory_skus`` rows whatever the order volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.generator.arrowcols import codes_col, const_col, date_col
from pipelines.generator.scales import Scale
from pipelines.generator.world import World, popularity

REORDER_WEEKS = 2.0  # reorder when stock falls under this many weeks of demand
ORDER_UP_TO_WEEKS = 5.0
SMOOTHING = 0.3


@dataclass
class Inventory:
    """Stock state carried across chunks."""

    kmap: np.ndarray  # sku index -> tracked index or -1
    skus: np.ndarray  # tracked sku indices
    on_hand: np.ndarray  # (W, K)
    incoming: np.ndarray  # (W, K) arriving next Monday
    forecast: np.ndarray  # (W, K) smoothed weekly demand
    week: np.ndarray  # (W, K) demand so far this week


def init_inventory(world: World, n_track: int, base_orders: float, scale: Scale) -> Inventory:
    """Start every tracked SKU at a few weeks of expected demand."""
    n_sku = len(world.sku_ids)
    k = min(n_track, n_sku)
    skus = np.flatnonzero(world.sku_rank < k)
    kmap = np.full(n_sku, -1)
    kmap[skus] = np.arange(len(skus))
    share = popularity(scale)[world.sku_rank[skus]]
    wh_share = world.wh_capacity / world.wh_capacity.sum()
    fc = base_orders * 2.4 * 1.4 * 7 * wh_share[:, None] * share[None, :]
    return Inventory(kmap=kmap, skus=skus, on_hand=np.round(4 * fc).astype(np.int64) + 5,
                     incoming=np.zeros_like(fc, dtype=np.int64), forecast=fc,
                     week=np.zeros_like(fc))


def advance(inv: Inventory, epoch_days: np.ndarray, line_day: np.ndarray, line_wh: np.ndarray,
            line_sku: np.ndarray, line_qty: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Run the chunk's days; returns ``(epoch_day, on_hand)`` snapshots taken on Mondays."""
    n_wh, k = inv.on_hand.shape
    n_days = len(epoch_days)
    tracked = (line_wh >= 0) & (line_sku >= 0)
    tracked[tracked] = inv.kmap[line_sku[tracked]] >= 0
    key = (line_day[tracked] * n_wh + line_wh[tracked]) * k + inv.kmap[line_sku[tracked]]
    units = np.bincount(key, weights=line_qty[tracked], minlength=n_days * n_wh * k)
    units = units.reshape(n_days, n_wh, k)
    snaps = []
    for d, day in enumerate(epoch_days):
        if (day + 3) % 7 == 0:  # Monday: receive, count, reorder
            inv.on_hand += inv.incoming
            snaps.append((int(day), inv.on_hand.copy()))
            inv.forecast = (1 - SMOOTHING) * inv.forecast + SMOOTHING * inv.week
            inv.week[:] = 0
            low = inv.on_hand < REORDER_WEEKS * inv.forecast
            inv.incoming = np.where(
                low, np.round(ORDER_UP_TO_WEEKS * inv.forecast - inv.on_hand), 0
            ).astype(np.int64).clip(0)
        inv.week += units[d]
        inv.on_hand = np.maximum(inv.on_hand - units[d].astype(np.int64), 0)
    return snaps


def snapshot_frame(inv: Inventory, snaps: list[tuple[int, np.ndarray]], world: World,
                   tenant_id: str) -> pd.DataFrame:
    """``inventory`` rows for the snapshots of one chunk."""
    if not snaps:
        return pd.DataFrame()
    n_wh, k = inv.on_hand.shape
    days = np.repeat([s[0] for s in snaps], n_wh * k)
    stock = np.concatenate([s[1].reshape(-1) for s in snaps])
    n = len(days)
    return pd.DataFrame({
        "tenant_id": const_col(tenant_id, n),
        "warehouse_id": codes_col(np.tile(np.repeat(np.arange(n_wh), k), len(snaps)),
                                  list(world.wh_ids)),
        "sku": codes_col(np.tile(np.tile(inv.skus, n_wh), len(snaps)), list(world.sku_ids)),
        "snapshot_date": date_col(days),
        "on_hand": stock.astype(np.int64),
    })
