"""Benchmark: choosing the SKU GBM's settings on windows before the evaluation cutoffs.

The peer bench (``bench/forecast_peers.py``) evaluates on the last ``--windows`` weekly
cutoffs of each panel. Settings are chosen here instead, on 4 weekly windows (horizon 30)
of the same panel cut at ``--end`` (the first evaluation cutoff), so the choice never sees an
evaluation day: the GBM with each ``strategy`` (``recursive``, ``direct``; both point
forecasts ``mean``/``median`` from one fit per window), the GBM + Prophet combination
(``combination``: from one fit per window, its members' own forecasts ``member_gbm``,
``member_prophet`` and the variants :data:`COMBOS` of GBM weight × intervals) and,
separately, the gate's other candidates (``prophet``, ``lstm``) on the same windows. The
champion gate of ``pipelines.train_forecast`` compares candidates by WAPE at 30 days; the
table shows it.

Usage::

    python bench/forecast_sku_tuning.py --panel retail --end 2011-09-21 --what recursive,direct
    python bench/forecast_sku_tuning.py --panel retail --end 2011-09-21 --what prophet
    python bench/forecast_sku_tuning.py --panel retail --end 2011-09-21 \
        --from-cv /tmp/t/retail_recursive_direct.parquet,/tmp/t/retail_prophet.parquet \
        --out bench/results/forecast_sku_tuning_retail.md
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

from bench._common import load_average, md_table, write_atomic  # noqa: E402
from bench.forecast_peers import RETAIL, _coverage_table, load_panel, score_panel  # noqa: E402
from models.forecast.base import DS, ID  # noqa: E402
from pipelines.backtest import cutoffs  # noqa: E402

H = 30
LEVELS = (80, 95)
#: Combination variants scored from one fit: (GBM weight, intervals).
COMBOS = [(w, iv) for w in (0.3, 0.5, 0.7) for iv in ("average", "gbm")]


def fit_predict(kind: str, train: pd.DataFrame, X, exog: list[str]) -> dict[str, pd.DataFrame]:
    """Forecasts of one candidate from one fit (the GBM gives both of its point forecasts)."""
    from pipelines.train_forecast import make_model

    if kind == "combination":  # one fit: the members' own forecasts (variants: combos())
        m = make_model("combination", "sku", H, exog, n_jobs=1).fit(train)
        fcs = m.member_forecasts(H, X, LEVELS, list(m.ids_))
        return {f"member_{n}": f for n, f in fcs.items()}
    if kind in ("prophet", "lstm"):
        kw = {"n_jobs": 1} if kind == "prophet" else {"num_threads": 1}
        return {kind: make_model(kind, "sku", H, exog, **kw).fit(train).predict(H, X_future=X)}
    m = make_model("gbm", "sku", H, exog, strategy=kind).fit(train)
    return {f"gbm_{kind}_{p}": m.set_params(point=p).predict(H, X_future=X)
            for p in ("mean", "median")}


def combos(res: dict, exog: list[str]) -> dict:
    """Every :data:`COMBOS` variant from the saved members' forecasts, window by window.

    Uses the model's own ``CombinationForecaster.combine`` (what ``predict`` runs), so a
    variant's rows are those one fit with those settings would forecast.
    """
    from pipelines.train_forecast import make_model

    if not {"member_gbm", "member_prophet"} <= set(res):
        return res
    g, p = res["member_gbm"][0], res["member_prophet"][0]
    out = dict(res)
    for w, iv in COMBOS:
        m = make_model("combination", "sku", H, exog, weights=(w, 1 - w), intervals=iv)
        parts = []
        for cut, gc in g.groupby("cutoff"):
            pc = p[p["cutoff"] == cut]
            ids = list(dict.fromkeys(gc[ID]))
            fc = m.combine({"gbm": gc.drop(columns="cutoff"), "prophet": pc.drop(columns="cutoff")},
                           LEVELS, ids, H)
            parts.append(fc.assign(cutoff=cut))
        out[f"combination_w{round(100 * w)}_{iv}"] = (pd.concat(parts, ignore_index=True),
                                                       res["member_gbm"][1])
    return out


def run(df: pd.DataFrame, exog: list[str], what: list[str]) -> dict:
    parts: dict[str, list] = {}
    secs: dict[str, float] = {}
    for cut in cutoffs(df, H, 4, 7):
        train = df[df[DS] <= cut]
        test = df[(df[DS] > cut) & (df[DS] <= cut + pd.Timedelta(days=H))]
        X = test[[ID, DS, *exog]] if exog else None
        for kind in what:
            t0 = time.perf_counter()
            for k, fc in fit_predict(kind, train, X, exog).items():
                parts.setdefault(k, []).append(fc.assign(cutoff=cut))
                secs[k] = secs.get(k, 0.0) + time.perf_counter() - t0
        print(cut.date(), flush=True)
    return {k: (pd.concat(v, ignore_index=True), secs[k]) for k, v in parts.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--panel", default="retail")
    p.add_argument("--end", required=True, help="last day used (the first evaluation cutoff)")
    p.add_argument("--what", default="recursive,direct",
                   help="GBM strategies and/or combination, prophet, lstm")
    p.add_argument("--top-n", type=int, default=100)
    p.add_argument("--save-cv", type=Path, default=None, help="parquet of the backtests")
    p.add_argument("--from-cv", default="", help="score saved backtests (comma list)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--work", type=Path, default=Path("/tmp/oms-ml-bench-forecast"))
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    a.retail, a.retail_top, a.retail_min_days = RETAIL, a.top_n, 30
    started, load0 = dt.datetime.now(dt.UTC), load_average()
    df, exog = load_panel(a.panel, a)
    df = df[df[DS] <= pd.Timestamp(a.end)]
    if a.from_cv:
        cv = pd.concat([pd.read_parquet(f) for f in a.from_cv.split(",")], ignore_index=True)
        cv = cv[~cv["model"].str.startswith("combination_")]  # rebuilt from the members
        res = {k: (g.drop(columns="model"), float("nan")) for k, g in cv.groupby("model")}
    else:
        res = run(df, exog, [x for x in a.what.split(",") if x])
        if a.save_cv:
            pd.concat([f.assign(model=k) for k, (f, _) in res.items()]).to_parquet(a.save_cv)
    res = combos(res, exog)
    table, _ = score_panel(res, df)
    acc = table[table["horizon"].isin([7, H])]
    best = acc[acc["horizon"] == H].sort_values("wape")["model"].iloc[0]
    cuts = [str(c.date()) for c in cutoffs(df, H, 4, 7)]
    lines = ["# SKU settings chosen before the evaluation windows", "",
             f"Command: `python {' '.join(shlex.quote(x) for x in sys.argv)}`  ",
             f"Machine: {os.cpu_count()} cores shared; load at start {load0}, now "
             f"{load_average()}. Date: {started:%Y-%m-%d %H:%M} UTC.", "",
             f"Panel {a.panel}, top {a.top_n} SKUs, data up to {a.end}; cutoffs "
             f"{', '.join(cuts)} (horizon {H}).", "",
             md_table(acc[["model", "horizon", "wape", "mase", "spl", "seconds"]], 3), "",
             md_table(_coverage_table(table), 3), "",
             f"Lowest WAPE at {H} days (the gate's metric): **{best}**.", ""]
    text = "\n".join(lines)
    if a.out:
        write_atomic(a.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
