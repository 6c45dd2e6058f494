"""Validate frames against the contract: conform types, check rules, quarantine with reasons.

``validate_frame`` never drops a row: every input row comes back either in ``valid`` (conformed
to the contract's dtypes) or in ``quarantine`` (its raw values as text, plus ``_reason``).
Problems that make a whole file unusable — a missing required column — raise
``ContractError`` naming the source and the column instead.

Reasons are stable texts (``"quantity <= 0"``, ``"order_id: null"``,
``"order_ts: not a valid timestamp"``, ``"duplicate primary key (tenant_id, order_id)"``), so
they can be counted; a row that breaks several rules carries them all, joined by ``"; "``.
The offending raw values stay in the quarantined row itself.

Over 400 lines: coercion, single-column, cross-field and key rules are one validation pass
over the same conformed frame; each part is a short function.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pyarrow as pa
import pyarrow.compute as pc

from oms.contract import ColumnSpec, TableSpec, get_table

REASON = "_reason"
SOURCE = "_source"
ROW = "_row"
REASON_SEP = "; "

_NS_MIN = pd.Timestamp.min.tz_localize(None)
_NS_MAX = pd.Timestamp.max.tz_localize(None)


class ContractError(ValueError):
    """A frame cannot be validated at all (e.g. a required column is missing)."""


@dataclass
class Validated:
    """Result of validating one frame.

    Attributes:
        valid: Rows that meet the contract, with contract dtypes and column order.
        quarantine: Rows that do not: the contract columns' raw values as strings plus
            ``_reason``/``_source``/``_row`` (``_row`` is 0-based within the source).
        ignored_columns: Input columns that are not in the contract (not written to the lake).
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    ignored_columns: list[str]

    @property
    def rows_in(self) -> int:
        """Rows that came in."""
        return len(self.valid) + len(self.quarantine)

    @property
    def reason_counts(self) -> dict[str, int]:
        """Quarantined rows per reason (a row breaking two rules counts under both)."""
        return reason_counts(self.quarantine)


def reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    """Count quarantined rows per individual reason."""
    if quarantine.empty:
        return {}
    parts = quarantine[REASON].astype(str).str.split(REASON_SEP).explode()
    return {str(k): int(v) for k, v in parts.value_counts().items()}


class KeyIndex:
    """A set of 64-bit primary-key hashes, to catch duplicates across batches and files.

    Stored as a few sorted ``uint64`` runs merged like a binary counter, so memory is
    8 bytes per key (160 MB for 20M keys) and adding stays ``O(n log n)`` overall. Two
    different keys collide with probability about ``n² / 2⁶⁵`` (≈1e-5 for 20M keys).
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which hashes were added before."""
        order = np.argsort(hashes)
        needles = hashes[order]  # sorted needles: searchsorted walks each run once, cache-friendly
        hit_sorted = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, needles), len(run) - 1)
            hit_sorted |= run[pos] == needles
        hit = np.empty_like(hit_sorted)
        hit[order] = hit_sorted
        return hit

    def add(self, hashes: np.ndarray) -> None:
        """Add hashes (duplicates among them are fine)."""
        if len(hashes) == 0:
            return
        self._runs.append(_dedupe(np.sort(np.asarray(hashes, dtype=np.uint64))))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            merged = np.concatenate([self._runs.pop(-2), self._runs.pop()])
            # in place, and the two runs are already freed: peak memory ~1.5x the merged run;
            # timsort merges two sorted runs in linear time
            merged.sort(kind="stable")
            self._runs.append(_dedupe(merged))


def _dedupe(a: np.ndarray) -> np.ndarray:
    """Drop repeats from a sorted array (no copy when there are none)."""
    if len(a) < 2:
        return a
    repeat = a[1:] == a[:-1]
    return a[np.concatenate(([True], ~repeat))] if repeat.any() else a


def key_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """64-bit hash per row of the given (conformed) columns."""
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy(dtype=np.uint64)


# --- coercion -----------------------------------------------------------------------------


def _coerce_bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        return s.map({1: True, 0: False}).astype("boolean")
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
               "t": True, "f": False, "y": True, "n": False}
    as_bool = s.map(lambda v: v if isinstance(v, bool | np.bool_) else None)
    as_text = s.astype("string").str.strip().str.lower().map(mapping)
    return as_bool.where(as_bool.notna(), as_text).astype("boolean")


def _in_ns_range(s: pd.Series) -> pd.Series:
    """Null out datetimes a nanosecond dtype cannot hold (e.g. year 9999)."""
    naive = s.dt.tz_localize(None) if isinstance(s.dtype, pd.DatetimeTZDtype) else s
    ok = naive.isna() | ((naive >= _NS_MIN) & (naive <= _NS_MAX))
    return s.where(ok)


# an offset after a time of day (a bare date "2024-01-05" must not read as offset "-05")
_OFFSET = re.compile(r"(?<=\d{2}:\d{2})((?::\d{2})?(?:[.,]\d+)?)\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_HAS_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


def _parse_iso(s: pd.Series, utc: bool) -> pd.Series:
    """Parse strings that all have an offset or all have none; ISO 8601 first, then any format."""
    try:
        return pd.to_datetime(s, utc=utc, errors="coerce", format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        def one(v: object) -> pd.Timestamp:
            try:
                t = pd.Timestamp(v)
            except (ValueError, TypeError, OverflowError):
                return pd.NaT
            if utc:
                return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
            return t.tz_localize(None) if t.tzinfo is not None else t
        return pd.Series([one(v) if pd.notna(v) else pd.NaT for v in s], index=s.index)


def _parse_datetimes(s: pd.Series, utc: bool) -> pd.Series:
    """Parse timestamp strings value by value as the contract says (``NAIVE_TIMESTAMPS``).

    Values with an offset and naive values are parsed apart: parsed together, pandas lets a
    naive value take its neighbour's offset. For timestamps (``utc``) a naive value is UTC and
    an offset is converted; for dates the wall-clock day as written is kept.
    """
    text = s.astype("string").str.strip()
    has_offset = text.str.contains(_HAS_OFFSET).fillna(False).to_numpy(dtype=bool)
    if not has_offset.any() or has_offset.all():
        if has_offset.any() and not utc:
            text = text.str.replace(_OFFSET, r"\1", regex=True)
        return pd.to_datetime(_parse_iso(text.astype(object), utc=utc), utc=utc)
    naive = pd.to_datetime(_parse_iso(text[~has_offset].astype(object), utc=utc), utc=utc)
    with_offset = text[has_offset]
    if not utc:  # a date: keep the day as written, drop the offset
        with_offset = with_offset.str.replace(_OFFSET, r"\1", regex=True)
    offset = pd.to_datetime(_parse_iso(with_offset.astype(object), utc=utc), utc=utc)
    unit = "datetime64[ns, UTC]" if utc else "datetime64[ns]"
    return pd.concat([naive.astype(unit), offset.astype(unit)]).reindex(s.index)


def _coerce_timestamp(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return _in_ns_range(s).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(s):
        # naive timestamps are UTC by contract
        return _in_ns_range(s).astype("datetime64[ns]").dt.tz_localize("UTC")
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    # strings, possibly with different offsets: each is parsed and normalised to UTC
    out = _parse_datetimes(s.astype(object), utc=True)
    return pd.to_datetime(out, utc=True).astype("datetime64[ns, UTC]")


def _coerce_date(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = _in_ns_range(s).dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(s):
        s = _in_ns_range(s)
    elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    else:
        s = _parse_datetimes(s.astype(object), utc=False)
        s = pd.to_datetime(s)
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]").dt.normalize()


def _coerce_int(s: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(s):
        return s.astype("Int64")
    num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_bool_dtype(s) else \
        pd.Series(np.nan, index=s.index)
    num = num.astype("float64")
    ok = np.isfinite(num) & (np.floor(num) == num) & (num.abs() < 2**63)
    return num.where(ok).astype("Float64").astype("Int64")


def coerce_column(s: pd.Series, col: ColumnSpec) -> pd.Series:
    """Convert a raw column to the contract dtype; values that cannot convert become null.

    Empty or blank strings count as missing values.
    """
    if col.type == "string":
        out = s.astype("string", copy=False)
        return out.mask(_blank(out))
    if col.type == "float64":
        if pd.api.types.is_bool_dtype(s):
            return pd.Series(np.nan, index=s.index)
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        return num.where(np.isfinite(num))
    if col.type == "int64":
        return _coerce_int(s)
    if col.type == "bool":
        return _coerce_bool(s)
    if col.type == "timestamp":
        return _coerce_timestamp(s)
    if col.type == "date":
        return _coerce_date(s)
    raise ContractError(f"unknown logical type {col.type!r} for column {col.name!r}")


def _blank(s: pd.Series) -> np.ndarray:
    """Empty or whitespace-only strings (computed in arrow: 10x faster than ``.str``)."""
    arr = pa.array(s.array, type=pa.string())
    blank = pc.match_substring_regex(arr, r"^\s*$")
    return blank.fill_null(False).to_numpy(zero_copy_only=False)


def _raw_text(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), None).astype("string")


# --- rule checks ----------------------------------------------------------------------------


@dataclass
class _Problems:
    """Row positions that broke a rule, in the order the rules were checked."""

    n: int
    found: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def add(self, mask: np.ndarray | pd.Series, reason: str) -> None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx):
            self.found.append((idx, reason))

    def add_positions(self, idx: np.ndarray, reason: str) -> None:
        if len(idx):
            self.found.append((np.unique(idx.astype(np.int64)), reason))

    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for idx, _ in self.found:
            out[idx] = True
        return out

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        text = np.full(self.n, "", dtype=object)
        for idx, reason in self.found:
            cur = text[idx]
            text[idx] = np.where(cur == "", reason, cur + REASON_SEP + reason)
        return text[rows]


def _check_pandera(spec: TableSpec, frame: pd.DataFrame, problems: _Problems,
                   unreadable: dict[str, np.ndarray], source: str) -> None:
    """Run the contract's pandera schema; record each failing row with the check's message."""
    try:
        with warnings.catch_warnings():  # pandera's own concat of failure cases warns
            warnings.filterwarnings("ignore", category=FutureWarning, module="pandera")
            spec.pandera_schema().validate(frame, lazy=True)
        return
    except pa_errors.SchemaErrors as err:
        fc = err.failure_cases
    if fc["index"].isna().any():
        bad = fc[fc["index"].isna()].iloc[0]
        raise ContractError(f"{source}: column {bad['column']!r} fails {bad['check']}")
    for (column, check), group in fc.groupby(["column", "check"], sort=False):
        idx = group["index"].to_numpy(dtype=np.int64)
        if check == "not_nullable":
            # a value that could not be read is already reported as such, not as null
            idx = idx[~unreadable[column][idx]]
            problems.add_positions(idx, f"{column}: null")
        else:
            problems.add_positions(idx, str(check))


def _check_future(spec: TableSpec, frame: pd.DataFrame, problems: _Problems,
                  now: pd.Timestamp, future_days: int) -> None:
    """Timestamps after ``now``; business dates after today (UTC) + ``future_days`` days."""
    for col in spec.columns:
        if not col.not_future:
            continue
        if col.type == "timestamp":
            limit, reason = now, f"{col.name} in the future"
        else:
            limit = now.tz_convert("UTC").tz_localize(None).normalize() + \
                pd.Timedelta(days=future_days)
            reason = f"{col.name} in the future (after today + {future_days} day(s))"
        future = (frame[col.name] > limit).fillna(False).to_numpy()
        problems.add(future, reason)


# a calendar day of an instant in some zone: UTC offsets run from -12:00 to +14:00
_EARLIEST_OFFSET, _LATEST_OFFSET = pd.Timedelta(hours=-12), pd.Timedelta(hours=14)


def _check_cross_field(spec: TableSpec, frame: pd.DataFrame, problems: _Problems) -> None:
    """Rules across columns of one row (``CROSS_FIELD_RULES`` in the contract).

    Only rows that passed the single-column rules are checked, so one bad value gives one
    reason rather than a cascade.
    """
    fine = ~problems.mask()
    if spec.name == "orders":
        guest = frame["is_guest"].fillna(False) & frame["customer_id"].notna()
        problems.add(guest.to_numpy(dtype=bool) & fine, "guest order (is_guest) with a customer_id")
        naive = frame["order_ts"].dt.tz_convert("UTC").dt.tz_localize(None)
        lo = (naive + _EARLIEST_OFFSET).dt.normalize()
        hi = (naive + _LATEST_OFFSET).dt.normalize()
        day = frame["order_date"]
        off = ((day < lo) | (day > hi)).fillna(False).to_numpy(dtype=bool)
        problems.add(off & fine, "order_date is not the local day of order_ts")
    elif spec.name == "order_lines":
        expected = frame["quantity"].astype("float64") * frame["unit_price"]
        amount = frame["line_amount"]
        off = ((amount - expected).abs() > 0.01 + 1e-6 * amount.abs()).fillna(False)
        problems.add(off.to_numpy(dtype=bool) & fine, "line_amount != quantity × unit_price")


def _check_parents(frame: pd.DataFrame, problems: _Problems,
                   parent_exists: Callable[[pd.DataFrame], np.ndarray]) -> None:
    """Order lines whose order is neither landed nor in the lake."""
    ok = np.flatnonzero(~problems.mask())
    if len(ok) == 0:
        return
    found = np.asarray(parent_exists(frame.iloc[ok]), dtype=bool)
    problems.add_positions(ok[~found], "order_id: no such order (tenant_id, order_id)")


def _check_duplicates(spec: TableSpec, frame: pd.DataFrame, problems: _Problems,
                      seen: KeyIndex | None) -> np.ndarray:
    """Flag repeated primary keys: within the frame, and against ``seen`` (earlier batches).

    A key counts as taken once a valid row has it, so the first *valid* occurrence wins.
    Returns the hashes of every row.
    """
    pk = list(spec.primary_key)
    hashes = key_hashes(frame, pk)
    reason = f"duplicate primary key ({', '.join(pk)})"
    ok = ~problems.mask()
    dup = np.zeros(len(frame), dtype=bool)
    ok_pos = np.flatnonzero(ok)
    dup[ok_pos] = pd.Series(hashes[ok_pos]).duplicated(keep="first").to_numpy()
    if seen is not None and len(seen):
        dup |= seen.contains(hashes)
    problems.add(dup, reason)
    return hashes


def validate_frame(
    df: pd.DataFrame,
    table: str | TableSpec,
    source: str | np.ndarray = "<frame>",
    now: pd.Timestamp | None = None,
    row_offset: int | np.ndarray = 0,
    seen: KeyIndex | None = None,
    parent_exists: Callable[[pd.DataFrame], np.ndarray] | None = None,
    future_days: int | None = None,
) -> Validated:
    """Conform ``df`` to a contract table and split it into valid and quarantined rows.

    Args:
        df: Raw rows, as read from an export or a parquet file.
        table: Contract table name or spec.
        source: Where the rows came from (file path), recorded on quarantined rows and errors;
            or one source per row, for a batch gathered from several files.
        now: Reference time for "not in the future" rules (default: the current UTC time).
        row_offset: Row number of ``df``'s first row within ``source`` (for ``_row``); or each
            row's own number within its source.
        seen: Primary keys of valid rows from earlier batches; rows repeating one are
            quarantined as duplicates, and this batch's valid keys are added to it.
        parent_exists: For order lines: given conformed rows, whether each row's order
            exists (in the landing or the lake); rows without one are quarantined.
        future_days: Business dates may be this many days after today (default: the
            ``future_days`` setting).

    Returns:
        The valid rows, the quarantined rows with reasons, and ignored extra columns.

    Raises:
        ContractError: A required column is missing; the message names the source and column.
    """
    spec = get_table(table) if isinstance(table, str) else table
    where = source if isinstance(source, str) else ", ".join(dict.fromkeys(map(str, source)))
    missing = [c for c in spec.column_names if c not in df.columns]
    if missing:
        raise ContractError(
            f"{where}: missing required column(s) {missing} for table {spec.name!r}"
        )
    ignored = [c for c in df.columns if c not in spec.column_names]
    raw = df if list(df.columns) == spec.column_names else df[spec.column_names]
    raw = raw.reset_index(drop=True) if not isinstance(raw.index, pd.RangeIndex) \
        or raw.index.start != 0 else raw
    problems = _Problems(len(raw))

    conformed, unreadable = {}, {}
    for col in spec.columns:
        out = coerce_column(raw[col.name], col)
        if col.type == "string":  # any value reads as text; blanks are nulls, reported as such
            bad = np.zeros(len(raw), dtype=bool)
        else:
            bad = (out.isna() & raw[col.name].notna()).to_numpy()
        unreadable[col.name] = bad
        problems.add(bad, f"{col.name}: not a valid {col.type}")
        conformed[col.name] = out
    frame = pd.DataFrame(conformed)

    _check_pandera(spec, frame, problems, unreadable, where)
    if future_days is None:
        from oms.settings import get_settings

        future_days = get_settings().future_days
    _check_future(spec, frame, problems, now if now is not None else pd.Timestamp.now(tz="UTC"),
                  future_days)
    _check_cross_field(spec, frame, problems)
    if parent_exists is not None:
        _check_parents(frame, problems, parent_exists)
    hashes = _check_duplicates(spec, frame, problems, seen)

    mask = problems.mask()
    bad_idx = np.flatnonzero(mask)
    if seen is not None:
        seen.add(hashes[~mask])
    valid = frame.loc[~mask].reset_index(drop=True) if len(bad_idx) else frame
    quarantine = _raw_text(raw.iloc[bad_idx]).reset_index(drop=True)
    quarantine[REASON] = pd.array(problems.reasons(bad_idx), dtype="string")
    sources = [source] * len(bad_idx) if isinstance(source, str) else np.asarray(source)[bad_idx]
    rows = bad_idx + row_offset if np.isscalar(row_offset) else np.asarray(row_offset)[bad_idx]
    quarantine[SOURCE] = pd.array(sources, dtype="string")
    quarantine[ROW] = pd.array(rows, dtype="Int64")
    return Validated(valid=valid, quarantine=quarantine, ignored_columns=ignored)


def quarantine_columns(table: str | TableSpec) -> list[str]:
    """Columns of a table's quarantine dataset: the contract columns plus the three markers."""
    spec = get_table(table) if isinstance(table, str) else table
    return [*spec.column_names, REASON, SOURCE, ROW]


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate a frame that must already be clean; raise with the reasons if any row is not.

    Used at job boundaries inside the project (features, models) where quarantine is not
    appropriate: bad rows there are a bug, not user data.
    """
    res = validate_frame(df, table)
    if len(res.quarantine):
        sample = dict(list(res.reason_counts.items())[:5])
        raise ContractError(f"{len(res.quarantine)} rows of {table!r} break the contract: {sample}")
    return res.valid
