"""Benchmark: replay a held-out quarter day by day for the recommended policy and baselines.

Policies (all lost-sales, orders arrive ``L + 1`` mornings after the decision, see
``models.inventory.simulate``):

* **recommended (R, S)** — the shipped policy (``models.inventory.review``, used by
  ``oms-ml report inventory``): each series is reviewed every R days, R = its EOQ cycle
  (EOQ / mean daily demand over the last 91 days, ordering cost 10, holding 25 % of unit cost
  a year) rounded to days and capped, on a staggered calendar; at a review it orders up
  to S, the smallest level whose expected shortage per cycle on samples of demand over
  ``L + R`` days is at most (1 − target) × R × mean (fill-rate target). On the quarter
  *before* the held-out one (validation) the bench replays caps 1, 2, 3 and 7 days, takes for
  each the smallest swept target whose validation fill reached 95 % ("calibrated target"),
  and keeps the cap with the lowest total cost among those ≥ 15 % below the rule's inventory
  value (else the one with the least inventory); only that cap is replayed on the held-out
  quarter (its calibrated and nominal-95 % rows are reported);
* **rule** — the design's rule of thumb: weekly, order up to 1.2 × predicted sales over
  L + 7 days (× 0.8 when 30-day turnover of the simulated stock is below 0.5);
* **base_stock** — order up to μ (L + 1) + z σ sqrt(L + 1) daily, μ and σ from the last
  91 days of demand (normal approximation, no forecaster); **base_stock on review days R** —
  the same on the recommended policy's review calendar with protection L + R;
* **daily order-up-to** — the recommended policy with R = 1 for every series (orders almost
  every day: lowest stock, highest ordering cost);
* **(s, S) + EOQ** — reorder point s from the same samples over L + 1 days, S = s + EOQ
  (capped at 60 days of demand), reviewed daily (the previous recommendation).

The forecaster (default ``--forecaster gbm_quantile``:
``models.inventory.quantile_gbm.LeadTimeDemandGBM``, global LightGBM quantile regressions of
demand summed over the next P days — the protection periods L + 1 and L + R, the week, and
L + 7 for the rule's point forecast from its mean model) is fitted once on the data before the
validation quarter, so neither the validation nor the held-out quarter is in its training data;
each week it predicts again from the history up to that day (no refit). Each total's
distribution is sampled from its quantile knots (no normal approximation; intermittent series
get their point mass at zero from the lower quantiles). ``--forecaster seasonal_naive``
reproduces the first run (daily quantiles of seasonal naive, summed through a Gaussian copula;
no recommended (R, S) row). Every policy starts the quarter at its own order-up-to level.
Demand replayed is the recorded sales, which understate true demand where the source itself
was out of stock. Costs: holding 25 % of unit cost a year × average inventory value over the
quarter, ordering 10 per order placed; total cost = holding + ordering.

Stock-preparation accuracy (defined before this run was looked at): each week of the held-out
quarter (weeks starting at the weekly forecast refreshes), for SKU-weeks with demand D > 0, the
stock x prepared for the week is a hit when it covered the week without more than 20 % excess:
**strict** D ≤ x ≤ 1.2 D; **unit-tolerant** D ≤ x ≤ D + max(0.2 D, 1 unit) (a slow mover
selling 2 units may be prepared 3). Reported at SKU × warehouse level and at SKU level
(warehouses summed). Preparations: rule = 1.2 × the week's mean forecast; policy = the stock
that maximises the probability of a hit under the forecaster's distribution of the week's
demand (``models.inventory.leadtime.accuracy_optimal_stock``, one per criterion); also the
95 % quantile of the week's demand, for reference.

Usage::

    python bench/inventory.py                      # generated medium + Online Retail
    python bench/inventory.py --parts generated --top 60
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

from bench.inventory_replay import (  # noqa: E402
    SERVICE_LEVELS,
    Panel,
    make_forecaster,
    report_tables,
    run_backtest,
    validate,
)

RESULTS = ROOT / "bench" / "results" / "inventory.md"
# beside the project (…/shared/data); from a git worktree that is one level further up
RETAIL = next((d / "shared" / "data" / "online_retail.parquet" for d in ROOT.parents
               if (d / "shared" / "data" / "online_retail.parquet").exists()),
              ROOT.parent / "shared" / "data" / "online_retail.parquet")


def generated_panel(work: Path, top: int, seed: int) -> Panel:
    """Top SKUs by revenue × 8 warehouses of generated ``medium`` data."""
    from pipelines.inventory_data import item_table, sku_warehouse_history

    lake = work / "medium" / "lake"
    if not (lake / "orders").exists():
        from pipelines.generate import generate
        from pipelines.ingest import ingest

        generate("medium", seed=seed, out=str(work / "medium" / "landing"))
        ingest(str(work / "medium" / "landing"), str(lake), str(work / "medium" / "quarantine"),
               tables=["orders", "order_lines", "products", "warehouses", "inventory"],
               now=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3650))
    hist = sku_warehouse_history(str(lake), top_n=top)
    items = item_table(str(lake), hist).set_index("unique_id")
    return Panel.from_long(hist, items["lead_time_days"], items["unit_cost"],
                           "generated medium")


def retail_panel(top: int, lead_time: int = 7, cost_ratio: float = 0.6,
                 bulk_factor: float | None = None, test_days: int = 91) -> Panel:
    """Online Retail: top product codes by revenue, one warehouse, assumed lead time and cost.

    ``bulk_factor`` K: an invoice line (invoice × product) of more than K × the product's
    median line quantity — medians from the lines before the validation quarter only — is a
    wholesale "bulk order": quarantined from the shelf demand (both the forecaster's history
    and the replayed demand), counted and reported; such orders are assumed quoted and
    supplied to order, not from stock.
    """
    df = pd.read_parquet(RETAIL, columns=["InvoiceNo", "StockCode", "Quantity",
                                           "InvoiceDate", "UnitPrice"])
    ok = (~df["InvoiceNo"].astype(str).str.startswith("C") & (df["Quantity"] > 0)
          & (df["UnitPrice"] > 0) & df["StockCode"].astype(str).str.match(r"^\d{5}"))
    df = df[ok].assign(ds=pd.to_datetime(df["InvoiceDate"]).dt.normalize(),
                       revenue=df["Quantity"] * df["UnitPrice"])
    best = df.groupby("StockCode")["revenue"].sum().nlargest(top).index
    df = df[df["StockCode"].isin(best)]
    price = df.groupby("StockCode")["UnitPrice"].median()
    days = pd.date_range(df["ds"].min(), df["ds"].max(), freq="D")
    name, note = "Online Retail", ""
    if bulk_factor:
        lines = df.groupby(["InvoiceNo", "StockCode", "ds"], as_index=False)["Quantity"].sum()
        cut = days[len(days) - 2 * test_days - 1]  # last day before the validation quarter
        med = lines[lines["ds"] <= cut].groupby("StockCode")["Quantity"].median()
        bulk = lines["Quantity"] > bulk_factor * lines["StockCode"].map(med).fillna(np.inf)
        note = (f"; bulk orders quarantined (line > {bulk_factor:g} × the product's median "
                f"line quantity before {cut:%Y-%m-%d}): {int(bulk.sum()):,} of {len(lines):,} "
                f"lines, {lines.loc[bulk, 'Quantity'].sum() / lines['Quantity'].sum():.1%} "
                "of units")
        df = lines[~bulk]
        name = f"Online Retail, bulk orders > {bulk_factor:g} × median line quarantined"
    daily = df.groupby(["StockCode", "ds"])["Quantity"].sum().rename("y").reset_index()
    full = pd.MultiIndex.from_product([best, days], names=["StockCode", "ds"])
    daily = daily.set_index(["StockCode", "ds"]).reindex(full, fill_value=0).reset_index()
    hist = daily.rename(columns={"StockCode": "unique_id"})
    hist["unique_id"] = hist["unique_id"].astype(str)
    ids = pd.Index(hist["unique_id"].unique())
    lead = pd.Series(float(lead_time), index=ids)
    cost = (price * cost_ratio).rename(index=str).reindex(ids)
    panel = Panel.from_long(hist, lead, cost, name)
    panel.note = note
    return panel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="generated,retail")
    ap.add_argument("--top", type=int, default=60, help="generated: top SKUs (× warehouses)")
    ap.add_argument("--retail-top", type=int, default=100)
    ap.add_argument("--bulk-factor", type=float, default=0.0,
                    help="Online Retail: quarantine lines above K × the product's median line "
                    "(0 = keep every line)")
    ap.add_argument("--test-days", type=int, default=91)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--target-cap", type=float, default=0.0,
                    help="LeadTimeDemandGBM target_cap: clip the quantile models' training "
                    "targets at this quantile per day (0 = no cap)")
    ap.add_argument("--forecaster", default="gbm_quantile",
                    help="gbm_quantile (direct lead-time quantiles), seasonal_naive or lstm")
    ap.add_argument("--rho", default="auto",
                    help="day-to-day error dependence, or 'auto' (chosen on the quarter before)")
    ap.add_argument("--work", default="/tmp/inv")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    sections = []
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        panel = (generated_panel(Path(args.work), args.top, args.seed) if part == "generated"
                 else retail_panel(args.retail_top, bulk_factor=args.bulk_factor,
                                   test_days=args.test_days))
        # every series must have sales before the validation quarter's first forecast
        panel = panel.require_history(panel.Y.shape[1] - 2 * args.test_days - 1)
        t1 = time.perf_counter()
        val, model = None, None
        if args.forecaster == "gbm_quantile":  # one fit, on the data before validation
            model = make_forecaster(args.forecaster, int(panel.lead.max()) + 8,
                                    args.target_cap or None).fit(
                panel.long(panel.Y.shape[1] - 2 * args.test_days - 1))
            if model.cap_ is not None:
                panel.note += (f"; quantile models' training targets capped at their "
                               f"q{args.target_cap:g} per day ({model.cap_:.2f} × the "
                               "series' 91-day mean), mean model uncapped")
                panel.name += f", quantile targets capped at q{args.target_cap:g}"
        if args.rho == "auto":
            val = validate(panel, args.test_days, args.samples, args.forecaster,
                           (0.0,) if model is not None else (0.0, 0.25, 0.5), model=model)
        rho = val["rho"] if val else float(args.rho)
        cap = val.get("cap") if val else None
        res = run_backtest(panel, args.test_days, args.samples, args.forecaster, rho,
                           model=model, caps=(cap,) if cap else (), chosen=cap)
        res["validation"] = val
        sections.append(report_tables(panel, res, time.perf_counter() - t1))
        print(sections[-1])
    head = [
        "# Inventory policy backtest", "",
        f"Command: `python {shlex.join(['bench/inventory.py', *sys.argv[1:]])}`  ",
        f"Machine: 2 cores shared with other engineers' jobs; load average (1-min) at start "
        f"{load0:.1f}, at end {os.getloadavg()[0]:.1f}; total {time.perf_counter() - t0:.0f} s.  ",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Service levels swept: "
        f"{', '.join(f'{s:.3f}' for s in SERVICE_LEVELS)} (fill-rate targets for the policy, "
        "cycle service for base-stock).", "",
        (__doc__ or "").split("Usage::")[0].strip(), "",
    ]
    Path(args.out).write_text("\n".join(head + sections) + "\n")
    print(f"wrote {args.out}")
    np.set_printoptions()


if __name__ == "__main__":
    main()
