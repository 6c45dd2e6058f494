"""Replayed real streams: the forecast from earlier orders, the window pool, disjoint splits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envs.replay_demand import replay_forecast, spec_history
from envs.replay_pool import ReplayPoolEnv
from envs.replay_windows import ReplaySplits, retail_splits, window_starts
from envs.retail import retail_episode, retail_history, trading_days
from envs.scenarios import EpisodeSpec, Network
from envs.warehouse_routing import RoutingConfig
from models.routing.baselines import MyopicGreedy, evaluate
from models.routing.dualprice import DualPrice

FIXTURE = Path(__file__).parent / "fixtures" / "retail_routing_orders.parquet"
CFG = RoutingConfig(backlog=True, extended_obs=True, scenario="retail")
# a small calendar of the November 2011 fixture (2-day windows): 2 to train, 1 to select,
# 2 for the gate, 2 evaluated
SMALL = {"train": ("2011-11-07", "2011-11-10"), "select": ("2011-11-14", "2011-11-16"),
         "gate": ("2011-11-17", "2011-11-21"), "evaluate": ("2011-11-21", "2011-11-25")}


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE)


@pytest.fixture(scope="module")
def splits(orders: pd.DataFrame) -> ReplaySplits:
    return retail_splits(orders, episodes=2, n_days=2, history_days=6, ranges=SMALL)


def _window(periods: int = 2) -> EpisodeSpec:
    """Two warehouses (A at lon 0, B at lon 10), SKUs x and y, stock arriving in period 1."""
    net = Network(["A", "B"], np.zeros(2), np.array([0.0, 10.0]), np.array([5, 5]),
                  np.ones(2))
    repl = np.zeros((periods, 2, 2), np.int64)
    repl[1] = 1
    n = 2
    return EpisodeSpec(
        network=net, skus=["x", "y"], initial_stock=np.ones((2, 2), np.int64),
        replenishment=repl, period=np.array([0, 1]), hour=np.full(n, 9.0),
        value=np.full(n, 50.0), tier=np.zeros(n, np.int64), lat=np.zeros(n), lon=np.zeros(n),
        sku=np.zeros(n, np.int64), qty=np.ones(n, np.int64), promised_hours=np.full(n, 48.0),
        weather=np.zeros(n, np.int64), promo=np.zeros(n), down=np.zeros((n, 2), bool))


def test_replay_forecast_counts_history_by_weekday_and_never_sees_the_window():
    spec = _window()
    days = pd.to_datetime(["2024-01-08", "2024-01-09"])  # a Monday and a Tuesday
    # two Mondays of history near A (x, x, z→other) and one Tuesday near B (y, gold)
    hist = pd.DataFrame({"day": pd.to_datetime(["2024-01-01", "2024-01-01", "2023-12-25",
                                                "2024-01-02"]),
                         "hour": [8.0, 16.0, 12.0, 20.0], "lat": 0.0,
                         "lon": [0.1, 0.1, 0.1, 9.9], "tier": [0, 0, 0, 2],
                         "sku": ["x", "x", "z", "y"]})
    fc = replay_forecast(hist, spec, days, other_sku=1)
    assert fc.rates.shape == (2, 2, 4, 2)
    assert fc.rates[0, 0, 0].tolist() == [1.0, 0.5]  # 2 x and 1 pooled z over 2 Mondays
    assert fc.rates[1, 1, 2].tolist() == [0.0, 1.0] and fc.rates[1].sum() == 1.0
    assert fc.next_replenishment(0) == 1 and fc.next_replenishment(1) == 2 and fc.cycle == 1
    # tier 0 arrived at 8, 12 and 16 h: after 12 h one of three is still to come
    assert fc.after_fraction(12.0)[0] == pytest.approx(1 / 3)
    assert fc.remaining(0, 12.0)[0, 0].tolist() == pytest.approx([1 / 3, 1 / 6])
    dropped = replay_forecast(hist, spec, days, other_sku=None)  # the lake: no pooled SKU
    assert dropped.rates[0, 0, 0].tolist() == [1.0, 0.0]
    late = pd.concat([hist, hist.head(1).assign(day=pd.Timestamp("2024-01-08"))])
    with pytest.raises(ValueError, match="must not see the window"):
        replay_forecast(late, spec, days)
    with pytest.raises(ValueError, match="no history"):
        replay_forecast(hist.iloc[:0], spec, days)
    with pytest.raises(ValueError, match="period days"):
        replay_forecast(hist, spec, days[:1])


def test_retail_window_forecast_comes_from_the_days_before(orders):
    days = trading_days(orders, "2011-11-21", 3)
    spec = retail_episode(orders, "2011-11-21", 3)
    hist = retail_history(orders, days[0], 14)
    assert hist["day"].max() < days[0] and hist["day"].min() >= days[0] - pd.Timedelta(days=14)
    fc = replay_forecast(hist, spec, days, other_sku=len(spec.skus) - 1)
    assert fc.rates.shape == (3, spec.network.n, 4, len(spec.skus))
    # per day it expects about as many orders as the history's trading days had
    per_day = len(hist) / hist["day"].nunique()
    assert fc.rates.sum(axis=(1, 2, 3)).mean() == pytest.approx(per_day, rel=0.35)
    assert fc.arrivals == [2]  # stock every 2 days
    back = spec_history(spec, days)
    assert len(back) == spec.n_orders and set(back["sku"]) <= set(spec.skus)


def test_splits_are_disjoint_and_end_before_the_evaluated_windows(splits):
    sizes = {n: len(splits.episodes[n]) for n in splits.episodes}
    assert sizes == {"train": 2, "select": 1, "gate": 2, "evaluate": 2}
    days = {n: {d for w in ws for d in w} for n, ws in splits.days.items()}
    first_eval = min(days["evaluate"])
    for a in days:
        assert all(days[a].isdisjoint(days[b]) for b in days if b != a)
        if a != "evaluate":
            assert max(days[a]) < first_eval
    # an evaluation window's forecast uses only orders before the whole evaluation period
    ev = splits.episodes["evaluate"][1]
    assert splits.days["evaluate"][1][0] > first_eval
    assert ev.forecast.rates.sum() > 0
    bad = ReplaySplits(days={"train": [pd.DatetimeIndex(["2024-01-02", "2024-01-03"])],
                             "select": [], "gate": [],
                             "evaluate": [pd.DatetimeIndex(["2024-01-03", "2024-01-04"])]})
    with pytest.raises(ValueError, match="both train and evaluate|both evaluate and train"):
        bad.check_disjoint()
    assert window_starts(pd.DatetimeIndex(pd.to_datetime(
        ["2024-01-01", "2024-01-02", "2024-01-04"])), "2024-01-01", "2024-01-05", 2) == [
        pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]


def test_replay_pool_env_is_checker_clean_and_seeded(splits):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    pool = splits.episodes["train"]
    env = ReplayPoolEnv(CFG, pool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(ReplayPoolEnv(CFG, pool), skip_render_check=True)
        sb3_check_env(ReplayPoolEnv(CFG, pool), warn=True)
    for k in range(4):  # seed k replays window k mod K
        env.reset(seed=k)
        assert env.episode is pool[k % len(pool)]
    def draws() -> list[int]:  # unseeded resets draw windows with the env's generator
        env.reset(seed=11)
        out = []
        for _ in range(6):
            env.reset()
            out.append(next(k for k, e in enumerate(pool) if e is env.episode))
        return out

    assert draws() == draws()
    assert env.network is env.episode.network  # the window's own capacities
    with pytest.raises(ValueError, match="at least one"):
        ReplayPoolEnv(CFG, [])


def test_dual_price_plans_with_the_window_forecast(splits):
    env = ReplayPoolEnv(CFG, splits.episodes["evaluate"])
    dp = DualPrice()
    res = evaluate(env, dp, [0, 1])
    assert (res["invalid_rate"] == 0).all() and dp.solves >= 2 * 2
    assert dp._prices.forecast_for(env) is env.episode.forecast
    greedy = evaluate(env, MyopicGreedy(), [0, 1])
    assert res["orders"].tolist() == greedy["orders"].tolist()


def test_dqn_selects_checkpoints_on_the_selection_windows(splits):
    from models.routing.agent import DQNRouter
    from models.routing.selection import selection_seeds

    train = ReplayPoolEnv(CFG, splits.episodes["train"])
    select = ReplayPoolEnv(CFG, splits.episodes["select"])
    # no gradient step before learning_starts: the router scored at 0 and 100 is the final one
    router = DQNRouter(total_timesteps=100, env_config=CFG, eval_freq=100, n_eval_episodes=1,
                       net_arch=(8,), progress_bar=False, bid_price_prior=True,
                       zero_residual=True, state_value=True, masked_selection=True,
                       algo_kwargs={"learning_starts": 1000, "train_freq": 50}
                       ).fit(train, eval_env=select)
    curve = router.learning_curve_
    assert curve["timesteps"].tolist() == [0, 100]
    mine = router.as_policy(True, "dqn")
    on_select = evaluate(select, mine, selection_seeds(1))["reward"].mean()
    on_train = evaluate(train, mine, selection_seeds(1))["reward"].mean()
    assert curve["mean_reward"].iloc[0] == pytest.approx(on_select) != on_train
