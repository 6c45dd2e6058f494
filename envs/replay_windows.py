"""Replayed real order streams split into training, selection, gate and evaluation windows.

A learned router and the dual-price heuristic are judged on replayed windows they never saw:

* **training** windows (the DQN's episodes), **selection** windows (its masked checkpoint
  selection) and **gate** windows (learned router vs dual-price) come from calendar ranges
  that end before the first **evaluation** window, and no two splits share a day;
* every window carries a forecast (:func:`envs.replay_demand.replay_forecast`) estimated
  from the ``history_days`` calendar days before ``min(window start, first evaluation
  day)``: an evaluation window's forecast uses only orders before the whole evaluation
  period, a training window's only orders before itself.

``retail``: the Online Retail main lines (``envs.retail``); evaluation = 3-trading-day
windows starting on each November 2011 trading day that keeps the window in November,
training = windows inside January–August 2011, selection = September, gate = October.
``lake``: a generated lake (``envs.replay``); from its first order day ``D0``: training
windows inside ``[D0+7, D0+56)``, selection ``[D0+56, D0+77)``, gate ``[D0+77, D0+98)``,
evaluation windows starting ``D0+98``, ``D0+99``, … (one per day).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from envs.replay import build_episode
from envs.replay_demand import replay_forecast, spec_history
from envs.retail import retail_episode, retail_history, trading_days
from envs.scenarios import EpisodeSpec

SPLITS = ("train", "select", "gate", "evaluate")
RETAIL_RANGES = {"train": ("2011-01-01", "2011-09-01"), "select": ("2011-09-01", "2011-10-01"),
                 "gate": ("2011-10-01", "2011-11-01"), "evaluate": ("2011-11-01", "2011-12-01")}
LAKE_OFFSETS = {"train": (7, 56), "select": (56, 77), "gate": (77, 98)}  # days after D0
LAKE_EVAL_START = 98


@dataclass
class ReplaySplits:
    """Windows of each split, with the calendar days of every window.

    Attributes:
        episodes: Split name → the windows' episode specs (each with its ``forecast``).
        days: Split name → per window, its calendar days (one per period).
        rejected: Orders of the evaluation windows that could not be replayed (lake), with
            a reason.
    """

    episodes: dict[str, list[EpisodeSpec]] = field(default_factory=dict)
    days: dict[str, list[pd.DatetimeIndex]] = field(default_factory=dict)
    rejected: int = 0

    def check_disjoint(self) -> None:
        """Raise if two splits share a day or a non-evaluation window reaches evaluation."""
        seen: dict[pd.Timestamp, str] = {}
        for name, windows in self.days.items():
            for day in {d for w in windows for d in w}:
                if seen.setdefault(day, name) != name:
                    raise ValueError(f"{day.date()} is in both {seen[day]} and {name} windows")
        first = min(d[0] for d in self.days["evaluate"])
        late = [n for n in SPLITS[:3] for w in self.days[n] if w[-1] >= first]
        if late:
            raise ValueError(f"{late[0]} windows reach the evaluation period ({first.date()})")


def window_starts(days: pd.DatetimeIndex, lo: str | pd.Timestamp, hi: str | pd.Timestamp,
                  n_days: int) -> list[pd.Timestamp]:
    """Starts of the windows of ``n_days`` consecutive ``days`` that lie inside [lo, hi)."""
    days = pd.DatetimeIndex(sorted(days))
    inside = days[(days >= pd.Timestamp(lo)) & (days < pd.Timestamp(hi))]
    return [inside[k] for k in range(len(inside) - n_days + 1)
            if days.get_loc(inside[k + n_days - 1]) - days.get_loc(inside[k]) == n_days - 1]


def _add(splits: ReplaySplits, name: str, spec: EpisodeSpec, days: pd.DatetimeIndex,
         history: Callable[[pd.Timestamp], pd.DataFrame], first_eval: pd.Timestamp,
         other_sku: int | None) -> None:
    spec.forecast = replay_forecast(history(min(days[0], first_eval)), spec, days, other_sku)
    splits.episodes.setdefault(name, []).append(spec)
    splits.days.setdefault(name, []).append(days)


def retail_splits(orders: pd.DataFrame, episodes: int = 100, n_days: int = 3,
                  history_days: int = 28, ranges: dict[str, tuple[str, str]] | None = None
                  ) -> ReplaySplits:
    """Online Retail windows of every split (see the module docstring).

    Args:
        orders: Main lines of the sale invoices (``envs.retail.invoice_main_lines``) covering
            the history before the training range through the evaluation range.
        episodes: At most this many evaluation windows (in date order).
        n_days: Trading days per window.
        history_days: Calendar days of history behind each window's forecast.
        ranges: Split name → [start, end) dates (default :data:`RETAIL_RANGES`).
    """
    ranges = ranges or RETAIL_RANGES
    days = pd.DatetimeIndex(pd.to_datetime(orders["InvoiceDate"]).dt.normalize().unique())
    first_eval = pd.Timestamp(ranges["evaluate"][0])
    out = ReplaySplits()
    for name in SPLITS:
        starts = window_starts(days, *ranges[name], n_days)
        for start in starts[:episodes] if name == "evaluate" else starts:
            spec = retail_episode(orders, str(start.date()), n_days)
            _add(out, name, spec, trading_days(orders, start, n_days),
                 lambda end: retail_history(orders, end, history_days), first_eval,
                 len(spec.skus) - 1)
    out.check_disjoint()
    return out


def lake_splits(tables: dict[str, pd.DataFrame], episodes: int = 100, n_days: int = 3,
                history_days: int = 28) -> ReplaySplits:
    """Windows of a generated lake's own orders, for every split (see the module docstring).

    Args:
        tables: The routing tables of the lake (``envs.replay.load_tables``), covering at
            least ``LAKE_EVAL_START + episodes + n_days - 1`` days.
        episodes: Evaluation windows (one starting each day).
        n_days: Days per window.
        history_days: Calendar days of history behind each window's forecast.
    """
    odate = pd.to_datetime(tables["orders"]["order_date"]).dt.normalize()
    d0, last = odate.min(), odate.max()
    need = d0 + pd.Timedelta(days=LAKE_EVAL_START + episodes + n_days - 2)
    if need > last:
        raise ValueError(f"the lake ends {last.date()}; {episodes} evaluation windows need "
                         f"orders through {need.date()}")
    first_eval = d0 + pd.Timedelta(days=LAKE_EVAL_START)
    all_days = pd.date_range(d0, first_eval - pd.Timedelta(days=1), freq="D")
    whole, _ = build_episode(tables, d0, len(all_days))  # every earlier order, for history
    hist = spec_history(whole, all_days)

    def history(end: pd.Timestamp) -> pd.DataFrame:
        return hist[(hist["day"] >= end - pd.Timedelta(days=history_days))
                    & (hist["day"] < end)]

    out = ReplaySplits()
    starts = {n: [d0 + pd.Timedelta(days=k) for k in range(lo, hi - n_days + 1)]
              for n, (lo, hi) in LAKE_OFFSETS.items()}
    starts["evaluate"] = [first_eval + pd.Timedelta(days=k) for k in range(episodes)]
    for name in SPLITS:
        for start in starts[name]:
            spec, rej = build_episode(tables, start, n_days)
            if name == "evaluate":
                out.rejected += len(rej)
            _add(out, name, spec, pd.date_range(start, periods=n_days, freq="D"), history,
                 first_eval, None)
    out.check_disjoint()
    return out


def split_sizes(splits: ReplaySplits) -> dict[str, int]:
    """Windows per split (for reports)."""
    return {n: len(splits.episodes.get(n, [])) for n in SPLITS}

