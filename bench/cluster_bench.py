#!/usr/bin/python3
"""`make bench-cluster` (issue 27; docs/scaling.md): ring allreduce and training on simulated hosts.

Part 1, the allreduce cost model. For N in 2..6 network-namespace "hosts" (tests/cluster/kubelet.py
plays the kubelet) and each link rate (unlimited, 1 Gbit/s, 200 Mbit/s through tc tbf on every
Pod's link), a PyTorchJob of N replicas runs `ringmaster bench allreduce --rank-of tcp`: float32
sum allreduce over our TCP backend, 4 KiB to 16 MiB. From those times it fits the latency-bandwidth
(alpha-beta) model of the algorithm the backend picked (docs/scaling.md):
    ring (any N, or > 64 KiB):              T = 2(N-1) alpha + 2 (N-1)/N n beta
    recursive doubling (N a power of 2, <= 64 KiB): T = log2(N) (alpha + n beta)
alpha and beta are fitted per rate from the N = 2 and N = 3 runs only; the model then predicts
every run (N = 4 and 6 included) and the error is reported.

Part 2, training: each example's rendered objects across 3 namespaces, with every link unlimited
and with one Pod's link at 1 Gbit/s; the wall time of each (and their ratio).

Prints a table per part and one JSON line; --json FILE keeps the JSON. Needs root; exits 77 without.
Usage: cluster_bench.py [--bin-dir build] [--ranks 2,3,4,6] [--rates none,1gbit,200mbit] [--no-train]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scaling_model  # noqa: E402  (bench/scaling_model.py: the formulas, one copy)
SOURCE = os.path.dirname(HERE)
HARNESS = os.path.join(SOURCE, "tests", "cluster", "kubelet.py")
SMALL = 64 * 1024  # collectives/communicator.h small_message_bytes


def allreduce_job(n, max_bytes):
    rank = ["ringmaster", "bench", "allreduce", "--rank-of", "tcp", "--min-bytes", "4096", "--max-bytes",
            str(max_bytes), "--seconds-per-size", "0.2"]
    container = {"name": "pytorch", "image": "ringmaster:0.1.0", "command": rank,
                 "env": [{"name": "RINGMASTER_COLLECTIVES", "value": "tcp"}]}
    spec = {"Master": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}}
    if n > 1:
        spec["Worker"] = {"replicas": n - 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": f"allreduce-{n}"},
            "spec": {"pytorchReplicaSpecs": spec}}


def run_harness(a, work, name, rendered, tbf=(), until=None):
    argv = ["/usr/bin/python3", HARNESS, rendered, "--bin-dir", a.bin_dir, "--workdir", os.path.join(work, name),
            "--timeout", "600"]
    for t in tbf:
        argv += ["--tbf", t]
    if until:
        argv += ["--until", until]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if r.returncode == 77:
        print(r.stdout.strip())
        sys.exit(77)
    lines = r.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if r.returncode != 0 or report is None:
        raise RuntimeError(f"{name}: the harness failed (exit {r.returncode}): {r.stdout[-1500:]}{r.stderr[-500:]}")
    return report


def render(a, work, name, source_yaml, mode="pods"):
    out = os.path.join(work, name + ".yaml")
    with open(out, "w") as f:
        subprocess.run([os.path.join(a.bin_dir, "ringmaster"), "render", source_yaml, "--mode", mode], stdout=f,
                       check=True, stderr=subprocess.DEVNULL)
    return out


def measure_allreduce(a, work, n, rate):
    import yaml  # python3-yaml, as the harness
    src = os.path.join(work, f"allreduce-{n}.src.yaml")
    with open(src, "w") as f:
        yaml.safe_dump(allreduce_job(n, a.max_bytes), f)
    name = f"allreduce-{n}-{rate}"
    rendered = render(a, work, name, src)
    report = run_harness(a, work, name, rendered, tbf=[] if rate == "none" else [f".*={rate}"])
    log = report["pods"][f"allreduce-{n}-master-0"]["log"]
    with open(log) as f:
        rows = [json.loads(l) for l in f if l.startswith('{"results"')]
    return {int(r["bytes"]): float(r["seconds"]) for r in rows[-1]["results"]}


def algorithm(n, nbytes):
    return "rd" if (n & (n - 1)) == 0 and nbytes <= SMALL else "ring"


def model(n, nbytes, alpha, beta):
    """The time the algorithm the backend picks takes (scaling_model.py's formulas, bandwidth 1/beta)."""
    if algorithm(n, nbytes) == "rd":
        return scaling_model.recursive_doubling(n, nbytes, alpha, 1 / beta)
    return scaling_model.ring(n, nbytes, alpha, 1 / beta)


def fit(points):
    """Least squares of relative error for alpha, beta over [(n, bytes, seconds)]: T = alpha*A + beta*B."""
    rows = []
    for n, b, t in points:
        if algorithm(n, b) == "rd":
            A, B = math.log2(n), math.log2(n) * b
        else:
            A, B = 2 * (n - 1), 2 * (n - 1) / n * b
        rows.append((A / t, B / t, 1.0))  # weighted by 1/t: every size counts alike
    saa = sum(r[0] * r[0] for r in rows)
    sbb = sum(r[1] * r[1] for r in rows)
    sab = sum(r[0] * r[1] for r in rows)
    sa1 = sum(r[0] for r in rows)
    sb1 = sum(r[1] for r in rows)
    det = saa * sbb - sab * sab
    alpha = (sa1 * sbb - sb1 * sab) / det
    beta = (saa * sb1 - sab * sa1) / det
    return max(alpha, 1e-9), max(beta, 1e-15)


def step_times(report):
    """rank 0's "step time: compute=Xms allreduce_wait=Yms" from the Pods' logs: (compute, wait) in ms."""
    for pod in report["pods"].values():
        try:
            with open(pod["log"], errors="replace") as f:
                for line in f:
                    m = re.match(r"step time: compute=([0-9.]+)ms allreduce_wait=([0-9.]+)ms", line)
                    if m:
                        return float(m.group(1)), float(m.group(2))
        except (OSError, TypeError):
            pass
    return None, None


MLP_GRADIENT_BUCKETS = [1 << 20, 1 << 20, 535818 * 4 - (2 << 20)]  # mlp:784-512-256-10, --bucket-kib 1024


def train_examples(a, work, fits):
    """Each example across 3 namespaces, unlimited and with one link at 1 Gbit/s."""
    # (label, example, render mode, edit to 3 Pods, the Pod whose link is slowed, training ranks)
    cases = [
        ("pytorchjob", "fashion-mnist-pytorchjob.yaml", "pods",
         lambda s: s.replace("Worker:\n      replicas: 1", "Worker:\n      replicas: 2"), "fashion-mnist-ddp-worker-0", 3),
        ("tfjob-workers", "fashion-mnist-tfjob-workers.yaml", "pods",
         lambda s: s.replace("Worker:\n      replicas: 2", "Worker:\n      replicas: 3"), "fashion-mnist-tf-workers-worker-1", 3),
        ("mpijob", "fashion-mnist-mpijob.yaml", "pods", lambda s: s, "fashion-mnist-mpi-worker-0", 2),  # the launcher trains not
        ("trainjob-torch", "fashion-mnist-trainjob.yaml", "jobset",
         lambda s: s.replace("numNodes: 2", "numNodes: 3"), "fashion-mnist-trainjob-node-0-1", 3),
        ("xgboostjob", "xgboost-synthetic-xgboostjob.yaml", "pods", lambda s: s, "xgboost-synthetic-worker-0", 3),
    ]
    out = []
    for label, file, mode, edit, slow_pod, n_ranks in cases:
        with open(os.path.join(SOURCE, "examples", file)) as f:
            text = edit(f.read())
        src = os.path.join(work, f"{label}.src.yaml")
        with open(src, "w") as f:
            f.write(text)
        times, waits = {}, {}
        for cond, tbf in (("unlimited", []), ("1gbit", [f"{slow_pod}=1gbit"])):
            name = f"{label}-{cond}"
            report = run_harness(a, work, name, render(a, work, name, src, mode), tbf=tbf)
            pods = len(report["pods"])
            times[cond] = report["seconds"]
            waits[cond] = step_times(report)
        row = {"example": label, "pods": pods, "unlimited_s": times["unlimited"], "1gbit_s": times["1gbit"],
               "ratio": round(times["1gbit"] / times["unlimited"], 3)}
        for cond in ("unlimited", "1gbit"):
            row[f"compute_ms_{cond}"], row[f"allreduce_wait_ms_{cond}"] = waits[cond]
        # The model's allreduce time per step: the gradient buckets through the ranks' ring, its
        # slowest link the rate's (fitted above); the wait is that minus what backward hides.
        fit_of = {"unlimited": fits.get("none"), "1gbit": fits.get("1gbit")}
        if label != "xgboostjob" and waits["1gbit"][1] is not None:
            for cond, f in fit_of.items():
                if f:
                    alpha, beta = f["alpha_us"] * 1e-6, f["beta_ns_per_byte"] * 1e-9
                    row[f"model_allreduce_ms_{cond}"] = round(
                        sum(model(n_ranks, b, alpha, beta) for b in MLP_GRADIENT_BUCKETS) * 1e3, 2)
        out.append(row)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--ranks", default="2,3,4,6")
    ap.add_argument("--rates", default="none,1gbit,200mbit")
    ap.add_argument("--max-bytes", type=int, default=16 << 20)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--fits", help="skip the allreduce part: take alpha and beta from this earlier --json file")
    ap.add_argument("--json", help="also write the JSON line to this file")
    a = ap.parse_args()
    a.bin_dir = os.path.abspath(a.bin_dir)
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces)")
        return 77
    ranks = [int(x) for x in a.ranks.split(",")]
    rates = a.rates.split(",")
    work = tempfile.mkdtemp(prefix="rm-cluster-bench-")
    measured = {}  # (rate, n) -> {bytes: seconds}
    if a.fits:
        rates = []
    for rate in rates:
        for n in ranks:
            measured[(rate, n)] = measure_allreduce(a, work, n, rate)
    result = {"bench": "cluster", "allreduce": [], "fits": {}, "train": []}
    if a.fits:
        with open(a.fits) as f:
            earlier = json.load(f)
        result["fits"], result["allreduce"] = earlier["fits"], earlier["allreduce"]
    print("allreduce over our tcp backend between network namespaces (float32 sum); model fitted on N = 2, 3")
    print(f"{'rate':>8} {'N':>2} {'bytes':>9} {'algo':>4} {'measured us':>12} {'model us':>10} {'error':>7}")
    for rate in rates:
        fit_points = [(n, b, t) for (r, n), rows in measured.items() if r == rate and n in (2, 3) for b, t in rows.items()]
        alpha, beta = fit(fit_points)
        errs = []
        for n in ranks:
            for b, t in sorted(measured[(rate, n)].items()):
                m = model(n, b, alpha, beta)
                err = (m - t) / t
                errs.append(abs(err))
                result["allreduce"].append({"rate": rate, "n": n, "bytes": b, "algo": algorithm(n, b),
                                            "measured_s": t, "model_s": m, "error": round(err, 4)})
                if b in (4096, 65536, 1 << 20, a.max_bytes):
                    print(f"{rate:>8} {n:>2} {b:>9} {algorithm(n, b):>4} {t * 1e6:>12.1f} {m * 1e6:>10.1f} {err:>+7.1%}")
        held_out = [abs(x["error"]) for x in result["allreduce"] if x["rate"] == rate and x["n"] not in (2, 3)]
        result["fits"][rate] = {"alpha_us": round(alpha * 1e6, 2), "beta_ns_per_byte": round(beta * 1e9, 4),
                                "bandwidth_MBps": round(1 / beta / 1e6, 1),
                                "median_abs_error": round(sorted(errs)[len(errs) // 2], 4),
                                "median_abs_error_held_out": round(sorted(held_out)[len(held_out) // 2], 4) if held_out else None}
        f = result["fits"][rate]
        held = f["median_abs_error_held_out"]
        print(f"  {rate}: alpha {f['alpha_us']} us, beta {f['beta_ns_per_byte']} ns/B ({f['bandwidth_MBps']} MB/s); "
              f"median |error| {f['median_abs_error']:.1%}" + (f", on the N not fitted {held:.1%}" if held is not None else ""))
    if not a.no_train:
        print("\ntraining each example across 3 namespaces: every link unlimited, and one Pod's link at 1 Gbit/s")
        print(f"{'example':>15} {'pods':>4} {'unlimited s':>12} {'1 Gbit/s s':>11} {'ratio':>6}")
        result["train"] = train_examples(a, work, result["fits"])
        for t in result["train"]:
            extra = ""
            if t.get("allreduce_wait_ms_1gbit") is not None:
                extra = (f"   allreduce wait per step {t['allreduce_wait_ms_unlimited']} -> {t['allreduce_wait_ms_1gbit']} ms"
                         f" (compute {t['compute_ms_unlimited']} -> {t['compute_ms_1gbit']} ms)")
                if "model_allreduce_ms_1gbit" in t:
                    extra += f"; model's allreduce {t.get('model_allreduce_ms_unlimited')} -> {t['model_allreduce_ms_1gbit']} ms"
            print(f"{t['example']:>15} {t['pods']:>4} {t['unlimited_s']:>12.2f} {t['1gbit_s']:>11.2f} {t['ratio']:>6.3f}{extra}")
    line = json.dumps(result)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
