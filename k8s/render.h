// `ringmaster render`: a job as the plain Kubernetes objects the Kubeflow operators would create,
// so that a cluster without the training operator runs it (`--mode crd` prints the normalized
// Kubeflow object instead, for clusters that have it).
//
//   TFJob, PyTorchJob  one Pod and one headless Service per replica, both "<job>-<type>-<index>";
//                      TF_CONFIG with "<job>-<type>-<i>.<ns>.svc:2222" addresses, or MASTER_ADDR
//                      "<job>-master-0", MASTER_PORT 23456, WORLD_SIZE, RANK and the PET_* copies
//   MPIJob (v2beta1)   worker Pods with hostname/subdomain under one headless Service "<job>", the
//                      launcher as a batch/v1 Job "<job>-launcher", the ConfigMap "<job>-config"
//                      (hostfile of "<job>-worker-<i>.<job>.<ns>.svc slots=<n>" lines and
//                      discover_hosts.sh) at /etc/mpi, and the ssh Secret "<job>-ssh" at
//                      sshAuthMountPath
//   batch/v1 Job       the Job itself, with the token and labels added
//   TrainJob           (resolved, jobs/trainer.h) the Pods JobSet's child Jobs make, each
//                      "<job>-<replicatedJob>-<job index>-<completion index>" with that hostname
//                      under the headless Service "<subdomain>" (default the job's name), JobSet's
//                      and the Job controller's labels and the completion-index annotation; on the
//                      mpi runtime the Secret "<job>-mpi-ssh-auth" and the ConfigMap
//                      "<job>-mpi-hostfile" (Trainer v2.3's mpi plugin). dependsOn and the other
//                      JobSet policies are `submit`'s to carry out: applied as they are, every pod
//                      starts at once
//
// Every object carries the Kubeflow labels (training.kubeflow.org/job-name, replica-type,
// replica-index, job-role) and app.kubernetes.io/managed-by=ringmaster, so one label selector
// finds all of a job's objects. Every replica gets RINGMASTER_JOB_NAME and RINGMASTER_JOB_TOKEN
// (from the Secret "<job>-token"). restartPolicy is mapped as the operators map it (ExitCode ->
// Never: the exit code is judged outside the pod). With runPolicy.schedulingPolicy, a Volcano
// PodGroup "<job>" (minMember, queue, priorityClassName, minResources) and schedulerName: volcano,
// or the scheduler-plugins PodGroup (RenderOptions::gang_scheduler). Fractional GPUs
// (ringmaster.io/gpu-fraction) become the device plugin's shared-GPU resource (time-slicing/MPS).
// Names longer than 63 characters are cut and end in a hash of the whole name.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"
#include "jobs/operator_env.h"

namespace ringmaster::k8s {

struct RenderOptions {
  std::string token;            // the job token; empty: 32 random hex digits
  std::string ssh_private_key;  // MPIJob: an OpenSSH private key; empty: made with ssh-keygen
  std::string ssh_public_key;
  // For `submit` (cluster.h), which carries out the restart policy itself: every pod gets
  // restartPolicy Never, and an MPIJob's launcher is a bare Pod "<job>-launcher", not a Job.
  bool client_side = false;
  // Gang scheduling (runPolicy.schedulingPolicy): "volcano" (a scheduling.volcano.sh/v1beta1
  // PodGroup, pods annotated scheduling.k8s.io/group-name) or "scheduler-plugins" (the coscheduling
  // plugin's scheduling.x-k8s.io/v1alpha1 PodGroup with scheduleTimeoutSeconds, pods labelled
  // scheduling.x-k8s.io/pod-group). scheduler_name: the pods' schedulerName; empty: "volcano" or
  // "scheduler-plugins-scheduler" (the name the scheduler-plugins chart installs its scheduler as).
  std::string gang_scheduler = "volcano";
  std::string scheduler_name;
  // A replica annotated ringmaster.io/gpu-fraction: "F" asks for one slot of a shared GPU from the
  // NVIDIA device plugin: `gpu_shared_resource: 1` (the plugin's renamed resource, with
  // renameByDefault: true) and a nodeSelector nvidia.com/gpu.sharing-strategy: <gpu_sharing>
  // (GPU feature discovery's label) unless the pod selects it itself. With "mps" the primary
  // container also gets CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = round(F x 100), as locally;
  // "time-slicing" promises no share.
  std::string gpu_sharing = "mps";
  std::string gpu_shared_resource = "nvidia.com/gpu.shared";
};

// Reads an OpenSSH private key and FILE.pub beside it into `options` (`--ssh-key FILE`); an
// empty path leaves them empty (a new key is made).
Status load_ssh_key(const std::string& path, RenderOptions& options);

// Receives rendered objects one at a time.
using ObjectSink = std::function<void(YAML::Node)>;
// The objects, in the order `kubectl apply` should see them (Secrets and ConfigMaps first), each
// handed to `sink` as soon as it is built: memory stays that of one object however large the job.
// Fails before emitting anything on bad options.
Status render_job(const jobs::TrainingJob& job, const RenderOptions& options, const ObjectSink& sink);
// The same objects collected.
Result<std::vector<YAML::Node>> render_job(const jobs::TrainingJob& job, const RenderOptions& options);

// `render --mode jobset`: the JobSet Trainer creates for a TrainJob (`jobset`, its resolution by
// jobs::resolve_trainjob), with what a cluster running the JobSet controller and no Trainer needs
// beside it: on the mpi runtime Trainer's ssh Secret and hostfile ConfigMap; for an elastic
// TrainJob of ringmaster workers the job token Secret and ringmaster's rendezvous Pod and Service,
// the trainer nodes pointed at it (PET_RDZV_ENDPOINT) and given the token.
Status render_jobset(const jobs::TrainingJob& job, YAML::Node jobset, const RenderOptions& options, const ObjectSink& sink);

// "---"-separated YAML documents.
std::string to_documents(const std::vector<YAML::Node>& objects);

// The DNS-1123 label rule, one for pods, Services and local processes (jobs/operator_env.h).
using jobs::dns_label;

}  // namespace ringmaster::k8s
