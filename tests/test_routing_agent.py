"""Routing agents: estimator conventions, masked prediction, MLflow registration, serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.exceptions import NotFittedError

from envs.warehouse_routing import WarehouseRoutingEnv
from models.routing.agent import DQNRouter, MaskablePPORouter
from models.routing.rows import current_row, route_frame
from oms.tenancy import registered_name
from pipelines.train_router import FAMILY, train_router

REGISTERED_NAME = registered_name(FAMILY, "demo")

ROOT = Path(__file__).resolve().parents[1]
TINY_DQN = {"algo_kwargs": {"learning_starts": 100, "train_freq": 64, "gradient_steps": 16,
                            "buffer_size": 5_000},
            "eval_freq": 200, "n_eval_episodes": 2, "net_arch": (32, 32), "progress_bar": False}
FAST_DQN = {"algo_kwargs": {"learning_starts": 32, "train_freq": 32, "gradient_steps": 1},
            "total_timesteps": 64, "eval_freq": 10_000, "progress_bar": False, "net_arch": (8,)}


def test_unfitted_router_refuses_to_predict():
    with pytest.raises(NotFittedError, match="not fitted"):
        DQNRouter().predict(np.zeros((1, 46), np.float32))
    with pytest.raises(ValueError, match="positive"):
        DQNRouter(total_timesteps=0).fit()


def test_maskable_ppo_respects_masks():
    router = MaskablePPORouter(total_timesteps=128, algo_kwargs={"n_steps": 64, "batch_size": 32,
                                                                   "n_epochs": 1},
                               eval_freq=10_000, progress_bar=False, net_arch=(16,)).fit()
    env = WarehouseRoutingEnv(network=router.network_)
    obs, _ = env.reset(seed=5)
    for _ in range(30):
        mask = env.action_masks()
        a = int(router.predict(obs, mask[None])[0])
        assert mask[a]
        obs, *_ = env.step(a)
    with pytest.raises(ValueError, match="at least one valid"):
        router.predict(obs, np.zeros((1, env.n_warehouses + 1), bool))


def test_train_register_and_serve_champion_in_fresh_process(mlflow_uri, tmp_path):
    out = train_router("dqn", total_timesteps=400, gate_seeds=range(3), tenant="demo",
                       **TINY_DQN)
    assert out.version == "1" and out.promoted and out.name == REGISTERED_NAME
    res = out.report
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(REGISTERED_NAME, "champion").version) == "1"
    curve = client.get_metric_history(out.run_id, "eval_mean_reward")
    assert [m.step for m in curve] == [0, 200, 400]  # 0: the untrained policy
    assert len(res.summary) == 4 and res.summary["policy"].tolist()[0] == "dqn"
    # the pyfunc on env rows chooses what the masked router chooses on observations
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_NAME}@champion")
    env = WarehouseRoutingEnv(network=res.router.network_)
    obs, _ = env.reset(seed=9)
    for _ in range(5):
        mask = env.action_masks()
        want = int(res.router.predict(obs, mask[None])[0])
        got = model.predict(current_row(env)).iloc[0]
        assert got["warehouse_id"] == env.network.warehouse_ids[want]
        obs, *_ = env.step(want)
    script = textwrap.dedent(f"""
        import json, mlflow, numpy as np
        from models.routing.rows import example_rows
        from envs.warehouse_routing import WarehouseRoutingEnv
        net = WarehouseRoutingEnv().network
        df = example_rows(net, n=40, random_state=1)
        ids = net.warehouse_ids
        df.loc[0, [f"up__{{w}}" for w in ids]] = 0
        df.loc[1, [f"stock__{{w}}" for w in ids]] = 0
        df.loc[2, "customer_lat"] = np.nan
        m = mlflow.pyfunc.load_model("models:/{REGISTERED_NAME}@champion")
        out = m.predict(df)
        print(json.dumps({{"out": out.to_dict("list"), "inp": df.to_dict("list")}}))
    """)
    env_vars = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env_vars, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    out, inp = data["out"], data["inp"]
    ids = res.router.network_.warehouse_ids
    assert out["reason"][:3] == ["every warehouse is down",
                                 "no warehouse that is up has the SKU in stock",
                                 "NaN customer coordinates"]
    assert out["warehouse_id"][:3] == ["unroutable"] * 3
    for i in range(3, 40):
        w = out["warehouse_id"][i]
        if w == "unroutable":
            assert out["reason"][i]
            continue
        assert w in ids and inp[f"up__{w}"][i] == 1 and inp[f"stock__{w}"][i] >= 1
        cap = int(res.router.network_.capacity[ids.index(w)])
        assert inp[f"load__{w}"][i] < cap


def test_route_frame_rejects_unknown_warehouse_and_bad_tier():
    from models.routing.rows import example_rows

    router = DQNRouter(**FAST_DQN).fit()
    net, cfg = router.network_, router.env_config_
    df = example_rows(net, n=2)
    with pytest.raises(ValueError, match="unknown warehouse"):
        route_frame(router, net, cfg, df.assign(**{"stock__WH99": 1}))
    with pytest.raises(ValueError, match="customer_tier"):
        route_frame(router, net, cfg, df.assign(customer_tier="diamond"))
    with pytest.raises(ValueError, match="missing columns"):
        route_frame(router, net, cfg, df.drop(columns=f"load__{net.warehouse_ids[0]}"))


def test_greedy_prior_equals_the_immediate_reward():
    import torch

    from models.routing.qnet import immediate_reward_prior, reward_weights

    env = WarehouseRoutingEnv()
    obs, _ = env.reset(seed=4)
    for _ in range(40):
        r, ok = env.immediate_rewards(), env.action_masks()[:-1]
        p = immediate_reward_prior(torch.as_tensor(obs[None]), env.n_warehouses,
                                   reward_weights(env.config))[0].numpy()
        assert np.allclose(p[:-1][ok], r[ok], atol=1e-5) and (p[:-1][~ok] == -1.0).all()
        obs, *_ = env.step(int(np.nanargmax(r)) if ok.any() else env.n_warehouses)


def test_shared_head_with_zero_residual_is_the_greedy_prior():
    import torch

    from models.routing.qnet import immediate_reward_prior

    router = DQNRouter(**FAST_DQN).fit()
    q_net = router.model_.q_net
    with torch.no_grad():
        q_net.shared[-1].weight.zero_()
        q_net.shared[-1].bias.zero_()
        q_net.unroutable.zero_()
    env = WarehouseRoutingEnv()
    obs, _ = env.reset(seed=3)
    o = torch.as_tensor(obs[None])
    want = immediate_reward_prior(o, **q_net.prior_args).numpy()
    assert np.allclose(router.scores(obs[None]), want)


def test_masked_selection_keeps_the_best_checkpoint_of_the_best_restart():
    from sklearn.base import clone

    from models.routing.baselines import evaluate
    from models.routing.selection import selection_seeds

    router = DQNRouter(total_timesteps=200, masked_selection=True, restarts=2,
                       **(TINY_DQN | {"eval_freq": 100})).fit()
    assert clone(router).get_params()["restarts"] == 2  # explicit signature, stored as given
    curves = router.restart_curves_
    assert curves.groupby("restart")["timesteps"].apply(list).tolist() == [[0, 100, 200]] * 2
    best = curves.groupby("restart")["mean_reward"].max()
    assert router.best_restart_ == int(best.idxmax())
    assert router.best_eval_reward_ == pytest.approx(best.max())
    assert router.learning_curve_["mean_reward"].max() == pytest.approx(best.max())
    # the kept weights score exactly the best point on the (masked) validation episodes
    env = WarehouseRoutingEnv(network=router.network_)
    again = evaluate(env, router.as_policy(masked=True), selection_seeds(2))["reward"].mean()
    assert again == pytest.approx(router.best_eval_reward_)
