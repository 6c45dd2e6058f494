"""Benchmark: daily order volume, the package's forecasters against statsforecast, per panel.

Panels (through the project's pipeline: import/generate → ingest → ``load_series('volume')``):

* ``retail``: daily invoice count of the real Online Retail export (path ``--retail``; the
  bench reads it, the package never does);
* ``realistic``: daily order count of the generated ``realistic`` scale (unobserved shocks,
  level shifts, competitors' promotions; see ``pipelines.generator.realism``).

Methods, all on the same forecast origins (horizon 7, scored at 3 and 7 days): the package's
seasonal naive, the ensemble (naive + Theta + multiplicative Prophet weighted by inner
backtests), Prophet, LSTM and GBM (``make_model(kind, 'volume', …)``, the gate's
candidates) and statsforecast AutoETS and AutoTheta (weekly season, native intervals). Every
method gets the same closed-day rule (0 on weekdays with no orders in each of the last 8
weeks: Online Retail does not trade on Saturdays).

Origins: by default one every day over the last 8 weeks (``--windows 56 --stride 1``: 168
forecast days at 3 d and 392 at 7 d, every weekday in every step); the earlier setting, 8
weekly windows, is ``--windows 8 --stride 7``. Coverage is reported on all forecast days and
on the days each method forecast as open (a known closed day has the interval [0, 0]).

Paired differences: per forecast day, absolute error of the method minus that of the best
package model, averaged per origin; the standard error of the mean is a circular
moving-block bootstrap over the origins in time order (blocks of ``ceil(7 / stride)``
origins, 2,000 resamples), so the overlap of neighbouring origins' windows (they share
6 of 7 actual days at a daily stride) and the weekday pattern stay inside a block. With
weekly origins the windows do not overlap and a block is one origin (a bootstrap clustered
by origin). The naive se that treats every forecast day as independent is shown beside it.

Writes ``bench/results/forecast_volume.md``. Usage::

    python bench/forecast_volume.py --retail /path/to/online_retail.parquet
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench._common import compare, load_average, md_table, paired_diff, write_atomic  # noqa: E402
from bench.forecast_accuracy import RETAIL, generated_lake, lake_tenant, retail_lake  # noqa: E402
from models.forecast.base import DS, ID, YHAT, Y, closed_weekdays, zero_closed_days  # noqa: E402
from pipelines.backtest import cross_validation, cutoffs, evaluate  # noqa: E402
from pipelines.train_forecast import (  # noqa: E402
    holiday_frame,
    known_exog,
    load_series,
    make_model,
    prepare,  # noqa: E402
)

RESULTS = ROOT / "bench" / "results" / "forecast_volume.md"
PACKAGE = ("seasonal_naive", "ensemble", "prophet", "lstm", "gbm")
#: Where the ensemble's settings were chosen: weekly windows strictly before each panel's
#: first evaluation cutoff (see ``TUNING`` in the report; never the evaluation windows).
TUNING = ("Tuning protocol. Point forecast (members, the Prophet member's multiplicative "
          "seasonality on raw counts, 6 inner windows, WAPE^-8 weights): chosen in an "
          "earlier round on 12 weekly windows before each panel's first weekly evaluation "
          "cutoff (retail 2011-07-22 … 2011-10-07, realistic 2024-08-12 … 2024-10-28), "
          "unchanged here. Intervals: split-conformal per step from daily inner origins "
          "(8 weekly refits, 50 origins), residual / sqrt(forecast × level), closed days "
          "without residual, and (this round) adaptive conformal inference over the inner "
          "origins in time order with step aci_gamma = 0.2 — chosen among normalisers "
          "(sqrt(forecast × level), forecast, level), recency half-lives (none, 28 d), ACI "
          "steps (0 … 0.2) and year-earlier origins by the smallest worst coverage miss over "
          "both panels on the tuning origins before each panel's first daily evaluation "
          "origin (bench/forecast_volume_tune.py, forecast_volume_tuning_intervals_*_daily.md); "
          "the evaluation origins were not used to choose.")
LEVELS = (80, 95)
H = 7


def run_stats(df: pd.DataFrame, cuts: list, name: str) -> tuple[pd.DataFrame, float]:
    """statsforecast AutoETS or AutoTheta on each cutoff, with the closed-day rule."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    model = {"AutoETS": AutoETS, "AutoTheta": AutoTheta}[name](season_length=7)
    parts, t0 = [], time.perf_counter()
    for cut in cuts:
        train = df[df[DS] <= cut][[ID, DS, Y]]
        fc = StatsForecast(models=[model], freq="D").forecast(df=train, h=H, level=list(LEVELS))
        fc = fc.reset_index() if ID not in fc else fc
        fc = fc.rename(columns={name: YHAT} | {f"{name}-{s}-{lv}": f"yhat-{s}-{lv}"
                                               for lv in LEVELS for s in ("lo", "hi")})
        num = [c for c in fc.columns if c.startswith("yhat")]
        fc[num] = fc[num].clip(lower=0)
        fc = zero_closed_days(fc[[ID, DS, *num]], closed_weekdays(train))
        parts.append(fc.assign(cutoff=cut))
    return pd.concat(parts, ignore_index=True), time.perf_counter() - t0


def open_day_coverage(table: pd.DataFrame, cv: pd.DataFrame) -> pd.DataFrame:
    """Coverage over the days each method forecast as open (95 % upper bound > 0).

    A closed Saturday has interval [0, 0] and actual 0: always covered, so coverage on all
    days counts it as a hit; ``open_cov_*`` leaves those days out. Also adds ``days`` (forecast
    days scored) and ``closed`` (days forecast as closed, [0, 0]).
    """
    step = (cv[DS] - cv["cutoff"]).dt.days
    vals: dict[str, list] = {f"open_cov_{lv}": [] for lv in LEVELS} | {"days": [], "closed": []}
    for _, r in table.iterrows():
        every = cv[(cv["model"] == r["model"]) & (step <= r["horizon"])]
        g = every[every["yhat-hi-95"] > 0]
        vals["days"].append(len(every))
        vals["closed"].append(len(every) - len(g))
        for lv in LEVELS:
            inside = (g[Y] >= g[f"yhat-lo-{lv}"]) & (g[Y] <= g[f"yhat-hi-{lv}"])
            vals[f"open_cov_{lv}"].append(float(inside.mean()) if len(g) else float("nan"))
    return table.assign(**vals)


def block_bootstrap_se(x: np.ndarray, block: int, n_boot: int = 2000, seed: int = 0) -> float:
    """Standard error of the mean of ``x`` (in time order) by a circular moving-block bootstrap.

    Each resample glues ``ceil(n / block)`` blocks of ``block`` consecutive values starting at
    random positions (wrapping around), cut to ``n`` values.
    """
    x = np.asarray(x, float)
    n = len(x)
    if n < 2:
        return float("nan")
    b = min(max(1, int(block)), n)
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, -(-n // b)))
    idx = ((starts[:, :, None] + np.arange(b)) % n).reshape(n_boot, -1)[:, :n]
    return float(x[idx].mean(axis=1).std(ddof=1))


ORDER = ("seasonal_naive", "ensemble", "prophet", "AutoETS", "AutoTheta", "gbm", "lstm")


def reused(path: Path | None, cuts: list, order: list[str]) -> dict:
    """Backtests saved by earlier runs of this bench (``--reuse-cv``), on ``cuts`` only.

    Returns ``{method: (frame, seconds)}``; origins of ``cuts`` a saved backtest lacks are
    run by :func:`run_panel` (e.g. a daily run after one with a stride of 2 days).
    """
    if path is None:
        return {}
    old = pd.read_parquet(path)
    old = old[old["cutoff"].isin(cuts)]
    return {str(k): (g.drop(columns=["model", Y, "seconds"]).reset_index(drop=True),
                     float(g["seconds"].iloc[0]))
            for k, g in old.groupby("model") if k in order}


def missing_origins(model, data: pd.DataFrame, cuts: list, have: pd.DataFrame | None,
                    exog: list[str]) -> pd.DataFrame:
    """Backtest of ``model`` on the origins of ``cuts`` not in ``have`` (one window each)."""
    done = set() if have is None else set(have["cutoff"])
    parts = [] if have is None else [have]
    for cut in [c for c in cuts if c not in done]:
        sub = data[data[DS] <= cut + pd.Timedelta(days=H)]
        cv = cross_validation(model, sub, H, 1, 1, LEVELS, exog, progress=False)
        parts.append(cv.drop(columns=[Y]))
    return pd.concat(parts, ignore_index=True)


def run_panel(lake: str, report, cv_path: Path | None = None, windows: int = 56,
              end: str | None = None, methods: tuple[str, ...] = ORDER, stride: int = 1,
              reuse: Path | None = None) -> None:
    """Every method on the same cutoffs, LSTM last; the report is rewritten after each.

    ``end`` cuts the series at that day first (a run on the tuning windows before the
    evaluation cutoffs: nothing after ``end`` is read). ``reuse``: a backtest parquet this
    bench saved earlier on the same origins; its methods are read instead of re-run.
    """
    series, ctx = load_series(lake, "volume", lake_tenant(lake))
    exog = known_exog(series)
    data = prepare(series, exog)
    if end is not None:
        data = data[data[DS] <= pd.Timestamp(end)].reset_index(drop=True)
    cuts = cutoffs(data, H, windows, stride)
    hol = holiday_frame(ctx)
    info = {"days": len(data), "exog": exog, "mean": float(data[Y].mean()),
            "cutoffs": [str(c.date()) for c in cuts], "windows": windows, "stride": stride}
    order = [m for m in ORDER if m in methods]
    res = reused(reuse, cuts, order)
    info["reused"] = sorted(res)
    for i, kind in enumerate(order):
        if kind in res and res[kind][0]["cutoff"].nunique() == len(cuts):
            continue
        t0 = time.perf_counter()
        if kind in PACKAGE:
            m = make_model(kind, "volume", H, exog,
                           holidays=hol if kind in ("prophet", "ensemble") else None)
            have, before = res.get(kind, (None, 0.0))
            cv = missing_origins(m, data, cuts, have, exog)
            res[kind] = (cv, before + time.perf_counter() - t0)
        else:
            res[kind] = run_stats(data, cuts, kind)
        print(f"{kind}: {res[kind][1]:.0f} s (load {load_average()})", flush=True)
        pending = [k for k in order[i + 1:] if k not in res]
        _publish(res, data, info | {"pending": pending}, report, cv_path)
    if all(k in res for k in order):  # every method reused: the report alone
        _publish(res, data, info | {"pending": []}, report, cv_path)


def _publish(res: dict, data: pd.DataFrame, info: dict, report, cv_path: Path | None) -> None:
    """Score the backtests so far, save them and rewrite the report."""
    cv = pd.concat([f.merge(data[[ID, DS, Y]], on=[ID, DS]).assign(model=k)
                    for k, (f, _) in res.items()], ignore_index=True)
    table = open_day_coverage(evaluate(cv, data, (3, H), LEVELS), cv)
    table["seconds"] = [res[m][1] for m in table["model"]]
    if cv_path is not None:
        cv.assign(seconds=cv["model"].map({k: v[1] for k, v in res.items()})).to_parquet(cv_path)
    report((table, cv, info))


def paired(cv: pd.DataFrame, champ: str, stride: int = 1) -> list[str]:
    """Per forecast day: |error| of each method minus the champion's, over days 1..h.

    The mean is over all forecast days; its se is the moving-block bootstrap over the
    per-origin means (module docstring), next to the naive se over independent days. The
    points column restates mean and se in points of 1−WAPE (divided by the mean actual).
    """
    block = -(-H // max(1, int(stride)))
    lines = ["| horizon | vs | mean Δ|error| (peer − champion) | se (block bootstrap) "
             "| naive se | Δ(1−WAPE) points ± se | verdict |",
             "|---|---|---|---|---|---|---|"]
    cv = cv.assign(ae=(cv[Y] - cv[YHAT]).abs(), step=(cv[DS] - cv["cutoff"]).dt.days)
    for h in (3, H):
        sub = cv[cv["step"] <= h].set_index(["cutoff", DS])
        a = sub[sub["model"] == champ]["ae"]
        ybar = float(sub[sub["model"] == champ][Y].mean())
        for m in sub["model"].unique():
            if m == champ:
                continue
            peer, mine = sub[sub["model"] == m]["ae"].align(a, join="inner")
            d, naive_se = paired_diff(peer, mine)
            per_origin = (peer - mine).groupby(level="cutoff").mean().sort_index()
            se = block_bootstrap_se(per_origin.to_numpy(), block)
            pts = f"{100 * d / ybar:+.1f} ± {100 * se / ybar:.1f}"
            lines.append(f"| {h} | {m} | {d:+.2f} | {se:.2f} | {naive_se:.2f} | {pts} | "
                         f"{champ} {compare(d, se)} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panels", default="retail,realistic")
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-forecast"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--retail", type=Path, default=RETAIL)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--windows", type=int, default=56, help="forecast origins")
    p.add_argument("--stride", type=int, default=1,
                   help="days between origins (1: daily; 7 with --windows 8: the weekly setting)")
    p.add_argument("--end", default=None, help="cut every panel at this day (tuning runs)")
    p.add_argument("--methods", default=",".join(ORDER), help="methods to run")
    p.add_argument("--reuse-cv", type=Path, default=None,
                   help="backtest parquet of an earlier run on the same origins: its methods "
                   "are read, not re-run (one panel)")
    a = p.parse_args()
    started, load0 = dt.datetime.now(dt.UTC), load_average()
    out: dict = {}
    for panel in [x.strip() for x in a.panels.split(",") if x.strip()]:
        lake = (retail_lake(a.work, a.retail) if panel == "retail"
                else generated_lake(a.work, a.seed, panel))

        def report(result: tuple, panel: str = panel) -> None:
            out[panel] = result
            write_report(a, out, started, load0)

        tag = f"_to{a.end}" if a.end else ""
        tag += f"_w{a.windows}s{a.stride}"
        run_panel(lake, report, a.work / f"volume_cv_{panel}{tag}.parquet", a.windows, a.end,
                  tuple(x.strip() for x in a.methods.split(",")), a.stride, a.reuse_cv)


def write_report(a, out: dict, started, load0: str) -> None:
    cmd = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    lines = ["# Daily order volume against statsforecast", "",
             f"Command: `{cmd}`  ",
             f"Machine: {os.cpu_count()} cores shared with other engineers' jobs; load average "
             f"at start {load0}, now {load_average()} (times are wall-clock under that load; "
             "accuracy does not depend on it).  ",
             f"Date: {started:%Y-%m-%d %H:%M} UTC.", "", TUNING, ""]
    cols = ["model", "horizon", "accuracy", "wape", "mase", "days", "closed", "coverage_80",
            "coverage_95", "open_cov_80", "open_cov_95", "pinball", "seconds"]
    for panel, (table, cv, info) in out.items():
        pkg = table[table["model"].isin(PACKAGE) & (table["horizon"] == H)]
        champ = str(pkg.sort_values("wape")["model"].iloc[0])
        naive = table[(table["model"] == "seasonal_naive") & (table["horizon"] == H)]
        best = pkg[pkg["model"] == champ]
        if naive.empty:
            naive = best
        gain = float(best["accuracy"].iloc[0] - naive["accuracy"].iloc[0])
        lines += [f"## {panel}: {info['days']} days, mean {info['mean']:.1f} a day, "
                  f"known-future columns {info['exog'] or 'none'}", "",
                  f"Cutoffs ({info['windows']} origins {info['stride']} day(s) apart, horizon "
                  f"{H}): {info['cutoffs'][0]} … {info['cutoffs'][-1]}.", "",
                  *([f"Backtests of {', '.join(info['reused'])} were read, for the origins "
                     "they had, from earlier runs of this bench (`--reuse-cv`; the same "
                     "deterministic fits; seconds are summed over the runs), the other "
                     "origins run here.", ""] if info.get("reused") else []),
                  *([f"**Still running when this was written:** {', '.join(info['pending'])}"
                     " (not in the table).", ""] if info["pending"] else []),
                  md_table(table[cols], 3), "",
                  f"Best package model at {H} d (the gate's choice by WAPE): **{champ}**, "
                  f"1−WAPE {best['accuracy'].iloc[0]:.3f} vs seasonal naive "
                  f"{naive['accuracy'].iloc[0]:.3f} ({100 * gain:+.1f} points). Paired "
                  f"differences per forecast day (positive = {champ} better):", "",
                  *paired(cv, champ, info["stride"]), "",
                  *(["The ensemble (not the champion here) against every method:", "",
                     *paired(cv, "ensemble", info["stride"]), ""]
                    if champ != "ensemble" and "ensemble" in set(cv["model"]) else [])]
    write_atomic(a.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
