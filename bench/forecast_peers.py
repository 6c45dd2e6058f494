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
its LSTM and Prophet (``--extra lstm,prophet``); statsforecast AutoETS, AutoTheta,
CrostonOptimized, ADIDA, IMAPA, TSB (intervals: native for ETS/Theta, statsforecast's
``ConformalIntervals`` for the intermittent ones) and mlforecast + LightGBM (lags, rolling
means, calendar and the known-future columns, one global model, conformal intervals).

Writes ``bench/results/forecast_peers.md``. Usage::

    python bench/forecast_peers.py --top-n 200 --retail-top 200 --windows 4
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
from models.forecast import GBMForecaster, SeasonalNaive  # noqa: E402
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
    keep = set(r.groupby("sku")["revenue"].sum().nlargest(top).index)
    if min_days:
        days = r.groupby("sku")["day"].nunique()
        keep |= set(days.index[days >= min_days])
    r = r[r["sku"].isin(keep)]
    daily = r.groupby(["sku", "day"], as_index=False)["Quantity"].sum()
    cal = pd.date_range(r["day"].min(), r["day"].max(), freq="D")
    full = pd.MultiIndex.from_product([sorted(keep), cal], names=[ID, DS]).to_frame(index=False)
    out = full.merge(daily.rename(columns={"sku": ID, "day": DS, "Quantity": Y}),
                     on=[ID, DS], how="left")
    out[Y] = out[Y].fillna(0.0).astype(float)
    return out


def generated_panel(work: Path, seed: int, top: int) -> tuple[pd.DataFrame, list[str]]:
    """The generated ``medium`` SKU panel with its known-future columns."""
    from bench.forecast_accuracy import generated_lake
    from pipelines.train_forecast import known_exog, load_series, prepare

    series, _ = load_series(generated_lake(work, seed), "sku", top_n=top)
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


def run_stats(df: pd.DataFrame, cuts: list, h: int) -> dict[str, tuple[pd.DataFrame, float]]:
    """statsforecast, each model timed separately, on the given cutoffs."""
    from statsforecast import StatsForecast

    out = {}
    for model in stats_models(h):
        name, parts, t0 = model.alias, [], time.perf_counter()
        for cut in cuts:
            sf = StatsForecast(models=[model], freq="D", n_jobs=1)
            fc = sf.forecast(df=df[df[DS] <= cut][[ID, DS, Y]], h=h, level=list(LEVELS))
            parts.append(_rename(fc.reset_index() if ID not in fc else fc, name)
                         .assign(cutoff=cut))
        out[name] = (pd.concat(parts, ignore_index=True), time.perf_counter() - t0)
    return out


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


def run_package(df: pd.DataFrame, n_windows: int, step: int, h: int, exog: list[str],
                extra: list[str], cal_windows: int = 3) -> dict[str, tuple[pd.DataFrame, float]]:
    """The package's own forecasters through ``pipelines.backtest.cross_validation``."""
    models = {"seasonal_naive": SeasonalNaive(),
              "gbm": GBMForecaster(exog=exog, calibration_days=h,
                                   calibration_windows=cal_windows)}
    if "lstm" in extra:
        from models.forecast import LSTMForecaster

        models["lstm"] = LSTMForecaster(horizon=h, exog=exog, input_size=28, max_steps=1500,
                                        batch_size=512, hidden_size=32, calibration_days=28)
    if "prophet" in extra:
        from models.forecast import ProphetForecaster

        models["prophet"] = ProphetForecaster(regressors=exog, transform="log1p",
                                              interval_method="residuals")
    out = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        cv = cross_validation(m, df, h, n_windows, step, LEVELS, exog, name=name)
        out[name] = (cv.drop(columns=[Y]), time.perf_counter() - t0)
    return out


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
    table = evaluate(cv, df, (7, H), LEVELS)
    units = {(k, h): unit_scores(cv[cv["model"] == k], df, h) for k in res for h in (7, H)}
    table["spl"] = [units[(m, h)]["spl"].mean() for m, h in zip(table["model"],
                                                                 table["horizon"],
                                                                 strict=True)]
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


def run_panel(df: pd.DataFrame, exog: list[str], a) -> tuple[pd.DataFrame, dict, dict]:
    cuts = cutoffs(df, H, a.windows, a.step)
    extra = [x for x in a.extra.split(",") if x]
    res = run_package(df, a.windows, a.step, H, exog, extra, a.gbm_calibration_windows)
    if not a.no_peers:
        res |= run_stats(df, cuts, H)
        res["mlforecast_lgbm"] = run_mlforecast(df, cuts, H, exog)
    table, units = score_panel(res, df)
    return table, units, {"zero_share": float((df[Y] == 0).mean()),
                          "n_series": df[ID].nunique(), "days": df[DS].nunique(),
                          "cutoffs": [str(c.date()) for c in cuts]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panels", default="retail,generated")
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-forecast"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--top-n", type=int, default=200, help="generated panel: top-N SKUs")
    p.add_argument("--retail", type=Path, default=RETAIL)
    p.add_argument("--retail-top", type=int, default=200)
    p.add_argument("--retail-min-days", type=int, default=0,
                   help="also every SKU with at least this many sales days (0: off)")
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--step", type=int, default=7)
    p.add_argument("--extra", default="", help="lstm,prophet: the package's other models")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--gbm-calibration-windows", type=int, default=3,
                   help="holdout windows of 30 days for the GBM's conformal intervals")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    started, load0 = dt.datetime.now(dt.UTC), load_average()
    results = {}
    for panel in [x.strip() for x in a.panels.split(",") if x.strip()]:
        if panel == "retail":
            df, exog = retail_panel(a.retail, a.retail_top, a.retail_min_days), []
        else:
            df, exog = generated_panel(a.work, a.seed, a.top_n)
        results[panel] = run_panel(df, exog, a)
        write_report(a, results, started, load0)


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
             "seasonal-naive MAE, averaged (the MASE scaling). `pinball` is unscaled.", ""]
    for panel, (table, units, info) in results.items():
        lines += [f"## {panel}: {info['n_series']} SKUs × {info['days']} days, share of zero "
                  f"days {info['zero_share']:.3f}", "",
                  f"Cutoffs ({len(info['cutoffs'])} windows, horizon {H}): "
                  f"{', '.join(info['cutoffs'])}.", "",
                  md_table(table[["model", "horizon", "n_series", "wape", "mase", "spl",
                                  "pinball", "coverage_80", "coverage_95", "seconds"]], 3), ""]
        best = {h: table[table["horizon"] == h].sort_values("mase")["model"].iloc[0]
                for h in (7, H)}
        lines += [f"Lowest MASE: {best[7]} at 7 d, {best[H]} at {H} d. Paired differences "
                  "per (series, window) of the package's GBM against every other method "
                  "(positive = GBM better):", "",
                  *paired_lines(units, "gbm", list(table["model"].unique())), ""]
    write_atomic(a.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
