"""Windowing, scaling and per-series history for the global LSTM, written once.

The estimator (:mod:`models.forecast.lstm`) trains on windows of a flat, series-sorted
frame: a window is the ``input_size`` days up to an *origin* (encoder) and the ``horizon``
days after it (decoder). Demand in a window is scaled by ``1 + mean`` of its encoder days;
decoder inputs add same-weekday hints from the window, a one-hot of the step and the log
scale. Input channels::

    encoder (B, L, 1 + F):  [scaled demand | calendar (N_CAL) | exog (E)]
    decoder (B, H, F + 2 + H + 1):  [calendar | exog | weekday mean, last | step | log scale]

with ``F = N_CAL + E`` known-future features per day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from models.forecast.base import DS, ID

N_CAL = 9  # calendar features: day-of-week one-hot (7) + day-of-year sin/cos (2)


def calendar_features(ds: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Day-of-week one-hot and day-of-year sin/cos for each date, shape (n, 9)."""
    d = pd.DatetimeIndex(ds)
    out = np.zeros((len(d), N_CAL), dtype=np.float32)
    out[np.arange(len(d)), d.dayofweek.to_numpy()] = 1.0
    angle = 2 * np.pi * d.dayofyear.to_numpy() / 365.25
    out[:, 7], out[:, 8] = np.sin(angle), np.cos(angle)
    return out


def standardiser(data: pd.DataFrame, exog: Sequence[str]
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Mean and standard deviation (1 where constant) of the exogenous columns."""
    if not exog:
        return None, None
    ex = data[list(exog)].to_numpy(np.float32)
    std = ex.std(axis=0)
    return ex.mean(axis=0), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def day_features(df: pd.DataFrame, exog: Sequence[str], mean: np.ndarray | None,
                 std: np.ndarray | None) -> np.ndarray:
    """Known-future features per row: calendar, then standardised exogenous, (n, F)."""
    cal = calendar_features(df[DS])
    if not exog:
        return cal
    ex = (df[list(exog)].to_numpy(np.float32) - mean) / std
    return np.concatenate([cal, ex.astype(np.float32)], axis=1)


def input_groups(n_features: int, exog: Sequence[str]) -> dict[str, tuple[list[int], list[int]]]:
    """Input groups → (encoder channels, decoder channels), for permutation importance."""
    f = n_features
    groups = {
        "recent_demand": ([0], [f, f + 1]),
        "calendar": (list(range(1, 1 + N_CAL)), list(range(N_CAL))),
    }
    for j, c in enumerate(exog):
        groups[c] = ([1 + N_CAL + j], [N_CAL + j])
    return groups


@lru_cache(maxsize=16)
def season_matrices(L: int, H: int, m: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(H, L) weights: mean of same-weekday window values, and the most recent one."""
    mean_w, last_w = np.zeros((H, L), np.float32), np.zeros((H, L), np.float32)
    for k in range(1, H + 1):
        idx = [L - 1 + k - m * j for j in range(math.ceil(k / m), L + k) if L - 1 + k - m * j >= 0]
        if not idx:
            idx = [L - 1]
        mean_w[k - 1, idx] = 1.0 / len(idx)
        last_w[k - 1, idx[0]] = 1.0
    return mean_w, last_w


def series_layout(data: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Rows per series (in order of appearance) and each series' first flat position."""
    sizes = data.groupby(ID, sort=False).size()
    starts = np.concatenate([[0], np.cumsum(sizes.to_numpy())[:-1]])
    return sizes, starts


def window_origins(sizes: np.ndarray, starts: np.ndarray, L: int, H: int, holdout_days: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of each window's last observed day: training and held-out windows.

    Windows whose targets fall in the last ``holdout_days`` of a series are held out
    (conformal calibration); a series too short for that gives all its windows to training.
    """
    train, cal = [], []
    for n, o in zip(sizes, starts, strict=True):
        last = o + n - 1 - H  # last origin with a full horizon of targets
        first = o + L - 1
        if last < first:
            continue
        split = last - int(holdout_days)
        if split >= first:
            train.append(np.arange(first, split + 1))
            cal.append(np.arange(split + 1, last + 1))
        else:
            train.append(np.arange(first, last + 1))
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(train) if train else empty,
            np.concatenate(cal) if cal else empty)


def last_windows(y: np.ndarray, feats: np.ndarray, sizes: pd.Series, starts: np.ndarray,
                 L: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Each series' last ``L`` days (demand, features), and the ids too short for a window."""
    history, cold = {}, []
    for uid, n, o in zip(sizes.index, sizes.to_numpy(), starts, strict=True):
        if n < L:
            cold.append(uid)
        else:
            history[uid] = (y[o + n - L:o + n], feats[o + n - L:o + n])
    return history, cold


def gather(y: torch.Tensor, f: torch.Tensor, origins: np.ndarray, L: int, H: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows at ``origins`` of flat demand ``y`` (n,) and features ``f`` (n, F).

    Returns encoder demand (B, L), encoder features (B, L, F), decoder features (B, H, F)
    and decoder demand (B, H).
    """
    pt = torch.from_numpy(np.asarray(origins, dtype=np.int64))
    enc_i = pt[:, None] + torch.arange(-L + 1, 1)
    dec_i = pt[:, None] + torch.arange(1, H + 1)
    return y[enc_i], f[enc_i], f[dec_i], y[dec_i]


def scale_inputs(y_enc: torch.Tensor, f_enc: torch.Tensor, f_dec: torch.Tensor,
                 log_scale_norm: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scaled encoder (B, L, 1 + F) and decoder (B, H, F + 2 + H + 1) inputs, scale (B,)."""
    b, L, h = f_dec.shape[0], y_enc.shape[1], f_dec.shape[1]
    mean_w, last_w = (torch.from_numpy(a) for a in season_matrices(L, h))
    scale = 1.0 + y_enc.mean(dim=1)
    ys = y_enc / scale[:, None]
    enc = torch.cat([ys.unsqueeze(-1), f_enc], dim=-1)
    seas = torch.stack([ys @ mean_w.T, ys @ last_w.T], dim=-1)
    steps = torch.eye(h).expand(b, -1, -1)
    static = (torch.log(scale) / log_scale_norm)[:, None, None].expand(b, h, 1)
    dec = torch.cat([f_dec, seas, steps, static], dim=-1)
    return enc, dec, scale
