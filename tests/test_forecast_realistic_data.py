"""The generator's ``realistic`` scale: unobserved drivers on top of the known context."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.generator.calendar import build_calendar
from pipelines.generator.orders import ChunkInput, _choose_skus
from pipelines.generator.realism import Realism, bulk_units, day_factor, sku_factor
from pipelines.generator.scales import SCALES, get_scale
from pipelines.generator.world import build_world


def test_only_the_realistic_scale_has_unobserved_drivers() -> None:
    assert get_scale("realistic").realism is not None
    assert all(SCALES[s].realism is None for s in ("tiny", "small", "medium", "large"))


def test_calendar_without_realism_is_unchanged_and_with_it_moves() -> None:
    sc = get_scale("tiny")
    world = build_world(sc, 3, sc.orders_per_day)
    start = pd.Timestamp("2024-01-01")
    plain = build_calendar(start, 120, world, 3)
    again = build_calendar(start, 120, world, 3, None)
    real = build_calendar(start, 120, world, 3, Realism())
    np.testing.assert_array_equal(plain.mult, again.mult)
    assert plain.sku_cum is None and real.sku_cum is not None
    # same known context, different demand: the difference is what no column explains
    np.testing.assert_array_equal(plain.intensity, real.intensity)
    ratio = real.mult / plain.mult
    assert np.std(np.log(ratio)) > 0.05
    assert real.sku_cum.shape == (120, len(world.sku_ids))
    assert np.allclose(real.sku_cum[:, -1], 1.0)
    assert not np.allclose(real.sku_cum[0], real.sku_cum[-1])  # popularity moves


def test_sku_factor_has_promotions_drift_and_life_cycles() -> None:
    rng = np.random.default_rng(0)
    f = sku_factor(Realism(), rng, 365, 400)
    assert f.shape == (365, 400) and (f >= 0).all()
    dead = (f == 0).any(axis=0).mean()  # launched or discontinued during the year
    assert 0.05 < dead < 0.3
    d = day_factor(Realism(), rng, 365, 4)
    assert d.shape == (365, 4) and (d < 0.8).any()  # competitors' promotions dip demand


def test_lines_follow_the_days_popularity_and_tail_gets_bulk_orders() -> None:
    sc = get_scale("tiny")
    world = build_world(sc, 1, sc.orders_per_day)
    cal = build_calendar(pd.Timestamp("2024-01-01"), 30, world, 1, Realism())
    ci = ChunkInput(cal, world, None, 0, 30, 0, 0, "t")
    rng = np.random.default_rng(1)
    day = np.repeat(np.arange(30), 2000)
    sku = _choose_skus(ci, day, rng.random(len(day)))
    dead = np.flatnonzero(np.diff(np.concatenate([[0.0], cal.sku_cum[5]])) == 0)
    assert not np.isin(sku[day == 5], dead).any()  # a SKU not on sale that day is not sold
    qty = np.ones(10_000, int)
    out = bulk_units(rng, qty, np.ones(10_000, bool), Realism())
    assert 0.02 < (out > 1).mean() < 0.06 and out.max() > 5
