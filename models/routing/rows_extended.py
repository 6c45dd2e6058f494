"""Route order+state rows of a hard scenario (extended observation) with a trained router.

The hard scenarios' routers (``envs.scenarios``: ``scarce``, ``peak``, ``outage``) read the
extended observation: days to replenishment, backlog, stock cover against the scenario's
expected demand and the bid prices of the fluid LP, which needs the stock of *every* SKU.
A row therefore carries, besides the order columns of :mod:`models.routing.rows`:

* ``sku``: the order's SKU id (one of the scenario's, ``SKU000`` …),
* ``day``: the scenario day (period index ``0 … n_periods - 1``),
* per warehouse ``W``: ``load__W`` (orders assigned today), ``up__W`` (1 if running),
  ``backlog__W`` (orders carried over from earlier days) and ``stock__W__<SKU>`` for every
  SKU of the scenario (units on hand).

Each row becomes a one-order episode of the scenario's environment in exactly that state, so
the observation and the mask are the environment's own (``WarehouseRoutingEnv._obs``). The
bid prices are solved for the state of the row; the environment of the bench re-solves them
at the start of each day, so both agree on the first order of a day (the test checks this)
and the served router uses the more recent stock afterwards. Output: as ``route_frame``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from envs.scenarios import TIER_INDEX, WEATHER_INDEX, EpisodeSpec, Network
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv
from models.routing.rows import ORDER_COLUMNS, UNROUTABLE, _reason, example_rows

STATE_PREFIXES = ("load__", "up__", "backlog__")


def scenario_skus(cfg: RoutingConfig) -> list[str]:
    """SKU ids of a scenario, in the order of its stock arrays (as the sampler names them)."""
    return [f"SKU{j:03d}" for j in range(cfg.sampler.n_skus)]


def extended_input_columns(network: Network, cfg: RoutingConfig) -> list[str]:
    """Required input columns of a hard-scenario router."""
    ids = network.warehouse_ids
    return ([*ORDER_COLUMNS, "sku", "day"] + [f"{p}{w}" for p in STATE_PREFIXES for w in ids]
            + [f"stock__{w}__{s}" for w in ids for s in scenario_skus(cfg)])


def _check(df: pd.DataFrame, network: Network, cfg: RoutingConfig) -> None:
    missing = [c for c in extended_input_columns(network, cfg) if c not in df.columns]
    if missing:
        more = f" … ({len(missing)} in all)" if len(missing) > 8 else ""
        raise ValueError(f"scenario {cfg.scenario!r} routing input is missing columns: "
                         f"{missing[:8]}{more}; see models.routing.rows_extended")
    skus = scenario_skus(cfg)
    bad = sorted(set(df["sku"].astype(str)) - set(skus))
    if bad:
        raise ValueError(f"unknown sku value(s) {bad[:5]}; scenario {cfg.scenario!r} "
                         f"stocks {skus}")
    day = pd.to_numeric(df["day"], errors="coerce")
    p = cfg.sampler.n_periods
    if day.isna().any() or (day % 1 != 0).any() or ((day < 0) | (day >= p)).any():
        raise ValueError(f"day must be an integer in 0..{p - 1} (scenario {cfg.scenario!r})")
    for col, values in (("customer_tier", TIER_INDEX), ("weather", WEATHER_INDEX)):
        unknown = sorted(set(df[col].dropna().astype(str)) - set(values))
        if unknown:
            raise ValueError(f"unknown {col} value(s) {unknown}; expected {list(values)}")


def _num(df: pd.DataFrame, cols: list[str], default: float = 0.0) -> np.ndarray:
    return df[cols].apply(pd.to_numeric, errors="coerce").fillna(default).to_numpy(float)


def _val(r: pd.Series, col: str, default: float) -> float:
    v = pd.to_numeric(r[col], errors="coerce") if col in r.index else np.nan
    return float(default if pd.isna(v) else v)


def _row_spec(r: pd.Series, i: int, network: Network, cfg: RoutingConfig,
              stock: np.ndarray, up: np.ndarray) -> tuple[EpisodeSpec, bool]:
    """A one-order episode holding row ``r`` (and whether its coordinates are missing)."""
    skus = scenario_skus(cfg)
    lat, lon = _val(r, "customer_lat", np.nan), _val(r, "customer_lon", np.nan)
    bad_xy = bool(np.isnan(lat) or np.isnan(lon))
    one = np.ones(1)
    spec = EpisodeSpec(
        network=network, skus=skus, initial_stock=np.maximum(stock, 0).astype(np.int64),
        replenishment=np.zeros((cfg.sampler.n_periods, network.n, len(skus)), np.int64),
        period=np.array([int(r["day"])]),
        hour=one * float(np.clip(_val(r, "hour_of_day", 12.0), 0, 24)),
        value=one * _val(r, "order_value", 0.0),
        tier=np.array([TIER_INDEX.get(str(r["customer_tier"]), 0)]),
        lat=one * (0.0 if bad_xy else lat), lon=one * (0.0 if bad_xy else lon),
        sku=np.array([skus.index(str(r["sku"]))]),
        qty=np.array([max(int(_val(r, "quantity", 1.0)), 1)]),
        promised_hours=one * _val(r, "promised_hours", cfg.hours_scale),
        weather=np.array([WEATHER_INDEX.get(str(r["weather"]), 0)]),
        promo=one * _val(r, "promo_intensity", 0.0), down=~up[None, :],
        order_ids=[str(r["order_id"]) if "order_id" in r.index else str(i)])
    return spec, bad_xy


def extended_observations(df: pd.DataFrame, network: Network, cfg: RoutingConfig
                          ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Observations (N, obs_dim), masks (N, W + 1) and unroutable reasons ('' if routable).

    Raises:
        ValueError: Missing columns, an unknown SKU, tier or weather, or a day outside the
            scenario's calendar.
    """
    _check(df, network, cfg)
    df = df.reset_index(drop=True)
    ids, skus = network.warehouse_ids, scenario_skus(cfg)
    env = WarehouseRoutingEnv(cfg, network=network)
    stock = _num(df, [f"stock__{w}__{s}" for w in ids for s in skus]).reshape(
        len(df), network.n, len(skus))
    up, load = _num(df, [f"up__{w}" for w in ids]) > 0, _num(df, [f"load__{w}" for w in ids])
    backlog = _num(df, [f"backlog__{w}" for w in ids])
    obs = np.zeros((len(df), env.obs_dim), np.float32)
    masks = np.zeros((len(df), network.n + 1), bool)
    reasons = []
    for i, r in df.iterrows():
        spec, bad_xy = _row_spec(r, int(i), network, cfg, stock[i], up[i])
        env.reset(seed=0, options={"spec": spec})
        env.assigned = np.maximum(load[i], 0).astype(np.int64)
        env.backlog = np.maximum(backlog[i], 0).astype(np.int64)
        env._bid.reset()  # reset() priced the empty queues; price the row's state
        obs[i], masks[i] = env._obs(), env.action_masks()
        if bad_xy:
            masks[i, :-1], masks[i, -1] = False, True
        reasons.append(_reason(env, bad_xy) if masks[i, -1] else "")
    return obs, masks, reasons


def route_extended_frame(scorer: Any, network: Network, cfg: RoutingConfig, df: pd.DataFrame
                         ) -> pd.DataFrame:
    """Route every row of a hard scenario; ``scorer(obs)`` gives (N, W + 1) scores.

    Returns:
        ``order_id, warehouse_id, routable, reason`` and ``score__W`` (NaN where masked), one
        row per input row, in order; never a masked warehouse.
    """
    obs, masks, reasons = extended_observations(df, network, cfg)
    n, ids = len(df), network.warehouse_ids
    scores = scorer(obs) if n else np.zeros((0, network.n + 1))
    choice = np.where(masks, scores, -np.inf).argmax(axis=1) if n else np.zeros(0, int)
    routable = choice < network.n
    names = np.array(ids + [UNROUTABLE], dtype=object)
    order_ids = (df["order_id"].astype(str).tolist() if "order_id" in df.columns
                 else [str(i) for i in range(n)])
    out = pd.DataFrame({"order_id": order_ids,
                        "warehouse_id": np.where(routable, names[choice], UNROUTABLE),
                        "routable": routable,
                        "reason": [("" if ok else why) for ok, why in zip(routable, reasons,
                                                                             strict=True)]})
    masked = np.where(masks[:, :-1], scores[:, :-1], np.nan)
    for j, w in enumerate(ids):
        out[f"score__{w}"] = masked[:, j].astype(float)
    return out


def example_extended_rows(network: Network, cfg: RoutingConfig, n: int = 3,
                          random_state: int = 0) -> pd.DataFrame:
    """A small valid input frame of a hard scenario (signature and input example)."""
    rng = np.random.default_rng(random_state)
    df = example_rows(network, n, random_state).drop(
        columns=[f"stock__{w}" for w in network.warehouse_ids])
    skus = scenario_skus(cfg)
    df.insert(1, "sku", rng.choice(skus, n))
    df.insert(2, "day", rng.integers(0, cfg.sampler.n_periods, n).astype(float))
    for w in network.warehouse_ids:
        df[f"backlog__{w}"] = np.zeros(n)
        for s in skus:
            df[f"stock__{w}__{s}"] = rng.integers(0, 8, n).astype(float)
    return df


def current_extended_row(env: WarehouseRoutingEnv) -> pd.DataFrame:
    """A hard-scenario env's current order and full state as one input row."""
    from models.routing.rows import current_row

    spec, i = env.episode, env.t
    row = current_row(env).drop(columns=[f"stock__{w}" for w in env.network.warehouse_ids])
    row.insert(1, "sku", spec.skus[int(spec.sku[i])])
    row.insert(2, "day", float(env.current_period))
    for j, w in enumerate(env.network.warehouse_ids):
        row[f"backlog__{w}"] = float(env.backlog[j])
        for k, s in enumerate(spec.skus):
            row[f"stock__{w}__{s}"] = float(env.stock[j, k])
    return row
