"""Customer features on hand-made frames: RFM quintiles, gaps, rates, churn label boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.customers import (
    CHANNEL_COLUMNS,
    FEATURE_COLUMNS,
    LabelWindowError,
    customer_features,
    rfm_scores,
)

C = pd.Timestamp("2024-03-01")


def orders(rows: list[tuple], **extra) -> pd.DataFrame:
    """Rows of (customer_id or None, day offset from the cutoff, amount)."""
    df = pd.DataFrame(rows, columns=["customer_id", "d", "total_amount"])
    n = len(df)
    out = pd.DataFrame({
        "tenant_id": "t",
        "order_id": [f"o{i}" for i in range(n)],
        "customer_id": df["customer_id"],
        "is_guest": df["customer_id"].isna(),
        "order_date": C + pd.to_timedelta(df["d"], unit="D"),
        "channel": "app",
        "total_amount": df["total_amount"].astype(float),
        "support_contacts": 0,
        "is_late": pd.array([None] * n, dtype="boolean"),
        "delivery_hours": np.nan,
        "status": "delivered",
    })
    for k, v in extra.items():
        out[k] = v
    return out


def test_rfm_quintiles_by_hand():
    # 7 customers -> tiles of 2, 2, 1, 1, 1 rows; recency descending (stale first)
    rfm = pd.DataFrame({
        "tenant_id": "t",
        "customer_id": list("abcdefg"),
        "recency_days": [60, 50, 40, 30, 20, 10, 0],
        "frequency": [1, 1, 1, 2, 2, 3, 9],
        "monetary": [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
    })
    out = rfm_scores(rfm)
    assert out["r_score"].tolist() == [1, 1, 2, 2, 3, 4, 5]
    # frequency ties are broken by customer_id: a, b, c, d, e, f, g
    assert out["f_score"].tolist() == [1, 1, 2, 2, 3, 4, 5]
    assert out["m_score"].tolist() == [5, 4, 3, 2, 2, 1, 1]
    # ten customers -> exactly two per quintile; tenants are scored separately
    ten = pd.DataFrame({"tenant_id": ["x"] * 10 + ["y"], "customer_id": [str(i) for i in range(11)],
                        "recency_days": 0, "frequency": 1, "monetary": np.arange(11.0)})
    scored = rfm_scores(ten)
    assert scored["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1]


def test_rfm_values_gaps_and_known_customers_only():
    df = orders([("a", -11, 10.0), ("a", -8, 20.0), ("a", -1, 5.5), ("a", 0, 4.5),
                 ("b", -30, 3.0), ("b", -5, 3.0), (None, -2, 100.0), ("z", 5, 9.0)])
    out = customer_features(df, None, C, horizon_days=5)
    assert out["customer_id"].tolist() == ["a", "b"]  # no guest, nobody with only later orders
    a, b = out.iloc[0], out.iloc[1]
    assert (a["recency_days"], a["frequency"], a["monetary"], a["tenure_days"]) == (0, 4, 40.0, 11)
    assert a["avg_order_value"] == 10.0
    assert (a["gap_1"], a["gap_2"], a["gap_3"]) == (1.0, 7.0, 3.0)
    assert b["gap_1"] == 25.0 and np.isnan(b["gap_2"]) and np.isnan(b["gap_3"])
    assert list(out.columns) == [*FEATURE_COLUMNS, "churned"]


def test_churn_label_window_boundaries():
    df = orders([("on_edge", -3, 1.0), ("on_edge", 30, 1.0),      # ordered on cutoff + 30
                 ("too_late", -3, 1.0), ("too_late", 31, 1.0),    # first order after the window
                 ("cutoff_day", 0, 1.0),                          # the cutoff day is history
                 ("next_day", -9, 1.0), ("next_day", 1, 1.0)])
    out = customer_features(df, None, C, horizon_days=30).set_index("customer_id")
    assert out["churned"].to_dict() == {"cutoff_day": 1, "next_day": 0, "on_edge": 0,
                                        "too_late": 1}
    assert out.loc["cutoff_day", "recency_days"] == 0


def test_label_needs_the_whole_window():
    df = orders([("a", -3, 1.0), ("a", 29, 1.0)])
    with pytest.raises(LabelWindowError, match="2024-03-31"):
        customer_features(df, None, C, horizon_days=30)
    out = customer_features(df, None, C, horizon_days=30, label=False)
    assert "churned" not in out.columns and out["frequency"].tolist() == [1]
    with pytest.raises(ValueError, match="calendar day"):
        customer_features(df, None, "2024-03-01 12:00", horizon_days=5)
    with pytest.raises(ValueError, match="support_contacts"):
        customer_features(df.drop(columns="support_contacts"), None, C, label=False)


def test_returns_lateness_support_and_channels_use_only_what_was_known_at_cutoff():
    df = orders([("a", -20, 1.0), ("a", -10, 1.0), ("a", -5, 1.0), ("a", 0, 1.0), ("a", 40, 1.0)],
                channel=["app", "jd", "jd", "pos", "app"],
                support_contacts=[1, 0, 2, 0, 5],
                is_late=pd.array([True, False, True, True, True], dtype="boolean"),
                delivery_hours=[30.0, 20.0, 200.0, 12.0, 5.0])
    events = pd.DataFrame({
        "tenant_id": "t", "order_id": ["o0", "o1", "o4"], "event_type": "Returned",
        "event_date": C + pd.to_timedelta([-3, 2, 41], unit="D"),
    })
    a = customer_features(df, events, C, horizon_days=30).iloc[0]
    assert a["return_rate"] == 0.25            # o1's return happened after the cutoff
    assert a["support_contacts"] == 3
    # o2 (200 h from day -5) lands after the cutoff day; o3 (12 h on the cutoff day) is known
    assert a["late_rate"] == pytest.approx(2 / 3)
    shares = a[list(CHANNEL_COLUMNS)]
    assert shares.sum() == pytest.approx(1.0)
    assert (a["channel_share_app"], a["channel_share_jd"], a["channel_share_pos"]) == (
        0.25, 0.5, 0.25)
    assert a["churned"] == 1
    # without events, returns fall back to the (latest) status
    status = df.assign(status=["returned", "delivered", "delivered", "returned", "delivered"])
    assert customer_features(status, None, C, horizon_days=30)["return_rate"].item() == 0.5


def test_categorical_and_nullable_inputs_give_the_same_result():
    df = orders([("b", -4, 2.5), ("a", -3, 1.25), ("a", -1, 3.0), ("c", -2, 9.99), ("c", 2, 1.0)])
    plain = customer_features(df, None, C, horizon_days=2)
    typed = df.astype({"customer_id": "category", "tenant_id": "string", "channel": "category",
                       "support_contacts": "Int64", "is_guest": "boolean"})
    pd.testing.assert_frame_equal(customer_features(typed, None, C, horizon_days=2), plain)


def test_rfm_values_match_customer_features():
    from features.customers import rfm_values

    df = orders([("b", -4, 2.5), ("a", -3, 1.25), ("a", -1, 3.0), (None, -1, 5.0), ("c", 2, 1.0)])
    got = rfm_values(df, C)
    full = customer_features(df, None, C, label=False)
    pd.testing.assert_frame_equal(got, full[list(got.columns)])
    assert got["customer_id"].tolist() == ["a", "b"] and got["monetary"].tolist() == [4.25, 2.5]


def test_only_guests_give_an_empty_frame_with_every_column():
    out = customer_features(orders([(None, -3, 1.0), (None, 5, 2.0)]), None, C, horizon_days=5)
    assert out.empty and list(out.columns) == [*FEATURE_COLUMNS, "churned"]
    assert out["r_score"].dtype == np.int64 and out["monetary"].dtype == np.float64


def test_what_the_source_lacks_stays_unknown_not_zero():
    df = orders([("a", -20, 1.0), ("a", -5, 2.0), ("b", -3, 4.0), ("b", 30, 1.0)],
                channel=pd.array([None] * 4, dtype="string"),
                support_contacts=pd.array([None] * 4, dtype="Int64"),
                is_late=pd.array([None] * 4, dtype="boolean"),
                delivery_hours=[np.nan] * 4)
    f = customer_features(df, None, C, horizon_days=30)
    assert f["support_contacts"].isna().all() and f["late_rate"].isna().all()
    assert f[list(CHANNEL_COLUMNS)].isna().all().all()
    assert f["frequency"].tolist() == [2, 1] and f["churned"].tolist() == [1, 0]
    # one known value anywhere: the column is real again (unknown orders count as 0 contacts)
    known = df.assign(support_contacts=pd.array([1, None, None, None], dtype="Int64"))
    assert customer_features(known, None, C, horizon_days=30)["support_contacts"].tolist() == [
        1, 0]
