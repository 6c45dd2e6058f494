"""Rolling-origin backtests and forecast metrics.

``cross_validation`` mirrors statsforecast's: ``n_windows`` cutoffs ``step`` days apart, the
last window ending on the last date; for each cutoff the model is refitted on the history up
to it and forecasts ``h`` days. The result has a ``cutoff`` column. ``evaluate`` turns it into
one row per model and horizon: WAPE, accuracy (1 − WAPE), MASE (weekly seasonal-naive
scale), sMAPE, interval coverage and pinball loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    ForecastInputError,
    Y,
    check_horizon,
    hi_col,
    lo_col,
)

METRICS = ("wape", "accuracy", "mase", "smape", "pinball")


def cutoffs(df: pd.DataFrame, h: int, n_windows: int, step: int) -> list[pd.Timestamp]:
    """The ``n_windows`` forecast origins, ``step`` days apart, the last ending on the last date."""
    h = check_horizon(h)
    if n_windows < 1 or step < 1:
        raise ForecastInputError(f"n_windows and step must be >= 1, got {n_windows}, {step}")
    end = pd.Timestamp(df[DS].max())
    cuts = [end - pd.Timedelta(days=h + step * i) for i in range(n_windows)][::-1]
    if cuts[0] <= pd.Timestamp(df[DS].min()):
        raise ForecastInputError(
            f"not enough history for {n_windows} windows of h={h}, step={step}: the first "
            f"cutoff {cuts[0].date()} is not after the first date {df[DS].min()}"
        )
    return cuts


def cross_validation(
    model: BaseForecaster,
    df: pd.DataFrame,
    h: int,
    n_windows: int = 8,
    step: int = 7,
    level: Sequence[int] = DEFAULT_LEVELS,
    exog: Sequence[str] = (),
    refit: bool = True,
    progress: bool = True,
    name: str | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest of one model.

    Args:
        model: An unfitted (or fitted) forecaster; it is cloned for each window.
        df: Long frame ``unique_id, ds, y`` + the exogenous columns the model needs.
        h: Horizon in days.
        n_windows: Number of forecast origins.
        step: Days between origins.
        level: Interval levels.
        exog: Known-future columns passed to ``predict`` as ``X_future`` for each window.
        refit: Refit for every window (True), or fit once at the first cutoff and forecast
            later windows from fresh history (models with ``supports_new_df`` only).
        progress: Show a progress bar.
        name: Label for the progress bar.

    Returns:
        ``unique_id, ds, cutoff, y, yhat, yhat-lo-*, yhat-hi-*``.
    """
    cuts = cutoffs(df, h, n_windows, step)
    refit = refit or not model.supports_new_df
    parts, fitted = [], None
    label = name or type(model).__name__
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"backtest {label} h={h}", total=len(cuts))
        for cut in cuts:
            train = df[df[DS] <= cut]
            test = df[(df[DS] > cut) & (df[DS] <= cut + pd.Timedelta(days=h))]
            ids = sorted(set(train[ID]) & set(test[ID]))
            if refit or fitted is None:
                fitted = model.clone().fit(train[train[ID].isin(ids)])
                kw: dict[str, Any] = {}
            else:
                kw = {"new_df": train[train[ID].isin(ids)]}
            fc = fitted.predict(h, X_future=test[[ID, DS, *exog]] if exog else None,
                                level=level, ids=ids, **kw)
            fc = fc.merge(test[[ID, DS, Y]], on=[ID, DS], how="inner")
            parts.append(fc.assign(cutoff=cut))
            bar.advance(task)
    out = pd.concat(parts, ignore_index=True)
    cols = [ID, DS, "cutoff", Y] + [c for c in out.columns if c not in (ID, DS, "cutoff", Y)]
    return out[cols]


def backtest_models(
    models: Mapping[str, BaseForecaster],
    df: pd.DataFrame,
    h: int,
    n_windows: int = 8,
    step: int = 7,
    level: Sequence[int] = DEFAULT_LEVELS,
    exog: Sequence[str] = (),
    progress: bool = True,
) -> pd.DataFrame:
    """``cross_validation`` of several models on the same windows, with a ``model`` column."""
    frames = []
    for name, m in models.items():
        cv = cross_validation(m, df, h, n_windows, step, level, exog, progress=progress,
                              name=name)
        frames.append(cv.assign(model=name))
    return pd.concat(frames, ignore_index=True)


def seasonal_scale(df: pd.DataFrame, season: int = 7) -> pd.Series:
    """Mean absolute seasonal difference of each series: the MASE denominator."""
    def one(y: pd.Series) -> float:
        v = y.to_numpy(float)
        return float(np.mean(np.abs(v[season:] - v[:-season]))) if len(v) > season else np.nan

    return df.sort_values([ID, DS]).groupby(ID)[Y].apply(one)


def _pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    d = y - q
    return np.maximum(tau * d, (tau - 1) * d)


def score(
    cv: pd.DataFrame, history: pd.DataFrame, level: Sequence[int] = DEFAULT_LEVELS,
    season: int = 7,
) -> dict[str, float]:
    """Metrics of one model's backtest frame (all windows and series pooled).

    WAPE = Σ|y−ŷ| / Σ|y|; MASE averages, over (series, cutoff), the MAE divided by the
    in-sample weekly seasonal-naive MAE up to that cutoff; sMAPE = mean 2|y−ŷ|/(|y|+|ŷ|)
    (0 when both are 0); coverage-L is the share of actuals inside the L% interval; pinball
    averages the quantile loss of the median and every interval bound.
    """
    y, yhat = cv[Y].to_numpy(float), cv[YHAT].to_numpy(float)
    err = np.abs(y - yhat)
    denom = np.abs(y).sum()
    wape = float(err.sum() / denom) if denom > 0 else float("nan")
    sm_den = np.abs(y) + np.abs(yhat)
    smape = float(np.mean(np.where(sm_den > 0, 2 * err / np.where(sm_den > 0, sm_den, 1), 0)))
    out = {"wape": wape, "accuracy": 1 - wape, "mase": _mase(cv, history, season),
           "smape": smape}
    losses = [_pinball(y, yhat, 0.5)]
    for lv in level:
        lo, hi = cv[lo_col(lv)].to_numpy(float), cv[hi_col(lv)].to_numpy(float)
        out[f"coverage_{lv}"] = float(np.mean((y >= lo) & (y <= hi)))
        a = (100 - lv) / 200
        losses += [_pinball(y, lo, a), _pinball(y, hi, 1 - a)]
    out["pinball"] = float(np.mean(np.concatenate(losses)))
    return out


def _mase(cv: pd.DataFrame, history: pd.DataFrame, season: int) -> float:
    ratios = []
    hist = history.sort_values([ID, DS])
    for cut, g in cv.groupby("cutoff"):
        scale = seasonal_scale(hist[hist[DS] <= cut], season)
        mae = (g[Y] - g[YHAT]).abs().groupby(g[ID]).mean()
        r = mae / scale.reindex(mae.index)
        ratios.append(r[np.isfinite(r)])
    allr = pd.concat(ratios) if ratios else pd.Series(dtype=float)
    return float(allr.mean()) if len(allr) else float("nan")


def evaluate(
    cv: pd.DataFrame,
    history: pd.DataFrame,
    horizons: Sequence[int] | None = None,
    level: Sequence[int] = DEFAULT_LEVELS,
    season: int = 7,
) -> pd.DataFrame:
    """One row per model and horizon: the metrics over forecast steps ``1..horizon``.

    Args:
        cv: Output of ``cross_validation`` or ``backtest_models``.
        history: The full long frame (for the MASE scale up to each cutoff).
        horizons: Horizons to report (default: the backtest's horizon).
        level: Interval levels present in ``cv``.
        season: Season of the MASE scale.
    """
    cv = cv if "model" in cv.columns else cv.assign(model="model")
    step = (cv[DS] - cv["cutoff"]).dt.days
    horizons = list(horizons or [int(step.max())])
    rows = []
    for (model, ), g in cv.groupby(["model"], sort=False):
        for h in horizons:
            sub = g[step.loc[g.index] <= h]
            rows.append({"model": model, "horizon": h, "n_windows": sub["cutoff"].nunique(),
                         "n_series": sub[ID].nunique(), **score(sub, history, level, season)})
    return pd.DataFrame(rows)


def best_model(table: pd.DataFrame, horizon: int, metric: str = "wape") -> str:
    """Name of the model with the lowest ``metric`` at ``horizon`` (highest for accuracy)."""
    t = table[table["horizon"] == horizon]
    if t.empty:
        raise ValueError(f"no rows for horizon {horizon} in the metrics table")
    higher = metric in ("accuracy",) or metric.startswith("coverage")
    return str(t.sort_values(metric, ascending=not higher)["model"].iloc[0])


def as_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """The metrics table as a markdown table."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


