"""Churn benchmark: generated data against the true hazard, and the real Online Retail data.

Usage::

    python bench/churn.py [--scale small] [--seed 7] [--retail ../shared/data/online_retail.parquet]

Writes ``bench/results/churn.md``. Every number in it is computed here.

* Generated data: ``generate`` → ``ingest`` → time-based training (earlier cutoffs) and test on
  the latest labelable cutoff; the oracle is the generator's own churn probability
  (``true_churn_probability``) scored on the same customers and labels.
* Online Retail: import → ingest → cutoff 2011-09-09, label = no purchase in the next 91
  days. Baselines on the same customers: recency alone, a plain RFM gradient boosting
  (trained on the same earlier cutoffs; and, for reference, 5-fold CV inside the test
  snapshot), BG/NBD P(alive) and BG/NBD expected purchases. Then CLV calibration (predicted
  vs actual purchases in the next 91 days) and a full batch scoring run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.clv import BetaGeoFitter, summary_data  # noqa: E402
from oms.lake import read_table  # noqa: E402
from pipelines.generate import TRUTH_SNAPSHOTS, generate, true_churn_probability  # noqa: E402
from pipelines.importers.online_retail import import_online_retail  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.score_churn import score_frame  # noqa: E402
from pipelines.train_churn import (  # noqa: E402
    build_snapshots,
    fit_and_test,
    load_tables,
)

RFM = ["recency_days", "frequency", "monetary"]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail.parquet"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def rfm_gbm(train: pd.DataFrame, test: pd.DataFrame) -> float:
    m = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    m.fit(train[RFM].astype(float), train["churned"])
    return float(roc_auc_score(test["churned"], m.predict_proba(test[RFM].astype(float))[:, 1]))


def rfm_gbm_cv(test: pd.DataFrame) -> float:
    m = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    p = cross_val_predict(m, test[RFM].astype(float), test["churned"], cv=5,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(test["churned"], p))


def generated(scale: str, seed: int, work: Path) -> dict:
    t0 = time.perf_counter()
    landing, lake = work / "gen" / "landing", work / "gen" / "lake"
    generate(scale, seed, str(landing))
    ingest(str(landing), str(lake), str(work / "gen" / "quarantine"))
    tables = load_tables(str(lake))
    t1 = time.perf_counter()
    res = fit_and_test(tables, 90)
    fit_s = time.perf_counter() - t1
    truth = read_table(str(landing / TRUTH_SNAPSHOTS))
    tp = true_churn_probability(truth, res.test_cutoff, 90).rename("tp").reset_index()
    test = res.test_frame.merge(tp.astype({"customer_id": str}), on="customer_id", how="left")
    if test["tp"].isna().any():
        raise RuntimeError(f"{int(test['tp'].isna().sum())} test customers lack ground truth")
    oracle = float(roc_auc_score(test["churned"], test["tp"]))
    return {"res": res, "oracle": oracle, "fit_s": fit_s, "total_s": time.perf_counter() - t0,
            "customers": len(test)}


def clv_check(tables, cutoff: pd.Timestamp, horizon: int) -> dict:
    """BG/NBD calibration: predicted vs actual purchase days in the next ``horizon`` days."""
    summ = summary_data(tables.orders, cutoff)
    bg = BetaGeoFitter().fit(summ["frequency"], summ["recency"], summ["T"])
    pred = bg.conditional_expected_number_of_purchases_up_to_time(
        horizon, summ["frequency"], summ["recency"], summ["T"])
    o = tables.orders[tables.orders["customer_id"].notna()]
    d = pd.to_datetime(o["order_date"])
    fut = o[(d > cutoff) & (d <= cutoff + pd.Timedelta(days=horizon))]
    actual = fut.groupby("customer_id")["order_date"].nunique()
    act = summ["customer_id"].astype(str).map(actual.rename(index=str)).fillna(0).to_numpy()
    return {"pred_total": float(pred.sum()), "actual_total": float(act.sum()),
            "corr": float(np.corrcoef(pred, act)[0, 1]), "params": bg.params_}


def real(retail: Path, work: Path) -> dict:
    landing, lake = work / "retail" / "landing", work / "retail" / "lake"
    import_online_retail(str(retail), str(landing))
    ingest(str(landing), str(lake), str(work / "retail" / "quarantine"))
    tables = load_tables(str(lake))
    t1 = time.perf_counter()
    res = fit_and_test(tables, 91, "2011-09-09")
    fit_s = time.perf_counter() - t1
    test = res.test_frame
    train = build_snapshots(tables, res.train_cutoffs, 91)
    y = test["churned"]
    out = {
        "res": res, "fit_s": fit_s,
        "rfm_gbm": rfm_gbm(train, test), "rfm_gbm_cv": rfm_gbm_cv(test),
        "bg_expected": float(roc_auc_score(y, -test["bg_expected_90d"])),
        "clv": clv_check(tables, res.test_cutoff, 91),
    }
    t2 = time.perf_counter()
    scored = score_frame(tables, res.model)
    out["score_s"] = time.perf_counter() - t2
    out["scored"] = scored
    out["universe"] = scored.n_input
    return out


def report(args, gen: dict, rr: dict, load_before, load_after) -> str:
    g, r = gen["res"].metrics, rr["res"].metrics
    gap = gen["oracle"] - g["roc_auc"]
    lines = [
        "## churn", "",
        f"Command: `python bench/churn.py --scale {args.scale} --seed {args.seed}`.",
        f"Machine: 2 cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} "
        f"after (1-min); run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "Validation is time-based only: trained on earlier cutoffs whose label windows end by "
        "the test cutoff, tested on the test cutoff.", "",
        f"### Generated data (scale {args.scale}, seed {args.seed}; test cutoff "
        f"{gen['res'].test_cutoff.date()}, horizon 90 days, {gen['customers']:,} customers, "
        f"churn rate {g['test_churn_rate']:.3f})", "",
        "| measure | value | target | |", "|---|---|---|---|",
        f"| ROC-AUC, churn classifier ({gen['res'].selected}) | {g['roc_auc']:.4f} | ≥ 0.85 | "
        f"{met(g['roc_auc'] >= 0.85)} |",
        f"| ROC-AUC, true hazard (oracle) | {gen['oracle']:.4f} | — | |",
        f"| gap to oracle | {gap:.4f} | ≤ 0.05 | {met(gap <= 0.05)} |",
        f"| PR-AUC | {g['pr_auc']:.4f} | — | |",
        f"| Brier score | {g['brier']:.4f} | — | |",
        f"| ROC-AUC, recency alone | {g['baseline_recency_roc_auc']:.4f} | — | |",
        f"| ROC-AUC, BG/NBD 1 − P(alive) | {g['baseline_p_alive_roc_auc']:.4f} | — | |",
        f"| train + test wall time | {gen['fit_s']:.1f} s | — | |", "",
        f"### Online Retail (cutoff {rr['res'].test_cutoff.date()}, label: no purchase in the "
        f"next 91 days; {int(r['test_customers']):,} customers, churn rate "
        f"{r['test_churn_rate']:.3f}; trained on cutoffs "
        f"{', '.join(str(c.date()) for c in rr['res'].train_cutoffs)})", "",
        "| measure | ROC-AUC | reference / target | |", "|---|---|---|---|",
        f"| recency alone | {r['baseline_recency_roc_auc']:.4f} | ≈ 0.68 | |",
        f"| plain RFM gradient boosting, trained on earlier cutoffs | {rr['rfm_gbm']:.4f} | "
        "≈ 0.71 | |",
        f"| plain RFM gradient boosting, 5-fold CV inside the test snapshot | "
        f"{rr['rfm_gbm_cv']:.4f} | ≈ 0.71 | |",
        f"| BG/NBD 1 − P(alive) (one-time buyers have P(alive) = 1 by the model's "
        f"assumption) | {r['baseline_p_alive_roc_auc']:.4f} | — | |",
        f"| BG/NBD expected purchases (91 d), reversed | {rr['bg_expected']:.4f} | — | |",
        f"| **churn classifier** ({rr['res'].selected}, calibrated) | {r['roc_auc']:.4f} | "
        f"≥ 0.75 | {met(r['roc_auc'] >= 0.75)} |",
        f"| churn classifier vs BG/NBD P(alive) | {r['roc_auc']:.4f} vs "
        f"{r['baseline_p_alive_roc_auc']:.4f} | better | "
        f"{met(r['roc_auc'] > r['baseline_p_alive_roc_auc'])} |",
        "", f"PR-AUC {r['pr_auc']:.4f}, Brier {r['brier']:.4f}, log-loss {r['log_loss']:.4f}; "
        f"train + test {rr['fit_s']:.1f} s.", "",
    ]
    c = rr["clv"]
    lines += [
        "BG/NBD on Online Retail at the cutoff (purchase days in the next 91 days): predicted "
        f"total {c['pred_total']:,.0f} vs actual {c['actual_total']:,.0f}; per-customer "
        f"correlation {c['corr']:.3f}; parameters "
        + ", ".join(f"{k}={v:.3g}" for k, v in c["params"].items()) + ".", "",
    ]
    s = rr["scored"]
    reasons = s.excluded["reason"].value_counts().to_dict()
    lines += [
        f"Batch scoring at {s.cutoff.date()}: {len(s.scored):,} customers scored + "
        f"{len(s.excluded):,} excluded = {s.n_input:,} known customers "
        f"({'; '.join(f'{n} {k}' for k, n in reasons.items()) or 'none excluded'}); "
        f"{rr['score_s']:.1f} s.", "",
        "| segment | customers | revenue |", "|---|---|---|",
        *[f"| {x.segment} | {x.customers:,} | {x.revenue:,.0f} |"
          for x in s.segments.itertuples()], "",
        "| strategy | customers |", "|---|---|",
        *[f"| {k} | {v:,} |" for k, v in s.scored["strategy"].value_counts().items()], "",
    ]
    if r["roc_auc"] < 0.75:
        lines += [
            "The real-data target is missed. Likely reason: the test label window (Sep–Dec "
            "2011) is the Christmas peak, while every training label window (Mar–Sep) is "
            "off-season and the data start in Dec 2010, so no training example shows how "
            "customers behave before a peak. For scale: a gradient boosting on the same "
            "features fitted by 5-fold CV *inside* the test snapshot (not a valid evaluation, "
            f"a rough ceiling for these features) reaches {rr['ceiling']:.4f}.", "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--retail", default=str(RETAIL))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "churn.md"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="oms-churn-bench-") as tmp:
        work = Path(tmp)
        gen = generated(args.scale, args.seed, work)
        print(f"generated: auc {gen['res'].metrics['roc_auc']:.4f} oracle {gen['oracle']:.4f}")
        rr = real(Path(args.retail), work)
        rr["ceiling"] = ceiling(rr["res"].test_frame, rr["res"].model.feature_names_)
        print(f"retail: auc {rr['res'].metrics['roc_auc']:.4f}")
    text = report(args, gen, rr, load_before, os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(text + "\n")
    tmp_out.replace(out)
    print(text)


def ceiling(test: pd.DataFrame, feats: list[str]) -> float:
    m = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=6, random_state=0)
    p = cross_val_predict(m, test[feats].astype(float), test["churned"], cv=5,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(test["churned"], p))


if __name__ == "__main__":
    main()
