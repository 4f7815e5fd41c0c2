// Figures about processes that reports, benchmarks and the job state print. Thread-safe.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <optional>
#include <string>

namespace ringmaster {

// The peak resident set size of this process so far, in MiB (getrusage's ru_maxrss).
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// When process `pid` started, in clock ticks since boot (/proc/PID/stat, field 22); nullopt when
// there is no such process or it has ended and waits to be reaped (a zombie). A pid together with
// this names one process: pids are reused, start times of a pid are not.
inline std::optional<unsigned long long> process_start_ticks(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return std::nullopt;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
  const std::string text(buf);
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::size_t pos = close + 1;
  for (int field = 3; field <= 22; ++field) {
    pos = text.find_first_not_of(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    if (field == 3 && (text[pos] == 'Z' || text[pos] == 'X')) return std::nullopt;
    if (field == 22) return std::stoull(text.substr(pos, text.find(' ', pos) - pos));
    pos = text.find(' ', pos);
  }
  return std::nullopt;
}

}  // namespace ringmaster
