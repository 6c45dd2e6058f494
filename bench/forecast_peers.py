"""Benchmark: the package's SKU forecasters against statsforecast and mlforecast-LightGBM.

All methods run on exactly the same rolling windows (``pipelines.backtest.cutoffs``: the last
window ends on the last date, ``--windows`` origins ``--step`` days apart, horizon 30 days,
scored at 7 and 30 days) and are scored by the same code (``pipelines.backtest.evaluate``:
WAPE, MASE, pinball, 80/95 % coverage) plus the scaled pinball loss below.

Panels:

* ``generated``: the SKU × day panel of generated ``medium`` data (top ``--top-n`` SKUs),
  with its known-future context (holidays, promotions, weather) for the models that use it;
* ``retail``: the real Online Retail export (``../shared/data/online_retail.parquet``; the
  bench may read it, the package never does), SKU × day of units sold on product invoices
  (no cancellations, positive quantity and price, stock codes starting with 5 digits), the
  top ``--retail-top`` SKUs by revenue plus (``--retail-min-days``) every SKU with at least
  that many sales days; all series on the shop's full calendar (Saturdays closed: zero).

Methods: seasonal naive, the package's GBM (``models.forecast.GBMForecaster``), optionally
its LSTM, Prophet and the GBM + Prophet combination (``--extra lstm,prophet,combination``;
with ``combination`` the ``gbm`` and ``prophet`` rows are its members' forecasts from the
same fits); statsforecast AutoETS, AutoTheta,
CrostonOptimized, ADIDA, IMAPA, TSB (intervals: native for ETS/Theta, statsforecast's
``ConformalIntervals`` for the intermittent ones) and mlforecast + LightGBM (lags, rolling
means, calendar and the known-future columns, one global model, conformal intervals).

Writes ``bench/results/forecast_peers.md``. Usage (the full panels, one run per panel)::

    python bench/forecast_peers.py --panels retail --out bench/results/forecast_peers_retail.md
    python bench/forecast_peers.py --panels realistic \
        --out bench/results/forecast_peers_realistic.md
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
from models.forecast import SeasonalNaive  # noqa: E402
from models.forecast.base import DS, ID, YHAT, Y, fill_gaps, hi_col, lo_col  # noqa: E402
from pipelines.backtest import cross_validation, cutoffs, evaluate, seasonal_scale  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "forecast_peers.md"
RETAIL = next((d / "shared" / "data" / "online_retail.parquet" for d in ROOT.parents
               if (d / "shared" / "data" / "online_retail.parquet").exists()),
              ROOT.parent / "shared" / "data" / "online_retail.parquet")  # main or a worktree
LEVELS = (80, 95)
H = 30


# ------------------------------------------------------------------ panels
def retail_panel(path: Path, top: int, min_days: int | None) -> pd.DataFrame:
    """Units per SKU and day from the raw Online Retail export (full calendar, zeros filled)."""
    raw = pd.read_parquet(path, columns=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate",
                                         "UnitPrice"])
    ok = (~raw["InvoiceNo"].astype(str).str.startswith("C") & (raw["Quantity"] > 0)
          & (raw["UnitPrice"] > 0) & raw["StockCode"].astype(str).str.match(r"^\d{5}"))
    r = raw[ok].assign(sku=lambda d: d["StockCode"].astype(str).str.upper(),
                       day=lambda d: pd.to_datetime(d["InvoiceDate"]).dt.normalize(),
                       revenue=lambda d: d["Quantity"] * d["UnitPrice"])
    revenue = r.groupby("sku")["revenue"].sum()
    if min_days:  # only SKUs sold on at least ``min_days`` days compete for the top
        days = r.groupby("sku")["day"].nunique()
        revenue = revenue[days.reindex(revenue.index) >= min_days]
    keep = set(revenue.nlargest(top).index)
    r = r[r["sku"].isin(keep)]
    daily = r.groupby(["sku", "day"], as_index=False)["Quantity"].sum()
    cal = pd.date_range(r["day"].min(), r["day"].max(), freq="D")
    full = pd.MultiIndex.from_product([sorted(keep), cal], names=[ID, DS]).to_frame(index=False)
    out = full.merge(daily.rename(columns={"sku": ID, "day": DS, "Quantity": Y}),
                     on=[ID, DS], how="left")
    out[Y] = out[Y].fillna(0.0).astype(float)
    return out


def generated_panel(work: Path, seed: int, top: int, scale: str = "medium"
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The SKU panel of a generated scale (``medium``, ``realistic``) with its known future."""
    from bench.forecast_accuracy import generated_lake
    from pipelines.train_forecast import known_exog, load_series, prepare

    series, _ = load_series(generated_lake(work, seed, scale), "sku", top_n=top)
    exog = known_exog(series)
    return fill_gaps(prepare(series, exog)), exog


# ------------------------------------------------------------------ peers
def _rename(fc: pd.DataFrame, name: str) -> pd.DataFrame:
    cols = {name: YHAT} | {f"{name}-{s}-{lv}": f"yhat-{s}-{lv}" for lv in LEVELS
                           for s in ("lo", "hi")}
    out = fc.rename(columns=cols)[[ID, DS, YHAT, *[c for lv in LEVELS
                                                   for c in (lo_col(lv), hi_col(lv))]]]
    num = [c for c in out.columns if c.startswith("yhat")]
    out[num] = out[num].clip(lower=0)
    return out


def stats_models(h: int) -> list:
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        AutoTheta,
        CrostonOptimized,
    )
    from statsforecast.utils import ConformalIntervals

    ci = ConformalIntervals(h=h, n_windows=2)
    return [AutoETS(season_length=7), AutoTheta(season_length=7),
            CrostonOptimized(prediction_intervals=ci), ADIDA(prediction_intervals=ci),
            IMAPA(prediction_intervals=ci), TSB(alpha_d=0.2, alpha_p=0.2, prediction_intervals=ci)]


def run_stats(df: pd.DataFrame, cuts: list, model) -> tuple[pd.DataFrame, float]:
    """One statsforecast model on the given cutoffs, timed."""
    from statsforecast import StatsForecast

    name, parts, t0 = model.alias, [], time.perf_counter()
    for cut in cuts:
        sf = StatsForecast(models=[model], freq="D", n_jobs=1)
        fc = sf.forecast(df=df[df[DS] <= cut][[ID, DS, Y]], h=H, level=list(LEVELS))
        parts.append(_rename(fc.reset_index() if ID not in fc else fc, name)
                     .assign(cutoff=cut))
    return pd.concat(parts, ignore_index=True), time.perf_counter() - t0


def run_mlforecast(df: pd.DataFrame, cuts: list, h: int, exog: list[str]
                   ) -> tuple[pd.DataFrame, float]:
    """mlforecast + LightGBM: one global model, recursive, conformal intervals."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import LocalStandardScaler
    from mlforecast.utils import PredictionIntervals

    parts, t0 = [], time.perf_counter()
    for cut in cuts:
        mlf = MLForecast(
            models={"lgbm": lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05,
                                              n_jobs=1, random_state=0, verbose=-1)},
            freq="D", lags=[1, 2, 3, 7, 14, 21, 28],
            lag_transforms={1: [RollingMean(7), RollingMean(28)], 7: [RollingMean(4)]},
            date_features=["dayofweek", "day", "month", "dayofyear"],
            target_transforms=[LocalStandardScaler()])
        train = df[df[DS] <= cut]
        mlf.fit(train[[ID, DS, Y, *exog]], static_features=[],
                prediction_intervals=PredictionIntervals(n_windows=2, h=h))
        fut = df[(df[DS] > cut) & (df[DS] <= cut + pd.Timedelta(days=h))][[ID, DS, *exog]]
        fc = mlf.predict(h, level=list(LEVELS), X_df=fut if exog else None)
        parts.append(_rename(fc, "lgbm").assign(cutoff=cut))
    return pd.concat(parts, ignore_index=True), time.perf_counter() - t0


def package_models(h: int, exog: list[str], extra: list[str], a) -> dict:
    """The package's forecasters with their shipped SKU settings (``make_model``)."""
    from pipelines.train_forecast import make_model

    models = {"seasonal_naive": SeasonalNaive(),
              "gbm": make_model("gbm", "sku", h, exog,
                                calibration_windows=a.gbm_calibration_windows)}
    if "prophet" in extra:
        models["prophet"] = make_model("prophet", "sku", h, exog)
    if "lstm" in extra:  # torch threads: 1 on a shared 2-core machine (no oversubscription)
        models["lstm"] = make_model("lstm", "sku", h, exog, num_threads=a.lstm_threads)
    return models


def run_package(df: pd.DataFrame, model, a, exog: list[str]) -> tuple[pd.DataFrame, float]:
    """One of the package's forecasters through ``pipelines.backtest.cross_validation``."""
    t0 = time.perf_counter()
    cv = cross_validation(model, df, H, a.windows, a.step, LEVELS, exog, progress=False)
    return cv.drop(columns=[Y]), time.perf_counter() - t0


def run_gbm_points(df: pd.DataFrame, a, exog: list[str], strategy: str
                   ) -> dict[str, tuple[pd.DataFrame, float]]:
    """The GBM with one ``strategy``: both point forecasts (``mean``, ``median``) per fit.

    The point is chosen at predict time, so one fit per window gives both (same bands);
    windows and slicing as in ``pipelines.backtest.cross_validation``.
    """
    from pipelines.train_forecast import make_model

    parts: dict[str, list] = {"mean": [], "median": []}
    t0 = time.perf_counter()
    for cut in cutoffs(df, H, a.windows, a.step):
        train = df[df[DS] <= cut]
        test = df[(df[DS] > cut) & (df[DS] <= cut + pd.Timedelta(days=H))]
        ids = sorted(set(train[ID]) & set(test[ID]))
        m = make_model("gbm", "sku", H, exog, strategy=strategy,
                       calibration_windows=a.gbm_calibration_windows)
        m.fit(train[train[ID].isin(ids)])
        for point in parts:
            fc = m.set_params(point=point).predict(
                H, X_future=test[[ID, DS, *exog]] if exog else None, level=LEVELS, ids=ids)
            parts[point].append(fc.assign(cutoff=cut))
    secs = time.perf_counter() - t0
    return {p: (pd.concat(f, ignore_index=True), secs) for p, f in parts.items()}


def run_combination(df: pd.DataFrame, a, exog: list[str]) -> dict[str, tuple[pd.DataFrame, float]]:
    """The GBM + Prophet combination and, from the same fits, its members' own forecasts.

    The members are ``make_model``'s SKU ``gbm`` and ``prophet`` (one worker each), so their
    forecasts are those of the standalone candidates; one fit per window gives ``gbm``,
    ``prophet`` and ``combination`` (seconds: each member's fit + forecast, the sum for the
    combination). Windows and slicing as in ``pipelines.backtest.cross_validation``.
    """
    from pipelines.train_forecast import make_model

    parts: dict[str, list] = {"gbm": [], "prophet": [], "combination": []}
    secs = dict.fromkeys(parts, 0.0)
    for cut in cutoffs(df, H, a.windows, a.step):
        train = df[df[DS] <= cut]
        test = df[(df[DS] > cut) & (df[DS] <= cut + pd.Timedelta(days=H))]
        ids = sorted(set(train[ID]) & set(test[ID]))
        X = test[[ID, DS, *exog]] if exog else None
        m = make_model("combination", "sku", H, exog, n_jobs=1).fit(train[train[ID].isin(ids)])
        fcs = {}
        for n, member in m.members_.items():
            t0 = time.perf_counter()
            fcs[n] = member.predict(H, X_future=X, level=LEVELS, ids=ids)
            secs[n] += m.member_seconds_[n] + time.perf_counter() - t0
            parts[n].append(fcs[n].assign(cutoff=cut))
        parts["combination"].append(m.combine(fcs, LEVELS, ids, H).assign(cutoff=cut))
    secs["combination"] = secs["gbm"] + secs["prophet"]
    return {k: (pd.concat(f, ignore_index=True), secs[k]) for k, f in parts.items()}


def gbm_variants(df: pd.DataFrame, a, exog: list[str]) -> list[tuple[str, object]]:
    """``gbm_<strategy>_<point>`` methods; the two points of a strategy share one fit."""
    out, cache = [], {}
    for s in [x for x in a.gbm_variants.split(",") if x]:
        def run(s=s, point="mean"):
            if s not in cache:
                cache[s] = run_gbm_points(df, a, exog, s)
            return cache[s][point]
        out += [(f"gbm_{s}_{p}", lambda run=run, p=p: run(point=p)) for p in ("mean", "median")]
    return out


def methods(df: pd.DataFrame, cuts: list, exog: list[str], a) -> list[tuple[str, object]]:
    """(name, thunk) in running order: the champion and cheap peers first, LSTM last."""
    extra = [x for x in a.extra.split(",") if x]
    pkg = package_models(H, exog, extra, a)
    combo = "combination" in extra  # gbm and prophet come from the combination's fits
    cache: dict = {}

    def from_combination(k: str) -> tuple[pd.DataFrame, float]:
        if not cache:
            cache.update(run_combination(df, a, exog))
        return cache[k]

    first = [(k, lambda m=pkg[k]: run_package(df, m, a, exog)) for k in ("seasonal_naive", "gbm")
             if not (combo and k == "gbm")]
    first += [(k, lambda k=k: from_combination(k)) for k in ("combination", "gbm", "prophet")
              if combo]
    first += gbm_variants(df, a, exog)
    last = [(k, lambda m=pkg[k]: run_package(df, m, a, exog)) for k in ("prophet", "lstm")
            if k in pkg and not (combo and k == "prophet")]
    if a.no_peers:
        return first + last
    stats = {m.alias: m for m in stats_models(H)}
    order = ["CrostonOptimized", "ADIDA", "IMAPA", "TSB", "AutoTheta", "AutoETS"]
    peers = [(k, lambda m=stats[k]: run_stats(df, cuts, m)) for k in order]
    mlf = [("mlforecast_lgbm", lambda: run_mlforecast(df, cuts, H, exog))]
    todo = first + mlf + peers + last
    if a.methods:  # a subset, e.g. the deterministic peers first and the package later
        keep = {x.strip() for x in a.methods.split(",") if x.strip()}
        todo = [(k, f) for k, f in todo if k in keep]
    return todo


# ------------------------------------------------------------------ scoring
def unit_scores(cv: pd.DataFrame, history: pd.DataFrame, h: int) -> pd.DataFrame:
    """Per (series, cutoff) MASE and scaled pinball over steps ``1..h`` (for paired tests)."""
    sub = cv[(cv[DS] - cv["cutoff"]).dt.days <= h]
    y, rows = sub[Y].to_numpy(float), []
    loss = [np.abs(y - sub[YHAT].to_numpy(float)) / 2]  # pinball at the median
    for lv in LEVELS:
        a = (100 - lv) / 200
        for q, tau in ((sub[lo_col(lv)], a), (sub[hi_col(lv)], 1 - a)):
            d = y - q.to_numpy(float)
            loss.append(np.maximum(tau * d, (tau - 1) * d))
    frame = sub[[ID, "cutoff"]].assign(ae=np.abs(y - sub[YHAT].to_numpy(float)),
                                       pin=np.mean(loss, axis=0))
    for cut, g in frame.groupby("cutoff"):
        scale = seasonal_scale(history[history[DS] <= cut])
        m = g.groupby(ID)[["ae", "pin"]].mean()
        s = scale.reindex(m.index)
        rows.append(pd.DataFrame({ID: m.index, "cutoff": cut, "mase": m["ae"] / s,
                                  "spl": m["pin"] / s}))
    out = pd.concat(rows, ignore_index=True)
    return out[np.isfinite(out["mase"]) & np.isfinite(out["spl"])]


def score_panel(res: dict, df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Metrics table (one row per method and horizon) and per-unit scores for paired tests."""
    actual = df[[ID, DS, Y]]
    cv = pd.concat([f.merge(actual, on=[ID, DS], how="inner").assign(model=k)
                    for k, (f, _) in res.items()], ignore_index=True)
    table = evaluate(cv, df, (3, 7, H), LEVELS)
    units = {(k, h): unit_scores(cv[cv["model"] == k], df, h) for k in res for h in (7, H)}
    table["spl"] = [units[(m, h)]["spl"].mean() if (m, h) in units else np.nan
                     for m, h in zip(table["model"], table["horizon"], strict=True)]
    table["seconds"] = [res[m][1] for m in table["model"]]
    return table, units


def paired_lines(units: dict, champ: str, names: list[str]) -> list[str]:
    lines = ["| metric | horizon | vs | mean diff (peer − " + champ + ") | se | verdict |",
             "|---|---|---|---|---|---|"]
    for h in (7, H):
        for metric in ("mase", "spl"):
            a = units[(champ, h)].set_index([ID, "cutoff"])[metric]
            for n in names:
                if n == champ:
                    continue
                b = units[(n, h)].set_index([ID, "cutoff"])[metric]
                j = a.to_frame("a").join(b.to_frame("b"), how="inner")
                d, se = paired_diff(j["b"], j["a"])
                lines.append(f"| {metric} | {h} | {n} | {d:+.4f} | {se:.4f} | "
                             f"{champ} {compare(d, se)} |")
    return lines


def run_panel(df: pd.DataFrame, exog: list[str], a, panel: str, report) -> None:
    """Every method on the same cutoffs; the report is rewritten after each method."""
    cuts = cutoffs(df, H, a.windows, a.step)
    info = {"zero_share": float((df[Y] == 0).mean()), "n_series": df[ID].nunique(),
            "days": df[DS].nunique(), "cutoffs": [str(c.date()) for c in cuts]}
    todo, res = methods(df, cuts, exog, a), {}
    for i, (name, run) in enumerate(todo):
        res[name] = run()
        print(f"{panel} {name}: {res[name][1]:.0f} s (load {load_average()})", flush=True)
        if a.save_cv:  # the backtests, for reading the results afterwards
            a.save_cv.mkdir(parents=True, exist_ok=True)
            pd.concat([f.assign(model=k) for k, (f, _) in res.items()]).to_parquet(
                a.save_cv / f"{panel}_cv.parquet")
            pd.DataFrame({"seconds": {k: t for k, (_, t) in res.items()}}).to_parquet(
                a.save_cv / f"{panel}_seconds.parquet")
        table, units = score_panel(res, df)
        report(panel, (table, units, info | {"pending": [k for k, _ in todo[i + 1:]]}))


def load_panel(panel: str, a) -> tuple[pd.DataFrame, list[str]]:
    """``retail`` (the Online Retail file) or a generated scale's SKU panel."""
    if panel == "retail":
        return retail_panel(a.retail, a.retail_top, a.retail_min_days), []
    return generated_panel(a.work, a.seed, a.top_n, "medium" if panel == "generated" else panel)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panels", default="retail,realistic",
                   help="retail, realistic, medium (generated = medium)")
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-forecast"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--top-n", type=int, default=500, help="generated panels: top-N SKUs")
    p.add_argument("--retail", type=Path, default=RETAIL)
    p.add_argument("--retail-top", type=int, default=500)
    p.add_argument("--retail-min-days", type=int, default=30,
                   help="only SKUs with at least this many sales days compete for the top")
    p.add_argument("--windows", type=int, default=8)
    p.add_argument("--step", type=int, default=7)
    p.add_argument("--extra", default="lstm,prophet",
                   help="the package's other models in the same run ('' for none): lstm, "
                        "prophet, combination (GBM + Prophet; gbm and prophet then come "
                        "from its fits)")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--methods", default="",
                   help="run only these methods (comma list of the table's names; '' = all)")
    p.add_argument("--champion", default="gbm", help="the method the paired tests are against")
    p.add_argument("--gbm-calibration-windows", type=int, default=3,
                   help="holdout windows of 30 days for the GBM's conformal intervals")
    p.add_argument("--gbm-variants", default="",
                   help="also the GBM per strategy (recursive,direct) with both point "
                        "forecasts, as gbm_<strategy>_<mean|median>")
    p.add_argument("--lstm-threads", type=int, default=1, help="torch threads of the LSTM")
    p.add_argument("--save-cv", type=Path, default=None, help="folder for the backtest frames")
    p.add_argument("--from-cv", default="",
                   help="re-score the backtests saved by --save-cv (no refit), e.g. with "
                        "another --champion; a comma list of folders scores the methods of "
                        "several runs on the same cutoffs in one table")
    p.add_argument("--recombine", action="store_true",
                   help="with --from-cv: rebuild the combination's rows from the saved gbm and "
                        "prophet rows with the shipped combination settings")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    started, load0 = dt.datetime.now(dt.UTC), load_average()
    results: dict = {}

    def report(panel: str, result: tuple) -> None:
        results[panel] = result
        write_report(a, results, started, load0)

    for panel in [x.strip() for x in a.panels.split(",") if x.strip()]:
        df, exog = load_panel(panel, a)
        if a.from_cv:
            rescore(df, a, panel, report, exog)
        else:
            run_panel(df, exog, a, panel, report)


def recombine(cv: pd.DataFrame, exog: list[str]) -> pd.DataFrame:
    """``combination`` rows rebuilt from the saved ``gbm`` and ``prophet`` rows.

    With the shipped settings of ``make_model('combination', 'sku', …)`` and its own
    ``combine`` (what its ``predict`` runs on the same member forecasts), window by window.
    """
    from pipelines.train_forecast import make_model

    m = make_model("combination", "sku", H, exog)
    parts = []
    for cut, g in cv[cv["model"] == "gbm"].groupby("cutoff"):
        p = cv[(cv["model"] == "prophet") & (cv["cutoff"] == cut)]
        fcs = {"gbm": g.drop(columns=["model", "cutoff"]),
               "prophet": p.drop(columns=["model", "cutoff"])}
        fc = m.combine(fcs, LEVELS, list(dict.fromkeys(g[ID])), H)
        parts.append(fc.assign(cutoff=cut, model="combination"))
    return pd.concat([cv[cv["model"] != "combination"], *parts], ignore_index=True)


def rescore(df: pd.DataFrame, a, panel: str, report, exog: list[str]) -> None:
    """Score saved backtests again (same forecasts; ``seconds`` are those of the saved run)."""
    folders = [Path(x) for x in a.from_cv.split(",") if x.strip()]
    parts, seen = [], set()
    for f in folders:  # a method saved by several runs: the first folder's backtests
        part = pd.read_parquet(f / f"{panel}_cv.parquet")
        parts.append(part[~part["model"].isin(seen)])
        seen |= set(part["model"])
    cv = pd.concat(parts, ignore_index=True)
    if a.recombine:
        cv = recombine(cv, exog)
    if cv.groupby("model")["cutoff"].unique().map(lambda c: tuple(sorted(c))).nunique() > 1:
        raise SystemExit("the saved runs do not share the same cutoffs")
    times = [pd.read_parquet(t)["seconds"] for f in folders  # absent: see the run's report
             if (t := f / f"{panel}_seconds.parquet").exists()]
    secs = pd.concat(times) if times else pd.Series(dtype=float)
    secs = secs[~secs.index.duplicated()]
    res = {k: (g.drop(columns="model"), float(secs.get(k, np.nan)))
           for k, g in cv.groupby("model", sort=False)}
    cuts = sorted(cv["cutoff"].unique())
    table, units = score_panel(res, df)
    report(panel, (table, units, {"zero_share": float((df[Y] == 0).mean()),
                                  "n_series": df[ID].nunique(), "days": df[DS].nunique(),
                                  "cutoffs": [str(pd.Timestamp(c).date()) for c in cuts],
                                  "pending": []}))


def _coverage_table(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage at 3, 7 and 30 days, one row per method."""
    wide = table.pivot(index="model", columns="horizon", values=["coverage_80", "coverage_95"])
    wide.columns = [f"cov{lv.split('_')[1]}_{h}d" for lv, h in wide.columns]
    order = list(dict.fromkeys(table["model"]))
    return wide.reindex(order).reset_index()


def write_report(a, results: dict, started, load0: str) -> None:
    cmd = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    lines = ["# SKU forecasts against open-source peers", "",
             f"Command: `{cmd}`  ",
             f"Machine: {os.cpu_count()} cores shared with other engineers' jobs; load average "
             f"at start {load0}, now {load_average()}; times are wall-clock seconds over all "
             "windows under that load (accuracy does not depend on it).  ",
             f"Date: {started:%Y-%m-%d %H:%M} UTC.", "",
             "`spl` = scaled pinball loss: mean quantile loss over the median and the 80/95 % "
             "bounds, per series and window divided by the series' in-sample weekly "
             "seasonal-naive MAE, averaged (the MASE scaling). `pinball` is unscaled. "
             "Coverage is pooled over every series, window and day up to the horizon.", ""]
    for panel, (table, units, info) in results.items():
        acc = table[table["horizon"].isin([7, H])]
        lines += [f"## {panel}: {info['n_series']} SKUs × {info['days']} days, share of zero "
                  f"days {info['zero_share']:.3f}", "",
                  f"Cutoffs ({len(info['cutoffs'])} windows, horizon {H}): "
                  f"{', '.join(info['cutoffs'])}.", "",
                  *([f"**Still running when this was written:** {', '.join(info['pending'])}"
                     " (not in the tables).", ""] if info["pending"] else []),
                  md_table(acc[["model", "horizon", "n_series", "wape", "mase", "spl",
                                "pinball", "seconds"]], 3), "",
                  "Interval coverage (nominal 0.80 and 0.95; band ±0.03):", "",
                  md_table(_coverage_table(table), 3), ""]
        best = {h: {m: acc[acc["horizon"] == h].sort_values(m)["model"].iloc[0]
                    for m in ("mase", "spl")} for h in (7, H)}
        lines += [f"Lowest MASE: {best[7]['mase']} at 7 d, {best[H]['mase']} at {H} d; lowest "
                  f"spl: {best[7]['spl']} at 7 d, {best[H]['spl']} at {H} d. Paired differences "
                  f"per (series, window) of {a.champion} against every other method "
                  f"(positive = {a.champion} better):", "",
                  *(paired_lines(units, a.champion, list(table["model"].unique()))
                    if (a.champion, 7) in units else []), ""]
    write_atomic(a.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
