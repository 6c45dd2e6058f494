"""Spark twin of :mod:`features.demand`: the same frames, computed by Spark at scale.

Same names, same columns, same definitions (see :mod:`features.demand`); inputs and outputs
are Spark DataFrames. ``ds`` comes out as ``timestamp_ntz`` (a tz-naive day, like pandas).
Everything stays distributed: zero-filling explodes ``sequence(first, end)`` per series, and
the lag windows partition by series.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.demand import (
    CONTEXT_COLUMNS,
    EXOGENOUS_COLUMNS,
    REGIONAL,
    SAME_DAY_LAST_YEAR,
    SHARE_WEATHER,
)
from oms.contract import WEATHER


def require_columns(df: DataFrame, columns: list[str] | tuple[str, ...], name: str) -> None:
    """Raise a clear ``ValueError`` when a Spark DataFrame lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; has {df.columns}")


def as_day(col: str) -> Column:
    """A date/timestamp column as a Spark ``DATE``."""
    return F.to_date(F.col(col))


def aggregate_context(daily_context: DataFrame) -> DataFrame:
    """Per-region context collapsed to tenant × day (``tenant_id, ds`` + context columns)."""
    require_columns(daily_context, ["tenant_id", "date", "is_holiday", "promotion_name",
                                    "promotion_intensity", "weather", "temperature_c"],
                    "daily_context")
    ctx = daily_context.select(
        "tenant_id",
        as_day("date").alias("ds"),
        F.coalesce(F.col("is_holiday"), F.lit(False)).cast("int").alias("hol"),
        (F.col("promotion_name").isNotNull()
         | (F.coalesce(F.col("promotion_intensity"), F.lit(0.0)) > 0)).cast("int").alias("promo"),
        F.coalesce(F.col("promotion_intensity"), F.lit(0.0)).alias("intensity"),
        F.col("temperature_c").cast("double").alias("temp"),
        "weather",
    )
    keys = ["tenant_id", "ds"]
    agg = ctx.groupBy(*keys).agg(
        F.max("hol").cast("tinyint").alias("is_holiday"),
        F.max("promo").cast("tinyint").alias("has_promotion"),
        F.max("intensity").cast("double").alias("promotion_intensity"),
        F.avg("temp").alias("temperature_c"),
    )
    severity = F.array_position(F.array(*[F.lit(w) for w in WEATHER]), F.col("weather"))
    counts = (ctx.filter(F.col("weather").isNotNull())  # as pandas: null weather never wins
              .groupBy(*keys, "weather").count().withColumn("sev", severity))
    pick = Window.partitionBy(*keys).orderBy(F.desc("count"), F.desc("sev"))
    mode = (counts.withColumn("rn", F.row_number().over(pick)).filter("rn = 1")
            .select(*keys, "weather"))
    out = agg.join(mode, keys, "left")
    for w in WEATHER:
        out = out.withColumn(f"weather_{w}", (F.col("weather") == w).cast("tinyint"))
    return out.select(*keys, *CONTEXT_COLUMNS)


def _calendar(ds: Column) -> list[Column]:
    dow = F.weekday(ds)  # Monday = 0
    return [
        dow.cast("tinyint").alias("day_of_week"),
        F.dayofmonth(ds).cast("tinyint").alias("day_of_month"),
        F.month(ds).cast("tinyint").alias("month"),
        (dow >= 5).cast("tinyint").alias("is_weekend"),
    ]


def with_exogenous(panel: DataFrame, daily_context: DataFrame | None, tenant: str) -> DataFrame:
    """Add calendar + context columns to a frame with a ``ds`` DATE and a tenant column.

    Days without context get no holiday/promotion, null temperature and zero weather flags.
    """
    out = panel.select("*", *_calendar(F.col("ds")))
    if daily_context is None:
        ctx_cols = [F.lit(0).cast("tinyint").alias("is_holiday"),
                    F.lit(0).cast("tinyint").alias("has_promotion"),
                    F.lit(0.0).alias("promotion_intensity"),
                    F.lit(None).cast("double").alias("temperature_c")]
        ctx_cols += [F.lit(0).cast("tinyint").alias(f"weather_{w}") for w in WEATHER]
        return out.select("*", *ctx_cols)
    ctx = aggregate_context(daily_context).withColumnRenamed("tenant_id", tenant)
    out = out.join(ctx, [tenant, "ds"], "left")
    zero = [c for c in CONTEXT_COLUMNS if c not in ("temperature_c", "promotion_intensity")]
    fills = {c: F.coalesce(F.col(c), F.lit(0).cast("tinyint")) for c in zero}
    fills["promotion_intensity"] = F.coalesce(F.col("promotion_intensity"), F.lit(0.0))
    return out.withColumns(fills)


def context_for_dates(daily_context: DataFrame | None, dates: DataFrame) -> DataFrame:
    """Calendar and context columns for given ``(tenant_id|unique_id, ds)`` rows (future too)."""
    tenant = "tenant_id" if "tenant_id" in dates.columns else "unique_id"
    require_columns(dates, [tenant, "ds"], "dates")
    out = with_exogenous(dates.withColumn("_ds", F.col("ds")).withColumn("ds", as_day("ds")),
                         daily_context, tenant)
    return out.withColumn("ds", F.col("_ds")).drop("_ds")


def _ds_out() -> Column:
    return F.col("ds").cast("timestamp_ntz").alias("ds")


def daily_order_volume(orders: DataFrame, daily_context: DataFrame | None = None) -> DataFrame:
    """Spark twin of :func:`features.demand.daily_order_volume` (same columns and values)."""
    require_columns(orders, ["tenant_id", "order_date"], "orders")
    amount = (F.rint(F.col("total_amount").cast("double") * 100.0)
              if "total_amount" in orders.columns else F.lit(None).cast("double"))
    o = orders.select("tenant_id", as_day("order_date").alias("ds"), amount.alias("cents"))
    counts = o.groupBy("tenant_id", "ds").agg(F.count(F.lit(1)).alias("y"),
                                             F.sum("cents").alias("cents"))
    end = o.agg(F.max("ds").alias("end"))
    grid = (counts.groupBy("tenant_id").agg(F.min("ds").alias("first")).crossJoin(end)
            .select("tenant_id", F.explode(F.sequence("first", "end")).alias("ds")))
    panel = grid.join(counts, ["tenant_id", "ds"], "left").select(
        "tenant_id", "ds", F.coalesce("y", F.lit(0)).cast("long").alias("y"),
        (F.coalesce("cents", F.lit(0.0)) / 100.0).alias("revenue")
        if "total_amount" in orders.columns else F.lit(None).cast("double").alias("revenue"),
    )
    w = Window.partitionBy("tenant_id").orderBy("ds")
    lags = [
        F.coalesce(F.sum("y").over(w.rowsBetween(-7, -1)), F.lit(0)).cast("long")
        .alias("orders_last_7d"),
        F.coalesce(F.sum("y").over(w.rowsBetween(-30, -1)), F.lit(0)).cast("long")
        .alias("orders_last_30d"),
        F.lag("y", SAME_DAY_LAST_YEAR).over(w).cast("double").alias("y_same_day_last_year"),
    ]
    panel = with_exogenous(panel.select("*", *lags), daily_context, "tenant_id")
    return panel.select(
        F.col("tenant_id").alias("unique_id"), _ds_out(), "y", "revenue", *EXOGENOUS_COLUMNS,
        "orders_last_7d", "orders_last_30d", "y_same_day_last_year",
    )


def sku_demand_panel(
    order_lines: DataFrame,
    daily_context: DataFrame | None = None,
    top_n: int | None = None,
    min_days: int = 0,
) -> DataFrame:
    """Spark twin of :func:`features.demand.sku_demand_panel` (same columns and values)."""
    require_columns(order_lines, ["tenant_id", "sku", "quantity", "is_product", "order_date"],
                    "order_lines")
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be >= 1 or None, got {top_n}")
    end = order_lines.agg(F.max(as_day("order_date")).alias("end"))
    per = (order_lines.filter(F.coalesce(F.col("is_product"), F.lit(False)))
           .groupBy("tenant_id", "sku", as_day("order_date").alias("ds"))
           .agg(F.sum("quantity").cast("long").alias("y")))
    # one row per SKU with its sales as a day -> units map; zero-filling is then a per-row
    # array expression (no shuffle or join of the zero-filled panel itself)
    series = (per.groupBy("tenant_id", "sku")
              .agg(F.min("ds").alias("first"), F.sum("y").alias("units"),
                   F.map_from_entries(F.collect_list(F.struct("ds", "y"))).alias("sales"))
              .crossJoin(end)
              .filter(F.datediff("end", "first") + 1 >= min_days))
    if top_n is not None:
        series = series.orderBy(F.desc("units"), "tenant_id", "sku").limit(top_n)
    days = F.transform(
        F.sequence("first", "end"),
        lambda d: F.struct(d.alias("ds"),
                           F.coalesce(F.try_element_at("sales", d), F.lit(0)).alias("y")))
    panel = series.select("tenant_id", "sku", F.explode(days).alias("r")).select(
        "tenant_id", "sku", "r.ds", F.col("r.y").cast("long").alias("y"))
    panel = with_exogenous(panel, daily_context, "tenant_id")
    return panel.select(F.col("sku").alias("unique_id"), _ds_out(), "y", "tenant_id",
                        *EXOGENOUS_COLUMNS)


def regional_context(daily_context: DataFrame) -> DataFrame:
    """Spark twin of :func:`features.demand.regional_context` (``tenant_id, ds`` + REGIONAL)."""
    require_columns(daily_context, ["tenant_id", "date", "promotion_intensity", "weather"],
                    "daily_context")
    shares = [F.avg((F.col("weather") == w).cast("double")).alias(f"{w}_share")
              for w in SHARE_WEATHER]
    out = (daily_context.withColumn("ds", F.to_date("date").cast("timestamp_ntz"))
           .groupBy(F.col("tenant_id").cast("string").alias("tenant_id"), "ds")
           .agg(F.avg(F.coalesce(F.col("promotion_intensity").cast("double"), F.lit(0.0)))
                .alias("promotion_mean"), *shares))
    return out.select("tenant_id", "ds", *REGIONAL)


def add_regional_context(series: DataFrame, daily_context: DataFrame | None) -> DataFrame:
    """Spark twin of :func:`features.demand.add_regional_context`."""
    if daily_context is None:
        return series
    key = "tenant_id" if "tenant_id" in series.columns else "unique_id"
    reg = regional_context(daily_context).withColumnRenamed("tenant_id", key)
    return series.join(reg, [key, "ds"], "left").fillna(0.0, subset=list(REGIONAL))


def holiday_frame(daily_context: DataFrame | None) -> DataFrame | None:
    """Spark twin of :func:`features.demand.holiday_frame` (``holiday, ds``), or None."""
    if daily_context is None or "holiday_name" not in daily_context.columns:
        return None
    out = (daily_context.filter(F.col("holiday_name").isNotNull())
           .select(F.col("holiday_name").cast("string").alias("holiday"),
                   F.to_date("date").cast("timestamp_ntz").alias("ds"))
           .dropDuplicates().orderBy("ds", "holiday"))
    return out if out.limit(1).count() else None
