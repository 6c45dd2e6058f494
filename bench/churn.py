"""Churn benchmark: generated data against the true hazard, and the real Online Retail data.

Usage::

    python bench/churn.py [--scale small] [--seed 7] [--retail ../shared/data/online_retail.parquet]
                          [--boot 1000] [--skip-generated] [--skip-retail] [--lake L] [--no-dense]
                          [--skip-scoring]

Writes ``bench/results/churn.md``. Every number in it is computed here.

* Generated data: ``generate`` → ``ingest`` → time-based training (earlier cutoffs) and test on
  the latest labelable cutoff; the oracle is the generator's own churn probability
  (``true_churn_probability``) scored on the same customers and labels.
* Online Retail: import → ingest → test cutoff 2011-09-09, label = no purchase in the next 91
  days (the window ends on the data's last day, 2011-12-09). Every baseline
  (:mod:`models.churn.baselines`: recency, RFM logistic, RFM gradient boosting, BG/NBD
  P(alive), BG/NBD expected purchases) is fitted on the same training snapshots as the
  classifier and gets ROC-AUC, PR-AUC and Brier; the classifier's difference to each comes
  with a paired bootstrap 95% interval (customers resampled). Then a lift/gain table, the
  expected value of the retention strategy under stated assumptions, seasonality-aware
  training variants, BG/NBD + Gamma-Gamma with the default settings against ``lifetimes``,
  and a full batch scoring run.
"""

from __future__ import annotations

import argparse
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
sys.path.append(str(ROOT / "bench"))

from churn_eval import (  # noqa: E402
    bootstrap_ci,
    clv_fits,
    gamma_gamma_fits,
    lift_table,
    paired_bootstrap,
)
from churn_seasonal import seasonal_variants  # noqa: E402

from models.churn.baselines import baseline_probabilities  # noqa: E402
from models.churn.strategy import CampaignAssumptions, RetentionConfig, strategy_value  # noqa: E402
from models.clv import summary_data  # noqa: E402
from oms.lake import read_table  # noqa: E402
from pipelines.generate import TRUTH_SNAPSHOTS, generate, true_churn_probability  # noqa: E402
from pipelines.importers.online_retail import import_online_retail  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.score_churn import score_frame  # noqa: E402
from pipelines.train_churn import fit_and_test, load_tables  # noqa: E402

# ../shared beside the checkout (a worktree sits one level deeper: ../../shared)
RETAIL = next((p / "shared" / "data" / "online_retail.parquet" for p in ROOT.parents
               if (p / "shared" / "data" / "online_retail.parquet").exists()),
              ROOT.parent / "shared" / "data" / "online_retail.parquet")
TEST_CUTOFF, HORIZON = "2011-09-09", 91
ASSUME = CampaignAssumptions()


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def compare(res, n_boot: int) -> dict:
    """Baselines on the training snapshots, paired bootstrap, lift, CI of the model."""
    test = res.test_frame
    y = test["churned"].to_numpy(int)
    p = test["churn_probability"].to_numpy(float)
    base = baseline_probabilities(res.train_frame, test)
    return {
        "base": base,
        "paired": paired_bootstrap(y, p, base, n_boot),
        "ci": bootstrap_ci(y, p, "roc_auc", n_boot),
        "lift": lift_table(y, {"churn classifier": p} | base),
    }


def generated(scale: str, seed: int, work: Path, n_boot: int) -> dict:
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
            "customers": len(test), "cmp": compare(res, n_boot)}


def retained_value(test: pd.DataFrame, horizon: int) -> np.ndarray:
    """Spend a customer would bring in ``horizon`` days if kept: their historical run rate."""
    days = np.maximum(test["tenure_days"].to_numpy(float) + 1, horizon)
    return test["monetary"].to_numpy(float) * horizon / days


def clv_check(tables, cutoff: pd.Timestamp, horizon: int) -> dict:
    """BG/NBD (defaults) vs lifetimes; predicted vs actual purchase days in the horizon."""
    summ = summary_data(tables.orders, cutoff)
    o = tables.orders[tables.orders["customer_id"].notna()]
    d = pd.to_datetime(o["order_date"])
    fut = o[(d > cutoff) & (d <= cutoff + pd.Timedelta(days=horizon))]
    actual = fut.groupby("customer_id")["order_date"].nunique()
    act = summ["customer_id"].astype(str).map(actual.rename(index=str)).fillna(0).to_numpy()
    return {"bg": clv_fits(summ, act, horizon), "gg": gamma_gamma_fits(summ)}


def real(retail: Path, work: Path, n_boot: int, args) -> dict:
    lake = args.lake
    if not lake:  # import → ingest from the export (--lake reuses an earlier ingest)
        landing, lake = work / "retail" / "landing", work / "retail" / "lake"
        import_online_retail(str(retail), str(landing))
        ingest(str(landing), str(lake), str(work / "retail" / "quarantine"))
    tables = load_tables(str(lake))
    t1 = time.perf_counter()
    res = fit_and_test(tables, HORIZON, TEST_CUTOFF)
    fit_s = time.perf_counter() - t1
    test = res.test_frame
    y = test["churned"].to_numpy(int)
    out = {"res": res, "fit_s": fit_s, "cmp": compare(res, n_boot),
           "ceiling": ceiling(test, res.model.feature_names_),
           "strategy": strategy_value(test["churn_probability"], y,
                                      retained_value(test, HORIZON), RetentionConfig(), ASSUME),
           "clv": clv_check(tables, res.test_cutoff, HORIZON)}
    out["seasonal"] = seasonal_variants(tables, res, n_boot, dense=not args.no_dense)
    if not args.skip_scoring:
        t2 = time.perf_counter()
        out["scored"] = score_frame(tables, res.model)
        out["score_s"] = time.perf_counter() - t2
    return out


def ceiling(test: pd.DataFrame, feats: list[str]) -> float:
    """5-fold CV inside the test snapshot: not a valid evaluation, a rough ceiling."""
    m = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=6, random_state=0)
    p = cross_val_predict(m, test[feats].astype(float), test["churned"], cv=5,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(test["churned"], p))


def main() -> None:
    from churn_report import report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--retail", default=str(RETAIL))
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    ap.add_argument("--skip-generated", action="store_true")
    ap.add_argument("--skip-retail", action="store_true")
    ap.add_argument("--lake", default=None, help="reuse an ingested Online Retail lake")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense-cutoff variant")
    ap.add_argument("--skip-scoring", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "churn.md"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="oms-churn-bench-") as tmp:
        work = Path(tmp)
        gen = None if args.skip_generated else generated(args.scale, args.seed, work, args.boot)
        if gen:
            print(f"generated: auc {gen['res'].metrics['roc_auc']:.4f} "
                  f"oracle {gen['oracle']:.4f}", flush=True)
        rr = None if args.skip_retail else real(Path(args.retail), work, args.boot, args)
        if rr:
            print(f"retail: auc {rr['res'].metrics['roc_auc']:.4f}", flush=True)
    text = report(args, gen, rr, load_before, os.getloadavg(), ASSUME)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(text + "\n")
    tmp_out.replace(out)
    print(text)


if __name__ == "__main__":
    main()
