"""Tuning of the daily-volume ensemble on origins strictly before the evaluation origins.

For each panel the series is cut at the first evaluation origin of
``bench/forecast_volume.py``'s default run (56 daily origins over the last 8 weeks), and the
56 daily origins before that cut are the tuning origins: nothing on or after the first
evaluation origin is read. At each tuning origin one :class:`EnsembleForecaster` is fitted with
the widest settings (members seasonal naive, Theta, Prophet and the GBM;
``calibration_windows=MAX_CAL``); its inner backtest (``backtest_``) and the members' own
forecasts of the next 7 days are kept, and the variants below are scored from them without
refitting (a variant with fewer calibration refits uses the first refits' origins only; its
weights are recomputed from the same inner forecasts):

* point forecast: member set, weights from the first origin of each of the 6 inner refits (as
  shipped before) or from all daily origins of those refits, power of ``WAPE ** -power``,
  and a weekday level member (mean of the same weekday over the last 3 weeks);
* intervals: calibration refits (origins ``1 + 7 (K - 1)``), the normaliser (``forecast`` =
  sqrt(forecast × level), ``proportional`` = the forecast, ``mean`` = the level), recency
  weights (half-life in days), adaptive conformal inference (step ``aci_gamma``) and the
  residuals of the same calendar weeks a year earlier (``--seasonal`` refits in the fits).
  ``worst_miss`` is the largest |coverage − nominal| over 80/95 % at 3 and 7 days.

Writes ``bench/results/forecast_volume_tuning.md``. Usage::

    nice -n 5 python bench/forecast_volume_tune.py --panels retail
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pickle
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench._common import compare, load_average, md_table, write_atomic  # noqa: E402
from bench.forecast_accuracy import RETAIL, generated_lake, lake_tenant, retail_lake  # noqa: E402
from bench.forecast_volume import H, block_bootstrap_se  # noqa: E402
from models.forecast.base import DS, ID, YHAT, Y  # noqa: E402
from models.forecast.conformal import score_scale, step_offsets  # noqa: E402
from models.forecast.ensemble import _calibration, _weights  # noqa: E402
from pipelines.backtest import cutoffs  # noqa: E402
from pipelines.train_forecast import (  # noqa: E402
    holiday_frame,
    known_exog,
    load_series,
    make_model,
    prepare,
)

MAX_CAL = 10
ALL = ("seasonal_naive", "theta", "prophet", "gbm")
SHIPPED = ("seasonal_naive", "theta", "prophet")


def collect(data: pd.DataFrame, exog: list[str], hol: pd.DataFrame, origins: list,
            members: tuple = ALL, max_cal: int = MAX_CAL, seasonal: int = 0) -> list:
    """One widest ensemble per tuning origin: its inner backtest and members' forecasts."""
    out = []
    for i, o in enumerate(origins):
        t0 = time.perf_counter()
        train = data[data[DS] <= o]
        test = data[(data[DS] > o) & (data[DS] <= o + pd.Timedelta(days=H))]
        m = make_model("ensemble", "volume", H, exog, holidays=hol, members=members,
                       calibration_windows=max_cal, seasonal_windows=seasonal).fit(train)
        xf = test[[ID, DS, *exog]] if exog else None
        fc = {n: mm.predict(H, X_future=xf, level=())[[ID, DS, YHAT]]
              for n, mm in m.models_.items()}
        out.append({"origin": o, "inner": m.backtest_, "fc": fc, "test": test[[ID, DS, Y]],
                    "train": train[[ID, DS, Y]]})
        print(f"origin {i + 1}/{len(origins)} {o.date()}: {time.perf_counter() - t0:.1f} s "
              f"(load {load_average()})", flush=True)
    return out


def weekday_level(train: pd.DataFrame, days: pd.Series, weeks: int = 3) -> np.ndarray:
    """Mean of the same weekday over the last ``weeks`` weeks up to the origin."""
    y = train.set_index(DS)[Y]
    return np.array([np.mean([y.get(d - pd.Timedelta(days=7 * k), np.nan)
                              for k in range(1, weeks + 1)]) for d in days])


def with_weekday(inner: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Adds the weekday-level member's forecasts on the inner origins."""
    base = inner[inner["member"] == "seasonal_naive"].copy()
    y = train.set_index(DS)[Y]
    vals = []
    for o, ds in zip(base["cutoff"], base[DS], strict=True):
        lags = [ds - pd.Timedelta(days=7 * k) for k in range(1, 4)]
        vals.append(np.mean([y.get(d, np.nan) if d <= o else np.nan for d in lags]))
    base[YHAT] = np.nan_to_num(vals)
    return pd.concat([inner, base.assign(member="weekday")], ignore_index=True)


_CAL: dict = {}


def variant(rec: dict, members: tuple, daily: bool, power: float, n_cal: int,
            how: str, half_life: float | None = None, gamma: float = 0.0,
            seasonal: bool = False) -> pd.DataFrame:
    """The variant's forecast of the 7 days after one tuning origin, with 80/95 % bands."""
    inner = rec["inner"]
    if "weekday" in members:
        inner = with_weekday(inner, rec["train"])
    keep = (inner["k"] < n_cal) & ((inner["k"] >= 0) | seasonal)  # k < 0: a year earlier
    inner = inner[inner["member"].isin(members) & keep]
    wrows = inner[inner["k"].between(0, 5)]
    if not daily:
        wrows = wrows[wrows["cutoff"] == wrows["refit"]]
    names = list(members)
    w = _weights(wrows, names, power).iloc[0]
    fc = dict(rec["fc"])
    if "weekday" in members:
        fc["weekday"] = fc["seasonal_naive"].assign(
            **{YHAT: weekday_level(rec["train"], fc["seasonal_naive"][DS])})
    out = fc[names[0]][[ID, DS]].copy()
    out[YHAT] = sum(w[n] * fc[n][YHAT].to_numpy() for n in names)
    key = (id(rec), tuple(members), daily, power, n_cal, seasonal)
    if key not in _CAL:  # the band variants share one calibration per point variant
        _CAL[key] = _calibration(inner, _weights(wrows, names, power), rec["train"], H)
    cal = _CAL[key]
    res = cal["resid"] / score_scale(cal["mean"][:, None], np.nan, cal["center"], how)
    train = rec["train"]
    level = float(train[Y].tail(28).mean())
    sc = score_scale(np.full(len(out), level), np.nan, out[YHAT].to_numpy(), how)
    for lv in (80, 95):
        lo, hi = step_offsets(res, H, lv, times=cal["cutoff"], origin=rec["origin"],
                              half_life=half_life, gamma=gamma)
        out[f"lo{lv}"] = np.clip((out[YHAT] / sc + lo) * sc, 0, None)
        out[f"hi{lv}"] = (out[YHAT] / sc + hi) * sc
    closed = out[YHAT] <= 0
    out.loc[closed, ["lo80", "hi80", "lo95", "hi95"]] = 0.0
    return out.merge(rec["test"], on=[ID, DS]).assign(cutoff=rec["origin"])


def naive_frame(rec: dict) -> pd.DataFrame:
    fc = rec["fc"]["seasonal_naive"].merge(rec["test"], on=[ID, DS])
    return fc.assign(cutoff=rec["origin"])


def score(df: pd.DataFrame, ref: pd.DataFrame) -> dict:
    """1−WAPE, Δ vs seasonal naive ± block-bootstrap se, coverage (all/open days) at 3 and 7 d."""
    row = {}
    for h in (3, H):
        step = (df[DS] - df["cutoff"]).dt.days
        d = df[step <= h]
        r = ref[(ref[DS] - ref["cutoff"]).dt.days <= h]
        row[f"acc{h}"] = 1 - (d[Y] - d[YHAT]).abs().sum() / d[Y].sum()
        diff = ((r[Y] - r[YHAT]).abs().to_numpy() - (d[Y] - d[YHAT]).abs().to_numpy())
        per = pd.Series(diff).groupby(d["cutoff"].to_numpy()).mean()
        se = block_bootstrap_se(per.to_numpy(), H)
        ybar = d[Y].mean()
        row[f"vs_naive{h}"] = f"{100 * diff.mean() / ybar:+.1f} ± {100 * se / ybar:.1f}"
        row[f"verdict{h}"] = compare(diff.mean(), se)
        op = d[d["hi95"] > 0]
        for lv in (80, 95):
            row[f"cov{lv}_{h}"] = ((d[Y] >= d[f"lo{lv}"]) & (d[Y] <= d[f"hi{lv}"])).mean()
            row[f"open{lv}_{h}"] = ((op[Y] >= op[f"lo{lv}"]) & (op[Y] <= op[f"hi{lv}"])).mean()
    return row


POINT = [  # (label, members, daily weights, power)
    ("shipped: naive+theta+prophet, 6 origins, p=8", SHIPPED, False, 8.0),
    ("naive+theta+prophet, 36 daily origins, p=8", SHIPPED, True, 8.0),
    ("naive+theta+prophet, 36 daily origins, p=4", SHIPPED, True, 4.0),
    ("naive+theta+prophet, 36 daily origins, p=2", SHIPPED, True, 2.0),
    ("+gbm, 6 origins, p=8", ALL, False, 8.0),
    ("+gbm, 36 daily origins, p=8", ALL, True, 8.0),
    ("+weekday level (3 wk), 6 origins, p=8", (*SHIPPED, "weekday"), False, 8.0),
    ("+weekday level (3 wk), 36 daily origins, p=8", (*SHIPPED, "weekday"), True, 8.0),
]
#: (calibration refits, normaliser, recency half-life in days, ACI step); the widest refits
#: available in the collected fits (``--max-cal``) are used.
BANDS = [(8, how, hl, g, sea) for sea in (False, True)
         for how in ("forecast", "proportional", "mean")
         for hl in (None, 28.0) for g in (0.0, 0.02, 0.05, 0.1, 0.2)]


def tables(recs: list, point: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.concat([naive_frame(r) for r in recs], ignore_index=True)
    prow = []
    have = set(recs[0]["fc"]) | {"weekday"}
    for label, mem, daily, p in POINT if point else []:
        if not set(mem) <= have:
            continue
        df = pd.concat([variant(r, mem, daily, p, MAX_CAL, "forecast") for r in recs],
                       ignore_index=True)
        s = score(df, ref)
        prow.append({"variant": label, **{k: s[k] for k in ("acc3", "acc7", "vs_naive3",
                                                             "vs_naive7", "verdict7")}})
    brow = []
    seasonal_fits = bool((recs[0]["inner"]["k"] < 0).any())
    for k, how, hl, g, sea in BANDS:
        if sea and not seasonal_fits:
            continue
        df = pd.concat([variant(r, SHIPPED, False, 8.0, k, how, hl, g, sea) for r in recs],
                       ignore_index=True)
        s = score(df, ref)
        cov = {c: s[c] for c in s if c.startswith(("cov", "open"))}
        worst = max(abs(cov[f"cov{lv}_{h}"] - lv / 100) for lv in (80, 95) for h in (3, H))
        brow.append({"refits": k, "origins": 1 + 7 * (k - 1), "scale": how,
                     "half_life": "none" if hl is None else f"{hl:.0f}", "aci_gamma": g,
                     "year_ago": sea,
                     **cov, "worst_miss": worst})
    return pd.DataFrame(prow), pd.DataFrame(brow)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panels", default="retail,realistic")
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-forecast"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--retail", type=Path, default=RETAIL)
    p.add_argument("--out", type=Path, default=ROOT / "bench/results/forecast_volume_tuning.md")
    p.add_argument("--cache", action="store_true", help="reuse the collected forecasts")
    p.add_argument("--every", type=int, default=1,
                   help="use every k-th tuning origin (a slow panel on a loaded machine)")
    p.add_argument("--no-gbm", action="store_true", help="leave the GBM member out")
    p.add_argument("--bands-only", action="store_true",
                   help="score the interval variants only (the point variants were run before)")
    p.add_argument("--seasonal", type=int, default=0,
                   help="calibration refits a year earlier in the collected fits")
    p.add_argument("--max-cal", type=int, default=MAX_CAL,
                   help="calibration refits of the collected fits (variants use at most these)")
    a = p.parse_args()
    started, load0 = dt.datetime.now(dt.UTC), load_average()
    cmd = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    lines = ["# Daily volume ensemble: tuning on origins before the evaluation", "",
             f"Command: `{cmd}`  ", f"Machine: {os.cpu_count()} cores, shared; load average "
             f"at start {load0}.  ", f"Date: {started:%Y-%m-%d %H:%M} UTC.", "",
             __doc__.split("\n\n")[1].replace("\n", " "), ""]
    for panel in [x.strip() for x in a.panels.split(",") if x.strip()]:
        lake = (retail_lake(a.work, a.retail) if panel == "retail"
                else generated_lake(a.work, a.seed, panel))
        series, ctx = load_series(lake, "volume", lake_tenant(lake))
        exog = known_exog(series)
        data = prepare(series, exog)
        first_eval = cutoffs(data, H, 56, 1)[0]
        tune = data[data[DS] <= first_eval].reset_index(drop=True)
        origins = cutoffs(tune, H, 56, 1)[::-1][::a.every][::-1]
        cache = a.work / f"volume_tune_{panel}.pkl"
        if a.cache and cache.exists():
            recs = pickle.loads(cache.read_bytes())
        else:
            recs = collect(tune, exog, holiday_frame(ctx), origins,
                           SHIPPED if a.no_gbm else ALL, a.max_cal, a.seasonal)
            cache.write_bytes(pickle.dumps(recs))
        pt, bt = tables(recs, not a.bands_only)
        lines += [f"## {panel}", "",
                  f"Data cut at the first evaluation origin {first_eval.date()}; tuning origins "
                  f"{origins[0].date()} … {origins[-1].date()} ({len(origins)} origins, every "
                  f"{a.every} day(s), horizon {H}).", "",
                  *(["Point forecast variants (bands: shipped settings):", "", md_table(pt, 3),
                     ""] if len(pt) else []),
                  "Interval variants (point forecast: shipped), coverage on all days and on "
                  "open days at 3 and 7 d:", "", md_table(bt, 3), ""]
        write_atomic(a.out if len(a.panels.split(",")) > 1 else
                     a.out.with_name(f"{a.out.stem}_{panel}_daily.md"),
                     "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
