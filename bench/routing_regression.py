"""Did the routing code get slower? The same workloads on this tree and on a base revision,
interleaved in one run on the same machine.

Timings taken weeks apart (or on a busy machine) cannot say whether code got slower: the
host itself changes. This script checks out ``--base`` (default: the first wave's last
routing benchmark commit) into a temporary git worktree and runs each workload alternately
on the base tree and on this tree, in fresh processes, ``--rounds`` times:

* ``dqn``: fit the DQN router for ``--steps`` steps (1 torch thread);
* ``ppo``: fit the MaskablePPO router for ``--steps`` steps;
* ``reroute``: reassign 100,000 open orders after an outage (the instance of
  ``bench/routing.py``), best of 3 inside the process;
* ``env``: CPU time per environment step (reset/step/action mask, random valid actions).

It reports each tree's mean CPU seconds (process time, less sensitive to other jobs than
wall time) and the paired ratio this/base with its standard error; a ratio within 2 se of 1
is a tie.

Usage::

    python bench/routing_regression.py [--base REV] [--rounds 3] [--steps 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import load_average, md_table, write_atomic  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "routing_regression.md"
BASE = "e555f8d"  # bench/routing: the first wave's last measured routing benchmark

WORKER = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import pandas as pd
    work, steps = sys.argv[1], int(sys.argv[2])

    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_common", sys.argv[3])
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)

    if work in ("dqn", "ppo"):
        from models.routing.agent import DQNRouter, MaskablePPORouter
        cls = DQNRouter if work == "dqn" else MaskablePPORouter
        model = cls(total_timesteps=steps, torch_threads=1, progress_bar=False)
        c0, w0 = time.process_time(), time.perf_counter()
        model.fit()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    elif work == "reroute":
        from pipelines.reroute import reroute
        orders, wh, stock = common.reroute_instance()
        reroute(orders.head(2000), wh, stock, ["WH03"])
        runs = []
        for _ in range(3):
            c0, w0 = time.process_time(), time.perf_counter()
            reroute(orders, wh, stock, ["WH03"])
            runs.append((time.process_time() - c0, time.perf_counter() - w0))
        cpu, wall = min(runs)
    else:
        from envs.warehouse_routing import RoutingConfig, WarehouseRoutingEnv
        env = WarehouseRoutingEnv(RoutingConfig())
        rng = np.random.default_rng(0)

        def run(n):
            env.reset(seed=1)
            for _ in range(n):
                a = int(rng.choice(np.flatnonzero(env.action_masks())))
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
        run(500)
        c0, w0 = time.process_time(), time.perf_counter()
        run(20_000)
        cpu = (time.process_time() - c0) / 20_000 * 1e6
        wall = (time.perf_counter() - w0) / 20_000 * 1e6
    print(json.dumps({"cpu": cpu, "wall": wall}))
''')


def _run(tree: Path, work: str, steps: int, script: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONWARNINGS="ignore")
    common = ROOT / "bench" / "_common.py"  # this tree's instance, whichever tree runs it
    out = subprocess.run([sys.executable, str(script), work, str(steps), str(common)], cwd=tree,
                         env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(base: str, rounds: int, steps: int, works: list[str]) -> pd.DataFrame:
    """Run every workload ``rounds`` times on both trees, alternating which goes first."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="oms-ml-base-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(base_tree), base], check=True)
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        try:
            for r in range(rounds):
                for work in works:
                    trees = [("base", base_tree), ("this", ROOT)]
                    for name, tree in trees if r % 2 == 0 else trees[::-1]:
                        res = _run(tree, work, steps, script)
                        rows.append({"round": r, "work": work, "tree": name, **res,
                                     "load": os.getloadavg()[0]})
                        print(f"round {r} {work:8s} {name:5s} cpu {res['cpu']:.3f}",
                              flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(base_tree)], check=False)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean CPU per tree and the paired ratio this/base with its standard error."""
    out = []
    for work, g in df.groupby("work", sort=False):
        p = g.pivot(index="round", columns="tree", values="cpu")
        ratio = p["this"] / p["base"]
        se = float(ratio.std(ddof=1) / np.sqrt(len(ratio))) if len(ratio) > 1 else float("nan")
        m = float(ratio.mean())
        verdict = ("TIE (within 2 se)" if not np.isfinite(se) or abs(m - 1) <= 2 * se
                   else ("slower" if m > 1 else "faster"))
        unit = "us/step" if work == "env" else "s"
        out.append({"workload": work, "unit": unit, "base": float(p["base"].mean()),
                    "this": float(p["this"].mean()), "ratio this/base": m, "se": se,
                    "verdict": verdict})
    return pd.DataFrame(out)


def main() -> None:
    """Measure, print and write ``bench/results/routing_regression.md``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--work", nargs="+", default=["env", "reroute", "dqn", "ppo"])
    ap.add_argument("--out", type=Path, default=RESULTS, help="Result file (markdown).")
    args = ap.parse_args()
    start, load0 = dt.datetime.now(dt.UTC), load_average()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    df = measure(args.base, args.rounds, args.steps, args.work)
    table = summarise(df)
    print(table.to_string(index=False))
    cmd = "python bench/routing_regression.py " + " ".join(sys.argv[1:])
    write_atomic(args.out, "\n".join([
        "# Routing speed: this tree against the first wave, in one run", "",
        f"Command: `{cmd.strip()}`", "",
        f"Date: {start:%Y-%m-%d %H:%M} UTC; machine: 2 cores; this tree {head}, base "
        f"{args.base}; load average at start {load0}, at end {load_average()}.", "",
        f"Each workload ran {args.rounds} times per tree in fresh processes, alternating which "
        "tree went first; times are CPU seconds of the worker process (process time), DQN and "
        f"PPO for {args.steps:,} steps, rerouting best of 3 on 100,000 orders, the "
        "environment per step. A ratio within 2 se of 1 is a tie.", "",
        md_table(table, 3), "",
        "Every run:", "", md_table(df, 3), ""]))


if __name__ == "__main__":
    main()
