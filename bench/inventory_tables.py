"""Markdown tables of ``bench/inventory.py``: targets, policies, service sweep, prep accuracy."""

from __future__ import annotations

import numpy as np

from bench import inventory_replay as R


def _ci(x: np.ndarray, fmt: str) -> str:
    lo, hi = np.quantile(x, [0.025, 0.975])
    return f"[{fmt.format(lo)}, {fmt.format(hi)}]"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _equal_fill(ms: dict, days: int, name: str = "policy", base: str = "base_stock"
                ) -> tuple[list[str], list[tuple]]:
    """Holding cost of a policy interpolated at the base-stock's fill rate, per service level."""
    pol = [R._stat(ms[(name, s)], slice(None)) for s in R.SERVICE_LEVELS]
    bs = [R._stat(ms[(base, s)], slice(None)) for s in R.SERVICE_LEVELS]
    pf, ph = np.array([x["fill"] for x in pol]), np.array([x["hold"] for x in pol])
    order = np.argsort(pf)
    lines = [f"| service level | {name} fill | {name} holding | {base} fill | {base} "
             f"holding | {name} holding at {base}'s fill | {name} vs {base} |",
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
    caps = val.get("caps")
    if caps is not None and len(caps):
        lines += ["", "Recommended (R, S) on the validation quarter for each cap on R (fill / "
                  "inventory value / orders / total cost per swept target):", "",
                  "| cap on R | " + " | ".join(f"{sl:.3f}" for sl in R.SERVICE_LEVELS) + " |",
                  "|---|" + "---|" * len(R.SERVICE_LEVELS)]
        for c, g in caps.groupby("cap"):
            g = g.set_index("target")
            lines.append(f"| {c} | " + " | ".join(
                f"{g.at[sl, 'fill']:.3f} / {g.at[sl, 'inv']:,.0f} / {g.at[sl, 'orders']:,.0f} "
                f"/ {g.at[sl, 'cost']:,.0f}" for sl in R.SERVICE_LEVELS) + " |")
        b = val["cap_table"]
        lines += ["", f"Rule on the validation quarter: inventory value "
                  f"{b['rule_inv'].iloc[0]:,.0f}. At each cap's calibrated target: " + "; ".join(
                      f"cap {r.cap}: target {r.target:.3f}, fill {r.fill:.3f}, {r.cut:+.1%} "
                      f"inventory vs rule, total cost {r.cost:,.0f}" for r in b.itertuples())
                  + f". **Chosen cap: {val['cap']}** (lowest total cost among caps ≥ 15 % "
                  "below the rule at a 95 % fill; else least inventory)."]
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


def _names(val: dict | None) -> dict[str, tuple]:
    """Row label → (simulation key, service level) of the main table."""
    rec = val.get("rec_level") if val else None
    rows = {}
    if rec is not None:
        cap = val["cap"]
        rows[f"recommended (R, S), R ≤ {cap}, calibrated target {rec:.3f}"] = (
            "recommended", rec)
        rows[f"recommended (R, S), R ≤ {cap}, 95 % target"] = ("recommended", R.TARGET)
    rows |= {"rule ×1.2": ("rule", None), "base_stock (95 % cycle)": ("base_stock", R.TARGET),
             "base_stock on review days R (95 % cycle)": ("base_stock_R", R.TARGET)}
    if val:
        rows[f"daily order-up-to, calibrated target {val['daily_level']:.3f}"] = (
            "policy_daily", val["daily_level"])
        rows[f"(s, S) + EOQ, calibrated target {val['level']:.3f}"] = ("policy", val["level"])
    else:
        rows["(s, S) + EOQ, 95 % target"] = ("policy", R.TARGET)
    return rows


def _target_lines(point: dict, boot: dict, ms: dict, days: int, shipped: str | None
                  ) -> list[str]:
    lines = ["### Targets", "", "| check | measured | target | |", "|---|---|---|---|"]
    if shipped is None:
        return lines + ["| recommended policy | not run (needs --forecaster gbm_quantile) | | |"]
    cut0 = 1 - point[shipped]["inv"] / point["rule ×1.2"]["inv"]
    cut = 1 - boot[shipped]["inv"] / boot["rule ×1.2"]["inv"]
    f = point[shipped]["fill"]
    eq = []
    for base, what in (("base_stock", "daily base-stock (the baseline)"),
                       ("base_stock_R", "base-stock on the same review days R")):
        at = _closest(_equal_fill(ms, days, "recommended", base)[1])
        diff = at[1] / at[2] - 1 if np.isfinite(at[1]) else np.nan
        eq.append(f"| holding cost at equal fill: recommended vs {what} (at its fill "
                  f"{at[3]:.3f}, the swept one nearest 95 % inside the recommended's range) | "
                  f"{at[1]:,.0f} vs {at[2]:,.0f} ({diff:+.1%}) | lower | "
                  f"{_verdict(at[1] < at[2])} |")
    return lines + [
        f"| {shipped}: fill rate | {f:.3f} {_ci(boot[shipped]['fill'], '{:.3f}')} | ≥ 0.95 | "
        f"{_verdict(f >= 0.95)} |",
        f"| {shipped}: average inventory value vs ×1.2 rule, (rule − policy) / rule | "
        f"{cut0:+.1%} {_ci(cut, '{:+.1%}')} | ≥ +15 % | {_verdict(cut0 >= 0.15)} |",
        *eq,
        "", "Holding cost at equal fill is interpolated between the swept service levels of "
        "the recommended policy; every swept level is listed under \"Equal fill rate\".", ""]


def _policy_lines(point: dict, boot: dict) -> list[str]:
    out = ["| policy | fill rate | stock-out days per series | avg inventory value | "
           "inventory vs rule (rule − policy) / rule | orders placed | holding cost | "
           "ordering cost | total cost |", "|---|---|---|---|---|---|---|---|---|"]
    for k, st in point.items():
        b = boot[k]
        cut = 1 - st["inv"] / point["rule ×1.2"]["inv"]
        cut_b = 1 - b["inv"] / boot["rule ×1.2"]["inv"]
        out.append(f"| {k} | {st['fill']:.3f} {_ci(b['fill'], '{:.3f}')} | {st['out']:.2f} "
                   f"{_ci(b['out'], '{:.2f}')} | {st['inv']:,.0f} {_ci(b['inv'], '{:,.0f}')} | "
                   f"{cut:+.1%} {_ci(cut_b, '{:+.1%}')} | {st['orders']:,.0f} "
                   f"{_ci(b['orders'], '{:,.0f}')} | {st['hold']:,.0f} | "
                   f"{st['order_cost']:,.0f} | {st['hold'] + st['order_cost']:,.0f} "
                   f"{_ci(b['hold'] + b['order_cost'], '{:,.0f}')} |")
    return out


def _prep_lines(res: dict) -> list[str]:
    names = {"rule": "×1.2 rule (1.2 × the week's mean forecast)",
             "policy": "95 % quantile of the week's demand",
             "best": "policy preparation (accuracy-optimal, strict criterion)",
             "best_u": "policy preparation (accuracy-optimal, unit-tolerant criterion)"}
    out = ["| preparation | level | strict: D ≤ x ≤ 1.2 D | unit-tolerant: D ≤ x ≤ "
           "D + max(0.2 D, 1) | SKU-weeks |", "|---|---|---|---|---|"]
    for level, key in (("SKU × warehouse", "prep"), ("SKU (warehouses summed)", "prep_sku")):
        pr = res.get(key)
        if not pr:
            continue
        for k, label in names.items():
            if k in pr:
                out.append(f"| {label} | {level} | {pr[k][0]:.1%} | {pr[k + '|u'][0]:.1%} | "
                           f"{pr[k][1]:,} |")
    return out


def report_tables(p: R.Panel, res: dict, seconds: float) -> str:
    """The markdown section of one data set."""
    days, n = res["days"], res["n"]
    ms = {k: R._metrics(v, p.cost, days) for k, v in res["sims"].items()}
    val = res.get("validation")
    main = {k: ms[key] for k, key in _names(val).items() if key in ms}
    shipped = next((k for k in main if k.startswith("recommended")), None)
    boot = R.bootstrap(main, n)
    point = {k: R._stat(m, slice(None)) for k, m in main.items()}
    sweeps = []
    for name, base in (("recommended", "base_stock"), ("recommended", "base_stock_R"),
                       ("policy_daily", "base_stock"), ("policy", "base_stock")):
        if (name, R.TARGET) in ms and (base, R.TARGET) in ms:
            sweeps += [f"{name} vs {base}:", "", *_equal_fill(ms, days, name, base)[0], ""]
    out = [f"## {p.name}", "",
           f"{n} series (SKU × warehouse), held-out {days} days {res['start']:%Y-%m-%d} → "
           f"{res['end']:%Y-%m-%d}; lead times {sorted(set(p.lead.tolist()))} days; "
           f"ρ = {res['rho']:g}; replay + forecasts {seconds:.0f} s{p.note}.", "",
           *_target_lines(point, boot, ms, days, shipped),
           "### Policies (95 % bootstrap intervals over series, "
           f"{R.N_BOOT} resamples, paired)", "", *_policy_lines(point, boot), "",
           f"Costs: holding {R.HOLDING_RATE:.0%} of unit cost a year over the {days} "
           f"days, ordering {R.ORDERING_COST:g} per order. Review periods of the recommended "
           f"policy (first week): {_review_mix(res)}.", "",
           *_validation_lines(val),
           "### Equal fill rate: each policy vs base-stock across service levels", "",
           "Service level = fill-rate target for the policies, cycle service (z) for "
           "base-stock; holding cost interpolated linearly between the swept levels.", "",
           *sweeps, "### Stock-preparation accuracy", "", *_prep_lines(res), ""]
    return "\n".join(out)


def _review_mix(res: dict) -> str:
    r = res.get("review_days")
    if r is None or not len(r):
        return "n/a"
    vals, counts = np.unique(r, return_counts=True)
    return ", ".join(f"R = {v:g} d: {c} series" for v, c in zip(vals, counts, strict=True))
