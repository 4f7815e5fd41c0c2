// Kubectl: how ringmaster talks to a cluster. Every call is the kubectl binary itself (so the
// user's kubeconfig, credentials plugins and proxies all work as they do for them), with the
// context and namespace chosen once. Nothing here parses kubeconfig or speaks to the API server.
// Thread-compatible (const methods only run commands).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"

namespace ringmaster::k8s {

struct KubectlConfig {
  std::string binary = "kubectl";  // a path, or a name looked up in PATH
  std::string context;             // empty: kubeconfig's current context
  std::string ns = "default";
};

class Kubectl {
 public:
  explicit Kubectl(KubectlConfig config) : config_(std::move(config)) {}
  const KubectlConfig& config() const { return config_; }

  // `binary [--context C] --namespace NS args...` with `input` on stdin. A binary that cannot be
  // run exits 127 with the reason in `err`.
  CommandOutput run(const std::vector<std::string>& args, const std::string& input = "") const;

  // The same with kubectl's stdout and stderr going straight to ours (`logs --follow`); returns
  // its exit status.
  int stream(const std::vector<std::string>& args) const;

  // The same, for a call that must succeed. A non-zero exit is an error whose message says what
  // we were doing, the command line, and kubectl's own stderr verbatim:
  //   "<doing>: `kubectl --namespace team-a apply -f -` exited with 1:\n<stderr>"
  Result<std::string> call(const std::string& doing, const std::vector<std::string>& args,
                           const std::string& input = "") const;

  // What `call` says of a call that failed, for callers that need the output whatever happens:
  // "<doing>: `<command line>` exited with N:\n<kubectl's stderr, without its last newline>".
  std::string failure(const std::string& doing, const std::vector<std::string>& args, const CommandOutput& r) const;

  // The command line as a person would type it (for messages).
  std::string command_line(const std::vector<std::string>& args) const;

 private:
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
  KubectlConfig config_;
};

// The label selector that finds every object ringmaster rendered for `job` (k8s/render.h):
// "training.kubeflow.org/job-name=<job>,app.kubernetes.io/managed-by=ringmaster".
std::string job_selector(const std::string& job);

}  // namespace ringmaster::k8s
