// The training timeline (`ringmaster train --timeline FILE`), as Horovod's: a Chrome trace
// (open it in chrome://tracing or ui.perfetto.dev) with one process per rank and one row each for
//   data       waiting for the next batch
//   compute    forward, backward, optimizer
//   allreduce  each gradient bucket on the communicator's thread (bytes in its args)
//   wait       the training thread blocked until the buckets are done
// Every rank records its own spans; at the end rank 0 gathers them (collectives) and writes FILE
// atomically. Recording stops (and the file says so) after max_events per rank.
// A Timeline is used from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "collectives/communicator.h"
#include "common/status.h"

namespace ringmaster::worker {

class Timeline {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Row { kData = 1, kCompute = 2, kAllreduce = 3, kWait = 4 };

  Timeline(int rank, TimePoint origin, int64_t max_events = 500000);
  // A complete event from start to end; `args` is a JSON object's members ("\"step\":3") or empty.
  void span(Row row, const char* name, TimePoint start, TimePoint end, const std::string& args = "");
  int64_t events() const { return events_; }
  // This rank's events and its process/row names, as comma-separated JSON objects.
  const std::string& json() const { return json_; }

  // Rank 0 gathers every rank's events and writes `path` (temp file, fsync, rename); the other
  // ranks send theirs. Every rank must call it. Without a communicator, writes this rank's alone.
  Status write(const std::string& path, collectives::Communicator* comm) const;

 private:
  int rank_;
  TimePoint origin_;
  int64_t max_events_, events_ = 0;
  bool truncated_ = false;
  std::string json_;
};

}  // namespace ringmaster::worker
