"""The business calendar: holidays, e-commerce festivals, promotions, weather and demand shape.

Everything a forecaster may know in advance is written to ``daily_context``; the demand
multiplier per day × region is built only from those known regressors plus a small
day-level lognormal noise (sd 0.03), so the structure is learnable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd
from scipy.signal import lfilter

from oms.contract import WEATHER
from pipelines.generator.arrowcols import codes_col, const_col, date_col
from pipelines.generator.realism import Realism, day_factor, sku_cum_by_day, sku_factor
from pipelines.generator.world import World

CHANNEL_NAMES = ("app", "mini_program", "tmall", "jd", "douyin", "pos")
CHANNEL_SHARE = np.array([0.30, 0.18, 0.20, 0.14, 0.10, 0.08])
WEEKLY = np.array([0.90, 0.93, 0.95, 0.98, 1.04, 1.12, 1.08])  # Mon..Sun
PROMO_LIFT = 3.0  # demand × (1 + PROMO_LIFT · promotion_intensity)
DAY_NOISE_SD = 0.03
# channel multipliers per weather (sunny, cloudy, rain, snow, storm)
WEATHER_CHANNEL = np.array([
    [1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
    [1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
    [1.12, 1.08, 1.02, 1.02, 1.04, 0.75],
    [1.12, 1.08, 1.03, 1.03, 1.05, 0.60],
    [1.05, 1.03, 0.95, 0.95, 1.00, 0.35],
])
WEATHER_DELIVERY = np.array([1.0, 1.0, 1.12, 1.35, 1.6])  # transit time factor
WEATHER_DELAY_H = np.array([0.0, 0.0, 2.0, 6.0, 10.0])  # failed attempts, closed roads
HOLIDAY_EFFECT = {
    "New Year's Day": 1.05, "Tomb-Sweeping Day": 0.96, "Labor Day": 0.90,
    "Dragon Boat Festival": 0.95, "Mid-Autumn Festival": 1.0, "National Day": 0.85,
    "Christmas Day": 1.12, "Christmas Eve": 1.10, "Valentine's Day": 1.10,
}
SPRING = "Spring Festival"
# Spring Festival slump by day offset from Chinese New Year (-7..+9)
SPRING_PROFILE = dict(zip(range(-7, 10), [0.85] * 3 + [0.65] * 3 + [0.45] * 5 + [0.6] * 3
                          + [0.85] * 3, strict=True))
PAUSE = (-2, 5)  # logistics paused for orders placed CNY-2..CNY+5; shipping resumes CNY+6
CHANNEL_BY_PROMO = {
    "Double 11": {"tmall": 2.2, "douyin": 1.3}, "618": {"jd": 2.3},
    "Double 12": {"tmall": 1.5}, "Flash Sale": {"douyin": 2.2},
    "City Flash Sale": {"douyin": 2.2},
}
HOURLY = np.array([0.6, 0.3, 0.15, 0.1, 0.1, 0.15, 0.35, 0.7, 1.0, 1.3, 1.5, 1.5, 1.6, 1.4,
                   1.3, 1.3, 1.3, 1.4, 1.5, 1.8, 2.1, 2.3, 2.0, 1.3])


@dataclass
class Calendar:
    """Per-day (D) and per-day × region (D, R) calendar arrays for the whole period."""

    epoch_day: np.ndarray  # (D,) days since 1970-01-01
    holiday_name: np.ndarray  # (D,) object, None if no holiday
    promo_name: np.ndarray  # (D, R) object, None if no promotion
    intensity: np.ndarray  # (D, R) 0..1
    weather: np.ndarray  # (D, R) code into oms.contract.WEATHER
    temperature: np.ndarray  # (D, R) °C
    mult: np.ndarray  # (D, R) demand multiplier, mean 1 over the period
    chan_cum: np.ndarray  # (D, R, C) cumulative channel probabilities
    delivery_factor: np.ndarray  # (D, R) transit slow-down
    resume_day: np.ndarray  # (D,) epoch day shipping resumes (Spring Festival pause) or -1
    midnight_rush: np.ndarray  # (D,) Double 11: orders pile up right after midnight
    realism: Realism | None = None  # unobserved drivers (``realistic`` scale only)
    sku_cum: np.ndarray | None = None  # (D, S) per-day SKU choice CDF under ``realism``

    @property
    def days(self) -> int:
        """Number of days."""
        return len(self.epoch_day)


def _china_names(years: list[int]) -> dict[dt.date, str]:
    raw = holidays.China(years=years)
    named = {d: n.replace(" (observed)", "") for d, n in raw.items() if not n.startswith("Day off")}
    out = dict(named)
    for d, n in raw.items():
        if n.startswith("Day off"):  # substituted rest days belong to the nearest holiday
            near = min(named, key=lambda x: abs((x - d).days))
            out[d] = named[near] if abs((near - d).days) <= 7 else "Day off"
    return out


def _cny_dates(years: list[int]) -> list[dt.date]:
    cn = holidays.China(years=years)
    firsts: dict[int, dt.date] = {}
    for d, n in cn.items():
        if "Spring Festival" in n and "observed" not in n:
            firsts[d.year] = min(firsts.get(d.year, d), d)
    return sorted(firsts.values())


def _holiday_names(dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holiday name per day, Spring Festival offset per day, and the shipping-resume day."""
    years = list(range(dates[0].year - 1, dates[-1].year + 2))
    china = _china_names(years)
    us = holidays.US(years=years)
    thanksgiving = {d.year: d for d, n in us.items() if n.startswith("Thanksgiving")}
    cny = _cny_dates(years)
    names = np.full(len(dates), None, dtype=object)
    offset = np.full(len(dates), 99, dtype=np.int64)
    resume = np.full(len(dates), -1, dtype=np.int64)
    for i, ts in enumerate(dates):
        d = ts.date()
        near = min(cny, key=lambda c, d=d: abs((d - c).days))
        off = (d - near).days
        fest = {(6, 18): "618", (11, 11): "Double 11", (12, 12): "Double 12", (5, 20): "520",
                (12, 24): "Christmas Eve", (2, 14): "Valentine's Day"}.get((d.month, d.day))
        if -7 <= off <= 9:
            names[i], offset[i] = SPRING, off
            if PAUSE[0] <= off <= PAUSE[1]:
                resume[i] = (np.datetime64(near) + np.timedelta64(PAUSE[1] + 1, "D")).astype(
                    np.int64)
        elif d == thanksgiving.get(d.year, dt.date(1, 1, 1)) + dt.timedelta(days=1):
            names[i] = "Black Friday"
        elif fest:
            names[i] = fest
        elif d in china:
            names[i] = china[d]
        elif us.get(d) == "Christmas Day":
            names[i] = "Christmas Day"
    return names, offset, resume


def _national_promo(d: dt.date, holiday: str | None) -> tuple[str | None, float]:
    """Named promotion and intensity of a day (national campaigns around festivals)."""
    m, day = d.month, d.day
    if (m == 10 and day >= 24) or (m == 11 and day <= 12):
        if m == 10:
            return "Double 11", 0.05 + 0.07 * (day - 24) / 7
        table = {1: 0.30, 2: 0.30, 3: 0.30, 11: 1.0, 12: 0.05}
        return "Double 11", table.get(day, 0.12 + 0.13 * (day - 4) / 6)
    if m == 6 and day <= 20:
        if day <= 15:
            return "618", 0.04 + 0.11 * (day - 1) / 14
        return "618", {16: 0.25, 17: 0.25, 18: 0.50}.get(day, 0.06)
    if m == 12 and 8 <= day <= 12:
        return "Double 12", {12: 0.35}.get(day, 0.05 + 0.0167 * (day - 8))
    if m == 5 and 18 <= day <= 20:
        return "520", 0.15 if day == 20 else 0.05
    if holiday == "Black Friday":
        return "Black Friday", 0.15
    if (m == 12 and day >= 29) or (m == 1 and day == 1):
        return "New Year Sale", 0.08
    return None, 0.0


def _promotions(dates, names, n_regions, rng) -> tuple[np.ndarray, np.ndarray]:
    """Promotion name and intensity per day × region, with random (flash) sales."""
    promo = np.full((len(dates), n_regions), None, dtype=object)
    inten = np.zeros((len(dates), n_regions))
    u = rng.random((len(dates), 4))
    for i, ts in enumerate(dates):
        name, level = _national_promo(ts.date(), names[i])
        if name is None and names[i] is None and u[i, 0] < 0.045:
            name, level = "Flash Sale", 0.10 + 0.20 * u[i, 1]
        if name is not None:
            promo[i, :], inten[i, :] = name, level
        elif names[i] is None and u[i, 0] > 1 - 0.035:
            r = int(u[i, 2] * n_regions)
            promo[i, r], inten[i, r] = "City Flash Sale", 0.15 + 0.20 * u[i, 3]
    return promo, np.round(inten, 4)


def _weather(doy, world: World, rng) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal temperature (AR(1) anomalies) and weather category per day × region."""
    season = (1 - np.cos(2 * np.pi * (doy - 15) / 365.25)) / 2  # 0 mid-Jan .. 1 mid-Jul
    mean, amp, storm = world.climate.T
    anomaly = lfilter([1.0], [1.0, -0.75], rng.normal(0, 1.6, (len(doy), len(mean))), axis=0)
    temp = np.round(mean[None, :] + amp[None, :] * (2 * season[:, None] - 1) + anomaly, 1)
    p_storm = storm[None, :] * (0.2 + 1.8 * season[:, None])
    p_snow = np.where(temp < 0, 0.35, np.where(temp < 3, 0.12, 0.0))
    p_rain = 0.12 + 0.18 * season[:, None] + 0 * temp
    u = rng.random(temp.shape)
    weather = np.select(
        [u < p_storm, u < p_storm + p_snow, u < p_storm + p_snow + p_rain,
         u < p_storm + p_snow + p_rain + 0.3],
        [4, 3, 2, 1], default=0,
    )
    return weather.astype(np.int8), np.clip(temp, -40, 45)


def _channel_cum(dates, names, promo, weather) -> np.ndarray:
    """Cumulative channel probabilities per day × region (festivals and weather shift shares)."""
    w = CHANNEL_SHARE[None, None, :] * WEATHER_CHANNEL[weather]
    idx = {c: j for j, c in enumerate(CHANNEL_NAMES)}
    for name, boosts in CHANNEL_BY_PROMO.items():
        hit = promo == name
        for ch, f in boosts.items():
            w[..., idx[ch]] *= np.where(hit, f, 1.0)
    spring = (names == SPRING)[:, None]
    w[..., idx["pos"]] *= np.where(spring, 1.8, 1.0) * np.where(
        (dates.dayofweek >= 5)[:, None], 1.4, 1.0)
    for ch in ("tmall", "jd"):
        w[..., idx[ch]] *= np.where(spring, 0.8, 1.0)
    cum = np.cumsum(w, axis=2)
    return cum / cum[..., -1:]


def build_calendar(start: pd.Timestamp, days: int, world: World, seed: int,
                   realism: Realism | None = None) -> Calendar:
    """Build the calendar, context and demand multiplier for ``days`` days from ``start``.

    With ``realism`` the multiplier also carries unobserved drivers (not in the context) and
    SKU popularity moves day by day (:mod:`pipelines.generator.realism`).
    """
    rng = np.random.default_rng([seed, 0, 2])
    dates = pd.date_range(start, periods=days, freq="D")
    names, offset, resume = _holiday_names(dates)
    promo, inten = _promotions(dates, names, world.n_regions, rng)
    doy = dates.dayofyear.to_numpy()
    weather, temp = _weather(doy, world, rng)

    hol = np.array([SPRING_PROFILE.get(int(o), 1.0) if n == SPRING else
                    HOLIDAY_EFFECT.get(n, 1.0) for n, o in zip(names, offset, strict=True)])
    yearly = 1 + 0.06 * np.cos(2 * np.pi * (doy - 355) / 365.25)
    noise = np.exp(rng.normal(0, DAY_NOISE_SD, days) - DAY_NOISE_SD**2 / 2)
    weather_vol = (CHANNEL_SHARE * WEATHER_CHANNEL).sum(axis=1)[weather] * np.where(
        temp > 32, 1.04, 1.0)
    day_part = WEEKLY[dates.dayofweek.to_numpy()] * yearly * hol * noise
    mult = day_part[:, None] * (1 + PROMO_LIFT * inten) * weather_vol
    sku_cum = None
    if realism is not None:  # its own random stream: the other scales stay bit-identical
        rr = np.random.default_rng([seed, 0, 7])
        mult = mult * day_factor(realism, rr, days, world.n_regions)
        share = np.diff(np.concatenate([[0.0], world.sku_cum]))
        sku_cum = sku_cum_by_day(share, sku_factor(realism, rr, days, len(share)))
    mult /= (mult * world.region_share[None, :]).sum(axis=1).mean()
    return Calendar(
        epoch_day=dates.to_numpy().astype("datetime64[D]").astype(np.int64),
        holiday_name=names, promo_name=promo, intensity=inten, weather=weather,
        temperature=temp, mult=mult, chan_cum=_channel_cum(dates, names, promo, weather),
        delivery_factor=WEATHER_DELIVERY[weather], resume_day=resume,
        midnight_rush=np.array([n == "Double 11" for n in names]),
        realism=realism, sku_cum=sku_cum,
    )


def context_frame(cal: Calendar, world: World, lo: int, hi: int, tenant_id: str) -> pd.DataFrame:
    """``daily_context`` rows for days ``lo..hi-1``: one per day × region."""
    r = world.n_regions
    days = np.repeat(cal.epoch_day[lo:hi], r)
    names = np.repeat(cal.holiday_name[lo:hi], r)
    promo = cal.promo_name[lo:hi].reshape(-1)
    return pd.DataFrame({
        "tenant_id": const_col(tenant_id, len(days)),
        "date": date_col(days),
        "region": codes_col(np.tile(np.arange(r), hi - lo), list(world.region_names)),
        "is_holiday": pd.Series([n is not None for n in names], dtype=bool),
        "holiday_name": pd.Series(names, dtype="string"),
        "promotion_name": pd.Series(promo, dtype="string"),
        "promotion_intensity": cal.intensity[lo:hi].reshape(-1),
        "weather": codes_col(cal.weather[lo:hi].reshape(-1), list(WEATHER)),
        "temperature_c": cal.temperature[lo:hi].reshape(-1),
    })
