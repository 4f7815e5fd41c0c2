// `ringmaster train`'s side of Kubeflow Trainer's progress API (KEP-2779): when
// KUBEFLOW_TRAINER_SERVER_URL and KUBEFLOW_TRAINER_SERVER_TOKEN are set (Trainer's TrainJobStatus
// plugin sets them in a TrainJob's trainer containers; the sweep driver sets them for an
// OptimizationJob's trials, sweep/progress_server.h), rank 0 POSTs
//   {"trainerStatus": {"progressPercentage", "estimatedRemainingSeconds", "metrics": [{name, value}],
//                      "lastUpdatedTime"}}
// with `Authorization: Bearer <the token file's content>` (re-read each time: Trainer's token
// rotates) at every epoch's end and at the run's end, as the Kubeflow SDK's
// update_trainjob_status does. Metrics: loss, accuracy, test_loss, train_accuracy, lr, epoch; at
// the end also best_accuracy and parameters. Reporting never stops training: a failure is logged
// once. Plain http only: an https URL (Trainer's in a cluster) is logged as not spoken, once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ringmaster::worker {

class TrainerStatusClient {
 public:
  // Reads the environment; inactive when the variables are not both set.
  TrainerStatusClient();
  bool active() const { return !url_.empty(); }
  // progress: 0-100; remaining_seconds < 0: unknown.
  void report(int progress, int64_t remaining_seconds, const std::vector<std::pair<std::string, double>>& metrics);

 private:
  std::string url_, token_file_;
  bool warned_ = false;
};

// The body the client sends (exposed for tests): values as strings, the time in RFC 3339 UTC.
std::string trainer_status_body(int progress, int64_t remaining_seconds,
                                const std::vector<std::pair<std::string, double>>& metrics,
                                std::chrono::system_clock::time_point now);

}  // namespace ringmaster::worker
