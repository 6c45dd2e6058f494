"""Warehouse routing environment: checkers, determinism, masks, reward arithmetic, replay."""

from __future__ import annotations

import math
import warnings

import gymnasium
import numpy as np
import pandas as pd
import pytest

import envs
from envs.replay import build_episode, episode_from_lake
from envs.scenarios import EpisodeSpec, Network
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv
from oms.lake import table_uri, write_table

KM_PER_DEG = 2 * math.pi * 6371.0 / 360  # along the equator


def tiny_spec(n: int = 4, down: np.ndarray | None = None, stock=(5, 5), cap=(10, 10),
              periods=None, repl=None, hour=10.0, promise=30.0) -> EpisodeSpec:
    """Two warehouses on the equator at lon 0 and lon 1; customers at lon 0."""
    net = Network(["A", "B"], np.zeros(2), np.array([0.0, 1.0]), np.array(cap),
                  np.array([2.0, 1.0]))
    period = np.zeros(n, np.int64) if periods is None else np.asarray(periods)
    p = int(period.max()) + 1
    replenishment = np.zeros((p, 2, 1), np.int64) if repl is None else np.asarray(repl)
    return EpisodeSpec(
        network=net, skus=["S"], initial_stock=np.array(stock).reshape(2, 1),
        replenishment=replenishment, period=period, hour=np.full(n, hour),
        value=np.full(n, 100.0), tier=np.zeros(n, np.int64), lat=np.zeros(n),
        lon=np.zeros(n), sku=np.zeros(n, np.int64), qty=np.ones(n, np.int64),
        promised_hours=np.full(n, promise), weather=np.zeros(n, np.int64),
        promo=np.zeros(n), down=np.zeros((n, 2), bool) if down is None else down)


def test_registered_and_both_checkers_pass_without_warnings():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    assert envs.ROUTING_ENV_ID == "oms/WarehouseRouting-v0"
    env = gymnasium.make("oms/WarehouseRouting-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(env.unwrapped, skip_render_check=True)
        sb3_check(WarehouseRoutingEnv(), warn=True)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    _, r, term, trunc, _ = env.step(int(np.flatnonzero(env.unwrapped.action_masks())[0]))
    assert type(r) is float and type(term) is bool and type(trunc) is bool


def _rollout(seed: int) -> tuple[list[np.ndarray], list[float]]:
    env = WarehouseRoutingEnv()
    obs, _ = env.reset(seed=seed)
    seen, rewards, done = [obs], [], False
    while not done:
        a = int(np.flatnonzero(env.action_masks())[-1])
        obs, r, done, _, _ = env.step(a)
        seen.append(obs)
        rewards.append(r)
    return seen, rewards


def test_deterministic_under_seed():
    o1, r1 = _rollout(11)
    o2, r2 = _rollout(11)
    o3, _ = _rollout(12)
    assert len(o1) == len(o2) and all(np.array_equal(a, b) for a, b in zip(o1, o2, strict=True))
    assert r1 == r2
    assert len(o1) != len(o3) or not all(np.array_equal(a, b) for a, b in zip(o1, o3, strict=False))


def test_reward_arithmetic_on_hand_made_case():
    cfg = RoutingConfig()
    env = WarehouseRoutingEnv(cfg, spec=tiny_spec(promise=3.0))
    env.reset(seed=0)
    # warehouse B: 1 degree away -> 111.19 km, 1.853 h at 60 km/h, + 2 h handling: late (3 h)
    dist = KM_PER_DEG
    hours = cfg.handling_hours + dist / cfg.speed_kmh
    cost = 1.0 + cfg.cost_per_km * dist
    expected = -0.3 * cost / env.cost_scale + 0.5 * 0.5 - 0.2 * hours / cfg.hours_scale
    _, r, *_ , info = env.step(1)
    assert r == pytest.approx(expected, rel=1e-6)
    assert info["event"]["on_time"] is False and info["event"]["hours"] == pytest.approx(hours)
    # warehouse A: same place -> 2 h handling, on time, cost 2.0
    _, r, *_ = env.step(0)
    assert r == pytest.approx(-0.3 * 2.0 / env.cost_scale + 0.5 - 0.2 * 2.0 / 48.0, rel=1e-9)
    weights = RoutingConfig(w_cost=1.0, w_sat=0.0, w_hours=0.0)
    env2 = WarehouseRoutingEnv(weights, spec=tiny_spec())
    env2.reset(seed=0)
    assert env2.step(0)[1] == pytest.approx(-2.0 / env2.cost_scale)


def test_queue_builds_up_and_slows_later_orders():
    cfg = RoutingConfig()
    env = WarehouseRoutingEnv(cfg, spec=tiny_spec(n=8, stock=(10, 10), cap=(4, 4)))
    env.reset(seed=0)
    hours = []
    for _ in range(4):
        hours.append(env.step(0)[-1]["event"]["hours"])
    assert hours == pytest.approx([2.0 + b for b in cfg.band_delay_hours])
    assert not env.action_masks()[0] and env.action_masks()[1]  # capacity reached today


def test_masks_invalid_penalty_and_unroutable():
    env = WarehouseRoutingEnv(spec=tiny_spec(n=3, stock=(1, 0)))
    env.reset(seed=0)
    assert env.action_masks().tolist() == [True, False, False]
    _, r, *_, info = env.step(1)  # no stock at B: penalised, order lost
    assert r == -1.0 and info["event"]["valid"] is False and info["totals"]["invalid"] == 1
    env.step(0)  # uses the last unit
    assert env.action_masks().tolist() == [False, False, True]
    _, r, *_, info = env.step(2)
    assert r == -1.0 and info["event"]["unroutable"] and info["event"]["valid"]
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(7)
    with pytest.raises(ValueError, match="out of range"):
        env.step(-1)


def test_stock_depletes_and_is_replenished_next_period():
    repl = np.zeros((2, 2, 1), np.int64)
    repl[1, 0, 0] = 2
    env = WarehouseRoutingEnv(spec=tiny_spec(n=3, stock=(1, 0), periods=[0, 0, 1], repl=repl))
    env.reset(seed=0)
    env.step(0)
    assert env.action_masks().tolist() == [False, False, True]
    _, _, _, _, info = env.step(2)
    assert info["period"] == 1 and env.stock[0, 0] == 2 and env.action_masks()[0]


def test_outage_in_the_middle_of_an_episode():
    down = np.zeros((6, 2), bool)
    down[2:4, 0] = True
    env = WarehouseRoutingEnv(spec=tiny_spec(n=6, down=down))
    env.reset(seed=0)
    masks = []
    for t in range(6):
        masks.append(env.action_masks()[:2].tolist())
        a = 0 if t != 2 else 0  # at t=2 A is down: taking it is penalised
        _, r, *_, info = env.step(a)
        if t in (2, 3):
            assert r == -1.0 and not info["event"]["valid"]
        else:
            assert info["event"]["served"]
    assert masks == [[True, True]] * 2 + [[False, True]] * 2 + [[True, True]] * 2


def _tables() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(["2024-03-01 02:00", "2024-03-01 05:00", "2024-03-01 07:00",
                         "2024-03-02 03:00", "2024-03-02 04:00"], utc=True)
    orders = pd.DataFrame({
        "tenant_id": "t", "order_id": ["o1", "o2", "o3", "o4", "o5"], "order_ts": ts,
        "order_date": pd.to_datetime(["2024-03-01"] * 3 + ["2024-03-02"] * 2),
        "region": "east", "customer_id": ["c1", "c2", "c3", "c1", "c2"],
        "warehouse_id": "A", "total_amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        "promised_hours": [24.0, None, 24.0, 24.0, 24.0]})
    lines = pd.DataFrame({
        "tenant_id": "t", "order_id": ["o1", "o2", "o3", "o4", "o4", "o5"],
        "line_no": [1, 1, 1, 1, 2, 1], "sku": ["S1", "S1", "S1", "S2", "POST", "ZZZ"],
        "quantity": [1, 2, 1, 1, 1, 1], "unit_price": 1.0,
        "line_amount": [10.0, 20.0, 30.0, 40.0, 5.0, 50.0],
        "is_product": [True, True, True, True, False, True],
        "order_date": pd.to_datetime(["2024-03-01"] * 3 + ["2024-03-02"] * 3)})
    customers = pd.DataFrame({"tenant_id": "t", "customer_id": ["c1", "c2", "c3"],
                              "tier": ["gold", "bronze", "silver"],
                              "lat": [31.0, 31.5, np.nan], "lon": [121.0, 120.0, 119.0]})
    warehouses = pd.DataFrame({"tenant_id": "t", "warehouse_id": ["B", "A"], "lat": [30.0, 31.2],
                               "lon": [120.0, 121.4], "capacity_per_day": [5, 3],
                               "cost_per_order": [2.0, 3.0]})
    inventory = pd.DataFrame({
        "tenant_id": "t", "warehouse_id": ["A", "B", "A", "A"], "sku": ["S1", "S1", "S2", "S1"],
        "snapshot_date": pd.to_datetime(["2024-02-29", "2024-02-29", "2024-02-29",
                                         "2024-03-02"]),
        "on_hand": [2, 1, 1, 4]})
    ctx = pd.DataFrame({"tenant_id": "t", "date": pd.to_datetime(["2024-03-01", "2024-03-02"]),
                        "region": "east", "weather": ["rain", "sunny"],
                        "promotion_intensity": [0.5, 0.0]})
    return {"orders": orders, "order_lines": lines, "customers": customers,
            "warehouses": warehouses, "inventory": inventory, "daily_context": ctx}


def test_replay_episode_from_order_stream():
    spec, rejected = build_episode(_tables(), "2024-03-01", n_days=2)
    assert spec.order_ids == ["o1", "o2", "o4"]
    assert dict(zip(rejected["order_id"], rejected["reason"], strict=True)) == {
        "o5": "unknown SKU (not in any warehouse's inventory)",
        "o3": "missing customer coordinates"}
    assert spec.network.warehouse_ids == ["A", "B"]
    assert spec.skus == ["S1", "S2"] and spec.sku.tolist() == [0, 0, 1]
    assert spec.qty.tolist() == [1, 2, 1] and spec.period.tolist() == [0, 0, 1]
    assert spec.promised_hours.tolist() == [24.0, 48.0, 24.0]  # bronze default for o2
    assert spec.weather.tolist() == [2, 2, 0] and spec.promo.tolist() == [0.5, 0.5, 0.0]
    assert spec.initial_stock.tolist() == [[2, 1], [1, 0]]
    assert spec.replenishment[1].tolist() == [[2, 0], [0, 0]]  # A's S1 went 2 -> 4
    env = WarehouseRoutingEnv(spec=spec)
    env.reset(seed=0)
    env.step(0)
    assert env.action_masks().tolist() == [False, False, True]  # o2 wants 2 units, 1+1 left
    env.step(2)
    assert env.stock[0].tolist() == [3, 1]  # replenished on day 2
    outages = pd.DataFrame({"warehouse_id": ["A"], "start_ts": [pd.Timestamp("2024-03-01 04:00",
                                                                             tz="UTC")],
                            "end_ts": [pd.Timestamp("2024-03-02 00:00", tz="UTC")]})
    spec2, _ = build_episode(_tables(), "2024-03-01", n_days=2, outages=outages)
    assert spec2.down[:, 0].tolist() == [False, True, False]
    with pytest.raises(ValueError, match="unknown warehouse"):
        build_episode(_tables(), "2024-03-01", outages=outages.assign(warehouse_id="Q"))


def test_episode_from_lake(tmp_path):
    for name, df in _tables().items():
        write_table(df, table_uri(tmp_path, name))
    spec, rejected = episode_from_lake(str(tmp_path), "2024-03-01", n_days=1)
    assert spec.order_ids == ["o1", "o2"] and rejected["order_id"].tolist() == ["o3"]


def test_nan_coordinates_are_refused():
    spec = tiny_spec()
    with pytest.raises(ValueError, match="NaN coordinates"):
        EpisodeSpec(network=spec.network, skus=spec.skus, initial_stock=spec.initial_stock,
                    replenishment=spec.replenishment, period=spec.period, hour=spec.hour,
                    value=spec.value, tier=spec.tier, lat=np.r_[np.nan, spec.lat[1:]],
                    lon=spec.lon, sku=spec.sku, qty=spec.qty,
                    promised_hours=spec.promised_hours, weather=spec.weather,
                    promo=spec.promo, down=spec.down)


def test_observation_spec_names_every_slice_of_the_observation():
    from envs.observation import ObservationSpec

    env = WarehouseRoutingEnv()
    obs, _ = env.reset(seed=2)
    spec = ObservationSpec(env.n_warehouses)
    sl = list(spec.slices.values())
    assert sl[0].start == 0 and sl[-1].stop == spec.size == env.observation_space.shape[0]
    assert all(a.stop == b.start for a, b in zip(sl[:-1], sl[1:], strict=True))
    ep, i = env.episode, env.t
    batch = obs[None]
    assert np.isclose(spec.read(batch, "qty")[0, 0], ep.qty[i] / env.config.stock_scale)
    assert np.allclose(spec.read(batch, "up")[0], ~ep.down[i])
    blocks = spec.warehouse_blocks(batch)  # (1, W, K)
    assert np.allclose(blocks[0, :, 1], spec.read(batch, "cost")[0])
