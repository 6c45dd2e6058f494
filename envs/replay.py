"""Turn real order streams from the lake into replayable routing episodes.

Rows that cannot become a routing step (unknown SKU, no product line, no delivery
coordinates) are returned in a ``rejected`` frame with a reason, never dropped silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from envs.scenarios import TIER_INDEX, WEATHER_INDEX, EpisodeSpec, Network
from oms.lake import read_table, table_uri

DEFAULT_PROMISE = {"bronze": 48.0, "silver": 30.0, "gold": 16.0, "platinum": 10.0}
TABLES = ("warehouses", "inventory", "orders", "order_lines", "customers", "daily_context")


def network_from_frame(warehouses: pd.DataFrame) -> Network:
    """A :class:`Network` from rows of the ``warehouses`` table (sorted by id)."""
    if warehouses.empty:
        raise ValueError("no warehouses: the routing episode needs at least one")
    wh = warehouses.sort_values("warehouse_id").reset_index(drop=True)
    bad = wh[wh[["lat", "lon"]].isna().any(axis=1)]
    if len(bad):
        raise ValueError(f"warehouses with NaN coordinates: {bad['warehouse_id'].tolist()}")
    if wh["warehouse_id"].duplicated().any():
        raise ValueError("duplicate warehouse_id in the warehouses table")
    return Network(
        warehouse_ids=wh["warehouse_id"].astype(str).tolist(),
        lat=wh["lat"].to_numpy(float), lon=wh["lon"].to_numpy(float),
        capacity=wh["capacity_per_day"].to_numpy(np.int64),
        cost_per_order=wh["cost_per_order"].to_numpy(float),
    )


def _main_lines(order_lines: pd.DataFrame) -> pd.DataFrame:
    """One product line per order: the one with the largest amount."""
    lines = order_lines[order_lines["is_product"].astype(bool)]
    lines = lines.sort_values(["order_id", "line_amount"], ascending=[True, False])
    return lines.drop_duplicates("order_id")[["order_id", "sku", "quantity"]]


def _reject(frame: pd.DataFrame, mask: pd.Series, reason: str, out: list[pd.DataFrame]
            ) -> pd.DataFrame:
    if mask.any():
        out.append(frame.loc[mask, ["order_id"]].assign(reason=reason))
    return frame.loc[~mask]


def _stock(inventory: pd.DataFrame, net: Network, skus: list[str], days: pd.DatetimeIndex
           ) -> tuple[np.ndarray, np.ndarray]:
    """Initial stock (latest snapshot on/before day 0) and per-day positive restocks."""
    w_idx = {w: i for i, w in enumerate(net.warehouse_ids)}
    s_idx = {s: j for j, s in enumerate(skus)}
    inv = inventory[inventory["warehouse_id"].isin(w_idx) & inventory["sku"].isin(s_idx)]
    snap = np.zeros((len(days) + 1, net.n, len(skus)), dtype=np.int64)
    dates = pd.to_datetime(inv["snapshot_date"]).dt.normalize()
    for k, day in enumerate([days[0]] + list(days)):
        rows = inv[dates <= day] if k == 0 else inv[dates == day]
        if k == 0:
            rows = rows.sort_values("snapshot_date").drop_duplicates(["warehouse_id", "sku"],
                                                                     keep="last")
        elif rows.empty:
            snap[k] = snap[k - 1]
            continue
        base = snap[k - 1].copy() if k else snap[0]
        base[rows["warehouse_id"].map(w_idx).to_numpy(), rows["sku"].map(s_idx).to_numpy()] = (
            rows["on_hand"].to_numpy(np.int64))
        snap[k] = base
    repl = np.maximum(0, np.diff(snap[1:], axis=0, prepend=snap[1:2]))
    return snap[1], repl


def build_episode(tables: dict[str, pd.DataFrame], start: str | pd.Timestamp, n_days: int = 1,
                  outages: pd.DataFrame | None = None) -> tuple[EpisodeSpec, pd.DataFrame]:
    """Build a replayable episode from contract tables (real order streams).

    Args:
        tables: Frames of the contract tables named in ``TABLES``.
        start: First business day (``order_date``) of the episode.
        n_days: Number of days (periods) to replay.
        outages: Optional rows ``warehouse_id, start_ts, end_ts`` (UTC) of outage windows.

    Returns:
        The episode spec and a frame ``order_id, reason`` of orders that could not be routed
        into the episode.
    """
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise ValueError(f"build_episode needs tables {missing}")
    net = network_from_frame(tables["warehouses"])
    days = pd.date_range(pd.Timestamp(start).normalize(), periods=n_days, freq="D")
    orders = tables["orders"]
    odate = pd.to_datetime(orders["order_date"]).dt.normalize()
    orders = orders[(odate >= days[0]) & (odate <= days[-1])].sort_values("order_ts")
    rejected: list[pd.DataFrame] = []
    df = orders.merge(_main_lines(tables["order_lines"]), on="order_id", how="left")
    df = _reject(df, df["sku"].isna(), "no product line", rejected)
    skus = sorted(tables["inventory"]["sku"].astype(str).unique())
    df = _reject(df, ~df["sku"].isin(skus), "unknown SKU (not in any warehouse's inventory)",
                 rejected)
    cust = tables["customers"][["customer_id", "tier", "lat", "lon"]]
    df = df.merge(cust, on="customer_id", how="left")
    df = _reject(df, df["lat"].isna() | df["lon"].isna(), "missing customer coordinates",
                 rejected)
    ctx = tables["daily_context"][["date", "region", "weather", "promotion_intensity"]].copy()
    ctx["date"] = pd.to_datetime(ctx["date"]).dt.normalize()
    df["date"] = pd.to_datetime(df["order_date"]).dt.normalize()
    df = df.merge(ctx, on=["date", "region"], how="left")
    spec = _spec_from_rows(df.reset_index(drop=True), net, skus, days, tables, outages)
    rej = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(
        {"order_id": pd.Series(dtype="string"), "reason": pd.Series(dtype="string")})
    return spec, rej


def _down_matrix(ts: pd.Series, net: Network, outages: pd.DataFrame | None) -> np.ndarray:
    down = np.zeros((len(ts), net.n), dtype=bool)
    if outages is None or outages.empty:
        return down
    w_idx = {w: i for i, w in enumerate(net.warehouse_ids)}
    unknown = sorted(set(outages["warehouse_id"]) - set(w_idx))
    if unknown:
        raise ValueError(f"outage for unknown warehouse(s): {unknown}")
    t = pd.to_datetime(ts, utc=True)
    for row in outages.itertuples():
        lo, hi = pd.Timestamp(row.start_ts), pd.Timestamp(row.end_ts)
        down[((t >= lo) & (t < hi)).to_numpy(), w_idx[row.warehouse_id]] = True
    return down


def _spec_from_rows(df: pd.DataFrame, net: Network, skus: list[str], days: pd.DatetimeIndex,
                    tables: dict[str, pd.DataFrame], outages: pd.DataFrame | None
                    ) -> EpisodeSpec:
    s_idx = {s: j for j, s in enumerate(skus)}
    tier = df["tier"].fillna("bronze").astype(str)
    promised = pd.to_numeric(df["promised_hours"], errors="coerce")
    promised = promised.fillna(tier.map(DEFAULT_PROMISE)).to_numpy(float)
    ts = pd.to_datetime(df["order_ts"], utc=True)
    initial, repl = _stock(tables["inventory"], net, skus, days)
    period = ((df["date"] - days[0]).dt.days).to_numpy(np.int64)
    return EpisodeSpec(
        network=net, skus=skus, initial_stock=initial, replenishment=repl,
        period=period, hour=(ts.dt.hour + ts.dt.minute / 60.0).to_numpy(float),
        value=df["total_amount"].to_numpy(float), tier=tier.map(TIER_INDEX).to_numpy(np.int64),
        lat=df["lat"].to_numpy(float), lon=df["lon"].to_numpy(float),
        sku=df["sku"].map(s_idx).to_numpy(np.int64),
        qty=df["quantity"].to_numpy(np.int64), promised_hours=promised,
        weather=df["weather"].map(WEATHER_INDEX).fillna(0).to_numpy(np.int64),
        promo=df["promotion_intensity"].fillna(0.0).to_numpy(float),
        down=_down_matrix(df["order_ts"], net, outages),
        order_ids=df["order_id"].astype(str).tolist(),
    )


def load_tables(lake: str, tenant_id: str | None = None) -> dict[str, pd.DataFrame]:
    """Read the contract tables routing needs from the lake (optionally one tenant)."""
    out = {}
    for name in TABLES:
        df = read_table(table_uri(lake, name))
        if tenant_id is not None and "tenant_id" in df.columns:
            df = df[df["tenant_id"] == tenant_id]
        out[name] = df.reset_index(drop=True)
    return out


def episode_from_lake(lake: str, start: str, n_days: int = 1, tenant_id: str | None = None,
                      outages: pd.DataFrame | None = None) -> tuple[EpisodeSpec, pd.DataFrame]:
    """Read the lake and build a replayable episode (see :func:`build_episode`)."""
    return build_episode(load_tables(lake, tenant_id), start, n_days, outages)
