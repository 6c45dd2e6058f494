"""Tune the hard-scenario DQN on validation episodes only (never the gate's or the held-out seeds).

Usage::

    .venv/bin/python bench/routing_tune.py --scenario scarce --steps 12000 --lr 5e-5 --seed 0

Trains one ``DQNRouter`` with the scenario's settings (``pipelines.train_router.SCENARIO_DQN``)
and the given overrides, with the masked checkpoint selection of
:mod:`models.routing.selection` (validation seeds 3,000,000…), then scores the kept router
against the dual-price heuristic on the *tuning* episodes (seeds 2,000,000…, the stream the
hard-scenario settings were first chosen on): paired difference with its standard error.
Appends one JSON line per run to ``bench/results/routing_parts/tune.jsonl``; the gate
(500,000…) and the bench's held-out seeds (1,000,000…) are not touched here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import load_average  # noqa: E402
from envs.warehouse_routing import WarehouseRoutingEnv, scenario_config  # noqa: E402
from models.routing.agent import DQNRouter  # noqa: E402
from models.routing.baselines import evaluate  # noqa: E402
from models.routing.dualprice import DualPrice  # noqa: E402
from pipelines.train_router import SCENARIO_DQN  # noqa: E402

TUNING = 2_000_000
OUT = ROOT / "bench" / "results" / "routing_parts" / "tune.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="scarce")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--evals", type=int, default=10, help="evaluations during training")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--target-update", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--select-episodes", type=int, default=30)
    ap.add_argument("--tuning-episodes", type=int, default=50)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = scenario_config(args.scenario)
    params = dict(SCENARIO_DQN[args.scenario])
    algo = dict(params.pop("algo_kwargs", {}) or {})
    if args.lr is not None:
        algo["learning_rate"] = args.lr
    if args.target_update is not None:
        algo["target_update_interval"] = args.target_update
    params |= {"masked_selection": True, "restarts": args.restarts,
               "n_eval_episodes": args.select_episodes}
    t0 = time.perf_counter()
    router = DQNRouter(total_timesteps=args.steps, env_config=cfg, torch_threads=1,
                       progress_bar=False, eval_freq=max(args.steps // args.evals, 1),
                       random_state=args.seed, algo_kwargs=algo, **params
                       ).fit(WarehouseRoutingEnv(cfg))
    wall = time.perf_counter() - t0
    env = WarehouseRoutingEnv(cfg)
    seeds = range(TUNING, TUNING + args.tuning_episodes)
    mine = evaluate(env, router.as_policy(True, "dqn"), seeds)["reward"].to_numpy()
    dual = evaluate(env, DualPrice(), seeds)["reward"].to_numpy()
    d = mine - dual
    rec = {"tag": args.tag, "scenario": args.scenario, "steps": args.steps, "lr": algo.get(
        "learning_rate"), "target_update": algo.get("target_update_interval"),
        "seed": args.seed, "restarts": args.restarts, "best_restart": router.best_restart_,
        "select_best": router.best_eval_reward_,
        "curve": router.restart_curves_.round(4).to_dict("list"),
        "tune_diff": float(d.mean()), "tune_se": float(d.std(ddof=1) / np.sqrt(len(d))),
        "tune_dqn": float(mine.mean()), "tune_dual": float(dual.mean()),
        "train_seconds": router.train_seconds_, "wall": wall, "load_end": load_average(),
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"}
    with OUT.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    c = router.restart_curves_
    print(c.to_string())
    print(f"{args.scenario} {args.tag}: select best {rec['select_best']:.3f} (restart "
          f"{rec['best_restart']}); tuning dqn-dual {rec['tune_diff']:+.3f} ± {rec['tune_se']:.3f}"
          f"; train {rec['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
