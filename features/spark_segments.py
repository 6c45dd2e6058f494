"""Spark twin of ``features.segments``: same segments and summary, computed on a cluster.

Segment assignment is a row-wise column expression (no window, so nothing is collapsed
into one partition); the summary is a grouped aggregation joined to a small
tenant × segment grid so that empty segments appear with zero customers, as in pandas.
"""

from __future__ import annotations

from features.segments import HIGH_SCORE, SCORE_COLUMNS, SEGMENTS, SUMMARY_COLUMNS


def assign_segments_spark(scores):
    """Add a ``segment`` column to a Spark DataFrame holding ``r_score`` and ``f_score``.

    Args:
        scores: Spark DataFrame, one row per customer with 1–5 scores.

    Returns:
        The DataFrame with a string ``segment`` column.

    Raises:
        ValueError: Score columns are missing, or some scores are null or outside 1..5.
    """
    from pyspark.sql import functions as F

    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(
            f"RFM segments need columns {list(SCORE_COLUMNS)}; missing {missing}. "
            "Compute them with features.spark_customers first."
        )
    bad_cond = None
    for c in SCORE_COLUMNS:
        cond = F.col(c).isNull() | (F.col(c) < 1) | (F.col(c) > 5)
        bad_cond = cond if bad_cond is None else bad_cond | cond
    n_bad = scores.filter(bad_cond).limit(1).count()
    if n_bad:
        raise ValueError(f"{list(SCORE_COLUMNS)} must be integer scores 1..5; found null or "
                         "out-of-range values")
    r_hi = F.col("r_score") >= HIGH_SCORE
    f_hi = F.col("f_score") >= HIGH_SCORE
    seg = (
        F.when(r_hi & f_hi, F.lit("important_value"))
        .when(r_hi, F.lit("important_development"))
        .when(f_hi, F.lit("important_retention"))
        .otherwise(F.lit("general"))
    )
    return scores.withColumn("segment", seg)


def segment_summary_spark(segmented, revenue_col: str = "monetary"):
    """Customers and revenue per tenant × segment (empty segments included), on Spark.

    Args:
        segmented: Output of :func:`assign_segments_spark`.
        revenue_col: Column summed as segment revenue.

    Returns:
        Spark DataFrame with the columns of ``features.segments.SUMMARY_COLUMNS``.
    """
    from pyspark.sql import functions as F

    if revenue_col not in segmented.columns:
        raise ValueError(f"segment summary needs a {revenue_col!r} column")
    df = segmented
    if "tenant_id" not in df.columns:
        df = df.withColumn("tenant_id", F.lit("default"))
    spark = df.sparkSession
    segs = spark.createDataFrame([(s, i) for i, s in enumerate(SEGMENTS)], "segment string, _o int")
    grid = df.select("tenant_id").distinct().crossJoin(F.broadcast(segs))
    agg = df.groupBy("tenant_id", "segment").agg(
        F.count(F.lit(1)).alias("customers"),
        F.sum(F.col(revenue_col).cast("double")).alias("revenue"),
    )
    out = grid.join(agg, ["tenant_id", "segment"], "left").fillna(
        {"customers": 0, "revenue": 0.0}
    )
    tot = out.groupBy("tenant_id").agg(
        F.sum("customers").alias("_tc"), F.sum("revenue").alias("_tr")
    )
    out = out.join(tot, "tenant_id")
    out = (
        out.withColumn("customers", F.col("customers").cast("long"))
        .withColumn("customer_share",
                    F.when(F.col("_tc") > 0, F.col("customers") / F.col("_tc")))
        .withColumn("revenue_share",
                    F.when(F.col("_tr") != 0, F.col("revenue") / F.col("_tr")))
        .withColumn("avg_monetary",
                    F.when(F.col("customers") > 0, F.col("revenue") / F.col("customers")))
    )
    return out.orderBy("tenant_id", "_o").select(*SUMMARY_COLUMNS)
