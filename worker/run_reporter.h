// RunReporter: everything a training run tells the world, so the train loop (trainer.cc) only
// calls it at a step's end, an epoch's end and the run's end.
//   stdout          the Katib-parseable epoch lines and the summary (leader), the progress bar
//                   (leader, --progress bar or auto on a terminal)
//   --metrics-file  the same records as JSON lines, each made durable before training goes on;
//                   with --metrics-step-seconds S also, every S seconds, a record of the steps
//                   since the last one: {"step", "window_steps", "epoch_progress", "loss" (mean of
//                   rank 0's batches), "samples_per_sec", "compute_ms", "allreduce_wait_ms",
//                   "data_wait_ms" (per step), "elapsed_sec"}, flushed but not fsynced; and
//                   {"timeline": ABSOLUTE PATH} once --timeline is written
//   --metrics-port  Prometheus gauges and counters per rank (the families trainer.h lists)
//   --timeline      the Chrome trace of every step (timeline.h)
//   Trainer's progress API, when its variables are set (trainer_status.h): rank 0, at each epoch's
//                   end and the run's end
// It also keeps the step-time totals the summary reports. Used from the training thread; the
// metrics endpoint reads its gauges under a lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "collectives/communicator.h"
#include "common/metrics.h"
#include "common/status.h"
#include "worker/checkpoint.h"
#include "worker/step_backend.h"
#include "worker/timeline.h"
#include "worker/train_config.h"
#include "worker/train_summary.h"
#include "worker/trainer_status.h"

namespace ringmaster::worker {

// One epoch's figures over all ranks.
struct EpochReport {
  int64_t epoch = 0;  // 1-based, as printed
  int64_t step = 0;
  double loss = 0.0, train_accuracy = 0.0, lr = 0.0, samples_per_second = 0.0;
  EvalSums eval;
  bool complete = false;              // the epoch ended (else --steps or --stop-at-step cut it)
  int64_t total_steps = 0;            // the run's length in steps (the progress API's percentage)
  std::optional<uint64_t> checksum;   // the replicas' agreed parameter checksum (data-parallel)
  int world = 1;
};

class RunReporter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  RunReporter(const TrainConfig& config, std::FILE* out, int rank, int world, TimePoint start);
  ~RunReporter();
  RunReporter(const RunReporter&) = delete;
  RunReporter& operator=(const RunReporter&) = delete;

  // Opens what the configuration asks for: the metrics endpoint, the metrics file (rank 0), the
  // timeline. Fails naming the flag.
  Status open();
  // After an elastic membership change: this worker's new rank and the group's size (the new
  // rank 0 prints the lines and opens --metrics-file).
  void rebind(int rank, int world);

  void begin_epoch();
  // Time the training thread waited for a batch (also the wait that found the epoch's end).
  void waited_for_data(std::chrono::steady_clock::duration d) { data_wait_ += d; }
  // A step that has ended; `state` is the position after it, `step` its 1-based number.
  void step(const StepRecord& record, const TrainState& state, int64_t steps_per_epoch);
  // This rank's training samples since begin_epoch().
  int64_t epoch_samples() const { return epoch_trained_; }
  // Seconds since begin_epoch(), the epoch's training time; clears the progress bar.
  double end_epoch_timing();
  void epoch(const EpochReport& report);

  // An elastic membership change, once training goes on: the new generation and its size, the
  // steps rolled back, when the change began and ended, why. In the gauges, the timeline and
  // (rank 0) the metrics file.
  void membership_change(int generation, int members, int64_t lost_steps, TimePoint began, TimePoint ended,
                         const std::string& cause);

  // Rank 0 gathers and writes --timeline (every rank of `comm` calls it).
  Status write_timeline(collectives::Communicator* comm);

  // Fills `summary`'s step-time figures (per training step) from the steps seen, `wait` (the
  // backend's time blocked on other processes) and the epochs' training time.
  void fill_step_times(TrainSummary& summary, std::chrono::nanoseconds wait, double train_seconds) const;
  // The summary line, the step-time line (wait_name, note: the backend's; batches: the per-rank
  // split, or empty) and the summary record; rank 0 only.
  void summary(const TrainSummary& summary, const std::string& model_spec, int64_t epochs, const char* wait_name,
               const std::string& note, const std::string& batches);

 private:
  class LiveMetrics;
  class MetricsFile;
  double seconds_since(TimePoint t) const;
  void draw_bar(const TrainState& state, int64_t steps_per_epoch);
  void trace(const StepRecord& r, int64_t step);
  void window_step(const StepRecord& r, const TrainState& state, int64_t steps_per_epoch);

  const TrainConfig& config_;
  std::FILE* out_;
  int rank_, world_;
  bool leader_;
  const bool bar_;
  const TimePoint start_;
  std::unique_ptr<LiveMetrics> live_;
  std::unique_ptr<MetricsServer> server_;
  TrainerStatusClient trainer_status_;
  std::unique_ptr<MetricsFile> file_;
  std::unique_ptr<Timeline> timeline_;
  TimePoint epoch_start_, last_draw_;
  int64_t epoch_trained_ = 0;  // this rank's samples this epoch
  double last_epoch_loss_ = 0.0;
  int64_t timed_steps_ = 0;
  std::chrono::nanoseconds data_wait_{0};
  // The steps since the last step record (--metrics-step-seconds).
  struct Window {
    TimePoint start{};
    int64_t steps = 0, samples = 0, losses = 0;
    double loss = 0, compute_s = 0, wait_s = 0, data_s = 0;
  } window_;
};

}  // namespace ringmaster::worker
