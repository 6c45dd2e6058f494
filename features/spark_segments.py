"""Spark twin of ``features.segments``: same segments and summary, computed on a cluster.

Segment assignment is a row-wise column expression (no window, so nothing is collapsed
into one partition); the summary is one grouped aggregation on the cluster whose result —
at most four rows per tenant — is finished (empty segments, shares) by the same code as
pandas, so both engines give the same summary.
"""

from __future__ import annotations

from features.segments import HIGH_SCORE, SCORE_COLUMNS, finish_summary


def assign_segments_spark(scores, validate: bool = True):
    """Add a ``segment`` column to a Spark DataFrame holding ``r_score`` and ``f_score``.

    Args:
        scores: Spark DataFrame, one row per customer with 1–5 scores.
        validate: Check the scores first (one extra pass over the data).

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
    if validate and scores.filter(bad_cond).limit(1).count():
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
    agg = df.groupBy("tenant_id", "segment").agg(
        F.count(F.lit(1)).alias("customers"),
        F.sum(F.col(revenue_col).cast("double")).alias("revenue"),
    ).toPandas()
    summary = finish_summary(agg)
    schema = ("tenant_id string, segment string, customers long, revenue double, "
              "customer_share double, revenue_share double, avg_monetary double")
    return df.sparkSession.createDataFrame(summary, schema=schema)
