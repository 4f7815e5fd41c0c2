// GPUs for local replicas, as the NVIDIA device plugin gives them to pods, plus fractional sharing.
//
//   resources.limits["nvidia.com/gpu"]: N          N whole GPUs, exclusively (CUDA_VISIBLE_DEVICES)
//   annotation ringmaster.io/gpu-fraction: "0.25"  a share of one GPU (seeds 001/002): replicas are
//                                                  packed onto GPUs no whole-GPU replica holds
//                                                  (first fit, largest first), each with
//                                                  CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = share x 100
//   neither                                        no GPU (CUDA_VISIBLE_DEVICES=""), as in a pod
// Placement refuses clearly what does not fit.
//
// CPUs, as the kubelet's static CPU manager gives them to pods with whole-core limits:
//   resources.limits.cpu: "2" | "1.5" | "500m"    ceil(limit) cores of its own (sched_setaffinity)
//   no cpu limit                                  the cores nobody holds (the shared pool), or all
//                                                 of them when the limits took every core
// When the limits add up to more cores than this process may use, nothing is pinned (a scheduler
// would not have put those pods on one node) and the placement says why.
// Pure functions except detect_gpus() and allowed_cpus(); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/strings.h"

namespace ringmaster::launcher {

struct Gpu {
  int index = 0;
  std::string uuid;
  std::string name;
  int64_t memory_mib = 0;
};

// The GPUs nvidia-smi reports; none when the driver, nvidia-smi or a device is missing.
std::vector<Gpu> detect_gpus();
// Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`.
std::vector<Gpu> parse_nvidia_smi(const std::string& csv);

struct GpuRequest {
  std::string replica;  // for messages
  int whole = 0;        // nvidia.com/gpu
  double fraction = 0;  // ringmaster.io/gpu-fraction, in (0, 1)
};

struct GpuAssignment {
  std::vector<int> devices;             // indices into the machine's GPUs
  std::optional<int> mps_percentage;    // for fractions
};

// One assignment per request, in order. Fails with kFailedPrecondition naming the replica, what
// it asked for and what was left.
Result<std::vector<GpuAssignment>> place_gpus(const std::vector<GpuRequest>& requests, const std::vector<Gpu>& gpus);

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> allowed_cpus();
using ringmaster::parse_cpu_quantity;  // common/strings.h
// "0-3,6" for {0,1,2,3,6}.
std::string cpu_list_string(const std::vector<int>& cpus);

struct CpuRequest {
  std::string replica;  // for messages
  double cores = 0;     // resources.limits.cpu; 0: none
};

struct CpuPlacement {
  std::vector<std::vector<int>> cpus;  // per request, in order; empty: not pinned
  std::string note;                    // why nothing was pinned, when so
};

CpuPlacement place_cpus(const std::vector<CpuRequest>& requests, const std::vector<int>& allowed);

}  // namespace ringmaster::launcher
