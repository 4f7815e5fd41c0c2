#include "bench/start_bench.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "bench/subprocess.h"
#include "common/status.h"
#include "common/strings.h"

namespace ringmaster::bench {
namespace {

struct Sample {
  double ms = 0.0;
  double rss_mib = 0.0;
};

// Runs argv with stdout and stderr to /dev/null; its wall time and peak RSS.
Result<Sample> measure(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return internal_error("fork failed");
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid) return internal_error("wait4 failed");
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return internal_error(fmt::format("`{}` failed (status {})", fmt::join(argv, " "), status));
  return Sample{ms, static_cast<double>(usage.ru_maxrss) / 1024.0};
}

}  // namespace

int run_start_bench(const StartBenchOptions& o, std::FILE* out) {
  struct Command {
    std::string name;
    std::vector<std::string> args;
  };
  const std::vector<Command> commands = {
      {"--version", {"--version"}},
      {"validate", {"validate", "-q", o.example}},
      {"train --steps 1", {"train", "--dataset", "synthetic", "--synthetic-samples", "256", "--steps", "1", "--no-eval",
                           "--progress", "lines"}},
  };
  std::vector<std::string> binaries = {self_exe()};
  if (!o.peer.empty()) binaries.push_back(o.peer);
  nlohmann::json rows = nlohmann::json::array();
  std::fprintf(out, "process start: median of %d runs%s\n", o.repeats,
               o.peer.empty() ? "" : fmt::format(" (peer: {})", o.peer).c_str());
  std::fprintf(out, "%-18s %10s %10s %10s %10s %8s %8s\n", "command", "ms", "RSS MiB", "peer ms", "peer MiB", "time x",
               "RSS x");
  for (const auto& c : commands) {
    std::vector<std::vector<double>> ms(binaries.size()), rss(binaries.size());
    for (int rep = 0; rep < o.repeats; ++rep)
      for (std::size_t k = 0; k < binaries.size(); ++k) {
        const std::size_t b = (k + static_cast<std::size_t>(rep)) % binaries.size();  // alternate who goes first
        std::vector<std::string> argv = {binaries[b]};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto s = measure(argv);
        if (!s) {
          std::fprintf(stderr, "bench start: %s\n", s.status().message().c_str());
          return 1;
        }
        ms[b].push_back(s->ms);
        rss[b].push_back(s->rss_mib);
      }
    const double own_ms = median(ms[0]), own_rss = median(rss[0]);
    nlohmann::json row = {{"command", c.name}, {"ms", own_ms}, {"rss_mib", own_rss}};
    if (binaries.size() > 1) {
      const double peer_ms = median(ms[1]), peer_rss = median(rss[1]);
      row["peer_ms"] = peer_ms;
      row["peer_rss_mib"] = peer_rss;
      row["time_ratio"] = own_ms / peer_ms;
      row["rss_ratio"] = own_rss / peer_rss;
      std::fprintf(out, "%-18s %10.1f %10.1f %10.1f %10.1f %7.2fx %7.2fx\n", c.name.c_str(), own_ms, own_rss, peer_ms,
                   peer_rss, own_ms / peer_ms, own_rss / peer_rss);
    } else {
      std::fprintf(out, "%-18s %10.1f %10.1f %10s %10s %8s %8s\n", c.name.c_str(), own_ms, own_rss, "-", "-", "-", "-");
    }
    rows.push_back(row);
  }
  const nlohmann::json j = {{"bench", "start"}, {"repeats", o.repeats}, {"peer", o.peer}, {"rows", rows}};
  std::fprintf(out, "%s\n", j.dump().c_str());
  return 0;
}

}  // namespace ringmaster::bench
