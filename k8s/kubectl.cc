#include "k8s/kubectl.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "k8s/render.h"

namespace ringmaster::k8s {

std::vector<std::string> Kubectl::argv(const std::vector<std::string>& args) const {
  std::vector<std::string> a = {config_.binary};
  if (!config_.context.empty()) a.insert(a.end(), {"--context", config_.context});
  a.insert(a.end(), {"--namespace", config_.ns});
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

std::string Kubectl::command_line(const std::vector<std::string>& args) const {
  std::string s;
  for (const auto& a : argv(args)) {
    if (!s.empty()) s += ' ';
    s += a.find_first_of(" \t'\"$") == std::string::npos && !a.empty() ? a : quote(a);
  }
  return s;
}

CommandOutput Kubectl::run(const std::vector<std::string>& args, const std::string& input) const {
  auto r = run_command({argv(args), {}, input, CommandSpec::Stderr::kCapture});
  if (r) return *r;
  return {127, "", r.status().message()};
}

int Kubectl::stream(const std::vector<std::string>& args) const {
  CommandSpec spec{argv(args), {}, "", CommandSpec::Stderr::kInherit};
  spec.inherit_stdout = true;
  auto r = run_command(spec);
  return r ? r->exit_code : 127;
}

Result<std::string> Kubectl::call(const std::string& doing, const std::vector<std::string>& args,
                                  const std::string& input) const {
  CommandOutput r = run(args, input);
  if (r.ok()) return r.out;
  return Status(StatusCode::kUnavailable, failure(doing, args, r));
}

std::string Kubectl::failure(const std::string& doing, const std::vector<std::string>& args,
                             const CommandOutput& r) const {
  std::string err = r.err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  return fmt::format("{}: `{}` exited with {}:\n{}", doing, command_line(args), r.exit_code, err);
}

std::string job_selector(const std::string& job) {
  return fmt::format("training.kubeflow.org/job-name={},app.kubernetes.io/managed-by=ringmaster", dns_label(job));
}

}  // namespace ringmaster::k8s
