"""Machinery of ``bench/inventory.py``: panel, weekly forecasts, policy parameters, replay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.forecast import SeasonalNaive
from models.inventory import (
    base_stock_level,
    daily_samples,
    eoq,
    leadtime,
    reorder_levels,
    simulate,
)
from models.inventory.quantile_gbm import LeadTimeDemandGBM
from models.inventory.review import MAX_REVIEW_DAYS, order_up_to, review_mask, review_period

SERVICE_LEVELS = (0.80, 0.85, 0.90, 0.925, 0.95, 0.98, 0.99, 0.995)
TARGET = 0.95
LEVELS = (50, 80, 95, 99)  # forecast intervals read as quantile knots
ORDERING_COST, HOLDING_RATE, MAX_ORDER_DAYS = 10.0, 0.25, 60
N_BOOT = 2000
PREP_UNITS = 1.0  # unit-tolerant preparation accuracy: excess ≤ max(20 %, 1 unit)


@dataclass
class Panel:
    """Daily demand matrix of a set of series with lead times and unit costs."""

    name: str
    ids: np.ndarray
    dates: pd.DatetimeIndex
    Y: np.ndarray  # (n, T)
    lead: np.ndarray  # (n,) int
    cost: np.ndarray  # (n,) float
    note: str = ""  # what was done to the data (e.g. bulk orders quarantined)

    @classmethod
    def from_long(cls, hist: pd.DataFrame, lead: pd.Series, cost: pd.Series,
                  name: str) -> Panel:
        wide = hist.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum")
        wide = wide.fillna(0.0)
        ids = wide.index.astype(str).to_numpy()
        return cls(name=name, ids=ids, dates=pd.DatetimeIndex(wide.columns),
                   Y=wide.to_numpy(float), lead=lead.reindex(ids).fillna(7).to_numpy(int),
                   cost=cost.reindex(ids).to_numpy(float))

    def require_history(self, day: int) -> Panel:
        """Only the series with a sale before absolute day ``day`` (forecastable from there)."""
        keep = (self.Y[:, :day] > 0).any(axis=1)
        return Panel(self.name, self.ids[keep], self.dates, self.Y[keep], self.lead[keep],
                     self.cost[keep], self.note)

    def long(self, upto: int) -> pd.DataFrame:
        """Long frame of days ``0..upto`` (inclusive), each series from its first sale."""
        n, T = self.Y[:, : upto + 1].shape
        df = pd.DataFrame({"unique_id": np.repeat(self.ids, T),
                           "ds": np.tile(self.dates[:T], n), "y": self.Y[:, :T].ravel()})
        first = df[df["y"] > 0].groupby("unique_id")["ds"].min()
        return df[df["ds"] >= df["unique_id"].map(first)]


def _batch(mean: float, cost: float) -> float:
    q = float(eoq(mean * 365, ORDERING_COST, HOLDING_RATE * cost)) if cost > 0 else 7 * mean
    return float(np.ceil(min(max(q, mean, 1.0), max(MAX_ORDER_DAYS * mean, 1.0))))


def _refresh(p: Panel, model: SeasonalNaive, day: int, n_samples: int,
             rho: float = 0.25) -> dict[str, np.ndarray]:
    """Policy parameters of every series from the history up to absolute day ``day``."""
    H = int(p.lead.max()) + 8
    fc = model.predict(H, level=LEVELS, new_df=p.long(day))
    by_id = {u: g for u, g in fc.groupby("unique_id", sort=False)}
    recent = p.Y[:, max(0, day - 90): day + 1]
    n, k = len(p.ids), len(SERVICE_LEVELS)
    out = {key: np.zeros((k, n)) for key in ("rop", "base", "level")}
    out |= {key: np.zeros(n) for key in PER_SERIES}
    for i, u in enumerate(p.ids):
        g = by_id[u].reset_index(drop=True)
        daily = daily_samples(g, n_samples, rho=rho, seed=i)
        L = int(p.lead[i])
        out["q"][i] = _batch(float(daily.mean()), p.cost[i])
        out["rop"][:, i] = reorder_levels(daily, L + 1, SERVICE_LEVELS, "fill_rate",
                                          out["q"][i])
        # the same quantile samples as a daily order-up-to level (no EOQ batch)
        out["level"][:, i] = reorder_levels(daily, L + 1, SERVICE_LEVELS, "fill_rate",
                                            max(float(daily.mean()), 1e-3))
        out["rule"][i] = 1.2 * g["yhat"].iloc[: L + 7].sum()
        out["prep_rule"][i] = 1.2 * g["yhat"].iloc[:7].sum()
        out["prep_policy"][i] = np.quantile(daily[:, :7].sum(axis=1), TARGET)
        out["prep_best"][i] = leadtime.accuracy_optimal_stock(daily[:, :7].sum(axis=1))
        out["prep_best_u"][i] = leadtime.accuracy_optimal_stock(daily[:, :7].sum(axis=1),
                                                                units=PREP_UNITS)
        out["base"][:, i] = [base_stock_level(recent[i].mean(), recent[i].std(), L + 1, s)
                             for s in SERVICE_LEVELS]
    return out


PER_SERIES = ("q", "rule", "prep_rule", "prep_policy", "prep_best", "prep_best_u")
REVIEW_CAPS = (1, 2, 3, MAX_REVIEW_DAYS)  # caps on R compared on the validation quarter


def _refresh_direct(p: Panel, model: LeadTimeDemandGBM, day: int, n_samples: int,
                    caps: tuple[int, ...] = REVIEW_CAPS) -> dict[str, np.ndarray]:
    """Policy parameters from the direct lead-time-demand quantiles (no daily sampling).

    Protection-period (L + 1 days, and L + R for the recommended policy), week and L + 7 day
    totals are predicted directly; each total's distribution is sampled from its quantile
    knots (interpolated, exponential upper tail); the rule multiplies the mean model's
    forecast. R per series comes from its EOQ cycle on the last 91 days' mean demand.
    """
    ids = p.ids
    recent = p.Y[:, max(0, day - 90): day + 1]
    R = {c: review_period(recent.mean(axis=1), p.cost, ORDERING_COST, HOLDING_RATE, c)
         for c in caps}
    fc = {k: model.predict_matrix(ids, p.Y, p.dates, day, dict(zip(ids, P, strict=True)))
          for k, P in (("prot", p.lead + 1), ("week", np.full(len(ids), 7)),
                       ("rule", p.lead + 7), *((f"rec{c}", p.lead + R[c]) for c in caps))}
    n, k = len(ids), len(SERVICE_LEVELS)
    out = {key: np.zeros((k, n)) for key in ("rop", "base", "level")}
    out |= {f"{key}{c}": np.zeros((k, n)) for key in ("rec", "base_r") for c in caps}
    out |= {key: np.zeros(n) for key in PER_SERIES}
    out["week_samples"] = np.zeros((n, n_samples))
    out |= {f"R{c}": R[c].astype(float) for c in caps}
    for i in range(n):
        L = int(p.lead[i])
        total = daily_samples(fc["prot"].iloc[[i]], n_samples, rho=0.0, seed=i)[:, 0]
        for c in caps:
            tot = daily_samples(fc[f"rec{c}"].iloc[[i]], n_samples, rho=0.0, seed=i)[:, 0]
            r = int(R[c][i])
            out[f"rec{c}"][:, i] = [order_up_to(tot, sl, r, L + r) for sl in SERVICE_LEVELS]
            out[f"base_r{c}"][:, i] = [base_stock_level(recent[i].mean(), recent[i].std(),
                                                        L + r, sl) for sl in SERVICE_LEVELS]
        week = daily_samples(fc["week"].iloc[[i]], n_samples, rho=0.0, seed=i)[:, 0]
        mean_day = float(fc["prot"]["mean"].iat[i]) / (L + 1)
        out["q"][i] = _batch(mean_day, p.cost[i])
        for j, sl in enumerate(SERVICE_LEVELS):
            out["rop"][j, i] = leadtime.reorder_point(total, sl, "fill_rate", out["q"][i])
            out["level"][j, i] = leadtime.reorder_point(total, sl, "fill_rate",
                                                        max(mean_day, 1e-3))
        out["rule"][i] = 1.2 * float(fc["rule"]["mean"].iat[i])
        out["prep_rule"][i] = 1.2 * float(fc["week"]["mean"].iat[i])
        out["prep_policy"][i] = np.quantile(week, TARGET)
        out["prep_best"][i] = leadtime.accuracy_optimal_stock(week)
        out["prep_best_u"][i] = leadtime.accuracy_optimal_stock(week, units=PREP_UNITS)
        out["week_samples"][i] = week
        out["base"][:, i] = [base_stock_level(recent[i].mean(), recent[i].std(), L + 1, s)
                             for s in SERVICE_LEVELS]
    return out


def _rule_adjust(t: int, stock: np.ndarray, sales: np.ndarray) -> np.ndarray:
    """× 0.8 where the simulated 30-day turnover (sales / average stock) is below 0.5."""
    w = min(stock.shape[1], 30)
    avg = stock[:, -w:].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        turn = np.where(avg > 0, sales[:, -w:].sum(axis=1) * 30 / w / avg, np.inf)
    return np.where(turn < 0.5, 0.8, 1.0)


def make_forecaster(kind: str, horizon: int,  # noqa: ANN201 - a project forecaster
                    target_cap: float | None = None):
    """``gbm_quantile`` (direct lead-time quantiles), ``seasonal_naive`` or ``lstm``."""
    if kind == "gbm_quantile":  # lighter than the defaults: the bench shares 2 cores
        return LeadTimeDemandGBM(max_period=horizon, origin_step=3, n_estimators=100,
                                 target_cap=target_cap)
    if kind == "seasonal_naive":
        return SeasonalNaive()
    from pipelines.train_forecast import make_model

    return make_model(kind, "sku", horizon, [])


def run_backtest(p: Panel, test_days: int, n_samples: int,
                 forecaster: str = "seasonal_naive", rho: float = 0.25, skip: int = 0,
                 model=None, caps: tuple[int, ...] = REVIEW_CAPS,  # noqa: ANN001
                 chosen: int | None = None) -> dict:
    """Weekly forecasts, then replay every policy over ``test_days`` days.

    The period ends ``skip`` days before the data's end (``skip`` > 0: a validation period).
    ``model``: a forecaster already fitted on data before the period (else fitted here).
    ``caps``: caps on the review period R replayed (``recommended_R<cap>``); ``chosen``: the
    cap (chosen on the validation quarter) whose runs are also keyed ``recommended``.
    """
    T = p.Y.shape[1] - skip
    start = T - test_days
    if model is None:
        model = make_forecaster(forecaster, int(p.lead.max()) + 8).fit(p.long(start - 1))
    refresh = list(range(-1, test_days, 7))
    if forecaster == "gbm_quantile":
        params = [_refresh_direct(p, model, start + k, n_samples, caps) for k in refresh]
    else:
        params = [_refresh(p, model, start + k, n_samples, rho) for k in refresh]
    which = np.array([(t + 1) // 7 for t in range(test_days)])  # params in force on day t
    Yt = p.Y[:, start:T]

    def arr(key: str, j: int | None = None) -> np.ndarray:
        return np.stack([params[w][key] if j is None else params[w][key][j] for w in which], 1)

    sims, n = {}, len(p.ids)
    for j, sl in enumerate(SERVICE_LEVELS):
        s, q = arr("rop", j), arr("q")
        sims[("policy", sl)] = simulate(Yt, p.lead, s, s + q, np.ones(test_days, bool),
                                        params[0]["rop"][j] + params[0]["q"])
        lv = arr("level", j)
        sims[("policy_daily", sl)] = simulate(Yt, p.lead, lv - 1, lv, np.ones(test_days, bool),
                                              params[0]["level"][j])
        for c in caps if forecaster == "gbm_quantile" else ():  # (R, S), R = EOQ cycle
            rv = arr(f"rec{c}", j)
            mask = review_mask(p.ids, p.dates[start:T], arr(f"R{c}").astype(int))
            sims[(f"recommended_R{c}", sl)] = simulate(Yt, p.lead, rv - 1, rv, mask,
                                                       params[0][f"rec{c}"][j])
            br = arr(f"base_r{c}", j)  # base-stock on the same review calendar
            sims[(f"base_stock_R{c}", sl)] = simulate(Yt, p.lead, br - 1, br, mask,
                                                      params[0][f"base_r{c}"][j])
            if c == chosen:
                sims[("recommended", sl)] = sims[(f"recommended_R{c}", sl)]
                sims[("base_stock_R", sl)] = sims[(f"base_stock_R{c}", sl)]
        b = arr("base", j)
        sims[("base_stock", sl)] = simulate(Yt, p.lead, b - 1, b, np.ones(test_days, bool),
                                            params[0]["base"][j])
    r = arr("rule")
    weekly = np.array([(t + 1) % 7 == 0 for t in range(test_days)])
    sims[("rule", None)] = simulate(Yt, p.lead, r, r, weekly, params[0]["rule"],
                                    adjust=_rule_adjust)
    prep = _prep_accuracy(params, refresh, Yt)
    skus = np.array([str(u).split("@")[0] for u in p.ids])
    prep_sku = _prep_accuracy(params, refresh, Yt, skus) if len(set(skus)) < len(skus) else None
    return {"sims": sims, "prep": prep, "prep_sku": prep_sku, "n": n, "days": test_days,
            "review_days": params[0].get(f"R{chosen}"), "cap": chosen,
            "start": p.dates[start], "end": p.dates[T - 1], "rho": rho}


PREP_KEYS = {"rule": "prep_rule", "policy": "prep_policy", "best": "prep_best",
             "best_u": "prep_best_u"}


def _prep_accuracy(params: list[dict], refresh: list[int], Yt: np.ndarray,
                   groups: np.ndarray | None = None) -> dict[str, tuple]:
    """Stock-preparation accuracy of each preparation, strict and unit-tolerant.

    A SKU-week (demand > 0) is a hit when the stock prepared for it covered its demand with
    at most 20 % excess (strict), or at most ``max(20 % of demand, 1 unit)`` (``_u`` keys,
    unit-tolerant). With ``groups`` (one label per series) demand and preparation are summed
    per group first (SKU level); the accuracy-optimal preparations are then recomputed from
    the group's summed week samples.
    """
    hits: dict[str, list] = {f"{k}{t}": [] for k in PREP_KEYS for t in ("", "|u")}
    codes = np.unique(groups, return_inverse=True)[1] if groups is not None else None

    def agg(x: np.ndarray) -> np.ndarray:
        if codes is None:
            return x
        if x.ndim == 1:
            return np.bincount(codes, weights=x)
        return np.stack([np.bincount(codes, weights=c) for c in x.T], axis=1)

    for w, k in enumerate(refresh):
        if k + 8 > Yt.shape[1]:
            break
        d = agg(Yt[:, k + 1: k + 8].sum(axis=1))
        pos = d > 0
        prep = {name: agg(params[w][key]) for name, key in PREP_KEYS.items()}
        if codes is not None and "week_samples" in params[w]:
            wk = agg(params[w]["week_samples"])
            prep["best"] = np.array([leadtime.accuracy_optimal_stock(r) for r in wk])
            prep["best_u"] = np.array([leadtime.accuracy_optimal_stock(r, units=PREP_UNITS)
                                       for r in wk])
        for name, x in prep.items():
            hits[name].append(leadtime.prepared_hit(x, d)[pos])
            hits[f"{name}|u"].append(leadtime.prepared_hit(x, d, units=PREP_UNITS)[pos])
    return {k: (float(np.concatenate(v).mean()), int(sum(len(x) for x in v)))
            for k, v in hits.items()}


def _metrics(sim, cost: np.ndarray, days: int) -> dict[str, np.ndarray]:
    inv = sim.avg_on_hand * np.nan_to_num(cost)
    return {"demand": sim.demand, "sold": sim.sold, "out": sim.stockout_days, "inv": inv,
            "orders": sim.orders, "hold": inv * HOLDING_RATE * days / 365,
            "order_cost": sim.orders * ORDERING_COST}


def _stat(m: dict[str, np.ndarray], idx: np.ndarray | slice) -> dict[str, float]:
    return {"fill": m["sold"][idx].sum() / max(m["demand"][idx].sum(), 1e-9),
            "out": m["out"][idx].mean(), "inv": m["inv"][idx].sum(),
            "orders": m["orders"][idx].sum(), "hold": m["hold"][idx].sum(),
            "order_cost": m["order_cost"][idx].sum()}


def bootstrap(ms: dict[str, dict], n: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap over series (paired: the same resample for every policy)."""
    rng = np.random.default_rng(seed)
    draws = {k: {s: [] for s in ("fill", "out", "inv", "orders", "hold", "order_cost")}
             for k in ms}
    for _ in range(N_BOOT):
        idx = rng.integers(0, n, n)
        for k, m in ms.items():
            for s, v in _stat(m, idx).items():
                draws[k][s].append(v)
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in draws.items()}


def validate(p: Panel, test_days: int, n_samples: int, forecaster: str,
             rhos: tuple[float, ...] = (0.0, 0.25, 0.5), model=None) -> dict:  # noqa: ANN001
    """Choose ρ, calibrated service targets and the cap on R on the quarter *before* the test.

    ρ: the least average inventory among the ρ whose policy reaches a 95 % fill at the 95 %
    target (else the highest fill). Calibrated level: the smallest swept target whose
    validation fill reaches 95 % with that ρ. Cap on R (recommended policy): among the caps
    whose calibrated run holds at least 15 % less inventory value than the rule, the one with
    the lowest total cost (holding + ordering); if none does, the one with the least
    inventory. The held-out quarter is not looked at.
    """
    rows, caps = [], []
    for rho in rhos:
        res = run_backtest(p, test_days, n_samples, forecaster, rho, skip=test_days,
                           model=model)
        rule = _stat(_metrics(res["sims"][("rule", None)], p.cost, test_days), slice(None))
        for sl in SERVICE_LEVELS:
            st = _stat(_metrics(res["sims"][("policy", sl)], p.cost, test_days), slice(None))
            dd = _stat(_metrics(res["sims"][("policy_daily", sl)], p.cost, test_days),
                       slice(None))
            rows.append({"rho": rho, "target": sl, "fill": st["fill"], "inv": st["inv"],
                         "daily_fill": dd["fill"], "daily_inv": dd["inv"]})
            for c in REVIEW_CAPS:
                if (f"recommended_R{c}", sl) in res["sims"]:
                    rc = _stat(_metrics(res["sims"][(f"recommended_R{c}", sl)], p.cost,
                                        test_days), slice(None))
                    caps.append({"cap": c, "target": sl, "fill": rc["fill"], "inv": rc["inv"],
                                 "orders": rc["orders"], "cost": rc["hold"] + rc["order_cost"],
                                 "rule_inv": rule["inv"]})
    t = pd.DataFrame(rows)
    at = t[t["target"] == TARGET]
    ok = at[at["fill"] >= TARGET]
    rho = float((ok.nsmallest(1, "inv") if len(ok) else at.nlargest(1, "fill"))["rho"].iloc[0])
    mine = t[(t["rho"] == rho) & (t["fill"] >= TARGET)]
    level = float(mine["target"].min()) if len(mine) else max(SERVICE_LEVELS)
    daily = t[(t["rho"] == rho) & (t["daily_fill"] >= TARGET)]
    daily_level = float(daily["target"].min()) if len(daily) else max(SERVICE_LEVELS)
    out = {"table": t, "rho": rho, "level": level, "daily_level": daily_level,
           "rec_level": None, "cap": None, "caps": pd.DataFrame(caps),
           "start": res["start"], "end": res["end"]}
    return out | _choose_cap(out["caps"])


def _choose_cap(caps: pd.DataFrame) -> dict:
    """Calibrated target per cap, then the cap (see :func:`validate`)."""
    if caps.empty:
        return {}
    best = []
    for _, g in caps.groupby("cap"):
        hit = g[g["fill"] >= TARGET]
        best.append(hit.nsmallest(1, "target") if len(hit) else g.nlargest(1, "target"))
    b = pd.concat(best).assign(cut=lambda d: 1 - d["inv"] / d["rule_inv"])
    ok = b[(b["cut"] >= 0.15) & (b["fill"] >= TARGET)]
    pick = ok.nsmallest(1, "cost") if len(ok) else b.nsmallest(1, "inv")
    return {"cap": int(pick["cap"].iloc[0]), "rec_level": float(pick["target"].iloc[0]),
            "cap_table": b}


from bench.inventory_tables import report_tables  # noqa: E402,F401  (re-export)
