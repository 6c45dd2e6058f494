"""pandas and Spark give the same features on the same data (function level and pipeline level)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import customers as pd_customers
from features import demand as pd_demand
from oms.contract import CHANNELS, WEATHER

pytestmark = pytest.mark.spark

START = pd.Timestamp("2023-01-02")
DAYS = 420  # > 364 so "same day last year" has values
CUTOFF = START + pd.Timedelta(days=300)


def synthetic(seed: int = 3) -> dict[str, pd.DataFrame]:
    """Small contract-shaped tables: 2 tenants, guests, ties, returns, late deliveries."""
    rng = np.random.default_rng(seed)
    n = 1500
    tenant = rng.choice(["acme", "zeta"], n, p=[0.7, 0.3])
    guest = rng.random(n) < 0.1
    day = np.sort(rng.integers(0, DAYS, n))
    day[-5:] = DAYS - 1
    customer = np.where(guest, None, np.char.add("c", rng.integers(0, 90, n).astype(str)))
    hours = np.where(rng.random(n) < 0.8, rng.uniform(10, 120, n), np.nan)
    late = np.where(np.isnan(hours), None, hours > 60)
    orders = pd.DataFrame({
        "tenant_id": tenant,
        "order_id": [f"o{i}" for i in range(n)],
        "customer_id": customer,
        "is_guest": guest,
        "order_date": START + pd.to_timedelta(day, unit="D"),
        "channel": rng.choice(list(CHANNELS), n),
        "region": rng.choice(["north", "south"], n),
        "status": rng.choice(["delivered", "cancelled", "returned"], n, p=[0.85, 0.05, 0.1]),
        # prices in cents and some exact ties, so monetary ranks have ties too
        "total_amount": np.round(rng.choice([9.99, 19.9, 5.0, 120.35, 33.3], n)
                                 * rng.integers(1, 4, n), 2),
        "support_contacts": rng.poisson(0.3, n),
        "is_late": late,
        "delivery_hours": hours,
    })
    returned = orders.sample(120, random_state=seed)
    events = pd.DataFrame({
        "tenant_id": returned["tenant_id"].to_numpy(),
        "event_id": [f"e{i}" for i in range(len(returned))],
        "order_id": returned["order_id"].to_numpy(),
        "event_type": "Returned",
        "event_date": returned["order_date"].to_numpy() + np.timedelta64(9, "D"),
    })
    m = 2000
    lines = pd.DataFrame({
        "tenant_id": rng.choice(["acme", "zeta"], m),
        "order_id": [f"o{i % n}" for i in range(m)],
        "line_no": np.arange(m) % 3 + 1,
        "sku": rng.choice([f"s{i:02d}" for i in range(25)] + ["POST"], m),
        "quantity": rng.integers(1, 5, m),
        "is_product": True,
        "order_date": START + pd.to_timedelta(np.sort(rng.integers(0, DAYS, m)), unit="D"),
    })
    lines["is_product"] = lines["sku"] != "POST"
    ctx_days = pd.date_range(START, periods=DAYS + 20)  # reaches past the last order
    ctx = pd.DataFrame([
        {"tenant_id": t, "date": d, "region": r} for t in ("acme", "zeta")
        for d in ctx_days for r in ("north", "south")
    ])
    k = len(ctx)
    ctx["is_holiday"] = rng.random(k) < 0.05
    ctx["holiday_name"] = np.where(ctx["is_holiday"], "h", None)
    promo = rng.random(k) < 0.1
    ctx["promotion_name"] = np.where(promo, "p", None)
    ctx["promotion_intensity"] = np.where(promo, rng.uniform(0.1, 1, k).round(2), 0.0)
    ctx["weather"] = rng.choice(list(WEATHER), k)
    ctx["temperature_c"] = rng.uniform(-5, 30, k).round(1)
    return {"orders": orders, "order_lines": lines, "order_events": events, "daily_context": ctx}


def complete(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Add the contract columns a test frame leaves out (as nulls), for writing to a lake."""
    from oms.contract import empty_frame

    out = frame.copy()
    for name, dtype in empty_frame(table).dtypes.items():
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), dtype=dtype)
    return out


def to_spark(spark, df: pd.DataFrame):
    out = df.copy()
    for c in out.columns:  # nulls as None (a float NaN is not null in Spark)
        if not pd.api.types.is_datetime64_any_dtype(out[c]) and out[c].isna().any():
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return spark.createDataFrame(out)


def aligned(spark_out, pandas_out: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, ...]:
    s = spark_out.toPandas()
    assert sorted(s.columns) == sorted(pandas_out.columns)
    s = s[list(pandas_out.columns)].sort_values(keys).reset_index(drop=True)
    p = pandas_out.sort_values(keys).reset_index(drop=True)
    for c in p.columns:
        if pd.api.types.is_datetime64_any_dtype(p[c]):
            s[c] = pd.to_datetime(s[c]).astype("datetime64[ns]")
        elif p[c].dtype == object:
            s[c] = s[c].astype(object)
        else:
            s[c] = s[c].astype(p[c].dtype)
    return s, p


@pytest.fixture(scope="module", autouse=True)
def tiny_data_spark(spark):
    """Run this module's Spark work interpreted, in one shuffle partition.

    On a few thousand rows Spark spends most of its time compiling generated code and
    scheduling tasks; the plans (and so the results) are the same. Restored afterwards,
    since the session is shared with other test modules.
    """
    tuned = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN",
             "spark.sql.shuffle.partitions": "1"}
    before = {k: spark.conf.get(k, None) for k in tuned}
    for k, v in tuned.items():
        spark.conf.set(k, v)
    yield
    for k, v in before.items():
        if v is None:
            spark.conf.unset(k)
        else:
            spark.conf.set(k, v)


@pytest.fixture(scope="module")
def data():
    return synthetic()


def test_sku_panel_top_n_min_days_without_context_parity(spark, data):
    """Selection and the no-context branch (the lake test covers the context branch)."""
    from features import spark_demand

    p = pd_demand.sku_demand_panel(data["order_lines"], None, top_n=7, min_days=100)
    s = spark_demand.sku_demand_panel(to_spark(spark, data["order_lines"]), None,
                                      top_n=7, min_days=100)
    s, p = aligned(s, p, ["tenant_id", "unique_id", "ds"])
    assert len(p[["tenant_id", "unique_id"]].drop_duplicates()) == 7
    assert "POST" not in set(p["unique_id"])
    pd.testing.assert_frame_equal(s, p, check_exact=False, rtol=1e-12)


def test_context_for_future_dates_parity(spark, data):
    from features import spark_demand

    future = pd.DataFrame({"unique_id": ["acme"] * 30 + ["zeta"] * 30,
                           "ds": list(pd.date_range(START + pd.Timedelta(days=DAYS - 5),
                                                    periods=30)) * 2})
    p = pd_demand.context_for_dates(data["daily_context"], future)
    s = spark_demand.context_for_dates(to_spark(spark, data["daily_context"]),
                                       spark.createDataFrame(future))
    s, p = aligned(s, p, ["unique_id", "ds"])
    assert p["temperature_c"].isna().sum() == 2 * 5  # the context ends 20 days after the data
    pd.testing.assert_frame_equal(s, p, check_exact=False, rtol=1e-12)


def test_spark_ntile_matches_sql_ntile_and_spreads_buckets(spark):
    """The distributed rank-based ntile equals Spark's own NTILE window, ties included."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from features import spark_customers

    rng = np.random.default_rng(0)
    n = 503
    rfm = pd.DataFrame({
        "tenant_id": rng.choice(["a", "b"], n),
        "customer_id": [f"k{i:04d}" for i in rng.permutation(n)],
        "recency_days": rng.integers(0, 30, n),
        "frequency": rng.integers(1, 6, n),
        "monetary": rng.choice([10.0, 20.5, 99.99], n) * rng.integers(1, 3, n),
    })
    got = spark_customers.rfm_scores(spark.createDataFrame(rfm), buckets=8).toPandas()
    sdf = spark.createDataFrame(rfm)
    for col, score, asc in pd_customers.RFM_KEYS:
        order = F.col(col) if asc else F.col(col).desc()
        w = Window.partitionBy("tenant_id").orderBy(order, "customer_id")
        sdf = sdf.withColumn(score, F.ntile(5).over(w).cast("long"))
    want = sdf.toPandas()
    pandas = pd_customers.rfm_scores(rfm)
    cols = ["tenant_id", "customer_id", "r_score", "f_score", "m_score"]
    for frame in (got, pandas):
        pd.testing.assert_frame_equal(
            frame[cols].sort_values(cols[:2]).reset_index(drop=True),
            want[cols].sort_values(cols[:2]).reset_index(drop=True), check_dtype=False)


def test_build_features_parity_on_a_lake(spark, data, tmp_path):
    """The pipeline writes the same three datasets with either engine."""
    from oms.lake import read_table, write_table
    from pipelines.features import build_features

    lake = tmp_path / "lake"
    for name, frame in data.items():
        write_table(complete(frame, name), lake / name, table=name)
    rp = build_features(str(lake), str(tmp_path / "pd"), engine="pandas",
                        cutoff=CUTOFF, horizon_days=90)
    rs = build_features(str(lake), str(tmp_path / "sp"), engine="spark",
                        cutoff=CUTOFF, horizon_days=90, spark=spark)
    assert rp.rows_out == rs.rows_out and rp.rows_out["customer_features"] > 0
    assert rp.labelled and rs.cutoff == rp.cutoff == str(CUTOFF.date())
    keys = {"daily_volume": ["unique_id", "ds"], "sku_demand": ["tenant_id", "unique_id", "ds"],
            "customer_features": ["tenant_id", "customer_id"]}
    got = {}
    for name, k in keys.items():
        p = read_table(tmp_path / "pd" / name).sort_values(k).reset_index(drop=True)
        s = read_table(tmp_path / "sp" / name)
        assert sorted(s.columns) == sorted(p.columns)
        s = s[list(p.columns)].sort_values(k).reset_index(drop=True)
        assert (s.dtypes == p.dtypes).all(), name  # same types on disk, not just same values
        pd.testing.assert_frame_equal(s, p, check_exact=False, rtol=1e-12)
        got[name] = p
    # the pipeline's pandas output is the feature functions' output
    pd.testing.assert_frame_equal(
        got["customer_features"],
        pd_customers.customer_features(data["orders"], data["order_events"], CUTOFF, 90))
    dv = got["daily_volume"]
    assert dv["y_same_day_last_year"].notna().any() and dv["is_holiday"].sum() > 0
    cf = got["customer_features"]
    assert cf["churned"].nunique() == 2 and cf["gap_3"].notna().any()
    # RFM scores and money are exact (integer cents), not just close
    exact = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "churned"]
    s = read_table(tmp_path / "sp" / "customer_features").sort_values(keys["customer_features"])
    pd.testing.assert_frame_equal(s[exact].reset_index(drop=True), cf[exact], check_exact=True)
