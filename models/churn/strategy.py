"""Retention strategy per customer from the churn probability.

* probability > ``coupon_threshold`` (0.7) → a coupon (amount and validity configurable,
  default 50 for 7 days);
* probability > ``recommend_threshold`` (0.5) → personalised recommendations: the products
  the customer buys most, then products that co-occur with them in other customers'
  baskets (item-to-item co-occurrence, cosine-normalised), never already-owned items twice;
* otherwise → no action.

Recommendations are deterministic (ties broken by SKU), never a random list. A customer with
no line history gets the tenant's best sellers, and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

STRATEGIES = ("coupon", "recommendation", "none")
STRATEGY_COLUMNS = (
    "strategy", "coupon_amount", "coupon_valid_days", "recommended_skus", "strategy_reason",
)


@dataclass(frozen=True)
class RetentionConfig:
    """Thresholds and coupon terms (all configuration, no code change needed).

    Attributes:
        coupon_threshold: Probability above which a coupon is sent.
        recommend_threshold: Probability above which recommendations are sent.
        coupon_amount: Coupon value in the order currency.
        coupon_valid_days: Coupon validity in days.
        n_recommendations: Number of SKUs recommended.
        n_own: How many of those come from the customer's own history (at most).
    """

    coupon_threshold: float = 0.7
    recommend_threshold: float = 0.5
    coupon_amount: float = 50.0
    coupon_valid_days: int = 7
    n_recommendations: int = 5
    n_own: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.recommend_threshold <= self.coupon_threshold <= 1:
            raise ValueError(
                "need 0 <= recommend_threshold <= coupon_threshold <= 1; got "
                f"{self.recommend_threshold} and {self.coupon_threshold}"
            )
        if self.coupon_amount < 0 or self.coupon_valid_days < 1 or self.n_recommendations < 1:
            raise ValueError("coupon amount must be >= 0, validity >= 1 day, n >= 1")


class CoOccurrenceRecommender:
    """Customer history + item co-occurrence recommender, separate per tenant.

    SKUs are keyed by ``(tenant_id, sku)``: two tenants' catalogues never mix, so a customer
    is only ever offered SKUs of their own tenant (co-occurrence, own history and the
    best-seller fallback are all within the tenant), even when SKU codes collide.

    Attributes:
        skus_: SKU vocabulary, ``(tenant_id, sku)`` pairs.
        customers_: Customer index (tenant_id, customer_id) → row.
        counts_: Sparse customer × SKU purchase counts.
        similarity_: Sparse SKU × SKU cosine co-occurrence (diagonal zeroed).
        popular_: Per tenant, its SKUs by number of buyers (fallback).
    """

    def fit(self, purchases: pd.DataFrame) -> CoOccurrenceRecommender:
        """Learn from ``tenant_id, customer_id, sku`` purchase rows (``quantity`` optional)."""
        need = {"tenant_id", "customer_id", "sku"}
        if not need <= set(purchases.columns):
            raise ValueError(f"recommender needs columns {sorted(need)}")
        p = purchases.dropna(subset=["customer_id", "sku"]).astype(
            {"tenant_id": str, "customer_id": str, "sku": str})
        keys = pd.MultiIndex.from_frame(p[["tenant_id", "customer_id"]])
        items = pd.MultiIndex.from_frame(p[["tenant_id", "sku"]])
        self.customers_ = pd.Index(keys.unique())
        self.skus_ = items.unique().sort_values()
        self._names = self.skus_.get_level_values(1).to_numpy(dtype=object)
        rows = self.customers_.get_indexer(keys)
        cols = self.skus_.get_indexer(items)
        shape = (len(self.customers_), len(self.skus_))
        self.counts_ = sparse.csr_matrix((np.ones(len(p)), (rows, cols)), shape=shape)
        return self.finish_fit()

    def finish_fit(self) -> CoOccurrenceRecommender:
        """Similarity and best sellers from ``counts_``, ``skus_`` and the SKU names.

        The end of :meth:`fit`; the chunked churn scorer builds ``counts_`` chunk by chunk
        and calls it. The diagonal is removed in CSR form (a LIL copy of the SKU × SKU
        matrix holds one Python object per cell: gigabytes on a large catalogue).
        """
        binary = (self.counts_ > 0).astype(float)
        co = (binary.T @ binary).tocsr()  # zero across tenants: no customer spans two
        buyers = np.asarray(binary.sum(axis=0)).ravel()
        norm = 1.0 / np.sqrt(np.maximum(buyers, 1.0))
        sim = (sparse.diags(norm) @ co @ sparse.diags(norm)).tocsr()
        sim = (sim - sparse.diags(sim.diagonal(), format="csr")).tocsr()
        sim.eliminate_zeros()
        sim.sort_indices()
        self.similarity_ = sim
        tenants = self.skus_.get_level_values(0).to_numpy(dtype=object)
        order = np.lexsort((self._names, -buyers))
        self.popular_ = {t: [self._names[k] for k in order if tenants[k] == t]
                         for t in pd.unique(tenants)}
        return self

    def recommend(self, tenant_id: str, customer_id: str, n: int = 5, n_own: int = 2
                  ) -> tuple[list[str], str]:
        """Top ``n`` SKUs of the customer's own tenant for one customer, and a short reason."""
        if not hasattr(self, "counts_"):
            raise RuntimeError("CoOccurrenceRecommender is not fitted; call fit(...) first")
        popular = self.popular_.get(str(tenant_id), [])
        i = self.customers_.get_indexer([(str(tenant_id), str(customer_id))])[0]
        if i < 0:
            return popular[:n], "no purchase history: the tenant's best sellers"
        row = self.counts_.getrow(i)
        own_idx, own_cnt = row.indices, row.data
        order = np.lexsort((self._names[own_idx], -own_cnt))
        own = [self._names[own_idx[k]] for k in order[:n_own]]
        scores = ((row > 0).astype(float) @ self.similarity_).toarray().ravel()
        scores[own_idx] = -np.inf  # suggest new products beyond the repeat items
        cand = np.flatnonzero(np.isfinite(scores) & (scores > 0))
        cand = cand[np.lexsort((self._names[cand], -scores[cand]))]
        recs = own + [self._names[k] for k in cand[: n - len(own)]]
        if len(recs) < n:
            recs += [s for s in popular if s not in recs][: n - len(recs)]
        return recs, "own history + bought together by similar customers"

    def recommend_many(self, tenants, customers, n: int = 5, n_own: int = 2
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` for many customers at once (vectorised, bounded memory).

        Returns:
            Two object arrays: each customer's SKU list and reason, as :meth:`recommend`.
        """
        if not hasattr(self, "counts_"):
            raise RuntimeError("CoOccurrenceRecommender is not fitted; call fit(...) first")
        from models.churn.recommend_batch import recommend_many

        return recommend_many(self, tenants, customers, n, n_own)


def _recommend_all(recommender, tenants: pd.Series, customers: pd.Series,
                   cfg: RetentionConfig) -> tuple[np.ndarray, np.ndarray]:
    """SKU lists and reasons for many customers (one call when the recommender batches)."""
    n, n_own = cfg.n_recommendations, cfg.n_own
    if hasattr(recommender, "recommend_many") and n_own <= n:
        return recommender.recommend_many(tenants, customers, n, n_own)
    pairs = [recommender.recommend(t, c, n, n_own)
             for t, c in zip(tenants, customers, strict=True)]
    skus, why = np.empty(len(pairs), object), np.empty(len(pairs), object)
    for i, (s, w) in enumerate(pairs):
        skus[i], why[i] = s, w
    return skus, why


def assign_strategies(
    scored: pd.DataFrame,
    config: RetentionConfig | None = None,
    recommender: CoOccurrenceRecommender | None = None,
) -> pd.DataFrame:
    """Add the retention strategy columns to a frame with ``churn_probability``.

    Args:
        scored: One row per customer with ``tenant_id``, ``customer_id``,
            ``churn_probability``.
        config: Thresholds and coupon terms (defaults: 0.7 / 0.5, 50 for 7 days).
        recommender: Fitted recommender; without one, recommendation rows get no SKUs and
            the reason says so.

    Returns:
        A copy with :data:`STRATEGY_COLUMNS`.
    """
    cfg = config or RetentionConfig()
    p = pd.to_numeric(scored["churn_probability"], errors="coerce")
    if p.isna().any() or (p < 0).any() or (p > 1).any():
        raise ValueError("churn_probability must be a probability in [0, 1] for every row")
    out = scored.copy()
    coupon = p > cfg.coupon_threshold
    rec = (p > cfg.recommend_threshold) & ~coupon
    out["strategy"] = np.select([coupon, rec], ["coupon", "recommendation"], "none")
    out["coupon_amount"] = np.where(coupon, cfg.coupon_amount, 0.0)
    out["coupon_valid_days"] = np.where(coupon, cfg.coupon_valid_days, 0).astype("int64")
    skus = np.full(len(out), "", dtype=object)
    reason = np.select(
        [coupon, rec],
        [f"p > {cfg.coupon_threshold}: coupon", f"p > {cfg.recommend_threshold}: recommend"],
        f"p <= {cfg.recommend_threshold}: no action",
    ).astype(object)
    at = rec.to_numpy(dtype=bool)
    if at.any() and recommender is None:
        reason[at] = reason[at] + " (no purchase lines available: no SKUs)"
    elif at.any():
        lists, why = _recommend_all(recommender, out["tenant_id"][at], out["customer_id"][at],
                                    cfg)
        skus[at] = ["|".join(s) for s in lists]
        reason[at] = reason[at] + " (" + why + ")"
    out["recommended_skus"] = skus
    out["strategy_reason"] = reason
    return out


@dataclass(frozen=True)
class CampaignAssumptions:
    """Stated assumptions behind the expected value of the retention strategy.

    None of these is measured in the data (no campaign was ever run on it); they are the
    knobs a marketing team sets, and the value moves with them.

    Attributes:
        coupon_save_rate: Share of would-be churners a coupon keeps (they buy again and use it).
        recommend_save_rate: Share of would-be churners recommendations keep.
        redeem_rate_if_staying: Share of coupon receivers who would have bought anyway and
            redeem it (pure cost: the discount given away).
        contact_cost: Cost of sending one coupon or recommendation message.
        margin: Gross margin on a retained customer's spend.
    """

    coupon_save_rate: float = 0.15
    recommend_save_rate: float = 0.05
    redeem_rate_if_staying: float = 0.30
    contact_cost: float = 0.10
    margin: float = 0.30


def strategy_value(
    churn_probability: np.ndarray,
    churned: np.ndarray,
    value_if_retained: np.ndarray,
    config: RetentionConfig | None = None,
    assumptions: CampaignAssumptions | None = None,
) -> pd.DataFrame:
    """Expected value of the retention strategy on customers whose outcome is known.

    For each action group (coupon above ``coupon_threshold``, recommendations above
    ``recommend_threshold``): saved = churners × save rate; gain = saved × margin ×
    ``value_if_retained``; cost = coupon amount × (saved + stayers × redeem rate) + contact
    cost per customer (recommendations: contact cost only). A ``random`` row gives the same
    number of coupons and recommendations to randomly chosen customers (in expectation), so
    the value of the *ranking* is net(strategy) − net(random).

    Args:
        churn_probability: Model probability per customer.
        churned: Observed outcome without any action (1 = churned).
        value_if_retained: Spend a customer would bring in the horizon if kept.
        config: Thresholds and coupon terms.
        assumptions: Campaign effect and cost assumptions.

    Returns:
        One row per group (``coupon``, ``recommendation``, ``total``, ``random``) with
        ``customers, churners, saved, gain, cost, net``.
    """
    cfg, a = config or RetentionConfig(), assumptions or CampaignAssumptions()
    p, y = np.asarray(churn_probability, float), np.asarray(churned, float)
    v = np.nan_to_num(np.asarray(value_if_retained, float), nan=0.0) * a.margin
    coupon = p > cfg.coupon_threshold
    rec = (p > cfg.recommend_threshold) & ~coupon

    def group(w_coupon: np.ndarray, w_rec: np.ndarray) -> dict[str, float]:
        saved_c, saved_r = w_coupon * y * a.coupon_save_rate, w_rec * y * a.recommend_save_rate
        stayers = w_coupon * (1 - y)
        cost = (cfg.coupon_amount * (saved_c.sum() + a.redeem_rate_if_staying * stayers.sum())
                + a.contact_cost * (w_coupon.sum() + w_rec.sum()))
        gain = float(((saved_c + saved_r) * v).sum())
        return {"customers": float(w_coupon.sum() + w_rec.sum()),
                "churners": float(((w_coupon + w_rec) * y).sum()),
                "saved": float(saved_c.sum() + saved_r.sum()), "gain": gain,
                "cost": float(cost), "net": gain - float(cost)}

    zero = np.zeros(len(p))
    rows = {
        "coupon": group(coupon.astype(float), zero),
        "recommendation": group(zero, rec.astype(float)),
        "total": group(coupon.astype(float), rec.astype(float)),
        "random": group(np.full(len(p), coupon.mean()), np.full(len(p), rec.mean())),
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group").reset_index()
