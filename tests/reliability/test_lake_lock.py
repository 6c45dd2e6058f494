"""Issue 16 case 3: one writer per lake — a second run waits, or fails clearly; a crash frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from oms.lake import LakeError
from oms.versions import lake_lock, read_pointer
from pipelines.ingest import ingest

from .lake_helpers import ROOT, digest, ingest_code, lake_rows, tiny_landing


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("lock")
    tiny_landing(root / "landing", days=3)
    return root / "landing"


def test_second_run_fails_clearly_after_the_timeout(landing, tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    with lake_lock(lake, what="a test holding the lock"):
        t0 = time.monotonic()
        with pytest.raises(LakeError, match=r"locked by another run \(pid \d+.*holding the lock"):
            from oms.versions import Transaction
            with Transaction(lake, timeout=0.5):
                pass
        assert time.monotonic() - t0 < 5
    assert read_pointer(lake) is None


def test_two_concurrent_ingests_wait_for_each_other(landing, tmp_path):
    lake, q = tmp_path / "lake", tmp_path / "q"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ingest_code(landing, lake, q)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    ptr = read_pointer(lake)
    assert ptr["version"] == 2  # one after the other, not interleaved
    one = tmp_path / "one"
    ingest(str(landing), str(one), str(tmp_path / "q1"))
    assert digest(lake) == digest(one)  # the second run upserted the same rows: no mix


def test_concurrent_cli_run_fails_with_a_message_not_a_traceback(landing, tmp_path):
    lake, q = tmp_path / "lake", tmp_path / "q"
    with lake_lock(lake, what="ingest"):
        done = subprocess.run(
            [sys.executable, "-c", "from flows.cli import app; app()", "ingest", "--no-progress",
             "--landing", str(landing), "--lake", str(lake), "--quarantine", str(q)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "OMS_ML_LOCK_TIMEOUT": "0.5"},
            capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "is locked by another run" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_crashed_holder_releases_the_lock(landing, tmp_path):
    lake = tmp_path / "lake"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom oms.versions import lake_lock\n"
         f"with lake_lock({str(lake)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    rep = ingest(str(landing), str(lake), str(tmp_path / "q"))  # no stale lock to clear
    assert rep.version == 1 and lake_rows(lake)["orders"] > 0
