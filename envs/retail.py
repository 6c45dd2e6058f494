"""Replay the UCI "Online Retail" order stream on a small UK/EU warehouse network.

The export (Chen, Sain & Guo 2012; CC BY 4.0) has real arrival times, customers, countries and
products but no warehouses, stock or addresses, so this module defines them (documented, fixed):

* **Network** (:data:`RETAIL_WAREHOUSES`): four UK sites (London, Birmingham, Manchester,
  Glasgow) and one EU site (Rotterdam); capacity per day ∝ the share of customers nearest
  each site × ``capacity_factor`` × the stream's mean orders per day; handling costs as listed.
* **Customers**: a UK customer lives in one of :data:`UK_CITIES` (chosen by a hash of the
  customer id, so every replay agrees); other customers at their country's capital
  (:data:`COUNTRY_COORDS`); guests by a hash of the invoice number.
* **Orders**: one per sale invoice, routed by its main line (largest amount); the SKU is the
  main line's ``StockCode`` if it is among the window's ``n_skus - 1`` most ordered, else the
  pooled "other" SKU; one unit per order (stock counts orders). Tier by the customer's spend
  quantiles in the window (50/80/95%), promise by tier, weather and promotions unknown (0).
* **Stock**: on the first day each site holds ``stock_cover`` × ``replenish_every`` days of
  the window's mean demand per SKU, split evenly across sites (so the London-heavy demand runs
  short first), and the same again every ``replenish_every`` days.

The stock and capacity use the window's own totals (the environment, not a policy, knows them).
The committed fixture ``tests/fixtures/retail_routing_orders.parquet`` holds the main line of
every November 2011 sale invoice (``tests/fixtures/make_retail_routing_fixture.py``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from envs.scenarios import EpisodeSpec, Network

RETAIL_WAREHOUSES = pd.DataFrame({
    "warehouse_id": ["UK-LON", "UK-BHM", "UK-MAN", "UK-GLA", "EU-RTM"],
    "lat": [51.51, 52.49, 53.48, 55.86, 51.92],
    "lon": [-0.13, -1.89, -2.24, -4.25, 4.48],
    "cost_per_order": [3.2, 2.4, 2.5, 2.6, 2.8],
})
UK_CITIES = np.array([(51.51, -0.13), (52.49, -1.89), (53.48, -2.24), (55.86, -4.25),
                      (51.45, -2.59), (53.80, -1.55), (54.98, -1.61), (50.72, -1.88),
                      (52.95, -1.15), (51.48, -3.18)])
COUNTRY_COORDS = {
    "United Kingdom": (52.5, -1.5), "EIRE": (53.35, -6.26), "France": (48.86, 2.35),
    "Germany": (52.52, 13.40), "Spain": (40.42, -3.70), "Belgium": (50.85, 4.35),
    "Netherlands": (52.37, 4.90), "Switzerland": (46.95, 7.45), "Norway": (59.91, 10.75),
    "Italy": (41.90, 12.50), "Portugal": (38.72, -9.14), "Cyprus": (35.17, 33.36),
    "Finland": (60.17, 24.94), "Austria": (48.21, 16.37), "Sweden": (59.33, 18.07),
    "Denmark": (55.68, 12.57), "Poland": (52.23, 21.01), "Channel Islands": (49.45, -2.54),
    "Greece": (37.98, 23.73), "Iceland": (64.15, -21.94), "Lithuania": (54.69, 25.28),
    "Czech Republic": (50.08, 14.44), "Malta": (35.90, 14.51), "European Community": (50.85, 4.35),
    "Japan": (35.68, 139.69), "Australia": (-35.28, 149.13), "USA": (38.90, -77.04),
    "Canada": (45.42, -75.70), "Israel": (31.77, 35.21), "Lebanon": (33.89, 35.50),
    "United Arab Emirates": (24.45, 54.38), "Saudi Arabia": (24.71, 46.68),
    "Bahrain": (26.23, 50.59), "Brazil": (-15.79, -47.88), "RSA": (-25.75, 28.19),
    "Singapore": (1.35, 103.82), "Hong Kong": (22.32, 114.17), "Unspecified": (52.5, -1.5),
}
PROMISE_BY_TIER = (48.0, 30.0, 16.0, 10.0)


def _stamps(frame: pd.DataFrame) -> pd.Series:
    """``InvoiceDate`` as datetimes (parsed only when it is not already)."""
    col = frame["InvoiceDate"]
    return col if pd.api.types.is_datetime64_any_dtype(col) else pd.to_datetime(col)


def _hash(key: str) -> int:
    return zlib.crc32(key.encode())


def customer_coords(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each order's customer (see the module docstring)."""
    lat, lon = np.empty(len(frame)), np.empty(len(frame))
    for k, (cust, country, inv) in enumerate(zip(frame["CustomerID"], frame["Country"],
                                                frame["InvoiceNo"], strict=True)):
        key = str(inv) if pd.isna(cust) else str(int(cust))
        if country == "United Kingdom":
            lat[k], lon[k] = UK_CITIES[_hash(key) % len(UK_CITIES)]
        else:
            lat[k], lon[k] = COUNTRY_COORDS.get(country, COUNTRY_COORDS["Unspecified"])
    return lat, lon


def invoice_main_lines(raw: pd.DataFrame) -> pd.DataFrame:
    """The main line of each sale invoice of the raw export (the fixture's columns).

    Sale invoices only (no ``C…`` cancellations, positive quantity and price); per invoice the
    line with the largest amount, with the invoice's total as ``amount``.
    """
    df = raw[~raw["InvoiceNo"].astype(str).str.startswith("C") & (raw["Quantity"] > 0)
             & (raw["UnitPrice"] > 0)]
    df = df.assign(amount=(df["Quantity"] * df["UnitPrice"]).round(2))
    total = df.groupby("InvoiceNo")["amount"].sum().rename("invoice_amount")
    main = (df.sort_values(["InvoiceNo", "amount"], ascending=[True, False])
            .drop_duplicates("InvoiceNo").join(total, on="InvoiceNo"))
    out = main[["InvoiceNo", "InvoiceDate", "CustomerID", "Country", "StockCode",
                "invoice_amount"]].rename(columns={"invoice_amount": "amount"})
    return out.reset_index(drop=True)


def trading_days(orders: pd.DataFrame, start: str | pd.Timestamp, n_days: int
                 ) -> pd.DatetimeIndex:
    """The first ``n_days`` days with orders on or after ``start`` (a window's periods)."""
    day = _stamps(orders).dt.normalize()
    days = np.sort(day[day >= pd.Timestamp(start)].unique())[:n_days]
    if len(days) == 0:
        raise ValueError(f"no orders on or after {start}")
    return pd.DatetimeIndex(days)


def _tiers(df: pd.DataFrame) -> np.ndarray:
    """Tier of each order by its customer's spend quantile in ``df`` (50/80/95%)."""
    spend = df.groupby(df["CustomerID"].fillna(-1))["amount"].transform("sum")
    q = np.quantile(spend, [0.5, 0.8, 0.95])
    return np.searchsorted(q, spend.to_numpy(), side="right").astype(np.int64)


def retail_history(orders: pd.DataFrame, end: str | pd.Timestamp, days: int = 28
                   ) -> pd.DataFrame:
    """The orders of the ``days`` calendar days before ``end`` as forecast history rows.

    Columns ``day, hour, lat, lon, tier, sku`` (:data:`envs.replay_demand.HISTORY_COLUMNS`);
    customers placed and tiered as in a window (tiers by spend quantiles in this history),
    ``sku`` the invoice's main ``StockCode``.
    """
    ts = _stamps(orders)
    end = pd.Timestamp(end).normalize()
    df = orders[(ts >= end - pd.Timedelta(days=days)) & (ts < end)].reset_index(drop=True)
    ts = _stamps(df)
    lat, lon = customer_coords(df)
    return pd.DataFrame({"day": ts.dt.normalize(), "hour": ts.dt.hour + ts.dt.minute / 60,
                         "lat": lat, "lon": lon,
                         "tier": _tiers(df) if len(df) else np.zeros(0, np.int64),
                         "sku": df["StockCode"].astype(str)})


def retail_episode(orders: pd.DataFrame, start: str, n_days: int = 3, n_skus: int = 8,
                   stock_cover: float = 1.0, replenish_every: int = 2,
                   capacity_factor: float = 1.3) -> EpisodeSpec:
    """An episode of ``n_days`` trading days from ``start`` (see the module docstring).

    Args:
        orders: One row per sale invoice: ``InvoiceNo, InvoiceDate, CustomerID, Country,
            StockCode, amount`` (the committed fixture's columns).
        start: First day (days without trading are skipped).
        n_days: Trading days in the episode (periods).
        n_skus: SKUs tracked (the last one pools every other code).
        stock_cover: Days of mean demand each arrival covers, per day of the cycle.
        replenish_every: Days between stock arrivals.
        capacity_factor: Network capacity ÷ mean orders per day.
    """
    day = _stamps(orders).dt.normalize()
    days = trading_days(orders, start, n_days).to_numpy()
    df = orders[day.isin(days)].sort_values("InvoiceDate").reset_index(drop=True)
    period = np.searchsorted(days, _stamps(df).dt.normalize().to_numpy())
    top = df["StockCode"].value_counts().index[: n_skus - 1].tolist()
    sku = np.where(df["StockCode"].isin(top), df["StockCode"].map(
        {c: j for j, c in enumerate(top)}), n_skus - 1).astype(np.int64)
    lat, lon = customer_coords(df)
    wh = RETAIL_WAREHOUSES
    net = Network(wh["warehouse_id"].tolist(), wh["lat"].to_numpy(float),
                  wh["lon"].to_numpy(float), np.ones(len(wh), np.int64),
                  wh["cost_per_order"].to_numpy(float))
    nearest = net.distances(lat, lon).argmin(axis=1)
    per_day = len(df) / len(days)
    share = np.bincount(nearest, minlength=net.n) / max(len(df), 1)
    cap = np.round(capacity_factor * per_day * (0.5 * share + 0.5 / net.n))
    net.capacity = np.maximum(2, cap).astype(np.int64)
    tier = _tiers(df)
    demand = np.bincount(sku, minlength=n_skus) / len(days)  # orders per day per SKU
    arrival = np.round(stock_cover * replenish_every * demand / net.n)
    initial = np.tile(arrival, (net.n, 1)).astype(np.int64)
    repl = np.zeros((len(days), net.n, n_skus), np.int64)
    for d in range(replenish_every, len(days), replenish_every):
        repl[d] = initial
    ts = _stamps(df)
    n = len(df)
    return EpisodeSpec(
        network=net, skus=[*map(str, top), "other"][:n_skus], initial_stock=initial,
        replenishment=repl, period=period.astype(np.int64),
        hour=(ts.dt.hour + ts.dt.minute / 60).to_numpy(float),
        value=df["amount"].to_numpy(float), tier=tier, lat=lat, lon=lon, sku=sku,
        qty=np.ones(n, np.int64), promised_hours=np.asarray(PROMISE_BY_TIER)[tier],
        weather=np.zeros(n, np.int64), promo=np.zeros(n), down=np.zeros((n, net.n), bool),
        order_ids=df["InvoiceNo"].astype(str).tolist())
