"""Per-request CPU cost of ``POST /v1/route`` inside the process (no network, no load generator).

Usage::

    python bench/serve_handler.py                 # writes bench/results/serve_handler.md
    python bench/serve_handler.py --profile 2000  # also prints a cProfile of 2,000 requests

The app of ``oms-ml serve`` (same middleware, auth, validation, metrics, fast path) is
driven through its ASGI interface in a loop: each request is one ``app(scope, receive,
send)`` call, timed with ``time.thread_time_ns`` (CPU time of this thread, so other jobs on
a shared machine inflate it far less than wall time) and ``perf_counter_ns`` (wall). The
median and tail of these per-request times are the optimisation signal for the p99 target of
``bench/serve.py``: at 300 requests/s a single worker has 3.3 ms per request, and every
millisecond of handler CPU adds queueing in the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "bench-key-0123456789abcdef"


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def microbatch(app, body: str, sizes: tuple[int, ...] = (1, 4, 8, 16), n: int = 500
               ) -> list[str]:
    """Would micro-batching concurrent requests pay? k single routing calls vs one of k.

    Times the part a batch could share (arrays + fast path) for k identical orders; request
    parsing, auth and the response stay per request either way.
    """
    from serving.registry import ROUTER
    from serving.routing import to_batch
    from serving.schemas import RouteRequest

    fast = app.state.store.get("demo", ROUTER).fast
    req = RouteRequest.model_validate_json(body)

    def cpu_us(f) -> float:
        f()
        c0 = time.thread_time_ns()
        for _ in range(n):
            f()
        return (time.thread_time_ns() - c0) / n / 1e3

    lines = ["| concurrent orders k | k single calls µs | one batched call µs | saved per "
             "order µs |", "|---|---|---|---|"]
    for k in sizes:
        orders = [req] * k
        one = cpu_us(lambda o=orders: [fast.route(to_batch([x], fast.network, "")) for x in o])
        both = cpu_us(lambda o=orders: fast.route(to_batch(o, fast.network, "")))
        lines.append(f"| {k} | {one:.0f} | {both:.0f} | {(one - both) / k:.0f} |")
    return lines


def make_app(work: Path, timesteps: int):
    """A registry with one DQN champion and the service app for tenant ``demo``."""
    sys.path.insert(0, str(ROOT / "bench"))
    from serve import bodies, register

    from models.routing.agent import DQNRouter
    from oms.settings import Settings
    from serving.app import create_app

    uri = f"sqlite:///{work / 'mlflow.db'}"
    router = DQNRouter(total_timesteps=timesteps, algo_kwargs={"learning_starts": 500},
                       eval_freq=1_000, n_eval_episodes=2, progress_bar=False).fit()
    register(uri, router, str(work / "artifacts"))
    settings = Settings(data_dir=str(work), mlflow_tracking_uri=uri,
                        serving_api_keys={"demo": KEY}, serving_admin_key=None)
    return (create_app(settings, poll_seconds=0, load_out_of_process=False),
            bodies(router.network_)[1])


async def call(app, body: bytes, query: bytes = b"") -> int:
    """One request through the ASGI app; returns the status code.

    With ``query=b"tenant=demo"`` the request skips the fast lane (it answers only requests
    without a query) and takes the full FastAPI route: same answer, the reference cost.
    """
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/route", "raw_path": b"/v1/route",
             "root_path": "", "query_string": query, "server": ("127.0.0.1", 8080),
             "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"x-api-key", KEY.encode()),
                         (b"content-length", str(len(body)).encode())]}
    sent = False
    status = [0]

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    await app(scope, receive, send)
    return status[0]


LANES = {"fast lane (served requests)": b"", "full FastAPI route (reference)": b"tenant=demo"}


async def run(app, body: bytes, n: int, profile: int) -> dict:
    """Warm up, then time ``n`` requests per lane, alternating (CPU and wall per request)."""
    async with app.router.lifespan_context(app):
        for _ in range(300):
            for q in LANES.values():
                assert await call(app, body, q) == 200
        res = {lane: {"cpu": np.empty(n), "wall": np.empty(n)} for lane in LANES}
        for i in range(n):
            for lane, q in LANES.items():
                c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
                status = await call(app, body, q)
                res[lane]["cpu"][i] = (time.thread_time_ns() - c0) / 1e6
                res[lane]["wall"][i] = (time.perf_counter_ns() - w0) / 1e6
                assert status == 200
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(profile):
                await call(app, body)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        poll = np.empty(30)
        for i in range(len(poll)):  # an alias poll that finds nothing moved (every 30 s)
            c0 = time.thread_time_ns()
            app.state.store.refresh()
            poll[i] = (time.thread_time_ns() - c0) / 1e6
        res["poll"] = poll
        if hasattr(app.state.store.get("demo", "warehouse_router").fast, "route"):
            res["microbatch"] = microbatch(app, body.decode())
        res["burst"] = await burst(app, body)
        res["swap"] = swap_cost(app.state.store)
    return res


async def burst(app, body: bytes, k: int = 10, rounds: int = 300) -> dict:
    """CPU per request when ``k`` requests wait together (as hey's bursts at 300 req/s).

    The fast lane routes waiting requests together (``serving.fastlane.RouteBatcher``); the
    reference is the same ``k`` requests one after the other.
    """
    out = {}
    for name, together in (("one after the other", False), ("together", True)):
        c0 = time.thread_time_ns()
        for _ in range(rounds):
            if together:
                statuses = await asyncio.gather(*[call(app, body) for _ in range(k)])
            else:
                statuses = [await call(app, body) for _ in range(k)]
            assert set(statuses) == {200}
        out[name] = (time.thread_time_ns() - c0) / (rounds * k) / 1e6
    return out


def swap_cost(store, reps: int = 3) -> dict:
    """Serving-process CPU (this thread) and wall time of one router swap, in process and
    through the loader process (``serving.loader``; its own CPU is not counted here)."""
    from serving.loader import LoaderProcess
    from serving.registry import ROUTER

    key = ("demo", ROUTER)

    def timed() -> tuple[float, float]:
        slot = store.slots[key]
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        store._swap(key, slot, slot.version)
        return (time.thread_time_ns() - c0) / 1e6, (time.perf_counter_ns() - w0) / 1e6

    out = {"in process": [timed() for _ in range(reps)]}
    loader = LoaderProcess(store.tracking_uri)
    slot = store.slots[key]
    loader.start([f"models:/{slot.name}/{slot.version}"])
    try:
        deadline = time.time() + 600
        while not loader.ready() and time.time() < deadline:
            time.sleep(0.5)
        store.loader = loader
        out["loader process"] = [timed() for _ in range(reps)]
        assert type(store.slots[key].model).__name__ == "LoadedElsewhere"
    finally:
        store.loader = None
        loader.close()
    return out


def summary(x: np.ndarray) -> str:
    q = np.percentile(x, [50, 90, 99, 99.9])
    return (f"{x.mean():.3f} | {q[0]:.3f} | {q[1]:.3f} | {q[2]:.3f} | {q[3]:.3f} | "
            f"{x.max():.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=5_000, help="timed requests")
    p.add_argument("--timesteps", type=int, default=2_000)
    p.add_argument("--profile", type=int, default=0, help="cProfile this many requests")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_handler.md"))
    p.add_argument("--label", default="", help="what this run measures (for the table)")
    args = p.parse_args()
    os.environ["DO_NOT_TRACK"] = "1"
    import torch

    torch.set_num_threads(1)  # as `oms-ml serve --torch-threads 1` (its default)
    start = load()
    with tempfile.TemporaryDirectory(prefix="oms-bench-handler-") as tmp:
        app, body = make_app(Path(tmp), args.timesteps)
        r = asyncio.run(run(app, body.encode(), args.n, args.profile))
    lines = [
        "# `POST /v1/route` per-request cost in process (`bench/serve_handler.py`)", "",
        f"Command: `python bench/serve_handler.py -n {args.n}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, "
        f"load average at start {start}, at end {load()}. {args.label}", "",
        "One request at a time through the ASGI app (middleware, auth, pydantic, metrics, "
        "fast path, serialisation); no socket, no HTTP parsing. The two lanes alternate "
        "request by request, so machine load hits both alike. Milliseconds:", "",
        "| lane | measure | mean | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|---|"]
    poll = r.pop("poll")
    batch = r.pop("microbatch", None)
    for lane, v in ((k, v) for k, v in r.items() if k in LANES):
        lines += [f"| {lane} | CPU time (thread) | {summary(v['cpu'])} |",
                  f"| {lane} | wall time | {summary(v['wall'])} |"]
    d = r[next(iter(LANES))]["cpu"] - r[list(LANES)[1]]["cpu"]
    se = d.std(ddof=1) / np.sqrt(len(d))
    lines += ["", f"Paired CPU difference (fast lane − full route): {d.mean():.3f} ms "
                  f"± {se:.3f} se per request.",
              f"An alias poll that finds nothing moved ({len(app.state.store.slots)} slots): "
              f"median {np.median(poll):.2f} ms CPU, max {poll.max():.2f} ms (in a worker "
              "thread, holding the GIL while in Python).", ""]
    b = r.pop("burst")
    lines += [f"10 requests waiting together (hey's bursts at 300 req/s): CPU per request "
              f"{b['together']:.3f} ms routed together (fast lane batching) vs "
              f"{b['one after the other']:.3f} ms one after the other.", ""]
    sw = r.pop("swap")
    lines += ["Router swap (same version reloaded), serving-process CPU of the swapping thread "
              "/ wall, ms: " + "; ".join(
                  f"{where}: " + ", ".join(f"{c:.1f} / {w:.0f}" for c, w in v)
                  for where, v in sw.items()), ""]
    if batch:
        lines += ["Micro-batching: CPU of the shareable part (arrays + fast path) for k "
                  "concurrent one-order requests, routed one by one or as one batch:", "",
                  *batch, ""]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    prev = out.read_text() if out.exists() else ""
    out.write_text(prev + ("\n" if prev else "") + text)


if __name__ == "__main__":
    main()
