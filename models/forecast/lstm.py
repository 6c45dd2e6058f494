"""A global LSTM forecaster (torch): one network across many series, or on a single series.

Each training window is the last ``input_size`` days of one series (demand scaled by
``1 + mean`` of the window, calendar features and standardised exogenous regressors) and the
next ``horizon`` days' known-future features. An LSTM encodes the past; a small MLP shared
across horizon steps maps (encoding, that day's calendar/holiday/promotion/weather features,
same-weekday averages from the window, step) to the scaled demand — a direct multi-horizon
forecast trained with L1 loss (the median, which is what WAPE and MASE reward).

Intervals are split-conformal: windows whose targets fall in the last ``calibration_days`` of
each series are held out of training, and the quantiles of their scaled signed residuals set
the bands. Permutation importance of each input group on those same windows gives the
influential factors.

Fallback (documented): a series with fewer than ``input_size`` days of history at predict
time is forecast by :class:`~models.forecast.naive.SeasonalNaive`; ids in ``fallback_ids_``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from models.forecast.base import (
    DEFAULT_LEVELS,
    DS,
    ID,
    YHAT,
    BaseForecaster,
    ForecastInputError,
    Y,
    check_future,
    check_horizon,
    check_ids,
    check_levels,
    closed_weekdays,
    finalize,
    future_dates,
    hi_col,
    lo_col,
    validate_series,
    zero_closed_days,
)
from models.forecast.naive import SeasonalNaive

N_CAL = 9  # calendar features: day-of-week one-hot (7) + day-of-year sin/cos (2)


def calendar_features(ds: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Day-of-week one-hot and day-of-year sin/cos for each date, shape (n, 9)."""
    d = pd.DatetimeIndex(ds)
    out = np.zeros((len(d), N_CAL), dtype=np.float32)
    out[np.arange(len(d)), d.dayofweek.to_numpy()] = 1.0
    angle = 2 * np.pi * d.dayofyear.to_numpy() / 365.25
    out[:, 7], out[:, 8] = np.sin(angle), np.cos(angle)
    return out


def _season_matrices(L: int, H: int, m: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(H, L) weights: mean of same-weekday window values, and the most recent one."""
    mean_w, last_w = np.zeros((H, L), np.float32), np.zeros((H, L), np.float32)
    for k in range(1, H + 1):
        idx = [L - 1 + k - m * j for j in range(math.ceil(k / m), L + k) if L - 1 + k - m * j >= 0]
        if not idx:
            idx = [L - 1]
        mean_w[k - 1, idx] = 1.0 / len(idx)
        last_w[k - 1, idx[0]] = 1.0
    return mean_w, last_w


class _Net(nn.Module):
    """LSTM encoder + step-wise MLP decoder."""

    def __init__(self, n_enc: int, n_dec: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_enc, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dec = nn.Sequential(nn.Linear(hidden + n_dec, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(enc)
        ctx = h[-1].unsqueeze(1).expand(-1, dec.shape[1], -1)
        return self.dec(torch.cat([ctx, dec], dim=-1)).squeeze(-1)


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
        seed: Seed for initialisation and batch sampling (deterministic under a seed).
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
        seed: int = 0,
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
        self.seed = seed
        self.num_threads = num_threads
        self.nonnegative = nonnegative
        self.closed_days = closed_days

    # ------------------------------------------------------------------ set-up helpers
    def _threads(self) -> None:
        n = self.num_threads
        if n is None:
            from oms.settings import get_settings

            n = get_settings().torch_threads
        torch.set_num_threads(max(1, int(n)))

    def _features(self, df: pd.DataFrame) -> np.ndarray:
        cal = calendar_features(df[DS])
        if not self.exog:
            return cal
        ex = (df[list(self.exog)].to_numpy(np.float32) - self.exog_mean_) / self.exog_std_
        return np.concatenate([cal, ex.astype(np.float32)], axis=1)

    def _inputs(
        self, y_enc: torch.Tensor, f_enc: torch.Tensor, f_dec: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled encoder/decoder inputs and the per-window scale."""
        scale = 1.0 + y_enc.mean(dim=1)
        ys = y_enc / scale[:, None]
        enc = torch.cat([ys.unsqueeze(-1), f_enc], dim=-1)
        b, h = f_dec.shape[0], f_dec.shape[1]
        seas = torch.stack([ys @ self._mean_w.T, ys @ self._last_w.T], dim=-1)
        steps = torch.eye(h).expand(b, -1, -1)
        static = (torch.log(scale) / self.log_scale_norm_)[:, None, None].expand(b, h, 1)
        dec = torch.cat([f_dec, seas, steps, static], dim=-1)
        return enc, dec, scale

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame) -> LSTMForecaster:
        """Train the global network on all series' windows; calibrate intervals."""
        H, L = check_horizon(self.horizon), int(self.input_size)
        if L < 7:
            raise ValueError(f"input_size must be >= 7 (one week), got {L}")
        data = validate_series(df, list(self.exog))
        self._threads()
        torch.manual_seed(int(self.seed))
        rng = np.random.default_rng(int(self.seed))
        ex = data[list(self.exog)].to_numpy(np.float32) if self.exog else np.zeros((0, 0))
        self.exog_mean_ = ex.mean(axis=0) if self.exog else None
        std = ex.std(axis=0) if self.exog else None
        self.exog_std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32) if self.exog else None
        y = data[Y].to_numpy(np.float32)
        feats = self._features(data)
        sizes = data.groupby(ID, sort=False).size()
        starts = np.concatenate([[0], np.cumsum(sizes.to_numpy())[:-1]])
        train_p, cal_p = self._origins(sizes.to_numpy(), starts, H, L)
        if len(train_p) == 0:
            raise ForecastInputError(
                f"no series is long enough to train on: need at least input_size + horizon = "
                f"{L + H} days, the longest has {int(sizes.max())}; use SeasonalNaive for "
                "such short series"
            )
        self.log_scale_norm_ = float(max(1.0, np.log1p(y.max())))
        self._mean_w, self._last_w = (torch.from_numpy(a) for a in _season_matrices(L, H))
        self.n_features_ = feats.shape[1]
        self._y, self._f = torch.from_numpy(y), torch.from_numpy(feats)
        self.net_ = _Net(1 + feats.shape[1], feats.shape[1] + 2 + H + 1,
                         int(self.hidden_size), int(self.num_layers), float(self.dropout))
        self.loss_history_ = self._train(train_p, rng)
        if len(cal_p) > self.max_calibration_windows:
            cal_p = rng.choice(cal_p, self.max_calibration_windows, replace=False)
        self.calibration_from_ = "holdout" if len(cal_p) else "training"
        self._calibrate(cal_p if len(cal_p) else train_p[-2000:])
        self._remember(data, feats, sizes, starts)
        del self._y, self._f
        return self

    def _origins(
        self, sizes: np.ndarray, starts: np.ndarray, H: int, L: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flat positions of each window's last observed day: training and calibration."""
        train, cal = [], []
        for n, o in zip(sizes, starts, strict=True):
            last = o + n - 1 - H  # last origin with a full horizon of targets
            first = o + L - 1
            if last < first:
                continue
            split = last - int(self.calibration_days)
            if split >= first:
                train.append(np.arange(first, split + 1))
                cal.append(np.arange(split + 1, last + 1))
            else:
                train.append(np.arange(first, last + 1))
        empty = np.zeros(0, dtype=np.int64)
        return (np.concatenate(train) if train else empty,
                np.concatenate(cal) if cal else empty)

    def _batch(self, p: np.ndarray) -> tuple[torch.Tensor, ...]:
        L, H = int(self.input_size), int(self.horizon)
        pt = torch.from_numpy(np.asarray(p, dtype=np.int64))
        enc_i = pt[:, None] + torch.arange(-L + 1, 1)
        dec_i = pt[:, None] + torch.arange(1, H + 1)
        enc, dec, scale = self._inputs(self._y[enc_i], self._f[enc_i], self._f[dec_i])
        return enc, dec, self._y[dec_i] / scale[:, None], scale

    def _train(self, train_p: np.ndarray, rng: np.random.Generator) -> list[float]:
        steps = int(self.max_steps)
        opt = torch.optim.Adam(self.net_.parameters(), lr=float(self.learning_rate))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, steps), eta_min=float(self.learning_rate) / 10)
        self.net_.train()
        losses = []
        for _ in range(steps):
            p = rng.choice(train_p, size=min(int(self.batch_size), len(train_p)), replace=False)
            enc, dec, target, _ = self._batch(p)
            loss = torch.mean(torch.abs(self.net_(enc, dec) - target))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        self.net_.eval()
        return losses

    def _calibrate(self, cal_p: np.ndarray) -> None:
        enc, dec, target, _ = self._batch(cal_p)
        with torch.no_grad():
            pred = self.net_(enc, dec)
        resid = (target - pred).numpy().ravel()
        self.residual_quantiles_ = {
            q: float(np.quantile(resid, q)) for q in np.round(np.linspace(0, 1, 201), 3)
        }
        self._cal_batch = (enc, dec, target)
        self.feature_importance_ = self._permutation_importance(enc, dec, target)
        self.calibration_mae_ = float(torch.mean(torch.abs(pred - target)))

    def _remember(
        self, data: pd.DataFrame, feats: np.ndarray, sizes: pd.Series, starts: np.ndarray
    ) -> None:
        L = int(self.input_size)
        self.ids_ = pd.Index(sizes.index)
        self.last_ds_ = data.groupby(ID, sort=False)[DS].max()
        y = data[Y].to_numpy(np.float32)
        self.history_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        cold = []
        for uid, n, o in zip(sizes.index, sizes.to_numpy(), starts, strict=True):
            if n < L:
                cold.append(uid)
            else:
                self.history_[uid] = (y[o + n - L:o + n], feats[o + n - L:o + n])
        self.fallback_ids_ = cold
        self.closed_weekdays_ = closed_weekdays(data) if self.closed_days else {}
        self.naive_ = SeasonalNaive().fit(data[data[ID].isin(cold)]) if cold else None
        del self._cal_batch

    # ------------------------------------------------------------------ importance
    def _groups(self) -> dict[str, tuple[list[int], list[int]]]:
        """Input groups → (encoder channels, decoder channels) for permutation."""
        f = self.n_features_
        groups = {
            "recent_demand": ([0], [f, f + 1]),
            "calendar": (list(range(1, 1 + N_CAL)), list(range(N_CAL))),
        }
        for j, c in enumerate(self.exog):
            groups[c] = ([1 + N_CAL + j], [N_CAL + j])
        return groups

    def _permutation_importance(
        self, enc: torch.Tensor, dec: torch.Tensor, target: torch.Tensor
    ) -> pd.DataFrame:
        gen = torch.Generator().manual_seed(int(self.seed))
        with torch.no_grad():
            base = float(torch.mean(torch.abs(self.net_(enc, dec) - target)))
            rows = []
            for name, (ce, cd) in self._groups().items():
                perm = torch.randperm(enc.shape[0], generator=gen)
                e2, d2 = enc.clone(), dec.clone()
                e2[:, :, ce], d2[:, :, cd] = enc[perm][:, :, ce], dec[perm][:, :, cd]
                mae = float(torch.mean(torch.abs(self.net_(e2, d2) - target)))
                rows.append((name, max(0.0, mae - base)))
        imp = pd.DataFrame(rows, columns=["feature", "mae_increase"])
        total = imp["mae_increase"].sum()
        imp["importance"] = imp["mae_increase"] / total if total > 0 else 0.0
        return imp.sort_values("importance", ascending=False).reset_index(drop=True)

    def feature_importance(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """Permutation importance of each input group on the calibration windows.

        Returns ``feature, mae_increase, importance`` (importance sums to 1).
        """
        self._check_fitted()
        return self.feature_importance_.copy()

    # ------------------------------------------------------------------ predict
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
        self._check_fitted()
        h = check_horizon(h, int(self.horizon))
        levels = check_levels(level)
        self._threads()
        history, last_ds, naive, known = self._history(new_df)
        ids = check_ids(ids, known)
        net_ids = [u for u in ids if u in history]
        frames = []
        if net_ids:
            frames.append(self._predict_net(net_ids, history, last_ds, h, X_future, levels))
        cold = [u for u in ids if u not in history]
        if cold:
            frames.append(naive.predict(h, level=levels, ids=cold))
        out = finalize(pd.concat(frames, ignore_index=True), levels, bool(self.nonnegative))
        closed = (self.closed_weekdays_ if new_df is None
                  else closed_weekdays(validate_series(new_df, list(self.exog)))
                  if self.closed_days else {})
        out = zero_closed_days(out, closed)
        order = {u: i for i, u in enumerate(ids)}
        return out.sort_values([ID, DS], key=lambda s: s.map(order) if s.name == ID else s,
                               ignore_index=True)

    def _history(self, new_df: pd.DataFrame | None) -> tuple[dict, pd.Series, Any, pd.Index]:
        if new_df is None:
            return self.history_, self.last_ds_, self.naive_, self.ids_
        data = validate_series(new_df, list(self.exog))
        L = int(self.input_size)
        feats, hist, cold = self._features(data), {}, []
        y = data[Y].to_numpy(np.float32)
        sizes = data.groupby(ID, sort=False).size()
        starts = np.concatenate([[0], np.cumsum(sizes.to_numpy())[:-1]])
        for uid, n, o in zip(sizes.index, sizes.to_numpy(), starts, strict=True):
            if n < L:
                cold.append(uid)
            else:
                hist[uid] = (y[o + n - L:o + n], feats[o + n - L:o + n])
        naive = SeasonalNaive().fit(data[data[ID].isin(cold)]) if cold else None
        return hist, data.groupby(ID, sort=False)[DS].max(), naive, pd.Index(sizes.index)

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
            enc, dec, scale = self._inputs(y_enc, f_enc, f_dec)
            pred = (self.net_(enc, dec) * scale[:, None])[:, :h].numpy().ravel()
        sc = np.repeat(scale.numpy(), h)
        out = grid[[ID, DS]].copy()
        out[YHAT] = pred
        for lv in levels:
            a = round((100 - lv) / 200, 3)
            out[lo_col(lv)] = pred + sc * self._rq(a)
            out[hi_col(lv)] = pred + sc * self._rq(1 - a)
        return out

    def _rq(self, q: float) -> float:
        q = min(self.residual_quantiles_, key=lambda k: abs(k - q))
        return self.residual_quantiles_[q]
