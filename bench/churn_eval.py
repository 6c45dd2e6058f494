"""Evaluation helpers of the churn bench: paired bootstrap, lift/gain table, CLV calibration.

Kept beside ``bench/churn.py`` (bench only, not part of the package).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

METRICS = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score,
           "brier": brier_score_loss}


def paired_bootstrap(y: np.ndarray, p_model: np.ndarray, others: dict[str, np.ndarray],
                     n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Model − baseline differences with 95% percentile intervals, resampling customers.

    The same resampled customers score both models in each replicate (paired), so the
    interval is that of the difference, not of two independent numbers.

    Returns:
        One row per (baseline, metric): ``model, baseline, diff, lo, hi``; for Brier a
        negative difference favours the model.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    idx = [rng.integers(0, n, n) for _ in range(n_boot)]
    idx = [i for i in idx if 0 < y[i].sum() < n]  # both classes in every replicate
    rows = []
    for name, p_base in others.items():
        for metric, f in METRICS.items():
            diffs = np.array([f(y[i], p_model[i]) - f(y[i], p_base[i]) for i in idx])
            lo, hi = np.percentile(diffs, [2.5, 97.5])
            rows.append({"baseline": name, "metric": metric, "model": f(y, p_model),
                         "baseline_value": f(y, p_base), "diff": f(y, p_model) - f(y, p_base),
                         "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def bootstrap_ci(y: np.ndarray, p: np.ndarray, metric: str = "roc_auc", n_boot: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of one metric, resampling customers."""
    rng = np.random.default_rng(seed)
    f, n = METRICS[metric], len(y)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if 0 < y[i].sum() < n:
            vals.append(f(y[i], p[i]))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def lift_table(y: np.ndarray, scores: dict[str, np.ndarray],
               shares: tuple[float, ...] = (0.1, 0.2, 0.3)) -> pd.DataFrame:
    """Share of all churners caught in the top ``share`` of each score, and the lift."""
    rows = []
    n, total = len(y), y.sum()
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        for q in shares:
            k = int(round(q * n))
            caught = y[order[:k]].sum()
            rows.append({"score": name, "top": q, "customers": k,
                         "churners_caught": int(caught), "gain": caught / total,
                         "lift": (caught / total) / q, "precision": caught / k})
    return pd.DataFrame(rows)


def clv_fits(summary: pd.DataFrame, actual: np.ndarray, horizon: int) -> dict:
    """BG/NBD on an RFM summary: ours (defaults), lifetimes (no penalty), and lifetimes with
    the old ``penalizer=0.001`` on day-scaled data; predicted vs actual repeat purchases."""
    from models.clv import BetaGeoFitter

    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    ours = BetaGeoFitter().fit(x, tx, T)
    out = {"ours": {"params": ours.params_, "pred": float(
        ours.conditional_expected_number_of_purchases_up_to_time(horizon, x, tx, T).sum()),
        "calib_pred": _calib_total(ours.params_, T), "converged": ours.converged_}}
    try:
        from lifetimes import BetaGeoFitter  # noqa: F401
    except ImportError:
        out["lifetimes"] = None
    else:
        for name, pen, unit in (("lifetimes", 0.0, 1.0), ("lifetimes_weeks", 0.0, 7.0),
                                ("lifetimes_penalty_0.001", 0.001, 1.0)):
            out[name] = _lifetimes_fit(x, tx, T, pen, unit, horizon)
    out["actual"] = float(actual.sum())
    out["calib_actual"] = float(x.sum())
    return out


def _lifetimes_fit(x, tx, T, pen: float, unit: float, horizon: int) -> dict:
    """lifetimes' BG/NBD with time in ``unit`` days; alpha reported in days."""
    import warnings

    from lifetimes import BetaGeoFitter as RefBG

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = RefBG(penalizer_coef=pen).fit(x, tx / unit, T / unit)
    except Exception as e:  # noqa: BLE001 - lifetimes raises ConvergenceError on bad scaling
        return {"error": type(e).__name__}
    params = {k: float(v) for k, v in ref.params_.items()}
    params["alpha"] *= unit
    pred = ref.conditional_expected_number_of_purchases_up_to_time(
        horizon / unit, x, tx / unit, T / unit).sum()
    return {"params": params, "pred": float(pred), "calib_pred": _calib_total(params, T)}


def _calib_total(params: dict, T: np.ndarray) -> float:
    """Expected repeat purchases in each customer's own calibration period (FHL eq. 9)."""
    from models.clv import BetaGeoFitter

    bg = BetaGeoFitter()
    bg.params_ = {k: float(params[k]) for k in ("r", "alpha", "a", "b")}
    return float(bg.expected_number_of_purchases_up_to_time(T).sum())


def gamma_gamma_fits(summary: pd.DataFrame) -> dict:
    """Gamma-Gamma parameters: ours (defaults) vs lifetimes (no penalty) on repeat buyers."""
    from models.clv import GammaGammaFitter

    rep = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    x, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    out = {"ours": GammaGammaFitter().fit(x, m).params_, "n": len(rep)}
    try:
        from lifetimes import GammaGammaFitter as RefGG

        out["lifetimes"] = {k: float(v) for k, v in
                            RefGG(penalizer_coef=0.0).fit(x, m).params_.items()}
    except ImportError:
        out["lifetimes"] = None
    return out
