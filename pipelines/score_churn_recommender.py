"""The churn scorer's co-occurrence recommender, built chunk by chunk from integer counts.

``CoOccurrenceRecommender.fit`` takes every purchase line as a frame of Python strings (23M
rows on a ``large`` lake). :class:`RecommenderCounts` takes the same purchases one customer
chunk at a time, keeps only integer ``customer × SKU`` counts, and then sets up the very
matrices ``fit`` would: the same SKU vocabulary (sorted ``(tenant_id, sku)`` pairs), the same
purchase counts per customer and SKU (rows in another order, which ``recommend`` looks up by
customer), hence the same cosine co-occurrence and best sellers. The tail of ``fit`` is
repeated here, so ``tests/test_score_churn_chunks.py`` compares the two recommenders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from models.churn.strategy import CoOccurrenceRecommender


class RecommenderCounts:
    """Accumulate purchase counts per chunk; :meth:`build` returns the fitted recommender."""

    def __init__(self) -> None:
        self._tenants: list[np.ndarray] = []
        self._customers: list[np.ndarray] = []
        self._items: list[pd.MultiIndex] = []
        self._cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n = 0

    def add(self, purchases: pd.DataFrame | None) -> None:
        """Add one chunk's ``tenant_id, customer_id, sku`` rows (its customers are new)."""
        self.add_counts(purchase_counts(purchases))

    def add_counts(self, counts: tuple | None) -> None:
        """Add what :func:`purchase_counts` gave for one chunk (e.g. in a worker process)."""
        if counts is None:
            return
        tenants, customers, items, (rows, cols, n) = counts
        self._tenants.append(tenants)
        self._customers.append(customers)
        self._items.append(items)
        self._cells.append((rows + self._n, cols, n))
        self._n += len(customers)

    def build(self) -> CoOccurrenceRecommender | None:
        """The recommender ``fit`` would give on every added purchase (None without any)."""
        if not self._n:
            return None
        rec = CoOccurrenceRecommender()
        rec.customers_ = pd.MultiIndex.from_arrays(
            [np.concatenate(self._tenants), np.concatenate(self._customers)],
            names=["tenant_id", "customer_id"])
        skus = self._items[0]
        for more in self._items[1:]:
            skus = skus.union(more, sort=False)
        rec.skus_ = skus.unique().sort_values()
        rec._names = rec.skus_.get_level_values(1).to_numpy(dtype=object)
        rows = np.concatenate([r for r, _, _ in self._cells])
        cols = np.concatenate([rec.skus_.get_indexer(items)[c]
                               for items, (_, c, _) in zip(self._items, self._cells,
                                                           strict=True)])
        data = np.concatenate([n for _, _, n in self._cells]).astype(float)
        shape = (len(rec.customers_), len(rec.skus_))
        rec.counts_ = sparse.csr_matrix((data, (rows, cols)), shape=shape)
        return rec.finish_fit()


def _codes(*columns: pd.Series) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dense codes of the distinct tuples of ``columns`` and each column's value per code."""
    codes, labels = [], []
    for c in columns:
        k, u = pd.factorize(c)
        codes.append(k.astype(np.int64))
        labels.append(np.asarray(u, dtype=object))
    key = codes[0]
    for k, u in zip(codes[1:], labels[1:], strict=True):
        key = key * (len(u) + 1) + k
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.ravel(), [lab[k[first]] for lab, k in zip(labels, codes, strict=True)]


def purchase_counts(purchases: pd.DataFrame | None) -> tuple | None:
    """One chunk's customers, SKUs and ``customer × SKU`` purchase counts (None if empty)."""
    if purchases is None or purchases.empty:
        return None
    p = purchases.dropna(subset=["customer_id", "sku"]).astype(
        {"tenant_id": str, "customer_id": str, "sku": str})
    if p.empty:
        return None
    who, (tenants, customers) = _codes(p["tenant_id"], p["customer_id"])
    what, (item_tenants, skus) = _codes(p["tenant_id"], p["sku"])
    items = pd.MultiIndex.from_arrays([item_tenants, skus], names=["tenant_id", "sku"])
    cell, n = np.unique(who * len(items) + what, return_counts=True)
    return tenants, customers, items, (cell // len(items), cell % len(items), n)
