#include "bench/ps_bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/subprocess.h"
#include "common/socket.h"
#include "ps/client.h"
#include "ps/server.h"
#include "worker/model.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct TcpLimit {
  double duplex_gbps = 0;  // bytes both ways per second, both directions streaming at once
  double round_gbps = 0;   // request-response rounds of `bytes` each way
};

// Two connected loopback sockets (one per side), tuned as the transports tune theirs.
std::pair<UniqueFd, UniqueFd> loopback_pair() {
  auto listener = ringmaster::listen_tcp("127.0.0.1", 0);
  const int port = ringmaster::local_port(listener->get());
  UniqueFd a, b;
  std::thread accept([&] { b = std::move(*ringmaster::accept_tcp(listener->get(), Deadline::after(std::chrono::seconds(5)))); });
  a = std::move(*ringmaster::connect_tcp({"127.0.0.1", port}, Deadline::after(std::chrono::seconds(5))));
  accept.join();
  return {std::move(a), std::move(b)};
}

TcpLimit measure_tcp(std::size_t bytes, double seconds) {
  TcpLimit limit;
  std::vector<char> up(bytes, 1), down(bytes, 2), in_a(bytes), in_b(bytes);
  const auto deadline = Deadline::never();
  {
    auto [a, b] = loopback_pair();
    std::atomic<bool> stop{false};
    std::atomic<int64_t> moved{0};
    const auto t0 = Clock::now();
    auto pump = [&](int fd, const std::vector<char>& what) {
      while (!stop) {
        if (!ringmaster::send_all(fd, what.data(), what.size(), deadline, "peer")) return;
        moved += static_cast<int64_t>(what.size());
      }
    };
    auto drain = [&](int fd, std::vector<char>& into) {
      while (ringmaster::recv_all(fd, into.data(), into.size(), deadline, "peer")) {
      }
    };
    std::thread s1(pump, a.get(), std::cref(up)), s2(pump, b.get(), std::cref(down));
    std::thread r1(drain, b.get(), std::ref(in_b)), r2(drain, a.get(), std::ref(in_a));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    const double elapsed = since(t0);
    s1.join();
    s2.join();
    ::shutdown(a.get(), SHUT_RDWR);
    ::shutdown(b.get(), SHUT_RDWR);
    r1.join();
    r2.join();
    limit.duplex_gbps = static_cast<double>(moved.load()) / elapsed / 1e9;
  }
  {
    auto [a, b] = loopback_pair();
    std::thread server([&, fd = b.get()] {
      while (ringmaster::recv_all(fd, in_b.data(), bytes, deadline, "client"))
        if (!ringmaster::send_all(fd, down.data(), bytes, deadline, "client")) break;
    });
    int64_t rounds = 0;
    const auto t0 = Clock::now();
    while (since(t0) < seconds) {
      (void)ringmaster::send_all(a.get(), up.data(), bytes, deadline, "server");
      (void)ringmaster::recv_all(a.get(), in_a.data(), bytes, deadline, "server");
      ++rounds;
    }
    const double elapsed = since(t0);
    ::shutdown(a.get(), SHUT_RDWR);
    server.join();
    limit.round_gbps = static_cast<double>(rounds) * 2.0 * static_cast<double>(bytes) / elapsed / 1e9;
  }
  return limit;
}

struct RoundResult {
  double rounds_per_sec = 0, gbps = 0, ms_per_round = 0;
  std::string error;
};

// `count` parameter servers in this process on 127.0.0.1, and their addresses.
struct LocalServers {
  std::vector<std::unique_ptr<ps::PsServer>> running;
  std::vector<std::string> addresses;
};
Result<LocalServers> start_servers(int count) {
  LocalServers out;
  for (int i = 0; i < count; ++i) {
    ps::ServerOptions o;
    o.index = i;
    o.token = "bench";
    auto s = ps::PsServer::start(o);
    if (!s) return s.status();
    out.addresses.push_back(fmt::format("127.0.0.1:{}", (*s)->port()));
    out.running.push_back(std::move(*s));
  }
  return out;
}

RoundResult measure_rounds(const worker::Model& model, int workers, int servers, double seconds) {
  RoundResult res;
  auto local = start_servers(servers);
  if (!local) {
    res.error = local.status().message();
    return res;
  }
  const std::vector<std::string>& addresses = local->addresses;
  const auto n = static_cast<std::size_t>(model.param_count());
  std::atomic<int64_t> rounds{0};
  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> ready{0};
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      ps::ClientOptions o;
      o.servers = addresses;
      o.worker = w;
      o.workers = workers;
      o.token = "bench";
      auto client = ps::make_client(o);
      std::vector<float> params(model.params().begin(), model.params().end()), grads(n, 1e-6f);
      auto started = client->start(params, model.param_infos(), worker::OptimizerConfig{});
      ++ready;
      if (!started) {
        std::lock_guard lock(mu);
        res.error = started.status().message();
        return;
      }
      while (!go) std::this_thread::yield();
      for (int64_t step = 0; !stop; ++step) {
        if (Status s = client->push_pull(grads, 1e-3f, step, params); !s) {
          std::lock_guard lock(mu);
          res.error = s.message();
          return;
        }
        ++rounds;
      }
    });
  while (ready < workers) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto t0 = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  const int64_t done = rounds.load();
  const double elapsed = since(t0);
  for (auto& t : threads) t.join();
  res.rounds_per_sec = static_cast<double>(done) / elapsed;
  res.gbps = res.rounds_per_sec * 2.0 * static_cast<double>(n * sizeof(float)) / 1e9;
  res.ms_per_round = done > 0 ? elapsed * 1e3 * workers / static_cast<double>(done) : 0;
  return res;
}

struct TrainResult {
  double seconds_to_target = -1, accuracy = 0, wall_sec = 0;
  std::string error;
};

// The first epoch record at or over the target, from a --metrics-file.
void read_metrics(const std::string& path, double target, TrainResult& r) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("summary")) {
      r.accuracy = j.value("accuracy", 0.0);
      r.wall_sec = j.value("wall_sec", 0.0);
    } else if (r.seconds_to_target < 0 && j.value("accuracy", 0.0) >= target) {
      r.seconds_to_target = j.value("elapsed_sec", -1.0);
    }
  }
  if (r.wall_sec == 0 && r.error.empty()) r.error = "no summary in " + path;
}

TrainResult train(const PsBenchOptions& o, const std::string& mode, const std::string& dir) {
  TrainResult r;
  const std::string metrics = fmt::format("{}/metrics-{}.jsonl", dir, mode);
  std::filesystem::remove(metrics);
  std::vector<std::string> common = {"--log-level", "warn", "train", "--model", o.model, "--epochs",
                                     std::to_string(o.epochs), "--progress", "lines"};
  if (mode == "allreduce") {
    std::error_code ec;
    const auto exe = std::filesystem::canonical(self_exe(), ec);
    std::vector<std::string> argv = {(exe.parent_path() / "ringmaster").string()};
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), {"--strategy", "allreduce", "--metrics-file", metrics});
    for (auto& out : run_local_ranks(argv, o.train_workers, {{"RINGMASTER_JOB_TOKEN", "bench"}}))
      if (!out) r.error = out.status().message();
  } else {
    auto local = start_servers(o.train_servers);
    if (!local) {
      r.error = local.status().message();
      return r;
    }
    const std::vector<std::string>& addresses = local->addresses;
    std::vector<std::thread> threads;
    std::mutex mu;
    for (int w = 0; w < o.train_workers; ++w)
      threads.emplace_back([&, w] {
        std::vector<std::string> argv = {self_exe()};
        argv.insert(argv.end(), common.begin(), common.end());
        argv.insert(argv.end(), {"--strategy", "ps", "--ps-mode", mode, "--staleness", std::to_string(o.staleness),
                                 "--ps-hosts", fmt::format("{}", fmt::join(addresses, ",")), "--worker-index",
                                 std::to_string(w), "--num-workers", std::to_string(o.train_workers)});
        if (w == 0) argv.insert(argv.end(), {"--metrics-file", metrics});
        auto out = run_capturing(argv, {{"RINGMASTER_JOB_TOKEN", "bench"}});
        if (!out) {
          std::lock_guard lock(mu);
          r.error = out.status().message();
        }
      });
    for (auto& t : threads) t.join();
  }
  if (r.error.empty()) read_metrics(metrics, o.target_accuracy, r);
  return r;
}

}  // namespace

int run_ps_bench(const PsBenchOptions& o, std::FILE* out) {
  auto model_r = worker::Model::create(o.model, {1, 28, 28}, 10);
  if (!model_r) {
    fmt::print(stderr, "bench ps: {}\n", model_r.status().message());
    return 2;
  }
  worker::Model& model = **model_r;
  model.init(1);
  const auto bytes = static_cast<std::size_t>(model.param_count()) * sizeof(float);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  fmt::print(out, "parameter server: {} ({} parameters, {:.2f} MB), {} cores, {:.1f} s per measurement\n",
             model.spec(), model.param_count(), static_cast<double>(bytes) / 1e6, cores, o.seconds);
  // The limit is the best of three tries of each kind: loopback throughput on a shared VM swings.
  TcpLimit tcp;
  for (int i = 0; i < 3; ++i) {
    const TcpLimit t = measure_tcp(bytes, o.seconds / 2);
    tcp.duplex_gbps = std::max(tcp.duplex_gbps, t.duplex_gbps);
    tcp.round_gbps = std::max(tcp.round_gbps, t.round_gbps);
  }
  fmt::print(out, "loopback TCP limit (best of 3): {:.2f} GB/s full duplex (both directions at once), {:.2f} GB/s as {:.2f} MB "
                  "request-response rounds\n",
             tcp.duplex_gbps, tcp.round_gbps, static_cast<double>(bytes) / 1e6);
  fmt::print(out, "{:>7} {:>7} | {:>9} {:>9} {:>8} | {:>11} {:>11}\n", "workers", "servers", "rounds/s", "GB/s",
             "ms/round", "of duplex", "of rounds");
  nlohmann::json rows = nlohmann::json::array();
  double one_one = 0;
  for (int s : o.servers)
    for (int w : o.workers) {
      const RoundResult r = measure_rounds(model, w, s, o.seconds);
      if (!r.error.empty()) {
        fmt::print(out, "{:>7} {:>7} | failed: {}\n", w, s, r.error);
        rows.push_back({{"workers", w}, {"servers", s}, {"error", r.error}});
        continue;
      }
      if (w == 1 && s == 1) one_one = r.gbps / tcp.duplex_gbps;
      fmt::print(out, "{:>7} {:>7} | {:>9.1f} {:>9.2f} {:>8.2f} | {:>10.0f}% {:>10.0f}%{}\n", w, s, r.rounds_per_sec,
                 r.gbps, r.ms_per_round, 100 * r.gbps / tcp.duplex_gbps, 100 * r.gbps / tcp.round_gbps,
                 static_cast<unsigned>(w + s) > cores ? " (more threads than cores)" : "");
      rows.push_back({{"workers", w}, {"servers", s}, {"rounds_per_sec", r.rounds_per_sec}, {"gbps", r.gbps},
                      {"ms_per_round", r.ms_per_round}, {"fraction_of_duplex", r.gbps / tcp.duplex_gbps},
                      {"fraction_of_rounds", r.gbps / tcp.round_gbps}});
    }
  nlohmann::json training = nlohmann::json::array();
  if (o.epochs > 0) {
    const std::string dir = fmt::format("{}/ringmaster-bench-ps-{}", std::filesystem::temp_directory_path().string(), ::getpid());
    std::filesystem::create_directories(dir);
    fmt::print(out, "\ntime to {:.2f} test accuracy: {}, {} epochs, {} workers{}\n", o.target_accuracy, model.spec(),
               o.epochs, o.train_workers, fmt::format(", {} parameter servers (ssp staleness {})", o.train_servers, o.staleness));
    fmt::print(out, "{:>10} | {:>10} {:>9} {:>9}\n", "mode", "to target", "accuracy", "wall s");
    std::stringstream modes(o.modes);
    for (std::string mode; std::getline(modes, mode, ',');) {
      const TrainResult r = train(o, mode, dir);
      if (!r.error.empty()) {
        fmt::print(out, "{:>10} | failed: {}\n", mode, r.error);
        training.push_back({{"mode", mode}, {"error", r.error}});
        continue;
      }
      fmt::print(out, "{:>10} | {:>10} {:>9.4f} {:>9.1f}\n", mode,
                 r.seconds_to_target < 0 ? std::string("never") : fmt::format("{:.1f} s", r.seconds_to_target),
                 r.accuracy, r.wall_sec);
      training.push_back({{"mode", mode}, {"seconds_to_target", r.seconds_to_target}, {"accuracy", r.accuracy},
                          {"wall_sec", r.wall_sec}});
    }
    std::filesystem::remove_all(dir);
  }
  fmt::print(out, "ratios: round_1x1_vs_duplex_tcp={:.2f} (goal >= 0.50)\n", one_one);
  fmt::print(out, "{}\n",
             nlohmann::json{{"bench", "ps"}, {"model", model.spec()}, {"bytes", bytes},
                            {"tcp", {{"duplex_gbps", tcp.duplex_gbps}, {"round_gbps", tcp.round_gbps}}},
                            {"rounds", rows}, {"training", training},
                            {"ratios", {{"round_1x1_vs_duplex_tcp", one_one}}}}
                 .dump());
  return 0;
}

}  // namespace ringmaster::bench
