// Figures about this process that reports and benchmarks print. Thread-safe.
#pragma once

#include <sys/resource.h>

namespace ringmaster {

// The peak resident set size of this process so far, in MiB (getrusage's ru_maxrss).
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace ringmaster
