"""The BG/NBD and Gamma-Gamma likelihoods of ``models.clv``, arranged to be cheap on big data.

Each function gives the same values as the per-customer formulas in ``models/clv.py``
(``bgnbd_loglik``, ``gamma_gamma_loglik``), computed once per distinct value instead of once
per customer; ``tests/test_clv_distinct.py`` compares them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln


def distinct_rows(columns: tuple[np.ndarray, ...], sample_weight=None
                  ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows of equal-length ``columns`` and each one's share of the total weight.

    ``w @ f(distinct)`` then equals the (weighted) mean of ``f`` over the original rows for
    any row-wise ``f``: the likelihoods here only depend on a row's values.
    """
    weight = np.ones(len(columns[0])) if sample_weight is None else np.asarray(
        sample_weight, dtype=float)
    if weight.shape != columns[0].shape or np.any(~np.isfinite(weight) | (weight < 0)):
        raise ValueError("sample_weight must be one finite weight >= 0 per customer")
    if not weight.sum() > 0:
        raise ValueError("sample_weight must not be all zero")
    rows, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=weight, minlength=len(rows))
    keep = w > 0
    return tuple(rows[keep, i] for i in range(len(columns))), w[keep] / w.sum()


def bgnbd_loglik_by_value(x: np.ndarray, tx: np.ndarray, T: np.ndarray):
    """``params -> bgnbd_loglik(params, x, tx, T)``, the special functions once per value.

    The gamma and beta terms depend on ``x`` only and the logarithms on ``T`` or ``t_x``
    only (a few hundred distinct values each), so they are computed per distinct value and
    gathered; each row then costs a ``logaddexp``. Every term is the same expression in the
    same order as :func:`bgnbd_loglik`, so the values are equal bit for bit.
    """
    xu, xi = np.unique(x, return_inverse=True)
    tu, ti = np.unique(T, return_inverse=True)
    txu, txi = np.unique(tx, return_inverse=True)
    xi, ti, txi = xi.ravel(), ti.ravel(), txi.ravel()

    def loglik(params: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        b_ab = betaln(a, b)
        b2 = betaln(a, b + xu) - b_ab
        with np.errstate(divide="ignore", invalid="ignore"):
            b3 = np.where(xu > 0, betaln(a + 1, np.maximum(b + xu - 1, 1e-12)) - b_ab, -np.inf)
        rx = (r + xu)[xi]
        a2 = b2[xi] - rx * np.log(alpha + tu)[ti]
        a3 = b3[xi] - rx * np.log(alpha + txu)[txi]
        return a1[xi] + np.logaddexp(a2, a3)

    return loglik


def mean_gamma_gamma_loglik(x: np.ndarray, m: np.ndarray):
    """``params -> mean(gamma_gamma_loglik(params, x, m))`` with its terms regrouped.

    The gamma-function terms depend on ``x`` only (a few dozen distinct values) and the
    ``log m`` terms are fixed sums, so each call evaluates one ``log(v + x m)`` per customer
    instead of three ``gammaln`` and three ``log``: the same mean, summed in another order.
    """
    (xd,), wx = distinct_rows((x,))
    n = len(x)
    xm, logm = x * m, np.log(m)
    x_logm, mean_logm = float(x @ logm) / n, float(np.mean(logm))
    xd_logx = xd * np.log(xd)

    def mean_ll(params: np.ndarray) -> float:
        p, q, v = params
        by_x = gammaln(p * xd + q) - gammaln(p * xd) + p * xd_logx
        log_vxm = np.log(v + xm)
        return (float(wx @ by_x) - float(gammaln(q)) + q * float(np.log(v))
                + p * x_logm - mean_logm - (p * float(x @ log_vxm) + q * float(log_vxm.sum())) / n)

    return mean_ll
