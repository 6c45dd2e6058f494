"""Episode specs for warehouse routing: a synthetic sampler and a builder from lake rows.

An :class:`EpisodeSpec` is everything an episode needs, fixed up front: the warehouse
network, stock and its replenishment schedule, the order stream and outage windows. The
environment replays a spec step by step; the clairvoyant baseline solves the same spec in
hindsight. Specs come either from :func:`sample_episode` (seeded, synthetic) or from
:func:`build_episode` (real rows from the lake's contract tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def __post_init__(self) -> None:
        n = len(self.warehouse_ids)
        for name in ("lat", "lon", "capacity", "cost_per_order"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"network {name} must have shape ({n},), "
                                 f"got {np.shape(getattr(self, name))}")
        if (np.asarray(self.capacity) < 0).any():
            raise ValueError("warehouse capacity must be >= 0 (0 means it ships nothing)")

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
        forecast: Expected-demand model of a replayed stream
            (:class:`envs.replay_demand.ReplayForecast`, estimated from earlier orders);
            ``None``: the scenario sampler's own (:class:`envs.demand.DemandForecast`).
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
    forecast: Any = None

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

    The defaults (the ``easy`` scenario): most demand sits near two hub warehouses whose daily
    capacity and stock are scarce, customers of higher tiers are promised faster delivery,
    one day of each episode may carry a promotion wave, a warehouse may go down, and stock is
    replenished every morning. The hard knobs (all off by default, see :data:`SCENARIOS`):
    ``replenish_every`` N days (``replenish_scale`` of the cover per arrival),
    ``festival_days`` × ``festival_regions`` with demand × U(``festival_lift``), a forced
    ``outage_mid`` of a hub for ``outage_days`` in the middle of the episode, and
    ``tier_hours`` (per tier, the window of the day its customers arrive in).
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
    replenish_every: int = 1
    replenish_scale: float = 0.9
    festival_days: tuple[int, ...] = ()
    festival_regions: tuple[int, ...] = ()
    festival_lift: tuple[float, float] = (3.0, 5.0)
    outage_mid: bool = False
    outage_days: int = 1
    tier_hours: tuple[tuple[float, float], ...] = ()

    @property
    def is_easy(self) -> bool:
        """Whether none of the hard-scenario knobs is on (the original sampler, draw for draw)."""
        return (self.replenish_every == 1 and not self.festival_days and not self.outage_mid
                and not self.tier_hours)

    def tier_window(self, tier: int) -> tuple[float, float]:
        """Hours of day between which customers of ``tier`` arrive (uniformly)."""
        return tuple(self.tier_hours[tier]) if self.tier_hours else (6.0, 23.0)

    def festival_multiplier(self, n_periods: int | None = None) -> np.ndarray:
        """Expected demand multiplier per (period, region) of the festival calendar."""
        p = self.n_periods if n_periods is None else n_periods
        mult = np.ones((p, self.n_warehouses))
        for d in self.festival_days:
            if 0 <= d < p:
                mult[d, list(self.festival_regions)] = float(np.mean(self.festival_lift))
        return mult

    def replenishes(self, period: int) -> bool:
        """Whether stock arrives at the start of ``period`` (period 0 is the initial stock)."""
        return period > 0 and period % max(int(self.replenish_every), 1) == 0


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
    if cfg.is_easy:  # the original draw sequence: `easy` episodes stay bit-identical
        counts = rng.poisson(cfg.orders_per_period * (1 + cfg.promo_lift * promo))
        period = np.repeat(np.arange(p), counts)
        n = int(period.size)
        hour = (np.concatenate([np.sort(rng.uniform(6, 23, c)) for c in counts]) if n
                else np.zeros(0))
        home = rng.choice(w, size=n, p=share)
        lat = net.lat[home] + rng.normal(0, 0.6, n)
        lon = net.lon[home] + rng.normal(0, 0.6, n)
        tier = rng.choice(4, size=n, p=np.asarray(cfg.tier_probs) / np.sum(cfg.tier_probs))
    else:
        period, hour, home, tier = _hard_orders(rng, cfg, share, promo)
        n = int(period.size)
        lat = net.lat[home] + rng.normal(0, 0.6, n)
        lon = net.lon[home] + rng.normal(0, 0.6, n)
    value = np.round(rng.lognormal(4.0 + 0.35 * tier, 0.5), 2)
    pop = sku_popularity(s)
    sku = rng.choice(s, size=n, p=pop)
    qty = np.ones(n, dtype=np.int64)
    promised = np.asarray(cfg.promise_hours)[tier]
    weather = rng.choice(len(WEATHER), size=p, p=[0.4, 0.3, 0.18, 0.07, 0.05])[period]
    initial, repl = _stock(rng, cfg, share, pop)
    down = _outage(rng, cfg, period, w, share)
    return EpisodeSpec(
        network=net, skus=[f"SKU{j:03d}" for j in range(s)], initial_stock=initial,
        replenishment=repl, period=period, hour=hour, value=value, tier=tier, lat=lat,
        lon=lon, sku=sku, qty=qty, promised_hours=promised.astype(float), weather=weather,
        promo=promo[period] if n else np.zeros(0), down=down,
    )


def sku_popularity(n_skus: int) -> np.ndarray:
    """Zipf-like demand share of each SKU (SKU 0 the most popular)."""
    pop = 1.0 / np.arange(1, n_skus + 1)
    return pop / pop.sum()


def _hard_orders(rng: np.random.Generator, cfg: SamplerConfig, share: np.ndarray,
                 promo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Period, hour, home region and tier of each order, with festivals and tier windows."""
    p, w = cfg.n_periods, share.size
    mult = np.ones((p, w))
    for d in cfg.festival_days:
        if 0 <= d < p:
            mult[d, list(cfg.festival_regions)] = rng.uniform(*cfg.festival_lift)
    day_share = mult * share[None, :]
    counts = rng.poisson(cfg.orders_per_period * (1 + cfg.promo_lift * promo)
                         * day_share.sum(axis=1))
    period = np.repeat(np.arange(p), counts)
    n = int(period.size)
    probs = day_share / day_share.sum(axis=1, keepdims=True)
    home = np.concatenate([rng.choice(w, size=c, p=probs[d]) for d, c in enumerate(counts)]
                          ) if n else np.zeros(0, np.int64)
    tier = rng.choice(4, size=n, p=np.asarray(cfg.tier_probs) / np.sum(cfg.tier_probs))
    win = np.array([cfg.tier_window(k) for k in range(4)])
    hour = rng.uniform(win[tier, 0], win[tier, 1]) if n else np.zeros(0)
    order = np.lexsort((hour, period))
    return period[order], hour[order], home[order].astype(np.int64), tier[order]


def _stock(rng: np.random.Generator, cfg: SamplerConfig, share: np.ndarray, pop: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Initial stock (W, S) and arrivals (P, W, S).

    Each warehouse holds about ``stock_cover`` days (× ``replenish_every`` in the hard
    scenarios: one arrival covers the cycle) of the demand it would see if every
    order went to its nearest warehouse (``stock_follows_demand`` of it placed by demand, the
    rest evenly), shuffled so that hubs run short of some SKUs.
    """
    w, p = share.size, cfg.n_periods
    f = cfg.stock_follows_demand
    cycle = 1 if cfg.is_easy else max(int(cfg.replenish_every), 1)  # days one arrival covers
    daily = (cfg.orders_per_period * cfg.stock_cover * cycle
             * np.outer(f * share + (1 - f) / w, pop))
    initial = rng.poisson(daily * rng.uniform(0.4, 1.6, daily.shape)).astype(np.int64)
    repl = rng.poisson(np.broadcast_to(daily * cfg.replenish_scale, (p, *daily.shape))
                       ).astype(np.int64)
    repl[0] = 0
    if cfg.replenish_every != 1:
        repl[[not cfg.replenishes(d) for d in range(p)]] = 0
    return initial, repl


def _outage(rng: np.random.Generator, cfg: SamplerConfig, period: np.ndarray, w: int,
            share: np.ndarray) -> np.ndarray:
    """Down flags (N, W): a random outage (``outage_probability``) or a hub mid-episode."""
    n = int(period.size)
    down = np.zeros((n, w), dtype=bool)
    if cfg.outage_mid:
        hub = int(rng.choice(np.argsort(-share)[:2]))
        mid = cfg.n_periods // 2
        down[(period >= mid) & (period < mid + cfg.outage_days), hub] = True
    elif n > 10 and rng.random() < cfg.outage_probability:
        wh = int(rng.integers(w))
        start = int(rng.integers(0, n - 5))
        down[start:start + int(rng.integers(10, max(11, n // 3))), wh] = True
    return down


@dataclass(frozen=True)
class Scenario:
    """A named, configurable routing scenario.

    Attributes:
        name: Short name (``easy``, ``scarce``, ...).
        description: What makes it hard, in one sentence.
        sampler: The episode sampler's knobs.
        backlog: Orders beyond a warehouse's daily capacity wait in its backlog (carried into
            the next day, +24 h each day they wait) instead of being refused.
        extended_obs: The observation carries the forecast-aware fields (stock cover until
            the next replenishment, backlog, expected demand, days to replenishment, ...).
    """

    name: str
    description: str
    sampler: SamplerConfig
    backlog: bool = False
    extended_obs: bool = False


# Customers of higher tiers (tighter promises) arrive later in the day.
LATE_HIGH_TIERS = ((6.0, 15.0), (8.0, 19.0), (12.0, 23.0), (14.0, 23.0))
_HARD = {"outage_probability": 0.0, "tier_hours": LATE_HIGH_TIERS, "stock_follows_demand": 0.0,
         "replenish_scale": 1.0}

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("easy", "today's scenario: stock every morning, queues reset daily",
             SamplerConfig()),
    Scenario("scarce", "stock arrives every 3 days, scarce and spread evenly while demand "
             "sits at two hubs; platinum/gold customers arrive late in the day; backlog "
             "carries over", SamplerConfig(n_periods=6, replenish_every=3, stock_cover=1.1,
                                           **_HARD), backlog=True, extended_obs=True),
    Scenario("peak", "festival week: demand x3-5 in the biggest hub's region on days 3-5, "
             "stock arrives once for the week, backlog carries over",
             SamplerConfig(n_periods=7, replenish_every=7, stock_cover=1.5, capacity_share=1.8,
                           festival_days=(3, 4, 5), festival_regions=(0,), **_HARD),
             backlog=True, extended_obs=True),
    Scenario("outage", "a hub is down for the middle day of four, stock every 2 days, "
             "backlog carries over", SamplerConfig(n_periods=4, replenish_every=2,
                                                   stock_cover=1.1, outage_mid=True, **_HARD),
             backlog=True, extended_obs=True),
)}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name`` (clear error listing the known ones)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}") from None
