"""Issue 16 case 2: a run killed (SIGKILL) at any publish point leaves the old or the new lake.

The kill comes from ``oms.faults.checkpoint`` (``OMS_ML_KILL_AT``), at every rename/commit point
of ingest and of the feature pipeline, in a subprocess; then the lake must equal, table for
table, either the version before the run or the one a clean run produces.
"""

from __future__ import annotations

import shutil

import pytest

from oms.faults import CHECKPOINTS
from oms.versions import STAGING, read_pointer
from pipelines.ingest import ingest

from .lake_helpers import digest, ingest_code, run_py, split_last_day, tiny_landing, write_landing

NEW = {"publish:switched", "publish:gc", "ingest:quarantine"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Day-1 lake, day-2 landing, and the digests of the lake before and after day 2."""
    root = tmp_path_factory.mktemp("atomic")
    before, last = split_last_day(tiny_landing(root / "all", days=5))
    day1, day2 = write_landing(root / "day1", before), write_landing(root / "day2", last)
    lake, q = root / "lake", root / "q"
    ingest(str(day1), str(lake), str(q))
    old = digest(lake)
    ref = root / "ref"
    shutil.copytree(lake, ref / "lake")
    shutil.copytree(q, ref / "q")
    ingest(str(day2), str(ref / "lake"), str(ref / "q"))
    return {"lake": lake, "q": q, "day2": day2, "old": old, "new": digest(ref / "lake")}


@pytest.mark.parametrize("point", [c for c in CHECKPOINTS if c.startswith(("publish", "ingest"))])
def test_ingest_killed_at_each_checkpoint_leaves_old_or_new(world, tmp_path, point):
    lake, q = tmp_path / "lake", tmp_path / "q"
    shutil.copytree(world["lake"], lake)
    shutil.copytree(world["q"], q)
    done = run_py(ingest_code(world["day2"], lake, q), env={"OMS_ML_KILL_AT": point})
    assert done.returncode == -9, done.stderr[-2000:]
    assert digest(lake) == (world["new"] if point in NEW else world["old"])
    # the next run cleans what the killed one left and lands the same new lake
    ingest(str(world["day2"]), str(lake), str(q))
    assert digest(lake) == world["new"]
    assert not (lake / STAGING).exists()
    assert not list(q.rglob(".run-*")), "staged quarantine of the killed run was not settled"


@pytest.mark.parametrize("point", ["publish:renamed", "publish:switched"])
def test_features_killed_mid_publish_keeps_a_whole_version(world, tmp_path, point):
    out = tmp_path / "features"
    code = ("from pipelines.features import build_features\n"
            f"build_features({str(world['lake'])!r}, {str(out)!r}, horizon_days=2)\n")
    assert run_py(code).returncode == 0
    first = digest(out)
    done = run_py(code.replace("horizon_days=2", "horizon_days=3"),
                  env={"OMS_ML_KILL_AT": point})
    assert done.returncode == -9, done.stderr[-2000:]
    ptr = read_pointer(out)
    assert ptr["version"] == (2 if point == "publish:switched" else 1)
    assert set(ptr["tables"]) == {"daily_volume", "sku_demand", "customer_features"}
    if point == "publish:renamed":
        assert digest(out) == first
