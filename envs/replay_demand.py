"""Expected demand of a replayed order stream, estimated from the orders *before* the window.

The synthetic scenarios' forecast (:class:`envs.demand.DemandForecast`) is the sampler's own
demand model. A replayed stream (Online Retail, the lake's orders) has no sampler, so the
dual-price heuristic and the extended observation need a forecast estimated from history:
:func:`replay_forecast` counts the orders of the ``history`` frame per home region (the
nearest warehouse), tier, SKU and weekday, divides by the number of trading days of that
weekday in the history (days with at least one order), and takes each tier's arrival-hour
distribution from the same history. It refuses history on or after the window's first day,
so the forecast never sees the orders it is judged on.

:class:`ReplayForecast` has the interface the environment and the bid prices read
(``rates``, ``n_periods``, ``cycle``, ``next_replenishment``, ``after_fraction`` and
``remaining`` of :class:`envs.demand.RemainingDemand`); an
:class:`envs.scenarios.EpisodeSpec` carries it in ``forecast``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from envs.demand import RemainingDemand
from envs.scenarios import EpisodeSpec

N_TIERS = 4
HISTORY_COLUMNS = ("day", "hour", "lat", "lon", "tier", "sku")


class ReplayForecast(RemainingDemand):
    """Expected demand per (period, region, tier, SKU) of one replayed window.

    Args:
        rates: Expected orders per (period, region, tier, SKU), shape (P, W, T, S).
        tier_hours: Per tier, the sorted arrival hours seen in the history (may be empty).
        replenish_periods: Periods (> 0) at the start of which stock arrives.
    """

    def __init__(self, rates: np.ndarray, tier_hours: Sequence[np.ndarray],
                 replenish_periods: Sequence[int]) -> None:
        if rates.ndim != 4 or rates.shape[2] != N_TIERS:
            raise ValueError(f"rates must have shape (P, W, {N_TIERS}, S), got {rates.shape}")
        if (rates < 0).any() or not np.isfinite(rates).all():
            raise ValueError("rates must be finite and >= 0")
        self.rates = rates.astype(float)
        self.n_periods = rates.shape[0]
        self.tier_hours = [np.sort(np.asarray(h, dtype=float)) for h in tier_hours]
        self.arrivals = sorted(int(q) for q in replenish_periods if 0 < q < self.n_periods)
        gaps = np.diff([0, *self.arrivals])
        self.cycle = int(gaps.max()) if len(gaps) else self.n_periods
        self.suffix = self.suffixes(self.rates)

    def after_fraction(self, hour: float) -> np.ndarray:
        """Share of each tier's daily arrivals still to come after ``hour``, shape (T,).

        A tier the history never saw arrives uniformly over the day.
        """
        out = np.empty(N_TIERS)
        for t, h in enumerate(self.tier_hours):
            out[t] = (1.0 - np.searchsorted(h, hour, side="right") / len(h) if len(h)
                      else float(np.clip((24.0 - hour) / 24.0, 0.0, 1.0)))
        return out

    def next_replenishment(self, period: int) -> int:
        """First period after ``period`` at which stock arrives (``n_periods`` if none)."""
        return next((q for q in self.arrivals if q > period), self.n_periods)


def replay_forecast(history: pd.DataFrame, spec: EpisodeSpec,
                    period_days: Sequence[pd.Timestamp], other_sku: int | None = None
                    ) -> ReplayForecast:
    """Estimate the expected demand of the window ``spec`` from ``history`` (earlier orders).

    Args:
        history: One row per earlier order: ``day`` (date), ``hour`` (0..24), ``lat, lon``
            (customer), ``tier`` (0..3) and ``sku`` (SKU id as in ``spec.skus``).
        spec: The window's episode (network, SKU list, replenishment schedule).
        period_days: The calendar day of each period of the window (for the weekday).
        other_sku: Index of the SKU that pools every id not in ``spec.skus`` (Online Retail's
            "other"); ``None`` drops such rows (the lake rejects those orders too).

    Returns:
        The window's forecast (rates per weekday of each period).

    Raises:
        ValueError: Missing columns, no history, history on or after the window's first
            day, or a period count that does not match the spec.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing columns {missing}")
    days = pd.DatetimeIndex(pd.to_datetime(list(period_days))).normalize()
    if len(days) != spec.n_periods:
        raise ValueError(f"{len(days)} period days for a spec of {spec.n_periods} periods")
    hday = pd.to_datetime(history["day"]).dt.normalize()
    if hday.empty:
        raise ValueError("no history before the window: the forecast needs earlier orders")
    if (hday >= days[0]).any():
        raise ValueError(f"history reaches {hday.max().date()}, on or after the window's "
                         f"first day {days[0].date()}: the forecast must not see the window")
    s_idx = {s: j for j, s in enumerate(spec.skus)}
    sku = history["sku"].astype(str).map(s_idx)
    if other_sku is not None:
        sku = sku.fillna(other_sku)
    keep = sku.notna().to_numpy()
    h = history.loc[keep]
    sku = sku[keep].astype(np.int64).to_numpy()
    wday = hday[keep].dt.weekday.to_numpy()
    region = spec.network.distances(h["lat"].to_numpy(float),
                                    h["lon"].to_numpy(float)).argmin(axis=1)
    tier = h["tier"].to_numpy(np.int64)
    n_w, n_s = spec.network.n, len(spec.skus)
    counts = np.zeros((7, n_w, N_TIERS, n_s))
    np.add.at(counts, (wday, region, tier, sku), 1.0)
    trading = pd.Series(hday.unique()).dt.weekday.value_counts().reindex(range(7), fill_value=0)
    per_day = counts.sum(axis=0) / max(int(trading.sum()), 1)  # any weekday, as a fallback
    rates = np.stack([counts[d.weekday()] / trading[d.weekday()] if trading[d.weekday()]
                      else per_day for d in days])
    hours = h["hour"].to_numpy(float)
    repl = [q for q in range(1, spec.n_periods) if spec.replenishment[q].sum() > 0]
    return ReplayForecast(rates, [hours[tier == t] for t in range(N_TIERS)], repl)


def spec_history(spec: EpisodeSpec, period_days: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """The orders of an episode as history rows (``HISTORY_COLUMNS``; SKU ids as strings)."""
    days = pd.DatetimeIndex(pd.to_datetime(list(period_days))).normalize()
    return pd.DataFrame({"day": days[spec.period], "hour": spec.hour, "lat": spec.lat,
                         "lon": spec.lon, "tier": spec.tier,
                         "sku": np.asarray(spec.skus, dtype=object)[spec.sku]})
