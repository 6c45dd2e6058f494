"""The outage-rerouting cost model, written once for the batch job and the HTTP service.

An open order's cost at a warehouse is its handling + distance cost (:mod:`envs.physics`, the
routing environment's own constants), plus a lateness penalty when the expected delivery
would break its promise, plus a small move penalty for leaving a warehouse that is still up.
Plain numpy: ``pipelines/reroute.py`` and ``serving/reroute.py`` both call
:func:`reroute_costs` and hand the penalised matrix to
``models.routing.mincostflow.min_cost_assign``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.physics import Physics, delivery_hours, shipping_cost
from oms.geo import haversine_km


@dataclass(frozen=True)
class RerouteParams(Physics):
    """Cost model of the rerouting batch: the routing physics plus the batch's penalties.

    Shipping cost and expected delivery hours come from :mod:`envs.physics` (the same
    ``cost_per_km``, ``speed_kmh`` and ``handling_hours`` as the routing environment; open
    orders are already past the cut-off question, so no shift wait or weather applies).

    Attributes:
        late_penalty: Cost added when the expected delivery breaks the promise.
        move_penalty: Cost of moving an order away from a warehouse that is still up.
        score_weight: Cost reduction per unit of router score (``scores`` input).
    """

    late_penalty: float = 5.0
    move_penalty: float = 0.5
    score_weight: float = 0.0


def reroute_costs(
    lat: np.ndarray, lon: np.ndarray, wh_lat: np.ndarray, wh_lon: np.ndarray,
    cost_per_order: np.ndarray, current: np.ndarray, promised: np.ndarray | None,
    p: RerouteParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base cost, expected hours and penalised cost per order × warehouse, each (N, W).

    Args:
        lat: Order latitudes, (N,).
        lon: Order longitudes, (N,).
        wh_lat: Warehouse latitudes, (W,).
        wh_lon: Warehouse longitudes, (W,).
        cost_per_order: Warehouse handling cost per order, (W,).
        current: Index of each order's current warehouse, ``-1`` when it has none, (N,).
        promised: Promised delivery hours per order (NaN or None: no promise), (N,).
        p: Cost model parameters.
    """
    dist = haversine_km(np.asarray(lat, float)[:, None], np.asarray(lon, float)[:, None],
                        np.asarray(wh_lat, float)[None, :], np.asarray(wh_lon, float)[None, :])
    base = shipping_cost(np.asarray(cost_per_order, float)[None, :], dist, p)
    hours = delivery_hours(dist, p)
    penal = base.copy()
    if promised is not None:
        late = np.nan_to_num(hours - np.asarray(promised, float)[:, None], nan=-1.0) > 0
        penal += np.where(late, p.late_penalty, 0.0)
    penal += p.move_penalty * (np.arange(len(wh_lat))[None, :] != np.asarray(current)[:, None])
    return base, hours, penal
