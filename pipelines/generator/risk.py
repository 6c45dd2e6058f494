"""Risk and after-sales data derived from generated orders: the risk feed and refund requests.

Like the churn truth, the labels are kept apart (``_truth/...``) from what a model may see:

* ``risk_orders``: one row per order with what a risk board sees at checkout — account age,
  device and address ids, shipping coordinates, the largest line's SKU and quantity. A small
  share of orders is made abnormal in one of five patterns: a new account with a high-value
  order, a burst from one device and address, shipping far from the customer's history, a
  quantity far above the SKU's norm, and a *subtle* mix of all four at moderate strength that
  no single rule catches. ``_truth/abnormal_orders`` holds the label and pattern.
* ``refund_requests``: refund requests on delivered orders (reason, evidence flag, amount,
  days since delivery) and a per-customer credit score; ``_truth/refund_abuse`` holds the
  hidden abuse label, whose probability depends on the customer's history and the request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PATTERNS = ("new_account_high_value", "burst", "far_region", "bulk_quantity", "subtle")
REASONS = ("QUALITY_ISSUE", "DAMAGED", "WRONG_ITEM", "NOT_RECEIVED", "CHANGED_MIND",
           "NOT_AS_DESCRIBED")
EVIDENCE_REASONS = ("QUALITY_ISSUE", "DAMAGED")
KM_PER_DEG = 111.0


@dataclass
class RiskData:
    """Generated risk feed and refund requests with their hidden truth."""

    risk_orders: pd.DataFrame
    abnormal_truth: pd.DataFrame
    refund_requests: pd.DataFrame
    refund_truth: pd.DataFrame
    credit: pd.DataFrame


def _largest_lines(lines: pd.DataFrame) -> pd.DataFrame:
    prod = lines[lines["is_product"].astype(bool)]
    idx = prod.groupby("order_id")["line_amount"].idxmax()
    return prod.loc[idx, ["order_id", "sku", "quantity"]].rename(
        columns={"sku": "top_sku", "quantity": "top_quantity"})


def _base_feed(orders: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame,
               rng: np.random.Generator) -> pd.DataFrame:
    o = orders[~orders["is_guest"].astype(bool)].copy()
    c = customers[["customer_id", "signup_date", "lat", "lon"]].rename(
        columns={"lat": "home_lat", "lon": "home_lon"})
    o = o.merge(c, on="customer_id", how="inner").merge(_largest_lines(lines), on="order_id")
    n = len(o)
    cust_num = o["customer_id"].str[1:].astype(np.int64).to_numpy()
    second = rng.random(n) < 0.15  # a second phone for some orders
    o["device_id"] = [f"D{c * 2 + s:09d}" for c, s in zip(cust_num, second, strict=True)]
    o["address_id"] = [f"A{c:09d}" for c in cust_num]
    o["ship_lat"] = o["home_lat"].astype(float) + rng.normal(0, 0.05, n)
    o["ship_lon"] = o["home_lon"].astype(float) + rng.normal(0, 0.05, n)
    o["account_age_days"] = ((o["order_date"] - o["signup_date"]).dt.days).clip(lower=0)
    return o.sort_values("order_ts").reset_index(drop=True)


def _inject(feed: pd.DataFrame, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Make ``rate`` of the orders abnormal in place; returns the pattern per row ('' = normal)."""
    n = len(feed)
    pattern = np.array([""] * n, dtype=object)
    k = max(len(PATTERNS), int(round(rate * n)))
    rows = rng.choice(n, size=k, replace=False)
    kinds = rng.integers(len(PATTERNS), size=k)
    amt, qty = feed["total_amount"].to_numpy(float), feed["top_quantity"].to_numpy(np.int64)
    age = feed["account_age_days"].to_numpy(np.int64)
    lat, lon = feed["ship_lat"].to_numpy(float), feed["ship_lon"].to_numpy(float)
    dev, adr = feed["device_id"].to_numpy(object), feed["address_id"].to_numpy(object)
    ts = feed["order_ts"].to_numpy().copy()
    for r, kind in zip(rows, kinds, strict=True):
        name = PATTERNS[kind]
        pattern[r] = name
        if name == "new_account_high_value":
            age[r] = rng.integers(0, 3)
            amt[r] = max(amt[r], 300.0) * rng.uniform(5, 15)
        elif name == "burst":
            others = rng.choice(n, size=int(rng.integers(3, 7)), replace=False)
            others = others[pattern[others] == ""]
            pattern[others] = name
            dev[others], adr[others] = dev[r], adr[r]
            ts[others] = ts[r] + (rng.uniform(1, 50, len(others)) * 60e9).astype("timedelta64[ns]")
        elif name == "far_region":
            lat[r] += rng.choice([-1, 1]) * rng.uniform(8, 15)
            lon[r] += rng.choice([-1, 1]) * rng.uniform(8, 15)
        elif name == "bulk_quantity":
            qty[r] = qty[r] * int(rng.integers(10, 30)) + 10
        else:  # subtle: every signal moderate, none past a rule's threshold
            age[r] = rng.integers(8, 25)
            amt[r] *= rng.uniform(2.0, 3.0)
            lat[r] += rng.choice([-1, 1]) * rng.uniform(2.5, 5)
            qty[r] = qty[r] * 3 + 1
    feed["total_amount"], feed["top_quantity"] = np.round(amt, 2), qty
    feed["account_age_days"], feed["ship_lat"], feed["ship_lon"] = age, lat, lon
    feed["device_id"], feed["address_id"], feed["order_ts"] = dev, adr, ts
    return pattern


RISK_COLUMNS = ["tenant_id", "order_id", "customer_id", "order_ts", "order_date",
                "total_amount", "top_sku", "top_quantity", "account_age_days", "device_id",
                "address_id", "ship_lat", "ship_lon", "home_lat", "home_lon"]


def abnormal_orders(orders: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame,
                    rate: float = 0.01, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The risk feed (one row per known-customer order) and its truth (label + pattern)."""
    if not 0 < rate < 0.5:
        raise ValueError(f"rate must be in (0, 0.5), got {rate}")
    rng = np.random.default_rng([seed, 12, 1])
    feed = _base_feed(orders, lines, customers, rng)
    pattern = _inject(feed, rate, rng)
    feed = feed.sort_values("order_ts", kind="stable")
    truth = pd.DataFrame({"order_id": feed["order_id"].to_numpy(),
                          "is_abnormal": pattern[feed.index] != "",
                          "pattern": pattern[feed.index]})
    return feed[RISK_COLUMNS].reset_index(drop=True), truth


def _customer_traits(customers: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Hidden abuse propensity per customer and the (noisy) credit score a shop would see."""
    n = len(customers)
    tier_bonus = customers["tier"].map({"bronze": 0, "silver": 3, "gold": 6, "platinum": 9})
    z = rng.normal(0, 1, n)  # hidden: high = prone to abuse
    credit = 72 - 9 * z + tier_bonus.fillna(0).to_numpy() + rng.normal(0, 9, n)
    return pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(),
                         "credit_score": np.clip(np.round(credit), 0, 100).astype(np.int64),
                         "propensity": z})


def _request_rows(cand: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n, z = len(cand), cand["propensity"].to_numpy()
    abusive_lean = 1 / (1 + np.exp(-(z - 1.0) * 1.5))
    honest_p = np.array([0.26, 0.18, 0.14, 0.06, 0.24, 0.12])
    abuse_p = np.array([0.20, 0.14, 0.06, 0.30, 0.10, 0.20])
    reason = np.array([REASONS[rng.choice(6, p=abuse_p if rng.random() < a else honest_p)]
                       for a in abusive_lean])
    needs = np.isin(reason, EVIDENCE_REASONS)
    evidence = rng.random(n) < np.where(needs, 0.85 - 0.45 * abusive_lean, 0.3)
    share = np.where(rng.random(n) < 0.5 + 0.4 * abusive_lean, 1.0, rng.uniform(0.1, 0.9, n))
    amount = np.round(cand["total_amount"].to_numpy(float) * share, 2)
    days = np.minimum(30, rng.gamma(2.0, 2.0 + 4.0 * abusive_lean))
    return pd.DataFrame({"reason": reason, "has_evidence": evidence, "amount": amount,
                         "days_since_delivery": np.round(days, 1)})


def refund_requests(orders: pd.DataFrame, customers: pd.DataFrame, rate: float = 0.06,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Refund requests on delivered orders, the credit table and the hidden abuse truth.

    The abuse probability grows with the customer's hidden propensity (which the credit
    score only partly reveals) and the customer's earlier requests, and depends on the
    reason, evidence, refunded share of the order and lateness of the request.
    """
    rng = np.random.default_rng([seed, 12, 2])
    traits = _customer_traits(customers, rng)
    done = orders[orders["status"].isin(["delivered", "returned"])
                  & ~orders["is_guest"].astype(bool)]
    cand = done.merge(traits, on="customer_id")
    # abuse-prone customers ask more often
    p_req = rate * np.exp(0.6 * cand["propensity"].to_numpy()) / np.exp(0.18)
    cand = cand[rng.random(len(cand)) < np.clip(p_req, 0, 0.9)].reset_index(drop=True)
    req = pd.concat([cand[["tenant_id", "order_id", "customer_id", "order_ts",
                           "total_amount", "propensity"]], _request_rows(cand, rng)], axis=1)
    hours = (req["days_since_delivery"] + 2) * 24
    req["request_ts"] = req["order_ts"] + pd.to_timedelta(hours, unit="h")
    req = req.sort_values("request_ts", kind="stable").reset_index(drop=True)
    prior = req.groupby("customer_id").cumcount().to_numpy()
    logit = (-3.9 + 1.1 * req["propensity"] + 0.35 * np.minimum(prior, 4)
             + req["reason"].map({"NOT_RECEIVED": 1.0, "CHANGED_MIND": -0.8, "WRONG_ITEM": -0.4,
                                  "QUALITY_ISSUE": 0.2, "DAMAGED": 0.2,
                                  "NOT_AS_DESCRIBED": 0.4})
             - 1.1 * req["has_evidence"] + 0.9 * (req["amount"] >= req["total_amount"] - 0.01)
             + 0.06 * req["days_since_delivery"] + 0.25 * np.log1p(req["amount"] / 100))
    abusive = rng.random(len(req)) < 1 / (1 + np.exp(-logit.to_numpy(float)))
    req["request_id"] = [f"R{i:09d}" for i in range(len(req))]
    truth = pd.DataFrame({"request_id": req["request_id"], "is_abuse": abusive})
    cols = ["tenant_id", "request_id", "order_id", "customer_id", "request_ts", "reason",
            "has_evidence", "amount", "days_since_delivery"]
    return req[cols], traits[["customer_id", "credit_score"]], truth


def generate_risk(orders: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame,
                  seed: int = 0, abnormal_rate: float = 0.01,
                  refund_rate: float = 0.06) -> RiskData:
    """All risk tables derived from one generated dataset."""
    feed, abnormal = abnormal_orders(orders, lines, customers, abnormal_rate, seed)
    req, credit, truth = refund_requests(orders, customers, refund_rate, seed)
    return RiskData(feed, abnormal, req, truth, credit)


RISK_TABLES = {"risk_orders": "risk/risk_orders.parquet",
               "refund_requests": "risk/refund_requests.parquet",
               "customer_credit": "risk/customer_credit.parquet",
               "abnormal_truth": "_truth/abnormal_orders.parquet",
               "refund_truth": "_truth/refund_abuse.parquet"}


def write_risk_tables(data: RiskData, root: str) -> dict[str, int]:
    """Write the risk tables and their truth under ``root`` (atomic single files)."""
    from oms.lake import write_frame

    frames = {"risk_orders": data.risk_orders, "refund_requests": data.refund_requests,
              "customer_credit": data.credit, "abnormal_truth": data.abnormal_truth,
              "refund_truth": data.refund_truth}
    for name, df in frames.items():
        write_frame(df, f"{str(root).rstrip('/')}/{RISK_TABLES[name]}")
    return {k: len(v) for k, v in frames.items()}
