"""Routing scenarios: hard-scenario physics, the extended observation, dual prices, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from envs.demand import DemandForecast
from envs.observation import ObservationSpec
from envs.scenarios import SCENARIOS, EpisodeSpec, Network, get_scenario, sample_episode
from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv, scenario_config
from models.routing.baselines import MyopicGreedy, evaluate
from models.routing.dualprice import DualPrice, solve_prices

HARD = [n for n in SCENARIOS if n != "easy"]


def _spec(n: int, cap=(2, 2), stock=(9, 9), periods=None, down=None) -> EpisodeSpec:
    """Two warehouses on the equator (A at the customers, B one degree east)."""
    net = Network(["A", "B"], np.zeros(2), np.array([0.0, 1.0]), np.array(cap),
                  np.array([2.0, 1.0]))
    period = np.zeros(n, np.int64) if periods is None else np.asarray(periods)
    return EpisodeSpec(
        network=net, skus=["S"], initial_stock=np.array(stock).reshape(2, 1),
        replenishment=np.zeros((int(period.max()) + 1, 2, 1), np.int64), period=period,
        hour=np.full(n, 10.0), value=np.full(n, 100.0), tier=np.zeros(n, np.int64),
        lat=np.zeros(n), lon=np.zeros(n), sku=np.zeros(n, np.int64), qty=np.ones(n, np.int64),
        promised_hours=np.full(n, 30.0), weather=np.zeros(n, np.int64), promo=np.zeros(n),
        down=np.zeros((n, 2), bool) if down is None else down)


def test_easy_is_the_default_and_hard_scenarios_are_checker_clean():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    assert scenario_config("easy") == RoutingConfig()
    assert WarehouseRoutingEnv(scenario_config("easy")).obs_dim == 46
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        get_scenario("nope")
    for name in HARD:
        assert WarehouseRoutingEnv(scenario_config(name)).obs_dim == 13 + 13 * 5
    cfg = scenario_config("peak")  # every hard knob but the outage; checkers are slow
    env = WarehouseRoutingEnv(cfg)
    assert env.obs_dim == ObservationSpec(5, extended=True).size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check(env, skip_render_check=True)
        sb3_check(WarehouseRoutingEnv(cfg), warn=True)


@pytest.mark.parametrize("name", HARD)
def test_hard_scenario_is_seeded_deterministic(name):
    def roll(seed: int) -> tuple[list[float], np.ndarray]:
        env = WarehouseRoutingEnv(scenario_config(name))
        obs, _ = env.reset(seed=seed)
        rewards, done, seen = [], False, [obs]
        while not done:
            obs, r, done, _, _ = env.step(int(np.flatnonzero(env.action_masks())[0]))
            rewards.append(r)
            seen.append(obs)
        return rewards, np.stack(seen)

    r1, o1 = roll(5)
    r2, o2 = roll(5)
    assert r1 == r2 and np.array_equal(o1, o2)
    assert roll(6)[0] != r1


def test_scenario_knobs_shape_the_episodes():
    rng = np.random.default_rng(0)
    scarce, peak, outage = (get_scenario(n).sampler for n in ("scarce", "peak", "outage"))
    ep = sample_episode(rng, scarce)
    arrivals = ep.replenishment.sum(axis=(1, 2))
    assert arrivals[3] > 0 and (arrivals[[0, 1, 2, 4, 5]] == 0).all()  # every 3 days
    late = ep.hour[ep.tier == 3]
    assert late.size and late.min() >= 14.0 and ep.hour[ep.tier == 0].max() <= 15.0
    assert all(np.all(np.diff(ep.hour[ep.period == d]) >= 0) for d in range(6))
    ep = sample_episode(rng, outage)
    hub_down = ep.down.any(axis=0)
    assert hub_down.sum() == 1 and (ep.down[:, hub_down][:, 0] == (ep.period == 2)).all()
    per_day = np.zeros(7)
    for s in range(5):
        e = sample_episode(np.random.default_rng(s), peak)
        per_day += np.bincount(e.period, minlength=7)
    assert per_day[3:6].min() > 1.5 * per_day[[0, 1, 2, 6]].max()  # the festival days
    fc = DemandForecast(peak)
    assert fc.rates[4, 0].sum() == pytest.approx(4.0 * fc.rates[0, 0].sum())
    assert fc.next_replenishment(2) == 7 and DemandForecast(scarce).next_replenishment(1) == 3
    assert fc.remaining(0, 6.0).sum() > fc.remaining(0, 20.0).sum()


def test_backlog_carries_over_and_delays_orders():
    cfg = RoutingConfig(backlog=True)
    env = WarehouseRoutingEnv(cfg, spec=_spec(7, periods=[0, 0, 0, 1, 1, 1, 1]))
    env.reset(seed=0)
    hours = [env.step(0)[-1]["event"]["hours"] for _ in range(3)]
    # capacity 2, bands of one slot each: third order waits a full day in the queue
    assert hours == pytest.approx([2.0, 2.0 + cfg.band_delay_hours[2], 2.0 + 24.0])
    assert env.backlog.tolist() == [1, 0]  # day 2 starts with one order carried over
    assert env.delivery_hours(0) == pytest.approx(2.0 + cfg.band_delay_hours[2])
    for _ in range(3):
        env.step(0)
    assert env.backlog[0] + env.assigned[0] == 4  # capacity 2 × (today + 1 day of backlog)
    assert not env.action_masks()[0] and env.action_masks()[1]
    plain = WarehouseRoutingEnv(spec=_spec(3))
    plain.reset(seed=0)
    plain.step(0)
    plain.step(0)
    assert not plain.action_masks()[0]  # without backlog, capacity is a hard limit


def test_extended_observation_fields():
    env = WarehouseRoutingEnv(scenario_config("scarce"))
    obs, _ = env.reset(seed=3)
    spec = env.obs_spec
    assert np.array_equal(spec.read(obs[None], "open")[0] > 0.5, env.action_masks()[:-1])
    assert spec.read(obs[None], "to_repl")[0, 0] == pytest.approx(1.0)  # day 0 of 3
    sku, a = env.episode.sku[0], int(np.flatnonzero(env.action_masks()[:-1])[0])
    before = spec.read(obs[None], "cover")[0, a]
    while env.episode.sku[env.t] != sku or env.t == 0:
        obs, *_ = env.step(a if env.action_masks()[a] else int(np.flatnonzero(
            env.action_masks())[0]))
        if env.t > 0 and env.episode.sku[env.t] == sku:
            break
    assert env.stock[a, sku] < env.episode.initial_stock[a, sku] or before == 0
    blocks = spec.warehouse_blocks(obs[None])
    assert blocks.shape == (1, 5, 13)


def test_dual_prices_value_scarce_stock():
    # one region next to warehouse 0; 1.5 units of platinum demand, 1 unit at each warehouse:
    # one more unit at warehouse 0 would move half an order from -0.2 to 0.7
    rew = np.array([[[0.6, 0.1], [0.7, -0.2]]])  # (region, tier, warehouse)
    demand = np.zeros((1, 2, 1))
    demand[0, 1, 0] = 1.5  # only platinum demand expected
    lam, mu = solve_prices(rew, demand, np.array([[1.0], [1.0]]), np.array([5.0, 5.0]),
                           np.array([True, True]), -1.0)
    assert lam[0, 0] == pytest.approx(0.9) and lam[1, 0] == 0 and (mu == 0).all()
    demand[0, 1, 0] = 0.5
    lam, _ = solve_prices(rew, demand, np.array([[1.0], [1.0]]), np.array([5.0, 5.0]),
                          np.array([True, True]), -1.0)
    assert lam[0, 0] == 0  # stock not binding: no price


def test_dual_price_policy_is_valid_and_resolves_daily():
    env = WarehouseRoutingEnv(scenario_config("scarce"))
    dp = DualPrice()
    res = evaluate(env, dp, range(2))
    assert (res["invalid_rate"] == 0).all() and dp.solves >= 2 * 6
    greedy = evaluate(env, MyopicGreedy(), range(2))
    assert (res["orders"] == greedy["orders"]).all()


def test_bad_input_is_unroutable_or_a_clear_error():
    from models.routing.agent import DQNRouter
    from models.routing.pyfunc import WarehouseRouterModel
    from models.routing.rows import example_rows, route_frame

    # a SKU no warehouse stocks, all warehouses down: the env only allows "unroutable"
    down = np.ones((2, 2), bool)
    for spec in (_spec(2, stock=(0, 0)), _spec(2, down=down), _spec(2, cap=(0, 0))):
        env = WarehouseRoutingEnv(RoutingConfig(backlog=True), spec=spec)
        env.reset(seed=0)
        assert env.action_masks().tolist() == [False, False, True]
        assert DualPrice().act(env, None) == 2 == MyopicGreedy().act(env, None)
    with pytest.raises(ValueError, match="capacity"):
        Network(["A"], np.zeros(1), np.zeros(1), np.array([-1]), np.ones(1))
    router = DQNRouter(total_timesteps=64, eval_freq=10_000, progress_bar=False, net_arch=(8,),
                       algo_kwargs={"learning_starts": 32, "train_freq": 32,
                                    "gradient_steps": 1}).fit()
    net = router.network_
    zero = Network(net.warehouse_ids, net.lat, net.lon, np.zeros(net.n, np.int64),
                   net.cost_per_order)
    out = route_frame(router, zero, RoutingConfig(), example_rows(net, n=4))
    assert (out["warehouse_id"] == "unroutable").all()
    assert out["reason"].str.contains("capacity").all()
    model = WarehouseRouterModel("dqn", net, RoutingConfig(), router)
    with pytest.raises(ValueError, match="missing columns"):
        model.predict(None, pd.DataFrame(np.zeros((2, 46))))
    with pytest.raises(ValueError, match=r"order\+state rows .* ndarray of shape \(2, 46\)"):
        model.predict(None, np.zeros((2, 46), np.float32))
    with pytest.raises(ValueError, match="features"):
        router.predict(np.zeros((2, 45), np.float32))


def test_bid_price_prior_is_the_dual_price_policy():
    import torch

    from models.routing.qnet import immediate_reward_prior, reward_weights

    env = WarehouseRoutingEnv(scenario_config("peak"))
    obs, _ = env.reset(seed=2)
    dp = DualPrice()
    dp.begin_episode(env)
    for _ in range(120):
        prior = immediate_reward_prior(torch.as_tensor(obs[None]), env.n_warehouses,
                                       reward_weights(env.config), extended=True,
                                       bid_price=True)[0].numpy()
        ok = env.action_masks()
        want = dp.act(env, obs)
        assert int(np.argmax(np.where(ok, prior, -np.inf))) == want
        obs, *_ = env.step(want)


def test_online_retail_replay_on_the_uk_eu_network():
    from pathlib import Path

    from envs.retail import RETAIL_WAREHOUSES, retail_episode

    fixture = Path(__file__).parent / "fixtures" / "retail_routing_orders.parquet"
    orders = pd.read_parquet(fixture)
    spec = retail_episode(orders, "2011-11-01", n_days=3)
    day = pd.to_datetime(orders["InvoiceDate"]).dt.normalize()
    first3 = sorted(day.unique())[:3]
    assert spec.n_orders == int(day.isin(first3).sum()) and spec.n_periods == 3
    assert spec.network.warehouse_ids == RETAIL_WAREHOUSES["warehouse_id"].tolist()
    assert (spec.network.capacity >= 2).all() and spec.skus[-1] == "other"
    assert np.all(np.diff(spec.period) >= 0) and set(spec.tier) <= {0, 1, 2, 3}
    again = retail_episode(orders, "2011-11-01", n_days=3)
    assert np.array_equal(spec.lat, again.lat) and np.array_equal(spec.sku, again.sku)
    env = WarehouseRoutingEnv(RoutingConfig(backlog=True), spec=spec)
    res = evaluate(env, MyopicGreedy(), [0])
    assert res["orders"].iloc[0] == spec.n_orders and res["invalid_rate"].iloc[0] == 0
    with pytest.raises(ValueError, match="no orders"):
        retail_episode(orders, "2012-06-01")


def test_hard_scenario_routers_have_their_own_registry_family():
    from pipelines.train_router import FAMILY, scenario_family

    assert scenario_family("easy") == FAMILY == "warehouse_router"  # the one serving loads
    assert scenario_family("peak") == "warehouse_router_peak"


def test_hard_scenario_training_logs_its_learning_curve(mlflow_uri):
    from mlflow import MlflowClient

    from pipelines.train_router import train_router

    out = train_router("dqn", total_timesteps=200, scenario="scarce", register=False,
                       gate_seeds=range(1), tenant="demo", eval_freq=100, n_eval_episodes=1,
                       net_arch=(8,), progress_bar=False, bid_price_prior=True,
                       algo_kwargs={"learning_starts": 50, "train_freq": 50,
                                    "gradient_steps": 2})
    client = MlflowClient()
    run = client.get_run(out.run_id)
    assert run.data.tags["scenario"] == "scarce" and out.gate is None
    assert [m.step for m in client.get_metric_history(out.run_id, "eval_mean_reward")] == [
        0, 100, 200]
    assert "dual_price_mean_reward" in run.data.metrics
    # one gate episode has no standard error: the router cannot be shown to beat dual-price
    assert run.data.tags["gate_choice"] == "dual-price"
    assert out.report.summary["policy"].tolist()[-1] == "dual-price"


def test_bid_price_shaping_charges_the_bid_price_and_telescopes():
    from envs.shaping import BidPriceShaping, bid_price_potential

    env = WarehouseRoutingEnv(scenario_config("scarce"))
    shaped = BidPriceShaping(env, gamma=1.0)
    obs, _ = shaped.reset(seed=4)
    phi0, total_raw, total_shaped, done, dp = bid_price_potential(env), 0.0, 0.0, False, DualPrice()
    assert phi0 > 0
    dp.begin_episode(env)
    while not done:
        a, day, price = dp.act(env, obs), env.current_period, env._bid.current(env)
        obs, r, done, _, info = shaped.step(a)
        raw = info["event"]["reward"]
        if not done and env.current_period == day and a < env.n_warehouses:
            assert r == pytest.approx(raw - price[a], abs=1e-6)  # within a day: r - bid price
        total_raw, total_shaped = total_raw + raw, total_shaped + r
    assert total_shaped == pytest.approx(total_raw - phi0, abs=1e-6)  # Φ(end) = 0
    with pytest.raises(ValueError, match="extended observation"):
        BidPriceShaping(WarehouseRoutingEnv(), gamma=0.9)


def test_zero_residual_dqn_starts_as_the_dual_price_policy():
    from models.routing.agent import DQNRouter

    cfg = scenario_config("peak")
    router = DQNRouter(total_timesteps=64, env_config=cfg, eval_freq=64, n_eval_episodes=1,
                       net_arch=(8,), progress_bar=False, bid_price_prior=True,
                       zero_residual=True, bid_price_shaping=True,
                       algo_kwargs={"learning_starts": 1000, "train_freq": 64}
                       ).fit(WarehouseRoutingEnv(cfg))
    assert router.learning_curve_["timesteps"].tolist() == [0, 64]  # 0: the untrained policy
    env = WarehouseRoutingEnv(cfg)
    a = evaluate(env, router.as_policy(True, "dqn"), [7, 8])
    b = evaluate(env, DualPrice(), [7, 8])
    assert a["reward"].tolist() == pytest.approx(b["reward"].tolist())


def test_routing_cli_scenario_option():
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["route", "evaluate", "--scenario", "nope", "--no-champion"])
    assert res.exit_code == 2 and "unknown scenario 'nope'" in res.output
    res = runner.invoke(app, ["train", "router", "--scenario", "peak", "--timesteps", "0"])
    assert res.exit_code == 2 and "at least 1" in res.output
    res = runner.invoke(app, ["route", "evaluate", "--scenario", "outage", "--episodes", "1",
                              "--no-champion"])
    assert res.exit_code == 0, res.output
    assert "dual-price" in res.output and "outage" in res.output
