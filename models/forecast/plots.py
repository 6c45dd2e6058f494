"""Figures for forecasts: actual vs forecast with intervals, and influential factors.

Functions return matplotlib figures (no files written here); pipelines log or save them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from models.forecast.base import DS, ID, YHAT, Y, hi_col, lo_col  # noqa: E402


def plot_forecast_vs_actual(
    cv: pd.DataFrame,
    history: pd.DataFrame | None = None,
    ids: Sequence[str] | None = None,
    level: Sequence[int] = (80, 95),
    max_series: int = 4,
    history_days: int = 56,
    title: str = "",
) -> Figure:
    """Backtest forecasts (one line per cutoff) against actuals, with interval bands.

    Args:
        cv: ``cross_validation`` output (``unique_id, ds, cutoff, y, yhat`` + intervals).
        history: Full series, drawn as context before the first cutoff.
        ids: Series to draw (default: the largest ``max_series`` by volume).
        level: Interval levels to shade (widest lightest).
        max_series: How many series when ``ids`` is not given.
        history_days: Days of history shown before the first cutoff.
        title: Figure title.
    """
    if ids is None:
        ids = list(cv.groupby(ID)[Y].sum().sort_values(ascending=False).index[:max_series])
    fig, axes = plt.subplots(len(ids), 1, figsize=(11, 2.8 * len(ids)), squeeze=False)
    start = cv["cutoff"].min() - pd.Timedelta(days=history_days)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        g = cv[cv[ID] == uid]
        if history is not None:
            hist = history[(history[ID] == uid) & (history[DS] >= start)]
            ax.plot(hist[DS], hist[Y], color="black", lw=1, label="actual")
        else:
            act = g.drop_duplicates(DS).sort_values(DS)
            ax.plot(act[DS], act[Y], color="black", lw=1, label="actual")
        for i, (_, w) in enumerate(g.groupby("cutoff")):
            w = w.sort_values(DS)
            for lv, alpha in zip(sorted(level, reverse=True), (0.15, 0.3), strict=False):
                ax.fill_between(w[DS], w[lo_col(lv)], w[hi_col(lv)], color="tab:blue",
                                alpha=alpha, lw=0, label=f"{lv}% interval" if i == 0 else None)
            ax.plot(w[DS], w[YHAT], color="tab:blue", lw=1.5,
                    label="forecast" if i == 0 else None)
        ax.set_title(f"{uid}", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(title or "Backtest: forecast vs actual")
    fig.tight_layout()
    return fig


def plot_importance(importance: pd.DataFrame, title: str = "Influential factors") -> Figure:
    """Horizontal bar chart of ``feature, importance``."""
    imp = importance.sort_values("importance")
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(imp) + 1.2))
    ax.barh(imp["feature"].astype(str), imp["importance"], color="tab:green")
    ax.set_xlabel("share of importance")
    ax.set_title(title)
    fig.tight_layout()
    return fig
