"""Refund auto-approval: the design's rule as baseline and a calibrated abuse-probability model.

The model approves automatically only when the calibrated abuse probability is low: below
``max_probability`` and with an expected abusive amount (probability × amount) below a
threshold chosen on validation data for a target loss rate (abusive amount auto-approved /
all requested amount). Ranking by expected loss rather than probability approves the most
requests per unit of loss; everything else goes to human review with its reason. Bad input (an
unknown order, an order never delivered, a non-positive or excessive amount) is always an
explicit human review with the reason — never a silent approval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

REASONS = ("QUALITY_ISSUE", "DAMAGED", "WRONG_ITEM", "NOT_RECEIVED", "CHANGED_MIND",
           "NOT_AS_DESCRIBED")
EVIDENCE_REASONS = ("QUALITY_ISSUE", "DAMAGED")
APPROVE, REVIEW = "auto_approve", "human_review"
DELIVERED = ("delivered", "returned")
FEATURES = ["credit_score", "log_amount", "amount_share", "full_refund", "has_evidence",
            "evidence_missing", "days_since_delivery", "prior_requests", "prior_orders",
            "returned_share", "account_age_days", *[f"reason_{r}" for r in REASONS]]


def refund_features(requests: pd.DataFrame, orders: pd.DataFrame, customers: pd.DataFrame,
                    credit: pd.DataFrame) -> pd.DataFrame:
    """Join requests to their order, customer and credit; add history known at request time.

    Returns the requests with ``FEATURES`` plus ``order_found``, ``order_status`` and
    ``order_amount`` (for the input checks), in the requests' order.
    """
    o = orders[["order_id", "status", "total_amount", "order_ts"]].rename(
        columns={"status": "order_status", "total_amount": "order_amount"})
    d = requests.merge(o, on="order_id", how="left", indicator=True)
    d["order_found"] = d["_merge"] == "both"
    d = d.drop(columns="_merge").merge(credit, on="customer_id", how="left")
    d = d.merge(customers[["customer_id", "signup_date"]], on="customer_id", how="left")
    d["credit_score"] = d["credit_score"].astype(float).fillna(0.0)
    amount, total = d["amount"].astype(float), d["order_amount"].astype(float)
    d["log_amount"] = np.log1p(amount.clip(lower=0))
    d["amount_share"] = (amount / total.where(total > 0)).fillna(1.0).clip(0, 2)
    d["full_refund"] = (d["amount_share"] >= 0.999).astype(float)
    d["has_evidence"] = d["has_evidence"].astype(bool).astype(float)
    needs = d["reason"].isin(EVIDENCE_REASONS)
    d["evidence_missing"] = (needs & (d["has_evidence"] == 0)).astype(float)
    for r in REASONS:
        d[f"reason_{r}"] = (d["reason"] == r).astype(float)
    d["prior_requests"] = d.sort_values("request_ts").groupby("customer_id").cumcount()
    d = d.join(_order_history(d, orders))
    age = pd.to_datetime(d["request_ts"]).dt.tz_localize(None) - d["signup_date"]
    d["account_age_days"] = age.dt.days.astype(float).fillna(0).clip(lower=0)
    return d


def _order_history(d: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """Orders and returned share of each customer before the request (as-of join)."""
    o = orders.loc[orders["customer_id"].notna(), ["customer_id", "order_ts", "status"]]
    o = o.sort_values("order_ts")
    o = o.assign(n=o.groupby("customer_id").cumcount() + 1,
                 r=(o["status"] == "returned").astype(int).groupby(o["customer_id"]).cumsum())
    left = d[["customer_id", "request_ts"]].reset_index().sort_values("request_ts")
    left["request_ts"] = pd.to_datetime(left["request_ts"], utc=True)
    left["customer_id"] = left["customer_id"].astype(str)
    o["customer_id"] = o["customer_id"].astype(str)
    o["order_ts"] = pd.to_datetime(o["order_ts"], utc=True)
    m = pd.merge_asof(left, o, left_on="request_ts", right_on="order_ts", by="customer_id")
    m = m.set_index("index").sort_index()
    n = m["n"].fillna(0).astype(float)
    return pd.DataFrame({"prior_orders": n,
                         "returned_share": (m["r"].fillna(0) / n.where(n > 0)).fillna(0.0)},
                        index=d.index)


def input_problems(d: pd.DataFrame) -> pd.Series:
    """Reason a request cannot be decided automatically ('' when the input is fine)."""
    amount = pd.to_numeric(d["amount"], errors="coerce")
    out = pd.Series("", index=d.index, dtype=object)
    out[amount > d["order_amount"].astype(float) + 0.01] = "amount exceeds the order value"
    out[~d["order_status"].isin(DELIVERED)] = "order was never delivered"
    out[~(amount > 0)] = "amount is not positive"
    out[~d["order_found"].astype(bool)] = "unknown order"
    return out


def design_rule(d: pd.DataFrame) -> pd.DataFrame:
    """The design's rule: credit ≥ 60, amount ≤ 500, evidence for QUALITY_ISSUE / DAMAGED."""
    bad = input_problems(d)
    credit_ok = d["credit_score"] >= 60
    amount_ok = d["amount"].astype(float) <= 500
    evidence_ok = d["evidence_missing"] == 0
    ok = credit_ok & amount_ok & evidence_ok & (bad == "")
    why = np.select([bad != "", ~credit_ok, ~amount_ok, ~evidence_ok],
                    ["needs human review: " + bad, "credit score below 60",
                     "amount above 500", "evidence required for this reason"],
                    "rule: credit ≥ 60, amount ≤ 500, evidence ok")
    return pd.DataFrame({"request_id": d["request_id"].to_numpy(),
                         "decision": np.where(ok, APPROVE, REVIEW), "reason": why})


def loss_rate(decision: np.ndarray, abuse: np.ndarray, amount: np.ndarray) -> float:
    """Abusive amount auto-approved as a share of all requested amount."""
    approved = np.asarray(decision) == APPROVE
    return float((amount * (approved & abuse)).sum() / amount.sum())


class RefundApprover(BaseEstimator):
    """Calibrated abuse model; auto-approves below a threshold set for a target loss rate.

    ``fit`` trains on the earlier ``1 - validation_fraction`` of the requests (rows must be
    in time order) and picks, on the later part, the largest approval threshold whose loss
    rate stays at or below the target. ``threshold_`` is in money (expected abusive amount
    per request).

    With ``target_loss_rate=None`` (``"rule"`` mode) the target is the design rule's loss on
    the *same* validation rows, paired: on each bootstrap resample of the validation rows the
    threshold is the largest keeping the model's loss ≤ the rule's loss on that resample, and
    ``threshold_`` is the ``caution`` quantile of those thresholds — so the model's loss is at
    or below the rule's in about ``1 - caution`` of the resamples. ``target_`` records the
    rule's validation loss rate.

    Args:
        target_loss_rate: Allowed abusive amount approved / all requested amount, or None
            for "no more than the design rule on the validation rows" (paired).
        max_probability: Never auto-approve at or above this abuse probability.
        caution: The threshold is this quantile of the thresholds chosen on 200 bootstrap
            resamples of the validation rows (0.5 = median; lower = safer against noise).
        validation_fraction: Latest share of requests used to choose the threshold.
        max_iter: Boosting iterations.
        random_state: Seed.
    """

    def __init__(self, target_loss_rate: float = 0.01, max_probability: float = 0.5,
                 caution: float = 0.2, validation_fraction: float = 0.3, max_iter: int = 200,
                 random_state: int = 0) -> None:
        self.target_loss_rate = target_loss_rate
        self.max_probability = max_probability
        self.caution = caution
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, d: pd.DataFrame, y) -> RefundApprover:
        """Fit on a ``refund_features`` frame and abuse labels ``y``."""
        y = np.asarray(y, dtype=int)
        ok = (input_problems(d) == "").to_numpy()
        X, y, amount = d.loc[ok, FEATURES].to_numpy(float), y[ok], d.loc[ok, "amount"]
        cut = int(len(X) * (1 - self.validation_fraction))
        if cut < 50 or len(X) - cut < 20 or len(set(y[:cut])) < 2:
            raise ValueError(f"too few valid requests with both labels to fit ({len(X)})")
        base = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.05,
                                              max_depth=4, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(base, method="isotonic", cv=3).fit(X[:cut], y[:cut])
        p = self.model_.predict_proba(X[cut:])[:, 1]
        amt = amount.to_numpy(float)[cut:]
        cost = np.where(p < self.max_probability, p * amt, np.inf)
        rule = (design_rule(d.loc[ok].iloc[cut:])["decision"] == APPROVE).to_numpy()
        self.target_ = (float(self.target_loss_rate) if self.target_loss_rate is not None
                        else loss_rate(np.where(rule, APPROVE, REVIEW), y[cut:].astype(bool),
                                       amt))
        self.threshold_ = _robust_threshold(
            cost, y[cut:].astype(bool), amt, self.target_loss_rate, self.caution,
            self.random_state, rule_approved=rule)
        return self

    def predict_proba(self, d: pd.DataFrame) -> np.ndarray:
        """Calibrated abuse probability (column 1) per request."""
        check_is_fitted(self, "threshold_")
        p = self.model_.predict_proba(d[FEATURES].to_numpy(float))[:, 1]
        return np.column_stack([1 - p, p])

    def decide(self, d: pd.DataFrame) -> pd.DataFrame:
        """``request_id, p_abuse, decision, reason`` per request."""
        p = self.predict_proba(d)[:, 1]
        amount = pd.to_numeric(d["amount"], errors="coerce").to_numpy(float)
        loss = p * amount
        bad = input_problems(d).to_numpy()
        ok = (bad == "") & (p < self.max_probability) & (loss < self.threshold_)
        why = [f"needs human review: {b}" if b else self._reason(x, e, a)
               for b, x, e, a in zip(bad, p, loss, ok, strict=True)]
        return pd.DataFrame({"request_id": d["request_id"].to_numpy(), "p_abuse": p,
                             "expected_loss": loss, "decision": np.where(ok, APPROVE, REVIEW),
                             "reason": why})

    def _reason(self, p: float, loss: float, approved: bool) -> str:
        t = self.threshold_
        if approved:
            return f"auto-approved: abuse probability {p:.3f}, expected loss {loss:.2f} < {t:.2f}"
        if p >= self.max_probability:
            return f"human review: likely abuse (probability {p:.3f})"
        return f"human review: uncertain (probability {p:.3f}, expected loss {loss:.2f} ≥ {t:.2f})"


def _robust_threshold(cost: np.ndarray, abuse: np.ndarray, amount: np.ndarray,
                      target: float | None, caution: float, seed: int, n_boot: int = 200,
                      rule_approved: np.ndarray | None = None) -> float:
    """``caution`` quantile of the loss-target thresholds over bootstrap resamples.

    ``target=None``: each resample's target is the rule's loss on that resample (paired).
    """
    rng = np.random.default_rng(seed)
    n = len(cost)
    ts = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        goal = target
        if goal is None:
            lost = (amount[i] * (abuse[i] & rule_approved[i])).sum()
            goal = float(lost / amount[i].sum())
        ts.append(_pick_threshold(cost[i], abuse[i], amount[i], goal))
    return float(np.quantile(ts, caution))


def _pick_threshold(p: np.ndarray, abuse: np.ndarray, amount: np.ndarray,
                    target: float) -> float:
    """Largest t such that approving ``p < t`` keeps the loss rate ≤ target (0: none)."""
    order = np.argsort(p, kind="stable")
    loss = np.cumsum((amount * abuse)[order]) / amount.sum()
    ok = np.flatnonzero(loss <= target)
    ok = ok[np.isfinite(p[order][ok])]
    if len(ok) == 0:
        return 0.0
    k = ok[-1]  # approving the k+1 lowest-cost requests is within target
    nxt = p[order[k + 1]] if k + 1 < len(p) else np.inf
    if not np.isfinite(nxt):
        return float(p[order[k]] * 1.0001 + 1e-9)
    return float((p[order[k]] + nxt) / 2) if nxt > p[order[k]] else float(p[order[k]])
