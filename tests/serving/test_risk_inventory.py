"""Risk routes (triage, refunds, ETA) and inventory recommendations on the running server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_support import KEYS

from oms.outputs import output_path

LONG = "where is my order O0000000042? " * 1700  # ~52 KB


def strict(resp: httpx.Response) -> dict:
    def bad(x):
        raise ValueError(f"non-standard JSON constant {x}")
    return json.loads(resp.text, parse_constant=bad)


@pytest.fixture(scope="module")
def lake(server):
    """A small lake for tenant demo (and one acme order) under the server's data folder."""
    root = server.data_dir / "lake"
    ts = pd.Timestamp("2024-05-01T02:00:00Z")
    orders = pd.DataFrame({
        "tenant_id": ["demo"] * 4 + ["acme"],
        "order_id": ["O0000000001", "O0000000002", "O0000000003", "O0000000004",
                     "O0000000009"],
        "customer_id": ["c1", "c1", "c2", "c1", "c9"],
        "order_ts": [ts, ts - pd.Timedelta(days=30), ts, ts - pd.Timedelta(days=60), ts],
        "order_date": pd.to_datetime(["2024-05-01", "2024-04-01", "2024-05-01", "2024-03-02",
                                      "2024-05-01"]),
        "status": ["delivered", "delivered", "paid", "returned", "delivered"],
        "total_amount": [120.0, 80.0, 60.0, 40.0, 99.0],
        "delivery_hours": [30.0, 20.0, None, 25.0, 30.0]})
    customers = pd.DataFrame({"tenant_id": ["demo", "demo"], "customer_id": ["c1", "c2"],
                              "signup_date": pd.to_datetime(["2023-01-01", "2024-04-28"])})
    warehouses = pd.DataFrame({
        "tenant_id": ["demo", "demo", "acme"], "warehouse_id": ["WH-A", "WH-B", "WH-Z"],
        "lat": [31.2, 39.9, 30.0], "lon": [121.4, 116.4, 120.0],
        "capacity_per_day": [1000, 500, 100], "cost_per_order": [2.0, 2.5, 3.0]})
    for name, df in (("orders", orders), ("customers", customers), ("warehouses", warehouses)):
        (root / name).mkdir(parents=True, exist_ok=True)
        df.to_parquet(root / name / "part-0.parquet", index=False)
    (server.data_dir / "landing" / "risk").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": ["c1", "c2"], "credit_score": [85, 30]}).to_parquet(
        server.data_dir / "landing" / "risk" / "customer_credit.parquet", index=False)
    return root


def test_triage_routes_complaints_to_a_person_and_refuses_bad_messages(server):
    with server.client() as c:
        r = c.post("/v1/risk/triage", json={"message": "where is my order O0000381274?"})
        body = strict(r)
        assert r.status_code == 200 and body["order_id"] == "O0000381274"
        assert body["model"]["name"] == "support_triage__demo" and body["reason"]
        angry = strict(c.post("/v1/risk/triage", json={
            "message": "This is unacceptable, I want to complain about your terrible service"}))
        assert angry["route"] == "human" and angry["intent"] == "complaint"
        for msg, field in (("", "message"), ("   ", "message"), (LONG, "message")):
            r = c.post("/v1/risk/triage", json={"message": msg})
            assert r.status_code == 422, (len(msg), r.text[:200])
            assert field in [str(x) for d in strict(r)["detail"] for x in d["loc"]]
    with server.client("acme") as a:  # no triage champion for acme: a 404 that says so
        r = a.post("/v1/risk/triage", json={"message": "hello"})
        assert r.status_code == 404 and "support_triage" in r.json()["detail"]


def test_refund_decisions_are_explicit_and_bad_input_is_4xx(server, lake):
    req = {"order_id": "O0000000001", "reason": "CHANGED_MIND", "amount": 30.0}
    with server.client() as c:
        ok = strict(c.post("/v1/risk/refund", json=req))
        assert ok["decision"] in ("auto_approve", "human_review") and ok["reason"]
        assert ok["model"]["name"] == "refund_approval__demo" and 0 <= ok["p_abuse"] <= 1
        assert ok["rule_decision"] == "auto_approve"  # credit 85, amount 30: the rule approves
        never = strict(c.post("/v1/risk/refund", json={**req, "order_id": "O0000000003"}))
        assert never["decision"] == "human_review" and "never delivered" in never["reason"]
        over = strict(c.post("/v1/risk/refund", json={**req, "amount": 500.0}))
        assert over["decision"] == "human_review" and "exceeds the order value" in over["reason"]
        r = c.post("/v1/risk/refund", json={**req, "order_id": "O0000000777"})
        assert r.status_code == 404 and "O0000000777" in r.json()["detail"]
        r = c.post("/v1/risk/refund", json={**req, "order_id": "O0000000009"})  # acme's order
        assert r.status_code == 404
        for bad, field in (({"amount": -5}, "amount"), ({"amount": 0}, "amount"),
                           ({"reason": "BORED"}, "reason")):
            r = c.post("/v1/risk/refund", json={**req, **bad})
            assert r.status_code == 422 and field in [str(x) for d in strict(r)["detail"]
                                                      for x in d["loc"]]
    with server.client("acme") as a:  # no refund champion: the design's rule, flagged
        body = strict(a.post("/v1/risk/refund", json={**req, "order_id": "O0000000009"}))
        assert body["degraded"] is True and body["model"] is None
        assert body["decision"] == "human_review" and "credit" in body["reason"]


def test_eta_quantiles_per_warehouse_and_unknown_warehouse(server, lake):
    req = {"order_id": "x1", "region": "east", "customer_lat": 31.0, "customer_lon": 121.0,
           "warehouse_ids": ["WH-A", "WH-B"], "booked_orders": {"WH-A": 900}}
    with server.client() as c:
        body = strict(c.post("/v1/risk/eta", json=req))
        near, far = body["options"]
        assert near["warehouse_id"] == "WH-A" and far["warehouse_id"] == "WH-B"
        assert far["p50_hours"] > near["p50_hours"]  # 1,000 km further
        assert all(o["p90_hours"] >= o["p50_hours"] for o in body["options"])
        r = c.post("/v1/risk/eta", json={**req, "warehouse_ids": ["WH-A", "WH-Z"]})
        assert r.status_code == 422 and "WH-Z" in r.text  # acme's warehouse
        r = c.post("/v1/risk/eta", json={**req, "booked_orders": {"WH-Q": 1}})
        assert r.status_code == 422 and "WH-Q" in r.text


def test_inventory_recommendations_from_the_latest_report(server):
    with server.client() as c:
        r = c.get("/v1/inventory/recommendations")
        assert r.status_code == 404 and "report inventory" in r.json()["detail"]
        target = Path(output_path("inventory_recommendations", "demo",
                                  root=server.data_dir / "outputs"))
        target.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({
            "priority": [1.0, 2.0, np.nan], "unique_id": ["S1|WH-A", "S2|WH-A", "S1|WH-B"],
            "sku": ["S1", "S2", "S1"], "warehouse_id": ["WH-A", "WH-A", "WH-B"],
            "method": ["quantile"] * 3, "reorder_now": [True, True, False],
            "order_quantity": [40.0, 10.0, 0.0], "reorder_point": [30.0, 8.0, 12.0],
            "order_up_to": [70.0, 18.0, 30.0], "safety_stock": [5.0, 2.0, 3.0],
            "inventory_position": [25.0, 7.0, 29.0], "days_of_cover": [3.1, 2.0, np.inf],
            "stockout_probability": [0.4, 0.2, 0.0], "exception": [None, None, None],
            "eoq": [20.0, 5.0, 9.0]}).to_parquet(target)
        body = strict(c.get("/v1/inventory/recommendations"))
        assert body["total"] == 3 and [x["priority"] for x in body["recommendations"]] == \
            [1, 2, None]
        assert body["recommendations"][2]["days_of_cover"] is None  # inf is not JSON
        assert body["recommendations"][0]["details"]["eoq"] == 20.0
        due = strict(c.get("/v1/inventory/recommendations", params={"reorder_only": True}))
        assert [x["sku"] for x in due["recommendations"]] == ["S1", "S2"]
        s1 = strict(c.get("/v1/inventory/S1"))
        assert s1["sku"] == "S1" and {x["warehouse_id"] for x in s1["recommendations"]} == \
            {"WH-A", "WH-B"}
        r = c.get("/v1/inventory/S404")
        assert r.status_code == 404 and "S404" in r.json()["detail"]
    with server.client("acme") as a:  # another tenant's report is not visible
        assert a.get("/v1/inventory/S1").status_code == 404
        assert a.get("/v1/inventory/S1", params={"tenant": "demo"}).status_code == 403


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/risk/triage", {"message": "hi"}),
    ("POST", "/v1/risk/refund", {"order_id": "O1", "reason": "DAMAGED", "amount": 1}),
    ("POST", "/v1/risk/eta", {"order_id": "x", "region": "e", "customer_lat": 1,
                              "customer_lon": 1, "warehouse_ids": ["WH-A"]}),
    ("GET", "/v1/inventory/recommendations", None),
    ("GET", "/v1/inventory/S1", None),
])
def test_new_routes_need_the_tenants_key(server, method, path, body):
    with httpx.Client(base_url=server.url) as c:
        assert c.request(method, path, json=body).status_code == 401
        r = c.request(method, path, json=body, headers={"X-API-Key": "nope" * 8})
        assert r.status_code == 401
        r = c.request(method, path, json=body, params={"tenant": "acme"},
                      headers={"X-API-Key": KEYS["demo"]})
        assert r.status_code == 403
