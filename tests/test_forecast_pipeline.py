"""Pipeline helpers around the models: context features, future rows, the forecast CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.demand import add_regional_context, holiday_frame
from pipelines.train_forecast import future_frame, known_exog, ordinary_future, prepare


@pytest.fixture
def context():
    """Two regions, 05-01..05-10; a flash sale in one city on 05-03, holidays 05-02, 05-07."""
    days = pd.date_range("2024-05-01", periods=10)
    names = {1: "May Day", 6: "Labour Day"}
    rows = []
    for region in ("north", "south"):
        for i, d in enumerate(days):
            rows.append({
                "tenant_id": "t", "date": d, "region": region,
                "is_holiday": i in names, "holiday_name": names.get(i),
                "promotion_name": "Flash" if (i == 2 and region == "north") else None,
                "promotion_intensity": 0.8 if (i == 2 and region == "north") else 0.0,
                "weather": "rain" if (region == "south" and i == 1) else "sunny",
                "temperature_c": 20.0 + i,
            })
    return pd.DataFrame(rows)


def test_regional_context_averages_over_regions(context):
    series = pd.DataFrame({"unique_id": "t", "ds": pd.date_range("2024-05-01", periods=4),
                           "y": [1.0, 2, 3, 4]})
    out = add_regional_context(series, context)
    assert out["promotion_mean"].tolist() == [0.0, 0.0, 0.4, 0.0]  # one city of two
    assert out["rain_share"].tolist() == [0.0, 0.5, 0.0, 0.0]
    hol = holiday_frame(context)
    assert hol.to_dict("records") == [
        {"holiday": "May Day", "ds": pd.Timestamp("2024-05-02")},
        {"holiday": "Labour Day", "ds": pd.Timestamp("2024-05-07")}]


def test_future_frame_uses_planned_context_then_ordinary_days(context):
    from features.demand import context_for_dates

    hist = pd.DataFrame({"unique_id": "t", "ds": pd.date_range("2024-04-01", periods=34)})
    hist["y"] = np.arange(34.0)
    hist = add_regional_context(context_for_dates(context, hist), context)
    fut = future_frame(hist, context, 10)  # history ends 05-04; context reaches 05-10
    assert len(fut) == 10 and fut["ds"].min() == pd.Timestamp("2024-05-05")
    by_day = fut.set_index("ds")
    assert by_day.loc["2024-05-07", "is_holiday"] == 1  # planned holiday
    assert by_day.loc["2024-05-06", "is_holiday"] == 0
    assert by_day.loc["2024-05-12", "temperature_c"] == pytest.approx(
        prepare(hist, ["temperature_c"])["temperature_c"].tail(7).mean())  # an ordinary day
    assert not fut[known_exog(hist)].isna().any().any()


def test_prepare_fills_missing_temperature_and_checks_columns():
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=4),
                       "y": [1.0, 2, 3, 4], "temperature_c": [np.nan, 5.0, np.nan, 7.0]})
    out = prepare(df, ["temperature_c"])
    assert out["temperature_c"].tolist() == [5.0, 5.0, 5.0, 7.0]
    fut = ordinary_future(out, 3, ["temperature_c"])
    assert len(fut) == 3 and fut["temperature_c"].notna().all()
    from models.forecast.base import ForecastInputError

    with pytest.raises(ForecastInputError, match="missing column"):
        prepare(df.drop(columns="y"), [])


def test_forecast_cli_without_champion_is_a_clear_error(settings, mlflow_uri):
    from flows.cli import app

    res = CliRunner().invoke(app, ["forecast", "--target", "volume"])
    assert res.exit_code == 1
    assert "no champion registered for 'order_volume_forecaster__demo'" in res.output
