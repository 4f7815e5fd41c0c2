// `ringmaster bench WORKLOAD`: benchmarks that print a table and a JSON line (see bench/).
#include <cstdio>
#include <sstream>

#include "bench/allreduce_bench.h"
#include "bench/elastic_bench.h"
#include "bench/launch_bench.h"
#include "bench/scaling_bench.h"
#include "bench/start_bench.h"
#include "bench/subprocess.h"
#include "bench/sweep_bench.h"
#include "bench/gpu_train_bench.h"
#include "bench/train_bench.h"
#include "cli/commands.h"

namespace ringmaster::cli {

void add_bench_command(CLI::App& app, BenchOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Run a benchmark: train (training step vs PyTorch and bare sgemm, at 1 and 2 threads), allreduce (our backends vs OpenMPI), "
      "scaling (data-parallel training at 1, 2 and 4 workers), launch (ringmaster run's start and restart "
      "times, an MPIJob vs bare mpirun), ps (parameter-server rounds against loopback TCP, time to accuracy "
      "per mode; its flags: `ringmaster bench ps --help`), sweep (the search algorithms on Branin and "
      "Hartmann-6: trials to a target regret, suggestion latency), start (time and peak RSS of --version, validate "
      "and train --steps 1, against --peer), elastic (kill -9 during elastic training against restart from a "
      "checkpoint: recovery time, time lost, accuracy)");
  cmd->add_option("workload", o.workload, "train, allreduce, scaling, launch, ps, sweep, start or elastic")
      ->required()
      ->check(CLI::IsMember({"train", "allreduce", "scaling", "launch", "ps", "sweep", "start", "elastic"}));
  // `bench ps` is carried out by ringmaster-ps, which parses its own flags: they pass through here.
  cmd->allow_extras();
  o.command = cmd;
  cmd->add_option("--models", o.models,
                  "models to run (mlp or cnn specs; default mlp,cnn,cnn:32-64-1024 on the CPU, mlp,cnn on cuda)")
      ->delimiter(',');
  cmd->add_option("--device", o.device, "train: cpu, or cuda (against PyTorch eager on the same GPU)")
      ->capture_default_str();
  cmd->add_option("--precision", o.precision, "train --device cuda: fp32, tf32 or bf16")->capture_default_str();
  cmd->add_option("--batches", o.batches, "train --device cuda: batch sizes")->delimiter(',')->capture_default_str();
  cmd->add_option("--share", o.share, "train --device cuda: process counts sharing the GPU (0: none)")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--steps", o.steps, "timed steps per model (0: a default per model)");
  cmd->add_option("--threads", o.threads, "train (cpu): compute threads (oneDNN and OpenBLAS; PyTorch pinned alike)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "Fashion-MNIST directory (synthetic data when absent)")
      ->capture_default_str();
  cmd->add_flag("--child", o.child, "internal: run one model in this process and print its JSON line")
      ->group("");
  cmd->add_option("--ranks", o.ranks, "allreduce: processes")->capture_default_str();
  cmd->add_option("--backends", o.backends, "allreduce: tcp, shm, mpi, openmpi-tcp, openmpi-shm")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--min-bytes", o.min_bytes, "allreduce: smallest size after the 8-byte latency point")
      ->capture_default_str();
  cmd->add_option("--max-bytes", o.max_bytes, "allreduce: largest size")->capture_default_str();
  cmd->add_option("--seconds-per-size", o.seconds_per_size, "allreduce: timed seconds per size")->capture_default_str();
  cmd->add_option("--workers", o.workers, "scaling: worker counts")->delimiter(',')->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "scaling: epochs per run")->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "scaling: samples per worker per step")->capture_default_str();
  cmd->add_option("--collectives", o.collectives, "scaling: the workers' backend")->capture_default_str();
  cmd->add_option("--bucket-kib", o.bucket_kib, "scaling: gradient bucket size (0: the trainer's default)");
  cmd->add_option("--target-accuracy", o.target_accuracy, "scaling: report the time to this test accuracy")
      ->capture_default_str();
  cmd->add_option("--train-args", o.train_args, "scaling: extra flags for every worker")->capture_default_str();
  cmd->add_option("--repeats", o.repeats, "launch: repetitions of each measurement")->capture_default_str();
  cmd->add_option("--replicas", o.replicas, "launch: replicas of the start measurement")->capture_default_str();
  cmd->add_option("--peer", o.peer, "start: another ringmaster binary (e.g. the CPU-only build) to compare with");
  cmd->add_option("--algorithms", o.algorithms, "sweep: search algorithms")->delimiter(',')->capture_default_str();
  cmd->add_option("--functions", o.functions, "sweep: branin, hartmann6")->delimiter(',')->capture_default_str();
  cmd->add_option("--seeds", o.seeds, "sweep: runs per function and algorithm")->capture_default_str();
  cmd->add_option("--budget", o.budget, "sweep: trials per run")->capture_default_str();
  cmd->add_option("--rank-of", o.rank_of, "internal: run as one rank of this backend")->group("");
}

int run_bench(const BenchOptions& o) {
  if (o.workload == "ps") return exec_ringmaster_ps();
  if (o.command && !o.command->remaining().empty()) {
    std::string extra;
    for (const auto& a : o.command->remaining()) extra += " " + a;
    std::fprintf(stderr, "ringmaster bench %s: unexpected arguments:%s (see `ringmaster bench --help`)\n",
                 o.workload.c_str(), extra.c_str());
    return 2;
  }
  if (o.workload == "allreduce") {
    bench::AllreduceBenchOptions a;
    a.ranks = o.ranks;
    a.backends = o.backends;
    a.min_bytes = o.min_bytes;
    a.max_bytes = o.max_bytes;
    a.seconds_per_size = o.seconds_per_size;
    if (!o.rank_of.empty()) return bench::run_allreduce_bench_rank(a, o.rank_of, stdout);
    return bench::run_allreduce_bench(a, stdout);
  }
  if (o.workload == "elastic") {
    bench::ElasticBenchOptions e;
    e.data_dir = o.data_dir;
    if (o.epochs != 4) e.epochs = o.epochs;  // 4 is --epochs' default, the scaling bench's
    return bench::run_elastic_bench(e, stdout);
  }
  if (o.workload == "launch") {
    bench::LaunchBenchOptions l;
    l.replicas = o.replicas;
    l.repeats = o.repeats;
    l.ranks = 4;
    return bench::run_launch_bench(l, stdout);
  }
  if (o.workload == "start") {
    bench::StartBenchOptions st;
    st.repeats = o.repeats * 2 + 1;  // short runs: more of them
    st.peer = o.peer;
    return bench::run_start_bench(st, stdout);
  }
  if (o.workload == "sweep") {
    bench::SweepBenchOptions s;
    s.algorithms = o.algorithms;
    s.functions = o.functions;
    s.seeds = o.seeds;
    s.budget = o.budget;
    return bench::run_sweep_bench(s, stdout);
  }
  if (o.workload == "scaling") {
    bench::ScalingBenchOptions s;
    if (!o.models.empty()) s.model = o.models.front();
    s.workers = o.workers;
    s.epochs = o.epochs;
    s.batch_size = o.batch_size;
    s.backend = o.collectives;
    s.bucket_kib = o.bucket_kib;
    s.target_accuracy = o.target_accuracy;
    if (!o.train_args.empty()) {
      std::istringstream words(o.train_args);
      for (std::string w; words >> w;) s.extra_args.push_back(w);
    }
    return bench::run_scaling_bench(s, stdout);
  }
  if (o.device == "cuda") {
    bench::GpuTrainBenchOptions g;
    if (!o.models.empty()) g.models = o.models;
    g.python = bench::peer_python();
    g.batches = o.batches;
    g.steps = o.steps;
    g.precision = o.precision;
    if (!o.data_dir.empty()) g.data_dir = o.data_dir;
    g.share_processes.clear();
    for (int p : o.share)
      if (p > 0) g.share_processes.push_back(p);
    return bench::run_gpu_train_bench(g, stdout);
  }
  if (o.device != "cpu") {
    std::fprintf(stderr, "ringmaster bench train: --device: expected cpu or cuda, found \"%s\"\n", o.device.c_str());
    return 2;
  }
  bench::TrainBenchOptions t;
  if (!o.models.empty()) t.models = o.models;
  t.steps = o.steps;
  t.threads = o.threads;
  t.python = bench::peer_python();
  t.data_dir = o.data_dir;
  if (o.child) return bench::run_train_bench_child(t, stdout);
  return bench::run_train_bench(t, stdout);
}

}  // namespace ringmaster::cli
