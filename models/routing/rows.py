"""Route a batch of order+state rows with a trained router (the serving contract).

Input: one row per order with ``order_value, customer_tier, promised_hours, hour_of_day,
weather, customer_lat, customer_lon`` (optional ``order_id, promo_intensity, quantity``)
and, per warehouse ``W``, ``load__W`` (orders already assigned today), ``stock__W`` (units
of the order's SKU) and ``up__W`` (1 if running). Output: ``order_id, warehouse_id,
routable, reason`` and ``score__W`` per warehouse (the policy's score; NaN where the
warehouse cannot serve). Masking guarantees an invalid warehouse is never returned; when
nothing can serve, ``warehouse_id`` is ``"unroutable"`` and ``reason`` says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from envs.scenarios import TIER_INDEX, WEATHER_INDEX, EpisodeSpec, Network
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv

UNROUTABLE = "unroutable"
ORDER_COLUMNS = ("order_value", "customer_tier", "promised_hours", "hour_of_day", "weather",
                 "customer_lat", "customer_lon")
STATE_PREFIXES = ("load__", "stock__", "up__")


def input_columns(network: Network) -> list[str]:
    """Required input columns for a network."""
    return [*ORDER_COLUMNS] + [f"{p}{w}" for p in STATE_PREFIXES for w in network.warehouse_ids]


def _check_columns(df: pd.DataFrame, network: Network) -> None:
    known = set(network.warehouse_ids)
    unknown = sorted({str(c).split("__", 1)[1] for c in df.columns
                      if str(c).startswith(STATE_PREFIXES)} - known)
    if unknown:
        raise ValueError(f"unknown warehouse(s) in input columns: {unknown}; "
                         f"the router knows {sorted(known)}")
    missing = [c for c in input_columns(network) if c not in df.columns]
    if missing:
        raise ValueError(f"routing input is missing columns: {missing}")
    bad_tier = sorted(set(df["customer_tier"].dropna().astype(str)) - set(TIER_INDEX))
    if bad_tier:
        raise ValueError(f"unknown customer_tier value(s) {bad_tier}; expected {list(TIER_INDEX)}")
    bad_w = sorted(set(df["weather"].dropna().astype(str)) - set(WEATHER_INDEX))
    if bad_w:
        raise ValueError(f"unknown weather value(s) {bad_w}; expected {list(WEATHER_INDEX)}")


def _state(df: pd.DataFrame, prefix: str, ids: list[str]) -> np.ndarray:
    return df[[f"{prefix}{w}" for w in ids]].apply(pd.to_numeric, errors="coerce").to_numpy(float)


def _batch_env(df: pd.DataFrame, network: Network, cfg: RoutingConfig
               ) -> tuple[WarehouseRoutingEnv, np.ndarray, np.ndarray]:
    """An env holding the batch as a one-day episode (one virtual SKU per row)."""
    n, ids = len(df), network.warehouse_ids
    stock = np.nan_to_num(_state(df, "stock__", ids), nan=0.0).astype(np.int64).T  # (W, N)
    up = np.nan_to_num(_state(df, "up__", ids), nan=0.0) > 0
    load = np.nan_to_num(_state(df, "load__", ids), nan=0.0).astype(np.int64)
    lat = df["customer_lat"].to_numpy(float)
    lon = df["customer_lon"].to_numpy(float)
    bad_xy = np.isnan(lat) | np.isnan(lon)
    num = {c: pd.to_numeric(df[c], errors="coerce") for c in ("order_value", "promised_hours",
                                                              "hour_of_day")}
    spec = EpisodeSpec(
        network=network, skus=[f"row{i}" for i in range(n)], initial_stock=np.maximum(stock, 0),
        replenishment=np.zeros((1, network.n, n), np.int64), period=np.zeros(n, np.int64),
        hour=num["hour_of_day"].fillna(12.0).clip(0, 24).to_numpy(float),
        value=num["order_value"].fillna(0.0).to_numpy(float),
        tier=df["customer_tier"].map(TIER_INDEX).fillna(0).to_numpy(np.int64),
        lat=np.where(bad_xy, 0.0, lat), lon=np.where(bad_xy, 0.0, lon),
        sku=np.arange(n), qty=_column(df, "quantity", 1).astype(np.int64),
        promised_hours=num["promised_hours"].fillna(cfg.hours_scale).to_numpy(float),
        weather=df["weather"].map(WEATHER_INDEX).fillna(0).to_numpy(np.int64),
        promo=_column(df, "promo_intensity", 0.0), down=~up,
        order_ids=[str(x) for x in _column(df, "order_id", None, as_str=True)],
    )
    env = WarehouseRoutingEnv(cfg, network=network)
    env.reset(seed=0, options={"spec": spec})
    return env, load, bad_xy


def _column(df: pd.DataFrame, name: str, default: Any, as_str: bool = False) -> np.ndarray:
    if name not in df.columns:
        if as_str:
            return np.array([str(i) for i in range(len(df))], dtype=object)
        return np.full(len(df), default, dtype=float)
    if as_str:
        return df[name].astype(str).to_numpy(object)
    return pd.to_numeric(df[name], errors="coerce").fillna(default).to_numpy(float)


def _reason(env: WarehouseRoutingEnv, bad_xy: bool) -> str:
    spec, i = env.episode, env.t
    up = ~spec.down[i]
    if bad_xy:
        return "NaN customer coordinates"
    if not up.any():
        return "every warehouse is down"
    if not (up & (env.stock[:, spec.sku[i]] >= spec.qty[i])).any():
        return "no warehouse that is up has the SKU in stock"
    return "every warehouse that is up and has stock is at capacity"


def route_frame(router: Any, network: Network, cfg: RoutingConfig, df: pd.DataFrame
                ) -> pd.DataFrame:
    """Route every row; see the module docstring for the columns.

    Args:
        router: A fitted router with ``scores(obs)`` (``DQNRouter`` or ``MaskablePPORouter``).
        network: The warehouse network the router was trained on.
        cfg: The environment configuration it was trained with.
        df: Order+state rows.

    Returns:
        One output row per input row, in order.
    """
    _check_columns(df, network)
    ids = network.warehouse_ids
    env, load, bad_xy = _batch_env(df.reset_index(drop=True), network, cfg)
    n = len(df)
    obs = np.zeros((n, env.obs_dim), np.float32)
    masks = np.zeros((n, env.n_warehouses + 1), bool)
    for i in range(n):
        env.t, env.assigned = i, load[i]
        obs[i], masks[i] = env._obs(), env.action_masks()
    masks[bad_xy, :-1], masks[bad_xy, -1] = False, True
    scores = router.scores(obs) if n else np.zeros((0, env.n_warehouses + 1))
    choice = np.where(masks, scores, -np.inf).argmax(axis=1) if n else np.zeros(0, int)
    routable = choice < env.n_warehouses
    reasons = []
    for i in range(n):
        env.t = i
        reasons.append("" if routable[i] else _reason(env, bool(bad_xy[i])))
    out = pd.DataFrame({
        "order_id": env.episode.order_ids,
        "warehouse_id": np.where(routable, np.array(ids + [UNROUTABLE], dtype=object)[choice],
                                 UNROUTABLE),
        "routable": routable, "reason": reasons,
    })
    masked = np.where(masks[:, :-1], scores[:, :-1], np.nan)
    for j, w in enumerate(ids):
        out[f"score__{w}"] = masked[:, j].astype(float)
    return out


def example_rows(network: Network, n: int = 3, random_state: int = 0) -> pd.DataFrame:
    """A small valid input frame for a network (signature and input example)."""
    rng = np.random.default_rng(random_state)
    df = pd.DataFrame({
        "order_id": [f"ex{i}" for i in range(n)],
        "order_value": rng.uniform(20, 300, n).round(2),
        "customer_tier": rng.choice(list(TIER_INDEX), n),
        "promised_hours": rng.choice([10.0, 16.0, 30.0, 48.0], n),
        "hour_of_day": rng.uniform(6, 22, n).round(2),
        "weather": rng.choice(list(WEATHER_INDEX), n),
        "customer_lat": network.lat[rng.integers(network.n, size=n)] + rng.normal(0, .5, n),
        "customer_lon": network.lon[rng.integers(network.n, size=n)] + rng.normal(0, .5, n),
        "promo_intensity": np.zeros(n), "quantity": np.ones(n),
    })
    # state columns are floats so that the signature accepts missing values
    for w, cap in zip(network.warehouse_ids, network.capacity, strict=True):
        df[f"load__{w}"] = rng.integers(0, max(int(cap), 1), n).astype(float)
        df[f"stock__{w}"] = rng.integers(0, 6, n).astype(float)
        df[f"up__{w}"] = np.ones(n)
    return df


def current_row(env: WarehouseRoutingEnv) -> pd.DataFrame:
    """The env's current order and state as one input row (to route through the pyfunc)."""
    from oms.contract import CUSTOMER_TIERS, WEATHER

    spec, i = env.episode, env.t
    row: dict[str, Any] = {
        "order_id": spec.order_ids[i], "order_value": float(spec.value[i]),
        "customer_tier": CUSTOMER_TIERS[int(spec.tier[i])],
        "promised_hours": float(spec.promised_hours[i]), "hour_of_day": float(spec.hour[i]),
        "weather": WEATHER[int(spec.weather[i])], "customer_lat": float(spec.lat[i]),
        "customer_lon": float(spec.lon[i]), "promo_intensity": float(spec.promo[i]),
        "quantity": float(spec.qty[i]),
    }
    for j, w in enumerate(env.network.warehouse_ids):
        row[f"load__{w}"] = float(env.assigned[j])
        row[f"stock__{w}"] = float(env.stock[j, spec.sku[i]])
        row[f"up__{w}"] = float(not spec.down[i, j])
    return pd.DataFrame([row])
