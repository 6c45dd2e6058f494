"""Daily volume and SKU panel on hand-made frames with answers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.demand import (
    EXOGENOUS_COLUMNS,
    context_for_dates,
    daily_order_volume,
    sku_demand_panel,
)

D0 = pd.Timestamp("2024-01-01")  # a Monday


def day(k: int) -> pd.Timestamp:
    return D0 + pd.Timedelta(days=k)


def orders_on(days: list[int], tenant: str = "t", **extra) -> pd.DataFrame:
    return pd.DataFrame({"tenant_id": tenant, "order_date": [day(k) for k in days],
                         "total_amount": 1.0, **extra})


def context(rows: list[tuple]) -> pd.DataFrame:
    cols = ["tenant_id", "date", "region", "is_holiday", "holiday_name", "promotion_name",
            "promotion_intensity", "weather", "temperature_c"]
    return pd.DataFrame(rows, columns=cols)


def test_zero_filled_and_leak_free_rolling_sums():
    out = daily_order_volume(orders_on([0, 0, 2, 9, 9, 9, 10]))
    assert list(out["ds"]) == [day(k) for k in range(11)]
    assert list(out["y"]) == [2, 0, 1, 0, 0, 0, 0, 0, 0, 3, 1]
    # the 7 days strictly before ds: day 9 sees days 2..8, day 7 sees days 0..6
    assert out.loc[out["ds"] == day(9), "orders_last_7d"].item() == 1
    assert out.loc[out["ds"] == day(8), "orders_last_7d"].item() == 1
    assert out.loc[out["ds"] == day(7), "orders_last_7d"].item() == 3
    assert out.loc[out["ds"] == day(0), "orders_last_7d"].item() == 0
    assert list(out["orders_last_30d"]) == [0, 2, 2, 3, 3, 3, 3, 3, 3, 3, 6]
    assert out["ds"].dtype == "datetime64[ns]" and out["y"].dtype == np.int64


def test_same_day_last_year_is_364_days_back_same_weekday():
    out = daily_order_volume(orders_on([0, 0, 0, 5, 364, 400]))
    row = out[out["ds"] == day(364)].iloc[0]
    assert row["y_same_day_last_year"] == 3
    assert row["day_of_week"] == 0  # Monday again
    assert out.loc[out["ds"] == day(369), "y_same_day_last_year"].item() == 1
    assert out.loc[out["ds"] < day(364), "y_same_day_last_year"].isna().all()


def test_cancelled_orders_count_and_revenue_is_exact_in_cents():
    orders = orders_on([0, 0, 1], status=["cancelled", "delivered", "returned"])
    orders["total_amount"] = [0.1, 0.2, 19.99]
    out = daily_order_volume(orders)
    assert list(out["y"]) == [2, 1]
    assert out["revenue"].tolist() == [0.3, 19.99]  # 0.1 + 0.2 would be 0.30000000000000004


def test_calendar_columns():
    out = daily_order_volume(orders_on([0, 5, 6, 31]))
    sat = out[out["ds"] == day(5)].iloc[0]
    assert (sat["day_of_week"], sat["is_weekend"]) == (5, 1)
    assert (sat["day_of_month"], sat["month"]) == (6, 1)
    feb = out[out["ds"] == day(31)].iloc[0]
    assert (feb["day_of_month"], feb["month"], feb["is_weekend"]) == (1, 2, 0)


def test_context_aggregates_regions_and_fills_missing_days():
    ctx = context([
        ("t", day(0), "north", True, "New Year", None, 0.0, "rain", 2.0),
        ("t", day(0), "south", False, None, "sale", 0.6, "snow", 8.0),
        ("t", day(1), "north", False, None, "sale", 0.3, "sunny", 4.0),
        ("t", day(1), "south", False, None, None, 0.0, "sunny", 6.0),
        ("t", day(1), "east", False, None, None, 0.0, "storm", 9.0),
        ("other", day(2), "north", True, "x", "y", 1.0, "storm", 30.0),
    ])
    out = daily_order_volume(orders_on([0, 1, 2]), ctx).set_index("ds")
    d0, d1, d2 = out.loc[day(0)], out.loc[day(1)], out.loc[day(2)]
    assert (d0["is_holiday"], d0["has_promotion"], d0["promotion_intensity"]) == (1, 1, 0.6)
    assert d0["temperature_c"] == 5.0
    assert d0["weather_snow"] == 1 and d0["weather_rain"] == 0  # 1-1 tie: the more severe
    assert d1["weather_sunny"] == 1 and d1["temperature_c"] == pytest.approx(19 / 3)
    assert (d1["is_holiday"], d1["has_promotion"], d1["promotion_intensity"]) == (0, 1, 0.3)
    # day 2 has context only for another tenant: no holiday, NaN temperature, no weather
    assert (d2["is_holiday"], d2["has_promotion"]) == (0, 0) and np.isnan(d2["temperature_c"])
    assert sum(d2[f"weather_{w}"] for w in ("sunny", "cloudy", "rain", "snow", "storm")) == 0


def test_context_for_future_dates_matches_the_training_frame():
    ctx = context([("t", day(k), "north", k == 40, None, None, 0.0, "cloudy", 1.0 * k)
                   for k in range(45)])
    hist = daily_order_volume(orders_on([0, 30]), ctx)
    future = pd.DataFrame({"unique_id": "t", "ds": [day(k) for k in range(31, 45)]})
    exog = context_for_dates(ctx, future)
    assert list(exog.columns) == ["unique_id", "ds", *EXOGENOUS_COLUMNS]
    assert exog.loc[exog["ds"] == day(40), "is_holiday"].item() == 1
    assert exog["temperature_c"].tolist() == [float(k) for k in range(31, 45)]
    pd.testing.assert_series_equal(exog.dtypes, hist[exog.columns].dtypes)


def test_tenants_get_their_own_series():
    orders = pd.concat([orders_on([0, 3], tenant="b"), orders_on([2], tenant="a")])
    out = daily_order_volume(orders)
    assert out.groupby("unique_id")["ds"].min().to_dict() == {"a": day(2), "b": day(0)}
    assert out.groupby("unique_id")["ds"].max().to_dict() == {"a": day(3), "b": day(3)}
    assert out["unique_id"].tolist() == ["a", "a", "b", "b", "b", "b"]


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="order_date"):
        daily_order_volume(pd.DataFrame({"tenant_id": ["t"]}))
    tz = orders_on([0])
    tz["order_date"] = tz["order_date"].dt.tz_localize("UTC")
    with pytest.raises(ValueError, match="tz-naive"):
        daily_order_volume(tz)
    assert daily_order_volume(orders_on([]).iloc[:0]).empty


def lines(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["sku", "d", "quantity", "is_product"])
    return df.assign(tenant_id="t", order_date=df["d"].map(day)).drop(columns="d")


def test_sku_panel_zero_fills_from_first_sale_and_skips_non_products():
    panel = sku_demand_panel(lines([
        ("b", 2, 3, True), ("a", 0, 1, True), ("a", 0, 2, True), ("a", 3, 5, True),
        ("POST", 5, 1, False),
    ]))
    assert set(panel["unique_id"]) == {"a", "b"}
    a = panel[panel["unique_id"] == "a"]
    assert a["y"].tolist() == [3, 0, 0, 5, 0, 0]  # through the data's last day (5)
    assert panel[panel["unique_id"] == "b"]["ds"].tolist() == [day(k) for k in range(2, 6)]
    assert {"unique_id", "ds", "y", "tenant_id", *EXOGENOUS_COLUMNS} == set(panel.columns)


def test_sku_panel_top_n_and_min_days():
    data = lines([("a", 0, 1, True), ("b", 1, 4, True), ("c", 2, 4, True), ("d", 4, 9, True)])
    assert sorted(set(sku_demand_panel(data, top_n=2)["unique_id"])) == ["b", "d"]
    # b and c tie on units: the tie goes to the smaller sku
    assert sorted(set(sku_demand_panel(data, top_n=3)["unique_id"])) == ["b", "c", "d"]
    assert sorted(set(sku_demand_panel(data, min_days=3)["unique_id"])) == ["a", "b", "c"]
    assert sorted(set(sku_demand_panel(data, top_n=1, min_days=3)["unique_id"])) == ["b"]
    with pytest.raises(ValueError, match="top_n"):
        sku_demand_panel(data, top_n=0)


def _tiny_lake(tmp_path, days: int):
    """A contract lake with a few orders/lines per day (pandas-only pipeline tests)."""
    from oms.contract import empty_frame
    from oms.lake import write_table

    rng = np.random.default_rng(1)
    n = days * 3
    d = np.repeat(np.arange(days), 3)
    frames = {
        "orders": pd.DataFrame({
            "tenant_id": "t", "order_id": [f"o{i}" for i in range(n)],
            "customer_id": [f"c{k}" for k in rng.integers(0, 20, n)], "is_guest": False,
            "order_date": [day(int(k)) for k in d], "channel": "app", "status": "delivered",
            "total_amount": 10.0, "support_contacts": 0, "is_late": False,
            "delivery_hours": 24.0}),
        "order_lines": pd.DataFrame({
            "tenant_id": "t", "order_id": [f"o{i}" for i in range(n)], "line_no": 1,
            "sku": rng.choice(["a", "b"], n), "quantity": 1, "is_product": True,
            "order_date": [day(int(k)) for k in d]}),
        "order_events": pd.DataFrame({
            "tenant_id": "t", "event_id": ["e0", "e1", "e2"], "order_id": ["o0", "o0", "o4"],
            "event_type": ["Returned", "Returned", "Delivered"],
            "event_date": [day(2), day(2), day(3)]}),
    }
    for name, frame in frames.items():
        n = len(frame)
        full = empty_frame(name)
        for col in full.columns:
            full[col] = frame[col] if col in frame else pd.Series([None] * n, dtype=full[col].dtype)
        write_table(full, tmp_path / "lake" / name, table=name)
    return tmp_path / "lake"


def test_pipeline_picks_a_labelable_cutoff_and_writes_three_datasets(tmp_path):
    from oms.lake import read_table
    from pipelines.features import OUTPUTS, build_features

    lake = _tiny_lake(tmp_path, days=60)
    rep = build_features(str(lake), str(tmp_path / "out"), horizon_days=20)
    assert rep.cutoff == str(day(59 - 20).date()) and rep.labelled
    assert rep.rows_in["orders"] == 180 and rep.rows_out["daily_volume"] == 60
    feats = read_table(tmp_path / "out" / "customer_features").set_index("customer_id")
    assert feats["churned"].isin([0, 1]).all()
    # o0 was returned (two line events, one order); nobody else returned anything
    buyer = f"c{np.random.default_rng(1).integers(0, 20, 180)[0]}"
    assert feats.loc[buyer, "return_rate"] == 1 / feats.loc[buyer, "frequency"]
    assert (feats.drop(index=buyer)["return_rate"] == 0).all()
    # one published version holding exactly the three datasets (and no leftover temp folder)
    from oms.versions import read_pointer, snapshot_root

    assert read_pointer(tmp_path / "out")["tables"] == sorted(OUTPUTS)
    assert sorted(p.name for p in Path(snapshot_root(tmp_path / "out")).iterdir()) == \
        sorted(OUTPUTS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["_current", "_lock", "_snapshots"]
    # data shorter than the horizon: features at the last day, no label (not an error)
    short = build_features(str(lake), str(tmp_path / "short"), horizon_days=90)
    assert not short.labelled and short.cutoff == str(day(59).date())
    assert "churned" not in read_table(tmp_path / "short" / "customer_features").columns


def test_pipeline_errors_name_the_table_and_leave_no_partial_output(tmp_path):
    import shutil

    from oms.lake import LakeError
    from pipelines.features import build_features

    lake = _tiny_lake(tmp_path, days=10)
    with pytest.raises(ValueError, match="data must reach"):
        build_features(str(lake), str(tmp_path / "out"), cutoff=day(5), horizon_days=30,
                       label=True)
    shutil.rmtree(lake / "order_lines")
    with pytest.raises(LakeError, match="order_lines"):
        build_features(str(lake), str(tmp_path / "out"), horizon_days=3)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(ValueError, match="engine"):
        build_features(str(lake), str(tmp_path / "out"), engine="polars")


def test_categorical_keys_with_unused_categories_and_old_dates():
    orders = orders_on([0, 2, 2], tenant="b")
    orders["tenant_id"] = pd.Categorical(orders["tenant_id"], categories=["a", "b", "zz"])
    out = daily_order_volume(orders)
    assert out["unique_id"].tolist() == ["b"] * 3 and out["y"].tolist() == [1, 0, 2]
    old = pd.DataFrame({"tenant_id": "t",
                        "order_date": pd.to_datetime(["1969-12-31", "1970-01-01"])})
    assert daily_order_volume(old)["ds"].tolist() == list(old["order_date"])
    lines = pd.DataFrame({"tenant_id": pd.Categorical(["t", "t"], categories=["s", "t"]),
                          "sku": pd.Categorical(["k", "k"], categories=["j", "k"]),
                          "quantity": [2, 3], "is_product": True, "order_date": [day(0), day(1)]})
    assert sku_demand_panel(lines)["y"].tolist() == [2, 3]
