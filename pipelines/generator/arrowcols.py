"""Fast string columns for big generated frames, built in Arrow instead of Python objects.

Millions of ids like ``O0000123456`` are formatted with Arrow compute kernels and handed to
pandas as Arrow-backed string arrays, so neither generation nor the parquet write walks
Python strings row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _series(arr: pa.Array) -> pd.Series:
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def str_col(values: np.ndarray | Sequence[str]) -> pd.Series:
    """A string column from an array of Python/numpy strings (small arrays)."""
    return _series(pa.array(np.asarray(values, dtype=object), type=pa.string()))


def const_col(value: str, n: int) -> pd.Series:
    """A column repeating one string ``n`` times."""
    return codes_col(np.zeros(n, dtype=np.int32), [value])


def ids_arrow(prefix: str, numbers: np.ndarray, width: int,
              mask: np.ndarray | None = None) -> pa.Array:
    """Ids ``prefix + zero-padded number`` (e.g. ``O0000000042``); null where ``mask``."""
    nums = pa.array(np.asarray(numbers, dtype=np.int64), mask=mask)
    digits = pc.utf8_lpad(pc.cast(nums, pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def ids_col(prefix: str, numbers: np.ndarray, width: int,
            mask: np.ndarray | None = None) -> pd.Series:
    """Like :func:`ids_arrow`, as a pandas string column."""
    return _series(ids_arrow(prefix, numbers, width, mask))


def codes_col(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """Strings from integer codes into ``labels``; negative codes become null."""
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    dict_arr = pa.DictionaryArray.from_arrays(idx, pa.array(list(labels), type=pa.string()))
    return _series(dict_arr.cast(pa.string()))


def suffixed_col(base: pa.Array, suffixes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """``base[i] + labels[suffixes[i]]`` (e.g. event ids from order ids)."""
    suf = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(suffixes, dtype=np.int32)), pa.array(list(labels))
    ).cast(pa.string())
    return _series(pc.binary_join_element_wise(base, suf, ""))


def take_col(base: pa.Array, idx: np.ndarray) -> pd.Series:
    """``base[idx]`` as a string column."""
    return _series(base.take(pa.array(np.asarray(idx, dtype=np.int64))))


def masked_float(values: np.ndarray, mask: np.ndarray) -> pd.Series:
    """A float column with NaN where ``mask`` is True."""
    return pd.Series(np.where(mask, np.nan, values).astype(np.float64))


def masked_bool(values: np.ndarray, mask: np.ndarray) -> pd.Series:
    """A nullable boolean column, null where ``mask`` is True."""
    return pd.Series(pd.arrays.BooleanArray(np.asarray(values, dtype=bool), np.asarray(mask)))


def masked_int(values: np.ndarray, mask: np.ndarray) -> pd.Series:
    """A nullable Int64 column, null where ``mask`` is True."""
    return pd.Series(pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), np.asarray(mask)))


def utc_col(epoch_seconds: np.ndarray) -> pd.Series:
    """UTC timestamps from integer epoch seconds."""
    ts = np.asarray(epoch_seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(ts).tz_localize("UTC"))


def date_col(epoch_days: np.ndarray) -> pd.Series:
    """Tz-naive midnight dates from integer days since the epoch."""
    d = np.asarray(epoch_days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    return pd.Series(d)
