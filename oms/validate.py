"""Validate frames against the contract: conform types, check rules, quarantine with reasons.

``validate_frame`` never drops a row: every input row comes back either in ``valid`` (conformed
to the contract's dtypes) or in ``quarantine`` (its raw values as text, plus ``_reason``).
Problems that make a whole file unusable — a missing required column — raise
``ContractError`` naming the source and the column instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.errors as pa_errors

from oms.contract import ColumnSpec, TableSpec, get_table

REASON = "_reason"
SOURCE = "_source"
ROW = "_row"


class ContractError(ValueError):
    """A frame cannot be validated at all (e.g. a required column is missing)."""


@dataclass
class Validated:
    """Result of validating one frame.

    Attributes:
        valid: Rows that meet the contract, with contract dtypes and column order.
        quarantine: Rows that do not, raw values as strings plus ``_reason``/``_source``/``_row``.
        ignored_columns: Input columns that are not in the contract (not written to the lake).
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    ignored_columns: list[str]

    @property
    def rows_in(self) -> int:
        """Rows that came in."""
        return len(self.valid) + len(self.quarantine)


def _coerce_bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
               "t": True, "f": False}
    out = s.map(lambda v: v if isinstance(v, bool | np.bool_) else
                mapping.get(str(v).strip().lower()) if pd.notna(v) else None)
    return out.astype("boolean")


def _coerce_timestamp(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(s):
        # naive timestamps in the lake are UTC by contract
        return s.astype("datetime64[ns]").dt.tz_localize("UTC")
    # object/strings, possibly with mixed offsets: parse each, normalise to UTC
    return pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601").astype(
        "datetime64[ns, UTC]"
    )


def _coerce_date(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(s):
        s = pd.to_datetime(s, errors="coerce", format="mixed")
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]").dt.normalize()


def coerce_column(s: pd.Series, col: ColumnSpec) -> pd.Series:
    """Convert a raw column to the contract dtype; values that cannot convert become null."""
    if col.type == "string":
        return s.astype("string")
    if col.type == "float64":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if col.type == "int64":
        num = pd.to_numeric(s, errors="coerce")
        integral = num.isna() | (np.floor(num) == num)
        return num.where(integral).astype("Float64").astype("Int64")
    if col.type == "bool":
        return _coerce_bool(s)
    if col.type == "timestamp":
        return _coerce_timestamp(s)
    if col.type == "date":
        return _coerce_date(s)
    raise ContractError(f"unknown logical type {col.type!r} for column {col.name!r}")


def _raw_text(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), None).astype("string")


def validate_frame(
    df: pd.DataFrame,
    table: str | TableSpec,
    source: str = "<frame>",
    now: pd.Timestamp | None = None,
    row_offset: int = 0,
) -> Validated:
    """Conform ``df`` to a contract table and split it into valid and quarantined rows.

    Args:
        df: Raw rows, as read from an export or a parquet file.
        table: Contract table name or spec.
        source: Where the rows came from (file path), recorded on quarantined rows and errors.
        now: Reference time for "not in the future" rules (default: the current UTC time).
        row_offset: Row number of ``df``'s first row within ``source`` (for ``_row``).

    Returns:
        The valid rows, the quarantined rows with reasons, and ignored extra columns.

    Raises:
        ContractError: A required column is missing; the message names the source and column.
    """
    spec = get_table(table) if isinstance(table, str) else table
    missing = [c for c in spec.column_names if c not in df.columns]
    if missing:
        raise ContractError(
            f"{source}: missing required column(s) {missing} for table {spec.name!r}"
        )
    ignored = [c for c in df.columns if c not in spec.column_names]
    raw = df.reset_index(drop=True)
    reasons: dict[int, list[str]] = defaultdict(list)

    conformed = {}
    for col in spec.columns:
        out = coerce_column(raw[col.name], col)
        bad = out.isna() & raw[col.name].notna()
        for i in np.flatnonzero(bad.to_numpy()):
            reasons[int(i)].append(
                f"{col.name}: cannot read {str(raw[col.name].iat[i])[:40]!r} as {col.type}"
            )
        conformed[col.name] = out
    frame = pd.DataFrame(conformed)

    try:
        spec.pandera_schema().validate(frame, lazy=True)
    except pa_errors.SchemaErrors as err:
        fc = err.failure_cases
        for _, case in fc.iterrows():
            idx = case["index"]
            if idx is None or (isinstance(idx, float) and np.isnan(idx)):
                raise ContractError(
                    f"{source}: column {case['column']!r} fails {case['check']}"
                ) from err
            check = str(case["check"])
            reason = (
                f"{case['column']}: null" if check == "not_nullable" else f"{check}"
            )
            if "null" in reason and any(r.startswith(f"{case['column']}: cannot read")
                                        for r in reasons[int(idx)]):
                continue
            reasons[int(idx)].append(reason)

    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    for col in spec.columns:
        if col.not_future:
            limit = now if col.type == "timestamp" else now.tz_localize(None).normalize()
            fut = (frame[col.name] > limit).fillna(False).to_numpy()
            for i in np.flatnonzero(fut):
                reasons[int(i)].append(f"{col.name} in the future")

    pk = list(spec.primary_key)
    dup = frame.duplicated(subset=pk, keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        reasons[int(i)].append(f"duplicate primary key ({', '.join(pk)})")

    bad_idx = np.array(sorted(reasons), dtype=int)
    mask = np.zeros(len(frame), dtype=bool)
    mask[bad_idx] = True
    valid = frame.loc[~mask, spec.column_names].reset_index(drop=True)
    quarantine = _raw_text(raw.loc[mask]).reset_index(drop=True)
    quarantine[REASON] = pd.array(["; ".join(dict.fromkeys(reasons[i])) for i in bad_idx],
                                  dtype="string")
    quarantine[SOURCE] = pd.array([source] * len(bad_idx), dtype="string")
    quarantine[ROW] = pd.array(bad_idx + row_offset, dtype="Int64")
    return Validated(valid=valid, quarantine=quarantine, ignored_columns=ignored)


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate a frame that must already be clean; raise with the reasons if any row is not.

    Used at job boundaries inside the project (features, models) where quarantine is not
    appropriate: bad rows there are a bug, not user data.
    """
    res = validate_frame(df, table)
    if len(res.quarantine):
        sample = res.quarantine[REASON].value_counts().head(5).to_dict()
        raise ContractError(f"{len(res.quarantine)} rows of {table!r} break the contract: {sample}")
    return res.valid
