#!/usr/bin/python3
"""`make bench-pbt` (issue 28): Population Based Training against random search, the same epochs.

For each seed, two `ringmaster sweep` runs on Fashion-MNIST (mlp:784-128-10, SGD, constant
learning rate; the space of examples/pbt-experiment.yaml: lr log-uniform in [0.0005, 0.5],
momentum in [0, 0.99]):
  pbt     examples/pbt-experiment.yaml: 8 members x G generations of one epoch each (--extra-epochs=1)
  random  8 trials of G epochs each at fixed hyperparameters (Katib's random, the same seed)
Both spend 8 G epochs. Reported: each run's best trial accuracy (the objective, max over a trial's
epochs), pbt - random, and the wall time of each. Prints a table and one JSON line.
Usage: pbt_bench.py [--bin build/ringmaster] [--seeds 1,2,3] [--generations 6] [--train-limit N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(SOURCE, "examples", "pbt-experiment.yaml")


def experiments(seed, generations, train_limit):
    with open(EXAMPLE) as f:
        pbt = yaml.safe_load(f)
    pbt["metadata"]["name"] = f"pbt-{seed}"
    pbt["spec"]["maxTrialCount"] = 8 * generations
    settings = pbt["spec"]["algorithm"]["algorithmSettings"]
    for s in settings:
        if s["name"] == "random_state":
            s["value"] = str(seed)
    command = pbt["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    if train_limit:
        command.insert(4, f"--train-limit={train_limit}")
    rnd = json.loads(json.dumps(pbt))
    rnd["metadata"]["name"] = f"random-{seed}"
    rnd["spec"]["maxTrialCount"] = 8
    rnd["spec"]["algorithm"] = {"algorithmName": "random",
                                "algorithmSettings": [{"name": "random_state", "value": str(seed)}]}
    rnd_command = rnd["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    rnd_command[:] = [c for c in rnd_command if not c.startswith(("--extra-epochs", "--checkpoint-dir", "--keep-checkpoints"))]
    rnd_command.insert(4, f"--epochs={generations}")
    return pbt, rnd


def run(a, work, exp):
    path = os.path.join(work, exp["metadata"]["name"] + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(exp, f)
    out = os.path.join(work, exp["metadata"]["name"])
    start = time.monotonic()
    r = subprocess.run([a.bin, "sweep", path, "--dir", out], capture_output=True, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        sys.exit(f"{path}: ringmaster sweep failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    best, epochs = 0.0, 0
    for line in open(os.path.join(out, "journal.jsonl")):
        rec = json.loads(line)
        if rec["event"] == "trial_finished" and isinstance(rec.get("objective"), (int, float)):
            best = max(best, rec["objective"])
    for trial in os.listdir(os.path.join(out, "trials")):  # the epochs trained: one line each
        with open(os.path.join(out, "trials", trial, "output.log")) as f:
            epochs += sum("] epoch=" in line for line in f)
    return best, epochs, wall


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=os.path.join(SOURCE, "build", "ringmaster"))
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--generations", type=int, default=6)
    p.add_argument("--train-limit", type=int, default=0, help="training samples per epoch (0: all 60000)")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pbt-bench-") as work:
        for seed in [int(s) for s in a.seeds.split(",")]:
            pbt, rnd = experiments(seed, a.generations, a.train_limit)
            pb, pe, pw = run(a, work, pbt)
            rb, re_, rw = run(a, work, rnd)
            rows.append({"seed": seed, "pbt_best": pb, "random_best": rb, "pbt_epochs": pe, "random_epochs": re_,
                         "pbt_seconds": round(pw, 1), "random_seconds": round(rw, 1)})
    print(f"PBT (population 8, {a.generations} generations of 1 epoch) against random search (8 trials of "
          f"{a.generations} epochs), Fashion-MNIST mlp:784-128-10, best test accuracy")
    print(f"{'seed':>5} {'pbt':>8} {'random':>8} {'pbt-random':>11} {'epochs pbt/random':>18} {'wall s pbt/random':>18}")
    for r in rows:
        print(f"{r['seed']:>5} {r['pbt_best']:>8.4f} {r['random_best']:>8.4f} {r['pbt_best'] - r['random_best']:>+11.4f} "
              f"{r['pbt_epochs']:>8}/{r['random_epochs']:<9} {r['pbt_seconds']:>8}/{r['random_seconds']:<9}")
    wins = sum(r["pbt_best"] > r["random_best"] for r in rows)
    med_p = statistics.median(r["pbt_best"] for r in rows)
    med_r = statistics.median(r["random_best"] for r in rows)
    print(f"median: pbt {med_p:.4f}, random {med_r:.4f}; pbt ahead in {wins} of {len(rows)} seeds")
    print(json.dumps({"bench": "pbt", "generations": a.generations, "population": 8, "train_limit": a.train_limit,
                      "median_pbt": med_p, "median_random": med_r, "pbt_wins": wins, "runs": rows}))


if __name__ == "__main__":
    main()
