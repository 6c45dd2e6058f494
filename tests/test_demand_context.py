"""Region-averaged context and named holidays: pandas and the Spark twin agree."""

from __future__ import annotations

import pandas as pd
import pytest

from features.demand import REGIONAL, SHARE_WEATHER, holiday_frame, regional_context


@pytest.fixture
def context() -> pd.DataFrame:
    rows = []
    for tenant in ("a", "b"):
        for region, weather in (("north", "rain"), ("south", "storm"), ("west", "sunny")):
            for i, d in enumerate(pd.date_range("2024-05-01", periods=3)):
                rows.append({"tenant_id": tenant, "date": d, "region": region,
                             "promotion_intensity": 0.9 if region == "north" and i == 1 else None,
                             "weather": weather if i else "sunny",
                             "holiday_name": "May Day" if i == 0 else None})
    return pd.DataFrame(rows)


def test_weather_shares_follow_the_contract_weather_list(context):
    assert REGIONAL == ("promotion_mean", *(f"{w}_share" for w in SHARE_WEATHER))
    out = regional_context(context).set_index(["tenant_id", "ds"])
    day2 = out.loc[("a", pd.Timestamp("2024-05-02"))]
    assert day2["promotion_mean"] == pytest.approx(0.3)  # one region of three
    assert day2["rain_share"] == pytest.approx(1 / 3)
    assert day2["storm_share"] == pytest.approx(1 / 3)
    assert out.loc[("a", pd.Timestamp("2024-05-01")), "rain_share"] == 0


@pytest.mark.spark
def test_spark_twins_match_pandas(spark, context):
    from features import spark_demand

    sdf = spark.createDataFrame(context.astype({"promotion_intensity": float}))
    got = spark_demand.regional_context(sdf).toPandas()
    got["ds"] = pd.to_datetime(got["ds"])
    want = regional_context(context)
    keys = ["tenant_id", "ds"]
    pd.testing.assert_frame_equal(got.sort_values(keys, ignore_index=True),
                                  want.sort_values(keys, ignore_index=True), check_dtype=False)
    hol = spark_demand.holiday_frame(sdf).toPandas()
    hol["ds"] = pd.to_datetime(hol["ds"])
    pd.testing.assert_frame_equal(hol, holiday_frame(context), check_dtype=False)
    assert spark_demand.holiday_frame(sdf.drop("holiday_name")) is None
