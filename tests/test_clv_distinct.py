"""BG/NBD fitted on distinct (x, t_x, T) triples and Gamma-Gamma's regrouped likelihood.

Both are the same objective as the per-customer mean, summed in another order; these tests
fit the per-customer objective directly (the code before the change) and compare.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from test_clv import TRUE_BG, simulate_bgnbd

from models.clv import (
    LOG_BOUND,
    OPTIONS,
    BetaGeoFitter,
    GammaGammaFitter,
    bgnbd_loglik,
    bgnbd_loglik_by_value,
    distinct_rows,
    gamma_gamma_loglik,
)


@pytest.fixture(scope="module")
def days():
    """A simulated BG/NBD population in whole days, as the lake gives summaries: many
    customers share a triple."""
    x, tx, T, _ = simulate_bgnbd(6000, TRUE_BG, 60.0, 30.0, np.random.default_rng(7))
    T = np.ceil(T)
    tx = np.where(x > 0, np.maximum(np.floor(tx), 1.0), 0.0)
    m = np.where(x > 0, np.round(np.random.default_rng(8).gamma(3.0, 20.0, len(x)), 2), 0.0)
    return x, tx, T, m


def _per_customer_fit(x, tx, T):
    """The fit as it was: the mean of every customer's log-likelihood, same starts."""
    scale = float(np.mean(T))

    def nll(logp):
        return -float(np.mean(bgnbd_loglik(np.exp(logp), x, tx / scale, T / scale)))

    starts = [np.log([1.0, 1.0, 1.0, 1.0]), np.log([0.3, 0.3, 0.5, 2.0]),
              np.log([2.0, 5.0, 1.0, 5.0])]
    best = min((minimize(nll, s, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
                         options=OPTIONS)
                for s in starts), key=lambda r: r.fun)
    r, alpha, a, b = np.exp(best.x)
    return {"r": r, "alpha": alpha * scale, "a": a, "b": b}, -best.fun


def test_distinct_triples_fit_equals_the_per_customer_fit(days):
    x, tx, T, _ = days
    (xd, _, _), w = distinct_rows((x, tx, T))
    assert len(xd) < len(x) / 2  # the data do repeat
    bg = BetaGeoFitter().fit(x, tx, T)
    ref, ref_ll = _per_customer_fit(x, tx, T)
    assert bg.loglik_ == pytest.approx(ref_ll, rel=1e-9)
    for k, v in ref.items():
        assert bg.params_[k] == pytest.approx(v, rel=1e-4), k
    assert w.sum() == pytest.approx(1.0)


def test_predictions_per_customer_are_unchanged_by_the_grouping(days):
    x, tx, T, _ = days
    bg = BetaGeoFitter().fit(x, tx, T)
    got = bg.conditional_expected_number_of_purchases_up_to_time(90, x, tx, T)
    one_by_one = np.array([bg.conditional_expected_number_of_purchases_up_to_time(
        90, x[i:i + 1], tx[i:i + 1], T[i:i + 1])[0] for i in range(0, len(x), 97)])
    np.testing.assert_array_equal(got[::97], one_by_one)


def test_integer_weights_equal_repeated_customers(days):
    x, tx, T, _ = days
    k = np.arange(len(x)) % 3 + 1
    weighted = BetaGeoFitter().fit(x, tx, T, sample_weight=k)
    repeated = BetaGeoFitter().fit(np.repeat(x, k), np.repeat(tx, k), np.repeat(T, k))
    for name in BetaGeoFitter.PARAM_NAMES:
        assert weighted.params_[name] == pytest.approx(repeated.params_[name], rel=1e-6)
    with pytest.raises(ValueError, match="sample_weight"):
        BetaGeoFitter().fit(x, tx, T, sample_weight=-k)
    with pytest.raises(ValueError, match="sample_weight"):
        BetaGeoFitter().fit(x, tx, T, sample_weight=k[:-1])


def test_gamma_gamma_regrouped_likelihood_equals_the_per_customer_mean(days):
    x, _, _, m = days
    keep = (x > 0) & (m > 0)
    gg = GammaGammaFitter().fit(x, m)
    xs, ms = x[keep], m[keep] / np.mean(m[keep])

    def nll(logp):
        return -float(np.mean(gamma_gamma_loglik(np.exp(logp), xs, ms)))

    starts = [np.log([2.0, 3.0, 2.0]), np.log([1.0, 1.5, 0.5]), np.log([8.0, 8.0, 8.0])]
    ref = min((minimize(nll, s, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 3,
                        options=OPTIONS)
               for s in starts), key=lambda r: r.fun)
    assert gg.loglik_ == pytest.approx(-ref.fun, rel=1e-9)
    p, q, v = np.exp(ref.x)
    for name, val in zip(GammaGammaFitter.PARAM_NAMES, (p, q, v * np.mean(m[keep])),
                         strict=True):
        assert gg.params_[name] == pytest.approx(val, rel=1e-4), name


def test_loglik_by_value_is_bit_identical(days):
    x, tx, T, _ = days
    by_value = bgnbd_loglik_by_value(x, tx / 37.0, T / 37.0)
    for p in ([1.0, 1.0, 1.0, 1.0], [0.3, 0.2, 0.5, 2.0], [2.0, 5.0, 1.0, 5.0]):
        params = np.array(p)
        np.testing.assert_array_equal(by_value(params), bgnbd_loglik(params, x, tx / 37.0,
                                                                     T / 37.0))
