#!/usr/bin/python3
"""The latency-bandwidth (alpha-beta) model of allreduce and of the data-parallel step, extrapolated
to 8-256 GPUs (docs/scaling.md). Not a measurement: bench/cluster_bench.py measures alpha and beta on
simulated hosts and checks the model there; this prints what the same model says of real clusters.

Cluster: nodes of G GPUs joined by NVLink (alpha_nv, B_nv per GPU), one network link per node of
25, 100 or 400 Gb/s (alpha_net). For N GPUs and n bytes:
  flat ring (ours: one ring over every rank)   2(N-1) alpha_net + 2 (N-1)/N n / B_net
      (the ring crosses each node's link once each way per step: the link is the bottleneck; on
      one node, N <= G, every flat algorithm runs on NVLink's alpha and B instead)
  recursive doubling (ours below 64 KiB, N a power of two)   log2 N (alpha_net + n / B_net)
  double binary tree (NCCL's tree)              2 log2 N alpha_net + 2 n / B_net (pipelined)
  hierarchical (reduce-scatter in the node, ring across nodes, allgather in the node)
      2 (G-1) alpha_nv + 2 (G-1)/G n / B_nv + 2 (M-1) alpha_net + 2 (M-1)/M n / B_net,  M = N / G
The data-parallel step with gradients allreduced in buckets of b bytes as backward produces them:
  step = forward + max(backward, sum of the buckets' allreduce) + the last bucket's allreduce
Prints tables and one JSON line.
Usage: scaling_model.py [--alpha-net-us 5] [--alpha-nv-us 2] [--nvlink-GBps 300] [--gpus-per-node 8]
"""

import argparse
import json
import math

GBIT = 1e9 / 8  # bytes per second in a Gbit/s


def ring(n_ranks, nbytes, alpha, bw):
    return 0.0 if n_ranks == 1 else 2 * (n_ranks - 1) * alpha + 2 * (n_ranks - 1) / n_ranks * nbytes / bw


def recursive_doubling(n_ranks, nbytes, alpha, bw):
    return math.log2(n_ranks) * (alpha + nbytes / bw)


def tree(n_ranks, nbytes, alpha, bw):
    return 2 * math.log2(n_ranks) * alpha + 2 * nbytes / bw


def hierarchical(n_ranks, nbytes, a, net_bw):
    g = min(a.gpus_per_node, n_ranks)
    m = n_ranks // g
    return ring(g, nbytes, a.alpha_nv, a.nvlink_GBps * 1e9) + ring(m, nbytes, a.alpha_net, net_bw)


def link(n_ranks, a, net_bw):
    """The slowest hop of a flat algorithm: NVLink within one node, else the network."""
    return (a.alpha_nv, a.nvlink_GBps * 1e9) if n_ranks <= a.gpus_per_node else (a.alpha_net, net_bw)


def ours(n_ranks, nbytes, a, net_bw):
    """What our tcp/mpi backends run: recursive doubling up to 64 KiB on power-of-two worlds, else one ring."""
    alpha, bw = link(n_ranks, a, net_bw)
    if n_ranks & (n_ranks - 1) == 0 and nbytes <= 64 * 1024:
        return recursive_doubling(n_ranks, nbytes, alpha, bw)
    return ring(n_ranks, nbytes, alpha, bw)


def flat_ring(n_ranks, nbytes, a, net_bw):
    alpha, bw = link(n_ranks, a, net_bw)
    return ring(n_ranks, nbytes, alpha, bw)


def flat_tree(n_ranks, nbytes, a, net_bw):
    alpha, bw = link(n_ranks, a, net_bw)
    return tree(n_ranks, nbytes, alpha, bw)


def crossover(f_small, f_large, n_ranks, a, bw, lo=8, hi=1 << 40):
    """The smallest size at which f_large is no slower than f_small (None when never within range)."""
    if f_large(n_ranks, hi, a, bw) > f_small(n_ranks, hi, a, bw):
        return None
    while hi - lo > lo * 0.01:
        mid = (lo + hi) // 2
        if f_large(n_ranks, mid, a, bw) <= f_small(n_ranks, mid, a, bw):
            hi = mid
        else:
            lo = mid
    return hi


def step(n_ranks, params, a, bw, algo, forward_s, backward_s, bucket_bytes=25 << 20):
    total = params * 4
    buckets = [bucket_bytes] * (total // bucket_bytes) + ([total % bucket_bytes] if total % bucket_bytes else [])
    comm = [algo(n_ranks, b, a, bw) for b in buckets]
    return forward_s + max(backward_s, sum(comm)) + comm[-1]


def fmt_bytes(b):
    if b is None:
        return "never"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alpha-net-us", type=float, default=5.0, help="per-message latency across the network")
    ap.add_argument("--alpha-nv-us", type=float, default=2.0, help="per-message latency over NVLink")
    ap.add_argument("--nvlink-GBps", type=float, default=300.0, help="NVLink bandwidth per GPU, each way")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    a = ap.parse_args()
    a.alpha_net, a.alpha_nv = a.alpha_net_us * 1e-6, a.alpha_nv_us * 1e-6
    ranks = [8, 16, 32, 64, 128, 256]
    links = [25, 100, 400]
    sizes = [64 << 10, 4 << 20, 100 << 20, 1 << 30]
    out = {"bench": "scaling_model", "assumptions": vars(a), "allreduce": [], "crossover": [], "step": []}
    out["assumptions"] = {k: v for k, v in vars(a).items() if k not in ("alpha_net", "alpha_nv")}
    print(f"allreduce time (ms): ours (flat ring; recursive doubling <= 64 KiB) / tree / hierarchical; "
          f"{a.gpus_per_node} GPUs per node on NVLink")
    print(f"{'link':>8} {'GPUs':>5} " + " ".join(f"{fmt_bytes(s):>26}" for s in sizes))
    for gb in links:
        bw = gb * GBIT
        for n in ranks:
            cells = []
            for s in sizes:
                o, t, h = ours(n, s, a, bw), flat_tree(n, s, a, bw), hierarchical(n, s, a, bw)
                cells.append(f"{o * 1e3:8.3g}/{t * 1e3:8.3g}/{h * 1e3:8.3g}")
                out["allreduce"].append({"link_gbps": gb, "gpus": n, "bytes": s, "ours_s": o, "tree_s": t, "hier_s": h})
            print(f"{gb:>5}G/s {n:>5} " + " ".join(f"{c:>26}" for c in cells))
    print("\nbelow these sizes a tree beats one flat ring; the hierarchical ring beats the flat ring at every size "
          "from:")
    print(f"{'link':>8} {'GPUs':>5} {'tree until':>12} {'hierarchical from':>18}")
    for gb in links:
        bw = gb * GBIT
        for n in ranks:
            t_until = crossover(flat_tree, flat_ring, n, a, bw)
            if n <= a.gpus_per_node:
                h_from = None  # one node: the same ring
            else:
                h_from = 8 if hierarchical(n, 8, a, bw) < flat_ring(n, 8, a, bw) else crossover(flat_ring, hierarchical, n, a, bw)
            out["crossover"].append({"link_gbps": gb, "gpus": n, "tree_until_bytes": t_until, "hier_from_bytes": h_from})
            print(f"{gb:>5}G/s {n:>5} {fmt_bytes(t_until):>12} {fmt_bytes(h_from) if h_from else '(one node)':>18}")
    # The data-parallel step of a 1.3 B-parameter model (fp32 gradients, 5.2 GB) and of ResNet-50
    # (25.6 M, 102 MB), forward and backward as measured per GPU at a typical batch (assumed).
    models = [("resnet50", 25.6e6, 0.030, 0.060), ("1.3B transformer", 1.3e9, 0.15, 0.30)]
    print("\ndata-parallel step (s) with 25 MiB buckets overlapping backward: ours / hierarchical, and the "
          "scaling efficiency of ours")
    for name, params, fwd, bwd in models:
        for gb in links:
            bw = gb * GBIT
            row = []
            for n in ranks:
                o = step(n, int(params), a, bw, lambda N, s, a_, b: ours(N, s, a_, b), fwd, bwd)
                h = step(n, int(params), a, bw, hierarchical, fwd, bwd)
                eff = (fwd + bwd) / o
                row.append(f"{o:.3f}/{h:.3f} {eff:4.0%}")
                out["step"].append({"model": name, "link_gbps": gb, "gpus": n, "ours_s": o, "hier_s": h, "efficiency": eff})
            print(f"{name:>16} {gb:>4}G/s " + "  ".join(row))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
