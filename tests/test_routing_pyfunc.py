"""Hard-scenario routers as pyfuncs: extended rows, registration by scenario, serving refusal."""

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

from envs.scenarios import Network
from envs.warehouse_routing import WarehouseRoutingEnv, scenario_config
from models.routing.agent import DQNRouter
from models.routing.dualprice import DualPrice
from models.routing.pyfunc import WarehouseRouterModel
from models.routing.rows_extended import (
    current_extended_row,
    example_extended_rows,
    extended_observations,
    route_extended_frame,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"eval_freq": 100, "n_eval_episodes": 1, "net_arch": (8,), "progress_bar": False,
        "bid_price_prior": True, "zero_residual": True, "state_value": True,
        "masked_selection": True,
        "algo_kwargs": {"learning_starts": 50, "train_freq": 50, "gradient_steps": 2}}


@pytest.fixture(scope="module")
def peak_router() -> DQNRouter:
    cfg = scenario_config("peak")
    return DQNRouter(total_timesteps=200, env_config=cfg, **TINY).fit(WarehouseRoutingEnv(cfg))


def test_extended_rows_rebuild_the_environments_observation(peak_router):
    """At the first order of each day (when the env solves its bid prices) a row taken from
    the env gives the env's own observation and mask, and both shipped policies choose what
    they choose in the env; on every order the pyfunc answers a valid warehouse."""
    cfg, net = peak_router.env_config_, peak_router.network_
    env = WarehouseRoutingEnv(cfg, network=net)
    obs, _ = env.reset(seed=11)
    dp = DualPrice()
    dp.begin_episode(env)
    learned = WarehouseRouterModel("dqn", net, cfg, peak_router)
    dual = WarehouseRouterModel("dqn", net, cfg, peak_router, policy="dual-price")
    assert learned.scenario == "peak" and dual.policy == "dual-price"
    day, checked, done, ids = -1, 0, False, net.warehouse_ids
    while not done:
        mask = env.action_masks()
        want = dp.act(env, obs)
        first = env.current_period != day  # the env re-solved its prices for this order
        if first or env.t % 25 == 0:
            row = current_extended_row(env)
            out = learned.predict(None, row).iloc[0]
            assert out["routable"] == (not mask[-1])
            if out["routable"]:
                assert mask[ids.index(out["warehouse_id"])]
        if first:
            day = env.current_period
            got_obs, got_mask, _ = extended_observations(row, net, cfg)
            np.testing.assert_allclose(got_obs[0], obs, atol=1e-6)
            assert got_mask[0].tolist() == mask.tolist()
            mine = int(peak_router.predict(obs, mask[None])[0])
            assert out["warehouse_id"] == (ids + ["unroutable"])[mine]
            assert dual.predict(None, row).iloc[0]["warehouse_id"] == (ids + ["unroutable"])[want]
            checked += 1
        obs, _, done, _, _ = env.step(want)
    assert checked == cfg.sampler.n_periods


def test_extended_rows_bad_input(peak_router):
    cfg, net = peak_router.env_config_, peak_router.network_
    ids = net.warehouse_ids
    model = WarehouseRouterModel("dqn", net, cfg, peak_router)
    df = example_extended_rows(net, cfg, n=4, random_state=3)
    df.loc[0, [f"up__{w}" for w in ids]] = 0  # all warehouses down
    df.loc[1, [f"stock__{w}__{df.loc[1, 'sku']}" for w in ids]] = 0  # SKU nobody stocks
    df.loc[2, "customer_lat"] = np.nan
    df.loc[3, [f"load__{w}" for w in ids]] = 2 * net.capacity  # capacity and backlog room full
    out = model.predict(None, df)
    assert out["warehouse_id"].tolist() == ["unroutable"] * 4
    assert out["reason"].tolist() == [
        "every warehouse is down", "no warehouse that is up has the SKU in stock",
        "NaN customer coordinates", "every warehouse that is up and has stock is at capacity"]
    zero = Network(ids, net.lat, net.lon, np.zeros(net.n, np.int64), net.cost_per_order)
    res = route_extended_frame(peak_router.scores, zero, cfg, example_extended_rows(net, cfg))
    assert (res["warehouse_id"] == "unroutable").all()
    assert res["reason"].str.contains("capacity").all()
    with pytest.raises(ValueError, match="unknown sku"):
        model.predict(None, df.assign(sku="SKU999"))
    with pytest.raises(ValueError, match=r"day must be an integer in 0\.\.6"):
        model.predict(None, df.assign(day=7))
    with pytest.raises(ValueError, match="missing columns"):
        model.predict(None, df.drop(columns=f"backlog__{ids[0]}"))
    with pytest.raises(ValueError, match=r"rows_extended.*ndarray of shape \(2, 5\)"):
        model.predict(None, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="dual-price policy needs"):
        WarehouseRouterModel("dqn", net, scenario_config("easy"), peak_router, "dual-price")


def test_hard_router_registered_by_scenario_and_served_from_its_alias(mlflow_uri, tmp_path):
    from pipelines.train_router import train_router
    from serving.registry import UnservableRouter, _load_router

    out = train_router("dqn", total_timesteps=200, scenario="peak", gate_seeds=range(2),
                       tenant="demo", **TINY)
    assert out.name == "warehouse_router_peak__demo" and out.version == "1" and out.promoted
    client = MlflowClient()
    tags = client.get_model_version(out.name, "1").tags
    choice = client.get_run(out.run_id).data.tags["gate_choice"]
    assert tags["scenario"] == "peak" and tags["policy"] == choice
    uri = f"models:/{out.name}@champion"
    adapter = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    assert adapter.scenario == "peak"
    assert adapter.policy == ("dual-price" if choice == "dual-price" else "router")
    with pytest.raises(UnservableRouter, match="'peak'-scenario router.*only 'easy'"):
        _load_router(uri)  # the HTTP service refuses it with the reason
    # aliased by mistake as the tenant's served router: the service's store records why
    from serving.registry import ROUTER, ModelStore

    served = client.copy_model_version(f"models:/{out.name}/1", "warehouse_router__demo")
    client.set_registered_model_alias("warehouse_router__demo", "champion", served.version)
    store = ModelStore(mlflow_uri, ["demo"], (ROUTER,))
    assert store.refresh() == []
    slot = store.get("demo", ROUTER)
    assert slot is None
    assert "'peak'-scenario router" in store.slots[("demo", ROUTER)].error
    script = textwrap.dedent(f"""
        import json, mlflow, numpy as np
        from envs.warehouse_routing import scenario_config, WarehouseRoutingEnv
        from models.routing.rows_extended import example_extended_rows
        cfg = scenario_config("peak")
        net = WarehouseRoutingEnv(cfg).network
        ids = net.warehouse_ids
        df = example_extended_rows(net, cfg, n=40, random_state=1)
        df.loc[0, [f"up__{{w}}" for w in ids]] = 0
        df.loc[1, [f"stock__{{w}}__{{df.loc[1, 'sku']}}" for w in ids]] = 0
        m = mlflow.pyfunc.load_model("{uri}")
        out = m.predict(df)
        try:
            m.predict(np.zeros((2, 5)))
            err = ""
        except Exception as e:
            err = f"{{type(e).__name__}}: {{e}}"
        print(json.dumps({{"out": out.to_dict("list"), "inp": df.to_dict("list"), "err": err}}))
    """)
    env_vars = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_uri, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env_vars, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    res, inp = data["out"], data["inp"]
    assert data["err"]  # a wrong-shape input is refused, never routed
    assert res["reason"][:2] == ["every warehouse is down",
                                 "no warehouse that is up has the SKU in stock"]
    net = out.report.router.network_
    ids = net.warehouse_ids
    for i in range(2, 40):
        w = res["warehouse_id"][i]
        if w == "unroutable":
            assert res["reason"][i]
            continue
        j = ids.index(w)
        assert inp[f"up__{w}"][i] == 1 and inp[f"stock__{w}__{inp['sku'][i]}"][i] >= 1
        assert inp[f"load__{w}"][i] < 2 * net.capacity[j] - inp[f"backlog__{w}"][i]
