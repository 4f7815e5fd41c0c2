#include "launcher/devices.h"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

#include "common/subprocess.h"
#include "common/strings.h"

namespace ringmaster::launcher {
namespace {

}  // namespace

std::vector<Gpu> parse_nvidia_smi(const std::string& csv) {
  std::vector<Gpu> out;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    auto fields = split(line, ',');
    if (fields.size() < 4) continue;
    Gpu g;
    const auto index = parse_int<int>(trim(fields[0]));
    const auto memory = parse_int<int64_t>(trim(fields[3]));
    if (!index || !memory) continue;  // a line nvidia-smi did not mean as a GPU
    g.index = *index;
    g.uuid = trim(fields[1]);
    g.name = trim(fields[2]);
    g.memory_mib = *memory;
    out.push_back(g);
  }
  return out;
}

std::vector<Gpu> detect_gpus() {
  // Without the NVIDIA driver there is no GPU to ask nvidia-smi about (and a shell saved per run).
  if (::access("/dev/nvidiactl", F_OK) != 0 && ::access("/proc/driver/nvidia", F_OK) != 0) return {};
  CommandSpec nvidia_smi;
  nvidia_smi.argv = {"nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"};
  nvidia_smi.stderr_mode = CommandSpec::Stderr::kDiscard;
  auto r = run_command(nvidia_smi);
  if (!r || !r->ok()) return {};
  return parse_nvidia_smi(r->out);
}

Result<std::vector<GpuAssignment>> place_gpus(const std::vector<GpuRequest>& requests, const std::vector<Gpu>& gpus) {
  std::vector<GpuAssignment> out(requests.size());
  std::vector<bool> exclusive(gpus.size(), false);
  std::vector<double> shared(gpus.size(), 0.0);
  // Whole GPUs first, in request order.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const GpuRequest& r = requests[i];
    if (r.whole > 0 && r.fraction > 0)
      return invalid_argument(fmt::format("replica {}: asks for {} whole GPUs and a {} GPU fraction; give one or the "
                                          "other",
                                          r.replica, r.whole, r.fraction));
    for (int k = 0; k < r.whole; ++k) {
      auto free = std::find(exclusive.begin(), exclusive.end(), false);
      if (free == exclusive.end()) {
        const int wanted = std::accumulate(requests.begin(), requests.end(), 0,
                                           [](int a, const GpuRequest& q) { return a + q.whole; });
        return Status(StatusCode::kFailedPrecondition,
                      fmt::format("replica {} needs {} GPU(s) but none is left: the job asks for {} whole GPUs and "
                                  "this machine has {}",
                                  r.replica, r.whole, wanted, gpus.size()));
      }
      *free = true;
      out[i].devices.push_back(static_cast<int>(free - exclusive.begin()));
    }
  }
  // Fractions: largest first, first fit on GPUs nobody holds whole.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (requests[i].fraction > 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return requests[a].fraction > requests[b].fraction; });
  for (std::size_t i : order) {
    const GpuRequest& r = requests[i];
    if (!(r.fraction > 0 && r.fraction < 1))
      return invalid_argument(fmt::format("replica {}: ringmaster.io/gpu-fraction must be in (0, 1), found {}",
                                          r.replica, r.fraction));
    std::size_t g = 0;
    while (g < gpus.size() && (exclusive[g] || shared[g] + r.fraction > 1.0 + 1e-9)) ++g;
    if (g == gpus.size())
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("replica {} needs {} of a GPU but no GPU has that much left ({} GPU(s), {} held "
                                "whole)",
                                r.replica, r.fraction, gpus.size(), std::count(exclusive.begin(), exclusive.end(), true)));
    shared[g] += r.fraction;
    out[i].devices.push_back(static_cast<int>(g));
    out[i].mps_percentage = static_cast<int>(std::lround(r.fraction * 100));
  }
  return out;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}


std::string cpu_list_string(const std::vector<int>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? std::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

CpuPlacement place_cpus(const std::vector<CpuRequest>& requests, const std::vector<int>& allowed) {
  CpuPlacement out;
  out.cpus.resize(requests.size());
  auto whole_cores = [](const CpuRequest& r) { return static_cast<int>(std::ceil(r.cores - 1e-9)); };
  int wanted = 0;
  bool any = false;
  for (const auto& r : requests) {
    wanted += whole_cores(r);
    any |= r.cores > 0;
  }
  if (!any) return out;
  if (wanted > static_cast<int>(allowed.size())) {
    out.note = fmt::format("the cpu limits add up to {} cores but this machine gives {}: no replica is pinned", wanted,
                           allowed.size());
    return out;
  }
  std::size_t next = 0;
  for (std::size_t i = 0; i < requests.size(); ++i)
    for (int k = 0; k < whole_cores(requests[i]); ++k) out.cpus[i].push_back(allowed[next++]);
  const std::vector<int> shared(allowed.begin() + static_cast<std::ptrdiff_t>(next), allowed.end());
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (requests[i].cores <= 0) out.cpus[i] = shared.empty() ? allowed : shared;
  return out;
}

}  // namespace ringmaster::launcher
