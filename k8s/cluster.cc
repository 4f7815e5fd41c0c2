#include "k8s/cluster.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <fstream>
#include <thread>

#include "common/strings.h"
#include "k8s/render.h"

namespace ringmaster::k8s {
namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& at(const json& j, std::initializer_list<const char*> path) {
  static const json null;
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object()) return null;
    auto it = p->find(k);
    if (it == p->end()) return null;
    p = &*it;
  }
  return *p;
}

}  // namespace

Result<ClusterJob> cluster_job(const jobs::TrainingJob& job, const std::vector<YAML::Node>& objects) {
  ClusterJob c;
  c.plan.job = job.metadata.name;
  for (const auto& o : objects) {
    if (o["kind"].as<std::string>("") != "Pod") {
      c.others.push_back(o);
      continue;
    }
    const std::string name = o["metadata"]["name"].as<std::string>();
    const std::string type_label = o["metadata"]["labels"]["training.kubeflow.org/replica-type"].as<std::string>("");
    launcher::ReplicaLaunch r;
    r.name = name;
    for (const auto& spec : job.replicas)
      if (to_lower(spec.type) == type_label) {
        r.type = spec.type;
        r.restart_policy = spec.restart_policy;
      }
    if (r.type.empty())
      return internal_error(fmt::format("rendered pod {} has replica-type {:?}, which the job does not have", name,
                                        type_label));
    r.index = o["metadata"]["labels"]["training.kubeflow.org/replica-index"].as<int>(0);
    r.depends_on = job.jobset_dependencies(r.type);  // a TrainJob's steps, as `run` orders them
    c.plan.replicas.push_back(r);
    c.pods[name] = o;
  }
  if (c.plan.replicas.empty()) return invalid_argument("the rendered job has no pods to run");
  return c;
}

ClusterPods::ClusterPods(const Kubectl& kubectl, const std::string& job, std::map<std::string, YAML::Node> pods,
                         Notice notice, std::chrono::seconds grace)
    : kubectl_(kubectl), selector_(job_selector(job)), manifests_(std::move(pods)), notice_(std::move(notice)),
      grace_(grace) {}

void ClusterPods::report(Attempt& a, const std::string& reason, const std::string& message) {
  const std::string key = reason + message;
  if (a.last_state == key) return;
  a.last_state = key;
  if (notice_) notice_(reason, message);
}

Result<int> ClusterPods::start(const launcher::ProcessSpec& spec) {
  auto it = manifests_.find(spec.name);
  if (it == manifests_.end()) return internal_error(fmt::format("no rendered pod named {}", spec.name));
  if (generation_ == 0) refresh();  // a pod an earlier submit left (cleanPodPolicy None) is replaced
  bool earlier = pods_.count(spec.name) > 0;
  for (const auto& a : attempts_) earlier |= a.pod == spec.name;
  if (earlier) {
    // A restart: the operator deletes the failed pod and creates it again under the same name.
    auto del = kubectl_.call(fmt::format("deleting pod {} before its restart", spec.name),
                             {"delete", "pod", spec.name, "--ignore-not-found", "--wait=true"});
    if (!del) return del.status();
  }
  auto out = kubectl_.call(fmt::format("creating pod {}", spec.name), {"create", "-f", "-", "-o", "json"},
                           to_documents({it->second}));
  if (!out) return out.status();
  Attempt a;
  a.pod = spec.name;
  a.log_path = spec.log_path;
  a.created_at = generation_;
  const json created = json::parse(*out, nullptr, false);
  if (!created.is_discarded()) a.uid = str(at(created, {"metadata"}), "uid");
  attempts_.push_back(a);
  return static_cast<int>(attempts_.size() - 1);
}

void ClusterPods::save_logs(Attempt& a) {
  if (a.logs_saved || a.log_path.empty()) return;
  a.logs_saved = true;
  const CommandOutput r = kubectl_.run({"logs", a.pod, "--all-containers=true"});
  std::ofstream f(a.log_path, std::ios::app);
  f << r.out;
  if (!r.ok())
    f << "[ringmaster] "
      << kubectl_.failure(fmt::format("saving the log of pod {}", a.pod), {"logs", a.pod, "--all-containers=true"}, r)
      << "\n";
}

std::optional<launcher::ExitStatus> pod_exit(const json& pod) {
  const json& status = at(pod, {"status"});
  const std::string phase = str(status, "phase");
  if (phase == "Succeeded") return launcher::ExitStatus{};
  if (phase != "Failed") return std::nullopt;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = at(status, {list});
    if (!statuses.is_array()) continue;
    for (const auto& c : statuses) {
      const json& t = at(c, {"state", "terminated"});
      if (!t.is_object() || t.value("exitCode", 0) == 0) continue;
      launcher::ExitStatus e;
      const int code = t.value("exitCode", 1);
      if (code > 128 && code < 128 + 65) e.signal = code - 128;
      else e.code = code;
      std::string reason = str(t, "reason");
      if (reason == "Error") reason.clear();  // says nothing the exit code does not
      if (statuses.size() > 1 || std::string(list) == "initContainerStatuses")
        reason = fmt::format("container {}{}", str(c, "name"), reason.empty() ? "" : ": " + reason);
      e.reason = reason;
      return e;
    }
  }
  launcher::ExitStatus e;
  e.signal = SIGKILL;
  const std::string reason = str(status, "reason"), message = str(status, "message");
  e.reason = reason.empty() ? "pod failed" : reason;
  if (!message.empty()) e.reason += ": " + message;
  return e;
}

const json* ClusterPods::listed_pod(const Attempt& a) const {
  auto it = pods_.find(a.pod);
  if (it == pods_.end()) return nullptr;
  const std::string uid = str(at(it->second, {"metadata"}), "uid");
  return a.uid.empty() || uid.empty() || uid == a.uid ? &it->second : nullptr;
}

std::optional<launcher::ExitStatus> ClusterPods::poll(int handle) {
  Attempt& a = attempts_.at(static_cast<std::size_t>(handle));
  if (generation_ <= a.created_at) return std::nullopt;  // not listed since it was created
  std::optional<launcher::ExitStatus> exit;
  if (const json* pod = listed_pod(a)) exit = pod_exit(*pod);
  const bool gone = pods_.count(a.pod) == 0;
  if (!exit && gone) {
    exit = launcher::ExitStatus{};
    exit->signal = a.signal ? a.signal : SIGKILL;
    if (!a.signal) exit->reason = "the pod was deleted by someone else";
  }
  if (!exit) return std::nullopt;
  if (!gone) save_logs(a);
  return exit;
}

void ClusterPods::signal(int handle, int sig) {
  Attempt& a = attempts_.at(static_cast<std::size_t>(handle));
  if (a.signal == SIGKILL || (a.signal == sig)) return;
  if (!a.signal) save_logs(a);  // deleting the pod deletes its log
  a.signal = sig;
  std::vector<std::string> args = {"delete", "pod", a.pod, "--ignore-not-found", "--wait=false"};
  if (sig == SIGKILL) {
    args.insert(args.end(), {"--grace-period=0", "--force"});
  } else {
    args.push_back(fmt::format("--grace-period={}", std::max<int64_t>(1, grace_.count())));
  }
  auto r = kubectl_.call(fmt::format("deleting pod {}", a.pod), args);
  if (!r && notice_) notice_("KubectlFailed", r.status().message());
}

void ClusterPods::wait(std::chrono::milliseconds timeout) {
  std::this_thread::sleep_for(timeout);
  refresh();
}

void ClusterPods::refresh() {
  const std::vector<std::string> args = {"get", "pods", "-l", selector_, "-o", "json"};
  CommandOutput r = kubectl_.run(args);
  json list = r.ok() ? json::parse(r.out, nullptr, false) : json();
  if (!r.ok() || list.is_discarded() || !at(list, {"items"}).is_array()) {
    if (r.ok()) r.err = "the output is not a JSON pod list";
    const std::string message = kubectl_.failure("listing the job's pods", args, r);
    if (message != last_list_error_ && notice_) notice_("KubectlFailed", message);
    last_list_error_ = message;
    return;
  }
  last_list_error_.clear();
  pods_.clear();
  for (auto& pod : list["items"]) {
    const std::string name = str(at(pod, {"metadata"}), "name");
    pods_[name] = std::move(pod);
  }
  ++generation_;
  // What a person wants to know about pods that are not running yet.
  std::map<std::string, std::size_t> latest;  // pod -> its newest attempt
  for (std::size_t i = 0; i < attempts_.size(); ++i) latest[attempts_[i].pod] = i;
  for (auto& [name, i] : latest) {
    Attempt& a = attempts_[i];
    const json* listed = listed_pod(a);
    if (!listed || a.signal) continue;
    const json& pod = *listed;
    const json& status = at(pod, {"status"});
    const std::string phase = str(status, "phase");
    if (phase == "Running") {
      report(a, "PodRunning", fmt::format("pod {} running on node {}", name, str(at(pod, {"spec"}), "nodeName")));
      continue;
    }
    if (phase != "Pending") continue;
    if (const json& conds = at(status, {"conditions"}); conds.is_array())
      for (const auto& c : conds)
        if (str(c, "type") == "PodScheduled" && str(c, "status") == "False")
          report(a, str(c, "reason").empty() ? "Unschedulable" : str(c, "reason"),
                 fmt::format("pod {}: {}", name, str(c, "message")));
    for (const char* list_name : {"initContainerStatuses", "containerStatuses"})
      if (const json& cs = at(status, {list_name}); cs.is_array())
        for (const auto& c : cs)
          if (const json& w = at(c, {"state", "waiting"}); w.is_object() && str(w, "reason") != "ContainerCreating" &&
                                                            str(w, "reason") != "PodInitializing")
            report(a, str(w, "reason"), fmt::format("pod {}: container {}: {}", name, str(c, "name"), str(w, "message")));
  }
}

Result<ObjectState> object_state(const Kubectl& kubectl, const std::string& resource, const std::string& name) {
  auto out = kubectl.call(fmt::format("reading the state of {} {}", resource, name), {"get", resource, name, "-o", "json"});
  if (!out) return out.status();
  const json o = json::parse(*out, nullptr, false);
  if (o.is_discarded())
    return Status(StatusCode::kDataLoss, fmt::format("reading the state of {} {}: kubectl printed no JSON", resource, name));
  ObjectState s;
  if (const json& conds = at(o, {"status", "conditions"}); conds.is_array())
    for (const auto& c : conds) {
      if (str(c, "status") != "True") continue;
      std::string type = str(c, "type");
      if (type == "Complete" || type == "Completed") type = "Succeeded";  // batch/v1 Job and TrainJob; JobSet
      s.conditions.push_back(type);
      s.phase = type;
      s.reason = str(c, "reason");
      s.message = str(c, "message");
    }
  // A Job's Failed and Complete are final whatever came after (e.g. SuccessCriteriaMet).
  for (const char* final_type : {"Failed", "Succeeded"})
    for (const auto& t : s.conditions)
      if (t == final_type) s.phase = t;
  if (const json& rs = at(o, {"status", "replicaStatuses"}); rs.is_object())
    for (const auto& [type, c] : rs.items())
      s.replicas[type] = {c.value("active", 0), c.value("succeeded", 0), c.value("failed", 0)};
  return s;
}

}  // namespace ringmaster::k8s
