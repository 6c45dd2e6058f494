"""Episode specs for warehouse routing: a synthetic sampler and a builder from lake rows.

An :class:`EpisodeSpec` is everything an episode needs, fixed up front: the warehouse
network, stock and its replenishment schedule, the order stream and outage windows. The
environment replays a spec step by step; the clairvoyant baseline solves the same spec in
hindsight. Specs come either from :func:`sample_episode` (seeded, synthetic) or from
:func:`build_episode` (real rows from the lake's contract tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oms.contract import CUSTOMER_TIERS, WEATHER
from oms.geo import haversine_km

TIER_INDEX = {t: i for i, t in enumerate(CUSTOMER_TIERS)}
WEATHER_INDEX = {w: i for i, w in enumerate(WEATHER)}


@dataclass
class Network:
    """The warehouse network.

    Attributes:
        warehouse_ids: Warehouse ids, in action order.
        lat: Latitudes, shape (W,).
        lon: Longitudes, shape (W,).
        capacity: Orders each warehouse can ship per period (day), shape (W,).
        cost_per_order: Handling cost per order, shape (W,).
    """

    warehouse_ids: list[str]
    lat: np.ndarray
    lon: np.ndarray
    capacity: np.ndarray
    cost_per_order: np.ndarray

    @property
    def n(self) -> int:
        """Number of warehouses."""
        return len(self.warehouse_ids)

    def distances(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Distances in km from points (N,) to every warehouse, shape (N, W)."""
        return haversine_km(np.asarray(lat)[:, None], np.asarray(lon)[:, None],
                            self.lat[None, :], self.lon[None, :])


@dataclass
class EpisodeSpec:
    """One episode, fixed up front (replayable).

    Attributes:
        network: The warehouses.
        skus: SKU ids (column order of the stock arrays).
        initial_stock: Units on hand at the start, shape (W, S).
        replenishment: Units arriving at the start of each period, shape (P, W, S);
            period 0's row is added to the initial stock.
        period: Period (day index) of each order, shape (N,), non-decreasing.
        hour: Hour of day of each order, 0..24.
        value: Order value.
        tier: Customer tier index (0 bronze .. 3 platinum).
        lat: Customer latitude.
        lon: Customer longitude.
        sku: SKU index of the order.
        qty: Units ordered.
        promised_hours: Promised delivery time in hours.
        weather: Weather index (see ``oms.contract.WEATHER``).
        promo: Promotion intensity 0..1 on the order's day.
        down: Whether each warehouse is down when each order arrives, shape (N, W).
        order_ids: Source order ids (replayed episodes) or generated ids.
    """

    network: Network
    skus: list[str]
    initial_stock: np.ndarray
    replenishment: np.ndarray
    period: np.ndarray
    hour: np.ndarray
    value: np.ndarray
    tier: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sku: np.ndarray
    qty: np.ndarray
    promised_hours: np.ndarray
    weather: np.ndarray
    promo: np.ndarray
    down: np.ndarray
    order_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.period)
        if not self.order_ids:
            self.order_ids = [f"o{i:06d}" for i in range(n)]
        if np.isnan(self.lat).any() or np.isnan(self.lon).any():
            raise ValueError("episode has orders with NaN coordinates; reject them first "
                             "(build_episode returns them as rejected rows)")
        if self.down.shape != (n, self.network.n):
            raise ValueError(f"down must have shape {(n, self.network.n)}, got {self.down.shape}")
        if n and np.any(np.diff(self.period) < 0):
            raise ValueError("orders must be sorted by period")
        self.dist_km = self.network.distances(self.lat, self.lon)

    @property
    def n_orders(self) -> int:
        """Number of orders (steps)."""
        return len(self.period)

    @property
    def n_periods(self) -> int:
        """Number of periods (days)."""
        return int(self.replenishment.shape[0])


@dataclass(frozen=True)
class SamplerConfig:
    """Knobs of the synthetic episode sampler.

    The defaults make foresight pay: most demand sits near two hub warehouses whose daily
    capacity and stock are scarce, customers of higher tiers are promised faster delivery,
    one day of each episode may carry a promotion wave, and a warehouse may go down.
    """

    n_warehouses: int = 5
    n_skus: int = 8
    n_periods: int = 3
    orders_per_period: float = 40.0
    promo_lift: float = 0.8
    promo_probability: float = 0.5
    outage_probability: float = 0.3
    demand_share: tuple[float, ...] = (0.35, 0.3, 0.15, 0.1, 0.1)
    capacity_share: float = 1.4
    capacity_follows_demand: float = 0.3
    stock_cover: float = 3.0
    stock_follows_demand: float = 0.3
    network_seed: int = 7
    tier_probs: tuple[float, ...] = (0.45, 0.3, 0.17, 0.08)
    promise_hours: tuple[float, ...] = (48.0, 30.0, 16.0, 10.0)


def sample_network(cfg: SamplerConfig) -> Network:
    """A fixed warehouse network drawn from ``cfg.network_seed`` (same for every episode)."""
    rng = np.random.default_rng(cfg.network_seed)
    w = cfg.n_warehouses
    lat = 31.0 + rng.uniform(-3.5, 3.5, w)
    lon = 117.0 + rng.uniform(-4.5, 4.5, w)
    share = _demand_share(cfg)
    # Hubs (high demand share) get less capacity than their local demand: near slots are scarce.
    cap = np.maximum(3, np.round(cfg.orders_per_period * cfg.capacity_share
                                 * (cfg.capacity_follows_demand * share
                                    + (1 - cfg.capacity_follows_demand) / w))).astype(np.int64)
    cost = np.round(rng.uniform(1.5, 3.5, w), 2)
    ids = [f"WH{i + 1:02d}" for i in range(w)]
    return Network(ids, lat, lon, cap, cost)


def _demand_share(cfg: SamplerConfig) -> np.ndarray:
    share = np.resize(np.asarray(cfg.demand_share, dtype=float), cfg.n_warehouses)
    return share / share.sum()


def sample_episode(rng: np.random.Generator, cfg: SamplerConfig | None = None,
                   network: Network | None = None) -> EpisodeSpec:
    """Draw one synthetic episode; all randomness comes from ``rng``.

    Args:
        rng: The caller's generator (the environment passes ``self.np_random``).
        cfg: Sampler knobs.
        network: Warehouse network (defaults to :func:`sample_network` of ``cfg``).

    Returns:
        A replayable episode spec.
    """
    cfg = cfg or SamplerConfig()
    net = network or sample_network(cfg)
    w, s, p = net.n, cfg.n_skus, cfg.n_periods
    share = _demand_share(cfg) if len(cfg.demand_share) else np.full(w, 1 / w)
    if share.size != w:
        share = np.full(w, 1 / w)
    promo_day = int(rng.integers(p)) if rng.random() < cfg.promo_probability else -1
    promo = np.where(np.arange(p) == promo_day, rng.uniform(0.5, 1.0), 0.0)
    counts = rng.poisson(cfg.orders_per_period * (1 + cfg.promo_lift * promo))
    period = np.repeat(np.arange(p), counts)
    n = int(period.size)
    hour = np.concatenate([np.sort(rng.uniform(6, 23, c)) for c in counts]) if n else np.zeros(0)
    home = rng.choice(w, size=n, p=share)
    lat = net.lat[home] + rng.normal(0, 0.6, n)
    lon = net.lon[home] + rng.normal(0, 0.6, n)
    tier = rng.choice(4, size=n, p=np.asarray(cfg.tier_probs) / np.sum(cfg.tier_probs))
    value = np.round(rng.lognormal(4.0 + 0.35 * tier, 0.5), 2)
    pop = 1.0 / np.arange(1, s + 1)
    pop /= pop.sum()
    sku = rng.choice(s, size=n, p=pop)
    qty = np.ones(n, dtype=np.int64)
    promised = np.asarray(cfg.promise_hours)[tier]
    weather = rng.choice(len(WEATHER), size=p, p=[0.4, 0.3, 0.18, 0.07, 0.05])[period]
    # Stock: each warehouse holds about a day of the demand it would see if every order
    # went to its nearest warehouse, shuffled so that hubs run short of some SKUs.
    f = cfg.stock_follows_demand
    daily = cfg.orders_per_period * cfg.stock_cover * np.outer(f * share + (1 - f) / w, pop)
    initial = rng.poisson(daily * rng.uniform(0.4, 1.6, (w, s))).astype(np.int64)
    repl = rng.poisson(np.broadcast_to(daily * 0.9, (p, w, s))).astype(np.int64)
    repl[0] = 0
    down = np.zeros((n, w), dtype=bool)
    if n > 10 and rng.random() < cfg.outage_probability:
        wh = int(rng.integers(w))
        start = int(rng.integers(0, n - 5))
        down[start:start + int(rng.integers(10, max(11, n // 3))), wh] = True
    return EpisodeSpec(
        network=net, skus=[f"SKU{j:03d}" for j in range(s)], initial_stock=initial,
        replenishment=repl, period=period, hour=hour, value=value, tier=tier, lat=lat,
        lon=lon, sku=sku, qty=qty, promised_hours=promised.astype(float), weather=weather,
        promo=promo[period] if n else np.zeros(0), down=down,
    )
