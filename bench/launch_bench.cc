#include "bench/launch_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/subprocess.h"
#include "common/files.h"

namespace ringmaster::bench {
namespace {

namespace fs = std::filesystem;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The nanosecond timestamp a replica wrote with `date +%s%N`; -1 when it did not.
int64_t read_stamp(const fs::path& p) {
  std::ifstream in(p);
  long long v = -1;
  if (!(in >> v)) return -1;
  return v;
}

struct Stat {
  double median = 0, min = 0;
};
Stat stat(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front()};
}

std::string start_job(const fs::path& dir, int replicas) {
  const std::string container = fmt::format(
      "{{spec: {{containers: [{{name: pytorch, image: none, workingDir: {}, command: [sh, -c, "
      "'date +%s%N > started.$RANK; sleep 0.3']}}]}}}}",
      dir.string());
  return fmt::format(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {{name: launch-start}}
spec:
  runPolicy: {{cleanPodPolicy: Running}}
  pytorchReplicaSpecs:
    Master:
      restartPolicy: Never
      template: {}
    Worker:
      replicas: {}
      restartPolicy: Never
      template: {}
)",
                     container, replicas - 1, container);
}

// A TrainJob of `nodes` nodes on Trainer's torch-distributed runtime (built in), each node writing
// its start time: the same measurement as the PyTorchJob's, through the JobSet resolution.
std::string trainjob(const fs::path& dir, int nodes) {
  return fmt::format(R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {{name: launch-trainjob}}
spec:
  runtimeRef: {{name: torch-distributed}}
  trainer:
    numNodes: {}
    command: [sh, -c, 'cd {} && date +%s%N > started.$PET_NODE_RANK; sleep 0.3']
)",
                     nodes, dir.string());
}

std::string restart_job(const fs::path& dir) {
  return fmt::format(R"(apiVersion: batch/v1
kind: Job
metadata: {{name: launch-restart}}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: main
          image: none
          workingDir: {}
          command: [sh, -c, 'if [ -e first ]; then date +%s%N > second; else date +%s%N > first; exit 1; fi']
)",
                     dir.string());
}

std::vector<std::string> mpirun_command(int ranks) {
  return {"mpirun", "-np", std::to_string(ranks), "--bind-to", "none", "true"};
}

std::string mpi_job(int ranks) {
  std::string command;
  for (const auto& a : mpirun_command(ranks)) command += (command.empty() ? "" : ", ") + fmt::format("\"{}\"", a);
  return fmt::format(R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {{name: launch-mpi}}
spec:
  slotsPerWorker: 1
  runPolicy: {{cleanPodPolicy: Running}}
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template: {{spec: {{containers: [{{name: launcher, image: none, command: [{}]}}]}}}}
    Worker:
      replicas: {}
      template: {{spec: {{containers: [{{name: worker, image: none}}]}}}}
)",
                     command, ranks);
}

// Runs `ringmaster run FILE` to its end; the wall time in seconds, or the failure. Without restart
// back-off: the restart row measures the launcher's own cost of a restart, not the policy's wait.
Result<double> run_job(const fs::path& file, const fs::path& job_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_capturing({self_exe(), "run", file.string(), "--job-dir", job_dir.string(), "--restart-backoff-seconds", "0"},
                         {}, true);
  if (!r) return r.status();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int run_launch_bench(const LaunchBenchOptions& o, std::FILE* out) {
  const bool own_dir = o.work_dir.empty();
  const fs::path root = own_dir ? fs::temp_directory_path() / fmt::format("ringmaster-bench-launch-{}", ::getpid())
                                : fs::path(o.work_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  auto fail = [&](const std::string& what, const Status& s) {
    std::fprintf(stderr, "bench launch: %s: %s\n", what.c_str(), s.message().c_str());
    if (own_dir) fs::remove_all(root, ec);
    return 1;
  };
  // Replicas write their files here; each measurement empties it first.
  const fs::path scratch = root / "scratch";
  auto fresh_scratch = [&] {
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch, ec);
  };
  const fs::path start_file = root / "start.yaml", restart_file = root / "restart.yaml", mpi_file = root / "mpi.yaml";
  (void)write_file_atomic(start_file.string(), start_job(scratch, o.replicas));
  (void)write_file_atomic(restart_file.string(), restart_job(scratch));
  (void)write_file_atomic(mpi_file.string(), mpi_job(o.ranks));
  const fs::path trainjob_file = root / "trainjob.yaml";
  (void)write_file_atomic(trainjob_file.string(), trainjob(scratch, o.trainjob_nodes));

  std::vector<double> first_ms, all_ms, restart_ms, job_s, bare_s, tj_first_ms, tj_all_ms;
  for (int rep = 0; rep < o.repeats; ++rep) {
    // Start of N replicas, then of a TrainJob's nodes: each writes started.<i> when it runs.
    auto starts = [&](const fs::path& file, const char* job, int count, std::vector<double>& first_out,
                      std::vector<double>& all_out) -> Status {
      fresh_scratch();
      const int64_t t0 = now_ns();
      if (auto r = run_job(file, root / job); !r) return r.status();
      int64_t first = INT64_MAX, last = 0;
      for (int i = 0; i < count; ++i) {
        const int64_t t = read_stamp(scratch / fmt::format("started.{}", i));
        if (t < 0) return internal_error(fmt::format("replica {} wrote no start time", i));
        first = std::min(first, t);
        last = std::max(last, t);
      }
      first_out.push_back(static_cast<double>(first - t0) / 1e6);
      all_out.push_back(static_cast<double>(last - t0) / 1e6);
      return Status::ok();
    };
    if (Status s = starts(start_file, "job-start", o.replicas, first_ms, all_ms); !s) return fail("the 8-replica job", s);
    if (Status s = starts(trainjob_file, "job-trainjob", o.trainjob_nodes, tj_first_ms, tj_all_ms); !s)
      return fail("the TrainJob", s);
    // One restart.
    fresh_scratch();
    if (auto r = run_job(restart_file, root / "job-restart"); !r) return fail("the restart job", r.status());
    const int64_t a = read_stamp(scratch / "first"), b = read_stamp(scratch / "second");
    if (a < 0 || b < 0) return fail("the restart job", internal_error("the replica did not run twice"));
    restart_ms.push_back(static_cast<double>(b - a) / 1e6);
    // MPIJob through the launcher against bare mpirun, alternating which goes first.
    Env bare_env = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
    if (static_cast<unsigned>(o.ranks) > std::max(1u, std::thread::hardware_concurrency()))
      bare_env.emplace_back("OMPI_MCA_rmaps_base_oversubscribe", "1");
    for (int k = 0; k < 2; ++k) {
      if ((k + rep) % 2 == 0) {
        auto r = run_job(mpi_file, root / "job-mpi");
        if (!r) return fail("the MPIJob", r.status());
        job_s.push_back(*r);
      } else {
        const auto t = std::chrono::steady_clock::now();
        if (auto r = run_capturing(mpirun_command(o.ranks), bare_env, true); !r) return fail("bare mpirun", r.status());
        bare_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
      }
    }
  }
  if (own_dir) fs::remove_all(root, ec);

  const Stat first = stat(first_ms), all = stat(all_ms), restart = stat(restart_ms), job = stat(job_s), bare = stat(bare_s);
  const Stat tj_first = stat(tj_first_ms), tj_all = stat(tj_all_ms);
  const double ratio = bare.median > 0 ? job.median / bare.median : 0;
  std::fprintf(out, "launch benchmark: %d repeats, median (min)\n", o.repeats);
  std::fprintf(out, "%-52s %10s %10s\n", "measurement", "median ms", "min ms");
  auto row = [&](const std::string& name, Stat s, double scale) {
    std::fprintf(out, "%-52s %10.1f %10.1f\n", name.c_str(), s.median * scale, s.min * scale);
  };
  row(fmt::format("ringmaster run -> first of {} replicas running", o.replicas), first, 1);
  row(fmt::format("ringmaster run -> all {} replicas running", o.replicas), all, 1);
  row(fmt::format("TrainJob (torch-distributed) -> first of {} nodes", o.trainjob_nodes), tj_first, 1);
  row(fmt::format("TrainJob (torch-distributed) -> all {} nodes", o.trainjob_nodes), tj_all, 1);
  row("one restart: replica exit -> running again", restart, 1);
  row(fmt::format("MPIJob, mpirun -np {} true, via ringmaster run", o.ranks), job, 1000);
  row(fmt::format("bare mpirun -np {} true", o.ranks), bare, 1000);
  std::fprintf(out, "MPIJob via ringmaster run / bare mpirun: %.3fx (goal <= 1.1x)\n", ratio);
  nlohmann::json j = {{"bench", "launch"},
                      {"replicas", o.replicas},
                      {"ranks", o.ranks},
                      {"repeats", o.repeats},
                      {"first_running_ms", first.median},
                      {"all_running_ms", all.median},
                      {"trainjob_nodes", o.trainjob_nodes},
                      {"trainjob_first_running_ms", tj_first.median},
                      {"trainjob_all_running_ms", tj_all.median},
                      {"restart_ms", restart.median},
                      {"mpijob_run_ms", job.median * 1000},
                      {"bare_mpirun_ms", bare.median * 1000},
                      {"mpijob_over_bare", ratio}};
  std::fprintf(out, "%s\n", j.dump().c_str());
  return 0;
}

}  // namespace ringmaster::bench
