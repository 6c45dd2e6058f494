"""Where the p99 of ``oms-ml serve`` at 300 requests/s comes from (diagnosis, not the target run).

Usage::

    python bench/serve_tail.py                    # both windows, writes bench/results/serve_tail.md
    python bench/serve_tail.py --seconds 30       # shorter windows

The same champion and request as ``bench/serve.py``; the server runs the app of ``oms-ml
serve`` (same settings: one uvicorn worker, uvloop/httptools, 1 torch thread, poll 2 s) with
probes that do not change its work: the gc callbacks (duration of every collection), the
alias poll (``ModelStore.refresh``) and the swap (``ModelStore._swap``) timed in the server,
an event-loop lag probe (a 5 ms sleep that records how late it wakes up) and the server-side
time of every request. ``hey -o csv`` gives every request's latency and start offset. Two
windows of 300 requests/s (10 clients × 30/s, as ``bench/serve.py``): (a) nothing moves, (b)
``@champion`` moves after a third of the window (to a version registered before the window).
The server's CPU time of the swap is its own thread's: with the loader process
(``serving.loader``) the load itself is in the child and not counted there. The report lists
per-second percentiles and what the slow requests (> 20 ms) overlapped with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SLOW_MS = 20.0


# ---------------------------------------------------------------- the probed server
def _probe_server(port: int, poll: float, events: str) -> None:
    """Run the app of ``oms-ml serve`` with probes; events go to ``events`` as JSON lines."""
    import torch
    import uvicorn

    from oms.settings import get_settings
    from serving import registry as reg
    from serving.app import create_app

    torch.set_num_threads(1)
    out = open(events, "w", buffering=1)  # noqa: SIM115 — open for the process's life
    lock = threading.Lock()

    def emit(kind: str, t0: float, ms: float, **kw) -> None:
        with lock:
            out.write(json.dumps({"kind": kind, "t": t0, "ms": round(ms, 3), **kw}) + "\n")

    gc_start: dict[str, float] = {}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_start["t"], gc_start["p"] = time.time(), time.perf_counter()
        elif "p" in gc_start:
            emit("gc", gc_start["t"], (time.perf_counter() - gc_start["p"]) * 1e3,
                 gen=info["generation"], collected=info["collected"],
                 thread=threading.current_thread().name)

    gc.callbacks.append(on_gc)
    for name in ("refresh", "_swap"):
        orig = getattr(reg.ModelStore, name)

        def timed(self, *a, _orig=orig, _name=name, **kw):
            t0, p0, c0 = time.time(), time.perf_counter(), time.thread_time()
            try:
                return _orig(self, *a, **kw)
            finally:
                emit(_name.strip("_"), t0, (time.perf_counter() - p0) * 1e3,
                     cpu_ms=round((time.thread_time() - c0) * 1e3, 3))

        setattr(reg.ModelStore, name, timed)

    app = create_app(get_settings(), poll_seconds=poll)
    inner = app.router.lifespan_context

    async def lag() -> None:
        while True:
            p0 = time.perf_counter()
            await asyncio.sleep(0.005)
            late = (time.perf_counter() - p0) * 1e3 - 5.0
            if late > 2.0:
                emit("loop_lag", time.time() - late / 1e3, late)

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with inner(a):
            task = asyncio.create_task(lag())
            yield
            task.cancel()

    app.router.lifespan_context = lifespan

    async def timed_app(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        t0, p0 = time.time(), time.perf_counter()
        await app(scope, receive, send)
        ms = (time.perf_counter() - p0) * 1e3
        if ms > 2.0:
            emit("request", t0, ms, path=scope["path"])

    uvicorn.run(timed_app, host="127.0.0.1", port=port, log_level="warning",
                access_log=False, workers=1, lifespan="on")


def start_probed(uri: str, data: Path, port: int, poll: float, events: Path,
                 key: str) -> subprocess.Popen:
    from serve import wait_ready

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": uri,
           "OMS_ML_DATA_DIR": str(data), "OMS_ML_SERVING_API_KEYS": json.dumps({"demo": key}),
           "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(poll),
                             str(events)], env=env, cwd=data, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


# ---------------------------------------------------------------- the client side
def cpu_sampler(stop: threading.Event, out: list) -> None:
    """Machine CPU busy share per 0.5 s (from /proc/stat), with the load average."""
    def read() -> tuple[int, int]:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(v), v[3] + v[4]

    tot0, idle0 = read()
    while not stop.wait(0.5):
        tot, idle = read()
        out.append((time.time(), 1 - (idle - idle0) / max(tot - tot0, 1), os.getloadavg()[0]))
        tot0, idle0 = tot, idle


def hey_csv(url: str, body: str, n: int, key: str) -> tuple[float, np.ndarray]:
    """Run ``hey -o csv`` at 10 × 30 requests/s; returns start time and rows."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(body)
    cmd = ["hey", "-n", str(n), "-c", "10", "-q", "30", "-m", "POST", "-T",
           "application/json", "-D", f.name, "-H", f"X-API-Key: {key}", "-o", "csv", url]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    rows = list(csv.DictReader(io.StringIO(out)))
    arr = np.array([(float(r["offset"]), float(r["response-time"]) * 1e3,
                     float(r["status-code"])) for r in rows])
    return t0, arr[np.argsort(arr[:, 0])]


def window(url: str, body: str, seconds: float, key: str, move_at: float | None,
           mover) -> dict:
    stop = threading.Event()
    cpu: list = []
    moved: dict = {}
    threads = [threading.Thread(target=cpu_sampler, args=(stop, cpu))]
    if move_at is not None:
        def move() -> None:
            time.sleep(move_at)
            moved["start"] = time.time()
            moved["version"] = mover()
            moved["at"] = time.time()
        threads.append(threading.Thread(target=move))
    for t in threads:
        t.start()
    t0, rows = hey_csv(url, body, int(300 * seconds), key)
    stop.set()
    for t in threads:
        t.join()
    return {"t0": t0, "rows": rows, "cpu": cpu, "moved": moved}


def _move(uri: str, version: str) -> str:
    """Point ``@champion`` at ``version`` (registered before the window, as bench/serve.py)."""
    from mlflow import MlflowClient

    MlflowClient(uri, uri).set_registered_model_alias("warehouse_router__demo", "champion",
                                                      version)
    return version


def events_in(path: Path, a: float, b: float) -> list[dict]:
    ev = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [e for e in ev if a <= e["t"] <= b]


def analyse(name: str, w: dict, ev: list[dict]) -> list[str]:
    rows, t0 = w["rows"], w["t0"]
    lat = rows[:, 1]
    q = np.percentile(lat, [50, 90, 99, 99.9])
    codes = np.unique(rows[:, 2], return_counts=True)
    lines = [f"### {name}", "",
             f"{len(rows)} requests, status "
             f"{ {int(c): int(k) for c, k in zip(*codes, strict=True)} }",
             f"client latency ms: p50 {q[0]:.1f}, p90 {q[1]:.1f}, p99 {q[2]:.1f}, "
             f"p99.9 {q[3]:.1f}, max {lat.max():.1f}; > {SLOW_MS:.0f} ms: "
             f"{int((lat > SLOW_MS).sum())} ({(lat > SLOW_MS).mean():.2%})"]
    if w["moved"]:
        m = w["moved"]
        lines.append(f"alias moved at +{m['start'] - t0:.1f} s (register + alias took "
                     f"{m['at'] - m['start']:.1f} s in the bench process), version "
                     f"{m['version']}")
    cpu = np.array(w["cpu"]) if w["cpu"] else np.zeros((0, 3))
    if len(cpu):
        lines.append(f"machine CPU busy: mean {cpu[:, 1].mean():.0%}, max "
                     f"{cpu[:, 1].max():.0%}; load average 1 min {cpu[0, 2]:.2f} → "
                     f"{cpu[-1, 2]:.2f}")
    kinds: dict[str, list[dict]] = {}
    for e in ev:
        kinds.setdefault(e["kind"], []).append(e)
    for k, es in sorted(kinds.items()):
        ms = np.array([e["ms"] for e in es])
        extra = ""
        if k == "gc":
            g = np.array([e["gen"] for e in es])
            extra = "; by generation " + ", ".join(
                f"gen{i}: {int((g == i).sum())} (max {ms[g == i].max():.1f} ms)"
                for i in range(3) if (g == i).any())
        if k in ("refresh", "swap"):
            extra = f"; CPU ms total {sum(e['cpu_ms'] for e in es):.0f}"
        lines.append(f"server {k}: {len(es)} events ≥ threshold, total {ms.sum():.0f} ms, "
                     f"max {ms.max():.1f} ms, p50 {np.median(ms):.1f} ms{extra}")
    lines += ["", "| second | requests | p50 ms | p99 ms | max ms | > 20 ms | CPU busy | "
              "server events in that second (ms) |", "|---|---|---|---|---|---|---|---|"]
    sec = np.floor(rows[:, 0]).astype(int)
    for s in range(sec.max() + 1):
        x = lat[sec == s]
        if not len(x):
            continue
        c = cpu[(cpu[:, 0] >= t0 + s) & (cpu[:, 0] < t0 + s + 1)] if len(cpu) else cpu
        evs = [e for e in ev if t0 + s <= e["t"] < t0 + s + 1 and e["kind"] != "request"
               and (e["kind"] != "loop_lag" or e["ms"] > 5)]
        big = ", ".join(f"{e['kind']}{e.get('gen', '')} {e['ms']:.0f}" for e in evs
                        if e["ms"] >= 3 or e["kind"] in ("refresh", "swap"))
        lines.append(f"| {s} | {len(x)} | {np.median(x):.1f} | {np.percentile(x, 99):.1f} | "
                     f"{x.max():.1f} | {int((x > SLOW_MS).sum())} | "
                     f"{c[:, 1].mean() if len(c) else float('nan'):.0%} | {big[:160]} |")
    return lines + [""] + attribution(rows, t0, ev) + [""]


def attribution(rows: np.ndarray, t0: float, ev: list[dict]) -> list[str]:
    """What each slow request overlapped with on the server (request start … end)."""
    slow = rows[rows[:, 1] > SLOW_MS]
    spans = {k: [(e["t"], e["t"] + e["ms"] / 1e3) for e in ev if e["kind"] == k
                 and (k != "loop_lag" or e["ms"] > 3)]
             for k in ("gc", "refresh", "swap", "loop_lag")}
    srv = [(e["t"], e["t"] + e["ms"] / 1e3, e["ms"]) for e in ev if e["kind"] == "request"]
    counts = {k: 0 for k in (*spans, "server time > 10 ms", "none of these")}
    for off, ms, _ in slow:
        a, b = t0 + off, t0 + off + ms / 1e3
        hit = False
        for k, sp in spans.items():
            if any(s < b + 0.002 and e > a - 0.002 for s, e in sp):
                counts[k] += 1
                hit = True
        if any(s < b and e > a and m > 10 for s, e, m in srv):
            counts["server time > 10 ms"] += 1
            hit = True
        counts["none of these"] += not hit
    return [f"Slow requests (> {SLOW_MS:.0f} ms): {len(slow)}; overlapping (a request can "
            "count under several): " + ", ".join(f"{k} {v}" for k, v in counts.items())]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return _probe_server(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--timesteps", type=int, default=2_000)
    p.add_argument("--windows", default="still,move")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_tail.md"))
    args = p.parse_args()
    os.environ["DO_NOT_TRACK"] = "1"
    from serve import KEY, bodies, free_port, register, stop

    from models.routing.agent import DQNRouter

    work = Path(tempfile.mkdtemp(prefix="oms-bench-tail-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    start_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    router = DQNRouter(total_timesteps=args.timesteps, algo_kwargs={"learning_starts": 500},
                       eval_freq=1_000, n_eval_episodes=2, progress_bar=False).fit()
    register(uri, router, str(work / "artifacts"))
    ours = bodies(router.network_)[1]
    port, events = free_port(), work / "events.jsonl"
    proc = start_probed(uri, work, port, 2.0, events, KEY)
    url = f"http://127.0.0.1:{port}/v1/route"
    lines = ["# Tail of `oms-ml serve` at 300 requests/s (`bench/serve_tail.py`)", "",
             f"Command: `python bench/serve_tail.py --seconds {args.seconds:.0f}` — "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores "
             f"shared with other jobs, load average at start {start_load}. hey and the server "
             "on the same cores. Server probes: gc callbacks, alias poll/swap timing, a 5 ms "
             "event-loop lag probe (events ≥ 2 ms), server-side request time (≥ 2 ms).", ""]
    try:
        for name in args.windows.split(","):
            move = args.seconds / 3 if name == "move" else None
            staged = register(uri, router, str(work / "artifacts"), champion=False)
            w = window(url, ours, args.seconds, KEY, move, lambda v=staged: _move(uri, v))
            t_end = w["t0"] + w["rows"][-1, 0] + 1
            lines += analyse(f"window {name}: 300 req/s for {args.seconds:.0f} s"
                             + (f", champion moved at +{move:.0f} s" if move else ""),
                             w, events_in(events, w["t0"], t_end))
            time.sleep(3)
    finally:
        stop(proc)
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
