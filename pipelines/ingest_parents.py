"""Ingest helpers beside validation: order lookups for lines, quarantine settling, skipped files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.fs as pafs

from oms.contract import PARTITION_COLUMN, TABLES
from oms.lake import _fs_and_path, exists, read_table
from oms.validate import KeyIndex, key_hashes

ORDER_KEY = ["tenant_id", "order_id"]
QUARANTINE_RUN = "run-"


class OrderKeys:
    """Does each order line's order exist: landed in this run, or in the lake for its month?

    Called with conformed order-line rows; the lake's order keys are loaded one month
    partition at a time, only for the months the lines fall in (a day's landing reads a day's
    months, not the lake).

    Args:
        landed: Hashes of the valid orders of this landing (ingest's duplicate index).
        lake_orders: The ``orders`` table of the lake version the run builds on, if any.
    """

    def __init__(self, landed: KeyIndex, lake_orders: str | None) -> None:
        self.landed = landed
        self.lake_orders = lake_orders
        self._months: dict[str, np.ndarray] = {}

    def _month(self, month: str) -> np.ndarray:
        if month not in self._months:
            uri = f"{self.lake_orders}/{PARTITION_COLUMN}={month}"
            keys = np.empty(0, np.uint64)
            if exists(uri):
                df = read_table(uri, columns=ORDER_KEY, table="orders")
                keys = np.unique(key_hashes(df, ORDER_KEY))
            self._months[month] = keys
        return self._months[month]

    def __call__(self, lines: pd.DataFrame) -> np.ndarray:
        """Boolean per line: its order exists."""
        h = key_hashes(lines, ORDER_KEY)
        hit = self.landed.contains(h) if len(self.landed) else np.zeros(len(h), bool)
        if self.lake_orders is None or hit.all():
            return hit
        months = lines["order_date"].dt.strftime("%Y-%m").to_numpy(dtype=object)
        for m in pd.unique(months[~hit]):
            rows = np.flatnonzero((months == m) & ~hit)
            hit[rows] = np.isin(h[rows], self._month(m))
        return hit


def settle_quarantine(quarantine: str, pointer: dict | None) -> list[str]:
    """Finish what a killed run left in the quarantine zone (call under the lake's lock).

    A run stages its quarantined rows in ``<table>/.run-<id>`` and renames them to
    ``run-<id>`` after its lake version is published. A staged folder of a run whose version
    was published is renamed now; one of a run that never published is deleted.

    Returns:
        What was done, one line per folder.
    """
    fs, root = _fs_and_path(quarantine)
    published = set((pointer or {}).get("history", [])) | {(pointer or {}).get("run_id")}
    done = []
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return done
    for table in fs.get_file_info(pafs.FileSelector(root)):
        if table.type != pafs.FileType.Directory:
            continue
        for run in fs.get_file_info(pafs.FileSelector(table.path)):
            if not run.base_name.startswith(f".{QUARANTINE_RUN}") or ".tmp-" in run.base_name:
                if ".tmp-" in run.base_name:  # a half-written staging folder
                    fs.delete_dir(run.path)
                continue
            run_id = run.base_name.removeprefix(f".{QUARANTINE_RUN}")
            if run_id in published:
                fs.move(run.path, f"{table.path}/{QUARANTINE_RUN}{run_id}")
                done.append(f"published {run.path}")
            else:
                fs.delete_dir(run.path)
                done.append(f"removed {run.path}")
    return done


def skipped_files(landing: str, sources: dict[str, str]) -> list[str]:
    """Entries of the landing root that ingest does not read, each with the reason."""
    fs, root = _fs_and_path(landing)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    used = {src.rstrip("/").rsplit("/", 1)[-1] for src in sources.values()}
    out = []
    for i in fs.get_file_info(pafs.FileSelector(root)):
        name = i.base_name
        if name in used or name.startswith((".", "_")):
            continue
        stem, _, ext = name.partition(".")
        if stem in TABLES and ext and ext != "parquet":
            out.append(f"{name}: a .{ext} file is not read (only parquet); convert it to "
                       f"{stem}.parquet or {stem}/ to ingest it")
        elif stem in TABLES:
            out.append(f"{name}: not selected (--table)")
        else:
            out.append(f"{name}: not a contract table ({', '.join(TABLES)})")
    return out
