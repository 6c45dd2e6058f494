"""Vectorised recommendations and strategies equal the per-customer code they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.churn.recommend_batch import NO_HISTORY, recommend_many
from models.churn.strategy import CoOccurrenceRecommender, RetentionConfig, assign_strategies


@pytest.fixture(scope="module")
def rec() -> CoOccurrenceRecommender:
    """Two tenants sharing SKU codes, few SKUs (many tied counts and scores)."""
    rng = np.random.default_rng(3)
    rows = []
    for tenant, n_cust, n_sku in (("a", 300, 14), ("b", 120, 9)):
        for c in range(n_cust):
            for _ in range(rng.integers(1, 9)):
                rows.append((tenant, f"c{c:03d}", f"S{rng.integers(0, n_sku):02d}"))
    rows += [("a", "lonely", "S99")]  # bought one SKU nobody else bought
    return CoOccurrenceRecommender().fit(pd.DataFrame(rows, columns=["tenant_id",
                                                                     "customer_id", "sku"]))


def _who(rec) -> tuple[list[str], list[str]]:
    pairs = [*list(rec.customers_), ("a", "never-bought"), ("zz", "nobody")]
    return [t for t, _ in pairs], [c for _, c in pairs]


@pytest.mark.parametrize(("max_cells", "head"), [(1, 256), (300, 3), (10**7, 0), (500, 1),
                                                 (10**7, 6)])
@pytest.mark.parametrize(("n", "n_own"), [(5, 2), (3, 0), (4, 4), (12, 3)])
def test_recommend_many_equals_recommend(rec, max_cells, head, n, n_own):
    tenants, customers = _who(rec)
    skus, why = recommend_many(rec, tenants, customers, n, n_own, max_cells=max_cells,
                               head=head)
    for t, c, s, w in zip(tenants, customers, skus, why, strict=True):
        assert (s, w) == rec.recommend(t, c, n, n_own), (t, c)
    assert why[-2] == NO_HISTORY and skus[-1] == []


def test_recommend_many_refuses_more_own_than_total(rec):
    with pytest.raises(ValueError, match="n_own"):
        recommend_many(rec, ["a"], ["c001"], 2, 3)


def _assign_per_row(scored, config=None, recommender=None):
    """``assign_strategies`` as it was: a per-row ``.at`` loop (the reference)."""
    cfg = config or RetentionConfig()
    p = pd.to_numeric(scored["churn_probability"], errors="coerce")
    out = scored.copy()
    coupon = p > cfg.coupon_threshold
    rec = (p > cfg.recommend_threshold) & ~coupon
    out["strategy"] = np.select([coupon, rec], ["coupon", "recommendation"], "none")
    out["coupon_amount"] = np.where(coupon, cfg.coupon_amount, 0.0)
    out["coupon_valid_days"] = np.where(coupon, cfg.coupon_valid_days, 0).astype("int64")
    out["recommended_skus"] = ""
    out["strategy_reason"] = np.select(
        [coupon, rec],
        [f"p > {cfg.coupon_threshold}: coupon", f"p > {cfg.recommend_threshold}: recommend"],
        f"p <= {cfg.recommend_threshold}: no action")
    for idx in out.index[rec.to_numpy()]:
        if recommender is None:
            out.at[idx, "strategy_reason"] += " (no purchase lines available: no SKUs)"
            continue
        skus, why = recommender.recommend(out.at[idx, "tenant_id"], out.at[idx, "customer_id"],
                                          cfg.n_recommendations, cfg.n_own)
        out.at[idx, "recommended_skus"] = "|".join(skus)
        out.at[idx, "strategy_reason"] += f" ({why})"
    return out


class _OneByOne:
    """A recommender with only ``recommend`` (the per-customer interface)."""

    def __init__(self, rec) -> None:
        self.rec = rec

    def recommend(self, *args):
        return self.rec.recommend(*args)


@pytest.mark.parametrize("which", ["batch", "one_by_one", "none"])
def test_assign_strategies_equals_the_per_row_loop(rec, which):
    tenants, customers = _who(rec)
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"tenant_id": tenants, "customer_id": customers,
                          "churn_probability": rng.uniform(0, 1, len(tenants)),
                          "x": 1.0}, index=rng.permutation(len(tenants)) + 10)
    cfg = RetentionConfig(n_recommendations=4, n_own=1)
    r = {"batch": rec, "one_by_one": _OneByOne(rec), "none": None}[which]
    got = assign_strategies(frame, cfg, r)
    want = _assign_per_row(frame, cfg, r)
    assert (got["strategy"] == "recommendation").sum() > 20
    pd.testing.assert_frame_equal(got, want, check_exact=True)
