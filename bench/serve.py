"""Serving benchmark: ``oms-ml serve`` vs ``mlflow models serve`` on the same champion router.

Usage::

    apt-get install -y hey          # the load generator (set-up, not part of the tests)
    python bench/serve.py           # full run, writes bench/results/serve.md
    python bench/serve.py --quick   # short phases (smoke run)

Phases (one machine, loopback, load generator on the same cores as the servers):

1. the same champion (a DQN router, default architecture, briefly trained, registered as
   ``warehouse_router__demo``) served by ``mlflow models serve --env-manager local`` and by
   ``oms-ml serve``, one worker each, ``hey`` at the same concurrency: throughput ratio;
2. ``oms-ml serve`` at 300 requests/s for 60 s; ``@champion`` moves to a new version after
   20 s (the version is registered before the load, only the alias moves during it): errors,
   p50/p99 (``hey -o csv``: overall, around the move, per second) and how long until the new
   version answers (poll interval 2 s);
3. ``POST /v1/route/reroute`` with 100,000 open orders (end-to-end time and solver time);
4. a flood of bad requests (malformed JSON, wrong types) beside good traffic: status codes of
   both and the good requests' latency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = str(Path(sys.executable).parent)
KEY = "bench-key-0123456789abcdef"
ADMIN = "bench-admin-0123456789abcdef"


def load() -> str:
    """The 1/5/15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def hey(url: str, body: str, seconds: float, conc: int, qps: float | None = None,
        headers: dict[str, str] | None = None, n: int | None = None) -> dict:
    """Run ``hey`` and parse its summary (requests/s, percentiles, status codes, errors).

    With ``n`` it sends exactly ``n`` requests (no request is cut at the end of a time
    window, so every error counted is a real one); otherwise it runs for ``seconds``.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(body)
    window = ["-n", str(n)] if n else ["-z", f"{seconds}s"]
    cmd = ["hey", *window, "-c", str(conc), "-m", "POST", "-T", "application/json",
           "-D", f.name]
    if qps:
        cmd += ["-q", str(qps)]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    pct = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+(?:Post|Get|dial)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50": pct.get(50, float("nan")), "p99": pct.get(99, float("nan")),
            "codes": codes, "errors": errors, "total": sum(codes.values()) + errors,
            "raw": out[-1500:]}


def hey_csv(url: str, body: str, n: int, conc: int, qps: float, headers: dict[str, str]
            ) -> dict:
    """``hey -n n -o csv``: every request's start offset, latency and status (or error).

    The same load as :func:`hey`; the per-request rows give per-second percentiles (where in
    the run the tail is) that hey's summary does not.
    """
    import csv
    import io

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(body)
    cmd = ["hey", "-n", str(n), "-c", str(conc), "-q", str(qps), "-m", "POST", "-T",
           "application/json", "-D", f.name, "-o", "csv"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    start = time.time()
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    wall = time.time() - start
    os.unlink(f.name)
    rows = list(csv.DictReader(io.StringIO(out)))
    off = np.array([float(r["offset"]) for r in rows])
    lat = np.array([float(r["response-time"]) * 1000 for r in rows])
    status = np.array([int(float(r["status-code"] or 0)) for r in rows])
    order = np.argsort(off)
    off, lat, status = off[order], lat[order], status[order]
    codes = {int(c): int(k) for c, k in zip(*np.unique(status[status > 0],
                                                        return_counts=True), strict=True)}
    errors = n - int((status > 0).sum())  # connection errors have no row with a status
    return {"start": start, "offset": off, "ms": lat, "status": status, "codes": codes,
            "errors": errors, "total": n, "rps": len(rows) / max(off[-1] + lat[-1] / 1e3, 1e-9)
            if len(rows) else 0.0, "wall": wall,
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan")}


def per_second(res: dict) -> list[dict]:
    """p50/p99/max latency and count per second of a :func:`hey_csv` run."""
    sec = np.floor(res["offset"]).astype(int)
    out = []
    for s in np.unique(sec):
        x = res["ms"][sec == s]
        out.append({"second": int(s), "n": int(len(x)), "p50": float(np.percentile(x, 50)),
                    "p99": float(np.percentile(x, 99)), "max": float(x.max()),
                    "over20": int((x > 20).sum())})
    return out


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register(uri: str, router, artifacts: str, champion: bool = True) -> str:
    import mlflow
    from mlflow import MlflowClient

    from models.routing.pyfunc import ARTIFACT, WarehouseRouterModel
    from models.routing.rows import example_rows
    from oms.tenancy import CHAMPION, registered_name
    from pipelines.registry import log_pyfunc

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name("bench-serve") is None:
        mlflow.create_experiment("bench-serve", artifact_location=artifacts)
    mlflow.set_experiment("bench-serve")
    name = registered_name("warehouse_router", "demo")
    with mlflow.start_run(), tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "router.zip")
        router.save(path)
        model = WarehouseRouterModel(router.algo_name, router.network_, router.env_config_,
                                     router)
        version = log_pyfunc(model, name, example_rows(router.network_),
                             artifacts={ARTIFACT: path})
    if champion:
        MlflowClient(uri, uri).set_registered_model_alias(name, CHAMPION, version)
    return version


def bodies(network) -> tuple[str, str]:
    """The same one-order request for ``mlflow models serve`` and for ``oms-ml serve``."""
    from models.routing.rows import example_rows

    row = example_rows(network, n=1, random_state=5).iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    ours = {"order_id": "bench-1", "order_value": row["order_value"],
            "customer_tier": row["customer_tier"], "promised_hours": row["promised_hours"],
            "hour_of_day": row["hour_of_day"], "weather": row["weather"],
            "customer_lat": row["customer_lat"], "customer_lon": row["customer_lon"],
            "promo_intensity": row["promo_intensity"], "quantity": int(row["quantity"]),
            "warehouses": {w: {"load": int(row[f"load__{w}"]), "stock": max(1, int(
                row[f"stock__{w}"])), "up": True} for w in network.warehouse_ids}}
    theirs = dict(row)
    for w in network.warehouse_ids:
        theirs[f"stock__{w}"] = float(ours["warehouses"][w]["stock"])
    return json.dumps({"dataframe_records": [theirs]}), json.dumps(ours)


def start_oms(uri: str, data: Path, port: int, poll: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": uri,
           "OMS_ML_DATA_DIR": str(data), "OMS_ML_SERVING_API_KEYS": json.dumps({"demo": KEY}),
           "OMS_ML_SERVING_ADMIN_KEY": ADMIN, "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port),
                             "--poll-seconds", str(poll)], env=env, cwd=data,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def start_mlflow_serve(uri: str, data: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": uri, "DO_NOT_TRACK": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [f"{VENV_BIN}/mlflow", "models", "serve", "-m", "models:/warehouse_router__demo@champion",
         "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1", "-w", "1"],
        env=env, cwd=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/ping", proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def compare(mlflow_url: str, oms_url: str, theirs: str, ours: str, seconds: float,
            conc: int) -> dict:
    """Phase 1: same concurrency, same order, one worker each."""
    a = hey(f"{mlflow_url}/invocations", theirs, seconds, conc)
    load_a = load()
    b = hey(f"{oms_url}/v1/route", ours, seconds, conc, headers={"X-API-Key": KEY})
    return {"mlflow": a, "oms": b, "ratio": b["rps"] / max(a["rps"], 1e-9),
            "load_mlflow": load_a, "load_oms": load()}


def sustained(oms_url: str, ours: str, uri: str, router, artifacts: str, seconds: float,
              move_after: float) -> dict:
    """Phase 2: 300 req/s (10 workers × 30) for ``seconds``; champion moves mid-run.

    The new version is registered before the load starts (training and logging a model is
    the training flow's work, not the server's); during the load only the alias moves, as a
    promotion does, and the server must load and serve the new version under that load.
    """
    from mlflow import MlflowClient

    from oms.tenancy import CHAMPION, registered_name

    new = register(uri, router, artifacts, champion=False)
    loader_ready = _wait_loader(oms_url)
    loader_loads = _metric(oms_url, "oms_serving_loader_loads_total")
    seen: dict[str, float] = {}
    moved: dict[str, float] = {}
    stop_flag = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=oms_url, headers={"X-API-Key": KEY}) as c:
            while not stop_flag.is_set():
                r = c.post("/v1/route", content=ours,
                           headers={"content-type": "application/json"}, timeout=60)
                seen.setdefault(r.json()["model"]["version"], time.time())
                time.sleep(0.05)

    def mover() -> None:
        client = MlflowClient(uri, uri)
        time.sleep(move_after)
        client.set_registered_model_alias(registered_name("warehouse_router", "demo"),
                                          CHAMPION, new)
        moved["at"] = time.time()

    threads = [threading.Thread(target=watch), threading.Thread(target=mover)]
    for t in threads:
        t.start()
    batch_before = _batch_stats(oms_url)
    res = hey_csv(f"{oms_url}/v1/route", ours, int(300 * seconds), 10, 30,
                  {"X-API-Key": KEY})
    batch_after = _batch_stats(oms_url)
    stop_flag.set()
    for t in threads:
        t.join()
    res["new_version"] = new
    res["loader_ready"] = loader_ready
    res["loader_loads"] = _metric(oms_url, "oms_serving_loader_loads_total") - loader_loads
    res["swap_seconds"] = (seen[new] - moved["at"]) if new in seen else None
    res["load"] = load()
    res["seconds"] = per_second(res)
    at = moved["at"] - res["start"]  # the alias move, seconds into the run
    near = (res["offset"] >= at - 0.5) & (res["offset"] < at + 4.0)
    res["move_offset"] = at
    res["p99_near_move"] = float(np.percentile(res["ms"][near], 99)) if near.any() else None
    res["p99_away"] = float(np.percentile(res["ms"][~near], 99))
    n = batch_after[1] - batch_before[1]
    res["orders_per_call"] = (batch_after[0] - batch_before[0]) / n if n else None
    return res


def _metric(oms_url: str, name: str) -> float:
    """One unlabelled sample from the server's ``/metrics``."""
    text = httpx.get(f"{oms_url}/metrics", timeout=30).text
    found = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


def _wait_loader(oms_url: str, timeout: float = 300) -> bool:
    """Wait until the server's router loader process is warm (``serving.loader``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = httpx.get(f"{oms_url}/metrics", timeout=30).text
        if re.search(r"^oms_serving_loader_ready 1\.0$", text, re.M):
            return True
        time.sleep(1)
    return False


def _batch_stats(oms_url: str) -> tuple[float, float]:
    """(orders, routing calls) of the fast lane so far, from ``/metrics``."""
    text = httpx.get(f"{oms_url}/metrics", timeout=30).text
    got = dict(re.findall(r"^oms_serving_route_batch_orders_(sum|count) ([\d.e+]+)$", text,
                          re.M))
    return float(got.get("sum", 0)), float(got.get("count", 0))


def reroute_instance(n: int, nw: int = 10, ns: int = 200, seed: int = 0) -> dict:
    """The instance of ``bench/routing.py`` (orders near their warehouse, 5-25% headroom)."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(23, 40, nw), rng.uniform(105, 122, nw)
    home = rng.integers(0, nw, n)
    sku = rng.integers(0, ns, n)
    cap = (np.bincount(home, minlength=nw) * rng.uniform(1.05, 1.25, nw)).astype(int)
    counts = np.zeros((nw, ns), int)
    np.add.at(counts, (home, sku), 1)
    on_hand = np.round(counts * rng.uniform(1.0, 1.4, counts.shape)).astype(int)
    whs = [{"warehouse_id": f"WH{j:02d}", "lat": float(lat[j]), "lon": float(lon[j]),
            "capacity": int(cap[j]), "cost_per_order": round(float(rng.uniform(1.5, 3.5)), 2)}
           for j in range(nw)]
    stock = [{"warehouse_id": f"WH{j:02d}", "sku": f"S{s:03d}", "on_hand": int(on_hand[j, s])}
             for j in range(nw) for s in range(ns) if counts[j, s]]
    cols = {"order_id": [f"o{i}" for i in range(n)],
            "warehouse_id": [f"WH{j:02d}" for j in home], "sku": [f"S{s:03d}" for s in sku],
            "lat": np.round(lat[home] + rng.normal(0, 1.5, n), 5).tolist(),
            "lon": np.round(lon[home] + rng.normal(0, 1.5, n), 5).tolist(),
            "promised_hours": rng.choice([10.0, 16.0, 30.0, 48.0], n).tolist()}
    return {"down": ["WH03"], "warehouses": whs, "stock": stock, "order_columns": cols}


def reroute_batch(oms_url: str, n: int) -> dict:
    """Phase 3: one outage (WH03 down), ``n`` open orders in the bulk (columnar) format."""
    body = json.dumps(reroute_instance(n)).encode()
    best = None
    runs: list[float] = []
    for _ in range(3):  # best of 3, as bench/routing.py reports the solver
        start = time.perf_counter()
        r = httpx.post(f"{oms_url}/v1/route/reroute", content=body, timeout=300,
                       headers={"X-API-Key": KEY, "content-type": "application/json"})
        seconds = time.perf_counter() - start
        rep = r.json()["report"] if r.status_code == 200 else {}
        run = {"status": r.status_code, "seconds": seconds, "bytes": len(body),
               "solve_seconds": rep.get("solve_seconds") or float("nan"),
               "moved": rep.get("orders_moved"), "unroutable": rep.get("unroutable")}
        best = run if best is None or seconds < best["seconds"] else best
        runs.append(round(seconds, 2))
    best["runs"], best["load"] = runs, load()
    return best


def flood(oms_url: str, ours: str, seconds: float) -> dict:
    """Phase 4: bad requests at full speed beside good requests at 100 req/s."""
    bad_bodies = ['{"order_id": ', json.dumps({"order_id": "x", "order_value": "lots"}),
                  ours.replace('"gold"', '"diamond"').replace('"silver"', '"diamond"')
                  .replace('"bronze"', '"diamond"').replace('"platinum"', '"diamond"')]
    results: dict[str, dict] = {}

    def run(name: str, body: str, conc: int, qps: float | None) -> None:
        results[name] = hey(f"{oms_url}/v1/route", body, seconds, conc, qps,
                            headers={"X-API-Key": KEY})

    threads = [threading.Thread(target=run, args=(f"bad{i}", b, 2, None))
               for i, b in enumerate(bad_bodies)]
    threads.append(threading.Thread(target=run, args=("good", ours, 4, 25)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["load"] = load()
    return results


def report(r: dict, args: argparse.Namespace) -> str:
    c, s, b, f = r["compare"], r["sustained"], r["reroute"], r["flood"]
    bad = {k: v for k, v in f.items() if k.startswith("bad")}
    bad_codes: dict[int, int] = {}
    for v in bad.values():
        for code, n in v["codes"].items():
            bad_codes[code] = bad_codes.get(code, 0) + n
    s_ok = s["codes"].get(200, 0)
    bad_secs = [x for x in s["seconds"] if x["p99"] > 20]
    worst = ", ".join(f"{x['second']} (p99 {x['p99']:.0f}, max {x['max']:.0f} ms)"
                      for x in bad_secs) or "none"
    lines = [
        "# Serving benchmark (`bench/serve.py`)", "",
        f"Command: `python bench/serve.py{' --quick' if args.quick else ''}` — one run, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {os.cpu_count()} cores shared with other engineers' jobs; servers and the "
        "load generator (`hey`) on the same cores, loopback. Load average (1/5/15 min) at "
        f"the start: {r['load_start']}.",
        f"Champion: DQN router (default architecture, {args.timesteps} training steps), "
        "registered as `warehouse_router__demo`; both servers load "
        "`models:/warehouse_router__demo@champion`, one worker each.", "",
        f"## 1. Throughput at {args.conc} concurrent clients, one-order requests "
        f"({args.seconds:.0f} s each)", "",
        "| server | requests/s | p50 ms | p99 ms | non-200 | load avg after |",
        "|---|---|---|---|---|---|",
    ]
    for name, key, ld in (("mlflow models serve --env-manager local", "mlflow",
                           c["load_mlflow"]), ("oms-ml serve", "oms", c["load_oms"])):
        h = c[key]
        lines.append(f"| {name} | {h['rps']:.1f} | {h['p50']:.1f} | {h['p99']:.1f} | "
                     f"{h['total'] - h['codes'].get(200, 0)} | {ld} |")
    lines += ["", f"**Throughput ratio: {c['ratio']:.1f}×** (target ≥ 10×: "
              f"{'met' if c['ratio'] >= 10 else 'NOT met'}).", "",
              f"## 2. 300 requests/s for {args.sustain:.0f} s, champion moved after "
              f"{args.move_after:.0f} s (poll interval 2 s)", "",
              f"`hey -n {s['total']} -c 10 -q 30 -o csv` (10 workers × 30 requests/s; hey starts "
              "the workers together, so requests come in bursts of up to 10 every 33 ms). "
              "Version 2 is registered before the load; during it only the alias moves.", "",
              f"- requests: {s['total']} ({s['rps']:.1f}/s achieved), 200: {s_ok}, "
              f"failed/non-200: {s['total'] - s_ok}",
              f"- latency p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms (target ≤ 20 ms: "
              f"{'met' if s['p99'] <= 20 else 'NOT met'}); p99 from 0.5 s before to 4 s "
              f"after the alias move: {_ms(s['p99_near_move'])} ms, p99 of the rest: "
              f"{s['p99_away']:.1f} ms",
              "- the new version loaded in the "
              + ("router loader process (`serving.loader`; the serving process unpickled its "
                 "fast path)" if s["loader_loads"] == 1 else "serving process (loader "
                 f"process warm: {s['loader_ready']})") + f"; version {s['new_version']} answered "
              + (f"{s['swap_seconds']:.2f} s after the alias moved" if s['swap_seconds']
                 is not None else "— not observed")
              + f"; load average after: {s['load']}",
              f"- orders per routing call in the server (requests waiting together are "
              f"routed together): {_ms(s['orders_per_call'], 2)}",
              f"- seconds with p99 > 20 ms: {worst}", "",
              f"## 3. Batch rerouting of {args.reroute_n:,} open orders", "",
              f"- HTTP {b['status']}, best of 3 end to end {b['seconds']:.2f} s (runs "
              f"{b['runs']}; request "
              f"{b['bytes'] / 1e6:.1f} MB JSON, parse + validate + solve + respond); "
              f"min-cost-flow part {b['solve_seconds']:.2f} s; moved {b['moved']}, "
              f"unroutable {b['unroutable']} (target < 3 s: "
              f"{'met' if b['seconds'] < 3 else 'NOT met'}); load average after: {b['load']}", "",
              f"## 4. Flood of bad requests ({args.flood:.0f} s)", "",
              f"- bad requests (malformed JSON, wrong types, unknown tier; 3×2 clients at full "
              f"speed): {sum(v['total'] for v in bad.values())}, status codes {bad_codes}",
              f"- good requests beside them (4 clients, 100/s): {f['good']['total']}, codes "
              f"{f['good']['codes']}, p50 {f['good']['p50']:.1f} ms, "
              f"p99 {f['good']['p99']:.1f} ms; load average after: {f['load']}", ""]
    return "\n".join(lines)


def _ms(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    p.add_argument("--conc", type=int, default=8)
    p.add_argument("--timesteps", type=int, default=2_000)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve.md"))
    args = p.parse_args()
    args.seconds, args.sustain, args.move_after, args.flood, args.reroute_n = (
        (5, 15, 5, 5, 20_000) if args.quick else (20, 60, 20, 15, 100_000))
    if shutil.which("hey") is None:
        sys.exit("hey not found: apt-get install -y hey")
    os.environ["DO_NOT_TRACK"] = "1"
    from models.routing.agent import DQNRouter

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="oms-bench-serve-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    r = {"load_start": load()}
    router = DQNRouter(total_timesteps=args.timesteps, algo_kwargs={"learning_starts": 500},
                       eval_freq=1_000,
                       n_eval_episodes=2, progress_bar=False).fit()
    register(uri, router, str(work / "artifacts"))
    theirs, ours = bodies(router.network_)
    pm, po = free_port(), free_port()
    mlf = start_mlflow_serve(uri, work, pm)
    oms = start_oms(uri, work, po, poll=2.0)
    # the server's loader process warms up in the background (imports, one load): wait for
    # it, so that its start-up CPU does not fall into either server's throughput window
    _wait_loader(f"http://127.0.0.1:{po}")
    try:
        r["compare"] = compare(f"http://127.0.0.1:{pm}", f"http://127.0.0.1:{po}", theirs,
                               ours, args.seconds, args.conc)
        stop(mlf)
        r["sustained"] = sustained(f"http://127.0.0.1:{po}", ours, uri, router,
                                   str(work / "artifacts"), args.sustain, args.move_after)
        r["reroute"] = reroute_batch(f"http://127.0.0.1:{po}", args.reroute_n)
        r["flood"] = flood(f"http://127.0.0.1:{po}", ours, args.flood)
    finally:
        stop(mlf)
        stop(oms)
    for k in ("offset", "ms", "status"):  # per-request arrays: summarised, not stored
        r["sustained"].pop(k)
    Path(args.out).with_suffix(".json").write_text(json.dumps(r, indent=1, default=str))
    text = report(r, args)
    Path(args.out).write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
