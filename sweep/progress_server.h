// Kubeflow Trainer's progress API (KEP-2779, proposals/2779-trainjob-progress; the server is
// Trainer's pkg/statusserver/server.go), served by the sweep driver for an OptimizationJob's trials
// so that they report their metrics as they would on a cluster running Trainer:
//
//   POST /apis/trainer.kubeflow.org/v1alpha1/namespaces/{namespace}/trainjobs/{name}/status
//   Authorization: Bearer <the trial's token>
//   {"trainerStatus": {"progressPercentage": 45, "estimatedRemainingSeconds": 120,
//                      "metrics": [{"name": "accuracy", "value": "0.92"}], "lastUpdatedTime": "..."}}
//
// It answers as Trainer's does: 200 with the parsed payload; a metav1.Status JSON object with 403
// (a wrong or missing token, or a TrainJob it does not know), 422 (a payload Trainer's CRD rules
// refuse: progressPercentage outside 0-100, a negative estimate, more than 256 metrics, a name or
// value of 0 or over 64 characters, no lastUpdatedTime) or 404 (any other path). Differences, ours:
// plain HTTP on 127.0.0.1 (Trainer's is HTTPS in the cluster), and a per-trial random token in a
// file instead of a projected service-account JWT.
//
// Each accepted update is appended to the trial's progress file as one JSON line of its numeric
// metrics ({"accuracy": 0.92, ...}; the driver's JSON collector reads it), and the whole
// trainerStatus replaces the trial's status file (what `kubectl get trainjob -o
// jsonpath='{.status.trainerStatus}'` would show).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/http.h"
#include "common/status.h"

namespace ringmaster::sweep {

class ProgressServer {
 public:
  static Result<std::unique_ptr<ProgressServer>> start();

  // What a trial's TrainJob gets, as Trainer's TrainJobStatus plugin injects it: the URL
  // (KUBEFLOW_TRAINER_SERVER_URL) and the token file (KUBEFLOW_TRAINER_SERVER_TOKEN), written
  // here, 0600, holding a fresh token. `progress_file` and `status_file` are where its updates go.
  struct Trial {
    std::string url;
    std::string token_file;
  };
  Result<Trial> add(const std::string& namespace_, const std::string& name, const std::string& token_file,
                    const std::string& progress_file, const std::string& status_file);
  // Its updates are refused from now on (403).
  void remove(const std::string& namespace_, const std::string& name);

  int port() const { return server_->port(); }

 private:
  struct Known {
    std::string token, progress_file, status_file;
  };
  HttpResponse handle(const HttpRequest& request);

  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::map<std::string, Known> trials_;  // by "namespace/name"
};

}  // namespace ringmaster::sweep
