"""Refund auto-approval: the design's rule as baseline and a calibrated abuse-probability model.

The model approves automatically only when the calibrated abuse probability is low. The
shipped policy (``rule_guarded``) approves what the design rule approves unless the model finds
it suspicious, plus requests the rule refuses whose expected abusive amount (probability ×
amount) is small; its two thresholds maximise the approved share on validation data under a
loss constraint with a margin of two bootstrap standard errors (model loss ≤ the rule's loss on
the same rows, or ≤ a target loss rate). Everything else goes to human review with its reason.
Bad input (an unknown order, an order never delivered, a non-positive or excessive amount) is
always an explicit human review with the reason — never a silent approval.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Calibrated abuse model; auto-approves within a loss budget chosen on validation data.

    ``fit`` trains an isotonic-calibrated gradient-boosting classifier on the earlier
    ``1 - validation_fraction`` of the requests (rows must be in time order) and chooses the
    approval thresholds on the later part. Two policies:

    * ``"cost"``: approve when p(abuse) < ``max_probability`` and the expected abusive amount
      p × amount < ``threshold_`` (ranking by expected loss approves the most requests per
      unit of loss when p is calibrated).
    * ``"rule_guarded"``: approve what the design rule approves *and* the model finds
      unsuspicious (p below both ``rule_cut_`` and ``max_probability``), plus requests the
      rule refuses whose expected abusive amount is below ``threshold_`` (and p <
      ``max_probability``). Every decision can be explained against the rule.

    The thresholds maximise the approved share on the validation rows subject to a loss
    constraint with a margin of ``margin_se`` bootstrap standard errors (400 resamples of the
    validation rows): with ``target_loss_rate=None`` the *paired* difference model loss − rule
    loss on the same rows must satisfy ``difference + margin_se · se ≤ 0``; with a number,
    ``model loss + margin_se · se ≤ target_loss_rate``. ``target_`` records the rule's
    validation loss rate (or the given target), ``validation_`` the chosen operating point.

    Args:
        target_loss_rate: Allowed abusive amount approved / all requested amount, or None for
            "no more than the design rule on the validation rows" (paired).
        max_probability: Never auto-approve at or above this abuse probability.
        margin_se: Safety margin of the loss constraint, in bootstrap standard errors.
        policy: ``"rule_guarded"`` or ``"cost"``.
        validation_fraction: Latest share of requests used to choose the thresholds.
        max_iter: Boosting iterations.
        random_state: Seed.
    """

    def __init__(self, target_loss_rate: float | None = 0.01, max_probability: float = 0.5,
                 margin_se: float = 2.0, policy: str = "rule_guarded",
                 validation_fraction: float = 0.3, max_iter: int = 200,
                 random_state: int = 0) -> None:
        self.target_loss_rate = target_loss_rate
        self.max_probability = max_probability
        self.margin_se = margin_se
        self.policy = policy
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, d: pd.DataFrame, y) -> RefundApprover:
        """Fit on a ``refund_features`` frame and abuse labels ``y``."""
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {self.policy!r}")
        y = np.asarray(y, dtype=int)
        ok = (input_problems(d) == "").to_numpy()
        X, y, amount = d.loc[ok, FEATURES].to_numpy(float), y[ok], d.loc[ok, "amount"]
        cut = int(len(X) * (1 - self.validation_fraction))
        if cut < 50 or len(X) - cut < 20 or len(set(y[:cut])) < 2:
            raise ValueError(f"too few valid requests with both labels to fit ({len(X)})")
        base = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.05,
                                              max_depth=4, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(base, method="isotonic", cv=3).fit(X[:cut], y[:cut])
        val = ValidationRows(p=self.model_.predict_proba(X[cut:])[:, 1],
                             amount=amount.to_numpy(float)[cut:], abuse=y[cut:].astype(bool),
                             rule=(design_rule(d.loc[ok].iloc[cut:])["decision"]
                                   == APPROVE).to_numpy())
        self.target_ = (float(self.target_loss_rate) if self.target_loss_rate is not None
                        else loss_rate(np.where(val.rule, APPROVE, REVIEW), val.abuse,
                                       val.amount))
        self.rule_cut_, self.threshold_, self.validation_ = choose_thresholds(
            val, self.target_loss_rate, self.margin_se, self.max_probability,
            guarded=self.policy == "rule_guarded", seed=self.random_state)
        return self

    def predict_proba(self, d: pd.DataFrame) -> np.ndarray:
        """Calibrated abuse probability (column 1) per request."""
        check_is_fitted(self, "threshold_")
        p = self.model_.predict_proba(d[FEATURES].to_numpy(float))[:, 1]
        return np.column_stack([1 - p, p])

    def decide(self, d: pd.DataFrame) -> pd.DataFrame:
        """``request_id, p_abuse, expected_loss, decision, reason`` per request."""
        p = self.predict_proba(d)[:, 1]
        amount = pd.to_numeric(d["amount"], errors="coerce").to_numpy(float)
        loss = p * amount
        bad = input_problems(d).to_numpy()
        rule = (design_rule(d)["decision"] == APPROVE).to_numpy()
        cut = getattr(self, "rule_cut_", None)  # None: a model pickled before rule_cut_
        ok = (bad == "") & approve(p, amount, rule, cut, self.threshold_, self.max_probability)
        why = [f"needs human review: {b}" if b else self._reason(x, e, r, a)
               for b, x, e, r, a in zip(bad, p, loss, rule, ok, strict=True)]
        return pd.DataFrame({"request_id": d["request_id"].to_numpy(), "p_abuse": p,
                             "expected_loss": loss, "decision": np.where(ok, APPROVE, REVIEW),
                             "reason": why})

    def _reason(self, p: float, loss: float, rule: bool, approved: bool) -> str:
        t, c = self.threshold_, getattr(self, "rule_cut_", None)
        if c is not None and rule:
            if approved:
                return (f"auto-approved: design rule approves and abuse probability {p:.3f} "
                        f"< {c:.3f}")
            return (f"human review: design rule approves but abuse probability {p:.3f} "
                    f"≥ {c:.3f}")
        head = "auto-approved" if approved else "human review"
        if not approved and p >= self.max_probability:
            return f"human review: likely abuse (probability {p:.3f})"
        side = "" if c is None else " (design rule refuses)"
        op = "<" if approved else "≥"
        return f"{head}{side}: abuse probability {p:.3f}, expected loss {loss:.2f} {op} {t:.2f}"


POLICIES = ("rule_guarded", "cost")


@dataclass
class ValidationRows:
    """Validation requests the thresholds are chosen on (all valid input)."""

    p: np.ndarray
    amount: np.ndarray
    abuse: np.ndarray
    rule: np.ndarray


def approve(p: np.ndarray, amount: np.ndarray, rule: np.ndarray, rule_cut: float | None,
            threshold: float, max_probability: float) -> np.ndarray:
    """The model's approvals (before the input checks); ``rule_cut=None`` ignores the rule.

    Never at or above ``max_probability``, whatever the rule says.
    """
    by_cost = (p < max_probability) & (p * amount < threshold)
    if rule_cut is None:
        return by_cost
    return np.where(rule, p < min(rule_cut, max_probability), by_cost)


def choose_thresholds(val: ValidationRows, target: float | None, margin_se: float,
                      max_probability: float, guarded: bool, seed: int = 0,
                      n_boot: int = 400) -> tuple[float | None, float, dict[str, float]]:
    """``(rule_cut, threshold, operating point)`` maximising the validation approved share.

    Constraint: loss excess + ``margin_se`` · bootstrap se ≤ 0, where the excess is model −
    rule loss on the same resample (``target=None``) or model loss − ``target``.
    """
    p, amt, rule = val.p, val.amount, val.rule
    cost = np.where(p < max_probability, p * amt, np.inf)
    grid = np.quantile(cost[np.isfinite(cost)], np.linspace(0, 1, 81)) if \
        np.isfinite(cost).any() else np.array([0.0])
    ts = np.unique(np.concatenate([[0.0], grid * 1.0001 + 1e-9]))
    cuts = [None] if not guarded else list(np.unique(np.concatenate(
        [[0.0, 1.0 + 1e-6], np.quantile(p[rule], np.linspace(0, 1, 41)) * 1.0001 + 1e-9]))
        if rule.any() else [0.0])
    cand = [(c, t) for c in cuts for t in ts]
    A = np.column_stack([approve(p, amt, rule, c, t, max_probability) for c, t in cand])
    rng = np.random.default_rng(seed)
    W = np.vstack([np.ones(len(p))] + [np.bincount(rng.integers(0, len(p), len(p)),
                                                   minlength=len(p)) for _ in range(n_boot)])
    lost = W @ (A * (amt * val.abuse)[:, None]) / (W @ amt)[:, None]
    base = (W @ (amt * val.abuse * rule) / (W @ amt))[:, None] if target is None else target
    excess = lost - base
    ok = excess[0] + margin_se * excess[1:].std(axis=0) <= 0
    share = A.mean(axis=0)
    k = int(np.argmax(np.where(ok, share, -1))) if ok.any() else None
    if k is None:  # nothing meets the constraint: approve nothing automatically
        return (0.0 if guarded else None), 0.0, {"share": 0.0, "excess": 0.0, "excess_se": 0.0}
    c, t = cand[k]
    point = {"share": float(share[k]), "excess": float(excess[0, k]),
             "excess_se": float(excess[1:, k].std())}
    return (None if c is None else float(c)), float(t), point
