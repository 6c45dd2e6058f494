"""Train, evaluate, register and gate the risk and after-sales families.

Families: support triage, abnormal orders, refunds, delivery ETA and returns.

Each ``fit_*`` function is a pure step (frames in, fitted model and metrics out) that the
bench and the CLI share; :func:`register` is the only place these models meet MLflow.
Validation is time-based: earlier rows train, later rows test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from models.risk.anomaly import OrderAnomalyDetector, order_risk_features, rule_flags
from models.risk.refunds import (
    APPROVE,
    RefundApprover,
    design_rule,
    input_problems,
    loss_rate,
    refund_features,
)
from models.risk.triage import COMPLAINT, HUMAN, SupportTriage, complaint_cue, extract_order_ids
from oms.lake import read_table
from oms.tenancy import registered_name
from pipelines.generator.risk import RISK_TABLES
from pipelines.generator.support import generate_support_messages

FAMILIES = {"triage": "support_triage", "anomaly": "abnormal_orders",
            "refunds": "refund_approval", "eta": "delivery_eta", "returns": "return_probability"}


@dataclass
class FitResult:
    """A fitted family: the estimator, its gate metric and every metric measured."""

    family: str
    model: object
    gate_metric: str
    metrics: dict[str, float]
    extra: dict[str, object] = field(default_factory=dict)


def recall_at_rate(y: np.ndarray, score: np.ndarray, rate: float = 0.01) -> float:
    """Recall among the top ``rate`` share of orders by score (ties broken by row order)."""
    k = max(1, int(round(rate * len(y))))
    top = np.argsort(-np.asarray(score, float), kind="stable")[:k]
    return float(np.asarray(y)[top].sum() / max(1, np.asarray(y).sum()))


def triage_metrics(model: SupportTriage, msgs: pd.DataFrame) -> dict[str, float]:
    """Accuracy, per-intent recall, id exact-match and complaint routing on labelled messages."""
    d = model.decide(msgs["message"])
    y, pred = msgs["intent"].to_numpy(), d["intent"].to_numpy()
    out = {"accuracy": float((pred == y).mean())}
    for intent in sorted(set(y)):
        out[f"recall_{intent}"] = float((pred[y == intent] == intent).mean())
    ids = np.array([(extract_order_ids(t) or [""])[0] for t in msgs["message"]])
    has = msgs["order_id"].to_numpy() != ""
    out["id_exact_match"] = float((ids == msgs["order_id"].to_numpy()).mean())
    out["id_exact_match_with_id"] = float((ids[has] == msgs["order_id"].to_numpy()[has]).mean())
    out["id_false_positive"] = float((ids[~has] != "").mean())
    out["complaints_to_human"] = float((d["route"].to_numpy()[y == "complaint"] == HUMAN).mean())
    out["human_share"] = float((d["route"] == HUMAN).mean())
    bare = copy.copy(model).set_params(use_cues=False, review_threshold=1.0)
    b = bare.decide(msgs["message"])["route"].to_numpy()
    out["complaints_to_human_no_safety_net"] = float((b[y == COMPLAINT] == HUMAN).mean())
    out["human_share_no_safety_net"] = float((b == HUMAN).mean())
    out["review_threshold"] = float(model.review_threshold)
    return out


def choose_review_threshold(model: SupportTriage, val: pd.DataFrame, margin: float = 0.5
                            ) -> float:
    """Complaint-review threshold from held-out *generated* messages (never the fixture).

    The smallest ``P(complaint)`` among the validation complaints that no cue catches, times
    ``margin`` (room for phrasings the templates do not have), capped at the model's
    labelling threshold.
    """
    ci = list(model.classes_).index(COMPLAINT)
    p = model.predict_proba(val["message"])[:, ci]
    cue = np.array([bool(complaint_cue(t)) for t in val["message"]]) if model.use_cues else \
        np.zeros(len(val), bool)
    left = p[(val["intent"] == COMPLAINT).to_numpy() & ~cue]
    low = float(left.min()) if len(left) else float(model.complaint_threshold)
    return float(min(model.complaint_threshold, margin * low))


def fit_triage(eval_messages: pd.DataFrame | None = None, n_train: int = 8000,
               seed: int = 0) -> FitResult:
    """Train on generated messages; evaluate on ``eval_messages`` (default: new generated ones).

    The complaint-review threshold is chosen on 4,000 further generated messages with a
    heavier typo rate (:func:`choose_review_threshold`), so the evaluation set is not used.
    """
    train = generate_support_messages(n_train, seed=seed)
    model = SupportTriage(random_state=seed).fit(train["message"], train["intent"])
    val = generate_support_messages(4000, seed=seed + 20_000, typo_rate=0.12)
    model.set_params(review_threshold=choose_review_threshold(model, val))
    if eval_messages is None:
        eval_messages = generate_support_messages(1000, seed=seed + 10_000, typo_rate=0.08)
    return FitResult("triage", model, "accuracy", triage_metrics(model, eval_messages))


def _time_split(n: int, test_fraction: float) -> int:
    cut = int(n * (1 - test_fraction))
    if cut < 50 or n - cut < 50:
        raise ValueError(f"too few rows ({n}) for a time split")
    return cut


def fit_anomaly(feed: pd.DataFrame, truth: pd.DataFrame, test_fraction: float = 0.3,
                seed: int = 0) -> FitResult:
    """Supervised detector vs rules, ECOD and IsolationForest on the later ``test_fraction``."""
    feed = feed.sort_values("order_ts", kind="stable").reset_index(drop=True)
    y = feed[["order_id"]].merge(truth, on="order_id", how="left")["is_abnormal"]
    y = y.fillna(False).to_numpy(bool)
    cut = _time_split(len(feed), test_fraction)
    train, test, ytr, yte = feed.iloc[:cut], feed.iloc[cut:], y[:cut], y[cut:]
    scores, models = {}, {}
    for method in ("supervised", "ecod", "iforest"):
        models[method] = OrderAnomalyDetector(method=method, random_state=seed).fit(train, ytr)
        scores[method] = models[method].score(test)
    sku = train.groupby("top_sku")["top_quantity"].median().astype(float)
    scores["rules"] = rule_flags(order_risk_features(test, sku))["n_rules"].to_numpy(float)
    m: dict[str, float] = {"test_orders": float(len(test)), "test_abnormal": float(yte.sum())}
    for k, s in scores.items():
        m[f"{k}_pr_auc"] = float(average_precision_score(yte, s))
        m[f"{k}_recall_at_1pct"] = recall_at_rate(yte, s)
    m["pr_auc"] = m["supervised_pr_auc"]
    return FitResult("anomaly", models["supervised"], "pr_auc", m,
                     {"y_test": yte, "scores": scores, "test": test,
                      "pattern": test[["order_id"]].merge(truth, how="left")["pattern"]})


def fit_refunds(requests: pd.DataFrame, truth: pd.DataFrame, orders: pd.DataFrame,
                customers: pd.DataFrame, credit: pd.DataFrame, test_fraction: float = 0.3,
                seed: int = 0, margin_se: float = 2.0,
                policy: str = "rule_guarded") -> FitResult:
    """Calibrated approver vs the design's rule on the later ``test_fraction`` of requests.

    Thresholds are chosen on the latest 30 % of the training span only: largest approved
    share with validation loss − rule loss + ``margin_se`` · se ≤ 0 (paired, see
    ``RefundApprover``).
    """
    req = requests.sort_values("request_ts", kind="stable").reset_index(drop=True)
    d = refund_features(req, orders, customers, credit)
    y = req[["request_id"]].merge(truth, on="request_id", how="left")["is_abuse"]
    y = y.fillna(False).to_numpy(bool)
    cut = _time_split(len(d), test_fraction)
    amount = d["amount"].to_numpy(float)
    rule = design_rule(d)["decision"].to_numpy()
    model = RefundApprover(target_loss_rate=None, margin_se=margin_se, policy=policy,
                           random_state=seed).fit(d.iloc[:cut], y[:cut])
    target = model.target_
    test, yte = d.iloc[cut:], y[cut:]
    dec = model.decide(test)["decision"].to_numpy()
    p = model.predict_proba(test)[:, 1]
    valid = (input_problems(test) == "").to_numpy()
    m = {"target_loss_rate": target, "test_requests": float(len(test)),
         "test_abuse_rate": float(yte.mean()),
         "rule_approved_share": float((rule[cut:] == APPROVE).mean()),
         "rule_loss_rate": loss_rate(rule[cut:], yte, amount[cut:]),
         "model_approved_share": float((dec == APPROVE).mean()),
         "model_loss_rate": loss_rate(dec, yte, amount[cut:]),
         "model_review_queue": float((dec != APPROVE).sum()),
         "rule_review_queue": float((rule[cut:] != APPROVE).sum()),
         "roc_auc": float(roc_auc_score(yte[valid], p[valid])),
         "brier": float(np.mean((p[valid] - yte[valid]) ** 2)),
         "threshold": float(model.threshold_),
         "rule_cut": -1.0 if model.rule_cut_ is None else float(model.rule_cut_),
         "validation_share": model.validation_["share"],
         "validation_excess": model.validation_["excess"],
         "validation_excess_se": model.validation_["excess_se"]}
    m["approved_share_gain"] = m["model_approved_share"] - m["rule_approved_share"]
    return FitResult("refunds", model, "approved_share_gain", m,
                     {"y_test": yte, "amount": amount[cut:], "rule": rule[cut:], "model": dec,
                      "p": p})


@dataclass
class RiskInputs:
    """What the risk families read from a generated/landed dataset."""

    feed: pd.DataFrame
    abnormal_truth: pd.DataFrame
    requests: pd.DataFrame
    refund_truth: pd.DataFrame
    credit: pd.DataFrame
    orders: pd.DataFrame
    customers: pd.DataFrame


def load_risk_inputs(root: str) -> RiskInputs:
    """Read the risk tables (``write_risk_tables``) and the orders/customers they refer to."""
    r = str(root).rstrip("/")
    t = {k: read_table(f"{r}/{v}") for k, v in RISK_TABLES.items()}
    return RiskInputs(t["risk_orders"], t["abnormal_truth"], t["refund_requests"],
                      t["refund_truth"], t["customer_credit"],
                      read_table(f"{r}/orders", table="orders"),
                      read_table(f"{r}/customers", table="customers"))


#: The lake columns the refund features read (``models.risk.refunds.refund_features``).
REFUND_ORDER_COLUMNS = ("tenant_id", "order_id", "customer_id", "status", "total_amount",
                        "order_ts")
REFUND_CUSTOMER_COLUMNS = ("tenant_id", "customer_id", "signup_date")


def load_scoring_inputs(root: str) -> RiskInputs:
    """The risk tables without their truth, and only the orders and customers they refer to.

    What the daily risk step scores with: the columns the refund features read, of the rows
    they can reach. ``refund_features`` joins each request to its order and to its
    customer's orders and sign-up day, so the rows left out are never looked at: the
    features are those of :func:`load_risk_inputs` without every order of a large lake.
    """
    import pyarrow.dataset as pads

    r = str(root).rstrip("/")
    t = {k: read_table(f"{r}/{RISK_TABLES[k]}")
         for k in ("risk_orders", "refund_requests", "customer_credit")}
    req = t["refund_requests"]
    who = sorted(req["customer_id"].dropna().astype(str).unique())
    which = sorted(req["order_id"].dropna().astype(str).unique())
    mine = pads.field("customer_id").isin(who) | pads.field("order_id").isin(which)
    orders = read_table(f"{r}/orders", list(REFUND_ORDER_COLUMNS), mine, table="orders")
    customers = read_table(f"{r}/customers", list(REFUND_CUSTOMER_COLUMNS),
                           pads.field("customer_id").isin(who), table="customers")
    empty = pd.DataFrame()
    return RiskInputs(t["risk_orders"], empty, req, empty, t["customer_credit"], orders,
                      customers)


def naive_utc(df: pd.DataFrame) -> pd.DataFrame:
    """Frame in the types MLflow signatures handle.

    Timezone-aware datetimes become naive UTC; nullable booleans become floats (1/0/NaN):
    MLflow cannot cast a missing value to bool (e.g. ``is_late`` of an unshipped order).
    """
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
        elif isinstance(out[c].dtype, pd.BooleanDtype):
            out[c] = out[c].astype("Float64").astype(float)
    return out


def register(res: FitResult, tenant: str, input_example: pd.DataFrame,
             text_column: str | None = None, higher_is_better: bool = True):
    """Log ``res`` to MLflow, register it as ``<family>__<tenant>`` and run the champion gate.

    The one MLflow touch point of the risk families (kept small so the lead can adapt it to
    the shared gate helper).
    """
    import mlflow

    from models.risk.pyfunc import RiskDecisionModel
    from pipelines.registry import log_pyfunc, promote_if_better

    name = registered_name(FAMILIES[res.family], tenant)
    with mlflow.start_run(run_name=f"{res.family}-{tenant}"):
        mlflow.log_params({k: v for k, v in res.model.get_params().items()
                           if isinstance(v, (int, float, str, bool))})
        mlflow.log_metrics(res.metrics)
        version = log_pyfunc(RiskDecisionModel(res.model, text_column), name,
                             naive_utc(input_example))
        gate = promote_if_better(name, version, res.gate_metric, res.metrics[res.gate_metric],
                                 higher_is_better=higher_is_better)
    return gate


def fixture_messages(path: str | Path) -> pd.DataFrame:
    """Read a labelled message CSV (``message, intent, order_id, lang``)."""
    return pd.read_csv(path, keep_default_na=False)


def fit_eta(orders: pd.DataFrame, customers: pd.DataFrame, warehouses: pd.DataFrame,
            context: pd.DataFrame, test_weeks: int = 8, seed: int = 0) -> FitResult:
    """ETA quantiles vs a distance-only baseline on the last ``test_weeks`` weeks."""
    from models.risk.eta import DistanceBaseline, EtaQuantiles, eta_features

    o = orders[orders["delivery_hours"].notna() & orders["warehouse_id"].notna()
               & orders["customer_id"].notna()].sort_values("order_ts", kind="stable")
    d = eta_features(o.reset_index(drop=True), customers, warehouses, context)
    y = d["delivery_hours"].astype(float).to_numpy()
    test = (d["order_date"] > d["order_date"].max() - pd.Timedelta(weeks=test_weeks)).to_numpy()
    model = EtaQuantiles(random_state=seed).fit(d[~test], y[~test])
    pred = model.predict(d[test])
    base = DistanceBaseline().fit(d[~test], y[~test]).predict(d[test])
    yt = y[test]
    m = {"test_orders": float(test.sum()),
         "mae_p50": float(np.abs(pred["p50_hours"].to_numpy() - yt).mean()),
         "mae_distance_baseline": float(np.abs(base - yt).mean()),
         "p90_coverage": float((yt <= pred["p90_hours"].to_numpy()).mean()),
         "p50_coverage": float((yt <= pred["p50_hours"].to_numpy()).mean()),
         "conformal_shift_hours": model.conformal_shift_}
    m["neg_mae_p50"] = -m["mae_p50"]
    m["backlog_hours_per_day"] = model.backlog_slope_
    days = d.loc[test, "order_date"]
    week = ((days - days.min()).dt.days // 7).to_numpy()
    covered = yt <= pred["p90_hours"].to_numpy()
    weekly = pd.DataFrame({"week_start": days.to_numpy(), "week": week, "covered": covered,
                           "abs_err": np.abs(pred["p50_hours"].to_numpy() - yt),
                           "load": d.loc[test, "wh_load"].to_numpy(float)}).groupby(
        "week").agg(week_start=("week_start", "min"), orders=("covered", "size"),
                    p90_coverage=("covered", "mean"), mae_p50=("abs_err", "mean"),
                    max_load=("load", "max"))
    m["train_max_load"] = float(d.loc[~test, "wh_load"].max())
    m["p90_coverage_weekly_mean"] = float(weekly["p90_coverage"].mean())
    m["p90_coverage_weekly_se"] = float(weekly["p90_coverage"].std(ddof=1) / np.sqrt(len(weekly)))
    return FitResult("eta", model, "neg_mae_p50", m,
                     {"abs_err": np.abs(pred["p50_hours"].to_numpy() - yt),
                      "abs_err_base": np.abs(base - yt), "weekly": weekly})


def fit_returns(orders: pd.DataFrame, lines: pd.DataFrame, products: pd.DataFrame,
                events: pd.DataFrame, test_fraction: float = 0.3, seed: int = 0) -> FitResult:
    """Return model vs the per-SKU historical rate (training span) on later lines."""
    from models.risk.returns import ReturnModel, return_lines

    d = return_lines(orders, lines, products, events)
    y = d["returned"].to_numpy(bool)
    cut = _time_split(len(d), test_fraction)
    model = ReturnModel(random_state=seed).fit(d.iloc[:cut], y[:cut])
    p = model.predict_proba(d.iloc[cut:])[:, 1]
    rate = d.iloc[:cut].groupby("sku")["returned"].mean()
    base = d.iloc[cut:]["sku"].map(rate).astype(float).fillna(float(y[:cut].mean())).to_numpy()
    m = {"test_lines": float(len(p)), "test_return_rate": float(y[cut:].mean()),
         "roc_auc": float(roc_auc_score(y[cut:], p)),
         "sku_rate_roc_auc": float(roc_auc_score(y[cut:], base))}
    return FitResult("returns", model, "roc_auc", m, {"y": y[cut:], "p": p, "base": base})
