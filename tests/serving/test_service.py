"""The served API on a real uvicorn process: auth, routing, fallback, strict JSON, bad input."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_support import ADMIN, KEYS, order

from envs.scenarios import SamplerConfig, sample_network
from models.routing.fastpath import FastRouter, OrderBatch, check_parity

NET = sample_network(SamplerConfig())
IDS = NET.warehouse_ids


def strict(resp: httpx.Response) -> dict:
    """Parse a body refusing NaN/Infinity (what strict JSON clients do)."""
    def bad(x):
        raise ValueError(f"non-standard JSON constant {x}")
    return json.loads(resp.text, parse_constant=bad)


def test_fast_path_matches_route_frame(registry):
    fast = FastRouter(registry.router, registry.router.network_, registry.router.env_config_)
    assert fast.scorer == "numpy"  # the shared-head DQN is scored without torch
    assert check_parity(fast, n=300, seed=7)
    obs = np.random.default_rng(1).random((50, fast.obs_dim)).astype(np.float32)
    assert np.allclose(fast._scores(obs), registry.router.scores(obs), atol=1e-4)


def test_fast_path_masks_and_reasons(registry):
    fast = FastRouter(registry.router, registry.router.network_, registry.router.env_config_)
    w = fast.n_warehouses
    one = lambda v, dt=float: np.full((3, w), v, dt)  # noqa: E731
    b = OrderBatch(value=np.full(3, 50.0), tier=np.zeros(3, int), promised_hours=np.full(3, 24.0),
                   hour=np.full(3, 10.0), weather=np.zeros(3, int), lat=np.full(3, 31.0),
                   lon=np.full(3, 117.0), promo=np.zeros(3), qty=np.ones(3, int),
                   load=one(0, int), stock=one(3, int), up=one(True, bool), known=one(True, bool))
    b.up[0] = False
    b.stock[1] = 0
    d = fast.route(b)
    assert d.choice.tolist()[:2] == [-1, -1] and d.choice[2] >= 0
    assert d.unroutable_reason[:2] == ["every warehouse is down",
                                      "no warehouse that is up has the SKU in stock"]
    assert np.isnan(d.scores[0]).all() and np.isfinite(d.scores[2]).all()


def test_route_one_order(server):
    with server.client() as c:
        r = c.post("/v1/route", json=order(IDS))
    assert r.status_code == 200, r.text
    body = strict(r)
    assert body["tenant"] == "demo" and body["degraded"] is False and body["routable"]
    assert body["warehouse_id"] in IDS and body["model"]["name"] == "warehouse_router__demo"
    best = max((w for w in body["warehouses"] if not w["masked"]), key=lambda w: w["score"])
    assert best["warehouse_id"] == body["warehouse_id"]
    assert body["expected_cost"] > 0 and body["expected_delivery_hours"] > 0


def test_fast_lane_answers_exactly_as_the_fastapi_route(server):
    """``?tenant=`` skips the fast lane (serving.fastlane): both answers must be the same bytes."""
    states = {w: {"load": i, "stock": i % 3, "up": i != 1} for i, w in enumerate(IDS)}
    with server.client() as c:
        for body in (order(IDS), order(IDS, warehouses=states, customer_tier="bronze")):
            fast = c.post("/v1/route", json=body)
            full = c.post("/v1/route", json=body, params={"tenant": "demo"})
            assert fast.status_code == full.status_code == 200
            assert fast.content == full.content
            assert fast.headers["content-type"] == full.headers["content-type"]
        first = c.post("/v1/route", json=order(IDS))
        bearer = c.post("/v1/route", json=order(IDS), headers={
            "X-API-Key": "", "Authorization": f"Bearer {KEYS['demo']}"})
        assert bearer.status_code == 200 and bearer.content == first.content


def test_masked_warehouses_are_null_with_reason_and_unroutable_is_explicit(server):
    states = {w: {"load": 0, "stock": 0, "up": True} for w in IDS}
    states[IDS[0]] = {"load": 0, "stock": 9, "up": False}
    with server.client() as c:
        r = c.post("/v1/route", json=order(IDS, warehouses=states))
    body = strict(r)
    assert r.status_code == 200 and body["routable"] is False and body["warehouse_id"] is None
    assert body["reason"] == "no warehouse that is up has the SKU in stock"
    w0 = body["warehouses"][0]
    assert w0["score"] is None and w0["masked"] and w0["reason"] == "warehouse is down"
    assert "NaN" not in r.text and "Infinity" not in r.text


def test_batch_matches_single_requests(server):
    rng = np.random.default_rng(3)
    orders = [order(IDS, order_id=f"b{i}", customer_lat=float(29 + 4 * rng.random()),
                    customer_lon=float(114 + 8 * rng.random()),
                    warehouses={w: {"load": int(rng.integers(0, 5)),
                                    "stock": int(rng.integers(0, 3)), "up": True} for w in IDS})
              for i in range(40)]
    with server.client() as c:
        batch = strict(c.post("/v1/route/batch", json={"orders": orders}))
        singles = [strict(c.post("/v1/route", json=o)) for o in orders[:10]]
    assert len(batch["results"]) == 40
    assert [r["warehouse_id"] for r in batch["results"][:10]] == [s["warehouse_id"]
                                                                   for s in singles]


def test_auth_401_without_or_with_a_wrong_key_and_403_across_tenants(server):
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/v1/route", json=order(IDS)).status_code == 401
        r = c.post("/v1/route", json=order(IDS), headers={"X-API-Key": "nope" * 8})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        ok = c.post("/v1/route", json=order(IDS),
                    headers={"Authorization": f"Bearer {KEYS['demo']}"})
        assert ok.status_code == 200
        r = c.post("/v1/route?tenant=acme", json=order(IDS), headers={"X-API-Key": KEYS["demo"]})
        assert r.status_code == 403
        r = c.get("/v1/customers/c1?tenant=demo", headers={"X-API-Key": KEYS["acme"]})
        assert r.status_code == 403
        # the admin route needs the admin key, not a tenant key
        assert c.post("/admin/reload", headers={"X-Admin-Key": KEYS["demo"]}).status_code == 403
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/admin/reload", headers={"X-Admin-Key": ADMIN}).status_code == 200


def test_tenant_without_router_gets_degraded_fallback(server):
    with server.client("acme") as c:
        r = c.post("/v1/route", json=order(IDS))
        ready = strict(httpx.get(f"{server.url}/readyz", headers={"X-API-Key": KEYS["acme"]}))
        anonymous = strict(httpx.get(f"{server.url}/readyz"))
        assert httpx.get(f"{server.url}/readyz", headers={"X-API-Key": "x" * 20}
                         ).status_code == 401
    body = strict(r)
    assert r.status_code == 200 and body["degraded"] is True and body["model"] is None
    dist = NET.distances(np.array([31.2]), np.array([121.4]))[0]
    assert body["warehouse_id"] == IDS[int(np.argmin(dist))]  # nearest with stock
    assert ready["degraded"] is True and anonymous["degraded"] is True
    assert anonymous["models"] == [] and {m["tenant"] for m in ready["models"]} == {"acme"}
    acme = [m for m in ready["models"] if m["tenant"] == "acme"
            and m["family"] == "warehouse_router"][0]
    assert acme["version"] is None and "no champion alias" in acme["error"]


@pytest.mark.parametrize("body,field", [
    ({"order_value": "much"}, "order_value"),
    ({"customer_tier": "diamond"}, "customer_tier"),
    ({"customer_lat": 91.0}, "customer_lat"),
    ({"hour_of_day": -1}, "hour_of_day"),
    ({"extra_field": 1}, "extra_field"),
    ({"warehouses": {"WH99": {"stock": 1}}}, "WH99"),
    ({"warehouses": {}}, "warehouses"),
])
def test_bad_inputs_are_422_naming_the_field(server, body, field):
    with server.client() as c:
        r = c.post("/v1/route", json=order(IDS, **body))
    assert r.status_code == 422, r.text
    locs = [str(x) for d in strict(r)["detail"] for x in d["loc"]]
    assert field in locs


def test_missing_field_malformed_json_nan_and_oversized_body(server):
    with server.client() as c:
        bad = order(IDS)
        del bad["promised_hours"]
        r = c.post("/v1/route", json=bad)
        assert r.status_code == 422 and "promised_hours" in r.text
        r = c.post("/v1/route", content=b'{"order_id": ', headers={
            "content-type": "application/json"})
        assert r.status_code == 422 and "malformed JSON" in r.text
        r = c.post("/v1/route", content=json.dumps(order(IDS)).replace("120.0", "NaN"),
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and "order_value" in r.text and "NaN" not in r.text
        r = c.post("/v1/route", content=b"x" * 2_000_000,
                   headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = c.get("/v1/forecast/order-volume?horizon=5x")
        assert r.status_code == 422 and "horizon" in r.text
        r = c.get("/v1/forecast/order-volume?horizon=9999d")
        assert r.status_code == 422
        r = c.get("/v1/forecast/order-volume?horizon=7d")
        assert r.status_code == 404  # no forecast written in this data folder
        for resp in (r,):
            assert "Traceback" not in resp.text and "/tmp" not in resp.text


def test_churn_score_and_unknown_feature(server):
    feats = {"recency_days": 300.0, "frequency": 1.0, "monetary": 20.0, "r_score": 1.0,
             "f_score": 1.0}
    with server.client() as c:
        r = c.post("/v1/churn/score", json={"customer_id": "c9", "features": feats})
        assert r.status_code == 200, r.text
        body = strict(r)
        assert 0 <= body["churn_probability"] <= 1 and body["segment"] == "general"
        assert body["strategy"] in ("coupon", "recommendation", "none")
        r = c.post("/v1/churn/score", json={"customer_id": "c9",
                                            "features": {**feats, "shoe_size": 3.0}})
        assert r.status_code == 422 and "shoe_size" in r.text


def test_reroute_moves_orders_off_the_down_warehouse(server):
    whs = [{"warehouse_id": w, "lat": float(NET.lat[j]), "lon": float(NET.lon[j]),
            "capacity": 50, "cost_per_order": 2.0} for j, w in enumerate(IDS[:4])]
    orders = [{"order_id": f"r{i}", "warehouse_id": IDS[i % 2], "sku": "s1",
               "lat": float(NET.lat[0]), "lon": float(NET.lon[0])} for i in range(20)]
    stock = [{"warehouse_id": w, "sku": "s1", "on_hand": 30} for w in IDS[:4]]
    with server.client() as c:
        r = c.post("/v1/route/reroute", json={"down": [IDS[0]], "warehouses": whs,
                                              "stock": stock, "orders": orders})
        assert r.status_code == 200, r.text
        body = strict(r)
        assert body["report"]["moved_from_down"] == 10
        assert all(a["new_warehouse_id"] != IDS[0] for a in body["assignments"])
        cols = {k: [o[k] for o in orders] for k in orders[0]}
        r2 = c.post("/v1/route/reroute", json={"down": [IDS[0]], "warehouses": whs,
                                               "stock": stock, "order_columns": cols})
        assert r2.status_code == 200, r2.text
        got = strict(r2)["assignment_columns"]
        assert got["new_warehouse_id"] == [a["new_warehouse_id"] for a in body["assignments"]]
        r = c.post("/v1/route/reroute", json={"down": ["nowhere"], "warehouses": whs,
                                              "stock": stock, "orders": orders})
        assert r.status_code == 422 and "down" in r.text
        cols["lat"] = cols["lat"][:-1]
        r = c.post("/v1/route/reroute", json={"down": [IDS[0]], "warehouses": whs,
                                              "stock": stock, "order_columns": cols})
        assert r.status_code == 422 and "column lat has 19 values" in r.text
        r = c.post("/v1/route/reroute", json={"down": [IDS[0]], "warehouses": whs,
                                              "stock": stock})
        assert r.status_code == 422 and "exactly one of orders or order_columns" in r.text


def test_metrics_and_health(server):
    with server.client() as c:
        c.post("/v1/route", json=order(IDS))
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    text = httpx.get(f"{server.url}/metrics").text
    assert 'oms_serving_requests_total{method="POST",route="/v1/route",status="200"}' in text
    assert "oms_serving_request_seconds_bucket" in text
    assert 'oms_serving_model_version_info{family="warehouse_router"' in text
    assert "oms_serving_model_reloads_total" in text


def test_forecasts_and_customers_from_the_latest_batch_outputs(server):
    out = server.data_dir / "outputs"
    (out / "forecasts").mkdir(parents=True, exist_ok=True)
    ds = pd.date_range("2024-06-01", periods=7, freq="D")
    vol = pd.DataFrame({"unique_id": ["demo"] * 7 + ["acme"] * 7, "ds": list(ds) * 2,
                        "yhat": np.arange(14.0), "yhat-lo-80": np.arange(14.0) - 1,
                        "yhat-hi-80": np.arange(14.0) + 1, "model_version": "3"})
    vol.loc[3, "yhat-hi-80"] = np.nan  # a missing bound must come back as null
    vol.to_parquet(out / "forecasts" / "order_volume_forecaster.parquet")
    pd.DataFrame({"unique_id": ["SKU1"] * 7, "ds": ds, "yhat": 2.0, "tenant_id": "demo"}
                 ).to_parquet(out / "forecasts" / "sku_demand_forecaster.parquet")
    (out / "churn_scores").mkdir(exist_ok=True)
    pd.DataFrame({"tenant_id": ["demo", "acme"], "customer_id": ["c1", "c1"],
                  "churn_probability": [0.8, 0.1], "segment": ["general", "important_value"],
                  "clv_365d": [12.5, np.nan]}).to_parquet(out / "churn_scores" / "part-0.parquet")
    with server.client() as c, server.client("acme") as a:
        r = c.get("/v1/forecast/order-volume", params={"horizon": "72h"})
        body = strict(r)
        assert r.status_code == 200 and len(body["points"]) == 3
        assert [p["yhat"] for p in body["points"]] == [0.0, 1.0, 2.0]
        assert body["points"][0]["intervals"] == {"yhat-lo-80": -1.0, "yhat-hi-80": 1.0}
        week = strict(c.get("/v1/forecast/order-volume", params={"horizon": "7d"}))
        assert week["points"][3]["intervals"]["yhat-hi-80"] is None
        assert strict(a.get("/v1/forecast/order-volume"))["points"][0]["yhat"] == 7.0
        assert c.get("/v1/forecast/order-volume", params={"horizon": "8d"}).status_code == 422
        assert len(strict(c.get("/v1/forecast/sku/SKU1"))["points"]) == 7
        assert a.get("/v1/forecast/sku/SKU1").status_code == 404  # demo's rows only
        assert c.get("/v1/forecast/sku/NOPE").status_code == 404
        mine = strict(c.get("/v1/customers/c1"))["values"]
        theirs = strict(a.get("/v1/customers/c1"))["values"]
        assert mine["churn_probability"] == 0.8 and theirs["churn_probability"] == 0.1
        assert theirs["clv_365d"] is None
