// `ringmaster render JOB.yaml [-o DIR] [--mode pods|crd|jobset]`: the job as Kubernetes objects (k8s/render.h).
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "common/files.h"
#include "jobs/emit.h"
#include "jobs/loader.h"
#include "k8s/render.h"

namespace ringmaster::cli {
namespace fs = std::filesystem;

void add_cluster_flags(CLI::App* cmd, ClusterFlags& f) {
  cmd->add_option("--gang-scheduler", f.gang_scheduler,
                  "with runPolicy.schedulingPolicy: a Volcano PodGroup, or the scheduler-plugins (coscheduling) one")
      ->check(CLI::IsMember({"volcano", "scheduler-plugins"}))
      ->capture_default_str();
  cmd->add_option("--scheduler-name", f.scheduler_name,
                  "the pods' schedulerName under gang scheduling (default: volcano, or scheduler-plugins-scheduler)");
  cmd->add_option("--gpu-sharing", f.gpu_sharing,
                  "how replicas annotated ringmaster.io/gpu-fraction share a GPU: the device plugin's mps (with "
                  "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE) or time-slicing")
      ->check(CLI::IsMember({"mps", "time-slicing"}))
      ->capture_default_str();
  cmd->add_option("--gpu-shared-resource", f.gpu_shared_resource,
                  "the device plugin's shared-GPU resource name (renameByDefault: true gives nvidia.com/gpu.shared)")
      ->capture_default_str();
}

void apply_cluster_flags(const ClusterFlags& f, k8s::RenderOptions& o) {
  o.gang_scheduler = f.gang_scheduler;
  o.scheduler_name = f.scheduler_name;
  o.gpu_sharing = f.gpu_sharing;
  o.gpu_shared_resource = f.gpu_shared_resource;
}

void add_render_command(CLI::App& app, RenderOptions& o) {
  auto* cmd = app.add_subcommand(
      "render",
      "Print a job as the Kubernetes objects the Kubeflow operators would create (Pods, Services, ConfigMap, "
      "Secrets, the MPIJob launcher Job), or with --mode crd the normalized Kubeflow object");
  cmd->add_option("file", o.file, "a TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob or batch/v1 Job (a Katib Experiment or Trainer OptimizationJob with --mode crd, a Trainer v2 TrainJob in any mode)")->required();
  cmd->add_option("-o,--output-dir", o.output_dir, "write <job>.yaml there instead of printing");
  cmd->add_option("--mode", o.mode,
                  "pods: plain objects; crd: the Kubeflow object for a cluster with the operator; jobset: a Trainer v2 "
                  "TrainJob as the JobSet Trainer creates (for a cluster with the JobSet controller)")
      ->check(CLI::IsMember({"pods", "crd", "jobset"}))
      ->capture_default_str();
  cmd->add_option("--token", o.token, "the job token to put in the Secret (default: random)");
  cmd->add_option("--ssh-key", o.ssh_key, "MPIJob: an OpenSSH private key (FILE.pub beside it) instead of a new one");
  add_cluster_flags(cmd, o.cluster);
  add_max_replicas_flag(cmd, o.max_replicas);
  add_runtimes_flag(cmd, o.runtime_dirs);
}

void add_max_replicas_flag(CLI::App* cmd, std::size_t& max_replicas) {
  cmd->add_option("--max-replicas", max_replicas, "refuse jobs with more replicas than this (per type and in all)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
}

int run_render(const RenderOptions& o) {
  jobs::LoadOptions lo;
  lo.max_replicas = o.max_replicas;
  jobs::LoadResult r = jobs::load_file(o.file, lo);
  for (const auto& d : r.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
  if (!r.ok()) return 2;
  k8s::RenderOptions ro;
  ro.token = o.token;
  apply_cluster_flags(o.cluster, ro);
  if (Status s = k8s::load_ssh_key(o.ssh_key, ro); !s) {
    std::cerr << "ringmaster render: " << s.message() << "\n";
    return 2;
  }
  // Streamed: each object is printed (or appended to the file) as soon as it is rendered, so a
  // large job's output starts at once and memory stays that of one object.
  std::optional<AtomicFile> file;
  std::string path;
  if (!o.output_dir.empty()) {
    std::string name = "job";
    if (!r.documents.empty()) name = r.documents[0].normalized["metadata"]["name"].as<std::string>("job");
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    path = (fs::path(o.output_dir) / (name + ".yaml")).string();
    auto f = AtomicFile::create(path);
    if (!f) {
      std::cerr << "ringmaster render: " << f.status().message() << "\n";
      return 1;
    }
    file.emplace(std::move(*f));
  }
  Status written = Status::ok();
  auto emit = [&](const std::string& text) {
    if (!written) return;
    if (file)
      written = file->append(text);
    else if (!(std::cout << text))
      written = Status(StatusCode::kUnavailable, "writing to standard output failed");
  };
  for (const auto& doc : r.documents) {
    if (o.mode == "crd") {
      emit("---\n" + jobs::to_yaml(doc.normalized));
    } else if (const auto* tj = std::get_if<jobs::TrainJob>(&doc.object)) {
      // --mode jobset: the JobSet Trainer creates, for a cluster with the JobSet controller and no
      // Trainer; --mode pods: the objects JobSet and its Jobs would make (k8s/render.h). Its
      // runtime from this file or the built-in ones (jobs/trainer.h).
      std::vector<std::string> problems;
      auto resolved = jobs::resolve_trainjob(*tj, jobs::collect_runtimes(r.documents, o.runtime_dirs, problems));
      for (const auto& p : problems) std::cerr << p << "\n";
      auto job = resolved ? jobs::trainjob_as_job(*tj, *resolved) : Result<jobs::TrainingJob>(resolved.status());
      if (!job) {
        std::cerr << "ringmaster render: " << doc.file << ": TrainJob " << tj->metadata.name << ": "
                  << job.status().message() << "\n";
        return 2;
      }
      if (o.mode == "jobset") {
        // The JobSet, after what it needs beside it (k8s/render.h render_jobset).
        Status s = k8s::render_jobset(*job, resolved->jobset, ro, [&](YAML::Node object) { emit(k8s::to_documents({object})); });
        if (!s) {
          std::cerr << "ringmaster render: " << doc.file << ": TrainJob " << tj->metadata.name << ": " << s.message() << "\n";
          return 1;
        }
        if (resolved->pod_group.IsDefined() && !resolved->pod_group.IsNull())
          emit("---\n" + jobs::to_yaml(resolved->pod_group));  // Trainer makes it beside the JobSet
        continue;
      }
      for (const auto& spec : job->replicas)
        if (!job->jobset_dependencies(spec.type).empty()) {
          std::cerr << "ringmaster render: note: TrainJob " << tj->metadata.name << ": replicatedJob " << spec.type
                    << " waits for " << job->jobset_dependencies(spec.type).front().first
                    << " (dependsOn / startupPolicy), which plain pods cannot express: `kubectl apply` starts every "
                       "pod at once; `ringmaster submit` (pods mode) or --mode jobset keeps the order\n";
          break;
        }
      Status s = k8s::render_job(*job, ro, [&](YAML::Node object) { emit(k8s::to_documents({object})); });
      if (!s) {
        std::cerr << "ringmaster render: " << doc.file << ": TrainJob " << tj->metadata.name << ": " << s.message() << "\n";
        return 1;
      }
    } else if (std::holds_alternative<jobs::TrainingRuntime>(doc.object)) {
      continue;  // used by the TrainJobs beside it
    } else if (o.mode == "jobset") {
      std::cerr << "ringmaster render: " << doc.file << ": --mode jobset renders Trainer v2 TrainJobs; this is a "
                << doc.kind << "\n";
      return 2;
    } else if (const auto* job = std::get_if<jobs::TrainingJob>(&doc.object)) {
      Status s = k8s::render_job(*job, ro, [&](YAML::Node object) { emit(k8s::to_documents({object})); });
      if (!s) {
        std::cerr << "ringmaster render: " << doc.file << ": " << job->metadata.name << ": " << s.message() << "\n";
        return 1;
      }
    } else {
      std::cerr << "ringmaster render: " << doc.file << ": "
                << (doc.kind == "OptimizationJob" ? "an OptimizationJob needs Kubeflow Trainer's OptimizationJob controller"
                                                  : "a Katib Experiment needs Katib")
                << " on the cluster: render it with --mode crd, or run it here with `ringmaster sweep`\n";
      return 2;
    }
  }
  if (written && file) written = file->commit();
  if (!written) {
    std::cerr << "ringmaster render: " << written.message() << "\n";
    return 1;
  }
  if (file) std::cout << path << "\n";
  return 0;
}

}  // namespace ringmaster::cli
