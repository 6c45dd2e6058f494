"""RFM segments: hand-computed quintiles and segments, summaries, pandas vs Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.customers import customer_features, rfm_scores
from features.segments import SEGMENTS, assign_segments, empty_segments, segment_summary


def ten_customers() -> pd.DataFrame:
    # recency 1..10 days, frequency 10..1, monetary chosen by hand
    return pd.DataFrame({
        "tenant_id": "t",
        "customer_id": [f"c{i:02d}" for i in range(10)],
        "recency_days": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        "frequency": [1, 9, 8, 7, 6, 5, 4, 3, 2, 10],
        "monetary": [50.0, 40, 30, 20, 10, 100, 90, 80, 70, 60],
    })


def test_hand_computed_quintiles_and_segments():
    s = rfm_scores(ten_customers()).set_index("customer_id")
    # 10 customers in 5 tiles of 2: most recent two get R=5, least recent two R=1
    assert s["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # frequency ascending: c00(1), c08(2) -> 1; c07(3), c06(4) -> 2; c05, c04 -> 3; ...
    assert s["f_score"].tolist() == [1, 5, 4, 4, 3, 3, 2, 2, 1, 5]
    assert s["m_score"].tolist() == [3, 2, 2, 1, 1, 5, 5, 4, 4, 3]
    seg = assign_segments(s.reset_index()).set_index("customer_id")["segment"].astype(str)
    assert seg.to_dict() == {
        "c00": "important_development", "c01": "important_value",
        "c02": "important_value", "c03": "important_value",
        "c04": "general", "c05": "general", "c06": "general", "c07": "general",
        "c08": "general", "c09": "important_retention",
    }


def test_summary_counts_revenue_and_empty_segments():
    s = assign_segments(rfm_scores(ten_customers()))
    summ = segment_summary(s).set_index("segment")
    assert list(summ.index) == list(SEGMENTS)
    assert summ["customers"].to_dict() == {"important_value": 3, "important_development": 1,
                                           "important_retention": 1, "general": 5}
    assert summ.loc["important_value", "revenue"] == pytest.approx(90.0)
    assert summ.loc["general", "revenue"] == pytest.approx(350.0)
    assert summ["revenue_share"].sum() == pytest.approx(1.0)
    # only recent, frequent customers: three segments are empty, reported, not an error
    only = s[s["segment"] == "important_value"]
    summ2 = segment_summary(only)
    assert summ2["customers"].tolist() == [3, 0, 0, 0]
    assert np.isnan(summ2["avg_monetary"].iloc[1])
    assert len(empty_segments(summ2)) == 3 and "general" in empty_segments(summ2)[-1]
    # no customers at all
    assert segment_summary(assign_segments(s.iloc[:0])).empty


def test_bad_scores_are_clear():
    with pytest.raises(ValueError, match="missing"):
        assign_segments(pd.DataFrame({"r_score": [1]}))
    with pytest.raises(ValueError, match="1..5"):
        assign_segments(pd.DataFrame({"r_score": [1, 6], "f_score": [1, 1]}))


def small_orders(n_customers: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_customers * 4
    return pd.DataFrame({
        "tenant_id": rng.choice(["a", "b"], n),
        "order_id": [f"o{i}" for i in range(n)],
        "customer_id": [f"c{i % n_customers:03d}" for i in rng.integers(0, 10**6, n)],
        "is_guest": False,
        "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n),
                                                                    unit="D"),
        "channel": rng.choice(["app", "web"], n),
        "total_amount": rng.gamma(2, 30, n).round(2),
        "support_contacts": 0,
        "is_late": False,
        "delivery_hours": 24.0,
    })


@pytest.mark.spark
def test_pandas_and_spark_segments_identical(spark):
    from features.spark_segments import assign_segments_spark, segment_summary_spark

    # the same scores (from the shared features) in both engines; two tenants, 60 customers
    scores = rfm_scores(customer_features(small_orders(), None, "2024-03-31", label=False))
    cols = ["tenant_id", "customer_id", "r_score", "f_score", "m_score", "monetary"]
    pdf = assign_segments(scores[cols])
    sdf = assign_segments_spark(spark.createDataFrame(scores[cols]))
    got = sdf.toPandas().sort_values(["tenant_id", "customer_id"]).reset_index(drop=True)
    want = pdf.astype({"segment": str}).sort_values(["tenant_id", "customer_id"])
    pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_dtype=False)
    pd_summary = segment_summary(pdf)
    sp_summary = segment_summary_spark(sdf).toPandas()
    assert set(pd_summary["tenant_id"]) == {"a", "b"}
    pd.testing.assert_frame_equal(pd_summary, sp_summary, check_dtype=False,
                                  check_exact=False, rtol=1e-9)
    with pytest.raises(ValueError, match="1..5"):
        assign_segments_spark(spark.createDataFrame(pd.DataFrame(
            {"r_score": [0], "f_score": [3]})))
