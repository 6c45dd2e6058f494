"""Weighted and adaptive conformal intervals (``models.forecast.conformal``), synthetic streams."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.forecast.base import ForecastInputError
from models.forecast.conformal import (
    adaptive_level,
    conformal_offsets,
    recency_weights,
    score_scale,
    step_offsets,
)

DAYS = pd.date_range("2024-01-01", periods=400, freq="D").to_numpy()


def _coverage(lo: float, hi: float, y: np.ndarray) -> float:
    return float(((y >= lo) & (y <= hi)).mean())


def test_weighted_offsets_with_equal_weights_match_split_conformal() -> None:
    rng = np.random.default_rng(0)
    for n in (9, 50, 200):
        r = rng.normal(size=n)
        srt = np.sort(r)
        for lv in (80, 95):
            lo, hi = conformal_offsets(r, lv, np.ones(n))
            j = int(np.ceil((n + 1) * (1 - (100 - lv) / 200)))  # textbook order statistic
            assert hi == srt[min(j, n) - 1] and lo == srt[n - min(j, n)]
            ulo, uhi = conformal_offsets(r, lv)  # unweighted: at most one order stat wider
            assert srt[n - min(j + 1, n)] <= ulo <= lo and hi <= uhi <= srt[min(j + 1, n) - 1]
    with pytest.raises(ForecastInputError, match="weights"):
        conformal_offsets(np.arange(5.0), 80, np.ones(4))
    with pytest.raises(ForecastInputError, match=">= 0"):
        conformal_offsets(np.arange(5.0), 80, -np.ones(5))


def test_weighted_offsets_cover_an_exchangeable_stream() -> None:
    rng = np.random.default_rng(1)
    cal, new = rng.standard_t(5, size=3000), rng.standard_t(5, size=20000)
    w = recency_weights(DAYS[:1].repeat(3000), DAYS[0], 10_000.0)  # all ~1
    for lv in (80, 95):
        lo, hi = conformal_offsets(cal, lv, w)
        assert abs(_coverage(lo, hi, new) - lv / 100) < 0.02


def test_recency_weights_follow_a_scale_shift() -> None:
    origin = DAYS[-1] + np.timedelta64(1, "D")
    w = recency_weights(DAYS, origin, 25.0)
    assert w[-1] == pytest.approx(0.5 ** 0.04) and w[0] < 1e-4
    cov = {"plain": [], "recent": []}
    for seed in range(8):  # one calibration set's coverage is noisy (~30 effective cases)
        rng = np.random.default_rng(seed)
        r = np.concatenate([rng.normal(size=300), 3 * rng.normal(size=100)])  # shift: day 300
        fresh = 3 * rng.normal(size=20000)
        cov["plain"].append([_coverage(*conformal_offsets(r, lv), fresh) for lv in (80, 95)])
        cov["recent"].append([_coverage(*conformal_offsets(r, lv, w), fresh) for lv in (80, 95)])
    plain, recent = np.mean(cov["plain"], axis=0), np.mean(cov["recent"], axis=0)
    assert plain[0] < 0.7 and plain[1] < 0.87  # the old regime's band is too narrow
    assert abs(recent[0] - 0.80) < 0.03 and 0.94 < recent[1] < 0.99
    assert recency_weights(DAYS, origin, None) is None
    with pytest.raises(ForecastInputError):
        recency_weights(DAYS, origin, 0.0)


def test_adaptive_level_keeps_nominal_on_exchangeable_data_and_adapts_after_a_shift() -> None:
    rng = np.random.default_rng(3)
    calm = rng.normal(size=400)
    for lv in (80, 95):
        assert adaptive_level(calm, DAYS, 1, lv, 0.0) == lv
        assert abs(adaptive_level(calm, DAYS, 1, lv, 0.01) - lv) < 6
    shifted = np.concatenate([calm[:300], 3 * calm[300:]])
    up = adaptive_level(shifted, DAYS, 1, 80, 0.02)
    assert up > 90  # misses after the shift raise the level
    fresh = 3 * rng.normal(size=20000)
    plain = _coverage(*conformal_offsets(shifted, 80), fresh)
    adapted = _coverage(*conformal_offsets(shifted, up), fresh)
    assert adapted > plain + 0.08 and adapted > 0.74
    wide = np.concatenate([3 * calm[:300], calm[300:]])  # calmer now: the level falls
    assert adaptive_level(wide, DAYS, 1, 80, 0.02) < 75
    with pytest.raises(ForecastInputError):
        adaptive_level(calm, DAYS, 1, 80, -0.1)


def test_adaptive_level_counts_each_origin_with_a_band_once() -> None:
    # a step-7 forecast made on day t is scored on t + 7: the band of day t uses only origins
    # <= t - 7, so origins 7, 8, 9 get bands from [0] (hits) and origin 10 misses
    r = np.array([0.0] * 10 + [100.0])
    t = DAYS[:11]
    g = 0.01
    lv = adaptive_level(r, t, 7, 80, g, min_cases=1)
    hits = 3
    assert lv == pytest.approx(100 * (1 - (0.2 + g * (0.2 * hits + 0.2 - 1))))


def test_step_offsets_stream_arguments_and_proportional_scale() -> None:
    rng = np.random.default_rng(4)
    res = rng.normal(size=(60, 3))
    times = DAYS[:60]
    plain = step_offsets(res, 3, 80)
    same = step_offsets(res, 3, 80, times=times, origin=DAYS[60])
    np.testing.assert_allclose(plain, same)  # no half-life, no gamma: split conformal
    lo, hi = step_offsets(res, 5, 80, times=times, origin=DAYS[60], half_life=14.0, gamma=0.02)
    assert lo.shape == hi.shape == (5,) and np.all(lo < hi)
    with pytest.raises(ForecastInputError, match="times"):
        step_offsets(res, 3, 80, half_life=14.0)
    sc = score_scale(np.array([100.0, 100.0]), np.nan, np.array([300.0, 1.0]), "proportional")
    np.testing.assert_allclose(sc, [300.0, 10.0])  # the forecast, floored at 0.1 × level
