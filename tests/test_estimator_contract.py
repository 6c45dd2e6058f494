"""Every estimator of the package keeps scikit-learn's contract.

``__init__`` stores its arguments unchanged (so ``get_params``/``set_params`` round-trip and
``sklearn.base.clone`` works), ``fit`` returns ``self`` and adds only trailing-underscore
state, and an unfitted estimator refuses to predict with scikit-learn's ``NotFittedError``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from models.churn import ChurnClassifier
from models.forecast import LSTMForecaster, ProphetForecaster, SeasonalNaive
from models.forecast.synthetic import make_panel
from models.routing.agent import DQNRouter, MaskablePPORouter

EXOG = ["is_holiday", "promotion_intensity"]
TINY_DQN = {"learning_starts": 32, "train_freq": 32, "gradient_steps": 1}
TINY_PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}


def _panel() -> pd.DataFrame:
    return make_panel(n_series=2, n_days=60, level=(5.0, 50.0), random_state=3)


def _customers() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    churned = (x[:, 0] + rng.normal(0, 0.5, 300) > 0).astype(int)
    return pd.DataFrame(x, columns=["recency_days", "frequency", "monetary"]).assign(
        churned=churned)


# name: (estimator, a changed parameter, fit arguments, predict call on the unfitted model)
CASES = {
    "seasonal_naive": (SeasonalNaive(), {"season_length": 14}, _panel, lambda m: m.predict(7)),
    "prophet": (ProphetForecaster(regressors=EXOG, n_jobs=1), {"transform": "log1p"},
                lambda: _panel()[["unique_id", "ds", "y", *EXOG]], lambda m: m.predict(7)),
    "lstm": (LSTMForecaster(horizon=7, exog=EXOG, input_size=14, max_steps=5, batch_size=16,
                            hidden_size=4, calibration_days=7, num_threads=1),
             {"hidden_size": 8}, _panel, lambda m: m.predict(7)),
    "dqn": (DQNRouter(total_timesteps=64, eval_freq=10_000, progress_bar=False, net_arch=(8,),
                      algo_kwargs=TINY_DQN),
            {"algo_kwargs": {"gamma": 0.5}}, lambda: None,
            lambda m: m.predict(np.zeros((1, 46), np.float32))),
    "maskable_ppo": (MaskablePPORouter(total_timesteps=64, eval_freq=10_000, progress_bar=False,
                                       net_arch=(8,), algo_kwargs=TINY_PPO),
                     {"random_state": 7}, lambda: None,
                     lambda m: m.predict(np.zeros((1, 46), np.float32))),
    "churn": (ChurnClassifier(max_iter=20), {"calibration": "sigmoid"}, _customers,
              lambda m: m.predict_proba(_customers())),
}


@pytest.mark.parametrize("name", list(CASES))
def test_estimator_contract(name):
    est, change, data, predict = CASES[name]
    assert isinstance(est, BaseEstimator)
    params = est.get_params()
    # clone: same class, equal parameters, a new object
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert repr(twin.get_params()) == repr(params)
    # set_params/get_params round-trip, and changing one parameter changes only it
    twin.set_params(**change)
    assert {k: v for k, v in twin.get_params().items() if k not in change} == {
        k: v for k, v in params.items() if k not in change}
    assert all(twin.get_params()[k] == v for k, v in change.items())
    assert repr(clone(est).set_params(**params).get_params()) == repr(params)
    # unfitted: scikit-learn's NotFittedError
    with pytest.raises(NotFittedError):
        predict(est)
    # fit returns self and adds only trailing-underscore (learned) state
    before = set(vars(est))
    arg = data()
    fitted = est.fit(arg) if arg is not None else est.fit()
    assert fitted is est
    added = set(vars(est)) - before
    assert added and all(k.endswith("_") for k in added), sorted(added)
    assert repr(est.get_params()) == repr(params)  # fit never rewrites a parameter
    # a clone of the fitted estimator is unfitted
    with pytest.raises(NotFittedError):
        predict(clone(est))
