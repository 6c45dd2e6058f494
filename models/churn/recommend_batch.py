"""Recommendations for many customers at once: ``CoOccurrenceRecommender.recommend``, vectorised.

``recommend`` multiplies one customer's purchase row by the SKU × SKU similarity and sorts the
whole result in Python, once per customer: on a ``large`` lake (300k customers to advise,
20k SKUs) that is minutes and, kept per customer, gigabytes. Here customers are taken in
blocks sized by a bound on the product's non-zeros (``max_cells``, so memory stays bounded):

* **own history**: the block's CSR rows sorted by (row, −count, SKU name); the first
  ``n_own`` of each row;
* **co-occurring SKUs**, first on the ``head`` SKU columns holding the largest
  similarities: the block's binary rows times those columns of the similarity (the same
  sparse product, row by row, as ``recommend``: the same scores), owned SKUs and scores ≤ 0
  dropped, sorted by (−score, SKU name). Any other column scores at most the sum of the
  customer's SKUs' largest similarity outside the head, so a row whose ``k``-th head score
  beats that bound is settled. The few rows that are not get the whole product, whose ``k``
  best are found by ``k`` passes of a per-row maximum and a sort of those few. On a
  ``large`` lake (20k SKUs, nearly dense similarity) this is what makes it affordable: the
  whole product for 300k customers is billions of cells;
* **best sellers** fill a short list: the first ``n`` of the tenant's best sellers always
  hold the ``n − len(list)`` that are not on it yet.

The result equals ``recommend`` for every customer (``tests/test_recommend_batch.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

#: Upper bound on the non-zeros of one block's score product (about 12 bytes each).
MAX_CELLS = 4_000_000
#: SKU columns scored first (those with the largest similarities); the rest only if needed.
HEAD = 256
HISTORY = "own history + bought together by similar customers"
NO_HISTORY = "no purchase history: the tenant's best sellers"


def _name_rank(rec) -> np.ndarray:
    """Each SKU column's rank by (tenant, name): the tie-break ``recommend`` uses."""
    tenants = rec.skus_.get_level_values(0).to_numpy(dtype=object)
    rank = np.empty(len(rec._names), np.int64)
    rank[np.lexsort((rec._names, tenants))] = np.arange(len(rec._names))
    return rank


def _row_ids(m: sparse.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def _first_per_row(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Positions (in an array sorted by row) whose rank within their row is below ``keep``."""
    if not len(rows):
        return np.zeros(0, np.int64)
    start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(start, np.diff(np.r_[start, len(rows)]))
    return np.flatnonzero(rank < keep[rows])


def _row_max(d: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Maximum of each CSR row's values (-inf for an empty row)."""
    out = np.full(len(indptr) - 1, -np.inf)
    full = np.diff(indptr) > 0
    if full.any():
        out[full] = np.maximum.reduceat(d, indptr[:-1][full])
    return out


def _own(rows: sparse.csr_matrix, rank: np.ndarray, n_own: int) -> tuple[np.ndarray, ...]:
    """Each row's ``n_own`` most-bought SKUs (ties by name): (row, column), in pick order."""
    r = _row_ids(rows)
    order = np.lexsort((rank[rows.indices], -rows.data, r))
    pick = order[_first_per_row(r[order], np.full(rows.shape[0], n_own))]
    return r[pick], rows.indices[pick]


def _co_occurring(rows: sparse.csr_matrix, sim: sparse.csr_matrix, rank: np.ndarray,
                  want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``want[row]`` best new SKUs by co-occurrence score: (row, column), in order."""
    scores = ((rows > 0).astype(float) @ sim).tocsr()
    d = scores.data.copy()
    r = _row_ids(scores)
    width = np.int64(scores.shape[1])
    owned = np.isin(r * width + scores.indices, _row_ids(rows) * width + rows.indices)
    d[owned | ~np.isfinite(d) | (d <= 0)] = -np.inf
    if not len(want) or want.max() <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    left, top = d.copy(), np.full(scores.shape[0], -np.inf)
    for _ in range(int(want.max())):  # the k largest distinct values of each row
        top = _row_max(left, scores.indptr)
        left[left >= top[r]] = -np.inf
    cand = np.flatnonzero(np.isfinite(d) & (d >= top[r]))
    order = cand[np.lexsort((rank[scores.indices[cand]], -d[cand], r[cand]))]
    pick = order[_first_per_row(r[order], want)]
    return r[pick], scores.indices[pick]


def _blocks(rows_nnz_bound: np.ndarray, max_cells: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, stop)`` ranges whose summed bound stays under ``max_cells``."""
    edges, total, start = [], 0, 0
    for i, cells in enumerate(rows_nnz_bound.tolist()):
        if total and total + cells > max_cells:
            edges.append((start, i))
            start, total = i, 0
        total += cells
    if start < len(rows_nnz_bound):
        edges.append((start, len(rows_nnz_bound)))
    return edges


class _Head:
    """The ``head`` SKU columns with the largest similarity anywhere, and a bound on the rest.

    ``sim``: the similarity restricted to those columns (in SKU-name order);
    ``rest_max[s]``: the largest similarity of SKU ``s`` to any other column (0 if none).
    """

    def __init__(self, sim: sparse.csr_matrix, rank: np.ndarray, head: int) -> None:
        col_max = np.asarray(sim.max(axis=0).todense()).ravel() if sim.nnz else (
            np.zeros(sim.shape[1]))
        best = np.argsort(-col_max, kind="stable")[:max(0, min(head, sim.shape[1]))]
        self.cols = best[np.argsort(rank[best], kind="stable")]  # ties then go by name
        self.pos = np.full(sim.shape[1], -1, np.int64)
        self.pos[self.cols] = np.arange(len(self.cols))
        self.sim = sim[:, self.cols].tocsr()
        rest = np.where(self.pos[sim.indices] >= 0, 0.0, sim.data)
        self.rest_max = np.maximum(_row_max(rest, sim.indptr), 0.0)


def _co_head(rows: sparse.csr_matrix, head: _Head, want: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_co_occurring` on the head columns, where that is provably the whole answer.

    A column outside the head scores at most ``binary @ rest_max`` (the same sum, in the same
    order, of terms each at least as large), so when a row's ``want``-th best head score is
    above that bound no other column can enter its list. Returns the picks of those rows and
    a mask of the rows that need the full product.
    """
    binary = (rows > 0).astype(float)
    d = (binary @ head.sim).toarray()
    r_own, c_own = _row_ids(rows), rows.indices
    inside = head.pos[c_own] >= 0
    d[r_own[inside], head.pos[c_own[inside]]] = -np.inf
    d[~(d > 0)] = -np.inf
    order = np.argsort(-d, axis=1, kind="stable")  # by score, ties by name
    valid = np.isfinite(d).sum(axis=1)
    bound = np.asarray(binary @ head.rest_max).ravel()
    k = np.clip(want, 1, max(d.shape[1], 1)) - 1
    kth = d[np.arange(len(d)), order[np.arange(len(d)), k]] if d.shape[1] else np.full(
        len(d), -np.inf)
    ok = (want <= 0) | (bound <= 0) | ((valid >= want) & (kth > bound * (1 + 1e-9)))
    picks_r, picks_c = [], []
    for j in range(min(int(want.max(initial=0)), d.shape[1])):
        sel = np.flatnonzero(ok & (want > j) & (valid > j))
        picks_r.append(sel)
        picks_c.append(head.cols[order[sel, j]])
    if not picks_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), ~ok
    r, c = np.concatenate(picks_r), np.concatenate(picks_c)
    by_row = np.argsort(r, kind="stable")
    return r[by_row], c[by_row], ~ok


def _co_full(rows: sparse.csr_matrix, sim: sparse.csr_matrix, rank: np.ndarray,
             want: np.ndarray, max_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_co_occurring` in sub-blocks whose product stays under ``max_cells``."""
    width = np.diff(sim.indptr).astype(np.int64)
    bound = np.minimum(np.asarray((rows > 0).astype(np.int64) @ width).ravel(), sim.shape[1])
    out_r, out_c = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start, stop in _blocks(bound, max_cells):
        r, c = _co_occurring(rows[start:stop], sim, rank, want[start:stop])
        out_r.append(r + start)
        out_c.append(c)
    return np.concatenate(out_r), np.concatenate(out_c)


def _lists(rec, idx: np.ndarray, n: int, n_own: int, max_cells: int,
           head: int) -> list[list[int]]:
    """Own + co-occurring SKU columns of each customer row ``idx`` (best sellers not yet)."""
    rank = _name_rank(rec)
    top = _Head(rec.similarity_, rank, head)
    step = max(1, max_cells // max(len(top.cols), 1))
    out: list[list[int]] = [[] for _ in idx]
    for start in range(0, len(idx), step):
        rows = rec.counts_[idx[start:start + step]]
        r_own, c_own = _own(rows, rank, n_own)
        want = n - np.bincount(r_own, minlength=rows.shape[0])
        r_co, c_co, rest = _co_head(rows, top, want)
        if rest.any():  # the head cannot settle these rows: the whole product
            at = np.flatnonzero(rest)
            r_fb, c_fb = _co_full(rows[at], rec.similarity_, rank, want[at], max_cells)
            r_co, c_co = np.r_[r_co, at[r_fb]], np.r_[c_co, c_fb]
            keep = np.argsort(r_co, kind="stable")  # each row's picks stay in their order
            r_co, c_co = r_co[keep], c_co[keep]
        for r, c in zip((r_own + start).tolist(), c_own.tolist(), strict=True):
            out[r].append(c)
        for r, c in zip((r_co + start).tolist(), c_co.tolist(), strict=True):
            out[r].append(c)
    return out


def recommend_many(rec, tenants, customers, n: int = 5, n_own: int = 2,
                   max_cells: int = MAX_CELLS, head: int = HEAD
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``recommend(t, c, n, n_own)`` for each pair: the SKU lists and the reasons.

    Args:
        rec: A fitted ``CoOccurrenceRecommender``.
        tenants: Tenant id per customer.
        customers: Customer id per customer.
        n: SKUs per customer.
        n_own: At most this many from the customer's own history (at most ``n``).
        max_cells: Bound on one block's score non-zeros (memory).
        head: How many SKU columns the first, cheap pass scores (see the module docstring).

    Returns:
        Two object arrays: each customer's list of SKU names and its reason.
    """
    if not 0 <= n_own <= n:
        raise ValueError(f"need 0 <= n_own <= n, got n_own={n_own}, n={n}")
    t = np.asarray(pd.Series(tenants, dtype=object).astype(str), dtype=object)
    c = np.asarray(pd.Series(customers, dtype=object).astype(str), dtype=object)
    idx = rec.customers_.get_indexer(pd.MultiIndex.from_arrays([t, c])) if len(t) else (
        np.zeros(0, np.int64))
    skus, why = np.empty(len(t), object), np.full(len(t), HISTORY, object)
    known = np.flatnonzero(idx >= 0)
    names = rec._names
    lists = _lists(rec, idx[known], n, n_own, max_cells, head)
    for i, cols in zip(known.tolist(), lists, strict=True):
        recs = [names[k] for k in cols]
        if len(recs) < n:  # the first n best sellers hold the n - len(recs) still missing
            popular = rec.popular_.get(t[i], [])[:n]
            recs += [s for s in popular if s not in recs][: n - len(recs)]
        skus[i] = recs
    for i in np.flatnonzero(idx < 0).tolist():
        skus[i], why[i] = rec.popular_.get(t[i], [])[:n], NO_HISTORY
    return skus, why
