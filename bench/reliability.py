"""Replay the reliability probe of issue 16: bad inputs, kills, concurrent runs, tenant runs.

Each case is ``(name, fn)``; ``fn(work)`` gets a fresh empty working directory and returns
``(outcome, detail)`` with outcome one of:

* ``clean`` — handled: refused with a clear message, or quarantined with a reason, or the
  intended result (history kept, old-or-new lake after a kill, ...);
* ``silent`` — bad input accepted without a word;
* ``lost`` — rows or tables went missing;
* ``traceback`` — a Python traceback reached the user (``Traceback (most recent call last)``
  on stderr).

Cases run CLI commands as subprocesses (``oms-ml ...`` with ``OMS_ML_DATA_DIR`` set to the
working directory) where that is what a user does. Case lists: ``bench/reliability_lake.py``
(data loss and validation) and, if present, ``bench/reliability_tenant.py`` (tenants, MLflow).

Usage: ``python bench/reliability.py [-k SUBSTRING] [--keep]``; writes
``bench/results/reliability.md`` (only for a full run).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUTCOMES = ("clean", "silent", "lost", "traceback")
TRACEBACK = "Traceback (most recent call last)"
Case = tuple[str, Callable[[Path], tuple[str, str]]]


def oms_ml(work: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``oms-ml ARGS`` as a user would, with ``OMS_ML_DATA_DIR=work`` (cwd = work)."""
    full = {**os.environ, "OMS_ML_DATA_DIR": str(work), "PYTHONPATH": str(ROOT),
            "COLUMNS": "200", "DO_NOT_TRACK": "1", **(env or {})}
    exe = shutil.which("oms-ml") or ""
    cmd = [exe, *args] if exe else [sys.executable, "-c", "from flows.cli import app; app()",
                                    *args]
    return subprocess.run(cmd, cwd=work, env=full, capture_output=True, text=True,
                          timeout=timeout)


def had_traceback(proc: subprocess.CompletedProcess) -> bool:
    """Whether a Python traceback reached the user."""
    return TRACEBACK in (proc.stderr or "") or TRACEBACK in (proc.stdout or "")


def load_cases() -> list[Case]:
    """The lake cases, plus the tenant helper's cases when that file exists."""
    cases: list[Case] = []
    for name in ("reliability_lake", "reliability_tenant"):
        path = ROOT / "bench" / f"{name}.py"
        if not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += list(module.CASES)
    return cases


def run_case(name: str, fn: Callable[[Path], tuple[str, str]], keep: bool) -> tuple[str, str,
                                                                                     float]:
    """Run one case in a fresh directory; an exception in the harness counts as a traceback."""
    work = Path(tempfile.mkdtemp(prefix="oms-rel-"))
    t0 = time.perf_counter()
    try:
        outcome, detail = fn(work)
    except Exception as e:  # noqa: BLE001 - the probe reports every failure as a row
        outcome, detail = "traceback", f"harness: {type(e).__name__}: {e}"
        traceback.print_exc()
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if outcome not in OUTCOMES:
        outcome, detail = "traceback", f"case returned unknown outcome {outcome!r}: {detail}"
    return outcome, detail, time.perf_counter() - t0


def report(rows: list[tuple[str, str, str, float]], load: tuple[str, str]) -> str:
    """Markdown: the totals table, then one line per case."""
    counts = Counter(r[1] for r in rows)
    lines = [
        "## reliability probe (issue 16)", "",
        "Command: `python bench/reliability.py` (cases in `bench/reliability_lake.py`"
        f"{' and `bench/reliability_tenant.py`' if any('tenant' in r[0] for r in rows) else ''}"
        "). Machine: 2 cores shared with other engineers.",
        f"uptime before: `{load[0]}`", f"uptime after: `{load[1]}`", "",
        "| tried | handled cleanly | silent | lost | traceback |", "|---|---|---|---|---|",
        f"| {len(rows)} | {counts['clean']} | {counts['silent']} | {counts['lost']} | "
        f"{counts['traceback']} |", "",
        "| case | outcome | detail | s |", "|---|---|---|---|",
    ]
    for name, outcome, detail, secs in rows:
        detail = detail.replace("|", "\\|").replace("\n", " ")[:220]
        lines.append(f"| {name} | {outcome} | {detail} | {secs:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="Only cases whose name contains this.")
    ap.add_argument("--keep", action="store_true", help="Keep the working directories.")
    args = ap.parse_args()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    for name, fn in load_cases():
        if args.k and args.k not in name:
            continue
        outcome, detail, secs = run_case(name, fn, args.keep)
        rows.append((name, outcome, detail, secs))
        print(f"{outcome:9s} {secs:6.1f}s  {name}: {detail[:150]}", flush=True)
    after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = report(rows, (uptime, after))
    counts = Counter(r[1] for r in rows)
    print(f"\ntried {len(rows)} · clean {counts['clean']} · silent {counts['silent']} · "
          f"lost {counts['lost']} · traceback {counts['traceback']}")
    if not args.k:
        (ROOT / "bench" / "results" / "reliability.md").write_text(text)


if __name__ == "__main__":
    main()
