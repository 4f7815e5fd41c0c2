// What the train loop needs from a parameter server (--strategy ps), without knowing how it is
// reached: ps/client.h implements it over gRPC. The servers own the parameters and apply the
// optimizer; a worker computes gradients on the parameters it last received.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "worker/model.h"
#include "worker/optimizer.h"

namespace ringmaster::worker {

class ParameterService {
 public:
  virtual ~ParameterService() = default;
  virtual int worker() const = 0;   // this worker's index, 0 .. workers()-1; 0 evaluates and checkpoints
  virtual int workers() const = 0;  // training workers in the job
  virtual std::string describe() const = 0;  // e.g. "2 parameter servers, async"
  // Registers this worker and the model's layout with every server. Where a server holds no
  // parameters yet, `params` seed it (the first worker to arrive wins); then `params` are
  // replaced by the servers' values. Returns the steps this worker had already pushed (its
  // position when it was restarted; 0 for a fresh job).
  virtual Result<int64_t> start(std::span<float> params, std::span<const ParamInfo> tensors,
                                const OptimizerConfig& optimizer) = 0;
  // Sends the gradients of this worker's step `step` (0-based, applied with learning rate lr on
  // the servers) and receives the parameters to use next, as the mode allows (sync: after the
  // step is applied; ssp: within the staleness bound).
  virtual Status push_pull(std::span<const float> grads, float lr, int64_t step, std::span<float> params) = 0;
};

}  // namespace ringmaster::worker
