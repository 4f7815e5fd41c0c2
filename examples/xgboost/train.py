"""Distributed XGBoost as an XGBoostJob replica: the environment training-operator v1.9 injects
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK; pkg/controller.v1/xgboost/xgboost.go) is all it reads;
or as a TrainJob node on Trainer's xgboost runtime, from DMLC_TRACKER_URI, DMLC_TRACKER_PORT,
DMLC_TASK_ID and DMLC_NUM_WORKER (trainer v2.3 pkg/runtime/framework/plugins/xgboost).

Rank 0 (the Master) starts XGBoost's own Rabit tracker on MASTER_ADDR:MASTER_PORT, as the
operator's xgboost-dist example does; every rank joins it, trains on its own shard of a synthetic
binary problem with the `approx` tree method (histograms are summed over the ranks through Rabit),
and prints the finished booster's SHA-256, which is the same on every rank when they trained one
model together, and train-error=E on its own line for a Katib StdOut collector.
Usage: train.py [--rounds N] [--eta X] [--max-depth N] [--rows-per-rank N] [--out DIR]
"""
import argparse
import hashlib
import os
import sys

import numpy as np
import xgboost
from xgboost import collective
from xgboost.tracker import RabitTracker


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--eta", type=float, default=0.3)
    p.add_argument("--max-depth", type=int, default=4)
    p.add_argument("--rows-per-rank", type=int, default=2000)
    p.add_argument("--out", default="")
    a = p.parse_args()
    e = os.environ
    if "MASTER_ADDR" in e:  # an XGBoostJob replica (training-operator)
        addr, port, world, rank = e["MASTER_ADDR"], int(e["MASTER_PORT"]), int(e["WORLD_SIZE"]), int(e["RANK"])
    else:  # a TrainJob node on the xgboost runtime (trainer v2.3 plugins/xgboost): node 0 hosts the tracker
        addr, port = e["DMLC_TRACKER_URI"], int(e["DMLC_TRACKER_PORT"])
        world, rank = int(e["DMLC_NUM_WORKER"]), int(e["DMLC_TASK_ID"])

    tracker = None
    if rank == 0:
        tracker = RabitTracker(host_ip=addr, n_workers=world, port=port, sortby="task")
        tracker.start(world)
    env = {"DMLC_TRACKER_URI": addr, "DMLC_TRACKER_PORT": port, "DMLC_TASK_ID": str(rank),
           "DMLC_NUM_WORKER": world, "DMLC_WORKER_CONNECT_RETRY": 50}
    with collective.CommunicatorContext(**env):
        joined_rank, joined_world = collective.get_rank(), collective.get_world_size()
        rng = np.random.default_rng(1000 + rank)  # each rank its own shard
        x = rng.normal(size=(a.rows_per_rank, 8))
        y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(scale=0.1, size=a.rows_per_rank) > 0).astype(int)
        dtrain = xgboost.DMatrix(x, label=y)
        params = {"objective": "binary:logistic", "tree_method": "approx", "max_depth": a.max_depth, "eta": a.eta,
                  "eval_metric": "error", "nthread": 1}
        result = {}
        booster = xgboost.train(params, dtrain, a.rounds, evals=[(dtrain, "train")], evals_result=result,
                                verbose_eval=False)
        raw = booster.save_raw("json")
        digest = hashlib.sha256(bytes(raw)).hexdigest()
        error = result["train"]["error"][-1]
    if tracker is not None:
        tracker.join()
    print(f"rank {joined_rank} of {joined_world}: booster-sha256={digest}", flush=True)
    if rank == 0:
        print(f"train-error={error:.6f}", flush=True)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, f"rank-{rank}.sha256"), "w") as f:
            f.write(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
