"""Markdown tables of ``bench/inventory.py``: targets, policies, service sweep, prep accuracy."""

from __future__ import annotations

import numpy as np

from bench import inventory_replay as R


def _ci(x: np.ndarray, fmt: str) -> str:
    lo, hi = np.quantile(x, [0.025, 0.975])
    return f"[{fmt.format(lo)}, {fmt.format(hi)}]"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _equal_fill(ms: dict, days: int, name: str = "policy") -> list[str]:
    """Holding cost of a policy interpolated at the base-stock's fill rate, per service level."""
    pol = [R._stat(ms[(name, s)], slice(None)) for s in R.SERVICE_LEVELS]
    bs = [R._stat(ms[("base_stock", s)], slice(None)) for s in R.SERVICE_LEVELS]
    pf, ph = np.array([x["fill"] for x in pol]), np.array([x["hold"] for x in pol])
    order = np.argsort(pf)
    lines = [f"| service level | {name} fill | {name} holding | base-stock fill | base-stock "
             f"holding | {name} holding at base-stock's fill | {name} vs base-stock |",
             "|---|---|---|---|---|---|---|"]
    rows = []
    for s, a, b in zip(R.SERVICE_LEVELS, pol, bs, strict=True):
        inside = pf.min() <= b["fill"] <= pf.max()
        at = float(np.interp(b["fill"], pf[order], ph[order])) if inside else np.nan
        rows.append((s, at, b["hold"], b["fill"]))
        rel = f"{at / b['hold'] - 1:+.1%}" if inside else f"fill outside {name}'s range"
        lines.append(f"| {s:.3f} | {a['fill']:.3f} | {a['hold']:,.0f} | {b['fill']:.3f} | "
                     f"{b['hold']:,.0f} | {at:,.0f} | {rel} |")
    return lines, rows


def _closest(rows: list[tuple]) -> tuple:
    """The swept row whose base-stock fill is nearest 95 % among those the policy spans."""
    ok = [r for r in rows if np.isfinite(r[1])]
    if not ok:
        return (np.nan, np.nan, np.nan, np.nan)
    return min(ok, key=lambda r: abs(r[3] - R.TARGET))


def _validation_lines(val: dict | None) -> list[str]:
    if not val:
        return []
    t = val["table"]
    piv = t.pivot(index="target", columns="rho", values="fill")
    inv = t.pivot(index="target", columns="rho", values="inv")
    head = "| target | " + " | ".join(f"fill / inventory value at ρ={r:g}" for r in piv.columns)
    lines = ["### Validation quarter (before the held-out one): choice of ρ and calibrated "
             "target", "", f"{val['start']:%Y-%m-%d} → {val['end']:%Y-%m-%d}; chosen ρ = "
             f"{val['rho']:g}, calibrated target = {val['level']:.3f} (policy), "
             f"{val.get('daily_level', float('nan')):.3f} (policy_daily: the smallest swept "
             "target whose validation fill reached 95 %).", "", head + " |",
             "|---|" + "---|" * len(piv.columns)]
    for sl in piv.index:
        lines.append(f"| {sl:.3f} | " + " | ".join(
            f"{piv.at[sl, r]:.3f} / {inv.at[sl, r]:,.0f}" for r in piv.columns) + " |")
    if "daily_fill" in t:
        d = t[t["rho"] == val["rho"]]
        lines += ["", "policy_daily on the validation quarter (fill / inventory value): "
                  + "; ".join(f"{r.target:.3f}: {r.daily_fill:.3f} / {r.daily_inv:,.0f}"
                              for r in d.itertuples()) + "."]
    return [*lines, ""]


def _calibrated_rows(point: dict, boot: dict, keys: list[str | None]) -> list[str]:
    """Target rows for the policies at the targets calibrated on the validation quarter."""
    out = []
    for k in [k for k in keys if k]:
        cut0 = 1 - point[k]["inv"] / point["rule"]["inv"]
        cut = 1 - boot[k]["inv"] / boot["rule"]["inv"]
        ok = cut0 >= 0.15 and point[k]["fill"] >= 0.95
        out.append(f"| {k} (target chosen on the validation quarter): fill, and "
                   f"(rule − policy) / rule inventory value | fill {point[k]['fill']:.3f} "
                   f"{_ci(boot[k]['fill'], '{:.3f}')}; {cut0:+.1%} {_ci(cut, '{:+.1%}')} | "
                   f"fill ≥ 0.95 and ≥ +15 % | {_verdict(ok)} |")
    return out


def report_tables(p: R.Panel, res: dict, seconds: float) -> str:
    """The markdown section of one data set."""
    days, n = res["days"], res["n"]
    ms = {k: R._metrics(v, p.cost, days) for k, v in res["sims"].items()}
    val = res.get("validation")
    main = {"policy": ms[("policy", R.TARGET)], "rule": ms[("rule", None)],
            "base_stock": ms[("base_stock", R.TARGET)]}
    cal = daily = None
    if val:
        cal = f"policy, calibrated target {val['level']:.3f}"
        main[cal] = ms[("policy", val["level"])]
        main["policy_daily (95 % target)"] = ms[("policy_daily", R.TARGET)]
        daily = f"policy_daily, calibrated target {val['daily_level']:.3f}"
        main[daily] = ms[("policy_daily", val["daily_level"])]
    boot = R.bootstrap(main, n)
    point = {k: R._stat(m, slice(None)) for k, m in main.items()}
    cut = 1 - boot["policy"]["inv"] / boot["rule"]["inv"]
    cut0 = 1 - point["policy"]["inv"] / point["rule"]["inv"]
    eq_lines, eq_rows = _equal_fill(ms, days)
    at95 = _closest(eq_rows)
    daily_lines, daily_rows = _equal_fill(ms, days, "policy_daily")
    d95 = _closest(daily_rows)
    out = [f"## {p.name}", "",
           f"{n} series (SKU × warehouse), held-out {days} days {res['start']:%Y-%m-%d} → "
           f"{res['end']:%Y-%m-%d}; lead times {sorted(set(p.lead.tolist()))} days; "
           f"ρ = {res['rho']:g}; replay + forecasts {seconds:.0f} s.", "",
           "### Targets", "", "| check | measured | target | |", "|---|---|---|---|",
           f"| policy fill rate at a 95 % fill-rate target | {point['policy']['fill']:.3f} "
           f"{_ci(boot['policy']['fill'], '{:.3f}')} | ≥ 0.95 | "
           f"{_verdict(point['policy']['fill'] >= 0.95)} |",
           f"| average inventory value: policy vs ×1.2 rule, (rule − policy) / rule | "
           f"{cut0:+.1%} {_ci(cut, '{:+.1%}')} | ≥ +15 % | {_verdict(cut0 >= 0.15)} |",
           *_calibrated_rows(point, boot, [cal, daily]),
           f"| holding cost at equal fill: policy vs base-stock (at base-stock's fill "
           f"{at95[3]:.3f}, the swept one nearest 95 % inside the policy's range) | "
           f"{at95[1]:,.0f} vs {at95[2]:,.0f} | lower | {_verdict(at95[1] < at95[2])} |",
           f"| same, daily order-up-to from the quantiles (no EOQ batch; at fill "
           f"{d95[3]:.3f}) | {d95[1]:,.0f} vs {d95[2]:,.0f} | lower | "
           f"{_verdict(d95[1] < d95[2])} |", "",
           "### Policies (95 % target where it applies; 95 % bootstrap intervals over "
           f"series, {R.N_BOOT} resamples, paired)", "",
           "| policy | fill rate | stock-out days per series | avg inventory value | orders "
           "placed | holding cost | ordering cost | total cost |",
           "|---|---|---|---|---|---|---|---|"]
    for k, st in point.items():
        b = boot[k]
        out.append(f"| {k} | {st['fill']:.3f} {_ci(b['fill'], '{:.3f}')} | {st['out']:.2f} "
                   f"{_ci(b['out'], '{:.2f}')} | {st['inv']:,.0f} {_ci(b['inv'], '{:,.0f}')} | "
                   f"{st['orders']:,.0f} | {st['hold']:,.0f} | {st['order_cost']:,.0f} | "
                   f"{st['hold'] + st['order_cost']:,.0f} |")
    pr, pp = res["prep"]["rule"], res["prep"]["policy"]
    out += ["", f"Costs: holding {R.HOLDING_RATE:.0%} of unit cost a year over the {days} "
            f"days, ordering {R.ORDERING_COST:g} per order.", "",
            *_validation_lines(val),
            "### Equal fill rate: policy vs base-stock across service levels", "",
            "Service level = fill-rate target for the policy, cycle service (z) for "
            "base-stock; holding cost interpolated linearly between the swept levels.", "",
            *eq_lines, "", "policy_daily: the policy's quantile samples used as a daily "
            "order-up-to level (orders every day like base-stock; isolates the forecast "
            "quantiles from the EOQ batch):", "", *daily_lines,
            "", "### Stock-preparation accuracy", "",
            "Share of SKU-weeks (with demand > 0) whose stock prepared for the week covered "
            "the week's demand with at most 20 % excess (demand ≤ prepared ≤ 1.2 × demand). "
            "Prepared for the week: rule = 1.2 × the week's predicted sales; policy = the 95 % "
            "quantile of the week's demand from the forecast quantiles; accuracy-optimal = the "
            "stock that maximises P(demand ≤ stock ≤ 1.2 × demand) under the same forecast "
            "distribution (`models.inventory.leadtime.accuracy_optimal_stock`).", "",
            "| preparation | accuracy | SKU-weeks |", "|---|---|---|",
            f"| ×1.2 rule | {pr[0]:.1%} | {pr[1]:,} |",
            f"| policy (95 % quantile) | {pp[0]:.1%} | {pp[1]:,} |"]
    if "best" in res["prep"]:
        pb = res["prep"]["best"]
        out.append(f"| accuracy-optimal preparation | {pb[0]:.1%} | {pb[1]:,} |")
    if res.get("prep_sku"):
        sr, sp = res["prep_sku"]["rule"], res["prep_sku"]["policy"]
        out += [f"| ×1.2 rule, SKU level (warehouses summed) | {sr[0]:.1%} | {sr[1]:,} |",
                f"| policy (95 % quantile), SKU level | {sp[0]:.1%} | {sp[1]:,} |"]
        if "best" in res["prep_sku"]:
            sb = res["prep_sku"]["best"]
            out.append(f"| accuracy-optimal preparation, SKU level | {sb[0]:.1%} | "
                       f"{sb[1]:,} |")
    out.append("")
    return "\n".join(out)
