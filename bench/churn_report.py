"""Markdown report of the churn bench (``bench/results/churn.md``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

NAMES = {
    "recency": "recency alone (logistic)",
    "rfm_logit": "RFM logistic regression",
    "rfm_gbm": "RFM gradient boosting",
    "p_alive": "BG/NBD 1 − P(alive)",
    "bg_expected": "BG/NBD expected purchases (90 d)",
}


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def baseline_table(m: dict, cmp: dict, label: str) -> list[str]:
    """Every baseline with ROC-AUC, PR-AUC, Brier and the paired difference intervals."""
    lo, hi = cmp["ci"]
    lines = [
        "| model | ROC-AUC | PR-AUC | Brier | Δ ROC-AUC (95% CI) | Δ PR-AUC (95% CI) | "
        "Δ Brier (95% CI) |", "|---|---|---|---|---|---|---|",
        f"| **{label}** | **{m['roc_auc']:.4f}** [{lo:.4f}, {hi:.4f}] | {m['pr_auc']:.4f} | "
        f"{m['brier']:.4f} | | | |",
    ]
    pb = cmp["paired"].set_index(["baseline", "metric"])
    for name in cmp["base"]:
        cells = []
        for metric in ("roc_auc", "pr_auc", "brier"):
            r = pb.loc[(name, metric)]
            cells.append(f"{r['diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]")
        lines.append(
            f"| {NAMES.get(name, name)} | {m[f'baseline_{name}_roc_auc']:.4f} | "
            f"{m[f'baseline_{name}_pr_auc']:.4f} | {m[f'baseline_{name}_brier']:.4f} | "
            + " | ".join(cells) + " |")
    lines += ["", "Δ = classifier − baseline on the same customers (paired bootstrap, "
              "percentile interval); an interval that contains 0 is a tie. For Brier, "
              "negative favours the classifier.", ""]
    return lines


def lift_lines(lift: pd.DataFrame) -> list[str]:
    shares = sorted(lift["top"].unique())
    head = " | ".join(f"top {int(s * 100)}%: caught (lift)" for s in shares)
    lines = [f"| score | {head} |", "|---|" + "---|" * len(shares)]
    for name, g in lift.groupby("score", sort=False):
        cells = [f"{r.gain:.1%} ({r.lift:.2f}×)" for r in g.sort_values("top").itertuples()]
        lines.append(f"| {NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return lines + ["", "Caught = share of all churners among the customers with the "
                    "highest scores; lift = caught / share targeted (1 = random).", ""]


def generated_lines(args, gen: dict) -> list[str]:
    g = gen["res"].metrics
    gap = gen["oracle"] - g["roc_auc"]
    return [
        f"### Generated data (scale {args.scale}, seed {args.seed}; test cutoff "
        f"{gen['res'].test_cutoff.date()}, horizon 90 days, {gen['customers']:,} customers, "
        f"churn rate {g['test_churn_rate']:.3f})", "",
        "| measure | value | target | |", "|---|---|---|---|",
        f"| ROC-AUC, churn classifier ({gen['res'].selected}) | {g['roc_auc']:.4f} | ≥ 0.85 | "
        f"{met(g['roc_auc'] >= 0.85)} |",
        f"| ROC-AUC, true hazard (oracle) | {gen['oracle']:.4f} | — | |",
        f"| gap to oracle | {gap:.4f} | ≤ 0.05 | {met(gap <= 0.05)} |",
        f"| train + test wall time | {gen['fit_s']:.1f} s | — | |", "",
        *baseline_table(g, gen["cmp"], f"churn classifier ({gen['res'].selected})"),
    ]


def strategy_lines(sv: pd.DataFrame, a) -> list[str]:
    s = sv.set_index("group")
    lines = [
        "#### Expected value of the retention strategy (coupon 50 for 7 days above 0.7, "
        "recommendations above 0.5), on the test customers", "",
        f"Assumptions (not measured — no campaign was run on this data): a coupon keeps "
        f"{a.coupon_save_rate:.0%} of would-be churners, recommendations "
        f"{a.recommend_save_rate:.0%}; {a.redeem_rate_if_staying:.0%} of coupon receivers "
        f"who would have stayed anyway redeem it (discount given away); {a.contact_cost:.2f} "
        f"per message; {a.margin:.0%} margin on the spend a kept customer brings in 91 days "
        "(their historical run rate). Observed outcome = churned without any action.", "",
        "| group | customers | churners among them | expected saved | gain | cost | net |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in ("coupon", "recommendation", "total", "random"):
        r = s.loc[g]
        label = {"random": "same numbers of coupons/recommendations, random customers"}.get(
            g, g)
        lines.append(f"| {label} | {r['customers']:,.0f} | {r['churners']:,.0f} | "
                     f"{r['saved']:,.1f} | {r['gain']:,.0f} | {r['cost']:,.0f} | "
                     f"{r['net']:,.0f} |")
    gain = s.loc["total", "net"] - s.loc["random", "net"]
    return lines + ["", f"Value of the ranking over random targeting: {gain:,.0f} (GBP).", ""]


def clv_lines(c: dict) -> list[str]:
    bg, gg = c["bg"], c["gg"]
    lines = [
        "#### BG/NBD and Gamma-Gamma at the test cutoff, default settings vs `lifetimes` "
        "0.11.3", "",
        "| fit | r | alpha (days) | a | b | calibration repeat purchases: expected / actual "
        "| next 91 days: predicted / actual |", "|---|---|---|---|---|---|---|",
    ]
    for name in ("ours", "lifetimes", "lifetimes_weeks", "lifetimes_penalty_0.001"):
        f = bg.get(name)
        if not f:
            continue
        label = {"ours": "models.clv defaults (days)", "lifetimes": "lifetimes, no penalty, days",
                 "lifetimes_weeks": "lifetimes, no penalty, weeks",
                 "lifetimes_penalty_0.001": "lifetimes, penalizer 0.001, days (the old "
                 "default)"}[name]
        if "error" in f:
            lines.append(f"| {label} | did not fit: {f['error']} | | | | | |")
            continue
        p = f["params"]
        lines.append(
            f"| {label} | {p['r']:.4f} | {p['alpha']:.3f} | {p['a']:.4f} | {p['b']:.4f} | "
            f"{f['calib_pred']:,.0f} / {bg['calib_actual']:,.0f} | {f['pred']:,.0f} / "
            f"{bg['actual']:,.0f} |")
    lines += ["", f"Gamma-Gamma on {gg['n']:,} repeat buyers: ours "
              + ", ".join(f"{k}={v:.4g}" for k, v in gg["ours"].items())]
    if gg.get("lifetimes"):
        lines[-1] += "; lifetimes " + ", ".join(f"{k}={v:.4g}" for k, v in
                                                 gg["lifetimes"].items())
    return [*lines[:-1], lines[-1] + ".", ""]


def scoring_lines(rr: dict) -> list[str]:
    s = rr["scored"]
    reasons = s.excluded["reason"].value_counts().to_dict()
    return [
        f"Batch scoring at {s.cutoff.date()}: {len(s.scored):,} customers scored + "
        f"{len(s.excluded):,} excluded = {s.n_input:,} known customers "
        f"({'; '.join(f'{n} {k}' for k, n in reasons.items()) or 'none excluded'}); "
        f"{rr['score_s']:.1f} s.", "",
        "| strategy | customers |", "|---|---|",
        *[f"| {k} | {v:,} |" for k, v in s.scored["strategy"].value_counts().items()], "",
    ]


def report(args, gen: dict | None, rr: dict | None, load_before, load_after, assume) -> str:
    skip = "".join(f" --{k.replace('_', '-')}" for k in (
        "skip_generated", "skip_retail", "no_dense", "skip_scoring") if getattr(args, k, False))
    skip += f" --lake {args.lake}" if getattr(args, "lake", None) else ""
    lines = [
        "## churn", "",
        f"Command: `python bench/churn.py --scale {args.scale} --seed {args.seed} --boot "
        f"{args.boot}{skip}`.",
        f"Machine: 2 cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} "
        f"after (1-min); run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Timings are "
        "distorted by the load; accuracy numbers are not.",
        "Validation is time-based only: trained on earlier cutoffs whose label windows end by "
        "the test cutoff, tested on the test cutoff. Baselines are fitted on the same "
        "training snapshots.", "",
    ]
    if gen:
        lines += generated_lines(args, gen)
    if rr is None:
        return "\n".join(lines)
    r, res = rr["res"].metrics, rr["res"]
    lines += [
        f"### Online Retail (test cutoff {res.test_cutoff.date()}, label: no purchase in the "
        f"next 91 days, window ending on the data's last day; {int(r['test_customers']):,} "
        f"customers, churn rate {r['test_churn_rate']:.3f}; trained on cutoffs "
        f"{', '.join(str(c.date()) for c in res.train_cutoffs)}; "
        f"{len(res.model.feature_names_)} features, {len(res.model.dropped_features_)} "
        "dropped as all-null/constant)", "",
        f"Target ROC-AUC ≥ 0.75: {r['roc_auc']:.4f}, 95% CI [{rr['cmp']['ci'][0]:.4f}, "
        f"{rr['cmp']['ci'][1]:.4f}] — {met(r['roc_auc'] >= 0.75)}.", "",
        *baseline_table(r, rr["cmp"], f"churn classifier ({res.selected}, calibrated)"),
        f"Reference (not a valid evaluation): the classifier's features fitted by 5-fold CV "
        f"*inside* the test snapshot reach {rr['ceiling']:.4f}. Train + test "
        f"{rr['fit_s']:.1f} s.", "",
        "#### Lift / gain on the test snapshot", "", *lift_lines(rr["cmp"]["lift"]),
        *strategy_lines(rr["strategy"], assume),
        *rr["seasonal"]["lines"],
        *clv_lines(rr["clv"]),
        *(scoring_lines(rr) if "scored" in rr else []),
    ]
    return "\n".join(lines)
