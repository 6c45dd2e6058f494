"""BG/NBD and Gamma-Gamma: parameter recovery on simulated data and known properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    NotFittedError,
    customer_lifetime_value,
    summary_data,
)

TRUE_BG = {"r": 0.3, "alpha": 5.0, "a": 0.8, "b": 2.5}


def simulate_bgnbd(n, params, T_cal, T_hold, rng):
    """Simulate a BG/NBD population; return calibration summary and holdout counts."""
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    T = rng.uniform(T_cal / 3, T_cal, n)
    x, tx, hold = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + T_hold:
                break
            if t <= T[i]:
                x[i] += 1
                tx[i] = t
            else:
                hold[i] += 1
            alive = rng.random() >= p[i]
    return x, tx, T, hold


@pytest.fixture(scope="module")
def sim():
    return simulate_bgnbd(2500, TRUE_BG, 60.0, 30.0, np.random.default_rng(1))


def test_bgnbd_recovers_parameters(sim):
    x, tx, T, _ = sim
    bg = BetaGeoFitter().fit(x, tx, T)
    for k, v in TRUE_BG.items():
        assert bg.params_[k] == pytest.approx(v, rel=0.35), (k, bg.params_)


def test_bgnbd_holdout_total_matches_conditional_expectation(sim):
    x, tx, T, hold = sim
    bg = BetaGeoFitter().fit(x, tx, T)
    pred = bg.conditional_expected_number_of_purchases_up_to_time(30.0, x, tx, T)
    assert pred.sum() == pytest.approx(hold.sum(), rel=0.12)
    # customers expected to buy more do buy more
    hi = pred > np.quantile(pred, 0.8)
    assert hold[hi].mean() > 3 * hold[~hi].mean()


def simulate_bgnbd_fast(n, params, T_min, T_max, rng):
    """Vectorised BG/NBD simulation: (frequency, recency, T) per customer, time in days."""
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    T = rng.uniform(T_min, T_max, n)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        t = t + rng.exponential(1 / lam)
        buy = alive & (t <= T)
        x += buy
        tx = np.where(buy, t, tx)
        alive = buy & (rng.random(n) >= p)  # may drop out after each repeat purchase
    return x, tx, T


def simulate_gamma_gamma(n, p, q, v, rng):
    """Mean spend of 1..5 transactions: z ~ Gamma(p, rate nu), nu ~ Gamma(q, rate v)."""
    x = rng.integers(1, 6, n).astype(float)
    nu = rng.gamma(q, 1 / v, n)
    return x, rng.gamma(p * x, 1 / (nu * x))  # mean of x Gamma(p, nu) = Gamma(px, rate nu x)


SIM_BG_DAYS = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}  # alpha in days


def test_bgnbd_defaults_recover_known_parameters_within_10pct():
    # 20,000 customers observed 1-3 years, time in days, default settings (no tuning)
    x, tx, T = simulate_bgnbd_fast(20_000, SIM_BG_DAYS, 365, 1095, np.random.default_rng(11))
    bg = BetaGeoFitter().fit(x, tx, T)
    assert bg.converged_ and bg.at_bound_ == []
    for k, v in SIM_BG_DAYS.items():
        assert bg.params_[k] == pytest.approx(v, rel=0.10), (k, bg.params_)


def test_gamma_gamma_defaults_recover_known_parameters_within_10pct():
    truth = {"p": 2.0, "q": 4.0, "v": 15.0}
    x, m = simulate_gamma_gamma(20_000, *truth.values(), np.random.default_rng(21))
    gg = GammaGammaFitter().fit(x, m)
    assert gg.converged_
    for k, v in truth.items():
        assert gg.params_[k] == pytest.approx(v, rel=0.10), (k, gg.params_)
    # money in pence instead of pounds: same shapes, v scales, nothing else moves
    pence = GammaGammaFitter().fit(x, m * 100).params_
    assert pence["p"] == pytest.approx(gg.params_["p"], rel=1e-3)
    assert pence["v"] == pytest.approx(100 * gg.params_["v"], rel=1e-3)


def test_bgnbd_fit_does_not_depend_on_the_time_unit():
    x, tx, T = simulate_bgnbd_fast(3000, SIM_BG_DAYS, 200, 400, np.random.default_rng(5))
    for pen in (0.0, 0.01):
        days = BetaGeoFitter(penalizer=pen).fit(x, tx, T).params_
        weeks = BetaGeoFitter(penalizer=pen).fit(x, tx / 7, T / 7).params_
        for k in ("r", "a", "b"):
            assert weeks[k] == pytest.approx(days[k], rel=1e-3), (pen, k)
        assert weeks["alpha"] * 7 == pytest.approx(days["alpha"], rel=1e-3)


def test_unidentified_fits_are_refused():
    with pytest.raises(ValueError, match="more than one day"):
        BetaGeoFitter().fit([0, 0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="repeat purchases"):
        BetaGeoFitter().fit([0, 0, 0], [0, 0, 0], [10, 20, 30])


def test_p_alive_properties():
    bg = BetaGeoFitter()
    bg.params_ = dict(TRUE_BG)
    T = np.full(6, 100.0)
    # one-time buyers (x = 0) are alive by assumption of the model
    assert np.allclose(bg.conditional_probability_alive(np.zeros(3), np.zeros(3), T[:3]), 1.0)
    # for fixed frequency, P(alive) falls as the last purchase recedes (recency t_x shrinks)
    tx = np.array([100.0, 90, 70, 50, 20, 5])
    pa = bg.conditional_probability_alive(np.full(6, 3.0), tx, T)
    assert np.all(np.diff(pa) < 0) and pa[0] == pytest.approx(1 / (1 + 0.8 / 4.5))
    # for a fixed gap since last purchase, a frequent buyer who stopped is less likely alive
    pa_f = bg.conditional_probability_alive(np.array([1.0, 5, 10]), np.full(3, 40.0), T[:3])
    assert np.all(np.diff(pa_f) < 0)


def test_unconditional_expectation_matches_simulation():
    rng = np.random.default_rng(2)
    n = 20000
    lam = rng.gamma(TRUE_BG["r"], 1 / TRUE_BG["alpha"], n)
    p = rng.beta(TRUE_BG["a"], TRUE_BG["b"], n)
    counts = np.zeros(n)
    # vectorised simulation: at most 60 purchase attempts per customer
    t = np.zeros(n)
    alive = np.ones(n, bool)
    for _ in range(60):
        t += rng.exponential(1 / lam)
        buy = alive & (t <= 30)
        counts += buy
        alive &= buy & (rng.random(n) >= p)
    bg = BetaGeoFitter()
    bg.params_ = dict(TRUE_BG)
    assert bg.expected_number_of_purchases_up_to_time(30.0) == pytest.approx(counts.mean(),
                                                                               rel=0.06)


def test_gamma_gamma_recovers_parameters_and_shrinks():
    rng = np.random.default_rng(3)
    p, q, v = 6.0, 4.0, 15.0
    x = rng.integers(1, 10, 3000)
    nu = rng.gamma(q, 1 / v, 3000)
    m = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(3000)])
    gg = GammaGammaFitter().fit(x, m)
    assert gg.params_["p"] == pytest.approx(p, rel=0.3)
    assert gg.params_["q"] == pytest.approx(q, rel=0.3)
    pop = gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1)
    e = gg.conditional_expected_average_profit(np.array([1, 20, 0]), np.array([500.0, 500, 0]))
    # shrinkage: the estimate sits between the population mean and the observation,
    # and more transactions pull it closer to the observation; no repeat -> population mean
    assert pop < e[0] < e[1] < 500
    assert e[2] == pytest.approx(pop)


def test_summary_and_clv_from_orders():
    orders = pd.DataFrame({
        "tenant_id": "t",
        "customer_id": ["a", "a", "a", "b", "c", "c", "c"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01", "2024-01-10",
                                      "2024-01-05", "2024-03-01", "2024-04-01"]),
        "total_amount": [10.0, 5.0, 30.0, 20.0, 8.0, 12.0, 999.0],
        "status": ["delivered"] * 6 + ["cancelled"],
    })
    s = summary_data(orders, "2024-03-31").set_index("customer_id")
    # two orders on one day are one purchase; the cancelled order is ignored
    assert s.loc["a", ["frequency", "recency", "T", "monetary_value"]].tolist() == [
        1.0, 31.0, 90.0, 30.0]
    assert s.loc["b", ["frequency", "recency", "T"]].tolist() == [0.0, 0.0, 81.0]
    assert s.loc["c", "frequency"] == 1.0 and s.loc["c", "monetary_value"] == 12.0
    clv = customer_lifetime_value(s.reset_index())
    assert {"p_alive", "expected_spend", "clv_90d", "clv_365d"} <= set(clv.columns)
    assert (clv["clv_365d"] >= clv["clv_90d"]).all() and (clv["clv_90d"] >= 0).all()


def test_bad_inputs_are_clear():
    with pytest.raises(NotFittedError):
        BetaGeoFitter().conditional_probability_alive([1], [1], [2])
    with pytest.raises(ValueError, match="recency <= T"):
        BetaGeoFitter().fit([1, 2], [5, 1], [3, 4])
    with pytest.raises(ValueError, match="at least 3 customers"):
        GammaGammaFitter().fit([0, 0, 1], [0.0, 0.0, -5.0])
    with pytest.raises(ValueError, match="empty"):
        customer_lifetime_value(pd.DataFrame(columns=["frequency", "recency", "T",
                                                      "monetary_value"]))
