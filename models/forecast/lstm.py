"""A global LSTM forecaster (torch): one network across many series, or on a single series.

Each training window is the last ``input_size`` days of one series (demand scaled by
``1 + mean`` of the window, calendar features and standardised exogenous regressors) and the
next ``horizon`` days' known-future features. An LSTM encodes the past; a small MLP shared
across horizon steps maps (encoding, that day's calendar/holiday/promotion/weather features,
same-weekday averages from the window, step) to the scaled demand — a direct multi-horizon
forecast trained with L1 loss (the median, which is what WAPE and MASE reward).

This file holds the network (``forward`` with shapes) and the estimator; windowing, scaling
and per-series history live in :mod:`models.forecast.windows`, the interval helper and the
seasonal-naive fallback in :mod:`models.forecast.base`.

Intervals are split-conformal: windows whose targets fall in the last ``calibration_days`` of
each series are held out of training, and the quantiles of their scaled signed residuals set
the bands. Permutation importance of each input group on those same windows gives the
influential factors.

Fallback (documented): a series with fewer than ``input_size`` days of history at predict
time is forecast by :class:`~models.forecast.naive.SeasonalNaive`; ids in ``fallback_ids_``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    ForecastInputError,
    Y,
    add_intervals,
    check_future,
    check_horizon,
    check_ids,
    check_levels,
    closed_weekdays,
    future_dates,
    validate_series,
)
from models.forecast.windows import (
    day_features,
    gather,
    input_groups,
    last_windows,
    scale_inputs,
    series_layout,
    standardiser,
    window_origins,
)


class LSTMNet(nn.Module):
    """LSTM encoder + an MLP decoder shared across horizon steps."""

    def __init__(self, n_enc: int, n_dec: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_enc, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dec = nn.Sequential(nn.Linear(hidden + n_dec, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        """Scaled demand of each horizon step.

        Args:
            enc: Encoder inputs, (B, L, n_enc): scaled demand and day features of the window.
            dec: Decoder inputs, (B, H, n_dec): known-future features, weekday hints, step
                one-hot and log scale (see :mod:`models.forecast.windows`).

        Returns:
            (B, H) scaled demand.
        """
        _, (h, _) = self.lstm(enc)  # h: (layers, B, hidden)
        ctx = h[-1].unsqueeze(1).expand(-1, dec.shape[1], -1)  # (B, H, hidden)
        return self.dec(torch.cat([ctx, dec], dim=-1)).squeeze(-1)  # (B, H + ...) -> (B, H)


class LSTMForecaster(BaseForecaster):
    """Global LSTM with known-future regressors and conformal intervals.

    Args:
        horizon: Longest horizon the network is trained for (predict ``h <= horizon``).
        input_size: Days of history in each input window.
        exog: Known-future exogenous columns (holiday, promotion, weather...), required in
            the training frame and in ``X_future``.
        hidden_size: LSTM/MLP width.
        num_layers: LSTM layers.
        dropout: Dropout between LSTM layers.
        max_steps: Training mini-batches (cost is independent of data size).
        batch_size: Windows per mini-batch.
        learning_rate: Adam learning rate (cosine-annealed to 10%).
        calibration_days: Last days of each series held out for conformal intervals.
        max_calibration_windows: Cap on calibration windows (sampled) for speed.
        random_state: Seed of initialisation and batch sampling (deterministic under a seed).
        num_threads: Torch intra-op threads (None = settings' ``torch_threads``).
        nonnegative: Clip forecasts at zero.
        closed_days: Forecast 0 on weekdays with zero demand in each of the last 8 weeks
            (a shop closed on Saturdays), see ``base.closed_weekdays``.
    """

    supports_new_df = True

    def __init__(
        self,
        horizon: int = 7,
        input_size: int = 28,
        exog: Sequence[str] = (),
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        max_steps: int = 600,
        batch_size: int = 128,
        learning_rate: float = 3e-3,
        calibration_days: int = 28,
        max_calibration_windows: int = 20000,
        random_state: int = 0,
        num_threads: int | None = None,
        nonnegative: bool = True,
        closed_days: bool = True,
    ) -> None:
        self.horizon = horizon
        self.input_size = input_size
        self.exog = exog
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.calibration_days = calibration_days
        self.max_calibration_windows = max_calibration_windows
        self.random_state = random_state
        self.num_threads = num_threads
        self.nonnegative = nonnegative
        self.closed_days = closed_days

    def _threads(self) -> None:
        n = self.num_threads
        if n is None:
            from oms.settings import get_settings

            n = get_settings().torch_threads
        torch.set_num_threads(max(1, int(n)))

    def _features(self, df: pd.DataFrame) -> np.ndarray:
        return day_features(df, self.exog, self.exog_mean_, self.exog_std_)

    def _batch(self, y: torch.Tensor, f: torch.Tensor, origins: np.ndarray
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled encoder, decoder and target of the windows at ``origins``."""
        y_enc, f_enc, f_dec, y_dec = gather(y, f, origins, int(self.input_size),
                                            int(self.horizon))
        enc, dec, scale = scale_inputs(y_enc, f_enc, f_dec, self.log_scale_norm_)
        return enc, dec, y_dec / scale[:, None]

    def fit(self, df: pd.DataFrame) -> LSTMForecaster:
        """Train the global network on all series' windows; calibrate intervals."""
        H, L = check_horizon(self.horizon), int(self.input_size)
        if L < 7:
            raise ValueError(f"input_size must be >= 7 (one week), got {L}")
        data = validate_series(df, list(self.exog))
        self._threads()
        torch.manual_seed(int(self.random_state))
        rng = np.random.default_rng(int(self.random_state))
        self.exog_mean_, self.exog_std_ = standardiser(data, self.exog)
        y, feats = data[Y].to_numpy(np.float32), self._features(data)
        sizes, starts = series_layout(data)
        train_p, cal_p = window_origins(sizes.to_numpy(), starts, L, H,
                                        int(self.calibration_days))
        if len(train_p) == 0:
            raise ForecastInputError(
                f"no series is long enough to train on: need at least input_size + horizon = "
                f"{L + H} days, the longest has {int(sizes.max())}; use SeasonalNaive for "
                "such short series"
            )
        self.log_scale_norm_ = float(max(1.0, np.log1p(y.max())))
        self.n_features_ = feats.shape[1]
        yt, ft = torch.from_numpy(y), torch.from_numpy(feats)
        self.net_ = LSTMNet(1 + feats.shape[1], feats.shape[1] + 2 + H + 1,
                            int(self.hidden_size), int(self.num_layers), float(self.dropout))
        self.loss_history_ = self._train(yt, ft, train_p, rng)
        if len(cal_p) > self.max_calibration_windows:
            cal_p = rng.choice(cal_p, self.max_calibration_windows, replace=False)
        self.calibration_from_ = "holdout" if len(cal_p) else "training"
        self._calibrate(*self._batch(yt, ft, cal_p if len(cal_p) else train_p[-2000:]))
        self.ids_ = pd.Index(sizes.index)
        self.history_, cold = last_windows(y, feats, sizes, starts, L)
        self._fit_fallback(data, cold)
        self._fit_calendar(data, self.closed_days)
        return self

    def _train(self, y: torch.Tensor, f: torch.Tensor, train_p: np.ndarray,
               rng: np.random.Generator) -> list[float]:
        steps = int(self.max_steps)
        opt = torch.optim.Adam(self.net_.parameters(), lr=float(self.learning_rate))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, steps), eta_min=float(self.learning_rate) / 10)
        self.net_.train()
        losses = []
        for _ in range(steps):
            p = rng.choice(train_p, size=min(int(self.batch_size), len(train_p)), replace=False)
            enc, dec, target = self._batch(y, f, p)
            loss = torch.mean(torch.abs(self.net_(enc, dec) - target))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        self.net_.eval()
        return losses

    def _calibrate(self, enc: torch.Tensor, dec: torch.Tensor, target: torch.Tensor) -> None:
        """Scaled signed residuals of the held-out windows, their MAE and input importance."""
        with torch.no_grad():
            pred = self.net_(enc, dec)
        self.residuals_ = (target - pred).numpy().ravel()
        self.feature_importance_ = self._permutation_importance(enc, dec, target)
        self.calibration_mae_ = float(torch.mean(torch.abs(pred - target)))

    def _permutation_importance(
        self, enc: torch.Tensor, dec: torch.Tensor, target: torch.Tensor
    ) -> pd.DataFrame:
        gen = torch.Generator().manual_seed(int(self.random_state))
        with torch.no_grad():
            base = float(torch.mean(torch.abs(self.net_(enc, dec) - target)))
            rows = []
            for name, (ce, cd) in input_groups(self.n_features_, self.exog).items():
                perm = torch.randperm(enc.shape[0], generator=gen)
                e2, d2 = enc.clone(), dec.clone()
                e2[:, :, ce], d2[:, :, cd] = enc[perm][:, :, ce], dec[perm][:, :, cd]
                mae = float(torch.mean(torch.abs(self.net_(e2, d2) - target)))
                rows.append((name, max(0.0, mae - base)))
        imp = pd.DataFrame(rows, columns=["feature", "mae_increase"])
        total = imp["mae_increase"].sum()
        imp["importance"] = imp["mae_increase"] / total if total > 0 else 0.0
        return imp.sort_values("importance", ascending=False).reset_index(drop=True)

    def feature_importance(self) -> pd.DataFrame:
        """Permutation importance of each input group on the calibration windows.

        Returns ``feature, mae_increase, importance`` (importance sums to 1).
        """
        check_is_fitted(self, "feature_importance_")
        return self.feature_importance_.copy()

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | None = None,
        level: Sequence[int] | None = DEFAULT_LEVELS,
        ids: Sequence[str] | None = None,
        new_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Forecast ``h`` days after each series' last date.

        Args:
            h: Horizon in days, ``0 < h <= horizon``.
            X_future: ``unique_id, ds`` + the ``exog`` columns for every forecast day.
            level: Interval levels in percent.
            ids: Restrict to these series (all by default).
            new_df: Fresh history (at least ``input_size`` days per series) to forecast from
                instead of the training data, without refitting; may hold new series.
        """
        check_is_fitted(self, "ids_")
        h = check_horizon(h, int(self.horizon))
        levels = check_levels(level)
        self._threads()
        history, last_ds, naive, known, closed = self._state(new_df)
        ids = check_ids(ids, known)
        net_ids = [u for u in ids if u in history]
        frames = ([self._predict_net(net_ids, history, last_ds, h, X_future, levels)]
                  if net_ids else [])
        return self._assemble(frames, ids, history, naive, h, levels, closed,
                              bool(self.nonnegative))

    def _state(self, new_df: pd.DataFrame | None) -> tuple:
        """History windows, last dates, fallback, known ids and closed weekdays to forecast from."""
        if new_df is None:
            return (self.history_, self.last_ds_, self.naive_, self.ids_,
                    self.closed_weekdays_)
        data = validate_series(new_df, list(self.exog))
        sizes, starts = series_layout(data)
        hist, cold = last_windows(data[Y].to_numpy(np.float32), self._features(data), sizes,
                                  starts, int(self.input_size))
        closed = closed_weekdays(data) if self.closed_days else {}
        return (hist, data.groupby(ID, sort=False)[DS].max(), self._fallback(data, cold),
                pd.Index(sizes.index), closed)

    def _predict_net(
        self, ids: list[str], history: dict, last_ds: pd.Series, h: int,
        X_future: pd.DataFrame | None, levels: Sequence[int],
    ) -> pd.DataFrame:
        H = int(self.horizon)
        full = future_dates(last_ds.loc[ids], H)
        grid = full.groupby(ID, sort=False).head(h).reset_index(drop=True)
        fut = check_future(X_future, list(self.exog), grid)
        if self.exog:  # pad days beyond h (the step-wise decoder ignores them)
            full = full.merge(fut.drop(columns=[DS]).groupby(ID).tail(1), on=ID, how="left")
            full.loc[full.index[np.tile(np.arange(H) < h, len(ids))], list(self.exog)] = (
                fut[list(self.exog)].to_numpy())
        f_dec = torch.from_numpy(self._features(full).reshape(len(ids), H, -1))
        y_enc = torch.from_numpy(np.stack([history[u][0] for u in ids]))
        f_enc = torch.from_numpy(np.stack([history[u][1] for u in ids]))
        with torch.no_grad():
            enc, dec, scale = scale_inputs(y_enc, f_enc, f_dec, self.log_scale_norm_)
            pred = (self.net_(enc, dec) * scale[:, None])[:, :h].numpy().ravel()
        out = grid[[ID, DS]].copy()
        out[YHAT] = pred
        return add_intervals(out, pred, levels, self.residuals_,
                             scale=np.repeat(scale.numpy(), h))
