// Running a rendered job on a cluster from the client side (`ringmaster submit`): the pods are the
// replicas, and the local launcher's JobRunner (launcher/runner.h) carries out restartPolicy,
// backoffLimit, activeDeadlineSeconds and cleanPodPolicy on them exactly as it does on processes,
// so a job reports the same conditions on a cluster as on a laptop.
//
//   ClusterPods   a launcher::Processes whose processes are pods: start = `kubectl create` of the
//                 replica's rendered Pod (after deleting a pod of the same name, the previous
//                 attempt's or one an earlier run left, as the operator does for a restart); poll = the pod's phase and its
//                 containers' terminated state (exit code, reason such as OOMKilled) from one
//                 `kubectl get pods -l <job selector> -o json` per wait(); signal = `kubectl delete
//                 pod` (SIGTERM: with the grace period; SIGKILL: --grace-period=0 --force). An
//                 attempt's pod is told apart from an older one of the same name by its uid. Each
//                 ended attempt's log is saved with `kubectl logs` to the attempt's log file first,
//                 since a restart deletes the pod. Pods waiting to be scheduled or for their image
//                 are reported as notices (Unschedulable, ErrImagePull, ...), once per message;
//                 they fail only by the job's activeDeadlineSeconds, as with the operator.
//   ObjectState   the phase of an object some controller runs (`--mode crd`: the TFJob,
//                 PyTorchJob or MPIJob under the training operator, a TrainJob under Trainer;
//                 `--mode jobset`: a JobSet under its controller; a batch/v1 Job under the Job
//                 controller), read from its status.conditions (Complete and Completed read as
//                 Succeeded).
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobs/model.h"
#include "k8s/kubectl.h"
#include "launcher/plan.h"
#include "launcher/process.h"
#include "launcher/runner.h"

namespace ringmaster::k8s {

// A rendered job (render_job with client_side) split for submit: the replicas as a launcher plan
// (one per Pod, in the rendered order), their Pods by name, and everything else (Secrets,
// ConfigMap, Services, PodGroup), which is applied before any pod starts.
struct ClusterJob {
  launcher::JobPlan plan;
  std::map<std::string, YAML::Node> pods;
  std::vector<YAML::Node> others;
};
Result<ClusterJob> cluster_job(const jobs::TrainingJob& job, const std::vector<YAML::Node>& objects);

using Notice = std::function<void(const std::string& reason, const std::string& message)>;

class ClusterPods : public launcher::Processes {
 public:
  ClusterPods(const Kubectl& kubectl, const std::string& job, std::map<std::string, YAML::Node> pods, Notice notice,
              std::chrono::seconds grace);
  Result<int> start(const launcher::ProcessSpec& spec) override;
  std::optional<launcher::ExitStatus> poll(int handle) override;
  void signal(int handle, int sig) override;
  // Sleeps `timeout`, then lists the job's pods once (a failed listing is a notice; the last good
  // one is kept).
  void wait(std::chrono::milliseconds timeout) override;

 private:
  struct Attempt {
    std::string pod, uid, log_path;
    uint64_t created_at = 0;  // the listing generation when it was created
    int signal = 0;           // the deletion we asked for, if any
    bool logs_saved = false;
    std::string last_state;   // what was last reported of it
  };
  void refresh();
  // The listed pod when it is this attempt's (an older pod of the same name is not); else null.
  const nlohmann::json* listed_pod(const Attempt& a) const;
  void save_logs(Attempt& a);
  void report(Attempt& a, const std::string& reason, const std::string& message);

  const Kubectl& kubectl_;
  std::string selector_;
  std::map<std::string, YAML::Node> manifests_;
  Notice notice_;
  std::chrono::seconds grace_;
  std::vector<Attempt> attempts_;
  std::map<std::string, nlohmann::json> pods_;  // name -> the pod, from the last listing
  uint64_t generation_ = 0;                       // successful listings so far
  std::string last_list_error_;
};

// How a pod ended, from its JSON (nullopt while it has not): Succeeded is exit 0; Failed is the
// first container that terminated non-zero (exit codes above 128 as the signal 128 + n), else the
// pod's own reason (Evicted, DeadlineExceeded) as a SIGKILL.
std::optional<launcher::ExitStatus> pod_exit(const nlohmann::json& pod);

struct ObjectState {
  std::string phase;  // the newest condition with status True: Created, Running, Restarting, Suspended,
                      // Succeeded, Failed (a batch Job's Complete reads as Succeeded); "" before any
  std::string reason, message;
  std::vector<std::string> conditions;  // the types of every True condition, oldest first
  std::map<std::string, launcher::ReplicaCounts> replicas;  // status.replicaStatuses (active/succeeded/failed)
};
// `kubectl get <resource> <name> -o json`, read.
Result<ObjectState> object_state(const Kubectl& kubectl, const std::string& resource, const std::string& name);

}  // namespace ringmaster::k8s
