#include "bench/elastic_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/socket.h"
#include "common/strings.h"
#include "launcher/process.h"

namespace ringmaster::bench {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// A log's text; "" while it does not exist yet.
std::string text_of(const std::string& path) {
  auto r = read_file(path);
  return r ? *r : std::string();
}

double seconds_since(SteadyClock::time_point t) { return std::chrono::duration<double>(SteadyClock::now() - t).count(); }

struct RunFigures {
  double wall_s = 0.0, accuracy = 0.0;
  int kills = 0, restarts = 0;
  std::vector<double> recovery_ms;  // elastic: per lost member, from the failure to training again
  std::vector<double> join_ms;      // elastic: per joiner taken in
  int64_t lost_steps = 0;           // elastic: steps rolled back
  int64_t steps = 0;                // the run's optimizer steps
  std::string error;
};

using Env = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> train_argv(const ElasticBenchOptions& o) {
  std::vector<std::string> a = {executable_path(), "train", "--strategy", "allreduce", "--model", "mlp", "--epochs",
                                std::to_string(o.epochs), "--batch-size", std::to_string(o.batch_size), "--progress",
                                "lines", "--collective-timeout", "20"};
  if (fs::exists(fs::path(o.data_dir) / "train-images-idx3-ubyte.gz")) a.insert(a.end(), {"--data-dir", o.data_dir});
  else a.insert(a.end(), {"--dataset", "synthetic"});
  return a;
}

// The workers of one run: started, polled, killed on the schedule; their logs in `dir`.
class Fleet {
 public:
  explicit Fleet(std::string dir) : dir_(std::move(dir)), procs_(launcher::real_processes()) {}
  ~Fleet() {
    for (auto& w : workers_)
      if (w.alive) procs_->signal(w.handle, SIGKILL), w.alive = false;
  }
  Status start(const std::vector<std::string>& argv, const Env& env) {
    const std::string log = fmt::format("{}/w{}.log", dir_, workers_.size());
    auto h = procs_->start({argv, env, dir_, log, {}, fmt::format("w{}", workers_.size())});
    if (!h) return h.status();
    workers_.push_back({*h, log, true, false, false});
    return Status::ok();
  }
  // Reaps what ended; an unexpected failure is an error, unless `failures_expected`.
  Status poll(bool failures_expected) {
    for (auto& w : workers_) {
      if (!w.alive) continue;
      if (auto e = procs_->poll(w.handle)) {
        w.alive = false;
        w.succeeded = e->success();
        if (!e->success() && !w.killed && !failures_expected)
          return internal_error(fmt::format("{} ended with {}: {}", w.log, e->describe(), tail(w.log)));
      }
    }
    return Status::ok();
  }
  void kill_one(std::mt19937_64& rng) {
    std::vector<std::size_t> alive;
    for (std::size_t i = 0; i < workers_.size(); ++i)
      if (workers_[i].alive) alive.push_back(i);
    if (alive.empty()) return;
    auto& w = workers_[alive[rng() % alive.size()]];
    procs_->signal(w.handle, SIGKILL);
    w.killed = true;
  }
  // Workers that ended by themselves with success.
  int finished() const {
    return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w.succeeded; }));
  }
  void stop_all() {
    for (auto& w : workers_)
      if (w.alive) procs_->signal(w.handle, SIGTERM), w.killed = true;
  }
  int alive() const {
    return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w.alive; }));
  }
  void wait() { procs_->wait(std::chrono::milliseconds(20)); }
  std::vector<std::string> logs() const {
    std::vector<std::string> out;
    for (const auto& w : workers_) out.push_back(w.log);
    return out;
  }
  static std::string tail(const std::string& log) {
    const std::string text = text_of(log);
    return text.substr(text.size() > 400 ? text.size() - 400 : 0);
  }

 private:
  struct Worker {
    int handle;
    std::string log;
    bool alive, killed, succeeded;
  };
  std::string dir_;
  std::unique_ptr<launcher::Processes> procs_;
  std::vector<Worker> workers_;
};

// The run's accuracy and steps, from the summary line of its last worker to print one.
void read_summary(const std::vector<std::string>& logs, RunFigures& f) {
  static const std::regex re(R"(summary: .* steps=(\d+) accuracy=([0-9.]+) )");
  for (const auto& log : logs) {
    const std::string text = text_of(log);
    std::smatch m;
    if (std::regex_search(text, m, re)) {
      f.steps = parse_int<int64_t>(m[1].str()).value_or(0);
      f.accuracy = parse_double(m[2].str()).value_or(0.0);
    }
  }
}

// The survivors' own account of each membership change: per new generation, the longest
// "training again ... N ms after the change, K step(s) rolled back", by cause.
void read_changes(const std::vector<std::string>& logs, RunFigures& f) {
  static const std::regex ends(R"(elastic: generation (\d+) ends \((.*)\) at step)");
  static const std::regex again(
      R"(elastic: training again at step \d+ in generation (\d+) with \d+ member\(s\), (\d+) ms after the change, (\d+) step)");
  struct Change {
    bool joiner = false;
    int64_t lost = 0;
    double ms = 0.0;
  };
  std::map<int, Change> changes;  // by the generation that follows
  for (const auto& log : logs) {
    std::istringstream in(text_of(log));
    bool joiner = false;
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, ends)) {
        joiner = m[2].str().find("waits to join") != std::string::npos;
      } else if (std::regex_search(line, m, again)) {
        Change& c = changes[parse_int<int>(m[1].str()).value_or(0)];
        c.joiner = joiner;
        c.lost = std::max(c.lost, parse_int<int64_t>(m[3].str()).value_or(0));
        c.ms = std::max(c.ms, parse_double(m[2].str()).value_or(0.0));
      }
    }
  }
  for (const auto& [g, c] : changes) {
    (c.joiner ? f.join_ms : f.recovery_ms).push_back(c.ms);
    f.lost_steps += c.lost;
  }
}

Result<std::string> start_rendezvous(launcher::Processes& procs, const std::string& dir, const Env& env, int& handle) {
  const std::string log = dir + "/rdzv.log";
  auto h = procs.start({{executable_path(), "rendezvous", "--port", "0", "--job", "bench-elastic"}, env, dir, log, {}, "rdzv"});
  if (!h) return h.status();
  handle = *h;
  static const std::regex re(R"(rendezvous for elastic job bench-elastic at (\S+))");
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    const std::string text = text_of(log);
    if (std::regex_search(text, m, re)) return m[1].str();
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return internal_error("the rendezvous did not start: " + text_of(log));
}

RunFigures run_elastic(const ElasticBenchOptions& o, const std::string& dir, bool disturbed) {
  RunFigures f;
  fs::create_directories(dir);
  Env env = {{"RINGMASTER_JOB_TOKEN", "bench-token"}, {"RINGMASTER_JOB_NAME", "bench-elastic"}};
  auto rdzv_procs = launcher::real_processes();
  int rdzv = -1;
  auto endpoint = start_rendezvous(*rdzv_procs, dir, env, rdzv);
  if (!endpoint) return f.error = endpoint.status().message(), f;
  env.emplace_back("RINGMASTER_RDZV_ENDPOINT", *endpoint);
  std::vector<std::string> argv = train_argv(o);
  argv.insert(argv.end(), {"--elastic", fmt::format("2:{}", o.workers), "--commit-every", std::to_string(o.commit_every),
                           "--elastic-timeout", "30", "--max-restarts", "1000"});
  Fleet fleet(dir);
  std::mt19937_64 rng(o.seed);
  const auto start = SteadyClock::now();
  for (int w = 0; w < o.workers; ++w)
    if (Status s = fleet.start(argv, env); !s) return f.error = s.message(), f;
  while (fleet.alive() > 0) {
    if (Status s = fleet.poll(false); !s) return f.error = s.message(), f;
    if (fleet.finished() > 0) {  // the group is done: a replacement still waiting to join has nothing to do
      fleet.stop_all();
      continue;
    }
    if (disturbed && f.kills < o.kills && seconds_since(start) >= o.first_kill_seconds + f.kills * o.kill_interval_seconds &&
        fleet.alive() == o.workers) {
      fleet.kill_one(rng);
      ++f.kills;
      if (Status s = fleet.start(argv, env); !s) return f.error = s.message(), f;  // as the launcher restarts it
    }
    fleet.wait();
  }
  f.wall_s = seconds_since(start);
  rdzv_procs->signal(rdzv, SIGTERM);
  while (!rdzv_procs->poll(rdzv)) rdzv_procs->wait(std::chrono::milliseconds(20));
  read_summary(fleet.logs(), f);
  read_changes(fleet.logs(), f);
  return f;
}

RunFigures run_restart(const ElasticBenchOptions& o, const std::string& dir, bool disturbed) {
  RunFigures f;
  fs::create_directories(dir);
  std::vector<std::string> argv = train_argv(o);
  argv.insert(argv.end(), {"--collectives", "tcp", "--checkpoint-dir", dir + "/ckpt", "--checkpoint-every",
                           std::to_string(o.checkpoint_every), "--resume"});
  std::mt19937_64 rng(o.seed);
  const auto start = SteadyClock::now();
  std::vector<std::string> logs;
  for (bool done = false; !done;) {
    Fleet fleet(fmt::format("{}/attempt{}", dir, f.restarts));
    fs::create_directories(fmt::format("{}/attempt{}", dir, f.restarts));
    const int port = free_loopback_port();
    for (int r = 0; r < o.workers; ++r) {
      Env env = {{"RINGMASTER_JOB_TOKEN", "bench-token"}, {"MASTER_ADDR", "127.0.0.1"},
                 {"MASTER_PORT", std::to_string(port)}, {"WORLD_SIZE", std::to_string(o.workers)},
                 {"RANK", std::to_string(r)}};
      if (Status s = fleet.start(argv, env); !s) return f.error = s.message(), f;
    }
    // Each attempt trains kill_interval_seconds before its kill (counted from rank 0's "model ..."
    // line, once the ranks have met): killed while they meet, the others would wait out the
    // rendezvous timeout, which is not what this compares.
    bool killed = false;
    std::optional<SteadyClock::time_point> training;
    while (fleet.alive() > 0) {
      if (Status s = fleet.poll(killed); !s) return f.error = s.message(), f;
      if (!training && text_of(fleet.logs().front()).find("steps per epoch") != std::string::npos)
        training = SteadyClock::now();
      if (disturbed && !killed && f.kills < o.kills && training && seconds_since(*training) >= o.kill_interval_seconds) {
        fleet.kill_one(rng);  // the others fail their collective and exit
        ++f.kills;
        killed = true;
      }
      fleet.wait();
    }
    for (const auto& l : fleet.logs()) logs.push_back(l);
    done = !killed;
    if (killed) ++f.restarts;  // every rank again, from the last checkpoint
  }
  f.wall_s = seconds_since(start);
  read_summary(logs, f);
  return f;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

int run_elastic_bench(const ElasticBenchOptions& o, std::FILE* out) {
  const fs::path root = fs::temp_directory_path() / fmt::format("ringmaster-bench-elastic-{}", ::getpid());
  fs::remove_all(root);
  const RunFigures elastic_base = run_elastic(o, (root / "elastic-base").string(), false);
  ElasticBenchOptions k = o;  // the kills fall within the first three quarters of an undisturbed run
  if (k.kill_interval_seconds <= 0) k.kill_interval_seconds = 0.75 * elastic_base.wall_s / (o.kills + 1);
  if (k.first_kill_seconds <= 0) k.first_kill_seconds = k.kill_interval_seconds;
  const RunFigures elastic = run_elastic(k, (root / "elastic").string(), true);
  const RunFigures restart_base = run_restart(o, (root / "restart-base").string(), false);
  const RunFigures restart = run_restart(k, (root / "restart").string(), true);
  for (const RunFigures* r : {&elastic_base, &elastic, &restart_base, &restart})
    if (!r->error.empty()) {
      std::fprintf(stderr, "ringmaster bench elastic: %s (logs in %s)\n", r->error.c_str(), root.c_str());
      return 1;
    }
  // Lost time: the disturbed run's wall time minus the undisturbed one's. Elastic's is below this
  // VM's run-to-run noise (and 3 workers on 2 cores may step faster than 4), so it is also
  // accounted from the workers' own logs: every pause (recoveries and joins), the steps rolled
  // back and the step each kill interrupted, at the undisturbed run's time per step. The ratio
  // takes the larger of the two.
  const double lost_restart = restart.wall_s - restart_base.wall_s;
  const double wall_lost_elastic = elastic.wall_s - elastic_base.wall_s;
  const double step_s = elastic_base.steps > 0 ? elastic_base.wall_s / static_cast<double>(elastic_base.steps) : 0.0;
  double paused_ms = 0.0;
  for (double ms : elastic.recovery_ms) paused_ms += ms;
  for (double ms : elastic.join_ms) paused_ms += ms;
  const double accounted_elastic = paused_ms / 1e3 + static_cast<double>(elastic.lost_steps + elastic.kills) * step_s;
  const double lost_elastic = std::max(wall_lost_elastic, accounted_elastic);
  fmt::print(out, "elastic recovery: mlp, {} workers on {} cores, {} epochs, --batch-size {} per worker; {} kill -9, one "
                  "every {:.1f} s from {:.1f} s\n",
             o.workers, std::thread::hardware_concurrency(), o.epochs, o.batch_size, o.kills, k.kill_interval_seconds,
             k.first_kill_seconds);
  fmt::print(out, "{:<28} {:>6} {:>8} {:>8} {:>14} {:>9} {:>11} {:>9}\n", "run", "kills", "wall s", "lost s",
             "recovery p50", "max ms", "lost steps", "accuracy");
  auto row = [&](const char* name, const RunFigures& r, double lost, bool recoveries) {
    fmt::print(out, "{:<28} {:>6} {:>8.1f} {:>8.1f} {:>14} {:>9} {:>11} {:>9.4f}\n", name, r.kills, r.wall_s, lost,
               recoveries ? fmt::format("{:.0f} ms", percentile(r.recovery_ms, 0.5)) : "-",
               recoveries ? fmt::format("{:.0f}", percentile(r.recovery_ms, 1.0)) : "-",
               recoveries ? std::to_string(r.lost_steps) : "-", r.accuracy);
  };
  row(fmt::format("elastic 2:{}, commit {}", o.workers, o.commit_every).c_str(), elastic, wall_lost_elastic, true);
  row("elastic, undisturbed", elastic_base, 0.0, false);
  row(fmt::format("restart, checkpoint {}", o.checkpoint_every).c_str(), restart, lost_restart, false);
  row("restart, undisturbed", restart_base, 0.0, false);
  const double ratio = lost_elastic > 0 ? lost_restart / lost_elastic : 0.0;
  fmt::print(out, "elastic, accounted: {} recoveries + {} joins = {:.2f} s paused, {} steps rolled back + {} interrupted "
                  "at {:.1f} ms = {:.2f} s lost\n",
             elastic.recovery_ms.size(), elastic.join_ms.size(), paused_ms / 1e3, elastic.lost_steps, elastic.kills,
             step_s * 1e3, accounted_elastic);
  fmt::print(out, "lost time: restart-from-checkpoint {:.1f} s, elastic {:.2f} s ({:.1f}x less); joins p50 {:.0f} ms\n",
             lost_restart, lost_elastic, ratio, percentile(elastic.join_ms, 0.5));
  nlohmann::json j = {{"bench", "elastic"},
                      {"workers", o.workers},
                      {"kills", elastic.kills},
                      {"recovery_ms_p50", percentile(elastic.recovery_ms, 0.5)},
                      {"recovery_ms_max", percentile(elastic.recovery_ms, 1.0)},
                      {"recoveries", elastic.recovery_ms.size()},
                      {"join_ms_p50", percentile(elastic.join_ms, 0.5)},
                      {"lost_steps", elastic.lost_steps},
                      {"lost_seconds_elastic", lost_elastic},
                      {"lost_seconds_elastic_wall", wall_lost_elastic},
                      {"lost_seconds_elastic_accounted", accounted_elastic},
                      {"lost_seconds_restart", lost_restart},
                      {"lost_ratio_restart_vs_elastic", ratio},
                      {"accuracy_elastic", elastic.accuracy},
                      {"accuracy_elastic_undisturbed", elastic_base.accuracy},
                      {"accuracy_restart", restart.accuracy},
                      {"accuracy_restart_undisturbed", restart_base.accuracy}};
  fmt::print(out, "{}\n", j.dump());
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}

}  // namespace ringmaster::bench
