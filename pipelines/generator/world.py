"""The static world of the generator: regions (cities), warehouses and the product catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from oms.geo import haversine_km
from pipelines.generator.arrowcols import const_col, str_col
from pipelines.generator.scales import Scale

# city, lat, lon, share of customers, climate: mean °C, seasonal amplitude, storm risk
CITIES = (
    ("Shanghai", 31.23, 121.47, 0.20, 17.0, 11.0, 0.030),
    ("Beijing", 39.90, 116.41, 0.18, 12.5, 15.5, 0.010),
    ("Guangzhou", 23.13, 113.26, 0.14, 22.5, 7.0, 0.045),
    ("Shenzhen", 22.54, 114.06, 0.13, 23.0, 6.5, 0.050),
    ("Chengdu", 30.57, 104.07, 0.10, 16.5, 9.5, 0.010),
    ("Hangzhou", 30.27, 120.16, 0.09, 17.5, 11.5, 0.030),
    ("Wuhan", 30.59, 114.31, 0.08, 17.0, 12.5, 0.015),
    ("Xian", 34.34, 108.94, 0.07, 14.0, 13.0, 0.005),
    ("Chongqing", 29.56, 106.55, 0.07, 18.5, 10.0, 0.010),
    ("Nanjing", 32.06, 118.80, 0.06, 16.0, 12.5, 0.020),
)

# warehouse city (index into CITIES or a hub of its own), suburb offset in degrees
WAREHOUSE_SITES = (
    ("WH-SH", "Shanghai Jiading DC", 0, 0.15, -0.20),
    ("WH-BJ", "Beijing Daxing DC", 1, -0.17, 0.05),
    ("WH-GZ", "Guangzhou Huangpu DC", 2, 0.05, 0.20),
    ("WH-CD", "Chengdu Shuangliu DC", 4, -0.12, -0.03),
    ("WH-WH", "Wuhan Dongxihu DC", 6, 0.08, -0.14),
    ("WH-XA", "Xian Lintong DC", 7, 0.03, 0.25),
    ("WH-HZ", "Hangzhou Xiaoshan DC", 5, -0.09, 0.10),
    ("WH-SZ", "Shenzhen Longgang DC", 3, 0.18, 0.17),
    ("WH-CQ", "Chongqing Shapingba DC", 8, 0.02, -0.10),
    ("WH-NJ", "Nanjing Jiangning DC", 9, -0.12, 0.04),
)

# supplier → warehouse replenishment lead time in days (the inventory policy's L)
LEAD_TIME_DAYS = {"WH-SH": 3, "WH-BJ": 4, "WH-GZ": 3, "WH-CD": 6, "WH-WH": 5, "WH-XA": 7,
                  "WH-HZ": 3, "WH-SZ": 4, "WH-CQ": 6, "WH-NJ": 4}

# category, median price, price spread (log sd), return rate
CATEGORIES = (
    ("electronics", 899.0, 0.8, 0.06),
    ("apparel", 159.0, 0.6, 0.14),
    ("beauty", 129.0, 0.5, 0.04),
    ("home", 99.0, 0.7, 0.05),
    ("food", 49.0, 0.5, 0.01),
    ("baby", 139.0, 0.5, 0.04),
    ("sports", 199.0, 0.6, 0.08),
    ("books", 45.0, 0.4, 0.02),
    ("toys", 89.0, 0.6, 0.05),
    ("pet", 79.0, 0.5, 0.03),
    ("health", 109.0, 0.5, 0.02),
    ("digital", 39.0, 0.6, 0.02),
)

# non-product codes: sku, name, category, price
FEE_CODES = (
    ("SHIP", "Shipping fee", "fee", 8.0),
    ("GIFTWRAP", "Gift wrapping", "fee", 6.0),
    ("ADJUST", "Manual adjustment", "fee", 0.0),
)
SHIP_FEE = 8.0
FREE_SHIPPING_FROM = 99.0
GIFTWRAP_FEE = 6.0


@dataclass
class World:
    """Regions, warehouses and products of one generated tenant (all small, held in memory)."""

    region_names: np.ndarray  # (R,) str
    region_lat: np.ndarray
    region_lon: np.ndarray
    region_share: np.ndarray  # share of customers per region, sums to 1
    climate: np.ndarray  # (R, 3): mean °C, amplitude, storm risk
    wh_ids: np.ndarray  # (W,) str
    wh_names: np.ndarray
    wh_region: np.ndarray  # (W,) region name
    wh_lat: np.ndarray
    wh_lon: np.ndarray
    wh_capacity: np.ndarray  # (W,) orders per day
    wh_cost: np.ndarray
    sku_ids: np.ndarray  # (S,) product SKUs (fee codes are separate)
    sku_category: np.ndarray  # (S,) category index
    sku_price: np.ndarray
    sku_cost: np.ndarray
    sku_qty_extra: np.ndarray  # mean extra units per line (lumpy long tail)
    sku_cum: np.ndarray  # cumulative popularity for inverse-CDF sampling
    sku_rank: np.ndarray  # popularity rank (0 = most popular)

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self.region_names)

    @property
    def n_warehouses(self) -> int:
        """Number of warehouses."""
        return len(self.wh_ids)

    def nearest_warehouses(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
        """Nearest and second-nearest warehouse (indices) and their distances in km."""
        d = haversine_km(lat[:, None], lon[:, None], self.wh_lat[None, :], self.wh_lon[None, :])
        order = np.argsort(d, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(lat))
        return (order[:, 0].astype(np.int16), order[:, 1].astype(np.int16),
                d[rows, order[:, 0]], d[rows, order[:, 1]])


def popularity(scale: Scale) -> np.ndarray:
    """SKU line shares by popularity rank: a steady head plus a Zipf long tail (ABC)."""
    n, head = scale.n_skus, min(scale.n_steady, scale.n_skus)
    k = np.arange(1, n + 1, dtype=float)
    w_head = k[:head] ** -0.5
    w_tail = (k[head:] - head + 10.0) ** -1.1
    w = np.concatenate([
        scale.head_share * w_head / w_head.sum(),
        (1 - scale.head_share) * w_tail / max(w_tail.sum(), 1e-12),
    ])
    return w / w.sum()


def build_world(scale: Scale, seed: int, base_orders: float) -> World:
    """Create regions, warehouses (capacity sized to demand) and products for a scale."""
    rng = np.random.default_rng([seed, 0, 1])
    cities = CITIES[: scale.n_regions]
    share = np.array([c[3] for c in cities])
    share /= share.sum()
    r_lat = np.array([c[1] for c in cities])
    r_lon = np.array([c[2] for c in cities])

    sites = WAREHOUSE_SITES[: scale.n_warehouses]
    w_lat = np.array([CITIES[s[2]][1] + s[3] for s in sites])
    w_lon = np.array([CITIES[s[2]][2] + s[4] for s in sites])
    # capacity: 1.3x the expected end-of-period load of the regions each warehouse is nearest to
    d = haversine_km(r_lat[:, None], r_lon[:, None], w_lat[None, :], w_lon[None, :])
    load = np.bincount(d.argmin(axis=1), weights=share, minlength=len(sites))
    peak = base_orders * (1 + 2 * scale.growth_per_year) * 1.06
    floor = 0.25 * peak / len(sites)
    capacity = np.maximum(1.3 * load * peak, floor).round().astype(np.int64)
    cost = np.round(rng.uniform(3.5, 7.5, len(sites)), 2)

    n = scale.n_skus
    cat = rng.integers(0, len(CATEGORIES), n)
    med = np.array([c[1] for c in CATEGORIES])[cat]
    spread = np.array([c[2] for c in CATEGORIES])[cat]
    price = np.round(med * np.exp(rng.normal(0, spread)), 1) + 0.9
    cost_ratio = rng.uniform(0.35, 0.75, n)
    pop = popularity(scale)
    rank = rng.permutation(n)  # sku number i has popularity rank rank[i]
    return World(
        region_names=np.array([c[0] for c in cities]),
        region_lat=r_lat, region_lon=r_lon, region_share=share,
        climate=np.array([[c[4], c[5], c[6]] for c in cities]),
        wh_ids=np.array([s[0] for s in sites]), wh_names=np.array([s[1] for s in sites]),
        wh_region=np.array([CITIES[s[2]][0] for s in sites]),
        wh_lat=w_lat, wh_lon=w_lon, wh_capacity=capacity, wh_cost=cost,
        sku_ids=np.array([f"SKU{i:06d}" for i in range(n)]),
        sku_category=cat, sku_price=price, sku_cost=np.round(price * cost_ratio, 2),
        sku_qty_extra=np.where(rank >= scale.n_steady, rng.uniform(0.1, 1.5, n), 0.35),
        sku_cum=np.cumsum(pop[rank]) / pop.sum(),
        sku_rank=rank,
    )


def products_frame(world: World, tenant_id: str) -> pd.DataFrame:
    """The products table: product SKUs plus non-product fee codes."""
    n = len(world.sku_ids)
    cats = np.array([c[0] for c in CATEGORIES])[world.sku_category]
    names = np.char.add(np.char.add(np.char.capitalize(cats.astype(str)), " item "),
                        np.arange(n).astype(str))
    fees = pd.DataFrame({
        "sku": [f[0] for f in FEE_CODES], "name": [f[1] for f in FEE_CODES],
        "category": [f[2] for f in FEE_CODES], "unit_price": [f[3] for f in FEE_CODES],
        "unit_cost": [np.nan] * len(FEE_CODES), "is_product": [False] * len(FEE_CODES),
    })
    prods = pd.DataFrame({
        "sku": world.sku_ids, "name": names, "category": cats,
        "unit_price": world.sku_price, "unit_cost": world.sku_cost, "is_product": True,
    })
    df = pd.concat([prods, fees], ignore_index=True)
    df.insert(0, "tenant_id", const_col(tenant_id, len(df)))
    df["sku"] = str_col(df["sku"].to_numpy())
    return df


def warehouses_frame(world: World, tenant_id: str) -> pd.DataFrame:
    """The warehouses table."""
    return pd.DataFrame({
        "tenant_id": const_col(tenant_id, world.n_warehouses),
        "warehouse_id": world.wh_ids, "name": world.wh_names, "region": world.wh_region,
        "lat": world.wh_lat, "lon": world.wh_lon,
        "capacity_per_day": world.wh_capacity, "cost_per_order": world.wh_cost,
        "lead_time_days": np.array([LEAD_TIME_DAYS[w] for w in world.wh_ids], dtype=np.int64),
    })
