"""Typed client and order intake against the running server; hot reload on alias change."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest
from serving_support import ADMIN, KEYS, order, register_router

from envs.scenarios import SamplerConfig, sample_network
from oms.client import OmsClient, ServiceError
from oms.intake import IntakeError, intake_order
from oms.lake import read_table, table_uri

IDS = sample_network(SamplerConfig()).warehouse_ids


def _order(order_id: str, **over) -> dict:
    o = {"tenant_id": "demo", "order_id": order_id, "customer_id": "c1",
         "order_ts": "2024-05-02T03:15:00Z", "channel": "app", "region": "east",
         "total_amount": 88.5, "promised_hours": 24.0}
    o.update(over)
    return o


ROUTING = {"customer_tier": "silver", "customer_lat": 31.2, "customer_lon": 121.4,
           "warehouses": {w: {"load": 1, "stock": 4} for w in IDS}}


def test_client_routes_and_reports_errors(server):
    with OmsClient(server.url, KEYS["demo"]) as c:
        d = c.route(order(IDS))
        assert d.routable and d.warehouse_id in IDS and not d.degraded
        assert d.model_name == "warehouse_router__demo" and len(d.options) == len(IDS)
        assert [x.warehouse_id for x in c.route_batch([order(IDS, order_id="x2")] * 3)] == \
            [d.warehouse_id] * 3
        with pytest.raises(ServiceError) as e:
            c.route(order(IDS, customer_tier="diamond"))
        assert e.value.status == 422 and "customer_tier" in str(e.value.detail)
        with pytest.raises(ServiceError) as e:
            c.customer("nobody")
        assert e.value.status == 404
    with OmsClient(server.url, "wrong-key-0123456789") as c, pytest.raises(ServiceError) as e:
        c.route(order(IDS))
    assert e.value.status == 401


def _lake_events(lake: str) -> pd.DataFrame:
    return read_table(table_uri(lake, "order_events"), table="order_events")


def test_intake_lands_events_that_ingest_brings_into_the_lake_once(server, tmp_path, settings):
    from pipelines.ingest import ingest

    lake, landing, quarantine = (str(tmp_path / x) for x in ("lake", "landing", "quarantine"))
    kw = {"lake": lake, "landing": landing}
    with OmsClient(server.url, KEYS["demo"]) as c:
        first = intake_order(c, _order("ord-1"), ROUTING, **kw)
        again = intake_order(c, _order("ord-1"), ROUTING, **kw)  # retry before the ingest
        other = intake_order(c, _order("ord-2", total_amount=10.0), ROUTING, **kw)
        with pytest.raises(IntakeError) as bad:
            intake_order(c, _order("ord-3", channel="carrier-pigeon", total_amount=-1), ROUTING,
                         **kw)
        assert first.routable and first.warehouse_id in IDS and not first.duplicate
        assert again.duplicate and again.warehouse_id == first.warehouse_id
        assert not other.duplicate and first.events_uri.startswith(landing)
        assert any("channel" in r for r in bad.value.reasons)
        assert not (tmp_path / "lake").exists()  # intake never writes the lake itself

        rep = ingest(landing, lake, quarantine, tables=["order_events"])
        assert rep.tables["order_events"].rows_quarantined == 0
        events = _lake_events(lake)
        assert sorted(events["order_id"]) == ["ord-1", "ord-1", "ord-2", "ord-2"]
        mine = events[events["order_id"] == "ord-1"].set_index("event_type")
        assert mine.loc["WarehouseAssigned", "warehouse_id"] == first.warehouse_id
        assert mine.loc["OrderCreated", "amount"] == 88.5
        assert mine.loc["OrderCreated", "event_ts"] == pd.Timestamp("2024-05-02T03:15:00Z")
        assert events["event_id"].is_unique and "ord-3" not in set(events["order_id"])

        # retry after the ingest, with the landing file gone: recognised from the lake
        import os

        os.remove(first.events_uri)
        late = intake_order(c, _order("ord-1"), ROUTING, **kw)
        assert late.duplicate and late.warehouse_id == first.warehouse_id
        assert not os.path.exists(first.events_uri)
    # the same landing ingested again: upsert by (tenant_id, event_id), nothing added
    ingest(landing, lake, quarantine, tables=["order_events"])
    assert sorted(_lake_events(lake)["event_id"]) == sorted(events["event_id"])


def _version(server, tenant="demo") -> str | None:
    ready = httpx.get(f"{server.url}/readyz", headers={"X-Admin-Key": ADMIN}).json()
    return [m["version"] for m in ready["models"]
            if m["tenant"] == tenant and m["family"] == "warehouse_router"][0]


def test_hot_reload_when_the_champion_moves(server):
    before = _version(server)
    new = register_router(server.registry, "demo")  # becomes the champion
    assert new != before
    deadline = time.time() + 30  # poll interval of the test server: 1 s
    with server.client() as c:
        seen = set()
        while time.time() < deadline:
            r = c.post("/v1/route", json=order(IDS))
            assert r.status_code == 200  # no request fails during the swap
            seen.add(r.json()["model"]["version"])
            if _version(server) == new and r.json()["model"]["version"] == new:
                break
            time.sleep(0.1)
    assert _version(server) == new and new in seen
    text = httpx.get(f"{server.url}/metrics").text
    label = 'name="warehouse_router__demo",tenant="demo",version="{}"'
    assert label.format(new) in text and label.format(before) not in text


def test_admin_reload_picks_up_a_move_immediately(server):
    staged = register_router(server.registry, "demo", champion=False)
    r = httpx.post(f"{server.url}/admin/reload", headers={"X-Admin-Key": ADMIN})
    assert r.status_code == 200 and _version(server) != staged  # alias not moved: no swap
    from mlflow import MlflowClient

    MlflowClient(server.registry.uri, server.registry.uri).set_registered_model_alias(
        "warehouse_router__demo", "champion", staged)
    r = httpx.post(f"{server.url}/admin/reload", headers={"X-Admin-Key": ADMIN})
    assert r.status_code == 200 and _version(server) == staged
