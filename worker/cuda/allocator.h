// A caching allocator for device memory, as PyTorch's: cudaMalloc is slow and synchronizes the
// device, so freed blocks are kept in size-ordered free lists and handed out again; memory goes
// back to the driver only in empty_cache() or the destructor.
//
// Sizes are rounded up to 512 bytes (below 1 MiB) or 2 MiB (above), and a request takes the
// smallest cached block that fits and is at most twice its size. Blocks are not split. Every block
// belongs to one stream's order (the engine uses one compute stream), so a block released while
// kernels still read it can be reused by later work on that stream without a synchronization.
//
//   DeviceAllocator alloc(0);
//   auto buf = alloc.allocate(bytes);   // Result<DeviceBuffer>, released when it goes out of scope
//
// Thread-safe (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "common/status.h"

namespace ringmaster::worker::cuda {

class DeviceAllocator;

// An owning handle to a block from a DeviceAllocator (move-only).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceAllocator* owner, void* ptr, std::size_t bytes) : owner_(owner), ptr_(ptr), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }
  void reset();

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t bytes() const { return bytes_; }  // as asked for (the block may be larger)

 private:
  DeviceAllocator* owner_ = nullptr;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

class DeviceAllocator {
 public:
  struct Stats {
    std::size_t reserved_bytes = 0;   // held from the driver (in use + cached)
    std::size_t in_use_bytes = 0;     // handed out (block sizes)
    std::size_t peak_in_use_bytes = 0;
    int64_t device_mallocs = 0;       // cudaMalloc calls
    int64_t cache_hits = 0;           // requests served from the cache
  };

  // Allocates on `device` (the caller's current device must be it while allocating).
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // A block of at least `bytes` (> 0). Fails with kUnavailable naming the size and the device's
  // free memory when cudaMalloc fails even after the cache was emptied.
  Result<DeviceBuffer> allocate(std::size_t bytes);
  // Gives every cached block back to the driver.
  Status empty_cache();
  Stats stats() const;
  int device() const { return device_; }

  static std::size_t round_size(std::size_t bytes);

 private:
  friend class DeviceBuffer;
  void release(void* ptr);
  Status free_cached_locked();

  int device_;
  mutable std::mutex mu_;
  std::multimap<std::size_t, void*> free_;            // GUARDED_BY(mu_): block size -> block
  std::unordered_map<void*, std::size_t> in_use_;     // GUARDED_BY(mu_): block -> block size
  Stats stats_;                                       // GUARDED_BY(mu_)
};

}  // namespace ringmaster::worker::cuda
