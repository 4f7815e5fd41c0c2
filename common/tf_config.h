// TF_CONFIG as the training operator sets it for a TFJob replica:
//   {"cluster": {"chief": ["h:p"], "worker": ["h:p", ...], "ps": [...]}, "task": {"type": "worker", "index": 1}}
// Read by allreduce training (factory.h), parameter-server workers (ps/client.h) and servers
// (`ringmaster ps`), which agree on one thing: the training processes are the chief (or master)
// first, then the workers.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ringmaster {

struct TfConfig {
  std::map<std::string, std::vector<std::string>> cluster;  // replica type -> host:port by index
  std::string type;  // task.type
  int index = 0;     // task.index

  // host:port of every training process in rank order: chief, master, then workers.
  std::vector<std::string> training_members() const;
  // This task's rank among them. REQUIRES: type is chief, master or worker.
  int training_rank() const;
  bool is_training_task() const { return type == "chief" || type == "master" || type == "worker"; }
};

// Fails (kInvalidArgument, "environment variable TF_CONFIG: ...") for text that is not that shape:
// unparsable JSON, no task.type, a cluster entry that is not a list of host:port strings.
Result<TfConfig> parse_tf_config(std::string_view text);

}  // namespace ringmaster
