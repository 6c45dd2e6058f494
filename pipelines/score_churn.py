"""Batch churn scoring: probability, segment, RFM, CLV and retention strategy per customer.

Every customer known to the input (the ``customers`` table and every non-guest order) ends up
either in the scored dataset or in the exclusion list with a reason:

* ``no orders on or before the cutoff``;
* ``cancelled orders only``;
* ``zero or negative monetary value`` (sum of non-cancelled orders).

One-order customers are scored (they are often the most at risk); their note says the CLV
spend comes from the population average. A run scores one tenant with that tenant's champion
(``churn_classifier__<tenant>``) and writes its three outputs atomically under the tenant's
partition (``oms.outputs``: ``<outputs>/churn_scores/<tenant>/churn_scores.parquet``, and
the same for ``churn_exclusions`` and ``churn_segments``); other tenants' files are untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.segments import assign_segments, empty_segments, segment_summary
from models.churn.features import KEYS, churn_features
from models.churn.strategy import CoOccurrenceRecommender, RetentionConfig, assign_strategies
from models.clv import customer_lifetime_value, summary_data
from oms.outputs import write_output
from pipelines.train_churn import ChurnTables, data_range

log = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "tenant_id", "customer_id", "cutoff", "churn_probability", "segment",
    "r_score", "f_score", "m_score", "recency_days", "frequency", "monetary",
    "p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_spend",
    "clv_90d", "clv_365d", "strategy", "coupon_amount", "coupon_valid_days",
    "recommended_skus", "strategy_reason", "notes", "model_version",
)
EXCLUSION_COLUMNS = ("tenant_id", "customer_id", "cutoff", "reason")


@dataclass
class ScoreResult:
    """Outputs of one scoring run."""

    cutoff: pd.Timestamp
    scored: pd.DataFrame
    excluded: pd.DataFrame
    segments: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    uris: dict[str, str] = field(default_factory=dict)

    @property
    def n_input(self) -> int:
        """Customers in the input (scored + excluded)."""
        return len(self.scored) + len(self.excluded)


def check_cutoff(orders: pd.DataFrame, cutoff: str | pd.Timestamp | None) -> pd.Timestamp:
    """The scoring day (default: last order day); a clear error when outside the data."""
    first, last = data_range(orders)
    if cutoff is None:
        return last
    cut = pd.Timestamp(cutoff).tz_localize(None).normalize()
    if cut < first or cut > last:
        raise ValueError(f"cutoff {cut.date()} is outside the data range: orders run "
                         f"{first.date()}..{last.date()}")
    return cut


def customer_universe(tables: ChurnTables) -> pd.DataFrame:
    """Every known customer: the customers table plus every non-guest order's customer."""
    o = tables.orders
    known = o["customer_id"].notna()
    if "is_guest" in o:
        known &= ~o["is_guest"].astype("boolean").fillna(False)
    frames = [o.loc[known, KEYS]]
    if tables.customers is not None and not tables.customers.empty:
        frames.append(tables.customers[KEYS])
    return pd.concat(frames).astype(str).drop_duplicates().reset_index(drop=True)


def exclusions(tables: ChurnTables, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Customers that cannot be scored at ``cutoff``, with the reason."""
    uni = customer_universe(tables)
    o = tables.orders[tables.orders["customer_id"].notna()].copy()
    o[KEYS] = o[KEYS].astype(str)
    hist = o[pd.to_datetime(o["order_date"]) <= cutoff]
    cancelled = hist["status"].astype(str).eq("cancelled") if "status" in hist else (
        pd.Series(False, index=hist.index))
    g = hist.assign(_ok=~cancelled, _amt=hist["total_amount"].where(~cancelled, 0.0))
    g = g.groupby(KEYS).agg(n=("_ok", "size"), ok=("_ok", "sum"), amt=("_amt", "sum"))
    u = uni.merge(g.reset_index(), on=KEYS, how="left")
    reason = np.select(
        [u["n"].isna(), u["ok"] == 0, u["amt"] <= 0],
        ["no orders on or before the cutoff", "cancelled orders only",
         "zero or negative monetary value"], "")
    out = u.loc[reason != "", KEYS].assign(cutoff=cutoff, reason=reason[reason != ""])
    return out.reset_index(drop=True)[list(EXCLUSION_COLUMNS)]


def _probabilities(model, feats: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "predict_frame"):
        return model.predict_frame(feats)["churn_probability"].to_numpy(float)
    from models.churn.pyfunc import model_input

    schema = model.metadata.get_input_schema() if hasattr(model, "metadata") else None
    if schema is not None:  # send what the model declares (dropped features stay home)
        feats = feats[[c for c in schema.input_names() if c in feats.columns]]
    return np.asarray(model.predict(model_input(feats))["churn_probability"], dtype=float)


def _clv(summary: pd.DataFrame, keep: pd.DataFrame) -> pd.DataFrame:
    """CLV columns of the ``keep`` customers from the ``summary_data`` of every customer."""
    summ = summary.copy()
    summ[KEYS] = summ[KEYS].astype(str)
    summ = summ.merge(keep, on=KEYS)
    cols = ["expected_purchases_90d", "expected_purchases_365d", "expected_spend",
            "clv_90d", "clv_365d"]
    if summ.empty:
        return pd.DataFrame(columns=[*KEYS, *cols])
    return customer_lifetime_value(summ, horizons=(90, 365))[[*KEYS, *cols]]


def recommender_purchases(tables: ChurnTables, cutoff: pd.Timestamp) -> pd.DataFrame | None:
    """Product lines of known customers' non-cancelled orders up to ``cutoff`` (or None)."""
    if tables.order_lines is None or tables.order_lines.empty:
        return None
    o = tables.orders
    ok = o["customer_id"].notna() & (pd.to_datetime(o["order_date"]) <= cutoff)
    if "status" in o:
        ok &= o["status"].astype(str) != "cancelled"
    lines = tables.order_lines
    if "is_product" in lines:
        lines = lines[lines["is_product"].astype("boolean").fillna(True)]
    return lines[["tenant_id", "order_id", "sku"]].merge(
        o.loc[ok, ["tenant_id", "order_id", "customer_id"]], on=["tenant_id", "order_id"])


def _recommender(tables: ChurnTables, cutoff: pd.Timestamp) -> CoOccurrenceRecommender | None:
    p = recommender_purchases(tables, cutoff)
    return CoOccurrenceRecommender().fit(p) if p is not None and not p.empty else None


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})


def score_frame(
    tables: ChurnTables,
    model,
    cutoff: str | pd.Timestamp | None = None,
    config: RetentionConfig | None = None,
    model_version: str = "",
) -> ScoreResult:
    """Score every scorable customer at ``cutoff`` (pure: no I/O).

    Args:
        tables: Lake tables.
        model: A fitted ``ChurnClassifier`` or a loaded ``churn_classifier`` pyfunc.
        cutoff: Scoring day (default: the last order day).
        config: Retention thresholds and coupon terms.
        model_version: Registry version recorded with each row.

    Returns:
        Scored customers, exclusions with reasons, the segment summary and notes.
    """
    cut = check_cutoff(tables.orders, cutoff)
    excluded = exclusions(tables, cut)
    feats = churn_features(tables.orders, tables.order_events, cut, order_lines=tables.order_lines,
                           label=False)
    return finish_scores(
        cut, feats, excluded, model, config, model_version,
        clv_summary=lambda: summary_data(tables.orders, cut),
        recommender=lambda: _recommender(tables, cut),
        universe=lambda: customer_universe(tables))


def finish_scores(
    cut: pd.Timestamp, feats: pd.DataFrame, excluded: pd.DataFrame, model,
    config: RetentionConfig | None, model_version: str, clv_summary: Callable[[], pd.DataFrame],
    recommender: Callable[[], CoOccurrenceRecommender | None],
    universe: Callable[[], pd.DataFrame],
) -> ScoreResult:
    """Probabilities, segments, CLV and strategies of the customers not excluded.

    Shared by :func:`score_frame` and the chunked path (``pipelines.score_churn_chunks``):
    ``feats`` are every customer's features, the callables give the population-level inputs.
    """
    drop = pd.MultiIndex.from_frame(excluded[KEYS])
    feats = feats[~pd.MultiIndex.from_frame(feats[KEYS]).isin(drop)].reset_index(drop=True)
    notes = [f"{len(excluded)} customers excluded: "
             + ", ".join(f"{n} {r}" for r, n in excluded["reason"].value_counts().items())
             ] if len(excluded) else []
    if feats.empty:
        notes.append(f"no customer can be scored at {cut.date()}")
        seg = segment_summary(assign_segments(pd.DataFrame(
            {"tenant_id": [], "r_score": [], "f_score": [], "monetary": []})))
        return ScoreResult(cut, _empty_scores(), excluded, seg, notes)
    feats["churn_probability"] = _probabilities(model, feats)
    scored = assign_segments(feats)
    scored = scored.merge(_clv(clv_summary(), feats[KEYS]), on=KEYS, how="left")
    del feats  # one copy of every customer's features less while the strategies run
    scored = assign_strategies(scored, config, recommender())
    scored["notes"] = np.where(scored["frequency"] <= 1,
                               "one order only: CLV spend is the population average", "")
    scored["model_version"] = str(model_version)
    scored["segment"] = scored["segment"].astype(str)
    summary = segment_summary(scored)
    notes += empty_segments(summary)
    _check_complete(universe(), scored, excluded)
    return ScoreResult(cut, scored[list(SCORE_COLUMNS)], excluded, summary, notes)


def _check_complete(universe: pd.DataFrame, scored: pd.DataFrame,
                    excluded: pd.DataFrame) -> None:
    """Nobody silently left out: scored ∪ excluded is exactly the customer universe."""
    uni = pd.MultiIndex.from_frame(universe[KEYS])
    got = pd.MultiIndex.from_frame(pd.concat([scored[KEYS], excluded[KEYS]]).astype(str))
    missing = uni.difference(got)
    if len(missing) or got.has_duplicates:
        raise RuntimeError(f"scoring lost or duplicated customers: missing {list(missing[:5])}, "
                           f"duplicated {got.has_duplicates}")


def score_churn(
    lake: str | None = None,
    out: str | None = None,
    cutoff: str | None = None,
    model=None,
    config: RetentionConfig | None = None,
    tenant_id: str | None = None,
    tracking_uri: str | None = None,
    run_date: str | None = None,
    chunk_customers: int | None = None,
) -> ScoreResult:
    """Score one tenant with its champion (or ``model``) and write its outputs atomically.

    Args:
        lake: Lake URI (default: settings).
        out: Output root (default: settings' outputs).
        cutoff: Scoring day (default: the last order day).
        model: A fitted model; default ``models:/churn_classifier__<tenant>@champion``.
        config: Retention thresholds and coupon terms.
        tenant_id: Tenant to score (default: the settings' tenant).
        tracking_uri: MLflow URI for loading the champion (default: settings).
        run_date: Batch day: also write dated copies (``oms.outputs.write_output``).
        chunk_customers: Customers per chunk of the bounded-memory scorer
            (``pipelines.score_churn_chunks``; default its ``CHUNK_CUSTOMERS``); the scores
            are those of :func:`score_frame` whatever the chunk size.

    Returns:
        The result, with the written dataset paths in ``uris``.
    """
    from oms.settings import get_settings
    from oms.tenancy import registered_name, validate_tenant
    from pipelines.score_churn_chunks import (
        CHUNK_CUSTOMERS,
        load_arrow_tables,
        order_dates,
        score_frame_chunked,
    )

    s = get_settings()
    tenant = validate_tenant(tenant_id or s.tenant_id)
    tables = load_arrow_tables(lake or s.lake, tenant)
    check_cutoff(order_dates(tables), cutoff)  # a bad cutoff is reported before any model loads
    version = "local"
    if model is None:
        from pipelines.registry import champion_version, configure_mlflow, load_champion
        from pipelines.train_churn import FAMILY

        configure_mlflow(tracking_uri, read_only=True)  # never creates a store
        name = registered_name(FAMILY, tenant)
        model = load_champion(name)
        version = str(champion_version(name).version)
    res = score_frame_chunked(tables, model, cutoff, config, version,
                              chunk_customers or CHUNK_CUSTOMERS, release=True)
    for kind, df in (("churn_scores", res.scored), ("churn_exclusions", res.excluded),
                     ("churn_segments", res.segments)):
        res.uris[kind] = write_output(df, kind, tenant, run_date=run_date, root=out)
    for n in res.notes:
        log.info(n)
    return res
