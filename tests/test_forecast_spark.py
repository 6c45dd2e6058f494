"""Per-series Prophet on Spark (groupBy().applyInPandas) matches the in-process pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.forecast import ProphetForecaster
from models.forecast.prophet import spark_fit_predict
from models.forecast.synthetic import make_panel, split_last

EXOG = ["is_holiday", "promotion_intensity"]


@pytest.mark.spark
def test_spark_apply_in_pandas_matches_local(spark):
    df = make_panel(n_series=2, n_days=120, level=(20.0, 60.0), random_state=2)
    short = df[df["unique_id"] == "s0000"].tail(10).assign(unique_id="cold")
    train, test = split_last(pd.concat([df, short], ignore_index=True), 7)
    params = dict(transform="log1p", random_state=0)
    local = ProphetForecaster(regressors=EXOG, **params).fit(train).predict(7, X_future=test)

    rows = pd.concat([train, test.assign(y=np.nan)], ignore_index=True)
    sdf = spark.createDataFrame(rows[["unique_id", "ds", "y", *EXOG]])
    remote = spark_fit_predict(sdf, 7, params, EXOG).toPandas()
    remote["ds"] = pd.to_datetime(remote["ds"])
    remote = remote.sort_values(["unique_id", "ds"], ignore_index=True)
    assert list(remote.columns) == list(local.columns)
    assert set(remote["unique_id"]) == {"s0000", "s0001", "cold"}  # cold -> naive
    local = local.sort_values(["unique_id", "ds"], ignore_index=True)
    np.testing.assert_allclose(remote["yhat"], local["yhat"], rtol=1e-6)
    assert (remote["yhat-lo-95"] <= remote["yhat"]).all()
