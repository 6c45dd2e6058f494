"""Benchmark: order generation, feature computation (pandas / Spark local) and a DuckDB reference.

One run measures, each in its own subprocess so peak memory is its own:

1. generation of the ``--scale`` dataset (rows/s, wall, peak RSS) — skipped when ``--data``
   already holds a generated dataset (then the report says so);
2. ``pipelines.features.build_features`` with the pandas engine and with Spark ``local[*]``
   (input rows/s, wall, peak RSS; for Spark the Python driver and the JVM separately);
3. the same daily-volume and RFM aggregates computed by pandas and by DuckDB from the same
   parquet (the target: pandas within 2× of DuckDB's wall time), with a check that both
   give the same numbers.

Writes ``bench/results/features.md``. Usage::

    .venv/bin/python bench/features.py --scale large
    .venv/bin/python bench/features.py --scale medium --data /tmp/gen-medium --engines pandas
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import met  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "features.md"
GEN_TARGET_S = 600.0
GEN_TARGET_MB = 4096.0
DUCKDB_RATIO_TARGET = 2.0
HORIZON = 90


# ----------------------------------------------------------------------------- workers


def _self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_generate(args: dict) -> dict:
    from pipelines.generate import generate

    t0 = time.perf_counter()
    rep = generate(args["scale"], seed=args["seed"], out=args["data"], progress=False)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "rows": rep.rows, "total_rows": rep.total_rows,
            "peak_rss_mb": _self_peak_mb()}


def worker_features(args: dict) -> dict:
    from pipelines.features import build_features

    t0 = time.perf_counter()
    rep = build_features(args["data"], args["out"], engine=args["engine"], progress=print)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "rows_in": rep.rows_in, "rows_out": rep.rows_out,
            "cutoff": rep.cutoff, "peak_rss_mb": _self_peak_mb()}


def _cutoff(data: str) -> str:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dates = ds.dataset(f"{data}/orders", partitioning="hive").to_table(columns=["order_date"])
    last = dates["order_date"]
    day = pc.max(last).as_py().date()
    return str(day - dt.timedelta(days=HORIZON))


def worker_ref_pandas(args: dict) -> dict:
    from features.customers import rfm_scores, rfm_values
    from features.demand import daily_order_volume
    from pipelines.features import CONTEXT_COLUMNS, read_arrow, to_pandas

    cols = ["tenant_id", "customer_id", "is_guest", "order_date", "total_amount"]
    t0 = time.perf_counter()
    orders = to_pandas(read_arrow(args["data"], "orders", cols))
    ctx = to_pandas(read_arrow(args["data"], "daily_context", CONTEXT_COLUMNS))
    dv = daily_order_volume(orders, ctx)
    rfm = rfm_scores(rfm_values(orders, args["cutoff"]))
    wall = time.perf_counter() - t0
    return {"seconds": wall, "peak_rss_mb": _self_peak_mb(),
            "check": _checksums(dv, rfm)}


def _checksums(dv, rfm) -> dict:
    score = rfm["r_score"] * 100 + rfm["f_score"] * 10 + rfm["m_score"]
    return {
        "dv_rows": int(len(dv)), "dv_y": int(dv["y"].sum()),
        "dv_last_30d": int(dv["orders_last_30d"].sum()),
        "dv_same_day_ly": float(dv["y_same_day_last_year"].fillna(0).sum()),
        "dv_holiday_days": int(dv["is_holiday"].sum()),
        "dv_weather_rain": int(dv["weather_rain"].sum()),
        "dv_revenue_cents": int(round(float(dv["revenue"].sum()) * 100)),
        "rfm_rows": int(len(rfm)), "rfm_recency": int(rfm["recency_days"].sum()),
        "rfm_score_sum": int(score.sum()),
        "rfm_score_hash": int((score.to_numpy() * (1 + rfm["frequency"].to_numpy() % 13)).sum()),
    }


DUCKDB_DV = """
CREATE TEMP TABLE dv AS
WITH o AS (
  SELECT tenant_id, CAST(order_date AS DATE) AS ds, round_even(total_amount * 100, 0) AS cents
  FROM read_parquet('{orders}', hive_partitioning = true)),
c AS (SELECT tenant_id, ds, count(*) AS y, sum(cents) AS cents FROM o GROUP BY ALL),
b AS (SELECT tenant_id, min(ds) AS first FROM c GROUP BY ALL),
e AS (SELECT max(ds) AS last FROM c),
g AS (SELECT b.tenant_id, CAST(unnest(generate_series(b.first, e.last, INTERVAL 1 DAY)) AS DATE)
        AS ds FROM b, e),
x AS (SELECT tenant_id, CAST(date AS DATE) AS ds, region, is_holiday, promotion_name,
             promotion_intensity, weather, temperature_c
      FROM read_parquet('{context}', hive_partitioning = true)),
wc AS (SELECT tenant_id, ds, weather, count(*) AS n FROM x GROUP BY ALL),
wm AS (SELECT tenant_id, ds,
              arg_max(weather, n * 10 + list_position(['sunny','cloudy','rain','snow','storm'],
                                                     weather)) AS weather
       FROM wc GROUP BY ALL),
ctx AS (SELECT tenant_id, ds, max(coalesce(is_holiday, false)::INT) AS is_holiday,
               max((promotion_name IS NOT NULL OR coalesce(promotion_intensity, 0) > 0)::INT)
                 AS has_promotion,
               max(coalesce(promotion_intensity, 0)) AS promotion_intensity,
               avg(temperature_c) AS temperature_c
        FROM x GROUP BY ALL),
p AS (SELECT g.tenant_id, g.ds, coalesce(c.y, 0) AS y, coalesce(c.cents, 0) / 100.0 AS revenue
      FROM g LEFT JOIN c USING (tenant_id, ds))
SELECT p.tenant_id AS unique_id, p.ds, p.y, p.revenue,
       isodow(p.ds) - 1 AS day_of_week, day(p.ds) AS day_of_month, month(p.ds) AS month,
       (isodow(p.ds) >= 6)::INT AS is_weekend,
       coalesce(ctx.is_holiday, 0) AS is_holiday, coalesce(ctx.has_promotion, 0) AS has_promotion,
       coalesce(ctx.promotion_intensity, 0) AS promotion_intensity, ctx.temperature_c,
       coalesce(wm.weather = 'sunny', false)::INT AS weather_sunny,
       coalesce(wm.weather = 'cloudy', false)::INT AS weather_cloudy,
       coalesce(wm.weather = 'rain', false)::INT AS weather_rain,
       coalesce(wm.weather = 'snow', false)::INT AS weather_snow,
       coalesce(wm.weather = 'storm', false)::INT AS weather_storm,
       coalesce(sum(p.y) OVER w7, 0) AS orders_last_7d,
       coalesce(sum(p.y) OVER w30, 0) AS orders_last_30d,
       lag(p.y, 364) OVER w AS y_same_day_last_year
FROM p LEFT JOIN ctx USING (tenant_id, ds) LEFT JOIN wm USING (tenant_id, ds)
WINDOW w AS (PARTITION BY p.tenant_id ORDER BY p.ds),
       w7 AS (w ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING),
       w30 AS (w ROWS BETWEEN 30 PRECEDING AND 1 PRECEDING)
"""

DUCKDB_RFM = """
CREATE TEMP TABLE rfm AS
WITH h AS (
  SELECT tenant_id, customer_id, CAST(order_date AS DATE) AS ds,
         round_even(total_amount * 100, 0) AS cents
  FROM read_parquet('{orders}', hive_partitioning = true)
  WHERE NOT coalesce(is_guest, false) AND customer_id IS NOT NULL
    AND CAST(order_date AS DATE) <= DATE '{cutoff}'),
a AS (SELECT tenant_id, customer_id, date_diff('day', max(ds), DATE '{cutoff}') AS recency_days,
             count(*) AS frequency, sum(cents) / 100.0 AS monetary FROM h GROUP BY ALL)
SELECT *,
  ntile(5) OVER (PARTITION BY tenant_id ORDER BY recency_days DESC, customer_id) AS r_score,
  ntile(5) OVER (PARTITION BY tenant_id ORDER BY frequency, customer_id) AS f_score,
  ntile(5) OVER (PARTITION BY tenant_id ORDER BY monetary, customer_id) AS m_score
FROM a
"""


def worker_ref_duckdb(args: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    paths = {"orders": f"{args['data']}/orders/**/*.parquet",
             "context": f"{args['data']}/daily_context/**/*.parquet", "cutoff": args["cutoff"]}
    t0 = time.perf_counter()
    con.execute(DUCKDB_DV.format(**paths))
    con.execute(DUCKDB_RFM.format(**paths))
    wall = time.perf_counter() - t0
    dv = con.execute("SELECT * FROM dv").df()
    rfm = con.execute("SELECT * FROM rfm ORDER BY tenant_id, customer_id").df()
    return {"seconds": wall, "peak_rss_mb": _self_peak_mb(), "threads": int(
        con.execute("SELECT current_setting('threads')").fetchone()[0]),
        "check": _checksums(dv, rfm)}


WORKERS = {"generate": worker_generate, "features": worker_features,
           "ref-pandas": worker_ref_pandas, "ref-duckdb": worker_ref_duckdb}


# ----------------------------------------------------------------------------- parent


def run_worker(kind: str, args: dict, log: Path) -> dict:
    """Run one worker in a subprocess, sampling the RSS of it and its children (the JVM)."""
    import psutil

    cmd = [sys.executable, __file__, "--worker", kind, "--worker-args", json.dumps(args)]
    print(f"  $ {kind} …", flush=True)
    with open(log, "a") as err:
        err.write(f"\n=== {kind} {json.dumps(args)}\n")
        err.flush()
        proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        peak_tree = peak_jvm = 0
        while proc.poll() is None:
            try:
                kids = proc.children(recursive=True)
                rss = proc.memory_info().rss
                jvm = sum(k.memory_info().rss for k in kids if "java" in k.name())
                peak_tree = max(peak_tree, rss + sum(k.memory_info().rss for k in kids))
                peak_jvm = max(peak_jvm, jvm)
            except psutil.Error:
                pass
            time.sleep(0.2)
        out = proc.stdout.read()
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} failed (exit {proc.returncode}); see {log}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_mb"] = peak_tree / 2**20
    result["peak_jvm_mb"] = peak_jvm / 2**20
    print(f"    {kind}: {result['seconds']:.1f}s, peak {result['peak_tree_mb']:.0f} MB", flush=True)
    return result


def has_dataset(data: Path) -> bool:
    return (data / "orders").is_dir() and (data / "order_lines").is_dir()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="large")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", type=Path, help="Generated dataset to reuse (or where to write it).")
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-features"))
    p.add_argument("--engines", default="pandas,spark,duckdb")
    p.add_argument("--regenerate", action="store_true", help="Generate even if --data exists.")
    p.add_argument("--repeats", type=int, default=3,
                   help="Runs of each reference (pandas, DuckDB); the median is reported.")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-args", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        real_stdout, sys.stdout = sys.stdout, sys.stderr  # progress lines go to the log
        result = WORKERS[a.worker](json.loads(a.worker_args))
        real_stdout.write(json.dumps(result, default=str) + "\n")
        return
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    a.work.mkdir(parents=True, exist_ok=True)
    data = (a.data or a.work / f"gen-{a.scale}").resolve()
    log = a.work / "bench-features.log"
    load_start = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    res: dict = {}
    if a.regenerate or not has_dataset(data):
        res["generate"] = run_worker("generate", {"scale": a.scale, "seed": a.seed,
                                                  "data": str(data)}, log)
    for engine in ("pandas", "spark"):
        if engine in engines:
            res[engine] = run_worker("features", {"data": str(data), "engine": engine,
                                                  "out": str(a.work / f"features-{engine}")}, log)
    if "duckdb" in engines:
        cutoff = _cutoff(str(data))
        runs: dict[str, list[dict]] = {"ref-pandas": [], "ref-duckdb": []}
        for _ in range(a.repeats):  # alternate, so load swings hit both alike
            for kind in runs:
                runs[kind].append(run_worker(kind, {"data": str(data), "cutoff": cutoff}, log))
        for kind, results in runs.items():
            res[kind] = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
            res[kind]["all_seconds"] = [round(r["seconds"], 2) for r in results]
    res["load_end"] = os.getloadavg()
    write_report(a, data, res, load_start, started)


def write_report(a, data: Path, res: dict, load_start, started: dt.datetime) -> None:
    """Write the markdown results (every number comes from ``res``)."""
    cmd = "python bench/features.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    lines = [
        "# Features benchmark", "",
        f"- command: `{cmd}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; scale `{a.scale}`, seed {a.seed}; data `{data}`",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; shared with other engineers' jobs",
        f"- load average (1/5/15 min) at start {tuple(round(x, 2) for x in load_start)}, "
        f"at end {tuple(round(x, 2) for x in res['load_end'])}",
        "- every stage ran in its own subprocess; peak RSS = the process's own `ru_maxrss` "
        "(Spark: Python driver) and, sampled every 0.2 s, the whole process tree / the JVM",
        "", "| measurement | value | target | status |", "|---|---|---|---|",
    ]
    lines += _generation_rows(res.get("generate"))
    for engine in ("pandas", "spark"):
        lines += _feature_rows(engine, res.get(engine))
    lines += _reference_rows(res.get("ref-pandas"), res.get("ref-duckdb"))
    lines += ["", _notes(res)]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(a.out)
    print("\n".join(lines))
    print(f"\nwrote {a.out}")


def _generation_rows(g: dict | None) -> list[str]:
    if g is None:
        return ["| generation | not measured in this run (reused `--data`) | < 600 s, < 4 GB | "
                "not measured |"]
    lines_rate = g["rows"].get("order_lines", 0) / g["seconds"]
    return [
        f"| generation: order lines | {g['rows'].get('order_lines', 0):,} | ≥ 20,000,000 "
        f"(large) | {met(g['rows'].get('order_lines', 0) >= 20_000_000)} |",
        f"| generation: wall time | {g['seconds']:.0f} s | < 600 s | "
        f"{met(g['seconds'] < GEN_TARGET_S)} |",
        f"| generation: rate | {g['total_rows'] / g['seconds']:,.0f} rows/s (all tables); "
        f"{lines_rate:,.0f} order lines/s | — | — |",
        f"| generation: peak RSS | {g['peak_rss_mb']:,.0f} MB (sampled tree "
        f"{g['peak_tree_mb']:,.0f} MB) | < 4,096 MB | {met(g['peak_rss_mb'] < GEN_TARGET_MB)} |",
    ]


def _feature_rows(engine: str, r: dict | None) -> list[str]:
    if r is None:
        return []
    rows = r["rows_in"].get("orders", 0) + r["rows_in"].get("order_lines", 0)
    if engine == "spark":
        mem = (f"driver {r['peak_rss_mb']:,.0f} MB + JVM {r['peak_jvm_mb']:,.0f} MB "
               f"(tree {r['peak_tree_mb']:,.0f} MB)")
    else:
        mem = f"{r['peak_rss_mb']:,.0f} MB"
    outs = ", ".join(f"{k} {v:,}" for k, v in r["rows_out"].items())
    return [
        f"| features ({engine}): wall | {r['seconds']:.1f} s (read + compute + write; {outs} "
        "rows) | — | — |",
        f"| features ({engine}): throughput | {rows / r['seconds']:,.0f} input rows/s "
        f"(orders + order lines = {rows:,}) | — | — |",
        f"| features ({engine}): peak RSS | {mem} | — | — |",
    ]


def _reference_rows(pd_: dict | None, duck: dict | None) -> list[str]:
    if pd_ is None or duck is None:
        return []
    ratio = pd_["seconds"] / duck["seconds"]
    same = pd_["check"] == duck["check"]
    return [
        f"| same aggregates (daily volume + RFM scores): pandas | median {pd_['seconds']:.1f} s "
        f"of {pd_['all_seconds']}, peak {pd_['peak_rss_mb']:,.0f} MB | — | — |",
        f"| same aggregates: DuckDB ({duck['threads']} threads) | median {duck['seconds']:.1f} s "
        f"of {duck['all_seconds']}, peak {duck['peak_rss_mb']:,.0f} MB | — | — |",
        f"| pandas / DuckDB wall time | {ratio:.2f}× | ≤ 2× | "
        f"{met(ratio <= DUCKDB_RATIO_TARGET)} |",
        f"| pandas and DuckDB give the same numbers | {'yes' if same else 'NO'} "
        f"(row counts, sums, RFM score checksums) | identical | {met(same)} |",
    ]


def _notes(res: dict) -> str:
    notes = ["Notes:"]
    if "ref-pandas" in res and "ref-duckdb" in res and res["ref-pandas"]["check"] != \
            res["ref-duckdb"]["check"]:
        notes.append(f"- checksums differ: pandas {res['ref-pandas']['check']}, "
                     f"DuckDB {res['ref-duckdb']['check']}")
    notes.append("- the pandas and DuckDB reference times both include reading the parquet "
                 "(pandas: pyarrow, strings as categoricals; DuckDB: `read_parquet`), each in a "
                 "fresh process; the two alternate and the median run is compared.")
    notes.append("- pandas does the work on one core (the arrow read is threaded); DuckDB uses "
                 "both, so the ratio swings with how busy the shared machine is.")
    notes.append("- the machine is shared: other engineers' tests and training ran at the same "
                 "time (see the load averages), so wall times are pessimistic and noisy.")
    return "\n".join(notes)


if __name__ == "__main__":
    main()
