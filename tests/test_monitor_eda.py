"""EDA helpers behind notebooks/00: lifts vs same-weekday ordinary days, on a hand-made case."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.eda import holiday_effect, promotion_effect, shares, volume_by, weekday_profile


def _days() -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=14)  # Monday .. Sunday, twice
    d = pd.DataFrame({"tenant_id": "a", "ds": ds, "weekday": ds.day_name().str[:3],
                      "orders": [20 if x >= 5 else 10 for x in ds.dayofweek],
                      "is_holiday": False, "holiday_name": None, "promotion_intensity": 0.0})
    d.loc[7, ["orders", "is_holiday", "holiday_name"]] = [30, True, "Founders Day"]  # Monday
    d.loc[12, ["orders", "promotion_intensity"]] = [40, 0.3]  # Saturday
    return d


def test_holiday_and_promotion_lifts_against_same_weekday_ordinary_days():
    days = _days()
    hol = holiday_effect(days)
    assert hol.loc["Founders Day", "lift"] == pytest.approx(3.0)  # 30 vs Mondays' 10
    promo = promotion_effect(days)
    assert promo.loc["(0.2, 0.5]", "lift"] == pytest.approx(2.0)  # 40 vs Saturdays' 20
    assert promo.loc["none", "lift"] == pytest.approx(1.0)
    assert weekday_profile(days)["Sat"] == 20 and weekday_profile(days)["Mon"] == 10


def test_volume_and_shares_by_channel():
    orders = pd.DataFrame({"ds": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"]),
                           "channel": ["app", "web", "app"], "region": "X",
                           "total_amount": [10.0, 30.0, 20.0]})
    wide = volume_by(orders, "channel")
    assert wide.loc["2024-01-02", "web"] == 0 and wide["app"].tolist() == [1, 1]
    s = shares(orders, "channel")
    assert s.index.tolist() == ["app", "web"] and s.loc["web", "revenue_share"] == 0.5
