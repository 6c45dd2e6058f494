"""Integer key codes shared by the pandas feature functions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def dense_codes(values: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense integer codes and unique values of a key column; nulls are an error.

    A categorical column is not hashed again: its codes are used, minus unused categories.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        uniques = values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
        codes = codes.astype(np.int64)
    if (codes < 0).any():
        raise ValueError(f"{name} has {int((codes < 0).sum())} null value(s)")
    present = np.bincount(codes, minlength=len(uniques)) > 0
    if present.all():
        return codes, np.asarray(uniques, dtype=object)
    return (np.cumsum(present) - 1)[codes], np.asarray(uniques[present], dtype=object)
