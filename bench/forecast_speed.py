"""Benchmark: fit + predict time for 1,000 daily series × 2 years, three ways, in one run.

* Prophet, one model per series, in a process pool of ``--jobs`` workers
  (``models.forecast.ProphetForecaster``; residual-quantile intervals, no sampling);
* the global LSTM (``models.forecast.LSTMForecaster``), one network for all series;
* statsforecast ``AutoETS`` (weekly season) as a reference (bench-only dependency).

All three forecast 30 days with 80/95 % intervals. The series are synthetic SKU-like panels
from ``models.forecast.synthetic.make_panel`` (Poisson counts, levels 0.5–50/day, weekly
pattern, holidays, promotions), which keeps the run self-contained; speed does not depend on
where the counts came from. Target: the LSTM under 3 minutes end to end.

Writes ``bench/results/forecast_speed.md``. Usage::

    .venv/bin/python bench/forecast_speed.py
    .venv/bin/python bench/forecast_speed.py --series 200 --models lstm
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench._common import met, write_atomic  # noqa: E402
from models.forecast.synthetic import make_panel, split_last  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "forecast_speed.md"
LSTM_TARGET_S = 180.0
H = 30
EXOG = ["is_holiday", "promotion_intensity", "temperature_c"]


def run_prophet(train: pd.DataFrame, test: pd.DataFrame, jobs: int) -> pd.DataFrame:
    from models.forecast import ProphetForecaster

    m = ProphetForecaster(regressors=EXOG, transform="log1p", n_jobs=jobs).fit(train)
    return m.predict(H, X_future=test)


def run_lstm(train: pd.DataFrame, test: pd.DataFrame, threads: int) -> pd.DataFrame:
    from pipelines.train_forecast import make_model

    m = make_model("lstm", "sku", H, EXOG, num_threads=threads).fit(train)
    return m.predict(H, X_future=test)


def run_autoets(train: pd.DataFrame, test: pd.DataFrame, jobs: int) -> pd.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    sf = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=jobs)
    return sf.forecast(df=train[["unique_id", "ds", "y"]], h=H, level=[80, 95])


def wape(fc: pd.DataFrame, test: pd.DataFrame, col: str) -> float:
    m = test.merge(fc, on=["unique_id", "ds"])
    return float((m["y"] - m[col].clip(lower=0)).abs().sum() / m["y"].abs().sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=1000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--models", default="lstm,prophet,autoets")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    load_start, started = os.getloadavg(), dt.datetime.now(dt.UTC)
    df = make_panel(n_series=a.series, n_days=a.days + H, level=(0.5, 50.0), random_state=7)
    train, test = split_last(df, H)
    rows = []
    runners = {"lstm": (lambda: run_lstm(train, test, a.threads), "yhat"),
               "prophet": (lambda: run_prophet(train, test, a.jobs), "yhat"),
               "autoets": (lambda: run_autoets(train, test, a.jobs), "AutoETS")}
    for name in [m.strip() for m in a.models.split(",")]:
        fn, col = runners[name]
        la = os.getloadavg()[0]
        t0 = time.perf_counter()
        fc = fn()
        secs = time.perf_counter() - t0
        rows.append((name, secs, len(fc), wape(fc, test, col), la))
        print(f"{name}: {secs:.1f} s, {len(fc)} rows", flush=True)
    write_report(a, rows, load_start, started)


def write_report(a, rows, load_start, started) -> None:
    cmd = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    la = os.getloadavg()
    labels = {"lstm": f"global LSTM (1 network, torch threads {a.threads})",
              "prophet": f"Prophet per series ({a.jobs} worker processes)",
              "autoets": f"statsforecast AutoETS (reference, n_jobs {a.jobs})"}
    lines = [
        "# Forecast speed", "",
        f"Command: `{cmd}`  ",
        f"Machine: {os.cpu_count()} cores, shared with five other engineers' jobs; load "
        f"average at start {load_start[0]:.1f}, at end {la[0]:.1f} (1-min).  ",
        f"Date: {started:%Y-%m-%d %H:%M} UTC.", "",
        f"{a.series:,} synthetic daily series × {a.days} days (2 years), fit + forecast "
        f"{H} days with 80/95 % intervals, end to end in one process run. WAPE on the held-out "
        f"{H} days is shown only as a sanity check.", "",
        "| method | wall (s) | series/s | forecast rows | WAPE (30 d) | load at start | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, secs, n, w, l1 in rows:
        target = f"< {LSTM_TARGET_S:.0f} s: {met(secs < LSTM_TARGET_S)}" if name == "lstm" else "—"
        lines.append(f"| {labels[name]} | {secs:.1f} | {a.series / secs:.1f} | {n:,} | "
                     f"{w:.3f} | {l1:.1f} | {target} |")
    write_atomic(a.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
