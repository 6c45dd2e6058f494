"""The swap path and the fast lane's batching: alias polling, hot swap under load, batches.

``ModelStore.champion_versions`` reads every slot's champion in one SQL query on a SQL registry
(checked against the public API here); concurrent one-order requests are routed together
(``serving.fastlane.RouteBatcher``) and must get the bytes they get alone; moving the champion
under concurrent load must fail no request and serve the new version.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import numpy as np
from serving_support import ADMIN, KEYS, order, register_router

from envs.scenarios import SamplerConfig, sample_network

IDS = sample_network(SamplerConfig()).warehouse_ids


def _api_versions(store) -> dict:
    client = store._client()
    return {s.name: store.champion_version(client, s.name) for s in store.slots.values()}


def test_alias_poll_is_one_query_that_agrees_with_the_registry_api(registry):
    from mlflow import MlflowClient

    from serving.registry import CHURN, ROUTER, ModelStore

    store = ModelStore(registry.uri, ["demo", "acme"], (ROUTER, CHURN))
    first = store.champion_versions()
    assert callable(store._read_aliases)  # SQLite registry: the one-query reader is in use
    assert first == _api_versions(store)
    assert first["warehouse_router__acme"] is None and first["warehouse_router__demo"]
    client = MlflowClient(registry.uri, registry.uri)
    before = first["warehouse_router__demo"]
    staged = register_router(registry, "demo", champion=False)
    try:
        assert store.champion_versions()["warehouse_router__demo"] == before
        client.set_registered_model_alias("warehouse_router__demo", "champion", staged)
        assert store.champion_versions() == _api_versions(store)
        assert store.champion_versions()["warehouse_router__demo"] == staged
    finally:
        client.set_registered_model_alias("warehouse_router__demo", "champion", before)

    def broken() -> dict:
        raise RuntimeError("database is locked")

    store._read_aliases = broken  # a failing read falls back to the API, for good
    assert store.champion_versions() == _api_versions(store)
    assert store._read_aliases is False


def _orders(n: int) -> list[dict]:
    rng = np.random.default_rng(11)
    return [order(IDS, order_id=f"c{i}", customer_lat=float(29 + 4 * rng.random()),
                  customer_lon=float(114 + 8 * rng.random()),
                  warehouses={w: {"load": int(rng.integers(0, 5)),
                                  "stock": int(rng.integers(0, 3)), "up": True} for w in IDS})
            for i in range(n)]


async def _call(app, body: bytes) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/route", "raw_path": b"/v1/route",
             "root_path": "", "query_string": b"", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"x-api-key", KEYS["demo"].encode()),
                         (b"content-length", str(len(body)).encode())]}
    sent, status, chunks = False, [0], []

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(chunks)


def test_concurrent_requests_are_routed_together_with_their_own_answers(registry, tmp_path,
                                                                       monkeypatch):
    from oms.settings import Settings
    from serving.app import create_app
    from serving.registry import ROUTER

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(data_dir=str(tmp_path), mlflow_tracking_uri=registry.uri,
                        serving_api_keys={"demo": KEYS["demo"]}, serving_admin_key=None)
    app = create_app(settings, families=(ROUTER,), poll_seconds=0)
    bodies = [json.dumps(o).encode() for o in _orders(12)]
    unknown = order(IDS, warehouses={"WH-NOPE": {"load": 0, "stock": 3, "up": True}})
    bad = [json.dumps(unknown).encode(), b'{"order_id": ']

    async def run() -> tuple[list, list, float]:
        async with app.router.lifespan_context(app):
            alone = [await _call(app, b) for b in bodies]  # one at a time: batches of one
            calls = app.state.metrics.route_batch.collect()[0]
            count0 = [s.value for s in calls.samples if s.name.endswith("_count")][0]
            together = await asyncio.gather(*[_call(app, b) for b in [*bodies, *bad]])
            calls = app.state.metrics.route_batch.collect()[0]
            count1 = [s.value for s in calls.samples if s.name.endswith("_count")][0]
            return alone, together, count1 - count0

    alone, together, routing_calls = asyncio.run(run())
    assert all(s == 200 for s, _ in alone)
    assert together[:12] == alone  # same status and bytes as routed alone
    assert routing_calls < 12  # the 12 waiting requests shared routing calls
    (s_unknown, b_unknown), (s_bad, b_bad) = together[12:]
    assert s_unknown == 422 and "WH-NOPE" in b_unknown.decode()  # its own error only
    assert s_bad == 422 and "malformed JSON" in b_bad.decode()


def _served_version(server) -> str:
    ready = httpx.get(f"{server.url}/readyz", headers={"X-Admin-Key": ADMIN}).json()
    return [m["version"] for m in ready["models"]
            if m["tenant"] == "demo" and m["family"] == "warehouse_router"][0]


def test_champion_move_under_concurrent_load_fails_no_request(server):
    before = _served_version(server)
    staged = register_router(server.registry, "demo", champion=False)  # trained elsewhere
    stop, statuses, versions = threading.Event(), [], []
    lock = threading.Lock()

    def client_loop(i: int) -> None:
        body = order(IDS, order_id=f"load-{i}")
        with server.client() as c:
            while not stop.is_set():
                r = c.post("/v1/route", json=body)
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.append((time.time(), r.json()["model"]["version"]))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        from mlflow import MlflowClient

        MlflowClient(server.registry.uri, server.registry.uri).set_registered_model_alias(
            "warehouse_router__demo", "champion", staged)
        moved = time.time()
        deadline = moved + 60  # poll interval 1 s; loading is slow on a loaded test machine
        while time.time() < deadline and not any(v == staged for _, v in versions):
            time.sleep(0.1)
        time.sleep(0.5)  # keep the load on after the swap
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}  # no request failed before, during or after
    first_new = min(t for t, v in versions if v == staged)
    assert all(v == staged for t, v in versions if t > first_new + 1.0)  # no flapping back
    assert {v for _, v in versions} <= {before, staged}
    assert _served_version(server) == staged


def test_fast_lane_errors_are_the_fastapi_routes_own(server):
    """Bad bodies answered in the fast lane get the bytes the FastAPI route gives (``?tenant=``)."""
    good = order(IDS)
    wrong_tier = json.dumps({**good, "customer_tier": "diamond"})
    missing = {k: v for k, v in good.items() if k != "order_value"}
    bodies = ['{"order_id": ', '{"order_id": "x", "order_value": "lots"}', wrong_tier,
              json.dumps(missing), json.dumps(good).replace('"quantity": 1', '"quantity": NaN'),
              json.dumps(order(IDS, warehouses={"WH-NOPE": {"load": 0, "stock": 1}})),
              json.dumps({**good, "warehouses": {IDS[0]: {"load": -1, "stock": "x"}}}),
              "[1, 2]", "null", "", "   ", '{"order_id": "x", "order_value": 1e999}']
    with server.client() as c:
        for body in bodies:
            headers = {"content-type": "application/json"}
            fast = c.post("/v1/route", content=body, headers=headers)
            full = c.post("/v1/route", content=body, headers=headers, params={"tenant": "demo"})
            assert 400 <= fast.status_code < 500, (body, fast.text)
            assert (fast.status_code, fast.content) == (full.status_code, full.content), body
            assert fast.headers["content-type"] == full.headers["content-type"]


def test_loader_process_loads_routers_out_of_process(registry):
    """A warm loader process returns the fast path an in-process load builds; never blocks."""
    from serving.loader import LoadedElsewhere, LoaderProcess
    from serving.registry import ROUTER, ModelStore, _load_router
    from serving.routing import to_batch
    from serving.schemas import RouteRequest

    store = ModelStore(registry.uri, ["demo"], (ROUTER,))
    uri = f"models:/warehouse_router__demo/{store.champion_versions()['warehouse_router__demo']}"
    loader = LoaderProcess(registry.uri)
    loader.start([uri])
    try:
        assert loader.load_router(uri) is None  # still warming up: the caller loads itself
        deadline = time.time() + 300
        while not loader.ready() and time.time() < deadline:
            time.sleep(0.5)
        assert loader.ready()
        store.loader = loader
        store.refresh(force=True)
        slot = store.get("demo", ROUTER)
        assert isinstance(slot.model, LoadedElsewhere) and slot.fast_path
        assert slot.fast.router is None and slot.fast.scorer == "numpy"
        _, ref, ok = _load_router(uri)
        batch = to_batch([RouteRequest.model_validate(o) for o in _orders(30)], ref.network, "")
        got, want = slot.fast.route(batch), ref.route(batch)
        assert ok and np.array_equal(got.choice, want.choice)
        assert np.array_equal(got.scores, want.scores, equal_nan=True)
        assert loader.load_router("models:/warehouse_router__demo/9999") is None  # load error
        loader._proc.kill()
        loader._proc.wait()
        assert loader.load_router(uri) is None  # dead child: restarted, the caller loads itself
    finally:
        loader.close()
