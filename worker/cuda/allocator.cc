#include "worker/cuda/allocator.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "worker/cuda/check.h"

namespace ringmaster::worker::cuda {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (owner_ != nullptr && ptr_ != nullptr) owner_->release(ptr_);
  owner_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

std::size_t DeviceAllocator::round_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = 2u << 20, kSmallLimit = 1u << 20;
  if (bytes <= kSmallLimit) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard lock(mu_);
  cudaSetDevice(device_);
  for (auto& [size, ptr] : free_) cudaFree(ptr);
  // Blocks still handed out are owned by DeviceBuffers that outlive us: a bug, but freeing them
  // here would turn it into a use after free on the device.
  free_.clear();
}

Result<DeviceBuffer> DeviceAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return invalid_argument("DeviceAllocator::allocate: 0 bytes");
  const std::size_t size = round_size(bytes);
  std::lock_guard lock(mu_);
  auto it = free_.lower_bound(size);
  void* ptr = nullptr;
  std::size_t block = size;
  if (it != free_.end() && it->first <= 2 * size) {
    block = it->first;
    ptr = it->second;
    free_.erase(it);
    ++stats_.cache_hits;
  } else {
    cudaError_t e = cudaMalloc(&ptr, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the sticky-free allocation error, then try with the cache given back
      if (Status s = free_cached_locked(); !s) return s;
      e = cudaMalloc(&ptr, size);
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      std::size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      return Status(StatusCode::kUnavailable,
                    fmt::format("cudaMalloc of {:.1f} MiB on GPU {} failed ({}): {:.1f} of {:.1f} MiB free, {:.1f} MiB "
                                "held by this process",
                                static_cast<double>(size) / (1 << 20), device_, cudaGetErrorString(e),
                                static_cast<double>(free_b) / (1 << 20), static_cast<double>(total_b) / (1 << 20),
                                static_cast<double>(stats_.reserved_bytes) / (1 << 20)));
    }
    ++stats_.device_mallocs;
    stats_.reserved_bytes += size;
  }
  in_use_[ptr] = block;
  stats_.in_use_bytes += block;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return DeviceBuffer(this, ptr, bytes);
}

void DeviceAllocator::release(void* ptr) {
  std::lock_guard lock(mu_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) return;
  stats_.in_use_bytes -= it->second;
  free_.emplace(it->second, ptr);
  in_use_.erase(it);
}

Status DeviceAllocator::free_cached_locked() {
  for (auto& [size, ptr] : free_) {
    RM_CUDA_TRY(cudaFree(ptr));
    stats_.reserved_bytes -= size;
  }
  free_.clear();
  return Status::ok();
}

Status DeviceAllocator::empty_cache() {
  std::lock_guard lock(mu_);
  RM_CUDA_TRY(cudaSetDevice(device_));
  return free_cached_locked();
}

DeviceAllocator::Stats DeviceAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ringmaster::worker::cuda
