#include "bench/allreduce_bench.h"

#include <fmt/format.h>
#include <mpi.h>
#include <netinet/in.h>
#include <poll.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "collectives/factory.h"
#include "collectives/mpi.h"
#include "bench/subprocess.h"
#include "collectives/socket.h"

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

// Bidirectional loopback TCP: two connected sockets, each served by one thread that sends and
// receives at once (as a rank does in a ring step), for about a second.
double loopback_bytes_per_second_each_way() {
  auto listener = collectives::listen_tcp("127.0.0.1", 0);
  if (!listener) return 0.0;
  const collectives::Endpoint ep{"127.0.0.1", collectives::local_port(listener->get())};
  UniqueFd b;
  std::thread acceptor([&] {
    auto fd = collectives::accept_tcp(listener->get(), Deadline::after(std::chrono::seconds(5)));
    if (fd) b = std::move(*fd);
  });
  auto a = collectives::connect_tcp(ep, Deadline::after(std::chrono::seconds(5)));
  acceptor.join();
  if (!a || !b.valid()) return 0.0;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> received{0};
  auto pump = [&](int fd) {
    (void)collectives::set_nonblocking(fd, true);
    std::vector<char> out(1 << 20), in(1 << 20);
    while (!stop) {
      pollfd p{fd, POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if (p.revents & POLLOUT) ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (p.revents & POLLIN) {
        const ssize_t r = ::recv(fd, in.data(), in.size(), MSG_DONTWAIT);
        if (r > 0) received += r;
      }
    }
  };
  std::thread t1(pump, a->get()), t2(pump, b.get());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // warm up
  const int64_t start_bytes = received.load();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t moved = received.load() - start_bytes;
  stop = true;
  t1.join();
  t2.join();
  return static_cast<double>(moved) / secs / 2.0;  // per direction
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
    std::vector<std::string> argv = {"mpirun", "--allow-run-as-root", "-np", std::to_string(o.ranks), "--bind-to",
                                     "none"};
    // Oversubscribing makes OpenMPI yield while it polls, which slows it down: only when needed.
    if (o.ranks > static_cast<int>(std::thread::hardware_concurrency())) argv.insert(argv.begin() + 1, "--oversubscribe");
    if (backend == "openmpi-tcp") argv.insert(argv.end(), {"--mca", "btl", "self,tcp"});
    if (backend == "mpi") argv.insert(argv.end(), {"-x", "RINGMASTER_COLLECTIVES=mpi"});
    const auto args = rank_args(o, backend == "mpi" ? "mpi" : "raw-mpi");
    argv.insert(argv.end(), args.begin(), args.end());
    text = run_capturing(argv, {{"OMPI_MCA_btl_tcp_if_include", "lo"}, {"OMPI_MCA_oob_tcp_if_include", "lo"}});
  } else {
    auto port_fd = collectives::listen_tcp("127.0.0.1", 0);
    const int port = collectives::local_port(port_fd->get());
    port_fd->reset();
    auto run_rank = [&](int r) {
      return run_capturing(rank_args(o, backend),
                           {{"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(o.ranks)},
                            {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)},
                            {"RINGMASTER_COLLECTIVES", backend}, {"RINGMASTER_JOB_TOKEN", "bench"}});
    };
    std::vector<std::thread> others;
    for (int r = 1; r < o.ranks; ++r) others.emplace_back([&, r] { (void)run_rank(r); });
    text = run_rank(0);
    for (auto& t : others) t.join();
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
  const double loop = loopback_bytes_per_second_each_way();
  std::map<std::string, std::map<int64_t, double>> all;
  for (const auto& b : o.backends) {
    all[b] = run_backend(o, b);
    if (all[b].empty()) fmt::print(stderr, "ringmaster bench allreduce: backend {} produced no results\n", b);
  }
  const double factor = 2.0 * (o.ranks - 1) / o.ranks;
  fmt::print(out, "allreduce, float32 sum, {} ranks on this host; busbw = algbw x 2(n-1)/n; loopback TCP limit "
                  "{:.2f} GB/s each way\n",
             o.ranks, loop / 1e9);
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
  if (loop > 0) ratios["tcp_64MiB_vs_loopback"] = busbw("tcp", int64_t{64} << 20) / (loop / 1e9);
  for (int64_t bytes = int64_t{1} << 20; bytes <= (int64_t{64} << 20); bytes *= 4)
    if (busbw("openmpi-shm", bytes) > 0)
      ratios[fmt::format("shm_vs_openmpi_shm_{}MiB", bytes >> 20)] = busbw("shm", bytes) / busbw("openmpi-shm", bytes);
  if (us("openmpi-tcp", 8) > 0) ratios["latency_8B_tcp_vs_openmpi_tcp"] = us("tcp", 8) / us("openmpi-tcp", 8);
  if (us("openmpi-shm", 8) > 0) ratios["latency_8B_shm_vs_openmpi_shm"] = us("shm", 8) / us("openmpi-shm", 8);
  fmt::print(out, "ratios: ");
  for (auto& [k, v] : ratios.items()) fmt::print(out, "{}={:.2f} ", k, v.get<double>());
  fmt::print(out, "\n");
  fmt::print(out, "{}\n", nlohmann::json{{"bench", "allreduce"}, {"ranks", o.ranks},
                                         {"loopback_gbps_each_way", loop / 1e9}, {"rows", rows}, {"ratios", ratios}}
                              .dump());
  return 0;
}

}  // namespace ringmaster::bench
