#include "bench/allreduce_bench.h"

#include <fmt/format.h>
#include <mpi.h>
#include <netinet/in.h>
#include <poll.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "collectives/factory.h"
#include "collectives/mpi.h"
#include "bench/subprocess.h"
#include "common/socket.h"
#include "common/strings.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;
using collectives::DataType;
using collectives::ReduceOp;

// Sizes to time; the first (8 bytes, discarded) lets the scheduler spread the freshly started
// ranks over the cores before anything is measured.
std::vector<int64_t> sizes(const AllreduceBenchOptions& o) {
  std::vector<int64_t> out = {8, 8};  // a discarded warm-up, then the latency point
  for (int64_t b = o.min_bytes; b <= o.max_bytes; b *= 4) out.push_back(b);
  return out;
}

// Times fn (one allreduce) for at least `seconds`, after warm-up; all ranks run the same number of
// iterations (rank 0 decides and broadcasts through the first timed call's result).
template <typename Allreduce, typename Broadcast>
double time_size(Allreduce allreduce, Broadcast broadcast_iters, int64_t bytes, double seconds) {
  // A fixed warm-up (every rank must make the same calls): connections, page faults, caches.
  const int warmup = bytes <= (1 << 20) ? 50 : 5;
  for (int i = 0; i < warmup; ++i) allreduce();
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) allreduce();
  const double one = std::chrono::duration<double>(Clock::now() - t0).count() / 5;
  int64_t iters = std::clamp<int64_t>(static_cast<int64_t>(seconds / std::max(one, 1e-7)), 10, 200000);
  broadcast_iters(iters);  // rank 0's count, so every rank makes the same number of calls
  const auto start = Clock::now();
  for (int64_t i = 0; i < iters; ++i) allreduce();
  return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(iters);
}

// Bidirectional loopback TCP, the physical limit of a 2-rank ring step: two connected sockets,
// each served by one thread that sends and receives at once (as a rank does), streaming from and
// into buffers of `buffer_bytes` (the message size, so the memory traffic is the allreduce's too).
// Returns the bytes per second each way of `windows` consecutive 100 ms windows.
std::vector<double> loopback_windows(std::size_t buffer_bytes, int windows) {
  auto listener = ringmaster::listen_tcp("127.0.0.1", 0);
  if (!listener) return {};
  const ringmaster::Endpoint ep{"127.0.0.1", ringmaster::local_port(listener->get())};
  UniqueFd b;
  std::thread acceptor([&] {
    auto fd = ringmaster::accept_tcp(listener->get(), Deadline::after(std::chrono::seconds(5)));
    if (fd) b = std::move(*fd);
  });
  auto a = ringmaster::connect_tcp(ep, Deadline::after(std::chrono::seconds(5)));
  acceptor.join();
  if (!a || !b.valid()) return {};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> received{0};
  auto pump = [&](int fd) {
    (void)ringmaster::set_nonblocking(fd, true);
    constexpr std::size_t kCall = std::size_t{1} << 20;  // bytes per send/recv call
    std::vector<char> out(std::max(buffer_bytes, kCall), 1), in(std::max(buffer_bytes, kCall), 0);
    std::size_t sent_at = 0, recv_at = 0;  // positions in the buffers, wrapping
    while (!stop) {
      // As a transport does: try both directions, and wait in poll only when neither moved.
      bool progress = false;
      const ssize_t w = ::send(fd, out.data() + sent_at, std::min(kCall, out.size() - sent_at),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        sent_at = (sent_at + static_cast<std::size_t>(w)) % out.size();
        progress = true;
      }
      const ssize_t r = ::recv(fd, in.data() + recv_at, std::min(kCall, in.size() - recv_at), MSG_DONTWAIT);
      if (r > 0) {
        received += r;
        recv_at = (recv_at + static_cast<std::size_t>(r)) % in.size();
        progress = true;
      }
      if (!progress) {
        pollfd p{fd, POLLIN | POLLOUT, 0};
        ::poll(&p, 1, 100);
      }
    }
  };
  std::thread t1(pump, a->get()), t2(pump, b.get());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm up: buffers, page faults
  std::vector<double> rates;
  for (int w = 0; w < windows; ++w) {
    const int64_t start_bytes = received.load();
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    rates.push_back(static_cast<double>(received.load() - start_bytes) / secs / 2.0);  // per direction
  }
  stop = true;
  t1.join();
  t2.join();
  return rates;
}

// The command line of one rank of `backend`: this binary again.
std::vector<std::string> rank_args(const AllreduceBenchOptions& o, const std::string& backend) {
  return {self_exe(), "bench", "allreduce", "--rank-of", backend, "--min-bytes", std::to_string(o.min_bytes),
          "--max-bytes", std::to_string(o.max_bytes), "--seconds-per-size", fmt::format("{}", o.seconds_per_size)};
}

// Runs one backend's ranks and returns rank 0's results: bytes -> seconds (empty on failure).
std::map<int64_t, double> run_backend(const AllreduceBenchOptions& o, const std::string& backend) {
  Result<std::string> text = std::string();
  if (backend.rfind("openmpi", 0) == 0 || backend == "mpi") {
    std::vector<std::string> argv = mpirun_argv(o.ranks);
    if (backend == "openmpi-tcp") argv.insert(argv.end(), {"--mca", "btl", "self,tcp"});
    if (backend == "mpi") argv.insert(argv.end(), {"-x", "RINGMASTER_COLLECTIVES=mpi"});
    const auto args = rank_args(o, backend == "mpi" ? "mpi" : "raw-mpi");
    argv.insert(argv.end(), args.begin(), args.end());
    text = run_capturing(argv, {{"OMPI_MCA_btl_tcp_if_include", "lo"}, {"OMPI_MCA_oob_tcp_if_include", "lo"}});
  } else {
    text = std::move(run_local_ranks(rank_args(o, backend), o.ranks,
                                     {{"RINGMASTER_COLLECTIVES", backend}, {"RINGMASTER_JOB_TOKEN", "bench"}})
                         .front());
  }
  std::map<int64_t, double> out;
  if (!text) {
    fmt::print(stderr, "ringmaster bench allreduce: {}: {}\n", backend, text.status().message());
    return out;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& row : j["results"]) out[row["bytes"].get<int64_t>()] = row["seconds"].get<double>();
  return out;
}

}  // namespace

int run_allreduce_bench_rank(const AllreduceBenchOptions& o, const std::string& backend, std::FILE* out) {
  nlohmann::json results = nlohmann::json::array();
  if (backend == "raw-mpi") {
    if (auto s = collectives::ensure_mpi(); !s) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
    int rank = 0, n = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    for (int64_t bytes : sizes(o)) {
      std::vector<float> buf(static_cast<std::size_t>(bytes / 4), 1.0f);
      const double secs = time_size(
          [&] { MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); },
          [&](int64_t& iters) { MPI_Bcast(&iters, 1, MPI_INT64_T, 0, MPI_COMM_WORLD); }, bytes, o.seconds_per_size);
      results.push_back({{"bytes", bytes}, {"seconds", secs}});
    }
    results.erase(results.begin());  // the warm-up
    if (rank == 0) fmt::print(out, "{}\n", nlohmann::json{{"results", results}}.dump());
    return 0;
  }
  auto config = collectives::rendezvous_from_env([](const char* k) { return std::getenv(k); });
  if (!config) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  auto comm = collectives::create(*config);
  if (!comm) {
    std::fprintf(stderr, "%s\n", comm.status().message().c_str());
    return 1;
  }
  collectives::Communicator& c = **comm;
  for (int64_t bytes : sizes(o)) {
    std::vector<float> buf(static_cast<std::size_t>(bytes / 4), 1.0f);
    Status failed;
    const double secs = time_size(
        [&] {
          if (Status s = c.allreduce(buf.data(), buf.data(), buf.size(), DataType::kFloat32, ReduceOp::kSum); !s)
            failed = s;
        },
        [&](int64_t& iters) {
          if (Status s = c.broadcast(&iters, 1, DataType::kInt64, 0); !s) failed = s;
        },
        bytes, o.seconds_per_size);
    if (!failed.is_ok()) {
      std::fprintf(stderr, "%s\n", failed.message().c_str());
      return 1;
    }
    results.push_back({{"bytes", bytes}, {"seconds", secs}});
  }
  results.erase(results.begin());  // the warm-up
  if (c.rank() == 0) fmt::print(out, "{}\n", nlohmann::json{{"results", results}}.dump());
  return 0;
}

int run_allreduce_bench(const AllreduceBenchOptions& o, std::FILE* out) {
  // The loopback limit, two ways: streaming from and into buffers of the largest message size (the
  // memory traffic a 64 MiB allreduce cannot avoid) and from 1 MiB buffers that stay in cache (the
  // kernel's copy speed alone). The machine's speed drifts (a shared VM), so each is sampled in
  // 100 ms windows just before and just after the tcp backend runs; the median is the figure.
  const auto stream_bytes = static_cast<std::size_t>(std::max<int64_t>(o.max_bytes, 1 << 20));
  std::vector<double> streaming, cached;
  auto sample_loopback = [&] {
    for (auto [buffer, into] : {std::pair{stream_bytes, &streaming}, std::pair{std::size_t{1} << 20, &cached}}) {
      auto w = loopback_windows(buffer, 5);
      into->insert(into->end(), w.begin(), w.end());
    }
  };
  std::map<std::string, std::map<int64_t, double>> all;
  for (const auto& b : o.backends) {
    if (b == "tcp") sample_loopback();
    all[b] = run_backend(o, b);
    if (b == "tcp") sample_loopback();
    if (all[b].empty()) fmt::print(stderr, "ringmaster bench allreduce: backend {} produced no results\n", b);
  }
  if (streaming.empty()) sample_loopback();
  const double loop = median(streaming), loop_cached = median(cached);
  auto gbps = [](const std::vector<double>& v) {
    std::vector<double> scaled;
    for (double x : v) scaled.push_back(x / 1e9);
    return scaled;
  };
  auto range = [](const std::vector<double>& v) {
    if (v.empty()) return std::string("no samples");
    return fmt::format("{:.2f}-{:.2f}", *std::min_element(v.begin(), v.end()) / 1e9,
                       *std::max_element(v.begin(), v.end()) / 1e9);
  };
  const double factor = 2.0 * (o.ranks - 1) / o.ranks;
  fmt::print(out, "allreduce, float32 sum, {} ranks on this host; busbw = algbw x 2(n-1)/n\n", o.ranks);
  fmt::print(out, "loopback TCP limit, each way (median of {} windows): {:.2f} GB/s streaming {} MiB buffers ({}), "
                  "{:.2f} GB/s from cache-resident 1 MiB buffers ({})\n",
             streaming.size(), loop / 1e9, stream_bytes >> 20, range(streaming), loop_cached / 1e9, range(cached));
  fmt::print(out, "{:>10}", "bytes");
  for (const auto& b : o.backends) fmt::print(out, " | {:>11} {:>7} {:>7}", b + " us", "algbw", "busbw");
  fmt::print(out, "\n");
  nlohmann::json rows = nlohmann::json::array();
  auto table_sizes = sizes(o);
  table_sizes.erase(table_sizes.begin());
  for (int64_t bytes : table_sizes) {
    fmt::print(out, "{:>10}", bytes);
    nlohmann::json row = {{"bytes", bytes}};
    for (const auto& b : o.backends) {
      auto it = all[b].find(bytes);
      if (it == all[b].end()) {
        fmt::print(out, " | {:>11} {:>7} {:>7}", "-", "-", "-");
        continue;
      }
      const double algbw = static_cast<double>(bytes) / it->second / 1e9, busbw = algbw * factor;
      fmt::print(out, " | {:>11.1f} {:>7.2f} {:>7.2f}", it->second * 1e6, algbw, busbw);
      row[b] = {{"us", it->second * 1e6}, {"algbw_gbps", algbw}, {"busbw_gbps", busbw}};
    }
    fmt::print(out, "\n");
    rows.push_back(row);
  }
  // The ratios the issue asks for.
  auto busbw = [&](const std::string& b, int64_t bytes) {
    auto it = all[b].find(bytes);
    return it == all[b].end() ? 0.0 : static_cast<double>(bytes) / it->second * factor / 1e9;
  };
  auto us = [&](const std::string& b, int64_t bytes) {
    auto it = all[b].find(bytes);
    return it == all[b].end() ? 0.0 : it->second * 1e6;
  };
  nlohmann::json ratios;
  for (int64_t bytes : {int64_t{4} << 20, int64_t{16} << 20, int64_t{64} << 20})
    if (busbw("openmpi-tcp", bytes) > 0)
      ratios[fmt::format("tcp_vs_openmpi_tcp_{}MiB", bytes >> 20)] = busbw("tcp", bytes) / busbw("openmpi-tcp", bytes);
  if (loop > 0 && busbw("tcp", int64_t{64} << 20) > 0)
    ratios["tcp_64MiB_vs_loopback"] = busbw("tcp", int64_t{64} << 20) / (loop / 1e9);
  if (loop_cached > 0 && busbw("tcp", int64_t{64} << 20) > 0)
    ratios["tcp_64MiB_vs_loopback_cache_resident"] = busbw("tcp", int64_t{64} << 20) / (loop_cached / 1e9);
  for (int64_t bytes = int64_t{1} << 20; bytes <= (int64_t{64} << 20); bytes *= 4)
    if (busbw("openmpi-shm", bytes) > 0)
      ratios[fmt::format("shm_vs_openmpi_shm_{}MiB", bytes >> 20)] = busbw("shm", bytes) / busbw("openmpi-shm", bytes);
  if (us("openmpi-tcp", 8) > 0) ratios["latency_8B_tcp_vs_openmpi_tcp"] = us("tcp", 8) / us("openmpi-tcp", 8);
  if (us("openmpi-shm", 8) > 0) ratios["latency_8B_shm_vs_openmpi_shm"] = us("shm", 8) / us("openmpi-shm", 8);
  fmt::print(out, "ratios: ");
  for (auto& [k, v] : ratios.items()) fmt::print(out, "{}={:.2f} ", k, v.get<double>());
  fmt::print(out, "\n");
  fmt::print(out, "{}\n", nlohmann::json{{"bench", "allreduce"}, {"ranks", o.ranks},
                                         {"loopback_gbps_each_way", loop / 1e9},
                                         {"loopback_cache_resident_gbps_each_way", loop_cached / 1e9},
                                         {"loopback_window_gbps", gbps(streaming)},
                                         {"loopback_cache_resident_window_gbps", gbps(cached)}, {"rows", rows}, {"ratios", ratios}}
                              .dump());
  return 0;
}

}  // namespace ringmaster::bench
